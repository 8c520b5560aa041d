"""Alert identity for idempotency (DECISIONS §6): explicit id if the body has one, else a hash of the normalised
body plus the minute it arrived. Pure: the arrival time is passed in.

"Normalised body" here is the parsed alert in canonical JSON (sorted keys, no repairs) together with the body
with BOM, surrounding whitespace and CRLF removed. The alert part matters because the same bytes can mean
different alerts: a `{{ticker}}` body repaired from `?symbol=XAUUSD` and one from `?symbol=EURUSD` are equal
byte for byte. The window check ("a repeat within 5 minutes is a duplicate") needs a key without the minute;
`content_key` gives it.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from .model import ParsedAlert

_VERSION = b"zepix-alert-key-v1"


def _normalised_body(body: bytes) -> bytes:
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    return body.strip().replace(b"\r\n", b"\n")


def _canonical_alert(alert: ParsedAlert) -> bytes:
    data = alert.to_dict()
    data.pop("repairs")  # derived from the body, which is hashed anyway
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def content_key(alert: ParsedAlert, body: bytes) -> str:
    """'c:<sha256>' of the normalised alert and body, without time: equal for a repeat of the same alert."""
    digest = hashlib.sha256(_VERSION + b"\0" + _canonical_alert(alert) + b"\0" + _normalised_body(body))
    return "c:" + digest.hexdigest()


def arrival_minute(received_at_utc: datetime) -> str:
    """'2026-01-07T10:15Z': the minute bucket of an aware datetime, in UTC."""
    if received_at_utc.tzinfo is None or received_at_utc.utcoffset() is None:
        raise ValueError("received_at_utc must be timezone-aware (UTC)")
    return received_at_utc.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def dedupe_key(alert: ParsedAlert, body: bytes, received_at_utc: datetime) -> str:
    """The alert's identity for the journal's unique index.

    'id:<sha256 of format and id>' when the body carries an explicit id (arrival time ignored: a resend of the
    same id is the same alert whenever it comes), else 'h:<sha256 of content_key and arrival minute>'.
    Raises ValueError for a naive datetime (a caller bug, not bad input).
    """
    if alert.alert_id is not None:
        arrival_minute(received_at_utc)  # same contract for both branches
        digest = hashlib.sha256(_VERSION + b"\0id\0" + alert.format.value.encode() + b"\0" + alert.alert_id.encode())
        return "id:" + digest.hexdigest()
    minute = arrival_minute(received_at_utc)
    digest = hashlib.sha256(_VERSION + b"\0" + content_key(alert, body).encode() + b"\0" + minute.encode())
    return "h:" + digest.hexdigest()
