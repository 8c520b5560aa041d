"""Entry point: detect an alert body's format from its content (never from Content-Type) and parse it.

    parse_alert(body, hints={"symbol": "XAUUSD"}, settings=ParserSettings()) -> ParsedAlert | raises AlertError

Detection order: JSON object (V3 by `type` *_v3, legacy V4 by bias/trend/entry/exit/reversal), V6 pipe text
(first field a V6 type), PineConnector command (a PineConnector command in field 2), anything else is plain
text. The parser is pure: no I/O, no clock, no state; the same bytes, hints and settings give the same result.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from . import legacy, pineconnector, text, v3, v6
from .errors import TOO_LARGE, UNSUPPORTED, AlertError, shown
from .fields import fail, text as text_field
from .jsonbody import V3_TYPE_HINT, load_json
from .model import AlertFormat, ParsedAlert
from .settings import ParserSettings

__all__ = ["parse_alert", "ParserSettings", "ParsedAlert", "AlertError"]

HINT_KEYS = ("symbol", "strategy", "tf")

_ACCEPTED_TYPES = ", ".join([*v3.TYPES, *legacy.TYPES])


def parse_alert(body: bytes, *, hints: Mapping[str, Any] | None = None,
                settings: ParserSettings | None = None) -> ParsedAlert:
    """Parse one webhook body into a ParsedAlert.

    body      the raw request body (bytes; str is accepted for convenience and encoded as UTF-8).
    hints     values from the webhook URL: 'symbol' (?symbol=, fills a literal {{ticker}}), 'strategy'
              (?strategy=, overrides the body's strategy), 'tf' (?tf=, timeframe for PineConnector commands,
              which carry none). Other keys are ignored.
    settings  ParserSettings; defaults to ParserSettings().

    Raises AlertError for every bad input, and nothing else: the webhook can answer and journal any body.
    """
    settings = ParserSettings() if settings is None else settings
    hints = {k: v for k, v in (hints or {}).items() if k in HINT_KEYS and v is not None}
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise fail("body", f"is a {type(body).__name__}; expected bytes")
    body = bytes(body)
    if len(body) > settings.max_body_bytes:
        raise AlertError(TOO_LARGE, "body", f"is {len(body)} bytes; the limit is {settings.max_body_bytes}")
    try:
        decoded = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail("body", f"is not UTF-8 text (byte {exc.start}: {shown(body[exc.start:exc.start + 4])})") from None
    stripped = decoded.strip()
    if not stripped:
        raise fail("body", "is empty; expected an alert message", "see docs/alerts.md for the accepted formats")

    repairs: list[str] = []
    if stripped.startswith(("{", "[")):
        return _parse_json(stripped, hints, settings, repairs)
    if v6.is_v6(stripped):
        return _tagged(AlertFormat.V6, lambda: v6.parse(stripped, hints=hints, settings=settings, repairs=repairs))
    if pineconnector.looks_like(stripped):
        return _tagged(AlertFormat.PINECONNECTOR,
                       lambda: pineconnector.parse(stripped, hints=hints, settings=settings, repairs=repairs))
    lines = [line for line in stripped.splitlines() if line.strip()]
    if len(lines) > 1 and any(pineconnector.looks_like(line) for line in lines):
        raise AlertError(UNSUPPORTED, "body", f"has {len(lines)} lines of PineConnector commands; Zepix takes "
                                              "one command per alert", hint="create one alert per command",
                         alert_format=AlertFormat.PINECONNECTOR.value)
    if "|" in stripped and _looks_like_pipe_type(stripped):
        head = stripped.split("|", 1)[0].strip()
        raise AlertError(UNSUPPORTED, "type", f"{shown(head)} is not a V6 alert type; expected one of "
                                              f"{', '.join(v6.TYPES)}", alert_format=AlertFormat.V6.value)
    raise text.reject(stripped)


def _tagged(fmt: AlertFormat, run: Callable[[], ParsedAlert]) -> ParsedAlert:
    """Run a format parser; its errors say which family the body was detected as."""
    try:
        return run()
    except AlertError as exc:
        raise exc.with_format(fmt.value)


def _looks_like_pipe_type(stripped: str) -> bool:
    head = stripped.split("|", 1)[0].strip()
    return bool(head) and len(head) <= 40 and head.replace("_", "").isalnum() and head.upper() == head


def _parse_json(stripped: str, hints: Mapping[str, Any], settings: ParserSettings,
                repairs: list[str]) -> ParsedAlert:
    data = load_json(stripped, settings, repairs)
    raw_type = data.get("type")
    if raw_type is None:
        raise fail("type", f"is missing; expected one of {_ACCEPTED_TYPES}", V3_TYPE_HINT)
    type_name = text_field(raw_type, "type", required=True, max_len=64)
    lowered = type_name.lower()  # type: ignore[union-attr]
    if lowered in v3.TYPES:
        return _tagged(AlertFormat.V3,
                       lambda: v3.parse(data, lowered, hints=hints, settings=settings, repairs=repairs))
    if lowered in legacy.TYPES:
        return _tagged(AlertFormat.LEGACY_V4,
                       lambda: legacy.parse(data, lowered, hints=hints, settings=settings, repairs=repairs))
    if type_name.upper() in v6.TYPES:  # type: ignore[union-attr]
        # The planned ZepixV6Alert / TrendPulseAlert JSON shapes of the V6 docs: internal models, never sent.
        raise AlertError(UNSUPPORTED, "type",
                         f"{type_name} is a V6 alert type, and V6 alerts are pipe text, not JSON",
                         hint="send the indicator's message as is, e.g. BULLISH_ENTRY|XAUUSD|5|2030.5|BUY|...",
                         alert_format=AlertFormat.V6.value)
    if lowered == "strategy1":
        raise AlertError(UNSUPPORTED, "type", "strategy1 is the Strategy-1 prototype format, which Zepix does "
                                              f"not accept; accepted types: {_ACCEPTED_TYPES}", hint=V3_TYPE_HINT)
    raise AlertError(UNSUPPORTED, "type", f"{shown(type_name)} is not an alert type Zepix accepts; "
                                          f"expected one of {_ACCEPTED_TYPES}", hint=V3_TYPE_HINT)
