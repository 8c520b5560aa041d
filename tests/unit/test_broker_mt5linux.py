"""mt5linux adapter: the real mt5linux client against the fake MetaTrader5 served over rpyc in a subprocess
(127.0.0.1, ephemeral port, own process group, killed at teardown)."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from config.errors import ConfigError
from gateways.broker.interface import (
    BrokerUnavailable, CloseReason, DealEntry, MarketOrder, OrderTag, RetcodeClass, Side,
)
from gateways.broker.mt5linux import MT5LinuxBroker, MT5LinuxSettings, is_loopback
from tests.support import fake_mt5
from tests.support.fake_mt5_server import FakeMT5Server

pytest.importorskip("mt5linux")

LONG_AGO = datetime(2023, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with FakeMT5Server(log_path=tmp_path_factory.mktemp("mt5srv") / "server.log") as srv:
        yield srv


@pytest.fixture
def ctl(server):
    return server.reset()


@pytest.fixture
def broker(server, ctl):
    b = MT5LinuxBroker(MT5LinuxSettings(host="127.0.0.1", port=server.port, login=51234567, server="Fake-Demo"))
    b.connect()
    yield b
    b.disconnect()


def test_order_round_trip_over_rpyc(ctl, broker):
    ctl.queue_retcode(10004)
    r = broker.market_order(MarketOrder("EURUSD", Side.BUY, D("0.25"), OrderTag("i1", 9, "rpyc buy"),
                                        sl=D("1.09000"), tp=D("1.11000")))
    assert r.ok and r.attempts == 2 and (r.price, r.volume) == (D("1.10010"), D("0.25"))
    sent = [dict(x) for x in ctl.request_log()]
    assert len(sent) == 2 and sent[1]["comment"] == "rpyc buy" and sent[1]["type_filling"] == 1
    assert sent[1]["sl"] == 1.09 and sent[1]["volume"] == 0.25
    ctl.set_price("EURUSD", 1.10200, 1.10210)
    c = broker.close_position(r.position, OrderTag("c1", 9, "take it"))
    assert c.ok and c.price == D("1.10200") and broker.positions() == ()
    (d_in, d_out) = broker.deals(LONG_AGO, magic=9)
    assert (d_in.entry, d_out.entry, d_out.reason, d_out.profit) == (
        DealEntry.IN, DealEntry.OUT, CloseReason.MANUAL, D("47.50"))
    assert broker.account().balance == D("10047.50")


def test_positions_query_over_rpyc(ctl, broker):
    a = broker.market_order(MarketOrder("EURUSD", Side.BUY, D("0.10"), OrderTag("a", 1, "a")))
    b = broker.market_order(MarketOrder("XAUUSD", Side.SELL, D("0.05"), OrderTag("b", 2, "b"), sl=D("2010.00")))
    assert a.ok and b.ok
    ps = broker.positions()
    assert [(p.ticket, p.symbol, p.side, p.volume, p.magic, p.intent_id) for p in ps] == [
        (a.position, "EURUSD", Side.BUY, D("0.10"), 1, "a"), (b.position, "XAUUSD", Side.SELL, D("0.05"), 2, "b")]
    (gold,) = broker.positions(symbol="XAUUSD")
    assert (gold.price_open, gold.sl, gold.price_current, gold.profit) == (
        D("2000.00"), D("2010.00"), D("2000.25"), D("-1.25"))
    assert [p.ticket for p in broker.positions(magic=1)] == [a.position]
    assert ctl.position_count() == 2


def test_timeout_that_executed_is_reconciled_over_rpyc(ctl, broker):
    ctl.queue_timeout_executed("retcode")
    r = broker.market_order(MarketOrder("EURUSD", Side.SELL, D("0.10"), OrderTag("t", 3, "t")))
    assert r.ok and r.reconciled and r.retcode == 10012
    assert [p.ticket for p in broker.positions()] == [r.position]


def test_dead_server_is_broker_unavailable(tmp_path):
    with FakeMT5Server(log_path=tmp_path / "server.log") as srv:
        srv.reset()
        b = MT5LinuxBroker(MT5LinuxSettings(port=srv.port))
        b.connect()
        assert b.is_connected()
        srv.stop()  # kill the server under the connected adapter
        assert not b.is_connected()
        with pytest.raises(BrokerUnavailable, match="positions_get failed"):
            b.positions()
        r = b.market_order(MarketOrder("EURUSD", Side.BUY, D("0.10"), OrderTag("x", 1)))
        assert r.retcode_class is RetcodeClass.CONNECTION and "nothing sent" in r.reason
        b.disconnect()


def test_unreachable_server_fails_connect():
    def refuse(host, port, timeout):
        raise ConnectionRefusedError(111, "Connection refused")

    b = MT5LinuxBroker(MT5LinuxSettings(port=1), client_factory=refuse)
    with pytest.raises(BrokerUnavailable, match="cannot reach the server at 127.0.0.1:1"):
        b.connect()


def test_non_loopback_host_logs_a_warning(monkeypatch, caplog):
    mod = fake_mt5.install(monkeypatch)
    fake_mt5.standard_symbols()
    seen = []

    def factory(host, port, timeout):  # no network: hand back the in-process fake
        seen.append((host, port, timeout))
        return mod

    b = MT5LinuxBroker(MT5LinuxSettings(host="192.0.2.10", port=18812), client_factory=factory)
    with caplog.at_level(logging.WARNING, logger="gateways.broker.mt5linux"):
        b.connect()
    assert seen == [("192.0.2.10", 18812, 30)]
    assert "not loopback" in caplog.text and "192.0.2.10" in caplog.text
    caplog.clear()
    b2 = MT5LinuxBroker(MT5LinuxSettings(host="localhost"), client_factory=factory)
    with caplog.at_level(logging.WARNING, logger="gateways.broker.mt5linux"):
        b2.connect()
    assert "not loopback" not in caplog.text


def test_is_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("192.0.2.10") and not is_loopback("10.0.0.5")


def test_settings():
    s = MT5LinuxSettings.from_mapping({"host": "127.0.0.1", "port": 18813, "deviation_points": 5}, env={})
    assert (s.host, s.port, s.deviation_points, s.rpc_timeout_seconds) == ("127.0.0.1", 18813, 5, 30)
    with pytest.raises(ConfigError) as e:
        MT5LinuxSettings.from_mapping({"port": 70000}, env={})
    assert e.value.key == "broker.mt5linux.port"
    with pytest.raises(ConfigError) as e:
        MT5LinuxSettings.from_mapping({"hots": "x"}, env={})
    assert e.value.key == "broker.mt5linux.hots" and "host" in e.value.allowed
