"""What ops/config asks of a configuration before it replaces the file, and the effective values it shows.

``config.loader`` checks the tables it knows (types against the defaults); the free-form tables (``[risk]``,
``[v3]``, ``[legacy]``, ``[v6]``, ``[plugins]``, the keyed tables of ``[positions]`` and ``[sessions]``) are read by
their owners' settings classes, so a change is run through those same readers here: a bad value is refused with
the reader's error before any actor sees it. Imports are lazy: config/ stays free of strategies/ and actors/.
"""
from __future__ import annotations

import copy
from typing import Any


def check(cfg: dict) -> None:
    """ConfigError (a ValueError) naming the first bad key of the trading, positions and price-feed tables."""
    from actors.positions import Settings as PositionSettings
    from actors.pricefeed import MIN_INTERVAL
    from config.errors import ConfigError
    from strategies.plugins import validate as validate_trading

    validate_trading(cfg)          # [risk], [v3], [legacy], [v6], [plugins]: what every plugin builds
    PositionSettings(cfg)          # [positions] with chains / reentry / trailing / shield, and [sessions]
    interval = cfg.get("pricefeed", {}).get("interval")
    if interval is not None and float(interval) < MIN_INTERVAL:
        raise ConfigError("pricefeed.interval", interval, f"a number of seconds >= {MIN_INTERVAL}")


def effective(cfg: dict) -> dict:
    """The configuration with the free-form tables whose defaults live in code filled in by their readers
    (``get risk.stops`` shows the table in force, not only what the file sets)."""
    from strategies.risk.settings import RiskSettings
    from strategies.v3.settings import V3Settings

    out = copy.deepcopy(cfg)
    for section, reader in (("risk", RiskSettings), ("v3", V3Settings)):
        try:
            out[section] = reader.from_mapping(cfg.get(section) or {}).to_mapping()
        except ValueError:
            pass        # a table its reader refuses is shown as written (the refusal is reported elsewhere)
    return out


def show(key: str, value: Any) -> list[str]:
    """``key = value`` lines, a table flattened one leaf per line."""
    if isinstance(value, dict):
        if not value:
            return [f"{key} = {{}}"]
        lines: list[str] = []
        for k, v in value.items():
            lines += show(f"{key}.{k}", v)
        return lines
    if isinstance(value, bool):
        return [f"{key} = {'on' if value else 'off'}"]
    if isinstance(value, list):
        return [f"{key} = " + ", ".join(str(v) for v in value)]
    return [f"{key} = {value}"]
