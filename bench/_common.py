"""Shared helpers of the benchmarks: start a real Zepix actor system, find and kill every process it made,
statistics and markdown-ish tables.

Process cleanup does not trust one process group. Thespian's admin start (``startAdmin`` in
thespian/system/multiprocCommon.py) calls ``os.setsid()`` and double-forks; a runtime without the no-op setsid
of ``supervision.system`` puts the admin, the logger and every actor in a new session and group, out of reach
of a kill of the host's group. So the benchmark process makes itself a child subreaper (orphans are reparented
to it), collects every descendant, kills each process group it finds (never its own), then any pid left, and
reaps the zombies.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import psutil

from supervision import hygiene
from supervision.system import AdminClient
from tests.support.system import all_running, find, free_port, wait_for, write_config  # noqa: F401

# -- processes ---------------------------------------------------------------------------------------------------

def become_subreaper() -> None:
    """Orphans of the systems we start (Thespian's double-forked admin) become our children; SIGTERM (e.g. from
    ``timeout``) unwinds through the ``finally`` blocks that kill them."""
    hygiene.become_subreaper()
    signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum, frame):
    raise SystemExit(128 + signum)


from supervision.hygiene import reap_children as reap  # noqa: E402


def descendants() -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process().children(recursive=True) if _alive(p)]
    except psutil.Error:
        return []


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def kill_everything_we_started(extra_pids: tuple[int, ...] = (), timeout: float = 5.0) -> tuple[int, list[int]]:
    """SIGKILL the process groups (then the pids) of all our descendants. Returns (processes seen, left alive)."""
    me = os.getpgrp()
    procs = {p.pid: p for p in descendants()}
    for pid in extra_pids:
        with contextlib.suppress(psutil.Error):
            procs.setdefault(pid, psutil.Process(pid))
    groups = set()
    for pid in procs:
        with contextlib.suppress(OSError):
            groups.add(os.getpgid(pid))
    for pgid in groups - {me}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    for pid in procs:
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == me:
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    left = []
    while time.monotonic() < deadline:
        reap()
        left = [pid for pid, p in procs.items() if _alive(p)]
        if not left and not descendants():
            break
        time.sleep(0.02)
    reap()
    left = sorted(set(left) | {p.pid for p in descendants()})
    return len(procs), left


def proc_role(p: psutil.Process) -> str:
    """A short name of a process of the system, from its title (setproctitle) or command line."""
    try:
        cmd = " ".join(p.cmdline()).replace("\x00", " ").strip()
    except psutil.Error:
        return "?"
    if cmd.startswith("MultiProcAdmin"):
        return "thespian admin"
    if cmd.startswith("logger "):
        return "thespian logger"
    if cmd.startswith("zepix host"):
        return "host (supervision.host)"
    if cmd.startswith("zepix "):
        return cmd.split(" ", 1)[1].replace("zepix-root/", "").strip()
    if "run.py" in cmd:
        return "run.py watchdog"
    return cmd[:40]


# -- a running system --------------------------------------------------------------------------------------------

@dataclass
class BenchSystem:
    host: subprocess.Popen
    client: AdminClient
    config: dict
    dir: Path

    def tree(self, timeout: float = 2.0) -> dict | None:
        return self.client.tree(timeout=timeout)

    def node(self, path: str) -> dict | None:
        tree = self.tree()
        return find(tree, path) if tree else None


@contextlib.contextmanager
def bench_system(toml: str = "", env: dict | None = None, ready_timeout: float = 30.0):
    """Start ``supervision.host`` (what run.py starts) with a temp config; always kill all of it after."""
    from config.loader import load_config

    become_subreaper()
    tmp = Path(tempfile.mkdtemp(prefix="zepix-bench-"))
    host = None
    client = None
    try:
        cfg = load_config(write_config(tmp, toml), env={})
        run_env = {**os.environ, "ZEPIX_TEST_DIR": str(tmp), **(env or {})}
        host = subprocess.Popen(
            [sys.executable, "-m", "supervision.host", json.dumps({"config": cfg, "runtime": {"watchdog_pid": 0}})],
            cwd=REPO, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            text=True, start_new_session=True)
        line = host.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"host did not start: {line!r}")
        client = AdminClient(cfg["system"]["admin_port"])
        system = BenchSystem(host=host, client=client, config=cfg, dir=tmp)
        wait_for(lambda: (t := system.tree()) and all_running(t), ready_timeout, what="tree running")
        yield system
    finally:
        if client is not None:
            client.close()
        seen, left = kill_everything_we_started()
        if host is not None:
            with contextlib.suppress(Exception):
                host.wait(timeout=5)
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"\ncleanup: killed {seen} processes of the system (by process group); left alive: {left or 'none'}")
        if left:
            raise RuntimeError(f"processes left alive after cleanup: {left}")


# -- numbers -----------------------------------------------------------------------------------------------------

def percentile(values, q: float) -> float:
    """Nearest-rank percentile (q in 0..100): an observed value, so p99 of 20 samples is the maximum."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(1, math.ceil(q / 100.0 * len(s)))
    return s[k - 1]


def summary(values) -> dict:
    vals = list(values)
    return {"n": len(vals), "mean": statistics.fmean(vals) if vals else float("nan"),
            "p50": percentile(vals, 50), "p90": percentile(vals, 90), "p99": percentile(vals, 99),
            "min": min(vals) if vals else float("nan"), "max": max(vals) if vals else float("nan")}


def fmt(x, digits: int = 3) -> str:
    if isinstance(x, str):
        return x
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, int):
        return str(x)
    return f"{x:.{digits}f}"


def table(headers: list[str], rows: list[list], title: str | None = None) -> None:
    cells = [[str(h) for h in headers]] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if title:
        print(f"\n### {title}\n")
    print("| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print("| " + " | ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(row, widths)) + " |")
    sys.stdout.flush()


def _numeric(text: str) -> bool:
    try:
        float(text.replace(" ms", "").replace(" MiB", ""))
        return True
    except ValueError:
        return False


def machine_line() -> str:
    import thespian
    load = os.getloadavg()
    ver = getattr(thespian, "__version__", None)
    if ver is None:
        with contextlib.suppress(Exception):
            from importlib.metadata import version
            ver = version("thespian")
    rev = "?"
    with contextlib.suppress(Exception):
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             timeout=5, check=False).stdout.strip() or "?"
    return (f"repo {rev} (plus uncommitted changes, if any) · machine: {platform.node()} · {os.cpu_count()} CPUs · "
            f"Linux {platform.release()} · Python {platform.python_version()} · thespian {ver} · "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
