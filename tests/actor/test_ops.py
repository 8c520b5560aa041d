"""Operations with real processes: health sees every actor, db sync survives injected failures without
duplicates, a config change on disk reaches an actor without a restart, an invalid change is refused and
reported, commands change config atomically, supervision events land in the central database."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import uuid

import pytest

from actors import messages as m
from config.toml_edit import set_key
from gateways.storage import central_db
from gateways.storage.plugin_db import path_for
from tests.support.ops_data import add_trades, plugin_db, touch_trade
from tests.support.system import REPO, running_system, wait_for

pytestmark = pytest.mark.slow

TOML = """
[supervision.subtrees.ingress]
builtin = false
[supervision.subtrees.trading]
builtin = false
[supervision.subtrees.broker]
builtin = false
[supervision.subtrees.telegram]
builtin = false
[ops.health]
sample_interval = 0.5
[ops.dbsync]
interval = 3600.0
retry_delays = [0.3, 0.6, 3.0]
read_timeout = 0.3
[ops.config]
poll_interval = 0.2
apply_timeout = 1.0
[[supervision.extra]]
parent = "telegram"
name = "notifier"
actor = "tests.support.ops_actors.NotifierDouble"
[[supervision.extra]]
parent = "trading"
name = "probe"
actor = "tests.support.ops_actors.ConfigProbe"
"""


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ops")
    with running_system(tmp, TOML, env={"ZEPIX_CONFIG": str(tmp / "zepix-test.toml")}) as s:
        yield s


def ask(s, path, name, timeout=5.0, **args):
    reply = s.client.ask_actor(path, m.Command(corr=uuid.uuid4().hex, name=name, args=args, user="test"), timeout)
    assert reply is not None, f"{path} did not answer {name}"
    return reply


def notes(s, kind=None):
    seen = ask(s, "telegram/notifier", "seen").data["seen"]
    return [n for n in seen if kind is None or n[0] == kind]


def admin(s, *argv, timeout=60):
    return subprocess.run([sys.executable, "-m", "supervision.admin", "--port", str(s.config["system"]["admin_port"]),
                           *argv], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def edit_config(s, key, value):
    path = s.test_dir / "zepix-test.toml"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(set_key(path.read_text(), key, value))
    os.replace(tmp, path)


def probe_value(s, key="ops.health.max_threads"):
    return ask(s, "trading/probe", "config", key=key).data["value"]


def test_health_shows_every_actor_pid_and_memory(system):
    tree = system.tree()

    def paths(node):
        yield node["path"].removeprefix("zepix-root").strip("/") or "zepix-root", node["pid"]
        for c in node["children"]:
            yield from paths(c)

    want = dict(paths(tree))
    assert len(want) == 11
    reply = wait_for(lambda: (r := ask(system, "ops/health", "health", fresh=True)) and
                     len(r.data["actors"]) == len(want) and
                     all(a["latency_ms"] is not None for a in r.data["actors"] if a["path"] != "zepix-root") and r,
                     10, what="a health sample of the whole tree")
    by_path = {a["path"]: a for a in reply.data["actors"]}

    for path, pid in want.items():
        a = by_path[path]
        assert a["pid"] == pid and a["rss_mb"] > 1 and a["threads"] >= 1 and a["open_files"] > 0, a
        if path != "zepix-root":
            assert a["latency_ms"] is not None and a["heartbeat_age_s"] is not None
    out = admin(system, "health", "--json")
    assert out.returncode == 0, out.stderr
    import json
    data = json.loads(out.stdout)
    assert {a["path"] for a in data["actors"]} == set(by_path)
    text = admin(system, "health")
    assert "ops/dbsync" in text.stdout and "RSS MB" in text.stdout


def test_sync_with_injected_failures_recovers_and_never_duplicates(system):
    data = system.test_dir / "data"
    conn = plugin_db(data, "combined_v3")
    intents = add_trades(conn, "combined_v3", 40)
    other = plugin_db(data, "price_action_5m")
    add_trades(other, "price_action_5m", 7)
    reply = ask(system, "ops/dbsync", "sync")
    assert reply.ok and reply.data["status"]["rows"] == 47, reply.text
    conn.close()
    target = path_for(data, "combined_v3")
    good = target.read_bytes()
    target.write_bytes(b"not a database at all" * 500)
    add_trades(other, "price_action_5m", 3, start=7)
    reply = ask(system, "ops/dbsync", "sync")
    assert not reply.ok and "combined_v3" in reply.text
    # the retries after 0.3 and 0.6 s fail too: the third failure in a row raises one CRITICAL alert
    crit = wait_for(lambda: notes(system, "dbsync_failed"), 10, what="a CRITICAL dbsync alert")
    assert crit[0][1] == "CRITICAL" and "3 times in a row" in crit[0][2]
    target.write_bytes(good)
    # the third retry (3 s) finds the database readable again
    st = wait_for(lambda: (d := ask(system, "ops/dbsync", "status").data)["ok"] and d, 15, what="sync recovered")
    assert st["rows"] == 50
    assert notes(system, "dbsync_recovered")
    conn = plugin_db(data, "combined_v3")
    touch_trade(conn, intents[0], "-3.75")
    add_trades(conn, "combined_v3", 2, start=40)
    conn.close()
    for _ in range(2):
        assert ask(system, "ops/dbsync", "sync").ok
    out = admin(system, "sync")
    assert out.returncode == 0, out.stderr
    central = sqlite3.connect(f"file:{central_db.path(data)}?mode=ro", uri=True)
    try:
        rows = central.execute("SELECT plugin_id, intent_id, profit_dollars FROM aggregated_trades").fetchall()
    finally:
        central.close()
    assert len(rows) == 52 == len({(p, i) for p, i, _ in rows})
    assert dict(((p, i), v) for p, i, v in rows)[("combined_v3", intents[0])] == "-3.75"
    report = ask(system, "ops/health", "health", fresh=True).data
    assert report["dbsync"]["ok"] and report["dbsync"]["rows"] == 52
    other.close()


def test_a_config_change_on_disk_reaches_the_actor_without_restart(system):
    pid = system.node("trading/probe")["pid"]
    edit_config(system, "ops.health.max_threads", 77)
    wait_for(lambda: probe_value(system) == 77, 10, what="the probe runs with the new value")
    assert system.node("trading/probe")["pid"] == pid
    assert ask(system, "ops/config", "get", key="ops.health.max_threads").data["value"] == 77
    # recorded once the actors' answers are in (apply_timeout)
    wait_for(lambda: any(c["key"] == "ops.health.max_threads" and c["new"] == 77 and c["user"] == "file"
                         and c["status"] == "applied" for c in ask(system, "ops/config", "history").data["changes"]),
             10, what="the change in the history")


def test_an_invalid_change_is_refused_and_reported(system):
    edit_config(system, "ops.health.max_threads", 78)
    wait_for(lambda: probe_value(system) == 78, 10, what="a valid change first")
    path = system.test_dir / "zepix-test.toml"
    path.write_text(path.read_text().replace("max_threads = 78", 'max_threads = "many"'))
    note = wait_for(lambda: notes(system, "config_refused"), 10, what="a refusal notice")
    assert "ops.health.max_threads" in note[-1][2] and "many" in note[-1][2]
    assert probe_value(system) == 78
    status = ask(system, "ops/config", "status")
    assert not status.ok and "max_threads" in status.text
    # an actor that refuses its section is reported too; the others keep running
    edit_config(system, "ops.health.max_threads", 13)
    wait_for(lambda: any("unlucky" in n[2] for n in notes(system, "config_refused")), 10,
             what="the probe's refusal reported")
    assert probe_value(system) == 78


def test_set_command_writes_atomically_and_restarted_actors_get_the_new_config(system):
    out = admin(system, "config", "set", "ops.health.max_threads", "91")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "applied by" in out.stdout and "trading/probe" in out.stdout
    assert probe_value(system) == 91
    text = (system.test_dir / "zepix-test.toml").read_text()
    assert "max_threads = 91" in text and "[[supervision.extra]]" in text
    bad = admin(system, "config", "set", "ops.health.max_threads", '"lots"')
    assert bad.returncode == 1 and "refused" in bad.stderr
    assert "max_threads = 91" in (system.test_dir / "zepix-test.toml").read_text()
    hist = admin(system, "config", "history")
    assert "cli" in hist.stdout and "91" in hist.stdout
    # a restarted actor starts with the reloaded configuration (its supervisor keeps it)
    old = system.node("trading/probe")["pid"]
    os.kill(old, signal.SIGKILL)
    system.wait_node("trading/probe", lambda n: n["state"] == "running" and n["pid"] not in (None, old))
    assert probe_value(system) == 91
    events = wait_for(lambda: [e for e in ask(system, "ops/dbsync", "events", limit=200).data["events"]
                               if e["plugin_id"] == "trading/probe"], 10, what="supervision events recorded")
    assert {"exited", "restarted"} <= {e["event_type"] for e in events}


def test_backup_on_demand(system):
    reply = ask(system, "ops/dbsync", "backup", timeout=20)
    assert reply.ok and "zepix_bot.db" in reply.data["copied"] and "config_history.db" in reply.data["copied"]


def test_a_change_is_answered_as_soon_as_every_actor_has_said_whether_it_applies(system):
    reply = ask(system, "ops/config", "set", key="ops.health.max_threads", value=92, timeout=10)
    assert reply.ok, reply.text
    # every actor of the tree answered (the owners of [ops] applied it, the rest have no stake), so the answer did
    # not wait for apply_timeout; only the owners are named
    assert reply.data["unanswered"] == 0, reply.data
    applied = " ".join(reply.data["applied"])
    assert "ops/health" in applied and "ingress/webhook" not in applied and "trading/risk" not in applied, applied
