"""The directory and publish/subscribe between actors, with real processes: every actor learns where the others
are, a restarted actor is found at its new address, and a subscriber follows its publisher across a restart."""
from __future__ import annotations

import os
import signal
import uuid

import pytest

from actors import messages as m
from tests.support.system import running_system, wait_for

pytestmark = pytest.mark.slow

TOML = ('[positions]\nenabled = false\n'   # keep the tree to exactly the test's workers
        '[[supervision.extra]]\nparent = "ops"\nname = "w1"\nactor = "tests.support.actors.Worker"\n'
        'backoff_max = 0.1\n'
        '[[supervision.extra]]\nparent = "trading"\nname = "w2"\nactor = "tests.support.actors.Worker"\n')


def corr() -> str:
    return uuid.uuid4().hex


def directory_of(s, path: str) -> set:
    """The paths ``path`` knows; empty while it does not answer (a loaded machine can take longer than one ask)."""
    reply = s.client.ask_actor(path, m.StatusRequest(corr=corr()), 2.0)
    return set(reply.data["directory"]) if reply else set()


def command(s, target: str, name: str, **args):
    reply = s.client.ask_actor(target, m.Command(corr=corr(), name=name, args=args, user="test"), 3.0)
    assert reply is not None, f"{target} did not answer {name}"
    return reply


def test_every_actor_knows_every_path_and_subscriptions_survive_a_restart(tmp_path):
    with running_system(tmp_path, TOML) as s:
        want = {"ingress", "trading", "broker", "telegram", "ops", "ops/w1", "trading/w2"}
        # plus whatever the capabilities' subtree builders start (trading/risk, the plugins, ...)
        want |= {n["path"].split("/", 1)[1] for sub in s.tree()["children"] for n in sub["children"]}

        # ops (issue 8): every subtree now has children of its own (and the root lists itself), so "at least"
        wait_for(lambda: want <= directory_of(s, "trading/w2"), 10, what="w2 sees the whole tree")
        assert command(s, "trading/w2", "subscribe", path="ops/w1", topic="t").ok
        wait_for(lambda: command(s, "ops/w1", "publish", topic="t", text="one").text == "1", 5,
                 what="w1 has one subscriber")
        wait_for(lambda: "one" in command(s, "trading/w2", "seen").data["seen"], 5, what="w2 got it")

        old = s.client.address_of("ops/w1")
        os.kill(s.node("ops/w1")["pid"], signal.SIGKILL)
        new = wait_for(lambda: (a := s.client.address_of("ops/w1")) is not None and a != old and a, 10,
                       what="w1 at a new address")
        assert new != old
        # the subscriber subscribed again by itself when the directory told it the new address
        wait_for(lambda: command(s, "ops/w1", "publish", topic="t", text="two").text == "1", 5,
                 what="new w1 has the subscriber")
        wait_for(lambda: "two" in command(s, "trading/w2", "seen").data["seen"], 5, what="w2 got it again")


def test_a_command_to_an_actor_without_it_says_so(tmp_path):
    with running_system(tmp_path, TOML) as s:
        reply = command(s, "ops/w1", "fly")
        assert not reply.ok and "ops/w1 has no command 'fly'" in reply.text
        assert s.client.address_of("ops/nope") is None


def test_what_one_handler_sends_to_a_peer_arrives_batched_and_in_order(tmp_path):
    """ZepixActor packs the messages one handler run sends to an actor of the tree into Batch messages (at most
    BATCH_MAX each) and the receiver unpacks them in order; replies to the outside (this test's asks) are not
    batched (the client reads them one by one)."""
    from actors.base import BATCH_MAX
    n = BATCH_MAX + 44
    with running_system(tmp_path, TOML) as s:
        wait_for(lambda: "ops/w1" in directory_of(s, "trading/w2"), 10, what="w2 knows w1")
        before = s.client.ask_actor("ops/w1", m.StatusRequest(corr=corr()), 2.0).data
        assert command(s, "trading/w2", "burst", to="ops/w1", n=n).ok
        wait_for(lambda: len(command(s, "ops/w1", "seen").data["seen"]) >= n, 10, what="every message arrived")
        assert command(s, "ops/w1", "seen").data["seen"] == [str(i) for i in range(n)]
        after = s.client.ask_actor("ops/w1", m.StatusRequest(corr=corr()), 2.0).data
        assert after["batches"] - before["batches"] == 2          # BATCH_MAX + 44 messages: two batches
        assert after["handled"] - before["handled"] >= n


@pytest.mark.parametrize("mailbox_env", ["1", "0"])
def test_actors_of_one_host_talk_through_their_mailboxes_or_else_through_thespian(tmp_path, mailbox_env):
    """Between actors of the tree on one host, messages travel as records on each actor's Unix socket (actors.mailbox)
    and arrive in order, batches included; with ZEPIX_LOCAL_MAILBOX=0 they take Thespian's TCP transport, alike."""
    from actors.base import BATCH_MAX
    n = BATCH_MAX + 10
    with running_system(tmp_path, TOML, env={"ZEPIX_LOCAL_MAILBOX": mailbox_env}) as s:
        wait_for(lambda: "ops/w1" in directory_of(s, "trading/w2"), 10, what="w2 knows w1")
        assert command(s, "trading/w2", "burst", to="ops/w1", n=n).ok
        wait_for(lambda: len(command(s, "ops/w1", "seen").data["seen"]) >= n, 10, what="every message arrived")
        assert command(s, "ops/w1", "seen").data["seen"] == [str(i) for i in range(n)]
        w1 = s.client.ask_actor("ops/w1", m.StatusRequest(corr=corr()), 2.0).data["mail"]
        w2 = s.client.ask_actor("trading/w2", m.StatusRequest(corr=corr()), 2.0).data["mail"]
        if mailbox_env == "1":
            assert w1["on"] and w2["on"]
            assert w2["sent"] >= 2 and w1["received"] >= 2      # at least the burst's two batches
            assert w2["gone"] == 0
        else:
            assert w1 == {"on": False} and w2 == {"on": False}
