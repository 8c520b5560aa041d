"""The ops subtree: health monitor, central database sync (and backups), configuration hot reload."""
from __future__ import annotations

from supervision.childspec import ChildSpec


def children(cfg: dict, defaults: dict) -> list[ChildSpec]:
    return [
        ChildSpec(name="health", actor="actors.health.HealthMonitor", **defaults),
        ChildSpec(name="dbsync", actor="actors.dbsync.DbSync", **defaults),
        ChildSpec(name="config", actor="actors.config_watcher.ConfigWatcher", **defaults),
    ]
