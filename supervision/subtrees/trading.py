"""The trading subtree: trading/risk first (every plugin asks it before any order), then one actor per enabled
plugin. combined_v3 falls back to the legacy logic (actors.plugin.LegacyFallbackPlugin) after
`trading.fallback_threshold` failures within `trading.fallback_period` and tries the primary again after
`trading.fallback_cooldown`.

The builder is a list of specs; later parts of the trading capability (the position manager) append theirs.
"""
from __future__ import annotations

from supervision.childspec import ChildSpec
from strategies.plugins import PLUGINS, plugin_settings, validate
from supervision.subtrees.positions_spec import positions_spec

RISK = "actors.risk.RiskActor"
PLUGIN = "actors.plugin.PluginActor"
FALLBACK = "actors.plugin.LegacyFallbackPlugin"


def children(cfg: dict, defaults: dict) -> list[ChildSpec]:
    validate(cfg)   # a bad trading table stops start-up with the key named
    t = cfg["trading"]
    specs = [ChildSpec(name="risk", actor=RISK, **defaults)]
    for name in PLUGINS:
        s = plugin_settings(cfg, name)
        if not s.enabled:
            continue
        extra = {}
        if name == "combined_v3" and s.fallback and s.family == "v3":
            extra = dict(fallback=FALLBACK, breaker_threshold=int(t["fallback_threshold"]),
                         breaker_period=float(t["fallback_period"]), breaker_cooldown=float(t["fallback_cooldown"]))
        specs.append(ChildSpec(name=name, actor=PLUGIN, **defaults, **extra))
    if cfg.get("positions", {}).get("enabled", True):
        specs.append(positions_spec(cfg, defaults))
    return specs
