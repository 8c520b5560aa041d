"""Test actors that crash, hang or misbehave on purpose, driven by files in a directory named by the env var
ZEPIX_TEST_DIR (processes are forked, so they inherit it)."""
from __future__ import annotations

import os
import time
from pathlib import Path

from actors import messages as m
from actors.base import ZepixActor, handles


def _dir() -> Path:
    return Path(os.environ["ZEPIX_TEST_DIR"])


def _bump(name: str) -> int:
    path = _dir() / f"{name}.count"
    n = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(n))
    return n


class Worker(ZepixActor):
    """A well-behaved worker: records each start (pid) in ZEPIX_TEST_DIR/<name>.starts."""

    def setup(self) -> None:
        with open(_dir() / f"{self.name}.starts", "a") as f:
            f.write(f"{os.getpid()} {self.implementation}\n")


    def status_data(self) -> dict:
        return {"directory": sorted(self.directory)}

    def on_command(self, msg, sender):
        # "publish": send an Exiting-shaped marker on the topic; "subscribe": subscribe to args["path"]
        if msg.name == "publish":
            n = self.publish(msg.args["topic"], m.Notify(kind="test", priority="LOW", text=msg.args["text"]))
            return m.CommandReply(corr=msg.corr, ok=True, text=str(n))
        if msg.name == "subscribe":
            self.subscribe_to(msg.args["path"], msg.args["topic"])
            return m.CommandReply(corr=msg.corr, ok=True, text="subscribed")
        if msg.name == "burst":
            # n messages to one peer from one handler run: they travel as Batch messages, in order
            for i in range(int(msg.args["n"])):
                self.tell_peer(msg.args["to"], m.Notify(kind="test", priority="LOW", text=str(i)))
            return m.CommandReply(corr=msg.corr, ok=True, text="sent")
        if msg.name == "seen":
            return m.CommandReply(corr=msg.corr, ok=True, text="", data={"seen": list(getattr(self, "seen", []))})
        return super().on_command(msg, sender)

    @handles(m.Notify)
    def _on_notify(self, msg, sender):
        self.seen = getattr(self, "seen", []) + [msg.text]


class FastWorker(Worker):
    """A Worker that waits for its mailbox itself (ZepixActor.fast_mail), as the actors on an alert's path do.
    Commands: "timer" {seconds} (a "timer" entry in seen when it fires), "log" {text} (one INFO record), "crash"."""

    fast_mail = True

    def on_command(self, msg, sender):
        if msg.name == "timer":
            self.after(float(msg.args["seconds"]), "test-timer")
            return m.CommandReply(corr=msg.corr, ok=True, text="set")
        if msg.name == "log":
            self.log.info("%s: %s", self.path, msg.args["text"])
            return m.CommandReply(corr=msg.corr, ok=True, text="logged")
        if msg.name == "crash":
            self.crash("asked to by the test")
        return super().on_command(msg, sender)

    def on_timer(self, key) -> None:
        if key == "test-timer":
            self.seen = getattr(self, "seen", []) + ["timer"]


class Fallback(Worker):
    """The fallback implementation used in breaker tests."""


class CrashOnStart(ZepixActor):
    """Raises in its constructor while ZEPIX_TEST_DIR/crash_ctor.remaining is > 0 (decremented each time)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        counter = _dir() / "crash_ctor.remaining"
        left = int(counter.read_text()) if counter.exists() else 0
        if left > 0:
            counter.write_text(str(left - 1))
            raise RuntimeError(f"constructor failure, {left - 1} left")
        with open(_dir() / "crashy.starts", "a") as f:
            f.write(f"{os.getpid()} primary\n")


class CrashInSetup(ZepixActor):
    """Always fails in setup (after Init): exercises InitFailed."""

    def setup(self) -> None:
        _bump("setup_failures")
        raise ValueError("broken config for this test")


class Hangs(ZepixActor):
    """Hangs forever in setup when ZEPIX_TEST_DIR/hang exists."""

    def setup(self) -> None:
        with open(_dir() / f"{self.name}.starts", "a") as f:
            f.write(f"{os.getpid()} primary\n")
        if (_dir() / "hang").exists():
            while True:
                time.sleep(1)


from thespian.actors import requireCapability  # noqa: E402


@requireCapability("mt5")
class RemoteWorker(Worker):
    """A worker that may only run on an actor system offering the ``mt5`` capability."""


class CrashInSetupWhile(ZepixActor):
    """Fails in setup (like CrashInSetup) while ZEPIX_TEST_DIR/fail_setup exists, else runs like Worker, so a
    test can start a healthy system, subscribe to events, and then break the child on purpose."""

    def setup(self) -> None:
        if (_dir() / "fail_setup").exists():
            _bump("setup_failures")
            raise ValueError("broken config for this test")
        with open(_dir() / f"{self.name}.starts", "a") as f:
            f.write(f"{os.getpid()} {self.implementation}\n")


class Finishes(Worker):
    """Records its start like Worker, then finishes normally (``finish()``) right away while
    ZEPIX_TEST_DIR/finish exists."""

    def setup(self) -> None:
        super().setup()
        if (_dir() / "finish").exists():
            self.after(0.0, "finish")

    def on_timer(self, key) -> None:
        if key == "finish":
            self.finish()
