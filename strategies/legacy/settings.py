"""`LegacySettings`, read from the `[legacy]` table (defaults from facts §1.4 and §2.5-2.6).

    [legacy]
    entry_logics = { "5" = "LOGIC1", "15" = "LOGIC2", "60" = "LOGIC3" }   # entry timeframe -> logic
    alignment = { LOGIC1 = ["15", "60"], LOGIC2 = ["15", "60"], LOGIC3 = ["1D", "60"] }
    trend_timeframes = ["15", "60", "1D"]     # trend/bias updates on other timeframes (5m) are discarded
    logics_enabled = { LOGIC1 = true, LOGIC2 = true, LOGIC3 = true }
    reversal_exit = true                      # opposite entries, reversal and trend alerts close open trades
    dual_orders = true                        # false: one order "<logic>_FRESH"
    smart_adjustment = true                   # cut both lots so 2 x the SL loss fits the loss headroom
    v3_tf_map = { "240" = "60" }              # bridge: V3 timeframes the legacy logic knows under another name
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from config.errors import ConfigError
from strategies.risk.config_fields import boolean, check_keys, mapping, sequence

LOGICS = ("LOGIC1", "LOGIC2", "LOGIC3")


@dataclass(frozen=True)
class LegacySettings:
    entry_logics: dict[str, str] = field(default_factory=lambda: {"5": "LOGIC1", "15": "LOGIC2", "60": "LOGIC3"})
    alignment: dict[str, tuple[str, str]] = field(default_factory=lambda: {
        "LOGIC1": ("15", "60"), "LOGIC2": ("15", "60"), "LOGIC3": ("1D", "60")})
    trend_timeframes: tuple[str, ...] = ("15", "60", "1D")
    logics_enabled: dict[str, bool] = field(default_factory=lambda: {k: True for k in LOGICS})
    reversal_exit: bool = True
    dual_orders: bool = True
    smart_adjustment: bool = True
    v3_tf_map: dict[str, str] = field(default_factory=lambda: {"240": "60"})

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None, path: str = "legacy") -> "LegacySettings":
        d = mapping(d if d is not None else {}, path)
        check_keys(d, path, list(cls.__dataclass_fields__))
        base = cls()
        kw: dict[str, Any] = {}
        for b in ("reversal_exit", "dual_orders", "smart_adjustment"):
            if b in d:
                kw[b] = boolean(d[b], f"{path}.{b}")
        if "entry_logics" in d:
            kw["entry_logics"] = {str(tf): _logic(v, f"{path}.entry_logics.{tf}")
                                  for tf, v in mapping(d["entry_logics"], f"{path}.entry_logics").items()}
        if "alignment" in d:
            al = {}
            for lg, tfs in mapping(d["alignment"], f"{path}.alignment").items():
                tfs = sequence(tfs, f"{path}.alignment.{lg}")
                if len(tfs) != 2:
                    raise ConfigError(f"{path}.alignment.{lg}", tfs, "two timeframes, e.g. [\"15\", \"60\"]")
                al[_logic(lg, f"{path}.alignment.{lg}")] = (str(tfs[0]), str(tfs[1]))
            kw["alignment"] = {**base.alignment, **al}
        if "trend_timeframes" in d:
            kw["trend_timeframes"] = tuple(str(t) for t in sequence(d["trend_timeframes"], f"{path}.trend_timeframes"))
        if "logics_enabled" in d:
            en = dict(base.logics_enabled)
            for lg, v in mapping(d["logics_enabled"], f"{path}.logics_enabled").items():
                en[_logic(lg, f"{path}.logics_enabled.{lg}")] = boolean(v, f"{path}.logics_enabled.{lg}")
            kw["logics_enabled"] = en
        if "v3_tf_map" in d:
            kw["v3_tf_map"] = {str(a): str(b) for a, b in mapping(d["v3_tf_map"], f"{path}.v3_tf_map").items()}
        return cls(**{**base.__dict__, **kw})


def _logic(value: Any, key: str) -> str:
    if value not in LOGICS:
        raise ConfigError(key, value, "one of " + ", ".join(LOGICS))
    return value
