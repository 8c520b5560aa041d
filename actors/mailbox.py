"""Same-host mail between actors of the tree: one AF_UNIX SOCK_SEQPACKET socket per actor, beside Thespian.

Thespian's TCP transport costs about 1 ms of CPU per message on two cores (a pickled envelope, an acknowledgement
for each message, and several turns of a select loop that rebuilds its selector every turn), and an alert crosses
five actors. Between actors on the same host a message is here one record on a Unix socket instead: the receiver's
Thespian loop watches the socket (``ThespianWatch``) and the base actor hands each record to its handlers as if
Thespian had delivered it (``actors.base``). Thespian still creates, supervises and addresses every actor; only the
bytes of our own messages take the shorter road.

- A record is one message's bytes (an encoded message or ``Batch``) behind a one-byte flag; a message longer than
  ``MAX_RECORD`` travels as fragments. The first record on a connection is ``MailboxHello``: the sender's Thespian
  address and mailbox, so handlers see the same ``sender`` as before.
- Per connection the kernel keeps records in order, and an actor uses one connection per peer, so what one actor
  sends another arrives in the order sent, as with Thespian.
- A full peer (``EAGAIN``) gets nothing lost: records wait in the sender, in order, and are retried on a short
  timer. A peer that is gone (refused, reset) is given up for good: what was waiting and everything later to that
  address goes through Thespian's transport, which delivers or dead-letters as it always did.
- Sockets live in Linux's abstract namespace (no files to clean up) under a random name; a connection from another
  user id is refused (``SO_PEERCRED``). Hosts that lack SOCK_SEQPACKET (Windows) and actors on other hosts (the
  name carries the boot id and network namespace) use Thespian alone. ``ZEPIX_LOCAL_MAILBOX=0`` turns it off.
- A forked child closes every mailbox socket it inherited (``os.register_at_fork``): Thespian forks child actors
  from their parent's process, and an inherited listener would keep a dead parent's name accepting connections.
"""
from __future__ import annotations

import collections
import errno
import os
import secrets
import socket
import struct
import sys
from dataclasses import dataclass, field

from actors import messages as m

MAX_RECORD = 60 * 1024      # body bytes per record; longer messages are fragmented
PENDING_MAX = 50_000         # messages waiting for one full peer before it is given up (a hung actor is killed long before)
DRAIN_MAX = 512              # records read per wake-up, so a chatty peer cannot starve heartbeats
RETRY_SECONDS = 0.002        # how soon records that met a full peer are tried again

_WHOLE, _PART, _LAST, _HELLO = b"\x00", b"\x01", b"\x02", b"\x03"
_PREFIX = "\0zepix-mailbox-"
_GONE = (errno.ECONNREFUSED, errno.ECONNRESET, errno.EPIPE, errno.ENOENT, errno.ENOTCONN, errno.EBADF)


def _host_id() -> str:
    # abstract sockets are per network namespace: two actors can talk this way only within one
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        return f"{boot}.{os.stat('/proc/self/ns/net').st_ino}"
    except OSError:
        return ""


def available() -> bool:
    """True when this process can use mailboxes (Linux with SOCK_SEQPACKET, not switched off)."""
    return (sys.platform.startswith("linux") and hasattr(socket, "SOCK_SEQPACKET")
            and os.environ.get("ZEPIX_LOCAL_MAILBOX", "1").strip().lower() not in ("0", "off", "false", "no")
            and bool(HOST_ID))


HOST_ID = _host_id()


@dataclass
class _Inbound:
    sock: socket.socket
    sender: object = None                 # Thespian address from the hello
    parts: list = field(default_factory=list)


@dataclass
class _Outbound:
    sock: socket.socket
    address: object                       # the peer's Thespian address, for what has to go that way after all
    pending: collections.deque = field(default_factory=collections.deque)   # whole messages, in order
    head_sent: int = 0                    # records of pending[0] already sent


class Mailbox:
    """This actor's socket: accepts peers, reads their records, and sends to peers by their mailbox name."""

    def __init__(self):
        token = f"{os.getpid()}-{secrets.token_hex(6)}"
        self.name = f"{HOST_ID}/{token}"
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_NONBLOCK)
        self.listener.bind(_PREFIX + token)
        self.listener.listen(128)
        self.hello = b""                  # set by the owner: its encoded MailboxHello
        self.inbound: dict[int, _Inbound] = {}
        self.outbound: dict[str, _Outbound] = {}
        self.gone: set[str] = set()       # peers given up: Thespian from now on
        self.learned: dict[str, str] = {} # str(address) -> mailbox, from hellos (replies before the directory knows)
        self.errors: list[str] = []       # what went wrong since the owner last looked (it logs them)
        self.sent = 0
        self.received = 0
        _OPEN.append(self)

    # -- receiving -----------------------------------------------------------------------------------------------
    def fds(self) -> list[int]:
        return [self.listener.fileno(), *self.inbound]

    def owns(self, fd: int) -> bool:
        return fd == self.listener.fileno() or fd in self.inbound

    def receive(self, ready: list[int]) -> list[tuple[bytes, object]]:
        """Accept new peers and read what is ready: [(message bytes, sender address)], in arrival order."""
        out: list[tuple[bytes, object]] = []
        for fd in ready:
            if fd == self.listener.fileno():
                self._accept()
            elif fd in self.inbound:
                self._drain(fd, out)
        self.received += len(out)
        return out

    def receive_all(self) -> list[tuple[bytes, object]]:
        """Accept and read everything that has arrived, without waiting (see ``receive``)."""
        self._accept()
        return self.receive(list(self.inbound))

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.errors.append(f"accept failed: {exc}")
                return
            _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                  struct.calcsize("3i")))
            if uid != os.getuid():
                self.errors.append(f"refused a connection from uid {uid}")
                conn.close()
                continue
            conn.setblocking(False)
            self.inbound[conn.fileno()] = _Inbound(conn)

    def _drain(self, fd: int, out: list) -> None:
        conn = self.inbound[fd]
        for _ in range(DRAIN_MAX):
            try:
                data = conn.sock.recv(MAX_RECORD + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:                      # the peer closed (or died)
                self._close_inbound(fd)
                return
            flag, body = data[:1], data[1:]
            if flag == _HELLO:
                try:
                    hello = m.decode(body)
                except m.CodecError as exc:
                    hello = exc
                if not isinstance(hello, m.MailboxHello):
                    self.errors.append(f"closed a connection whose hello was not one: {hello}")
                    self._close_inbound(fd)
                    return
                conn.sender = hello.address
                self.learned[str(hello.address)] = hello.mailbox
            elif conn.sender is None:
                self.errors.append("closed a connection that sent before saying who it is")
                self._close_inbound(fd)
                return
            elif flag == _WHOLE:
                out.append((body, conn.sender))
            elif flag == _PART:
                conn.parts.append(body)
            elif flag == _LAST:
                conn.parts.append(body)
                out.append((b"".join(conn.parts), conn.sender))
                conn.parts = []
            else:
                self.errors.append(f"closed a connection that sent an unknown record flag {flag!r}")
                self._close_inbound(fd)
                return

    def _close_inbound(self, fd: int) -> None:
        conn = self.inbound.pop(fd)
        if conn.parts:
            self.errors.append(f"a peer closed in the middle of a {len(conn.parts)}-record message; it is lost")
        conn.sock.close()

    # -- sending -------------------------------------------------------------------------------------------------
    @staticmethod
    def reachable(name: str | None) -> bool:
        """A mailbox on this host (other hosts' names carry their own host id)."""
        return bool(name) and name.startswith(HOST_ID + "/")

    def send(self, peer: str, address, data: bytes) -> list[bytes]:
        """Send one message to the mailbox ``peer`` (the actor at ``address``), or queue it behind what already waits
        for that peer. Returns what must go through Thespian instead, in order: everything, once the peer is gone."""
        if peer in self.gone:
            return [data]
        out = self.outbound.get(peer)
        if out is None:
            out = self._connect(peer, address)
            if out is None:
                return [data]
        out.pending.append(data)
        if len(out.pending) == 1:
            if self._push(peer, out) is False:
                return self._give_up(peer)
        elif len(out.pending) > PENDING_MAX:
            self.errors.append(f"{len(out.pending)} messages wait for a full mailbox; they go through Thespian")
            return self._give_up(peer)
        self.sent += 1
        return []

    @property
    def waiting(self) -> bool:
        """Messages wait for a full peer: call ``retry`` soon."""
        return any(out.pending for out in self.outbound.values())

    def retry(self) -> list[tuple[object, list[bytes]]]:
        """Send what waits. Returns [(address, messages for Thespian)] for peers that are gone meanwhile."""
        lost = []
        for peer, out in list(self.outbound.items()):
            if out.pending and self._push(peer, out) is False:
                lost.append((out.address, self._give_up(peer)))
        return lost

    def _connect(self, peer: str, address) -> _Outbound | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_NONBLOCK)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            sock.connect(_PREFIX + peer.partition("/")[2])
            sock.send(_HELLO + self.hello)
        except OSError as exc:
            # refused: the peer is gone; EAGAIN: its backlog is full, i.e. it has not run for a while (hung)
            sock.close()
            self.gone.add(peer)
            if exc.errno not in _GONE:
                self.errors.append(f"could not connect to mailbox {peer}: {exc}; using Thespian")
            return None
        out = self.outbound[peer] = _Outbound(sock, address)
        return out

    def _push(self, peer: str, out: _Outbound) -> bool | None:
        """Send waiting messages in order. True: all sent; None: the peer is full; False: the peer is gone."""
        while out.pending:
            records = _records(out.pending[0])
            for record in records[out.head_sent:]:
                try:
                    out.sock.send(record)
                except (BlockingIOError, InterruptedError):
                    return None
                except OSError as exc:
                    if exc.errno not in _GONE:
                        self.errors.append(f"mailbox {peer} failed: {exc}; using Thespian")
                    return False
                out.head_sent += 1
            out.pending.popleft()
            out.head_sent = 0
        return True

    def _give_up(self, peer: str) -> list[bytes]:
        out = self.outbound.pop(peer)
        self.gone.add(peer)
        out.sock.close()
        # a message of several records half sent is sent whole again: the receiver drops the half with the connection
        return list(out.pending)

    def sockets(self) -> list[socket.socket]:
        return [self.listener, *(c.sock for c in self.inbound.values()), *(o.sock for o in self.outbound.values())]

    def close(self) -> None:
        for sock in self.sockets():
            sock.close()
        self.inbound.clear()
        self.outbound.clear()
        if self in _OPEN:
            _OPEN.remove(self)


def _records(data: bytes) -> list[bytes]:
    if len(data) <= MAX_RECORD:
        return [_WHOLE + data]
    view = memoryview(data)
    chunks = [view[i:i + MAX_RECORD] for i in range(0, len(data), MAX_RECORD)]
    return [(_LAST if i == len(chunks) - 1 else _PART) + bytes(c) for i, c in enumerate(chunks)]


_OPEN: list[Mailbox] = []


def _close_inherited() -> None:
    for box in _OPEN:
        for sock in box.sockets():
            try:
                sock.close()
            except OSError:
                pass
    _OPEN.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited)
