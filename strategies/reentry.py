"""Sizing an exit-continuation re-entry (facts §4.6) for the plugin that owned the exited trade.

trading/positions sends `ReEntrySignal`; the owning plugin sizes the fresh entry as its strategy sizes an entry
alert: the balance's tier lot times the logic's lot multiplier, Order A's SL system (no alert SL), the configured
RR for the TP, within the loss headroom. One order ("single"). Pure: the actor passes the price, balance, symbol
facts and whether the plugin may trade; the answer is an `Enter` or a `Skip` with the reason.
"""
from __future__ import annotations

from decimal import Decimal

from strategies.decisions import Enter, Facts, Skip
from strategies.orders import order_a_pips, placed, plan_a
from strategies.risk.settings import RiskSettings
from strategies.risk.side import Side
from strategies.risk.tiers import lot_for_tier


def plan_reentry(risk: RiskSettings, facts: Facts, *, symbol: str, broker_symbol: str, side: str, logic: str,
                 price: Decimal | None, reason: str = "") -> Enter | Skip:
    try:
        s = Side.parse(side)
    except ValueError:
        return Skip(f"re-entry with side {side!r}: not BUY or SELL")
    if price is None or price <= 0:
        return Skip(f"re-entry on {symbol}: no price known")
    spec = facts.spec
    tier = risk.tier_for(facts.balance)
    base = lot_for_tier(tier, risk.lot_overrides)
    mult = risk.logic_lot_multiplier(logic)
    lot = max(spec.volume_min, base * mult)
    pips, src, _ = order_a_pips(risk, spec, tier, s, price, logic or None, None, use_alert_sl=False)
    plans, notes = placed([plan_a("single", risk, spec, s, price, lot, pips, src, None, "rr",
                                  f"{logic or 'RE'}_EXIT_REENTRY", facts.headroom)])
    if not plans:
        return Skip("; ".join(notes) or "the re-entry could not be sized")
    detail = {"logic": logic, "tier": tier.name, "base_lot": str(base), "logic_multiplier": str(mult),
              "reentry": True, "reason": reason}
    return Enter(symbol, broker_symbol, s, logic, plans, price, notes, detail)
