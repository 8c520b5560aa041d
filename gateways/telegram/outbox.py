"""Persisted outbox for Telegram messages that must survive a restart (CRITICAL, optionally HIGH).

The owning actor adds a message before handing it to the scheduler, marks it sent (or failed) when the scheduler
reports the outcome, and on start-up re-enqueues `pending()`. Delivery is at least once: a crash between the
Bot API answering and `mark_sent` resends the message after the restart.

SQLite in WAL mode with synchronous=FULL (a CRITICAL notification must not vanish on power loss); one writer
(the owning actor) per file. Times are wall-clock epoch seconds, passed in.
"""
from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, replace
from typing import Sequence

from .sender import OutMessage

_MIGRATIONS: tuple[str, ...] = (
    # 1: the outbox table. `key` is the message's identity, so adding the same message twice is a no-op.
    """
    CREATE TABLE outbox (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        key         TEXT UNIQUE,
        priority    INTEGER NOT NULL,
        chat_id     TEXT NOT NULL,
        message     TEXT NOT NULL,
        created_at  REAL NOT NULL,
        status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
        done_at     REAL,
        message_ids TEXT,
        error       TEXT
    );
    CREATE INDEX outbox_pending ON outbox (status, id);
    """,
)


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    message: OutMessage
    created_at: float


class Outbox:
    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves so each call is one explicit transaction.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(_MIGRATIONS):
            raise RuntimeError(f"{self.path}: outbox schema version {version} is newer than this code "
                               f"({len(_MIGRATIONS)})")
        for n in range(version, len(_MIGRATIONS)):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for stmt in filter(str.strip, _MIGRATIONS[n].split(";")):
                    self._db.execute(stmt)
                self._db.execute(f"PRAGMA user_version={n + 1}")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @property
    def journal_mode(self) -> str:
        return self._db.execute("PRAGMA journal_mode").fetchone()[0]

    def add(self, message: OutMessage, now: float) -> OutMessage | None:
        """Store `message`; returns it with its key set (generated when it had none), or None when a message
        with that key is already in the outbox (pending, sent or failed) and must not be queued again."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO outbox (key, priority, chat_id, message, created_at) VALUES (?, ?, ?, ?, ?)",
                (message.key, int(message.priority), str(message.chat_id), json.dumps(message.to_dict()), now))
            if cur.rowcount == 0:
                self._db.execute("COMMIT")
                return None
            if message.key is None:
                message = replace(message, key=f"outbox-{cur.lastrowid}")
                self._db.execute("UPDATE outbox SET key = ?, message = ? WHERE id = ?",
                                 (message.key, json.dumps(message.to_dict()), cur.lastrowid))
            self._db.execute("COMMIT")
            return message
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def mark_sent(self, key: str, now: float, message_ids: Sequence[int | None] = ()) -> bool:
        return self._finish(key, "sent", now, json.dumps(list(message_ids)), None)

    def mark_failed(self, key: str, now: float, error: str) -> bool:
        """A permanent failure (e.g. the bot was blocked): kept for the record, no longer pending."""
        return self._finish(key, "failed", now, None, error)

    def _finish(self, key: str, status: str, now: float, ids: str | None, error: str | None) -> bool:
        cur = self._db.execute(
            "UPDATE outbox SET status = ?, done_at = ?, message_ids = ?, error = ? WHERE key = ? AND status = 'pending'",
            (status, now, ids, error, key))
        return cur.rowcount == 1

    def pending(self) -> list[OutboxEntry]:
        """Messages not yet sent, oldest first (the order they were added)."""
        rows = self._db.execute(
            "SELECT id, message, created_at FROM outbox WHERE status = 'pending' ORDER BY id").fetchall()
        return [OutboxEntry(id=r[0], message=OutMessage.from_dict(json.loads(r[1])), created_at=r[2]) for r in rows]

    def status(self, key: str) -> str | None:
        row = self._db.execute("SELECT status FROM outbox WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def prune(self, older_than: float) -> int:
        """Delete finished rows whose outcome is older than `older_than`; pending rows are never deleted."""
        cur = self._db.execute("DELETE FROM outbox WHERE status != 'pending' AND done_at < ?", (older_than,))
        return cur.rowcount

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Outbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
