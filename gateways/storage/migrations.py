"""Numbered schema migrations per database, kept in SQLite's ``user_version``.

A database is a list of ``Migration(number, name, sql)`` starting at 1. ``migrate`` applies the missing ones in
order, each in its own transaction, and refuses a database whose version is newer than the code knows (an older
Zepix must not write into a newer schema). ``status`` says where a database stands without changing it.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass


class SchemaTooNew(RuntimeError):
    def __init__(self, name: str, found: int, known: int):
        super().__init__(f"database {name} has schema version {found}, newer than this Zepix knows ({known}); "
                         f"upgrade Zepix or restore a backup")
        self.found, self.known = found, known


class BadMigrations(ValueError):
    """The list of migrations itself is wrong (a programming error, found at start-up)."""


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    sql: str


@dataclass(frozen=True)
class SchemaStatus:
    name: str
    version: int
    latest: int
    pending: tuple[str, ...]

    @property
    def too_new(self) -> bool:
        return self.version > self.latest


def _check(migrations: list[Migration]) -> None:
    numbers = [mig.number for mig in migrations]
    if numbers != list(range(1, len(numbers) + 1)):
        raise BadMigrations(f"migrations must be numbered 1..n without gaps, got {numbers}")


def version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def status(conn: sqlite3.Connection, migrations: list[Migration], name: str = "database") -> SchemaStatus:
    _check(migrations)
    have = version(conn)
    return SchemaStatus(name=name, version=have, latest=len(migrations),
                        pending=tuple(f"{mig.number:03d}_{mig.name}" for mig in migrations[have:]))


def migrate(conn: sqlite3.Connection, migrations: list[Migration], name: str = "database") -> list[str]:
    """Apply what is missing; returns the names applied. Raises SchemaTooNew."""
    _check(migrations)
    have = version(conn)
    if have > len(migrations):
        raise SchemaTooNew(name, have, len(migrations))
    applied = []
    for mig in migrations[have:]:
        # executescript commits first; the BEGIN/COMMIT inside makes the migration and its version one unit
        try:
            conn.executescript(f"BEGIN;\n{mig.sql}\nPRAGMA user_version={mig.number};\nCOMMIT;")
        except Exception:
            if conn.in_transaction:
                conn.rollback()
            raise
        applied.append(f"{mig.number:03d}_{mig.name}")
    return applied


def integrity(conn: sqlite3.Connection) -> list[str]:
    """SQLite's integrity check: an empty list when the file is sound."""
    rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
    return [] if rows == ["ok"] else rows
