"""actors.mailbox: same-host records between actors (order, fragments, a full peer, a gone peer, hellos, forks)."""
import os
import socket

import pytest
from thespian.actors import ActorAddress

from actors import mailbox, messages as m

pytestmark = pytest.mark.skipif(not mailbox.available(), reason="mailboxes need Linux with SOCK_SEQPACKET")


def _box(port: int) -> tuple[mailbox.Mailbox, ActorAddress]:
    box = mailbox.Mailbox()
    addr = ActorAddress(("127.0.0.1", port))
    box.hello = m.encode(m.MailboxHello(address=addr, mailbox=box.name))
    return box, addr


def _read_all(box: mailbox.Mailbox, want: int) -> list:
    got = []
    for _ in range(want + 10):
        got.extend(box.receive(box.fds()))
        if len(got) >= want:
            break
    return got


@pytest.fixture
def pair():
    a, a_addr = _box(1001)
    b, b_addr = _box(1002)
    yield a, a_addr, b, b_addr
    a.close()
    b.close()


def test_messages_arrive_whole_in_order_with_the_senders_address(pair):
    a, a_addr, b, b_addr = pair
    sent = [m.encode(m.Ping(seq=i)) for i in range(300)]
    for data in sent:
        assert a.send(b.name, b_addr, data) == []
    got = _read_all(b, len(sent))
    assert [data for data, _ in got] == sent
    assert all(sender == a_addr for _, sender in got)
    # the receiver learned where to answer
    assert b.learned[str(a_addr)] == a.name


def test_a_message_longer_than_a_record_is_fragmented_and_joined(pair):
    a, _, b, b_addr = pair
    big = os.urandom(3 * mailbox.MAX_RECORD + 17)
    small = m.encode(m.Ping(seq=1))
    assert a.send(b.name, b_addr, big) == []
    assert a.send(b.name, b_addr, small) == []
    got = _read_all(b, 2)
    assert [data for data, _ in got] == [big, small]


def test_a_full_peer_keeps_messages_waiting_in_order_until_retry(pair):
    a, _, b, b_addr = pair
    payload = b"x" * 30_000
    sent = []
    for i in range(200):            # far more than the socket buffers hold while b does not read
        data = i.to_bytes(4, "big") + payload
        sent.append(data)
        assert a.send(b.name, b_addr, data) == []
    assert a.waiting
    got = []
    for _ in range(1000):
        got.extend(data for data, _ in b.receive(b.fds()))
        assert a.retry() == []
        if not a.waiting and len(got) == len(sent):
            break
    got.extend(data for data, _ in b.receive(b.fds()))
    assert got == sent


def test_a_gone_peer_hands_everything_back_for_thespian(pair):
    a, _, b, b_addr = pair
    first = m.encode(m.Ping(seq=1))
    assert a.send(b.name, b_addr, first) == []
    name = b.name
    b.close()
    later = m.encode(m.Ping(seq=2))
    # the first send after the close may still be taken by the kernel; from the failure on, nothing is kept
    back = a.send(name, b_addr, later)
    if not back:
        back = a.send(name, b_addr, later)
    assert back == [later]
    assert a.send(name, b_addr, first) == [first]
    assert name in a.gone


def test_a_name_nobody_listens_on_is_refused_at_once(pair):
    a, _, _, b_addr = pair
    ghost = f"{mailbox.HOST_ID}/999999-000000000000"
    data = m.encode(m.Ping(seq=1))
    assert a.send(ghost, b_addr, data) == [data]
    assert a.errors == []      # refused is the ordinary "gone", not an error


def test_only_mailboxes_of_this_host_are_reachable(pair):
    a, *_ = pair
    assert mailbox.Mailbox.reachable(a.name)
    assert not mailbox.Mailbox.reachable("another-boot.4026531840/123-abc")
    assert not mailbox.Mailbox.reachable("")


def test_records_before_a_hello_close_the_connection(pair):
    _, _, b, _ = pair
    rogue = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    rogue.connect("\0zepix-mailbox-" + b.name.partition("/")[2])
    rogue.send(b"\x00" + m.encode(m.Ping(seq=1)))
    assert _read_all(b, 1) == []
    assert any("before saying who it is" in e for e in b.errors)
    assert b.inbound == {}
    rogue.close()


def test_a_forked_child_closes_the_sockets_it_inherited(pair):
    a, *_ = pair
    pid = os.fork()
    if pid == 0:
        os._exit(0 if a.listener.fileno() == -1 and mailbox._OPEN == [] else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert a.listener.fileno() != -1     # the parent's own stays open


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("ZEPIX_LOCAL_MAILBOX", "0")
    assert not mailbox.available()


def test_receive_all_reads_a_new_peers_records_and_what_a_closed_peer_left(pair):
    """A supervisor reads everything in its mailbox before it handles a child's exit: the child's last words
    (``Exiting`` with its reason) were queued before it died, on a connection perhaps not even accepted yet."""
    a, a_addr, b, b_addr = pair
    last = m.encode(m.Exiting(name="child", reason="restart intensity exceeded"))
    assert a.send(b.name, b_addr, last) == []
    a.close()                                   # the sender is gone before b's loop ran
    got = b.receive_all()
    assert got == [(last, a_addr)]
