"""``ops/dbsync``: the central database ``zepix_bot.db`` and its only writer.

At start it applies the central migrations (a database newer than the code stops it with a clear reason) and
seeds the plugin registry. Every ``[ops.dbsync] interval`` seconds, and on ``Command("sync")``, it copies each
plugin database's ``trades`` into ``aggregated_trades`` (gateways.storage.sync: incremental, idempotent). A
failed run is retried after ``retry_delays`` (5, 10, 20 s); ``critical_after`` failures in a row raise one
CRITICAL alert, and the first good run after that says so. Supervision events that ``ops/health`` passes on are
recorded in ``system_events``. Online backups of every database run every ``[ops.backup] interval`` and on
``Command("backup")``. Its figures (``status_data``) are part of the health report.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from actors import messages as m
from actors.base import ZepixActor, handles
from gateways.storage import backup, central_db, sync
from gateways.storage.migrations import migrate
from gateways.storage.sqlite import open_db

SEVERITY = {"exited": "WARNING", "hung": "ERROR", "escalated": "CRITICAL", "gave_up": "CRITICAL",
            "fallback_on": "WARNING"}


class DbSync(ZepixActor):

    def setup(self) -> None:
        self.data_dir = Path(self.config["system"]["data_dir"])
        self._apply_settings(self.config)
        self.db = open_db(central_db.path(self.data_dir))
        migrate(self.db, central_db.MIGRATIONS, central_db.FILE)
        sync.seed_registry(self.db, self.data_dir, time.time())
        self.failures = 0              # runs in a row that failed
        self.alerted = False
        self.last: dict = {}
        self.runs = 0
        self.retry_pending = False
        self.backup_state: dict = {"last_set": None, "sets": 0, "errors": {}, "last_at": None}
        self.after(min(1.0, self.sync_cfg["interval"]), ("sync", "timer"))
        if self.backup_cfg["enabled"]:
            self.after(self.backup_cfg["interval"], "backup")

    def _apply_settings(self, config: dict) -> None:
        s, b = dict(config["ops"]["dbsync"]), dict(config["ops"]["backup"])
        s["retry_delays"] = [float(x) for x in s["retry_delays"]]
        if s["interval"] <= 0 or any(x <= 0 for x in s["retry_delays"]) or s["batch"] < 1 or s["critical_after"] < 1:
            raise ValueError("ops.dbsync: interval and retry_delays must be > 0, batch and critical_after >= 1")
        if b["interval"] <= 0 or b["retention"] < 1:
            raise ValueError("ops.backup: interval must be > 0 and retention >= 1")
        self.sync_cfg, self.backup_cfg = s, b

    def config_sections(self) -> tuple:
        return ("ops",)

    def reconfigure(self, config: dict, changed: tuple) -> None:
        was_enabled = self.backup_cfg["enabled"]
        self._apply_settings(config)
        if self.backup_cfg["enabled"] and not was_enabled:
            self.after(self.backup_cfg["interval"], "backup")

    def teardown(self) -> None:
        self.db.close()

    # -- syncing -----------------------------------------------------------------------------------------------
    def on_timer(self, key) -> None:
        if key == ("sync", "timer"):
            if not self.retry_pending:
                self._run("timer")
            self.after(self.sync_cfg["interval"], ("sync", "timer"))
        elif key == ("sync", "retry"):
            self.retry_pending = False
            self._run("retry")
        elif key == ("sync", "more"):
            self._run("more")
        elif key == "backup":
            if self.backup_cfg["enabled"]:
                self._backup()
                self.after(self.backup_cfg["interval"], "backup")

    def _run(self, why: str) -> sync.SyncRun:
        s = self.sync_cfg
        run = sync.sync_all(self.db, self.data_dir, batch=s["batch"], lookback=s["lookback"],
                            read_timeout=s["read_timeout"])
        self.runs += 1
        self.last = {**run.summary(), "why": why}
        if run.ok:
            if self.failures >= s["critical_after"]:
                self.notify("dbsync_recovered", "HIGH", f"database sync works again after {self.failures} failures")
            self.failures = 0
            self.alerted = False
            if run.more:
                self.after(0.0, ("sync", "more"))
        else:
            self.failures += 1
            errors = "; ".join(f"{k}: {v}" for k, v in run.errors().items())
            self.log.warning("%s: sync failed (%d in a row): %s", self.path, self.failures, errors)
            self._event("sync_failed", None, f"sync failed ({self.failures} in a row): {errors}", "ERROR",
                        run.errors())
            if self.failures >= s["critical_after"] and not self.alerted:
                self.alerted = True
                self.notify("dbsync_failed", "CRITICAL",
                            f"database sync failed {self.failures} times in a row: {errors}", errors=run.errors())
            delays = s["retry_delays"]
            if self.failures <= len(delays) and not self.retry_pending:
                self.retry_pending = True
                self.after(delays[self.failures - 1], ("sync", "retry"))
        return run

    def _status(self) -> dict:
        rows = self.db.execute("SELECT COUNT(*) FROM aggregated_trades").fetchone()[0]
        plugins = {r["plugin_id"]: {"watermark": [r["wm_updated_at"], r["wm_id"]], "rows_copied": r["rows_copied"],
                                    "last_sync": r["last_sync"], "last_error": r["last_error"]}
                   for r in self.db.execute("SELECT * FROM sync_state")}
        return {"ok": self.failures == 0, "failures_in_row": self.failures, "runs": self.runs, "rows": rows,
                "last": self.last, "plugins": plugins, "retry_pending": self.retry_pending}

    # -- system events -----------------------------------------------------------------------------------------
    @handles(m.SupervisionEvent)
    def _on_supervision(self, ev: m.SupervisionEvent, sender) -> None:
        sup = ev.supervisor.removeprefix("zepix-root").strip("/")
        path = f"{sup}/{ev.child}" if sup else ev.child
        self._event(ev.kind, path, f"{path} {ev.kind}" + (f": {ev.reason}" if ev.reason else ""),
                    SEVERITY.get(ev.kind, "INFO"), ev.details, at=ev.at or None)

    def _event(self, kind: str, who: str | None, text: str, severity: str, details: dict | None = None,
               at: float | None = None) -> None:
        with self.db:
            self.db.execute("INSERT INTO system_events (event_time, event_type, plugin_id, description, severity, "
                            "details) VALUES (?, ?, ?, ?, ?, ?)",
                            (at or time.time(), kind, who, text, severity, json.dumps(details or {}, default=str)))

    # -- backups -----------------------------------------------------------------------------------------------
    def _backup(self) -> dict:
        dest = Path(self.backup_cfg["dir"]) if self.backup_cfg["dir"] else self.data_dir / "backups"
        t0 = time.perf_counter()
        result = backup.backup_all(self.data_dir, dest, self.backup_cfg["retention"])
        result["seconds"] = round(time.perf_counter() - t0, 3)
        sets = [p for p in dest.iterdir() if p.is_dir()] if dest.is_dir() else []
        self.backup_state = {"last_set": Path(result["set"]).name, "sets": len(sets), "errors": result["errors"],
                             "last_at": time.time(), "copied": len(result["copied"]), "seconds": result["seconds"]}
        if result["errors"]:
            self.notify("backup_failed", "HIGH", f"backup {result['set']}: {result['errors']}")
        self._event("backup", None, f"backup {Path(result['set']).name}: {len(result['copied'])} databases",
                    "ERROR" if result["errors"] else "INFO", result)
        return result

    # -- commands ----------------------------------------------------------------------------------------------
    def on_command(self, msg: m.Command, sender):
        if msg.name == "sync":
            run = self._run(f"command {msg.user}".strip())
            s = run.summary()
            text = (f"sync {'done' if run.ok else 'FAILED'}: {s['read']} rows read, {s['written']} written "
                    f"in {s['seconds'] * 1000:.0f} ms" + (f"; errors: {s['errors']}" if s["errors"] else ""))
            return m.CommandReply(corr=msg.corr, ok=run.ok, text=text, data={**s, "status": self._status()})
        if msg.name == "status":
            st = self._status()
            return m.CommandReply(corr=msg.corr, ok=st["ok"], text=json.dumps(st, default=str), data=st)
        if msg.name == "backup":
            result = self._backup()
            return m.CommandReply(corr=msg.corr, ok=not result["errors"],
                                  text=f"backup {result['set']}: {len(result['copied'])} databases"
                                       + (f", errors {result['errors']}" if result["errors"] else ""), data=result)
        if msg.name == "events":
            limit = int(msg.args.get("limit", 50))
            rows = [dict(r) for r in self.db.execute("SELECT * FROM system_events ORDER BY id DESC LIMIT ?", (limit,))]
            return m.CommandReply(corr=msg.corr, ok=True, text=f"{len(rows)} events", data={"events": rows})
        return super().on_command(msg, sender)

    def status_data(self) -> dict:
        return {"sync": self._status(), "backup": self.backup_state}
