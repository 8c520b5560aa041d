"""The supervision tree of a running Zepix, built from configuration.

root supervisor (globalName ``zepix-root``) with the subtrees ``ingress``, ``trading``, ``broker``, ``telegram``
and ``ops``. Each capability registers a builder for the children of its subtree in ``SUBTREE_BUILDERS``;
``[[supervision.extra]]`` entries add workers of the user's own.
"""
from __future__ import annotations

import importlib
from typing import Callable

from config.errors import ConfigError
from supervision.childspec import ChildSpec

ROOT_NAME = "zepix-root"
SUBTREES = ("ingress", "trading", "broker", "telegram", "ops")
SUPERVISOR = "supervision.supervisor.Supervisor"
ROOT = "supervision.supervisor.RootSupervisor"

_TIMING_KEYS = ("heartbeat_interval", "hang_timeout", "start_timeout", "intensity", "period", "backoff_min",
                "backoff_max", "shutdown_timeout", "healthy_after")

# subtree name -> function(config, defaults) -> list of ChildSpec. Each subtree's module in supervision/subtrees/
# is found by name; an entry here (tests) takes precedence.
SUBTREE_BUILDERS: dict[str, Callable[[dict, dict], list[ChildSpec]]] = {}


def subtree_builder(name: str) -> Callable[[dict, dict], list[ChildSpec]] | None:
    if name in SUBTREE_BUILDERS:
        return SUBTREE_BUILDERS[name]
    module = f"supervision.subtrees.{name}"
    try:
        return importlib.import_module(module).children
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


def spec_defaults(cfg: dict, subtree: str | None = None) -> dict:
    sup = cfg["supervision"]
    out = {k: sup[k] for k in _TIMING_KEYS}
    if subtree:
        out.update({k: v for k, v in sup.get("subtrees", {}).get(subtree, {}).items() if k in _TIMING_KEYS})
    return out


def build_tree(cfg: dict) -> ChildSpec:
    extras: dict[str, list[ChildSpec]] = {}
    for i, extra in enumerate(cfg["supervision"].get("extra", [])):
        parent = extra["parent"]
        if parent not in SUBTREES:
            raise ConfigError(f"supervision.extra[{i}].parent", parent, " | ".join(SUBTREES))
        fields = {**spec_defaults(cfg, parent), **{k: v for k, v in extra.items() if k != "parent"}}
        extras.setdefault(parent, []).append(ChildSpec(**fields))
    subtrees = []
    for name in SUBTREES:
        # `builtin = false` in [supervision.subtrees.NAME] starts only the user's extras there (tests put their
        # stand-ins at the real paths this way; an operator can leave a subtree empty)
        builtin = cfg["supervision"].get("subtrees", {}).get(name, {}).get("builtin", True)
        if not isinstance(builtin, bool):
            raise ConfigError(f"supervision.subtrees.{name}.builtin", builtin, "true | false")
        builder = subtree_builder(name) if builtin else None
        children = (builder(cfg, spec_defaults(cfg, name)) if builder else []) + extras.get(name, [])
        subtrees.append(ChildSpec(name=name, actor=SUPERVISOR, kind="supervisor", children=tuple(children),
                                  **spec_defaults(cfg, name)))
    root = cfg["supervision"]["root"]
    return ChildSpec(name=ROOT_NAME, actor=ROOT, kind="supervisor", children=tuple(subtrees),
                     **{**spec_defaults(cfg), "intensity": root["intensity"], "period": root["period"]})
