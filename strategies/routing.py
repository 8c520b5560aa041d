"""Which plugin gets an alert: the routing table of ``[routing]`` and the pure rule that applies it.

V3 -> its plugin (combined_v3); V6 by chart timeframe (1/5/15/60/240 -> price_action_1m/5m/15m/1h/1h, anything
else -> ``v6_default``); legacy V4 and PineConnector commands -> legacy_v4. A ``?strategy=`` hint naming a plugin
of the table (e.g. ``legacy_v4``) overrides the format's choice when ``by_strategy`` is on.

Trend, bias and pulse updates go to the owner of the trend store they update: V3 ``trend_pulse`` -> combined_v3,
legacy ``bias``/``trend`` -> legacy_v4 (by format), V6 ``TREND_PULSE``/``STATE_CHANGE``/``MOMENTUM_CHANGE`` -> the
price_action plugin of their timeframe, or, when their timeframe is none the table lists, to every price_action
plugin (``route_all`` fans out; each plugin reports its own outcome).

``route_alert`` is the whole decision as the router and the webhook's direct hand-off both make it: the V4 <-> V5
bridge (``strategies.bridge``) first, then the table.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from config.errors import ConfigError
from strategies.bridge import bridge

FORMATS = ("v3", "legacy_v4", "pineconnector")
V6_TREND_KINDS = frozenset({"trend_pulse", "state_change", "momentum_change"})


def _path(value, key: str) -> str:
    if not isinstance(value, str) or value.count("/") != 1 or not all(value.split("/")):
        raise ConfigError(key, value, "an actor path such as \"trading/combined_v3\"")
    return value


@dataclass(frozen=True)
class RoutingTable:
    by_format: dict = field(default_factory=dict)     # "v3" | "legacy_v4" | "pineconnector" -> path
    v6: dict = field(default_factory=dict)            # timeframe ("5", "60") -> path
    v6_default: str = "trading/price_action_15m"
    by_strategy: bool = True

    @classmethod
    def from_config(cls, d: Mapping, path: str = "routing") -> "RoutingTable":
        by_format = {f: _path(d[f], f"{path}.{f}") for f in FORMATS if f in d}
        v6 = d.get("v6", {})
        if not isinstance(v6, Mapping):
            raise ConfigError(f"{path}.v6", v6, "a table of timeframe = \"trading/plugin\"")
        for tf, target in v6.items():
            if not (str(tf).isdigit() or str(tf) in ("1D", "1W", "1M")):
                raise ConfigError(f"{path}.v6.{tf}", target, "timeframe keys in minutes (\"5\", \"60\") or 1D/1W/1M")
            _path(target, f"{path}.v6.{tf}")
        by_strategy = d.get("by_strategy", True)
        if not isinstance(by_strategy, bool):
            raise ConfigError(f"{path}.by_strategy", by_strategy, "true or false")
        return cls(by_format=by_format, v6={str(k): v for k, v in v6.items()},
                   v6_default=_path(d.get("v6_default", cls.v6_default), f"{path}.v6_default"),
                   by_strategy=by_strategy)

    def targets(self) -> set[str]:
        return set(self.by_format.values()) | set(self.v6.values()) | {self.v6_default}

    def route(self, alert: Mapping) -> tuple[str | None, str]:
        """(target path, why) for a ``ParsedAlert.to_dict()``; (None, why) when no plugin is configured for it."""
        strategy = alert.get("strategy")
        if self.by_strategy and strategy:
            for target in sorted(self.targets()):
                if target.split("/", 1)[1] == strategy:
                    return target, f"strategy {strategy}"
        fmt = alert.get("format")
        if fmt == "v6":
            tf = str(alert.get("timeframe"))
            if tf in self.v6:
                return self.v6[tf], f"v6 timeframe {tf}"
            return self.v6_default, f"v6 timeframe {tf} (default)"
        if fmt in self.by_format:
            return self.by_format[fmt], f"format {fmt}"
        return None, f"no plugin is configured for format {fmt}"

    def route_all(self, alert: Mapping) -> tuple[tuple[str, ...], str]:
        """Every target of an alert: one, or for a V6 trend update of an unlisted timeframe every V6 plugin;
        ((), why) when no plugin is configured for it."""
        if alert.get("format") == "v6" and alert.get("kind") in V6_TREND_KINDS:
            strategy = alert.get("strategy")
            hinted = self.by_strategy and strategy and any(t.split("/", 1)[1] == strategy for t in self.targets())
            tf = str(alert.get("timeframe"))
            if not hinted and tf not in self.v6:
                targets = tuple(sorted(set(self.v6.values()) | {self.v6_default}))
                return targets, f"v6 {alert.get('kind')} timeframe {tf}: every price_action plugin"
        target, why = self.route(alert)
        return ((target,) if target else ()), why


def route_alert(table: RoutingTable, alert: Mapping) -> tuple[dict, tuple[str, ...], str]:
    """(the alert as the plugins read it, its targets, why) for a ``ParsedAlert.to_dict()``: the bridge applied,
    then ``route_all``; what the bridge read leads the reason ("bridge: ...; format v3")."""
    out, note = bridge(alert)
    targets, why = table.route_all(out)
    return out, targets, f"{note}; {why}" if note else why
