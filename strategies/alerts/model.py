"""The one normalised alert every strategy consumes, whatever format TradingView sent, plus its plain-value codec.

`ParsedAlert.to_dict()` gives only str/int/bool/None/list/dict values (Decimals as strings), so the same value can
be journaled as JSON, packed with msgpack and sent between actor processes; `ParsedAlert.from_dict()` reverses it.
"""
from __future__ import annotations

import functools

from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Mapping

SCHEMA_VERSION = 1

# The four pillars the strategies use (DECISIONS §3); 1m and 5m are parsed but dropped as noise.
PILLARS = ("15m", "1H", "4H", "1D")


class AlertFormat(StrEnum):
    """The family the body was detected as."""
    V3 = "v3"
    V6 = "v6"
    LEGACY_V4 = "legacy_v4"
    PINECONNECTOR = "pineconnector"


class AlertKind(StrEnum):
    """What the alert asks for, across families (V3 `entry_v3` and V6 `BULLISH_ENTRY` are both ENTRY)."""
    ENTRY = "entry"
    EXIT = "exit"
    SQUEEZE = "squeeze"
    TREND_PULSE = "trend_pulse"
    BIAS = "bias"
    TREND = "trend"
    REVERSAL = "reversal"
    STATE_CHANGE = "state_change"
    MOMENTUM_CHANGE = "momentum_change"
    SIDEWAYS_BREAKOUT = "sideways_breakout"
    TRENDLINE_BREAK = "trendline_break"
    BREAKOUT = "breakout"
    BREAKDOWN = "breakdown"
    SCREENER = "screener"


class Direction(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


_DECIMAL_FIELDS = ("price", "sl", "tp1", "tp2", "tp3", "position_multiplier", "adx")
_INT_FIELDS = ("consensus_score", "market_trend", "confidence_score")
_STR_FIELDS = ("timeframe", "mtf_raw", "confidence", "strategy", "alert_id")


@dataclass(frozen=True, kw_only=True)
class ParsedAlert:
    """One alert, normalised.

    format, kind     family and meaning (see AlertFormat, AlertKind).
    signal_type      the family's own name for the signal: V3 `signal_type` ('Institutional_Launchpad'), V6 alert
                     type ('BULLISH_ENTRY'), legacy `signal` ('buy', 'bull', 'reversal_bull'), PineConnector command
                     ('buy', 'closelong').
    symbol           normalised TradingView name ('OANDA:xauusd' -> 'XAUUSD'); always one of the configured symbols.
    broker_symbol    the name the broker uses (settings.symbol_map; identity by default).
    direction        BUY/SELL the alert points to, None when it has none (squeeze, pulse, state/momentum change,
                     neutral). V3 exits keep the payload's value (Bullish_Exit is SELL).
    closes           for exits: the sides of open positions to close ((BUY,), (SELL,) or (BUY, SELL)); else ().
    timeframe        canonical chart timeframe: minutes as digits ('1', '5', '15', '60', '240') or '1D', '1W', '1M'.
                     None only for PineConnector commands without a `?tf=` hint.
    price            bar close the alert reports; None when not sent or repaired away ({{close}}).
    sl, tp1..tp3     price levels when the alert carries them (Decimal).
    consensus_score  V3 bullish score 0-9 (DECISIONS §7); V6 screener alerts map to 9 (bullish) / 0 (bearish).
    mtf              pillar trends {'15m','1H','4H','1D'} -> -1/0/1; empty when the alert has none.
    mtf_raw          the comma string the pillars came from (`mtf_trends`, or a pulse's `current_trends`).
    market_trend     -1/0/1 (V3 field; legacy bias/trend signal; V6 market state).
    position_multiplier, adx, confidence ('HIGH'/'MEDIUM'/'MODERATE'/'LOW'), confidence_score (V6 0-100).
    strategy         `?strategy=` hint, else the body's `strategy` field.
    alert_id         explicit id from the body (`id` / `alert_id`); it replaces the body hash for de-duplication.
    extras           every other field of the body, JSON-safe (decimal numbers as strings).
    repairs          one line per repair applied to the body, in order; empty when the body was clean.

    `mtf` and `extras` are plain dicts for cheap encoding: treat them as read-only.
    """

    format: AlertFormat
    kind: AlertKind
    signal_type: str
    symbol: str
    broker_symbol: str
    direction: Direction | None = None
    closes: tuple[Direction, ...] = ()
    timeframe: str | None = None
    price: Decimal | None = None
    sl: Decimal | None = None
    tp1: Decimal | None = None
    tp2: Decimal | None = None
    tp3: Decimal | None = None
    consensus_score: int | None = None
    mtf: dict[str, int] = field(default_factory=dict)
    mtf_raw: str | None = None
    market_trend: int | None = None
    position_multiplier: Decimal | None = None
    adx: Decimal | None = None
    confidence: str | None = None
    confidence_score: int | None = None
    strategy: str | None = None
    alert_id: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    repairs: tuple[str, ...] = ()

    __hash__ = None  # type: ignore[assignment]  # dict fields: equality yes, hashing no

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/msgpack-safe values; `from_dict(to_dict(a)) == a`."""
        out: dict[str, Any] = {"schema": SCHEMA_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, StrEnum):
                value = value.value
            elif f.name == "closes":
                value = [d.value for d in value]
            elif f.name == "repairs":
                value = list(value)
            elif f.name in ("mtf", "extras"):
                value = dict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ParsedAlert":
        """Rebuild an alert from `to_dict()` output (e.g. read back from the journal). Raises ValueError."""
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a mapping, got {type(data).__name__}")
        schema = data.get("schema")
        if schema != SCHEMA_VERSION:
            raise ValueError(f"schema {schema!r} is not supported (expected {SCHEMA_VERSION})")
        unknown = set(data) - _known_keys(cls)
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        try:
            kw: dict[str, Any] = {
                "format": AlertFormat(data["format"]),
                "kind": AlertKind(data["kind"]),
                "signal_type": _req_str(data, "signal_type"),
                "symbol": _req_str(data, "symbol"),
                "broker_symbol": _req_str(data, "broker_symbol"),
            }
        except KeyError as exc:
            raise ValueError(f"missing key {exc.args[0]!r}") from None
        direction = data.get("direction")
        kw["direction"] = None if direction is None else Direction(direction)
        kw["closes"] = tuple(Direction(d) for d in _list(data, "closes"))
        for name in _DECIMAL_FIELDS:
            kw[name] = _opt_decimal(data, name)
        for name in _INT_FIELDS:
            value = data.get(name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise ValueError(f"{name} must be an int or None, got {value!r}")
            kw[name] = value
        for name in _STR_FIELDS:
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a str or None, got {value!r}")
            kw[name] = value
        mtf = data.get("mtf") or {}
        if not isinstance(mtf, Mapping) or not all(k in PILLARS and v in (-1, 0, 1) for k, v in mtf.items()):
            raise ValueError(f"mtf must map {PILLARS} to -1/0/1, got {mtf!r}")
        kw["mtf"] = dict(mtf)
        extras = data.get("extras") or {}
        if not isinstance(extras, Mapping):
            raise ValueError(f"extras must be a mapping, got {extras!r}")
        kw["extras"] = dict(extras)
        repairs = _list(data, "repairs")
        if not all(isinstance(r, str) for r in repairs):
            raise ValueError("repairs must be strings")
        kw["repairs"] = tuple(repairs)
        return cls(**kw)


@functools.lru_cache(maxsize=None)
def _known_keys(cls: type) -> frozenset:
    return frozenset(f.name for f in fields(cls)) | {"schema"}


def _req_str(data: Mapping[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty str, got {value!r}")
    return value


def _list(data: Mapping[str, Any], name: str) -> list[Any]:
    value = data.get(name) or []
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be a list, got {value!r}")
    return list(value)


def _opt_decimal(data: Mapping[str, Any], name: str) -> Decimal | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a decimal string or None, got {value!r}")
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name} is not a decimal: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"{name} is not finite: {value!r}")
    return result
