"""broker/gateway on the MetaTrader5 API, against tests/support/fake_mt5.py served over rpyc: the "mt5" adapter
imports a stand-in module inside the actor process (`broker.mt5_module`), the "mt5linux" adapter uses the real
mt5linux client. Scenarios: requote then fill; a timeout where the order went through (found, not resent); a
timeout where it did not (reconciled first, then resent once); a hard reject in words; an SL hit while the
terminal was disconnected becomes an event after the reconnect."""
from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from actors import messages as m
from tests.support.broker import RECORDER_TOML, query, seen, send_intent, wait_wired
from tests.support.fake_mt5_server import FakeMT5Server
from tests.support.system import running_system, wait_for

pytestmark = pytest.mark.slow

TIMINGS = ('poll_interval = 0.2\nping_interval = 0.2\nconnect_retry_seconds = 0.2\nconnect_attempts = 3\n'
           'reconnect_backoff_max = 0.5\nbusy_backoff_seconds = 0.05\n')


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    with FakeMT5Server(log_path=tmp_path_factory.mktemp("fakemt5") / "server.log") as srv:
        yield srv


@pytest.fixture(scope="module")
def system(fake, tmp_path_factory):
    fake.reset()
    toml = RECORDER_TOML + f'[broker]\nadapter = "mt5"\nmt5_module = "tests.support.fake_mt5_remote"\n{TIMINGS}'
    with running_system(tmp_path_factory.mktemp("mt5"), toml, env={"ZEPIX_FAKE_MT5_PORT": str(fake.port)}) as s:
        wait_wired(s.client)
        wait_for(lambda: (r := query(s.client, "status")) and r.data["connected"], 10, what="gateway connected")
        yield s


def buy(symbol="EURUSD", volume="0.10", **kw) -> m.OrderIntent:
    return m.OrderIntent(intent_id=uuid.uuid4().hex, plugin="combined_v3", symbol=symbol, side="BUY",
                         volume=Decimal(volume), **kw)


def deal_sends(ctl) -> int:
    return sum(1 for r in ctl.request_log() if dict(r).get("action") == 1)


def test_requote_then_fill(system, fake):
    ctl = fake.control()
    ctl.queue_retcode(10004)
    before = deal_sends(ctl)
    out = send_intent(system.client, buy())
    assert out.status == "filled", out
    assert deal_sends(ctl) - before == 2          # the requoted send and the one that filled
    assert ctl.position_count() >= 1


def test_timeout_that_executed_is_found_and_not_resent(system, fake):
    ctl = fake.control()
    ctl.queue_timeout_executed("none")            # order_send returns None with an IPC timeout; it did execute
    n0, sends0 = ctl.position_count(), deal_sends(ctl)
    out = send_intent(system.client, buy(volume="0.20"))
    assert out.status == "filled" and out.detail.get("reconciled") is True, out
    assert ctl.position_count() == n0 + 1 and deal_sends(ctl) == sends0 + 1


def test_timeout_that_did_not_execute_is_reconciled_before_the_resend(system, fake):
    ctl = fake.control()
    ctl.queue_retcode(10012)                      # timeout answer, nothing executed
    n0, calls0 = ctl.position_count(), len(ctl.call_log())
    out = send_intent(system.client, buy(volume="0.30"))
    assert out.status == "filled", out
    assert ctl.position_count() == n0 + 1
    calls = list(ctl.call_log())[calls0:]
    sends = [i for i, c in enumerate(calls) if c == "order_send"]
    assert len(sends) == 2
    assert "positions_get" in calls[sends[0]:sends[1]], "the account was checked before sending again"


def test_hard_reject_carries_the_broker_reason(system, fake):
    ctl = fake.control()
    ctl.queue_retcode(10019)
    out = send_intent(system.client, buy(alert_id="alert-x"))
    assert out.status == "rejected" and "not enough money" in out.reason.lower() and out.retcode == 10019, out


def test_sl_hit_while_disconnected_is_reported_after_the_reconnect(system, fake):
    ctl = fake.control()
    out = send_intent(system.client, buy(symbol="XAUUSD", volume="0.01", sl=Decimal("1990.00")))
    assert out.status == "filled", out
    ctl.disconnect_trade_server()
    wait_for(lambda: (r := query(system.client, "status")) and not r.data["connected"], 10,
             what="gateway notices the lost trade server")
    rejected = send_intent(system.client, buy())
    assert rejected.status == "rejected" and "broker unreachable" in rejected.reason
    ctl.set_price("XAUUSD", 1985.00, 1985.25)      # the server closes at SL while we are away
    ctl.reconnect_trade_server()
    ev = wait_for(lambda: seen(system.client, "TradeEvent", kind="sl_hit", ticket=out.ticket), 15,
                  what="sl_hit after reconnect")
    assert ev[0]["reason"] == "sl"


def test_mt5linux_places_an_order_through_the_rpyc_bridge(fake, tmp_path):
    fake.reset()
    toml = RECORDER_TOML + f'[broker]\nadapter = "mt5linux"\n{TIMINGS}[broker.mt5linux]\nport = {fake.port}\n'
    with running_system(tmp_path, toml) as s:
        wait_for(lambda: (r := query(s.client, "status")) and r.data["connected"], 10, what="connected")
        out = send_intent(s.client, buy(volume="0.05"))
        assert out.status == "filled" and out.price == Decimal("1.10010"), out
        r = query(s.client, "positions")
        assert [p["ticket"] for p in r.data["positions"]] == [out.ticket]
        assert r.data["positions"][0]["magic"] == 30301
