"""Start-up time of ``python run.py`` to a running tree, memory of the idle tree, and a clean stop.

    python bench/startup_memory.py [--runs 5] [--idle 2.0]

Each run spawns ``python run.py`` (in its own session) with a temp data dir and free ports (ZEPIX_DATA_DIR,
ZEPIX_ADMIN_PORT, ZEPIX_WEBHOOK_PORT), then polls ``AdminClient(port).tree()`` until every node is running.
Measured from just before the spawn: the admin port accepting connections, run.py printing its banner (root
supervisor answered), and the tree ready. After ``--idle`` seconds the memory of every process of the system
is read with psutil ``memory_full_info()`` (PSS, USS, RSS). Then run.py gets SIGTERM; the run checks that
run.py exits, that none of the processes seen (run.py, host, Thespian admin and logger, every actor) and
none of their process groups is left, and that the admin and webhook ports are free.

The benchmark process is a child subreaper, so it sees the Thespian admin even though Thespian double-forks
it into its own session; anything left after a stop is reported and then killed by process group.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil

from bench._common import (
    REPO,
    all_running,
    become_subreaper,
    descendants,
    free_port,
    kill_everything_we_started,
    machine_line,
    proc_role,
    reap,
    table,
)
from supervision import hygiene
from supervision.admin import walk
from supervision.system import AdminClient, NoZepixRunning, port_in_use

TARGET_S = 3.0
MiB = 1024 * 1024


def free_ports(k: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < k:
        p = free_port()
        if p not in ports:
            ports.append(p)
    return ports


class LineClock:
    """Reads a pipe in a thread and remembers when each line arrived."""

    def __init__(self, pipe, t0: float):
        self.lines: list[tuple[float, str]] = []
        self._t0 = t0
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe) -> None:
        for line in pipe:
            self.lines.append((time.perf_counter() - self._t0, line.rstrip("\n")))

    def first(self, prefix: str) -> float | None:
        return next((t for t, line in self.lines if line.startswith(prefix)), None)


def one_run(idx: int, idle: float) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="zepix-bench-start-"))
    admin_port, web_port = free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZEPIX_")}
    env.update({"ZEPIX_ADMIN_PORT": str(admin_port), "ZEPIX_WEBHOOK_PORT": str(web_port),
                "ZEPIX_DATA_DIR": str(tmp / "data")})
    out: dict = {"run": idx + 1}
    client = None
    stderr = open(tmp / "run.stderr", "w")  # noqa: SIM115 - closed in the finally below
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "run.py"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=stderr, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    clock = LineClock(proc.stdout, t0)
    try:
        deadline = t0 + 30.0
        tree = None
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"run.py exited with {proc.returncode}: {(tmp / 'run.stderr').read_text()[-2000:]}")
            if client is None:
                if not port_in_use(admin_port):
                    time.sleep(0.01)
                    continue
                out.setdefault("admin_port_s", time.perf_counter() - t0)
                try:
                    client = AdminClient(admin_port, timeout=2.0)
                except NoZepixRunning:
                    time.sleep(0.02)
                    continue
            try:
                tree = client.tree(timeout=1.0)
            except NoZepixRunning:
                tree = None        # the admin is up but the root is not registered yet
            if tree and all_running(tree):
                out["ready_s"] = time.perf_counter() - t0
                break
            time.sleep(0.02)
        else:
            raise RuntimeError(f"tree not running within 30 s: {tree}")
        out["nodes"] = len(list(walk(tree)))
        wait = time.perf_counter() + 2.0
        while clock.first("Zepix is running") is None and time.perf_counter() < wait:
            time.sleep(0.01)
        out["banner_s"] = clock.first("Zepix is running")
        client.close()
        client = None

        time.sleep(idle)
        procs = [p for p in descendants()]
        mem = []
        for p in procs:
            try:
                info = p.memory_full_info()
                mem.append({"pid": p.pid, "role": proc_role(p), "pgid": os.getpgid(p.pid), "ppid": p.ppid(),
                            "sid": os.getsid(p.pid),
                            "pss": info.pss, "uss": info.uss, "rss": info.rss})
            except (psutil.Error, OSError):
                pass
        out["mem"] = mem
        pids = [m_["pid"] for m_ in mem]
        groups = sorted({m_["pgid"] for m_ in mem})

        t_stop = time.perf_counter()
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            out["stop_note"] = "run.py did not exit within 30 s"
        out["stop_s"] = time.perf_counter() - t_stop
        out["exit_code"] = proc.returncode
        reap()
        time.sleep(0.05)
        reap()
        left = [pid for pid in pids if _alive(pid)]
        left_groups = [g for g in groups if hygiene.group_alive(g)]
        out["left"] = left
        out["left_groups"] = left_groups
        out["ports_free"] = not port_in_use(admin_port) and not port_in_use(web_port)
        out["groups"] = groups
        out["processes"] = len(pids)
        return out
    finally:
        if client is not None:
            client.close()
        if proc.poll() is None:
            hygiene.kill_group(proc.pid)
        seen, still = kill_everything_we_started()
        with contextlib.suppress(Exception):
            proc.wait(timeout=5)
        out["cleanup_killed"] = seen
        out["cleanup_left"] = still
        stderr.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


ORDER = ["run.py watchdog", "host (supervision.host)", "thespian admin", "thespian logger", "zepix-root"]


def role_key(role: str):
    return (ORDER.index(role), role) if role in ORDER else (len(ORDER), role)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--idle", type=float, default=2.0, help="seconds idle before reading memory")
    args = p.parse_args(argv)
    print("# Start-up time and idle memory of `python run.py`\n")
    print(machine_line())
    become_subreaper()
    started = time.monotonic()
    runs = [one_run(i, args.idle) for i in range(args.runs)]

    rows = []
    for r in runs:
        actors = [m_ for m_ in r["mem"] if m_["role"] not in ("run.py watchdog", "host (supervision.host)")]
        clean = not r["left"] and not r["left_groups"] and r["ports_free"] and r["exit_code"] == 0
        rows.append([r["run"], r["admin_port_s"], r["banner_s"], r["ready_s"], r["nodes"], r["processes"],
                     sum(m_["pss"] for m_ in actors) / MiB, sum(m_["pss"] for m_ in r["mem"]) / MiB,
                     r["stop_s"], r["exit_code"],
                     "yes" if clean else
                     f"NO: pids {r['left']} groups {r['left_groups']} ports free {r['ports_free']}"])
    table(["run", "admin port s", "banner s", "tree ready s", "nodes", "processes", "PSS system MiB",
           "PSS all MiB", "stop s", "exit", "all gone after SIGTERM"], rows,
          title=f"python run.py -> every node running ({args.runs} runs)")
    ready = [r["ready_s"] for r in runs]
    med, mx = statistics.median(ready), max(ready)
    table(["measure", "median", "max", f"target < {TARGET_S:g} s"],
          [["run.py -> tree ready, s", med, mx, "yes" if mx < TARGET_S else "NO"],
           ["run.py -> banner printed, s", statistics.median(r["banner_s"] for r in runs),
            max(r["banner_s"] for r in runs), ""],
           ["SIGTERM -> run.py exited, s", statistics.median(r["stop_s"] for r in runs),
            max(r["stop_s"] for r in runs), ""]],
          title="Summary")

    last = runs[-1]
    mem = sorted(last["mem"], key=lambda m_: role_key(m_["role"]))
    per = [[m_["role"], m_["pid"], m_["pss"] / MiB, m_["uss"] / MiB, m_["rss"] / MiB] for m_ in mem]
    table(["process", "pid", "PSS MiB", "USS MiB", "RSS MiB"], per,
          title=f"Idle memory per process (run {last['run']}, after {args.idle:g} s idle)")

    def tot(rs, key, exclude=()):
        return [sum(m_[key] for m_ in r["mem"] if m_["role"] not in exclude) / MiB for r in rs]

    groups = [("actor system: admin + logger + actors", ("run.py watchdog", "host (supervision.host)")),
              ("+ host process", ("run.py watchdog",)),
              ("everything `python run.py` runs", ())]
    trows = []
    for label, excl in groups:
        n = len([m_ for m_ in last["mem"] if m_["role"] not in excl])
        trows.append([label, n] + [statistics.median(tot(runs, k, excl)) for k in ("pss", "uss", "rss")])
    table(["sum over", "processes", "PSS MiB", "USS MiB", "RSS MiB"], trows,
          title=f"Idle memory totals (median of {len(runs)} runs)")
    leftovers = [(r["run"], r["cleanup_left"]) for r in runs if r["cleanup_left"]]
    print("\nprocesses of the last run (pid ppid pgid sid role): "
          + "; ".join(f"{m_['pid']} {m_['ppid']} {m_['pgid']} {m_['sid']} {m_['role']}" for m_ in mem))
    print(f"process groups per run: {[len(r['groups']) for r in runs]} "
          f"(expected 2: run.py's own, and the host's shared by the admin, logger and actors)")
    print(f"left alive after the final cleanup: {leftovers or 'none'}")
    print(f"wall time {time.monotonic() - started:.1f} s · load average at the end "
          f"{os.getloadavg()[0]:.2f}")
    return 0 if not leftovers else 1


if __name__ == "__main__":
    sys.exit(main())
