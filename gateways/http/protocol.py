"""Sans-IO HTTP/1.1 server side of one connection, on h11: bytes in, ``Request``/``ProtocolError`` out,
responses to bytes. No sockets, no clocks: the webhook actor owns the socket and the timeouts.

    conn = ServerConnection(Limits(max_body=65536, max_header=8192))
    conn.feed(data)                       # b"" when the peer closed its side
    event = conn.next_event()             # Request | ProtocolError | None (needs more bytes)
    out = conn.respond(200, b'{"ok":1}')  # bytes to send; conn.should_close says whether to close after
    event = conn.next_event()             # the next (pipelined or keep-alive) request, if any

One request is handled at a time: after a ``Request`` the caller must ``respond`` before the next one is parsed,
which keeps answers in request order. A body over ``max_body`` is refused with 413 as soon as its declared or
received size says so (the rest is never buffered); oversized headers give 431; broken HTTP gives 400. After
a ProtocolError the connection is answered and closed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote, urlsplit

import h11

SERVER = b"zepix"


@dataclass(frozen=True)
class Limits:
    max_body: int = 65536            # bytes of request body; more is 413
    max_header: int = 8192           # bytes of request line + headers; more is 431
    keep_alive: bool = True          # False: every response closes the connection


@dataclass(frozen=True)
class Request:
    method: str                      # "GET", "POST"
    target: str                      # raw request target ("/webhook/abc?symbol=XAUUSD")
    path: str                        # percent-decoded path ("/webhook/abc")
    query: dict = field(default_factory=dict)      # first value of each query parameter
    headers: dict = field(default_factory=dict)    # lower-case name -> value (repeated headers joined by ", ")
    body: bytes = b""


@dataclass(frozen=True)
class ProtocolError:
    """The peer broke HTTP or a limit: answer ``status`` with ``reason`` and close."""
    status: int
    reason: str


class ServerConnection:
    """One HTTP/1.1 server connection (see the module docstring)."""

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_header)
        self._head: h11.Request | None = None
        self._body = bytearray()
        self._failed = False
        self._closing = False
        self.requests = 0                # requests answered on this connection

    # -- input -------------------------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Bytes received from the peer; ``b""`` means it closed its sending side."""
        if self._failed:
            return
        try:
            self._h11.receive_data(data)
        except RuntimeError:
            # data after the peer's EOF, or after we decided to close: nothing more to read from it
            self._closing = True

    @property
    def idle(self) -> bool:
        """No request started and nothing buffered: a keep-alive connection waiting for its next request."""
        return self._head is None and self._h11.their_state is h11.IDLE and not self._h11.trailing_data[0]

    @property
    def should_close(self) -> bool:
        """The connection is done: close the socket once the last response is sent."""
        return (self._failed or self._closing or self._h11.our_state in (h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)
                or self._h11.their_state in (h11.CLOSED, h11.ERROR, h11.MUST_CLOSE) and self._head is None)

    def next_event(self) -> Request | ProtocolError | None:
        """The next complete request, a protocol error to answer, or None when more bytes are needed."""
        if self._failed or self._closing:
            return None
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._failed = True
                status = exc.error_status_hint or 400
                return ProtocolError(status, _reason(status, str(exc)))
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return None
            if isinstance(event, h11.ConnectionClosed):
                self._closing = True
                return None
            if isinstance(event, h11.Request):
                self._head = event
                self._body.clear()
                length = _header(event.headers, b"content-length")
                if length is not None and length.isdigit() and int(length) > self.limits.max_body:
                    self._failed = True
                    return ProtocolError(413, f"body is {int(length)} bytes; the limit is {self.limits.max_body}")
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > self.limits.max_body:
                    self._failed = True
                    self._body.clear()
                    return ProtocolError(413, f"body is over the limit of {self.limits.max_body} bytes")
            elif isinstance(event, h11.EndOfMessage):
                return self._request()

    def _request(self) -> Request:
        head = self._head
        target = head.target.decode("latin-1")
        split = urlsplit(target)
        headers: dict[str, str] = {}
        for name, value in head.headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        query: dict[str, str] = {}
        for key, value in parse_qsl(split.query, keep_blank_values=True):
            query.setdefault(key, value)
        return Request(method=head.method.decode("ascii", "replace"), target=target, path=unquote(split.path),
                       query=query, headers=headers, body=bytes(self._body))

    # -- output ------------------------------------------------------------------------------------------------
    def respond(self, status: int, body: bytes = b"", content_type: str = "application/json",
                headers: tuple = (), close: bool = False) -> bytes:
        """The bytes of a complete response to the current request (or to a ProtocolError)."""
        close = close or self._failed or self._closing or not self.limits.keep_alive
        hdrs = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
                (b"server", SERVER), (b"date", formatdate(usegmt=True).encode())]
        hdrs += [(k.encode() if isinstance(k, str) else k, v.encode() if isinstance(v, str) else v)
                 for k, v in headers]
        if close:
            hdrs.append((b"connection", b"close"))
        self.requests += 1
        self._head = None
        self._body.clear()
        if self._failed or self._h11.our_state is not h11.SEND_RESPONSE:
            # h11 will not send on a connection it considers broken; an error answer is still owed to the client
            self._closing = True
            return _raw_response(status, hdrs, body)
        try:
            out = self._h11.send(h11.Response(status_code=status, headers=hdrs, reason=_phrase(status)))
            out += self._h11.send(h11.Data(data=body)) if body else b""
            out += self._h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            self._closing = True
            return _raw_response(status, [h for h in hdrs if h[0] != b"connection"] + [(b"connection", b"close")],
                                 body)
        if close:
            self._closing = True
        elif self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
        else:
            # we answered before reading the whole request (e.g. an early error): the rest cannot be skipped safely
            self._closing = True
        return out

    def respond_json(self, status: int, data: dict, headers: tuple = (), close: bool = False) -> bytes:
        return self.respond(status, json.dumps(data, separators=(",", ":")).encode(), headers=headers, close=close)


def _header(headers, name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


def _phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def _reason(status: int, text: str) -> str:
    if status == 431:
        return "request line and headers are too large"
    return text or _phrase(status).decode()


def _raw_response(status: int, headers: list, body: bytes) -> bytes:
    if not any(k == b"connection" for k, _ in headers):
        headers = headers + [(b"connection", b"close")]
    lines = [b"HTTP/1.1 %d %s" % (status, _phrase(status))] + [k + b": " + v for k, v in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
