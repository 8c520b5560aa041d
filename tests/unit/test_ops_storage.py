"""Central database sync, V4 import, migrations catalog, backups and the TOML editor, on real SQLite files."""
from __future__ import annotations

import sqlite3
import time
from decimal import Decimal

import pytest

from config.toml_edit import set_key
from gateways.storage import backup, catalog, central_db, sync
from gateways.storage.migrations import migrate
from gateways.storage.plugin_db import path_for
from gateways.storage.sqlite import open_db
from gateways.storage.v4_import import LEGACY, V3, classify, import_v4, undo
from tests.support.ops_data import add_trades, make_v4_db, plugin_db, touch_trade


@pytest.fixture
def central(tmp_path):
    conn = open_db(central_db.path(tmp_path))
    migrate(conn, central_db.MIGRATIONS)
    yield conn
    conn.close()


def agg(conn, plugin=None):
    q = "SELECT intent_id, profit_dollars FROM aggregated_trades" + (" WHERE plugin_id = ?" if plugin else "")
    return dict(conn.execute(q, (plugin,) if plugin else ()).fetchall())


def test_sync_is_incremental_and_idempotent(tmp_path, central):
    a, b = plugin_db(tmp_path, "combined_v3"), plugin_db(tmp_path, "price_action_5m")
    add_trades(a, "combined_v3", 30)
    add_trades(b, "price_action_5m", 5)
    run = sync.sync_all(central, tmp_path, batch=7)
    assert run.ok and run.more
    while run.more:
        run = sync.sync_all(central, tmp_path, batch=7)
    assert len(agg(central)) == 35
    again = sync.sync_all(central, tmp_path, batch=1000, lookback=0.0)
    assert again.ok and again.summary()["written"] == 0 and again.summary()["read"] == 0
    touch_trade(a, "combined_v3-intent-3", "-9.5")
    add_trades(a, "combined_v3", 2, start=30)
    run = sync.sync_all(central, tmp_path, batch=1000)
    assert run.summary()["written"] == 3, run.summary()
    rows = agg(central, "combined_v3")
    assert len(rows) == 32 and rows["combined_v3-intent-3"] == "-9.5"
    assert central.execute("SELECT COUNT(*) FROM aggregated_trades").fetchone()[0] == 37
    reg = dict(central.execute("SELECT plugin_id, status FROM plugins_registry").fetchall())
    assert reg["combined_v3"] == "ACTIVE" and reg["price_action_5m"] == "ACTIVE"


def test_a_corrupt_plugin_database_fails_alone_and_recovers_without_duplicates(tmp_path, central):
    a, b = plugin_db(tmp_path, "combined_v3"), plugin_db(tmp_path, "legacy_v4")
    add_trades(a, "combined_v3", 10)
    add_trades(b, "legacy_v4", 4)
    a.close()
    target = path_for(tmp_path, "combined_v3")
    good = target.read_bytes()
    target.write_bytes(b"this is not a database" * 200)
    run = sync.sync_all(central, tmp_path)
    assert not run.ok and "combined_v3" in run.errors() and "legacy_v4" not in run.errors()
    assert len(agg(central, "legacy_v4")) == 4
    assert central.execute("SELECT status FROM plugins_registry WHERE plugin_id='combined_v3'").fetchone()[0] == "ERROR"
    target.write_bytes(good)
    for wal in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        wal.unlink(missing_ok=True)
    assert sync.sync_all(central, tmp_path).ok
    assert sync.sync_all(central, tmp_path).ok
    assert len(agg(central, "combined_v3")) == 10 and len(agg(central)) == 14


def test_a_locked_plugin_database_times_out_then_syncs(tmp_path, central):
    a = plugin_db(tmp_path, "combined_v3")
    add_trades(a, "combined_v3", 3)
    a.execute("PRAGMA locking_mode=EXCLUSIVE")
    a.execute("BEGIN EXCLUSIVE")
    a.execute("UPDATE trades SET profit = '2' WHERE id = 1")
    run = sync.sync_all(central, tmp_path, read_timeout=0.2)
    assert not run.ok and "locked" in run.errors()["combined_v3"]
    a.commit()
    a.close()
    run = sync.sync_all(central, tmp_path)
    assert run.ok and len(agg(central)) == 3


def test_classify_v4_rows():
    assert classify({"strategy": "ZepixPremium", "direction": "BUY"}) == LEGACY
    assert classify({"strategy": "combinedlogic-2", "direction": "buy"}) == V3
    assert classify({"strategy": "LOGIC1", "direction": "SELL"}) == V3
    assert classify({"strategy": "LOGIC1", "direction": "sell"}) == LEGACY


def test_v4_import_matches_totals_is_idempotent_and_reversible(tmp_path):
    src = tmp_path / "trading_bot.db"
    expect = make_v4_db(src, n=60, bad=3)
    data = tmp_path / "data"
    dry = import_v4(src, data, dry_run=True)
    assert dry.balanced and not path_for(data, V3).exists()
    rep = import_v4(src, data)
    assert rep.balanced, rep.text()
    assert rep.source_rows == expect["rows"] and rep.source_pnl == expect["pnl"]
    assert len(rep.rejected) == 3
    assert rep.written[V3].rows == expect["v3"] and rep.written[LEGACY].rows == expect["legacy"]
    total = Decimal(0)
    count = 0
    for plugin in (V3, LEGACY):
        conn = sqlite3.connect(path_for(data, plugin))
        for (p,) in conn.execute("SELECT profit FROM trades"):
            total += Decimal(p) if p is not None else 0
            count += 1
        conn.close()
    assert count == expect["v3"] + expect["legacy"]
    bad_pnl = rep.rejected_pnl
    assert total + bad_pnl == expect["pnl"]
    again = import_v4(src, data)
    assert again.balanced and not again.planned and sum(t.rows for t in again.present.values()) == count
    # a trade the plugin wrote itself survives the undo
    own = plugin_db(data, V3)
    add_trades(own, V3, 1)
    own.close()
    result = undo(data)
    assert result["removed"] == {V3: expect["v3"], LEGACY: expect["legacy"]}
    conn = sqlite3.connect(path_for(data, V3))
    assert conn.execute("SELECT intent_id FROM trades").fetchall() == [(f"{V3}-intent-0",)]
    conn.close()
    again = import_v4(src, data)
    assert sum(t.rows for t in again.planned.values()) == count and again.balanced
    with pytest.raises(Exception, match="already undone"):
        undo(data, rep.batch_id)


def test_catalog_reports_versions_refuses_newer_and_finds_corruption(tmp_path):
    central = open_db(central_db.path(tmp_path))
    migrate(central, central_db.MIGRATIONS[:1])
    central.close()
    plugin_db(tmp_path, "combined_v3").close()
    newer = open_db(path_for(tmp_path, "price_action_1m"))
    newer.execute("PRAGMA user_version=99")
    newer.close()
    (tmp_path / "plugins" / "broken.db").write_bytes(b"garbage" * 1000)
    reports = {r.path: r for r in catalog.check(tmp_path)}
    assert reports["zepix_bot.db"].pending == ["002_v4_import"]
    assert reports["plugins/combined_v3.db"].ok and not reports["plugins/combined_v3.db"].pending
    assert "newer than this Zepix knows" in reports["plugins/price_action_1m.db"].error
    assert reports["plugins/broken.db"].error
    applied = {r.path: r for r in catalog.check(tmp_path, apply=True)}
    assert applied["zepix_bot.db"].applied == ["002_v4_import"] and applied["zepix_bot.db"].version == 2
    assert applied["plugins/price_action_1m.db"].version == 99 and not applied["plugins/price_action_1m.db"].applied


def test_backup_copies_every_database_and_keeps_retention(tmp_path):
    data = tmp_path / "data"
    conn = plugin_db(data, "combined_v3")
    add_trades(conn, "combined_v3", 5)
    c = open_db(central_db.path(data))
    migrate(c, central_db.MIGRATIONS)
    c.close()
    sets = []
    for i in range(4):
        res = backup.backup_all(data, data / "backups", retention=2, now=1_700_000_000 + i)
        assert not res["errors"] and sorted(res["copied"]) == ["plugins/combined_v3.db", "zepix_bot.db"]
        sets.append(res["set"])
    kept = sorted(p.name for p in (data / "backups").iterdir())
    assert len(kept) == 2 and kept[-1] == sets[-1].rsplit("/", 1)[1]
    copy = sqlite3.connect(f"{sets[-1]}/plugins/combined_v3.db")
    assert copy.execute("SELECT COUNT(*) FROM trades").fetchone()[0] == 5
    copy.close()
    conn.close()


def test_toml_edit_keeps_comments_and_refuses_what_it_cannot_edit():
    text = "# mine\n[ops.health]\nmax_rss_mb = 5.0  # old\n\n[webhook]\nport = 1\n"
    out = set_key(text, "ops.health.max_rss_mb", 800.0)
    assert "# mine" in out and "max_rss_mb = 800.0" in out and "port = 1" in out
    assert "max_threads = 3" in set_key(text, "ops.health.max_threads", 3)
    assert "[ops.dbsync]\nretry_delays = [1.0, 2.0]" in set_key(text, "ops.dbsync.retry_delays", [1.0, 2.0])
    with pytest.raises(ValueError, match="edit it by hand"):
        set_key("ops = {health = {max_rss_mb = 1.0}}\n", "ops.health.max_rss_mb", 2.0)


def test_backup_of_databases_being_written_is_consistent(tmp_path):
    """Every database of a data dir, at any depth, is copied while a writer keeps committing: each copy passes
    integrity_check and holds whole transactions only (each one writes a debit and its matching credit)."""
    import threading

    from tests.support.system import wait_for

    names = ["alerts.db", "broker/gateway.db", "risk.db", "positions.db", "plugins/combined_v3.db", "zepix_bot.db"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        c = open_db(tmp_path / name)
        c.execute("CREATE TABLE t (tx INTEGER, amount INTEGER)")
        c.close()
    stop, done = threading.Event(), [0]

    def writer():
        conn = open_db(tmp_path / "broker/gateway.db")
        while not stop.is_set():
            with conn:
                conn.execute("INSERT INTO t VALUES (?, ?)", (done[0], 7))
                conn.execute("INSERT INTO t VALUES (?, ?)", (done[0], -7))
            done[0] += 1
        conn.close()

    th = threading.Thread(target=writer)
    th.start()
    try:
        wait_for(lambda: done[0] > 200, 10, what="writer under way")
        result = backup.backup_all(tmp_path, tmp_path / "backups", retention=3, pages=1)
        at_copy = done[0]
    finally:
        stop.set()
        th.join(10)
    assert not result["errors"] and sorted(result["copied"]) == sorted(names)
    copy = sqlite3.connect(f"{result['set']}/broker/gateway.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    n, total = copy.execute("SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM t").fetchone()
    copy.close()
    assert n % 2 == 0 and total == 0 and 0 < n // 2 <= at_copy + 1
