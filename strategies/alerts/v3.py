"""V3 "Combined Logic" JSON alerts (facts §1.2): 4 types, 12 signal types, rules of DECISIONS §2-5."""
from __future__ import annotations

from typing import Any, Mapping

from . import fields as F
from .model import AlertFormat, AlertKind, Direction, ParsedAlert
from .settings import ParserSettings

TYPES = {
    "entry_v3": AlertKind.ENTRY,
    "exit_v3": AlertKind.EXIT,
    "squeeze_v3": AlertKind.SQUEEZE,
    "trend_pulse_v3": AlertKind.TREND_PULSE,
}

# signal_type -> (its type, the direction the Pine always sends for it, or None when it varies/is absent)
SIGNALS: dict[str, tuple[str, Direction | None]] = {
    "Institutional_Launchpad": ("entry_v3", None),
    "Liquidity_Trap_Reversal": ("entry_v3", None),
    "Momentum_Breakout": ("entry_v3", None),
    "Mitigation_Test_Entry": ("entry_v3", None),
    "Bullish_Exit": ("exit_v3", Direction.SELL),
    "Bearish_Exit": ("exit_v3", Direction.BUY),
    "Golden_Pocket_Flip": ("entry_v3", None),
    "Volatility_Squeeze": ("squeeze_v3", None),
    "Screener_Full_Bullish": ("entry_v3", Direction.BUY),
    "Screener_Full_Bearish": ("entry_v3", Direction.SELL),
    "Trend_Pulse": ("trend_pulse_v3", None),
    "Sideways_Breakout": ("entry_v3", None),
}
_SIGNALS_LOWER = {name.lower(): name for name in SIGNALS}

# DECISIONS §9: an exit closes the positions of the side that signal ends.
_EXIT_CLOSES = {"Bullish_Exit": (Direction.BUY,), "Bearish_Exit": (Direction.SELL,)}

# DECISIONS §4: direction words are case-insensitive; 'neutral' (and the synonyms) mean no direction.
_DIRECTIONS: dict[str, Direction | None] = {
    "buy": Direction.BUY, "long": Direction.BUY, "bull": Direction.BUY, "bullish": Direction.BUY,
    "sell": Direction.SELL, "short": Direction.SELL, "bear": Direction.SELL, "bearish": Direction.SELL,
    "neutral": None,
}

_CONFIDENCE = {"high": "HIGH", "medium": "MEDIUM", "low": "LOW"}

_CONSUMED = {"type", "signal_type", "symbol", "direction", "tf", "price", "consensus_score", "sl_price",
             "tp1_price", "tp2_price", "mtf_trends", "market_trend", "position_multiplier", "adx_value",
             "confidence", "id", "alert_id", "strategy"}


def parse(data: dict[str, Any], type_name: str, *, hints: Mapping[str, Any], settings: ParserSettings,
          repairs: list[str]) -> ParsedAlert:
    kind = TYPES[type_name]
    signal = F.choice(data.get("signal_type"), "signal_type", _SIGNALS_LOWER, required=True)
    expected_type, fixed_direction = SIGNALS[signal]
    if expected_type != type_name:
        raise F.fail("signal_type", f"{signal} belongs to type {expected_type}, but type is {type_name}")

    symbol, broker_symbol = F.resolve_symbol(data.get("symbol"), "symbol", settings, hints, repairs)
    tf = F.timeframe(data.get("tf"), "tf")

    raw_direction = data.get("direction")
    if kind is AlertKind.ENTRY:
        direction = F.choice(raw_direction, "direction", _DIRECTIONS, required=True)
        if direction is None:
            raise F.fail("direction", f"is {raw_direction!r}; an entry needs buy or sell")
    else:
        direction = F.choice(raw_direction, "direction", _DIRECTIONS, required=False)
    if fixed_direction is not None:
        if raw_direction is not None and direction is not fixed_direction:
            raise F.fail("direction", f"is {raw_direction!r}; {signal} always has direction "
                                      f"{fixed_direction.value.lower()}")
        direction = fixed_direction

    consensus = F.integer(data.get("consensus_score"), "consensus_score", 0, 9,
                          required=kind is AlertKind.ENTRY, repairs=repairs)
    multiplier = F.decimal(data.get("position_multiplier"), "position_multiplier", required=False,
                           repairs=repairs, what=f"a number from {settings.v3_min_multiplier} "
                                                 f"to {settings.v3_max_multiplier}")
    if multiplier is not None and not settings.v3_min_multiplier <= multiplier <= settings.v3_max_multiplier:
        raise F.fail("position_multiplier", f"is {multiplier}; expected a number from "
                                            f"{settings.v3_min_multiplier} to {settings.v3_max_multiplier}")
    adx = F.decimal(data.get("adx_value"), "adx_value", required=False, repairs=repairs,
                    what="an ADX value from 0 to 100", positive=False)
    if adx is not None and not 0 <= adx <= 100:
        raise F.fail("adx_value", f"is {adx}; expected an ADX value from 0 to 100")

    mtf: dict[str, int] = {}
    mtf_raw = None
    if data.get("mtf_trends") is not None:
        mtf, mtf_raw = F.trend_list(data["mtf_trends"], "mtf_trends")
    elif kind is AlertKind.TREND_PULSE and data.get("current_trends") is not None:
        # A pulse carries the new state of every timeframe; the trend store wants it as pillars.
        mtf, mtf_raw = F.trend_list(data["current_trends"], "current_trends")

    extras = {k: F.json_safe(v, k) for k, v in data.items() if k not in _CONSUMED}
    strategy = F.strategy_from(hints, data, extras)
    return ParsedAlert(
        format=AlertFormat.V3,
        kind=kind,
        signal_type=signal,
        symbol=symbol,
        broker_symbol=broker_symbol,
        direction=direction,
        closes=_EXIT_CLOSES.get(signal, ()),
        timeframe=tf,
        price=F.decimal(data.get("price"), "price", required=False, repairs=repairs),
        sl=F.decimal(data.get("sl_price"), "sl_price", required=False, repairs=repairs),
        tp1=F.decimal(data.get("tp1_price"), "tp1_price", required=False, repairs=repairs),
        tp2=F.decimal(data.get("tp2_price"), "tp2_price", required=False, repairs=repairs),
        consensus_score=consensus,
        mtf=mtf,
        mtf_raw=mtf_raw,
        market_trend=F.integer(data.get("market_trend"), "market_trend", -1, 1, required=False, repairs=repairs),
        position_multiplier=multiplier,
        adx=adx,
        confidence=F.choice(data.get("confidence"), "confidence", _CONFIDENCE, required=False),
        strategy=strategy,
        alert_id=F.explicit_id(data),
        extras=extras,
        repairs=tuple(repairs),
    )
