"""SL systems sl-1 / sl-2 with symbol reductions and logic multipliers (facts §3.5), Order B's fixed-dollar SL
with the real pip value (facts §3.6), and SL placement always on the losing side."""
from decimal import Decimal as D

import pytest
from hypothesis import given, strategies as st

from strategies.risk.pips import DEFAULT_SYMBOLS, SymbolSpec
from strategies.risk.side import Side
from strategies.risk.stops import (OrderBStopSettings, StopSettings, order_a_sl_pips, order_b_sl_pips, place_stops,
                                   reduced_sl_pips, stops_from_alert)
from strategies.risk.tiers import DEFAULT_TIERS, tier_for_balance


def spec(sym):
    return SymbolSpec.from_row(sym, DEFAULT_SYMBOLS[sym])


def tier(b):
    return tier_for_balance(DEFAULT_TIERS, D(b))


@pytest.mark.parametrize("system, sym, balance, pips", [
    ("sl-1", "EURUSD", 5000, 150), ("sl-1", "EURUSD", 25000, 50), ("sl-1", "GBPUSD", 100000, 50),
    ("sl-1", "USDJPY", 10000, 166), ("sl-1", "GBPJPY", 50000, 44), ("sl-1", "XAUUSD", 5000, 1000),
    ("sl-1", "XAUUSD", 10000, 1500), ("sl-1", "XAUUSD", 100000, 600),
    ("sl-2", "EURUSD", 5000, 100), ("sl-2", "GBPUSD", 10000, 120), ("sl-2", "USDJPY", 50000, 38),
    ("sl-2", "AUDJPY", 25000, 30), ("sl-2", "XAUUSD", 10000, 800), ("sl-2", "XAUUSD", 100000, 200),
])
def test_sl_system_tables(system, sym, balance, pips):
    s = StopSettings(active_system=system)
    assert order_a_sl_pips(s, spec(sym), tier(balance)) == pips


@pytest.mark.parametrize("logic, reduction, expected", [
    ("LOGIC1", None, "150"), ("LOGIC2", None, "225"), ("LOGIC3", None, "375"),
    ("LOGIC1", "20", "120"), ("LOGIC3", "50", "187.5"),
])
def test_symbol_reduction_then_logic_multiplier(logic, reduction, expected):
    s = StopSettings(symbol_reductions={"EURUSD": D(reduction)} if reduction else {})
    assert order_a_sl_pips(s, spec("EURUSD"), tier(5000), logic) == D(expected)


def test_reentry_factor_applies_last():
    s = StopSettings()
    assert order_a_sl_pips(s, spec("EURUSD"), tier(5000), "LOGIC1", reentry_factor=D("0.7")) == 105


@pytest.mark.parametrize("sym, balance, pips", [
    ("EURUSD", 5000, "750"),  # LOW $75 / ($10 x 0.01)
    ("XAUUSD", 10000, "2000"),  # HIGH $100 / ($1 x 0.05)
    ("USDCAD", 25000, "625"),  # MEDIUM $500 / ($8 x 0.10)
])
def test_disabled_sl_system_uses_tier_risk_over_pip_value(sym, balance, pips):
    assert order_a_sl_pips(StopSettings(enabled=False), spec(sym), tier(balance)) == D(pips)


def test_missing_row_is_named():
    s = StopSettings(systems={"sl-1": {}})
    with pytest.raises(KeyError, match="EURUSD"):
        order_a_sl_pips(s, spec("EURUSD"), tier(5000))


@pytest.mark.parametrize("sym, lots, system, logic, pips", [
    ("XAUUSD", "0.05", "SL-2.1", None, "200"),  # facts §3.6: $10 on 0.05 gold = 2.00 price
    ("EURUSD", "0.10", "SL-2.1", "LOGIC2", "10"),
    ("USDCAD", "0.05", "SL-2.1", None, "25"),  # $8 pip: not the $10 assumption
    ("EURUSD", "0.10", "SL-1.1", "LOGIC1", "20"),
    ("EURUSD", "0.10", "SL-1.1", "LOGIC3", "50"),
    ("EURUSD", "0.10", "SL-1.1", "LOGIC9", "10"),
])
def test_order_b_dollar_sl_uses_the_real_pip_value(sym, lots, system, logic, pips):
    assert order_b_sl_pips(OrderBStopSettings(system=system), spec(sym), D(lots), logic) == D(pips)


def test_facts_telegram_example_gold_order_a_and_b():
    gold = spec("XAUUSD")
    b = place_stops(gold, Side.BUY, D("2000.00"), order_b_sl_pips(OrderBStopSettings(), gold, D("0.05")), D("0.05"),
                    rr_ratio=D("1.5"))
    assert (b.sl, b.tp, b.risk) == (D("1998.00"), D("2003.00"), D("10"))
    a_pips = order_a_sl_pips(StopSettings(), gold, tier(5000), "LOGIC1")
    a = place_stops(gold, Side.BUY, D("2000.00"), a_pips, D("0.05"), rr_ratio=D("1.5"))
    assert (a.sl, a.tp) == (D("1990.00"), D("2015.00"))
    s = place_stops(gold, Side.SELL, D("2000.00"), a_pips, D("0.05"), rr_ratio=D("1.5"))
    assert (s.sl, s.tp) == (D("2010.00"), D("1985.00"))


def test_sl_closer_than_the_minimum_distance_is_widened_and_reported():
    eur = spec("EURUSD")  # min SL distance 0.0005 = 5 pips
    lv = place_stops(eur, Side.BUY, D("1.10000"), D("1"), D("1"), rr_ratio=D("1"))
    assert lv.sl == D("1.09950") and lv.widened and lv.risk == D("50")


@pytest.mark.parametrize("alert_sl, alert_tp, sl, tp, note", [
    ("1.09800", "1.10500", "1.09800", "1.10500", ""),
    ("1.10200", None, "1.08500", "1.12250", "not on the losing side"),
    (None, "1.09000", "1.08500", "1.12250", "not on the winning side"),
])
def test_order_a_from_alert(alert_sl, alert_tp, sl, tp, note):
    lv = stops_from_alert(spec("EURUSD"), Side.BUY, D("1.10000"), D("0.05"), alert_sl and D(alert_sl),
                          alert_tp and D(alert_tp), D(150), D("1.5"))
    assert (lv.sl, lv.tp) == (D(sl), D(tp))
    assert note in lv.note


@pytest.mark.parametrize("level, expected", [(0, "150"), (1, "105"), (2, "73.5"), (5, "25.2105"), (9, "10")])
def test_reduced_sl_per_level_with_floor(level, expected):
    assert reduced_sl_pips(D(150), D("0.3"), level, D(10)) == D(expected)


@given(sym=st.sampled_from(sorted(DEFAULT_SYMBOLS)), side=st.sampled_from(list(Side)),
       entry=st.decimals(min_value="0.5", max_value="5000", places=5),
       sl_pips=st.decimals(min_value="0.01", max_value="5000", places=2),
       lots=st.decimals(min_value="0.01", max_value="10", places=2))
def test_sl_always_on_the_losing_side_and_tp_on_the_winning_side(sym, side, entry, sl_pips, lots):
    s = spec(sym)
    lv = place_stops(s, side, entry, sl_pips, lots, rr_ratio=D("1.5"))
    assert (entry - lv.sl) * side.sign > 0
    assert (lv.tp - entry) * side.sign > 0
    assert lv.risk > 0
    assert (lv.sl / s.tick_size) == (lv.sl / s.tick_size).to_integral_value()
