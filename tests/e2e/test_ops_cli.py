"""``zepix-admin db`` and ``import-v4`` on real files, as the operator runs them (subprocesses, no Zepix needed)."""
from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys

from gateways.storage import central_db
from gateways.storage.migrations import migrate
from gateways.storage.plugin_db import path_for
from gateways.storage.sqlite import open_db
from tests.support.ops_data import make_v4_db, plugin_db
from tests.support.system import REPO, free_port


def admin(*argv, port=None):
    return subprocess.run([sys.executable, "-m", "supervision.admin", "--port", str(port or free_port()), *argv],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


def test_db_status_and_migrate(tmp_path):
    c = open_db(central_db.path(tmp_path))
    migrate(c, central_db.MIGRATIONS[:1])
    c.close()
    plugin_db(tmp_path, "combined_v3").close()
    out = admin("db", "status", "--data-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "zepix_bot.db" in out.stdout and "pending 002_v4_import" in out.stdout
    assert "plugins/combined_v3.db" in out.stdout
    # refused while something answers on the admin port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        refused = admin("db", "migrate", "--data-dir", str(tmp_path), port=busy.getsockname()[1])
    assert refused.returncode == 1 and "stop it before migrating" in refused.stderr
    out = admin("db", "migrate", "--data-dir", str(tmp_path))
    assert out.returncode == 0 and "applied 002_v4_import" in out.stdout, out.stdout + out.stderr
    newer = open_db(path_for(tmp_path, "legacy_v4"))
    newer.execute("PRAGMA user_version=7")
    newer.close()
    out = admin("db", "status", "--data-dir", str(tmp_path))
    assert out.returncode == 1 and "schema version 7, newer than this Zepix knows" in out.stdout


def test_import_v4_cli_report_totals_idempotent_and_undo(tmp_path):
    src = tmp_path / "trading_bot.db"
    expect = make_v4_db(src, n=40, bad=1)
    data = tmp_path / "data"
    dry = admin("import-v4", str(src), "--dry-run", "--json", "--data-dir", str(data))
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["source_rows"] == expect["rows"] and report["balanced"] and not (data / "plugins").exists()
    out = admin("import-v4", str(src), "--json", "--data-dir", str(data))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["balanced"] and report["new"]["combined_v3"]["rows"] == expect["v3"]
    assert report["new"]["legacy_v4"]["rows"] == expect["legacy"] and len(report["rejected"]) == 1
    held = sum(sqlite3.connect(path_for(data, p)).execute("SELECT COUNT(*) FROM trades").fetchone()[0]
               for p in ("combined_v3", "legacy_v4"))
    assert held == expect["v3"] + expect["legacy"]
    again = admin("import-v4", str(src), "--data-dir", str(data))
    assert again.returncode == 0 and "0 new" in again.stdout and "totals match      : yes" in again.stdout
    undone = admin("import-v4", "--undo", "--data-dir", str(data))
    assert undone.returncode == 0 and f"combined_v3 {expect['v3']}" in undone.stdout, undone.stdout + undone.stderr
    assert sqlite3.connect(path_for(data, "combined_v3")).execute("SELECT COUNT(*) FROM trades").fetchone()[0] == 0
    bad = admin("import-v4", str(tmp_path / "nope.db"), "--data-dir", str(data))
    assert bad.returncode == 1 and "does not exist" in bad.stderr
