"""Test doubles for the ops tests: an actor that reports the configuration it runs with, and a notifier that
keeps every Notify it gets (at the notifier's path, ``telegram/notifier``)."""
from __future__ import annotations

from actors import messages as m
from actors.base import ZepixActor, handles


class ConfigProbe(ZepixActor):
    """Owns the sections in spec options ``sections`` (default ``ops``); refuses a change while ``ops.health.
    max_threads`` would be 13 (a stand-in for a plugin validating its own section). Command "config" answers
    with the value at options ``key`` (dotted) and how many reconfigures it saw."""

    def setup(self) -> None:
        self.reconfigured = 0

    def config_sections(self) -> tuple:
        return tuple(self.spec.get("options", {}).get("sections", ["ops"]))

    def reconfigure(self, config: dict, changed: tuple) -> None:
        if config["ops"]["health"]["max_threads"] == 13:
            raise ValueError("ops.health.max_threads 13 is unlucky")
        self.reconfigured += 1

    def on_command(self, msg, sender):
        if msg.name == "config":
            node = self.config
            for part in msg.args["key"].split("."):
                node = node[part]
            return m.CommandReply(corr=msg.corr, ok=True, text=repr(node),
                                  data={"value": node, "reconfigured": self.reconfigured})
        return super().on_command(msg, sender)


class NotifierDouble(ZepixActor):
    """Keeps (kind, priority, text) of every Notify; Command "seen" returns them."""

    def setup(self) -> None:
        self.seen: list = []

    @handles(m.Notify)
    def _on_notify(self, msg: m.Notify, sender) -> None:
        self.seen.append([msg.kind, msg.priority, msg.text, msg.source])

    def on_command(self, msg, sender):
        if msg.name == "seen":
            return m.CommandReply(corr=msg.corr, ok=True, text=str(len(self.seen)), data={"seen": self.seen})
        return super().on_command(msg, sender)
