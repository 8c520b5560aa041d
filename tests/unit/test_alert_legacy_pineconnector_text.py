"""Legacy V4 JSON, PineConnector commands, plain alertcondition text, and format detection across families."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from strategies.alerts import AlertError, AlertFormat, AlertKind, Direction, ParserSettings, parse_alert

BUY, SELL = Direction.BUY, Direction.SELL
D = Decimal


def parse(raw, settings=None, **hints):
    raw = raw.encode() if isinstance(raw, str) else raw
    return parse_alert(raw, hints=hints, settings=settings or ParserSettings())


def error(raw, settings=None, **hints) -> AlertError:
    with pytest.raises(AlertError) as info:
        parse(raw, settings, **hints)
    return info.value


def legacy(**fields) -> str:
    base = {"type": "entry", "symbol": "XAUUSD", "signal": "buy", "tf": "5m", "price": 4192.29,
            "strategy": "ZepixPremium"}
    return json.dumps({k: v for k, v in {**base, **fields}.items() if v is not None})


# --- legacy V4 ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("type_, signal, kind, direction, closes, trend", [
    ("bias", "bull", AlertKind.BIAS, BUY, (), 1),
    ("bias", "bear", AlertKind.BIAS, SELL, (), -1),
    ("trend", "BULL", AlertKind.TREND, BUY, (), 1),
    ("trend", "bear", AlertKind.TREND, SELL, (), -1),
    ("entry", "buy", AlertKind.ENTRY, BUY, (), None),
    ("entry", "Sell", AlertKind.ENTRY, SELL, (), None),
    ("exit", "bull", AlertKind.EXIT, None, (BUY,), None),
    ("exit", "bear", AlertKind.EXIT, None, (SELL,), None),
    ("reversal", "reversal_bull", AlertKind.REVERSAL, BUY, (), None),
    ("reversal", "reversal_bear", AlertKind.REVERSAL, SELL, (), None),
])
def test_legacy_types(type_, signal, kind, direction, closes, trend):
    alert = parse(legacy(type=type_, signal=signal))
    assert (alert.format, alert.kind, alert.direction, alert.closes, alert.market_trend) == (
        AlertFormat.LEGACY_V4, kind, direction, closes, trend)
    assert alert.signal_type == signal.lower()
    assert (alert.price, alert.strategy, alert.timeframe) == (D("4192.29"), "ZepixPremium", "5")


@pytest.mark.parametrize("tf, canonical", [("1h", "60"), ("15m", "15"), ("5m", "5"), ("1d", "1D"), ("4h", "240")])
def test_legacy_timeframes(tf, canonical):
    assert parse(legacy(tf=tf)).timeframe == canonical


@pytest.mark.parametrize("type_, signal", [("entry", "bull"), ("bias", "buy"), ("reversal", "bull"),
                                           ("exit", "reversal_bear")])
def test_legacy_signal_must_fit_type(type_, signal):
    err = error(legacy(type=type_, signal=signal))
    assert (err.code, err.field, err.alert_format) == ("malformed", "signal", "legacy_v4")
    assert f"'{signal}'" in err.reason


def test_legacy_missing_tf_and_price_optional():
    assert error(legacy(tf=None)).field == "tf"
    assert parse(legacy(price=None)).price is None


def test_legacy_strategy_hint_wins_and_body_value_is_kept():
    alert = parse(legacy(), strategy="legacy_v4")
    assert alert.strategy == "legacy_v4" and alert.extras == {"strategy": "ZepixPremium"}


def test_copy_paste_doc_layout_is_unsupported_with_template():
    raw = json.dumps({"symbol": "XAUUSD", "type": "entry", "direction": "buy", "price": 4192.29, "sl": 4182.29,
                      "tp": 4207.29, "timestamp": "2025-12-08T16:25:00Z"})
    err = error(raw)
    assert (err.code, err.field) == ("unsupported", "signal")
    assert '"signal":"buy"' in err.hint and "TRADINGVIEW_ALERTS_COPY_PASTE" in err.reason


# --- JSON type detection -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, code, field, fragment", [
    ({"symbol": "XAUUSD"}, "malformed", "type", "is missing; expected one of entry_v3"),
    ({"type": "strategy1", "symbol": "XAUUSD", "action": "buy"}, "unsupported", "type", "Strategy-1 prototype"),
    ({"type": "signal", "symbol": "XAUUSD"}, "unsupported", "type", "'signal' is not an alert type"),
    ({"type": ["entry"]}, "malformed", "type", "expected a string"),
    ({"type": "BULLISH_ENTRY", "ticker": "XAUUSD"}, "unsupported", "type", "V6 alerts are pipe text"),
])
def test_json_type_detection(data, code, field, fragment):
    err = error(json.dumps(data))
    assert (err.code, err.field) == (code, field)
    assert fragment in err.reason


# --- PineConnector -----------------------------------------------------------------------------------------------

def test_pineconnector_buy_with_price_targets():
    alert = parse("60123456789,buy,EURUSD,risk=1,sl=1.0812,tp=1.0890", tf="15")
    assert (alert.format, alert.kind, alert.signal_type, alert.direction) == (
        AlertFormat.PINECONNECTOR, AlertKind.ENTRY, "buy", BUY)
    assert (alert.symbol, alert.sl, alert.tp1, alert.timeframe, alert.price) == (
        "EURUSD", D("1.0812"), D("1.0890"), "15", None)
    assert alert.extras == {"license_id": "***6789", "risk": "1"}


@pytest.mark.parametrize("command, kind, direction, closes", [
    ("sell", AlertKind.ENTRY, SELL, ()),
    ("SELL", AlertKind.ENTRY, SELL, ()),
    ("closelong", AlertKind.EXIT, None, (BUY,)),
    ("closeshort", AlertKind.EXIT, None, (SELL,)),
    ("closelongshort", AlertKind.EXIT, None, (BUY, SELL)),
    ("closeall", AlertKind.EXIT, None, (BUY, SELL)),
])
def test_pineconnector_commands(command, kind, direction, closes):
    alert = parse(f"60123456789,{command},GBPJPY")
    assert (alert.kind, alert.direction, alert.closes, alert.signal_type) == (kind, direction, closes,
                                                                              command.lower())
    assert alert.timeframe is None


def test_pineconnector_spacing_prefix_and_quoted_comment():
    alert = parse('60123456789, buy, OANDA:xauusd, risk=0.5, comment="strategy 1, fast"',
                  ParserSettings(symbol_map={"XAUUSD": "GOLD"}))
    assert (alert.symbol, alert.broker_symbol) == ("XAUUSD", "GOLD")
    assert alert.extras["comment"] == "strategy 1, fast"


@pytest.mark.parametrize("targets, sl, extras", [
    ("price", D("25"), {}),
    ("pips", None, {"sl_pips": "25", "tp_pips": "50"}),
    ("percent", None, {"sl_pct": "25", "tp_pct": "50"}),
])
def test_pineconnector_target_meaning_follows_settings(targets, sl, extras):
    alert = parse("60123456789,sell,GBPJPY,sl=25,tp=50,risk=1", ParserSettings(pineconnector_targets=targets))
    assert alert.sl == sl
    assert {k: v for k, v in alert.extras.items() if k not in ("license_id", "risk")} == extras


def test_pineconnector_explicit_target_keys():
    alert = parse("60123456789,buy,EURUSD,sl_pips=20,tp_price=1.09", ParserSettings(pineconnector_targets="pips"))
    assert (alert.sl, alert.tp1, alert.extras["sl_pips"]) == (None, D("1.09"), "20")


@pytest.mark.parametrize("message, code, field, fragment", [
    ("60123456789,buylimit,EURUSD,risk=1,price=1.2", "unsupported", "command", "buylimit is a PineConnector command"),
    ("60123456789,newsltplong,EURUSD,sl=1.1", "unsupported", "command", "supported: buy, sell, closelong"),
    ("60123456789,buy,EURUSD,risk=1,betrigger=20", "unsupported", "betrigger", "does not act on with buy"),
    ("60123456789,closelong,EURUSD,risk=1", "unsupported", "risk", "does not act on with closelong"),
    ("60123456789,buy,EURUSD,stoploss=20", "malformed", "stoploss", "is not a PineConnector parameter"),
    ("60123456789,buy,EURUSD,risk", "malformed", "parameters", "'risk' is not key=value"),
    ("60123456789,buy,EURUSD,sl=1,sl=2", "malformed", "sl", "is given twice"),
    ("60123456789,buy,EURUSD,sl=1,sl_price=2", "malformed", "sl_price", "is given together with sl"),
    ("60123456789,buy,EURUSD,risk=-1", "malformed", "risk", "expected a positive number"),
    ("60123456789,buy,EURUSD,sl=abc", "malformed", "sl", "expected a positive price"),
    ("60123456789,buy", "malformed", "symbol", "is missing"),
    ("buy,EURUSD,risk=1", "malformed", "license_id", "is missing"),
    ("60123 456,buy,EURUSD", "malformed", "license_id", "is not a PineConnector license id"),
    ("60123456789,buy,BTCUSD,risk=1", "unknown_symbol", "symbol", "BTCUSD is not a configured symbol"),
])
def test_pineconnector_errors(message, code, field, fragment):
    err = error(message)
    assert (err.code, err.field, err.alert_format) == (code, field, "pineconnector")
    assert fragment in err.reason


def test_pineconnector_license_allow_list_never_echoes_the_id():
    settings = ParserSettings(pineconnector_license_ids=frozenset({"60123456789"}))
    assert parse("60123456789,buy,EURUSD", settings).direction is BUY
    err = error("70999999999,buy,EURUSD", settings)
    assert (err.code, err.field) == ("unauthorized", "license_id")
    assert "70999999999" not in err.message and "70999999999" not in json.dumps(err.to_dict())


def test_pineconnector_secret_is_redacted():
    alert = parse("60123456789,buy,EURUSD,secret=hunter2")
    assert alert.extras["secret"] == "***" and "hunter2" not in json.dumps(alert.to_dict())


def test_pineconnector_several_lines_rejected():
    err = error("60123456789,buy,EURUSD\n60123456789,sell,GBPUSD")
    assert (err.code, err.field) == ("unsupported", "body") and "one command per alert" in err.reason


# --- plain text ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("message, name, suggestion", [
    ("New Bullish Entry Signal on XAUUSD 5", "New Bullish Entry Signal", '"type":"entry"'),
    ("New Bearish Exit Signal on EURUSD 15", "New Bearish Exit Signal", '"signal":"bear"'),
    ("Trend Changed to BULLISH on XAUUSD 60", "Trend Changed to BULLISH", '"type":"trend"'),
    ("All Bearish Indicators GBPUSD 1D", "All Bearish Indicators", '"type":"bias"'),
    ("Trend Pulse: Market trend changed on XAUUSD 5", "Trend Pulse: Market trend changed", "BULLISH_ENTRY|"),
    ("Trendline support break (bullish) on XAUUSD 5", "Trendline support break (bullish)", "Enhanced Alert"),
    ("market state changed on XAUUSD 15", "market state changed", "Any alert() function call"),
])
def test_alertcondition_text_is_recognised(message, name, suggestion):
    err = error(message)
    assert (err.code, err.field) == ("plain_text", "body")
    assert f"plain alertcondition text {name!r}" in err.reason
    assert suggestion in err.hint


@pytest.mark.parametrize("message", ["hello", "buy gold now", "XAUUSD 5", "a|b", "1,2,3"])
def test_other_text_is_plain_text(message):
    err = error(message)
    assert (err.code, err.field) == ("plain_text", "body")
    assert "is plain text" in err.reason and "docs/alerts.md" in err.hint


# --- body-level errors and detection ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, code, fragment", [
    (b"", "malformed", "is empty"),
    (b"  \n\t ", "malformed", "is empty"),
    (b"\xff\xfe{}", "malformed", "is not UTF-8"),
    (b'{"type": "entry_v3",', "malformed", "is not valid JSON"),
    (b"[1, 2]", "malformed", "is a JSON list"),
    (b'"just a string"', "plain_text", "is plain text"),
    (b"x" * 70000, "too_large", "is 70000 bytes; the limit is 65536"),
    (b"[" * 5000 + b"]" * 5000, "malformed", ""),
])
def test_body_errors(raw, code, fragment):
    err = error(raw)
    assert (err.code, err.field) == (code, "body")
    assert fragment in err.reason


def test_utf8_bom_is_tolerated_and_content_type_plays_no_part():
    alert = parse(b"\xef\xbb\xbf" + legacy().encode())
    assert alert.format is AlertFormat.LEGACY_V4


def test_json_error_mentions_placeholder():
    err = error('{"type":"entry","symbol":"XAUUSD","signal":"buy","tf":"5m","price":{{high}}}')
    assert err.field == "price" and "{{high}}" in err.reason


def test_alert_error_to_dict():
    err = error("hello")
    assert err.to_dict() == {"code": "plain_text", "field": "body", "reason": err.reason, "hint": err.hint,
                             "format": None, "message": str(err)}
    assert str(err) == f"body: {err.reason}. {err.hint}"
