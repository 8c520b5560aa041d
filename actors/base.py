"""Base classes of every Zepix actor: decode, dispatch, heartbeat, timers, and a private event loop for async code.

``ZepixActor`` receives msgpack bytes, decodes them with ``actors.messages`` and calls the method registered
for the message type with ``@handles``. It answers the supervisor's ``Init`` and ``Ping`` itself, so every
actor reports its pid and stays visible to hang detection. Garbage bytes are counted and logged, never fatal.
An unexpected exception inside a handler is a bug: the actor tells its supervisor why and stops, and the
supervisor starts a fresh instance (OTP's "let it crash"), so no actor keeps half-changed state.

``AsyncActor`` adds a private asyncio loop, run per message with a timeout, for actors that use async
libraries (python-telegram-bot, aiosqlite); Thespian itself has no asyncio integration.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
import traceback
from typing import Any, Callable

from thespian.actors import (ActorExitRequest, Actor, ChildActorExited, PoisonMessage,
                             WakeupMessage, WatchMessage)

from actors import messages as m
from supervision import hygiene


def handles(*types: type) -> Callable:
    """Method decorator: this method handles messages of these registered types: ``def f(self, msg, sender)``."""

    def mark(fn: Callable) -> Callable:
        fn._handles = types
        return fn

    return mark


class ZepixActor(Actor):
    """Decode, dispatch, Init/Ping, timers, crash-on-bug. Subclasses override ``setup`` and add handlers."""

    # An actor class that must run next to a resource (e.g. the MT5 terminal) names the capability here.
    exit_on_error = True

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        table: dict[type, str] = {}
        for klass in reversed(cls.__mro__):
            for attr, fn in vars(klass).items():
                for t in getattr(fn, "_handles", ()):
                    table[t] = attr
        cls._dispatch = table

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        # This runs in the actor's own process, right after the fork.
        hygiene.die_with_parent()
        self.name = self.__class__.__name__
        self.path = self.name
        self.spec: dict = {}
        self.config: dict = {}
        self.implementation = "primary"
        self.parent = None
        self.initialized = False
        self.handled = 0
        self.errors = 0
        self.codec_errors = 0
        self.started_at = time.time()
        self.log = logging.getLogger(f"zepix.{self.name}")

    # -- hooks for subclasses ----------------------------------------------------------------------------------
    def setup(self) -> None:
        """Called once after Init, with ``self.name``, ``self.spec`` and ``self.config`` set."""

    def teardown(self) -> None:
        """Called when the actor is asked to stop."""

    def on_timer(self, key: Any) -> None:
        """A timer set with ``after`` fired."""

    def on_child_exited(self, address) -> None:
        """A child actor exited (Thespian may say so twice for one exit; supervisors de-duplicate)."""

    def on_watch(self, ready: list[int]) -> None:
        """Watched file descriptors are ready (see ``watched_fds``)."""

    def watched_fds(self) -> list[int]:
        """File descriptors Thespian should watch for this actor (Linux, multiprocTCPBase)."""
        return []

    # -- sending -----------------------------------------------------------------------------------------------
    def tell(self, address, msg) -> None:
        self.send(address, m.encode(msg))

    def after(self, seconds: float, key: Any) -> None:
        self.wakeupAfter(max(0.0, seconds), payload=key)

    # -- the loop ----------------------------------------------------------------------------------------------
    def receiveMessage(self, msg, sender):
        try:
            if isinstance(msg, (bytes, bytearray)):
                self._on_bytes(bytes(msg), sender)
            elif isinstance(msg, WakeupMessage):
                self._guard(self.on_timer, msg.payload)
            elif isinstance(msg, WatchMessage):
                self._guard(self.on_watch, list(msg.ready))
            elif isinstance(msg, ChildActorExited):
                self._guard(self.on_child_exited, msg.childAddress)
            elif isinstance(msg, ActorExitRequest):
                self._guard(self.teardown)
            elif isinstance(msg, PoisonMessage):
                self.log.warning("%s: a message we sent was poison to its receiver: %s", self.path, msg.details)
            else:
                self.log.debug("%s: ignored %s", self.path, type(msg).__name__)
        except _Stop:
            pass
        fds = self.watched_fds()
        if fds:
            from thespian.actors import ThespianWatch
            return ThespianWatch(fds)
        return None

    def _on_bytes(self, data: bytes, sender) -> None:
        try:
            msg = m.decode(data)
        except m.CodecError as exc:
            self.codec_errors += 1
            self.log.error("%s: rejected a message: %s", self.path, exc)
            return
        self.handled += 1
        if isinstance(msg, m.Init):
            if self.initialized:
                # A second Init (from anyone) used to run setup() again: a supervisor started a second set of
                # children and lost track of the first, which kept running untracked.
                self.log.error("%s: ignored a second Init (as %r) from %s", self.path, msg.path, sender)
                return
            self.initialized = True
            self._init(msg, sender)
            return
        if isinstance(msg, m.Ping):
            self.tell(sender, m.Pong(seq=msg.seq, name=self.name, pid=os.getpid(), handled=self.handled,
                                     errors=self.errors, codec_errors=self.codec_errors))
            return
        attr = self._dispatch.get(type(msg))
        if attr is None:
            self.log.warning("%s: no handler for %s", self.path, type(msg).__name__)
            return
        self._guard(getattr(self, attr), msg, sender)

    def _init(self, msg: m.Init, sender) -> None:
        self.parent = sender
        self.name, self.path, self.spec, self.config = msg.name, msg.path, msg.spec, msg.config
        self.implementation = msg.implementation
        self.log = logging.getLogger(f"zepix.{self.path}")
        hygiene.set_title(f"zepix {self.path}")
        try:
            self.setup()
        except Exception as exc:
            self.log.error("%s: setup failed: %s", self.path, traceback.format_exc())
            self.tell(sender, m.InitFailed(name=self.name, pid=os.getpid(), error=f"{type(exc).__name__}: {exc}"))
            self.stop_self()
            raise _Stop() from None
        cls = type(self)
        self.tell(sender, m.Started(name=self.name, pid=os.getpid(), actor_class=f"{cls.__module__}.{cls.__name__}",
                                    implementation=self.implementation))

    def _guard(self, fn: Callable, *args) -> None:
        try:
            fn(*args)
        except _Stop:
            raise
        except Exception as exc:
            self.errors += 1
            self.log.error("%s: %s failed: %s", self.path, getattr(fn, "__name__", fn), traceback.format_exc())
            if self.exit_on_error:
                self.crash(f"{type(exc).__name__}: {exc}")

    def crash(self, reason: str) -> None:
        """Stop now and let the supervisor start a fresh instance; it is told the reason first."""
        if self.parent is not None:
            self.tell(self.parent, m.Exiting(name=self.name, reason=reason))
        self.stop_self()
        raise _Stop()

    def finish(self) -> None:
        """Stop because the work is done: the supervisor sees a "normal" exit, so a ``transient`` child is not
        restarted (a ``permanent`` one still is). Without this nothing ever reported "normal", and transient
        children were restarted like permanent ones."""
        if self.parent is not None:
            self.tell(self.parent, m.Exiting(name=self.name, reason="normal"))
        self.stop_self()

    def stop_self(self) -> None:
        self.send(self.myAddress, ActorExitRequest())


class _Stop(Exception):
    """Internal: unwind out of a handler after the actor decided to stop."""


class AsyncActor(ZepixActor):
    """An actor with a private asyncio loop, driven per message with a timeout so it never blocks its heartbeat."""

    async_timeout = 5.0

    def setup(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run_async(self, coro, timeout: float | None = None):
        """Run ``coro`` to completion on the private loop, cancelling it after ``timeout`` seconds."""
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout or self.async_timeout))

    def teardown(self) -> None:
        loop = getattr(self, "loop", None)
        if loop is not None and not loop.is_closed():
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()
