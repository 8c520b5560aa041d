"""The router actor (``ingress/router``): hands an accepted alert to the plugin that owns it when the webhook does not.

The webhook hands an alert with one target whose plugin is in the directory to that plugin itself (one actor hop
less; ``routing.direct``). Everything else comes here: alerts without a target, fan-outs, alerts whose plugin is
not in the directory, the webhook's re-sends, and every alert when ``routing.direct`` is off.

Before routing, the V4 <-> V5 bridge (``strategies.bridge``) translates old names (``combinedlogic-1`` ->
combined_v3 LOGIC1, ``ZepixPremium`` -> legacy_v4). The targets come from ``[routing]``
(``strategies.routing.route_alert``, the same pure decision the webhook makes; V6 trend updates of an unlisted
timeframe fan out to every V6 plugin). Delivered: the plugin gets ``AlertRoute`` and the journal
(``ingress/webhook``) gets ``AlertOutcome`` "routed" with the target.

A target that belongs to the running system (it is in the supervision tree built from the configuration) but is
not in the directory right now is restarting: its alerts wait here, in order, at most ``routing.wait_max`` of them
for at most ``routing.wait_timeout`` seconds, and are delivered when the directory shows the plugin again; after
the timeout the alert ends "skipped" ("plugin trading/X did not come back within N s"). While it waits the alert
stays "accepted" in the journal and unanswered to the webhook, so a router restart loses nothing (the webhook
sends unanswered alerts again; a repeat already waiting here is ignored). A target that is not configured
(plugin disabled, no plugin for the format) ends "skipped" at once with the reason, and the trader is told.
Delivered alerts are remembered until the plugin answers the router (plugins answer whoever handed them the
alert): the directory can lag a SIGKILL, so an alert told to a plugin that was already dead would be lost. When
the directory shows a target at a new address (or gone), its unanswered alerts are delivered again (or wait);
plugins are idempotent by alert_id. At most ``UNANSWERED_MAX`` are remembered, for ``UNANSWERED_AGE`` seconds.
If a fallback implementation runs in a plugin's place, it runs at the same path, so routing by path covers it.
"""
from __future__ import annotations

import time
from collections import OrderedDict

from actors import messages as m
from actors.base import ZepixActor, handles
from strategies.routing import RoutingTable, route_alert

WEBHOOK = "ingress/webhook"
WAIT_TIMER = "router.wait"
UNANSWERED_MAX = 2048
UNANSWERED_AGE = 300.0


def expected_paths(config: dict) -> set[str] | None:
    """Actor paths the supervision tree of this configuration runs ("trading/combined_v3", ...); None when the
    tree cannot be built here (then every routed-to path counts as expected: waiting is the safe side)."""
    try:
        from supervision.tree import build_tree
        root = build_tree(config)
    except Exception:   # noqa: BLE001 - a partial config (tests, tools) must not stop the router
        return None
    out: set[str] = set()

    def walk(spec, prefix: str) -> None:
        for child in spec.children:
            path = f"{prefix}/{child.name}" if prefix else child.name
            out.add(path)
            walk(child, path)
    walk(root, "")
    return out


class RouterActor(ZepixActor):

    def setup(self) -> None:
        self._configure(self.config)
        self.counts = {"routed": 0, "skipped": 0, "waited": 0, "wait_expired": 0}
        # A fresh router can get alerts before its first Directory (different senders are not ordered); routing
        # them against an empty directory skipped alerts whose plugin was running. They wait for the directory.
        self.waiting: list = []
        self.have_directory = bool(self.directory)
        # (alert_id, target) -> (monotonic since, AlertRoute, why): alerts whose plugin is restarting, in order
        self.parked: OrderedDict = OrderedDict()
        # (alert_id, target) -> (monotonic sent, AlertRoute, why, address told): delivered, not yet answered
        self.unanswered: OrderedDict = OrderedDict()
        # alerts delivered to a plugin that has just come back: it can handle them before its own first Directory,
        # when it cannot find the journal, so its answer to the router is passed on to the journal as well
        self.forward: set = set()
        self.after(self._tick(), WAIT_TIMER)

    def _configure(self, config: dict) -> None:
        routing = config.get("routing", {})
        self.table = RoutingTable.from_config(routing)   # ConfigError refuses the change
        wait_max, wait_timeout = routing.get("wait_max", 16), routing.get("wait_timeout", 60.0)
        if not isinstance(wait_max, int) or isinstance(wait_max, bool) or wait_max < 0:
            raise ValueError(f"routing.wait_max = {wait_max!r}: expected a whole number >= 0")
        if not isinstance(wait_timeout, (int, float)) or isinstance(wait_timeout, bool) or wait_timeout <= 0:
            raise ValueError(f"routing.wait_timeout = {wait_timeout!r}: expected seconds > 0")
        self.wait_max, self.wait_timeout = wait_max, float(wait_timeout)
        self.expected = expected_paths(config)

    def _tick(self) -> float:
        return max(0.05, min(1.0, self.wait_timeout / 4))

    def on_directory(self, previous: dict) -> None:
        self.have_directory = True
        self._recheck_unanswered()
        self._deliver_parked()
        waiting, self.waiting = self.waiting, []
        for msg in waiting:
            self._on_route(msg, None)

    def on_timer(self, key) -> None:
        if key != WAIT_TIMER:
            return
        now = time.monotonic()
        for key_, (since, msg, why) in list(self.parked.items()):
            if now - since >= self.wait_timeout:
                del self.parked[key_]
                self.counts["wait_expired"] += 1
                self._skip(msg, f"plugin {key_[1]} did not come back within {self.wait_timeout:g} s", key_[1])
        while self.unanswered:
            key_, (sent, *_rest) = next(iter(self.unanswered.items()))
            if now - sent < UNANSWERED_AGE:
                break
            del self.unanswered[key_]
            self.forward.discard(key_)
        self.after(self._tick(), WAIT_TIMER)

    def config_sections(self) -> tuple:
        return ("routing",)

    def reconfigure(self, config: dict, changed: tuple) -> None:
        self._configure(config)

    @handles(m.AlertRoute)
    def _on_route(self, msg: m.AlertRoute, sender) -> None:
        if not self.have_directory:
            self.waiting.append(msg)     # bounded by the webhook's routing.max_in_flight
            return
        alert, targets, why = route_alert(self.table, msg.alert)
        msg = m.AlertRoute(alert_id=msg.alert_id, alert=alert, received_at=msg.received_at)
        if not targets:
            self._skip(msg, why, "")
            return
        if len(targets) > 1:
            # fan-out: plugins left out of this configuration are simply not asked; none left is a skip
            running = [t for t in targets if self._configured(t)]
            if not running:
                self._skip(msg, f"{why}; none of {', '.join(targets)} is configured", "")
                return
            targets = tuple(running)
        for target in targets:
            self._deliver_or_park(msg, target, why)

    def _configured(self, target: str) -> bool:
        return self.peer(target) is not None or self.expected is None or target in self.expected

    def _deliver_or_park(self, msg: m.AlertRoute, target: str, why: str) -> None:
        key = (msg.alert_id, target)
        if key in self.parked:
            return          # the webhook sent it again (unanswered for a while): it already waits here
        if self.peer(target) is not None:
            self._deliver(msg, target, why)
        elif not self._configured(target):
            self._skip(msg, f"plugin {target} is not configured (disabled, or not in the supervision tree)",
                       target)
        elif len(self.parked) >= self.wait_max:
            self._skip(msg, f"plugin {target} is not running and {self.wait_max} alerts already wait for "
                            "restarting plugins (routing.wait_max)", target)
        else:
            self.parked[key] = (time.monotonic(), msg, why)
            self.counts["waited"] += 1
            self.log.info("%s: %s waits for %s (not in the directory)", self.path, msg.alert_id, target)

    def _recheck_unanswered(self) -> None:
        for key, (sent, msg, why, addr) in list(self.unanswered.items()):
            now_addr = self.peer(key[1])
            if now_addr == addr:
                continue
            del self.unanswered[key]
            self.counts["resent"] = self.counts.get("resent", 0) + 1
            if now_addr is not None:
                self._deliver(msg, key[1], f"{why}; sent again: {key[1]} restarted before answering", True)
            else:
                self.parked[key] = (time.monotonic(), msg, why)     # bounded by the unanswered bound

    def _deliver_parked(self) -> None:
        for key, (since, msg, why) in list(self.parked.items()):
            if self.peer(key[1]) is not None:
                del self.parked[key]
                self._deliver(msg, key[1], f"{why}; waited {time.monotonic() - since:.1f} s for the plugin", True)

    def _deliver(self, msg: m.AlertRoute, target: str, why: str, just_back: bool = False) -> None:
        # "routed" goes out first; the plugin's "decided" can still overtake it (other sender), which the journal
        # accepts: it only ever moves an alert forward
        self.tell_peer(WEBHOOK, m.AlertOutcome(alert_id=msg.alert_id, status="routed", source=self.where,
                                               reason=why, detail={"target": target}, at=time.time()))
        addr = self.peer(target)
        self.tell(addr, msg)
        self.counts["routed"] += 1
        self.unanswered[(msg.alert_id, target)] = (time.monotonic(), msg, why, addr)
        self.unanswered.move_to_end((msg.alert_id, target))
        if just_back:
            self.forward.add((msg.alert_id, target))
        while len(self.unanswered) > UNANSWERED_MAX:
            self.forward.discard(self.unanswered.popitem(last=False)[0])

    def _skip(self, msg: m.AlertRoute, reason: str, target: str) -> None:
        self.counts["skipped"] += 1
        self.tell_peer(WEBHOOK, m.AlertOutcome(alert_id=msg.alert_id, status="skipped", source=self.where,
                                               reason=reason, detail={"target": target}, at=time.time()))
        self.notify("alert_skipped", "HIGH",
                    f"Alert {msg.alert_id} ({msg.alert.get('signal_type')} {msg.alert.get('symbol')}) skipped: "
                    f"{reason}", alert_id=msg.alert_id)

    @handles(m.AlertOutcome)
    def _on_outcome(self, msg: m.AlertOutcome, sender) -> None:
        # plugins answer whoever handed them the alert as well as the journal; the journal's copy is the record
        self.counts["answered"] = self.counts.get("answered", 0) + 1
        source = msg.source[len("zepix-root/"):] if msg.source.startswith("zepix-root/") else msg.source
        self.unanswered.pop((msg.alert_id, source), None)
        if (msg.alert_id, source) in self.forward:
            self.forward.discard((msg.alert_id, source))
            self.tell_peer(WEBHOOK, msg)    # the journal keeps a repeat in its log only

    def status_data(self) -> dict:
        return {**getattr(self, "counts", {}), "parked": len(getattr(self, "parked", {})),
                "unanswered": len(getattr(self, "unanswered", {}))}
