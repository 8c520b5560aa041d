"""Parser configuration (`[alerts]` in zepix.toml): symbols, broker names, repair switches; validated once at load."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from config.errors import ConfigError

# Facts §1.1 whitelist plus EURGBP.
DEFAULT_SYMBOLS = frozenset({
    "XAUUSD", "EURUSD", "GBPUSD", "USDJPY", "USDCAD", "AUDUSD", "NZDUSD", "EURJPY", "GBPJPY", "AUDJPY", "EURGBP",
})

PINECONNECTOR_TARGETS = ("price", "pips", "percent")

# TradingView tickers after normalisation, and broker names (which may carry suffixes such as '.a' or '#').
SYMBOL_RE = re.compile(r"[A-Z0-9][A-Z0-9._!]{0,31}\Z")
BROKER_SYMBOL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._#!+-]{0,31}\Z")


def normalise_symbol(raw: str) -> str:
    """'OANDA:xauusd' -> 'XAUUSD', 'EUR/USD' -> 'EURUSD'. The caller checks the result against SYMBOL_RE."""
    text = raw.strip()
    if ":" in text:
        text = text.rsplit(":", 1)[1]  # exchange prefix: the chart's feed says nothing about the broker
    return text.replace("/", "").strip().upper()


@dataclass(frozen=True, kw_only=True)
class ParserSettings:
    """What the alert parsers accept.

    symbols               normalised TradingView symbols that may trade; anything else is rejected.
    symbol_map            symbol -> broker name (e.g. XAUUSD -> GOLD); symbols not listed keep their name.
    max_body_bytes        larger bodies are rejected before any parsing.
    repair_placeholders   repair literal {{ticker}} / {{close}} (DECISIONS §2); off = reject with a how-to-fix message.
    repair_missing_quote  repair the `"mtf_trends":"1,1,1,1,1,"market_trend"` build (DECISIONS §2).
    v3_min_multiplier, v3_max_multiplier
                          accepted range of V3 `position_multiplier` (the original validator's 0.1-2.0).
    pineconnector_targets how PineConnector `sl=`/`tp=` are meant: 'price' (levels, put in sl/tp1),
                          'pips' or 'percent' (distances, kept in extras as sl_pips/tp_pips or sl_pct/tp_pct).
    pineconnector_license_ids
                          if non-empty, a PineConnector command must start with one of these ids. They are secrets:
                          the config loader should fill them from the environment, not from a tracked file.
    """

    symbols: frozenset[str] = DEFAULT_SYMBOLS
    symbol_map: Mapping[str, str] = field(default_factory=dict)
    max_body_bytes: int = 65536
    repair_placeholders: bool = True
    repair_missing_quote: bool = True
    v3_min_multiplier: Decimal = Decimal("0.1")
    v3_max_multiplier: Decimal = Decimal("2.0")
    pineconnector_targets: str = "price"
    pineconnector_license_ids: frozenset[str] = field(default=frozenset(), repr=False)  # secrets: never printed

    __hash__ = None  # type: ignore[assignment]  # symbol_map is a dict

    def __post_init__(self) -> None:
        # Copies, so a caller's later mutation cannot change a running parser; plain types so settings pickle.
        object.__setattr__(self, "symbols", frozenset(self.symbols))
        object.__setattr__(self, "symbol_map", dict(self.symbol_map))
        object.__setattr__(self, "pineconnector_license_ids", frozenset(self.pineconnector_license_ids))
        # Direct construction (tests, tools) gets the same checks as from_mapping.
        _check(self, "alerts")

    def broker_symbol(self, symbol: str) -> str:
        return self.symbol_map.get(symbol, symbol)

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None, path: str = "alerts") -> "ParserSettings":
        """Build from the `[alerts]` table. Raises ConfigError naming the full key, the value and what is allowed.

        Layout:
            [alerts]
            symbols = ["XAUUSD", "EURUSD", ...]
            max_body_bytes = 65536
            [alerts.symbol_map]
            XAUUSD = "GOLD"
            [alerts.v3]
            repair_placeholders = true
            repair_missing_quote = true
            min_position_multiplier = "0.1"
            max_position_multiplier = "2.0"
            [alerts.pineconnector]
            targets = "price"
            license_ids = []
        """
        d = {} if d is None else d
        if not isinstance(d, Mapping):
            raise ConfigError(path, d, "a table")
        _no_unknown(d, path, ("symbols", "symbol_map", "max_body_bytes", "v3", "pineconnector"))
        kw: dict[str, Any] = {}

        if "symbols" in d:
            raw = d["symbols"]
            if not isinstance(raw, (list, tuple)) or not raw:
                raise ConfigError(f"{path}.symbols", raw, "a non-empty list of TradingView symbols such as 'XAUUSD'")
            syms = set()
            for item in raw:
                if not isinstance(item, str) or not SYMBOL_RE.match(normalise_symbol(item)):
                    raise ConfigError(f"{path}.symbols", item, "symbols made of letters and digits, e.g. 'XAUUSD'")
                syms.add(normalise_symbol(item))
            kw["symbols"] = frozenset(syms)
        symbols = kw.get("symbols", DEFAULT_SYMBOLS)

        if "symbol_map" in d:
            raw = d["symbol_map"]
            if not isinstance(raw, Mapping):
                raise ConfigError(f"{path}.symbol_map", raw, "a table of symbol = \"broker name\"")
            mapping = {}
            for key, value in raw.items():
                norm = normalise_symbol(key) if isinstance(key, str) else key
                if norm not in symbols:
                    raise ConfigError(f"{path}.symbol_map.{key}", value,
                                      f"keys from {path}.symbols: {', '.join(sorted(symbols))}")
                if not isinstance(value, str) or not BROKER_SYMBOL_RE.match(value):
                    raise ConfigError(f"{path}.symbol_map.{key}", value,
                                      "a broker symbol name such as 'GOLD' or 'XAUUSD.a'")
                mapping[norm] = value
            kw["symbol_map"] = mapping

        if "max_body_bytes" in d:
            kw["max_body_bytes"] = _int(d["max_body_bytes"], f"{path}.max_body_bytes", 256, 10 * 1024 * 1024)

        v3 = d.get("v3", {})
        if not isinstance(v3, Mapping):
            raise ConfigError(f"{path}.v3", v3, "a table")
        _no_unknown(v3, f"{path}.v3", ("repair_placeholders", "repair_missing_quote",
                                       "min_position_multiplier", "max_position_multiplier"))
        for key in ("repair_placeholders", "repair_missing_quote"):
            if key in v3:
                if not isinstance(v3[key], bool):
                    raise ConfigError(f"{path}.v3.{key}", v3[key], "true or false")
                kw[key] = v3[key]
        for key, attr in (("min_position_multiplier", "v3_min_multiplier"),
                          ("max_position_multiplier", "v3_max_multiplier")):
            if key in v3:
                kw[attr] = _decimal(v3[key], f"{path}.v3.{key}")

        pc = d.get("pineconnector", {})
        if not isinstance(pc, Mapping):
            raise ConfigError(f"{path}.pineconnector", pc, "a table")
        _no_unknown(pc, f"{path}.pineconnector", ("targets", "license_ids"))
        if "targets" in pc:
            if pc["targets"] not in PINECONNECTOR_TARGETS:
                raise ConfigError(f"{path}.pineconnector.targets", pc["targets"],
                                  " | ".join(repr(t) for t in PINECONNECTOR_TARGETS))
            kw["pineconnector_targets"] = pc["targets"]
        if "license_ids" in pc:
            ids = pc["license_ids"]
            if not isinstance(ids, (list, tuple)) or not all(isinstance(i, str) and i.strip() for i in ids):
                # The value is a secret: never echo it.
                raise ConfigError(f"{path}.pineconnector.license_ids", "<redacted>", "a list of non-empty strings")
            kw["pineconnector_license_ids"] = frozenset(i.strip() for i in ids)

        # Check with the caller's path first, so an error names the key the operator actually wrote.
        _check_values(kw, path)
        return cls(**kw)


def _check(settings: ParserSettings, path: str) -> None:
    _check_values({f: getattr(settings, f) for f in (
        "symbols", "symbol_map", "max_body_bytes", "v3_min_multiplier", "v3_max_multiplier",
        "pineconnector_targets", "pineconnector_license_ids")}, path)


def _check_values(kw: Mapping[str, Any], path: str) -> None:
    symbols = kw.get("symbols", DEFAULT_SYMBOLS)
    if not isinstance(symbols, frozenset) or not symbols or not all(
            isinstance(s, str) and SYMBOL_RE.match(s) for s in symbols):
        raise ConfigError(f"{path}.symbols", symbols, "a non-empty set of normalised symbols such as 'XAUUSD'")
    for key, value in kw.get("symbol_map", {}).items():
        if key not in symbols or not isinstance(value, str) or not BROKER_SYMBOL_RE.match(value):
            raise ConfigError(f"{path}.symbol_map.{key}", value, "a configured symbol mapped to a broker name")
    size = kw.get("max_body_bytes", 65536)
    if not isinstance(size, int) or isinstance(size, bool) or not 256 <= size <= 10 * 1024 * 1024:
        raise ConfigError(f"{path}.max_body_bytes", size, "an integer from 256 to 10485760")
    lo = kw.get("v3_min_multiplier", Decimal("0.1"))
    hi = kw.get("v3_max_multiplier", Decimal("2.0"))
    if not isinstance(lo, Decimal) or not isinstance(hi, Decimal) or not (0 < lo <= hi):
        raise ConfigError(f"{path}.v3.min_position_multiplier", lo,
                          f"a positive number not above max_position_multiplier ({hi})")
    targets = kw.get("pineconnector_targets", "price")
    if targets not in PINECONNECTOR_TARGETS:
        raise ConfigError(f"{path}.pineconnector.targets", targets,
                          " | ".join(repr(t) for t in PINECONNECTOR_TARGETS))


def _no_unknown(d: Mapping[str, Any], path: str, allowed: tuple[str, ...]) -> None:
    for key in d:
        if key not in allowed:
            raise ConfigError(f"{path}.{key}", d[key], f"known keys: {', '.join(allowed)}")


def _int(value: Any, key: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(key, value, f"an integer from {lo} to {hi}")
    return value


def _decimal(value: Any, key: str) -> Decimal:
    # TOML floats are binary; go through str so 0.1 stays 0.1.
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(key, value, "a positive number, e.g. \"0.1\"")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(key, value, "a positive number, e.g. \"0.1\"") from None
    if not result.is_finite() or result <= 0:
        raise ConfigError(key, value, "a positive number, e.g. \"0.1\"")
    return result
