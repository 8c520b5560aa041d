"""Supervision with real processes: each test starts a whole Zepix actor system (supervision.host in its own
process group, as run.py does), breaks something on purpose, and waits with deadlines for the tree to repair it.
``running_system`` kills the group at the end and fails the test if any process survives."""
from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from actors import messages as m
from supervision import hygiene
from tests.support.system import find, running_system as _running_system, wait_for

pytestmark = pytest.mark.slow

WORKER = "tests.support.actors.Worker"

# These tests are about supervision itself: the subtrees run only the workers each test adds, not the trading,
# broker, ingress, telegram and ops actors (about 15 processes that only slowed escalation down under load).
SUBTREES = ("ingress", "trading", "broker", "telegram", "ops")


def running_system(tmp, toml: str = "", **kw):
    for name in SUBTREES:
        header = f"[supervision.subtrees.{name}]\n"
        # a test that tunes a subtree already declares its table; TOML allows one declaration
        toml = toml.replace(header, header + "builtin = false\n") if header in toml else header + "builtin = false\n" + toml
    return _running_system(tmp, toml, **kw)


def extra(name: str, actor: str = WORKER, parent: str = "ops", **fields) -> str:
    lines = [f'[[supervision.extra]]\nparent = "{parent}"\nname = "{name}"\nactor = "{actor}"\n']
    for k, v in fields.items():
        lines.append(f"{k} = {v!r}\n" if not isinstance(v, str) else f'{k} = "{v}"\n')
    return "".join(lines)


def corr() -> str:
    return uuid.uuid4().hex


def gone(pid: int) -> bool:
    """The process has exited (a zombie not yet reaped by its parent counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def starts(s, name: str) -> list[str]:
    p = Path(s.test_dir) / f"{name}.starts"
    return p.read_text().splitlines() if p.exists() else []


class Events:
    """A subscriber to the root's SupervisionEvents on a private endpoint, listening in a thread."""

    def __init__(self, s, timeout: float = 5.0):
        self.s = s
        self.root = s.client.root()
        self.events: list[m.SupervisionEvent] = []
        self.cond = threading.Condition()
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._subscribed.wait(timeout):
            raise AssertionError(f"subscription not confirmed within {timeout}s: {self._error!r}")

    def _run(self) -> None:
        try:
            with self.s.client.asys.private() as ep:
                ep.tell(self.root, m.encode(m.Subscribe()))
                # The root handles one sender's messages in order: once this status request is answered,
                # the Subscribe before it has been handled and no event can be missed.
                probe = corr()
                ep.tell(self.root, m.encode(m.StatusRequest(corr=probe)))
                while not self._stop.is_set():
                    raw = ep.listen(0.05)
                    if raw is None:
                        continue
                    try:
                        msg = m.decode(raw)
                    except m.CodecError:
                        continue
                    if isinstance(msg, m.StatusReply) and msg.corr == probe:
                        self._subscribed.set()
                    elif isinstance(msg, m.SupervisionEvent):
                        with self.cond:
                            self.events.append(msg)
                            self.cond.notify_all()
                try:
                    ep.tell(self.root, m.encode(m.Subscribe(subscribe=False)))
                except Exception:
                    pass
        except BaseException as exc:  # surfaced by wait()/close()
            self._error = exc

    def of(self, child: str, kind: str | None = None) -> list[m.SupervisionEvent]:
        with self.cond:
            return [e for e in self.events if e.child == child and (kind is None or e.kind == kind)]

    def wait(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                hit = predicate(list(self.events))
                if hit:
                    return hit
                left = deadline - time.monotonic()
                if left <= 0 or self._error is not None:
                    kinds = [(e.supervisor, e.kind, e.child, e.reason) for e in self.events]
                    raise AssertionError(f"no {what} within {timeout}s (error {self._error!r}); events: {kinds}")
                self.cond.wait(left)

    def wait_kinds(self, child: str, kinds: list[str], timeout: float) -> list[m.SupervisionEvent]:
        """Wait until events of these kinds for ``child`` have been seen in this order (others may interleave)."""
        def check(events):
            seen, i = [], 0
            for e in events:
                if i < len(kinds) and e.child == child and e.kind == kinds[i]:
                    seen.append(e)
                    i += 1
            return seen if i == len(kinds) else None
        return self.wait(check, timeout, f"events {kinds} for {child}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# -- crashes, hangs, signals --------------------------------------------------------------------------------------

def test_sigkilled_child_is_restarted_and_events_reach_a_subscriber(tmp_path):
    with running_system(tmp_path, extra("w1")) as s:
        events = Events(s)
        try:
            old = s.node("ops/w1")
            assert old["state"] == "running" and old["restarts"] == 0
            t0 = time.monotonic()
            os.kill(old["pid"], signal.SIGKILL)
            new = s.wait_node("ops/w1", lambda n: n["state"] == "running" and n["pid"] != old["pid"], timeout=5)
            took = time.monotonic() - t0
            assert new["restarts"] == 1
            assert new["pid"] is not None and psutil.pid_exists(new["pid"])
            exited, restarted = events.wait_kinds("w1", ["exited", "restarted"], timeout=5)
            assert exited.supervisor == "zepix-root/ops" and restarted.supervisor == "zepix-root/ops"
            assert restarted.details["pid"] == new["pid"] and restarted.details["restarts"] == 1
            assert exited.at <= restarted.at
            assert len(events.of("w1", "exited")) == 1
            assert wait_for(lambda: gone(old["pid"]), 2, what="old pid gone")
            assert [line.split()[0] for line in starts(s, "w1")] == [str(old["pid"]), str(new["pid"])]
            print(f"restart after SIGKILL: {took * 1000:.0f} ms")
        finally:
            events.close()


def test_sigstopped_child_is_detected_killed_and_replaced(tmp_path):
    hang_timeout = 1.5
    with running_system(tmp_path, extra("w1", hang_timeout=hang_timeout, heartbeat_interval=0.25)) as s:
        events = Events(s)
        try:
            old = s.node("ops/w1")
            t0 = time.monotonic()
            os.kill(old["pid"], signal.SIGSTOP)
            new = s.wait_node("ops/w1", lambda n: n["state"] == "running" and n["pid"] != old["pid"],
                              timeout=hang_timeout + 1.0, what="hung child replaced")
            took = time.monotonic() - t0
            assert took <= hang_timeout + 1.0
            assert new["restarts"] == 1
            # not before the hang timeout: a stopped process is not detected by anything faster
            hung = events.wait_kinds("w1", ["hung", "exited", "restarted"], timeout=2)[0]
            assert hung.details["pid"] == old["pid"] and "no heartbeat" in hung.reason
            assert hung.at - (time.time() - (time.monotonic() - t0)) >= hang_timeout - 0.3
            wait_for(lambda: gone(old["pid"]), 2, what=f"stopped pid {old['pid']} killed")
            print(f"SIGSTOP to replacement: {took * 1000:.0f} ms")
        finally:
            events.close()


def test_sigterm_gives_exactly_one_restart(tmp_path):
    # Thespian reports a SIGTERMed child twice; the supervisor must restart it once.
    with running_system(tmp_path, extra("w1", heartbeat_interval=0.25, hang_timeout=1.0)) as s:
        events = Events(s)
        try:
            old = s.node("ops/w1")
            os.kill(old["pid"], signal.SIGTERM)
            new = s.wait_node("ops/w1", lambda n: n["state"] == "running" and n["pid"] != old["pid"], timeout=5)
            assert new["restarts"] == 1

            # Keep checking while the new child runs for several heartbeats and restart backoffs; a second
            # restart (from the duplicate exit notice) would show up as restarts == 2 or a third start.
            polls = 0

            def settled():
                nonlocal polls
                n = s.node("ops/w1")
                polls += 1
                assert n["restarts"] == 1 and n["pid"] == new["pid"], n
                assert len(starts(s, "w1")) == 2, starts(s, "w1")
                return n["state"] == "running" and n["uptime_s"] >= 1.0 and polls >= 5

            wait_for(settled, 5, what="restarted child running steadily")
            assert len(starts(s, "w1")) == 2
            assert len(events.of("w1", "exited")) == 1
            assert len(events.of("w1", "restarted")) == 1
        finally:
            events.close()


BREAKER = dict(actor="tests.support.actors.CrashOnStart", fallback="tests.support.actors.Fallback",
               breaker_threshold=3, backoff_min=0.05, backoff_max=0.2, breaker_cooldown=2.0, healthy_after=0.5,
               heartbeat_interval=0.25, hang_timeout=1.0)


def test_constructor_failures_switch_to_fallback_and_back(tmp_path):
    n = BREAKER["breaker_threshold"]
    with running_system(tmp_path, extra("crashy", **BREAKER)) as s:
        events = Events(s)
        try:
            assert s.node("ops/crashy")["implementation"] == "primary"
            (tmp_path / "crash_ctor.remaining").write_text(str(n))
            t0 = time.monotonic()
            reply = s.client.ask(m.RestartChild(corr=corr(), name="ops/crashy"))
            assert reply is not None and reply.ok, reply
            fb = s.wait_node("ops/crashy", lambda x: x["state"] == "running" and x["implementation"] == "fallback",
                             timeout=5, what="fallback running")
            t_fallback = time.monotonic() - t0
            assert fb["breaker"] == "open" and fb["actor_class"] == BREAKER["fallback"]
            assert (tmp_path / "crash_ctor.remaining").read_text() == "0"
            assert starts(s, "crashy")[-1].endswith(" fallback")
            on = events.wait(lambda ev: [e for e in ev if e.child == "crashy" and e.kind == "fallback_on"], 2,
                             "fallback_on")[0]
            assert on.details["fallback"] == BREAKER["fallback"]
            assert len(events.of("crashy", "exited")) == 1 + n   # the admin restart, then n constructor failures

            # after the cool-down the primary is tried again; it is healthy now, so the breaker closes
            back = s.wait_node("ops/crashy", lambda x: x["state"] == "running" and x["implementation"] == "primary"
                               and x["breaker"] == "closed", timeout=BREAKER["breaker_cooldown"] + 3,
                               what="primary back, breaker closed")
            t_back = time.monotonic() - t0
            assert back["actor_class"] == BREAKER["actor"]
            assert t_back >= t_fallback + BREAKER["breaker_cooldown"] - 0.5
            events.wait(lambda ev: [e for e in ev if e.child == "crashy" and e.kind == "fallback_off"], 2,
                        "fallback_off")
            assert starts(s, "crashy")[-1].endswith(" primary")
            # the switch back is not a failure: the fallback was replaced on purpose
            assert s.node("ops")["restart_intensity"].startswith(f"{n}/")
            print(f"fallback running {t_fallback * 1000:.0f} ms after the first failure; "
                  f"primary back after {t_back:.2f} s")
        finally:
            events.close()


ESCALATING = ('[supervision.subtrees.ops]\nintensity = 2\nperiod = 30.0\nbackoff_max = 0.2\n'
              + extra("bad", "tests.support.actors.CrashInSetupWhile"))


def test_intensity_exceeded_escalates_to_the_root(tmp_path):
    with running_system(tmp_path, '[supervision.root]\nintensity = 10\nperiod = 60.0\n' + ESCALATING) as s:
        events = Events(s)
        try:
            ops = s.node("ops")
            assert ops["restarts"] == 0
            (tmp_path / "fail_setup").write_text("")
            reply = s.client.ask(m.KillChild(corr=corr(), name="ops/bad"))
            assert reply.ok, reply
            esc = events.wait(lambda ev: [e for e in ev if e.kind == "escalated"], 10, "escalated")[0]
            assert esc.supervisor == "zepix-root/ops" and "restart intensity exceeded" in esc.reason
            (tmp_path / "fail_setup").unlink()
            # the root restarted ops, and ops its children; the old ops process is gone
            back = s.wait_node("ops", lambda n: n["state"] == "running" and n["restarts"] >= 1
                               and n["children"] and n["children"][0]["state"] == "running", timeout=10)
            assert back["pid"] != ops["pid"]
            assert gone(ops["pid"])
            assert int((tmp_path / "setup_failures.count").read_text()) >= 2
            ops_exit = events.wait(lambda ev: [e for e in ev if e.child == "ops" and e.kind == "exited"], 2,
                                   "ops exited")[0]
            assert ops_exit.supervisor == "zepix-root" and "restart intensity exceeded" in ops_exit.reason
            events.wait_kinds("ops", ["exited", "restarted"], 2)
            assert s.tree()["state"] == "running"
        finally:
            events.close()


def test_root_with_intensity_zero_stops_after_one_escalation(tmp_path):
    with running_system(tmp_path, '[supervision.root]\nintensity = 0\n' + ESCALATING) as s:
        events = Events(s)
        try:
            root_pid = s.tree()["pid"]
            assert "zepix zepix-root" in " ".join(psutil.Process(root_pid).cmdline())
            (tmp_path / "fail_setup").write_text("")
            assert s.client.ask(m.KillChild(corr=corr(), name="ops/bad")).ok
            wait_for(lambda: gone(root_pid), 10, what=f"root process {root_pid} exits")
            esc = events.of("ops", "escalated")
            assert esc and esc[0].supervisor == "zepix-root/ops"
            # the root published its own escalation before stopping
            assert [e for e in events.events if e.kind == "escalated" and e.supervisor == "zepix-root"]
            assert s.client.ping_root(0.5) is None
        finally:
            events.close()


def test_an_actor_class_that_does_not_import_fails_clearly_and_escalates(tmp_path):
    # Thespian gives no process and no reason for it; it used to look "remote" and crash-loop forever
    toml = ('[supervision.root]\nintensity = 100\n[supervision.subtrees.ops]\nintensity = 2\nbackoff_max = 0.2\n'
            + extra("typo", "tests.support.actors.NoSuchActor"))
    with running_system(tmp_path, toml, ready=lambda t: find(t, "ops") is not None) as s:
        events = Events(s)
        try:
            exited = events.wait(lambda ev: [e for e in ev if e.child == "typo" and e.kind == "exited"], 5,
                                 "typo exited")[0]
            assert exited.reason.startswith("could not be created: cannot import tests.support.actors.NoSuchActor")
            assert "AttributeError" in exited.reason
            esc = events.wait(lambda ev: [e for e in ev if e.kind == "escalated"], 10, "escalated")[0]
            assert esc.supervisor == "zepix-root/ops" and "typo" in esc.reason
        finally:
            events.close()


def test_killing_a_subtree_supervisor_takes_its_children_with_it(tmp_path):
    with running_system(tmp_path, extra("w1") + extra("w2")) as s:
        ops = s.node("ops")
        kids = [c["pid"] for c in ops["children"]]   # ops (issue 8): the subtree's own children too
        assert len(kids) == len(ops["children"]) >= 2 and all(kids)
        os.kill(ops["pid"], signal.SIGKILL)
        # PDEATHSIG: the children die with their supervisor instead of lingering as orphans
        wait_for(lambda: all(gone(p) for p in kids), 3, what="old children gone")
        back = s.wait_node("ops", lambda n: n["state"] == "running" and n["restarts"] == 1
                           and len(n["children"]) == len(kids) and all(c["state"] == "running" for c in n["children"]),
                           timeout=10)
        new_kids = [c["pid"] for c in back["children"]]
        assert not set(new_kids) & set(kids)
        group = set(hygiene.group_pids(s.pgid))
        assert not group & set(kids + [ops["pid"]])
        assert set(new_kids + [back["pid"]]) <= group
        assert len(starts(s, "w1")) == 2 and len(starts(s, "w2")) == 2


def test_subscribers_that_do_not_read_cannot_freeze_the_root(tmp_path):
    """Thespian allows 20 unacknowledged transmits per actor and waits minutes for each. A subscriber that does
    not read used to freeze the root after ~20 events: no pings went out, every subtree was declared hung and
    killed. Now each subscriber has a small window of events in flight (and is dropped when they time out)."""
    with running_system(tmp_path, "[supervision.subtrees.ops]\nintensity = 100\n"
                        + extra("w1", heartbeat_interval=0.25, hang_timeout=1.0, backoff_max=0.1)) as s:
        root = s.client.root()

        def subscribe(ep):
            ep.tell(root, m.encode(m.Subscribe()))
            ep.tell(root, m.encode(m.StatusRequest(corr=(c := corr()))))
            assert m.decode(ep.listen(3)).corr == c

        with s.client.asys.private() as silent:          # subscribes, stays, never reads again
            subscribe(silent)
            with s.client.asys.private() as closed:       # subscribes, then closes: Thespian keeps the root's
                subscribe(closed)                          # connection to it, so it is just as silent
            subtrees = {c["name"]: c["pid"] for c in s.tree()["children"]}
            for i in range(15):                           # 2 events per restart: 2 x 30 unread events > 20
                old = s.node("ops/w1")
                os.kill(old["pid"], signal.SIGKILL)
                s.wait_node("ops/w1", lambda n: n["state"] == "running" and n["pid"] != old["pid"], timeout=3,
                            what=f"restart {i + 1}")
            tree = s.tree()
            assert {c["name"]: c["pid"] for c in tree["children"]} == subtrees
            assert all(c["restarts"] == 0 and c["state"] == "running" for c in tree["children"])
            # the root's own round trips still work (its pings, Thespian's status)
            assert s.client.ping_root(2.0) == tree["pid"]


# -- admin requests and process hygiene (one system) ------------------------------------------------------------

@pytest.fixture(scope="module")
def admin_system(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("admin")
    with running_system(tmp, extra("w1") + extra("w2") + extra("w3") + extra("w4", parent="trading")
                        + extra("stuck", parent="broker", shutdown_timeout=1.0)
                        + extra("fin", "tests.support.actors.Finishes", parent="telegram", restart="transient")) as s:
        yield s


def test_restart_child_by_path(admin_system):
    s = admin_system
    old = s.node("ops/w1")
    reply = s.client.ask(m.RestartChild(corr=(c := corr()), name="ops/w1"))
    assert reply.corr == c and reply.ok and "zepix-root/ops/w1" in reply.text
    new = s.wait_node("ops/w1", lambda n: n["state"] == "running" and n["pid"] != old["pid"], timeout=5)
    assert new["restarts"] == old["restarts"] + 1
    wait_for(lambda: gone(old["pid"]), 2, what="old pid gone")
    # a restart on request is not a failure: it does not count against the restart intensity
    assert s.node("ops")["restart_intensity"].startswith("0/")


def test_kill_child_sigkills_and_restarts(admin_system):
    s = admin_system
    old = s.node("trading/w4")
    reply = s.client.ask(m.KillChild(corr=corr(), name="trading/w4"))
    assert reply.ok and reply.data["pid"] == old["pid"]
    new = s.wait_node("trading/w4", lambda n: n["state"] == "running" and n["pid"] != old["pid"], timeout=5)
    assert new["restarts"] == old["restarts"] + 1
    assert wait_for(lambda: gone(old["pid"]), 2, what="killed pid gone")
    assert s.node("trading")["restart_intensity"].startswith("1/")


def test_restart_of_a_hung_child_kills_it_after_its_shutdown_timeout(admin_system):
    # a child asked to stop is no longer hang-checked; one that cannot stop must not stay "restarting" forever
    s = admin_system
    old = s.node("broker/stuck")
    os.kill(old["pid"], signal.SIGSTOP)
    t0 = time.monotonic()
    assert s.client.ask(m.RestartChild(corr=corr(), name="broker/stuck")).ok
    new = s.wait_node("broker/stuck", lambda n: n["state"] == "running" and n["pid"] != old["pid"], timeout=4,
                      what="stuck child replaced")
    assert time.monotonic() - t0 >= 1.0 - 0.2          # its shutdown timeout, not the (longer) hang timeout
    assert new["restarts"] == old["restarts"] + 1
    wait_for(lambda: gone(old["pid"]), 2, what="stopped pid killed")
    assert s.node("broker")["restart_intensity"].startswith("0/")


def test_transient_child_is_restarted_after_a_crash_but_not_after_finishing(admin_system):
    s = admin_system
    old = s.node("telegram/fin")
    os.kill(old["pid"], signal.SIGKILL)
    s.wait_node("telegram/fin", lambda n: n["state"] == "running" and n["pid"] != old["pid"], timeout=5)
    (s.test_dir / "finish").write_text("")
    try:
        assert s.client.ask(m.RestartChild(corr=corr(), name="telegram/fin")).ok
        stopped = s.wait_node("telegram/fin", lambda n: n["state"] == "stopped", timeout=5, what="finished")
        assert stopped["pid"] is None and len(starts(s, "fin")) == 3
        polls = 0

        def stays_stopped():
            nonlocal polls
            polls += 1
            n = s.node("telegram/fin")
            assert n["state"] == "stopped" and n["restarts"] == stopped["restarts"], n
            assert len(starts(s, "fin")) == 3
            return polls >= 20
        wait_for(stays_stopped, 5, what="finished transient child stays stopped")
        assert s.node("telegram")["restart_intensity"].startswith("1/")     # only the SIGKILL counted
    finally:
        (s.test_dir / "finish").unlink()


@pytest.mark.parametrize("msg_type", [m.RestartChild, m.KillChild])
@pytest.mark.parametrize("name, text", [
    ("nope", "zepix-root has no child 'nope'"),
    ("ops/nope", "zepix-root/ops has no child 'nope'"),
    ("ops/w1/deeper", "zepix-root/ops/w1 is not a running supervisor"),
    ("", "zepix-root has no child ''"),
])
def test_unknown_child_gets_a_clear_refusal(admin_system, msg_type, name, text):
    reply = admin_system.client.ask(msg_type(corr=(c := corr()), name=name))
    assert reply is not None, "no reply"
    assert reply.corr == c and reply.ok is False
    assert reply.text == text


def test_tree_answers_quickly(admin_system):
    s = admin_system
    for _ in range(3):
        t0 = time.monotonic()
        tree = s.client.tree(timeout=2.0)
        took = time.monotonic() - t0
        assert tree is not None and took < 1.0, took
    assert [c["name"] for c in tree["children"]] == ["ingress", "trading", "broker", "telegram", "ops"]
    # ops (issue 8): the subtree's own children come first
    assert [c["name"] for c in find(tree, "ops")["children"]][-3:] == ["w1", "w2", "w3"]
    assert all(c["state"] != "unresponsive" for c in tree["children"])


def test_late_reply_never_answers_the_next_question(admin_system):
    """A tree request that times out on a stopped subtree gets one reply; the subtree's late answer must not
    produce a second reply to the old question, nor be taken for the answer to the next one."""
    s = admin_system
    ops = s.node("ops")
    root = s.client.root()
    with s.client.asys.private() as ep:
        os.kill(ops["pid"], signal.SIGSTOP)
        try:
            c1 = corr()
            ep.tell(root, m.encode(m.TreeRequest(corr=c1)))
            first = m.decode(ep.listen(3.0))
            assert first.corr == c1
            assert find(first.node, "ops")["state"] == "unresponsive"
        finally:
            os.kill(ops["pid"], signal.SIGCONT)
        c2 = corr()
        ep.tell(root, m.encode(m.TreeRequest(corr=c2)))
        got = []
        while True:
            raw = ep.listen(3.0)
            assert raw is not None, f"no answer to the second question; got {got}"
            reply = m.decode(raw)
            got.append((type(reply).__name__, reply.corr))
            if reply.corr == c2:
                break
        assert got == [("TreeReply", c2)], got
        assert find(reply.node, "ops")["state"] == "running"
    # and through the client: a question whose answer comes late (after the 0.6 s gather timeout) gives up
    # after its own timeout, and its late answer is not taken for the answer to the next question
    os.kill(ops["pid"], signal.SIGSTOP)
    try:
        assert s.client.ask(m.TreeRequest(corr=corr()), timeout=0.2) is None
    finally:
        os.kill(ops["pid"], signal.SIGCONT)
    c3 = corr()
    reply = s.client.ask(m.StatusRequest(corr=c3))
    assert isinstance(reply, m.StatusReply) and reply.corr == c3


def test_garbage_bytes_are_counted_and_the_actor_keeps_running(admin_system):
    from thespian.system.messages.status import Thespian_StatusReq

    s = admin_system
    asys, root = s.client.asys, s.client.root()
    before = s.tree()
    asys.tell(root, b"\x00\xffgarbage")
    asys.tell(root, m.encode(m.Ping(seq=1))[:-1])                     # truncated
    asys.tell(root, __import__("msgpack").packb(["no.such", 1, {}]))  # unknown tag
    tree = wait_for(lambda: (t := s.tree()) and t["codec_errors"] >= before["codec_errors"] + 3 and t, 5,
                    what="root counts 3 codec errors")
    assert tree["codec_errors"] == before["codec_errors"] + 3 and tree["pid"] == before["pid"]
    assert tree["errors"] == before["errors"]

    # a worker: find ops/w2's address through Thespian's own status requests (root -> ops -> its children)
    ops_node = find(tree, "ops")
    ops_addr = None
    for addr in asys.ask(root, Thespian_StatusReq(), 5).childActors:
        status = asys.ask(addr, Thespian_StatusReq(), 5)
        if len(status.childActors) == len(ops_node["children"]):
            ops_addr = addr
    assert ops_addr is not None
    kids = asys.ask(ops_addr, Thespian_StatusReq(), 5).childActors
    for addr in kids:
        asys.tell(addr, b"not a message")
    for name in ("w1", "w2", "w3"):
        n = s.wait_node(f"ops/{name}", lambda x: x["codec_errors"] == 1, timeout=5,
                        what=f"{name} reports a codec error in its Pong")
        assert n["state"] == "running" and n["errors"] == 0
    assert [c["pid"] for c in s.node("ops")["children"]] == [c["pid"] for c in ops_node["children"]]


def test_every_process_listens_on_loopback_only(admin_system):
    s = admin_system
    pids = hygiene.group_pids(s.pgid)
    assert len(pids) >= 10     # host, admin, logger, root, 5 subtrees, 4 workers
    listening = []
    for pid in pids:
        try:
            conns = psutil.Process(pid).net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        listening += [(pid, c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN]
    assert len(listening) >= len(pids) - 1, listening     # every actor process listens
    wide = [entry for entry in listening if entry[1] != "127.0.0.1"]
    assert not wide, f"listening beyond loopback: {wide}"
    assert s.config["system"]["admin_port"] in {port for _, _, port in listening}


def test_process_titles_show_actor_paths(admin_system):
    s = admin_system
    tree = s.tree()

    def title(pid):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\x00", b" ").decode().strip()

    assert title(tree["pid"]).startswith("zepix zepix-root")
    for sub in tree["children"]:
        assert title(sub["pid"]).startswith(f"zepix zepix-root/{sub['name']}"), title(sub["pid"])
    w1 = find(tree, "ops/w1")
    assert "zepix zepix-root/ops/w1" in title(w1["pid"])
    assert "zepix zepix-root/ops/w1" in " ".join(psutil.Process(w1["pid"]).cmdline())


def test_a_question_before_init_waits_for_it(admin_system):
    # a client's TreeRequest can overtake the supervisor's Init (different senders); it used to crash the actor
    s = admin_system
    spec = {"name": "early", "actor": "supervision.supervisor.Supervisor", "kind": "supervisor", "children": []}
    addr = s.client.asys.createActor("supervision.supervisor.Supervisor")
    try:
        with s.client.asys.private() as ep:
            ep.tell(addr, m.encode(m.TreeRequest(corr=(c1 := corr()))))
            ep.tell(addr, m.encode(m.Init(name="early", path="early", spec=spec, config={})))
            replies = [m.decode(ep.listen(3)) for _ in range(2)]
            ep.tell(addr, m.encode(m.StatusRequest(corr=(c2 := corr()))))
            status = m.decode(ep.listen(3))
        assert {type(r).__name__ for r in replies} == {"Started", "TreeReply"}
        tree = next(r for r in replies if isinstance(r, m.TreeReply))
        assert tree.corr == c1 and tree.node["name"] == "early"
        assert status.corr == c2, "the actor survived the early question"
    finally:
        from thespian.actors import ActorExitRequest
        s.client.asys.tell(addr, ActorExitRequest())


def test_a_second_init_is_ignored(admin_system):
    # last on the shared system: without the fix it leaves the root with a second, bogus tree
    s = admin_system
    tree = s.tree()
    pids = sorted(hygiene.group_pids(s.pgid))
    bogus = {"name": "zepix-root", "actor": "supervision.supervisor.RootSupervisor", "kind": "supervisor",
             "children": [{"name": "x", "actor": WORKER}]}
    with s.client.asys.private() as ep:
        ep.tell(s.client.root(), m.encode(m.Init(name="zepix-root", path="zepix-root", spec=bogus, config={})))
        ep.tell(s.client.root(), m.encode(m.StatusRequest(corr=(c := corr()))))   # handled after the Init
        reply = m.decode(ep.listen(3))
    assert reply.corr == c and reply.children == 5
    after = s.tree()
    assert [(c["name"], c["pid"]) for c in after["children"]] == [(c["name"], c["pid"]) for c in tree["children"]]
    assert sorted(hygiene.group_pids(s.pgid)) == pids
