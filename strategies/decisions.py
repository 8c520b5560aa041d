"""What a strategy decides for one alert: the values every strategy family returns and the plugin actor executes.

A strategy is a pure function of (alert, its own stored state, facts about the account and symbol, now). It
returns a list of decisions, in the order they are to be carried out (an aggressive reversal is a ``Close``
followed by an ``Enter``). The actor turns them into messages and database rows; a backtest can apply them to a
simulated broker instead. Nothing here does I/O.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from strategies.risk.pips import SymbolSpec
from strategies.risk.side import Side


@dataclass(frozen=True)
class OrderPlan:
    """One order of an entry. ``risk`` is the money lost if the SL is hit at ``volume``; ``fixed_risk`` says the
    SL was sized in money (Order B), so cutting the volume would not reduce that risk."""

    role: str                   # A | B | single
    side: Side
    volume: Decimal
    sl: Decimal
    tp: Decimal | None
    sl_source: str              # alert | sl-1 | sl-2 | fixed_dollar | risk_by_tier
    tp_source: str              # tp1 | tp2 | rr
    sl_pips: Decimal
    risk: Decimal
    fixed_risk: bool = False
    comment: str = ""


@dataclass(frozen=True)
class Enter:
    symbol: str
    broker_symbol: str
    side: Side
    logic: str
    orders: tuple[OrderPlan, ...]
    price: Decimal              # the reference entry price the stops were computed from
    notes: tuple[str, ...] = ()  # what reduced or replaced something (shown to the trader, recorded)
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Close:
    """Close every open position of this plugin on ``symbol`` whose side is in ``sides``."""

    symbol: str
    sides: tuple[Side, ...]
    reason: str                 # exit | reversal | trend_reversal | aggressive_reversal


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class Record:
    """A change of the strategy's stored state (trend store, market state): ``key`` -> ``value`` (None deletes)."""

    key: str
    value: dict | None
    note: str = ""


@dataclass(frozen=True)
class Notify:
    kind: str
    priority: str
    text: str


Decision = Enter | Close | Skip | Record | Notify


@dataclass(frozen=True)
class Facts:
    """What the strategy may know about the world, gathered by the actor before it decides."""

    balance: Decimal
    spec: SymbolSpec
    open_sides: frozenset[Side] = frozenset()     # sides this plugin holds open on the alert's symbol
    price: Decimal | None = None                  # broker quote when known; else the alert's price is used
    spread_pips: Decimal | None = None
    headroom: Decimal | None = None               # money the account may still lose (risk.headroom); None: unknown


def outcome_of(decisions: list[Decision]) -> tuple[str, str]:
    """(status, reason) of an alert for the journal before any order went out: an entry is "decided", a Skip
    without an entry is "skipped", pure state updates are "recorded"."""
    if any(isinstance(d, Enter) for d in decisions):
        return "decided", ""
    skips = [d.reason for d in decisions if isinstance(d, Skip)]
    if any(isinstance(d, Close) for d in decisions):
        return "decided", "; ".join(skips)
    if skips:
        return "skipped", "; ".join(skips)
    return "recorded", ""


def state_view(state: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return state or {}


def iso(now: datetime) -> str:
    return now.isoformat()
