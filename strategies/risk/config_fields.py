"""Typed readers for configuration values; each failure raises ConfigError naming the key, value and what is allowed.

Shared by the risk, sessions and positions settings so every section reports bad values the same way.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from config.errors import ConfigError


def to_decimal(value: Any) -> Decimal:
    """Decimal from int, str, Decimal or float; floats go through str() so 0.1 stays 0.1, not 0.1000000000000000055."""
    if isinstance(value, bool):
        raise TypeError("bool is not a number")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, (int, str)):
        return Decimal(value)
    raise TypeError(f"not a number: {value!r}")


def dec(value: Any, key: str, *, minimum: Decimal | int | str | None = None,
        maximum: Decimal | int | str | None = None, exclusive_min: bool = False) -> Decimal:
    lo = None if minimum is None else Decimal(minimum)
    hi = None if maximum is None else Decimal(maximum)
    allowed = "a number"
    if lo is not None:
        allowed += f" {'>' if exclusive_min else '>='} {lo}"
    if hi is not None:
        allowed += f"{' and' if lo is not None else ''} <= {hi}"
    try:
        d = to_decimal(value)
    except (TypeError, InvalidOperation, ValueError):
        raise ConfigError(key, value, allowed) from None
    if not d.is_finite():
        raise ConfigError(key, value, allowed)
    if lo is not None and (d <= lo if exclusive_min else d < lo):
        raise ConfigError(key, value, allowed)
    if hi is not None and d > hi:
        raise ConfigError(key, value, allowed)
    return d


def integer(value: Any, key: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    allowed = "an integer" + (f" >= {minimum}" if minimum is not None else "") + (
        f" <= {maximum}" if maximum is not None else "")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, value, allowed)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ConfigError(key, value, allowed)
    return value


def boolean(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, value, "true or false")
    return value


def clock(value: Any, key: str) -> time:
    """A wall-clock time written "HH:MM"."""
    allowed = 'a time "HH:MM" (00:00 to 23:59)'
    if isinstance(value, time):
        return value
    if not isinstance(value, str):
        raise ConfigError(key, value, allowed)
    parts = value.strip().split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ConfigError(key, value, allowed)
    h, m = int(parts[0]), int(parts[1])
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ConfigError(key, value, allowed)
    return time(h, m)


def timezone_name(value: Any, key: str) -> str:
    allowed = 'an IANA time zone name such as "Asia/Kolkata"'
    if not isinstance(value, str) or not value:
        raise ConfigError(key, value, allowed)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        # Windows has no system zone database: there zoneinfo needs the tzdata package.
        raise ConfigError(key, value, allowed + " (the tzdata package provides them where the OS does not)") \
            from None
    return value


def choice(value: Any, key: str, choices: Iterable[str]) -> str:
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
        raise ConfigError(key, value, "one of " + ", ".join(options))
    return value


def mapping(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(key, value, "a table")
    return value


def sequence(value: Any, key: str) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ConfigError(key, value, "a list")
    return list(value)


def symbol_name(value: Any, key: str) -> str:
    allowed = "a symbol name of letters and digits, e.g. XAUUSD"
    if not isinstance(value, str) or not value.strip() or not value.strip().replace(".", "").replace("_", "").isalnum():
        raise ConfigError(key, value, allowed)
    return value.strip().upper()


def check_keys(table: Mapping[str, Any], path: str, known: Iterable[str]) -> None:
    """Reject unknown keys so a typo in the config stops start-up instead of being silently ignored."""
    names = tuple(known)
    for k in table:
        if k not in names:
            raise ConfigError(f"{path}.{k}", table[k], "one of the keys " + ", ".join(names))


def deep_merge(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Overrides on top of defaults; tables merge key by key, anything else (lists included) replaces."""
    out: dict[str, Any] = dict(defaults)
    for k, v in overrides.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out
