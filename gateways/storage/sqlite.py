"""Open a SQLite database the way every Zepix database is opened: WAL journal, a busy timeout, foreign keys on.

One actor writes each database file (DESIGN.md); readers (db sync, admin CLI, reports) open it read-only with
``readonly=True``, so they never take the write lock.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

BUSY_TIMEOUT_MS = 5000


def open_db(path: str | Path, readonly: bool = False) -> sqlite3.Connection:
    path = Path(path)
    if readonly:
        if not path.exists():
            raise FileNotFoundError(f"database {path} does not exist")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL survives a process crash; only a power loss can drop the last commits
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    return conn


class Transaction:
    """BEGIN IMMEDIATE / COMMIT around a block of an autocommit connection (``isolation_level = None``); a block
    inside another joins the outer transaction, and an exception rolls the whole transaction back. One commit
    instead of one per statement: each commit is a WAL write of its own."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db
        self.outer = False

    def __enter__(self) -> sqlite3.Connection:
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
            self.outer = True
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.outer:
            return
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")
