"""Builds the configured broker adapter from the `[broker]` section of the effective configuration.

`[broker] adapter` picks paper (the default), mt5 (the Windows `MetaTrader5` package, or the module named by
`broker.mt5_module`) or mt5linux (rpyc to a terminal under Wine). MT5 credentials come only from the
environment (ZEPIX_MT5_LOGIN / ZEPIX_MT5_PASSWORD / ZEPIX_MT5_SERVER; the adapters' own MT5_* names work too).
Nothing here imports MetaTrader5, rpyc or mt5linux: the adapters load them in connect().
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from config.errors import ConfigError
from gateways.broker.paper import PaperBroker
from gateways.broker.paper_settings import PaperSettings

ADAPTERS = ("paper", "mt5", "mt5linux")
_ENV_CREDS = {"ZEPIX_MT5_LOGIN": "MT5_LOGIN", "ZEPIX_MT5_PASSWORD": "MT5_PASSWORD",
              "ZEPIX_MT5_SERVER": "MT5_SERVER"}


def adapter_name(cfg: dict) -> str:
    name = cfg.get("broker", {}).get("adapter", "paper")
    if name not in ADAPTERS:
        raise ConfigError("broker.adapter", name, " | ".join(ADAPTERS))
    return name


def paper_settings(cfg: dict) -> PaperSettings:
    """`[broker.paper]` as PaperSettings; an empty database goes to DATA_DIR/broker/paper.db, and a
    price_source that is neither alert nor walk is the path of one MT5 export CSV (ZEPIX_PAPER_PRICES)."""
    raw = dict(cfg.get("broker", {}).get("paper", {}))
    if not raw.get("database"):
        raw["database"] = str(Path(cfg["system"]["data_dir"]) / "broker" / "paper.db")
    src = raw.get("price_source", "alert")
    if src not in ("alert", "walk", "replay"):
        path = Path(src).expanduser()
        symbols = set(PaperSettings.from_mapping({"symbols": raw.get("symbols", {})}).symbols)
        stem = path.stem.upper()
        sym = next((s for s in sorted(symbols, key=len, reverse=True) if stem.startswith(s)), None)
        if sym is None:
            raise ConfigError("broker.paper.price_source", src,
                              "alert | walk | replay | the path of a CSV whose name starts with its symbol "
                              "(e.g. EURUSD_ticks.csv)")
        raw["price_source"] = "replay"
        raw["replay_files"] = {**raw.get("replay_files", {}), sym: str(path)}
    return PaperSettings.from_mapping(raw)


def _mt5_env(env: Mapping[str, str]) -> dict[str, str]:
    out = {k: v for k, v in env.items() if k in _ENV_CREDS.values() and v}
    for ours, theirs in _ENV_CREDS.items():
        if env.get(ours):
            out[theirs] = env[ours]
    return out


def _mt5_table(raw: Mapping[str, Any]) -> dict:
    # empty strings in zepix.toml mean "not set" (TOML has no null)
    return {k: v for k, v in raw.items() if v not in ("", None) and not (k == "login" and v == 0)}


def build_broker(cfg: dict, env: Mapping[str, str] | None = None) -> Any:
    """The adapter object (not connected yet)."""
    env = os.environ if env is None else env
    name = adapter_name(cfg)
    b = cfg.get("broker", {})
    if name == "paper":
        return PaperBroker(paper_settings(cfg))
    creds = _mt5_env(env)
    if name == "mt5":
        from gateways.broker.mt5 import MT5Broker, MT5Settings

        settings = MT5Settings.from_mapping(_mt5_table(b.get("mt5", {})), env=creds)
        module_name = b.get("mt5_module", "MetaTrader5") or "MetaTrader5"
        module = None
        if module_name != "MetaTrader5":
            # a stand-in (tests, a bridge of one's own) is imported here, inside the actor process
            module = importlib.import_module(module_name)
        return MT5Broker(settings, module=module)
    from gateways.broker.mt5linux import MT5LinuxSettings, MT5LinuxBroker

    table = {**_mt5_table(b.get("mt5", {})), **_mt5_table(b.get("mt5linux", {}))}
    return MT5LinuxBroker(MT5LinuxSettings.from_mapping(table, env=creds))
