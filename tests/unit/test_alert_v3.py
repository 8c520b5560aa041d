"""V3 JSON rules (DECISIONS §1-5): types and signals, repairs, mtf_trends order, directions, field errors."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from strategies.alerts import AlertError, AlertFormat, AlertKind, Direction, ParserSettings, parse_alert

BUY, SELL = Direction.BUY, Direction.SELL

ENTRY = {
    "type": "entry_v3", "signal_type": "Momentum_Breakout", "symbol": "XAUUSD", "direction": "buy", "tf": "15",
    "price": 4335.49, "consensus_score": 8, "sl_price": 4328.12, "tp1_price": 4346.545, "tp2_price": 4357.6,
    "mtf_trends": "1,1,-1,0,1", "market_trend": 1, "volume_delta_ratio": 1.8731, "price_in_ob": False,
    "position_multiplier": 0.8,
}


def body(base=ENTRY, drop=(), **changes) -> bytes:
    data = {k: v for k, v in {**base, **changes}.items() if k not in drop}
    return json.dumps(data).encode()


def parse(raw, settings=None, **hints):
    return parse_alert(raw, hints=hints, settings=settings or ParserSettings())


def error(raw, settings=None, **hints) -> AlertError:
    with pytest.raises(AlertError) as info:
        parse(raw, settings, **hints)
    return info.value


# --- the 12 signals and their types -----------------------------------------------------------------------------

SIGNALS = [
    ("entry_v3", "Institutional_Launchpad", "sell", AlertKind.ENTRY, SELL, ()),
    ("entry_v3", "Liquidity_Trap_Reversal", "buy", AlertKind.ENTRY, BUY, ()),
    ("entry_v3", "Momentum_Breakout", "sell", AlertKind.ENTRY, SELL, ()),
    ("entry_v3", "Mitigation_Test_Entry", "buy", AlertKind.ENTRY, BUY, ()),
    ("exit_v3", "Bullish_Exit", "sell", AlertKind.EXIT, SELL, (BUY,)),     # DECISIONS §9
    ("exit_v3", "Bearish_Exit", "buy", AlertKind.EXIT, BUY, (SELL,)),
    ("entry_v3", "Golden_Pocket_Flip", "sell", AlertKind.ENTRY, SELL, ()),
    ("squeeze_v3", "Volatility_Squeeze", None, AlertKind.SQUEEZE, None, ()),
    ("entry_v3", "Screener_Full_Bullish", "buy", AlertKind.ENTRY, BUY, ()),
    ("entry_v3", "Screener_Full_Bearish", "sell", AlertKind.ENTRY, SELL, ()),
    ("trend_pulse_v3", "Trend_Pulse", None, AlertKind.TREND_PULSE, None, ()),
    ("entry_v3", "Sideways_Breakout", "buy", AlertKind.ENTRY, BUY, ()),
]


@pytest.mark.parametrize("type_, signal, direction, kind, expected_dir, closes", SIGNALS)
def test_every_signal_type(type_, signal, direction, kind, expected_dir, closes):
    raw = body(type=type_, signal_type=signal, direction=direction, drop=() if direction else ("direction",))
    alert = parse(raw)
    assert (alert.format, alert.kind, alert.signal_type) == (AlertFormat.V3, kind, signal)
    assert (alert.direction, alert.closes) == (expected_dir, closes)


@pytest.mark.parametrize("spelling", ["momentum_breakout", "MOMENTUM_BREAKOUT", " Momentum_Breakout "])
def test_signal_type_is_case_insensitive_and_canonicalised(spelling):
    assert parse(body(signal_type=spelling)).signal_type == "Momentum_Breakout"


def test_type_is_case_insensitive():
    assert parse(body(type="ENTRY_V3")).kind is AlertKind.ENTRY


def test_signal_of_another_type_is_rejected():
    err = error(body(type="exit_v3", signal_type="Momentum_Breakout"))
    assert (err.code, err.field, err.alert_format) == ("malformed", "signal_type", "v3")
    assert "Momentum_Breakout belongs to type entry_v3, but type is exit_v3" in err.message


def test_unknown_signal_lists_the_twelve():
    err = error(body(signal_type="Moon_Shot"))
    assert err.field == "signal_type"
    assert "'Moon_Shot'" in err.reason and "institutional_launchpad" in err.reason and "sideways_breakout" in err.reason


# --- directions (DECISIONS §4) -----------------------------------------------------------------------------------

@pytest.mark.parametrize("word, expected", [
    ("buy", BUY), ("BUY", BUY), ("Buy", BUY), ("sell", SELL), ("SELL", SELL), ("Sell", SELL), ("long", BUY),
    ("short", SELL),
])
def test_entry_direction_words_are_case_insensitive(word, expected):
    assert parse(body(direction=word)).direction is expected


@pytest.mark.parametrize("direction", [None, "neutral"])
def test_entry_without_a_side_is_rejected(direction):
    raw = body(direction=direction) if direction else body(drop=("direction",))
    err = error(raw)
    assert (err.code, err.field) == ("malformed", "direction")


@pytest.mark.parametrize("type_, signal", [("squeeze_v3", "Volatility_Squeeze"), ("trend_pulse_v3", "Trend_Pulse")])
@pytest.mark.parametrize("direction, expected", [(None, None), ("neutral", None), ("NEUTRAL", None), ("BUY", BUY),
                                                 ("sell", SELL)])
def test_direction_optional_for_squeeze_and_pulse(type_, signal, direction, expected):
    raw = body(type=type_, signal_type=signal, direction=direction, drop=() if direction else ("direction",))
    assert parse(raw).direction is expected


def test_exit_direction_defaults_from_signal_and_contradiction_is_rejected():
    assert parse(body(type="exit_v3", signal_type="Bearish_Exit", drop=("direction",))).direction is BUY
    err = error(body(type="exit_v3", signal_type="Bullish_Exit", direction="buy"))
    assert err.field == "direction" and "Bullish_Exit always has direction sell" in err.reason


def test_screener_direction_must_match():
    err = error(body(signal_type="Screener_Full_Bearish", direction="buy"))
    assert err.field == "direction"


def test_bad_direction_word():
    err = error(body(direction="up"))
    assert (err.field, err.code) == ("direction", "malformed")
    assert "'up'" in err.reason and "buy" in err.reason


# --- mtf_trends (DECISIONS §3) ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mtf, pillars", [
    # 5 values: Pine order 1D,4H,1H,15m,5m
    ("1,-1,0,1,-1", {"1D": 1, "4H": -1, "1H": 0, "15m": 1}),
    ("-1,-1,-1,-1,1", {"1D": -1, "4H": -1, "1H": -1, "15m": -1}),
    # 6 values: legacy order 1m,5m,15m,1H,4H,1D
    ("1,1,-1,0,1,-1", {"15m": -1, "1H": 0, "4H": 1, "1D": -1}),
    (" 0 , 0 , 1 , 1 , -1 , 1 ", {"15m": 1, "1H": 1, "4H": -1, "1D": 1}),
])
def test_mtf_order_is_decided_by_count(mtf, pillars):
    alert = parse(body(mtf_trends=mtf))
    assert alert.mtf == pillars
    assert list(alert.mtf) == ["15m", "1H", "4H", "1D"]
    assert alert.mtf_raw == mtf.strip()


@pytest.mark.parametrize("mtf, count", [("1,1,1,1", 4), ("1,1,1,1,1,1,1", 7), ("", 0), ("1", 1)])
def test_mtf_wrong_count_message(mtf, count):
    err = error(body(mtf_trends=mtf))
    assert err.field == "mtf_trends"
    assert err.message == (f"mtf_trends: has {count} values; expected 5 (1D,4H,1H,15m,5m) "
                           f"or 6 (1m,5m,15m,1H,4H,1D)")


@pytest.mark.parametrize("mtf", ["1,1,2,1,1", "1,1,x,1,1", "1,1,,1,1", "1,1,0.5,1,1"])
def test_mtf_bad_value(mtf):
    err = error(body(mtf_trends=mtf))
    assert err.field == "mtf_trends" and "is not -1, 0 or 1" in err.reason


def test_mtf_not_a_string():
    assert error(body(mtf_trends=[1, 1, 1, 1, 1])).field == "mtf_trends"


def test_mtf_absent_gives_empty_pillars():
    alert = parse(body(drop=("mtf_trends",)))
    assert (alert.mtf, alert.mtf_raw) == ({}, None)


# --- repairs (DECISIONS §2) -------------------------------------------------------------------------------------

PINE_BODY = ('{"type":"entry_v3","signal_type":"Sideways_Breakout","symbol":"{{ticker}}","direction":"buy",'
             '"tf":"5","price":{{close}},"consensus_score":6,"adx_value":24.3,"confidence":"MEDIUM",'
             '"sl_price":0.5787006772,"tp1_price":0.5795489842,"tp2_price":0.5800579684,"mtf_trends":"1,1,-1,1,1,'
             '"market_trend":1,"volume_delta_ratio":0.1825344714,"price_in_ob":false,"position_multiplier":0.6}')


def test_pine_body_with_all_three_defects_is_repaired_and_every_repair_recorded():
    alert = parse(PINE_BODY.encode(), symbol="OANDA:NZDUSD")
    assert (alert.symbol, alert.price, alert.timeframe) == ("NZDUSD", None, "5")
    assert alert.mtf == {"15m": 1, "1H": -1, "4H": 1, "1D": 1}
    assert alert.market_trend == 1
    assert alert.sl == Decimal("0.5787006772")
    assert alert.repairs == (
        "price: literal {{close}} replaced by null",
        'mtf_trends: missing closing quote added (the "1,1,1,1,1,"market_trend" build)',
        "symbol: literal {{ticker}} replaced by NZDUSD from ?symbol=",
    )


def test_ticker_without_symbol_hint_is_rejected_with_fix():
    err = error(PINE_BODY.encode())
    assert (err.code, err.field) == ("malformed", "symbol")
    assert "?symbol=" in err.message and "syminfo.ticker" in err.message


def test_ticker_hint_must_be_configured():
    err = error(PINE_BODY.encode(), symbol="BTCUSD")
    assert (err.code, err.field) == ("unknown_symbol", "symbol (from ?symbol=)")


def test_quoted_close_is_repaired_too():
    raw = body().replace(b'"price": 4335.49', b'"price": "{{close}}"')
    alert = parse(raw)
    assert alert.price is None and alert.repairs == ("price: literal {{close}} replaced by null",)


def test_clean_body_has_no_repairs():
    assert parse(body()).repairs == ()


@pytest.mark.parametrize("switch, field", [("repair_placeholders", "price"), ("repair_missing_quote", "mtf_trends")])
def test_repairs_can_be_switched_off(switch, field):
    raw = PINE_BODY.replace('"price":{{close}}', '"price":1') if field == "mtf_trends" else PINE_BODY
    err = error(raw.encode(), ParserSettings(**{switch: False}), symbol="NZDUSD")
    assert (err.code, err.field) == ("malformed", field)
    assert "switched off" in err.reason


def test_ticker_repair_switched_off():
    raw = PINE_BODY.replace('"price":{{close}}', '"price":1').replace('"1,1,-1,1,1,', '"1,1,-1,1,1",')
    err = error(raw.encode(), ParserSettings(repair_placeholders=False), symbol="NZDUSD")
    assert (err.field, err.code) == ("symbol", "malformed") and "switched off" in err.reason


def test_other_bare_placeholder_is_named():
    raw = body().replace(b'"price": 4335.49', b'"price": {{open}}')
    err = error(raw)
    assert (err.code, err.field) == ("malformed", "price")
    assert "{{open}}" in err.reason


def test_quoted_other_placeholder_in_tf_is_named():
    err = error(body(tf="{{interval}}"))
    assert err.field == "tf" and "{{interval}}" in err.reason


def test_nan_in_optional_field_is_recorded_and_in_required_field_rejected():
    raw = body().replace(b'"sl_price": 4328.12', b'"sl_price": NaN')
    alert = parse(raw)
    assert alert.sl is None and alert.repairs == ("sl_price: NaN (Pine na) treated as missing",)
    raw = body().replace(b'"consensus_score": 8', b'"consensus_score": NaN')
    assert error(raw).field == "consensus_score"


def test_infinity_is_rejected():
    raw = body().replace(b'"sl_price": 4328.12', b'"sl_price": Infinity')
    err = error(raw)
    assert err.field == "body" and "Infinity" in err.reason


# --- other fields ----------------------------------------------------------------------------------------------

def test_prices_are_exact_decimals():
    raw = body().replace(b"4335.49", b"4470.610768188")
    assert parse(raw).price == Decimal("4470.610768188")


@pytest.mark.parametrize("field, value, fragment", [
    ("consensus_score", 10, "expected an integer from 0 to 9"),
    ("consensus_score", -1, "expected an integer from 0 to 9"),
    ("consensus_score", 7.5, "expected an integer from 0 to 9"),
    ("consensus_score", "high", "expected an integer from 0 to 9"),
    ("market_trend", 2, "expected an integer from -1 to 1"),
    ("position_multiplier", 2.5, "expected a number from 0.1 to 2.0"),
    ("position_multiplier", 0.05, "expected a number from 0.1 to 2.0"),
    ("price", -5, "expected a positive price"),
    ("price", "abc", "expected a positive price"),
    ("sl_price", True, "expected a positive price"),
    ("tp1_price", [1], "expected a positive price"),
    ("adx_value", 120, "expected an ADX value from 0 to 100"),
    ("confidence", "EXTREME", "expected one of high, medium, low"),
    ("tf", "abc", "expected a TradingView timeframe"),
    ("tf", "", "expected a TradingView timeframe"),
    ("symbol", 5, "expected a symbol such as 'XAUUSD'"),
])
def test_field_errors_name_field_and_expectation(field, value, fragment):
    err = error(body(**{field: value}))
    assert (err.code, err.field) == ("malformed", field)
    assert fragment in err.reason
    assert err.message.startswith(f"{field}: ")


def test_consensus_required_for_entries_only():
    assert error(body(drop=("consensus_score",))).field == "consensus_score"
    squeeze = body(type="squeeze_v3", signal_type="Volatility_Squeeze", drop=("consensus_score", "direction"))
    assert parse(squeeze).consensus_score is None


def test_consensus_integral_float_is_accepted():
    assert parse(body(consensus_score=7.0)).consensus_score == 7


def test_multiplier_range_is_configurable():
    settings = ParserSettings(v3_min_multiplier=Decimal("0.1"), v3_max_multiplier=Decimal("3"))
    assert parse(body(position_multiplier=2.5), settings).position_multiplier == Decimal("2.5")


@pytest.mark.parametrize("tf, canonical", [
    ("1", "1"), ("5", "5"), ("15", "15"), ("60", "60"), ("240", "240"), ("1D", "1D"), ("D", "1D"),
    ("1d", "1D"), ("1h", "60"), ("4h", "240"), ("4H", "240"), ("5m", "5"), ("15m", "15"), ("1440", "1D"),
    ("W", "1W"), ("1M", "1M"), ("30S", "30S"), (15, "15"),
])
def test_timeframes_are_canonical(tf, canonical):
    assert parse(body(tf=tf)).timeframe == canonical


@pytest.mark.parametrize("raw, symbol", [
    ("XAUUSD", "XAUUSD"), ("OANDA:XAUUSD", "XAUUSD"), ("oanda:xauusd", "XAUUSD"), (" eurusd ", "EURUSD"),
    ("FX_IDC:EUR/USD", "EURUSD"), ("EURGBP", "EURGBP"),
])
def test_symbol_normalisation(raw, symbol):
    assert parse(body(symbol=raw)).symbol == symbol


def test_unknown_symbol_lists_configured_ones():
    err = error(body(symbol="BINANCE:BTCUSDT"))
    assert (err.code, err.field) == ("unknown_symbol", "symbol")
    assert err.reason == ("BTCUSDT is not a configured symbol; configured: AUDJPY, AUDUSD, EURGBP, EURJPY, "
                          "EURUSD, GBPJPY, GBPUSD, NZDUSD, USDCAD, USDJPY, XAUUSD")


def test_symbol_map_gives_broker_name():
    settings = ParserSettings(symbol_map={"XAUUSD": "GOLD"})
    alert = parse(body(symbol="OANDA:XAUUSD"), settings)
    assert (alert.symbol, alert.broker_symbol) == ("XAUUSD", "GOLD")


def test_extras_keep_every_unconsumed_field_json_safe():
    alert = parse(body(reason="x", nested={"a": [1.5, None, True]}, timestamp="2026-01-07T10:00:00Z"))
    assert alert.extras == {"volume_delta_ratio": "1.8731", "price_in_ob": False, "reason": "x",
                            "nested": {"a": ["1.5", None, True]}, "timestamp": "2026-01-07T10:00:00Z"}


def test_explicit_id_and_strategy_hint():
    alert = parse(body(id="tv-123"), strategy="combined_v3")
    assert (alert.alert_id, alert.strategy) == ("tv-123", "combined_v3")
    assert "id" not in alert.extras
    assert parse(body(alert_id=42)).alert_id == "42"
    assert error(body(id="a", alert_id="b")).field == "alert_id"
    assert error(body(id="has space")).field == "id"


def test_duplicate_key_is_rejected():
    raw = b'{"type":"entry_v3","symbol":"XAUUSD","symbol":"EURUSD"}'
    err = error(raw)
    assert (err.field, err.reason) == ("symbol", "is given twice; expected each field once")


def test_pulse_pillars_prefer_mtf_trends_then_current_trends():
    pulse = {"type": "trend_pulse_v3", "signal_type": "Trend_Pulse", "symbol": "USDJPY", "tf": "15",
             "price": 157.4, "current_trends": "1,1,1,-1,-1,-1"}
    assert parse(body(pulse)).mtf == {"15m": 1, "1H": -1, "4H": -1, "1D": -1}
    assert parse(body(pulse, mtf_trends="1,1,1,1,1")).mtf == {"15m": 1, "1H": 1, "4H": 1, "1D": 1}
    assert error(body(pulse, current_trends="1,1")).field == "current_trends"


def test_close_placeholder_inside_text_is_left_alone():
    raw = body(message="{{close}} now").replace(b'"price": 4335.49', b'"price": {{close}}')
    alert = parse(raw)
    assert alert.extras["message"] == "{{close}} now"
    assert alert.repairs == ("price: literal {{close}} replaced by null",)


def test_strategy_hint_overrides_body_and_keeps_body_value():
    alert = parse(body(strategy="mine"), strategy="combined_v3")
    assert (alert.strategy, alert.extras["strategy"]) == ("combined_v3", "mine")
    assert parse(body(strategy="mine")).strategy == "mine"
