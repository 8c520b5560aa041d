"""Every line of shared/testdata/alerts-sample.jsonl parsed, with concrete expectations per line.

The sample is embedded (tests stay self-contained when the shared folder is absent); one test checks the copy
still equals the shared file when that file is there, so a changed sample fails here until expectations follow.
"""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from strategies.alerts import AlertError, AlertFormat, AlertKind, Direction, ParsedAlert, ParserSettings, parse_alert

SHARED_SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "alerts-sample.jsonl"

SAMPLE_JSONL = r'''{"format": "v3_entry_json", "payload": {"type": "entry_v3", "signal_type": "Institutional_Launchpad", "symbol": "XAUUSD", "direction": "buy", "tf": "15", "price": 4335.49, "consensus_score": 8, "sl_price": 4328.12, "tp1_price": 4346.545, "tp2_price": 4357.6, "mtf_trends": "1,1,1,1,-1", "market_trend": 1, "volume_delta_ratio": 1.8731, "price_in_ob": true, "position_multiplier": 0.8}}
{"format": "v3_entry_json", "payload": {"type": "entry_v3", "signal_type": "Liquidity_Trap_Reversal", "symbol": "GBPUSD", "direction": "buy", "tf": "5", "price": 1.34412, "consensus_score": 6, "sl_price": 1.34291, "tp1_price": 1.345935, "tp2_price": 1.34775, "mtf_trends": "1,1,-1,1,1", "market_trend": 1, "volume_delta_ratio": 1.5523, "price_in_ob": true, "position_multiplier": 0.6}}
{"format": "v3_entry_json", "payload": {"type": "entry_v3", "signal_type": "Momentum_Breakout", "symbol": "AUDJPY", "direction": "buy", "tf": "5", "price": 105.476, "consensus_score": 8, "sl_price": 105.413586462, "tp1_price": 105.569620307, "tp2_price": 105.663240614, "mtf_trends": "1,1,-1,-1,1", "market_trend": 1, "volume_delta_ratio": 0, "price_in_ob": false, "position_multiplier": 0.8}}
{"format": "v3_entry_json", "payload": {"type": "entry_v3", "signal_type": "Mitigation_Test_Entry", "symbol": "USDJPY", "direction": "buy", "tf": "15", "price": 157.284, "consensus_score": 7, "sl_price": 157.118, "tp1_price": 157.533, "tp2_price": 157.782, "mtf_trends": "1,1,1,-1,1", "market_trend": 1, "volume_delta_ratio": 1.2245, "price_in_ob": true, "position_multiplier": 0.8}}
{"format": "v3_exit_json", "payload": {"type": "exit_v3", "signal_type": "Bullish_Exit", "symbol": "NZDUSD", "direction": "sell", "tf": "5", "price": 0.57912, "consensus_score": 9, "market_trend": 1, "reason": "TP_hit_or_reversal_or_momentum_loss"}}
{"format": "v3_entry_json", "payload": {"type": "entry_v3", "signal_type": "Golden_Pocket_Flip", "symbol": "XAUUSD", "direction": "buy", "tf": "60", "price": 4298.4, "consensus_score": 7, "sl_price": 4284.9, "tp1_price": 4318.65, "tp2_price": 4338.9, "mtf_trends": "1,1,1,1,1", "market_trend": 1, "volume_delta_ratio": 1.672, "price_in_ob": true, "fib_level": 0.6842, "position_multiplier": 0.8}}
{"format": "v3_squeeze_json", "payload": {"type": "squeeze_v3", "signal_type": "Volatility_Squeeze", "symbol": "XAUUSD", "tf": "15", "price": 4327.1, "consensus_score": 5, "market_trend": 1, "message": "Big move expected - prepare for breakout"}}
{"format": "v3_entry_json", "payload": {"type": "entry_v3", "signal_type": "Screener_Full_Bullish", "symbol": "XAUUSD", "direction": "buy", "tf": "60", "price": 4342.6, "consensus_score": 9, "sl_price": 4331.05, "tp1_price": 4359.925, "tp2_price": 4377.25, "mtf_trends": "1,1,1,1,1", "market_trend": 1, "volume_delta_ratio": 2.441, "price_in_ob": false, "full_alignment": true, "position_multiplier": 1.0}}
{"format": "v3_trend_pulse_json", "payload": {"type": "trend_pulse_v3", "signal_type": "Trend_Pulse", "symbol": "USDJPY", "tf": "15", "price": 157.412, "current_trends": "1,1,1,-1,-1,-1", "previous_trends": "1,1,1,-1,-1,-1", "changed_timeframes": "5,", "change_details": "5:1;", "trend_labels": "1m,5m,15m,1H,4H,1D", "market_trend": -1, "consensus_score": 8, "message": "Trend change detected on: 5,"}}
{"format": "v3_entry_json", "payload": {"type": "entry_v3", "signal_type": "Sideways_Breakout", "symbol": "NZDUSD", "direction": "buy", "tf": "5", "price": 0.57904, "consensus_score": 6, "adx_value": 24.3, "confidence": "MEDIUM", "sl_price": 0.5787006772, "tp1_price": 0.5795489842, "tp2_price": 0.5800579684, "mtf_trends": "1,1,-1,1,1", "market_trend": 1, "volume_delta_ratio": 0.1825344714, "price_in_ob": false, "position_multiplier": 0.6}}
{"format": "v6_pipe_entry", "raw": "BULLISH_ENTRY|XAUUSD|5|2030.5|BUY|HIGH|90|27.3|STRONG|2028|2033|2035.5|2038|5/1|TL_OK|"}
{"format": "v6_pipe_entry", "raw": "BEARISH_ENTRY|XAUUSD|60|4352.8|SELL|HIGH|80|31.2|STRONG|4361.3|4344.3|4335.8|4327.3|1/5|TL_OK|"}
{"format": "v6_pipe_exit", "raw": "EXIT_BULLISH|XAUUSD|5|2036.8|15"}
{"format": "v6_pipe_trend_pulse", "raw": "TREND_PULSE|XAUUSD|5|4|2|15:BULL→BEAR,60:SIDE→BEAR|MIXED_BULLISH"}
{"format": "v6_pipe_sideways_breakout", "raw": "SIDEWAYS_BREAKOUT|EURUSD|15|BULLISH|25.8|STRONG|SIDEWAYS|INCREASING"}
{"format": "v6_pipe_trendline_break", "raw": "TRENDLINE_BULLISH_BREAK|XAUUSD|5|2031.25|0|17"}
{"format": "v6_pipe_breakout", "raw": "BREAKOUT|XAUUSD|15|2042.35|3|10512|10540"}
{"format": "v6_pipe_screener", "raw": "SCREENER_FULL_BULLISH|XAUUSD|60|9|MACD,STOCH,VORTEX,MOMENTUM,RSI,PSAR,DMI,MFI,FISHER"}
{"format": "v6_pipe_momentum_change", "raw": "MOMENTUM_CHANGE|XAUUSD|5|26.4|STRONG|22.1|MODERATE|INCREASING"}
{"format": "v6_pipe_state_change", "raw": "STATE_CHANGE|XAUUSD|15|TRENDING_BULLISH|MIXED_BULLISH|5/1"}
{"format": "v6_parsed_planned_ZepixV6Alert", "payload": {"type": "BULLISH_ENTRY", "ticker": "XAUUSD", "tf": "5", "price": 2030.5, "direction": "BUY", "conf_level": "HIGH", "conf_score": 90, "adx": 27.3, "adx_strength": "STRONG", "sl": 2028.0, "tp1": 2033.0, "tp2": 2035.5, "tp3": 2038.0, "alignment": "5/1", "tl_status": "TL_OK"}}
{"format": "v6_parsed_planned_TrendPulseAlert", "payload": {"type": "TREND_PULSE", "symbol": "XAUUSD", "tf": "5", "bull_count": 4, "bear_count": 2, "changes": "15:BULL→BEAR,60:SIDE→BEAR", "state": "MIXED_BULLISH"}}
{"format": "legacy_json_bias", "payload": {"type": "bias", "symbol": "XAUUSD", "signal": "bull", "tf": "1d", "price": 4232.29, "strategy": "ZepixPremium"}}
{"format": "legacy_json_trend", "payload": {"type": "trend", "symbol": "XAUUSD", "signal": "bull", "tf": "15m", "price": 4209.625, "strategy": "ZepixPremium"}}
{"format": "legacy_json_entry", "payload": {"type": "entry", "symbol": "XAUUSD", "signal": "buy", "tf": "5m", "price": 4192.29, "strategy": "ZepixPremium"}}
{"format": "legacy_json_entry", "payload": {"type": "entry", "symbol": "USDJPY", "signal": "buy", "tf": "1h", "price": 155.842, "strategy": "ZepixPremium"}}
{"format": "legacy_json_exit", "payload": {"type": "exit", "symbol": "XAUUSD", "signal": "bull", "tf": "5m", "price": 4201.55, "strategy": "ZepixPremium"}}
{"format": "legacy_json_reversal", "payload": {"type": "reversal", "symbol": "XAUUSD", "signal": "reversal_bull", "tf": "5m", "price": 4188.4, "strategy": "ZepixPremium"}}
{"format": "legacy_json_template_tradingview", "raw": "{\"type\":\"entry\",\"symbol\":\"{{ticker}}\",\"signal\":\"buy\",\"tf\":\"5m\",\"price\":{{close}},\"strategy\":\"ZepixPremium\"}"}
{"format": "legacy_json_copy_paste_doc_unaccepted", "payload": {"symbol": "XAUUSD", "type": "entry", "direction": "buy", "price": 4192.29, "sl": 4182.29, "tp": 4207.29, "timestamp": "2025-12-08T16:25:00Z"}}
{"format": "strategy1_json", "payload": {"type": "strategy1", "symbol": "XAUUSD", "action": "buy", "price": 2650.35, "tf": "15m"}}
{"format": "alertcondition_text", "raw": "New Bullish Entry Signal on XAUUSD 5"}
'''

D = Decimal
BUY, SELL = Direction.BUY, Direction.SELL
ALL4 = {"15m": 1, "1H": 1, "4H": 1, "1D": 1}

# One entry per sample line, in order: the fields that must come out, or the (code, field) of the rejection.
EXPECTED: list[dict | tuple[str, str]] = [
    dict(format=AlertFormat.V3, kind=AlertKind.ENTRY, signal_type="Institutional_Launchpad", symbol="XAUUSD",
         direction=BUY, timeframe="15", price=D("4335.49"), sl=D("4328.12"), tp1=D("4346.545"), tp2=D("4357.6"),
         consensus_score=8, mtf_raw="1,1,1,1,-1", mtf=ALL4, market_trend=1, position_multiplier=D("0.8"),
         extras={"volume_delta_ratio": "1.8731", "price_in_ob": True}, repairs=()),
    # 1D,4H,1H,15m,5m = 1,1,-1,1,1: the 1H pillar is bearish
    dict(signal_type="Liquidity_Trap_Reversal", symbol="GBPUSD", timeframe="5",
         mtf={"15m": 1, "1H": -1, "4H": 1, "1D": 1}, consensus_score=6, position_multiplier=D("0.6")),
    dict(signal_type="Momentum_Breakout", symbol="AUDJPY", sl=D("105.413586462"),
         mtf={"15m": -1, "1H": -1, "4H": 1, "1D": 1}, extras={"volume_delta_ratio": 0, "price_in_ob": False}),
    dict(signal_type="Mitigation_Test_Entry", symbol="USDJPY", mtf={"15m": -1, "1H": 1, "4H": 1, "1D": 1}),
    dict(format=AlertFormat.V3, kind=AlertKind.EXIT, signal_type="Bullish_Exit", symbol="NZDUSD", direction=SELL,
         closes=(BUY,), consensus_score=9, market_trend=1, mtf={}, sl=None,
         extras={"reason": "TP_hit_or_reversal_or_momentum_loss"}),
    dict(signal_type="Golden_Pocket_Flip", timeframe="60", mtf=ALL4,
         extras={"volume_delta_ratio": "1.672", "price_in_ob": True, "fib_level": "0.6842"}),
    dict(kind=AlertKind.SQUEEZE, signal_type="Volatility_Squeeze", direction=None, closes=(), consensus_score=5,
         price=D("4327.1"), extras={"message": "Big move expected - prepare for breakout"}),
    dict(signal_type="Screener_Full_Bullish", direction=BUY, consensus_score=9, position_multiplier=D("1.0"),
         extras={"volume_delta_ratio": "2.441", "price_in_ob": False, "full_alignment": True}),
    # pulse: pillars come from current_trends (6 values, 1m..1D ascending)
    dict(kind=AlertKind.TREND_PULSE, signal_type="Trend_Pulse", symbol="USDJPY", direction=None,
         mtf={"15m": 1, "1H": -1, "4H": -1, "1D": -1}, mtf_raw="1,1,1,-1,-1,-1", market_trend=-1),
    dict(signal_type="Sideways_Breakout", adx=D("24.3"), confidence="MEDIUM", tp2=D("0.5800579684")),
    dict(format=AlertFormat.V6, kind=AlertKind.ENTRY, signal_type="BULLISH_ENTRY", symbol="XAUUSD", direction=BUY,
         timeframe="5", price=D("2030.5"), confidence="HIGH", confidence_score=90, adx=D("27.3"), sl=D("2028"),
         tp1=D("2033"), tp2=D("2035.5"), tp3=D("2038"),
         extras={"adx_strength": "STRONG", "alignment": "5/1", "bull_count": 5, "bear_count": 1,
                 "tl_status": "TL_OK"}),
    dict(signal_type="BEARISH_ENTRY", direction=SELL, timeframe="60", confidence_score=80, sl=D("4361.3"),
         tp3=D("4327.3"), extras={"adx_strength": "STRONG", "alignment": "1/5", "bull_count": 1, "bear_count": 5,
                                  "tl_status": "TL_OK"}),
    dict(format=AlertFormat.V6, kind=AlertKind.EXIT, signal_type="EXIT_BULLISH", direction=None, closes=(BUY,),
         price=D("2036.8"), extras={"exit_bars": 15}),
    dict(kind=AlertKind.TREND_PULSE, signal_type="TREND_PULSE", market_trend=1, price=None,
         extras={"bull_count": 4, "bear_count": 2, "changes": "15:BULL→BEAR,60:SIDE→BEAR",
                 "trend_changes": [{"tf": "15", "from": "BULL", "to": "BEAR"},
                                   {"tf": "60", "from": "SIDE", "to": "BEAR"}],
                 "market_state": "MIXED_BULLISH"}),
    dict(kind=AlertKind.SIDEWAYS_BREAKOUT, symbol="EURUSD", timeframe="15", direction=BUY, adx=D("25.8"),
         extras={"adx_strength": "STRONG", "from_state": "SIDEWAYS", "momentum": "INCREASING"}),
    dict(kind=AlertKind.TRENDLINE_BREAK, signal_type="TRENDLINE_BULLISH_BREAK", direction=BUY, price=D("2031.25"),
         extras={"slope": "0", "bars_since_pivot": 17}),
    dict(kind=AlertKind.BREAKOUT, direction=BUY, price=D("2042.35"),
         extras={"tests": 3, "start_bar": 10512, "bar_index": 10540}),
    dict(kind=AlertKind.SCREENER, signal_type="SCREENER_FULL_BULLISH", direction=BUY, consensus_score=9,
         timeframe="60", extras={"indicator_count": 9, "indicators": "MACD,STOCH,VORTEX,MOMENTUM,RSI,PSAR,DMI,MFI,FISHER"}),
    dict(kind=AlertKind.MOMENTUM_CHANGE, direction=None, adx=D("26.4"),
         extras={"adx_strength": "STRONG", "prev_adx": "22.1", "prev_adx_strength": "MODERATE",
                 "momentum": "INCREASING"}),
    dict(kind=AlertKind.STATE_CHANGE, market_trend=1, timeframe="15",
         extras={"market_state": "TRENDING_BULLISH", "prev_market_state": "MIXED_BULLISH", "alignment": "5/1",
                 "bull_count": 5, "bear_count": 1}),
    # The planned V6 parsed-model JSON shapes are internal to the V6 docs: TradingView never sends them.
    ("unsupported", "type"),
    ("unsupported", "type"),
    dict(format=AlertFormat.LEGACY_V4, kind=AlertKind.BIAS, signal_type="bull", direction=BUY, market_trend=1,
         timeframe="1D", price=D("4232.29"), strategy="ZepixPremium", extras={}),
    dict(kind=AlertKind.TREND, signal_type="bull", market_trend=1, timeframe="15", price=D("4209.625")),
    dict(kind=AlertKind.ENTRY, signal_type="buy", direction=BUY, timeframe="5", market_trend=None, closes=()),
    dict(kind=AlertKind.ENTRY, symbol="USDJPY", timeframe="60", price=D("155.842")),
    dict(kind=AlertKind.EXIT, signal_type="bull", direction=None, closes=(BUY,), timeframe="5"),
    dict(kind=AlertKind.REVERSAL, signal_type="reversal_bull", direction=BUY, closes=()),
    # the raw template: {{ticker}} cannot be repaired without ?symbol= (see test below for the repaired case)
    ("malformed", "symbol"),
    # TRADINGVIEW_ALERTS_COPY_PASTE.txt layout: documentation drift, never accepted (facts §1.4)
    ("unsupported", "signal"),
    # the S1 prototype's only alert type
    ("unsupported", "type"),
    ("plain_text", "body"),
]


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _body(record: dict) -> bytes:
    return record["raw"].encode() if "raw" in record else json.dumps(record["payload"]).encode()


SAMPLES = _lines(SAMPLE_JSONL)


def test_expectations_cover_every_line():
    assert len(SAMPLES) == len(EXPECTED) == 32


def test_embedded_copy_matches_shared_file():
    if not SHARED_SAMPLE.exists():
        pytest.skip(f"{SHARED_SAMPLE} not present")
    assert _lines(SHARED_SAMPLE.read_text(encoding="utf-8")) == SAMPLES


@pytest.mark.parametrize("index", range(len(SAMPLES)), ids=[f"{i}-{s['format']}" for i, s in enumerate(SAMPLES)])
def test_sample_line(index):
    body = _body(SAMPLES[index])
    expected = EXPECTED[index]
    if isinstance(expected, tuple):
        with pytest.raises(AlertError) as info:
            parse_alert(body, hints={}, settings=ParserSettings())
        assert (info.value.code, info.value.field) == expected
        assert info.value.message.startswith(f"{expected[1]}: ")
        return
    alert = parse_alert(body, hints={}, settings=ParserSettings())
    for name, value in expected.items():
        assert getattr(alert, name) == value, name
    assert ParsedAlert.from_dict(alert.to_dict()) == alert


def test_accepted_and_rejected_counts():
    ok = rejected = 0
    for record in SAMPLES:
        try:
            parse_alert(_body(record), hints={}, settings=ParserSettings())
            ok += 1
        except AlertError:
            rejected += 1
    assert (ok, rejected) == (26, 6)


def test_raw_legacy_template_is_repaired_with_symbol_hint():
    record = next(r for r in SAMPLES if r["format"] == "legacy_json_template_tradingview")
    alert = parse_alert(_body(record), hints={"symbol": "OANDA:XAUUSD"}, settings=ParserSettings())
    assert (alert.symbol, alert.price, alert.kind, alert.direction) == ("XAUUSD", None, AlertKind.ENTRY, BUY)
    assert alert.repairs == ("price: literal {{close}} replaced by null",
                             "symbol: literal {{ticker}} replaced by XAUUSD from ?symbol=")


def test_broker_mapping_applies_to_samples():
    settings = ParserSettings(symbol_map={"XAUUSD": "GOLD"})
    alert = parse_alert(_body(SAMPLES[0]), hints={}, settings=settings)
    assert (alert.symbol, alert.broker_symbol) == ("XAUUSD", "GOLD")
    other = parse_alert(_body(SAMPLES[1]), hints={}, settings=settings)
    assert (other.symbol, other.broker_symbol) == ("GBPUSD", "GBPUSD")


DOC = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"


def test_every_copy_paste_example_in_the_user_doc_parses():
    # What a trader pastes must work: TradingView fills the placeholders in the alert dialog's message box.
    lines, in_block = [], False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        if in_block and (line.startswith('{"type"') or line[:1].isdigit() or "|" in line):
            lines.append(line)
    assert len(lines) >= 10
    for line in lines:
        body = line.replace("{{ticker}}", "OANDA:XAUUSD").replace("{{close}}", "4335.49").replace("{{interval}}", "15")
        alert = parse_alert(body.encode(), hints={}, settings=ParserSettings())
        assert alert.repairs == (), line
