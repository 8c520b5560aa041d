"""A trading-plugin test double: records every AlertRoute it gets in ZEPIX_TEST_DIR/<name>.routes (one alert_id a
line) and answers AlertOutcome "decided" to the journal, once per alert_id (idempotent like a real plugin)."""
from __future__ import annotations

import os
import time
from pathlib import Path

from actors import messages as m
from actors.base import ZepixActor, handles


class RecordingPlugin(ZepixActor):

    def setup(self) -> None:
        self.seen: set[str] = set()
        self.file = Path(os.environ["ZEPIX_TEST_DIR"]) / f"{self.name}.routes"

    @handles(m.AlertRoute)
    def _on_route(self, msg: m.AlertRoute, sender) -> None:
        with open(self.file, "a") as f:
            f.write(msg.alert_id + "\n")
        if msg.alert_id in self.seen:
            return
        self.seen.add(msg.alert_id)
        self.tell_peer("ingress/webhook", m.AlertOutcome(alert_id=msg.alert_id, status="decided", source=self.path,
                                                         reason=f"test double {self.name}", at=time.time()))
