"""Copy every plugin database's ``trades`` into the central ``aggregated_trades`` (zepix-facts §6.3).

Incremental: a watermark ``(updated_at, id)`` per plugin in ``sync_state`` says what was copied; each run reads
the rows after it (in batches) plus the last ``lookback`` seconds before it, so a row written by a writer whose
clock stepped back a little is not missed. Idempotent: rows are upserted by ``(plugin_id, intent_id)`` and an
unchanged row is not rewritten, so running a sync twice, or after a failure half-way, never duplicates. The
watermark moves in the same transaction as the rows it covers.

Plugin databases are opened read-only: their plugin actor is their only writer.
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from gateways.storage import central_db
from gateways.storage.plugin_db import path_for

COLUMNS = ("plugin_id", "plugin_type", "intent_id", "trade_id", "order_role", "mt5_ticket", "symbol", "direction",
           "lot_size", "entry_price", "exit_price", "entry_time", "exit_time", "profit_dollars", "status",
           "close_reason", "logic", "shadow", "source_id", "source_updated_at", "synced_at")
_UPDATED = [c for c in COLUMNS if c not in ("plugin_id", "intent_id")]
UPSERT = (f"INSERT INTO aggregated_trades ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
          f"ON CONFLICT (plugin_id, intent_id) DO UPDATE SET "
          + ", ".join(f"{c} = excluded.{c}" for c in _UPDATED)
          + " WHERE aggregated_trades.source_updated_at IS NOT excluded.source_updated_at"
            " OR aggregated_trades.source_id IS NOT excluded.source_id")


@dataclass
class PluginSync:
    plugin: str
    read: int = 0            # rows after the watermark
    rechecked: int = 0       # rows within ``lookback`` before the watermark, read again
    written: int = 0         # rows inserted or changed in aggregated_trades
    rejected: int = 0        # rows the central schema refused (recorded as system events)
    more: bool = False       # the batch limit was hit: run again soon
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class SyncRun:
    plugins: dict[str, PluginSync] = field(default_factory=dict)
    started: float = 0.0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.plugins.values())

    @property
    def more(self) -> bool:
        return any(p.more for p in self.plugins.values())

    def errors(self) -> dict[str, str]:
        return {k: p.error for k, p in self.plugins.items() if p.error}

    def summary(self) -> dict:
        return {"ok": self.ok, "started": self.started, "seconds": round(self.seconds, 4),
                "read": sum(p.read for p in self.plugins.values()),
                "written": sum(p.written for p in self.plugins.values()),
                "rejected": sum(p.rejected for p in self.plugins.values()),
                "errors": self.errors()}


def plugin_databases(data_dir: str | Path) -> dict[str, Path]:
    """plugin id -> database file, for every ``data_dir/plugins/*.db``."""
    folder = Path(path_for(data_dir, "x")).parent
    return {p.stem: p for p in sorted(folder.glob("*.db"))} if folder.is_dir() else {}


def open_readonly(path: Path, timeout: float) -> sqlite3.Connection:
    if not path.exists():
        raise FileNotFoundError(f"database {path} does not exist")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)
    conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    conn.row_factory = sqlite3.Row
    return conn


def ensure_registry(central: sqlite3.Connection, plugin: str, db_path: str, now: float) -> None:
    central.execute(
        "INSERT INTO plugins_registry (plugin_id, name, plugin_type, installed_date, database_path) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (plugin_id) DO UPDATE SET database_path = excluded.database_path "
        "WHERE plugins_registry.database_path != excluded.database_path",
        (plugin, plugin, central_db.plugin_type(plugin), _iso(now), db_path))


def seed_registry(central: sqlite3.Connection, data_dir: str | Path, now: float) -> None:
    with central:
        for plugin in central_db.SEED_PLUGINS:
            ensure_registry(central, plugin, str(path_for(data_dir, plugin)), now)


def sync_plugin(central: sqlite3.Connection, plugin: str, db_path: Path, *, batch: int = 5000,
                lookback: float = 2.0, read_timeout: float = 1.0, now: float | None = None) -> PluginSync:
    now = time.time() if now is None else now
    t0 = time.perf_counter()
    res = PluginSync(plugin)
    try:
        _sync_plugin(central, plugin, db_path, batch, lookback, read_timeout, now, res)
    except (sqlite3.Error, OSError) as exc:
        if central.in_transaction:
            central.rollback()
        res.error = f"{type(exc).__name__}: {exc}"
        with central:
            ensure_registry(central, plugin, str(db_path), now)
            central.execute("UPDATE plugins_registry SET status = 'ERROR', error_message = ? WHERE plugin_id = ?",
                            (res.error, plugin))
            central.execute("INSERT INTO sync_state (plugin_id, last_error) VALUES (?, ?) ON CONFLICT (plugin_id) "
                            "DO UPDATE SET last_error = excluded.last_error", (plugin, res.error))
    res.seconds = time.perf_counter() - t0
    return res


def _sync_plugin(central, plugin, db_path, batch, lookback, read_timeout, now, res) -> None:
    row = central.execute("SELECT wm_updated_at, wm_id FROM sync_state WHERE plugin_id = ?", (plugin,)).fetchone()
    wm_at, wm_id = (row[0], row[1]) if row else (0.0, 0)
    src = open_readonly(db_path, read_timeout)
    try:
        # one read transaction: both queries see the same snapshot
        src.execute("BEGIN")
        try:
            recent = [] if lookback <= 0 else src.execute("SELECT * FROM trades WHERE updated_at >= ? AND (updated_at < ? OR "
                                 "(updated_at = ? AND id <= ?))", (wm_at - lookback, wm_at, wm_at, wm_id)).fetchall()
            fresh = src.execute("SELECT * FROM trades WHERE updated_at > ? OR (updated_at = ? AND id > ?) "
                                "ORDER BY updated_at, id LIMIT ?", (wm_at, wm_at, wm_id, batch)).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            recent, fresh = [], []   # a plugin database its actor has not migrated yet: nothing to copy
        src.rollback()
    finally:
        src.close()
    res.read, res.rechecked = len(fresh), len(recent)
    res.more = len(fresh) >= batch
    ptype = central_db.plugin_type(plugin)
    with central:
        ensure_registry(central, plugin, str(db_path), now)
        before = central.total_changes
        rejected = []
        for r in list(recent) + list(fresh):
            values = (plugin, ptype, r["intent_id"], r["trade_id"], r["order_role"], r["ticket"], r["symbol"],
                      r["direction"], r["lot_size"], r["entry_price"], r["exit_price"], r["entry_time"],
                      r["exit_time"], r["profit"], r["status"], r["close_reason"], r["logic"], r["shadow"], r["id"],
                      r["updated_at"], now)
            try:
                central.execute("SAVEPOINT row")
                central.execute(UPSERT, values)
                central.execute("RELEASE row")
            except sqlite3.IntegrityError as exc:
                central.execute("ROLLBACK TO row")
                central.execute("RELEASE row")
                rejected.append((r["id"], r["intent_id"], str(exc)))
        res.written = central.total_changes - before
        for source_id, intent, why in rejected:
            central.execute("INSERT INTO system_events (event_time, event_type, plugin_id, description, severity) "
                            "VALUES (?, 'sync_rejected', ?, ?, 'ERROR')",
                            (now, plugin, f"trades row {source_id} ({intent}) not copied: {why}"))
        res.rejected = len(rejected)
        if fresh:
            wm_at, wm_id = fresh[-1]["updated_at"], fresh[-1]["id"]
        central.execute(
            "INSERT INTO sync_state (plugin_id, wm_updated_at, wm_id, last_sync, rows_copied, last_error) "
            "VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT (plugin_id) DO UPDATE SET wm_updated_at = excluded.wm_updated_at, "
            "wm_id = excluded.wm_id, last_sync = excluded.last_sync, "
            "rows_copied = sync_state.rows_copied + excluded.rows_copied, last_error = NULL",
            (plugin, wm_at, wm_id, now, res.written))
        central.execute("UPDATE plugins_registry SET status = 'ACTIVE', error_message = NULL, last_active = "
                        "COALESCE(?, last_active) WHERE plugin_id = ?", (_iso(now) if res.written else None, plugin))


def sync_all(central: sqlite3.Connection, data_dir: str | Path, **kw) -> SyncRun:
    run = SyncRun(started=time.time())
    t0 = time.perf_counter()
    for plugin, db_path in plugin_databases(data_dir).items():
        run.plugins[plugin] = sync_plugin(central, plugin, db_path, **kw)
    run.seconds = time.perf_counter() - t0
    return run


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
