"""Process hygiene for the actor system: loopback-only sockets, process titles, no orphans, group kills.

Thespian binds every actor and admin socket to 0.0.0.0 and speaks pickle, so anyone who reaches a port can
run code. In single-host mode ``bind_loopback_only`` patches the transport before the admin is forked, so every
process of the system (all forked from it) binds 127.0.0.1. ``die_with_parent`` makes an actor process die
with the process that forked it, because Thespian leaves the children of a SIGKILLed parent running.
"""
from __future__ import annotations

import ctypes
import os
import signal
import time

import psutil

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def bind_loopback_only(host: str = "127.0.0.1") -> None:
    """Make every Thespian TCP socket created from now on (in this process and its forks) bind ``host``."""
    from thespian.system.transport import IPBase

    cls = IPBase.IPActorAddress
    if getattr(cls, "_zepix_bind_host", None) == host:
        return

    def bindArgs(self):  # noqa: N802 - Thespian's name
        return ((host, self.bindname[1]),)

    cls.bindArgs = property(bindArgs)
    cls._zepix_bind_host = host


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the process that forked it dies (no-op elsewhere)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def become_subreaper() -> None:
    """Orphans of the actor system (whose parent was killed) are reparented to us, so we can reap them."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def set_title(title: str) -> None:
    try:
        import setproctitle
        setproctitle.setproctitle(title)
    except ImportError:
        pass


def group_alive(pgid: int) -> bool:
    """True while a live (not zombie) process is in the group."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return bool(group_pids(pgid))


def kill_group(pgid: int, timeout: float = 5.0) -> bool:
    """SIGKILL a process group and wait until it is gone. True when nothing of it is left."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return True
        reap_children()
        time.sleep(0.02)
    return not group_alive(pgid)


def reap_children() -> None:
    # A killed child of ours stays a zombie (and keeps its group "alive") until it is waited for.
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def group_pids(pgid: int) -> list[int]:
    out = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.info["pid"]) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p.info["pid"])
        except (ProcessLookupError, psutil.Error, OSError):
            pass
    return out
