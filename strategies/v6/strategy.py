"""`PriceAction`: the V6 strategy, one class configured by a `V6Profile` (DECISIONS §12). Pure.

TREND_PULSE, STATE_CHANGE and MOMENTUM_CHANGE update the market store only:
  market:<SYM>:<tf>    {"bull", "bear", "state", "direction"} of the chart the alert came from
  tftrend:<SYM>:<tf>   {"direction"} per pulse timeframe, from the pulse's `changes` (15:BULL→BEAR)
  momentum:<SYM>:<tf>  {"adx", "strength", "momentum"}
Entries pass the ADX, confidence, spread and alignment filters of the profile, then become Order B only, A + B
(50/50) or Order A only, at tier lot x the profile's risk multiplier. Exits close the sides they end.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from strategies.alerts.model import AlertKind, ParsedAlert
from strategies.decisions import Close, Decision, Enter, Facts, Record, Skip
from strategies.orders import order_a_pips, placed, plan_a, plan_b
from strategies.risk.settings import RiskSettings
from strategies.risk.side import Side
from strategies.risk.sizing import combined_lot
from strategies.risk.tiers import lot_for_tier
from strategies.v6.settings import V6Profile

_LABEL_SIGN = {"BULL": 1, "BEAR": -1, "SIDE": 0}
_ALIGN_TF = {"trend_15m": ("15", "15m"), "trend_4h": ("240", "4H")}


def market_key(symbol: str, tf: str) -> str:
    return f"market:{symbol}:{tf}"


def tftrend_key(symbol: str, tf: str) -> str:
    return f"tftrend:{symbol}:{tf}"


def momentum_key(symbol: str, tf: str) -> str:
    return f"momentum:{symbol}:{tf}"


def trend_direction(state: Mapping[str, Any], symbol: str, tf: str) -> int | None:
    """+1 / -1 / 0 for the timeframe, from the pulse changes or that chart's own state; None when unknown."""
    for k in (tftrend_key(symbol, tf), market_key(symbol, tf)):
        v = state.get(k)
        if v is not None and v.get("direction") is not None:
            return int(v["direction"])
    return None


class PriceAction:
    family = "v6"

    def __init__(self, plugin: str, profile: V6Profile, risk: RiskSettings | None = None):
        self.plugin = plugin
        self.profile = profile
        self.risk = risk or RiskSettings()

    def decide(self, alert: ParsedAlert, state: Mapping[str, Any], facts: Facts, now: datetime) -> list[Decision]:
        kind = alert.kind
        tf = alert.timeframe or ""
        sym = alert.symbol
        at = now.isoformat()
        if kind is AlertKind.TREND_PULSE:
            out: list[Decision] = [Record(market_key(sym, tf), {
                "bull": alert.extras.get("bull_count"), "bear": alert.extras.get("bear_count"),
                "state": alert.extras.get("market_state"), "direction": alert.market_trend, "updated": at})]
            for ch in alert.extras.get("trend_changes") or ():
                out.append(Record(tftrend_key(sym, str(ch["tf"])),
                                  {"direction": _LABEL_SIGN.get(str(ch["to"]).upper(), 0), "label": ch["to"],
                                   "updated": at}))
            return out
        if kind is AlertKind.STATE_CHANGE:
            prev = dict(state.get(market_key(sym, tf)) or {})
            prev.update({"state": alert.extras.get("market_state"), "direction": alert.market_trend, "updated": at,
                         "bull": alert.extras.get("bull_count", prev.get("bull")),
                         "bear": alert.extras.get("bear_count", prev.get("bear"))})
            return [Record(market_key(sym, tf), prev)]
        if kind is AlertKind.MOMENTUM_CHANGE:
            return [Record(momentum_key(sym, tf), {"adx": None if alert.adx is None else str(alert.adx),
                                                   "strength": alert.extras.get("adx_strength"),
                                                   "momentum": alert.extras.get("momentum"), "updated": at})]
        if kind is AlertKind.EXIT:
            sides = tuple(Side(d.value) for d in alert.closes)
            held = tuple(s for s in sides if s in facts.open_sides)
            if not held:
                return [Skip(f"{alert.signal_type}: no open {'/'.join(sides) or 'position'} on {sym} to close")]
            return [Close(sym, held, "exit")]
        if kind is AlertKind.ENTRY:
            return self._entry(alert, state, facts)
        return [Skip(f"{alert.signal_type} is not traded by {self.plugin}")]

    def filters(self, alert: ParsedAlert, state: Mapping[str, Any], facts: Facts, side: Side) -> str | None:
        """The first filter the entry fails, in words, or None."""
        p = self.profile
        if p.adx_min is not None:
            if alert.adx is None:
                return f"no ADX in the alert; {self.plugin} needs ADX {'>=' if p.adx_inclusive else '>'} {p.adx_min}"
            ok = alert.adx >= p.adx_min if p.adx_inclusive else alert.adx > p.adx_min
            if not ok:
                return f"ADX {alert.adx} is not {'>=' if p.adx_inclusive else '>'} {p.adx_min}"
        if p.reject_weak and str(alert.extras.get("adx_strength") or "").upper() == "WEAK":
            return "ADX strength is WEAK"
        if alert.confidence_score is None or alert.confidence_score < p.confidence_min:
            return f"confidence {alert.confidence_score} is below {p.confidence_min}"
        if p.spread_max_pips is not None and facts.spread_pips is not None and facts.spread_pips >= p.spread_max_pips:
            return f"spread {facts.spread_pips:.1f} pips is not below {p.spread_max_pips}"
        sign = side.sign
        if p.alignment in _ALIGN_TF:
            tf, name = _ALIGN_TF[p.alignment]
            d = trend_direction(state, alert.symbol, tf)
            if d is None:
                return f"no {name} trend known yet for {alert.symbol} (it comes from TREND_PULSE alerts)"
            if d != sign:
                return f"{side} against the {name} trend ({'BULL' if d > 0 else 'BEAR' if d < 0 else 'SIDE'})"
        elif p.alignment == "market_state":
            st = str((state.get(market_key(alert.symbol, alert.timeframe or "")) or {}).get("state") or "")
            against = "BEARISH" if side is Side.BUY else "BULLISH"
            if against in st:
                return f"{side} against the market state {st}"
        return None

    def _entry(self, alert: ParsedAlert, state: Mapping[str, Any], facts: Facts) -> list[Decision]:
        if alert.direction is None:
            return [Skip(f"{alert.signal_type} has no direction")]
        side = Side(alert.direction.value)
        failed = self.filters(alert, state, facts, side)
        if failed:
            return [Skip(failed)]
        entry = facts.price if facts.price is not None else alert.price
        if entry is None:
            return [Skip("no price: the alert has none and no broker quote is known")]
        p = self.profile
        spec = facts.spec
        tier = self.risk.tier_for(facts.balance)
        base = lot_for_tier(tier, self.risk.lot_overrides)
        total = combined_lot(base, p.risk_multiplier)
        tag = self.plugin.upper()
        results: list = []
        if "A" in p.orders:
            lots = total / 2 if p.orders == "AB" else total
            a_pips, a_src, note = order_a_pips(self.risk, spec, tier, side, entry, None, alert.sl)
            if note:
                results.append(note)
            results.append(plan_a("A", self.risk, spec, side, entry, lots, a_pips, a_src, alert.tp2, "tp2",
                                  f"{tag}_A", facts.headroom))
        if "B" in p.orders:
            lots = total / 2 if p.orders == "AB" else total
            results.append(plan_b(self.risk, spec, side, entry, lots, None, alert.tp1, self.risk.stops.rr_ratio,
                                  f"{tag}_B", headroom=facts.headroom, tier=tier))
        plans, notes = placed(results)
        if not plans:
            return [Skip("; ".join(notes) or "no order could be sized")]
        detail = {"logic": self.plugin, "orders": p.orders, "risk_multiplier": str(p.risk_multiplier),
                  "tier": tier.name, "base_lot": str(base), "total_lot": str(total), "adx": str(alert.adx),
                  "confidence_score": alert.confidence_score, "signal_type": alert.signal_type,
                  "timeframe": alert.timeframe}
        return [Enter(alert.symbol, alert.broker_symbol, side, self.plugin, plans, entry, notes, detail)]
