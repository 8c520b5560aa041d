"""PineConnector-style command lines (`LicenseID,command,SYMBOL,key=value,...`) so users of that bridge can switch.

Syntax per docs.pineconnector.com/syntax: order LicenseID, Command, Symbol, Others; comma-separated (spaces
allowed); one command, one symbol per alert. Zepix acts on market entries and closes; every other PineConnector
command and parameter is recognised and rejected by name rather than silently ignored, because an ignored
`betrigger=` or `price=` would change what the trader's alert means.
"""
from __future__ import annotations

import hmac
import re
from typing import Any, Mapping

from . import fields as F
from .errors import UNAUTHORIZED, UNSUPPORTED, AlertError, shown
from .model import AlertFormat, AlertKind, Direction, ParsedAlert
from .settings import ParserSettings

ENTRY_COMMANDS = {"buy": Direction.BUY, "sell": Direction.SELL}
CLOSE_COMMANDS = {
    "closelong": (Direction.BUY,),
    "closeshort": (Direction.SELL,),
    "closelongshort": (Direction.BUY, Direction.SELL),
    # One symbol per alert is the syntax; Zepix scopes closeall to that symbol. Closing the whole account from
    # an alert is deliberately not offered (Telegram's close-all asks for a confirmation, DECISIONS §19).
    "closeall": (Direction.BUY, Direction.SELL),
}
SUPPORTED = tuple(ENTRY_COMMANDS) + tuple(CLOSE_COMMANDS)
# Recognised PineConnector commands Zepix does not act on (pending orders, partial closes, SL/TP edits, EA switch).
NOT_SUPPORTED = frozenset({
    "buystop", "buylimit", "sellstop", "selllimit", "cancellong", "cancelshort",
    "closelongpct", "closeshortpct", "closelongvol", "closeshortvol",
    "newsltplong", "newsltpshort", "newsltpbuystop", "newsltpbuylimit", "newsltpsellstop", "newsltpselllimit",
    "closelongopenlong", "closelongopenshort", "closeshortopenlong", "closeshortopenshort",
    "closelongshortopenlong", "closelongshortopenshort",
    "cancellongbuystop", "cancellongbuylimit", "cancelshortsellstop", "cancelshortselllimit",
    "eaon", "eaoff", "closealleaoff", "closelongbuy", "closeshortsell",
})
COMMANDS = frozenset(SUPPORTED) | NOT_SUPPORTED

_ENTRY_PARAMS = frozenset({"risk", "sl", "tp", "sl_price", "tp_price", "sl_pips", "tp_pips", "sl_pct", "tp_pct",
                           "comment", "secret"})
_CLOSE_PARAMS = frozenset({"comment", "secret"})
_KNOWN_NOT_SUPPORTED_PARAMS = frozenset({
    "price", "entry_price", "entry_pips", "entry_pct", "pending", "betrigger", "beoffset", "trailtrig",
    "traildist", "trailstep", "atrtimeframe", "atrperiod", "atrmultiplier", "atrshift", "atrtrigger",
    "spread", "accfilter", "vol_lots", "vol_dollar", "vol_pct_bal_loss", "vol_pct_eq_loss", "vol_pct_bal_margin",
})

_TARGET_SUFFIX = {"price": "price", "pips": "pips", "percent": "pct"}
_LICENSE_RE = re.compile(r"[A-Za-z0-9_-]{1,128}\Z")
_KEY_RE = re.compile(r"[a-z_]{1,32}\Z")
EXAMPLE = "60123456789,buy,EURUSD,risk=1,sl=1.0812,tp=1.0890"


def split(text: str) -> list[str]:
    """Comma-split outside double quotes (comment="a,b" stays one token); tokens stripped."""
    tokens, current, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            tokens.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    tokens.append("".join(current).strip())
    return tokens


def looks_like(text: str) -> bool:
    """A command in position 2 (normal) or 1 (license id forgotten)."""
    if "\n" in text.strip() or "," not in text:
        return False
    tokens = split(text)
    # An unbalanced quote can swallow every comma: then it is not a command line.
    return len(tokens) >= 2 and (tokens[1].lower() in COMMANDS or tokens[0].lower() in COMMANDS)


def redact(license_id: str) -> str:
    return "***" + license_id[-4:] if len(license_id) > 8 else "***"


def parse(text: str, *, hints: Mapping[str, Any], settings: ParserSettings, repairs: list[str]) -> ParsedAlert:
    tokens = split(text.strip())
    if tokens and tokens[-1] == "":
        tokens.pop()  # a trailing comma is harmless
    if tokens[0].lower() in COMMANDS and (len(tokens) < 2 or tokens[1].lower() not in COMMANDS):
        raise F.fail("license_id", f"is missing: the message starts with the command {shown(tokens[0])}",
                     f"PineConnector syntax is LicenseID,command,SYMBOL,key=value..., e.g. {EXAMPLE}")
    license_id = tokens[0]
    if not _LICENSE_RE.match(license_id):
        raise F.fail("license_id", "is not a PineConnector license id (letters, digits, '-' or '_')",
                     f"for example {EXAMPLE}")
    if settings.pineconnector_license_ids and not any(
            hmac.compare_digest(license_id.encode(), known.encode()) for known in settings.pineconnector_license_ids):
        # Never echo the id: it is a secret, and this message reaches logs and the webhook reply.
        raise AlertError(UNAUTHORIZED, "license_id", "does not match a configured license id",
                         hint="set it in [alerts.pineconnector] license_ids")
    command = tokens[1].lower()
    if command in NOT_SUPPORTED:
        raise AlertError(UNSUPPORTED, "command", f"{command} is a PineConnector command Zepix does not act on; "
                                                 f"supported: {', '.join(SUPPORTED)}")
    if len(tokens) < 3 or not tokens[2]:
        raise F.fail("symbol", f"is missing; PineConnector syntax is LicenseID,{command},SYMBOL,...",
                     f"for example {EXAMPLE}")
    symbol, broker_symbol = F.resolve_symbol(tokens[2], "symbol", settings, hints, repairs)

    params = _params(tokens[3:], _ENTRY_PARAMS if command in ENTRY_COMMANDS else _CLOSE_PARAMS, command)
    extras: dict[str, Any] = {"license_id": redact(license_id)}
    kw: dict[str, Any] = {}
    if "risk" in params:
        extras["risk"] = str(F.decimal(params["risk"], "risk", required=True, repairs=repairs,
                                       what="a positive number"))
    if "comment" in params:
        extras["comment"] = F.text(params["comment"], "comment", required=False, max_len=64)
    if "secret" in params:
        extras["secret"] = "***"
    for side, target in (("sl", "sl"), ("tp", "tp1")):
        given = [k for k in (side, f"{side}_price", f"{side}_pips", f"{side}_pct") if k in params]
        if len(given) > 1:
            raise F.fail(given[1], f"is given together with {given[0]}; expected one {side.upper()} parameter")
        if not given:
            continue
        key = given[0]
        # Plain sl=/tp= mean whatever the PineConnector EA was set to; settings.pineconnector_targets says which.
        meaning = _TARGET_SUFFIX[settings.pineconnector_targets] if key == side else key.split("_", 1)[1]
        value = F.decimal(params[key], key, required=True, repairs=repairs,
                          what="a positive price" if meaning == "price" else "a positive distance")
        if meaning == "price":
            kw[target] = value
        else:
            extras[f"{side}_{meaning}"] = str(value)

    return ParsedAlert(
        format=AlertFormat.PINECONNECTOR,
        kind=AlertKind.ENTRY if command in ENTRY_COMMANDS else AlertKind.EXIT,
        signal_type=command,
        symbol=symbol,
        broker_symbol=broker_symbol,
        direction=ENTRY_COMMANDS.get(command),
        closes=CLOSE_COMMANDS.get(command, ()),
        timeframe=F.hinted_timeframe(hints),
        strategy=F.strategy_from(hints, {}, {}),
        extras=extras,
        repairs=tuple(repairs),
        **kw,
    )


def _params(tokens: list[str], allowed: frozenset[str], command: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for token in tokens:
        key, eq, value = token.partition("=")
        key = key.strip().lower()
        if not eq or not _KEY_RE.match(key):
            raise F.fail("parameters", f"{shown(token)} is not key=value",
                         f"PineConnector syntax is LicenseID,command,SYMBOL,key=value..., e.g. {EXAMPLE}")
        if key in params:
            raise F.fail(key, "is given twice; expected each parameter once")
        if key not in allowed:
            if key in _KNOWN_NOT_SUPPORTED_PARAMS or key in _ENTRY_PARAMS:
                raise AlertError(UNSUPPORTED, key, f"is a PineConnector parameter Zepix does not act on with "
                                                   f"{command}; accepted: {', '.join(sorted(allowed))}",
                                 hint="Zepix sizes, trails and moves to breakeven by its own rules")
            raise F.fail(key, f"is not a PineConnector parameter; accepted with {command}: "
                              f"{', '.join(sorted(allowed))}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        params[key] = value
    return params
