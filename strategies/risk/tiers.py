"""Account tiers: which balance bucket an account is in, and the lot and loss caps that bucket gives.

One tier rule (DECISIONS §13): the highest tier whose balance is <= the account balance; an account below the
lowest tier uses the lowest tier. The original system had three different rules (facts §3.2); this is the only one.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Tier:
    """One balance bucket. `balance` is both its lower bound and its name ("5000")."""

    balance: Decimal
    lot: Decimal
    daily_loss_cap: Decimal
    lifetime_loss_cap: Decimal
    per_trade_cap: Decimal

    @property
    def name(self) -> str:
        return tier_name(self.balance)


def tier_name(balance: Decimal) -> str:
    """"5000" for Decimal("5000.00"): tier names are the integral balance, as written in the config."""
    return str(balance.quantize(Decimal(1))) if balance == balance.to_integral_value() else str(balance)


# facts §3.1, "current" columns; per-trade caps are the Config defaults (the only source for them).
DEFAULT_TIERS: tuple[Tier, ...] = tuple(
    Tier(Decimal(b), Decimal(lot), Decimal(daily), Decimal(life), Decimal(per_trade))
    for b, lot, daily, life, per_trade in (
        ("5000", "0.01", "100", "500", "150"),
        ("10000", "0.05", "200", "1000", "300"),
        ("25000", "0.10", "500", "2500", "750"),
        ("50000", "0.20", "1000", "5000", "1500"),
        ("100000", "0.50", "2000", "10000", "3000"),
    )
)


def tier_for_balance(tiers: Sequence[Tier], balance: Decimal) -> Tier:
    """The highest tier <= balance; below the lowest tier (or a negative balance), the lowest tier."""
    if not tiers:
        raise ValueError("no tiers configured")
    ordered = sorted(tiers, key=lambda t: t.balance)
    chosen = ordered[0]
    for t in ordered:
        if t.balance <= balance:
            chosen = t
    return chosen


def lot_for_tier(tier: Tier, overrides: Mapping[Decimal, Decimal] | None = None) -> Decimal:
    """The tier's base lot; a manual override keyed by the tier's balance replaces it (Telegram /set_lot)."""
    if overrides and tier.balance in overrides:
        return overrides[tier.balance]
    return tier.lot


def lot_for_balance(tiers: Sequence[Tier], balance: Decimal,
                    overrides: Mapping[Decimal, Decimal] | None = None) -> Decimal:
    return lot_for_tier(tier_for_balance(tiers, balance), overrides)
