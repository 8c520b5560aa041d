"""The gateway's own SQLite database (DATA_DIR/broker/gateway.db): intent -> ticket mapping and known positions.

Every intent is written here BEFORE it is sent (state "pending") and again AFTER the broker answered (state
"done", "rejected" or "unknown"), so a gateway that dies between the two finds a "pending" row at its next
start and reconciles it against the broker (by magic number and the intent's tag in the order comment) before
anything is sent again. A repeated intent id is answered from the stored outcome and never sent twice.
`positions` are the positions the gateway knows it opened (or adopted); deals that close them become events.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateways.storage.migrations import Migration, migrate
from gateways.storage.sqlite import Transaction, open_db

MIGRATIONS = [
    Migration(1, "intents_positions_deals", """
CREATE TABLE intents (
    intent_id TEXT PRIMARY KEY, kind TEXT NOT NULL, plugin TEXT NOT NULL, magic INTEGER NOT NULL,
    tag TEXT NOT NULL, symbol TEXT NOT NULL DEFAULT '', request TEXT NOT NULL, state TEXT NOT NULL,
    ticket INTEGER, outcome TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX intents_state ON intents (state);
CREATE TABLE positions (
    ticket INTEGER PRIMARY KEY, intent_id TEXT, plugin TEXT NOT NULL, magic INTEGER NOT NULL,
    symbol TEXT NOT NULL, side TEXT NOT NULL, volume TEXT NOT NULL, price TEXT NOT NULL,
    sl TEXT, tp TEXT, state TEXT NOT NULL, opened_at REAL NOT NULL, closed_at REAL, close_reason TEXT);
CREATE INDEX positions_state ON positions (state);
CREATE TABLE seen_deals (ticket INTEGER PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""),
]

TAG_PREFIX = "zx"


def intent_tag(intent_id: str) -> str:
    """A short, stable tag of the intent id for the order comment (MT5 keeps 31 characters; ids are longer)."""
    return TAG_PREFIX + hashlib.sha1(intent_id.encode()).hexdigest()[:10]


def comment_for(intent_id: str, comment: str) -> str:
    """The broker comment: the intent tag first (reconciliation searches for it), then the plugin's text."""
    text = f"{intent_tag(intent_id)} {comment}".strip()
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)[:31]


def _json_default(x: Any) -> Any:
    if isinstance(x, Decimal):
        return str(x)
    raise TypeError(f"{type(x).__name__} is not JSON")


def dumps(x: Any) -> str:
    return json.dumps(x, default=_json_default, sort_keys=True)


class Ledger:
    def __init__(self, path: str | Path):
        self.db: sqlite3.Connection = open_db(path)
        self.db.isolation_level = None   # autocommit: every write is durable before we go on (WAL)
        migrate(self.db, MIGRATIONS, "broker gateway")

    def close(self) -> None:
        self.db.close()

    # -- intents -----------------------------------------------------------------------------------------------
    def intent(self, intent_id: str) -> dict | None:
        row = self.db.execute("SELECT * FROM intents WHERE intent_id=?", (intent_id,)).fetchone()
        if row is None:
            return None
        d = dict(row)
        d["request"] = json.loads(d["request"])
        d["outcome"] = json.loads(d["outcome"]) if d["outcome"] else None
        return d

    def begin(self, intent_id: str, kind: str, plugin: str, magic: int, symbol: str, request: dict,
              attempts: int = 0) -> None:
        now = time.time()
        self.db.execute("INSERT INTO intents (intent_id, kind, plugin, magic, tag, symbol, request, state, "
                        "created_at, updated_at, attempts) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (intent_id, kind, plugin, magic, intent_tag(intent_id), symbol, dumps(request),
                         "pending", now, now, attempts))

    def tx(self) -> Transaction:
        """The writes inside are one commit (what follows a send: its position, deal and outcome together)."""
        return Transaction(self.db)

    def attempt(self, intent_id: str) -> None:
        self.db.execute("UPDATE intents SET attempts=attempts+1, updated_at=? WHERE intent_id=?",
                        (time.time(), intent_id))

    def finish(self, intent_id: str, state: str, ticket: int | None, outcome: dict) -> None:
        self.db.execute("UPDATE intents SET state=?, ticket=?, outcome=?, updated_at=? WHERE intent_id=?",
                        (state, ticket, dumps(outcome), time.time(), intent_id))

    def unfinished(self) -> list[dict]:
        rows = self.db.execute("SELECT intent_id FROM intents WHERE state='pending' ORDER BY created_at").fetchall()
        return [self.intent(r[0]) for r in rows]

    def count_intents(self) -> dict:
        return {r[0]: r[1] for r in self.db.execute("SELECT state, count(*) FROM intents GROUP BY state")}

    # -- positions ---------------------------------------------------------------------------------------------
    def add_position(self, ticket: int, intent_id: str | None, plugin: str, magic: int, symbol: str, side: str,
                     volume: Decimal, price: Decimal, sl: Decimal | None, tp: Decimal | None,
                     state: str = "open") -> None:
        self.db.execute("INSERT OR REPLACE INTO positions (ticket, intent_id, plugin, magic, symbol, side, volume, "
                        "price, sl, tp, state, opened_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        (ticket, intent_id, plugin, magic, symbol, side, str(volume), str(price),
                         None if sl is None else str(sl), None if tp is None else str(tp), state, time.time()))

    def position(self, ticket: int) -> dict | None:
        row = self.db.execute("SELECT * FROM positions WHERE ticket=?", (ticket,)).fetchone()
        return dict(row) if row else None

    def open_positions(self) -> list[dict]:
        return [dict(r) for r in self.db.execute("SELECT * FROM positions WHERE state='open' ORDER BY ticket")]

    def reduce_position(self, ticket: int, volume: Decimal) -> Decimal:
        """Take `volume` off; closes the record at zero. Returns what is left."""
        p = self.position(ticket)
        if p is None:
            return Decimal(0)
        rest = max(Decimal(p["volume"]) - volume, Decimal(0))
        self.db.execute("UPDATE positions SET volume=? WHERE ticket=?", (str(rest), ticket))
        return rest

    def close_position(self, ticket: int, reason: str) -> None:
        self.db.execute("UPDATE positions SET state='closed', closed_at=?, close_reason=? WHERE ticket=?",
                        (time.time(), reason, ticket))

    def set_levels(self, ticket: int, sl: Decimal | None, tp: Decimal | None) -> None:
        self.db.execute("UPDATE positions SET sl=?, tp=? WHERE ticket=?",
                        (None if sl is None else str(sl), None if tp is None else str(tp), ticket))

    # -- deals -------------------------------------------------------------------------------------------------
    def seen(self, ticket: int) -> bool:
        return self.db.execute("SELECT 1 FROM seen_deals WHERE ticket=?", (ticket,)).fetchone() is not None

    def mark_seen(self, ticket: int) -> None:
        self.db.execute("INSERT OR IGNORE INTO seen_deals VALUES (?, ?)", (ticket, time.time()))

    def get(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def put(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
