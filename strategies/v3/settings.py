"""`V3Settings`: every V3 number with its default from facts §2 and DECISIONS §7-11, read from the `[v3]` table.

    [v3]
    min_consensus = 5                    # direction-adjusted strength needed to enter (DECISIONS §7)
    trust_alert_multiplier = false       # true: use the alert's position_multiplier as sent (DECISIONS §8)
    multiplier_steps = [[9, 1.0], [7, 0.8], [5, 0.6], [3, 0.4]]   # strength >= n -> multiplier
    multiplier_floor = 0.2
    screener_multiplier = 1.0
    screener_signals = ["Screener_Full_Bullish", "Screener_Full_Bearish"]
    default_logic = "LOGIC2"
    tf_routes = { "5" = "LOGIC1", "15" = "LOGIC2", "60" = "LOGIC3", "240" = "LOGIC3" }
    signal_overrides = { Screener_Full_Bullish = "LOGIC3", Screener_Full_Bearish = "LOGIC3" }
    higher_tf_overrides = { Golden_Pocket_Flip = ["60", "240"] }     # signal on these tfs -> LOGIC3
    higher_tf_logic = "LOGIC3"
    aggressive_signals = ["Liquidity_Trap_Reversal", "Golden_Pocket_Flip", "Screener_Full_Bullish",
                          "Screener_Full_Bearish"]
    aggressive_strength = 7              # or any entry this strong reverses aggressively
    order_b_rr = 1.0                     # Order B TP without a TP1 in the alert: 1:1
    logics_enabled = { LOGIC1 = true, LOGIC2 = true, LOGIC3 = true }
    dual_orders = true                   # false: one order with Order A's stops and the whole lot
Logic lot multipliers (1.25 / 1.0 / 0.625) live in `[risk.logics]`, shared with the legacy strategy.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from config.errors import ConfigError
from strategies.risk.config_fields import boolean, check_keys, dec, integer, mapping, sequence

LOGICS = ("LOGIC1", "LOGIC2", "LOGIC3")


@dataclass(frozen=True)
class V3Settings:
    min_consensus: int = 5
    trust_alert_multiplier: bool = False
    multiplier_steps: tuple[tuple[int, Decimal], ...] = (
        (9, Decimal("1.0")), (7, Decimal("0.8")), (5, Decimal("0.6")), (3, Decimal("0.4")))
    multiplier_floor: Decimal = Decimal("0.2")
    screener_multiplier: Decimal = Decimal("1.0")
    screener_signals: tuple[str, ...] = ("Screener_Full_Bullish", "Screener_Full_Bearish")
    default_logic: str = "LOGIC2"
    tf_routes: dict[str, str] = field(default_factory=lambda: {"5": "LOGIC1", "15": "LOGIC2", "60": "LOGIC3",
                                                               "240": "LOGIC3"})
    signal_overrides: dict[str, str] = field(default_factory=lambda: {
        "Screener_Full_Bullish": "LOGIC3", "Screener_Full_Bearish": "LOGIC3"})
    higher_tf_overrides: dict[str, tuple[str, ...]] = field(default_factory=lambda: {
        "Golden_Pocket_Flip": ("60", "240")})
    higher_tf_logic: str = "LOGIC3"
    aggressive_signals: tuple[str, ...] = ("Liquidity_Trap_Reversal", "Golden_Pocket_Flip",
                                           "Screener_Full_Bullish", "Screener_Full_Bearish")
    aggressive_strength: int = 7
    order_b_rr: Decimal = Decimal("1.0")
    logics_enabled: dict[str, bool] = field(default_factory=lambda: {k: True for k in LOGICS})
    dual_orders: bool = True

    def to_mapping(self) -> dict[str, Any]:
        """The `[v3]` table these settings come from (numbers as strings, so nothing is rounded)."""
        return {
            "min_consensus": self.min_consensus, "trust_alert_multiplier": self.trust_alert_multiplier,
            "multiplier_steps": [[n, str(m)] for n, m in self.multiplier_steps],
            "multiplier_floor": str(self.multiplier_floor), "screener_multiplier": str(self.screener_multiplier),
            "screener_signals": list(self.screener_signals), "default_logic": self.default_logic,
            "tf_routes": dict(self.tf_routes), "signal_overrides": dict(self.signal_overrides),
            "higher_tf_overrides": {k: list(v) for k, v in self.higher_tf_overrides.items()},
            "higher_tf_logic": self.higher_tf_logic, "aggressive_signals": list(self.aggressive_signals),
            "aggressive_strength": self.aggressive_strength, "order_b_rr": str(self.order_b_rr),
            "logics_enabled": dict(self.logics_enabled), "dual_orders": self.dual_orders,
        }

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None, path: str = "v3") -> "V3Settings":
        d = mapping(d if d is not None else {}, path)
        base = cls()
        check_keys(d, path, [f for f in cls.__dataclass_fields__])
        kw: dict[str, Any] = {}
        k = lambda n: f"{path}.{n}"  # noqa: E731
        if "min_consensus" in d:
            kw["min_consensus"] = integer(d["min_consensus"], k("min_consensus"), minimum=0, maximum=9)
        if "aggressive_strength" in d:
            kw["aggressive_strength"] = integer(d["aggressive_strength"], k("aggressive_strength"), minimum=0,
                                                maximum=10)
        for b in ("trust_alert_multiplier", "dual_orders"):
            if b in d:
                kw[b] = boolean(d[b], k(b))
        if "multiplier_steps" in d:
            steps = []
            for i, step in enumerate(sequence(d["multiplier_steps"], k("multiplier_steps"))):
                step = sequence(step, f"{k('multiplier_steps')}[{i}]")
                if len(step) != 2:
                    raise ConfigError(f"{k('multiplier_steps')}[{i}]", step, "[strength, multiplier]")
                steps.append((integer(step[0], f"{k('multiplier_steps')}[{i}][0]", minimum=0, maximum=9),
                              dec(step[1], f"{k('multiplier_steps')}[{i}][1]", minimum=0, maximum=2)))
            kw["multiplier_steps"] = tuple(sorted(steps, key=lambda s: -s[0]))
        for n in ("multiplier_floor", "screener_multiplier"):
            if n in d:
                kw[n] = dec(d[n], k(n), minimum=0, maximum=2)
        if "order_b_rr" in d:
            kw["order_b_rr"] = dec(d["order_b_rr"], k("order_b_rr"), minimum=0, exclusive_min=True)
        for n in ("screener_signals", "aggressive_signals"):
            if n in d:
                kw[n] = tuple(str(s) for s in sequence(d[n], k(n)))
        for n in ("default_logic", "higher_tf_logic"):
            if n in d:
                kw[n] = _logic(d[n], k(n))
        if "tf_routes" in d:
            kw["tf_routes"] = {str(tf): _logic(v, f"{k('tf_routes')}.{tf}")
                               for tf, v in mapping(d["tf_routes"], k("tf_routes")).items()}
        if "signal_overrides" in d:
            kw["signal_overrides"] = {s: _logic(v, f"{k('signal_overrides')}.{s}")
                                      for s, v in mapping(d["signal_overrides"], k("signal_overrides")).items()}
        if "higher_tf_overrides" in d:
            kw["higher_tf_overrides"] = {
                s: tuple(str(t) for t in sequence(v, f"{k('higher_tf_overrides')}.{s}"))
                for s, v in mapping(d["higher_tf_overrides"], k("higher_tf_overrides")).items()}
        if "logics_enabled" in d:
            en = dict(base.logics_enabled)
            for name, v in mapping(d["logics_enabled"], k("logics_enabled")).items():
                en[_logic(name, f"{k('logics_enabled')}.{name}")] = boolean(v, f"{k('logics_enabled')}.{name}")
            kw["logics_enabled"] = en
        return cls(**{**base.__dict__, **kw})


def _logic(value: Any, key: str) -> str:
    if value not in LOGICS:
        raise ConfigError(key, value, "one of " + ", ".join(LOGICS))
    return value
