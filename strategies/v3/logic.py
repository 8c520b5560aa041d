"""The V3 rules as small pure functions: routing matrix, direction-aware consensus, position multiplier.

DECISIONS §7: `consensus_score` is a bullish score 0-9; a sell's strength is 9 - score, and the minimum-consensus
gate applies to that strength, so genuine sells trade. DECISIONS §8: the multiplier is recomputed from the
strength with the Pine step function unless `trust_alert_multiplier`. DECISIONS §10: the routing matrix.
"""
from __future__ import annotations

from decimal import Decimal

from strategies.risk.side import Side
from strategies.v3.settings import V3Settings

MAX_SCORE = 9


def route(settings: V3Settings, signal_type: str, tf: str | None) -> tuple[str, str]:
    """(logic, why): signal overrides first, then the higher-timeframe overrides, then the timeframe table."""
    if signal_type in settings.signal_overrides:
        return settings.signal_overrides[signal_type], "signal_override"
    if tf is not None and tf in settings.higher_tf_overrides.get(signal_type, ()):
        return settings.higher_tf_logic, "higher_tf_override"
    if tf is not None and tf in settings.tf_routes:
        return settings.tf_routes[tf], "timeframe_routing"
    return settings.default_logic, "default"


def strength(score: int, side: Side) -> int:
    """The consensus in the trade's direction: the score for a buy, 9 - score for a sell."""
    return score if side is Side.BUY else MAX_SCORE - score


def passes_gate(settings: V3Settings, score: int, side: Side) -> bool:
    return strength(score, side) >= settings.min_consensus


def position_multiplier(settings: V3Settings, signal_type: str, score: int, side: Side,
                        alert_multiplier: Decimal | None) -> tuple[Decimal, str]:
    """(multiplier, source)."""
    if signal_type in settings.screener_signals:
        return settings.screener_multiplier, "screener"
    if settings.trust_alert_multiplier and alert_multiplier is not None:
        return alert_multiplier, "alert"
    s = strength(score, side)
    for threshold, mult in settings.multiplier_steps:
        if s >= threshold:
            return mult, f"strength {s}"
    return settings.multiplier_floor, f"strength {s}"


def is_aggressive(settings: V3Settings, signal_type: str, score: int, side: Side) -> bool:
    """An entry that first closes the opposite side (facts §2.7); the score clause is direction-aware here, so it
    can trigger for sells too (the original's raw-score test only ever fired for buys)."""
    return signal_type in settings.aggressive_signals or strength(score, side) >= settings.aggressive_strength
