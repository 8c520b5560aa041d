"""The persisted outbox: survives reopening, idempotent by key, WAL, and works with the scheduler's outcomes."""
from __future__ import annotations

import sqlite3

import pytest

from gateways.telegram.outbox import Outbox
from gateways.telegram.sender import Delivered, OutMessage, Priority, SenderSettings, SendOk, SendScheduler


def crit(text: str, key: str | None = None) -> OutMessage:
    return OutMessage(chat_id=-100123, text=text, priority=Priority.CRITICAL, key=key,
                      reply_markup={"inline_keyboard": [[{"text": "Ack", "callback_data": "ack"}]]})


def test_outbox_survives_reopen(tmp_path):
    path = tmp_path / "telegram-outbox.db"
    with Outbox(path) as ob:
        assert ob.journal_mode == "wal"
        a = ob.add(crit("state HALTED"), now=1000.0)
        b = ob.add(crit("MT5 disconnected", key="alert-42"), now=1001.0)
        c = ob.add(OutMessage(chat_id=5, text="voice", method="sendVoice", voice=b"OggS\x00", priority="HIGH"), 1002.0)
        assert a.key == "outbox-1" and b.key == "alert-42" and c.key == "outbox-3"
        assert ob.mark_sent(b.key, now=1003.0, message_ids=[77])
    with Outbox(path) as ob:
        pending = ob.pending()
        assert [e.message for e in pending] == [a, c]
        assert [e.created_at for e in pending] == [1000.0, 1002.0]
        assert pending[1].message.voice == b"OggS\x00"
        assert ob.status("alert-42") == "sent"


def test_add_is_idempotent_by_key_and_finish_happens_once(tmp_path):
    with Outbox(tmp_path / "o.db") as ob:
        assert ob.add(crit("x", key="k1"), 1.0) is not None
        assert ob.add(crit("x again", key="k1"), 2.0) is None
        assert ob.mark_failed("k1", 3.0, "Forbidden: bot was blocked by the user")
        assert not ob.mark_sent("k1", 4.0)  # already finished
        assert ob.add(crit("x third", key="k1"), 5.0) is None
        assert ob.pending() == [] and ob.status("k1") == "failed"


def test_prune_keeps_pending(tmp_path):
    with Outbox(tmp_path / "o.db") as ob:
        old = ob.add(crit("old"), 1.0)
        ob.add(crit("still pending"), 2.0)
        ob.mark_sent(old.key, 10.0)
        assert ob.prune(older_than=100.0) == 1
        assert [e.message.text for e in ob.pending()] == ["still pending"]


def test_schema_version_newer_than_code_is_refused(tmp_path):
    path = tmp_path / "o.db"
    Outbox(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(RuntimeError, match="newer"):
        Outbox(path)


def test_restart_flow_with_scheduler(tmp_path):
    """What the owning actor does: persist CRITICAL, resend what is pending after a restart, mark delivered."""
    path = tmp_path / "o.db"
    settings = SenderSettings()
    ob = Outbox(path)
    m = crit("HALTED: lifetime cap")
    assert settings.persists(m.priority)
    stored = ob.add(m, 10.0)
    ob.close()  # crash before sending

    ob = Outbox(path)
    s = SendScheduler(settings)
    for e in ob.pending():
        s.enqueue(e.message, 0.0)
    send = s.next_due(0.0)
    out = s.on_result(send, SendOk(123), 0.1)
    assert isinstance(out, Delivered) and out.key == stored.key
    assert ob.mark_sent(out.key, 11.0, out.message_ids)
    assert ob.pending() == []
    ob.close()
