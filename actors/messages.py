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

import msgpack

# ---------------------------------------------------------------------------------------------------------------
# Codec

_EXT_MESSAGE = 1   # a nested registered message
_EXT_DECIMAL = 2   # decimal.Decimal as its exact string


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

