"""The fast mail loop and direct log writing, with real processes: an actor with ``fast_mail`` handles its peers'
mail in its own wait and still gets everything that is Thespian's (asks from outside, its timers, a stop); every
actor writes its log records to the log file itself, and the root rotates that file."""
from __future__ import annotations

import uuid

import pytest

from actors import messages as m
from tests.support.system import running_system, wait_for

pytestmark = pytest.mark.slow

TOML = ('[positions]\nenabled = false\n'
        '[[supervision.extra]]\nparent = "ops"\nname = "fast"\nactor = "tests.support.actors.FastWorker"\n'
        'backoff_max = 0.1\n'
        '[[supervision.extra]]\nparent = "trading"\nname = "w2"\nactor = "tests.support.actors.Worker"\n')


def corr() -> str:
    return uuid.uuid4().hex


def command(s, target: str, name: str, timeout: float = 3.0, **args):
    reply = s.client.ask_actor(target, m.Command(corr=corr(), name=name, args=args, user="test"), timeout)
    assert reply is not None, f"{target} did not answer {name}"
    return reply


def status(s, path: str) -> dict:
    reply = s.client.ask_actor(path, m.StatusRequest(corr=corr()), 3.0)
    assert reply is not None, f"{path} did not answer a status request"
    return reply.data


def knows(s, path: str, other: str) -> bool:
    reply = s.client.ask_actor(path, m.StatusRequest(corr=corr()), 2.0)
    return bool(reply) and other in reply.data["directory"]


def test_a_fast_mail_actor_handles_its_mail_in_its_own_wait_and_still_gets_what_is_thespians(tmp_path):
    with running_system(tmp_path, TOML) as s:
        wait_for(lambda: knows(s, "trading/w2", "ops/fast"), 10, what="w2 knows the fast worker")
        sent = 0
        for round_ in range(3):
            # a burst from a peer, through the mailbox, while the fast worker waits on its own
            assert command(s, "trading/w2", "burst", to="ops/fast", n=20).ok
            sent += 20
            wait_for(lambda: len(command(s, "ops/fast", "seen").data["seen"]) >= sent, 10,
                     what=f"burst {round_ + 1} arrived")
        seen = command(s, "ops/fast", "seen").data["seen"]
        assert seen == [str(i) for _ in range(3) for i in range(20)]       # all of it, in order
        mail = status(s, "ops/fast")["mail"]
        assert mail["fast_loop"] is True
        assert mail["fast_passes"] >= 1          # at least one burst was read in the actor's own wait
        assert status(s, "trading/w2")["mail"]["fast_loop"] is None        # a plain worker keeps Thespian's loop

        # a timer set while the actor waits on its own fires on time: the wait ends when Thespian's timer is due
        assert command(s, "ops/fast", "timer", seconds=0.3).ok
        wait_for(lambda: "timer" in command(s, "ops/fast", "seen").data["seen"], 5, what="the timer fired")

        # its own stop (an exit request to itself, through Thespian) ends the wait: the supervisor starts a new one
        old = s.node("ops/fast")["pid"]
        s.client.ask_actor("ops/fast", m.Command(corr=corr(), name="crash", args={}, user="test"), 1.0)
        wait_for(lambda: (n := s.node("ops/fast")) and n["state"] == "running" and n["pid"] != old, 10,
                 what="a fresh fast worker")
        assert command(s, "ops/fast", "seen").data["seen"] == []


def test_actors_write_the_log_file_themselves_and_the_root_rotates_it(tmp_path):
    toml = TOML + '[logging]\nmax_bytes = 4000\nbackups = 2\nrotate_check_seconds = 0.2\n'
    with running_system(tmp_path, toml) as s:
        logs = tmp_path / "data" / "logs"
        assert status(s, "ops/fast")["log"] == "direct"
        marker = uuid.uuid4().hex
        assert command(s, "ops/fast", "log", text=f"first {marker}").ok
        wait_for(lambda: f"first {marker}" in _all_logs(logs), 5, what="the record in the log file")
        # records until the file passed max_bytes at two of the root's checks: it renamed the file twice, and every
        # writer followed to the new file each time
        filler = iter(range(100_000))

        def log_and_look() -> bool:
            assert command(s, "ops/fast", "log", text=f"filler {next(filler)} {'x' * 100}").ok
            return (logs / "zepix.log.2").exists()
        wait_for(log_and_look, 20, what="two rotations")
        assert not (logs / "zepix.log.3").exists()            # backups = 2
        assert command(s, "ops/fast", "log", text=f"after {marker}").ok
        wait_for(lambda: f"after {marker}" in (logs / "zepix.log").read_text(), 5,
                 what="the writer moved to the new file")
        text = _all_logs(logs)
        lines = [ln for ln in text.splitlines() if "filler" in ln]
        assert all(ln.split(" ", 3)[2] == "INFO" for ln in lines)    # whole lines, never two records mixed


def _all_logs(logs) -> str:
    return "".join(p.read_text() for p in sorted(logs.glob("zepix.log*")))
