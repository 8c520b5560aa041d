"""The alert journal on a real SQLite file: intake, dedupe, forward-only transitions, reading, retention."""
from __future__ import annotations

import sqlite3

import pytest

from gateways.storage.journal import Journal

ALERT = {"format": "v3", "symbol": "XAUUSD", "repairs": ["symbol: {{ticker}} -> XAUUSD"]}


def accept(j: Journal, alert_id: str, at: float, dedupe="h:1", content="c:1", window=300.0, alert=ALERT):
    return j.accept(alert_id=alert_id, received_at=at, client="1.2.3.4", hints={"symbol": "XAUUSD"},
                    raw_body=b'{"type":"entry_v3"}', alert=alert, dedupe_key=dedupe, content_key=content,
                    window_s=window)


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "journal.db")
    yield j
    j.close()


def test_accepted_alert_is_on_disk_with_everything_it_came_with(journal, tmp_path):
    assert accept(journal, "a1", 1000.0).status == "accepted"
    other = sqlite3.connect(tmp_path / "journal.db")   # a second connection sees the commit
    row = other.execute("SELECT status, client, format, raw_body, dedupe_key FROM alerts").fetchone()
    assert row == ("accepted", "1.2.3.4", "v3", b'{"type":"entry_v3"}', "h:1")
    entry = journal.get("a1")
    assert entry["alert"] == ALERT and entry["repairs"] == ALERT["repairs"] and entry["hints"] == {"symbol": "XAUUSD"}
    assert [t["status"] for t in entry["transitions"]] == ["accepted"]
    assert journal.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_repeat_within_the_window_is_a_duplicate_and_after_it_is_new(journal):
    accept(journal, "a1", 1000.0, dedupe="h:m1")
    dup = accept(journal, "a2", 1100.0, dedupe="h:m2")       # other minute, same content, inside 300 s
    assert (dup.status, dup.duplicate_of) == ("duplicate", "a1")
    assert accept(journal, "a3", 1000.0 + 301, dedupe="h:m3").status == "accepted"
    assert journal.get("a2")["reason"] == "repeats a1"


def test_explicit_id_is_a_duplicate_at_any_time(journal):
    accept(journal, "a1", 1000.0, dedupe="id:x", content=None)
    dup = accept(journal, "a2", 1000.0 + 86400, dedupe="id:x", content=None)
    assert (dup.status, dup.duplicate_of) == ("duplicate", "a1")


def test_status_only_moves_forward_and_terminal_states_stay(journal):
    accept(journal, "a1", 1000.0)
    assert journal.transition("a1", "decided", source="trading/combined_v3", at=1000.2) is True
    assert journal.transition("a1", "routed", source="ingress/router", at=1000.1) is False   # late report
    assert journal.transition("a1", "executed", source="broker/gateway", reason="ticket 7", at=1000.3) is True
    assert journal.transition("a1", "rejected", source="trading/risk", at=1000.4) is False
    entry = journal.get("a1")
    assert (entry["status"], entry["reason"]) == ("executed", "ticket 7")
    assert [(t["status"], t["applied"]) for t in entry["transitions"]] == [
        ("accepted", True), ("decided", True), ("routed", False), ("executed", True), ("rejected", False)]
    assert entry["latency"] == {"accepted": 0.0, "routed": pytest.approx(0.1), "decided": pytest.approx(0.2),
                                "executed": pytest.approx(0.3), "rejected": pytest.approx(0.4)}
    assert journal.transition("nope", "routed", at=1.0) is None
    with pytest.raises(ValueError):
        journal.transition("a1", "flying", at=1.0)


def test_rejected_body_is_kept_with_its_reason(journal):
    journal.reject(alert_id="r1", received_at=5.0, client="9.9.9.9", hints={}, raw_body=b"hello",
                   error={"code": "plain_text", "field": "body", "message": "body: is plain text"})
    entry = journal.recent(status="rejected")[0]
    assert entry["raw_body"] == "hello" and entry["error"]["field"] == "body"
    assert entry["reason"] == "body: is plain text"


def test_recent_pending_counts_and_retention(journal):
    for i in range(5):
        accept(journal, f"a{i}", 1000.0 + i, dedupe=f"h:{i}", content=f"c:{i}")
    journal.transition("a0", "skipped", reason="plugin trading/x is not running", at=1001.0)
    journal.transition("a1", "routed", at=1001.0)
    assert [e["alert_id"] for e in journal.recent(limit=2)] == ["a4", "a3"]
    assert [e["alert_id"] for e in journal.pending()] == ["a1", "a2", "a3", "a4"]
    assert journal.counts() == {"accepted": 3, "routed": 1, "skipped": 1}
    assert journal.purge(before=2000.0) == 1          # only the terminal one
    assert journal.get("a0") is None and journal.get("a1") is not None


def test_reopening_keeps_everything(tmp_path):
    j = Journal(tmp_path / "j.db")
    accept(j, "a1", 1.0)
    j.close()
    j = Journal(tmp_path / "j.db")
    assert j.get("a1")["status"] == "accepted"
    ro = Journal(tmp_path / "j.db", readonly=True)
    assert ro.recent()[0]["alert_id"] == "a1"
    ro.close()
    j.close()


def _rows(tmp_path) -> list:
    other = sqlite3.connect(tmp_path / "journal.db")
    try:
        return other.execute("SELECT alert_id, status FROM alerts ORDER BY alert_id").fetchall()
    finally:
        other.close()


def test_a_group_is_one_commit_seen_by_others_only_at_its_end(journal, tmp_path):
    with journal.group():
        assert accept(journal, "a1", 1000.0, dedupe="h:1", content=None).status == "accepted"
        # dedupe inside the group sees the group's own uncommitted rows
        assert accept(journal, "a2", 1001.0, dedupe="h:1", content=None).status == "duplicate"
        assert journal.transition("a1", "routed", at=1002.0) is True
        assert _rows(tmp_path) == []                     # nothing committed yet
    assert _rows(tmp_path) == [("a1", "routed"), ("a2", "duplicate")]


def test_a_failed_write_in_a_group_undoes_only_itself(journal, tmp_path):
    with journal.group():
        accept(journal, "a1", 1000.0, dedupe="h:1")
        with pytest.raises(sqlite3.IntegrityError):
            accept(journal, "a1", 1000.5, dedupe="h:2")     # the same alert id twice
        accept(journal, "a3", 1001.0, dedupe="h:3", content="c:3")
    assert _rows(tmp_path) == [("a1", "accepted"), ("a3", "accepted")]
    assert [t["status"] for t in journal.get("a1")["transitions"]] == ["accepted"]


def test_an_error_escaping_a_group_keeps_nothing_of_it(journal, tmp_path):
    accept(journal, "a0", 999.0, dedupe="h:0", content="c:0")
    with pytest.raises(RuntimeError):
        with journal.group():
            accept(journal, "a1", 1000.0, dedupe="h:1")
            raise RuntimeError("crash in the middle of a pass")
    assert _rows(tmp_path) == [("a0", "accepted")]
    accept(journal, "a2", 1001.0, dedupe="h:2", content="c:2")     # the journal works on after it
    assert _rows(tmp_path) == [("a0", "accepted"), ("a2", "accepted")]
