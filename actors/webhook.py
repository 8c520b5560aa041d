"""The webhook actor (``ingress/webhook``): TradingView's way in, and the alert journal's only writer.

It owns its listening socket without threads: Thespian watches the socket and every open connection
(``watched_fds``), and each readiness is handled with non-blocking accept/recv and the sans-IO HTTP protocol of
``gateways.http.protocol``. Endpoints:

    POST /webhook/<token>[?symbol=..&strategy=..&tf=..]   an alert; answered only after the journal commit
    GET  /health                                          liveness for load balancers and monitors

An alert is authenticated by the URL token (constant-time compare; a wrong token is 401 and the body is never
parsed), optionally by source address, parsed (``strategies.alerts.parse_alert``), de-duplicated, committed to
the journal, answered, and routed. Outcomes (``AlertOutcome``) from anyone move the alert's journal status on.

Routing, without a hop where it can (``routing.direct``, on by default): the webhook decides the route with the
router's own pure code (``strategies.routing.route_alert``: bridge, then the table). An alert with exactly one
target whose plugin is in the directory is handed to that plugin directly, and the webhook journals its "routed"
step itself (source ``ingress/webhook``). Everything else goes to ``ingress/router`` as before (no target: skipped
with the reason; fan-out; a plugin not in the directory: parked while it restarts), as do the re-sends below.

Nothing is lost, and a repeat is harmless (plugins are idempotent by alert_id). At most ``routing.max_in_flight``
alerts wait for their first answer (the router's, or a plugin's for a direct hand-off); the rest wait here in
order. Sent again, through the router: a direct hand-off whose plugin left the directory or came back at a new
address before answering, and anything unanswered after ``IN_FLIGHT_TIMEOUT``. After a restart of this actor, or
of the router, what the router held and what was not routed yet is routed again. No limit, bad request or broken
peer stops the actor.
"""
from __future__ import annotations

import hmac
import logging
import secrets
import select
import socket
import sqlite3
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from thespian.actors import ActorExitRequest

from actors import messages as m
from actors.base import ZepixActor, handles
from config.errors import ConfigError
from gateways.http.access import Access, RateLimiter
from gateways.http.protocol import Limits, ProtocolError, Request, ServerConnection
from gateways.storage.journal import Journal
from strategies.alerts import AlertError, ParserSettings, content_key, dedupe_key, parse_alert
from strategies.routing import RoutingTable, route_alert

ROUTER = "ingress/router"
HINTS = ("symbol", "strategy", "tf")
SWEEP_EVERY = 0.5            # seconds between checks for slow and idle connections
RECV_CHUNK = 65536
ACCEPT_BATCH = 64
PURGE_EVERY = 86400.0
LOG_PER_SECOND = 5
IN_FLIGHT_TIMEOUT = 10.0    # seconds without an answer (router's, or plugin's) before an alert is sent again
ROUTE_GATHER = 0.005        # seconds: alerts closer together than this travel to the router together
HANDED = "handed to the plugin directly by the webhook"


@dataclass
class Conn:
    sock: socket.socket
    peer: str
    proto: ServerConnection
    opened: float
    last: float                          # last byte received or response sent
    started: float | None = None         # first byte of the request in progress
    out: bytearray = field(default_factory=bytearray)


@dataclass(slots=True)
class Sent:
    """An alert waiting for its first answer."""
    at: float                   # monotonic time it was sent
    msg: m.AlertRoute           # as accepted (a re-send goes to the router, which bridges it again)
    targets: tuple              # the plugins it is going to, as far as the webhook knows
    addr: object = None         # a direct hand-off: the plugin's address told; None: sent to the router


def new_alert_id(received_at: float) -> str:
    """Time-ordered and unique: '20260107T101500.123Z-1a2b3c4d'."""
    stamp = datetime.fromtimestamp(received_at, timezone.utc).strftime("%Y%m%dT%H%M%S.%f")[:-3]
    return f"{stamp}Z-{secrets.token_hex(4)}"


def reject_status(err: AlertError) -> int:
    """413 for an oversized body, 400 when the body is not readable at all, 422 for a readable wrong alert."""
    if err.code == "too_large":
        return 413
    if err.code == "malformed" and err.field == "body":
        return 400
    return 422


class WebhookActor(ZepixActor):
    fast_mail = True      # on every alert's path: waits for its mailbox itself (actors/base.py)

    def setup(self) -> None:
        cfg = self.config
        web = cfg["webhook"]
        lim = web["limits"]
        self.token = web.get("token") or ""
        if not self.token:
            from config.loader import ensure_webhook_token
            self.token = ensure_webhook_token(cfg)
        self.limits = Limits(max_body=lim["max_body_bytes"], max_header=lim["max_header_bytes"])
        self.read_timeout = float(lim["read_timeout"])
        self.keepalive_timeout = float(lim["keepalive_timeout"])
        self.max_connections = int(lim["max_connections"])
        self.rate = RateLimiter(rate=float(lim["rate_limit_per_ip"]), burst=int(lim["rate_limit_burst"]))
        self.access = Access.from_config(web["access"])
        self.parser = ParserSettings.from_mapping(cfg.get("alerts", {}))
        jcfg = cfg["journal"]
        self.dedupe_window = float(jcfg["dedupe_window"])
        self.retention_s = float(jcfg["retention_days"]) * 86400.0
        self.redeliver_max_age = float(jcfg["redeliver_max_age"])
        self.journal = Journal(Path(cfg["system"]["data_dir"]) / jcfg["file"])
        self.conns: dict[int, Conn] = {}
        # The open connections sit in our own epoll set, and Thespian watches only the listener and that set's
        # fd (readable when any connection is): Thespian builds a new selector with every watched fd on each turn
        # of its loop, which with 50 keep-alive clients cost more than the requests themselves.
        self.poller = select.epoll()
        # Group commit (receive_pass): answers and routes of one pass wait here until the journal commit
        self._held: list[tuple[int, Conn, bytes]] | None = None
        self._pass_routes: list[m.AlertRoute] | None = None
        self._log_window, self._log_count, self._log_dropped = 0.0, 0, 0
        self.stats = {"accepted": 0, "duplicate": 0, "rejected": 0, "unauthorized": 0, "forbidden": 0,
                      "rate_limited": 0, "too_large": 0, "timeouts": 0, "overflow": 0, "errors": 0,
                      "connections": 0, "redelivered": 0, "outcomes": 0, "handed": 0, "to_router": 0,
                      "resent": 0}
        self.routed_to = None          # router address the pending alerts were last delivered to
        # Flow control: Thespian sends every outgoing message of an actor through one FIFO (20 in flight), so an
        # unbounded stream of AlertRoute queued the heartbeat's Pong behind it and a busy webhook was killed as
        # hung. At most max_in_flight alerts wait for their first answer (the router's, or for a direct hand-off
        # the plugin's); the rest wait here, in order (they are in the journal either way).
        self._configure_routing(cfg.get("routing", {}))
        self.in_flight: dict[str, Sent] = {}
        self.backlog: deque = deque()       # (AlertRoute, through the router only)
        # "routed" steps of direct hand-offs, written in the next journal transaction (see _journal_handed)
        self._handed: list[tuple] = []
        self.gathered: list = []            # routes of the current gathering window (_route_soon)
        self.gather_due = False
        self.last_routed = 0.0
        self.listener = self._listen(web["host"], int(web["port"]))
        self.log.info("%s: listening on %s:%d", self.path, web["host"], web["port"])
        self._purge()
        self.after(SWEEP_EVERY, "sweep")
        self.after(PURGE_EVERY, "purge")
        self._redeliver()

    def _configure_routing(self, routing: dict) -> None:
        """``[routing]`` as the webhook uses it; ConfigError (a ValueError) refuses it and keeps what runs."""
        table = RoutingTable.from_config(routing)
        direct = routing.get("direct", True)
        if not isinstance(direct, bool):
            raise ConfigError("routing.direct", direct, "true or false")
        max_in_flight = routing.get("max_in_flight", 32)
        if not isinstance(max_in_flight, int) or isinstance(max_in_flight, bool) or max_in_flight < 1:
            raise ConfigError("routing.max_in_flight", max_in_flight, "an integer >= 1")
        self.table, self.direct, self.max_in_flight = table, direct, max_in_flight

    def config_sections(self) -> tuple:
        return ("routing",)

    def reconfigure(self, config: dict, changed: tuple) -> None:
        self._configure_routing(config.get("routing", {}))
        self._pump()        # a larger max_in_flight lets waiting alerts go

    def _listen(self, host: str, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        # a restarted webhook binds again at once, while the old instance's connections sit in TIME_WAIT
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.set_inheritable(False)
        sock.bind((host, port))
        sock.listen(512)
        sock.setblocking(False)
        return sock

    def teardown(self) -> None:
        for fd in list(self.conns):
            self._close(fd)
        listener = getattr(self, "listener", None)
        if listener is not None:
            listener.close()
            self.listener = None
        poller = getattr(self, "poller", None)
        if poller is not None:
            poller.close()
        journal = getattr(self, "journal", None)
        if journal is not None:
            try:
                with journal.group():
                    self._journal_handed()
            except sqlite3.Error as exc:
                self.log.warning("%s: the last hand-offs' \"routed\" steps were not journaled: %s", self.path, exc)
            journal.close()

    # -- group commit ------------------------------------------------------------------------------------------
    def receive_pass(self, msg, sender):
        """Everything one transport message brings (a socket readiness pass with many requests, a Batch of
        outcomes) is written to the journal in one transaction. Only after its commit are the HTTP answers sent
        and the new alerts routed, so nothing is acknowledged or acted on that a crash could lose; and one commit
        per pass instead of one per request is what lets the answers keep up under load."""
        journal = getattr(self, "journal", None)
        # (the exit request closes the journal: inside a group its commit failed and the pass was lost)
        if journal is None or self._held is not None or isinstance(msg, ActorExitRequest):
            return super().receive_pass(msg, sender)
        self._held, self._pass_routes = [], []
        failed = None
        try:
            with journal.group():
                self._journal_handed()      # hand-offs made after the last commit, before this pass's outcomes
                super().receive_pass(msg, sender)
                self._journal_handed()
        except sqlite3.Error as exc:
            failed = exc
        finally:
            held, routes = self._held, self._pass_routes
            self._held = self._pass_routes = None
        with self.batch_sends():
            if failed is not None:
                # nothing of this pass is durable: no answer promises it (the clients see the connection close
                # and TradingView reports the failure), nothing is routed
                for fd, conn, _ in held:
                    if self.conns.get(fd) is conn:
                        self._close(fd)
                self._journal_down(failed)
            else:
                if routes:
                    self._route_soon(routes)
                    self.send_now()     # the alerts leave before the answers are written (a send each, ~0.2 ms)
                for fd, conn, data in held:
                    # the same connection: a closed one's fd number can be reused by a new one in the same pass
                    if self.conns.get(fd) is conn and self._send(fd, data):
                        self._serve(fd)
        return self._watch()

    # -- sockets -----------------------------------------------------------------------------------------------
    def watched_fds(self) -> list[int]:
        listener = getattr(self, "listener", None)
        if listener is None:
            return []
        return [listener.fileno(), self.poller.fileno()]

    def on_watch(self, ready: list[int]) -> None:
        for fd in ready:
            if self.listener is not None and fd == self.listener.fileno():
                self._accept()
            elif fd == self.poller.fileno():
                for conn_fd, _events in self.poller.poll(0):
                    if conn_fd in self.conns:
                        self._guarded_read(conn_fd)

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                sock, addr = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # EMFILE and friends: the listener stays up; the next readiness tries again
                self._say(logging.WARNING, "accept failed: %s", exc)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            now = time.monotonic()
            conn = Conn(sock=sock, peer=str(addr[0]), proto=ServerConnection(self.limits), opened=now, last=now)
            if len(self.conns) >= self.max_connections:
                self.stats["overflow"] += 1
                self._send_now(conn, conn.proto.respond_json(503, {"status": "error",
                                                                   "error": "too many connections; retry"},
                                                             close=True))
                sock.close()
                continue
            self.stats["connections"] += 1
            self.conns[sock.fileno()] = conn
            self.poller.register(sock.fileno(), select.EPOLLIN | select.EPOLLRDHUP)

    def _guarded_read(self, fd: int) -> None:
        # A bug in handling one connection closes that connection; it never takes the webhook (and every other
        # client) down with it.
        try:
            self._read(fd)
        except Exception:
            self.stats["errors"] += 1
            self.log.error("%s: connection handling failed: %s", self.path, traceback.format_exc())
            self._close(fd)

    def _read(self, fd: int) -> None:
        conn = self.conns[fd]
        while True:
            try:
                data = conn.sock.recv(RECV_CHUNK)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._close(fd)
                return
            now = time.monotonic()
            if data and conn.started is None and conn.proto.idle:
                conn.started = now
            conn.last = now
            conn.proto.feed(data)
            if not data:
                break
            if len(data) < RECV_CHUNK:
                break
        self._serve(fd)

    def _serve(self, fd: int) -> None:
        conn = self.conns.get(fd)
        if conn is None:
            return
        while conn.out == b"":
            event = conn.proto.next_event()
            if event is None:
                break
            if isinstance(event, ProtocolError):
                out = self._protocol_error(conn, event)
            else:
                out = self._handle(conn, event)
            conn.started = None if conn.proto.idle else time.monotonic()
            if self._held is not None:
                self._held.append((fd, conn, out))
                if conn.proto.should_close:
                    return      # answered (and closed) after the commit
                continue
            if not self._send(fd, out):
                return
        if conn.out == b"" and conn.proto.should_close and \
                (self._held is None or not any(h[1] is conn for h in self._held)):
            self._close(fd)     # (with an answer waiting for the commit, it closes after that answer)

    def _send(self, fd: int, data: bytes) -> bool:
        """Send what the socket takes now; the rest waits for the sweep timer. False when the connection died."""
        conn = self.conns[fd]
        conn.out += data
        try:
            sent = conn.sock.send(conn.out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(fd)
            return False
        del conn.out[:sent]
        conn.last = time.monotonic()
        if conn.out:
            self.after(0.005, ("flush", fd))
        return True

    def _send_now(self, conn: Conn, data: bytes) -> None:
        try:
            conn.sock.send(data)
        except OSError:
            pass

    def _flush(self, fd: int) -> None:
        conn = self.conns.get(fd)
        if conn is None or not conn.out:
            return
        if self._send(fd, b""):
            self._serve(fd)

    def _close(self, fd: int) -> None:
        conn = self.conns.pop(fd, None)
        if conn is not None:
            try:
                self.poller.unregister(fd)
            except OSError:
                pass
            try:
                conn.sock.close()
            except OSError:
                pass

    def on_timer(self, key) -> None:
        if key == "sweep":
            self._sweep()
            self.after(SWEEP_EVERY, "sweep")
        elif key == "purge":
            self._purge()
            self.after(PURGE_EVERY, "purge")
        elif key == "route":
            self._route_gathered()
        elif isinstance(key, tuple) and key[0] == "flush":
            self._flush(key[1])

    def _sweep(self) -> None:
        now = time.monotonic()
        for fd, conn in list(self.conns.items()):
            if conn.out:
                if now - conn.last > self.read_timeout:     # a client that stopped reading its answer
                    self._close(fd)
                continue
            if conn.started is not None and now - conn.started > self.read_timeout:
                self.stats["timeouts"] += 1
                self._send_now(conn, conn.proto.respond_json(
                    408, {"status": "rejected", "error": f"request not complete within {self.read_timeout:g} s"},
                    close=True))
                self._close(fd)
            elif conn.started is None and now - conn.last > self.keepalive_timeout:
                self._close(fd)
        self.rate.prune(now)
        self._expire_in_flight(now)

    def _say(self, level: int, fmt: str, *args) -> None:
        """Log per-request events at most LOG_PER_SECOND lines a second. Thespian forwards an actor's log records
        through the same outgoing queue as its messages: a flood of them (a token-guessing spray, a burst of bad
        alerts) delayed the heartbeat answer until the supervisor killed the webhook as hung."""
        now = time.monotonic()
        if now - self._log_window >= 1.0:
            if self._log_dropped:
                self.log.warning("%s: %d more request log lines in the last second were left out", self.path,
                                 self._log_dropped)
            self._log_window, self._log_count, self._log_dropped = now, 0, 0
        if self._log_count >= LOG_PER_SECOND:
            self._log_dropped += 1
            return
        self._log_count += 1
        self.log.log(level, "%s: " + fmt, self.path, *args)

    # -- HTTP --------------------------------------------------------------------------------------------------
    def _protocol_error(self, conn: Conn, err: ProtocolError) -> bytes:
        if err.status == 413:
            self.stats["too_large"] += 1
        self._say(logging.INFO, "%s from %s: %s", err.status, conn.peer, err.reason)
        return conn.proto.respond_json(err.status, {"status": "rejected", "error": err.reason}, close=True)

    def _handle(self, conn: Conn, req: Request) -> bytes:
        proto = conn.proto
        if req.path == "/health":
            if req.method not in ("GET", "HEAD"):
                return proto.respond_json(405, {"error": "use GET"}, headers=(("allow", "GET, HEAD"),))
            return proto.respond_json(200, {"status": "ok", "connections": len(self.conns),
                                            "accepted": self.stats["accepted"]})
        if req.path != "/webhook" and not req.path.startswith("/webhook/"):
            return proto.respond_json(404, {"status": "rejected", "error": f"no such endpoint {req.path[:80]!r}; "
                                                                           "alerts go to POST /webhook/<token>"})
        client = self.access.client(conn.peer, req.headers.get("x-forwarded-for"))
        if not self.access.allowed(client):
            self.stats["forbidden"] += 1
            self._say(logging.WARNING, "403 for %s (not in webhook.access.allow_ips)", client)
            return proto.respond_json(403, {"status": "rejected", "error": "source address not allowed"})
        ok, wait = self.rate.allow(client, time.monotonic())
        if not ok:
            self.stats["rate_limited"] += 1
            return proto.respond_json(429, {"status": "rejected", "error": "too many requests; slow down"},
                                      headers=(("retry-after", str(max(1, round(wait)))),))
        token = req.path[len("/webhook/"):] if req.path.startswith("/webhook/") else ""
        if not hmac.compare_digest(token.encode("utf-8", "surrogateescape"), self.token.encode()):
            self.stats["unauthorized"] += 1
            self._say(logging.WARNING, "401 for %s (wrong or missing webhook token)", client)
            return proto.respond_json(401, {"status": "rejected",
                                            "error": "unauthorized: the webhook URL's token is wrong or missing"})
        if req.method != "POST":
            return proto.respond_json(405, {"status": "rejected", "error": "alerts must be sent with POST"},
                                      headers=(("allow", "POST"),))
        status, answer = self.intake(req.body, {k: req.query[k] for k in HINTS if req.query.get(k)}, client)
        return proto.respond_json(status, answer)

    # -- alerts ------------------------------------------------------------------------------------------------
    def intake(self, body: bytes, hints: dict, client: str) -> tuple[int, dict]:
        """Parse, de-duplicate, journal (committed), route; the HTTP status and answer for the client."""
        received = time.time()
        alert_id = new_alert_id(received)
        try:
            parsed = parse_alert(body, hints=hints, settings=self.parser)
        except AlertError as err:
            error = err.to_dict()
            try:
                self.journal.reject(alert_id=alert_id, received_at=received, client=client, hints=hints,
                                    raw_body=body, error=error)
            except sqlite3.Error as exc:
                return self._journal_down(exc)
            self.stats["rejected"] += 1
            self._say(logging.INFO, "rejected %s from %s: %s", alert_id, client, err.message)
            answer = {"status": "rejected", "alert_id": alert_id, "error": err.message, "code": err.code,
                      "field": err.field}
            if err.hint:
                answer["hint"] = err.hint
            return reject_status(err), answer
        alert = parsed.to_dict()
        arrived = datetime.fromtimestamp(received, timezone.utc)
        try:
            intake = self.journal.accept(
                alert_id=alert_id, received_at=received, client=client, hints=hints, raw_body=body, alert=alert,
                dedupe_key=dedupe_key(parsed, body, arrived),
                content_key=None if parsed.alert_id else content_key(parsed, body), window_s=self.dedupe_window)
        except sqlite3.Error as exc:
            return self._journal_down(exc)
        self.stats[intake.status] += 1
        answer = {"status": intake.status, "alert_id": alert_id}
        if intake.status == "duplicate":
            answer["duplicate_of"] = intake.duplicate_of
            self.log.debug("%s: duplicate %s of %s", self.path, alert_id, intake.duplicate_of)
        else:
            self.log.debug("%s: accepted %s %s %s %s from %s", self.path, alert_id, parsed.format.value,
                          parsed.signal_type, parsed.symbol, client)
            route = m.AlertRoute(alert_id=alert_id, alert=alert, received_at=received)
            if self._pass_routes is not None:
                self._pass_routes.append(route)     # routed after the commit (receive_pass)
            else:
                self._route(route)
        return 200, answer

    def _journal_down(self, exc: Exception) -> tuple[int, dict]:
        # Without a journal there is no promise to make: the client is told to retry, nothing is acknowledged.
        self.stats["errors"] += 1
        self.notify("journal_error", "CRITICAL", f"alert journal write failed: {exc}")
        return 503, {"status": "error", "error": "the alert journal is unavailable; retry"}

    def _redeliver(self) -> None:
        """Route again what the router held and what was not routed yet, when the router is (again, or newly)
        there."""
        router = self.peer(ROUTER)
        if router is None or router == self.routed_to:
            return
        # A new webhook also re-sends "routed" alerts: outcomes sent to the old instance while it was down are
        # lost, and a plugin answers a repeated alert_id with the outcome it already has (idempotent by alert_id).
        statuses = ("accepted", "routed") if self.routed_to is None else ("accepted",)
        self.routed_to = router
        # Direct hand-offs wait for their plugin, not for the router: they stay (_recheck_hand_offs watches their
        # plugin). What the old router was given and did not answer may be "routed" in the journal already (a
        # hand-off sent again through it), so it is taken from memory as well as from the journal.
        kept = {aid: s for aid, s in self.in_flight.items() if s.addr is not None}
        again = {s.msg.alert_id: (s.msg, True) for s in self.in_flight.values() if s.addr is None}
        again.update((msg.alert_id, (msg, via_router)) for msg, via_router in self.backlog)
        # (alerts of this pass, not committed yet, and gathered ones are routed when their turn comes)
        coming = {r.alert_id for r in (*self.gathered, *(self._pass_routes or ()))}
        for entry in self.journal.pending(statuses):
            if entry["alert_id"] not in kept and entry["alert_id"] not in again and entry["alert_id"] not in coming:
                again[entry["alert_id"]] = (m.AlertRoute(alert_id=entry["alert_id"], alert=entry["alert"],
                                                         received_at=entry["received_at"]), False)
        self.in_flight, self.backlog = kept, deque()
        now = time.time()
        for msg, via_router in sorted(again.values(), key=lambda e: e[0].received_at):
            if now - msg.received_at > self.redeliver_max_age:
                self.journal.transition(msg.alert_id, "skipped", source=self.where, at=now,
                                        reason=f"not routed within {self.redeliver_max_age:g} s (restart); "
                                               "too old to act on")
                continue
            self.stats["redelivered"] += 1
            self.backlog.append((msg, via_router))
        self._pump()

    def _route(self, msg: m.AlertRoute) -> None:
        self.backlog.append((msg, False))
        self._pump()

    def _route_soon(self, routes: list) -> None:
        """Alerts arriving one every few milliseconds are gathered for up to ROUTE_GATHER seconds and go to the
        router (or their plugin) in one message: each message costs the receiver about the same whatever it holds,
        and under a steady stream those costs were what the webhook's answers queued behind. An alert after a quiet
        spell goes at once."""
        now = time.monotonic()
        self.gathered.extend(routes)
        if self.gather_due:
            return
        if now - self.last_routed >= ROUTE_GATHER:
            self._route_gathered()
        else:
            self.gather_due = True
            self.after(ROUTE_GATHER - (now - self.last_routed), "route")

    def _route_gathered(self) -> None:
        gathered, self.gathered, self.gather_due = self.gathered, [], False
        self.last_routed = time.monotonic()
        for route in gathered:
            self._route(route)

    def _pump(self) -> None:
        """Send what waits, in order, while fewer than max_in_flight alerts wait for their first answer: to the
        plugin directly when it is the alert's one target and in the directory, else to the router."""
        router = self.peer(ROUTER)
        # plugins with an alert on its way through the router (maybe parked there while they restart): their next
        # alerts take the same way, so a direct hand-off never overtakes one the router still holds
        via_router = {t for s in self.in_flight.values() if s.addr is None for t in s.targets}
        while self.backlog and len(self.in_flight) < self.max_in_flight:
            msg, resend = self.backlog[0]
            if msg.alert_id in self.in_flight:
                self.backlog.popleft()
                continue
            alert, targets, why = route_alert(self.table, msg.alert)
            target = targets[0] if len(targets) == 1 else None
            addr = self.peer(target) if target is not None else None
            if addr is not None and self.direct and not resend and target not in via_router:
                self.backlog.popleft()
                self.in_flight[msg.alert_id] = Sent(time.monotonic(), msg, targets, addr)
                self.tell(addr, m.AlertRoute(alert_id=msg.alert_id, alert=alert, received_at=msg.received_at))
                self.stats["handed"] += 1
                self._handed.append((msg.alert_id, target, f"{why}; {HANDED}", time.time()))
            elif router is not None:
                self.backlog.popleft()
                self.in_flight[msg.alert_id] = Sent(time.monotonic(), msg, targets)
                via_router.update(targets)
                self.tell(router, msg)
                self.stats["to_router"] += 1
            else:
                break       # waits for the router, in order

    def _journal_handed(self) -> None:
        """Journal the "routed" step of the direct hand-offs made so far. Called inside the journal transaction of
        every pass: a hand-off made right after an intake's commit (the common case) is written with the next
        pass, typically the one bringing the plugin's answer, so it costs no commit of its own. A crash before
        that loses only this record: the alert is still "accepted", and a new webhook sends it again."""
        handed, self._handed = self._handed, []
        for alert_id, target, reason, at in handed:
            self.journal.transition(alert_id, "routed", source=self.where, reason=reason,
                                    detail={"target": target}, at=at)

    def _expire_in_flight(self, now: float) -> None:
        # no answer in time (a message lost in transport, a plugin that hangs): send it again, through the router;
        # routing the same alert_id twice is harmless (plugins are idempotent by alert_id), never routing it is not
        self._send_again([s for s in self.in_flight.values() if now - s.at > IN_FLIGHT_TIMEOUT])
        self._pump()

    def _recheck_hand_offs(self) -> None:
        # The directory can show a plugin's death after we handed it an alert (or the plugin died before
        # answering): its unanswered hand-offs go again through the router, which delivers them to the new
        # instance or parks them while the plugin restarts.
        moved = [s for s in self.in_flight.values() if s.addr is not None and self.peer(s.targets[0]) != s.addr]
        self._send_again(moved)

    def _send_again(self, sent: list) -> None:
        """Unanswered alerts go again, through the router, ahead of what waits and in the order they went."""
        for s in reversed(sent):
            del self.in_flight[s.msg.alert_id]
            self.backlog.appendleft((s.msg, True))
        self.stats["resent"] += len(sent)

    def on_directory(self, previous: dict) -> None:
        self._recheck_hand_offs()
        self._redeliver()
        self._pump()        # a plugin (or the router) that appeared lets waiting alerts go

    def _purge(self) -> None:
        if self.retention_s > 0:
            n = self.journal.purge(before=time.time() - self.retention_s)
            if n:
                self.log.info("%s: purged %d finished alerts older than the retention", self.path, n)

    @handles(m.AlertOutcome)
    def _on_outcome(self, msg: m.AlertOutcome, sender) -> None:
        self.stats["outcomes"] += 1
        if self.in_flight.pop(msg.alert_id, None) is not None:
            self._pump()
        try:
            source = msg.source[len("zepix-root/"):] if msg.source.startswith("zepix-root/") else msg.source
            moved = self.journal.transition(msg.alert_id, msg.status, source=source, reason=msg.reason,
                                            detail=dict(msg.detail), at=msg.at or time.time())
        except ValueError as exc:
            self.log.warning("%s: outcome from %s refused: %s", self.path, msg.source, exc)
            return
        if moved is None:
            self.log.warning("%s: outcome %s for unknown alert %s from %s", self.path, msg.status, msg.alert_id,
                             msg.source)

    # -- admin -------------------------------------------------------------------------------------------------
    def on_command(self, msg: m.Command, sender):
        if msg.name == "alerts":
            try:
                limit = max(1, min(int(msg.args.get("limit", 20)), 500))
            except (TypeError, ValueError):
                return m.CommandReply(corr=msg.corr, ok=False, text="limit must be an integer")
            status = msg.args.get("status") or None
            entries = self.journal.recent(limit=limit, status=status)
            for e in entries:
                e["raw_body"] = e["raw_body"][:2000]
            return m.CommandReply(corr=msg.corr, ok=True, text=f"{len(entries)} alerts",
                                  data={"alerts": entries, "counts": self.journal.counts()})
        if msg.name == "alert":
            entry = self.journal.get(str(msg.args.get("id", "")))
            if entry is None:
                return m.CommandReply(corr=msg.corr, ok=False, text=f"no alert {msg.args.get('id')!r}")
            return m.CommandReply(corr=msg.corr, ok=True, text=entry["status"], data={"alert": entry})
        return super().on_command(msg, sender)

    def status_data(self) -> dict:
        return {**self.stats, "open_connections": len(getattr(self, "conns", {})),
                "in_flight": len(getattr(self, "in_flight", {})), "backlog": len(getattr(self, "backlog", ()))}
