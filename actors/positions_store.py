"""The position manager's database (data_dir/positions.db): chains, tracked orders, the re-entry book, the outbox
of intents sent to the broker gateway, small key/value state (sessions, trends, chain owners) and the event log.

One writer (trading/positions). State rows are JSON of the pure modules' ``to_dict()``; a whole handler's changes
and the intents it wants to send are committed in one transaction *before* anything is sent (write-ahead), so a
restart resends exactly the intents that may not have reached the gateway, under the same intent ids.
"""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from gateways.storage.migrations import Migration, migrate
from gateways.storage.sqlite import open_db

MIGRATIONS = [
    Migration(1, "positions", """
CREATE TABLE chains (chain_id TEXT PRIMARY KEY, status TEXT NOT NULL, state TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE tracked (client_id TEXT PRIMARY KEY, ticket INTEGER, status TEXT NOT NULL, state TEXT NOT NULL,
                      updated_at REAL NOT NULL);
CREATE INDEX tracked_ticket ON tracked (ticket);
CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE intents (intent_id TEXT PRIMARY KEY, kind TEXT NOT NULL, body BLOB NOT NULL, status TEXT NOT NULL,
                      created_at REAL NOT NULL, updated_at REAL NOT NULL, outcome TEXT NOT NULL DEFAULT '');
CREATE INDEX intents_status ON intents (status);
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, kind TEXT NOT NULL,
                     chain_id TEXT NOT NULL, symbol TEXT NOT NULL, text TEXT NOT NULL, data TEXT NOT NULL);
"""),
    # the Telegram reports count events by kind (TP-continuation watches armed, ...) over the whole history
    Migration(2, "events_kind_index", "CREATE INDEX events_kind ON events (kind);"),
]


class PositionStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.conn = open_db(self.path)
        migrate(self.conn, MIGRATIONS, name=str(self.path))

    def close(self) -> None:
        self.conn.close()

    # -- loading -----------------------------------------------------------------------------------------------
    def chains(self) -> list[dict]:
        return [json.loads(r["state"]) for r in self.conn.execute("SELECT state FROM chains")]

    def tracked(self) -> list[dict]:
        return [json.loads(r["state"]) for r in self.conn.execute("SELECT state FROM tracked")]

    def get(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return default if row is None else json.loads(row["value"])

    def open_intents(self) -> list[tuple[str, str, bytes]]:
        """Intents written but not answered: (intent_id, kind, encoded message), oldest first."""
        return [(r["intent_id"], r["kind"], bytes(r["body"])) for r in self.conn.execute(
            "SELECT intent_id, kind, body FROM intents WHERE status='sent' ORDER BY created_at, rowid")]

    def intent_known(self, intent_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM intents WHERE intent_id=?", (intent_id,)).fetchone() is not None

    def events(self, limit: int = 100) -> list[dict]:
        return [dict(r) for r in self.conn.execute(
            "SELECT at, kind, chain_id, symbol, text FROM events ORDER BY id DESC LIMIT ?", (limit,))]

    def count_events(self, kind: str) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM events WHERE kind=?", (kind,)).fetchone()[0]

    # -- one commit per handler ----------------------------------------------------------------------------------
    def commit(self, *, chains: Iterable[dict] = (), tracked: Iterable[dict] = (), kv: dict | None = None,
               intents: Iterable[tuple[str, str, bytes]] = (), events: Iterable[dict] = (),
               answered: Iterable[tuple[str, str]] = ()) -> list[str]:
        """Write everything in one transaction; returns the ids of `intents` that are new (an intent id already
        in the outbox is not written again, and must not be sent again)."""
        now = time.time()
        new: list[str] = []
        with self.conn:
            for c in chains:
                self.conn.execute("INSERT OR REPLACE INTO chains VALUES (?,?,?,?)",
                                  (c["chain_id"], c["status"], json.dumps(c), now))
            for t in tracked:
                self.conn.execute("INSERT OR REPLACE INTO tracked VALUES (?,?,?,?,?)",
                                  (t["cid"], t.get("ticket"), t["status"], json.dumps(t), now))
            for k, v in (kv or {}).items():
                self.conn.execute("INSERT OR REPLACE INTO kv VALUES (?,?)", (k, json.dumps(v)))
            for intent_id, kind, body in intents:
                cur = self.conn.execute("INSERT OR IGNORE INTO intents (intent_id, kind, body, status, created_at, "
                                        "updated_at) VALUES (?,?,?,'sent',?,?)", (intent_id, kind, body, now, now))
                if cur.rowcount:
                    new.append(intent_id)
            for intent_id, outcome in answered:
                self.conn.execute("UPDATE intents SET status='done', outcome=?, updated_at=? WHERE intent_id=?",
                                  (outcome, now, intent_id))
            for e in events:
                self.conn.execute("INSERT INTO events (at, kind, chain_id, symbol, text, data) VALUES (?,?,?,?,?,?)",
                                  (e.get("at", now), e["kind"], e.get("chain_id", ""), e.get("symbol", ""),
                                   e["text"], json.dumps(e.get("data", {}), default=str)))
        return new

    def integrity_ok(self) -> bool:
        try:
            return self.conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        except sqlite3.DatabaseError:
            return False
