"""`CombinedV3`: one V3 alert in, decisions out. Pure: the state, the account facts and the time are passed in.

entry_v3   route -> logic switch -> consensus gate -> multiplier -> aggressive reversal (close the opposite
           side first) -> dual orders A/B (facts §2.4-2.5, DECISIONS §11)
exit_v3    close the sides the alert ends (DECISIONS §9: Bullish_Exit closes BUYs)
squeeze_v3 a notification only
trend_pulse_v3 and any alert with `mtf_trends`: the four pillars go to the trend store (key `trend:<SYMBOL>`)
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from strategies.alerts.model import AlertKind, ParsedAlert
from strategies.decisions import Close, Decision, Enter, Facts, Notify, Record, Skip
from strategies.orders import order_a_pips, placed, plan_a, plan_b
from strategies.risk.settings import RiskSettings
from strategies.risk.side import Side
from strategies.risk.sizing import combined_lot
from strategies.risk.tiers import lot_for_tier
from strategies.v3 import logic
from strategies.v3.settings import V3Settings


def trend_key(symbol: str) -> str:
    return f"trend:{symbol}"


class CombinedV3:
    family = "v3"

    def __init__(self, settings: V3Settings | None = None, risk: RiskSettings | None = None):
        self.settings = settings or V3Settings()
        self.risk = risk or RiskSettings()

    def decide(self, alert: ParsedAlert, state: Mapping[str, Any], facts: Facts, now: datetime) -> list[Decision]:
        out: list[Decision] = []
        if alert.mtf:
            out.append(Record(trend_key(alert.symbol), {**alert.mtf, "updated": now.isoformat(), "mode": "AUTO"},
                              note="MTF pillars"))
        if alert.kind is AlertKind.ENTRY:
            out.extend(self._entry(alert, facts))
        elif alert.kind is AlertKind.EXIT:
            out.extend(self._exit(alert, facts))
        elif alert.kind is AlertKind.SQUEEZE:
            out.append(Notify("squeeze", "MEDIUM", f"Volatility squeeze on {alert.symbol} {alert.timeframe}: "
                                                   f"a breakout may follow"))
        elif alert.kind is AlertKind.TREND_PULSE:
            if not alert.mtf:
                out.append(Skip("trend pulse without trends to store"))
        else:
            out.append(Skip(f"{alert.kind.value} alerts are not traded by the V3 strategy"))
        return out

    def _exit(self, alert: ParsedAlert, facts: Facts) -> list[Decision]:
        sides = tuple(Side(d.value) for d in alert.closes)
        if not sides:
            return [Skip(f"{alert.signal_type} names no side to close")]
        held = tuple(s for s in sides if s in facts.open_sides)
        if not held:
            return [Skip(f"{alert.signal_type}: no open {'/'.join(sides)} position on {alert.symbol} to close")]
        return [Close(alert.symbol, held, "exit")]

    def _entry(self, alert: ParsedAlert, facts: Facts) -> list[Decision]:
        s = self.settings
        if alert.direction is None:
            return [Skip(f"{alert.signal_type} has no direction")]
        side = Side(alert.direction.value)
        route, why = logic.route(s, alert.signal_type, alert.timeframe)
        if not s.logics_enabled.get(route, True):
            return [Skip(f"{route} is switched off")]
        if alert.consensus_score is None:
            return [Skip("no consensus_score in the alert")]
        score = alert.consensus_score
        strength = logic.strength(score, side)
        if strength < s.min_consensus:
            return [Skip(f"consensus {score} gives a {side} strength of {strength}, below the minimum "
                         f"{s.min_consensus}")]
        mult, mult_src = logic.position_multiplier(s, alert.signal_type, score, side, alert.position_multiplier)
        entry = facts.price if facts.price is not None else alert.price
        if entry is None:
            return [Skip("no price: the alert has none and no broker quote is known")]
        out: list[Decision] = []
        if logic.is_aggressive(s, alert.signal_type, score, side) and side.opposite in facts.open_sides:
            out.append(Close(alert.symbol, (side.opposite,), "aggressive_reversal"))
        tier = self.risk.tier_for(facts.balance)
        base = lot_for_tier(tier, self.risk.lot_overrides)
        logic_mult = self.risk.logic_lot_multiplier(route)
        total = combined_lot(base, mult, logic_mult)
        spec = facts.spec
        a_pips, a_src, a_note = order_a_pips(self.risk, spec, tier, side, entry, route, alert.sl)
        results: list = [a_note] if a_note else []
        if s.dual_orders:
            half = total / 2
            results.append(plan_a("A", self.risk, spec, side, entry, half, a_pips, a_src, alert.tp2, "tp2",
                                  f"{route}_V3_A", facts.headroom))
            results.append(plan_b(self.risk, spec, side, entry, half, route, alert.tp1, s.order_b_rr,
                                  f"{route}_V3_B", headroom=facts.headroom, tier=tier))
        else:
            results.append(plan_a("single", self.risk, spec, side, entry, total, a_pips, a_src, alert.tp2, "tp2",
                                  f"{route}_V3", facts.headroom))
        plans, notes = placed(results)
        if not plans:
            return out + [Skip("; ".join(notes) or "no order could be sized")]
        detail = {"logic": route, "routing_reason": why, "consensus_score": score, "strength": strength,
                  "position_multiplier": str(mult), "multiplier_source": mult_src, "logic_multiplier": str(logic_mult),
                  "tier": tier.name, "base_lot": str(base), "total_lot": str(total),
                  "signal_type": alert.signal_type, "timeframe": alert.timeframe}
        out.append(Enter(alert.symbol, alert.broker_symbol, side, route, plans, entry, notes, detail))
        return out
