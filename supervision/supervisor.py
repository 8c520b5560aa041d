"""The supervisor actor: starts children in order, watches them, restarts them, escalates.

Thespian restarts nothing and detects no hang, so this actor does it (see DESIGN.md):
- exit notices (``ChildActorExited``, sent twice for SIGTERM) are de-duplicated by forgetting the child's
  address at the first one;
- every child gets an app-level ``Ping`` and Thespian's status request each heartbeat interval; a child whose
  last ``Pong`` is older than its hang timeout is SIGKILLed by pid and restarted (a remote child, whose pid we
  cannot kill, is treated as dead and replaced);
- restarts wait an exponential backoff with jitter; more than ``intensity`` restarts within ``period``
  escalate: this supervisor stops and its own supervisor decides (at the root, ``run.py`` restarts the system);
- a child with a fallback has a circuit breaker that runs the fallback after repeated failures and tries the
  primary again after a cool-down.
Every transition is published as a ``SupervisionEvent`` to subscribers and to the parent supervisor.
"""
from __future__ import annotations

import importlib
import os
import random
import signal
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta

import psutil
from thespian.actors import ActorExitRequest, ActorSystemConventionUpdate
from thespian.system.messages.status import Thespian_ActorStatus, Thespian_StatusReq
from thespian.system.transport import TransmitIntent

from actors import messages as m
from actors.base import ZepixActor, handles
from supervision.childspec import ChildSpec
from supervision.policy import Backoff, CircuitBreaker, RestartIntensity
from supervision import logfiles

ROOT_PREFIX = "zepix-root/"
TICK = 0.1          # seconds between supervision checks
GATHER_TIMEOUT = 0.6  # how long a tree request waits for child supervisors

# Event subscribers are outside processes (admin CLI, tests). Thespian lets an actor have only 20 transmits
# awaiting an ack (MAX_PENDING_TRANSMITS, for all targets together) and waits up to 5 minutes for each, so a
# subscriber that is alive but not reading used to freeze the root after ~20 events: no more pings went out, the
# root declared every subtree hung and killed the whole tree. So each subscriber gets at most SUBSCRIBER_WINDOW
# events in flight (the rest wait in a bounded backlog), each send gives up after SUBSCRIBER_SEND_TIMEOUT, and a
# subscriber whose send fails (gone, not reading, backlog full) is dropped and logged.
SUBSCRIBER_WINDOW = 2
SUBSCRIBER_SEND_TIMEOUT = 10.0   # generous: a client may read only now and then (bench/restart.py does)
SUBSCRIBER_BACKLOG = 1000
MAX_SUBSCRIBERS = 4


@dataclass
class Child:
    spec: ChildSpec
    path: str
    backoff: Backoff
    breaker: CircuitBreaker | None
    address: object = None
    pid: int | None = None
    local: bool = True
    state: str = "stopped"          # starting | running | restarting | hung | stopped
    implementation: str = "primary"
    restarts: int = 0
    generation: int = 0
    started_at: float = 0.0          # monotonic, when created
    running_since: float = 0.0       # monotonic, when Started arrived
    last_pong: float = 0.0
    last_ping: float = 0.0
    seq: int = 0
    restart_due: float | None = None
    exit_reason: str = ""
    killed_at: float | None = None   # monotonic, when we SIGKILLed it (hang) and wait for its exit notice
    stopping: bool = False           # asked to stop for an admin restart or rest_for_one
    stop_requested_at: float | None = None   # monotonic, when we sent it ActorExitRequest (see _tick)
    errors: int = 0
    handled: int = 0
    codec_errors: int = 0


@dataclass(eq=False)   # compared by identity
class Subscriber:
    address: object
    in_flight: int = 0
    backlog: deque = field(default_factory=deque)


@dataclass
class Gather:
    corr: str
    reply_to: object
    node: dict
    waiting: dict = field(default_factory=dict)   # sub-corr -> child name


class Supervisor(ZepixActor):
    exit_on_error = True

    def setup(self) -> None:
        spec = ChildSpec.from_dict(self.spec)
        self.my_spec = spec
        self.strategy = spec.strategy
        self.intensity = RestartIntensity(spec.intensity, spec.period)
        self.children: list[Child] = []
        self.subscribers: list[Subscriber] = []
        self.gathers: dict[str, Gather] = {}
        self.relays: dict[str, object] = {}     # corr -> who asked, for requests forwarded to a child supervisor
        self.stopping = False
        self.escalated = False
        for cs in spec.children:
            self.children.append(Child(
                spec=cs, path=f"{self.path}/{cs.name}", backoff=Backoff(cs.backoff_min, cs.backoff_max),
                breaker=(CircuitBreaker(cs.breaker_threshold, cs.breaker_period, cs.breaker_cooldown,
                                        cs.healthy_after) if cs.fallback else None)))
        self.members: list[tuple[object, dict]] = []   # convention members: (admin address, capabilities)
        if any(c.spec.requires for c in self.children):
            self.notifyOnSystemRegistrationChanges(True)
        for child in self.children:
            self._start(child)
        self.after(TICK, "tick")

    # -- starting ----------------------------------------------------------------------------------------------
    def _start(self, child: Child) -> None:
        if child.spec.requires and not self._placeable(child.spec.requires):
            # Asking Thespian to place an actor no system can take leaves its admin unresponsive (measured with
            # 4.0.1), so a child that needs a capability waits until a convention member offers it.
            child.state = "waiting"
            child.restart_due = None
            return
        now = time.monotonic()
        impl = child.breaker.implementation(now) if child.breaker else "primary"
        actor = child.spec.fallback if impl == "fallback" else child.spec.actor
        before = _child_pids()
        child.generation += 1
        child.address = self.createActor(actor, targetActorRequirements=child.spec.requires or None)
        new = _child_pids() - before
        child.pid = new.pop() if len(new) == 1 else None
        # No new process means Thespian placed the child elsewhere, or could not create it at all (e.g. an actor
        # class that does not import: Thespian passes it to its admin, which fails silently). Only a child that
        # asks for capabilities can be remote; before, such a local failure counted as "remote", never towards
        # the restart intensity, and a typo in an actor path crash-looped forever without escalating.
        child.local = child.pid is not None or not child.spec.requires
        child.state = "starting"
        child.implementation = impl
        child.started_at = now
        child.running_since = 0.0
        child.last_pong = now
        # a random phase: children started together were pinged together, every second, by every supervisor;
        # the burst of Ping/Pong/status messages stalled a busy actor (the webhook's p99) once a second
        child.last_ping = now - random.uniform(0.0, child.spec.heartbeat_interval)
        child.restart_due = None
        child.exit_reason = ""
        child.killed_at = None
        child.stopping = False
        child.stop_requested_at = None
        self.tell(child.address, m.Init(name=child.spec.name, path=child.path, spec=child.spec.to_dict(),
                                        config=self.config, implementation=impl))

    # -- messages from children --------------------------------------------------------------------------------
    def _by_sender(self, sender) -> Child | None:
        for child in self.children:
            if child.address is not None and child.address == sender:
                return child
        return None

    @handles(m.Started)
    def _on_started(self, msg: m.Started, sender) -> None:
        child = self._by_sender(sender)
        if child is None:
            return
        now = time.monotonic()
        child.pid = msg.pid
        child.state = "running"
        child.running_since = now
        child.last_pong = now
        self._publish("restarted" if child.restarts else "started", child.spec.name,
                      details={"pid": msg.pid, "implementation": msg.implementation, "restarts": child.restarts})
        self._directory_change(child.path.partition("/")[2], sender, msg.mailbox)

    @handles(m.InitFailed)
    def _on_init_failed(self, msg: m.InitFailed, sender) -> None:
        child = self._by_sender(sender)
        if child is not None:
            child.exit_reason = f"setup failed: {msg.error}"

    @handles(m.Exiting)
    def _on_exiting(self, msg: m.Exiting, sender) -> None:
        child = self._by_sender(sender)
        if child is not None:
            child.exit_reason = msg.reason

    @handles(m.Pong)
    def _on_pong(self, msg: m.Pong, sender) -> None:
        child = self._by_sender(sender)
        if child is not None and child.state in ("running", "starting"):
            child.last_pong = time.monotonic()
            child.pid = msg.pid or child.pid
            child.errors, child.handled, child.codec_errors = msg.errors, msg.handled, msg.codec_errors

    @handles(m.ConfigUpdate)
    def _on_config_update_sup(self, msg: m.ConfigUpdate, sender) -> None:
        # ops (issue 8): keep the hot-reloaded configuration, so a child restarted after a reload starts with it
        # (Init carries the supervisor's config); it owns no section, and says so
        config = dict(msg.config)
        config["_runtime"] = self.config.get("_runtime", {})
        self.config = config
        self.tell(sender, m.ConfigApplied(path=self.path, version=msg.version, ok=True, stake=False))

    @handles(m.SupervisionEvent)
    def _on_event(self, msg: m.SupervisionEvent, sender) -> None:
        # an event from a child supervisor: pass it on unchanged
        self._forward(msg)

    # -- the directory (see actors.messages.Directory) ----------------------------------------------------------
    @handles(m.DirectoryChange)
    def _on_directory_change(self, msg: m.DirectoryChange, sender) -> None:
        self._directory_change(msg.path, msg.address, msg.mailbox)

    def _directory_change(self, path: str, address, mailbox: str = "") -> None:
        if self._is_supervised():
            self.tell(self.parent, m.DirectoryChange(path=path, address=address, mailbox=mailbox))

    def _placeable(self, requires: dict) -> bool:
        own = getattr(getattr(self, "_myRef", None), "capabilities", None) or {}
        for caps in [own] + [c for _, c in self.members]:
            if all(caps.get(k) == v for k, v in requires.items()):
                return True
        return False

    def _on_convention(self, msg: ActorSystemConventionUpdate) -> None:
        self.members = [(a, c) for a, c in self.members if a != msg.remoteAdminAddress]
        if msg.remoteAdded:
            self.members.append((msg.remoteAdminAddress, dict(msg.remoteCapabilities or {})))
            for child in self.children:
                if child.state == "waiting" and not self.stopping:
                    self._start(child)

    def receive_pass(self, msg, sender):
        if isinstance(msg, ActorSystemConventionUpdate):
            self._on_convention(msg)
            return None
        if isinstance(msg, Thespian_ActorStatus):
            child = self._by_sender(sender)
            if child is not None and child.state == "running":
                child.last_pong = max(child.last_pong, time.monotonic() - child.spec.heartbeat_interval)
            return None
        return super().receive_pass(msg, sender)

    # -- exits -------------------------------------------------------------------------------------------------
    def on_child_exited(self, address) -> None:
        child = self._by_sender(address)
        if child is None:
            return  # the second notice of one exit (SIGTERM), or a child we already replaced
        self._handle_exit(child)

    def _handle_exit(self, child: Child) -> None:
        now = time.monotonic()
        child.address = None
        never_ran = child.state == "starting" and child.pid is None and child.local
        reason = child.exit_reason or ("killed after hang" if child.killed_at else
                                       _creation_problem(child) if never_ran else "exited")
        was = child.state
        child.state = "stopped"
        child.pid = None
        self._publish("exited", child.spec.name, reason, {"implementation": child.implementation})
        self._directory_change(child.path.partition("/")[2], None)
        if self.stopping:
            return
        if child.stopping and was != "hung":
            # stopped on purpose (admin restart, rest_for_one): restart without counting a failure
            self._schedule(child, 0.0)
            return
        if child.spec.restart == "temporary" or (child.spec.restart == "transient" and reason == "normal"):
            return
        switched = bool(child.breaker and child.breaker.record_failure(child.implementation, now))
        if switched:
            self._publish("fallback_on", child.spec.name, reason,
                          {"fallback": child.spec.fallback, "cooldown_s": child.spec.breaker_cooldown})
            # the fallback is a different implementation: it does not inherit the primary's backoff
            child.backoff.reset()
        # A child placed on another host by capability fails when that host is down or not joined yet: that is
        # the network, not a bug, so it backs off and retries without counting towards escalation.
        if child.local and not self.intensity.record(now):
            self._escalate(f"restart intensity exceeded: {child.spec.name} ({reason})")
            return
        delay = 0.0 if switched else child.backoff.next_delay()
        self._schedule(child, delay)
        if self.strategy == "rest_for_one":
            for later in self.children[self.children.index(child) + 1:]:
                if later.address is not None:
                    self._stop_on_purpose(later, f"rest_for_one: {child.spec.name} failed")
                elif later.restart_due is None and later.state == "stopped":
                    self._schedule(later, delay)

    def _stop_on_purpose(self, child: Child, reason: str) -> None:
        """Ask a running child to stop so it is started again without counting a failure."""
        child.stopping = True
        child.state = "restarting"
        child.exit_reason = reason
        child.stop_requested_at = time.monotonic()
        self.send(child.address, ActorExitRequest())

    def _schedule(self, child: Child, delay: float) -> None:
        child.state = "restarting"
        child.restart_due = time.monotonic() + delay
        # a timer of its own, so a restart does not wait for the next supervision tick
        self.after(delay, ("restart", child.spec.name))

    def _escalate(self, reason: str) -> None:
        self.escalated = True
        self._publish("escalated", self.name, reason)
        self.log.error("%s: escalating: %s", self.path, reason)
        self.crash(reason)

    # -- the periodic check ------------------------------------------------------------------------------------
    def on_timer(self, key) -> None:
        if key == "tick":
            self._tick()
            self.after(TICK, "tick")
        elif isinstance(key, tuple) and key[0] == "restart":
            self._restart_due(self._child(key[1]), time.monotonic())
        elif isinstance(key, tuple) and key[0] == "gather":
            gather = self.gathers.pop(key[1], None)
            if gather is not None:
                for sub, name in gather.waiting.items():
                    # forget the sub-request too: its late answer used to finish this gather a second time
                    # and send the asker another reply to a question already answered
                    self.gathers.pop(sub, None)
                    node = self._node_of(self._child(name))
                    node["state"] = "unresponsive"
                    gather.node["children"].append(node)
                gather.waiting.clear()
                self._finish_gather(gather)

    def _tick(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if self._restart_due(child, now):
                continue
            if child.address is None:
                continue
            if child.killed_at is not None:
                # SIGKILLed (or unreachable remote): if no exit notice came, stop waiting for one
                if now - child.killed_at > 1.0 or not child.local:
                    self._handle_exit(child)
                continue
            if child.stopping and child.stop_requested_at is not None:
                # Asked to stop (admin restart, rest_for_one, back to the primary). Such a child is neither pinged
                # nor hang-checked, so one that is hung (or ignores ActorExitRequest) stayed "restarting" forever:
                # after its shutdown timeout it is SIGKILLed like a hung child, still without counting a failure.
                if now - child.stop_requested_at > child.spec.shutdown_timeout:
                    child.exit_reason += f"; killed after the {child.spec.shutdown_timeout:g}s shutdown timeout"
                    child.killed_at = now
                    if child.local and child.pid:
                        _sigkill(child.pid)
                continue
            if child.state in ("running", "starting") and now - child.last_ping >= child.spec.heartbeat_interval:
                child.seq += 1
                child.last_ping = now
                self.tell(child.address, m.Ping(seq=child.seq))
                self.send(child.address, Thespian_StatusReq())
            limit = child.spec.hang_timeout if child.state == "running" else child.spec.start_timeout
            if child.state in ("running", "starting") and now - child.last_pong > limit:
                self._hung(child, now)
            elif child.state == "running":
                if now - child.running_since >= child.spec.healthy_after:
                    child.backoff.reset()
                if child.breaker and child.breaker.record_healthy(child.implementation, child.running_since, now):
                    self._publish("fallback_off", child.spec.name, "primary healthy again")
                if child.breaker and child.implementation == "fallback" \
                        and child.breaker.implementation(now) == "primary":
                    # The breaker is consulted only when a child starts, so a healthy fallback used to run forever:
                    # once the cool-down is over, replace it on purpose (not a failure) to try the primary
                    # (half-open).
                    self._stop_on_purpose(child, "breaker cool-down over: trying the primary again")

    def _restart_due(self, child: Child, now: float) -> bool:
        if child.state == "restarting" and child.address is None and child.restart_due is not None \
                and now >= child.restart_due and not self.stopping:
            child.restarts += 1
            self._start(child)
            return True
        return False

    def _hung(self, child: Child, now: float) -> None:
        silent = now - child.last_pong
        child.state = "hung"
        child.exit_reason = f"hung: no heartbeat for {silent:.1f}s"
        self._publish("hung", child.spec.name, child.exit_reason, {"pid": child.pid})
        child.killed_at = now
        if child.local and child.pid:
            _sigkill(child.pid)
        elif child.spec.requires:
            # a silent remote child means its host is gone (Thespian notices after ~22 min): forget the members
            # that offered its capabilities, so it waits for one to (re)join instead of being placed on a ghost
            self.members = [(a, c) for a, c in self.members
                            if not all(c.get(k) == v for k, v in child.spec.requires.items())]

    # -- admin -------------------------------------------------------------------------------------------------
    @handles(m.Subscribe)
    def _on_subscribe(self, msg: m.Subscribe, sender) -> None:
        self.subscribers = [s for s in self.subscribers if s.address != sender]
        if msg.subscribe:
            if len(self.subscribers) >= MAX_SUBSCRIBERS:
                self.log.warning("%s: refused a subscriber: already %d", self.path, len(self.subscribers))
                return
            self.subscribers.append(Subscriber(sender))

    @handles(m.TreeRequest)
    def _on_tree(self, msg: m.TreeRequest, sender) -> None:
        node = self._self_node()
        gather = Gather(corr=msg.corr, reply_to=sender, node=node)
        for child in self.children:
            if child.spec.kind == "supervisor" and child.address is not None and child.state == "running":
                sub = f"{msg.corr}/{uuid.uuid4().hex[:8]}"
                gather.waiting[sub] = child.spec.name
                self.gathers[sub] = gather
                self.tell(child.address, m.TreeRequest(corr=sub))
            else:
                node["children"].append(self._node_of(child))
        if gather.waiting:
            self.gathers[msg.corr] = gather
            self.after(GATHER_TIMEOUT, ("gather", msg.corr))
        else:
            self._finish_gather(gather)

    @handles(m.TreeReply)
    def _on_tree_reply(self, msg: m.TreeReply, sender) -> None:
        gather = self.gathers.pop(msg.corr, None)
        if gather is None:
            return  # too late: the request already timed out
        name = gather.waiting.pop(msg.corr)
        node = dict(msg.node)
        node.update({k: v for k, v in self._node_of(self._child(name)).items() if k != "children"})
        gather.node["children"].append(node)
        if not gather.waiting:
            self.gathers.pop(gather.corr, None)
            self._finish_gather(gather)

    def _finish_gather(self, gather: Gather) -> None:
        order = {c.spec.name: i for i, c in enumerate(self.children)}
        gather.node["children"].sort(key=lambda n: order.get(n["name"], 0))
        self.tell(gather.reply_to, m.TreeReply(corr=gather.corr, node=gather.node))

    def _self_node(self) -> dict:
        cls = type(self)
        return {"name": self.name, "path": self.path, "kind": "supervisor",
                "actor_class": f"{cls.__module__}.{cls.__name__}", "pid": os.getpid(), "state": "running",
                "restarts": 0, "uptime_s": round(time.time() - self.started_at, 3), "heartbeat_age_s": 0.0,
                "implementation": self.implementation, "strategy": self.strategy, "errors": self.errors,
                "codec_errors": self.codec_errors,
                "restart_intensity": f"{self.intensity.count(time.monotonic())}/{self.my_spec.intensity} "
                                     f"per {self.my_spec.period:g}s",
                "children": []}

    def _node_of(self, child: Child) -> dict:
        now = time.monotonic()
        actor = child.spec.fallback if child.implementation == "fallback" else child.spec.actor
        return {"name": child.spec.name, "path": child.path, "kind": child.spec.kind, "actor_class": actor,
                "pid": child.pid, "state": child.state, "restarts": child.restarts,
                "uptime_s": round(now - child.running_since, 3) if child.state == "running" else 0.0,
                "heartbeat_age_s": round(now - child.last_pong, 3) if child.address is not None else None,
                "implementation": child.implementation, "errors": child.errors,
                "codec_errors": child.codec_errors,   # from the child's last Pong
                "breaker": child.breaker.state if child.breaker else None,
                "children": []}

    def _child(self, name: str) -> Child:
        return next(c for c in self.children if c.spec.name == name)

    def _route(self, msg, sender, act) -> None:
        """Find the child a RestartChild/KillChild names (a path below this supervisor) and act, or forward."""
        head, _, rest = msg.name.partition("/")
        child = next((c for c in self.children if c.spec.name == head), None)
        if child is None:
            self.tell(sender, m.CommandReply(corr=msg.corr, ok=False, text=f"{self.path} has no child {head!r}"))
        elif rest:
            if child.spec.kind != "supervisor" or child.address is None:
                self.tell(sender, m.CommandReply(corr=msg.corr, ok=False, text=f"{child.path} is not a running supervisor"))
                return
            self.relays[msg.corr] = sender
            self.tell(child.address, type(msg)(corr=msg.corr, name=rest))
        else:
            act(child, msg, sender)

    @handles(m.CommandReply)
    def _on_relayed_reply(self, msg: m.CommandReply, sender) -> None:
        asker = self.relays.pop(msg.corr, None)
        if asker is not None:
            self.tell(asker, msg)

    @handles(m.RestartChild)
    def _on_restart(self, msg: m.RestartChild, sender) -> None:
        def act(child: Child, msg, sender):
            if child.address is None:
                child.restart_due = time.monotonic()
                child.state = "restarting"
            else:
                self._stop_on_purpose(child, "restart requested")
            self.tell(sender, m.CommandReply(corr=msg.corr, ok=True, text=f"restarting {child.path}"))
        self._route(msg, sender, act)

    @handles(m.KillChild)
    def _on_kill(self, msg: m.KillChild, sender) -> None:
        def act(child: Child, msg, sender):
            if not (child.local and child.pid):
                self.tell(sender, m.CommandReply(corr=msg.corr, ok=False, text=f"{child.path} has no local pid"))
                return
            _sigkill(child.pid)
            self.tell(sender, m.CommandReply(corr=msg.corr, ok=True, text=f"SIGKILL sent to {child.path} (pid {child.pid})",
                                             data={"pid": child.pid}))
        self._route(msg, sender, act)

    @handles(m.StatusRequest)
    def _on_status(self, msg: m.StatusRequest, sender) -> None:
        states: dict[str, int] = {}
        for c in self.children:
            states[c.state] = states.get(c.state, 0) + 1
        self.tell(sender, m.StatusReply(corr=msg.corr, name=self.name, pid=os.getpid(), started_at=self.started_at,
                                        children=len(self.children), data={"states": states}))

    # -- events ------------------------------------------------------------------------------------------------
    def _publish(self, kind: str, child: str, reason: str = "", details: dict | None = None) -> None:
        event = m.SupervisionEvent(kind=kind, supervisor=self.path, child=child, reason=reason, at=time.time(),
                                   details=details or {})
        level = 30 if kind in ("exited", "hung", "escalated", "fallback_on") else 20
        self.log.log(level, "%s: %s %s %s", self.path, kind, child, reason)
        self._forward(event)

    def _forward(self, event: m.SupervisionEvent) -> None:
        data = m.encode(event)
        for sub in list(self.subscribers):
            if len(sub.backlog) >= SUBSCRIBER_BACKLOG:
                self._drop_subscriber(sub, f"{SUBSCRIBER_BACKLOG} events not delivered")
                continue
            sub.backlog.append(data)
            self._pump(sub)
        if self.parent is not None and self._is_supervised():
            self.send(self.parent, data)

    def _pump(self, sub: Subscriber) -> None:
        while sub.in_flight < SUBSCRIBER_WINDOW and sub.backlog and sub in self.subscribers:
            sub.in_flight += 1
            # Thespian's public send() has neither a timeout nor a completion callback (see SUBSCRIBER_WINDOW)
            self._myRef._send_intent(TransmitIntent(  # noqa: SLF001
                sub.address, sub.backlog.popleft(), onSuccess=lambda r, i, sub=sub: self._event_sent(sub),
                onError=lambda r, i, sub=sub: self._drop_subscriber(sub, f"send failed: {r}"),
                maxPeriod=timedelta(seconds=SUBSCRIBER_SEND_TIMEOUT)))

    def _event_sent(self, sub: Subscriber) -> None:
        sub.in_flight -= 1
        self._pump(sub)

    def _drop_subscriber(self, sub: Subscriber, why: str) -> None:
        if sub in self.subscribers:
            self.subscribers.remove(sub)
            sub.backlog.clear()
            self.log.warning("%s: dropped event subscriber %s: %s", self.path, sub.address, why)

    def _is_supervised(self) -> bool:
        # the root's parent is Thespian's admin, which does not speak our messages
        return "/" in self.path

    # -- stopping ----------------------------------------------------------------------------------------------
    def teardown(self) -> None:
        """Thespian stops our children for us; kill whatever is still alive after its shutdown timeout."""
        self.stopping = True
        pids = [(c.pid, c.spec.shutdown_timeout) for c in self.children if c.local and c.pid]
        if pids:
            timeout = max(t for _, t in pids)
            killer = threading.Timer(timeout, lambda: [_sigkill(p) for p, _ in pids])
            killer.daemon = True
            killer.start()


def _creation_problem(child: Child) -> str:
    """Why a local child exited before it had a process: usually its class does not import."""
    dotted = child.spec.fallback if child.implementation == "fallback" else child.spec.actor
    module, _, name = dotted.rpartition(".")
    try:
        getattr(importlib.import_module(module), name)
    except Exception as exc:
        return f"could not be created: cannot import {dotted}: {type(exc).__name__}: {exc}"
    return f"could not be created: {dotted} (see the Thespian log)"


def _child_pids() -> set[int]:
    try:
        return {p.pid for p in psutil.Process().children(recursive=False)}
    except psutil.Error:
        return set()


def _sigkill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


DIRECTORY_DELAY = 0.05   # changes within this long go out as one Directory (a subtree starts many children)


class RootSupervisor(Supervisor):
    """The only top-level actor (globalName ``zepix-root``). Answers ``StopSystem`` for the admin CLI, keeps the
    directory of every actor and sends it to all of them when it changes."""

    def setup(self) -> None:
        self.dir_map: dict[str, object] = {}
        self.dir_mail: dict[str, str] = {}     # path -> same-host mailbox (actors.mailbox)
        self.dir_due = False
        super().setup()
        # ops (issue 8): the root lists itself under its own name, so actors of the tree (ops/health) can send it
        # Subscribe and TreeRequest; it is never sent its own Directory (see on_timer).
        self._directory_change(ROOT_PREFIX.rstrip("/"), self.myAddress, self.mailbox_name)
        if logfiles.direct(self.config):
            # every actor writes the log file itself; the root is the one that rotates it
            self.after(logfiles.rotate_check(self.config), "logs")

    def _directory_change(self, path: str, address, mailbox: str = "") -> None:
        if address is None:
            for known in [p for p in self.dir_map if p == path or p.startswith(path + "/")]:
                del self.dir_map[known]
                self.dir_mail.pop(known, None)
        else:
            self.dir_map[path] = address
            if mailbox:
                self.dir_mail[path] = mailbox
            else:
                self.dir_mail.pop(path, None)
        if not self.dir_due:
            self.dir_due = True
            self.after(DIRECTORY_DELAY, "directory")

    def on_timer(self, key) -> None:
        if key == "logs":
            self._rotate_logs()
            self.after(logfiles.rotate_check(self.config), "logs")
            return
        if key == "directory":
            self.dir_due = False
            self.directory = dict(self.dir_map)
            self._peers = {str(a) for a in self.directory.values()}
            self._learn_mailboxes(self.directory, self.dir_mail)
            data = m.encode(m.Directory(entries=self.directory, mailboxes=dict(self.dir_mail)))
            for addr in self.directory.values():
                if addr != self.myAddress:   # ops (issue 8): the root's own entry
                    self.send(addr, data)
            return
        super().on_timer(key)

    def _rotate_logs(self) -> None:
        log = self.config["logging"]
        try:
            rotated = logfiles.rotate(logfiles.log_path(self.config), int(log["max_bytes"]), int(log["backups"]))
        except OSError as exc:
            self.log.error("%s: log rotation failed: %s", self.path, exc)
            return
        if rotated:
            self.log.info("%s: rotated the log file (over %s bytes)", self.path, log["max_bytes"])

    @handles(m.LookupRequest)
    def _on_lookup(self, msg: m.LookupRequest, sender) -> None:
        path = msg.path.removeprefix(ROOT_PREFIX)
        self.tell(sender, m.LookupReply(corr=msg.corr, path=path, address=self.dir_map.get(path)))

    @handles(m.StopSystem)
    def _on_stop(self, msg: m.StopSystem, sender) -> None:
        runtime = self.config.get("_runtime", {})
        self.tell(sender, m.CommandReply(corr=msg.corr, ok=True, text="stopping",
                                         data={"watchdog_pid": runtime.get("watchdog_pid", 0)}))

    def _self_node(self) -> dict:
        node = super()._self_node()
        runtime = self.config.get("_runtime", {})
        node["restarts"] = runtime.get("system_restarts", 0)
        return node
