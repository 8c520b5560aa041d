"""SL-hunt re-entry, profit-order recovery, TP and exit continuation, safety limits and profit protection
(facts §4.3-4.6, DECISIONS §16-17)."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from config.errors import ConfigError
from strategies.positions import reentry as R
from strategies.positions.actions import Notify, PlaceOrder, ReEnter, RecoveryOutcome
from strategies.risk.pips import DEFAULT_SYMBOLS, SymbolSpec
from strategies.risk.side import Side

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
DAY = datetime(2026, 1, 4, 22, 5, tzinfo=timezone.utc)  # the risk reset boundary before NOW
RS = R.ReentrySettings()


def spec(sym="EURUSD"):
    return SymbolSpec.from_row(sym, DEFAULT_SYMBOLS[sym])


def up(symbol, logic):
    return Side.BUY


def down(symbol, logic):
    return Side.SELL


def sl_hunt(book=None, settings=RS, sym="EURUSD", side=Side.BUY, entry="1.10000", sl="1.09850", chain="C1",
            logic="LOGIC1", lots="0.05", profit="0", now=NOW):
    return R.register_sl_hunt(book or R.ReentryBook(), settings, spec(sym), chain_id=chain, order_id=f"{chain}-A",
                              side=side, logic=logic, entry=D(entry), sl_price=D(sl), lots=D(lots),
                              chain_profit=D(profit), now=now, day_start=DAY)


def orders(actions):
    return [a for a in actions if isinstance(a, PlaceOrder)]


def outcomes(actions):
    return [a for a in actions if isinstance(a, RecoveryOutcome)]


@pytest.mark.parametrize("sym, side, entry, sl, trigger, sl_pips, minutes", [
    ("EURUSD", Side.BUY, "1.10000", "1.09850", "1.09955", "10", 30),  # 15 pips: 70% back, 50% = 7.5 -> floor 10
    ("EURUSD", Side.BUY, "1.10000", "1.09700", "1.09910", "15", 30),  # 30 pips -> SL 15
    ("EURUSD", Side.SELL, "1.10000", "1.10300", "1.10090", "15", 30),
    ("XAUUSD", Side.BUY, "2000.00", "1990.00", "1997.00", "500", 15),  # gold: 1000 pips -> 500, 15-min window
    ("GBPJPY", Side.SELL, "190.000", "191.110", "190.333", "55.5", 10),
    ("EURUSD", Side.BUY, "1.10000", "1.09998", "1.10018", "10", 30),  # 0.2-pip SL: at least 2 pips back
])
def test_autonomous_sl_hunt_registration(sym, side, entry, sl, trigger, sl_pips, minutes):
    book, actions = sl_hunt(sym=sym, side=side, entry=entry, sl=sl)
    (w,) = book.watches
    assert w.trigger == D(trigger) and w.sl_pips == D(sl_pips) and w.tp_pips == D(sl_pips) * D("1.5")
    assert w.expires_at - NOW == timedelta(minutes=minutes) and w.level == 1
    assert w.comment == "LOGIC1_SL_HUNT_REENTRY"


@pytest.mark.parametrize("logic, minutes", [("LOGIC1", 30), ("LOGIC2", 45), ("LOGIC3", 120), (None, 30)])
def test_offset_mode_sl_plus_one_pip_reduced_sl_and_logic_window(logic, minutes):
    s = R.ReentrySettings(sl_hunt_mode="offset")
    book, _ = sl_hunt(settings=s, logic=logic)
    (w,) = book.watches
    assert w.trigger == D("1.09860") and w.sl_pips == D("10.5") and w.expires_at - NOW == timedelta(minutes=minutes)


def test_fires_only_when_reached_and_aligned_then_advances_the_level():
    book, _ = sl_hunt()
    assert R.on_tick(book, RS, "EURUSD", D("1.09954"), NOW, up, DAY)[1] == []
    book2, actions = R.on_tick(book, RS, "EURUSD", D("1.09960"), NOW, down, DAY)
    assert actions == [] and len(book2.watches) == 1  # trend disagrees: keep waiting
    book3, actions = R.on_tick(book2, RS, "EURUSD", D("1.09960"), NOW + timedelta(minutes=5), up, DAY)
    (o,) = orders(actions)
    assert (o.side, o.lots, o.sl_pips, o.level, o.recovers) == (Side.BUY, D("0.05"), D(10), 1, None)
    assert book3.watches == () and book3.chain("C1").level == 1 and book3.attempts_today == 1
    assert R.on_tick(book3, RS, "EURUSD", D("1.1"), NOW, up, DAY)[1] == []


def test_other_symbols_ticks_do_not_touch_the_watch():
    book, _ = sl_hunt()
    assert R.on_tick(book, RS, "GBPUSD", D("5"), NOW, up, DAY) == (book, [])


def test_window_expiry_reports_a_failed_recovery_and_stops_the_chain():
    book, _ = sl_hunt()
    book, actions = R.on_tick(book, RS, "EURUSD", D("1.09960"), NOW + timedelta(minutes=30), up, DAY)
    assert outcomes(actions) == [RecoveryOutcome("C1", "C1-A", False, "recovery window expired")]
    assert book.watches == () and book.chain("C1").stopped
    assert sl_hunt(book)[1] == []  # a stopped chain gets no more recoveries


def test_second_sl_hit_exceeds_max_recovery_attempts():
    book, _ = sl_hunt()
    book, _ = R.on_tick(book, RS, "EURUSD", D("1.1"), NOW, up, DAY)
    book, actions = sl_hunt(book)
    assert outcomes(actions)[0].reason == "Max recovery attempts exceeded" and book.chain("C1").stopped


def test_max_chain_level_blocks():
    s = R.ReentrySettings(max_recovery_attempts=10, max_chain_levels=2)
    book = R.ReentryBook()
    for _ in range(2):
        book, _ = sl_hunt(book, s)
        book, _ = R.on_tick(book, s, "EURUSD", D("1.1"), NOW, up, DAY)
    book, actions = sl_hunt(book, s)
    assert "maximum level 2" in outcomes(actions)[0].reason


def test_concurrent_recoveries_are_limited():
    book = R.ReentryBook()
    for i in range(3):
        book, _ = sl_hunt(book, chain=f"C{i}")
    book, actions = sl_hunt(book, chain="C9")
    assert "3 recoveries already running" in outcomes(actions)[0].reason and len(book.watches) == 3


def test_daily_attempts_start_a_six_hour_cooldown_and_a_new_day_resets_counts():
    s = R.ReentrySettings(max_attempts_per_day=2)
    book = R.ReentryBook()
    for i in range(2):
        book, _ = sl_hunt(book, s, chain=f"C{i}")
        book, actions = R.on_tick(book, s, "EURUSD", D("1.1"), NOW, up, DAY)
    assert book.cooldown_until == NOW + timedelta(hours=6)
    assert any(isinstance(a, Notify) and a.kind == "recovery_cooldown" for a in actions)
    book, actions = sl_hunt(book, s, chain="C5")
    assert "cool-down until" in outcomes(actions)[0].reason
    later = NOW + timedelta(hours=7)
    book, _ = R.register_sl_hunt(book, s, spec(), chain_id="C6", order_id="x", side=Side.BUY, logic="LOGIC1",
                                 entry=D("1.1"), sl_price=D("1.099"), lots=D("0.01"), chain_profit=D(0), now=later,
                                 day_start=DAY + timedelta(days=1))
    assert book.attempts_today == 0 and len(book.watches) == 1


def test_recovery_losses_per_day():
    book = R.ReentryBook()
    for i in range(4):
        book, actions = R.on_recovery_closed(book, RS, D(-5), NOW, DAY)
        assert actions == []
    book, _ = R.on_recovery_closed(book, RS, D(3), NOW, DAY)
    book, actions = R.on_recovery_closed(book, RS, D(-5), NOW, DAY)
    assert book.losses_today == 5 and book.cooldown_until == NOW + timedelta(hours=6)


@pytest.mark.parametrize("mode, profit, loss, allowed", [
    ("BALANCED", "19.99", "100", True),  # below the $20 minimum: nothing to protect yet
    ("BALANCED", "60", "10", False),  # not above 6 x 10
    ("BALANCED", "60.01", "10", True),
    ("AGGRESSIVE", "35", "10", False), ("AGGRESSIVE", "35.01", "10", True), ("AGGRESSIVE", "14", "10", True),
    ("CONSERVATIVE", "90", "10", False), ("CONSERVATIVE", "29", "10", True),
    ("VERY_CONSERVATIVE", "150", "10", False), ("VERY_CONSERVATIVE", "151", "10", True),
])
def test_profit_protection_semantics(mode, profit, loss, allowed):
    s = R.ReentrySettings(protection_mode=mode)
    assert R.protection_allows(s, D(profit), D(loss))[0] is allowed


def test_profit_protection_blocks_registration():
    # 0.05 lots, 10-pip recovery SL = $5 potential loss; chain profit $25 is above 20 but not above 6 x 5
    book, actions = sl_hunt(profit="25")
    assert "protecting accumulated profit" in outcomes(actions)[0].reason and book.watches == ()
    assert sl_hunt(profit="31")[0].watches != ()
    assert sl_hunt(settings=R.ReentrySettings(protection_enabled=False), profit="25")[0].watches != ()


@pytest.mark.parametrize("sym, system, pips", [
    ("XAUUSD", "sl-1", 25), ("EURUSD", "sl-1", 15), ("XAUUSD", "sl-2", 15), ("GBPJPY", "sl-2", 10),
])
def test_profit_order_sl_hunt(sym, system, pips):
    s = spec(sym)
    sl = D("1990.00") if sym == "XAUUSD" else D("1.09900") if sym == "EURUSD" else D("190.000")
    book, actions = R.register_profit_sl_hunt(
        R.ReentryBook(), RS, s, chain_id="PROFIT_X_0a1b2c3d", order_id="L1-2", side=Side.BUY, logic="LOGIC1",
        sl_price=sl, lots=D("0.05"), level=1, chain_profit=D(0), sl_system=system, now=NOW, day_start=DAY)
    (w,) = book.watches
    assert w.trigger == sl + s.pip_size and w.sl_pips == pips and w.tp_pips is None
    assert w.expires_at - NOW == timedelta(minutes=30)
    book, actions = R.on_tick(book, RS, sym, sl + s.pip_size, NOW, up, DAY)
    (o,) = orders(actions)
    assert (o.level, o.recovers, o.comment, o.tp_pips) == (1, "L1-2", "Recovery 0a1b2c3d L1", None)
    assert book.chain("PROFIT_X_0a1b2c3d").level == 0  # the chain stays on its level
    book, actions = R.register_profit_sl_hunt(
        book, RS, s, chain_id="PROFIT_X_0a1b2c3d", order_id="L1-2", side=Side.BUY, logic="LOGIC1", sl_price=sl,
        lots=D("0.05"), level=1, chain_profit=D(0), sl_system=system, now=NOW, day_start=DAY)
    assert outcomes(actions)[0].reason == "recovery already attempted for this order"


def test_profit_order_sl_hunt_needs_a_table_for_the_sl_system():
    book, actions = R.register_profit_sl_hunt(
        R.ReentryBook(), RS, spec(), chain_id="P", order_id="o", side=Side.BUY, logic=None, sl_price=D("1.1"),
        lots=D("0.05"), level=0, chain_profit=D(0), sl_system="sl-9", now=NOW, day_start=DAY)
    assert book.watches == () and "SL system sl-9" in outcomes(actions)[0].reason


def tp(book=None, settings=RS, chain="C1", tp_price="1.10500", base="150", now=NOW, side=Side.BUY):
    return R.register_tp_continuation(book or R.ReentryBook(), settings, spec(), chain_id=chain, order_id="A",
                                      side=side, logic="LOGIC2", tp_price=D(tp_price), base_sl_pips=D(base),
                                      lots=D("0.05"), now=now)


def test_tp_continuation_gap_cooldown_and_reduced_sl():
    book, _ = tp()
    (w,) = book.watches
    assert w.trigger == D("1.10520") and w.not_before == NOW + timedelta(seconds=5)
    assert (w.sl_pips, w.tp_pips, w.comment) == (D("105.0"), D("157.50"), "LOGIC2_TP1_REENTRY")
    assert w.expires_at - NOW == timedelta(minutes=45)
    assert R.on_tick(book, RS, "EURUSD", D("1.10530"), NOW + timedelta(seconds=4), up, DAY)[1] == []
    book, actions = R.on_tick(book, RS, "EURUSD", D("1.10530"), NOW + timedelta(seconds=5), up, DAY)
    assert orders(actions)[0].level == 1 and book.chain("C1").level == 1 and book.attempts_today == 0


def test_tp_continuation_sell_and_levels_up_to_max():
    book, _ = tp(side=Side.SELL, tp_price="1.09500")
    assert book.watches[0].trigger == D("1.09480")
    book = R.ReentryBook()
    sls = []
    for i in range(6):
        book, actions = tp(book)
        if not book.watches:
            assert actions[0].kind == "tp_continuation_done"
            break
        sls.append(book.watches[0].sl_pips)
        book, _ = R.on_tick(book, RS, "EURUSD", D("1.2"), NOW + timedelta(minutes=1), up, DAY)
    assert book.chain("C1").level == 5 and len(sls) == 5
    assert sls == [D("105.0"), D("73.50"), D("51.450"), D("36.0150"), D("25.21050")]


def test_a_new_tp_replaces_the_chains_previous_tp_watch():
    book, _ = tp()
    book, _ = tp(book, tp_price="1.10600")
    assert len(book.watches) == 1 and book.watches[0].trigger == D("1.10620")


@pytest.mark.parametrize("source, gap, window", [("legacy", "0.00020", timedelta(minutes=45)),
                                                 ("v3", "0.00200", timedelta(seconds=30))])
def test_exit_continuation_gaps_and_windows(source, gap, window):
    book, _ = R.register_exit_continuation(R.ReentryBook(), RS, spec(), source=source, exit_type="reversal",
                                           chain_id="C1", side=Side.SELL, logic="LOGIC2", timeframe="15",
                                           ref_price=D("1.10000"), now=NOW)
    (w,) = book.watches
    assert w.trigger == D("1.10000") - D(gap) and w.expires_at - NOW == window
    book2, actions = R.on_tick(book, RS, "EURUSD", w.trigger, NOW + window - timedelta(seconds=1), down, DAY)
    assert actions == [ReEnter("EURUSD", Side.SELL, "LOGIC2", "15", "exit continuation after reversal", "C1")]
    assert R.on_tick(book, RS, "EURUSD", w.trigger, NOW + window, down, DAY)[1] == []  # expired silently


def test_exit_continuation_eligibility():
    args = dict(chain_id="C1", side=Side.BUY, logic=None, timeframe=None, ref_price=D("1.1"), now=NOW)
    assert R.register_exit_continuation(R.ReentryBook(), RS, spec(), source="v3", exit_type="tp", **args)[0] \
        == R.ReentryBook()
    off = R.ReentrySettings(exit_enabled=False)
    assert R.register_exit_continuation(R.ReentryBook(), off, spec(), source="legacy", exit_type="manual",
                                        **args)[0].watches == ()
    with pytest.raises(ValueError):
        R.register_exit_continuation(R.ReentryBook(), RS, spec(), source="v6", exit_type="manual", **args)


def test_cancel_chain_drops_watches():
    book, _ = sl_hunt()
    book, _ = tp(book, chain="C2")
    book = R.cancel_chain(book, "C1")
    assert [w.chain_id for w in book.watches] == ["C2"] and book.chain("C1").stopped


def test_disabled_sl_hunt_does_nothing():
    assert sl_hunt(settings=R.ReentrySettings(sl_hunt_enabled=False))[0].watches == ()


def test_book_round_trips_through_plain_dicts():
    book, _ = sl_hunt()
    book, _ = tp(book, chain="C2")
    book, _ = R.on_recovery_closed(book, RS, D(-1), NOW, DAY)
    book, _ = R.on_tick(book, RS, "EURUSD", D("1.09960"), NOW, up, DAY)
    assert R.ReentryBook.from_dict(book.to_dict()) == book


def test_settings_defaults_and_errors():
    assert R.ReentrySettings.from_mapping({}) == RS
    s = R.ReentrySettings.from_mapping({"sl_hunt_mode": "offset", "symbol_windows": {"BTCUSD": 12},
                                        "protection_mode": "AGGRESSIVE"})
    assert s.symbol_windows["BTCUSD"] == 12 and s.symbol_windows["XAUUSD"] == 15
    for config, key in [({"sl_hunt_mode": "smart"}, "positions.reentry.sl_hunt_mode"),
                        ({"protection_mode": "YOLO"}, "positions.reentry.protection_mode"),
                        ({"retracement": 1.5}, "positions.reentry.retracement"),
                        ({"tp_gap_pips": -2}, "positions.reentry.tp_gap_pips"),
                        ({"profit_recovery_sl_pips": {"sl-3": {"XAUUSD": 5}}},
                         "positions.reentry.profit_recovery_sl_pips.sl-3.default"),
                        ({"logic_windows": {"LOGIC1": 0}}, "positions.reentry.logic_windows.LOGIC1"),
                        ({"max_concurrent": "3"}, "positions.reentry.max_concurrent"),
                        ({"exit_gap": 2}, "positions.reentry.exit_gap")]:
        with pytest.raises(ConfigError) as e:
            R.ReentrySettings.from_mapping(config)
        assert e.value.key == key


@hsettings(max_examples=60)
@given(ticks=st.lists(st.tuples(st.integers(-400, 400), st.booleans(), st.integers(0, 40)), max_size=25),
       side=st.sampled_from(list(Side)))
def test_recovery_orders_are_bounded_aligned_and_on_the_losing_side(ticks, side):
    s = R.ReentrySettings(max_attempts_per_day=3, max_concurrent=10)
    book = R.ReentryBook()
    entry = D("1.10000")
    sl = entry - side.sign * D("0.00200")
    placed = []
    for i, (move, aligned, minutes) in enumerate(ticks):
        now = NOW + timedelta(minutes=minutes)
        book, _ = R.register_sl_hunt(book, s, spec(), chain_id=f"C{i}", order_id=f"o{i}", side=side,
                                     logic="LOGIC1", entry=entry, sl_price=sl, lots=D("0.05"), chain_profit=D(0),
                                     now=now, day_start=DAY)
        trend = side if aligned else side.opposite
        book, actions = R.on_tick(book, s, "EURUSD", entry + D(move) / 100000, now, lambda *_: trend, DAY)
        new = orders(actions)
        assert aligned or not new
        placed += new
        for o in new:
            assert o.side is side and o.sl_pips > 0 and o.tp_pips > 0
    assert len(placed) <= 3


def test_alignment_none_skips_the_trend_check():
    book, _ = R.register_exit_continuation(R.ReentryBook(), RS, spec(), source="legacy", exit_type="reversal",
                                           chain_id="C1", side=Side.SELL, logic="LOGIC2", timeframe="15",
                                           ref_price=D("1.10000"), now=NOW)
    (w,) = book.watches
    up = lambda symbol, logic: Side.BUY  # noqa: E731  disagrees with the SELL watch
    assert R.on_tick(book, RS, "EURUSD", w.trigger, NOW, up, DAY)[1] == []
    assert len(R.on_tick(book, RS, "EURUSD", w.trigger, NOW, None, DAY)[1]) == 1
