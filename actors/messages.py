"""Every message type the actors exchange, and the msgpack codec that turns them into bytes.

Actors never hand Python objects to Thespian (which would pickle them): each message is a frozen dataclass
registered here with a type tag and a schema version, and travels as ``[tag, version, {field: value}]`` in
msgpack. The same bytes can be journaled, and they stay readable across hosts and Python versions.

An unknown tag, an unsupported version or bytes that are not a message raise a ``CodecError`` subclass with a
clear text; the base actor counts and logs it and carries on.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

import pickle

import msgpack
from thespian.actors import ActorAddress

# ---------------------------------------------------------------------------------------------------------------
# Codec

_EXT_MESSAGE = 1   # a nested registered message
_EXT_DECIMAL = 2   # decimal.Decimal as its exact string
_EXT_ADDRESS = 3   # a Thespian ActorAddress, pickled: only ever between our own actors, whose transport pickles
                   # every message anyway, and never journaled


class CodecError(ValueError):
    """Bytes that cannot become a message; the text says why."""


class UnknownMessageType(CodecError):
    pass


class UnsupportedVersion(CodecError):
    pass


class MalformedMessage(CodecError):
    pass


_REGISTRY: dict[str, type] = {}


def message(tag: str, version: int = 1) -> Callable[[type], type]:
    """Class decorator: register a frozen dataclass as a message with a unique tag and schema version."""

    def register(cls: type) -> type:
        if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:
            raise TypeError(f"{cls.__name__} must be a frozen dataclass to be a message")
        if tag in _REGISTRY and _REGISTRY[tag] is not cls:
            raise TypeError(f"message tag {tag!r} is used by {_REGISTRY[tag].__name__} and {cls.__name__}")
        cls._tag = tag
        cls._version = version
        _REGISTRY[tag] = cls
        return cls

    return register


def registered_types() -> dict[str, type]:
    return dict(_REGISTRY)


def _default(obj: Any) -> Any:
    tag = getattr(type(obj), "_tag", None)
    if tag is not None:
        return msgpack.ExtType(_EXT_MESSAGE, _pack(obj))
    if isinstance(obj, Decimal):
        return msgpack.ExtType(_EXT_DECIMAL, str(obj).encode())
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, ActorAddress):
        return msgpack.ExtType(_EXT_ADDRESS, pickle.dumps(obj, protocol=4))
    raise TypeError(f"cannot encode {type(obj).__name__} in a message")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _EXT_MESSAGE:
        return _unpack(data)
    if code == _EXT_DECIMAL:
        # bad bytes here used to surface as "not msgpack: [<class 'decimal.ConversionSyntax'>]"
        try:
            return Decimal(data.decode("ascii"))
        except (UnicodeDecodeError, ArithmeticError):
            raise MalformedMessage(f"invalid Decimal {bytes(data)[:40]!r}") from None
    if code == _EXT_ADDRESS:
        try:
            addr = pickle.loads(data)
        except Exception:
            raise MalformedMessage("invalid actor address") from None
        if not isinstance(addr, ActorAddress):
            raise MalformedMessage(f"expected an actor address, got {type(addr).__name__}")
        return addr
    raise MalformedMessage(f"unknown msgpack extension type {code}")


def _pack(msg: Any) -> bytes:
    fields = {f.name: getattr(msg, f.name) for f in dataclasses.fields(msg)}
    return msgpack.packb([msg._tag, msg._version, fields], default=_default, use_bin_type=True)


_TUPLE_FIELDS: dict[type, frozenset[str]] = {}


def _tuple_fields(cls: type) -> frozenset[str]:
    # msgpack has no tuple; fields declared as tuples are turned back into tuples so messages stay hashable
    if cls not in _TUPLE_FIELDS:
        hints = typing.get_type_hints(cls)
        _TUPLE_FIELDS[cls] = frozenset(
            name for name, hint in hints.items()
            if hint is tuple or typing.get_origin(hint) is tuple
        )
    return _TUPLE_FIELDS[cls]


def _unpack(data: bytes) -> Any:
    try:
        obj = msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)
    except CodecError:
        raise
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        # some of them have an empty text (b"\xc1" gave "not msgpack: "), so name the type too
        raise MalformedMessage(f"not msgpack: {type(exc).__name__}: {exc}".rstrip(": ")) from None
    # a bool is an int in Python, but `true` is not version 1
    if not (isinstance(obj, list) and len(obj) == 3 and isinstance(obj[0], str)
            and isinstance(obj[1], int) and not isinstance(obj[1], bool) and isinstance(obj[2], dict)):
        raise MalformedMessage("expected [tag, version, fields]")
    tag, version, fields = obj
    cls = _REGISTRY.get(tag)
    if cls is None:
        raise UnknownMessageType(f"unknown message type {tag!r}")
    if version != cls._version:
        raise UnsupportedVersion(f"message {tag!r} version {version} is not supported (this build speaks {cls._version})")
    for name in _tuple_fields(cls):
        if isinstance(fields.get(name), list):
            fields[name] = tuple(fields[name])
    try:
        msg = cls(**fields)
    except TypeError as exc:
        raise MalformedMessage(f"message {tag!r} has wrong fields: {exc}") from None
    _check_types(msg)
    return msg


# Dataclasses do not check types, so a well-formed message with e.g. ``name=5`` used to reach handlers and crash
# the receiving actor (RestartChild(name=5) made the root supervisor crash in ``name.partition``). Field values
# are checked against the simple annotations messages use; anything more complex is not checked.
_SIMPLE_TYPES: dict[Any, tuple[type, ...]] = {str: (str,), int: (int,), float: (int, float), bool: (bool,),
                                              dict: (dict,), tuple: (tuple,), bytes: (bytes,),
                                              Decimal: (Decimal,)}
_FIELD_CHECKS: dict[type, list[tuple[str, tuple[type, ...], bool]]] = {}


def _field_checks(cls: type) -> list[tuple[str, tuple[type, ...], bool]]:
    if cls not in _FIELD_CHECKS:
        checks = []
        for name, hint in typing.get_type_hints(cls).items():
            optional = False
            if typing.get_origin(hint) in (typing.Union, types.UnionType):
                args = [a for a in typing.get_args(hint) if a is not type(None)]
                optional = len(args) < len(typing.get_args(hint))
                hint = args[0] if len(args) == 1 else None
            if typing.get_origin(hint) is tuple:
                hint = tuple
            if hint in _SIMPLE_TYPES:
                checks.append((name, _SIMPLE_TYPES[hint], optional))
        _FIELD_CHECKS[cls] = checks
    return _FIELD_CHECKS[cls]


def _check_types(msg: Any) -> None:
    for name, allowed, optional in _field_checks(type(msg)):
        value = getattr(msg, name)
        if value is None and optional:
            continue
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            want = " or ".join(t.__name__ for t in allowed)
            raise MalformedMessage(f"message {msg._tag!r} field {name!r} must be {want}, "
                                   f"got {type(value).__name__} {value!r:.40}")


def encode(msg: Any) -> bytes:
    """A registered message to bytes."""
    if getattr(type(msg), "_tag", None) is None:
        raise TypeError(f"{type(msg).__name__} is not a registered message")
    return _pack(msg)


def decode(data: bytes) -> Any:
    """Bytes to a registered message, or a CodecError that says what is wrong."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedMessage(f"expected bytes, got {type(data).__name__}")
    return _unpack(bytes(data))


# ---------------------------------------------------------------------------------------------------------------
# Lifecycle: supervisor <-> child

@message("life.init")
@dataclass(frozen=True)
class Init:
    """First message to every child: who it is and its part of the configuration."""
    name: str
    path: str                      # e.g. "zepix-root/trading/combined_v3"
    spec: dict                     # the child's ChildSpec as a dict (supervisors build their children from it)
    config: dict                   # the whole effective configuration
    implementation: str = "primary"


@message("life.started")
@dataclass(frozen=True)
class Started:
    name: str
    pid: int
    actor_class: str
    implementation: str = "primary"
    mailbox: str = ""              # the actor's same-host mailbox (actors.mailbox), "" when it has none


@message("life.init_failed")
@dataclass(frozen=True)
class InitFailed:
    name: str
    pid: int
    error: str


@message("life.exiting")
@dataclass(frozen=True)
class Exiting:
    """A child tells its supervisor why it is about to stop (an unexpected error, or escalation)."""
    name: str
    reason: str


@message("life.ping")
@dataclass(frozen=True)
class Ping:
    seq: int


@message("life.pong")
@dataclass(frozen=True)
class Pong:
    seq: int
    name: str
    pid: int
    handled: int = 0
    errors: int = 0
    codec_errors: int = 0


@message("life.batch")
@dataclass(frozen=True)
class Batch:
    """Several encoded messages for one actor, sent as one transport message (``ZepixActor`` packs what one
    handler run sends to the same peer, and unpacks on arrival, in order). Thespian's TCP transport costs the same
    per message whatever its size, and its per-loop bookkeeping grows with the messages in flight; under load one
    message per alert per hop was what capped the throughput (bench/webhook_latency.py)."""
    items: tuple[bytes, ...]


# ---------------------------------------------------------------------------------------------------------------
# Supervision events (subscribers get every transition of every supervisor below the one they subscribed to)

@message("sup.subscribe")
@dataclass(frozen=True)
class Subscribe:
    subscribe: bool = True


@message("sup.event")
@dataclass(frozen=True)
class SupervisionEvent:
    kind: str          # started | exited | restarted | hung | fallback_on | fallback_off | escalated | gave_up
    supervisor: str    # path of the supervisor that saw it
    child: str
    reason: str = ""
    at: float = 0.0    # unix time
    details: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------------
# Admin requests (CLI and run.py); every request carries a correlation id that its reply repeats

@message("adm.tree_req")
@dataclass(frozen=True)
class TreeRequest:
    corr: str


@message("adm.tree")
@dataclass(frozen=True)
class TreeReply:
    corr: str
    node: dict


@message("adm.restart")
@dataclass(frozen=True)
class RestartChild:
    corr: str
    name: str           # a child's name or path below the receiving supervisor


@message("adm.kill")
@dataclass(frozen=True)
class KillChild:
    corr: str
    name: str


@message("adm.stop")
@dataclass(frozen=True)
class StopSystem:
    corr: str


@message("adm.reply")
@dataclass(frozen=True)
class CommandReply:
    corr: str
    ok: bool
    text: str
    data: dict = field(default_factory=dict)


@message("adm.status_req")
@dataclass(frozen=True)
class StatusRequest:
    corr: str


@message("adm.status")
@dataclass(frozen=True)
class StatusReply:
    corr: str
    name: str
    pid: int
    started_at: float
    children: int
    data: dict = field(default_factory=dict)



# ---------------------------------------------------------------------------------------------------------------
# Directory: where every actor of the tree is. Supervisors report their children's addresses up the tree; the
# root keeps the map and sends it to every actor whenever it changes, so a restarted actor is found at its new
# address. Paths are relative to the root: "ingress/webhook", "broker/gateway", "trading/combined_v3".

@message("dir.change")
@dataclass(frozen=True)
class DirectoryChange:
    path: str
    address: object = None          # None: the actor at this path (and everything below it) is gone
    mailbox: str = ""               # its same-host mailbox (actors.mailbox), if it has one


@message("dir.map")
@dataclass(frozen=True)
class Directory:
    entries: dict                   # path -> address
    mailboxes: dict = field(default_factory=dict)   # path -> same-host mailbox (actors.mailbox), where there is one


@message("dir.mailbox_hello")
@dataclass(frozen=True)
class MailboxHello:
    """First record on a mailbox connection (actors.mailbox): who sends what follows on it."""
    address: object                 # the sender's Thespian address: the ``sender`` its messages are handled with
    mailbox: str                    # the sender's own mailbox, for the replies


@message("dir.lookup")
@dataclass(frozen=True)
class LookupRequest:
    corr: str
    path: str


@message("dir.found")
@dataclass(frozen=True)
class LookupReply:
    corr: str
    path: str
    address: object = None


# ---------------------------------------------------------------------------------------------------------------
# Publish / subscribe between actors. A publisher keeps the senders of EventSubscribe per topic; subscribers
# subscribe again when the publisher's address changes (see ZepixActor.subscribe_to). Topics in use:
#   "trades"   broker/gateway   TradeEvent
#   "orders"   broker/gateway   OrderOutcome of every intent (journal, notifications)
#   "ticks"    broker/pricefeed Ticks
#   "entries"  trading plugins  TradeOpened, TradeClosed
#   "risk"     trading/risk     RiskState
#   "positions" trading/positions PositionAction

@message("pub.subscribe")
@dataclass(frozen=True)
class EventSubscribe:
    topics: tuple
    subscribe: bool = True


# ---------------------------------------------------------------------------------------------------------------
# Notifications: any actor -> telegram/notifier (the notification router). Priorities: CRITICAL, HIGH, MEDIUM,
# LOW, INFO. ``kind`` names the notification type the trader can switch on / silent / off ("entry", "exit",
# "order_rejected", "actor_restarted", ...).

@message("note.notify")
@dataclass(frozen=True)
class Notify:
    kind: str
    priority: str
    text: str
    source: str = ""
    data: dict = field(default_factory=dict)
    at: float = 0.0


# ---------------------------------------------------------------------------------------------------------------
# Commands: a Telegram command or an admin CLI request for one actor, answered with CommandReply (same corr).
# ``name`` is the actor's own verb ("pause", "status", "enable", "set"); ``args`` its arguments; ``user`` who asked
# ("telegram:12345", "cli").

@message("cmd.command")
@dataclass(frozen=True)
class Command:
    corr: str
    name: str
    args: dict = field(default_factory=dict)
    user: str = ""


# ---------------------------------------------------------------------------------------------------------------
# Configuration at runtime: ops/config sends every actor the new effective configuration and the top-level
# sections that changed; an actor that owns one of them applies it (ZepixActor.reconfigure) and answers.

@message("cfg.update")
@dataclass(frozen=True)
class ConfigUpdate:
    config: dict
    changed: tuple                  # top-level section names (or "plugins.combined_v3" style keys)
    version: int = 0


@message("cfg.applied")
@dataclass(frozen=True)
class ConfigApplied:
    path: str                       # who answered
    version: int
    ok: bool
    error: str = ""
    stake: bool = True              # False: the change touched none of this actor's sections (nothing to apply)


# ---------------------------------------------------------------------------------------------------------------
# Alerts: ingress/router -> plugin, and the alert's outcome back to the journal (ingress/webhook is its only
# writer). Status: routed | decided | executed | rejected | skipped.

@message("alert.route")
@dataclass(frozen=True)
class AlertRoute:
    alert_id: str
    alert: dict                     # ParsedAlert.to_dict()
    received_at: float


@message("alert.outcome")
@dataclass(frozen=True)
class AlertOutcome:
    alert_id: str
    status: str
    source: str                     # path of the actor that reports ("trading/combined_v3", "broker/gateway")
    reason: str = ""
    detail: dict = field(default_factory=dict)
    at: float = 0.0


# ---------------------------------------------------------------------------------------------------------------
# Orders: trading -> broker/gateway. Every request carries the intent id that makes it idempotent: the gateway
# never sends twice for one intent id, and answers a repeated intent with what it already knows. The sender gets
# an OrderOutcome; the same outcome is published on "orders", fills and closes as TradeEvent on "trades".

@message("ord.intent")
@dataclass(frozen=True)
class OrderIntent:
    intent_id: str
    plugin: str                     # owner; the gateway maps it to the plugin's magic number
    symbol: str                     # broker symbol
    side: str                       # BUY | SELL
    volume: Decimal
    kind: str = "market"            # market | buy_limit | sell_limit | buy_stop | sell_stop
    price: Decimal | None = None    # pending orders only
    sl: Decimal | None = None
    tp: Decimal | None = None
    comment: str = ""               # cut to 31 characters by the gateway
    alert_id: str = ""
    detail: dict = field(default_factory=dict)   # e.g. {"order": "A", "trade_id": ...}; echoed in the outcome
    reply_to: str = ""              # directory path answered instead of the sender: trading/risk forwards a
                                    # plugin's approved intent, the plugin gets the outcome


def outcome_dict(o: "OrderOutcome") -> dict:
    """An OrderOutcome as a JSON-ready dict (the gateway's ledger keeps each intent's outcome so)."""
    d = {f.name: getattr(o, f.name) for f in dataclasses.fields(o)}
    for k in ("price", "volume"):
        d[k] = None if d[k] is None else str(d[k])
    return d


def outcome_from(d: dict) -> "OrderOutcome":
    d = dict(d)
    for k in ("price", "volume"):
        d[k] = None if d.get(k) is None else Decimal(d[k])
    return OrderOutcome(**d)


@message("ord.modify")
@dataclass(frozen=True)
class ModifyIntent:
    intent_id: str
    plugin: str
    ticket: int
    sl: Decimal | None = None       # None: unchanged
    tp: Decimal | None = None
    detail: dict = field(default_factory=dict)


@message("ord.close")
@dataclass(frozen=True)
class CloseIntent:
    intent_id: str
    plugin: str
    ticket: int
    volume: Decimal | None = None   # None: the whole position
    reason: str = ""                # exit | reversal | chain | panic | session | manual ...
    detail: dict = field(default_factory=dict)


@message("ord.outcome")
@dataclass(frozen=True)
class OrderOutcome:
    intent_id: str
    plugin: str
    status: str                     # filled | placed | modified | closed | rejected | unknown
    ticket: int | None = None
    symbol: str = ""
    side: str = ""
    price: Decimal | None = None
    volume: Decimal | None = None
    retcode: int | None = None
    reason: str = ""                # the broker's reason for a reject, in words
    attempts: int = 1
    alert_id: str = ""
    detail: dict = field(default_factory=dict)
    at: float = 0.0


@message("brk.query")
@dataclass(frozen=True)
class BrokerQuery:
    corr: str
    what: str                       # account | positions | orders | deals | symbol | tick
    args: dict = field(default_factory=dict)


@message("brk.reply")
@dataclass(frozen=True)
class BrokerReply:
    corr: str
    ok: bool
    data: dict = field(default_factory=dict)
    error: str = ""


@message("brk.trade")
@dataclass(frozen=True)
class TradeEvent:
    kind: str                       # opened | closed | partial | modified | sl_hit | tp_hit | pending_filled
    ticket: int
    symbol: str
    side: str
    volume: Decimal
    price: Decimal
    plugin: str = ""
    intent_id: str = ""
    sl: Decimal | None = None
    tp: Decimal | None = None
    profit: Decimal | None = None   # realised, account currency (closes)
    reason: str = ""
    at: float = 0.0


@message("brk.ticks")
@dataclass(frozen=True)
class Ticks:
    ticks: tuple                    # ((symbol, bid: Decimal, ask: Decimal, unix time), ...)


# ---------------------------------------------------------------------------------------------------------------
# Trades as the plugins see them (topic "entries"): the position manager takes over from here.

@message("trd.opened")
@dataclass(frozen=True)
class TradeOpened:
    plugin: str
    trade_id: str
    alert_id: str
    symbol: str
    side: str
    orders: tuple                   # ({"role": "A"|"B", "ticket", "volume", "price", "sl", "tp", "intent_id"}, ...)
    logic: str = ""                 # e.g. LOGIC1 / 15m / combined_v3 logic name
    detail: dict = field(default_factory=dict)


@message("trd.closed")
@dataclass(frozen=True)
class TradeClosed:
    plugin: str
    trade_id: str
    reason: str
    detail: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------------
# telegram (issue 7): area-internal. telegram/notifier -> a bot actor (telegram/bot, telegram/controller,
# telegram/notification, telegram/analytics): one message for the trader. ``priority`` is the sender's scale
# (CRITICAL | HIGH | NORMAL | LOW); CRITICAL ones go through the bot's persisted outbox, and ``key`` makes a
# resend of the same notification a no-op there. ``chat`` "" means the configured ZEPIX_TELEGRAM_CHAT_ID.

@message("tg.send")
@dataclass(frozen=True)
class TgSend:
    text: str
    priority: str = "NORMAL"
    kind: str = ""
    key: str = ""
    chat: str = ""
    silent: bool = False
    markup: dict = field(default_factory=dict)
    voice: str = ""          # a sentence to speak as a voice note too (telegram.voice; "" = text only)

# trading (issue 5): every opening order passes trading/risk first. A plugin (or the position manager) sends one
# RiskCheck per decision with all its orders; the verdict approves each order with the volume allowed (possibly
# cut to fit the loss headroom) or refuses it with the reason. Closing and SL-tightening orders always pass.
# Order items are plain dicts with decimal strings:
#   {"role": "A", "kind": "OPEN" | "CLOSE" | "PARTIAL_CLOSE" | "MODIFY_SL", "symbol": "XAUUSD", "side": "BUY",
#    "volume": "0.02", "risk": "14.74" (money lost at the SL; OPEN only), "fixed_risk": false (Order B: the SL is a
#    money amount, cutting the volume does not reduce it), "volume_min": "0.01", "volume_step": "0.01",
#    "old_sl": "..." | None, "new_sl": "..." | None}
# Verdict items: {"role": "A", "ok": true, "volume": "0.02", "reason": "", "forwarded": true}.
# A check may carry the OrderIntent of each order (``intents``, same order, reply_to the plugin): trading/risk then
# sends each approved one to broker/gateway itself, at the approved volume, before its verdict ("forwarded": true),
# which saves the order a trip back through the plugin. Without a gateway in its directory it forwards nothing and
# the plugin sends the approved intents as before.

@message("risk.check")
@dataclass(frozen=True)
class RiskCheck:
    corr: str
    plugin: str
    orders: tuple
    alert_id: str = ""
    intents: tuple = ()             # OrderIntent per order (or empty): forwarded by trading/risk when approved


@message("risk.verdict")
@dataclass(frozen=True)
class RiskVerdict:
    corr: str
    ok: bool                        # at least one order approved
    orders: tuple                   # one item per order of the check, same order
    reason: str = ""                # why nothing (or not everything) was approved
    state: str = ""                 # ACTIVE | REDUCING | HALTED at the time of the verdict


@message("risk.state")
@dataclass(frozen=True)
class RiskState:
    """trading/risk publishes this on topic "risk" at start, on every change of the figures or the state."""
    state: str                      # ACTIVE | REDUCING | HALTED
    reason: str
    balance: str
    tier: str
    daily_loss: str
    daily_profit: str
    lifetime_loss: str
    headroom: str                   # money a new order may still lose at its SL (risk.headroom)
    at: float = 0.0

# Positions (trading/positions, issue 6). Tags prefixed "pos.".

@message("pos.action")
@dataclass(frozen=True)
class PositionAction:
    """Every action of the position manager, published on topic "positions" (journal, notifications, analytics).
    kind: chain_started | chain_level_up | profit_booked | chain_completed | chain_stopped | sl_hunt_armed |
    sl_hunt | profit_sl_hunt | tp_continuation | recovery_skipped | recovery_cooldown | order_placed |
    order_rejected | close_sent | sl_moved | reenter_signal | session_started | session_alert | session_close |
    reconciled ..."""
    kind: str
    text: str
    priority: str = "INFO"
    chain_id: str = ""
    symbol: str = ""
    data: dict = field(default_factory=dict)
    at: float = 0.0


@message("pos.trend")
@dataclass(frozen=True)
class TrendUpdate:
    """A plugin tells trading/positions the trend it sees for (symbol, logic): side BUY | SELL, or "" for none.
    Re-entries need the trend to agree (facts §4.4); without updates the last entry's direction counts."""
    symbol: str
    logic: str
    side: str
    source: str = ""


@message("pos.reenter")
@dataclass(frozen=True)
class ReEntrySignal:
    """Exit continuation (facts §4.6): trading/positions asks the plugin that owned the exited trade for a fresh
    entry in ``side``; the plugin sizes it and sets its stops as for an entry alert. ``signal_id`` is unique and
    deterministic, so a plugin can drop a repeat."""
    signal_id: str
    plugin: str
    symbol: str
    side: str
    logic: str = ""
    timeframe: str = ""
    reason: str = ""
    price: Decimal | None = None    # the quote positions saw when the continuation triggered (the entry price)

# Broker area (issue 4). AlertPrice is cross-capability: a trading plugin or the router tells broker/gateway the
# price of an alert it saw, and with the paper broker's "alert" price source that symbol's quote follows it
# (ignored by the MT5 adapters). The others are between broker/pricefeed and broker/gateway, or for subscribers
# of "ticks" who want more symbols fed.

@message("brk.alert_price")
@dataclass(frozen=True)
class AlertPrice:
    symbol: str
    price: Decimal                  # taken as the bid
    at: float = 0.0                 # unix time of the alert; 0: now
    alert_id: str = ""


@message("brk.price_subscribe")
@dataclass(frozen=True)
class PriceSubscribe:
    """To broker/pricefeed: also feed these symbols on "ticks" (subscribe to the topic with EventSubscribe)."""
    symbols: tuple
    subscribe: bool = True


@message("brk.tick_poll")
@dataclass(frozen=True)
class TickPoll:
    """broker/pricefeed -> broker/gateway: the current quotes of these symbols (the gateway owns the broker)."""
    corr: str
    symbols: tuple


@message("brk.tick_batch")
@dataclass(frozen=True)
class TickBatch:
    """broker/gateway -> broker/pricefeed: ((symbol, bid, ask, unix time), ...) and whether the broker is up."""
    corr: str
    ticks: tuple
    connected: bool = True
    errors: dict = field(default_factory=dict)     # symbol -> why no quote
