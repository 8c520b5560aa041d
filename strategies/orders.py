"""Order plans shared by the strategy families: Order A (alert SL or the SL system, TP2 or RR), Order B (a
fixed-dollar SL at the symbol's real pip value, TP1 or RR) and single orders, sized and rounded to the symbol.

facts §2.5, DECISIONS §11 and §15: Order A takes the alert's SL and TP2 when they sit on the right sides of the
entry, else the SL system's distance and TP = SL distance x rr; Order B ignores the alert's SL and loses exactly
the configured dollar amount at its lot; its TP is the alert's TP1, else its own SL distance x ``order_b_rr``.
"""
from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from strategies.decisions import OrderPlan
from strategies.risk.pips import SymbolSpec
from strategies.risk.settings import RiskSettings
from strategies.risk.side import Side
from strategies.risk.sizing import NotPlaced, Sized, size_order
from strategies.risk.stops import order_a_sl_pips, order_b_sl_pips, place_stops
from strategies.risk.tiers import Tier


def sl_system_name(settings: RiskSettings) -> str:
    return settings.stops.active_system if settings.stops.enabled else "risk_by_tier"


def _winning(side: Side, entry: Decimal, level: Decimal | None) -> bool:
    return level is not None and (level - entry) * side.sign > 0


def _losing(side: Side, entry: Decimal, level: Decimal | None) -> bool:
    return level is not None and (entry - level) * side.sign > 0


def alert_tp_level(spec: SymbolSpec, side: Side, entry: Decimal, level: Decimal | None) -> Decimal | None:
    """The alert's TP on the symbol's tick grid, rounded toward the entry (never further than the alert asked),
    or None when it is not on the winning side."""
    if not _winning(side, entry, level):
        return None
    rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
    tp = (level / spec.tick_size).to_integral_value(rounding) * spec.tick_size  # type: ignore[operator]
    return tp if _winning(side, entry, tp) else None


def order_a_pips(risk: RiskSettings, spec: SymbolSpec, tier: Tier, side: Side, entry: Decimal, logic: str | None,
                 alert_sl: Decimal | None, use_alert_sl: bool = True) -> tuple[Decimal, str, str]:
    """(sl pips, source, note) for Order A / single orders."""
    if use_alert_sl and _losing(side, entry, alert_sl):
        return (entry - alert_sl) * side.sign / spec.pip_size, "alert", ""  # type: ignore[operator]
    note = ""
    if use_alert_sl and alert_sl is not None:
        note = f"alert SL {alert_sl} is not on the losing side of {entry}; {sl_system_name(risk)} used"
    return order_a_sl_pips(risk.stops, spec, tier, logic), sl_system_name(risk), note


def plan_a(role: str, risk: RiskSettings, spec: SymbolSpec, side: Side, entry: Decimal, lots: Decimal,
           sl_pips: Decimal, sl_source: str, alert_tp: Decimal | None, tp_name: str, comment: str,
           headroom: Decimal | None = None) -> OrderPlan | str:
    """An Order A (or single order) plan, or the reason it is not placed."""
    sized = size_order(spec, lots, sl_pips=sl_pips, max_loss=headroom)
    if isinstance(sized, NotPlaced):
        return f"Order {role} not placed: {sized.reason}"
    tp = alert_tp_level(spec, side, entry, alert_tp)
    levels = place_stops(spec, side, entry, sl_pips, sized.lots, rr_ratio=risk.stops.rr_ratio, tp_price=tp)
    return OrderPlan(role=role, side=side, volume=sized.lots, sl=levels.sl, tp=levels.tp, sl_source=sl_source,
                     tp_source=tp_name if tp is not None else "rr", sl_pips=levels.sl_pips, risk=levels.risk,
                     comment=comment)


def plan_b(risk: RiskSettings, spec: SymbolSpec, side: Side, entry: Decimal, lots: Decimal, logic: str | None,
           alert_tp: Decimal | None, rr: Decimal, comment: str, role: str = "B",
           headroom: Decimal | None = None, tier: Tier | None = None) -> OrderPlan | str:
    """Order B: the SL loses ``risk.order_b.amount(logic)`` at the order's (rounded) lot. With
    ``risk.order_b.enabled = false`` it takes Order A's SL rule instead: the SL system's pips for ``tier``."""
    if not risk.order_b.enabled and tier is not None:
        pips = order_a_sl_pips(risk.stops, spec, tier, logic)
        plan = plan_a(role, risk, spec, side, entry, lots, pips, sl_system_name(risk), alert_tp, "tp1", comment,
                      headroom)
        if isinstance(plan, OrderPlan) and plan.tp_source == "rr":
            # Order B's TP without TP1 still follows its own RR
            levels = place_stops(spec, side, entry, pips, plan.volume, rr_ratio=rr)
            plan = replace(plan, tp=levels.tp)
        return plan
    amount = risk.order_b.amount(logic)
    sized = size_order(spec, lots, fixed_risk=amount, max_loss=headroom)
    if isinstance(sized, NotPlaced):
        return f"Order {role} not placed: {sized.reason}"
    pips = order_b_sl_pips(risk.order_b, spec, sized.lots, logic)
    tp = alert_tp_level(spec, side, entry, alert_tp)
    levels = place_stops(spec, side, entry, pips, sized.lots, rr_ratio=rr, tp_price=tp)
    return OrderPlan(role=role, side=side, volume=sized.lots, sl=levels.sl, tp=levels.tp, sl_source="fixed_dollar",
                     tp_source="tp1" if tp is not None else "rr", sl_pips=levels.sl_pips, risk=levels.risk,
                     fixed_risk=True, comment=comment)


def split_dual(total: Decimal) -> Decimal:
    return total / 2


def placed(results: list[OrderPlan | str]) -> tuple[tuple[OrderPlan, ...], tuple[str, ...]]:
    plans = tuple(r for r in results if isinstance(r, OrderPlan))
    notes = tuple(r for r in results if isinstance(r, str))
    return plans, notes


__all__ = ["order_a_pips", "plan_a", "plan_b", "placed", "split_dual", "sl_system_name", "Sized"]
