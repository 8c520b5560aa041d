"""broker/gateway with the paper broker, in a real system: intents are filled and answered, a repeated intent id
places one position, an SL hit on a deterministic price path becomes a TradeEvent, the CLI works through the
gateway, and a gateway SIGKILLed right after a send reconciles at its restart and never places twice."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal

import pytest

from actors import messages as m
from tests.support.broker import RECORDER_TOML, command, query, seen, send_intent, wait_wired
from tests.support.system import REPO, running_system, wait_for

pytestmark = pytest.mark.slow

# alert_walk_step_pips = 0: between alerts the paper quote stands still, so prices are exact
TOML = RECORDER_TOML + ('[broker]\npoll_interval = 0.2\n[broker.paper]\nalert_walk_step_pips = 0.0\n'
                        '[pricefeed]\ninterval = 0.25\n')


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("paper")
    with running_system(tmp, TOML) as s:
        wait_wired(s.client)
        yield s


def iid() -> str:
    return uuid.uuid4().hex


def buy(intent_id: str, symbol: str = "EURUSD", volume: str = "0.10", **kw) -> m.OrderIntent:
    return m.OrderIntent(intent_id=intent_id, plugin="combined_v3", symbol=symbol, side="BUY",
                         volume=Decimal(volume), **kw)


def positions(s) -> list[dict]:
    r = query(s.client, "positions")
    assert r is not None and r.ok, r
    return r.data["positions"]


def test_an_intent_is_filled_answered_and_published(system):
    i = iid()
    out = send_intent(system.client, buy(i, sl=Decimal("1.08000"), alert_id="alert-1", comment="LOGIC1 A"))
    assert out is not None and out.status == "filled", out
    assert out.ticket and out.price == Decimal("1.08510") and out.volume == Decimal("0.10")   # ask = 1.08500 + 1 pip
    pos = [p for p in positions(system) if p["ticket"] == out.ticket]
    assert pos and pos[0]["magic"] == 30301 and pos[0]["comment"].startswith("zx") and len(pos[0]["comment"]) <= 31
    wait_for(lambda: seen(system.client, "TradeEvent", kind="opened", intent_id=i), 5, what="opened event")
    wait_for(lambda: seen(system.client, "OrderOutcome", intent_id=i, status="filled"), 5, what="orders topic")


def test_the_same_intent_twice_places_one_position(system):
    i = iid()
    first = send_intent(system.client, buy(i, symbol="GBPUSD"))
    again = send_intent(system.client, buy(i, symbol="GBPUSD"))
    assert first.status == again.status == "filled" and first.ticket == again.ticket
    assert again.detail.get("duplicate") is True
    assert len([p for p in positions(system) if p["symbol"] == "GBPUSD"]) == 1


def test_void_refuses_an_intent_that_has_not_arrived_and_tells_what_became_of_one_that_did(system):
    """A plugin whose risk verdict was lost (restart, late answer) asks the gateway to void its intent."""
    placed, lost = iid(), iid()
    out = send_intent(system.client, buy(placed, symbol="USDJPY", volume="0.01"))
    assert out.status == "filled", out
    r = query(system.client, "void", intent_id=placed, plugin="combined_v3", reason="test")
    assert r.ok and r.data["state"] == "done" and r.data["outcome"]["ticket"] == out.ticket, r
    r = query(system.client, "void", intent_id=lost, plugin="combined_v3", reason="risk verdict lost")
    assert r.ok and r.data["state"] == "rejected" and "risk verdict lost" in r.data["outcome"]["reason"], r
    # the copy trading/risk had sent on arrives late: refused from the ledger, nothing placed
    late = send_intent(system.client, buy(lost, symbol="AUDUSD", volume="0.01"))
    assert late.status == "rejected" and late.detail.get("duplicate") is True, late
    assert not [p for p in positions(system) if p["symbol"] == "AUDUSD"]
    assert not query(system.client, "void", plugin="combined_v3").ok     # no intent id: a clear error


def test_sl_hit_on_a_price_path_is_a_trade_event(system):
    i = iid()
    out = send_intent(system.client, buy(i, symbol="AUDUSD", sl=Decimal("0.65900")))
    assert out.status == "filled", out
    assert command(system.client, "ops/recorder", "alert_price", symbol="AUDUSD", price="0.65950").ok
    assert command(system.client, "ops/recorder", "alert_price", symbol="AUDUSD", price="0.65800").ok
    ev = wait_for(lambda: seen(system.client, "TradeEvent", kind="sl_hit", ticket=out.ticket), 5, what="sl_hit")
    assert ev[0]["price"] == "0.65800" and ev[0]["reason"] == "sl" and Decimal(ev[0]["profit"]) < 0
    assert out.ticket not in [p["ticket"] for p in positions(system)]


def test_a_hard_reject_says_why_in_words(system):
    out = send_intent(system.client, buy(iid(), volume="500"))
    assert out.status == "rejected" and "above the maximum" in out.reason, out
    out = send_intent(system.client, m.OrderIntent(intent_id=iid(), plugin="nobody", symbol="EURUSD", side="BUY",
                                                   volume=Decimal("0.1")))
    assert out.status == "rejected" and "no magic number configured for plugin 'nobody'" in out.reason
    out = send_intent(system.client, buy(iid(), symbol="NOSUCH"))
    assert out.status == "rejected" and "unknown symbol 'NOSUCH'" in out.reason


def test_close_partial_and_modify(system):
    out = send_intent(system.client, buy(iid(), symbol="USDCAD", volume="0.30"))
    t = out.ticket
    mod = send_intent(system.client, m.ModifyIntent(intent_id=iid(), plugin="combined_v3", ticket=t,
                                                    sl=Decimal("1.35000")))
    assert mod.status == "modified", mod
    part = send_intent(system.client, m.CloseIntent(intent_id=iid(), plugin="combined_v3", ticket=t,
                                                    volume=Decimal("0.10"), reason="chain"))
    assert part.status == "closed" and part.volume == Decimal("0.10")
    wait_for(lambda: seen(system.client, "TradeEvent", kind="partial", ticket=t), 5, what="partial event")
    full = send_intent(system.client, m.CloseIntent(intent_id=iid(), plugin="combined_v3", ticket=t))
    assert full.status == "closed" and full.volume == Decimal("0.20")
    wait_for(lambda: seen(system.client, "TradeEvent", kind="closed", ticket=t), 5, what="closed event")


def test_price_feed_batches_ticks_of_watched_symbols(system):
    assert command(system.client, "ops/recorder", "watch", symbols=["USDJPY", "EURJPY"]).ok
    assert command(system.client, "ops/recorder", "alert_price", symbol="USDJPY", price="151.250").ok
    got = wait_for(lambda: [t for e in seen(system.client, "Ticks") for t in e["ticks"] if t[0] == "USDJPY"
                            and t[1] == "151.250"], 5, what="USDJPY tick")
    assert got[0][2] == "151.262"   # spread 1.2 pips
    batches = [e for e in seen(system.client, "Ticks") if any(t[0] == "EURJPY" for t in e["ticks"])]
    assert batches, "EURJPY was fed too"


def cli(s, *args, timeout=30):
    env = {**os.environ, "ZEPIX_ADMIN_PORT": str(s.config["system"]["admin_port"])}
    return subprocess.run([sys.executable, "-m", "supervision.admin", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_cli_broker_order_positions_close(system):
    r = cli(system, "broker")
    assert r.returncode == 0 and "paper" in r.stdout and "connected" in r.stdout and "balance" in r.stdout, r
    r = cli(system, "order", "sell", "NZDUSD", "0.05", "--sl", "0.62000")
    assert r.returncode == 0 and "filled" in r.stdout, r
    ticket = int(r.stdout.split("ticket ")[1].split()[0])
    r = cli(system, "positions", "--json")
    rows = json.loads(r.stdout)
    mine = [p for p in rows if p["ticket"] == ticket]
    assert mine and mine[0]["side"] == "SELL" and mine[0]["magic"] == 30399 and mine[0]["sl"] == "0.62000"
    r = cli(system, "positions")
    assert r.returncode == 0 and str(ticket) in r.stdout and "NZDUSD" in r.stdout
    r = cli(system, "close", str(ticket), "--volume", "0.02")
    assert r.returncode == 0 and "closed" in r.stdout, r
    r = cli(system, "close", "999999")
    assert r.returncode == 1 and "does not exist" in r.stderr, r
    r = cli(system, "order", "hold", "EURUSD", "0.1")
    assert r.returncode == 2


def test_killed_after_the_send_reconciles_and_never_places_twice(system):
    """Last in this module: the gateway is SIGKILLed between the broker's fill and the ledger's 'done'."""
    before = system.node("broker/gateway")["pid"]
    (system.test_dir / "broker_crash_after_send").write_text("")
    i = iid()
    intent = buy(i, symbol="XAUUSD", volume="0.02")
    assert send_intent(system.client, intent, timeout=2.0) is None       # died before answering
    system.wait_node("broker/gateway", lambda n: n["state"] == "running" and n["pid"] != before, 15,
                     "gateway restarted")
    wait_for(lambda: (r := query(system.client, "status")) and r.data["connected"]
             and "pending" not in r.data["intents"], 10, what="gateway connected and reconciled")
    # at its start it found the pending intent on the account (tag in the comment) and marked it done
    again = send_intent(system.client, intent)
    assert again.status == "filled" and again.detail.get("duplicate") is True, again
    assert again.detail.get("reconciled") is True
    assert len([p for p in positions(system) if p["symbol"] == "XAUUSD"]) == 1
