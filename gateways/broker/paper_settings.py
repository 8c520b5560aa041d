"""`PaperSettings`: the paper broker's configuration, validated from the `[broker.paper]` table of zepix.toml."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

from config.errors import ConfigError
from gateways.broker.symbols import DEFAULT_SYMBOLS, SymbolSpec

PRICE_SOURCES = ("alert", "walk", "replay")

_SYMBOL_KEYS = {
    "digits": int, "pip_size": Decimal, "pip_value_per_lot": Decimal, "contract_size": Decimal,
    "volume_min": Decimal, "volume_step": Decimal, "volume_max": Decimal, "spread_pips": Decimal,
    "start_price": Decimal, "stops_level": int,
}
# A symbol that is not in the default table must say at least this much about itself.
_NEW_SYMBOL_REQUIRED = ("digits", "pip_size", "pip_value_per_lot", "contract_size", "start_price")


def _dec(key: str, value: object, *, minimum: Decimal | None = None, positive: bool = False) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ConfigError(key, value, "a number")
    try:
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ConfigError(key, value, "a number") from None
    if not d.is_finite():
        raise ConfigError(key, value, "a finite number")
    if positive and d <= 0:
        raise ConfigError(key, value, "a number greater than 0")
    if minimum is not None and d < minimum:
        raise ConfigError(key, value, f"a number >= {minimum}")
    return d


def _int(key: str, value: object, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, value, "an integer")
    if minimum is not None and value < minimum:
        raise ConfigError(key, value, f"an integer >= {minimum}")
    return value


def _str(key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, value, "a non-empty string")
    return value


@dataclass(frozen=True)
class PaperSettings:
    initial_balance: Decimal = Decimal("10000")
    currency: str = "USD"
    leverage: int = 100
    seed: int = 0
    price_source: str = "alert"
    tick_interval_seconds: Decimal = Decimal("1")
    walk_step_pips: Decimal = Decimal("0.5")
    alert_walk_step_pips: Decimal = Decimal("0.1")
    slippage_pips: Decimal = Decimal("0")
    slippage_jitter_pips: Decimal = Decimal("0")
    database: str = "data/paper_broker.db"
    replay_files: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    replay_utc_offset_minutes: int = 0
    symbols: Mapping[str, SymbolSpec] = field(default_factory=lambda: MappingProxyType(dict(DEFAULT_SYMBOLS)))

    @classmethod
    def from_mapping(cls, d: Mapping[str, object] | None, path: str = "broker.paper") -> "PaperSettings":
        """Validate a config table; unknown keys and bad values raise ConfigError naming the full key."""
        if d is None:
            d = {}
        if not isinstance(d, Mapping):
            raise ConfigError(path, d, "a table")
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        for key in d:
            if key not in known:
                raise ConfigError(f"{path}.{key}", d[key], "one of " + ", ".join(sorted(known)))
        kw: dict[str, object] = {}
        k = lambda name: f"{path}.{name}"  # noqa: E731
        if "initial_balance" in d:
            kw["initial_balance"] = _dec(k("initial_balance"), d["initial_balance"], positive=True)
        if "currency" in d:
            cur = _str(k("currency"), d["currency"])
            if len(cur) != 3 or not cur.isalpha():
                raise ConfigError(k("currency"), cur, "a 3-letter currency code such as USD")
            kw["currency"] = cur.upper()
        if "leverage" in d:
            kw["leverage"] = _int(k("leverage"), d["leverage"], minimum=1)
        if "seed" in d:
            kw["seed"] = _int(k("seed"), d["seed"])
        if "price_source" in d:
            src = d["price_source"]
            if src not in PRICE_SOURCES:
                raise ConfigError(k("price_source"), src, " | ".join(PRICE_SOURCES))
            kw["price_source"] = src
        if "tick_interval_seconds" in d:
            iv = _dec(k("tick_interval_seconds"), d["tick_interval_seconds"], positive=True)
            if iv < Decimal("0.001"):
                raise ConfigError(k("tick_interval_seconds"), d["tick_interval_seconds"], "at least 0.001")
            kw["tick_interval_seconds"] = iv
        for name in ("walk_step_pips", "alert_walk_step_pips", "slippage_pips", "slippage_jitter_pips"):
            if name in d:
                kw[name] = _dec(k(name), d[name], minimum=Decimal(0))
        if "database" in d:
            kw["database"] = _str(k("database"), d["database"])
        if "replay_utc_offset_minutes" in d:
            off = _int(k("replay_utc_offset_minutes"), d["replay_utc_offset_minutes"])
            if not -14 * 60 <= off <= 14 * 60:
                raise ConfigError(k("replay_utc_offset_minutes"), off, "minutes between -840 and 840")
            kw["replay_utc_offset_minutes"] = off

        symbols = dict(DEFAULT_SYMBOLS)
        if "symbols" in d:
            raw = d["symbols"]
            if not isinstance(raw, Mapping):
                raise ConfigError(k("symbols"), raw, "a table of symbol tables")
            for sym, over in raw.items():
                symbols[sym] = _symbol_spec(f"{k('symbols')}.{sym}", sym, over, symbols.get(sym))
        kw["symbols"] = MappingProxyType(symbols)

        if "replay_files" in d:
            raw = d["replay_files"]
            if not isinstance(raw, Mapping):
                raise ConfigError(k("replay_files"), raw, "a table of SYMBOL = \"path/to/export.csv\"")
            files: dict[str, str] = {}
            for sym, p in raw.items():
                if sym not in symbols:
                    raise ConfigError(f"{k('replay_files')}.{sym}", p,
                                      "a configured symbol: " + ", ".join(sorted(symbols)))
                files[sym] = _str(f"{k('replay_files')}.{sym}", p)
            kw["replay_files"] = MappingProxyType(files)
        if kw.get("price_source") == "replay" and not kw.get("replay_files"):
            raise ConfigError(k("replay_files"), d.get("replay_files", {}),
                              "at least one SYMBOL = \"file.csv\" when price_source is \"replay\"")
        return cls(**kw)  # type: ignore[arg-type]


def _symbol_spec(key: str, sym: str, over: object, base: SymbolSpec | None) -> SymbolSpec:
    if not isinstance(over, Mapping):
        raise ConfigError(key, over, "a table of " + ", ".join(sorted(_SYMBOL_KEYS)))
    for name in over:
        if name not in _SYMBOL_KEYS:
            raise ConfigError(f"{key}.{name}", over[name], "one of " + ", ".join(sorted(_SYMBOL_KEYS)))
    if base is None:
        missing = [n for n in _NEW_SYMBOL_REQUIRED if n not in over]
        if missing:
            raise ConfigError(key, dict(over), "a new symbol needs " + ", ".join(_NEW_SYMBOL_REQUIRED))
    vals: dict[str, object] = {}
    for name, typ in _SYMBOL_KEYS.items():
        if name not in over:
            continue
        v = over[name]
        if typ is int:
            vals[name] = _int(f"{key}.{name}", v, minimum=0)
        else:
            vals[name] = _dec(f"{key}.{name}", v, minimum=Decimal(0),
                              positive=name not in ("spread_pips",))
    if "digits" in vals and not 0 <= int(vals["digits"]) <= 8:  # type: ignore[call-overload]
        raise ConfigError(f"{key}.digits", vals["digits"], "an integer from 0 to 8")
    spec = dataclasses.replace(base, **vals) if base is not None else SymbolSpec(  # type: ignore[arg-type]
        symbol=sym, digits=vals["digits"], pip_size=vals["pip_size"],  # type: ignore[arg-type]
        pip_value_per_lot=vals["pip_value_per_lot"], contract_size=vals["contract_size"],  # type: ignore[arg-type]
        volume_max=vals.get("volume_max", Decimal("100")), spread_pips=vals.get("spread_pips", Decimal("1")),  # type: ignore[arg-type]
        start_price=vals["start_price"], **{n: vals[n] for n in ("volume_min", "volume_step", "stops_level")  # type: ignore[arg-type]
                                            if n in vals})
    if spec.volume_min > spec.volume_max:
        raise ConfigError(f"{key}.volume_min", spec.volume_min, f"at most volume_max ({spec.volume_max})")
    if spec.pip_size < spec.point:
        raise ConfigError(f"{key}.pip_size", spec.pip_size, f"at least one point ({spec.point})")
    if (spec.start_price / spec.point) != (spec.start_price / spec.point).to_integral_value():
        raise ConfigError(f"{key}.start_price", spec.start_price, f"a price with at most {spec.digits} decimals")
    return spec
