"""``zepix-admin db status`` and ``zepix-admin health`` against a full default system started with
``python run.py`` (every built-in subtree, Telegram off): each database Zepix creates is listed with its owner and
its schema version at the latest migration, none of unknown owner, and health reports every actor of the tree."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from supervision.admin import walk
from tests.e2e.test_run import run_py
from tests.support.system import REPO, wait_for

pytestmark = pytest.mark.slow

PLUGINS = ("combined_v3", "legacy_v4", "price_action_1m", "price_action_5m", "price_action_15m", "price_action_1h")
EXPECTED = {"alerts.db": "alert journal", "broker/gateway.db": "gateway ledger",
            "broker/paper.db": "paper broker account", "config_history.db": "config history",
            "positions.db": "position manager", "risk.db": "risk state", "zepix_bot.db": "central",
            **{f"plugins/{p}.db": f"plugin {p}" for p in PLUGINS}}
LINE = re.compile(r"^  (\S+)\s+(.+?)\s+v\s*(\S+)/(\S+)\s+(.*)$")


def db_status(data_dir) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "supervision.admin", "db", "status", "--data-dir", str(data_dir)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    rows = {m[1]: m.groups()[1:] for m in map(LINE.match, done.stdout.splitlines()) if m}
    return done.returncode, rows


def test_db_status_and_health_cover_the_whole_default_system(tmp_path):
    with run_py(tmp_path) as r:
        tree = r.wait_ready(40)
        # every actor opens its database in setup, which may end just after the tree reads "running"
        code, rows = wait_for(lambda: (s := db_status(r.data)) and set(EXPECTED) <= set(s[1]) and s, 20,
                              interval=0.2, what="every database created")
        assert code == 0, rows
        assert set(rows) == set(EXPECTED), sorted(set(rows) ^ set(EXPECTED))
        for path, (kind, ver, latest, state) in rows.items():
            assert kind.startswith(EXPECTED[path]), (path, kind)
            assert state == "ok", (path, state)
            if path != "broker/paper.db":    # the paper account has no migrations
                assert ver == latest and int(ver) >= 1, (path, ver, latest)
        assert "plugin combined_v3 (v3)" in rows["plugins/combined_v3.db"][0]
        assert "plugin legacy_v4 (legacy)" in rows["plugins/legacy_v4.db"][0]

        def health():
            done = subprocess.run([sys.executable, "-m", "supervision.admin", "--port", str(r.admin_port), "health",
                                   "--json"], cwd=REPO, capture_output=True, text=True, timeout=60)
            return json.loads(done.stdout)

        # an actor still finishing its setup may miss the first status round
        health = wait_for(lambda: (h := health())["ok"] and h, 15, interval=0.5, what="health ok")
        paths = {n["path"].removeprefix("zepix-root/") for n in walk(tree)}
        listed = {a["path"] for a in health["actors"]}
        assert paths == listed, sorted(paths ^ listed)
        assert all(a["alive"] and a["state"] == "running" and a["pid"] for a in health["actors"]), \
            [a for a in health["actors"] if not (a["alive"] and a["state"] == "running")]
