"""Settings changed from Telegram: removing keys from the TOML file (comments kept), the free-form readers' new
fields (pinned tier, logic multipliers on/off, Order B SL on/off) in sizing, and the checks ops/config runs."""
from __future__ import annotations

import json
import tomllib
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from actors.config_checks import check, effective, show
from config.toml_edit import lookup
from config.errors import ConfigError
from config.loader import defaults, load_config
from config.toml_edit import remove_key, set_key
from strategies.alerts.parse import parse_alert
from strategies.decisions import Enter, Facts
from strategies.positions.chains import ChainSettings
from strategies.positions.reentry import ReentrySettings
from strategies.risk.pips import DEFAULT_SYMBOLS, resolve_spec
from strategies.risk.settings import RiskSettings
from strategies.v3.settings import V3Settings
from strategies.v3.strategy import CombinedV3

FILE = """# my settings
[system]
admin_port = 1234   # keep me

[risk]
tier = "10000"
[risk.tiers.5000]
lot = 0.02
daily_loss_cap = 150  # raised
[risk.stops.symbol_reductions]
XAUUSD = 20
EURUSD = 10
[positions.chains]
profit_targets = [10.0,
                  20.0, 40.0, 80.0, 160.0]
enabled = true
[[supervision.extra]]
parent = "trading"
name = "x"
actor = "a.B"
"""


def test_remove_a_key_keeps_the_rest_and_its_comments():
    out = remove_key(FILE, "risk.tiers.5000.daily_loss_cap")
    assert "daily_loss_cap" not in out and "# keep me" in out and "# my settings" in out
    assert tomllib.loads(out)["risk"]["tiers"]["5000"] == {"lot": 0.02}


def test_remove_a_multi_line_value():
    out = remove_key(FILE, "positions.chains.profit_targets")
    assert tomllib.loads(out)["positions"]["chains"] == {"enabled": True}
    assert "20.0, 40.0" not in out


def test_remove_a_whole_table_with_its_sub_tables():
    out = remove_key(FILE, "risk")
    doc = tomllib.loads(out)
    assert "risk" not in doc and doc["supervision"]["extra"][0]["name"] == "x"
    assert doc["positions"]["chains"]["enabled"] is True and "# keep me" in out


def test_remove_a_key_the_file_does_not_set_changes_nothing():
    assert remove_key(FILE, "risk.stops.symbol_reductions.GBPUSD") == FILE
    assert remove_key(FILE, "webhook") == FILE


def test_remove_from_an_inline_table_is_refused_not_garbled():
    text = '[risk.stops]\nsymbol_reductions = { XAUUSD = 20 }\n'
    with pytest.raises(ValueError, match="edit it by hand"):
        remove_key(text, "risk.stops.symbol_reductions.XAUUSD")


def test_set_then_remove_round_trips():
    out = set_key(FILE, "risk.stops.symbol_reductions.GBPUSD", 15)
    assert tomllib.loads(out)["risk"]["stops"]["symbol_reductions"]["GBPUSD"] == 15
    assert remove_key(out, "risk.stops.symbol_reductions.GBPUSD") == FILE


# -- the readers' new fields --------------------------------------------------------------------------------------
NOW = datetime(2026, 1, 5, 10, tzinfo=timezone.utc)


def v3_entry(risk: RiskSettings, balance="10000", tf="5"):
    body = {"type": "entry_v3", "signal_type": "Momentum_Breakout", "symbol": "XAUUSD", "direction": "buy",
            "tf": tf, "price": 4335.49, "consensus_score": 9, "tp1_price": 4346.545, "tp2_price": 4357.6,
            "mtf_trends": "1,1,1,1,1", "market_trend": 1}
    facts = Facts(balance=D(balance), spec=resolve_spec("XAUUSD", None, DEFAULT_SYMBOLS), open_sides=frozenset(),
                  headroom=None)
    d = CombinedV3(V3Settings(), risk).decide(parse_alert(json.dumps(body).encode()), {}, facts, NOW)
    return next(x for x in d if isinstance(x, Enter))


def test_logic_multipliers_off_sizes_with_one_and_the_plain_sl():
    on = v3_entry(RiskSettings())
    off = v3_entry(RiskSettings.from_mapping({"logic_multipliers_enabled": False}), tf="60")
    on3 = v3_entry(RiskSettings(), tf="60")
    assert D(on.detail["total_lot"]) == D("0.05") * D("1.0") * D("1.25")     # tier 10000, LOGIC1 x1.25
    assert D(on3.detail["total_lot"]) == D("0.05") * D("0.625")
    assert D(off.detail["total_lot"]) == D("0.05") and off.detail["logic_multiplier"] == "1"
    # LOGIC3's SL multiplier 2.5 is off too: Order A's SL pips are the sl-1 table's (XAUUSD, tier 10000: 1500)
    assert on3.orders[0].sl_pips > off.orders[0].sl_pips
    assert off.orders[0].sl_pips == D(1500)


def test_a_pinned_tier_wins_over_the_balance_and_auto_restores_the_rule():
    pinned = RiskSettings.from_mapping({"tier": "25000"})
    assert pinned.tier_for(D("6000")).name == "25000"
    assert D(v3_entry(pinned, balance="6000").detail["base_lot"]) == D("0.10")
    assert RiskSettings.from_mapping({"tier": "auto"}).tier_for(D("6000")).name == "5000"
    with pytest.raises(ConfigError, match='"auto" or one of the tiers'):
        RiskSettings.from_mapping({"tier": "7000"})


def test_order_b_sl_off_takes_order_a_rule():
    on = v3_entry(RiskSettings()).orders[1]
    off = v3_entry(RiskSettings.from_mapping({"order_b": {"enabled": False}})).orders[1]
    assert on.sl_source == "fixed_dollar" and on.fixed_risk
    assert off.sl_source == "sl-1" and not off.fixed_risk and off.sl_pips == D(1500) * D("1.0")
    assert off.role == "B" and off.tp is not None


def test_new_fields_round_trip_and_limits():
    r = RiskSettings.from_mapping({"tier": 10000, "logic_multipliers_enabled": False, "order_b": {"enabled": False},
                                   "lot_overrides": {"5000": 0.05}})
    assert RiskSettings.from_mapping(r.to_mapping()) == r and r.to_mapping()["tier"] == "10000"
    with pytest.raises(ConfigError, match=r"risk.lot_overrides.5000.*>= 0.01 and <= 10"):
        RiskSettings.from_mapping({"lot_overrides": {"5000": 11}})
    with pytest.raises(ConfigError, match=r"risk.stops.symbol_reductions.XAUUSD.*>= 5 and <= 50"):
        RiskSettings.from_mapping({"stops": {"symbol_reductions": {"XAUUSD": 60}}})
    assert V3Settings.from_mapping(V3Settings().to_mapping()) == V3Settings()


# -- what ops/config checks and shows ------------------------------------------------------------------------------
def test_check_runs_the_free_form_readers(tmp_path):
    cfg = load_config(env={})
    check(cfg)
    for section, table, key in (("risk", {"stops": {"symbol_reductions": {"XAUUSD": 60}}},
                                 "risk.stops.symbol_reductions.XAUUSD"),
                                ("v3", {"logics_enabled": {"LOGIC4": False}}, "v3.logics_enabled.LOGIC4"),
                                ("positions", {**cfg["positions"], "chains": {**cfg["positions"]["chains"],
                                                                               "profit_targets": [1, 2]}},
                                 "positions.chains.profit_targets")):
        bad = {**cfg, section: table}
        with pytest.raises(ConfigError) as e:
            check(bad)
        assert e.value.key == key


def test_effective_values_fill_code_defaults():
    eff = effective(load_config(env={}))
    assert lookup(eff, "v3.dual_orders") is True and lookup(eff, "risk.stops.active_system") == "sl-1"
    assert lookup(eff, "risk.tier") == "auto" and lookup(eff, "risk.order_b.enabled") is True
    with pytest.raises(KeyError):
        lookup(eff, "risk.nope")
    assert show("v3.logics_enabled", {"LOGIC1": True}) == ["v3.logics_enabled.LOGIC1 = on"]


def test_resetting_reentry_and_chains_brings_back_the_shipped_values():
    """/reset_reentry_config removes [positions.reentry] from the user's file: the loader's defaults (the shipped
    config/zepix.toml) apply, and they are the code defaults of the readers too."""
    pos = defaults()["positions"]
    assert ReentrySettings.from_mapping(pos["reentry"]) == ReentrySettings()
    assert ChainSettings.from_mapping(pos["chains"]) == ChainSettings()
