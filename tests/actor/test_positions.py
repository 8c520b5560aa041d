"""The position manager in a real actor system, on the real paper broker with scripted price paths: SL-hunt
re-entry with the reduced SL, TP continuation, a profit chain L0 -> L1 -> L2, strict mode stopping a chain, a
SIGKILL mid-chain resumed from the database without duplicate orders, and the dead-zone force close.

One system for the module; each test trades its own symbol. The session test reconfigures the actor, so it runs
last."""
from __future__ import annotations

import os
import signal
import uuid
from datetime import datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from actors import messages as m
from tests.support.paper_desk import DESK_EXTRAS, positions_status, set_price
from tests.support.system import running_system, wait_for

pytestmark = pytest.mark.slow

GW = "broker/paper_gateway"
ENTRIES = "trading/test_entries"
POS = "trading/positions"

TOML = f'''
[positions]
gateway = "{GW}"
tick_sources = ["{GW}"]
entry_sources = ["{ENTRIES}"]
chain_plugins = ["test_entries"]
session_poll_seconds = 0.2
[positions.reentry]
tp_cooldown_seconds = 0
profit_sl_hunt_enabled = false
[sessions.windows.dead_zone]
force_close = false
''' + DESK_EXTRAS


def cmd(s, path, name, **args):
    reply = s.client.ask_actor(path, m.Command(corr=uuid.uuid4().hex, name=name, args=args, user="test"), 5.0)
    assert reply is not None, f"{path} did not answer {name}"
    assert reply.ok, reply.text
    return reply





def chains(s):
    return cmd(s, POS, "chains").data


def book(s):
    return cmd(s, GW, "book").data


def chain_of(s, symbol):
    return next((c for c in chains(s)["chains"] if c["symbol"] == symbol), None)


def open_trade(s, trade_id, symbol, side, orders, bid, logic="LOGIC1", pip="0.0001"):
    b, a = set_price(s, symbol, bid)
    cmd(s, ENTRIES, "open", trade_id=trade_id, symbol=symbol, side=side, logic=logic, orders=orders, bid=str(b),
        ask=str(a), pip=pip)
    n = len(orders)
    wait_for(lambda: sum(1 for t in chains(s)["monitors"] if t["chain"] == trade_id or t["chain"].startswith(
        f"PROFIT_{symbol}")) >= n, 10, what=f"{trade_id} tracked")
    return b, a


def in_deals(s, comment_part):
    return [d for d in book(s)["deals"] if d["entry"] == "in" and comment_part in d["comment"]]


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("positions")
    with running_system(tmp, TOML) as s:
        wait_for(lambda: (d := cmd(s, GW, "subs").data).get("ticks", 0) >= 1 and d.get("trades", 0) >= 1, 15,
                 what="positions subscribed to the gateway")
        wait_for(lambda: cmd(s, ENTRIES, "subs").data.get("entries", 0) >= 1, 15, what="positions subscribed")
        yield s


def test_sl_hit_then_retracement_reenters_with_the_reduced_sl(system):
    s = system
    _, ask = open_trade(s, "T-SL", "EURUSD", "BUY", [{"role": "A", "volume": "0.10", "sl_pips": 30,
                                                      "tp_pips": 60}], "1.08500")
    sl = ask - D("0.0030")
    set_price(s, "EURUSD", str(sl - D("0.0001")))          # stopped out
    watch = wait_for(lambda: next((w for w in chains(s)["watches"] if w["kind"] == "sl_hunt"), None), 10,
                     what="SL-hunt watch")
    trigger = sl + D("0.0030") * D("0.70")            # autonomous: 70 % of the SL distance back
    assert D(watch["trigger"]) == trigger
    set_price(s, "EURUSD", str(trigger - D("0.00005")))    # not back far enough yet
    assert in_deals(s, "SL_HUNT_REENTRY") == []
    set_price(s, "EURUSD", str(trigger + D("0.00002")))
    (deal,) = wait_for(lambda: in_deals(s, "LOGIC1_SL_HUNT_REENTRY"), 10, what="re-entry order")
    pos = next(p for p in book(s)["positions"] if p["ticket"] == deal["position"])
    sl_pips = (D(pos["price_open"]) - D(pos["sl"])) / D("0.0001")
    assert sl_pips == 15                               # 50 % of the original 30 pips
    assert (D(pos["tp"]) - D(pos["price_open"])) / D("0.0001") == D("22.5")   # RR 1.5


def test_a_reentry_refused_by_risk_is_not_placed_and_the_reason_is_recorded(system):
    s = system
    _, ask = open_trade(s, "T-RISK", "AUDUSD", "BUY", [{"role": "A", "volume": "0.10", "sl_pips": 30,
                                                        "tp_pips": 60}], "0.66500")
    sl = ask - D("0.0030")
    set_price(s, "AUDUSD", str(sl - D("0.0001")))          # stopped out
    watch = wait_for(lambda: next((w for w in chains(s)["watches"] if w["kind"] == "sl_hunt"
                                   and w["symbol"] == "AUDUSD"), None), 10, what="SL-hunt watch")
    cmd(s, "trading/risk", "pause")
    try:
        set_price(s, "AUDUSD", str(D(watch["trigger"]) + D("0.00002")))   # the retracement: a re-entry is due
        ev = wait_for(lambda: next((e for e in cmd(s, POS, "events").data["events"] if e["kind"] == "order_rejected"
                                    and e["symbol"] == "AUDUSD"), None), 10, what="re-entry refused")
        assert "risk (HALTED)" in ev["text"], ev
        assert in_deals(s, "SL_HUNT_REENTRY") == [] or all("AUDUSD" != d.get("symbol") for d in
                                                            in_deals(s, "SL_HUNT_REENTRY"))
        assert not any(t["symbol"] == "AUDUSD" and t["status"] != "closed" for t in chains(s)["monitors"])
    finally:
        cmd(s, "trading/risk", "resume")


def test_tp_hit_then_two_more_pips_continues(system):
    s = system
    _, ask = open_trade(s, "T-TP", "GBPUSD", "BUY", [{"role": "A", "volume": "0.10", "sl_pips": 20,
                                                      "tp_pips": 10}], "1.27000")
    tp = ask + D("0.0010")
    set_price(s, "GBPUSD", str(tp + D("0.00005")))
    watch = wait_for(lambda: next((w for w in chains(s)["watches"] if w["kind"] == "tp_continuation"), None), 10,
                     what="TP continuation watch")
    assert D(watch["trigger"]) == tp + D("0.0002")
    set_price(s, "GBPUSD", str(tp + D("0.00015")))         # 1.5 pips beyond: not yet
    assert in_deals(s, "TP1_REENTRY") == []
    set_price(s, "GBPUSD", str(tp + D("0.0002")))
    (deal,) = wait_for(lambda: in_deals(s, "LOGIC1_TP1_REENTRY"), 10, what="continuation order")
    pos = next(p for p in book(s)["positions"] if p["ticket"] == deal["position"])
    assert (D(pos["price_open"]) - D(pos["sl"])) / D("0.0001") == 14   # 20 x (1 - 0.3)


def _book_level(s, symbol, n_open, step):
    """Wait until `n_open` chain orders are open, then move the bid `step` above the highest entry."""
    def opened():
        c = chain_of(s, symbol)
        return c and sum(1 for o in c["orders"] if o["status"] == "OPEN") == n_open and c
    wait_for(opened, 10, what=f"{n_open} open chain orders on {symbol}")
    entries = [D(p["price_open"]) for p in book(s)["positions"] if p["symbol"] == symbol]
    return set_price(s, symbol, str(max(entries) + step))


def test_chain_books_each_order_at_the_target_through_levels(system):
    s = system
    open_trade(s, "T-CH", "AUDUSD", "BUY", [{"role": "B", "volume": "0.10", "sl_pips": 30}], "0.66000")
    step = D("0.00072")                                 # 7.2 pips = $7.20 at 0.10 lots >= min_profit 7
    _book_level(s, "AUDUSD", 1, step)
    _book_level(s, "AUDUSD", 2, step)
    _book_level(s, "AUDUSD", 4, step)
    c = wait_for(lambda: (c := chain_of(s, "AUDUSD")) and c["status"] == "COMPLETED" and c, 10, what="completed")
    assert c["reason"] == "Level 3 is disabled" and c["level"] == 2
    assert len(in_deals(s, "LOGIC1_PROFIT_L1")) == 2 and len(in_deals(s, "LOGIC1_PROFIT_L2")) == 4
    assert all(o["outcome"] == "PROFIT" for o in c["orders"]) and len(c["orders"]) == 7
    assert not [p for p in book(s)["positions"] if p["symbol"] == "AUDUSD"]


def test_a_loss_in_strict_mode_stops_the_chain(system):
    s = system
    open_trade(s, "T-ST", "NZDUSD", "BUY", [{"role": "B", "volume": "0.10", "sl_pips": 20}], "0.61000")
    _book_level(s, "NZDUSD", 1, D("0.00072"))
    wait_for(lambda: (c := chain_of(s, "NZDUSD")) and sum(o["status"] == "OPEN" for o in c["orders"]) == 2, 10,
             what="level 1 open")
    entries = [D(p["price_open"]) for p in book(s)["positions"] if p["symbol"] == "NZDUSD"]
    set_price(s, "NZDUSD", str(min(entries) - D("0.0025")))   # both level-1 orders stopped out
    c = wait_for(lambda: (c := chain_of(s, "NZDUSD")) and c["status"] == "STOPPED" and c, 10, what="stopped")
    assert c["reason"] == "Strict Mode: Level Loss (Not Recovered)"
    assert in_deals(s, "NZDUSD") == [] or len(in_deals(s, "LOGIC1_PROFIT_L2")) == 0
    assert not [d for d in in_deals(s, "PROFIT_L2") if d["symbol"] == "NZDUSD"]


def test_sigkill_mid_chain_resumes_from_the_database_without_duplicates(system):
    s = system
    open_trade(s, "T-KL", "USDCAD", "BUY", [{"role": "B", "volume": "0.10", "sl_pips": 30}], "1.36000")
    step = D("0.00092")                                 # 9.2 pips x $0.80 = $7.36
    _book_level(s, "USDCAD", 1, step)
    wait_for(lambda: (c := chain_of(s, "USDCAD")) and sum(o["status"] == "OPEN" for o in c["orders"]) == 2, 10,
             what="level 1 open")
    old = s.node(POS)["pid"]
    os.kill(old, signal.SIGKILL)
    s.wait_node(POS, lambda n: n["state"] == "running" and n.get("pid") not in (None, old), 20, what="restarted")
    wait_for(lambda: positions_status(s).get("resumed") is True, 10, what="resumed from its DB")
    # ticks sent before the new instance subscribed are lost to it: repeat a neutral tick until it is seen
    bid = cmd(s, GW, "price", symbol="USDCAD", bid="1.36100").data["bid"]
    wait_for(lambda: cmd(s, GW, "price", symbol="USDCAD", bid=bid) and positions_status(s).get("quotes", {}).get("USDCAD") == bid,
             15, interval=0.2, what="the new instance gets ticks")
    c = chain_of(s, "USDCAD")
    assert c["level"] == 1 and c["status"] == "ACTIVE"
    _book_level(s, "USDCAD", 2, step)
    _book_level(s, "USDCAD", 4, step)
    c = wait_for(lambda: (c := chain_of(s, "USDCAD")) and c["status"] == "COMPLETED" and c, 10, what="completed")
    l1 = [d for d in in_deals(s, "PROFIT_L1") if d["symbol"] == "USDCAD"]
    l2 = [d for d in in_deals(s, "PROFIT_L2") if d["symbol"] == "USDCAD"]
    assert len(l1) == 2 and len(l2) == 4
    assert len({d["intent_id"] for d in l1 + l2}) == 6
    assert all(d["intent_id"].startswith("pos-PROFIT_USDCAD_") for d in l1 + l2)


@pytest.mark.parametrize("symbol, announce", [("EURJPY", "after"), ("AUDJPY", "before")])
def test_an_exit_that_closes_order_b_stops_its_chain_without_booking_or_closing_it_twice(system, symbol, announce):
    """The plugin's exit closes Order B in a small profit (below the chain's booking target): the chain stops
    ("EXIT", facts §4.1) whichever of the broker's close and the plugin's TradeClosed reaches positions first. It is
    not a level booked in profit (no level-up, no level-1 orders), and B is not closed a second time (which the
    broker refused, and the trader was told at HIGH)."""
    s = system
    trade = f"T-EX-{announce}"
    bid, _ = open_trade(s, trade, symbol, "BUY", [{"role": "B", "volume": "0.10", "sl_pips": 30}], "160.000",
                        pip="0.01")
    chain = wait_for(lambda: chain_of(s, symbol), 10, what="the chain")
    set_price(s, symbol, str(D(bid) + D("0.050")))      # 5 pips up: in profit, below min_profit ($7)
    cmd(s, ENTRIES, "exit", trade_id=trade, announce=announce)
    c = wait_for(lambda: (c := chain_of(s, symbol)) and c["status"] == "STOPPED" and
                 all(o["status"] == "CLOSED" for o in c["orders"]) and c, 10, what="the chain stopped")
    assert c["reason"] == "EXIT" and c["level"] == 0 and len(c["orders"]) == 1
    assert not [p for p in book(s)["positions"] if p["symbol"] == symbol]
    assert not [d for d in in_deals(s, "PROFIT_L1") if d["symbol"] == symbol]
    mine = [e for e in cmd(s, POS, "events", limit=500).data["events"] if e["chain_id"] == chain["chain_id"]]
    kinds = [e["kind"] for e in mine]
    assert not {"chain_level_up", "profit_booked", "close_sent", "order_rejected"} & set(kinds), mine
    assert kinds.count("chain_stopped") == 1


def test_stop_chain_command_and_admin_listing(system):
    s = system
    open_trade(s, "T-MS", "USDJPY", "BUY", [{"role": "B", "volume": "0.10", "sl_pips": 30}], "150.000", pip="0.01")
    c = chain_of(s, "USDJPY")
    reply = cmd(s, POS, "stop_chain", chain_id=c["chain_id"])
    assert "stopped" in reply.text
    wait_for(lambda: not [p for p in book(s)["positions"] if p["symbol"] == "USDJPY"], 10, what="closed")
    assert chain_of(s, "USDJPY")["status"] == "STOPPED"


def test_reverse_shield_opens_two_opposite_orders_then_hands_back_to_recovery(system):
    s = system
    assert cmd(s, POS, "shield", state="status").data["enabled"] is False     # off by default
    assert cmd(s, POS, "shield", state="on").data["enabled"] is True
    headroom = wait_for(lambda: positions_status(s).get("risk_headroom"), 15, what="daily-loss headroom from trading/risk")
    assert D(headroom) >= 50
    try:
        open_trade(s, "T-SH", "GBPJPY", "BUY", [{"role": "A", "volume": "0.10", "sl_pips": 30, "tp_pips": 60}],
                   "190.000", pip="0.01")
        orig = next(p for p in book(s)["positions"] if p["symbol"] == "GBPJPY")
        entry, sl = D(orig["price_open"]), D(orig["sl"])
        gap = entry - sl
        set_price(s, "GBPJPY", str(sl - D("0.01")))                             # stopped out
        shields = wait_for(lambda: len(p := [p for p in book(s)["positions"] if p["symbol"] == "GBPJPY"]) == 2 and p,
                           10, what="two shield orders")
        by = {p["comment"]: p for p in shields}
        a, b = by["SHIELD_A"], by["SHIELD_B"]
        assert a["side"] == b["side"] == "SELL" and a["volume"] == b["volume"] == "0.05"   # 0.5 x 0.10
        assert D(a["sl"]) == D(b["sl"]) == entry                           # SL at the original entry
        assert D(a["tp"]) == sl - gap                                       # 1:1 beyond the SL price
        assert b["tp"] in ("None", "0", "0.0", "0.000")                     # B is left to profit booking
        assert [w for w in chains(s)["watches"] if w["symbol"] == "GBPJPY"] == []   # recovery waits
        trigger = sl + gap * D("0.70")
        set_price(s, "GBPJPY", str(trigger - D("0.01")))
        assert len([p for p in book(s)["positions"] if p["symbol"] == "GBPJPY"]) == 2
        set_price(s, "GBPJPY", str(trigger))
        (re,) = wait_for(lambda: [d for d in in_deals(s, "SL_HUNT_REENTRY") if d["symbol"] == "GBPJPY"], 10,
                         what="recovery resumed after the shields")
        left = wait_for(lambda: (p := [p for p in book(s)["positions"] if p["symbol"] == "GBPJPY"]) and len(p) == 1
                        and p, 10, what="shields closed")
        assert left[0]["side"] == "BUY" and left[0]["comment"] == "LOGIC1_SL_HUNT_REENTRY"
        kinds = {e["kind"] for e in cmd(s, POS, "events", limit=200).data["events"]}
        assert {"shield_opened", "shield_closed"} <= kinds
        assert cmd(s, POS, "shield", state="status").data["shields"] == []
    finally:
        cmd(s, POS, "shield", state="off")


def test_dead_zone_force_closes_open_positions(system):
    s = system
    open_trade(s, "T-DZ", "XAUUSD", "BUY", [{"role": "A", "volume": "0.10", "sl_pips": 300, "tp_pips": 600},
                                            {"role": "B", "volume": "0.10", "sl_pips": 300}], "2000.00", pip="0.01")
    assert [p for p in book(s)["positions"] if p["symbol"] == "XAUUSD"]
    ist = datetime.now(ZoneInfo("Asia/Kolkata"))
    end = (ist + timedelta(minutes=2)).replace(second=0, microsecond=0)
    edit = {"force_close_minutes": 5, "windows": {"dead_zone": {
        "start": f"{end - timedelta(minutes=30):%H:%M}", "end": f"{end:%H:%M}", "force_close": True}}}
    cmd(s, POS, "session_edit", sessions=edit)
    wait_for(lambda: not book(s)["positions"], 15, what="every position force-closed")
    events = cmd(s, POS, "events", limit=200).data["events"]
    closes = [e for e in events if e["kind"] == "session_close"]
    # the dead zone closed them; which session is "current" depends on the hour the test runs (London opening
    # less than 30 minutes ago is the later start, and the later start is the current session)
    assert closes and closes[0]["text"].startswith("🌙 Dead Zone ends in"), closes
    out = [d for d in book(s)["deals"] if d["entry"] == "out" and d["symbol"] == "XAUUSD"]
    assert out and out[-1]["comment"] == "session"
    # Order B's chain stopped and closed it; it was not closed a second time (refused by the broker)
    assert {d["comment"] for d in out[-2:]} == {"session", "chain"}, out
    mine = [e for e in events if e["symbol"] == "XAUUSD"]
    assert [e["kind"] for e in mine].count("close_sent") == 2, mine
    assert not [e for e in mine if e["kind"] == "order_rejected"], mine


def test_admin_cli_chains_and_sessions(system):
    import json
    import subprocess
    import sys

    port = str(system.config["system"]["admin_port"])
    from tests.support.system import REPO
    run = lambda *a: subprocess.run([sys.executable, "-m", "supervision.admin", "--port", port, *a],  # noqa: E731
                                    capture_output=True, text=True, timeout=30, cwd=REPO)
    out = run("chains", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {c["symbol"] for c in data["chains"]} >= {"AUDUSD", "NZDUSD", "USDCAD"}
    text = run("chains")
    assert text.returncode == 0 and "PROFIT_AUDUSD_" in text.stdout and "COMPLETED" in text.stdout
    sess = run("sessions", "--json")
    assert sess.returncode == 0 and json.loads(sess.stdout)["timezone"] == "Asia/Kolkata"
    assert "Master Switch" in run("sessions").stdout
