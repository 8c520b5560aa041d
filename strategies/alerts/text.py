"""Plain text bodies: recognise the alertcondition messages of facts §1.5 and reject them with a how-to-fix hint.

These messages ("New Bullish Entry Signal on XAUUSD 5") carry no fields to trade on, so they are never accepted;
the point of recognising them is a message that tells the trader which payload to paste instead.
"""
from __future__ import annotations

import re

from .errors import PLAIN_TEXT, AlertError, shown

_LEGACY = '{{"type":"{t}","symbol":"{{{{ticker}}}}","signal":"{s}","tf":"{{{{interval}}}}","price":{{{{close}}}}}}'

# (pattern of the alertcondition text, the legacy JSON that carries the same signal, or None for V6-only ones)
_KNOWN: tuple[tuple[str, str | None], ...] = (
    (r"New Bullish Entry Signal", _LEGACY.format(t="entry", s="buy")),
    (r"New Bearish Entry Signal", _LEGACY.format(t="entry", s="sell")),
    (r"Trend Changed to BULLISH", _LEGACY.format(t="trend", s="bull")),
    (r"Trend Changed to BEARISH", _LEGACY.format(t="trend", s="bear")),
    (r"New Bullish Exit Signal", _LEGACY.format(t="exit", s="bull")),
    (r"New Bearish Exit Signal", _LEGACY.format(t="exit", s="bear")),
    (r"New Bullish Reversal Signal", _LEGACY.format(t="reversal", s="reversal_bull")),
    (r"New Bearish Reversal Signal", _LEGACY.format(t="reversal", s="reversal_bear")),
    (r"All Bullish Indicators", _LEGACY.format(t="bias", s="bull")),
    (r"All Bearish Indicators", _LEGACY.format(t="bias", s="bear")),
    (r"New Breakout Signal", None),
    (r"New Breakdown Signal", None),
    (r"Trend Pulse: Market trend changed", None),
    (r"Sideways breakout detected", None),
    (r"Trendline support break \(bullish\)", None),
    (r"Trendline resistance break \(bearish\)", None),
    (r"ADX Momentum Changed", None),
    (r"Market State Changed", None),
    (r"Breakout Detected", None),
    (r"Breakdown Detected", None),
)
_PATTERNS = tuple(
    (re.compile(rf"\s*(?P<name>{pattern})\s+(?:on\s+)?(?P<ticker>\S+)\s+(?P<interval>\S+)\s*\Z", re.IGNORECASE),
     template)
    for pattern, template in _KNOWN
)

_V6_HINT = ("use the V6 indicator's enhanced alerts instead: keep 'Use Enhanced Alert Format' on and create the "
            "alert on 'Any alert() function call' so the pipe message (e.g. BULLISH_ENTRY|XAUUSD|5|...) is sent")


def reject(text: str) -> AlertError:
    """The AlertError for a plain-text body (always code 'plain_text', field 'body')."""
    for pattern, template in _PATTERNS:
        m = pattern.match(text)
        if m:
            what = (f"is the plain alertcondition text {m.group('name')!r} for {m.group('ticker')} "
                    f"{m.group('interval')}, which has no fields Zepix can trade on")
            hint = (f"paste this into the alert's message box instead: {template}, or {_V6_HINT}" if template
                    else _V6_HINT)
            return AlertError(PLAIN_TEXT, "body", what, hint=hint)
    return AlertError(PLAIN_TEXT, "body",
                      f"is plain text ({shown(text.strip())}), not an alert payload",
                      hint="send V3/legacy JSON, a V6 pipe message or a PineConnector command; see docs/alerts.md")
