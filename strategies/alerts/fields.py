"""Field converters shared by every format: numbers, timeframes, symbols, directions, trend strings, placeholders.

Each converter either returns a clean value or raises AlertError naming the field and what was expected, so the
format modules stay a readable list of fields.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from .errors import MALFORMED, UNKNOWN_SYMBOL, AlertError, shown
from .model import PILLARS
from .settings import SYMBOL_RE, ParserSettings, normalise_symbol


class _NaN:
    """Pine prints `na` as NaN; JSON decoding maps it here so each field can decide (missing vs. error)."""

    def __repr__(self) -> str:
        return "NaN"


NAN = _NaN()

PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
TICKER_HINT = ("TradingView does not fill {{ticker}} inside a Pine alert(): add ?symbol=<SYMBOL> to this alert's "
               "webhook URL, or build the message with syminfo.ticker")
CLOSE_HINT = ("TradingView does not fill {{close}} inside a Pine alert(): build the message with "
              "str.tostring(close)")

# Decimals beyond this are not prices; the bound also keeps int() away from 1E+999999-sized values.
_MAX_ABS = Decimal("1e12")


def fail(field: str, reason: str, hint: str = "", code: str = MALFORMED) -> AlertError:
    return AlertError(code, field, reason, hint=hint)


def placeholder_in(value: Any) -> str | None:
    if isinstance(value, str):
        m = PLACEHOLDER_RE.search(value)
        if m:
            return m.group(0)
    return None


def _placeholder_error(field: str, placeholder: str) -> AlertError:
    return fail(field, f"contains the literal TradingView placeholder {placeholder}, which was not substituted",
                "Placeholders are only filled in the alert dialog's message box, not inside Pine alert() strings; "
                "build the value in Pine (e.g. syminfo.ticker, str.tostring(close), timeframe.period)")


def decimal(value: Any, field: str, *, required: bool, repairs: list[str], what: str = "a positive price",
            positive: bool = True, na_words: tuple[str, ...] = ()) -> Decimal | None:
    """A finite Decimal from a JSON number, an int or a numeric string.

    Missing (None), Pine `na` (NaN) and any of `na_words` give None when not required; NaN is recorded as a repair
    because the body said something and we chose to ignore it.
    """
    if value is None:
        if required:
            raise fail(field, f"is missing; expected {what}")
        return None
    if value is NAN or (isinstance(value, str) and value.strip() in na_words):
        if required:
            raise fail(field, f"is {value!r} (Pine na); expected {what}")
        if value is NAN:
            repairs.append(f"{field}: NaN (Pine na) treated as missing")
        return None
    if isinstance(value, bool):
        raise fail(field, f"is {value!r}; expected {what}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        ph = placeholder_in(value)
        if ph:
            raise _placeholder_error(field, ph)
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise fail(field, f"is {shown(value)}; expected {what}") from None
    else:
        raise fail(field, f"is {shown(value)}; expected {what}")
    if not result.is_finite() or abs(result) > _MAX_ABS:
        raise fail(field, f"is {shown(value)}; expected {what}")
    if positive and result <= 0:
        raise fail(field, f"is {result}; expected {what}")
    return result


def integer(value: Any, field: str, lo: int, hi: int, *, required: bool, repairs: list[str],
            na_words: tuple[str, ...] = ()) -> int | None:
    """An int in [lo, hi]; integral decimals ('8', 8.0) are accepted since Pine prints some ints as floats."""
    what = f"an integer from {lo} to {hi}"
    number = decimal(value, field, required=required, repairs=repairs, what=what, positive=False,
                     na_words=na_words)
    if number is None:
        return None
    if number != number.to_integral_value() or not lo <= number <= hi:
        raise fail(field, f"is {shown(value)}; expected {what}")
    return int(number)


def text(value: Any, field: str, *, required: bool, max_len: int = 200) -> str | None:
    if value is None:
        if required:
            raise fail(field, "is missing; expected a string")
        return None
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise fail(field, f"is {shown(value)}; expected a string")
    value = value.strip()
    if not value:
        if required:
            raise fail(field, "is empty; expected a string")
        return None
    if len(value) > max_len:
        raise fail(field, f"is {len(value)} characters long; expected at most {max_len}")
    return value


def choice(value: Any, field: str, allowed: Mapping[str, Any], *, required: bool) -> Any:
    """Case-insensitive pick from `allowed` (keys lower case); returns the mapped value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise fail(field, f"is missing; expected {_options(allowed)}")
        return None
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        ph = placeholder_in(value)
        if ph:
            raise _placeholder_error(field, ph)
        raise fail(field, f"is {shown(value)}; expected {_options(allowed)}")
    return allowed[value.strip().lower()]


def _options(allowed: Mapping[str, Any]) -> str:
    return "one of " + ", ".join(allowed)


_TF_RE = re.compile(r"(\d{1,6})?\s*(s|S|m|min|M|h|H|hr|d|D|w|W)?\Z")
TF_EXPECTED = "a TradingView timeframe such as 1, 5, 15, 60, 240, 1D (or 5m, 1h, 4h, 1d)"


def timeframe(value: Any, field: str) -> str:
    """Canonical timeframe: intraday as minutes ('5', '60', '240'), else '<n>D', '<n>W', '<n>M', '<n>S'.

    Pine `timeframe.period` ('5', '60', 'D', '1D', 'W', '1M', '30S') and legacy words ('5m', '1h', '4h', '1d')
    both land here. Upper-case M is a month, as in Pine; lower-case m is minutes, as in the legacy templates.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise fail(field, f"is {shown(value)}; expected {TF_EXPECTED}")
    m = _TF_RE.match(value.strip())
    if not m or (m.group(1) is None and m.group(2) is None):
        ph = placeholder_in(value)
        if ph:
            raise _placeholder_error(field, ph)
        raise fail(field, f"is {shown(value)}; expected {TF_EXPECTED}")
    count = int(m.group(1)) if m.group(1) else 1
    unit = m.group(2) or "m"
    if count == 0:
        raise fail(field, f"is {shown(value)}; expected {TF_EXPECTED}")
    if unit in ("h", "H", "hr"):
        count, unit = count * 60, "m"
    if unit in ("m", "min"):
        if count % 1440 == 0:
            return f"{count // 1440}D"
        if count > 1440 * 7:
            raise fail(field, f"is {shown(value)}; expected {TF_EXPECTED}")
        return str(count)
    if count > 1000:
        raise fail(field, f"is {shown(value)}; expected {TF_EXPECTED}")
    return f"{count}{unit.upper()}"


def resolve_symbol(value: Any, field: str, settings: ParserSettings, hints: Mapping[str, Any],
                   repairs: list[str]) -> tuple[str, str]:
    """(symbol, broker_symbol). A literal {{ticker}} is repaired from the ?symbol= hint (DECISIONS §2)."""
    if not isinstance(value, str) or not value.strip():
        raise fail(field, f"is {shown(value)}; expected a symbol such as 'XAUUSD'")
    ph = placeholder_in(value)
    if ph:
        if PLACEHOLDER_RE.fullmatch(value.strip()) and ph.replace(" ", "").lower() == "{{ticker}}":
            hint_symbol = hints.get("symbol")
            if not settings.repair_placeholders:
                raise fail(field, "is the literal {{ticker}} (placeholder repair is switched off)", TICKER_HINT)
            if not hint_symbol:
                raise fail(field, "is the literal {{ticker}} and the webhook URL has no ?symbol=", TICKER_HINT)
            symbol = _check_symbol(hint_symbol, "symbol (from ?symbol=)", settings)
            repairs.append(f"{field}: literal {{{{ticker}}}} replaced by {symbol} from ?symbol=")
            return symbol, settings.broker_symbol(symbol)
        raise _placeholder_error(field, ph)
    symbol = _check_symbol(value, field, settings)
    return symbol, settings.broker_symbol(symbol)


def _check_symbol(value: Any, field: str, settings: ParserSettings) -> str:
    if not isinstance(value, str):
        raise fail(field, f"is {shown(value)}; expected a symbol such as 'XAUUSD'")
    symbol = normalise_symbol(value)
    if not SYMBOL_RE.match(symbol):
        raise fail(field, f"is {shown(value)}; expected a symbol such as 'XAUUSD' or 'OANDA:XAUUSD'")
    if symbol not in settings.symbols:
        raise AlertError(UNKNOWN_SYMBOL, field,
                         f"{symbol} is not a configured symbol; configured: {', '.join(sorted(settings.symbols))}",
                         hint="add it to [alerts] symbols in zepix.toml, or send the alert from a configured chart")
    return symbol


MTF5_ORDER = ("1D", "4H", "1H", "15m", "5m")
MTF6_ORDER = ("1m", "5m", "15m", "1H", "4H", "1D")
_TREND_VALUES = {"-1": -1, "0": 0, "1": 1, "+1": 1}


def trend_list(value: Any, field: str) -> tuple[dict[str, int], str]:
    """Pillars from a comma list of -1/0/1: 5 values are Pine's 1D,4H,1H,15m,5m; 6 are 1m,5m,15m,1H,4H,1D."""
    if not isinstance(value, str):
        raise fail(field, f"is {shown(value)}; expected a comma list of -1/0/1 such as \"1,1,-1,0,1\"")
    raw = value.strip()
    parts = [p.strip() for p in raw.split(",")] if raw else []
    if len(parts) == 5:
        order = MTF5_ORDER
    elif len(parts) == 6:
        order = MTF6_ORDER
    else:
        raise fail(field, f"has {len(parts)} values; expected 5 ({','.join(MTF5_ORDER)}) "
                          f"or 6 ({','.join(MTF6_ORDER)})")
    trends = {}
    for label, part in zip(order, parts):
        if part not in _TREND_VALUES:
            raise fail(field, f"value {shown(part)} for {label} is not -1, 0 or 1 (in {shown(raw)})")
        trends[label] = _TREND_VALUES[part]
    return {p: trends[p] for p in PILLARS}, raw


_MAX_DEPTH = 16


def json_safe(value: Any, field: str, _depth: int = 0) -> Any:
    """Extras travel through JSON and msgpack: decimals and ints beyond 64 bits become strings, NaN None."""
    if _depth > _MAX_DEPTH:
        raise fail(field, f"is nested more than {_MAX_DEPTH} levels deep")
    if value is NAN:
        return None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value < 2**63:
        return str(value)  # msgpack stops at 64 bits
    if isinstance(value, dict):
        return {str(k): json_safe(v, field, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, field, _depth + 1) for v in value]
    return value


_ID_RE = re.compile(r"[\x21-\x7e]{1,128}\Z")


def explicit_id(data: dict[str, Any]) -> str | None:
    """The body's own id (`id` or `alert_id`), used instead of the body hash for de-duplication (DECISIONS §6)."""
    present = [k for k in ("id", "alert_id") if data.get(k) is not None]
    if not present:
        return None
    if len(present) > 1:
        raise fail("alert_id", "is given together with id; expected only one of them")
    key = present[0]
    value = data[key]
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _ID_RE.match(value.strip()):
        raise fail(key, f"is {shown(value)}; expected 1-128 printable characters without spaces")
    return value.strip()


def strategy_from(hints: Mapping[str, Any], data: Mapping[str, Any], extras: dict[str, Any]) -> str | None:
    """`?strategy=` wins: it is the operator's routing choice for this alert; the body's value is the fallback.

    An overridden body value is kept in `extras['strategy']`, so nothing the body said is lost.
    """
    body_value = text(data.get("strategy"), "strategy", required=False, max_len=64)
    hinted = hints.get("strategy")
    if isinstance(hinted, str) and hinted.strip():
        chosen = text(hinted, "strategy (from ?strategy=)", required=True, max_len=64)
        if body_value is not None and body_value != chosen:
            extras["strategy"] = body_value
        return chosen
    return body_value


def hinted_timeframe(hints: Mapping[str, Any]) -> str | None:
    value = hints.get("tf")
    if value is None or value == "":
        return None
    return timeframe(value, "tf (from ?tf=)")
