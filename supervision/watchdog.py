"""The watchdog behind ``python run.py``: starts the actor system, watches its root, restarts it, stops it.

The root supervisor is a top-level actor and nobody inside Thespian restarts it, so the watchdog watches it
from outside: the host process and the root's pid must be alive and the root must answer a status request.
When the root is gone (it escalated, crashed or hangs), the whole system's process group is killed and a new
system started, with backoff and a limit (``[watchdog]``). Stopping asks Thespian for a graceful shutdown,
then kills the process group after ``stop_timeout`` so nothing is left, a hung actor included.
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from supervision import hygiene
from supervision.policy import Backoff, RestartIntensity
from supervision.system import AdminClient, NoZepixRunning, port_in_use

REPO = Path(__file__).resolve().parents[1]
PID_FILE = "zepix.pid"
ROOT_ANSWER_TIMEOUT = 30.0   # after READY, how long the root may take to answer its first ping


class AlreadyRunning(RuntimeError):
    pass


class StartFailed(RuntimeError):
    pass


class Watchdog:
    def __init__(self, cfg: dict, out=print):
        self.cfg = cfg
        self.out = out
        self.host: subprocess.Popen | None = None
        self.client: AdminClient | None = None
        self.root_pid: int | None = None
        self.restarts = 0
        self._stop = threading.Event()
        wd = cfg["watchdog"]
        self.backoff = Backoff(wd["restart_backoff_min"], wd["restart_backoff_max"])
        self.intensity = RestartIntensity(wd["max_restarts"], wd["restart_period"])

    # -- public ------------------------------------------------------------------------------------------------
    def request_stop(self, *_):
        self._stop.set()

    def run(self) -> int:
        """Start, watch until asked to stop, stop. Exit status for the process."""
        self.check_ports_free()
        hygiene.become_subreaper()
        data = Path(self.cfg["system"]["data_dir"])
        data.mkdir(parents=True, exist_ok=True)
        try:
            self.start()
            self._write_pid_file()
            self.out(self.banner())
            return self.watch()
        finally:
            self.stop()
            (data / PID_FILE).unlink(missing_ok=True)

    def check_ports_free(self) -> None:
        admin = self.cfg["system"]["admin_port"]
        if port_in_use(admin):
            raise AlreadyRunning(f"admin port {admin} is in use: Zepix (or another program) is already running "
                                 f"there. `python run.py status` tells; use another port with ZEPIX_ADMIN_PORT.")
        web = self.cfg["webhook"]
        if port_in_use(web["port"], "127.0.0.1" if web["host"] in ("0.0.0.0", "") else web["host"]):
            raise AlreadyRunning(f"webhook port {web['port']} is in use; set another with ZEPIX_WEBHOOK_PORT.")

    def banner(self) -> str:
        web = self.cfg["webhook"]
        port = self.cfg["system"]["admin_port"]
        return "\n".join([
            "Zepix is running (broker: paper).",
            f"  webhook URL : http://{web['host']}:{web['port']}/webhook/{web['token']}",
            f"  data dir    : {self.cfg['system']['data_dir']}",
            f"  admin       : zepix-admin --port {port} tree   (or: python -m supervision.admin --port {port} tree)",
            "  stop        : Ctrl-C, or python run.py stop",
        ] + _telegram_line())

    # -- starting ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        runtime = {"watchdog_pid": os.getpid(), "system_restarts": self.restarts,
                   "config_path": getattr(self, "config_path", "")}   # ops (issue 8): for ops/config
        args = json.dumps({"config": self.cfg, "runtime": runtime})
        self.host = subprocess.Popen([sys.executable, "-m", "supervision.host", args], cwd=REPO,
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                     start_new_session=True)
        line = self._read_line(self.host, timeout=30.0)
        if not line.startswith("READY"):
            self._kill_system()
            raise StartFailed(f"the actor system did not start: {line.strip() or 'no answer in 30 s'}")
        # READY means the admin is up and the root created; on a loaded machine the first answers can still be
        # slow, so keep asking until the deadline rather than calling a slow system a dead one.
        deadline = time.monotonic() + ROOT_ANSWER_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                if self.client is None:
                    self.client = AdminClient(self.cfg["system"]["admin_port"])
                self.root_pid = self.client.ping_root(1.0)
            except NoZepixRunning as exc:
                last = str(exc)
                time.sleep(0.2)
                continue
            if self.root_pid:
                return
        self._kill_system()
        raise StartFailed(f"the root supervisor did not answer within {ROOT_ANSWER_TIMEOUT:g} s ({last})")

    @staticmethod
    def _read_line(proc: subprocess.Popen, timeout: float) -> str:
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        return proc.stdout.readline() if ready else ""

    def _write_pid_file(self) -> None:
        path = Path(self.cfg["system"]["data_dir"]) / PID_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"watchdog_pid": os.getpid(), "pgid": self.host.pid,
                                   "admin_port": self.cfg["system"]["admin_port"]}))
        tmp.replace(path)

    # -- watching ----------------------------------------------------------------------------------------------
    def watch(self) -> int:
        wd = self.cfg["watchdog"]
        missed = 0
        while not self._stop.wait(wd["ping_interval"]):
            reason = self._root_problem(wd["ping_timeout"])
            if reason is None:
                missed = 0
                continue
            missed += 1
            hard = reason != "no answer"
            if not hard and missed < wd["max_missed"]:
                continue
            if not self.intensity.record(time.monotonic()):
                self.out(f"Zepix: the root supervisor failed {wd['max_restarts'] + 1} times within "
                         f"{wd['restart_period']:g} s ({reason}); giving up. See {self.cfg['system']['data_dir']}/logs.")
                return 1
            delay = self.backoff.next_delay()
            self.out(f"Zepix: root supervisor lost ({reason}); restarting the actor system in {delay:.1f} s")
            self._kill_system()
            if self._stop.wait(delay):
                return 0
            self.restarts += 1
            try:
                self.start()
                self._write_pid_file()
            except StartFailed as exc:
                self.out(f"Zepix: restart failed: {exc}")
                continue
            missed = 0
            self.out(f"Zepix: actor system restarted (restart {self.restarts})")
        return 0

    def _root_problem(self, timeout: float) -> str | None:
        if self.host is None or self.host.poll() is not None:
            return "host process exited"
        if self.root_pid and not _alive(self.root_pid):
            return f"root process {self.root_pid} exited"
        try:
            pid = self.client.ping_root(timeout)
        except NoZepixRunning:
            return "admin gone"
        if pid:
            self.root_pid = pid
            return None
        return "no answer"

    # -- stopping ----------------------------------------------------------------------------------------------
    def stop(self) -> None:
        if self.host is None:
            return
        timeout = self.cfg["watchdog"]["stop_timeout"]
        if self.client is not None and self.host.poll() is None:
            # Thespian's shutdown may block on a hung actor; never wait for it longer than stop_timeout
            done = threading.Thread(target=self._graceful, daemon=True)
            done.start()
            done.join(timeout)
        self._kill_system()

    def _graceful(self) -> None:
        try:
            self.client.shutdown_system()
        except Exception:
            pass

    def _kill_system(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.host is not None:
            hygiene.kill_group(self.host.pid)
            try:
                self.host.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self.host = None
        self.root_pid = None


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def read_pid_file(cfg: dict) -> dict | None:
    path = Path(cfg["system"]["data_dir"]) / PID_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def stop_running(cfg: dict, timeout: float = 20.0, out=print) -> int:
    """``run.py stop``: SIGTERM the watchdog of the instance on this admin port and wait until it is gone."""
    port = cfg["system"]["admin_port"]
    info = read_pid_file(cfg)
    pid = info.get("watchdog_pid") if info else None
    if not pid:
        try:
            with AdminClient(port) as client:
                reply_pid = _watchdog_pid_from_root(client)
        except NoZepixRunning:
            out(f"no Zepix running on port {port}")
            return 1
        pid = reply_pid
    if not pid or not _alive(pid):
        out(f"no Zepix watchdog found for port {port}")
        return 1
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid) and not port_in_use(port):
            out("Zepix stopped.")
            return 0
        time.sleep(0.05)
    out(f"Zepix (pid {pid}) did not stop within {timeout:g} s")
    return 1


def _watchdog_pid_from_root(client: AdminClient) -> int:
    from actors import messages as m
    from supervision.system import new_corr

    reply = client.ask(m.StopSystem(corr=new_corr()), 3.0)
    return reply.data.get("watchdog_pid", 0) if reply else 0


def _telegram_line() -> list[str]:
    """Issue 7: say when Telegram is off and how to turn it on."""
    from supervision.subtrees.telegram import off_message
    line = off_message()
    return [line] if line else ["  telegram    : on (see docs/telegram.md)"]
