"""Paper broker: fills, slippage, SL/TP and pending orders on deterministic price paths, partial closes, volume
limits, SQLite restart, seed determinism, MT5 CSV replay, settings validation."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D
from pathlib import Path

import pytest

from config.errors import ConfigError
from gateways.broker.interface import (
    UNCHANGED, CloseReason, DealEntry, MarketOrder, OrderTag, PendingKind, PendingOrder, RetcodeClass, Side,
)
from gateways.broker.paper import PaperBroker, PaperSettings

T0 = datetime(2024, 3, 4, 10, 0, tzinfo=timezone.utc)


def tag(n: str, magic: int = 7, comment: str = "") -> OrderTag:
    return OrderTag(n, magic, comment or n)


def make(tmp_path: Path, start: datetime | None = T0, **cfg) -> PaperBroker:
    cfg.setdefault("database", str(tmp_path / "paper.db"))
    b = PaperBroker(PaperSettings.from_mapping(cfg), start=start)
    b.connect()
    return b


@pytest.fixture
def flat(tmp_path):
    """Alert-following quotes with no random walk: prices move only when a test says so."""
    b = make(tmp_path, price_source="alert", alert_walk_step_pips=0)
    yield b
    b.disconnect()


def buy(b, n, vol="0.10", sym="EURUSD", **kw):
    return b.market_order(MarketOrder(sym, Side.BUY, D(vol), tag(n), **kw))


def sell(b, n, vol="0.10", sym="EURUSD", **kw):
    return b.market_order(MarketOrder(sym, Side.SELL, D(vol), tag(n), **kw))


# ------------------------------------------------------------------ fills

def test_market_orders_fill_at_ask_and_bid(flat):
    t = flat.tick("EURUSD")
    assert (t.bid, t.ask) == (D("1.08500"), D("1.08510"))  # start price, 1.0 pip default spread
    r = buy(flat, "b1")
    assert r.ok and r.retcode == 10009 and r.price == D("1.08510") and r.volume == D("0.10")
    r = sell(flat, "s1")
    assert r.ok and r.price == D("1.08500")
    gold = flat.tick("XAUUSD")
    assert (gold.bid, gold.ask) == (D("2000.00"), D("2000.25"))
    r = buy(flat, "g1", "0.05", "XAUUSD")
    assert r.price == D("2000.25")
    deals = flat.deals(T0)
    assert [(d.entry, d.side, d.price, d.intent_id) for d in deals] == [
        (DealEntry.IN, Side.BUY, D("1.08510"), "b1"), (DealEntry.IN, Side.SELL, D("1.08500"), "s1"),
        (DealEntry.IN, Side.BUY, D("2000.25"), "g1")]


def test_account_balance_equity_margin(flat):
    buy(flat, "b1", "1.00")
    acc = flat.account()
    # 1 lot EURUSD at 1.08510, leverage 100: 108510 points x $1 per point / 100
    assert acc.margin == D("1085.10")
    assert acc.balance == D("10000.00")
    assert acc.equity == D("9990.00")  # opened at ask, valued at bid: the 10-point spread
    assert acc.free_margin == D("8904.90")
    assert (acc.currency, acc.leverage) == ("USD", 100)


def test_slippage_is_adverse_and_deviation_gives_requote(tmp_path):
    b = make(tmp_path, price_source="alert", alert_walk_step_pips=0, slippage_pips="0.5")
    assert buy(b, "b").price == D("1.08515")
    assert sell(b, "s").price == D("1.08495")
    r = buy(b, "b2", deviation_points=3)
    assert r.retcode_class is RetcodeClass.REQUOTE and r.retcode == 10004 and "5 points" in r.reason
    assert len(b.positions()) == 2
    b.disconnect()


def test_seeded_slippage_jitter_is_reproducible(tmp_path):
    prices = []
    for run in range(2):
        b = make(tmp_path / str(run), price_source="alert", alert_walk_step_pips=0, slippage_jitter_pips=2, seed=3)
        prices.append([buy(b, f"b{i}").price for i in range(5)])
        b.disconnect()
    assert prices[0] == prices[1]
    assert len(set(prices[0])) > 1 and all(D("1.08510") <= p <= D("1.08530") for p in prices[0])


# ------------------------------------------------------------------ SL / TP / pending on a price path

def test_sl_and_tp_trigger_on_the_alert_price_path(flat):
    long_ = buy(flat, "long", sl=D("1.08300"), tp=D("1.08700"))
    short = sell(flat, "short", sl=D("1.08800"), tp=D("1.08200"))
    assert flat.observe_price("EURUSD", D("1.08650"), T0 + timedelta(minutes=1)).deals == ()
    out = flat.observe_price("EURUSD", D("1.08720"), T0 + timedelta(minutes=2))
    (tp_deal,) = out.deals
    assert (tp_deal.position_id, tp_deal.reason, tp_deal.price) == (long_.position, CloseReason.TP, D("1.08720"))
    assert tp_deal.profit == D("21.00")  # (1.08720 - 1.08510) = 210 points x $1 x 0.10 lot
    assert out.ticks[-1].bid == D("1.08720") and out.ticks[-1].time == T0 + timedelta(minutes=2)
    # the short's SL sits at 1.08800 against the ask (bid + 10 points)
    assert flat.observe_price("EURUSD", "1.08785", T0 + timedelta(minutes=3)).deals == ()
    (sl_deal,) = flat.observe_price("EURUSD", "1.08795", T0 + timedelta(minutes=4)).deals
    assert (sl_deal.position_id, sl_deal.reason, sl_deal.price, sl_deal.side) == (
        short.position, CloseReason.SL, D("1.08805"), Side.BUY)
    assert sl_deal.profit == D("-30.50")
    assert flat.positions() == ()
    assert flat.account().balance == D("10000") + D("21.00") - D("30.50")
    assert [d.reason for d in flat.deals(T0, magic=7) if d.entry is DealEntry.OUT] == [CloseReason.TP,
                                                                                      CloseReason.SL]


def test_gap_through_the_stop_fills_at_the_gap_price(flat):
    buy(flat, "long", sl=D("1.08300"))
    (d,) = flat.observe_price("EURUSD", "1.08000", T0 + timedelta(seconds=30)).deals
    assert d.reason is CloseReason.SL and d.price == D("1.08000")


def test_pending_orders_trigger_expire_and_cancel(flat):
    lim = flat.pending_order(PendingOrder("EURUSD", Side.BUY, PendingKind.LIMIT, D("0.20"), D("1.08300"),
                                          tag("lim"), sl=D("1.08000"), tp=D("1.08600")))
    stop = flat.pending_order(PendingOrder("EURUSD", Side.SELL, PendingKind.STOP, D("0.10"), D("1.08100"),
                                           tag("stop")))
    exp = flat.pending_order(PendingOrder("EURUSD", Side.BUY, PendingKind.STOP, D("0.10"), D("1.09000"),
                                          tag("exp"), expiration=T0 + timedelta(minutes=5)))
    gone = flat.pending_order(PendingOrder("EURUSD", Side.SELL, PendingKind.LIMIT, D("0.10"), D("1.09000"),
                                           tag("gone")))
    assert all(r.ok and r.retcode == 10008 for r in (lim, stop, exp, gone))
    assert [o.intent_id for o in flat.orders()] == ["lim", "stop", "exp", "gone"]
    assert flat.cancel_order(gone.order, tag("cancel")).ok
    assert flat.observe_price("EURUSD", "1.08400", T0 + timedelta(minutes=1)).deals == ()  # ask 1.08410
    (fill,) = flat.observe_price("EURUSD", "1.08280", T0 + timedelta(minutes=2)).deals  # ask 1.08290 <= 1.08300
    assert (fill.order, fill.entry, fill.price, fill.volume) == (lim.order, DealEntry.IN, D("1.08290"), D("0.20"))
    (pos,) = flat.positions()
    assert (pos.ticket, pos.sl, pos.tp, pos.intent_id) == (lim.order, D("1.08000"), D("1.08600"), "lim")
    flat.advance(T0 + timedelta(minutes=6))
    assert [o.intent_id for o in flat.orders()] == ["stop"]  # "exp" expired
    (fill2,) = flat.observe_price("EURUSD", "1.08100", T0 + timedelta(minutes=7)).deals
    assert fill2.order == stop.order and fill2.side is Side.SELL and fill2.price == D("1.08100")


def test_pending_order_on_the_wrong_side_of_the_market_is_refused(flat):
    r = flat.pending_order(PendingOrder("EURUSD", Side.BUY, PendingKind.LIMIT, D("0.10"), D("1.08600"), tag("x")))
    assert r.retcode_class is RetcodeClass.HARD and r.retcode == 10015 and "below the current ask" in r.reason
    r = flat.pending_order(PendingOrder("EURUSD", Side.BUY, PendingKind.LIMIT, D("0.10"), D("1.08300"), tag("y"),
                                        sl=D("1.08400")))
    assert r.retcode_class is RetcodeClass.INVALID_STOPS
    assert flat.orders() == ()


def test_invalid_stops_and_modify(flat):
    r = buy(flat, "bad", sl=D("1.08600"))
    assert r.retcode_class is RetcodeClass.INVALID_STOPS and r.retcode == 10016
    r = buy(flat, "ok", sl=D("1.08300"), tp=D("1.08700"))
    assert flat.modify_sltp(r.position, tag("m1"), sl=D("1.08400")).ok
    (p,) = flat.positions()
    assert (p.sl, p.tp) == (D("1.08400"), D("1.08700"))  # tp UNCHANGED
    assert flat.modify_sltp(r.position, tag("m2"), sl=D("1.08400"), tp=UNCHANGED).retcode == 10025
    assert flat.modify_sltp(r.position, tag("m3"), tp=None).ok
    assert flat.positions()[0].tp is None
    assert flat.modify_sltp(r.position, tag("m4"), sl=D("1.08550")).retcode_class is RetcodeClass.INVALID_STOPS


# ------------------------------------------------------------------ partial close and volumes

def test_partial_close_rounds_down_and_records_the_reason(tmp_path):
    b = make(tmp_path, price_source="alert", alert_walk_step_pips=0, symbols={"EURUSD": {"volume_min": "0.10"}})
    r = buy(b, "b", "0.30")
    b.observe_price("EURUSD", "1.08610", T0 + timedelta(minutes=1))
    part = b.close_position(r.position, tag("p1"), D("0.125"))
    assert part.ok and part.volume == D("0.12") and part.price == D("1.08610")
    assert b.positions()[0].volume == D("0.18")
    small = b.close_position(r.position, tag("p2"), D("0.05"))
    assert small.retcode_class is RetcodeClass.INVALID_VOLUME and "below the minimum 0.10" in small.reason
    rest = b.close_position(r.position, tag("p3"), D("0.10"))
    assert rest.retcode_class is RetcodeClass.INVALID_VOLUME and "would leave 0.08" in rest.reason
    full = b.close_position(r.position, tag("full"))
    assert full.ok and full.volume == D("0.18")
    outs = [d for d in b.deals(T0) if d.entry is DealEntry.OUT]
    assert [(d.reason, d.volume, d.profit, d.intent_id) for d in outs] == [
        (CloseReason.PARTIAL, D("0.12"), D("12.00"), "p1"), (CloseReason.MANUAL, D("0.18"), D("18.00"), "full")]
    assert b.account().balance == D("10030.00")
    assert b.close_position(r.position, tag("again")).retcode == 10036
    b.disconnect()


def test_volume_rounding_and_limits(flat):
    r = buy(flat, "a", "0.019")
    assert r.ok and r.volume == D("0.01")
    r = buy(flat, "b", "0.004")
    assert r.retcode_class is RetcodeClass.INVALID_VOLUME and r.retcode == 10014 and "0.00" in r.reason
    r = buy(flat, "c", "2.5", "XAUUSD")
    assert r.retcode_class is RetcodeClass.INVALID_VOLUME and "maximum 2" in r.reason
    r = buy(flat, "d", "9.99")  # 9.99 lots EURUSD needs ~10840 margin > 10000
    assert r.retcode_class is RetcodeClass.HARD and r.retcode == 10019
    assert buy(flat, "e", "0.10", "NOPE").retcode_class is RetcodeClass.HARD


def test_same_intent_is_executed_once(flat):
    first = buy(flat, "same")
    again = buy(flat, "same")
    assert again.duplicate and again.position == first.position and not first.duplicate
    assert len(flat.positions()) == 1


# ------------------------------------------------------------------ persistence and determinism

def test_restart_from_sqlite_keeps_positions_orders_balance_and_the_price_path(tmp_path):
    cfg = dict(price_source="walk", seed=11, walk_step_pips="0.3")
    a = make(tmp_path / "a", **cfg)
    p1 = buy(a, "p1", "0.20", sl=D("1.07000"), tp=D("1.10000"))
    p2 = sell(a, "p2", "0.05", "XAUUSD")
    o1 = a.pending_order(PendingOrder("EURUSD", Side.BUY, PendingKind.LIMIT, D("0.10"), D("1.07500"), tag("o1")))
    a.advance(T0 + timedelta(minutes=10))
    a.close_position(p1.position, tag("part"), D("0.05"))
    before = (a.positions(), a.orders(), a.account(), a.deals(T0), a.now)
    a.disconnect()

    b = make(tmp_path / "a", start=T0 + timedelta(days=30), **cfg)  # start is ignored for an existing database
    assert (b.positions(), b.orders(), b.account(), b.deals(T0), b.now) == before
    assert [p.ticket for p in b.positions()] == sorted([p1.position, p2.position])
    assert b.positions()[0].volume == D("0.15") and b.orders()[0].ticket == o1.order
    new = buy(b, "p3")
    assert new.order > max(d.ticket for d in before[3])  # ticket numbers continue, never reused

    # the path after the restart is the one an uninterrupted broker would have produced
    c = make(tmp_path / "c", **cfg)
    buy(c, "p1", "0.20", sl=D("1.07000"), tp=D("1.10000"))
    sell(c, "p2", "0.05", "XAUUSD")
    c.pending_order(PendingOrder("EURUSD", Side.BUY, PendingKind.LIMIT, D("0.10"), D("1.07500"), tag("o1")))
    c.advance(T0 + timedelta(minutes=10))
    later = T0 + timedelta(minutes=25)
    assert b.advance(later).ticks == c.advance(later).ticks
    assert b.tick("EURUSD") == c.tick("EURUSD")
    b.disconnect()
    c.disconnect()


def test_restart_keeps_the_last_alert_price(tmp_path):
    a = make(tmp_path, price_source="alert", alert_walk_step_pips=0)
    a.observe_price("XAUUSD", "2350.40", T0 + timedelta(minutes=3))
    a.disconnect()
    b = make(tmp_path, price_source="alert", alert_walk_step_pips=0)
    t = b.tick("XAUUSD")
    assert (t.bid, t.ask, b.now) == (D("2350.40"), D("2350.65"), T0 + timedelta(minutes=3))
    b.disconnect()


def test_a_crash_loses_at_most_seconds_of_the_price_path_never_an_order(tmp_path, monkeypatch):
    """The clock and the feeds are written with the broker's next write (or SAVE_EVERY seconds later), not on
    every alert price: a crash (no disconnect) keeps what an order saw, and loses only the unsaved prices."""
    from gateways.broker import paper
    a = make(tmp_path, price_source="alert", alert_walk_step_pips=0)
    a.observe_price("XAUUSD", "2350.40", T0 + timedelta(minutes=3))
    filled = buy(a, "after-the-price", sym="XAUUSD", vol="0.01")
    assert filled.ok and filled.price == D("2350.65")
    a.observe_price("XAUUSD", "2360.00", T0 + timedelta(minutes=4))     # nothing written yet
    b = make(tmp_path, price_source="alert", alert_walk_step_pips=0)       # "a" crashed: it never disconnected
    assert b.tick("XAUUSD").bid == D("2350.40") and b.now == T0 + timedelta(minutes=3)
    assert [p.intent_id for p in b.positions()] == ["after-the-price"]
    b.disconnect()
    monkeypatch.setattr(paper, "SAVE_EVERY", 0.0)      # due at once: the price alone is written
    a.observe_price("XAUUSD", "2361.00", T0 + timedelta(minutes=5))
    c = make(tmp_path, price_source="alert", alert_walk_step_pips=0)
    assert c.tick("XAUUSD").bid == D("2361.00")
    c.disconnect()
    a.disconnect()


def test_a_crash_right_after_the_clock_started_restarts_on_that_clock(tmp_path):
    """The clock's start is written at once: feeds left on the epoch grid would make the restart walk every tick
    since 1970."""
    a = make(tmp_path, start=None, price_source="walk")
    a.advance(T0)                           # the first time seen: the clock and the price grid start here
    a.advance(T0 + timedelta(seconds=0.5))
    b = make(tmp_path, start=None, price_source="walk")     # "a" crashed: no disconnect
    assert T0 <= b.now <= T0 + timedelta(seconds=0.5)
    b.advance(T0 + timedelta(seconds=5))    # a few grid steps, not fifty years of them
    assert b.now == T0 + timedelta(seconds=5)
    b.disconnect()
    a.disconnect()


def run_script(broker: PaperBroker) -> tuple:
    broker.subscribe("EURUSD", "XAUUSD")
    buy(broker, "a", "0.10", sl=D("1.08350"), tp=D("1.08650"))
    sell(broker, "b", "0.02", "XAUUSD", sl=D("2003.00"), tp=D("1997.00"))
    adv = broker.advance(T0 + timedelta(minutes=20))
    return adv.ticks, adv.deals, broker.account()


def test_same_seed_same_results_other_seed_other_path(tmp_path):
    r1 = run_script(make(tmp_path / "1", price_source="walk", seed=5))
    r2 = run_script(make(tmp_path / "2", price_source="walk", seed=5))
    r3 = run_script(make(tmp_path / "3", price_source="walk", seed=6))
    assert len(r1[0]) == 2 * 20 * 60  # one tick a second per watched symbol
    assert r1 == r2
    assert r1[0] != r3[0]
    assert {d.reason for d in r1[1]} <= {CloseReason.SL, CloseReason.TP} and r1[1]  # the walk hit some levels


def test_clock_starts_at_first_advance_without_a_start_time(tmp_path):
    b = make(tmp_path, start=None, price_source="walk")
    assert b.advance(T0).ticks == ()
    assert b.now == T0
    b.subscribe("EURUSD")
    assert len(b.advance(T0 + timedelta(seconds=5)).ticks) == 5
    b.disconnect()


# ------------------------------------------------------------------ MT5 CSV replay

TICKS_CSV = (
    "<DATE>\t<TIME>\t<BID>\t<ASK>\t<LAST>\t<VOLUME>\t<FLAGS>\r\n"
    "2024.03.04\t12:00:00.100\t1.08500\t1.08512\t\t\t6\r\n"
    "2024.03.04\t12:00:00.900\t\t1.08515\t\t\t4\r\n"       # only the ask changed
    "2024.03.04\t12:00:01.250\t1.08520\t\t\t\t2\r\n"       # only the bid changed
    "2024.03.04\t12:00:02.000\t1.08300\t1.08311\t\t\t6\r\n"
)


def test_replay_of_an_mt5_tick_export(tmp_path):
    csv = tmp_path / "EURUSD_ticks.csv"
    csv.write_bytes(TICKS_CSV.encode("utf-16"))  # MT5 writes UTF-16 with a BOM on some builds
    # server time is UTC+2: 12:00 server = 10:00 UTC = T0
    b = make(tmp_path, price_source="replay", replay_files={"EURUSD": str(csv)}, replay_utc_offset_minutes=120)
    r = buy(b, "long", sl=D("1.08400"))
    assert r.price == D("1.08510")  # before the first record: the configured start price
    adv = b.advance(T0 + timedelta(seconds=5))
    assert [(t.time, t.bid, t.ask) for t in adv.ticks] == [
        (T0 + timedelta(milliseconds=100), D("1.08500"), D("1.08512")),
        (T0 + timedelta(milliseconds=900), D("1.08500"), D("1.08515")),
        (T0 + timedelta(milliseconds=1250), D("1.08520"), D("1.08515")),
        (T0 + timedelta(seconds=2), D("1.08300"), D("1.08311"))]
    (d,) = adv.deals
    assert (d.reason, d.price, d.time) == (CloseReason.SL, D("1.08300"), T0 + timedelta(seconds=2))
    b.disconnect()


def test_replay_of_mt5_m1_bars_walks_open_extremes_close(tmp_path):
    csv = tmp_path / "XAUUSD_M1.csv"
    csv.write_text("<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
                   "2024.03.04\t10:00:00\t2000.00\t2003.00\t1999.00\t2002.00\t57\t0\t30\n"
                   "2024.03.04\t10:01:00\t2002.00\t2002.50\t1998.00\t1998.50\t41\t0\t0\n")
    b = make(tmp_path, price_source="replay", replay_files={"XAUUSD": str(csv)})
    b.subscribe("XAUUSD")
    now = b.tick("XAUUSD")  # the bar opening at the start time is the current quote
    assert (now.bid, now.ask, now.time) == (D("2000.00"), D("2000.30"), T0)
    ticks = b.advance(T0 + timedelta(minutes=2)).ticks
    assert [(int((t.time - T0).total_seconds()), t.bid, t.ask - t.bid) for t in ticks] == [
        (20, D("1999.00"), D("0.30")), (40, D("2003.00"), D("0.30")),
        (59, D("2002.00"), D("0.30")),
        # falling bar: high first; spread 0 in the file -> the configured 25-pip spread
        (60, D("2002.00"), D("0.25")), (80, D("2002.50"), D("0.25")), (100, D("1998.00"), D("0.25")),
        (119, D("1998.50"), D("0.25"))]
    b.disconnect()


def test_replay_file_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("time,price\n1,2\n")
    with pytest.raises(ConfigError) as e:
        make(tmp_path, price_source="replay", replay_files={"EURUSD": str(bad)})
    assert e.value.key == "broker.paper.replay_files.EURUSD" and "neither" in e.value.allowed


# ------------------------------------------------------------------ settings

def test_settings_defaults_and_overrides():
    s = PaperSettings.from_mapping({})
    assert (s.initial_balance, s.price_source, s.leverage, s.currency) == (D("10000"), "alert", 100, "USD")
    assert set(s.symbols) == {"XAUUSD", "EURUSD", "GBPUSD", "USDJPY", "USDCAD", "AUDUSD", "NZDUSD", "EURJPY",
                              "GBPJPY", "AUDJPY"}
    s = PaperSettings.from_mapping({"symbols": {"XAUUSD": {"spread_pips": 40, "volume_max": 5},
                                                "EURGBP": {"digits": 5, "pip_size": "0.0001",
                                                           "pip_value_per_lot": 12.7, "contract_size": 100000,
                                                           "start_price": "0.85500"}}})
    assert s.symbols["XAUUSD"].spread_pips == D("40") and s.symbols["XAUUSD"].pip_size == D("0.01")
    assert s.symbols["EURGBP"].info().pip_value_per_lot == D("12.7")


@pytest.mark.parametrize("cfg, key", [
    ({"bogus": 1}, "broker.paper.bogus"),
    ({"price_source": "random"}, "broker.paper.price_source"),
    ({"leverage": 0}, "broker.paper.leverage"),
    ({"initial_balance": "-5"}, "broker.paper.initial_balance"),
    ({"slippage_pips": "abc"}, "broker.paper.slippage_pips"),
    ({"price_source": "replay"}, "broker.paper.replay_files"),
    ({"replay_files": {"ZZZ": "x.csv"}}, "broker.paper.replay_files.ZZZ"),
    ({"symbols": {"EURUSD": {"spread": 2}}}, "broker.paper.symbols.EURUSD.spread"),
    ({"symbols": {"EURGBP": {"digits": 5}}}, "broker.paper.symbols.EURGBP"),
    ({"symbols": {"EURUSD": {"start_price": "1.085001"}}}, "broker.paper.symbols.EURUSD.start_price"),
    ({"tick_interval_seconds": 0}, "broker.paper.tick_interval_seconds"),
    ({"currency": "dollars"}, "broker.paper.currency"),
])
def test_settings_errors_name_key_value_and_allowed(cfg, key):
    with pytest.raises(ConfigError) as e:
        PaperSettings.from_mapping(cfg)
    assert e.value.key == key and e.value.allowed
    with pytest.raises(ConfigError) as e2:
        PaperSettings.from_mapping(cfg, path="profiles.test.broker")
    assert e2.value.key == key.replace("broker.paper", "profiles.test.broker")


def test_advance_applies_each_symbols_quotes_to_that_symbol_only():
    """Regression: advance() labelled every symbol's quotes with the last active symbol, so a position on one
    symbol was stopped out at another symbol's price."""
    from datetime import datetime, timedelta, timezone
    from decimal import Decimal

    from gateways.broker.interface import MarketOrder, OrderTag, Side
    from gateways.broker.paper import PaperBroker, PaperSettings

    t0 = datetime(2024, 1, 2, tzinfo=timezone.utc)
    b = PaperBroker(PaperSettings(database=":memory:", price_source="walk", walk_step_pips=Decimal("0")), start=t0)
    b.connect()
    b.subscribe("EURUSD", "NZDUSD")
    r = b.market_order(MarketOrder("NZDUSD", Side.SELL, Decimal("0.05"), OrderTag("i1", 1), sl=Decimal("0.62000")))
    assert r.ok
    adv = b.advance(t0 + timedelta(seconds=5))
    assert not adv.deals
    assert {t.symbol for t in adv.ticks} == {"EURUSD", "NZDUSD"}
    assert all(t.bid == Decimal("0.61000") for t in adv.ticks if t.symbol == "NZDUSD")
    assert len(b.positions()) == 1
