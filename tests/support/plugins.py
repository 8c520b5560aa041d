"""A trading-plugin test double: records every AlertRoute it gets in ZEPIX_TEST_DIR/<name>.routes (one alert_id a
line) and answers AlertOutcome "decided" to the journal; a repeated alert_id is answered again, never acted on twice."""
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
        # a repeat (redelivery after a restart) is not acted on again, but its outcome is reported again
        self.seen.add(msg.alert_id)
        out = m.AlertOutcome(alert_id=msg.alert_id, status="decided", source=self.path,
                             reason=f"test double {self.name}", at=time.time())
        self.tell_peer("ingress/webhook", out)
        if sender is not None and sender != self.peer("ingress/webhook"):
            self.tell(sender, out)      # like actors.plugin: the router is answered too
