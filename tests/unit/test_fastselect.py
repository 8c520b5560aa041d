"""supervision.fastselect: the per-turn selector behaves as ``selectors`` does where Thespian's loop relies on it."""
import errno
import os
import selectors
import socket
import time

import pytest

from supervision.fastselect import OneTurnSelector, install


def _ready(sel, timeout=0):
    return {(key.fd, ev) for key, ev in sel.select(timeout)}


def test_readable_and_writable_as_registered():
    a, b = socket.socketpair()
    try:
        sel = OneTurnSelector()
        sel.register(a.fileno(), selectors.EVENT_READ)
        sel.register(b.fileno(), selectors.EVENT_WRITE)
        assert _ready(sel) == {(b.fileno(), selectors.EVENT_WRITE)}     # a has nothing to read yet
        b.send(b"x")
        assert _ready(sel) == {(a.fileno(), selectors.EVENT_READ), (b.fileno(), selectors.EVENT_WRITE)}
        sel.close()
    finally:
        a.close()
        b.close()


def test_a_closed_peer_reads_as_readable():
    a, b = socket.socketpair()
    sel = OneTurnSelector()
    sel.register(a.fileno(), selectors.EVENT_READ)
    b.close()
    assert _ready(sel) == {(a.fileno(), selectors.EVENT_READ)}
    a.close()


def test_timeout_waits_and_rounds_up():
    r, w = os.pipe()
    try:
        sel = OneTurnSelector()
        sel.register(r, selectors.EVENT_READ)
        start = time.monotonic()
        assert sel.select(0.0004) == []
        assert time.monotonic() - start >= 0.0009     # 0.4 ms rounds up to 1 ms, not down to a busy 0
    finally:
        os.close(r)
        os.close(w)


def test_errors_match_selectors():
    r, w = os.pipe()
    sel = OneTurnSelector()
    sel.register(r, selectors.EVENT_READ)
    with pytest.raises(KeyError):
        sel.register(r, selectors.EVENT_WRITE)
    with pytest.raises(ValueError):
        sel.register(-1, selectors.EVENT_READ)
    os.close(r)
    os.close(w)
    with pytest.raises(OSError) as caught:
        sel.select(0)
    assert caught.value.errno == errno.EBADF


def test_install_gives_thespians_transport_the_selector():
    from thespian.system.transport import TCPTransport
    install()
    install()      # twice is harmless
    assert TCPTransport.selectors.DefaultSelector is OneTurnSelector
    assert TCPTransport.selectors.EVENT_READ == selectors.EVENT_READ
