"""The one error type for a rejected alert body: which field, what was wrong, a stable code and a message for the trader."""
from __future__ import annotations

# Stable codes: the webhook answers with them and the journal stores them, so they never change meaning.
MALFORMED = "malformed"            # right family, broken or missing field
UNKNOWN_SYMBOL = "unknown_symbol"  # symbol not in the configured list
UNSUPPORTED = "unsupported"        # recognised, but a layout/command Zepix does not act on
PLAIN_TEXT = "plain_text"          # an alertcondition text message, not a payload
UNAUTHORIZED = "unauthorized"      # PineConnector license id not in the configured allow-list
TOO_LARGE = "too_large"            # body above settings.max_body_bytes

CODES = frozenset({MALFORMED, UNKNOWN_SYMBOL, UNSUPPORTED, PLAIN_TEXT, UNAUTHORIZED, TOO_LARGE})

_MAX_SHOWN = 60


def shown(value: object) -> str:
    """repr() of a value cut to a readable length: bodies are untrusted and can be huge."""
    text = repr(value)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    return text


class AlertError(ValueError):
    """A rejected alert.

    `field` names the offending field ('body' when the body as a whole is the problem), `reason` says what was
    found and what was expected, `code` is one of CODES, `hint` (optional) tells the trader how to fix the alert,
    and `alert_format` is the family the body was detected as, when detection got that far.
    `str(err)` and `err.message` give the full human message.
    """

    def __init__(self, code: str, field: str, reason: str, *, hint: str = "", alert_format: str | None = None):
        if code not in CODES:
            raise ValueError(f"unknown AlertError code {code!r}")
        self.code = code
        self.field = field
        self.reason = reason
        self.hint = hint[:1].upper() + hint[1:]  # hints are written mid-sentence; the message starts a new one
        self.alert_format = alert_format
        self.message = f"{field}: {reason}" + (f". {self.hint}" if hint else "")
        super().__init__(self.message)

    def to_dict(self) -> dict[str, str | None]:
        """Plain values for the webhook reply and the journal."""
        return {
            "code": self.code,
            "field": self.field,
            "reason": self.reason,
            "hint": self.hint,
            "format": self.alert_format,
            "message": self.message,
        }

    def with_format(self, alert_format: str) -> "AlertError":
        """The same error tagged with the detected family (set once, by the dispatcher)."""
        if self.alert_format is None:
            self.alert_format = alert_format
        return self
