"""Decode a JSON alert body, applying the text repairs of DECISIONS §2 ({{close}}, the missing mtf_trends quote).

Numbers decode to Decimal (never float), duplicate keys are an error (the later one would silently win), and
every repair is appended to `repairs` in the order applied.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from .errors import AlertError, shown
from .fields import CLOSE_HINT, NAN, PLACEHOLDER_RE, fail
from .settings import ParserSettings

# `"price":{{close}}` (also quoted); the key is kept so the repair can say which field it touched.
_CLOSE_RE = re.compile(r'"([A-Za-z0-9_]{1,64})"\s*:\s*(?:"\{\{\s*close\s*\}\}"|\{\{\s*close\s*\}\}(?=\s*[,}\]]))')
# An unquoted placeholder left after the {{close}} repair: the body cannot be JSON, name it precisely.
_BARE_PLACEHOLDER_RE = re.compile(r'"([A-Za-z0-9_]{1,64})"\s*:\s*(\{\{\s*[A-Za-z0-9_.]+\s*\}\})')
# The ZEPIX_ULTIMATE_BOT_v3_FIXED build: `"mtf_trends":"1,1,1,1,1,"market_trend":1` (closing quote missing).
_MISSING_QUOTE_RE = re.compile(r'("mtf_trends"\s*:\s*")(\s*[-+]?\d+(?:\s*,\s*[-+]?\d+)*)\s*,\s*"(?=[A-Za-z_]\w*"\s*:)')

V3_TYPE_HINT = ('A V3 alert looks like {"type":"entry_v3","signal_type":"Momentum_Breakout","symbol":"XAUUSD",'
                '"direction":"buy","tf":"15","price":4335.49,"consensus_score":8,...}')


def _constant(name: str) -> Any:
    if name == "NaN":
        return NAN
    raise fail("body", f"contains {name}; expected finite numbers")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise fail(key, "is given twice; expected each field once")
        out[key] = value
    return out


def _decode(text: str) -> Any:
    """json.loads whose only failures are AlertError and JSONDecodeError."""
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_constant, object_pairs_hook=_pairs)
    except (AlertError, json.JSONDecodeError):
        raise
    except (ValueError, RecursionError) as exc:
        # int digit limits, nesting depth: hostile or broken bodies, never a crash.
        raise fail("body", f"is not usable JSON ({type(exc).__name__}: {shown(str(exc))})") from None


def load_json(text: str, settings: ParserSettings, repairs: list[str]) -> dict[str, Any]:
    """The decoded top-level object. Raises AlertError (field 'body' or the broken key)."""
    if "{{" in text:
        text = _repair_close(text, settings, repairs)
        m = _BARE_PLACEHOLDER_RE.search(text)
        if m:
            raise fail(m.group(1), f"is the literal TradingView placeholder {m.group(2)} (not substituted), "
                                   "so the body is not JSON",
                       "Placeholders are only filled in the alert dialog's message box, not inside Pine alert(); "
                       "build the value in Pine instead")
    try:
        data = _decode(text)
    except json.JSONDecodeError as exc:
        fixed = _repair_missing_quote(text, settings, repairs)
        if fixed is None:
            raise _json_error(text, exc) from None
        try:
            data = _decode(fixed)
        except json.JSONDecodeError as exc2:
            raise _json_error(fixed, exc2) from None
    if not isinstance(data, dict):
        raise fail("body", f"is a JSON {type(data).__name__}; expected one JSON object {{...}}", V3_TYPE_HINT)
    return data


def _repair_close(text: str, settings: ParserSettings, repairs: list[str]) -> str:
    keys = _CLOSE_RE.findall(text)
    if not keys:
        return text
    if not settings.repair_placeholders:
        raise fail(keys[0], "is the literal {{close}} (placeholder repair is switched off)", CLOSE_HINT)
    for key in keys:
        # null, not a guess: market orders use the broker's quote anyway (DECISIONS §2).
        repairs.append(f"{key}: literal {{{{close}}}} replaced by null")
    return _CLOSE_RE.sub(lambda m: f'"{m.group(1)}":null', text)


def _repair_missing_quote(text: str, settings: ParserSettings, repairs: list[str]) -> str | None:
    m = _MISSING_QUOTE_RE.search(text)
    if not m:
        return None
    if not settings.repair_missing_quote:
        raise fail("mtf_trends", "has no closing quote (missing-quote repair is switched off)",
                   "close the quote after mtfString in the Pine alert template")
    repairs.append('mtf_trends: missing closing quote added (the "1,1,1,1,1,"market_trend" build)')
    return text[: m.start()] + m.group(1) + m.group(2) + '","' + text[m.end():]


def _json_error(text: str, exc: json.JSONDecodeError) -> Exception:
    near = text[max(0, exc.pos - 20): exc.pos + 20]
    ph = PLACEHOLDER_RE.search(text)
    hint = ("it contains the placeholder " + ph.group(0) + ", which TradingView leaves as-is inside Pine alert()"
            if ph else "check the alert message for a missing quote, comma or brace")
    return fail("body", f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
                        f"(near {shown(near)})", hint)
