"""``data_dir/config_history.db``: the last configuration changes (who, when, old, new, applied or refused),
written only by ``ops/config``."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from gateways.storage.migrations import Migration

FILE = "config_history.db"

MIGRATIONS = [
    Migration(1, "config_history", """
CREATE TABLE config_changes (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    version INTEGER NOT NULL,
    user TEXT NOT NULL,               -- "file" for an edit on disk, "telegram:<id>", "cli", ...
    key TEXT NOT NULL,                -- dotted key, e.g. ops.health.max_rss_mb
    old TEXT,                         -- JSON
    new TEXT,                         -- JSON
    status TEXT NOT NULL,             -- applied | refused | restart (takes effect at the next start)
    error TEXT
);
CREATE INDEX config_changes_at ON config_changes(at);
"""),
]


def path(data_dir: str | Path) -> Path:
    return Path(data_dir) / FILE


def record(conn: sqlite3.Connection, *, at: float, version: int, user: str, changes: list[tuple[str, object, object]],
           status: str, error: str = "", keep: int = 100) -> None:
    with conn:
        for key, old, new in changes:
            conn.execute("INSERT INTO config_changes (at, version, user, key, old, new, status, error) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (at, version, user, key, json.dumps(old), json.dumps(new), status, error or None))
        conn.execute("DELETE FROM config_changes WHERE id NOT IN "
                     "(SELECT id FROM config_changes ORDER BY id DESC LIMIT ?)", (keep,))


def recent(conn: sqlite3.Connection, limit: int = 100) -> list[dict]:
    rows = conn.execute("SELECT * FROM config_changes ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        d["old"], d["new"] = json.loads(d["old"]) if d["old"] else None, json.loads(d["new"]) if d["new"] else None
        out.append(d)
    return out
