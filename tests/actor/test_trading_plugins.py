"""Plugin and risk actors in a real system: alerts arrive as AlertRoute, orders go to a paper-broker double of
broker/gateway, outcomes to a journal double. One shared system for the module; tests run in file order."""
from __future__ import annotations

import os
import signal
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from actors import messages as m
from tests.support.alerts import alert_dict, command, risk_status, route, v3_entry
from tests.support.broker import send_intent
from tests.support.system import running_system, wait_for
from tests.support.trading import doubles_toml

TOML = """
[trading]
risk_timeout = 3.0
tick_source = "broker/gateway"     # the paper double publishes the quotes the tests set ("tick")
[sessions]
master_switch = false       # entries here must not depend on the time of day; the session test switches it on
[plugins.price_action_1m]
enabled = false
[plugins.price_action_15m]
enabled = false
[plugins.price_action_1h]
enabled = false
[plugins.legacy_v4]
shadow = true
version = "4.1.0"
[plugins.combined_v3]
version = "3.2.1"
""" + doubles_toml()


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trading")
    with running_system(tmp, TOML) as s:
        for plugin in ("combined_v3", "legacy_v4"):
            wait_for(lambda: all(command(s.client, f"trading/{plugin}", "status").data["peers"].values()), 10,
                     what=f"{plugin} knows risk, gateway and journal")
        yield s


def db(s, plugin: str) -> sqlite3.Connection:
    conn = sqlite3.connect(Path(s.config["system"]["data_dir"]) / "plugins" / f"{plugin}.db")
    conn.row_factory = sqlite3.Row
    return conn


def broker_orders(s) -> list[str]:
    return command(s.client, "broker/gateway", "stats").data["orders"]


def test_v3_buy_places_orders_a_and_b_with_their_lots_and_stops(system):
    aid = "v3-buy-1"
    forwarded = risk_status(system)["forwarded"]
    outs = route(system.client, "trading/combined_v3", alert_dict(v3_entry()), aid)
    assert [o.status for o in outs] == ["decided", "executed"], outs
    # trading/risk sent both approved orders to the gateway itself (the plugin only recorded them)
    assert risk_status(system)["forwarded"] == forwarded + 2
    assert broker_orders(system) == [f"combined_v3:{aid}:A", f"combined_v3:{aid}:B"]
    positions = {p["comment"]: p for p in command(system.client, "broker/gateway", "positions").data["positions"]}
    # tier 10000: 0.05 x 0.8 (strength 8) x 1.0 (LOGIC2 on 15) = 0.04 -> 0.02 + 0.02
    a, b = positions["LOGIC2_V3_A"], positions["LOGIC2_V3_B"]
    assert (a["volume"], a["sl"], a["tp"]) == ("0.02", "4328.12", "4357.60")
    # Order B: $10 at 0.02 lots of gold ($1 per pip per lot) = 500 pips = 5.00 below the entry; TP = TP1
    # (TP1 4346.545 on the 0.01 grid, rounded toward the entry)
    assert (b["volume"], b["sl"], b["tp"]) == ("0.02", "4330.49", "4346.54")
    rows = db(system, "combined_v3").execute("SELECT * FROM trades WHERE alert_id=? ORDER BY order_role",
                                             (aid,)).fetchall()
    assert [(r["order_role"], r["status"], r["lot_size"], r["sl_source"], r["tp_source"], r["plugin_version"])
            for r in rows] == [("A", "OPEN", "0.02", "alert", "tp2", "3.2.1"),
                               ("B", "OPEN", "0.02", "fixed_dollar", "tp1", "3.2.1")]
    assert all(r["ticket"] for r in rows)
    sig = db(system, "combined_v3").execute("SELECT * FROM signals WHERE alert_id=?", (aid,)).fetchone()
    assert sig["decision"] == "traded"
    det = db(system, "combined_v3").execute("SELECT * FROM v3_signal_details WHERE alert_id=?", (aid,)).fetchone()
    assert (det["logic_route"], det["routing_reason"], det["strength"]) == ("LOGIC2", "timeframe_routing", 8)
    journal = command(system.client, "ingress/webhook", "outcomes").data["outcomes"]
    assert [o["status"] for o in journal if o["alert_id"] == aid] == ["decided", "executed"]




def test_the_same_alert_twice_places_nothing_more(system):
    before = broker_orders(system)
    outs = route(system.client, "trading/combined_v3", alert_dict(v3_entry()), "v3-buy-1")
    assert outs[-1].status == "skipped" and "duplicate" in outs[-1].reason
    assert broker_orders(system) == before


def test_a_weak_sell_is_skipped_with_the_reason_and_a_strong_sell_reverses(system):
    weak = v3_entry(direction="sell", consensus_score=6, signal_type="Momentum_Breakout", sl_price=4340.0,
                    tp1_price=4330.0, tp2_price=4320.0)
    outs = route(system.client, "trading/combined_v3", alert_dict(weak), "v3-sell-weak")
    assert outs[-1].status == "skipped"
    assert "strength of 3, below the minimum 5" in outs[-1].reason
    # consensus 1 = sell strength 8 >= 7: aggressive, so the open BUYs are closed before the sell goes in
    strong = v3_entry(direction="sell", consensus_score=1, signal_type="Momentum_Breakout", sl_price=4340.0,
                      tp1_price=4330.0, tp2_price=4320.0)
    outs = route(system.client, "trading/combined_v3", alert_dict(strong), "v3-sell-strong")
    assert outs[-1].status == "executed", outs
    closes = command(system.client, "broker/gateway", "stats").data["closes"]
    assert len([c for c in closes if c.startswith("combined_v3:v3-sell-strong:close:")]) == 2
    sides = {r["direction"]: r["status"] for r in db(system, "combined_v3").execute(
        "SELECT direction, status FROM trades WHERE alert_id IN ('v3-buy-1', 'v3-sell-strong')")}
    wait_for(lambda: {r[0] for r in db(system, "combined_v3").execute(
        "SELECT status FROM trades WHERE alert_id='v3-buy-1'")} == {"CLOSED"}, 5, what="buys closed")
    assert sides["SELL"] == "OPEN"


def test_bearish_exit_closes_the_sells(system):
    exit_alert = {"type": "exit_v3", "signal_type": "Bearish_Exit", "symbol": "XAUUSD", "direction": "buy",
                  "tf": "15", "price": 4335.0, "consensus_score": 3, "market_trend": -1}
    outs = route(system.client, "trading/combined_v3", alert_dict(exit_alert), "v3-exit-1")
    assert outs[-1].status == "executed", outs
    wait_for(lambda: not db(system, "combined_v3").execute(
        "SELECT 1 FROM trades WHERE status='OPEN'").fetchall(), 5, what="nothing open")


def tell(s, path: str, msg) -> None:
    addr = s.client.address_of(path, 5.0)
    assert addr is not None, f"{path} is not running"
    with s.client.asys.private() as ep:
        ep.tell(addr, m.encode(msg))


def test_reentry_signal_is_sized_risk_checked_and_placed_once_or_skipped_with_the_reason(system):
    sig = m.ReEntrySignal(signal_id="pos-reenter-T1-1", plugin="combined_v3", symbol="EURUSD", side="BUY",
                          logic="LOGIC2", timeframe="15", reason="exit continuation", price=Decimal("1.08500"))
    tell(system, "trading/combined_v3", sig)
    iid = "combined_v3:pos-reenter-T1-1:single"
    wait_for(lambda: iid in broker_orders(system), 10, what="re-entry order at the gateway")
    tell(system, "trading/combined_v3", sig)                        # a repeat is dropped
    row = wait_for(lambda: db(system, "combined_v3").execute(
        "SELECT * FROM trades WHERE intent_id=? AND status='OPEN'", (iid,)).fetchone(), 10, what="re-entry row open")
    assert row["sl_source"] == "sl-1" and Decimal(row["sl_price"]) < Decimal("1.08500") < Decimal(row["tp_price"])
    bad = m.ReEntrySignal(signal_id="pos-reenter-T2-1", plugin="combined_v3", symbol="EURUSD", side="BUY",
                          logic="LOGIC2", reason="exit continuation", price=None)
    tell(system, "trading/combined_v3", bad)
    skip = wait_for(lambda: db(system, "combined_v3").execute(
        "SELECT * FROM signals WHERE alert_id='pos-reenter-T2-1'").fetchone(), 10, what="re-entry skip recorded")
    assert skip["decision"] == "skipped" and "no price" in skip["skip_reason"]
    assert broker_orders(system).count(iid) == 1 and not any("T2-1" in o for o in broker_orders(system))


def test_shadow_mode_records_and_places_nothing(system):
    before = broker_orders(system)
    reply = command(system.client, "trading/combined_v3", "shadow", on=True)
    assert reply.ok and reply.data["shadow"] is True
    try:
        outs = route(system.client, "trading/combined_v3", alert_dict(v3_entry(price=4336.0)), "v3-shadow")
        assert outs[-1].status == "skipped" and outs[-1].reason.startswith("shadow mode"), outs
        assert broker_orders(system) == before
        rows = db(system, "combined_v3").execute("SELECT order_role, shadow, status FROM trades WHERE alert_id=?",
                                                 ("v3-shadow",)).fetchall()
        assert [tuple(r) for r in rows] == [("A", 1, "CLOSED"), ("B", 1, "CLOSED")]
    finally:
        command(system.client, "trading/combined_v3", "shadow", on=False)
    # legacy_v4 is in shadow mode by configuration: its trend store still learns, nothing is placed
    for tf in ("15m", "1h"):
        outs = route(system.client, "trading/legacy_v4", alert_dict(
            {"type": "trend", "symbol": "EURUSD", "signal": "bull", "tf": tf, "price": 1.1}))
        assert outs[-1].status == "skipped" and "trend NEUTRAL -> BULLISH" in outs[-1].reason
    outs = route(system.client, "trading/legacy_v4", alert_dict(
        {"type": "entry", "symbol": "EURUSD", "signal": "buy", "tf": "15m", "price": 1.1}))
    assert outs[-1].reason.startswith("shadow mode") and "LOGIC2" not in broker_orders(system)
    assert not [o for o in broker_orders(system) if o.startswith("legacy_v4")]


def reconfigure(s, path: str, config: dict, changed: tuple) -> None:
    import time
    addr = s.client.address_of(path, 5.0)
    with s.client.asys.private() as ep:
        ep.tell(addr, m.encode(m.ConfigUpdate(config=config, changed=changed, version=1)))
        deadline = time.monotonic() + 5.0
        reply = None
        while reply is None and time.monotonic() < deadline:
            raw = ep.listen(max(0.01, deadline - time.monotonic()))
            msg = m.decode(raw) if raw is not None else None
            reply = msg if isinstance(msg, m.ConfigApplied) else None
    assert reply is not None and reply.ok, reply


def test_legacy_entry_outside_an_allowed_session_is_skipped_with_the_reason(system):
    import copy
    cfg = copy.deepcopy(system.config)
    cfg["sessions"]["master_switch"] = True
    for w in cfg["sessions"]["windows"].values():
        w["symbols"] = ["USDJPY"]             # EURUSD is allowed in no session, whatever the time of day
    reconfigure(system, "trading/legacy_v4", cfg, ("sessions",))
    try:
        outs = route(system.client, "trading/legacy_v4", alert_dict(      # aligned 15m + 1H BULLISH (above)
            {"type": "entry", "symbol": "EURUSD", "signal": "buy", "tf": "15m", "price": 1.1}))
        assert outs[-1].status == "skipped", outs
        assert outs[-1].reason.startswith("session filter: ") and "EURUSD" in outs[-1].reason or \
            outs[-1].reason == "session filter: No active session", outs
    finally:
        reconfigure(system, "trading/legacy_v4", system.config, ("sessions", "plugins"))
    outs = route(system.client, "trading/legacy_v4", alert_dict(
        {"type": "entry", "symbol": "EURUSD", "signal": "buy", "tf": "15m", "price": 1.1}))
    assert outs[-1].reason.startswith("shadow mode"), outs        # the filter off again: decided (in shadow)


def test_legacy_entry_against_the_1h_trend_is_skipped_with_the_reason(system):
    route(system.client, "trading/legacy_v4", alert_dict(
        {"type": "trend", "symbol": "GBPUSD", "signal": "bear", "tf": "1h", "price": 1.3}))
    route(system.client, "trading/legacy_v4", alert_dict(
        {"type": "trend", "symbol": "GBPUSD", "signal": "bull", "tf": "15m", "price": 1.3}))
    outs = route(system.client, "trading/legacy_v4", alert_dict(
        {"type": "entry", "symbol": "GBPUSD", "signal": "buy", "tf": "15m", "price": 1.3}))
    assert outs[-1].status == "skipped"
    assert outs[-1].reason == "LOGIC2 not aligned on GBPUSD: 15m BULLISH, 1H BEARISH"


def test_daily_cap_reached_makes_risk_reducing_and_entries_are_rejected_with_the_reason(system):
    outs = route(system.client, "trading/combined_v3", alert_dict(v3_entry(price=4335.0)), "v3-buy-loss")
    assert outs[-1].status == "executed"
    # the price falls through both stops: two realised losses reach trading/risk on "trades"
    command(system.client, "broker/gateway", "price", symbol="XAUUSD", price="4320.00")
    status = wait_for(lambda: (r := command(system.client, "trading/risk", "status")).data["daily_loss"] != "0"
                      and Decimal(r.data["daily_loss"]) > 20 and r.data, 5, what="losses counted")
    loss = Decimal(status["daily_loss"])
    assert status["state"] == "ACTIVE"
    # lower the daily cap at runtime below today's loss: REDUCING
    with system.client.asys.private() as ep:
        cfg = dict(system.config)
        cfg["risk"] = {"tiers": {"10000": {"daily_loss_cap": str(loss - 1)}}}
        ep.tell(system.client.address_of("trading/risk"), m.encode(m.ConfigUpdate(config=cfg, changed=("risk",),
                                                                                version=7)))
        applied = m.decode(ep.listen(5))
        assert isinstance(applied, m.ConfigApplied) and applied.ok, applied
    status = command(system.client, "trading/risk", "status").data
    assert status["state"] == "REDUCING" and "daily loss" in status["reason"]
    before = broker_orders(system)
    outs = route(system.client, "trading/combined_v3", alert_dict(v3_entry(price=4321.0, sl_price=4315.0,
                                                                         tp1_price=4330.0, tp2_price=4340.0)))
    assert outs[-1].status == "rejected"
    assert "REDUCING" in outs[-1].reason and "reducing only" in outs[-1].reason, outs[-1].reason
    assert broker_orders(system) == before
    assert command(system.client, "trading/risk", "clear_daily_loss").data["state"] == "ACTIVE"


def test_plugin_status_and_commands(system):
    reply = command(system.client, "trading/combined_v3", "status")
    d = reply.data
    assert (d["family"], d["implementation"], d["version"], d["enabled"]) == ("v3", "primary", "3.2.1", True)
    assert d["orders"] >= 4
    assert command(system.client, "trading/combined_v3", "disable").data["enabled"] is False
    outs = route(system.client, "trading/combined_v3", alert_dict(v3_entry()))
    assert outs[-1].status == "skipped" and "disabled" in outs[-1].reason
    assert command(system.client, "trading/combined_v3", "enable").data["enabled"] is True
    assert not command(system.client, "trading/combined_v3", "fly").ok


def test_admin_plugins_lists_each_plugin_and_plugin_toggles_shadow(system, capsys):
    import json as _json

    from supervision import admin
    port = str(system.config["system"]["admin_port"])
    assert admin.main(["--port", port, "plugins", "--json"]) == 0
    rows = {r["plugin"]: r for r in _json.loads(capsys.readouterr().out)}
    assert rows["combined_v3"]["state"] == "running" and rows["combined_v3"]["version"] == "3.2.1"
    assert rows["combined_v3"]["implementation"] == "primary" and rows["combined_v3"]["orders"] >= 4
    assert rows["legacy_v4"]["shadow"] is True
    assert rows["price_action_1m"]["state"] == "not started"
    assert admin.main(["--port", port, "plugins"]) == 0
    assert "combined_v3" in capsys.readouterr().out
    assert admin.main(["--port", port, "plugin", "price_action_5m", "shadow", "on"]) == 0
    assert command(system.client, "trading/price_action_5m", "status").data["shadow"] is True
    assert admin.main(["--port", port, "plugin", "price_action_5m", "shadow", "off"]) == 0


def test_a_config_change_keeps_a_runtime_disable_unless_the_file_changes_that_plugin(system):
    import copy
    import uuid

    def cmd(name, **args):
        r = system.client.ask_actor("trading/legacy_v4", m.Command(corr=uuid.uuid4().hex, name=name, args=args,
                                                                    user="test"), 5.0)
        assert r is not None and r.ok, r
        return r.data
    was = cmd("status")
    try:
        assert cmd("disable")["enabled"] is False
        cfg = copy.deepcopy(system.config)
        cfg.setdefault("v3", {})["dual_orders"] = False           # somebody else's setting (e.g. /toggle_dual_orders)
        reconfigure(system, "trading/legacy_v4", cfg, ("v3", "plugins"))
        assert cmd("status")["enabled"] is False                   # still disabled
        cfg = copy.deepcopy(system.config)
        cfg.setdefault("plugins", {}).setdefault("legacy_v4", {})["shadow"] = not was["shadow"]
        reconfigure(system, "trading/legacy_v4", cfg, ("plugins", "plugins.legacy_v4"))
        now = cmd("status")
        assert (now["enabled"], now["shadow"]) == (True, not was["shadow"])   # the file's own change wins
    finally:
        reconfigure(system, "trading/legacy_v4", system.config, ("plugins", "plugins.legacy_v4"))
        cmd("enable" if was["enabled"] else "disable")
        cmd("shadow", on=was["shadow"])


def test_an_alert_without_a_price_trades_at_the_broker_quote_and_is_skipped_without_one(system):
    body = v3_entry(symbol="EURUSD", sl_price=1.0830, tp1_price=1.0870, tp2_price=1.0890)
    del body["price"]
    outs = route(system.client, "trading/combined_v3", alert_dict(body), "v3-noprice-1")
    assert outs[-1].status == "skipped" and outs[-1].reason.startswith("no price"), outs
    wait_for(lambda: command(system.client, "broker/gateway", "tick", symbol="EURUSD", bid="1.08500",
                             ask="1.08512").text == "3 subscribers", 10,
             what="the three running plugins (combined_v3, price_action_5m, legacy_v4) follow the quotes")
    wait_for(lambda: "EURUSD" in command(system.client, "trading/combined_v3", "status").data["quotes"], 10,
             what="combined_v3 has the quote")
    outs = route(system.client, "trading/combined_v3", alert_dict(body), "v3-noprice-2")
    assert [o.status for o in outs] == ["decided", "executed"], outs     # the same alert, now with a quote


def test_orders_whose_risk_verdict_was_lost_to_a_restart_are_settled_with_the_gateway(system):
    """Last in this module (it restarts combined_v3). trading/risk sends approved orders to the gateway itself, so a
    plugin killed between its risk check and the verdict may have orders out that its rows call CHECKING. At its
    restart it asks the gateway: an order that was placed opens its trade; one that never arrived is voided, and a
    copy of it arriving later is refused."""
    placed, lost = "combined_v3:lost-verdict:A", "combined_v3:lost-verdict:B"
    out = send_intent(system.client, m.OrderIntent(intent_id=placed, plugin="combined_v3", symbol="XAUUSD",
                                                   side="BUY", volume=Decimal("0.01"), alert_id="lost-verdict"))
    assert out is not None and out.status == "filled", out
    conn = db(system, "combined_v3")
    with conn:
        for iid, role in ((placed, "A"), (lost, "B")):
            conn.execute("INSERT INTO trades(trade_id, order_role, intent_id, alert_id, symbol, direction, lot_size, "
                         "status, plugin_version, updated_at) VALUES ('combined_v3:lost-verdict', ?, ?, "
                         "'lost-verdict', 'XAUUSD', 'BUY', '0.01', 'CHECKING', '3.2.1', 0)", (role, iid))
    before = system.node("trading/combined_v3")["pid"]
    os.kill(before, signal.SIGKILL)
    system.wait_node("trading/combined_v3", lambda n: n["state"] == "running" and n["pid"] != before, 15,
                     "combined_v3 restarted")

    def rows():
        return {r["intent_id"]: r for r in conn.execute("SELECT * FROM trades WHERE alert_id='lost-verdict'")}
    wait_for(lambda: rows()[placed]["status"] == "OPEN" and rows()[lost]["status"] == "REJECTED", 15,
             what="both CHECKING rows settled")
    assert rows()[placed]["ticket"] == out.ticket
    assert "voided" in rows()[lost]["close_reason"] and "risk verdict was lost" in rows()[lost]["close_reason"]
    late = send_intent(system.client, m.OrderIntent(intent_id=lost, plugin="combined_v3", symbol="XAUUSD",
                                                    side="BUY", volume=Decimal("0.01"), alert_id="lost-verdict"))
    assert late.status == "rejected", late
    assert lost not in command(system.client, "broker/gateway", "stats").data["orders"]
