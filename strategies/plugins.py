"""Which plugins exist, their per-plugin settings (`[plugins.<name>]`), and the strategy each one runs.

    [plugins.combined_v3]
    enabled = true        # false: the plugin actor is not started
    shadow = false        # true: decide and record every alert, place nothing
    version = "1.0.0"     # semantic version recorded with every signal and trade
    family = "v3"         # v3 | legacy | v6 (default by name: combined_v3 -> v3, legacy_v4 -> legacy, price_action_* -> v6)
    fallback = true       # combined_v3 only: run the legacy_v4 logic at the same path after repeated failures

Pure: building a strategy reads only the configuration dict.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from config.errors import ConfigError
from strategies.legacy.settings import LegacySettings
from strategies.legacy.strategy import LegacyV4
from strategies.risk.config_fields import boolean, check_keys, choice, mapping
from strategies.risk.settings import RiskSettings
from strategies.v3.settings import V3Settings
from strategies.v3.strategy import CombinedV3
from strategies.v6.settings import DEFAULT_PROFILES, profile_for
from strategies.v6.strategy import PriceAction

PLUGINS = ("combined_v3", "price_action_1m", "price_action_5m", "price_action_15m", "price_action_1h", "legacy_v4")
FAMILIES = ("v3", "legacy", "v6")
_SEMVER = re.compile(r"\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?\Z")


def default_family(name: str) -> str:
    if name == "combined_v3":
        return "v3"
    if name == "legacy_v4":
        return "legacy"
    return "v6"


@dataclass(frozen=True)
class PluginSettings:
    name: str
    enabled: bool = True
    shadow: bool = False
    version: str = "1.0.0"
    family: str = "v3"
    fallback: bool = True


def plugin_settings(cfg: Mapping[str, Any], name: str) -> PluginSettings:
    path = f"plugins.{name}"
    table = mapping((mapping(cfg.get("plugins") or {}, "plugins")).get(name) or {}, path)
    check_keys(table, path, ("enabled", "shadow", "version", "family", "fallback"))
    version = table.get("version", "1.0.0")
    if not isinstance(version, str) or not _SEMVER.match(version):
        raise ConfigError(f"{path}.version", version, 'a semantic version such as "1.2.0"')
    family = choice(table.get("family", default_family(name)), f"{path}.family", FAMILIES)
    if family == "v6" and name not in DEFAULT_PROFILES:
        raise ConfigError(f"{path}.family", family, "v6 only for the price_action_* plugins")
    return PluginSettings(name=name, enabled=boolean(table.get("enabled", True), f"{path}.enabled"),
                          shadow=boolean(table.get("shadow", False), f"{path}.shadow"), version=version,
                          family=family, fallback=boolean(table.get("fallback", True), f"{path}.fallback"))


def build_strategy(cfg: Mapping[str, Any], name: str, family: str):
    """The strategy object for one plugin; ConfigError for bad settings."""
    risk = RiskSettings.from_mapping(cfg.get("risk") or {})
    if family == "v3":
        return CombinedV3(V3Settings.from_mapping(cfg.get("v3") or {}), risk)
    if family == "legacy":
        return LegacyV4(LegacySettings.from_mapping(cfg.get("legacy") or {}), risk)
    if family == "v6":
        return PriceAction(name, profile_for(name, cfg.get("v6") or {}), risk)
    raise ConfigError(f"plugins.{name}.family", family, " | ".join(FAMILIES))


def validate(cfg: Mapping[str, Any]) -> None:
    """Check every trading table at start-up so a typo stops the system with the key named."""
    plugins = mapping(cfg.get("plugins") or {}, "plugins")
    for key in plugins:
        if key not in PLUGINS:
            raise ConfigError(f"plugins.{key}", plugins[key], "one of the plugins " + ", ".join(PLUGINS))
    v6 = mapping(cfg.get("v6") or {}, "v6")
    for key in v6:
        if key not in DEFAULT_PROFILES:
            raise ConfigError(f"v6.{key}", v6[key], "one of " + ", ".join(DEFAULT_PROFILES))
    for name in PLUGINS:
        s = plugin_settings(cfg, name)
        build_strategy(cfg, name, s.family)
