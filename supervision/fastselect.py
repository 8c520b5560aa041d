"""A cheaper selector for each turn of Thespian's TCP transport loop.

``TCPTransport._runWithExpiry`` builds a new ``selectors.DefaultSelector`` on every turn of an actor's loop,
registers every watched socket in it, selects once and closes it (Thespian's own comment: "creates selector on each
loop, perhaps this could be optimized"). With epoll that is a system call per socket per turn plus the Python
bookkeeping of ``selectors`` (a ``SelectorKey`` per registration), and profiles of the running system showed it as
the largest single item of every actor's CPU: 13-15 % of the gateway's and webhook's. ``install`` gives the
transport module a stand-in for ``selectors`` whose ``DefaultSelector`` is one ``select.poll`` object per turn with
plain dict bookkeeping: the same calls (register, select, close), the same results (objects with ``fd``, and
``EVENT_READ`` / ``EVENT_WRITE`` bits), the same errors (``KeyError`` for a second registration of one fd, ``OSError``
``EBADF`` from ``select`` for a closed fd, which the transport's recovery code handles).
"""
from __future__ import annotations

import errno
import math
import select
import selectors
import types

EVENT_READ = selectors.EVENT_READ
EVENT_WRITE = selectors.EVENT_WRITE
_IN = select.POLLIN | select.POLLPRI
_OUT = select.POLLOUT
_BAD = select.POLLNVAL
_HUP_ERR = select.POLLHUP | select.POLLERR


class _Key:
    __slots__ = ("fd",)

    def __init__(self, fd: int):
        self.fd = fd


class OneTurnSelector:
    """The part of ``selectors.BaseSelector`` the transport uses, on one ``select.poll`` object."""

    __slots__ = ("_poll", "_events")

    def __init__(self):
        self._poll = select.poll()
        self._events: dict[int, int] = {}

    def register(self, fd: int, events: int, data=None):
        if not isinstance(fd, int) or fd < 0:
            raise ValueError(f"invalid file descriptor {fd!r}")
        if fd in self._events:
            raise KeyError(f"{fd!r} (FD {fd}) is already registered")
        self._events[fd] = events
        self._poll.register(fd, (_IN if events & EVENT_READ else 0) | (_OUT if events & EVENT_WRITE else 0))
        return _Key(fd)

    def select(self, timeout: float | None = None) -> list[tuple[_Key, int]]:
        # poll takes milliseconds; rounding up keeps a 0.3 ms timer from spinning the loop at timeout 0
        ms = None if timeout is None else (0 if timeout <= 0 else math.ceil(timeout * 1e3))
        ready = []
        for fd, ev in self._poll.poll(ms):
            if ev & _BAD:
                raise OSError(errno.EBADF, "Bad file descriptor")
            wanted = self._events.get(fd, 0)
            mask = 0
            if ev & (_IN | _HUP_ERR):
                mask |= EVENT_READ
            if ev & (_OUT | _HUP_ERR):
                mask |= EVENT_WRITE
            mask &= wanted
            if mask:
                ready.append((_Key(fd), mask))
        return ready

    def close(self) -> None:
        self._events.clear()


def install() -> None:
    """Make Thespian's TCP transport (in this process and its forks) use ``OneTurnSelector`` each turn."""
    from thespian.system.transport import TCPTransport as module

    if getattr(module.selectors, "_zepix", False):
        return
    module.selectors = types.SimpleNamespace(DefaultSelector=OneTurnSelector, EVENT_READ=EVENT_READ,
                                             EVENT_WRITE=EVENT_WRITE, _zepix=True)
