"""What position management asks the actor to do: plain frozen dataclasses, carried out (after the risk check)
by the position-manager actor. Distances are in pips so the actor prices them against the live quote with
`strategies.risk.stops.place_stops`, which keeps every SL on the losing side."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from strategies.risk.side import Side


@dataclass(frozen=True)
class PlaceOrder:
    """A market order. `client_id` is deterministic so a replay or a resumed actor does not place it twice."""

    client_id: str
    chain_id: str
    symbol: str
    side: Side
    lots: Decimal
    sl_pips: Decimal
    tp_pips: Decimal | None
    comment: str
    level: int
    recovers: str | None = None  # for a profit-chain recovery: the lost order it stands for (chains.attach_recovery)


@dataclass(frozen=True)
class CloseOrder:
    order_id: str
    reason: str
    lots: Decimal | None = None  # None closes the whole position; a value is a partial close


@dataclass(frozen=True)
class ModifySL:
    order_id: str
    sl: Decimal
    reason: str


@dataclass(frozen=True)
class Notify:
    kind: str  # stable machine name, e.g. "chain_level_up"
    text: str
    priority: str = "MEDIUM"  # CRITICAL | HIGH | MEDIUM | LOW | INFO (notification routing, facts §5.1)


@dataclass(frozen=True)
class ReEnter:
    """A synthetic entry signal for the plugin that owns `logic`/`timeframe` (exit continuation injects an
    entry alert rather than an order: the plugin sizes it and sets its stops as for any entry)."""

    symbol: str
    side: Side
    logic: str | None
    timeframe: str | None
    reason: str
    chain_id: str = ""  # the exited trade: tells the actor which plugin to ask


@dataclass(frozen=True)
class RecoveryOutcome:
    """An SL-hunt recovery ended without a recovery trade (blocked, window expired, limits). A profit chain
    waiting on it resolves with `chains.on_recovery_result(..., recovered=False)`."""

    chain_id: str
    order_id: str
    recovered: bool
    reason: str


Action = PlaceOrder | CloseOrder | ModifySL | Notify | ReEnter | RecoveryOutcome
