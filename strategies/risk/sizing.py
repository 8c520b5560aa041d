"""Lot sizing: tier lot x multipliers, cut to the money the account may still lose, rounded down to the
symbol's volume step; a dual pair is split 50/50 and a half below the minimum volume is not placed.

V3 pipeline (facts §2.4, DECISIONS §11): tier lot x position multiplier x logic multiplier, split 50/50.
Example: tier 10000 -> 0.05 x 0.8 x 1.25 = 0.05 -> 0.025 + 0.025 -> 0.02 + 0.02 on a 0.01 step.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from strategies.risk.pips import SymbolSpec, VolumeRejected, floor_to_step, round_volume


@dataclass(frozen=True)
class Sized:
    """A volume that may be sent; `notes` say what reduced it (shown to the trader)."""

    lots: Decimal
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotPlaced:
    """An order that is not sent, and why (recorded on the alert)."""

    reason: str


@dataclass(frozen=True)
class DualSize:
    total: Decimal  # the unrounded product before the split
    order_a: Sized | NotPlaced
    order_b: Sized | NotPlaced

    @property
    def any_placed(self) -> bool:
        return isinstance(self.order_a, Sized) or isinstance(self.order_b, Sized)


def combined_lot(base_lot: Decimal, *multipliers: Decimal) -> Decimal:
    """base lot x every multiplier (position, logic, V6 risk); unrounded."""
    lots = base_lot
    for m in multipliers:
        if m < 0:
            raise ValueError(f"multiplier must be >= 0, got {m}")
        lots *= m
    return lots


def size_order(spec: SymbolSpec, lots: Decimal, *, sl_pips: Decimal | None = None,
               fixed_risk: Decimal | None = None, max_loss: Decimal | None = None) -> Sized | NotPlaced:
    """Make `lots` sendable and affordable.

    `max_loss` is the money the account may still lose on this order (see state.headroom). With `sl_pips` the
    loss grows with the lot, so the lot is cut to fit (the original "smart adjustment"); with a `fixed_risk`
    (Order B's dollar SL) the loss does not depend on the lot, so the order is either affordable or not placed.
    """
    notes: list[str] = []
    if max_loss is not None:
        if max_loss <= 0:
            return NotPlaced(f"no loss headroom left ({max_loss})")
        if fixed_risk is not None and fixed_risk > max_loss:
            return NotPlaced(f"SL risk {fixed_risk} is above the {max_loss} the account may still lose")
        if sl_pips is not None and sl_pips > 0:
            affordable = floor_to_step(max_loss / (sl_pips * spec.pip_value_per_lot), spec.volume_step)
            if affordable < lots:
                notes.append(f"cut from {lots} to {affordable} lots to keep the SL loss within {max_loss}")
                lots = affordable
    if lots > spec.volume_max:
        notes.append(f"capped at the maximum volume {spec.volume_max}")
    volume = round_volume(spec, lots)
    if isinstance(volume, VolumeRejected):
        return NotPlaced(volume.reason)
    return Sized(volume, tuple(notes))


def size_dual(spec: SymbolSpec, total_lots: Decimal, *, split: bool = True,
              order_a_sl_pips: Decimal | None = None, order_b_fixed_risk: Decimal | None = None,
              max_loss_per_order: Decimal | None = None) -> DualSize:
    """Order A + Order B. `split=True` (V3, V6 5m) halves the total; the legacy dual orders gave each order the
    full lot (facts §2.5), kept as `split=False`. Each half is rounded down on its own, so a half below the
    minimum volume is not placed while the other may still be."""
    each = total_lots / 2 if split else total_lots
    a = size_order(spec, each, sl_pips=order_a_sl_pips, max_loss=max_loss_per_order)
    b = size_order(spec, each, fixed_risk=order_b_fixed_risk, max_loss=max_loss_per_order)
    return DualSize(total_lots, _label(a, "Order A"), _label(b, "Order B"))


def _label(result: Sized | NotPlaced, name: str) -> Sized | NotPlaced:
    return NotPlaced(f"{name} not placed: {result.reason}") if isinstance(result, NotPlaced) else result
