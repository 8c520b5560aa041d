"""gateways.storage.sqlite.Transaction: one commit for a block of an autocommit connection, nested blocks join."""
from __future__ import annotations

import pytest

from gateways.storage.sqlite import Transaction, open_db


@pytest.fixture
def db(tmp_path):
    conn = open_db(tmp_path / "t.db")
    conn.isolation_level = None
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    yield conn
    conn.close()


def rows(conn) -> list[str]:
    return [r[0] for r in conn.execute("SELECT k FROM t ORDER BY k")]


def test_a_block_commits_once_and_a_nested_block_joins_it(db, tmp_path):
    other = open_db(tmp_path / "t.db", readonly=True)
    try:
        with Transaction(db):
            db.execute("INSERT INTO t VALUES ('a')")
            with Transaction(db):
                db.execute("INSERT INTO t VALUES ('b')")
            assert db.in_transaction            # the inner block did not commit the outer one
            assert rows(other) == []            # nothing visible to a reader before the commit
        assert not db.in_transaction
        assert rows(other) == ["a", "b"]
    finally:
        other.close()


def test_an_error_rolls_back_the_whole_block(db):
    with pytest.raises(ValueError):
        with Transaction(db):
            db.execute("INSERT INTO t VALUES ('a')")
            with Transaction(db):
                db.execute("INSERT INTO t VALUES ('b')")
            raise ValueError("after the writes")
    assert rows(db) == []
    assert not db.in_transaction
