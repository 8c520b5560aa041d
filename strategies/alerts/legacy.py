"""Legacy V4 "ZepixPremium" JSON alerts (facts §1.4): bias, trend, entry, exit, reversal."""
from __future__ import annotations

from typing import Any, Mapping

from strategies.bridge import legacy_signal

from . import fields as F
from .errors import UNSUPPORTED, AlertError
from .model import AlertFormat, AlertKind, Direction, ParsedAlert
from .settings import ParserSettings

TYPES = {
    "bias": AlertKind.BIAS,
    "trend": AlertKind.TREND,
    "entry": AlertKind.ENTRY,
    "exit": AlertKind.EXIT,
    "reversal": AlertKind.REVERSAL,
}

_BULL_BEAR = {"bull": Direction.BUY, "bear": Direction.SELL}
_SIGNALS: dict[str, dict[str, Direction]] = {
    "entry": {"buy": Direction.BUY, "sell": Direction.SELL},
    "bias": _BULL_BEAR,
    "trend": _BULL_BEAR,
    "exit": _BULL_BEAR,
    "reversal": {"reversal_bull": Direction.BUY, "reversal_bear": Direction.SELL},
}

TEMPLATE = '{"type":"entry","symbol":"{{ticker}}","signal":"buy","tf":"5m","price":{{close}},"strategy":"ZepixPremium"}'

_CONSUMED = {"type", "symbol", "signal", "tf", "price", "strategy", "id", "alert_id"}


def parse(data: dict[str, Any], type_name: str, *, hints: Mapping[str, Any], settings: ParserSettings,
          repairs: list[str]) -> ParsedAlert:
    kind = TYPES[type_name]
    if "signal" not in data and ("direction" in data or "trend" in data):
        # UPD:docs/TRADINGVIEW_ALERTS_COPY_PASTE.txt documents this layout, but no Zepix build ever accepted it.
        raise AlertError(UNSUPPORTED, "signal",
                         "is missing: this is the TRADINGVIEW_ALERTS_COPY_PASTE layout (direction/sl/tp, no signal "
                         "or tf), which Zepix does not accept",
                         hint=f"use the legacy template, e.g. {TEMPLATE}")
    signals = _SIGNALS[type_name]
    raw_signal, repair = legacy_signal(type_name, data.get("signal"))
    if repair:
        repairs.append(repair)
    signal_word = F.choice(raw_signal, "signal", {k: k for k in signals}, required=True)
    side = signals[signal_word]
    symbol, broker_symbol = F.resolve_symbol(data.get("symbol"), "symbol", settings, hints, repairs)
    tf = F.timeframe(data.get("tf"), "tf")

    market_trend = None
    direction: Direction | None = side
    closes: tuple[Direction, ...] = ()
    if kind in (AlertKind.BIAS, AlertKind.TREND):
        market_trend = 1 if side is Direction.BUY else -1
    elif kind is AlertKind.EXIT:
        # "Bullish Exit" ends bullish trades: it closes BUYs, as DECISIONS §9 rules for V3 (the original legacy
        # code did the opposite; see docs/alerts.md). No direction: an exit does not point anywhere new.
        direction = None
        closes = (side,)

    extras = {k: F.json_safe(v, k) for k, v in data.items() if k not in _CONSUMED}
    strategy = F.strategy_from(hints, data, extras)
    return ParsedAlert(
        format=AlertFormat.LEGACY_V4,
        kind=kind,
        signal_type=signal_word,
        symbol=symbol,
        broker_symbol=broker_symbol,
        direction=direction,
        closes=closes,
        timeframe=tf,
        price=F.decimal(data.get("price"), "price", required=False, repairs=repairs),
        market_trend=market_trend,
        strategy=strategy,
        alert_id=F.explicit_id(data),
        extras=extras,
        repairs=tuple(repairs),
    )
