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

TOML = ('[[supervision.extra]]\nparent = "ops"\nname = "w1"\nactor = "tests.support.actors.Worker"\n'
        'backoff_max = 0.1\n'
        '[[supervision.extra]]\nparent = "trading"\nname = "w2"\nactor = "tests.support.actors.Worker"\n')


def corr() -> str:
    return uuid.uuid4().hex


def command(s, target: str, name: str, **args):
    reply = s.client.ask_actor(target, m.Command(corr=corr(), name=name, args=args, user="test"), 3.0)
    assert reply is not None, f"{target} did not answer {name}"
    return reply


def test_every_actor_knows_every_path_and_subscriptions_survive_a_restart(tmp_path):
    with running_system(tmp_path, TOML) as s:
        want = {"ingress", "trading", "broker", "telegram", "ops", "ops/w1", "trading/w2"}

        def directory_of(path):
            reply = s.client.ask_actor(path, m.StatusRequest(corr=corr()), 2.0)
            return set(reply.data["directory"]) if reply else set()

        # subtree modules add their own children (ingress/webhook, ...): every path here must be among them
        wait_for(lambda: want <= directory_of("trading/w2"), 10, what="w2 sees the whole tree")
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
