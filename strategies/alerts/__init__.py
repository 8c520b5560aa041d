"""Pure TradingView alert parsers: bytes in, one normalised ParsedAlert out (or an AlertError saying why not).

Public API:
    parse_alert(body, *, hints, settings) -> ParsedAlert      detect the format and parse (raises AlertError)
    ParserSettings / ParserSettings.from_mapping(d, path)     configuration (raises config.errors.ConfigError)
    ParsedAlert (.to_dict(), .from_dict())                    the normalised alert and its plain-value codec
    AlertFormat, AlertKind, Direction                         its enums
    AlertError (.code, .field, .reason, .hint, .message)      the only exception parse_alert raises
    dedupe_key(alert, body, received_at_utc), content_key(alert, body)   identity for idempotency
No I/O, no clocks, no actors: see docs/alerts.md for the formats a trader can send.
"""
from .dedupe import content_key, dedupe_key
from .errors import AlertError
from .model import AlertFormat, AlertKind, Direction, ParsedAlert
from .parse import parse_alert
from .settings import ParserSettings

__all__ = [
    "AlertError", "AlertFormat", "AlertKind", "Direction", "ParsedAlert", "ParserSettings",
    "content_key", "dedupe_key", "parse_alert",
]
