"""RiskSettings defaults (facts §3, DECISIONS §13-15) and validation of the [risk] table."""
from datetime import time
from decimal import Decimal as D

import pytest

from config.errors import ConfigError
from strategies.risk.settings import RiskSettings


def test_defaults():
    s = RiskSettings.from_mapping(None)
    assert s == RiskSettings()
    assert (s.daily_reset, s.timezone) == (time(3, 35), "Asia/Kolkata")
    assert [t.name for t in s.tiers] == ["5000", "10000", "25000", "50000", "100000"]
    assert s.lot_overrides == {}
    assert s.logic_lot_multipliers == {"LOGIC1": D("1.25"), "LOGIC2": D("1.0"), "LOGIC3": D("0.625")}
    assert s.stops.logic_sl_multipliers == {"LOGIC1": D("1.0"), "LOGIC2": D("1.5"), "LOGIC3": D("2.5")}
    assert (s.stops.active_system, s.stops.enabled, s.stops.rr_ratio) == ("sl-1", True, D("1.5"))
    assert (s.order_b.system, s.order_b.fixed_sl) == ("SL-2.1", D(10))
    assert sorted(s.symbols) == sorted(["XAUUSD", "EURUSD", "GBPUSD", "USDJPY", "USDCAD", "AUDUSD", "NZDUSD",
                                        "EURJPY", "GBPJPY", "AUDJPY"])


def test_overrides_merge_over_defaults():
    s = RiskSettings.from_mapping({
        "daily_reset": "00:00", "timezone": "Europe/London", "lot_overrides": {"5000": 0.04},
        "tiers": {"10000": {"lot": 0.07}},
        "logics": {"LOGIC1": {"lot_multiplier": 1.5}},
        "stops": {"active_system": "sl-2", "symbol_reductions": {"XAUUSD": 20}},
        "order_b": {"system": "SL-1.1"},
    })
    assert s.daily_reset == time(0, 0) and s.timezone == "Europe/London"
    assert s.lot_overrides == {D(5000): D("0.04")}
    assert s.tiers[1].lot == D("0.07") and s.tiers[1].daily_loss_cap == 200
    assert s.logic_lot_multipliers["LOGIC1"] == D("1.5") and s.stops.logic_sl_multipliers["LOGIC1"] == 1
    assert s.stops.active_system == "sl-2" and s.stops.symbol_reductions == {"XAUUSD": D(20)}
    assert s.order_b.system == "SL-1.1"


def test_floats_become_exact_decimals():
    s = RiskSettings.from_mapping({"tiers": {"5000": {"lot": 0.1}}})
    assert s.tiers[0].lot == D("0.1")


def test_a_new_symbol_needs_its_sl_rows():
    row = {"volatility": "LOW", "pip_size": 0.0001, "pip_value_per_lot": 13, "min_sl_distance": 0.0005,
           "contract_size": 100000, "digits": 5, "volume_min": 0.01, "volume_step": 0.01, "volume_max": 5}
    with pytest.raises(ConfigError) as e:
        RiskSettings.from_mapping({"symbols": {"EURGBP": row}})
    assert e.value.key == "risk.stops.systems.sl-1.EURGBP"
    pips = {"5000": 100, "10000": 100, "25000": 40, "50000": 30, "100000": 30}
    s = RiskSettings.from_mapping({"symbols": {"EURGBP": row},
                                   "stops": {"systems": {"sl-1": {"EURGBP": pips}, "sl-2": {"EURGBP": pips}}}})
    assert s.symbols["EURGBP"].pip_value_per_lot == 13


@pytest.mark.parametrize("config, key", [
    ({"daily_reset": "25:00"}, "risk.daily_reset"),
    ({"daily_reset": 335}, "risk.daily_reset"),
    ({"timezone": "Mars/Olympus"}, "risk.timezone"),
    ({"tiers": {"5000": {"lot": 0}}}, "risk.tiers.5000.lot"),
    ({"tiers": {"5000": {"lot": True}}}, "risk.tiers.5000.lot"),
    ({"tiers": {"5000": {"lot": "abc"}}}, "risk.tiers.5000.lot"),
    ({"tiers": {"5000": {"daily_cap": 1}}}, "risk.tiers.5000.daily_cap"),
    ({"tiers": {"7000": {"lot": 0.02}}}, "risk.tiers.7000.daily_loss_cap"),
    ({"lot_overrides": {"6000": 0.04}}, "risk.lot_overrides.6000"),
    ({"lot_overrides": {"5000": -1}}, "risk.lot_overrides.5000"),
    ({"dailyreset": "03:35"}, "risk.dailyreset"),
    ({"symbols": {"EURUSD": {"volatility": "EXTREME"}}}, "risk.symbols.EURUSD.volatility"),
    ({"symbols": {"EURUSD": {"volume_min": 20}}}, "risk.symbols.EURUSD.volume_min"),
    ({"stops": {"active_system": "sl-3"}}, "risk.stops.active_system"),
    ({"stops": {"symbol_reductions": {"XAUUSD": 60}}}, "risk.stops.symbol_reductions.XAUUSD"),
    ({"stops": {"systems": {"sl-2": {"EURUSD": {"5000": 0}}}}}, "risk.stops.systems.sl-2.EURUSD.5000"),
    ({"stops": {"rr_ratio": 0}}, "risk.stops.rr_ratio"),
    ({"order_b": {"system": "SL-3"}}, "risk.order_b.system"),
    ({"order_b": {"fixed_sl": -10}}, "risk.order_b.fixed_sl"),
    ({"logics": {"LOGIC1": {"lot_multiplier": 0}}}, "risk.logics.LOGIC1.lot_multiplier"),
    ({"tiers": []}, "risk.tiers"),
])
def test_invalid_values_name_the_key(config, key):
    with pytest.raises(ConfigError) as e:
        RiskSettings.from_mapping(config)
    assert e.value.key == key
    assert "allowed" in str(e.value)


def test_custom_path_prefixes_keys():
    with pytest.raises(ConfigError) as e:
        RiskSettings.from_mapping({"timezone": 5}, path="accounts.main.risk")
    assert e.value.key == "accounts.main.risk.timezone"
