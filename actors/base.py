"""Base classes of every Zepix actor: decode, dispatch, heartbeat, timers, and a private event loop for async code.

``ZepixActor`` receives msgpack bytes, decodes them with ``actors.messages`` and calls the method registered
for the message type with ``@handles``. It answers the supervisor's ``Init`` and ``Ping`` itself, so every
actor reports its pid and stays visible to hang detection. Garbage bytes are counted and logged, never fatal.
What one handler run sends to actors of the tree leaves when it returns, one ``Batch`` per receiver (unpacked on
arrival, in order): Thespian's transport costs about the same per message whatever it holds. To an actor on the same
host it leaves through that actor's mailbox (``actors.mailbox``, a Unix socket the loop watches) instead of
Thespian's TCP transport, which costs about ten times as much per message.
An unexpected exception inside a handler is a bug: the actor tells its supervisor why and stops, and the
supervisor starts a fresh instance (OTP's "let it crash"), so no actor keeps half-changed state.

``AsyncActor`` adds a private asyncio loop, run per message with a timeout, for actors that use async
libraries (python-telegram-bot, aiosqlite); Thespian itself has no asyncio integration.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import select
import time
import traceback
from typing import Any, Callable

from thespian.actors import (ActorExitRequest, Actor, ChildActorExited, PoisonMessage, ThespianWatch,
                             WakeupMessage, WatchMessage)

from actors import mailbox, messages as m
from supervision import fastmail, hygiene, logfiles


def handles(*types: type) -> Callable:
    """Method decorator: this method handles messages of these registered types: ``def f(self, msg, sender)``."""

    def mark(fn: Callable) -> Callable:
        fn._handles = types
        return fn

    return mark


NOTIFIER = "telegram/notifier"   # the notification router's path

# How many messages an actor keeps while it waits for its Init; more is a bug upstream, not a burst.
EARLY_LIMIT = 1000
# At most this many messages travel in one Batch.
BATCH_MAX = 256
# Bookkeeping that nobody waits on to act: what a handler sends of these leaves after its other messages, so the
# next step of an alert (a risk check, an order) does not queue behind journal updates and notices for a core.
LATE_TYPES = (m.AlertOutcome, m.Notify, m.TradeOpened, m.TradeClosed, m.StatusReply, m.ConfigApplied)
BY_THESPIAN_MAX = 20_000   # addresses remembered as "through Thespian" (see _transmit)
_MAIL_RETRY = "zepix.mailbox.retry"   # the timer payload that sends what waits for a full peer's mailbox


class _AfterSends(logging.Handler):
    """Wraps the process's log handler (Thespian's forwarder, one TCP message to the logger per record) so that
    the records of a handler run are passed on after the run's messages have left. A record cost the gateway
    about 0.3 ms between an order's fill and its answer; now it costs the same after the answer."""

    def __init__(self, inner: logging.Handler):
        super().__init__(inner.level)
        self.inner = inner
        self.held: list | None = None

    def handle(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.inner.level:
            return False
        if self.held is None:
            return self.inner.handle(record)
        try:
            record.msg, record.args = record.getMessage(), None    # the arguments as they are now
        except Exception:   # noqa: BLE001 - the inner handler reports an unformattable record its own way
            pass
        self.held.append(record)
        return True

    def release(self) -> None:
        held, self.held = self.held, None
        for record in held or ():
            self.inner.handle(record)

    def write_directly(self, config: dict) -> str | None:
        """From now on this process writes its records to the log file itself (supervision/logfiles.py) instead of
        sending each to Thespian's logger. None when it does, else why not."""
        try:
            handler = logfiles.open_handler(config)
        except OSError as exc:
            return f"cannot open the log file ({exc}); records go through Thespian's logger"
        self.inner = handler
        self.setLevel(handler.level)
        return None

    @classmethod
    def install(cls) -> "_AfterSends | None":
        """Wrap the root logger's handler of this process (once); None when there is no single handler."""
        root = logging.getLogger()
        if len(root.handlers) != 1:
            return None
        if not isinstance(root.handlers[0], cls):
            # Thespian's root logger refuses addHandler/removeHandler: its list is changed in place
            root.handlers[0] = cls(root.handlers[0])
        return root.handlers[0]


class ZepixActor(Actor):
    """Decode, dispatch, Init/Ping, timers, crash-on-bug. Subclasses override ``setup`` and add handlers."""

    # An actor class that must run next to a resource (e.g. the MT5 terminal) names the capability here.
    exit_on_error = True
    # Waits for its mailbox itself while Thespian is idle (_fast_loop): the actors an alert passes through.
    fast_mail = False

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        # A subclass method named like one of the loop's internals replaced it silently (a webhook "_flush" took the
        # outbox's place and no message left the actor): refused when the class is defined.
        clash = sorted(_INTERNALS & set(vars(cls)))
        if clash:
            raise TypeError(f"{cls.__name__} redefines ZepixActor internals {', '.join(clash)}; rename them")
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
        self.directory: dict[str, Any] = {}
        self.topic_subs: dict[str, list] = {}        # topic -> addresses (publisher side)
        self.wanted: dict[str, tuple] = {}            # publisher path -> topics (subscriber side)
        self.initialized = False
        self.early: list[tuple[Any, Any]] = []
        # While a message is handled, what it sends to actors of the tree waits here and leaves in one Batch per
        # peer when the handler is done (same order per peer). None outside a handler: sends go out directly.
        self._outbox: list[list] | None = None       # [address, [encoded, ...], all late, str(address)]
        self._peers: set[str] = set()                # str(address) of every actor in the directory
        self._mailbox: mailbox.Mailbox | None = None  # this actor's same-host mailbox, from Init on
        self._mailboxes: dict[str, str] = {}          # str(address) -> the peer's mailbox (directory and hellos)
        self._mail_retry = False                      # a retry timer is set
        self._by_thespian: dict[str, None] = {}       # str(address) our messages to which go through Thespian
        self._fast = None                             # fastmail.ThespianView (False: not available)
        self.fast_passes = 0                          # passes the fast loop ran instead of Thespian's loop
        self.handled = 0
        self.batches = 0
        self.errors = 0
        self.codec_errors = 0
        self.started_at = time.time()
        self.log = logging.getLogger(f"zepix.{self.name}")
        self._logs = _AfterSends.install()           # log records of a handler run leave after its messages

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

    def on_directory(self, previous: dict) -> None:
        """The directory changed (``self.directory`` is the new one)."""

    def reconfigure(self, config: dict, changed: tuple) -> None:
        """New configuration at runtime. Override in actors that own a section: validate first and raise
        ValueError to refuse (the running configuration stays); the default takes nothing."""

    def config_sections(self) -> tuple:
        """Top-level configuration sections this actor applies at runtime (see ``reconfigure``)."""
        return ()

    def on_command(self, msg: m.Command, sender) -> m.CommandReply | None:
        """A command for this actor; return the reply (or None and answer later with the same corr)."""
        return m.CommandReply(corr=msg.corr, ok=False, text=f"{self.path} has no command {msg.name!r}")

    def status_data(self) -> dict:
        """Extra figures for StatusReply.data (health, /status)."""
        return {}

    # -- sending -----------------------------------------------------------------------------------------------
    def tell(self, address, msg) -> None:
        self._post(address, m.encode(msg), isinstance(msg, LATE_TYPES))

    def after(self, seconds: float, key: Any) -> None:
        self.wakeupAfter(max(0.0, seconds), payload=key)

    @property
    def where(self) -> str:
        """This actor's path in the directory ("trading/combined_v3"), without the root's name."""
        return self.path.split("/", 1)[1] if self.path.startswith("zepix-root/") else self.path

    @property
    def mailbox_name(self) -> str:
        """This actor's same-host mailbox ("" without one): announced in Started and listed in the Directory."""
        return self._mailbox.name if self._mailbox is not None else ""

    # -- finding and publishing --------------------------------------------------------------------------------
    def peer(self, path: str):
        """The address of the actor at ``path`` ("broker/gateway"), or None while it is not running."""
        return self.directory.get(path)

    def tell_peer(self, path: str, msg) -> bool:
        """Send to the actor at ``path``; False (and nothing sent) when it is not running."""
        addr = self.directory.get(path)
        if addr is None:
            return False
        self.tell(addr, msg)
        return True

    def subscribe_to(self, path: str, *topics: str) -> None:
        """Receive ``topics`` from the publisher at ``path``, now and after each of its restarts."""
        self.wanted[path] = tuple(topics)
        addr = self.directory.get(path)
        if addr is not None:
            self.tell(addr, m.EventSubscribe(topics=tuple(topics)))

    def publish(self, topic: str, msg) -> int:
        """Send ``msg`` to every subscriber of ``topic``; returns how many."""
        subs = self.topic_subs.get(topic, ())
        if subs:
            data = m.encode(msg)
            late = isinstance(msg, LATE_TYPES)
            for addr in subs:
                self._post(addr, data, late)
        return len(subs)

    def notify(self, kind: str, priority: str, text: str, **data) -> None:
        """A notification for the trader, through the notification router when it runs (logged either way)."""
        level = logging.ERROR if priority == "CRITICAL" else logging.WARNING if priority == "HIGH" else logging.INFO
        self.log.log(level, "%s: notify %s %s: %s", self.path, priority, kind, text)
        self.tell_peer(NOTIFIER, m.Notify(kind=kind, priority=priority, text=text, source=self.path, data=data,
                                          at=time.time()))

    # -- sending in batches ----------------------------------------------------------------------------------
    def send(self, targetAddr, msg) -> None:
        """Thespian's send, through the outbox like ``tell`` (direct sends of encoded messages keep their order)."""
        self._post(targetAddr, msg, False)

    @contextlib.contextmanager
    def batch_sends(self):
        """What is sent inside leaves at the end, one Batch per receiver. Every handler run is inside one; an actor
        that sends after its handler's work (the webhook, after its journal commit) opens its own."""
        if self._outbox is not None:
            yield
            return
        self._outbox = []
        logs = self._logs
        if logs is not None and logs.held is None:
            logs.held = []
        try:
            yield
        finally:
            try:
                self._flush_outbox()
            finally:
                self._outbox = None
                if logs is not None:
                    logs.release()

    def send_now(self) -> None:
        """What this handler has sent so far leaves now instead of when it returns: the next step of an alert (a
        risk check, an order) need not wait for the handler's own bookkeeping (database writes, notices)."""
        if self._outbox:
            self._flush_outbox()

    def _post(self, targetAddr, msg, late: bool) -> None:
        box = self._outbox
        # addresses are compared by their text: Thespian's address equality cost ~5 µs a comparison, and scanning
        # the peers and the outbox with it was a sixth of the gateway's time per order
        key = str(targetAddr)
        if box is not None and isinstance(msg, (bytes, bytearray)) and (key in self._peers or key in self._mailboxes):
            for entry in box:
                if entry[3] == key:
                    entry[1].append(bytes(msg))
                    entry[2] = entry[2] and late
                    return
            box.append([targetAddr, [bytes(msg)], late, key])
            return
        if box:
            self._flush_outbox(key)    # keep the order of what was already queued for this target
        self._transmit(targetAddr, msg)

    def _flush_outbox(self, only: str | None = None) -> None:
        box = sorted(self._outbox or [], key=lambda entry: entry[2])    # stable: the late ones last
        keep = []
        for addr, items, late, key in box:
            if only is not None and key != only:
                keep.append([addr, items, late, key])
                continue
            for i in range(0, len(items), BATCH_MAX):
                chunk = items[i:i + BATCH_MAX]
                self._transmit(addr, chunk[0] if len(chunk) == 1 else m.encode(m.Batch(items=tuple(chunk))))
        if self._outbox is not None:
            self._outbox[:] = keep

    def _transmit(self, addr, data) -> None:
        """Out now: through the peer's mailbox when it has one on this host, else Thespian's transport.

        A peer stays on the road our first message to it took. Switching a peer from Thespian to its mailbox could
        let the new message overtake ones still in Thespian's transport: a supervisor's DirectoryChange sent before
        it knew the root's mailbox arrived after its later TreeReply, and the root listed a running actor it could
        not find. Actors of the alert path meet each other through the Directory, which brings the mailbox with the
        address, so they use mailboxes from their first message; supervision traffic (Init, Started, pings) starts
        before that and stays on Thespian."""
        box = self._mailbox
        if box is not None and isinstance(data, (bytes, bytearray)):
            key = str(addr)
            peer = self._mailboxes.get(key)
            if peer is not None and key not in self._by_thespian and box.reachable(peer):
                for rest in box.send(peer, addr, bytes(data)):
                    Actor.send(self, addr, rest)
                self._mail_check()
                return
            if key not in self._by_thespian:
                if len(self._by_thespian) >= BY_THESPIAN_MAX:   # mostly outside clients, each at a new address
                    for old in list(self._by_thespian)[:BY_THESPIAN_MAX // 2]:
                        del self._by_thespian[old]
                self._by_thespian[key] = None
        Actor.send(self, addr, data)

    def _mail_check(self) -> None:
        box = self._mailbox
        if box.errors:
            for text in box.errors:
                self.log.warning("%s: mailbox: %s", self.path, text)
            box.errors.clear()
        if box.learned:
            self._mailboxes.update(box.learned)
            box.learned.clear()
        if box.waiting and not self._mail_retry:
            self._mail_retry = True
            self.wakeupAfter(mailbox.RETRY_SECONDS, payload=_MAIL_RETRY)

    def _on_mail(self, fds: list[int] | None) -> None:
        """Records arrived in the mailbox: each is handled like a message from Thespian, and what its handler sent
        leaves before the next one is handled (a mailbox send costs a system call, so nothing is gained by waiting)."""
        records = self._mailbox.receive(fds) if fds is not None else self._mailbox.receive_all()
        self._mail_check()
        for data, sender in records:
            self._on_bytes(data, sender)
            self.send_now()

    def _mail_retry_due(self) -> None:
        self._mail_retry = False
        for addr, items in self._mailbox.retry():
            for data in items:
                Actor.send(self, addr, data)
        self._mail_check()

    def _learn_mailboxes(self, entries: dict, mailboxes: dict) -> None:
        for path, name in mailboxes.items():
            addr = entries.get(path)
            if addr is not None and name:
                self._mailboxes[str(addr)] = name

    # -- the loop ----------------------------------------------------------------------------------------------
    def receiveMessage(self, msg, sender):
        """Thespian's entry. Subclasses that wrap every pass (the webhook's group commit) override ``receive_pass``."""
        result = self.receive_pass(msg, sender)
        if self.fast_mail and not isinstance(msg, ActorExitRequest):
            result = self._fast_loop(result)
        return result

    def receive_pass(self, msg, sender):
        """One message from Thespian, or one readiness of this actor's own descriptors found by the fast loop."""
        with self.batch_sends():
            return self._receive(msg, sender)

    def _fast_loop(self, result):
        """Wait for the next mailbox record or watched descriptor here, instead of in a whole turn of Thespian's loop
        (supervision/fastmail.py), for as long as Thespian has nothing to do; then hand the turn back. Returns what
        receiveMessage returns: the watch list of the last pass."""
        view = self._fast
        if view is None:
            view = self._fast = fastmail.view(self) or False
        if not view or self._mailbox is None or not self.initialized:
            return result
        while not view.busy():
            limit = view.wait_limit()
            theirs = view.fds()
            if limit <= 0 or not theirs:
                break
            poller = select.poll()
            mine = result.filenos if isinstance(result, ThespianWatch) else ()
            for fd in mine:
                poller.register(fd, select.POLLIN)
            for fd in theirs:
                poller.register(fd, select.POLLIN)
            try:
                events = poller.poll(math.ceil(limit * 1000))
            except OSError:
                break       # a descriptor closed under us: Thespian's turn sorts it out
            ready = [fd for fd, _ in events]
            # Thespian's descriptors and due timers are its business; a readiness of ours it would see too, as the
            # poll is level-triggered, so breaking here loses nothing
            if not ready or any(fd in theirs for fd in ready) or \
                    any(ev & select.POLLNVAL for _, ev in events):
                break
            self.fast_passes += 1
            try:
                result = self.receive_pass(WatchMessage(ready), self.myAddress)
            except Exception:   # noqa: BLE001 - raised out of receiveMessage, Thespian would retry the wrong message
                self.errors += 1
                self.log.error("%s: a fast-loop pass failed: %s", self.path, traceback.format_exc())
                break
        return result

    def _receive(self, msg, sender):
        try:
            if isinstance(msg, (bytes, bytearray)):
                self._on_bytes(bytes(msg), sender)
            elif isinstance(msg, WakeupMessage):
                if msg.payload == _MAIL_RETRY and self._mailbox is not None:
                    self._mail_retry_due()
                else:
                    self._guard(self.on_timer, msg.payload)
            elif isinstance(msg, WatchMessage):
                ready = list(msg.ready)
                if self._mailbox is not None:
                    mine = [fd for fd in ready if self._mailbox.owns(fd)]
                    if mine:
                        ready = [fd for fd in ready if fd not in mine]
                        self._on_mail(mine)
                if ready:
                    self._guard(self.on_watch, ready)
            elif isinstance(msg, ChildActorExited):
                if self._mailbox is not None:
                    # what the child sent before it died is in our mailbox already (a record is in the receiver's
                    # queue once sent), but the loop may report the exit first: the child's last words (Exiting
                    # with its reason) are read before the news of its death
                    self._on_mail(None)
                self._guard(self.on_child_exited, msg.childAddress)
            elif isinstance(msg, ActorExitRequest):
                if self.initialized:
                    self._guard(self.teardown)
            elif isinstance(msg, PoisonMessage):
                self.log.warning("%s: a message we sent was poison to its receiver: %s", self.path, msg.details)
            else:
                self.log.debug("%s: ignored %s", self.path, type(msg).__name__)
        except _Stop:
            pass
        return self._watch()

    def _watch(self):
        """What receiveMessage returns: the fds Thespian should watch for this actor, if any."""
        fds = self.watched_fds()
        if self._mailbox is not None:
            fds = self._mailbox.fds() + list(fds)
        return ThespianWatch(fds) if fds else None

    def _on_bytes(self, data: bytes, sender) -> None:
        try:
            msg = m.decode(data)
        except m.CodecError as exc:
            self.codec_errors += 1
            self.log.error("%s: rejected a message: %s", self.path, exc)
            return
        if isinstance(msg, m.Batch):
            self.batches += 1
            for item in msg.items:
                self._on_bytes(item, sender)
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
            early, self.early = self.early, []
            for queued, queued_sender in early:
                self._dispatch_msg(queued, queued_sender)
            return
        if isinstance(msg, m.Directory):
            self._on_directory(msg)
            return
        if isinstance(msg, m.Ping):
            self.tell(sender, m.Pong(seq=msg.seq, name=self.name, pid=os.getpid(), handled=self.handled,
                                     errors=self.errors, codec_errors=self.codec_errors))
            return
        if not self.initialized:
            # Messages from different senders are not ordered: a client's question can reach a fresh actor
            # before its supervisor's Init. Handling it then crashed the actor on missing state; it waits instead.
            if len(self.early) >= EARLY_LIMIT:
                self.log.error("%s: dropped %s received before Init (%d already waiting)", self.path,
                               type(msg).__name__, EARLY_LIMIT)
                return
            self.early.append((msg, sender))
            return
        self._dispatch_msg(msg, sender)

    def _dispatch_msg(self, msg, sender) -> None:
        attr = self._dispatch.get(type(msg))
        if attr is None and type(msg) in _BUILTIN:
            attr = _BUILTIN[type(msg)]
        if attr is None:
            self.log.warning("%s: no handler for %s", self.path, type(msg).__name__)
            return
        self._guard(getattr(self, attr), msg, sender)

    def _on_directory(self, msg: m.Directory) -> None:
        previous, self.directory = self.directory, dict(msg.entries)
        self._peers = {str(a) for a in self.directory.values()}
        self._learn_mailboxes(self.directory, msg.mailboxes)
        for path, topics in self.wanted.items():
            addr = self.directory.get(path)
            if addr is not None and addr != previous.get(path):
                self.tell(addr, m.EventSubscribe(topics=topics))
        # subscribers that were actors of the tree and left it are gone for good (a restart has a new address)
        # ActorAddress is unhashable (__hash__ = None): the set difference used here raised TypeError on every
        # Directory after the first, so re-subscription and on_directory never ran
        current = list(self.directory.values())
        gone = [a for a in previous.values() if a not in current]
        if gone:
            for topic, subs in self.topic_subs.items():
                self.topic_subs[topic] = [a for a in subs if a not in gone]
        if self.initialized:
            self._guard(self.on_directory, previous)

    def _on_event_subscribe(self, msg: m.EventSubscribe, sender) -> None:
        for topic in msg.topics:
            subs = self.topic_subs.setdefault(str(topic), [])
            if msg.subscribe and sender not in subs:
                subs.append(sender)
            elif not msg.subscribe and sender in subs:
                subs.remove(sender)

    def _on_command(self, msg: m.Command, sender) -> None:
        reply = self.on_command(msg, sender)
        if reply is not None:
            self.tell(sender, reply)

    def _on_config_update(self, msg: m.ConfigUpdate, sender) -> None:
        mine = [c for c in msg.changed if str(c).split(".")[0] in self.config_sections()]
        if not mine:
            # answered all the same: ops/config finishes as soon as everybody has, instead of at its timeout
            self.tell(sender, m.ConfigApplied(path=self.path, version=msg.version, ok=True, stake=False))
            return
        try:
            self.reconfigure(msg.config, tuple(mine))
        except Exception as exc:   # a refused change keeps the running configuration; it never crashes the actor
            self.log.warning("%s: refused configuration %d: %s", self.path, msg.version, exc)
            self.tell(sender, m.ConfigApplied(path=self.path, version=msg.version, ok=False,
                                              error=f"{type(exc).__name__}: {exc}"))
            return
        self.config = msg.config
        self.tell(sender, m.ConfigApplied(path=self.path, version=msg.version, ok=True))

    def _on_status_request(self, msg: m.StatusRequest, sender) -> None:
        self.tell(sender, m.StatusReply(corr=msg.corr, name=self.name, pid=os.getpid(), started_at=self.started_at,
                                        children=0, data={"handled": self.handled, "batches": self.batches,
                                                          "errors": self.errors,
                                                          "codec_errors": self.codec_errors, "mail": self._mail_figures(),
                                                          "log": self._log_road(), **self.status_data()}))

    def _log_road(self) -> str:
        """How this process's log records reach the log file: "direct" (written here) or "thespian"."""
        inner = self._logs.inner if self._logs is not None else None
        return "direct" if isinstance(inner, logging.FileHandler) else "thespian"

    def _mail_figures(self) -> dict:
        box = self._mailbox
        if box is None:
            return {"on": False}
        return {"on": True, "sent": box.sent, "received": box.received, "peers_out": len(box.outbound),
                "peers_in": len(box.inbound), "gone": len(box.gone),
                "fast_loop": bool(self._fast) if self.fast_mail else None, "fast_passes": self.fast_passes}

    def _init(self, msg: m.Init, sender) -> None:
        self.parent = sender
        self.name, self.path, self.spec, self.config = msg.name, msg.path, msg.spec, msg.config
        self.implementation = msg.implementation
        self.log = logging.getLogger(f"zepix.{self.path}")
        hygiene.set_title(f"zepix {self.path}")
        if self._logs is not None and logfiles.direct(self.config) and \
                not isinstance(self._logs.inner, logging.FileHandler):
            why = self._logs.write_directly(self.config)
            if why:
                self.log.warning("%s: %s", self.path, why)
        if mailbox.available():
            try:
                box = mailbox.Mailbox()
            except OSError as exc:
                self.log.warning("%s: no mailbox (%s); every message goes through Thespian", self.path, exc)
            else:
                box.hello = m.encode(m.MailboxHello(address=self.myAddress, mailbox=box.name))
                self._mailbox = box
        try:
            self.setup()
        except Exception as exc:
            self.log.error("%s: setup failed: %s", self.path, traceback.format_exc())
            self.tell(sender, m.InitFailed(name=self.name, pid=os.getpid(), error=f"{type(exc).__name__}: {exc}"))
            self.stop_self()
            raise _Stop() from None
        cls = type(self)
        self.tell(sender, m.Started(name=self.name, pid=os.getpid(), actor_class=f"{cls.__module__}.{cls.__name__}",
                                    implementation=self.implementation, mailbox=self.mailbox_name))

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


# messages every actor answers unless its class handles them itself
_BUILTIN = {m.EventSubscribe: "_on_event_subscribe", m.Command: "_on_command",
            m.ConfigUpdate: "_on_config_update", m.StatusRequest: "_on_status_request"}


# the loop's own methods; the builtin handlers (_on_command, _on_event_subscribe, ...) may be extended with super()
_INTERNALS = frozenset({"_receive", "_on_bytes", "_dispatch_msg", "_guard", "_flush_outbox", "_init", "_on_directory",
                        "_post", "_watch", "batch_sends", "send_now", "_transmit", "_mail_check", "_on_mail",
                        "_mail_retry_due", "_learn_mailboxes", "mailbox_name", "_mail_figures", "receiveMessage",
                        "_fast_loop", "_log_road"})


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
