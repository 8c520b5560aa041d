"""The alert journal: every webhook body that passed authentication, what became of it, and when.

One SQLite file (WAL) written only by the webhook actor. An alert row holds the raw body, the normalised alert
(JSON of ``ParsedAlert.to_dict()``), its format, repairs, dedupe keys, the client address and the time it
arrived; its ``status`` moves forward only:

    accepted -> routed -> decided -> executed | rejected | skipped        (terminal: executed, rejected, skipped)
    rejected (at the door: the body is not an alert)                      duplicate (a repeat, never acted on)

Each transition is also kept in ``transitions`` (status, who reported it, reason, time), so per-stage latency
and late or repeated reports stay visible. Times are unix seconds passed in by the caller (no clock here).
"""
from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from gateways.storage.migrations import Migration, migrate
from gateways.storage.sqlite import open_db

NAME = "alert journal"

STATUSES = ("accepted", "routed", "decided", "executed", "rejected", "skipped", "duplicate")
TERMINAL = frozenset({"executed", "rejected", "skipped", "duplicate"})
PENDING = ("accepted", "routed", "decided")
# how far along an alert is; a report never moves it back (a late "routed" after "decided" is only logged)
_RANK = {"accepted": 0, "routed": 1, "decided": 2, "executed": 3, "rejected": 3, "skipped": 3, "duplicate": 3}

MIGRATIONS = [
    Migration(1, "alerts", """
CREATE TABLE alerts (
    alert_id     TEXT PRIMARY KEY,
    received_at  REAL NOT NULL,
    client       TEXT NOT NULL DEFAULT '',
    hints        TEXT NOT NULL DEFAULT '{}',
    raw_body     BLOB NOT NULL,
    format       TEXT,
    alert        TEXT,
    repairs      TEXT NOT NULL DEFAULT '[]',
    dedupe_key   TEXT,
    content_key  TEXT,
    duplicate_of TEXT,
    status       TEXT NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    error        TEXT,
    updated_at   REAL NOT NULL
);
CREATE INDEX alerts_dedupe ON alerts(dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX alerts_content ON alerts(content_key, received_at) WHERE content_key IS NOT NULL;
CREATE INDEX alerts_status ON alerts(status, received_at);
CREATE INDEX alerts_received ON alerts(received_at);
CREATE TABLE transitions (
    id        INTEGER PRIMARY KEY,
    alert_id  TEXT NOT NULL REFERENCES alerts(alert_id) ON DELETE CASCADE,
    status    TEXT NOT NULL,
    source    TEXT NOT NULL DEFAULT '',
    reason    TEXT NOT NULL DEFAULT '',
    detail    TEXT NOT NULL DEFAULT '{}',
    at        REAL NOT NULL,
    applied   INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX transitions_alert ON transitions(alert_id, id);
"""),
]


@dataclass(frozen=True)
class Intake:
    """What the journal made of an incoming alert: ``status`` "accepted" or "duplicate" (then ``duplicate_of``
    is the alert it repeats)."""
    alert_id: str
    status: str
    duplicate_of: str | None = None


class Journal:
    """The journal file; one instance per writer (the webhook actor), ``readonly=True`` for readers."""

    def __init__(self, path: str | Path, readonly: bool = False):
        self.path = Path(path)
        self.conn: sqlite3.Connection = open_db(self.path, readonly=readonly)
        self._grouped = False
        if not readonly:
            migrate(self.conn, MIGRATIONS, NAME)

    @contextlib.contextmanager
    def group(self):
        """One commit for every write inside (group commit): the webhook writes all the alerts of one socket
        readiness pass, then commits once, then answers them. A failed write inside rolls back only itself; a
        failed commit raises and keeps nothing of the group. Nested groups join the outer one."""
        if self._grouped:
            yield
            return
        self._grouped = True
        try:
            self.conn.execute("BEGIN")
            try:
                yield
            except BaseException:
                self.conn.rollback()
                raise
            self.conn.commit()
        finally:
            self._grouped = False

    @contextlib.contextmanager
    def _tx(self):
        if not self._grouped:
            with self.conn:
                yield
            return
        self.conn.execute("SAVEPOINT op")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO op")
            self.conn.execute("RELEASE op")
            raise
        self.conn.execute("RELEASE op")

    def close(self) -> None:
        self.conn.close()

    # -- writing -----------------------------------------------------------------------------------------------
    def accept(self, *, alert_id: str, received_at: float, client: str, hints: dict, raw_body: bytes,
               alert: dict, dedupe_key: str, content_key: str | None, window_s: float) -> Intake:
        """Record a parsed alert, as ``accepted`` or, when it repeats one already accepted, as ``duplicate``.

        A repeat is a non-duplicate row with the same ``dedupe_key`` (explicit id: at any time; body hash: same
        arrival minute) or, for alerts without an explicit id, the same ``content_key`` received within
        ``window_s`` seconds. Committed before it returns (at the end of the ``group`` it is in).
        """
        with self._tx():
            prior = self.conn.execute(
                "SELECT alert_id FROM alerts WHERE dedupe_key = ? AND status != 'duplicate' "
                "ORDER BY received_at LIMIT 1", (dedupe_key,)).fetchone()
            if prior is None and content_key is not None and window_s > 0:
                prior = self.conn.execute(
                    "SELECT alert_id FROM alerts WHERE content_key = ? AND status != 'duplicate' "
                    "AND received_at >= ? ORDER BY received_at DESC LIMIT 1",
                    (content_key, received_at - window_s)).fetchone()
            status = "duplicate" if prior else "accepted"
            dup = prior["alert_id"] if prior else None
            self.conn.execute(
                "INSERT INTO alerts (alert_id, received_at, client, hints, raw_body, format, alert, repairs, "
                "dedupe_key, content_key, duplicate_of, status, reason, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (alert_id, received_at, client, _json(hints), raw_body, alert.get("format"), _json(alert),
                 _json(list(alert.get("repairs", ()))), dedupe_key, content_key, dup, status,
                 f"repeats {dup}" if dup else "", received_at))
            self._log(alert_id, status, "ingress/webhook", f"repeats {dup}" if dup else "", {}, received_at)
        return Intake(alert_id=alert_id, status=status, duplicate_of=dup)

    def reject(self, *, alert_id: str, received_at: float, client: str, hints: dict, raw_body: bytes,
               error: dict) -> None:
        """Record a body that is not an acceptable alert, with the parser's error (code, field, message)."""
        with self._tx():
            self.conn.execute(
                "INSERT INTO alerts (alert_id, received_at, client, hints, raw_body, format, status, reason, "
                "error, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (alert_id, received_at, client, _json(hints), raw_body, error.get("format"), "rejected",
                 str(error.get("message", "")), _json(error), received_at))
            self._log(alert_id, "rejected", "ingress/webhook", str(error.get("message", "")), error, received_at)

    def transition(self, alert_id: str, status: str, *, source: str = "", reason: str = "",
                   detail: dict | None = None, at: float) -> bool | None:
        """Record a reported status. True: the alert moved on; False: kept in the log only (a late, repeated or
        backward report, or the alert is already terminal); None: no such alert."""
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        with self._tx():
            row = self.conn.execute("SELECT status FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone()
            if row is None:
                return None
            current = row["status"]
            moves = current not in TERMINAL and _RANK[status] > _RANK[current]
            if moves:
                self.conn.execute("UPDATE alerts SET status = ?, reason = ?, updated_at = ? WHERE alert_id = ?",
                                  (status, reason, at, alert_id))
            self._log(alert_id, status, source, reason, detail or {}, at, applied=moves)
        return moves

    def _log(self, alert_id, status, source, reason, detail, at, applied=True) -> None:
        self.conn.execute("INSERT INTO transitions (alert_id, status, source, reason, detail, at, applied) "
                          "VALUES (?,?,?,?,?,?,?)", (alert_id, status, source, reason, _json(detail), at,
                                                     int(applied)))

    def purge(self, before: float) -> int:
        """Delete terminal alerts received before ``before`` (retention); returns how many."""
        with self.conn:
            marks = ",".join("?" * len(TERMINAL))
            cur = self.conn.execute(f"DELETE FROM alerts WHERE received_at < ? AND status IN ({marks})",
                                    (before, *sorted(TERMINAL)))
        return cur.rowcount

    # -- reading -----------------------------------------------------------------------------------------------
    def get(self, alert_id: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone()
        return self._entry(row) if row else None

    def recent(self, limit: int = 20, status: str | None = None) -> list[dict]:
        """The newest alerts first, each with its transitions and per-stage latency (seconds after arrival)."""
        if status:
            rows = self.conn.execute("SELECT * FROM alerts WHERE status = ? ORDER BY received_at DESC, rowid DESC "
                                     "LIMIT ?", (status, limit)).fetchall()
        else:
            rows = self.conn.execute("SELECT * FROM alerts ORDER BY received_at DESC, rowid DESC LIMIT ?",
                                     (limit,)).fetchall()
        return [self._entry(r) for r in rows]

    def pending(self, statuses: tuple = ("accepted", "routed")) -> list[dict]:
        """Alerts still in one of ``statuses``, oldest first (for redelivery after a restart)."""
        marks = ",".join("?" * len(statuses))
        rows = self.conn.execute(f"SELECT * FROM alerts WHERE status IN ({marks}) ORDER BY received_at, rowid",
                                 tuple(statuses)).fetchall()
        return [self._entry(r, transitions=False) for r in rows]

    def counts(self) -> dict:
        return {r["status"]: r["n"] for r in
                self.conn.execute("SELECT status, COUNT(*) AS n FROM alerts GROUP BY status").fetchall()}

    def _entry(self, row: sqlite3.Row, transitions: bool = True) -> dict:
        out = {k: row[k] for k in row.keys()}
        raw = out.pop("raw_body")
        out["raw_body"] = bytes(raw).decode("utf-8", "replace")
        for key, empty in (("hints", {}), ("alert", None), ("repairs", []), ("error", None)):
            out[key] = json.loads(out[key]) if out[key] else empty
        if transitions:
            steps = self.conn.execute("SELECT status, source, reason, detail, at, applied FROM transitions "
                                      "WHERE alert_id = ? ORDER BY id", (row["alert_id"],)).fetchall()
            out["transitions"] = [{**{k: s[k] for k in s.keys() if k != "detail"},
                                   "detail": json.loads(s["detail"]), "applied": bool(s["applied"])}
                                  for s in steps]
            out["latency"] = {}
            # every reported stage counts, applied or not: reports from different actors arrive in any order (a
            # plugin's "decided" can overtake the router's "routed"), and each still says when that stage happened
            for s in out["transitions"]:
                if s["status"] not in out["latency"]:
                    out["latency"][s["status"]] = round(s["at"] - row["received_at"], 6)
        return out


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
