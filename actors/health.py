"""``ops/health``: the health monitor. Watches every actor process and says when one is sick.

Every ``sample_interval`` it asks the root supervisor for the tree (each node's pid, state, restarts, heartbeat
age), reads psutil figures for each local pid (CPU, RSS/PSS, open files, threads), and times a
``StatusRequest`` round trip to every actor in the directory (message latency). Supervision events come from
the root (``Subscribe``): exits, hangs and restarts are counted per actor and passed to ``ops/dbsync``, which
records them in the central database. A figure over its threshold (``[ops.health]``) raises an alert through
the notifier, at most one per kind every ``alert_throttle`` seconds.

``Command("health")`` answers with the last report (the data behind ``/health`` and ``zepix-admin health``);
``{"fresh": true}`` takes a new sample first.
"""
from __future__ import annotations

import os
import time
import uuid
from collections import deque

import psutil

from actors import messages as m
from actors.base import ZepixActor, handles

ROOT_KEY = "zepix-root"     # the root supervisor's own directory entry
DBSYNC = "ops/dbsync"
SECTION = "ops"


class HealthMonitor(ZepixActor):

    def setup(self) -> None:
        self.settings = self._settings(self.config)
        self.procs: dict[int, psutil.Process] = {}
        self.events: deque = deque(maxlen=self.settings["events_kept"])
        self.restarts: dict[str, deque] = {}          # actor path -> times of restarts (last hour)
        self.exits: dict[str, int] = {}
        self.alerts: deque = deque(maxlen=50)
        self.last_alert: dict[str, float] = {}        # kind -> time of the last alert sent
        self.suppressed: dict[str, int] = {}
        self.report: dict = {}
        self.sampling: dict | None = None             # the sample being gathered
        self.waiting: list[tuple[str, object]] = []   # (corr, sender) of health commands waiting for a sample
        self.subscribed_to = None
        self.samples = 0
        self.sample_seconds = 0.0
        self._subscribe_root()
        self.after(min(1.0, self.settings["sample_interval"]), "sample")

    @staticmethod
    def _settings(config: dict) -> dict:
        s = dict(config["ops"]["health"])
        for key in ("sample_interval", "latency_timeout", "alert_throttle"):
            if s[key] <= 0:
                raise ValueError(f"ops.health.{key} must be > 0, got {s[key]!r}")
        return s

    def config_sections(self) -> tuple:
        return (SECTION,)

    def reconfigure(self, config: dict, changed: tuple) -> None:
        self.settings = self._settings(config)

    # -- the root --------------------------------------------------------------------------------------------------
    def _subscribe_root(self) -> None:
        root = self.peer(ROOT_KEY)
        if root is not None and root != self.subscribed_to:
            self.tell(root, m.Subscribe())
            self.subscribed_to = root

    def on_directory(self, previous: dict) -> None:
        self._subscribe_root()

    def teardown(self) -> None:
        if self.subscribed_to is not None:
            self.tell(self.subscribed_to, m.Subscribe(subscribe=False))

    @handles(m.SupervisionEvent)
    def _on_event(self, ev: m.SupervisionEvent, sender) -> None:
        sup = ev.supervisor.removeprefix(ROOT_KEY).strip("/")
        path = f"{sup}/{ev.child}" if sup else ev.child
        self.events.append({"kind": ev.kind, "path": path, "reason": ev.reason, "at": ev.at})
        now = time.time()
        if ev.kind == "restarted":
            times = self.restarts.setdefault(path, deque())
            times.append(now)
            while times and now - times[0] > 3600:
                times.popleft()
            if len(times) > self.settings["max_restarts_per_hour"]:
                self._alert("health_restarts", "HIGH",
                            f"{path} restarted {len(times)} times within the last hour", path=path)
        elif ev.kind == "exited":
            self.exits[path] = self.exits.get(path, 0) + 1
        elif ev.kind in ("hung", "escalated", "gave_up"):
            self._alert(f"health_{ev.kind}", "CRITICAL" if ev.kind != "hung" else "HIGH",
                        f"{path} {ev.kind}: {ev.reason}", path=path)
        self.tell_peer(DBSYNC, ev)

    # -- sampling ----------------------------------------------------------------------------------------------------
    def on_timer(self, key) -> None:
        if key == "sample":
            self._start_sample()
            self.after(self.settings["sample_interval"], "sample")
        elif isinstance(key, tuple) and key[0] == "sample_due":
            if self.sampling is not None and self.sampling["corr"] == key[1]:
                self._finish_sample()

    def _start_sample(self) -> None:
        if self.sampling is not None:
            return
        root = self.peer(ROOT_KEY)
        corr = uuid.uuid4().hex
        self.sampling = {"corr": corr, "t0": time.perf_counter(), "tree": None, "latency": {}, "asked": {},
                         "status": {}}
        if root is not None:
            self.tell(root, m.TreeRequest(corr=corr))
        now = time.perf_counter()
        for path, addr in self.directory.items():
            if path == ROOT_KEY:
                continue
            sub = f"{corr}:{path}"
            self.sampling["asked"][sub] = (path, now)
            self.tell(addr, m.StatusRequest(corr=sub))
        self.after(self.settings["latency_timeout"], ("sample_due", corr))

    @handles(m.TreeReply)
    def _on_tree(self, msg: m.TreeReply, sender) -> None:
        s = self.sampling
        if s is not None and msg.corr == s["corr"]:
            s["tree"] = msg.node
            self._maybe_finish()

    @handles(m.StatusReply)
    def _on_status(self, msg: m.StatusReply, sender) -> None:
        s = self.sampling
        if s is None or msg.corr not in s["asked"]:
            return
        path, t0 = s["asked"].pop(msg.corr)
        s["latency"][path] = (time.perf_counter() - t0) * 1000.0
        s["status"][path] = msg.data
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        s = self.sampling
        if s is not None and s["tree"] is not None and not s["asked"]:
            self._finish_sample()

    def _finish_sample(self) -> None:
        s, self.sampling = self.sampling, None
        self.report = self._build_report(s)
        self.samples += 1
        self.sample_seconds = time.perf_counter() - s["t0"]
        self._check(self.report)
        waiting, self.waiting = self.waiting, []
        for corr, sender in waiting:
            self.tell(sender, self._reply(corr))

    def _proc(self, pid: int) -> psutil.Process | None:
        p = self.procs.get(pid)
        if p is not None and p.is_running():
            return p
        try:
            p = psutil.Process(pid)
            p.cpu_percent(None)     # the first call only starts the measurement
        except psutil.Error:
            return None
        self.procs[pid] = p
        return p

    def _figures(self, pid: int) -> dict:
        p = self._proc(pid)
        if p is None:
            return {"alive": False}
        try:
            with p.oneshot():
                mem = p.memory_info()
                out = {"alive": True, "cpu_percent": round(p.cpu_percent(None), 1),
                       "rss_mb": round(mem.rss / 2**20, 2), "threads": p.num_threads()}
                try:
                    out["open_files"] = p.num_fds() if hasattr(p, "num_fds") else len(p.open_files())
                except psutil.Error:
                    out["open_files"] = None
            try:
                out["pss_mb"] = round(p.memory_full_info().pss / 2**20, 2)
            except (psutil.Error, AttributeError):
                out["pss_mb"] = None
            return out
        except psutil.Error:
            return {"alive": False}

    def _build_report(self, s: dict) -> dict:
        actors = []
        seen_pids = set()
        tree = s["tree"]
        nodes = list(_walk(tree)) if tree else []
        for node in nodes:
            path = node["path"].removeprefix(ROOT_KEY).strip("/") or ROOT_KEY
            entry = {"path": path, "kind": node.get("kind"), "pid": node.get("pid"), "state": node.get("state"),
                     "restarts": node.get("restarts", 0), "heartbeat_age_s": node.get("heartbeat_age_s"),
                     "errors": node.get("errors", 0), "implementation": node.get("implementation"),
                     "exits": self.exits.get(path, 0),
                     "restarts_last_hour": len(self.restarts.get(path, ())),
                     "latency_ms": round(s["latency"][path], 2) if path in s["latency"] else None}
            if node.get("pid"):
                seen_pids.add(node["pid"])
                entry.update(self._figures(node["pid"]))
            actors.append(entry)
        for pid in [p for p in self.procs if p not in seen_pids]:
            del self.procs[pid]
        no_answer = [p for p, _ in s["asked"].values()]
        dbsync = s["status"].get(DBSYNC, {}).get("sync")
        bad = [a["path"] for a in actors if a["state"] != "running"]
        return {"at": time.time(), "ok": not bad and not no_answer, "actors": actors, "not_running": bad,
                "no_answer": no_answer, "dbsync": dbsync, "backup": s["status"].get(DBSYNC, {}).get("backup"),
                "events": list(self.events)[-20:], "alerts": list(self.alerts)[-20:],
                "monitor": {"pid": os.getpid(), "samples": self.samples + 1,
                            "sample_ms": round((time.perf_counter() - s["t0"]) * 1000, 2)}}

    def _check(self, report: dict) -> None:
        st = self.settings
        limits = (("rss_mb", "max_rss_mb", "memory", "MB"), ("cpu_percent", "max_cpu_percent", "cpu", "%"),
                  ("open_files", "max_open_files", "open_files", ""), ("threads", "max_threads", "threads", ""),
                  ("heartbeat_age_s", "max_heartbeat_age", "heartbeat", "s"),
                  ("latency_ms", "max_latency_ms", "latency", "ms"))
        for field, limit_key, kind, unit in limits:
            over = [(a["path"], a[field]) for a in report["actors"]
                    if a.get(field) is not None and a[field] > st[limit_key]]
            if over:
                text = ", ".join(f"{p} {v:g}{unit}" for p, v in over)
                self._alert(f"health_{kind}", "HIGH", f"over {st[limit_key]:g}{unit}: {text}",
                            actors=[p for p, _ in over])
        if report["no_answer"]:
            self._alert("health_no_answer", "HIGH",
                        f"no answer within {st['latency_timeout']:g}s from: {', '.join(report['no_answer'])}",
                        actors=report["no_answer"])

    def _alert(self, kind: str, priority: str, text: str, **data) -> None:
        now = time.time()
        self.alerts.append({"kind": kind, "priority": priority, "text": text, "at": now,
                            "sent": now - self.last_alert.get(kind, -1e12) >= self.settings["alert_throttle"]})
        if not self.alerts[-1]["sent"]:
            self.suppressed[kind] = self.suppressed.get(kind, 0) + 1
            return
        self.last_alert[kind] = now
        extra = self.suppressed.pop(kind, 0)
        self.notify(kind, priority, text + (f" (+{extra} similar alerts suppressed)" if extra else ""), **data)

    # -- answers -----------------------------------------------------------------------------------------------------
    def on_command(self, msg: m.Command, sender):
        if msg.name != "health":
            return super().on_command(msg, sender)
        if msg.args.get("fresh") or not self.report:
            self.waiting.append((msg.corr, sender))
            self._start_sample()
            return None
        return self._reply(msg.corr)

    def _reply(self, corr: str) -> m.CommandReply:
        r = self.report
        return m.CommandReply(corr=corr, ok=bool(r.get("ok")), text=render(r), data=r)

    def status_data(self) -> dict:
        return {"samples": self.samples, "last_sample_ms": round(self.sample_seconds * 1000, 2),
                "alerts": len(self.alerts)}


def _walk(node: dict):
    yield node
    for c in node.get("children", []):
        yield from _walk(c)


def render(report: dict) -> str:
    """The report as text (``zepix-admin health``, Telegram ``/health``)."""
    if not report:
        return "no health sample yet"
    lines = [f"Health: {'OK' if report['ok'] else 'PROBLEMS'} "
             f"({len(report['actors'])} actors, sampled {time.strftime('%H:%M:%S', time.localtime(report['at']))})",
             f"{'ACTOR':<28} {'STATE':<10} {'PID':>7} {'CPU%':>6} {'RSS MB':>7} {'PSS MB':>7} {'FDS':>4} {'THR':>4} "
             f"{'HB s':>5} {'LAT ms':>7} {'RST':>4} {'ERR':>4}"]

    def f(v, fmt):
        return "-" if v is None else format(v, fmt)

    for a in report["actors"]:
        lines.append(f"{a['path'][:28]:<28} {str(a['state'])[:10]:<10} {f(a.get('pid'), 'd'):>7} "
                     f"{f(a.get('cpu_percent'), '.1f'):>6} {f(a.get('rss_mb'), '.1f'):>7} {f(a.get('pss_mb'), '.1f'):>7} "
                     f"{f(a.get('open_files'), 'd'):>4} {f(a.get('threads'), 'd'):>4} "
                     f"{f(a.get('heartbeat_age_s'), '.1f'):>5} {f(a.get('latency_ms'), '.1f'):>7} "
                     f"{a.get('restarts', 0):>4} {a.get('errors', 0):>4}")
    sync = report.get("dbsync")
    if sync:
        last = sync.get("last") or {}
        lines.append(f"DB sync: {'OK' if sync.get('ok') else 'FAILING'}; last run "
                     f"{time.strftime('%H:%M:%S', time.localtime(last['started'])) if last.get('started') else '-'}"
                     f", {sync.get('failures_in_row', 0)} failures in a row, {sync.get('rows', 0)} trades in "
                     f"zepix_bot.db" + (f"; errors: {last.get('errors')}" if last.get("errors") else ""))
    if report.get("backup"):
        b = report["backup"]
        lines.append(f"Backup: last {b.get('last_set') or '-'}, {b.get('sets', 0)} sets kept"
                     + (f"; errors: {b['errors']}" if b.get("errors") else ""))
    for a in report.get("alerts", [])[-5:]:
        lines.append(f"! {a['priority']} {a['kind']}: {a['text']}")
    return "\n".join(lines)
