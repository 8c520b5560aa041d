"""`V6Profile` per price-action plugin, read from `[v6.<plugin>]` tables (defaults: DECISIONS §12).

    [v6.price_action_5m]
    orders = "AB"                 # "B" (Order B only, TP1) | "AB" (50/50, TP2 / TP1) | "A" (Order A only, TP2)
    risk_multiplier = 1.0
    adx_min = 25                  # omit or set to -1 for no ADX filter
    adx_inclusive = true          # ADX >= adx_min (false: ADX > adx_min)
    reject_weak = true            # ADX strength WEAK is refused
    confidence_min = 70
    spread_max_pips = -1          # -1: no spread filter; else the spread must be below this
    alignment = "trend_15m"       # none | trend_15m | market_state | trend_4h
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from strategies.risk.config_fields import boolean, check_keys, choice, dec, integer, mapping

ORDERS = ("A", "B", "AB")
ALIGNMENTS = ("none", "trend_15m", "market_state", "trend_4h")


@dataclass(frozen=True)
class V6Profile:
    orders: str
    risk_multiplier: Decimal
    adx_min: Decimal | None
    adx_inclusive: bool
    reject_weak: bool
    confidence_min: int
    spread_max_pips: Decimal | None
    alignment: str

    @classmethod
    def from_mapping(cls, base: "V6Profile", d: Mapping[str, Any] | None, path: str) -> "V6Profile":
        d = mapping(d if d is not None else {}, path)
        check_keys(d, path, list(cls.__dataclass_fields__))
        kw: dict[str, Any] = {}
        if "orders" in d:
            kw["orders"] = choice(d["orders"], f"{path}.orders", ORDERS)
        if "risk_multiplier" in d:
            kw["risk_multiplier"] = dec(d["risk_multiplier"], f"{path}.risk_multiplier", minimum=0, maximum=5,
                                        exclusive_min=True)
        for n in ("adx_min", "spread_max_pips"):
            if n in d:
                v = dec(d[n], f"{path}.{n}", minimum=-1)
                kw[n] = None if v < 0 else v
        for n in ("adx_inclusive", "reject_weak"):
            if n in d:
                kw[n] = boolean(d[n], f"{path}.{n}")
        if "confidence_min" in d:
            kw["confidence_min"] = integer(d["confidence_min"], f"{path}.confidence_min", minimum=0, maximum=100)
        if "alignment" in d:
            kw["alignment"] = choice(d["alignment"], f"{path}.alignment", ALIGNMENTS)
        return replace(base, **kw)


DEFAULT_PROFILES: dict[str, V6Profile] = {
    "price_action_1m": V6Profile("B", Decimal("0.5"), Decimal(20), False, False, 80, Decimal(2), "none"),
    "price_action_5m": V6Profile("AB", Decimal("1.0"), Decimal(25), True, True, 70, None, "trend_15m"),
    "price_action_15m": V6Profile("A", Decimal("1.0"), Decimal(22), True, False, 65, None, "market_state"),
    "price_action_1h": V6Profile("A", Decimal("0.6"), None, True, False, 60, None, "trend_4h"),
}


def profile_for(plugin: str, v6_section: Mapping[str, Any] | None) -> V6Profile:
    """The profile of one price-action plugin: its default overlaid with `[v6.<plugin>]`."""
    if plugin not in DEFAULT_PROFILES:
        raise KeyError(f"{plugin} is not a V6 plugin (known: {', '.join(DEFAULT_PROFILES)})")
    section = mapping(v6_section or {}, "v6")
    return V6Profile.from_mapping(DEFAULT_PROFILES[plugin], section.get(plugin), f"v6.{plugin}")
