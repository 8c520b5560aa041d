"""V6 "Price Action" pipe-delimited alerts (facts §1.3): all 14 types, optional field groups, NA, trailing pipe.

Every message is `TYPE|ticker|tf|...`. Field names in errors are those of the planned V6 model
(`conf_score`, `tl_status`, ...), with their 1-based position in the message.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Callable, Mapping

from . import fields as F
from .errors import shown
from .model import AlertFormat, AlertKind, Direction, ParsedAlert
from .settings import ParserSettings

_NA = ("NA", "na", "N/A", "NaN", "nan")

TYPES: dict[str, AlertKind] = {
    "BULLISH_ENTRY": AlertKind.ENTRY,
    "BEARISH_ENTRY": AlertKind.ENTRY,
    "EXIT_BULLISH": AlertKind.EXIT,
    "EXIT_BEARISH": AlertKind.EXIT,
    "TREND_PULSE": AlertKind.TREND_PULSE,
    "SIDEWAYS_BREAKOUT": AlertKind.SIDEWAYS_BREAKOUT,
    "TRENDLINE_BULLISH_BREAK": AlertKind.TRENDLINE_BREAK,
    "TRENDLINE_BEARISH_BREAK": AlertKind.TRENDLINE_BREAK,
    "BREAKOUT": AlertKind.BREAKOUT,
    "BREAKDOWN": AlertKind.BREAKDOWN,
    "SCREENER_FULL_BULLISH": AlertKind.SCREENER,
    "SCREENER_FULL_BEARISH": AlertKind.SCREENER,
    "MOMENTUM_CHANGE": AlertKind.MOMENTUM_CHANGE,
    "STATE_CHANGE": AlertKind.STATE_CHANGE,
}

# The side each type points to, when the type itself says so.
_TYPE_DIRECTION = {
    "BULLISH_ENTRY": Direction.BUY, "BEARISH_ENTRY": Direction.SELL,
    "TRENDLINE_BULLISH_BREAK": Direction.BUY, "TRENDLINE_BEARISH_BREAK": Direction.SELL,
    "BREAKOUT": Direction.BUY, "BREAKDOWN": Direction.SELL,
    "SCREENER_FULL_BULLISH": Direction.BUY, "SCREENER_FULL_BEARISH": Direction.SELL,
}
# EXIT_BULLISH fires exitLength bars after a bullish entry: it ends BUY trades (same reading as DECISIONS §9).
_EXIT_CLOSES = {"EXIT_BULLISH": (Direction.BUY,), "EXIT_BEARISH": (Direction.SELL,)}

_MARKET_STATES = {
    "trending_bullish": 1, "mixed_bullish": 1, "neutral": 0, "sideways": 0,
    "mixed_bearish": -1, "trending_bearish": -1,
}
_CONF_LEVELS = {"high": "HIGH", "moderate": "MODERATE", "medium": "MODERATE", "low": "LOW"}
_ADX_STRENGTH = {"strong": "STRONG", "moderate": "MODERATE", "weak": "WEAK"}
_ENTRY_DIRECTIONS = {"buy": Direction.BUY, "sell": Direction.SELL}
_BREAKOUT_DIRECTIONS = {"bullish": Direction.BUY, "bearish": Direction.SELL, "neutral": None}
_MOMENTUM = {"increasing": "INCREASING", "decreasing": "DECREASING"}
_TL_STATUS = {"tl_break": "TL_BREAK", "tl_ok": "TL_OK"}
_PULSE_LABELS = {"bull": "BULL", "bear": "BEAR", "side": "SIDE"}

_ALIGNMENT_RE = re.compile(r"(\d{1,2})\s*/\s*(\d{1,2})\Z")
# `15:BULL→BEAR`; the docs write `->`, the Pine uses U+2192.
_CHANGE_RE = re.compile(r"([^:]{1,8}):\s*([A-Za-z]{1,8})\s*(?:→|->)\s*([A-Za-z]{1,8})\Z")


def is_v6(text: str) -> bool:
    head = text.split("|", 1)[0].strip().upper()
    return "|" in text and head in TYPES


class _Fields:
    """The message's fields after TYPE|ticker|tf, handed out in order with their names for error messages."""

    def __init__(self, type_name: str, values: list[str], layout: str):
        self.type_name = type_name
        self.values = values
        self.pos = 0
        self.layout = layout

    def field(self, name: str, back: int = 0) -> str:
        """`back=1` names the field just taken (for checks made after converting it)."""
        return f"{name} (field {self.pos + 4 - back} of {self.type_name})"

    def peek(self) -> str | None:
        return self.values[self.pos] if self.pos < len(self.values) else None

    def take(self, name: str, convert: Callable[[str, str], Any]) -> Any:
        if self.pos >= len(self.values):
            raise F.fail(self.field(name), f"is missing; {self.type_name} messages are {self.layout}")
        value = convert(self.values[self.pos], self.field(name))
        self.pos += 1
        return value

    def done(self) -> None:
        if self.pos < len(self.values):
            raise F.fail(f"field {self.pos + 4} of {self.type_name}",
                         f"is an unexpected extra value {shown(self.values[self.pos])}; "
                         f"{self.type_name} messages are {self.layout}")


def parse(text: str, *, hints: Mapping[str, Any], settings: ParserSettings, repairs: list[str]) -> ParsedAlert:
    parts = [p.strip() for p in text.strip().split("|")]
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # every appended field ends with '|': one trailing pipe is the normal shape
    type_name = parts[0].upper()
    kind = TYPES[type_name]
    layout = _LAYOUTS[type_name]
    if len(parts) < 3:
        raise F.fail("ticker" if len(parts) < 2 else "tf", f"is missing; {type_name} messages are {layout}")
    symbol, broker_symbol = F.resolve_symbol(parts[1], "ticker (field 2)", settings, hints, repairs)
    tf = F.timeframe(parts[2], "tf (field 3)")
    fields = _Fields(type_name, parts[3:], layout)
    out: dict[str, Any] = {"extras": {}}
    _HANDLERS[type_name](fields, out, repairs)
    fields.done()
    direction = out.pop("direction", _TYPE_DIRECTION.get(type_name))
    return ParsedAlert(
        format=AlertFormat.V6,
        kind=kind,
        signal_type=type_name,
        symbol=symbol,
        broker_symbol=broker_symbol,
        direction=direction,
        closes=_EXIT_CLOSES.get(type_name, ()),
        timeframe=tf,
        strategy=F.strategy_from(hints, {}, {}),
        repairs=tuple(repairs),
        **out,
    )


# --- converters: (raw text, field name) -> value --------------------------------------------------------------

def _price(required: bool = True) -> Callable[[str, str], Decimal | None]:
    def convert(raw: str, name: str) -> Decimal | None:
        return F.decimal(raw, name, required=required, repairs=[], na_words=_NA)
    return convert


def _adx(raw: str, name: str) -> Decimal | None:
    value = F.decimal(raw, name, required=False, repairs=[], what="an ADX value from 0 to 100 or NA",
                      positive=False, na_words=_NA)
    if value is not None and not 0 <= value <= 100:
        raise F.fail(name, f"is {value}; expected an ADX value from 0 to 100 or NA")
    return value


def _signed(raw: str, name: str) -> Decimal | None:
    return F.decimal(raw, name, required=True, repairs=[], what="a number", positive=False)


def _int(lo: int, hi: int) -> Callable[[str, str], int | None]:
    def convert(raw: str, name: str) -> int | None:
        return F.integer(raw, name, lo, hi, required=True, repairs=[])
    return convert


def _pick(allowed: Mapping[str, Any], na_ok: bool = False) -> Callable[[str, str], Any]:
    def convert(raw: str, name: str) -> Any:
        if na_ok and raw in _NA:
            return None
        return F.choice(raw, name, allowed, required=True)
    return convert


def _word(raw: str, name: str) -> str:
    return F.text(raw, name, required=True, max_len=64).upper()  # type: ignore[union-attr]


def _alignment(raw: str, name: str) -> tuple[int, int]:
    m = _ALIGNMENT_RE.match(raw)
    if not m:
        raise F.fail(name, f"is {shown(raw)}; expected bullish/bearish timeframe counts such as 5/1")
    return int(m.group(1)), int(m.group(2))


def _changes(raw: str, name: str) -> list[dict[str, str]]:
    if raw in _NA or not raw:
        return []
    changes = []
    for item in raw.split(","):
        m = _CHANGE_RE.match(item.strip())
        if not m or m.group(2).lower() not in _PULSE_LABELS or m.group(3).lower() not in _PULSE_LABELS:
            raise F.fail(name, f"item {shown(item.strip())} is not <tf>:<OLD>→<NEW> with BULL/BEAR/SIDE, "
                               "e.g. 15:BULL→BEAR")
        changes.append({"tf": F.timeframe(m.group(1), name), "from": _PULSE_LABELS[m.group(2).lower()],
                        "to": _PULSE_LABELS[m.group(3).lower()]})
    return changes


# --- one handler per type: fills `out` with ParsedAlert keyword arguments --------------------------------------

def _entry(f: _Fields, out: dict[str, Any], repairs: list[str]) -> None:
    expected = _TYPE_DIRECTION[f.type_name]
    out["price"] = f.take("price", _price())
    direction = f.take("direction", _pick(_ENTRY_DIRECTIONS))
    if direction is not expected:
        raise F.fail(f.field("direction", back=1),
                     f"is {direction.value}; {f.type_name} always has direction {expected.value}")
    out["direction"] = direction
    out["confidence"] = f.take("conf_level", _pick(_CONF_LEVELS))
    out["confidence_score"] = f.take("conf_score", _int(0, 100))
    out["adx"] = f.take("adx", _adx)
    strength = f.take("adx_strength", _pick(_ADX_STRENGTH, na_ok=True))
    extras = out["extras"]
    if strength is not None:
        extras["adx_strength"] = strength
    # Optional groups, in Pine order; each is present only when its input is enabled, so look at the content.
    nxt = f.peek()
    if nxt is not None and not _ALIGNMENT_RE.match(nxt) and nxt.lower() not in _TL_STATUS:
        out["sl"] = f.take("sl", _price(required=False))
        out["tp1"] = f.take("tp1", _price(required=False))
        out["tp2"] = f.take("tp2", _price(required=False))
        out["tp3"] = f.take("tp3", _price(required=False))
    nxt = f.peek()
    if nxt is not None and _ALIGNMENT_RE.match(nxt):
        bull, bear = f.take("alignment", _alignment)
        extras.update(alignment=f"{bull}/{bear}", bull_count=bull, bear_count=bear)
    if f.peek() is not None:
        extras["tl_status"] = f.take("tl_status", _pick(_TL_STATUS))


def _exit(f: _Fields, out: dict[str, Any], repairs: list[str]) -> None:
    out["price"] = f.take("price", _price())
    out["extras"]["exit_bars"] = f.take("exit_bars", _int(0, 1_000_000))


def _pulse(f: _Fields, out: dict[str, Any], repairs: list[str]) -> None:
    extras = out["extras"]
    extras["bull_count"] = f.take("bull_count", _int(0, 50))
    extras["bear_count"] = f.take("bear_count", _int(0, 50))
    raw_changes = f.peek()
    extras["trend_changes"] = f.take("changes", _changes)
    extras["changes"] = raw_changes
    state = f.take("market_state", _pick({k: k.upper() for k in _MARKET_STATES}))
    extras["market_state"] = state
    out["market_trend"] = _MARKET_STATES[state.lower()]


def _sideways(f: _Fields, out: dict[str, Any], repairs: list[str]) -> None:
    out["direction"] = f.take("direction", _pick(_BREAKOUT_DIRECTIONS))
    out["adx"] = f.take("adx", _adx)
    strength = f.take("adx_strength", _pick(_ADX_STRENGTH, na_ok=True))
    extras = out["extras"]
    if strength is not None:
        extras["adx_strength"] = strength
    extras["from_state"] = f.take("from_state", _word)
    extras["momentum"] = f.take("momentum", _word)


def _trendline(f: _Fields, out: dict[str, Any], repairs: list[str]) -> None:
    out["price"] = f.take("price", _price())
    out["extras"]["slope"] = str(f.take("slope", _signed))
    out["extras"]["bars_since_pivot"] = f.take("bars_since_pivot", _int(0, 10_000_000))


def _breakout(f: _Fields, out: dict[str, Any], repairs: list[str]) -> None:
    out["price"] = f.take("level", _price())
    extras = out["extras"]
    extras["tests"] = f.take("tests", _int(0, 1_000_000))
    extras["start_bar"] = f.take("start_bar", _int(0, 100_000_000))
    extras["bar_index"] = f.take("bar_index", _int(0, 100_000_000))


def _screener(f: _Fields, out: dict[str, Any], repairs: list[str]) -> None:
    count = f.take("indicator_count", _int(0, 9))
    indicators = f.take("indicators", lambda raw, name: F.text(raw, name, required=True, max_len=200))
    out["extras"].update(indicator_count=count, indicators=indicators)
    # consensus_score is a bullish score (DECISIONS §7): 9 bearish indicators mean a bullish score of 0.
    out["consensus_score"] = count if f.type_name == "SCREENER_FULL_BULLISH" else 9 - count


def _momentum(f: _Fields, out: dict[str, Any], repairs: list[str]) -> None:
    extras = out["extras"]
    out["adx"] = f.take("adx", _adx)
    extras["adx_strength"] = f.take("adx_strength", _pick(_ADX_STRENGTH, na_ok=True))
    prev = f.take("prev_adx", _adx)
    extras["prev_adx"] = None if prev is None else str(prev)
    extras["prev_adx_strength"] = f.take("prev_adx_strength", _pick(_ADX_STRENGTH, na_ok=True))
    extras["momentum"] = f.take("momentum", _pick(_MOMENTUM))


def _state(f: _Fields, out: dict[str, Any], repairs: list[str]) -> None:
    states = {k: k.upper() for k in _MARKET_STATES}
    extras = out["extras"]
    state = f.take("market_state", _pick(states))
    extras["market_state"] = state
    extras["prev_market_state"] = f.take("prev_market_state", _pick(states))
    bull, bear = f.take("alignment", _alignment)
    extras.update(alignment=f"{bull}/{bear}", bull_count=bull, bear_count=bear)
    out["market_trend"] = _MARKET_STATES[state.lower()]


_HANDLERS: dict[str, Callable[[_Fields, dict[str, Any], list[str]], None]] = {
    "BULLISH_ENTRY": _entry, "BEARISH_ENTRY": _entry,
    "EXIT_BULLISH": _exit, "EXIT_BEARISH": _exit,
    "TREND_PULSE": _pulse,
    "SIDEWAYS_BREAKOUT": _sideways,
    "TRENDLINE_BULLISH_BREAK": _trendline, "TRENDLINE_BEARISH_BREAK": _trendline,
    "BREAKOUT": _breakout, "BREAKDOWN": _breakout,
    "SCREENER_FULL_BULLISH": _screener, "SCREENER_FULL_BEARISH": _screener,
    "MOMENTUM_CHANGE": _momentum,
    "STATE_CHANGE": _state,
}

_ENTRY_LAYOUT = ("TYPE|ticker|tf|price|BUY/SELL|conf_level|conf_score|adx|adx_strength"
                 "[|sl|tp1|tp2|tp3][|bull/bear][|TL_OK/TL_BREAK][|]")
_LAYOUTS = {
    "BULLISH_ENTRY": _ENTRY_LAYOUT, "BEARISH_ENTRY": _ENTRY_LAYOUT,
    "EXIT_BULLISH": "EXIT_BULLISH|ticker|tf|price|exit_bars",
    "EXIT_BEARISH": "EXIT_BEARISH|ticker|tf|price|exit_bars",
    "TREND_PULSE": "TREND_PULSE|ticker|tf|bull_count|bear_count|changes|market_state",
    "SIDEWAYS_BREAKOUT": "SIDEWAYS_BREAKOUT|ticker|tf|BULLISH/BEARISH/NEUTRAL|adx|adx_strength|SIDEWAYS|INCREASING",
    "TRENDLINE_BULLISH_BREAK": "TRENDLINE_BULLISH_BREAK|ticker|tf|price|slope|bars_since_pivot",
    "TRENDLINE_BEARISH_BREAK": "TRENDLINE_BEARISH_BREAK|ticker|tf|price|slope|bars_since_pivot",
    "BREAKOUT": "BREAKOUT|ticker|tf|level|tests|start_bar|bar_index",
    "BREAKDOWN": "BREAKDOWN|ticker|tf|level|tests|start_bar|bar_index",
    "SCREENER_FULL_BULLISH": "SCREENER_FULL_BULLISH|ticker|tf|9|indicator list",
    "SCREENER_FULL_BEARISH": "SCREENER_FULL_BEARISH|ticker|tf|9|indicator list",
    "MOMENTUM_CHANGE": "MOMENTUM_CHANGE|ticker|tf|adx|strength|prev_adx|prev_strength|INCREASING/DECREASING",
    "STATE_CHANGE": "STATE_CHANGE|ticker|tf|state|prev_state|bull/bear",
}
