"""The fake Bot API against python-telegram-bot's real HTTP stack: shapes, update semantics, injected failures,
and clean start/stop (no thread, port or process left behind)."""
from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
import telegram
from telegram.error import BadRequest, Conflict, InvalidToken, RetryAfter

from gateways.telegram.client import retry_after_seconds
from tests.support.fake_botapi import FakeBotApi, FakeBotApiProcess, parse_html

CHAT = 42
USER = 7


def _port_closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


@pytest.fixture
def api():
    server = FakeBotApi().start()
    port = server.port
    try:
        yield server
    finally:
        server.stop()
        assert not [t for t in threading.enumerate() if t.name == "fake-botapi"], "server thread leaked"
        assert _port_closed(port), "port still open"


def run(coro, timeout: float = 20.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def bot_for(api: FakeBotApi, token: str | None = None) -> telegram.Bot:
    return telegram.Bot(token or api.token, base_url=api.base_url)


def test_send_message_is_recorded_with_chat_and_server_time(api):
    async def go():
        async with bot_for(api) as bot:
            assert bot.username == "zepix_test_bot"
            t0 = time.monotonic()
            kb = telegram.InlineKeyboardMarkup([[telegram.InlineKeyboardButton("Close all", callback_data="ca")]])
            m = await bot.send_message(CHAT, "<b>Entry</b> XAUUSD &amp; more", parse_mode="HTML", reply_markup=kb)
            t1 = time.monotonic()
            return t0, t1, m
    t0, t1, m = run(go())
    assert m.text == "Entry XAUUSD & more" and m.chat.id == CHAT and m.from_user.is_bot
    assert [(e.type, e.offset, e.length) for e in m.entities] == [("bold", 0, 5)]
    assert m.reply_markup.inline_keyboard[0][0].callback_data == "ca"
    [call] = api.calls("sendMessage")
    assert call.chat_id == CHAT and call.ok and t0 <= call.t <= t1
    assert call.params["parse_mode"] == "HTML"
    assert call.params["reply_markup"] == {"inline_keyboard": [[{"text": "Close all", "callback_data": "ca"}]]}
    assert [x["text"] for x in api.bot_messages(CHAT)] == ["Entry XAUUSD & more"]
    assert [c.method for c in api.calls()] == ["getMe", "sendMessage"]


def test_get_updates_offset_semantics(api):
    ids = [api.inject_message(USER, f"m{i}")["update_id"] for i in range(4)]

    async def go():
        async with bot_for(api) as bot:
            a = await bot.get_updates()
            b = await bot.get_updates()  # nothing confirmed yet: the same updates again
            c = await bot.get_updates(offset=ids[2])  # confirms ids[0], ids[1]
            d = await bot.get_updates(limit=1)
            e = await bot.get_updates(offset=-1)  # only the newest; the rest is forgotten
            f = await bot.get_updates(offset=ids[3] + 1)  # confirms everything
            return a, b, c, d, e, f
    a, b, c, d, e, f = run(go())
    assert [u.update_id for u in a] == ids and [u.update_id for u in b] == ids
    assert [u.update_id for u in c] == ids[2:] and [u.update_id for u in d] == [ids[2]]
    assert [u.update_id for u in e] == [ids[3]] and [u.message.text for u in e] == ["m3"]
    assert f == () and api.pending_updates == []


def test_long_poll_returns_as_soon_as_an_update_arrives(api):
    async def go():
        async with bot_for(api) as bot:
            poll = asyncio.create_task(bot.get_updates(timeout=15))
            await asyncio.to_thread(api.wait_for_poll, 5.0)
            t0 = time.monotonic()
            api.inject_message(USER, "/status")
            ups = await poll
            return ups, time.monotonic() - t0
    ups, waited = run(go())
    assert waited < 5.0
    [u] = ups
    assert u.message.text == "/status" and u.message.from_user.id == USER and u.message.chat.type == "private"
    assert [(e.type, e.offset, e.length) for e in u.message.entities] == [("bot_command", 0, 7)]


def test_long_poll_times_out_empty(api):
    async def go():
        async with bot_for(api) as bot:
            t0 = time.monotonic()
            ups = await bot.get_updates(timeout=1)
            return ups, time.monotonic() - t0
    ups, waited = run(go())
    assert ups == () and 0.9 <= waited < 5


def test_commands_callback_query_and_answer(api):
    async def go():
        async with bot_for(api) as bot:
            assert await bot.set_my_commands([("status", "Show status"), ("pause", "Pause trading")])
            assert [c.command for c in await bot.get_my_commands()] == ["status", "pause"]
            with pytest.raises(BadRequest, match="(?i)bot_command_invalid"):
                await bot.set_my_commands([("Bad-Command", "x")])
            kb = telegram.InlineKeyboardMarkup([[telegram.InlineKeyboardButton("Yes", callback_data="panic:yes")]])
            sent = await bot.send_message(USER, "Close every position?", reply_markup=kb)
            api.inject_callback_query(USER, "panic:yes")
            [u] = await bot.get_updates()
            q = u.callback_query
            assert q.data == "panic:yes" and q.from_user.id == USER and q.message.message_id == sent.message_id
            assert await bot.answer_callback_query(q.id, text="Closing…")
            with pytest.raises(BadRequest, match="(?i)query is too old"):
                await bot.answer_callback_query(q.id)
            return q.id
    qid = run(go())
    assert api.answered_callbacks[qid] == {"text": "Closing…", "show_alert": False, "data": "panic:yes"}
    assert api.commands == [{"command": "status", "description": "Show status"},
                            {"command": "pause", "description": "Pause trading"}]


def test_edit_pin_unpin_delete(api):
    async def go():
        async with bot_for(api) as bot:
            m = await bot.send_message(CHAT, "header v1")
            e = await bot.edit_message_text("header <i>v2</i>", chat_id=CHAT, message_id=m.message_id,
                                            parse_mode="HTML")
            assert e.text == "header v2" and e.edit_date is not None
            with pytest.raises(BadRequest, match="(?i)message is not modified"):
                await bot.edit_message_text("header <i>v2</i>", chat_id=CHAT, message_id=m.message_id,
                                            parse_mode="HTML")
            kb = telegram.InlineKeyboardMarkup([[telegram.InlineKeyboardButton("Refresh", callback_data="r")]])
            r = await bot.edit_message_reply_markup(chat_id=CHAT, message_id=m.message_id, reply_markup=kb)
            assert r.reply_markup.inline_keyboard[0][0].text == "Refresh"
            assert await bot.pin_chat_message(CHAT, m.message_id, disable_notification=True)
            assert api.pinned(CHAT) == [m.message_id]
            assert await bot.unpin_chat_message(CHAT, message_id=m.message_id)
            assert api.pinned(CHAT) == []
            assert await bot.delete_message(CHAT, m.message_id)
            with pytest.raises(BadRequest, match="(?i)message to edit not found"):
                await bot.edit_message_text("x", chat_id=CHAT, message_id=m.message_id)
            with pytest.raises(BadRequest, match="(?i)message to pin not found"):
                await bot.pin_chat_message(CHAT, 999)
    run(go())
    assert api.bot_messages(CHAT) == []
    pin = api.calls("pinChatMessage")[0]
    assert pin.params["disable_notification"] is True


def test_send_voice_multipart(api):
    audio = b"OggS" + bytes(range(256)) * 4

    async def go():
        async with bot_for(api) as bot:
            return await bot.send_voice(CHAT, audio, caption="<b>CRITICAL</b>", parse_mode="HTML", filename="a.ogg")
    m = run(go())
    assert m.voice.file_size == len(audio) and m.caption == "CRITICAL"
    [call] = api.calls("sendVoice")
    assert call.files == {"voice": len(audio)} and call.chat_id == CHAT


def test_injected_429_has_the_real_shape_and_raises_retry_after(api):
    api.inject_429("sendMessage", retry_after=3)

    async def go():
        async with bot_for(api) as bot:
            with pytest.raises(RetryAfter) as e:
                await bot.send_message(CHAT, "a")
            m = await bot.send_message(CHAT, "b")
            return retry_after_seconds(e.value), m
    seconds, m = run(go())
    assert seconds == 3.0 and m.text == "b"
    first, second = api.calls("sendMessage")
    assert first.status == 429 and second.ok
    assert first.response == {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 3",
                               "parameters": {"retry_after": 3}}


def test_conflict_injected_and_from_a_second_poller(api):
    api.inject_conflict()

    async def go():
        async with bot_for(api) as a, bot_for(api) as b:
            with pytest.raises(Conflict, match="terminated by other getUpdates request"):
                await a.get_updates()
            first = asyncio.create_task(a.get_updates(timeout=15))
            await asyncio.to_thread(api.wait_for_poll, 5.0)
            second = asyncio.create_task(b.get_updates(timeout=0))
            with pytest.raises(Conflict):
                await first
            assert await second == ()
    run(go())
    # In order of arrival: the injected 409, the superseded long poll (409), the poll that superseded it.
    assert [c.status for c in sorted(api.calls("getUpdates"), key=lambda c: c.t)] == [409, 409, 200]


def test_webhook_blocks_polling_until_deleted(api):
    async def go():
        async with bot_for(api) as bot:
            await bot.set_webhook("https://example.invalid/hook")
            with pytest.raises(Conflict, match="webhook is active"):
                await bot.get_updates()
            api.inject_message(USER, "x")
            assert await bot.delete_webhook(drop_pending_updates=True)
            assert await bot.get_updates() == ()
    run(go())


@pytest.mark.parametrize("text,error", [
    ("<b>unclosed", "Can't find end tag"),
    ("a < b", "can't parse entities"),
    ("<blink>x</blink>", "Unsupported start tag"),
    ("<b><i>x</b></i>", "Unmatched end tag"),
    ("P&L", "can't parse entities"),
    ("x" * 4097, "message is too long"),
    ("😀" * 2049, "message is too long"),  # 2049 characters, 4098 UTF-16 units
    ("   ", "message text is empty"),
])
def test_html_and_length_are_validated_like_telegram(api, text, error):
    async def go():
        async with bot_for(api) as bot:
            with pytest.raises(BadRequest) as e:
                await bot.send_message(CHAT, text, parse_mode="HTML")
            assert error.lower() in str(e.value).lower()
    run(go())


def test_parse_html_entities_use_utf16_offsets():
    text, ents = parse_html('😀 <b>Gold</b> <a href="https://x.test/?a=1&amp;b=2">link</a> &#8377;')
    assert text == "😀 Gold link ₹"
    assert ents == [{"type": "bold", "offset": 3, "length": 4},
                    {"type": "text_link", "url": "https://x.test/?a=1&amp;b=2", "offset": 8, "length": 4}]


def test_wrong_token_unknown_method_and_plain_http(api):
    async def go():
        with pytest.raises(InvalidToken):
            async with bot_for(api, token="999:wrong"):
                pass
    run(go())
    with urllib.request.urlopen(f"{api.base_url}{api.token}/getMe", timeout=5) as r:
        body = json.loads(r.read())
    assert body["ok"] is True and body["result"]["is_bot"] is True
    req = urllib.request.Request(f"{api.base_url}{api.token}/sendMessage", method="POST",
                                 data=json.dumps({"chat_id": -100555, "text": "json body"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        res = json.loads(r.read())["result"]
    assert res["chat"] == {"id": -100555, "type": "supergroup", "title": "Zepix Test Group"}
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{api.base_url}{api.token}/noSuchMethod", timeout=5)
    assert e.value.code == 404 and json.loads(e.value.read()) == {"ok": False, "error_code": 404,
                                                                   "description": "Not Found"}


def test_wait_for_calls_times_out_with_a_clear_message(api):
    with pytest.raises(TimeoutError, match="sendMessage"):
        api.wait_for_calls("sendMessage", timeout=0.2)


def test_stop_is_idempotent_and_a_restart_gets_a_new_port():
    a = FakeBotApi().start()
    port = a.port
    a.stop()
    a.stop()
    assert _port_closed(port)
    with FakeBotApi() as b:
        assert b.port and b.port > 0
    assert not [t for t in threading.enumerate() if t.name == "fake-botapi"]


def test_subprocess_mode():
    with FakeBotApiProcess() as proc:
        pid = proc.proc.pid

        async def go():
            async with telegram.Bot(proc.token, base_url=proc.base_url) as bot:
                await bot.send_message(CHAT, "from a test")
                proc.inject_message(USER, "/help")
                return await bot.get_updates()
        [u] = run(go())
        assert u.message.text == "/help"
        [call] = proc.wait_for_calls("sendMessage", 1, timeout=5)
        assert call["chat_id"] == CHAT and call["status"] == 200
        with pytest.raises(TimeoutError):
            proc.wait_for_calls("sendVoice", 1, timeout=0.2)
        port = proc.port
    assert proc.proc is None and _port_closed(port)
    with pytest.raises(ProcessLookupError):
        import os
        os.kill(pid, 0)


def test_ptb_application_polling_and_command_handler(api):
    """The full python-telegram-bot stack (Application, Updater long polling, CommandHandler) works against it."""
    from telegram.ext import Application, CommandHandler

    async def go():
        handled = asyncio.Event()

        async def status(update, context):
            await update.message.reply_text(f"ACTIVE, user {update.effective_user.id}")
            handled.set()

        app = Application.builder().token(api.token).base_url(api.base_url).build()
        app.add_handler(CommandHandler("status", status))
        async with app:
            await app.start()
            await app.updater.start_polling(poll_interval=0, timeout=10)
            await asyncio.to_thread(api.wait_for_poll, 5.0)
            api.inject_message(USER, "/status")
            await asyncio.wait_for(handled.wait(), 5)
            await app.updater.stop()
            await app.stop()
    run(go())
    assert [m["text"] for m in api.bot_messages(USER)] == [f"ACTIVE, user {USER}"]
    methods = [c.method for c in api.calls()]
    assert methods[:3] == ["getMe", "deleteWebhook", "getUpdates"]
    assert api.pending_updates == []  # the Updater confirmed the update when it stopped
