"""Small persistent state of one Telegram bot (SQLite, WAL): the getUpdates offset, so a restart neither loses
nor replays a command, and the pinned header's message id per chat. One writer: the bot's actor."""
from __future__ import annotations

import os
import sqlite3


class BotState:
    def __init__(self, path: str | os.PathLike[str]):
        self._db = sqlite3.connect(os.fspath(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def get(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def get_int(self, key: str) -> int | None:
        v = self.get(key)
        return int(v) if v is not None else None

    def set(self, key: str, value) -> None:
        if value is None:
            self._db.execute("DELETE FROM kv WHERE key = ?", (key,))
        else:
            self._db.execute("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                             "excluded.value", (key, str(value)))

    def close(self) -> None:
        self._db.close()
