"""Start a real Zepix actor system for a test, in its own process group, and always kill that group after.

``running_system`` starts ``supervision.host`` (what run.py starts) with a config written to the test's temp
dir, waits (with a deadline, never a bare sleep) until the tree is running, and yields a handle with an
``AdminClient``. On exit the process group is SIGKILLed and the test fails if anything of it survives.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from config.loader import load_config
from supervision import hygiene
from supervision.system import AdminClient

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.02, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` passes (then AssertionError)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def find(node: dict, path: str) -> dict | None:
    """The node of a tree whose path ends with ``path`` (e.g. "ops/w1")."""
    if node["path"] == path or node["path"].endswith("/" + path):
        return node
    for child in node.get("children", []):
        hit = find(child, path)
        if hit:
            return hit
    return None


def all_running(node: dict) -> bool:
    return node["state"] == "running" and all(all_running(c) for c in node.get("children", []))


@dataclass
class System:
    host: subprocess.Popen
    client: AdminClient
    config: dict
    test_dir: Path

    @property
    def pgid(self) -> int:
        return self.host.pid

    def tree(self) -> dict | None:
        return self.client.tree(timeout=2.0)

    def node(self, path: str) -> dict | None:
        tree = self.tree()
        return find(tree, path) if tree else None

    def wait_node(self, path: str, predicate, timeout: float = 10.0, what: str = "") -> dict:
        def check():
            n = self.node(path)
            return n if n and predicate(n) else None
        return wait_for(check, timeout, interval=0.02, what=what or f"node {path}")


def write_config(tmp: Path, toml: str = "", admin_port: int | None = None) -> Path:
    admin_port = admin_port or free_port()
    path = tmp / "zepix-test.toml"
    path.write_text(f'[system]\nadmin_port = {admin_port}\ndata_dir = "{tmp / "data"}"\n'
                    f'[webhook]\nport = {free_port()}\n' + toml)
    return path


@contextlib.contextmanager
def running_system(tmp: Path, toml: str = "", env: dict | None = None, ready_timeout: float = 20.0,
                   ready=all_running):
    """``ready(tree)`` says when the system is up (default: every node running; a test of a child that never
    runs passes its own)."""
    cfg_path = write_config(tmp, toml)
    cfg = load_config(cfg_path, env={})
    run_env = {**os.environ, "ZEPIX_TEST_DIR": str(tmp), **(env or {})}
    host = subprocess.Popen(
        [sys.executable, "-m", "supervision.host", json.dumps({"config": cfg, "runtime": {"watchdog_pid": 0}})],
        cwd=REPO, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        text=True, start_new_session=True)
    client = None
    try:
        line = host.stdout.readline()
        assert line.startswith("READY"), f"host did not start: {line!r}"
        client = AdminClient(cfg["system"]["admin_port"])
        system = System(host=host, client=client, config=cfg, test_dir=tmp)
        wait_for(lambda: (t := system.tree()) and ready(t), ready_timeout, what="tree running")
        yield system
    finally:
        if client is not None:
            client.close()
        hygiene.kill_group(host.pid)
        host.wait(timeout=5)
        assert not hygiene.group_alive(host.pid), f"processes left: {hygiene.group_pids(host.pid)}"


def kill_tree_groups(pid: int) -> None:
    """Kill the process group of ``pid`` and of every descendant. A ``run.py`` starts its host in a session of its
    own, so killing only run.py's group would leave the host's whole actor system running."""
    import psutil

    groups = set()
    try:
        for p in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
            try:
                groups.add(os.getpgid(p.pid))
            except OSError:
                pass
    except psutil.Error:
        pass
    groups.add(pid)
    for g in groups:
        hygiene.kill_group(g)
