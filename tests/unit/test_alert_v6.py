"""V6 pipe messages: all 14 types, optional groups, NA, trailing pipe, the → arrow, alignment, field errors."""
from __future__ import annotations

from decimal import Decimal

import pytest

from strategies.alerts import AlertError, AlertFormat, AlertKind, Direction, ParserSettings, parse_alert

BUY, SELL = Direction.BUY, Direction.SELL
D = Decimal


def parse(text: str, settings=None, **hints):
    return parse_alert(text.encode(), hints=hints, settings=settings or ParserSettings())


def error(text: str, **hints) -> AlertError:
    with pytest.raises(AlertError) as info:
        parse(text, **hints)
    assert info.value.alert_format in ("v6", None)
    return info.value


ALL_TYPES = [
    ("BULLISH_ENTRY|XAUUSD|5|2030.5|BUY|HIGH|90|27.3|STRONG|2028|2033|2035.5|2038|5/1|TL_OK|",
     AlertKind.ENTRY, BUY, ()),
    ("BEARISH_ENTRY|XAUUSD|60|4352.8|SELL|HIGH|80|31.2|STRONG|4361.3|4344.3|4335.8|4327.3|1/5|TL_BREAK|",
     AlertKind.ENTRY, SELL, ()),
    ("EXIT_BULLISH|XAUUSD|5|2036.8|15", AlertKind.EXIT, None, (BUY,)),
    ("EXIT_BEARISH|XAUUSD|5|2036.8|15", AlertKind.EXIT, None, (SELL,)),
    ("TREND_PULSE|XAUUSD|5|4|2|15:BULL→BEAR,60:SIDE→BEAR|MIXED_BULLISH", AlertKind.TREND_PULSE, None, ()),
    ("SIDEWAYS_BREAKOUT|EURUSD|15|BEARISH|25.8|STRONG|SIDEWAYS|INCREASING", AlertKind.SIDEWAYS_BREAKOUT, SELL, ()),
    ("TRENDLINE_BULLISH_BREAK|XAUUSD|5|2031.25|0|17", AlertKind.TRENDLINE_BREAK, BUY, ()),
    ("TRENDLINE_BEARISH_BREAK|XAUUSD|5|2031.25|-0.0001|17", AlertKind.TRENDLINE_BREAK, SELL, ()),
    ("BREAKOUT|XAUUSD|15|2042.35|3|10512|10540", AlertKind.BREAKOUT, BUY, ()),
    ("BREAKDOWN|XAUUSD|15|2012.35|4|10512|10540", AlertKind.BREAKDOWN, SELL, ()),
    ("SCREENER_FULL_BULLISH|XAUUSD|60|9|MACD,STOCH,VORTEX,MOMENTUM,RSI,PSAR,DMI,MFI,FISHER", AlertKind.SCREENER,
     BUY, ()),
    ("SCREENER_FULL_BEARISH|XAUUSD|60|9|MACD,STOCH,VORTEX,MOMENTUM,RSI,PSAR,DMI,MFI,FISHER", AlertKind.SCREENER,
     SELL, ()),
    ("MOMENTUM_CHANGE|XAUUSD|5|26.4|STRONG|22.1|MODERATE|INCREASING", AlertKind.MOMENTUM_CHANGE, None, ()),
    ("STATE_CHANGE|XAUUSD|15|TRENDING_BULLISH|MIXED_BULLISH|5/1", AlertKind.STATE_CHANGE, None, ()),
]


def test_fourteen_types_covered():
    assert len({msg.split("|")[0] for msg, *_ in ALL_TYPES}) == 14


@pytest.mark.parametrize("message, kind, direction, closes", ALL_TYPES, ids=[m.split("|")[0] for m, *_ in ALL_TYPES])
def test_every_type(message, kind, direction, closes):
    alert = parse(message)
    assert (alert.format, alert.kind, alert.direction, alert.closes) == (AlertFormat.V6, kind, direction, closes)
    assert alert.signal_type == message.split("|")[0]
    assert alert.symbol in ("XAUUSD", "EURUSD")


def test_full_entry_fields():
    alert = parse(ALL_TYPES[1][0])
    assert (alert.price, alert.sl, alert.tp1, alert.tp2, alert.tp3) == (
        D("4352.8"), D("4361.3"), D("4344.3"), D("4335.8"), D("4327.3"))
    assert (alert.confidence, alert.confidence_score, alert.adx, alert.timeframe) == ("HIGH", 80, D("31.2"), "60")
    assert alert.extras == {"adx_strength": "STRONG", "alignment": "1/5", "bull_count": 1, "bear_count": 5,
                            "tl_status": "TL_BREAK"}


# The optional groups appear only when their Pine inputs are on: every combination must parse.
ENTRY_CORE = "BULLISH_ENTRY|XAUUSD|5|2030.5|BUY|MODERATE|65|NA|NA"


@pytest.mark.parametrize("tail, sl, alignment, tl", [
    ("|", None, None, None),
    ("", None, None, None),
    ("|2028|2033|2035.5|2038|", D("2028"), None, None),
    ("|5/1|", None, "5/1", None),
    ("|TL_OK|", None, None, "TL_OK"),
    ("|2028|2033|2035.5|2038|5/1|", D("2028"), "5/1", None),
    ("|2028|2033|2035.5|2038|TL_BREAK|", D("2028"), None, "TL_BREAK"),
    ("|4/2|TL_OK|", None, "4/2", "TL_OK"),
    ("|2028|2033|2035.5|2038|5/1|TL_OK", D("2028"), "5/1", "TL_OK"),
    ("|NA|NA|NA|NA|3/3|", None, "3/3", None),
])
def test_entry_optional_groups(tail, sl, alignment, tl):
    alert = parse(ENTRY_CORE + tail)
    assert (alert.sl, alert.extras.get("alignment"), alert.extras.get("tl_status")) == (sl, alignment, tl)
    assert alert.adx is None and "adx_strength" not in alert.extras  # ADX disabled prints NA|NA


@pytest.mark.parametrize("message, field, fragment", [
    ("BULLISH_ENTRY|XAUUSD|5|2030.5|SELL|HIGH|90|NA|NA|", "direction (field 5 of BULLISH_ENTRY)",
     "BULLISH_ENTRY always has direction BUY"),
    ("BULLISH_ENTRY|XAUUSD|5|2030.5|BUY|HIGH|190|NA|NA|", "conf_score (field 7 of BULLISH_ENTRY)",
     "expected an integer from 0 to 100"),
    ("BULLISH_ENTRY|XAUUSD|5|2030.5|BUY|HUGE|90|NA|NA|", "conf_level (field 6 of BULLISH_ENTRY)",
     "expected one of high, moderate, medium, low"),
    ("BULLISH_ENTRY|XAUUSD|5|NA|BUY|HIGH|90|NA|NA|", "price (field 4 of BULLISH_ENTRY)", "expected a positive price"),
    ("BULLISH_ENTRY|XAUUSD|5|2030.5|BUY|HIGH|90|NA|NA|1|2|3|", "tp3 (field 13 of BULLISH_ENTRY)", "is missing"),
    ("BULLISH_ENTRY|XAUUSD|5|2030.5|BUY|HIGH|90|NA|NA|5/1|TL_OK|x|", "field 12 of BULLISH_ENTRY",
     "unexpected extra value 'x'"),
    ("BULLISH_ENTRY|XAUUSD|5|2030.5|BUY|HIGH|90|", "adx (field 8 of BULLISH_ENTRY)", "is missing"),
    ("BULLISH_ENTRY|XAUUSD|5|2030.5|BUY|HIGH|90|NA|NA|TL_MAYBE|", "sl (field 10 of BULLISH_ENTRY)",
     "expected a positive price"),
    ("EXIT_BULLISH|XAUUSD|5|2036.8", "exit_bars (field 5 of EXIT_BULLISH)", "is missing"),
    ("EXIT_BULLISH|XAUUSD|5|2036.8|15|16", "field 6 of EXIT_BULLISH", "unexpected extra value '16'"),
    ("TREND_PULSE|XAUUSD|5|4|2|15:UP→BEAR|MIXED_BULLISH", "changes (field 6 of TREND_PULSE)",
     "is not <tf>:<OLD>→<NEW>"),
    ("TREND_PULSE|XAUUSD|5|4|2|15:BULL→BEAR|SUPER_BULLISH", "market_state (field 7 of TREND_PULSE)",
     "expected one of trending_bullish"),
    ("STATE_CHANGE|XAUUSD|15|TRENDING_BULLISH|NEUTRAL|5-1", "alignment (field 6 of STATE_CHANGE)",
     "expected bullish/bearish timeframe counts such as 5/1"),
    ("SIDEWAYS_BREAKOUT|EURUSD|15|UP|25.8|STRONG|SIDEWAYS|INCREASING", "direction (field 4 of SIDEWAYS_BREAKOUT)",
     "expected one of bullish, bearish, neutral"),
    ("MOMENTUM_CHANGE|XAUUSD|5|26.4|STRONG|22.1|MODERATE|SIDEWAYS", "momentum (field 8 of MOMENTUM_CHANGE)",
     "expected one of increasing, decreasing"),
    ("BREAKOUT|XAUUSD|15|2042.35|-3|10512|10540", "tests (field 5 of BREAKOUT)", "expected an integer from 0"),
    ("BREAKOUT|XAUUSD", "tf", "is missing"),
    ("BREAKOUT|XAUUSD|7x|2042.35|3|10512|10540", "tf (field 3)", "expected a TradingView timeframe"),
])
def test_field_errors(message, field, fragment):
    err = error(message)
    assert (err.code, err.field, err.alert_format) == ("malformed", field, "v6")
    assert fragment in err.reason
    assert err.message.startswith(field + ": ")


def test_missing_field_error_shows_layout():
    err = error("EXIT_BULLISH|XAUUSD|5|2036.8")
    assert err.reason == "is missing; EXIT_BULLISH messages are EXIT_BULLISH|ticker|tf|price|exit_bars"


@pytest.mark.parametrize("arrow", ["→", "->", " -> "])
def test_pulse_arrow_variants(arrow):
    alert = parse(f"TREND_PULSE|XAUUSD|5|4|2|15:BULL{arrow}BEAR,1D:side{arrow}bull|TRENDING_BULLISH")
    assert alert.extras["trend_changes"] == [{"tf": "15", "from": "BULL", "to": "BEAR"},
                                             {"tf": "1D", "from": "SIDE", "to": "BULL"}]
    assert alert.market_trend == 1


@pytest.mark.parametrize("state, trend", [("TRENDING_BEARISH", -1), ("MIXED_BEARISH", -1), ("NEUTRAL", 0),
                                          ("MIXED_BULLISH", 1), ("trending_bullish", 1)])
def test_market_state_to_trend(state, trend):
    alert = parse(f"STATE_CHANGE|XAUUSD|15|{state}|NEUTRAL|2/4")
    assert alert.market_trend == trend
    assert alert.extras["market_state"] == state.upper()
    assert (alert.extras["bull_count"], alert.extras["bear_count"]) == (2, 4)


def test_screener_consensus_is_bullish_score():
    assert parse(ALL_TYPES[10][0]).consensus_score == 9
    assert parse(ALL_TYPES[11][0]).consensus_score == 0


def test_sideways_neutral_has_no_direction():
    assert parse("SIDEWAYS_BREAKOUT|EURUSD|15|NEUTRAL|25.8|STRONG|SIDEWAYS|INCREASING").direction is None


def test_case_whitespace_and_newline_tolerated():
    alert = parse("  exit_bullish | oanda:xauusd | 5 | 2036.8 | 15 \n")
    assert (alert.signal_type, alert.symbol, alert.price) == ("EXIT_BULLISH", "XAUUSD", D("2036.8"))


def test_unknown_symbol_and_ticker_placeholder():
    err = error("EXIT_BULLISH|BTCUSD|5|2036.8|15")
    assert (err.code, err.field) == ("unknown_symbol", "ticker (field 2)")
    assert parse("EXIT_BULLISH|{{ticker}}|5|2036.8|15", symbol="GBPUSD").repairs == (
        "ticker (field 2): literal {{ticker}} replaced by GBPUSD from ?symbol=",)


def test_unknown_pipe_type_is_unsupported():
    err = error("BULLISH_EXIT|XAUUSD|5|1|2")
    assert (err.code, err.field) == ("unsupported", "type")
    assert "BULLISH_ENTRY" in err.reason and "STATE_CHANGE" in err.reason


def test_v6_ignores_strategy_in_body_but_takes_hint():
    assert parse(ALL_TYPES[2][0], strategy="price_action_5m").strategy == "price_action_5m"
