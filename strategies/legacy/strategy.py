"""`LegacyV4`: one legacy (or bridged V3) alert in, decisions out. Pure.

bias / trend   update the trend store (5m discarded, MANUAL slots locked, equal trends are duplicates); a trend
               against an open trade closes it (reversal exit)
entry          an opposite open side is closed first (reversal exit); tf 5 -> LOGIC1, 15 -> LOGIC2, 60 -> LOGIC3;
               the logic must be on and aligned (15m+1H for LOGIC1/2, 1D+1H for LOGIC3) in the entry's direction;
               legacy dual orders: BOTH orders get the full lot = tier lot x logic multiplier (facts §2.5), with
               the smart adjustment that cuts the lot so 2 x the SL loss fits the loss headroom
exit           closes the sides the alert ends; reversal closes the side it turns against

V3 alerts (while combined_v3 runs on this fallback) go through the bridge: their MTF pillars feed the trend store
as AUTO updates, then entry_v3 is handled as a legacy entry, exit_v3 as an exit, squeeze as a notification.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from strategies.alerts.model import AlertFormat, AlertKind, ParsedAlert
from strategies.decisions import Close, Decision, Enter, Facts, Notify, Record, Skip
from strategies.legacy import trends as T
from strategies.legacy.settings import LegacySettings
from strategies.orders import order_a_pips, placed, plan_a, plan_b
from strategies.risk.pips import floor_to_step
from strategies.risk.settings import RiskSettings
from strategies.risk.side import Side
from strategies.risk.tiers import lot_for_tier

# V3 pillar name -> legacy store timeframe
PILLAR_TF = {"15m": "15", "1H": "60", "4H": "240", "1D": "1D"}


class LegacyV4:
    family = "legacy"

    def __init__(self, settings: LegacySettings | None = None, risk: RiskSettings | None = None):
        self.settings = settings or LegacySettings()
        self.risk = risk or RiskSettings()

    def decide(self, alert: ParsedAlert, state: Mapping[str, Any], facts: Facts, now: datetime) -> list[Decision]:
        if alert.format is AlertFormat.V3:
            return self._bridge(alert, state, facts, now)
        kind = alert.kind
        if kind in (AlertKind.BIAS, AlertKind.TREND):
            return self._trend(alert, state, facts, now)
        if kind is AlertKind.ENTRY:
            return self._entry(alert, state, facts, bridged=False)
        if kind is AlertKind.EXIT:
            return self._close_sides(alert, tuple(Side(d.value) for d in alert.closes), facts, "exit")
        if kind is AlertKind.REVERSAL:
            if alert.direction is None:
                return [Skip("reversal without a direction")]
            return self._close_sides(alert, (Side(alert.direction.value).opposite,), facts, "reversal")
        return [Skip(f"{kind.value} alerts are not traded by the legacy strategy")]

    # -- V3 bridge -----------------------------------------------------------------------------------------------
    def _bridge(self, alert: ParsedAlert, state: Mapping[str, Any], facts: Facts, now: datetime) -> list[Decision]:
        out: list[Decision] = []
        view = dict(state)
        for pillar, sign in alert.mtf.items():
            tf = PILLAR_TF[pillar]
            if tf not in self.settings.trend_timeframes or sign == 0:
                continue
            d = T.auto_update(view, alert.symbol, tf, T.from_sign(sign), now)
            if isinstance(d, Record):
                view[d.key] = d.value
                out.append(d)
        if alert.kind is AlertKind.ENTRY:
            out.extend(self._entry(alert, view, facts, bridged=True))
        elif alert.kind is AlertKind.EXIT:
            out.extend(self._close_sides(alert, tuple(Side(d.value) for d in alert.closes), facts, "exit"))
        elif alert.kind is AlertKind.SQUEEZE:
            out.append(Notify("squeeze", "MEDIUM", f"Volatility squeeze on {alert.symbol} {alert.timeframe}"))
        elif alert.kind is not AlertKind.TREND_PULSE:
            out.append(Skip(f"{alert.kind.value} V3 alerts have no legacy equivalent"))
        return out

    # -- trend store ---------------------------------------------------------------------------------------------
    def _trend(self, alert: ParsedAlert, state: Mapping[str, Any], facts: Facts, now: datetime) -> list[Decision]:
        tf = alert.timeframe or ""
        if tf not in self.settings.trend_timeframes:
            return [Skip(f"{alert.kind.value} updates on timeframe {tf} are discarded (kept: "
                         f"{', '.join(self.settings.trend_timeframes)})")]
        if alert.market_trend is None:
            return [Skip("trend alert without a trend")]
        trend = T.from_sign(alert.market_trend)
        out: list[Decision] = [T.auto_update(state, alert.symbol, tf, trend, now)]
        if self.settings.reversal_exit and alert.kind is AlertKind.TREND:
            against = Side.SELL if alert.market_trend > 0 else Side.BUY
            if against in facts.open_sides:
                out.append(Close(alert.symbol, (against,), "trend_reversal"))
        return out

    # -- exits ---------------------------------------------------------------------------------------------------
    @staticmethod
    def _close_sides(alert: ParsedAlert, sides: tuple[Side, ...], facts: Facts, reason: str) -> list[Decision]:
        held = tuple(s for s in sides if s in facts.open_sides)
        if not sides:
            return [Skip(f"{alert.signal_type} names no side to close")]
        if not held:
            return [Skip(f"{alert.signal_type}: no open {'/'.join(sides)} position on {alert.symbol} to close")]
        return [Close(alert.symbol, held, reason)]

    # -- entries -------------------------------------------------------------------------------------------------
    def _entry(self, alert: ParsedAlert, state: Mapping[str, Any], facts: Facts, bridged: bool) -> list[Decision]:
        s = self.settings
        if alert.direction is None:
            return [Skip(f"{alert.signal_type} has no direction")]
        side = Side(alert.direction.value)
        out: list[Decision] = []
        if s.reversal_exit and side.opposite in facts.open_sides:
            out.append(Close(alert.symbol, (side.opposite,), "reversal"))
        tf = alert.timeframe or ""
        if bridged:
            tf = s.v3_tf_map.get(tf, tf)
        logic = s.entry_logics.get(tf)
        if logic is None:
            return out + [Skip(f"entries on timeframe {tf} are not traded (entry timeframes: "
                               f"{', '.join(s.entry_logics)})")]
        if not s.logics_enabled.get(logic, True):
            return out + [Skip(f"{logic} is switched off")]
        direction, desc = T.aligned(state, alert.symbol, s.alignment[logic])
        if direction is None:
            return out + [Skip(f"{logic} not aligned on {alert.symbol}: {desc}")]
        wanted = T.BULLISH if side is Side.BUY else T.BEARISH
        if direction != wanted:
            return out + [Skip(f"{side} against the {direction} trend ({desc})")]
        entry = facts.price if facts.price is not None else alert.price
        if entry is None:
            return out + [Skip("no price: the alert has none and no broker quote is known")]
        spec = facts.spec
        tier = self.risk.tier_for(facts.balance)
        base = lot_for_tier(tier, self.risk.lot_overrides)
        logic_mult = self.risk.logic_lot_multiplier(logic)
        lot = max(spec.volume_min, base * logic_mult)
        a_pips, a_src, _ = order_a_pips(self.risk, spec, tier, side, entry, logic, None, use_alert_sl=False)
        notes: list[str] = []
        n_orders = 2 if s.dual_orders else 1
        if s.smart_adjustment and facts.headroom is not None:
            loss = n_orders * lot * a_pips * spec.pip_value_per_lot
            if loss > facts.headroom:
                cut = floor_to_step(facts.headroom / (a_pips * spec.pip_value_per_lot * n_orders), spec.volume_step)
                if cut < spec.volume_min or facts.headroom < 1:
                    return out + [Skip(f"smart adjustment: {facts.headroom} of loss headroom cannot carry "
                                       f"{n_orders} x {a_pips:.1f} pips even at {spec.volume_min} lots")]
                notes.append(f"smart adjustment: lot cut from {lot} to {cut} so {n_orders} SL losses fit "
                             f"{facts.headroom}")
                lot = cut
        results: list = list(notes)
        if s.dual_orders:
            results.append(plan_a("A", self.risk, spec, side, entry, lot, a_pips, a_src, None, "rr",
                                  f"{logic}_TP_TRAIL"))
            results.append(plan_b(self.risk, spec, side, entry, lot, logic, None, self.risk.stops.rr_ratio,
                                  f"{logic}_PROFIT_TRAIL", tier=tier))
        else:
            results.append(plan_a("single", self.risk, spec, side, entry, lot, a_pips, a_src, None, "rr",
                                  f"{logic}_FRESH"))
        plans, notes_t = placed(results)
        if not plans:
            return out + [Skip("; ".join(notes_t) or "no order could be sized")]
        detail = {"logic": logic, "alignment": desc, "tier": tier.name, "base_lot": str(base),
                  "logic_multiplier": str(logic_mult), "lot": str(lot), "bridged_from_v3": bridged,
                  "signal_type": alert.signal_type, "timeframe": alert.timeframe}
        out.append(Enter(alert.symbol, alert.broker_symbol, side, logic, plans, entry, notes_t, detail))
        return out
