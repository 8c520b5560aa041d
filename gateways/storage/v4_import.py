"""Import the original V4 ``trading_bot.db`` (zepix-facts §6.1) into the plugin databases.

Which plugin gets a V4 ``trades`` row (decided here, documented in docs/operations.md):
  1. ``strategy`` is ``ZepixPremium`` (the legacy JSON alerts)                       -> ``legacy_v4``
  2. ``strategy`` names a combined logic (``combinedlogic-N``)                         -> ``combined_v3``
  3. ``direction`` written in capitals (``BUY``/``SELL``: only the V3 code wrote them) -> ``combined_v3``
  4. anything else (``buy``/``sell``, ``LOGIC1``-era rows)                             -> ``legacy_v4``

Every imported row gets ``intent_id = "v4import:<V4 id>"``, so importing the same file again adds nothing;
the rows one run added are listed in the central database (``import_batches``/``import_rows``) and ``undo``
removes exactly those. Money is copied as the decimal text of the stored REAL (``Decimal(str(x))``), and the
report compares counts and P&L totals of the source with what the plugin databases hold afterwards.
Only ``trades`` is imported; the other V4 tables are counted in the report (their state is history the V5
plugins do not continue).
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from gateways.storage import central_db
from gateways.storage.catalog import family_of
from gateways.storage.migrations import migrate
from gateways.storage.plugin_db import migrations_for, path_for
from gateways.storage.sqlite import open_db

V3, LEGACY = "combined_v3", "legacy_v4"
INTENT_PREFIX = "v4import:"
PLUGIN_VERSION = "v4-import"
OTHER_TABLES = ("reentry_chains", "sl_events", "tp_reentry_events", "reversal_exit_events", "system_state",
                "profit_booking_chains", "profit_booking_orders", "profit_booking_events", "trading_sessions")


class ImportError_(RuntimeError):
    """The V4 file cannot be imported (not a V4 database, or its rows do not add up)."""


def classify(row: dict) -> str:
    strategy = (row.get("strategy") or "").strip()
    if strategy.lower() == "zepixpremium":
        return LEGACY
    if strategy.lower().startswith("combinedlogic"):
        return V3
    if (row.get("direction") or "") in ("BUY", "SELL"):
        return V3
    return LEGACY


def _dec(value) -> str | None:
    if value is None or value == "":
        return None
    try:
        return str(Decimal(str(value)))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def _role(row: dict) -> str:
    kind = (row.get("order_type") or "").upper()
    if kind == "TP_TRAIL":
        return "A"
    if kind == "PROFIT_TRAIL":
        return "B"
    if kind == "SL_RECOVERY" or row.get("is_re_entry"):
        return "reentry"
    return "B" if row.get("profit_chain_id") else "single"


def _logic(row: dict) -> str | None:
    if row.get("logic_type"):
        return row["logic_type"]
    strategy = row.get("strategy") or ""
    if strategy.lower().startswith("combinedlogic-"):
        return "LOGIC" + strategy.rsplit("-", 1)[1]
    return strategy or None


def _time(value) -> str | None:
    return None if value in (None, "") else str(value).replace(" ", "T")


def convert(row: dict, now: float) -> dict:
    """A V4 trades row -> a plugin ``trades`` row; ValueError says why a row cannot be imported."""
    direction = (row.get("direction") or "").upper()
    if direction not in ("BUY", "SELL"):
        raise ValueError(f"direction {row.get('direction')!r} is not buy/sell")
    lot = _dec(row.get("lot_size")) or _dec(row.get("final_lot_size"))
    if lot is None:
        raise ValueError("no lot_size")
    if not row.get("symbol"):
        raise ValueError("no symbol")
    raw_status = (row.get("status") or "").lower()
    status = {"open": "OPEN", "closed": "CLOSED", "close": "CLOSED"}.get(raw_status)
    if status is None:
        raise ValueError(f"status {row.get('status')!r} is not open/closed")
    ticket = str(row.get("trade_id") or "")
    return {
        "trade_id": f"v4-{row['id']}",
        "order_role": _role(row),
        "intent_id": f"{INTENT_PREFIX}{row['id']}",
        "alert_id": None,
        "ticket": int(ticket) if ticket.isdigit() else None,
        "symbol": row["symbol"],
        "direction": direction,
        "lot_size": lot,
        "entry_price": _dec(row.get("entry_price")),
        "sl_price": _dec(row.get("sl_price")),
        "tp_price": _dec(row.get("tp_price")),
        "sl_source": "v4",
        "tp_source": "v4",
        "entry_time": _time(row.get("open_time")),
        "exit_price": _dec(row.get("exit_price")),
        "exit_time": _time(row.get("close_time")),
        "profit": _dec(row.get("pnl")),
        "status": status,
        "close_reason": None,
        "logic": _logic(row),
        "plugin_version": PLUGIN_VERSION,
        "shadow": 0,
        "detail": json.dumps({"v4": {k: v for k, v in row.items()}}, default=str),
        "updated_at": now,
    }


@dataclass
class PluginTotals:
    rows: int = 0
    pnl: Decimal = Decimal(0)

    def add(self, pnl: str | None) -> None:
        self.rows += 1
        self.pnl += Decimal(pnl) if pnl is not None else Decimal(0)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "pnl": str(self.pnl)}


@dataclass
class ImportReport:
    source: str
    dry_run: bool
    batch_id: int | None = None
    source_rows: int = 0
    source_pnl: Decimal = Decimal(0)
    planned: dict[str, PluginTotals] = field(default_factory=dict)     # rows new to the plugin DBs
    present: dict[str, PluginTotals] = field(default_factory=dict)     # imported earlier: left alone
    written: dict[str, PluginTotals] = field(default_factory=dict)     # counted back from the plugin DBs
    rejected: list[tuple[int, str]] = field(default_factory=list)      # (V4 id, why)
    rejected_pnl: Decimal = Decimal(0)
    other_tables: dict[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        """Source = new + already imported + rejected, in rows and P&L; and the plugin DBs hold what was planned."""
        rows = sum(t.rows for t in self.planned.values()) + sum(t.rows for t in self.present.values()) \
            + len(self.rejected)
        pnl = sum((t.pnl for t in self.planned.values()), Decimal(0)) \
            + sum((t.pnl for t in self.present.values()), Decimal(0)) + self.rejected_pnl
        ok = rows == self.source_rows and pnl == self.source_pnl
        if not self.dry_run:
            for plugin, t in self.planned.items():
                w = self.written.get(plugin, PluginTotals())
                ok = ok and (w.rows, w.pnl) == (t.rows, t.pnl)
        return ok

    def to_dict(self) -> dict:
        return {"source": self.source, "dry_run": self.dry_run, "batch_id": self.batch_id,
                "source_rows": self.source_rows, "source_pnl": str(self.source_pnl),
                "new": {k: v.to_dict() for k, v in self.planned.items()},
                "already_imported": {k: v.to_dict() for k, v in self.present.items()},
                "written": {k: v.to_dict() for k, v in self.written.items()},
                "rejected": [{"v4_id": i, "reason": r} for i, r in self.rejected],
                "rejected_pnl": str(self.rejected_pnl), "other_tables": self.other_tables,
                "balanced": self.balanced}

    def text(self) -> str:
        lines = [f"V4 import {'(dry run) ' if self.dry_run else ''}of {self.source}"
                 + (f" - batch {self.batch_id}" if self.batch_id else ""),
                 f"  source trades     : {self.source_rows} rows, P&L {self.source_pnl}"]
        for plugin in sorted(set(self.planned) | set(self.present)):
            t, p = self.planned.get(plugin, PluginTotals()), self.present.get(plugin, PluginTotals())
            w = self.written.get(plugin)
            lines.append(f"  {plugin:<17} : {t.rows} new (P&L {t.pnl}), {p.rows} already imported (P&L {p.pnl})"
                         + (f"; database now holds {w.rows} of this batch (P&L {w.pnl})" if w else ""))
        lines.append(f"  rejected          : {len(self.rejected)} (P&L {self.rejected_pnl})")
        for i, why in self.rejected[:20]:
            lines.append(f"    V4 id {i}: {why}")
        if self.other_tables:
            lines.append("  not imported      : " + ", ".join(f"{k} {v}" for k, v in self.other_tables.items() if v))
        lines.append("  totals match      : " + ("yes" if self.balanced else "NO"))
        return "\n".join(lines)


def _read_v4(path: Path) -> tuple[list[dict], dict[str, int]]:
    if not path.is_file():
        raise ImportError_(f"{path} does not exist")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        cols = {r[1] for r in conn.execute("PRAGMA table_info(trades)")}
    except sqlite3.DatabaseError as exc:
        raise ImportError_(f"{path} is not a SQLite database: {exc}") from None
    try:
        need = {"id", "trade_id", "symbol", "entry_price", "lot_size", "direction", "strategy", "pnl", "status"}
        if not need <= cols:
            raise ImportError_(f"{path} has no V4 trades table (missing columns: {', '.join(sorted(need - cols))})")
        rows = [dict(r) for r in conn.execute("SELECT * FROM trades ORDER BY id")]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        others = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in OTHER_TABLES if t in tables}
    finally:
        conn.close()
    return rows, others


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _open_plugin(data_dir: Path, plugin: str, create: bool) -> sqlite3.Connection | None:
    p = path_for(data_dir, plugin)
    if not create and not p.exists():
        return None
    if not create:
        conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        return conn
    conn = open_db(p)
    migrate(conn, migrations_for(family_of(plugin)), str(p))   # SchemaTooNew refuses a newer database
    return conn


def _open_central(data_dir: Path) -> sqlite3.Connection:
    conn = open_db(central_db.path(data_dir))
    migrate(conn, central_db.MIGRATIONS, central_db.FILE)
    return conn


def import_v4(source: str | Path, data_dir: str | Path, dry_run: bool = False, now: float | None = None) -> ImportReport:
    now = time.time() if now is None else now
    source, data_dir = Path(source), Path(data_dir)
    rows, others = _read_v4(source)
    rep = ImportReport(source=str(source), dry_run=dry_run, other_tables=others)
    converted: dict[str, list[dict]] = {}
    for row in rows:
        rep.source_rows += 1
        try:
            pnl = _dec(row.get("pnl"))
        except ValueError:
            pnl = None
        rep.source_pnl += Decimal(pnl) if pnl else Decimal(0)
        try:
            new = convert(row, now)
        except ValueError as exc:
            rep.rejected.append((row["id"], str(exc)))
            rep.rejected_pnl += Decimal(pnl) if pnl else Decimal(0)
            continue
        converted.setdefault(classify(row), []).append(new)
    conns = {p: _open_plugin(data_dir, p, create=not dry_run) for p in converted}
    try:
        fresh: dict[str, list[dict]] = {}
        for plugin, items in converted.items():
            conn = conns[plugin]
            have = set()
            if conn is not None:
                try:
                    have = {r[0] for r in conn.execute("SELECT intent_id FROM trades WHERE intent_id LIKE ?",
                                                       (INTENT_PREFIX + "%",))}
                except sqlite3.OperationalError:
                    have = set()
            for item in items:
                bucket = rep.present if item["intent_id"] in have else rep.planned
                bucket.setdefault(plugin, PluginTotals()).add(item["profit"])
                if item["intent_id"] not in have:
                    fresh.setdefault(plugin, []).append(item)
        if dry_run or not fresh:   # nothing new: no batch (an undo then takes back the import that added rows)
            return rep
        central = _open_central(data_dir)
        try:
            with central:
                cur = central.execute("INSERT INTO import_batches (source, source_sha256, started_at, status) "
                                      "VALUES (?, ?, ?, 'running')", (str(source), _sha256(source), now))
                rep.batch_id = cur.lastrowid
            for plugin, items in fresh.items():
                conn = conns[plugin]
                cols = list(items[0])
                with conn:
                    conn.executemany(f"INSERT INTO trades ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                     [tuple(i[c] for c in cols) for i in items])
                with central:
                    central.executemany("INSERT INTO import_rows (batch_id, plugin, intent_id) VALUES (?, ?, ?)",
                                        [(rep.batch_id, plugin, i["intent_id"]) for i in items])
            for plugin in fresh:
                ids = {r[0] for r in central.execute("SELECT intent_id FROM import_rows WHERE batch_id = ? AND "
                                                     "plugin = ?", (rep.batch_id, plugin))}
                totals = PluginTotals()
                for r in conns[plugin].execute("SELECT intent_id, profit FROM trades WHERE plugin_version = ? "
                                               "AND intent_id LIKE ?", (PLUGIN_VERSION, INTENT_PREFIX + "%")):
                    if r[0] in ids:
                        totals.add(r[1])
                rep.written[plugin] = totals
            with central:
                central.execute("UPDATE import_batches SET finished_at = ?, status = ?, report = ? WHERE batch_id = ?",
                                (time.time(), "imported" if rep.balanced else "failed",
                                 json.dumps(rep.to_dict()), rep.batch_id))
        finally:
            central.close()
        return rep
    finally:
        for conn in conns.values():
            if conn is not None:
                conn.close()


def undo(data_dir: str | Path, batch_id: int | None = None) -> dict:
    """Remove exactly the rows one import batch added (the latest not yet undone by default)."""
    data_dir = Path(data_dir)
    if not central_db.path(data_dir).exists():
        raise ImportError_(f"no central database in {data_dir}: nothing was imported")
    central = _open_central(data_dir)
    try:
        if batch_id is None:
            row = central.execute("SELECT batch_id FROM import_batches WHERE status IN ('imported', 'failed') "
                                  "ORDER BY batch_id DESC LIMIT 1").fetchone()
            if row is None:
                raise ImportError_("no import to undo")
            batch_id = row[0]
        batch = central.execute("SELECT status FROM import_batches WHERE batch_id = ?", (batch_id,)).fetchone()
        if batch is None:
            raise ImportError_(f"no import batch {batch_id}")
        if batch[0] == "undone":
            raise ImportError_(f"import batch {batch_id} was already undone")
        removed: dict[str, int] = {}
        per_plugin: dict[str, list[str]] = {}
        for plugin, intent in central.execute("SELECT plugin, intent_id FROM import_rows WHERE batch_id = ?",
                                              (batch_id,)):
            per_plugin.setdefault(plugin, []).append(intent)
        for plugin, intents in per_plugin.items():
            conn = _open_plugin(data_dir, plugin, create=True)
            try:
                with conn:
                    n = 0
                    for intent in intents:
                        n += conn.execute("DELETE FROM trades WHERE intent_id = ? AND plugin_version = ?",
                                          (intent, PLUGIN_VERSION)).rowcount
                removed[plugin] = n
            finally:
                conn.close()
        with central:
            for plugin, intents in per_plugin.items():
                central.executemany("DELETE FROM aggregated_trades WHERE plugin_id = ? AND intent_id = ?",
                                    [(plugin, i) for i in intents])
            central.execute("DELETE FROM import_rows WHERE batch_id = ?", (batch_id,))
            central.execute("UPDATE import_batches SET status = 'undone', finished_at = ? WHERE batch_id = ?",
                            (time.time(), batch_id))
        return {"batch_id": batch_id, "removed": removed}
    finally:
        central.close()
