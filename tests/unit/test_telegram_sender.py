"""The priority send scheduler with a fake clock: limits, priorities, overflow, RetryAfter, retries, splitting."""
from __future__ import annotations

import heapq
import itertools
import math
import random

import pytest

from config.errors import ConfigError
from gateways.telegram.sender import (
    Delivered,
    Failed,
    OutMessage,
    Priority,
    Send,
    SenderSettings,
    SendError,
    SendOk,
    SendRetryAfter,
    SendScheduler,
    split_text,
    utf16_len,
)

PRIVATE = 111
GROUP = -1001234567890


def msg(chat=PRIVATE, text="hi", prio=Priority.NORMAL, **kw) -> OutMessage:
    return OutMessage(chat_id=chat, text=text, priority=prio, **kw)


def simulate(s: SendScheduler, arrivals, *, latency=0.0, result=lambda send, now: SendOk(1), until=10_000.0):
    """Drive the scheduler like its owner would, on a fake clock.

    arrivals: [(time, OutMessage)]. Requests take `latency` seconds; results come from `result(send, now)`.
    Returns [(dispatch time, Send)] and the outcomes.
    """
    arrivals = sorted(arrivals, key=lambda a: a[0])
    ai = 0
    now = 0.0
    results: list = []  # heap of (time, seq, send)
    seq = itertools.count()
    sent, outcomes = [], []
    while ai < len(arrivals) or results or not s.idle:
        assert now < until, "simulation did not finish"
        while ai < len(arrivals) and arrivals[ai][0] <= now:
            s.enqueue(arrivals[ai][1], now)
            ai += 1
        while results and results[0][0] <= now:
            _, _, send = heapq.heappop(results)
            out = s.on_result(send, result(send, now), now)
            if out is not None:
                outcomes.append((now, out))
        r = s.next_due(now)
        if isinstance(r, Send):
            sent.append((now, r))
            heapq.heappush(results, (now + latency, next(seq), r))
            continue
        nxt = [now + r] if not math.isinf(r) else []
        if ai < len(arrivals):
            nxt.append(arrivals[ai][0])
        if results:
            nxt.append(results[0][0])
        if not nxt:
            assert s.idle, "scheduler is stuck with work queued"
            break
        now = max(now, min(nxt))
    return sent, outcomes


def assert_window(times, n, w, what):
    """No half-open window [t, t + w) holds more than n sends (same arithmetic as the scheduler: t_k+n >= t_k + w)."""
    times = sorted(times)
    for i in range(len(times) - n):
        assert times[i + n] >= times[i] + w, f"{what}: {n + 1} sends within {w}s: {times[i:i + n + 1]}"


# ------------------------------------------------------------------------------------------------ settings

def test_settings_defaults_are_telegram_limits():
    s = SenderSettings.from_mapping({})
    assert (s.chat_max_messages, s.chat_window_seconds) == (1, 1.0)
    assert (s.group_max_messages, s.group_window_seconds) == (20, 60.0)
    assert (s.bot_max_messages, s.bot_window_seconds) == (30, 1.0)
    assert s.max_message_chars == 4096 and s.outbox_priorities == ("CRITICAL",)
    assert s.persists("CRITICAL") and not s.persists(Priority.HIGH)


def test_settings_from_mapping_overrides():
    s = SenderSettings.from_mapping({"bot_max_messages": 20, "retry_after_scope": "chat",
                                     "outbox_priorities": ["critical", "HIGH"], "group_window_seconds": 30})
    assert s.bot_max_messages == 20 and s.retry_after_scope == "chat" and s.group_window_seconds == 30.0
    assert s.persists("HIGH")


@pytest.mark.parametrize("key,value", [
    ("chat_max_messages", 0), ("chat_max_messages", True), ("chat_max_messages", 1.5), ("max_queue", "10"),
    ("bot_window_seconds", 0), ("bot_window_seconds", float("nan")), ("max_message_chars", 5000),
    ("retry_after_scope", "global"), ("outbox_priorities", ["HIGH"]), ("outbox_priorities", "CRITICAL"),
    ("outbox_priorities", ["CRITICAL", "URGENT"]), ("no_such_key", 1),
])
def test_settings_reject_bad_values_naming_the_key(key, value):
    with pytest.raises(ConfigError) as e:
        SenderSettings.from_mapping({key: value})
    assert e.value.key == f"telegram.sender.{key}"
    assert e.value.allowed


def test_settings_cross_field_check_and_custom_path():
    with pytest.raises(ConfigError) as e:
        SenderSettings.from_mapping({"retry_initial_seconds": 10, "retry_max_seconds": 5}, path="bots.x.sender")
    assert e.value.key == "bots.x.sender.retry_max_seconds"


# ------------------------------------------------------------------------------------------------ splitting

def test_split_10000_chars_at_line_boundaries():
    rng = random.Random(7)
    lines = ["".join(rng.choice("abcdef XYZ€") for _ in range(rng.randint(0, 120))) for _ in range(400)]
    text = "\n".join(lines)[:10_000]
    assert len(text) == 10_000
    parts = split_text(text)
    assert len(parts) == 3
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert "\n".join(parts) == text
    # Each boundary is a line boundary: every part is a whole run of lines.
    assert all(p + "\n" in text + "\n" for p in parts)


def test_split_counts_utf16_and_breaks_a_long_line_at_a_word_or_hard():
    emoji = "😀" * 3000  # 6000 UTF-16 units, no spaces
    parts = split_text(emoji)
    assert [utf16_len(p) for p in parts] == [4096, 1904]
    assert "".join(parts) == emoji
    words = ("word " * 2000).strip()
    parts = split_text(words, 100)
    assert all(utf16_len(p) <= 100 for p in parts) and "".join(parts) == words
    assert all(p.endswith(" ") for p in parts[:-1])  # broken after a space, never inside a word


def test_short_text_is_one_part():
    assert split_text("a\nb") == ["a\nb"]
    assert split_text("") == [""]


# ------------------------------------------------------------------------------------------------ scheduler

def test_burst_of_1000_never_exceeds_any_limit():
    rng = random.Random(1234)
    chats = [PRIVATE, 222, GROUP, -1009876543210] + list(range(5000, 5040))
    arrivals = [(rng.uniform(0, 5), msg(rng.choice(chats), f"n{i}", rng.choice(list(Priority)), key=f"k{i}"))
                for i in range(1000)]
    s = SendScheduler()
    sent, outcomes = simulate(s, arrivals, latency=0.05)
    assert len(sent) == 1000 and len(outcomes) == 1000
    assert sorted(o.key for _, o in outcomes) == sorted(m.key for _, m in arrivals)
    assert s.stats.dropped == {p.name: 0 for p in Priority}
    by_chat: dict = {}
    for t, send in sent:
        by_chat.setdefault(send.message.chat_id, []).append(t)
    for chat, times in by_chat.items():
        assert_window(times, 1, 1.0, f"chat {chat}")
        if chat < 0:
            assert_window(times, 20, 60.0, f"group {chat}")
    assert_window([t for t, _ in sent], 30, 1.0, "bot")
    # The bot limit really was the binding one at the start (44 chats, only 30 may go in the first second).
    assert sum(1 for t, _ in sent if t < 1.0) <= 30


def test_limits_hold_with_retry_after_and_failures():
    rng = random.Random(99)
    chats = [PRIVATE, GROUP] + list(range(7000, 7030))

    def result(send, now):
        r = rng.random()
        if r < 0.05:
            return SendRetryAfter(rng.choice([1, 2, 3]))
        if r < 0.10:
            return SendError("network", "boom", retryable=True)
        return SendOk(1)

    arrivals = [(rng.uniform(0, 2), msg(rng.choice(chats), f"n{i}", Priority.CRITICAL, key=f"k{i}"))
                for i in range(300)]
    s = SendScheduler()
    pauses = []
    orig = s.on_result

    def spy(send, res, now):
        out = orig(send, res, now)
        if isinstance(res, SendRetryAfter):
            pauses.append((now, now + res.seconds))
        return out

    s.on_result = spy  # type: ignore[method-assign]
    sent, outcomes = simulate(s, arrivals, latency=0.02, result=result)
    # CRITICAL is retried until delivered: every message arrives exactly once.
    assert sorted(o.key for _, o in outcomes if isinstance(o, Delivered)) == sorted(m.key for _, m in arrivals)
    for start, end in pauses:
        assert not [t for t, _ in sent if start <= t < end], "sent during a RetryAfter pause"
    by_chat: dict = {}
    for t, send in sent:
        by_chat.setdefault(send.message.chat_id, []).append(t)
    for chat, times in by_chat.items():
        assert_window(times, 1, 1.0, f"chat {chat}")
        if chat < 0:
            assert_window(times, 20, 60.0, f"group {chat}")
    assert_window([t for t, _ in sent], 30, 1.0, "bot")


def test_critical_behind_1000_low_goes_out_first():
    s = SendScheduler()
    for i in range(1000):
        s.enqueue(msg(text=f"low {i}", prio=Priority.LOW), 0.0)
    first = s.next_due(0.0)
    assert isinstance(first, Send) and first.message.text == "low 0"
    s.on_result(first, SendOk(1), 0.1)
    res = s.enqueue(msg(text="ALARM", prio=Priority.CRITICAL), 0.2)
    # 999 LOW queued + ALARM = 1000 fits the default bound; ALARM 2 overflows it.
    assert res.accepted and not res.dropped
    res = s.enqueue(msg(text="ALARM 2", prio=Priority.CRITICAL), 0.3)
    assert res.accepted and [m.text for m in res.dropped] == ["low 1"]  # the oldest LOW made room
    assert s.stats.dropped["LOW"] == 1
    assert s.next_due(0.5) == pytest.approx(0.5)  # per-chat limit: 1 s after the first send
    nxt = s.next_due(1.0)
    assert isinstance(nxt, Send) and nxt.message.text == "ALARM"
    s.on_result(nxt, SendOk(2), 1.0)
    nxt = s.next_due(2.0)
    assert isinstance(nxt, Send) and nxt.message.text == "ALARM 2"


def test_overflow_drops_lowest_oldest_and_never_critical():
    s = SendScheduler(SenderSettings(max_queue=5))
    for i in range(3):
        s.enqueue(msg(text=f"low{i}", prio=Priority.LOW), 0)
    s.enqueue(msg(text="n0"), 0)
    s.enqueue(msg(text="h0", prio=Priority.HIGH), 0)
    r = s.enqueue(msg(text="n1"), 0)
    assert [m.text for m in r.dropped] == ["low0"] and r.accepted
    r = s.enqueue(msg(text="low-new", prio=Priority.LOW), 0)
    assert [m.text for m in r.dropped] == ["low1"]  # same priority: the older goes
    for i in range(10):
        assert s.enqueue(msg(text=f"c{i}", prio=Priority.CRITICAL), 0).accepted
    assert len(s) == 10  # only CRITICAL left, over the bound rather than dropping one
    r = s.enqueue(msg(text="h1", prio=Priority.HIGH), 0)
    assert not r.accepted and [m.text for m in r.dropped] == ["h1"]
    assert s.stats.dropped == {"LOW": 4, "NORMAL": 2, "HIGH": 2, "CRITICAL": 0}


def test_priority_order_then_fifo_within_priority():
    s = SendScheduler()
    for text, p in [("l1", "LOW"), ("n1", "NORMAL"), ("h1", "HIGH"), ("n2", "NORMAL"), ("c1", "CRITICAL"),
                    ("h2", "HIGH")]:
        s.enqueue(msg(text=text, prio=p), 0)
    sent, _ = simulate(s, [])
    assert [x.message.text for _, x in sent] == ["c1", "h1", "h2", "n1", "n2", "l1"]
    assert [t for t, _ in sent] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_retry_after_pauses_the_bot_exactly():
    s = SendScheduler()
    s.enqueue(msg(text="a"), 100.0)
    s.enqueue(msg(chat=222, text="b"), 100.0)
    send = s.next_due(100.25)
    assert isinstance(send, Send) and send.message.text == "a"
    assert s.on_result(send, SendRetryAfter(7), 100.25) is None
    assert s.paused_until() == 107.25
    assert s.next_due(100.25) == 7.0  # not even the other chat may go
    assert s.next_due(107.25 - 1e-9) > 0
    again = s.next_due(107.25)
    assert isinstance(again, Send) and again.message.text == "a" and again.attempt == 1


def test_retry_after_scope_chat_pauses_only_that_chat():
    s = SendScheduler(SenderSettings(retry_after_scope="chat"))
    s.enqueue(msg(text="a"), 0)
    s.enqueue(msg(chat=222, text="b"), 0)
    send = s.next_due(0)
    s.on_result(send, SendRetryAfter(5), 0.5)
    other = s.next_due(0.5)
    assert isinstance(other, Send) and other.message.chat_id == 222
    s.on_result(other, SendOk(9), 0.5)
    assert s.next_due(0.5) == 5.0
    assert isinstance(s.next_due(5.5), Send)


def test_split_message_parts_go_in_order_and_deliver_once():
    s = SendScheduler()
    text = "\n".join(f"line {i:05d} " + "x" * 90 for i in range(100))  # ~10 kB
    r = s.enqueue(msg(text=text, key="big"), 0)
    assert r.parts == 3
    sent, outcomes = simulate(s, [], latency=1.5)  # slower than the chat limit: still one in flight per chat
    assert [x.part for _, x in sent] == [1, 2, 3]
    assert "\n".join(x.message.text for _, x in sent) == text
    assert [t for t, _ in sent] == [0.0, 1.5, 3.0]
    [(_, out)] = outcomes
    assert isinstance(out, Delivered) and out.key == "big" and len(out.message_ids) == 3


def test_retryable_errors_back_off_then_fail_non_critical():
    s = SendScheduler(SenderSettings(max_attempts=3, retry_initial_seconds=2, retry_max_seconds=3))
    s.enqueue(msg(text="x", key="k"), 0)
    times = []
    now, out = 0.0, None
    while out is None:
        r = s.next_due(now)
        if isinstance(r, Send):
            times.append(now)
            out = s.on_result(r, SendError("network", "down", retryable=True), now)
        else:
            now += r
    assert times == [0.0, 2.0, 5.0]  # backoff 2, then 4 capped at 3
    assert isinstance(out, Failed) and out.kind == "network" and out.key == "k"
    assert s.idle


def test_critical_is_retried_past_max_attempts():
    s = SendScheduler(SenderSettings(max_attempts=2, retry_initial_seconds=1, retry_max_seconds=1))
    s.enqueue(msg(text="x", prio="CRITICAL"), 0)
    sent, outcomes = simulate(s, [], result=lambda send, now: SendOk(5) if send.attempt >= 6 else
                              SendError("timed_out", retryable=True))
    assert len(sent) == 6 and isinstance(outcomes[0][1], Delivered)


def test_permanent_error_fails_the_whole_split_message():
    s = SendScheduler()
    s.enqueue(msg(text="a" * 5000 + "\n" + "b" * 10, key="m"), 0)
    first = s.next_due(0)
    out = s.on_result(first, SendError("forbidden", "bot was blocked by the user"), 0)
    assert isinstance(out, Failed) and out.kind == "forbidden"
    assert s.idle and s.next_due(5) == math.inf


def test_bad_markup_is_resent_as_plain_text():
    s = SendScheduler()
    s.enqueue(msg(text="<b>P&amp;L</b> <oops>"), 0)
    first = s.next_due(0)
    s.on_result(first, SendError("bad_markup", "can't parse entities"), 0)
    again = s.next_due(1)
    assert again.message.parse_mode is None and again.message.text == "P&L "


def test_edit_is_truncated_not_split_and_other_methods_pass_through():
    s = SendScheduler()
    r = s.enqueue(msg(text="y" * 5000, method="editMessageText", message_id=3), 0)
    assert r.parts == 1
    send = s.next_due(0)
    assert utf16_len(send.message.text) == 4096 and send.message.text.endswith("…")
    with pytest.raises(ValueError):
        OutMessage(chat_id=1, method="sendPhoto")


def test_on_result_for_unknown_send_is_an_error():
    s = SendScheduler()
    s.enqueue(msg(), 0)
    send = s.next_due(0)
    s.on_result(send, SendOk(1), 0)
    with pytest.raises(ValueError):
        s.on_result(send, SendOk(1), 0)


def test_outmessage_roundtrips_through_dict():
    m = OutMessage(chat_id=-100, text="t", priority="HIGH", reply_markup={"inline_keyboard": [[{"text": "a",
                   "callback_data": "b"}]]}, voice=b"\x00\x01", key="k", disable_notification=True)
    assert OutMessage.from_dict(m.to_dict()) == m
    assert m.group and not OutMessage(chat_id=5).group and OutMessage(chat_id="@chan").group
