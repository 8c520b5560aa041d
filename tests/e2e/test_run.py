"""run.py end to end: start, status, stop, the watchdog restarting a dead root, a hung actor at shutdown,
a second instance, the admin CLI with nothing running, and a member host placed by capability."""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from supervision import hygiene
from supervision.admin import walk
from supervision.system import AdminClient, port_in_use
from tests.support.system import REPO, all_running, find, free_port, kill_tree_groups, wait_for


class RunPy:
    """A ``python run.py`` process of a test, with its output collected line by line."""

    def __init__(self, tmp: Path, args=(), toml: str = "", env: dict | None = None):
        self.tmp = tmp
        self.admin_port = free_port()
        self.webhook_port = free_port()
        self.data = tmp / "data"
        cfg = tmp / "cfg.toml"
        cfg.write_text(toml)
        self.env = {**os.environ, "ZEPIX_ADMIN_PORT": str(self.admin_port), "ZEPIX_WEBHOOK_PORT": str(self.webhook_port),
                    "ZEPIX_DATA_DIR": str(self.data), "ZEPIX_TEST_DIR": str(tmp), **(env or {})}
        self.out_path = tmp / "run.out"
        self.out = open(self.out_path, "w")
        self.proc = subprocess.Popen([sys.executable, "run.py", "--config", str(cfg), *args], cwd=REPO, env=self.env,
                                     stdout=self.out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def output(self) -> str:
        return self.out_path.read_text()

    def client(self) -> AdminClient:
        return AdminClient(self.admin_port)

    def tree(self):
        try:
            with self.client() as c:
                return c.tree(2.0)
        except Exception:
            return None

    def wait_ready(self, timeout: float = 20.0) -> dict:
        return wait_for(lambda: (t := self.tree()) and all_running(t) and t, timeout, interval=0.05, what="tree ready")

    def pid_file(self) -> dict:
        return json.loads((self.data / "zepix.pid").read_text())

    def cleanup(self) -> None:
        pgids = {self.proc.pid}
        with contextlib.suppress(Exception):
            pgids.add(self.pid_file()["pgid"])
        with contextlib.suppress(psutil.Error):
            for p in psutil.Process(self.proc.pid).children(recursive=True):
                with contextlib.suppress(OSError):
                    pgids.add(os.getpgid(p.pid))
        for g in pgids:
            hygiene.kill_group(g)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self.out.close()


@contextlib.contextmanager
def run_py(tmp: Path, **kw):
    r = RunPy(tmp, **kw)
    try:
        yield r
    except BaseException:
        # what run.py printed is the first thing to read when a test of it fails
        print(f"--- run.py output ---\n{r.output()}")
        raise
    finally:
        r.cleanup()


def test_start_status_and_stop(tmp_path):
    with run_py(tmp_path, env={"ZEPIX_WEBHOOK_TOKEN": "tok-123"}) as r:
        tree = r.wait_ready()
        assert [c["name"] for c in tree["children"]] == ["ingress", "trading", "broker", "telegram", "ops"]
        wait_for(lambda: "webhook URL" in r.output(), 5, what="banner")
        out = r.output()
        assert f"http://127.0.0.1:{r.webhook_port}/webhook/tok-123" in out
        assert str(r.data) in out and f"--port {r.admin_port}" in out
        status = subprocess.run([sys.executable, "run.py", "status"], cwd=REPO, env=r.env, capture_output=True,
                                text=True, timeout=30)
        assert status.returncode == 0, status.stderr
        n = sum(1 for _ in walk(tree))   # ops (issue 8): subtrees have children of their own now
        assert f"{n} actors, {n} running" in status.stdout
        # the banner's URL is the webhook's: an alert posted to it is accepted
        body = json.dumps({"type": "entry", "symbol": "XAUUSD", "signal": "buy", "tf": "5m", "price": 1}).encode()
        url = f"http://127.0.0.1:{r.webhook_port}/webhook/tok-123"
        answer = wait_for(lambda: _post_ok(url, body), 10, what="webhook answers at the banner URL")
        assert answer["status"] == "accepted"
        tree_json = subprocess.run([sys.executable, "-m", "supervision.admin", "--port", str(r.admin_port), "tree",
                                    "--json"], cwd=REPO, capture_output=True, text=True, timeout=30)
        node = json.loads(tree_json.stdout)
        for key in ("name", "kind", "actor_class", "pid", "state", "restarts", "uptime_s", "heartbeat_age_s",
                    "implementation"):
            assert key in node["children"][0], key
        pgid = r.pid_file()["pgid"]
        stop = subprocess.run([sys.executable, "run.py", "stop"], cwd=REPO, env=r.env, capture_output=True, text=True,
                              timeout=40)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert r.proc.wait(10) == 0
        assert not hygiene.group_alive(pgid)
        assert not port_in_use(r.admin_port)


def test_sigterm_with_a_hung_actor_leaves_nothing(tmp_path):
    (tmp_path / "hang").write_text("1")
    toml = ('[[supervision.extra]]\nparent = "ops"\nname = "stuck"\nactor = "tests.support.actors.Hangs"\n'
            'start_timeout = 120.0\nshutdown_timeout = 60.0\n')
    with run_py(tmp_path, toml=toml) as r:
        wait_for(lambda: (tmp_path / "stuck.starts").exists(), 20, what="hung actor started")
        wait_for(lambda: (r.data / "zepix.pid").exists(), 20, what="pid file")
        pgid = r.pid_file()["pgid"]
        pids = hygiene.group_pids(pgid)
        assert len(pids) >= 8
        t0 = time.monotonic()
        r.proc.send_signal(signal.SIGTERM)
        r.proc.wait(15)
        wait_for(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                                 for p in pids), 15 - (time.monotonic() - t0), what="every process gone")
        assert time.monotonic() - t0 < 15


def test_watchdog_restarts_the_system_when_the_root_dies(tmp_path):
    with run_py(tmp_path) as r:
        tree = r.wait_ready()
        os.kill(tree["pid"], signal.SIGKILL)
        again = wait_for(lambda: (t := r.tree()) and all_running(t) and t["pid"] != tree["pid"] and t, 30,
                         interval=0.1, what="system restarted")
        assert again["restarts"] == 1
        assert "root supervisor lost" in r.output()


def test_root_escalation_restarts_the_system(tmp_path):
    toml = ('[supervision.root]\nintensity = 0\n[supervision.subtrees.ops]\nintensity = 0\n'
            '[watchdog]\nmax_restarts = 1\nrestart_backoff_min = 0.2\n'
            '[[supervision.extra]]\nparent = "ops"\nname = "bad"\nactor = "tests.support.actors.CrashInSetup"\n')
    with run_py(tmp_path, toml=toml) as r:
        wait_for(lambda: "actor system restarted (restart 1)" in r.output(), 30, what="system restart")
        # it keeps failing: after max_restarts the watchdog gives up with exit status 1
        assert r.proc.wait(30) == 1
        assert "giving up" in r.output()


def test_second_instance_refuses(tmp_path):
    with run_py(tmp_path) as r:
        r.wait_ready()
        second = subprocess.run([sys.executable, "run.py", "--data-dir", str(tmp_path / "d2")], cwd=REPO, env=r.env,
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert f"admin port {r.admin_port} is in use" in second.stderr


def test_admin_cli_with_nothing_running_starts_nothing(tmp_path):
    port = free_port()
    for cmd in (["tree"], ["status"], ["restart", "ops"], ["stop"]):
        done = subprocess.run([sys.executable, "-m", "supervision.admin", "--port", str(port), *cmd], cwd=REPO,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 1
        assert f"no Zepix running on port {port}" in done.stderr
        assert not port_in_use(port)


def test_invalid_config_names_the_key(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[webhook]\nport = 99999\n")
    done = subprocess.run([sys.executable, "run.py", "--config", str(cfg)], cwd=REPO, capture_output=True, text=True,
                          timeout=30, env={**os.environ, "ZEPIX_DATA_DIR": str(tmp_path / "d")})
    assert done.returncode == 2
    assert "webhook.port" in done.stderr and "99999" in done.stderr


def test_member_host_runs_the_capability_child_and_its_loss_is_detected(tmp_path):
    toml = ('[[supervision.extra]]\nparent = "broker"\nname = "remote_w"\nactor = "tests.support.actors.RemoteWorker"\n'
            'heartbeat_interval = 0.25\nhang_timeout = 1.0\nrequires = {mt5 = true}\n')
    with run_py(tmp_path, toml=toml) as r:
        wait_for(lambda: (t := r.tree()) and find(t, "broker/remote_w"), 20, what="tree")
        assert find(r.tree(), "broker/remote_w")["state"] == "waiting"
        member_port = free_port()
        member = subprocess.Popen([sys.executable, "run.py", "member", "--leader", f"127.0.0.1:{r.admin_port}",
                                   "--capability", "mt5", "--admin-port", str(member_port), "--data-dir",
                                   str(tmp_path / "member")], cwd=REPO, env=r.env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            node = wait_for(lambda: (t := r.tree()) and (n := find(t, "broker/remote_w"))["state"] == "running" and n,
                            30, interval=0.1, what="remote child running")
            member_pgids = {os.getpgid(p.pid) for p in psutil.Process(member.pid).children(recursive=True)}
            assert os.getpgid(node["pid"]) in member_pgids, "the child must run on the member"
            for g in member_pgids | {member.pid}:
                hygiene.kill_group(g)
            t0 = time.monotonic()
            wait_for(lambda: find(r.tree(), "broker/remote_w")["state"] != "running", 1.0 + 1.5, interval=0.05,
                     what="silent remote child detected")
            assert time.monotonic() - t0 < 2.5
        finally:
            kill_tree_groups(member.pid)
            member.wait(5)


def _post_ok(url: str, body: bytes):
    import urllib.request
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=5) as resp:
            return json.loads(resp.read())
    except OSError:
        return None
