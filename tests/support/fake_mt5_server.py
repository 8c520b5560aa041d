"""Serves the fake MetaTrader5 module over rpyc exactly as the mt5linux server does, for the real mt5linux client.

The mt5linux server (`python -m mt5linux` / mt5server.exe under Wine) is rpyc's classic server: a
`ThreadedServer(SlaveService)` on port 18812; the client does `rpyc.classic.connect(host, port)`, then
`conn.execute("import MetaTrader5 as mt5")` and `conn.eval("mt5.<function>(...)")` for every call. Here the same
server runs in a subprocess with `MetaTrader5` in sys.modules pointing at tests/support/fake_mt5.py, bound to
127.0.0.1 on an ephemeral port that it reports on stdout ("READY <port>") once it is listening.

`FakeMT5Server` starts it in its own process group, waits for READY with a deadline, gives tests a control
proxy (`server.control()` -> the remote FakeTerminal) and kills the group at stop().
"""
from __future__ import annotations

import argparse
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)

    from tests.support import fake_mt5

    fake_mt5.install()
    fake_mt5.standard_symbols()

    from rpyc.core import SlaveService
    from rpyc.utils.server import ThreadedServer

    server = ThreadedServer(SlaveService, hostname=args.host, port=args.port, reuse_addr=True, auto_register=False)
    server._listen()  # listening before READY is printed, so the parent never races the bind
    sys.stdout.write(f"READY {server.port}\n")
    sys.stdout.flush()
    server.start()


class FakeMT5Server:
    """Context manager around the server subprocess. No sleeps: readiness is the READY line, with a deadline."""

    def __init__(self, startup_timeout: float = 15.0, log_path: Path | None = None):
        self.startup_timeout = startup_timeout
        self.log_path = log_path
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._control_conn: Any = None
        self._log: Any = None

    def __enter__(self) -> "FakeMT5Server":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.fake_mt5_server", "--host", self.host, "--port", "0"],
            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL,
            start_new_session=True)  # own process group: stop() kills it and anything it spawned
        try:
            self.port = self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> int:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + self.startup_timeout
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in buf:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"fake MT5 server not ready after {self.startup_timeout}s (stdout {buf!r})")
                if not sel.select(remaining):
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise RuntimeError(f"fake MT5 server exited before READY: code {self.proc.wait()}, "
                                       f"stdout {buf!r}, log {self.log_path}")
                buf += chunk
        line = buf.split(b"\n", 1)[0].decode()
        if not line.startswith("READY "):
            raise RuntimeError(f"unexpected first line from fake MT5 server: {line!r}")
        return int(line.split()[1])

    def control(self) -> Any:
        """The server-side FakeTerminal, through a separate rpyc classic connection."""
        if self._control_conn is None:
            import rpyc

            self._control_conn = rpyc.classic.connect(self.host, self.port)
        return self._control_conn.modules["MetaTrader5"].control()

    def reset(self) -> Any:
        """Fresh account and the standard symbols on the server; returns the control proxy."""
        ctl = self.control()
        ctl.reset()
        self._control_conn.modules["MetaTrader5"].standard_symbols()
        return ctl

    def stop(self) -> None:
        if self._control_conn is not None:
            try:
                self._control_conn.close()
            except Exception:  # noqa: BLE001 - the server may already be gone
                pass
            self._control_conn = None
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self._log = None


if __name__ == "__main__":
    main()
