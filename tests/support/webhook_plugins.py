"""A plugin double for the webhook's end-to-end tests: ``HoldingPlugin`` is a ``RecordingPlugin`` that can be told
(by a file) to take alerts without answering them, like a plugin that dies before it answers."""
from __future__ import annotations

from actors import messages as m
from actors.base import handles
from tests.support.plugins import RecordingPlugin


class HoldingPlugin(RecordingPlugin):
    """While ``<test dir>/<name>.hold`` exists, an alert is recorded in ``<name>.routes`` and not answered."""

    @handles(m.AlertRoute)
    def _on_route(self, msg: m.AlertRoute, sender) -> None:
        if (self.file.parent / f"{self.name}.hold").exists():
            with open(self.file, "a") as f:
                f.write(msg.alert_id + "\n")
            return
        super()._on_route(msg, sender)
