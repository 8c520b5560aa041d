"""Load the effective configuration: embedded defaults, then the user's TOML file, then environment variables.

The defaults file (config/zepix.toml) is also the schema: a key the defaults do not have, or a value of another
type, stops start-up with a ``ConfigError`` naming the key, the value and what is allowed. Free-form tables
(lists of extra workers, per-subtree overrides) are listed in ``FREE_FORM``.
"""
from __future__ import annotations

import copy
import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from config.errors import ConfigError

FREE_FORM = {"supervision.extra", "supervision.subtrees", "telegram.modes"}  # telegram.modes: issue 7
# trading (issue 5): tables read and validated by strategies/*/settings.py and strategies/plugins.py
FREE_FORM |= {"risk", "v3", "legacy", "v6", "plugins"}
# positions / sessions: tables keyed by symbol, logic or session id (the pure settings re-add the defaults)
FREE_FORM |= {"positions.reentry.logic_windows", "positions.reentry.symbol_windows",
              "positions.reentry.profit_recovery_sl_pips", "positions.reentry.protection_modes",
              "positions.trailing.profiles", "sessions.windows"}
# broker (issue 4): per-plugin magic numbers, paper symbol overrides and replay files, MT5 pip sizes
FREE_FORM |= {"broker.magic", "broker.paper.symbols", "broker.paper.replay_files", "broker.mt5.pip_sizes"}
FREE_FORM |= {"alerts.symbol_map", "routing.v6"}   # ingress

# environment variable -> (dotted key, type)
ENV_OVERRIDES: dict[str, tuple[str, type]] = {
    "ZEPIX_DATA_DIR": ("system.data_dir", str),
    "ZEPIX_ADMIN_PORT": ("system.admin_port", int),
    "ZEPIX_WEBHOOK_HOST": ("webhook.host", str),
    "ZEPIX_WEBHOOK_PORT": ("webhook.port", int),
    "ZEPIX_WEBHOOK_TOKEN": ("webhook.token", str),
}
# broker (issue 4)
ENV_OVERRIDES.update({
    "ZEPIX_BROKER": ("broker.adapter", str),
    "ZEPIX_PAPER_BALANCE": ("broker.paper.initial_balance", float),
    "ZEPIX_PAPER_PRICES": ("broker.paper.price_source", str),
})

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MODES = ("single", "leader", "member")


def defaults() -> dict:
    text = resources.files("config").joinpath("zepix.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def load_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> dict:
    """The effective configuration as a plain dict (it travels to every actor inside ``Init``)."""
    env = os.environ if env is None else env
    cfg = defaults()
    path = path or env.get("ZEPIX_CONFIG") or None
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError("--config", str(path), "an existing TOML file")
        try:
            user = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("--config", str(path), f"valid TOML ({exc})") from None
        _merge(cfg, user, "")
    for var, (key, typ) in ENV_OVERRIDES.items():
        if var in env and env[var] != "":
            raw = env[var]
            try:
                value = typ(raw)
            except ValueError:
                raise ConfigError(f"{key} (from {var})", raw, typ.__name__) from None
            _set(cfg, key, value)
    for key, value in (overrides or {}).items():
        _set(cfg, key, value)
    validate(cfg)
    cfg["system"]["data_dir"] = str(Path(cfg["system"]["data_dir"]).expanduser().resolve())
    return cfg


def _merge(base: dict, user: dict, prefix: str) -> None:
    for key, value in user.items():
        dotted = f"{prefix}{key}"
        if dotted in FREE_FORM:
            base[key] = copy.deepcopy(value)
            continue
        if key not in base:
            raise ConfigError(dotted, value, f"a known key (one of: {', '.join(sorted(base))})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(dotted, value, "a table")
            _merge(base[key], value, dotted + ".")
            continue
        base[key] = _typed(dotted, base[key], value)


def _typed(key: str, default: Any, value: Any) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(key, value, "true or false")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, value, "a number")
        return float(value)
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, value, "an integer")
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(key, value, "a string")
    elif isinstance(default, list):
        if not isinstance(value, list):
            raise ConfigError(key, value, "a list")
    return value


def _set(cfg: dict, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = cfg
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = _typed(dotted, node[last], value) if last in node else value


def validate(cfg: dict) -> None:
    sysc, web, log = cfg["system"], cfg["webhook"], cfg["logging"]
    if sysc["mode"] not in MODES:
        raise ConfigError("system.mode", sysc["mode"], " | ".join(MODES))
    for key, value in (("system.admin_port", sysc["admin_port"]), ("webhook.port", web["port"])):
        if not 1 <= value <= 65535:
            raise ConfigError(key, value, "a TCP port 1-65535")
    if log["level"].upper() not in LOG_LEVELS:
        raise ConfigError("logging.level", log["level"], " | ".join(LOG_LEVELS))
    if not isinstance(log.get("direct", True), bool):
        raise ConfigError("logging.direct", log["direct"], "true or false")
    if not log.get("rotate_check_seconds", 5.0) > 0:
        raise ConfigError("logging.rotate_check_seconds", log["rotate_check_seconds"], "a number of seconds > 0")
    for key in ("max_bytes", "backups"):
        if log[key] < 0:
            raise ConfigError(f"logging.{key}", log[key], "an integer >= 0")
    wd = cfg["watchdog"]
    for key in ("ping_interval", "ping_timeout", "restart_backoff_min", "restart_backoff_max", "stop_timeout",
                "restart_period"):
        if wd[key] <= 0:
            raise ConfigError(f"watchdog.{key}", wd[key], "a number of seconds > 0")
    if wd["max_missed"] < 1:
        raise ConfigError("watchdog.max_missed", wd["max_missed"], "an integer >= 1")
    if wd["max_restarts"] < 0:
        raise ConfigError("watchdog.max_restarts", wd["max_restarts"], "an integer >= 0")
    for i, extra in enumerate(cfg["supervision"].get("extra", [])):
        for key in ("parent", "name", "actor"):
            if not isinstance(extra.get(key), str) or not extra.get(key):
                raise ConfigError(f"supervision.extra[{i}].{key}", extra.get(key), "a non-empty string")


def ensure_webhook_token(cfg: dict) -> str:
    """The webhook token: from config/env, else the one kept in the data dir, else a new one saved there."""
    import secrets

    if cfg["webhook"]["token"]:
        return cfg["webhook"]["token"]
    path = Path(cfg["system"]["data_dir"]) / "webhook_token"
    if path.is_file() and path.read_text().strip():
        token = path.read_text().strip()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
    cfg["webhook"]["token"] = token
    return token
