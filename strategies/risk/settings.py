"""`RiskSettings`: every risk number with its default from the facts and DECISIONS, read and validated from the
`[risk]` configuration table.

Configuration shape (TOML; every key optional, tables merge over the defaults key by key):

    [risk]
    daily_reset = "03:35"            # wall-clock time of the daily counter reset ...
    timezone = "Asia/Kolkata"        # ... in this zone
    lot_overrides = { "5000" = 0.04 } # manual lot per tier (0.01 to 10)
    tier = "auto"                    # "auto": the balance picks the tier (DECISIONS §13); "10000": pinned
    logic_multipliers_enabled = true # false: every logic trades with lot and SL multiplier 1 (/toggle_timeframe)
    [risk.tiers.5000]                # one table per tier; the key is the tier's balance
    lot = 0.01
    daily_loss_cap = 100
    lifetime_loss_cap = 500
    per_trade_cap = 150
    [risk.logics.LOGIC1]
    lot_multiplier = 1.25
    sl_multiplier = 1.0
    [risk.symbols.EURUSD]
    volatility = "LOW"               # pip_size, pip_value_per_lot, min_sl_distance, contract_size, digits,
                                     # volume_min, volume_step, volume_max
    [risk.stops]
    enabled = true
    active_system = "sl-1"
    rr_ratio = 1.5
    symbol_reductions = { XAUUSD = 20 }   # percent, 5 to 50
    [risk.stops.systems.sl-1]
    EURUSD = { 5000 = 150, 10000 = 150, 25000 = 50, 50000 = 40, 100000 = 40 }
    [risk.stops.risk_by_tier.5000]
    LOW = 75
    [risk.order_b]
    enabled = true                   # false: Order B takes Order A's SL rule (SL system pips), not a dollar SL
    system = "SL-2.1"                # or "SL-1.1"
    fixed_sl = 10
    per_logic = { LOGIC1 = 20, LOGIC2 = 40, LOGIC3 = 50 }
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from decimal import Decimal
from typing import Any

from config.errors import ConfigError
from strategies.risk.config_fields import (boolean, check_keys, choice, clock, dec, deep_merge, integer, mapping,
                                           symbol_name, timezone_name)
from strategies.risk.pips import DEFAULT_SYMBOLS, SymbolRow
from strategies.risk.stops import DEFAULT_LOGIC_SL_MULTIPLIERS, OrderBStopSettings, StopSettings
from strategies.risk.tiers import DEFAULT_TIERS, Tier, tier_for_balance, tier_name

VOLATILITIES = ("LOW", "MEDIUM", "HIGH")
ORDER_B_SYSTEMS = ("SL-2.1", "SL-1.1")

# facts §2.2 / DECISIONS §10.
DEFAULT_LOGIC_LOT_MULTIPLIERS: dict[str, Decimal] = {
    "LOGIC1": Decimal("1.25"), "LOGIC2": Decimal("1.0"), "LOGIC3": Decimal("0.625")}


@dataclass(frozen=True)
class RiskSettings:
    """Risk configuration. Mappings inside are read-only after construction."""

    tiers: tuple[Tier, ...] = DEFAULT_TIERS
    # Empty by default: the 0.04 override of the original 5000 tier was a user's runtime choice, not a default.
    lot_overrides: dict[Decimal, Decimal] = field(default_factory=dict)
    daily_reset: time = time(3, 35)
    timezone: str = "Asia/Kolkata"
    symbols: dict[str, SymbolRow] = field(default_factory=lambda: dict(DEFAULT_SYMBOLS))
    logic_lot_multipliers: dict[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_LOGIC_LOT_MULTIPLIERS))
    stops: StopSettings = field(default_factory=StopSettings)
    order_b: OrderBStopSettings = field(default_factory=OrderBStopSettings)
    pinned_tier: Decimal | None = None       # `tier`: None = "auto"
    logic_multipliers_enabled: bool = True

    def tier_for(self, balance: Decimal) -> Tier:
        """The tier in force: the pinned one (``risk.tier``), else the balance rule of DECISIONS §13."""
        if self.pinned_tier is not None:
            for t in self.tiers:
                if t.balance == self.pinned_tier:
                    return t
        return tier_for_balance(self.tiers, balance)

    def logic_lot_multiplier(self, logic: str | None) -> Decimal:
        """The logic's lot multiplier; 1 for no logic or with ``logic_multipliers_enabled = false``."""
        if not logic or not self.logic_multipliers_enabled:
            return Decimal(1)
        return self.logic_lot_multipliers.get(logic, Decimal(1))

    def to_mapping(self) -> dict[str, Any]:
        """The configuration table these settings come from (numbers as strings, so nothing is rounded)."""
        logics = {name: {"lot_multiplier": str(m)} for name, m in self.logic_lot_multipliers.items()}
        for name, m in self.stops.logic_sl_multipliers.items():
            logics.setdefault(name, {})["sl_multiplier"] = str(m)
        return {
            "daily_reset": f"{self.daily_reset:%H:%M}",
            "timezone": self.timezone,
            "tier": "auto" if self.pinned_tier is None else tier_name(self.pinned_tier),
            "logic_multipliers_enabled": self.logic_multipliers_enabled,
            "lot_overrides": {tier_name(k): str(v) for k, v in self.lot_overrides.items()},
            "tiers": {t.name: {"lot": str(t.lot), "daily_loss_cap": str(t.daily_loss_cap),
                               "lifetime_loss_cap": str(t.lifetime_loss_cap), "per_trade_cap": str(t.per_trade_cap)}
                      for t in self.tiers},
            "logics": logics,
            "symbols": {s: {"volatility": r.volatility, "pip_size": str(r.pip_size),
                            "pip_value_per_lot": str(r.pip_value_per_lot), "min_sl_distance": str(r.min_sl_distance),
                            "contract_size": str(r.contract_size), "digits": r.digits,
                            "volume_min": str(r.volume_min), "volume_step": str(r.volume_step),
                            "volume_max": str(r.volume_max)} for s, r in self.symbols.items()},
            "stops": {
                "enabled": self.stops.enabled, "active_system": self.stops.active_system,
                "rr_ratio": str(self.stops.rr_ratio),
                "symbol_reductions": {s: str(v) for s, v in self.stops.symbol_reductions.items()},
                "systems": {name: {sym: {tier_name(t): str(p) for t, p in row.items()} for sym, row in table.items()}
                            for name, table in self.stops.systems.items()},
                "risk_by_tier": {tier_name(t): {v: str(m) for v, m in row.items()}
                                 for t, row in self.stops.risk_by_tier.items()},
            },
            "order_b": {"enabled": self.order_b.enabled, "system": self.order_b.system, "fixed_sl": str(self.order_b.fixed_sl),
                        "per_logic": {k: str(v) for k, v in self.order_b.per_logic.items()}},
        }

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None, path: str = "risk") -> "RiskSettings":
        """Defaults overlaid with `d`, validated; ConfigError names the first bad key."""
        raw = deep_merge(cls().to_mapping(), mapping(d if d is not None else {}, path))
        check_keys(raw, path, ("daily_reset", "timezone", "tier", "logic_multipliers_enabled", "lot_overrides",
                               "tiers", "logics", "symbols", "stops", "order_b"))
        tiers = _tiers(mapping(raw["tiers"], f"{path}.tiers"), f"{path}.tiers")
        tier_keys = {t.balance for t in tiers}
        overrides: dict[Decimal, Decimal] = {}
        for k, v in mapping(raw["lot_overrides"], f"{path}.lot_overrides").items():
            key = f"{path}.lot_overrides.{k}"
            balance = _tier_key(k, key, tier_keys)
            overrides[balance] = dec(v, key, minimum="0.01", maximum=10)
        lot_mult, sl_mult = _logics(mapping(raw["logics"], f"{path}.logics"), f"{path}.logics")
        symbols = _symbols(mapping(raw["symbols"], f"{path}.symbols"), f"{path}.symbols")
        multipliers_on = boolean(raw["logic_multipliers_enabled"], f"{path}.logic_multipliers_enabled")
        stops = _stops(mapping(raw["stops"], f"{path}.stops"), f"{path}.stops", tier_keys, symbols, sl_mult)
        stops = replace(stops, logic_multipliers_enabled=multipliers_on)
        pinned = None
        if raw["tier"] != "auto":
            try:
                pinned = _tier_key(raw["tier"], f"{path}.tier", tier_keys)
            except ConfigError:
                raise ConfigError(f"{path}.tier", raw["tier"], '"auto" or one of the tiers '
                                  + ", ".join(tier_name(t) for t in sorted(tier_keys))) from None
        return cls(pinned_tier=pinned, logic_multipliers_enabled=multipliers_on,tiers=tiers, lot_overrides=overrides,
                   daily_reset=clock(raw["daily_reset"], f"{path}.daily_reset"),
                   timezone=timezone_name(raw["timezone"], f"{path}.timezone"),
                   symbols=symbols, logic_lot_multipliers=lot_mult, stops=stops,
                   order_b=_order_b(mapping(raw["order_b"], f"{path}.order_b"), f"{path}.order_b"))


def _tier_key(raw: Any, key: str, known: set[Decimal]) -> Decimal:
    balance = dec(raw, key, minimum=0)
    if balance not in known:
        raise ConfigError(key, raw, "one of the tiers " + ", ".join(tier_name(t) for t in sorted(known)))
    return balance


def _tiers(table: Mapping[str, Any], path: str) -> tuple[Tier, ...]:
    if not table:
        raise ConfigError(path, dict(table), "at least one tier")
    tiers: list[Tier] = []
    for name, row in table.items():
        key = f"{path}.{name}"
        balance = dec(name, key, minimum=0)
        row = mapping(row, key)
        fields = ("lot", "daily_loss_cap", "lifetime_loss_cap", "per_trade_cap")
        check_keys(row, key, fields)
        for f in fields:
            if f not in row:
                raise ConfigError(f"{key}.{f}", None, "a number > 0 (every tier needs all four values)")
        vals = [dec(row[f], f"{key}.{f}", minimum=0, exclusive_min=True) for f in fields]
        if any(t.balance == balance for t in tiers):
            raise ConfigError(key, name, "each tier balance once")
        tiers.append(Tier(balance, *vals))
    return tuple(sorted(tiers, key=lambda t: t.balance))


def _logics(table: Mapping[str, Any], path: str) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    lot: dict[str, Decimal] = {}
    sl: dict[str, Decimal] = {}
    for name, row in table.items():
        key = f"{path}.{name}"
        row = mapping(row, key)
        check_keys(row, key, ("lot_multiplier", "sl_multiplier"))
        lot[name] = dec(row.get("lot_multiplier", "1"), f"{key}.lot_multiplier", minimum=0, exclusive_min=True)
        sl[name] = dec(row.get("sl_multiplier", DEFAULT_LOGIC_SL_MULTIPLIERS.get(name, Decimal(1))),
                       f"{key}.sl_multiplier", minimum=0, exclusive_min=True)
    return lot, sl


def _symbols(table: Mapping[str, Any], path: str) -> dict[str, SymbolRow]:
    out: dict[str, SymbolRow] = {}
    fields = ("volatility", "pip_size", "pip_value_per_lot", "min_sl_distance", "contract_size", "digits",
              "volume_min", "volume_step", "volume_max")
    for name, row in table.items():
        key = f"{path}.{name}"
        sym = symbol_name(name, key)
        row = mapping(row, key)
        check_keys(row, key, fields)
        for f in fields:
            if f not in row:
                raise ConfigError(f"{key}.{f}", None, "a value (every symbol row needs " + ", ".join(fields) + ")")
        positive = {f: dec(row[f], f"{key}.{f}", minimum=0, exclusive_min=True)
                    for f in ("pip_size", "pip_value_per_lot", "contract_size", "volume_min", "volume_step",
                              "volume_max")}
        if positive["volume_min"] > positive["volume_max"]:
            raise ConfigError(f"{key}.volume_min", row["volume_min"], f"<= volume_max {positive['volume_max']}")
        out[sym] = SymbolRow(
            volatility=choice(row["volatility"], f"{key}.volatility", VOLATILITIES),
            min_sl_distance=dec(row["min_sl_distance"], f"{key}.min_sl_distance", minimum=0),
            digits=integer(row["digits"], f"{key}.digits", minimum=0, maximum=10), **positive)
    return out


def _stops(table: Mapping[str, Any], path: str, tiers: set[Decimal], symbols: Mapping[str, SymbolRow],
           sl_mult: dict[str, Decimal]) -> StopSettings:
    check_keys(table, path, ("enabled", "active_system", "rr_ratio", "symbol_reductions", "systems", "risk_by_tier"))
    systems: dict[str, dict[str, dict[Decimal, Decimal]]] = {}
    for name, sys_table in mapping(table["systems"], f"{path}.systems").items():
        skey = f"{path}.systems.{name}"
        rows: dict[str, dict[Decimal, Decimal]] = {}
        for sym, row in mapping(sys_table, skey).items():
            rkey = f"{skey}.{sym}"
            rows[symbol_name(sym, rkey)] = {_tier_key(t, f"{rkey}.{t}", tiers): dec(p, f"{rkey}.{t}", minimum=0,
                                                                                    exclusive_min=True)
                                            for t, p in mapping(row, rkey).items()}
        # Every system must cover every symbol and tier so switching systems at runtime can never fail.
        for sym in symbols:
            if sym not in rows:
                raise ConfigError(f"{skey}.{sym}", None, f"SL pips for every configured symbol ({sym} is missing)")
            for t in tiers:
                if t not in rows[sym]:
                    raise ConfigError(f"{skey}.{sym}.{tier_name(t)}", None, "SL pips for every tier")
        systems[name] = rows
    active = choice(table["active_system"], f"{path}.active_system", tuple(systems))
    reductions = {symbol_name(s, f"{path}.symbol_reductions.{s}"):
                  dec(v, f"{path}.symbol_reductions.{s}", minimum=5, maximum=50)
                  for s, v in mapping(table["symbol_reductions"], f"{path}.symbol_reductions").items()}
    risk_by_tier: dict[Decimal, dict[str, Decimal]] = {}
    for t, row in mapping(table["risk_by_tier"], f"{path}.risk_by_tier").items():
        tkey = f"{path}.risk_by_tier.{t}"
        row = mapping(row, tkey)
        check_keys(row, tkey, VOLATILITIES)
        risk_by_tier[_tier_key(t, tkey, tiers)] = {v: dec(m, f"{tkey}.{v}", minimum=0, exclusive_min=True)
                                                   for v, m in row.items()}
    for t in tiers:
        for v in VOLATILITIES:
            if v not in risk_by_tier.get(t, {}):
                raise ConfigError(f"{path}.risk_by_tier.{tier_name(t)}.{v}", None, "a risk amount for every tier "
                                  "and volatility class")
    return StopSettings(enabled=boolean(table["enabled"], f"{path}.enabled"), active_system=active, systems=systems,
                        symbol_reductions=reductions, logic_sl_multipliers=sl_mult, risk_by_tier=risk_by_tier,
                        rr_ratio=dec(table["rr_ratio"], f"{path}.rr_ratio", minimum=0, exclusive_min=True))


def _order_b(table: Mapping[str, Any], path: str) -> OrderBStopSettings:
    check_keys(table, path, ("enabled", "system", "fixed_sl", "per_logic"))
    return OrderBStopSettings(
        enabled=boolean(table["enabled"], f"{path}.enabled"),
        system=choice(table["system"], f"{path}.system", ORDER_B_SYSTEMS),
        fixed_sl=dec(table["fixed_sl"], f"{path}.fixed_sl", minimum=0, exclusive_min=True),
        per_logic={k: dec(v, f"{path}.per_logic.{k}", minimum=0, exclusive_min=True)
                   for k, v in mapping(table["per_logic"], f"{path}.per_logic").items()})
