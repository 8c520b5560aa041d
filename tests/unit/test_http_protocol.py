"""The sans-IO HTTP server protocol: requests out of bytes, limits, keep-alive, pipelining, errors."""
from __future__ import annotations

import json

from gateways.http.protocol import Limits, ProtocolError, Request, ServerConnection


def post(target: str, body: bytes, extra: bytes = b"") -> bytes:
    return (b"POST " + target.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: " + str(len(body)).encode()
            + b"\r\n" + extra + b"\r\n" + body)


def test_a_post_in_pieces_becomes_one_request_with_decoded_path_query_and_headers():
    conn = ServerConnection()
    data = post("/webhook/a%2Fb?symbol=XAUUSD&strategy=v3&symbol=EURUSD", b'{"type":"entry_v3"}',
                b"X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n")
    for i in range(0, len(data), 7):
        assert conn.next_event() is None
        conn.feed(data[i:i + 7])
    req = conn.next_event()
    assert isinstance(req, Request)
    assert (req.method, req.path, req.body) == ("POST", "/webhook/a/b", b'{"type":"entry_v3"}')
    assert req.query == {"symbol": "XAUUSD", "strategy": "v3"}
    assert req.headers["x-forwarded-for"] == "1.2.3.4, 5.6.7.8"


def test_keep_alive_and_pipelined_requests_are_answered_in_order():
    conn = ServerConnection()
    conn.feed(post("/a", b"1") + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + post("/c", b"3"))
    seen = []
    while (req := conn.next_event()) is not None:
        seen.append(req.path)
        out = conn.respond(200, b"ok")
        assert out.startswith(b"HTTP/1.1 200 OK") and b"connection: close" not in out
        assert not conn.should_close
    assert seen == ["/a", "/health", "/c"] and conn.requests == 3


def test_declared_oversized_body_is_413_before_it_is_read_and_the_connection_closes():
    conn = ServerConnection(Limits(max_body=100))
    conn.feed(b"POST /w HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n")
    err = conn.next_event()
    assert isinstance(err, ProtocolError) and err.status == 413 and "101" in err.reason
    out = conn.respond_json(err.status, {"status": "rejected", "error": err.reason})
    assert out.startswith(b"HTTP/1.1 413") and b"connection: close" in out
    assert conn.should_close
    conn.feed(b"x" * 101)   # the rest is ignored, never buffered into a request
    assert conn.next_event() is None


def test_chunked_body_over_the_limit_is_413():
    conn = ServerConnection(Limits(max_body=10))
    conn.feed(b"POST /w HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + b"a" * 32 + b"\r\n")
    err = conn.next_event()
    assert isinstance(err, ProtocolError) and err.status == 413


def test_body_exactly_at_the_limit_is_accepted():
    conn = ServerConnection(Limits(max_body=10))
    conn.feed(post("/w", b"a" * 10))
    req = conn.next_event()
    assert isinstance(req, Request) and len(req.body) == 10


def test_oversized_headers_are_431_and_garbage_is_400():
    conn = ServerConnection(Limits(max_header=200))
    conn.feed(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 300)
    err = conn.next_event()
    assert isinstance(err, ProtocolError) and err.status == 431
    assert conn.respond_json(err.status, {}).startswith(b"HTTP/1.1 431") and conn.should_close
    conn = ServerConnection()
    conn.feed(b"\x16\x03\x01 not http at all\r\n\r\n")
    err = conn.next_event()
    assert isinstance(err, ProtocolError) and err.status == 400
    assert conn.respond_json(400, {"error": err.reason}).startswith(b"HTTP/1.1 400")


def test_connection_close_from_client_and_http10_close_after_the_answer():
    conn = ServerConnection()
    conn.feed(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert isinstance(conn.next_event(), Request)
    assert b"connection: close" in conn.respond(200, b"{}").lower() and conn.should_close
    conn = ServerConnection()
    conn.feed(b"GET /health HTTP/1.0\r\n\r\n")
    assert isinstance(conn.next_event(), Request)
    conn.respond(200, b"{}")
    assert conn.should_close


def test_peer_eof_while_idle_closes_and_keep_alive_off_closes_each_time():
    conn = ServerConnection()
    assert conn.idle
    conn.feed(b"")
    assert conn.next_event() is None and conn.should_close
    conn = ServerConnection(Limits(keep_alive=False))
    conn.feed(post("/a", b"1"))
    conn.next_event()
    assert b"connection: close" in conn.respond(200, b"") and conn.should_close


def test_respond_json_sets_length_and_type():
    conn = ServerConnection()
    conn.feed(post("/a", b"1"))
    conn.next_event()
    out = conn.respond_json(202, {"status": "accepted", "alert_id": "x"})
    head, body = out.split(b"\r\n\r\n", 1)
    assert json.loads(body) == {"status": "accepted", "alert_id": "x"}
    assert b"content-type: application/json" in head and b"content-length: %d" % len(body) in head
