"""The broker interface every adapter implements (paper, MetaTrader5, mt5linux) and the frozen values it speaks.

Money and prices are `decimal.Decimal`; times are timezone-aware UTC `datetime`s. Every send carries an
`OrderTag` (intent id, magic number, comment of at most 31 characters) and answers with an `OrderResult`
whose `retcode_class` tells the caller what kind of outcome it is, plus the broker's own code and text.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Protocol, runtime_checkable

# MetaTrader 5 stores at most 31 characters of an order comment; the paper broker keeps the same rule so
# nothing that works on paper breaks on a live account.
MAX_COMMENT_LEN = 31


class BrokerError(Exception):
    """A broker call could not be answered (not a rejected order: those come back as `OrderResult`)."""


class BrokerUnavailable(BrokerError):
    """Not connected, terminal gone, IPC/RPC failure: the call may succeed later."""


class InvalidRequest(BrokerError, ValueError):
    """The request is malformed before it reaches any broker (e.g. comment too long, negative volume)."""


class UnknownSymbol(BrokerError, KeyError):
    """The broker does not know the symbol."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown symbol"


class Side(str, enum.Enum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> "Side":
        return Side.SELL if self is Side.BUY else Side.BUY


class PendingKind(str, enum.Enum):
    LIMIT = "LIMIT"
    STOP = "STOP"


class FillingMode(str, enum.Enum):
    FOK = "FOK"
    IOC = "IOC"
    RETURN = "RETURN"


class RetcodeClass(str, enum.Enum):
    """What kind of outcome a send had; the caller's retry policy keys on this, never on raw codes."""

    OK = "ok"
    REQUOTE = "requote"
    PRICE_CHANGED = "price_changed"
    TOO_MANY_REQUESTS = "too_many_requests"
    CONNECTION = "connection"
    TIMEOUT = "timeout"
    INVALID_FILL = "invalid_fill"
    INVALID_STOPS = "invalid_stops"
    INVALID_VOLUME = "invalid_volume"
    HARD = "hard"

    @property
    def retryable(self) -> bool:
        """Safe to send the same request again (after a fresh quote or a pause).

        TIMEOUT is deliberately not retryable: the order may have gone through, and the adapters have already
        looked for it before answering TIMEOUT.
        """
        return self in _RETRYABLE


_RETRYABLE = frozenset({RetcodeClass.REQUOTE, RetcodeClass.PRICE_CHANGED, RetcodeClass.TOO_MANY_REQUESTS,
                        RetcodeClass.CONNECTION})


class DealEntry(str, enum.Enum):
    IN = "in"
    OUT = "out"


class CloseReason(str, enum.Enum):
    SL = "sl"
    TP = "tp"
    MANUAL = "manual"
    PARTIAL = "partial"
    STOP_OUT = "stop_out"
    OTHER = "other"


def utc(dt: datetime) -> datetime:
    """Normalise to aware UTC; a naive datetime is taken as UTC (the project keeps times in UTC internally)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def flat_fields(x: object) -> dict:
    """A dataclass's fields one level deep, values as they are (``asdict`` deep-copies every value, a cost the
    gateway paid several times per order)."""
    return {f.name: getattr(x, f.name) for f in fields(x)}


def to_decimal(value: object) -> Decimal:
    """Decimal from int/str/Decimal/float; floats go through repr so 0.1 stays 0.1."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, (int, str)):
        return Decimal(value)
    raise InvalidRequest(f"not a number: {value!r}")


@dataclass(frozen=True)
class OrderTag:
    """Who asked and why: the intent id (our idempotency key), the strategy's magic number, a broker comment."""

    intent_id: str
    magic: int
    comment: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.intent_id, str) or not self.intent_id:
            raise InvalidRequest("intent_id must be a non-empty string")
        if not isinstance(self.magic, int) or isinstance(self.magic, bool) or self.magic < 0:
            raise InvalidRequest(f"magic must be a non-negative integer, got {self.magic!r}")
        if not isinstance(self.comment, str):
            raise InvalidRequest(f"comment must be a string, got {self.comment!r}")
        if len(self.comment) > MAX_COMMENT_LEN:
            raise InvalidRequest(
                f"comment {self.comment!r} is {len(self.comment)} characters; the broker keeps at most "
                f"{MAX_COMMENT_LEN} (use OrderTag.fit to truncate)")

    @classmethod
    def fit(cls, intent_id: str, magic: int, comment: str) -> "OrderTag":
        """Build a tag, truncating the comment to what the broker keeps instead of refusing it."""
        return cls(intent_id, magic, comment[:MAX_COMMENT_LEN])


@dataclass(frozen=True)
class AccountInfo:
    balance: Decimal
    equity: Decimal
    margin: Decimal
    free_margin: Decimal
    currency: str
    leverage: int
    login: int | None = None
    server: str | None = None


@dataclass(frozen=True)
class SymbolInfo:
    """What the broker says about a symbol; pip size comes from config when the broker has no such notion."""

    symbol: str
    digits: int
    point: Decimal
    pip_size: Decimal
    volume_min: Decimal
    volume_step: Decimal
    volume_max: Decimal
    tick_value: Decimal  # account currency per tick_size move per 1.0 lot
    tick_size: Decimal
    contract_size: Decimal
    filling_modes: frozenset[FillingMode] = frozenset({FillingMode.IOC})
    stops_level: int = 0  # minimum SL/TP distance from the market, in points

    @property
    def pip_value_per_lot(self) -> Decimal:
        """Account-currency value of one pip for 1.0 lot (facts §3.4: never assume $10)."""
        return self.tick_value * self.pip_size / self.tick_size

    def round_volume(self, volume: Decimal | float | int | str) -> Decimal:
        """Round DOWN to the volume step (never trade more than asked). May return less than volume_min."""
        v = to_decimal(volume)
        if v <= 0:
            return Decimal(0) * self.volume_step
        steps = (v / self.volume_step).to_integral_value(rounding=ROUND_DOWN)
        return (steps * self.volume_step).quantize(self.volume_step)

    def check_volume(self, volume: Decimal | float | int | str) -> tuple[Decimal, str | None]:
        """(rounded volume, None) when tradable, else (rounded volume, the reason it is not)."""
        raw = to_decimal(volume)
        v = self.round_volume(raw)
        if v < self.volume_min:
            return v, (f"volume {raw} rounds down to {v} with step {self.volume_step}, below the minimum "
                       f"{self.volume_min} for {self.symbol}")
        if v > self.volume_max:
            return v, f"volume {v} is above the maximum {self.volume_max} for {self.symbol}"
        return v, None

    def round_price(self, price: Decimal | float | int | str) -> Decimal:
        return to_decimal(price).quantize(self.point, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Tick:
    symbol: str
    bid: Decimal
    ask: Decimal
    time: datetime

    @property
    def spread(self) -> Decimal:
        return self.ask - self.bid


@dataclass(frozen=True)
class MarketOrder:
    symbol: str
    side: Side
    volume: Decimal
    tag: OrderTag
    sl: Decimal | None = None
    tp: Decimal | None = None
    deviation_points: int | None = None  # None: the adapter's configured default


@dataclass(frozen=True)
class PendingOrder:
    symbol: str
    side: Side
    kind: PendingKind
    volume: Decimal
    price: Decimal
    tag: OrderTag
    sl: Decimal | None = None
    tp: Decimal | None = None
    expiration: datetime | None = None  # None: good till cancelled


@dataclass(frozen=True)
class Position:
    ticket: int
    symbol: str
    side: Side
    volume: Decimal
    price_open: Decimal
    price_current: Decimal
    sl: Decimal | None
    tp: Decimal | None
    profit: Decimal
    swap: Decimal
    magic: int
    comment: str
    opened_at: datetime
    intent_id: str | None = None


@dataclass(frozen=True)
class Order:
    """A pending order still waiting at the broker."""

    ticket: int
    symbol: str
    side: Side
    kind: PendingKind
    volume: Decimal
    price: Decimal
    sl: Decimal | None
    tp: Decimal | None
    magic: int
    comment: str
    placed_at: datetime
    expiration: datetime | None = None
    intent_id: str | None = None


@dataclass(frozen=True)
class Deal:
    """One execution. `reason` is set on OUT deals (why the position was reduced or closed)."""

    ticket: int
    order: int
    position_id: int
    symbol: str
    side: Side
    entry: DealEntry
    volume: Decimal
    price: Decimal
    profit: Decimal
    commission: Decimal
    swap: Decimal
    magic: int
    comment: str
    time: datetime
    reason: CloseReason | None = None
    intent_id: str | None = None


@dataclass(frozen=True)
class OrderResult:
    intent_id: str
    retcode_class: RetcodeClass
    reason: str  # the broker's own text (or ours when nothing reached the broker)
    retcode: int | None = None  # the broker's native code (MT5 numbers; the paper broker uses the same)
    order: int | None = None  # order ticket (pending order, or the market order that made the deal)
    position: int | None = None  # position ticket opened, modified or closed
    deal: int | None = None
    volume: Decimal | None = None  # volume actually executed / placed
    price: Decimal | None = None  # execution (or pending) price
    attempts: int = 1  # sends made (requotes retried inside the adapter count here)
    reconciled: bool = False  # outcome confirmed by looking at the broker after a timeout/lost answer
    duplicate: bool = False  # the intent id was already executed; this is the earlier result

    @property
    def ok(self) -> bool:
        return self.retcode_class is RetcodeClass.OK


class _Unchanged:
    """Sentinel for modify_sltp: leave this level as it is."""

    _instance: "_Unchanged | None" = None

    def __new__(cls) -> "_Unchanged":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = _Unchanged()
LevelArg = Decimal | None | _Unchanged


@runtime_checkable
class Broker(Protocol):
    """The broker as the gateway actor sees it. Blocking calls; every adapter is single-caller."""

    name: str

    def connect(self) -> None:
        """Open the session (raises BrokerUnavailable when it cannot)."""

    def disconnect(self) -> None:
        """Close the session; safe to call twice."""

    def is_connected(self) -> bool: ...

    def account(self) -> AccountInfo: ...

    def symbol_info(self, symbol: str) -> SymbolInfo: ...

    def tick(self, symbol: str) -> Tick: ...

    def market_order(self, request: MarketOrder) -> OrderResult: ...

    def pending_order(self, request: PendingOrder) -> OrderResult: ...

    def modify_sltp(self, position: int, tag: OrderTag, sl: LevelArg = UNCHANGED,
                    tp: LevelArg = UNCHANGED) -> OrderResult:
        """Set a position's SL/TP. `None` removes a level, `UNCHANGED` keeps it."""

    def cancel_order(self, order: int, tag: OrderTag) -> OrderResult: ...

    def close_position(self, position: int, tag: OrderTag, volume: Decimal | None = None) -> OrderResult:
        """Close fully (volume None or >= position volume) or partially (volume rounded down to the step)."""

    def positions(self, symbol: str | None = None, magic: int | None = None) -> tuple[Position, ...]: ...

    def orders(self, symbol: str | None = None, magic: int | None = None) -> tuple[Order, ...]: ...

    def deals(self, since: datetime, magic: int | None = None) -> tuple[Deal, ...]:
        """Executions at or after `since` (UTC), oldest first."""
