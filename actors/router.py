"""The router actor (``ingress/router``): hands each accepted alert to the plugin that owns it.

The target comes from ``[routing]`` (``strategies.routing``). Delivered: the plugin gets ``AlertRoute`` and the
journal (``ingress/webhook``) gets ``AlertOutcome`` "routed" with the target. The target not running (not in
the directory): the alert is not lost silently, it ends as "skipped" with the reason, and the trader is told.
If a fallback implementation runs in a plugin's place, it runs at the same path, so routing by path covers it.
"""
from __future__ import annotations

import time

from actors import messages as m
from actors.base import ZepixActor, handles
from strategies.routing import RoutingTable

WEBHOOK = "ingress/webhook"


class RouterActor(ZepixActor):

    @property
    def where(self) -> str:
        return self.path.split("/", 1)[1] if self.path.startswith("zepix-root/") else self.path

    def setup(self) -> None:
        self.table = RoutingTable.from_config(self.config.get("routing", {}))
        self.counts = {"routed": 0, "skipped": 0}
        # A fresh router can get alerts before its first Directory (different senders are not ordered); routing
        # them against an empty directory skipped alerts whose plugin was running. They wait for the directory.
        self.waiting: list = []
        self.have_directory = bool(self.directory)

    def on_directory(self, previous: dict) -> None:
        self.have_directory = True
        waiting, self.waiting = self.waiting, []
        for msg in waiting:
            self._on_route(msg, None)

    def config_sections(self) -> tuple:
        return ("routing",)

    def reconfigure(self, config: dict, changed: tuple) -> None:
        self.table = RoutingTable.from_config(config.get("routing", {}))   # ConfigError refuses the change

    @handles(m.AlertRoute)
    def _on_route(self, msg: m.AlertRoute, sender) -> None:
        if not self.have_directory:
            self.waiting.append(msg)     # bounded by the webhook's routing.max_in_flight
            return
        target, why = self.table.route(msg.alert)
        now = time.time()
        if target is None or self.peer(target) is None:
            reason = why if target is None else f"plugin {target} is not running"
            self.counts["skipped"] += 1
            self.tell_peer(WEBHOOK, m.AlertOutcome(alert_id=msg.alert_id, status="skipped", source=self.where,
                                                   reason=reason, detail={"target": target or ""}, at=now))
            self.notify("alert_skipped", "HIGH",
                        f"Alert {msg.alert_id} ({msg.alert.get('signal_type')} {msg.alert.get('symbol')}) skipped: "
                        f"{reason}", alert_id=msg.alert_id)
            return
        # "routed" goes out first; the plugin's "decided" can still overtake it (other sender), which the journal
        # accepts: it only ever moves an alert forward
        self.tell_peer(WEBHOOK, m.AlertOutcome(alert_id=msg.alert_id, status="routed", source=self.where,
                                               reason=why, detail={"target": target}, at=now))
        self.tell(self.peer(target), msg)
        self.counts["routed"] += 1

    @handles(m.AlertOutcome)
    def _on_outcome(self, msg: m.AlertOutcome, sender) -> None:
        # plugins answer whoever handed them the alert as well as the journal; the journal's copy is the record
        self.counts["answered"] = self.counts.get("answered", 0) + 1

    def status_data(self) -> dict:
        return dict(getattr(self, "counts", {}))
