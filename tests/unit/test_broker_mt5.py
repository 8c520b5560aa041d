"""MT5 adapter against the in-process fake MetaTrader5 module: retries, filling modes, comments, retcode classes,
None results, timeouts that did execute, disconnects, SL hit while disconnected, settings."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from config.errors import ConfigError
from gateways.broker.interface import (
    UNCHANGED, BrokerUnavailable, CloseReason, DealEntry, FillingMode, MarketOrder, OrderTag, PendingKind,
    PendingOrder, RetcodeClass, Side,
)
from gateways.broker.mt5 import MT5Broker, MT5Settings
from tests.support import fake_mt5

LONG_AGO = datetime(2023, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def fake(monkeypatch):
    mod = fake_mt5.install(monkeypatch)
    fake_mt5.standard_symbols()
    return mod.control()


@pytest.fixture
def broker(fake):
    # No module injected: connect() must import MetaTrader5 itself (here: the fake in sys.modules).
    b = MT5Broker(MT5Settings(login=51234567, server="Fake-Demo", password="pw"))
    b.connect()
    yield b
    b.disconnect()


def order(n: str, sym: str = "EURUSD", side: Side = Side.BUY, vol: str = "0.10", comment: str | None = None,
          **kw) -> MarketOrder:
    return MarketOrder(sym, side, D(vol), OrderTag(n, 42, n if comment is None else comment), **kw)


def requests(fake) -> list[dict]:
    return [dict(r) for r in fake.request_log()]


def test_connect_passes_credentials_and_reads_the_account(fake, broker):
    assert fake.init_kwargs == {"login": 51234567, "password": "pw", "server": "Fake-Demo", "timeout": 60000}
    acc = broker.account()
    assert (acc.balance, acc.equity, acc.currency, acc.leverage, acc.login) == (
        D("10000.00"), D("10000.00"), "USD", 100, 51234567)
    info = broker.symbol_info("XAUUSD")
    assert (info.digits, info.point, info.pip_size, info.contract_size) == (2, D("0.01"), D("0.01"), D("100.0"))
    assert info.filling_modes == {FillingMode.FOK, FillingMode.RETURN}  # FOK flag; RETURN: market execution
    t = broker.tick("EURUSD")
    assert (t.bid, t.ask) == (D("1.10000"), D("1.10010"))


def test_initialize_failure_is_broker_unavailable_with_last_error(fake):
    fake.fail_initialize(-6, "Authorization failed")
    with pytest.raises(BrokerUnavailable, match=r"\(-6, 'Authorization failed'\)"):
        MT5Broker(MT5Settings()).connect()


def test_requote_then_fill_with_a_fresh_price(fake, broker):
    fake.queue_retcode(10004)
    fake.queue_retcode(10020, "Prices changed")
    r = broker.market_order(order("i1", sl=D("1.09000"), tp=D("1.11000")))
    assert r.ok and r.attempts == 3 and r.retcode == 10009
    assert (r.price, r.volume) == (D("1.10010"), D("0.10"))
    sent = requests(fake)
    assert len(sent) == 3 and all(s["price"] == 1.1001 and s["type"] == 0 for s in sent)
    assert sent[0]["sl"] == 1.09 and sent[0]["magic"] == 42 and sent[0]["deviation"] == 20
    (p,) = broker.positions()
    assert (p.ticket, p.intent_id, p.sl, p.tp) == (r.position, "i1", D("1.09000"), D("1.11000"))


def test_requotes_are_retried_only_so_often(fake):
    b = MT5Broker(MT5Settings(max_requote_retries=1), module=fake_mt5)
    b.connect()
    for _ in range(3):
        fake.queue_retcode(10004)
    r = b.market_order(order("i1"))
    assert r.retcode_class is RetcodeClass.REQUOTE and r.attempts == 2 and r.retcode == 10004
    assert "Requote" in r.reason
    assert fake.position_count() == 0


def test_filling_mode_follows_symbol_flags(fake, broker):
    assert broker.market_order(order("g", "XAUUSD", vol="0.05")).ok
    assert requests(fake)[-1]["type_filling"] == fake_mt5.ORDER_FILLING_FOK  # XAUUSD allows FOK only
    assert broker.market_order(order("e")).ok
    assert requests(fake)[-1]["type_filling"] == fake_mt5.ORDER_FILLING_IOC


def test_invalid_fill_tries_the_next_allowed_mode_then_gives_up(fake, broker):
    fake.queue_retcode(10030)  # the broker refuses IOC although the symbol advertises it
    r = broker.market_order(order("i1"))
    # RETURN is the only other allowed mode, and the fake refuses it for market execution too
    assert r.retcode_class is RetcodeClass.INVALID_FILL and r.retcode == 10030 and r.attempts == 2
    assert [s["type_filling"] for s in requests(fake)] == [fake_mt5.ORDER_FILLING_IOC,
                                                          fake_mt5.ORDER_FILLING_RETURN]
    assert "Unsupported filling mode" in r.reason


def test_invalid_fill_fallback_can_succeed(fake):
    fake.add_symbol("GBPUSD", 5, 1.27, 1.2701, filling_mode=fake_mt5.SYMBOL_FILLING_FOK | fake_mt5.SYMBOL_FILLING_IOC)
    b = MT5Broker(MT5Settings(filling_preference=(FillingMode.FOK, FillingMode.IOC)), module=fake_mt5)
    b.connect()
    fake.queue_retcode(10030)
    r = b.market_order(order("i1", "GBPUSD"))
    assert r.ok and [s["type_filling"] for s in requests(fake)] == [0, 1]


def test_comment_is_truncated_to_31_and_cleaned(fake, broker):
    long_ = OrderTag.fit("i1", 42, "V3 LOGIC2 order A ticket chain level 2")
    r = broker.market_order(MarketOrder("EURUSD", Side.BUY, D("0.10"), long_))
    assert r.ok and requests(fake)[-1]["comment"] == "V3 LOGIC2 order A ticket chain "
    assert len(requests(fake)[-1]["comment"]) == 31
    r = broker.market_order(order("i2", comment="Größe ✓"))
    assert r.ok and requests(fake)[-1]["comment"] == "Gr??e ?"


@pytest.mark.parametrize("code, cls", [
    (10004, RetcodeClass.REQUOTE), (10021, RetcodeClass.REQUOTE), (10020, RetcodeClass.PRICE_CHANGED),
    (10024, RetcodeClass.TOO_MANY_REQUESTS), (10031, RetcodeClass.CONNECTION), (10016, RetcodeClass.INVALID_STOPS),
    (10014, RetcodeClass.INVALID_VOLUME), (10034, RetcodeClass.INVALID_VOLUME), (10019, RetcodeClass.HARD),
    (10018, RetcodeClass.HARD), (10006, RetcodeClass.HARD), (10027, RetcodeClass.HARD),
    (10012, RetcodeClass.TIMEOUT),
])
def test_retcode_classes(fake, code, cls):
    b = MT5Broker(MT5Settings(max_requote_retries=0), module=fake_mt5)
    b.connect()
    fake.queue_retcode(code, f"server says {code}")
    r = b.market_order(order("i1", "XAUUSD", vol="0.05"))  # one filling mode: no fallback attempt
    assert (r.retcode_class, r.retcode, r.attempts) == (cls, code, 1)
    assert f"server says {code}" in r.reason
    assert fake.position_count() == 0
    if cls is RetcodeClass.TIMEOUT:
        assert "not found on the account" in r.reason


def test_none_result_uses_last_error(fake, broker):
    fake.queue_none(-2, 'Invalid "volume" argument')
    r = broker.market_order(order("i1"))
    assert r.retcode_class is RetcodeClass.HARD and r.retcode == -2 and 'Invalid "volume" argument' in r.reason
    fake.queue_none(-10001, "IPC send failed")
    r = broker.market_order(order("i2"))
    assert r.retcode_class is RetcodeClass.CONNECTION and r.retcode == -10001
    assert fake.position_count() == 0


@pytest.mark.parametrize("how", ["retcode", "none", "raise"])
def test_timeout_where_the_order_did_go_through_is_reconciled(fake, broker, how, caplog):
    fake.queue_timeout_executed(how)
    with caplog.at_level(logging.WARNING):
        r = broker.market_order(order("i1"))
    (p,) = broker.positions()
    assert r.ok and r.reconciled and r.position == p.ticket and r.volume == D("0.10")
    assert "confirmed after" in r.reason and "executed" in caplog.text
    again = broker.market_order(order("i1"))
    assert again.duplicate and again.position == p.ticket and len(broker.positions()) == 1
    assert len(requests(fake)) == 1


def test_timeout_on_close_is_reconciled_from_the_remaining_volume(fake, broker):
    r = broker.market_order(order("o", vol="0.30"))
    fake.queue_timeout_executed("none")
    c = broker.close_position(r.position, OrderTag("c", 42, "half"), D("0.10"))
    assert c.ok and c.reconciled and c.volume == D("0.10")
    assert broker.positions()[0].volume == D("0.20")


def test_disconnected_terminal_sends_nothing(fake, broker):
    fake.disconnect_trade_server()
    assert not broker.is_connected()
    r = broker.market_order(order("i1"))
    assert r.retcode_class is RetcodeClass.CONNECTION and "not connected to the trade server" in r.reason
    assert requests(fake) == []
    fake.reconnect_trade_server()
    assert broker.is_connected() and broker.market_order(order("i1")).ok


def test_broken_ipc(fake, broker):
    fake.break_ipc(-10004, "No IPC connection")
    with pytest.raises(BrokerUnavailable, match="-10004"):
        broker.positions()
    r = broker.market_order(order("i1"))
    assert r.retcode_class is RetcodeClass.CONNECTION and "-10004" in r.reason
    fake.heal_ipc()
    assert broker.positions() == ()


def test_sl_hit_while_disconnected_shows_in_history(fake, broker):
    r = broker.market_order(order("i1", sl=D("1.09500")))
    fake.disconnect_trade_server()
    fake.set_price("EURUSD", 1.09480, 1.09490)
    fake.reconnect_trade_server()
    assert broker.positions() == ()
    deals = broker.deals(LONG_AGO, magic=42)
    assert [(d.entry, d.reason, d.price, d.intent_id) for d in deals] == [
        (DealEntry.IN, None, D("1.10010"), "i1"), (DealEntry.OUT, CloseReason.SL, D("1.09480"), "i1")]
    assert deals[1].position_id == r.position and deals[1].profit == D("-53.00")
    assert broker.account().balance == D("9947.00")


def test_pending_modify_partial_and_full_close(fake, broker):
    pend = broker.pending_order(PendingOrder("EURUSD", Side.BUY, PendingKind.LIMIT, D("0.20"), D("1.09500"),
                                             OrderTag("p", 42, "limit"), tp=D("1.10500")))
    assert pend.ok and pend.retcode == 10008
    (o,) = broker.orders()
    assert (o.ticket, o.kind, o.side, o.price, o.tp, o.intent_id) == (
        pend.order, PendingKind.LIMIT, Side.BUY, D("1.09500"), D("1.10500"), "p")
    assert broker.cancel_order(pend.order, OrderTag("x", 42)).ok and broker.orders() == ()

    r = broker.market_order(order("m", vol="0.30", tp=D("1.12000")))
    assert broker.modify_sltp(r.position, OrderTag("mod", 42), sl=D("1.09000"), tp=UNCHANGED).ok
    assert requests(fake)[-1]["tp"] == 1.12 and requests(fake)[-1]["sl"] == 1.09
    (p,) = broker.positions()
    assert (p.sl, p.tp) == (D("1.09000"), D("1.12000"))
    assert broker.modify_sltp(r.position, OrderTag("bad", 42), sl=D("1.10500")).retcode_class \
        is RetcodeClass.INVALID_STOPS

    fake.set_price("EURUSD", 1.10100, 1.10110)
    part = broker.close_position(r.position, OrderTag("part", 42, "Close_50%"), D("0.155"))
    assert part.ok and part.volume == D("0.15")
    assert requests(fake)[-1]["type"] == fake_mt5.ORDER_TYPE_SELL and requests(fake)[-1]["position"] == r.position
    full = broker.close_position(r.position, OrderTag("full", 42))
    assert full.ok and broker.positions() == ()
    outs = [d for d in broker.deals(LONG_AGO) if d.entry is DealEntry.OUT]
    assert [(d.reason, d.volume, d.profit) for d in outs] == [
        (CloseReason.PARTIAL, D("0.15"), D("13.50")), (CloseReason.MANUAL, D("0.15"), D("13.50"))]


def test_volume_is_checked_before_sending(fake, broker):
    r = broker.market_order(order("v", vol="0.004"))
    assert r.retcode_class is RetcodeClass.INVALID_VOLUME and "below the minimum 0.01" in r.reason
    assert broker.market_order(order("w", vol="0.129")).volume == D("0.12")
    assert requests(fake)[-1]["volume"] == 0.12 and len(requests(fake)) == 1


def test_server_time_offset_converts_deal_times(fake):
    b = MT5Broker(MT5Settings(server_utc_offset_minutes=120), module=fake_mt5)
    b.connect()
    b.market_order(order("i1"))
    (d,) = b.deals(LONG_AGO)
    # the fake's server clock reads 2023-11-14 22:13:20; the server runs at UTC+2
    assert d.time == datetime(2023, 11, 14, 20, 13, 20, tzinfo=timezone.utc)
    assert b.deals(datetime(2023, 11, 14, 20, 13, 21, tzinfo=timezone.utc)) == ()


def test_settings_from_mapping_and_environment():
    s = MT5Settings.from_mapping({"login": 123, "server": "XMGlobal-MT5 6", "deviation_points": 30,
                                  "filling_preference": ["FOK", "IOC"], "pip_sizes": {"GOLD": "0.01"}},
                                 env={"MT5_PASSWORD": "secret", "MT5_LOGIN": "999"})
    assert (s.login, s.server, s.password, s.deviation_points) == (999, "XMGlobal-MT5 6", "secret", 30)
    assert s.filling_preference == (FillingMode.FOK, FillingMode.IOC) and s.pip_sizes["GOLD"] == D("0.01")
    assert "secret" not in repr(s)
    with pytest.raises(ConfigError) as e:
        MT5Settings.from_mapping({"password": "x"}, env={})
    assert e.value.key == "broker.mt5.password" and "MT5_PASSWORD" in e.value.allowed and e.value.value == "***"
    with pytest.raises(ConfigError) as e:
        MT5Settings.from_mapping({"filling_preference": ["BOC"]}, env={})
    assert e.value.key == "broker.mt5.filling_preference"
    with pytest.raises(ConfigError) as e:
        MT5Settings.from_mapping({"login": "abc"}, env={})
    assert e.value.key == "broker.mt5.login"
