"""Pip size and value from broker symbol info or the config table (facts §3.4/3.5, DECISIONS §15) and volume
rounding."""
from decimal import Decimal as D

import pytest
from hypothesis import given, strategies as st

from strategies.risk.pips import (DEFAULT_SYMBOLS, SymbolSpec, VolumeRejected, floor_to_step, money_for_pips,
                                  pips_for_money, profit, resolve_spec, round_volume)
from strategies.risk.side import Side


def spec(sym):
    return SymbolSpec.from_row(sym, DEFAULT_SYMBOLS[sym])


@pytest.mark.parametrize("sym, pip, value", [
    ("EURUSD", "0.0001", "10"), ("GBPUSD", "0.0001", "10"), ("USDJPY", "0.01", "9.1"), ("AUDUSD", "0.0001", "10"),
    ("USDCAD", "0.0001", "8"), ("NZDUSD", "0.0001", "10"), ("EURJPY", "0.01", "9.5"), ("GBPJPY", "0.01", "9.0"),
    ("AUDJPY", "0.01", "9.2"), ("XAUUSD", "0.01", "1"),
])
def test_config_table_pip_size_and_value(sym, pip, value):
    s = spec(sym)
    assert s.pip_size == D(pip)
    assert s.pip_value_per_lot == D(value)
    assert s.source == "config"


def test_gold_examples_from_facts():
    gold = spec("XAUUSD")
    assert gold.pip_value(D("0.05")) == D("0.05")  # 0.05 lots: 1 pip = $0.05
    assert profit(gold, Side.BUY, D("2000.00"), D("2010.00"), D("1")) == D("1000")  # 10.00 move = 1000 pips x $1


def mt5(digits, point, tick_size, tick_value, contract, vmin="0.01", vstep="0.01", vmax="100", stops=0):
    return {"digits": digits, "point": point, "trade_tick_size": tick_size, "trade_tick_value": tick_value,
            "trade_contract_size": contract, "volume_min": vmin, "volume_step": vstep, "volume_max": vmax,
            "trade_stops_level": stops}


@pytest.mark.parametrize("sym, info, pip, value", [
    ("EURUSD", mt5(5, 0.00001, 0.00001, 1.0, 100000), "0.0001", "10"),
    ("EURUSD", mt5(4, 0.0001, 0.0001, 10.0, 100000), "0.0001", "10"),
    ("USDJPY", mt5(3, 0.001, 0.001, 0.63, 100000), "0.01", "6.3"),
    ("XAUUSD", mt5(2, 0.01, 0.01, 1.0, 100), "0.01", "1"),
    ("XAUUSD", mt5(3, 0.001, 0.001, 0.1, 100), "0.01", "1"),
    ("GOLD", mt5(2, 0.01, 0.01, 1.0, 100), "0.01", "1"),  # no config row: pip derived from digits
])
def test_broker_info_wins_and_pip_value_is_not_assumed(sym, info, pip, value):
    s = resolve_spec(sym, info, DEFAULT_SYMBOLS)
    assert s.source == "broker"
    assert s.pip_size == D(pip)
    assert s.pip_value_per_lot == D(value)


def test_unusable_broker_info_falls_back_to_config_and_unknown_symbol_fails():
    closed = mt5(5, 0.00001, 0.00001, 0.0, 100000)  # tick value 0 while the market is closed
    assert resolve_spec("EURUSD", closed, DEFAULT_SYMBOLS).source == "config"
    assert resolve_spec("EURUSD", None, DEFAULT_SYMBOLS).source == "config"
    with pytest.raises(KeyError):
        resolve_spec("BTCUSD", None, DEFAULT_SYMBOLS)


def test_broker_stops_level_and_config_min_distance_take_the_wider():
    s = resolve_spec("EURUSD", mt5(5, 0.00001, 0.00001, 1.0, 100000, stops=100), DEFAULT_SYMBOLS)
    assert s.min_stop_distance == D("0.001")
    s = resolve_spec("EURUSD", mt5(5, 0.00001, 0.00001, 1.0, 100000, stops=10), DEFAULT_SYMBOLS)
    assert s.min_stop_distance == D("0.0005")


@pytest.mark.parametrize("sym, pips, lots, money", [
    ("EURUSD", 150, "0.05", "75"), ("USDJPY", 166, "0.05", "75.53"), ("XAUUSD", 1000, "0.05", "50"),
    ("USDCAD", 100, "0.10", "80"),
])
def test_money_for_pips(sym, pips, lots, money):
    assert money_for_pips(spec(sym), D(pips), D(lots)) == D(money)


def test_pips_for_money_rejects_zero_lots():
    assert pips_for_money(spec("XAUUSD"), D(10), D("0.05")) == 200
    with pytest.raises(ValueError):
        pips_for_money(spec("XAUUSD"), D(10), D(0))


@pytest.mark.parametrize("lots, expected", [
    ("0.025", "0.02"), ("0.019", "0.01"), ("0.01", "0.01"), ("1.239", "1.23"), ("2.5", "2"),  # XAUUSD max 2
])
def test_round_volume_down_to_step_and_cap(lots, expected):
    assert round_volume(spec("XAUUSD"), D(lots)) == D(expected)


@pytest.mark.parametrize("lots", ["0.009", "0.005", "0", "-1"])
def test_round_volume_rejects_below_minimum_with_reason(lots):
    r = round_volume(spec("EURUSD"), D(lots))
    assert isinstance(r, VolumeRejected)
    assert "minimum volume 0.01" in r.reason


def test_broker_step_other_than_001():
    s = resolve_spec("XAUUSD", mt5(2, 0.01, 0.01, 1.0, 100, vmin="0.1", vstep="0.1", vmax="50"), DEFAULT_SYMBOLS)
    assert round_volume(s, D("0.39")) == D("0.3")
    assert isinstance(round_volume(s, D("0.09")), VolumeRejected)


@given(lots=st.decimals(min_value=0, max_value=500, places=4),
       step=st.sampled_from(["0.01", "0.1", "1"]), vmin=st.sampled_from(["0.01", "0.1", "1"]))
def test_rounded_volume_is_on_step_within_bounds_and_never_more(lots, step, vmin):
    s = SymbolSpec("X", 5, D("0.00001"), D("0.00001"), D(1), D(100000), max(D(vmin), D(step)), D(step), D(100))
    r = round_volume(s, lots)
    if isinstance(r, VolumeRejected):
        assert floor_to_step(min(lots, s.volume_max), s.volume_step) < s.volume_min
    else:
        assert s.volume_min <= r <= s.volume_max
        assert r <= lots
        assert (r / s.volume_step) == (r / s.volume_step).to_integral_value()
