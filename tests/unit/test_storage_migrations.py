"""Numbered migrations on real SQLite files: applied in order once, a newer database refused, gaps refused."""
import pytest

from gateways.storage import migrations as mg
from gateways.storage.plugin_db import migrations_for, path_for
from gateways.storage.sqlite import open_db

MIGS = [mg.Migration(1, "a", "CREATE TABLE a (x INTEGER);"), mg.Migration(2, "b", "CREATE TABLE b (y TEXT);")]


def test_applies_missing_in_order_and_only_once(tmp_path):
    conn = open_db(tmp_path / "x.db")
    assert mg.migrate(conn, MIGS[:1], "x") == ["001_a"]
    assert mg.status(conn, MIGS, "x").pending == ("002_b",)
    assert mg.migrate(conn, MIGS, "x") == ["002_b"]
    assert mg.migrate(conn, MIGS, "x") == []
    assert mg.version(conn) == 2
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert mg.integrity(conn) == []


def test_a_newer_database_is_refused(tmp_path):
    conn = open_db(tmp_path / "x.db")
    mg.migrate(conn, MIGS, "x")
    with pytest.raises(mg.SchemaTooNew, match="schema version 2, newer than this Zepix knows \\(1\\)"):
        mg.migrate(conn, MIGS[:1], "x")


def test_a_failing_migration_leaves_the_version(tmp_path):
    conn = open_db(tmp_path / "x.db")
    bad = MIGS[:1] + [mg.Migration(2, "bad", "CREATE TABLE c (z); THIS IS NOT SQL;")]
    with pytest.raises(Exception):
        mg.migrate(conn, bad, "x")
    conn.rollback()
    assert mg.version(conn) == 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name='c'").fetchone() is None


def test_gaps_are_a_programming_error():
    with pytest.raises(mg.BadMigrations):
        mg.status(None, [mg.Migration(2, "x", "")])


def test_plugin_db_common_schema(tmp_path):
    conn = open_db(path_for(tmp_path, "combined_v3"))
    mg.migrate(conn, migrations_for("v3"), "combined_v3")
    cols = {r[1] for r in conn.execute("PRAGMA table_info(trades)")}
    assert {"trade_id", "order_role", "intent_id", "ticket", "profit", "status", "updated_at"} <= cols
