"""Legacy V4 (trend store, alignment, dual orders, reversals, V3 bridge) and V6 price action (profiles, filters,
market store), with the numbers of zepix-facts §1.4, §2.5-2.6, §2.8 and DECISIONS §12."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from config.errors import ConfigError
from strategies.alerts.parse import parse_alert
from strategies.decisions import Close, Enter, Facts, Record, Skip
from strategies.legacy import trends as T
from strategies.legacy.strategy import LegacyV4
from strategies.plugins import build_strategy, plugin_settings, validate
from strategies.risk.pips import DEFAULT_SYMBOLS, resolve_spec
from strategies.risk.side import Side
from strategies.v6.settings import profile_for
from strategies.v6.strategy import PriceAction

NOW = datetime(2026, 1, 5, 10, tzinfo=timezone.utc)


def legacy(type_, signal, tf, symbol="EURUSD", price=1.1):
    return parse_alert(json.dumps({"type": type_, "symbol": symbol, "signal": signal, "tf": tf,
                                   "price": price}).encode())


def facts(symbol="EURUSD", open_sides=(), headroom=None, balance="10000", spread=None):
    return Facts(balance=D(balance), spec=resolve_spec(symbol, None, DEFAULT_SYMBOLS), open_sides=frozenset(open_sides),
                 headroom=None if headroom is None else D(headroom), spread_pips=None if spread is None else D(spread))


def store(**slots):
    """store(EURUSD_15="BULLISH") -> state dict."""
    out = {}
    for k, trend in slots.items():
        sym, tf = k.split("_")
        mode = "AUTO"
        if trend.endswith("!"):
            trend, mode = trend[:-1], "MANUAL"
        out[T.key(sym, tf)] = {"trend": trend, "mode": mode}
    return out


# -- legacy trend store ----------------------------------------------------------------------------------------
def test_trend_alert_updates_an_auto_slot():
    d = LegacyV4().decide(legacy("trend", "bull", "15m"), {}, facts(), NOW)
    assert isinstance(d[0], Record) and d[0].key == "trend:EURUSD:15" and d[0].value["trend"] == "BULLISH"


def test_manual_slot_is_locked_and_equal_trend_is_a_duplicate():
    d = LegacyV4().decide(legacy("trend", "bear", "15m"), store(EURUSD_15="BULLISH!"), facts(), NOW)
    assert isinstance(d[0], Skip) and "locked MANUAL" in d[0].reason
    d = LegacyV4().decide(legacy("bias", "bull", "1h"), store(EURUSD_60="BULLISH"), facts(), NOW)
    assert d[0] == Skip("duplicate: EURUSD 1H trend is already BULLISH")


def test_5m_trend_updates_are_discarded():
    d = LegacyV4().decide(legacy("trend", "bull", "5m"), {}, facts(), NOW)
    assert isinstance(d[0], Skip) and "discarded" in d[0].reason


def test_trend_against_an_open_trade_closes_it():
    d = LegacyV4().decide(legacy("trend", "bear", "1h"), {}, facts(open_sides=[Side.BUY]), NOW)
    assert d[-1] == Close("EURUSD", (Side.BUY,), "trend_reversal")


# -- legacy entries --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tf,slots,side,result", [
    ("5m", dict(EURUSD_15="BULLISH", EURUSD_60="BULLISH"), "buy", "LOGIC1"),
    ("15m", dict(EURUSD_15="BEARISH", EURUSD_60="BEARISH"), "sell", "LOGIC2"),
    ("1h", dict(EURUSD_1D="BULLISH", EURUSD_60="BULLISH"), "buy", "LOGIC3"),
    ("1h", dict(EURUSD_15="BULLISH", EURUSD_60="BULLISH"), "buy", "LOGIC3 not aligned on EURUSD: 1D NEUTRAL, 1H BULLISH"),
    ("15m", dict(EURUSD_15="BULLISH", EURUSD_60="BEARISH"), "buy", "LOGIC2 not aligned on EURUSD: 15m BULLISH, 1H BEARISH"),
    ("15m", dict(EURUSD_15="BEARISH", EURUSD_60="BEARISH"), "buy", "BUY against the BEARISH trend (15m BEARISH, 1H BEARISH)"),
    ("1d", dict(), "buy", "entries on timeframe 1D are not traded (entry timeframes: 5, 15, 60)"),
])
def test_entries_are_gated_by_logic_alignment(tf, slots, side, result):
    d = LegacyV4().decide(legacy("entry", side, tf), store(**slots), facts(), NOW)
    if result.startswith("LOGIC") and " " not in result:
        enter = d[-1]
        assert isinstance(enter, Enter) and enter.logic == result
    else:
        assert d[-1] == Skip(result)


def test_legacy_dual_orders_give_both_orders_the_full_lot():
    """Tier 10000 lot 0.05 x LOGIC1 1.25 = 0.0625 -> 0.06 each; A: sl-1 150 pips x 1.0, TP 1.5R; B: $10."""
    d = LegacyV4().decide(legacy("entry", "buy", "5m", price=1.10000), store(EURUSD_15="BULLISH", EURUSD_60="BULLISH"),
                          facts(), NOW)
    a, b = d[-1].orders
    assert (a.volume, a.sl, a.tp, a.sl_source, a.comment) == (D("0.06"), D("1.08500"), D("1.12250"), "sl-1",
                                                              "LOGIC1_TP_TRAIL")
    # B: $10 / (0.06 x $10) = 16.67 pips -> SL rounded away from the entry, TP = its own distance x 1.5
    assert (b.volume, b.sl, b.sl_source, b.comment) == (D("0.06"), D("1.09833"), "fixed_dollar", "LOGIC1_PROFIT_TRAIL")
    assert b.tp == D("1.10250")


def test_smart_adjustment_cuts_the_lot_to_fit_two_sl_losses():
    # A: 150 pips x $10 x 0.06 = $90 per order, x2 = $180 > $100 headroom -> floor(100 / (150 x 10 x 2)) = 0.03
    d = LegacyV4().decide(legacy("entry", "buy", "5m", price=1.1), store(EURUSD_15="BULLISH", EURUSD_60="BULLISH"),
                          facts(headroom="100"), NOW)
    assert d[-1].orders[0].volume == D("0.03") and "smart adjustment" in d[-1].notes[0]
    d = LegacyV4().decide(legacy("entry", "buy", "5m", price=1.1), store(EURUSD_15="BULLISH", EURUSD_60="BULLISH"),
                          facts(headroom="20"), NOW)
    assert isinstance(d[-1], Skip) and "smart adjustment" in d[-1].reason


def test_opposite_entry_and_reversal_and_exit_close_positions():
    slots = store(EURUSD_15="BEARISH", EURUSD_60="BEARISH")
    d = LegacyV4().decide(legacy("entry", "sell", "15m"), slots, facts(open_sides=[Side.BUY]), NOW)
    assert d[0] == Close("EURUSD", (Side.BUY,), "reversal") and isinstance(d[1], Enter)
    d = LegacyV4().decide(legacy("reversal", "reversal_bull", "5m"), {}, facts(open_sides=[Side.SELL]), NOW)
    assert d == [Close("EURUSD", (Side.SELL,), "reversal")]
    d = LegacyV4().decide(legacy("exit", "bull", "15m"), {}, facts(open_sides=[Side.BUY, Side.SELL]), NOW)
    assert d == [Close("EURUSD", (Side.BUY,), "exit")]


def test_v3_bridge_feeds_pillars_then_enters_with_legacy_orders():
    a = parse_alert(json.dumps({"type": "entry_v3", "signal_type": "Momentum_Breakout", "symbol": "XAUUSD",
                                "direction": "buy", "tf": "15", "price": 2000, "consensus_score": 8,
                                "mtf_trends": "1,1,1,1,1", "market_trend": 1}).encode())
    d = LegacyV4().decide(a, {}, facts("XAUUSD"), NOW)
    assert [x.key for x in d if isinstance(x, Record)] == ["trend:XAUUSD:15", "trend:XAUUSD:60", "trend:XAUUSD:1D"]
    assert isinstance(d[-1], Enter) and d[-1].detail["bridged_from_v3"] is True
    assert [o.comment for o in d[-1].orders] == ["LOGIC2_TP_TRAIL", "LOGIC2_PROFIT_TRAIL"]


# -- V6 --------------------------------------------------------------------------------------------------------
def v6(body: str):
    return parse_alert(body.encode())


ENTRY = "BULLISH_ENTRY|XAUUSD|{tf}|2030.5|BUY|HIGH|{conf}|{adx}|{strength}|2028.5|2032.5|2034.5|2036.5|5/1|TL_OK|"


def pa(name):
    return PriceAction(name, profile_for(name, {}))


@pytest.mark.parametrize("plugin,orders,lots", [
    ("price_action_1m", ["B"], [D("0.02")]),                 # 0.05 x 0.5 = 0.025 -> 0.02, Order B only
    ("price_action_5m", ["A", "B"], [D("0.02"), D("0.02")]),  # 0.05 x 1.0 split 50/50
    ("price_action_15m", ["A"], [D("0.05")]),
    ("price_action_1h", ["A"], [D("0.03")]),                 # 0.05 x 0.6 = 0.03
])
def test_v6_order_routing_and_risk_multipliers(plugin, orders, lots):
    state = {"tftrend:XAUUSD:15": {"direction": 1}, "tftrend:XAUUSD:240": {"direction": 1}}
    d = pa(plugin).decide(v6(ENTRY.format(tf=5, conf=85, adx="27.5", strength="STRONG")), state, facts("XAUUSD"), NOW)
    enter = d[-1]
    assert isinstance(enter, Enter), d
    assert [o.role for o in enter.orders] == orders and [o.volume for o in enter.orders] == lots
    tps = {o.role: (o.tp, o.tp_source) for o in enter.orders}
    assert tps.get("A", (D("2034.5"), "tp2")) == (D("2034.5"), "tp2")
    assert tps.get("B", (D("2032.5"), "tp1")) == (D("2032.5"), "tp1")


@pytest.mark.parametrize("plugin,conf,adx,strength,state,spread,reason", [
    ("price_action_1m", 85, "20.0", "MODERATE", {}, None, "ADX 20.0 is not > 20"),
    ("price_action_1m", 79, "30.0", "STRONG", {}, None, "confidence 79 is below 80"),
    ("price_action_1m", 85, "30.0", "STRONG", {}, "2.0", "spread 2.0 pips is not below 2"),
    ("price_action_5m", 85, "24.9", "MODERATE", {"tftrend:XAUUSD:15": {"direction": 1}}, None, "ADX 24.9 is not >= 25"),
    ("price_action_5m", 85, "26.0", "WEAK", {"tftrend:XAUUSD:15": {"direction": 1}}, None, "ADX strength is WEAK"),
    ("price_action_5m", 85, "26.0", "STRONG", {}, None,
     "no 15m trend known yet for XAUUSD (it comes from TREND_PULSE alerts)"),
    ("price_action_5m", 85, "26.0", "STRONG", {"tftrend:XAUUSD:15": {"direction": -1}}, None,
     "BUY against the 15m trend (BEAR)"),
    ("price_action_15m", 64, "30.0", "STRONG", {}, None, "confidence 64 is below 65"),
    ("price_action_15m", 70, "21.9", "MODERATE", {}, None, "ADX 21.9 is not >= 22"),
    ("price_action_15m", 70, "30.0", "STRONG", {"market:XAUUSD:5": {"state": "TRENDING_BEARISH"}}, None,
     "BUY against the market state TRENDING_BEARISH"),
    ("price_action_1h", 59, "NA", "NA", {"tftrend:XAUUSD:240": {"direction": 1}}, None, "confidence 59 is below 60"),
    ("price_action_1h", 70, "NA", "NA", {"market:XAUUSD:240": {"direction": -1}}, None,
     "BUY against the 4H trend (BEAR)"),
])
def test_v6_filters(plugin, conf, adx, strength, state, spread, reason):
    d = pa(plugin).decide(v6(ENTRY.format(tf=5, conf=conf, adx=adx, strength=strength)), state,
                          facts("XAUUSD", spread=spread), NOW)
    assert d == [Skip(reason)]


def test_v6_market_store_from_pulse_state_and_momentum():
    p = pa("price_action_5m")
    d = p.decide(v6("TREND_PULSE|XAUUSD|5|4|2|15:BULL→BEAR,60:SIDE→BULL|MIXED_BULLISH"), {}, facts("XAUUSD"), NOW)
    assert {x.key: x.value.get("direction") for x in d} == {"market:XAUUSD:5": 1, "tftrend:XAUUSD:15": -1,
                                                             "tftrend:XAUUSD:60": 1}
    d = p.decide(v6("STATE_CHANGE|XAUUSD|15|TRENDING_BEARISH|NEUTRAL|1/5"), {}, facts("XAUUSD"), NOW)
    assert d[0].key == "market:XAUUSD:15" and d[0].value["state"] == "TRENDING_BEARISH"
    d = p.decide(v6("MOMENTUM_CHANGE|XAUUSD|5|27.5|STRONG|22.1|MODERATE|INCREASING"), {}, facts("XAUUSD"), NOW)
    assert d[0].key == "momentum:XAUUSD:5" and d[0].value["strength"] == "STRONG"


# -- plugin settings -------------------------------------------------------------------------------------------
def test_plugin_settings_and_validation():
    cfg = {"plugins": {"combined_v3": {"shadow": True, "version": "3.1.0"}}, "v6": {"price_action_1h":
                                                                                     {"risk_multiplier": 0.625}}}
    s = plugin_settings(cfg, "combined_v3")
    assert (s.shadow, s.version, s.family, s.enabled) == (True, "3.1.0", "v3", True)
    assert build_strategy(cfg, "price_action_1h", "v6").profile.risk_multiplier == D("0.625")
    validate(cfg)
    for bad, key in ((({"plugins": {"combined_v4": {}}}), "plugins.combined_v4"),
                     ({"plugins": {"legacy_v4": {"version": "one"}}}, "plugins.legacy_v4.version"),
                     ({"v6": {"price_action_5m": {"orders": "C"}}}, "v6.price_action_5m.orders"),
                     ({"v3": {"min_consensus": 12}}, "v3.min_consensus")):
        with pytest.raises(ConfigError) as e:
            validate(bad)
        assert e.value.key == key
