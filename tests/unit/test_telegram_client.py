"""TelegramClient over python-telegram-bot's real HTTP stack against the fake Bot API, driven by the scheduler on a
fake clock: results and error mapping, RetryAfter honoured exactly, long texts split and accepted."""
from __future__ import annotations

import asyncio
import math
import threading

import pytest
from telegram.error import ChatMigrated, InvalidToken, RetryAfter, TelegramError

from gateways.telegram.client import TelegramClient, Updates, map_exception
from gateways.telegram.sender import (
    Delivered,
    OutMessage,
    Priority,
    Send,
    SendError,
    SendOk,
    SendRetryAfter,
    SendScheduler,
)
from tests.support.fake_botapi import FakeBotApi

CHAT = 42


@pytest.fixture
def api():
    server = FakeBotApi().start()
    try:
        yield server
    finally:
        server.stop()
        assert not [t for t in threading.enumerate() if t.name == "fake-botapi"]


def run(coro, timeout: float = 20.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def drain(s: SendScheduler, client: TelegramClient, now: float, max_steps: int = 100):
    """Execute every due send for real; the scheduler's clock is fake and jumps over waits (no sleeping)."""
    log, outcomes = [], []
    for _ in range(max_steps):
        r = s.next_due(now)
        if isinstance(r, Send):
            res = await client.execute(r)
            log.append((now, r, res))
            out = s.on_result(r, res, now)
            if out is not None:
                outcomes.append(out)
        elif math.isinf(r):
            return log, outcomes, now
        else:
            now += r
    raise AssertionError("did not drain")


def test_execute_send_message_with_keyboard(api):
    async def go():
        async with TelegramClient(api.token, base_url=api.base_url) as c:
            m = OutMessage(CHAT, "<b>Close all?</b>", Priority.HIGH,
                           reply_markup={"inline_keyboard": [[{"text": "Yes", "callback_data": "close_all:yes"},
                                                              {"text": "No", "callback_data": "close_all:no"}]]})
            return await c.execute(m)
    res = run(go())
    assert isinstance(res, SendOk) and res.message_id == 1
    [call] = api.calls("sendMessage")
    assert call.chat_id == CHAT and call.params["parse_mode"] == "HTML"
    assert [b["callback_data"] for b in call.params["reply_markup"]["inline_keyboard"][0]] == ["close_all:yes",
                                                                                               "close_all:no"]
    assert call.params["link_preview_options"] == {"is_disabled": True}


def test_429_is_reported_and_the_scheduler_waits_exactly_that_long(api):
    api.inject_429("sendMessage", retry_after=7)

    async def go():
        s = SendScheduler()
        s.enqueue(OutMessage(CHAT, "SL hit", Priority.HIGH, key="n1"), 100.0)
        async with TelegramClient(api.token, base_url=api.base_url) as c:
            send = s.next_due(100.25)
            res = await c.execute(send)
            assert res == SendRetryAfter(7.0)
            assert s.on_result(send, res, 100.25) is None
            assert s.next_due(100.25) == 7.0
            assert s.next_due(107.0) == 0.25
            again = s.next_due(107.25)
            assert isinstance(again, Send)
            res2 = await c.execute(again)
            return s.on_result(again, res2, 107.25)
    out = run(go())
    assert isinstance(out, Delivered) and out.key == "n1"
    assert [c.status for c in api.calls("sendMessage")] == [429, 200]


def test_10000_characters_go_out_as_messages_telegram_accepts(api):
    text = "\n".join(f"{i:04d} XAUUSD BUY 2650.10 → 2655.20 P&amp;L <b>+$5.10</b>" for i in range(200))
    text = text[: text.rfind("\n", 0, 10_000)]
    assert 9_900 < len(text) <= 10_000

    async def go():
        s = SendScheduler()
        assert s.enqueue(OutMessage(CHAT, text, Priority.LOW, key="report"), 0.0).parts == 3
        async with TelegramClient(api.token, base_url=api.base_url) as c:
            return await drain(s, c, 0.0)
    log, outcomes, end = run(go())
    assert [r for _, _, r in log] == [SendOk(1), SendOk(2), SendOk(3)]
    assert [t for t, _, _ in log] == [0.0, 1.0, 2.0]  # one per second in one chat
    [out] = outcomes
    assert isinstance(out, Delivered) and out.message_ids == (1, 2, 3)
    calls = api.calls("sendMessage")
    assert all(c.ok for c in calls) and "\n".join(c.params["text"] for c in calls) == text


def test_error_mapping_against_the_server(api):
    async def go():
        async with TelegramClient(api.token, base_url=api.base_url) as c:
            api.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
            blocked = await c.execute(OutMessage(CHAT, "x"))
            bad_html = await c.execute(OutMessage(CHAT, "P&L <3"))
            ok = await c.execute(OutMessage(CHAT, "header"))
            same = await c.execute(OutMessage(CHAT, "header", method="editMessageText", message_id=ok.message_id))
            gone = await c.execute(OutMessage(CHAT, "y", method="editMessageText", message_id=999))
            api.fail("sendMessage", 500, "Internal Server Error")
            server = await c.execute(OutMessage(CHAT, "x"))
            pin = await c.execute(OutMessage(CHAT, method="pinChatMessage", message_id=ok.message_id,
                                             disable_notification=True))
            voice = await c.execute(OutMessage(CHAT, "CRITICAL", method="sendVoice", voice=b"OggS" * 10))
            delete = await c.execute(OutMessage(CHAT, method="deleteMessage", message_id=ok.message_id))
            return blocked, bad_html, same, gone, server, pin, voice, delete
    blocked, bad_html, same, gone, server, pin, voice, delete = run(go())
    assert blocked == SendError("forbidden", "Forbidden: bot was blocked by the user")
    assert bad_html.kind == "bad_markup" and not bad_html.retryable
    assert isinstance(same, SendOk)  # "message is not modified" is success for an edit
    assert gone.kind == "not_found"
    assert server.kind == "network" and server.retryable
    assert isinstance(pin, SendOk) and isinstance(voice, SendOk) and isinstance(delete, SendOk)
    assert api.calls("sendVoice")[0].files == {"voice": 40}


def test_bad_markup_is_delivered_as_plain_text_through_the_scheduler(api):
    async def go():
        s = SendScheduler()
        s.enqueue(OutMessage(CHAT, "<b>EURUSD</b> spread < 2 pips", Priority.HIGH, key="k"), 0.0)
        async with TelegramClient(api.token, base_url=api.base_url) as c:
            return await drain(s, c, 0.0)
    log, outcomes, _ = run(go())
    assert [type(r).__name__ for _, _, r in log] == ["SendError", "SendOk"]
    assert isinstance(outcomes[0], Delivered)
    assert api.bot_messages(CHAT)[0]["text"] == "EURUSD spread < 2 pips"


def test_timeout_and_connection_refused_are_retryable(api):
    api.delay("sendMessage", 1.0)

    async def go():
        async with TelegramClient(api.token, base_url=api.base_url, read_timeout=0.2) as c:
            slow = await c.execute(OutMessage(CHAT, "slow"))
            await asyncio.to_thread(api.wait_for_calls, "sendMessage", 1, 5.0)  # the delayed answer is done
            api.stop()
            down = await c.execute(OutMessage(CHAT, "down"))
            return slow, down
    slow, down = run(go())
    assert slow.kind == "timed_out" and slow.retryable
    assert down.kind == "network" and down.retryable


def test_polling_offsets_conflict_and_setup_calls(api):
    async def go():
        async with TelegramClient(api.token, base_url=api.base_url) as c:
            assert await c.delete_webhook() == SendOk()
            assert await c.set_commands({"status": "Show status", "pause": "Pause trading"}) == SendOk()
            api.inject_message(7, "/status")
            api.inject_message(7, "/pause")
            first = await c.get_updates(timeout=0)
            again = await c.get_updates(offset=first.next_offset, timeout=0)
            api.inject_conflict()
            conflict = await c.get_updates(offset=again.next_offset, timeout=0)
            await c.execute(OutMessage(7, "Sure?", reply_markup={"inline_keyboard": [[{"text": "Yes",
                                                                                        "callback_data": "y"}]]}))
            cq = api.inject_callback_query(7, "y")
            ups = await c.get_updates(offset=again.next_offset, timeout=0)
            answered = await c.answer_callback(ups.updates[0]["callback_query"]["id"], "ok")
            twice = await c.answer_callback(ups.updates[0]["callback_query"]["id"], "ok")
            return first, again, conflict, cq, ups, answered, twice
    first, again, conflict, cq, ups, answered, twice = run(go())
    assert isinstance(first, Updates) and [u["message"]["text"] for u in first.updates] == ["/status", "/pause"]
    assert first.updates[0]["message"]["from"]["id"] == 7  # plain Bot API dicts, "from" and all
    assert first.next_offset == first.updates[-1]["update_id"] + 1
    assert again.updates == () and again.next_offset == first.next_offset
    assert conflict.kind == "conflict"
    assert [u["update_id"] for u in ups.updates] == [cq["update_id"]]
    assert answered == SendOk() and twice.kind == "bad_request" and "too old" in twice.description
    assert [x["command"] for x in api.commands] == ["status", "pause"]


def test_bad_token_fails_at_start(api):
    async def go():
        c = TelegramClient("999:badbadbad", base_url=api.base_url)
        with pytest.raises(InvalidToken) as e:
            await c.start()
        assert "999:badbadbad" not in str(e.value)  # PTB's own message carries the whole token
        await c.stop()
    run(go())


def test_map_exception_pure_cases():
    assert map_exception(RetryAfter(12)) == SendRetryAfter(12.0)
    assert map_exception(ChatMigrated(-100777)).kind == "chat_migrated"
    assert map_exception(InvalidToken()).kind == "invalid_token"
    assert map_exception(TelegramError("odd")) == SendError("telegram", "odd")
    with pytest.raises(KeyError):
        map_exception(KeyError("not ours"))
