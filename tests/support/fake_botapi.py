"""A local stand-in for the Telegram Bot API, faithful enough for python-telegram-bot v22 to talk to it.

aiohttp server on 127.0.0.1 with an ephemeral port, serving `/bot<token>/<method>` like api.telegram.org:
parameters from the query string, url-encoded forms, JSON bodies or multipart; answers in the real shapes
({"ok": true, "result": ...} / {"ok": false, "error_code": ..., "description": ..., "parameters": {...}}).

Methods: getMe, getUpdates (offset/limit/timeout/allowed_updates semantics as Telegram documents them; a second
concurrent poll ends the first with 409 Conflict), sendMessage (HTML parsed and validated as Telegram does, the
4096 limit checked after parsing, inline keyboards validated), editMessageText, editMessageReplyMarkup,
answerCallbackQuery, pinChatMessage, unpinChatMessage, deleteMessage, sendVoice (multipart or file_id),
setMyCommands, getMyCommands, deleteWebhook, setWebhook, getWebhookInfo.

Test hooks: every Bot API call is recorded (server-side monotonic arrival time, chat id, params, status, response);
updates can be injected (a user's text or command, a button press); failures can be injected (429 with
`retry_after`, 409 on getUpdates, any error code); `wait_for_calls` waits on a condition with a deadline.

Use in-process (`with FakeBotApi() as api:` runs it in a background thread) or as a subprocess
(`with FakeBotApiProcess() as api:` runs `python -m tests.support.fake_botapi`, controlled over `/_fake/...`).
`stop()` closes the port and joins the thread; nothing is left behind.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

from aiohttp import web

# Built from parts so no token-shaped literal is tracked in git (secret scanners flag those); it is fake anyway.
DEFAULT_TOKEN = "123456789:" + "AAFakeTokenForZepixTests" + "Only_0123456"
MAX_TEXT = 4096
MAX_CAPTION = 1024

_CONFLICT_POLL = ("Conflict: terminated by other getUpdates request; make sure that only one bot instance is "
                  "running")
_CONFLICT_WEBHOOK = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
_NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply markup are exactly "
                 "the same as a current content and reply markup of the message")


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        b: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            b["parameters"] = self.parameters
        return b


def bad_request(text: str) -> ApiError:
    return ApiError(400, f"Bad Request: {text}")


# ------------------------------------------------------------------------------------------------ HTML entities

def utf16_len(s: str) -> int:
    return len(s) + sum(1 for ch in s if ord(ch) > 0xFFFF)


_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z_:-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?)*)\s*>")
_ATTR_RE = re.compile(r"([a-zA-Z_:-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?")
_ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d+)|#[xX]([0-9a-fA-F]+));")
_SIMPLE_TAGS = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
                "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "tg-spoiler": "spoiler",
                "code": "code", "pre": "pre", "blockquote": "blockquote", "a": "text_link", "span": "spoiler",
                "tg-emoji": "custom_emoji"}


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML parse mode: returns (plain text, entities) or raises ApiError like the Bot API does.

    Follows the documented rules: only the supported tags, `<` and `&` must be escaped unless they start a tag or
    one of &lt; &gt; &amp; &quot; or a numeric entity; tags must nest properly. Offsets are UTF-16 units.
    """
    out: list[str] = []
    pos16 = 0
    stack: list[tuple[str, int, dict[str, Any]]] = []
    entities: list[dict[str, Any]] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "<":
            m = _TAG_RE.match(text, i)
            offset = len(text[:i].encode("utf-8"))
            if not m:
                raise bad_request(f"can't parse entities: unexpected character '<' at byte offset {offset}; "
                                  "escape it as &lt;")
            closing, name, attrs = m.group(1) == "/", m.group(2).lower(), m.group(3)
            if name not in _SIMPLE_TAGS:
                kind = "end" if closing else "start"
                raise bad_request(f"can't parse entities: Unsupported {kind} tag \"{name}\" at byte offset {offset}")
            if closing:
                if not stack or stack[-1][0] != name:
                    expected = f"</{stack[-1][0]}>" if stack else "nothing"
                    raise bad_request(f"can't parse entities: Unmatched end tag at byte offset {offset}, "
                                      f"expected \"{expected}\", found \"</{name}>\"")
                tag, start, ent = stack.pop()
                length = pos16 - start
                if length > 0 and ent:
                    ent.update(offset=start, length=length)
                    entities.append(ent)
            else:
                a = {k.lower(): (v1 or v2 or v3 or "") for k, v1, v2, v3 in _ATTR_RE.findall(attrs)}
                ent: dict[str, Any] = {"type": _SIMPLE_TAGS[name]}
                if name == "a":
                    if "href" not in a:
                        ent = {}  # Telegram ignores a link without href
                    else:
                        ent["url"] = a["href"]
                elif name == "span" and a.get("class") != "tg-spoiler":
                    raise bad_request(f"can't parse entities: Unsupported start tag \"span\" at byte offset {offset}")
                elif name == "blockquote" and "expandable" in a:
                    ent["type"] = "expandable_blockquote"
                elif name == "code" and stack and stack[-1][0] == "pre" and a.get("class", "").startswith("language-"):
                    stack[-1][2]["language"] = a["class"][len("language-"):]
                    ent = {}
                elif name == "tg-emoji":
                    ent["custom_emoji_id"] = a.get("emoji-id", "")
                stack.append((name, pos16, ent))
            i = m.end()
            continue
        if ch == "&":
            m = _ENTITY_RE.match(text, i)
            if not m:
                offset = len(text[:i].encode("utf-8"))
                raise bad_request(f"can't parse entities: unsupported HTML entity or bare '&' at byte offset {offset}; "
                                  "escape it as &amp;")
            if m.group(1):
                c = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}[m.group(1)]
            else:
                c = chr(int(m.group(2)) if m.group(2) else int(m.group(3), 16))
            out.append(c)
            pos16 += utf16_len(c)
            i = m.end()
            continue
        out.append(ch)
        pos16 += 2 if ord(ch) > 0xFFFF else 1
        i += 1
    if stack:
        raise bad_request(f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1][0]}\"")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _bot_command_entities(text: str) -> list[dict[str, Any]]:
    ents = []
    for m in re.finditer(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?", text):
        ents.append({"type": "bot_command", "offset": utf16_len(text[:m.start()]), "length": utf16_len(m.group())})
    return ents


# ------------------------------------------------------------------------------------------------ params

_INT = {"offset", "limit", "timeout", "message_id", "duration", "cache_time", "message_thread_id",
        "reply_to_message_id", "user_id"}
_BOOL = {"disable_notification", "protect_content", "show_alert", "drop_pending_updates", "disable_web_page_preview",
         "allow_sending_without_reply"}
_JSON = {"reply_markup", "allowed_updates", "commands", "entities", "caption_entities", "link_preview_options",
         "reply_parameters", "scope"}


def _coerce(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        try:
            if k in _INT and isinstance(v, str):
                v = int(v)
            elif k in _BOOL and isinstance(v, str):
                v = v.strip().lower() in ("true", "1")
            elif k in _JSON and isinstance(v, str):
                v = json.loads(v)
            elif k == "chat_id" and isinstance(v, str) and re.fullmatch(r"-?\d+", v.strip()):
                v = int(v)
        except (ValueError, json.JSONDecodeError):
            raise bad_request(f"can't parse {k} JSON object" if k in _JSON else f"invalid {k} specified") from None
        out[k] = v
    return out


# ------------------------------------------------------------------------------------------------ records

@dataclass(frozen=True)
class Call:
    seq: int
    t: float
    method: str
    chat_id: int | str | None
    params: dict[str, Any]
    files: dict[str, int]
    status: int
    response: dict[str, Any]
    heads: dict[str, bytes] = field(default_factory=dict)   # first bytes of each uploaded file (format checks)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        return self.response.get("result")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["heads"] = {k: v.hex() for k, v in self.heads.items()}
        return d


@dataclass
class _FailRule:
    method: str
    code: int
    description: str
    parameters: dict[str, Any] | None
    count: int
    chat_id: Any = None
    delay: float = 0.0


@dataclass
class _State:
    updates: list[dict[str, Any]] = field(default_factory=list)
    next_update_id: int = 100_000_001
    allowed_updates: list[str] = field(default_factory=list)
    messages: dict[tuple[Any, int], dict[str, Any]] = field(default_factory=dict)
    deleted: list[tuple[Any, int]] = field(default_factory=list)
    chat_message_ids: dict[Any, int] = field(default_factory=dict)
    pinned: dict[Any, list[int]] = field(default_factory=dict)
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    answered: dict[str, dict[str, Any]] = field(default_factory=dict)
    commands: list[dict[str, Any]] = field(default_factory=list)
    webhook_url: str = ""
    channel_ids: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ server

class FakeBotApi:
    """See the module docstring. Thread-safe: tests call it from their thread while the server runs in its own."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, host: str = "127.0.0.1", port: int = 0,
                 bot_first_name: str = "Zepix Test Bot", bot_username: str = "zepix_test_bot"):
        self.token = token
        self.host = host
        self._requested_port = port
        self.port: int | None = None
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456789
        self.bot_user = {"id": self.bot_id, "is_bot": True, "first_name": bot_first_name, "username": bot_username,
                         "can_join_groups": True, "can_read_all_group_messages": False,
                         "supports_inline_queries": False, "can_connect_to_business": False,
                         "has_main_web_app": False}
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._seq = itertools.count(1)
        self._cb_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._state = _State()
        self._rules: list[_FailRule] = []
        self._poll_generation = 0
        self._polls_waiting = 0
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._wakeup: asyncio.Event | None = None
        self._bots: dict[str, "FakeBotApi"] = {}

    def add_bot(self, token: str, username: str) -> "FakeBotApi":
        """Another bot (its own token, updates, chats and call log) served on this server's port, for tests of
        several bots behind one ZEPIX_TELEGRAM_BASE_URL. Start this server first; stopping it stops them all."""
        if self._loop is None:
            raise RuntimeError("start the server first")
        bot = FakeBotApi(token, host=self.host, bot_first_name=username, bot_username=username)
        bot.port, bot._loop, bot._wakeup = self.port, self._loop, asyncio.Event()
        self._bots[token] = bot
        return bot

    # ------------------------------------------------------------------ lifecycle
    @property
    def base_url(self) -> str:
        """What to pass as `telegram.Bot(token, base_url=...)`."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> "FakeBotApi":
        if self._thread is not None:
            raise RuntimeError("already started")
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                try:
                    loop.run_until_complete(self._astart())
                except BaseException as exc:  # reported to start(); the thread ends
                    errors.append(exc)
                    return
                finally:
                    ready.set()
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-botapi", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("fake Bot API did not start")
        if errors:
            self._thread.join(timeout)
            self._thread = None
            raise errors[0]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if thread.is_alive():
            fut = asyncio.run_coroutine_threadsafe(self._astop(), loop)
            try:
                fut.result(timeout)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError("fake Bot API thread did not stop")
        self._thread = None
        self._loop = None

    def __enter__(self) -> "FakeBotApi":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _astart(self) -> None:
        self._wakeup = asyncio.Event()
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("*", "/_fake/{action}", self._handle_control)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port, reuse_address=False)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _astop(self) -> None:
        for bot in [self, *self._bots.values()]:
            with bot._lock:
                bot._closing = True
            bot._kick()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _kick(self) -> None:
        """Wake every long poll (runs on the server loop)."""
        ev, self._wakeup = self._wakeup, asyncio.Event()
        if ev is not None:
            ev.set()

    def _kick_threadsafe(self) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._kick)

    # ------------------------------------------------------------------ test API: failures
    def fail(self, method: str, error_code: int, description: str | None = None, *, count: int = 1,
             chat_id: Any = None, parameters: dict[str, Any] | None = None, delay: float = 0.0) -> None:
        """The next `count` calls of `method` (to `chat_id`, if given) fail with this error. `delay` > 0 holds the
        answer that long first (to provoke client timeouts)."""
        desc = description or {400: "Bad Request", 403: "Forbidden: bot was blocked by the user",
                               409: _CONFLICT_POLL, 429: "Too Many Requests"}.get(error_code, "Internal Server Error")
        with self._lock:
            self._rules.append(_FailRule(method.lower(), error_code, desc, parameters, count, chat_id, delay))

    def inject_429(self, method: str = "sendMessage", retry_after: int = 5, *, count: int = 1,
                   chat_id: Any = None) -> None:
        self.fail(method, 429, f"Too Many Requests: retry after {retry_after}", count=count, chat_id=chat_id,
                  parameters={"retry_after": retry_after})

    def inject_conflict(self, count: int = 1) -> None:
        self.fail("getUpdates", 409, _CONFLICT_POLL, count=count)

    def delay(self, method: str, seconds: float, *, count: int = 1) -> None:
        """Answer the next `count` calls of `method` normally but only after `seconds`."""
        with self._lock:
            self._rules.append(_FailRule(method.lower(), 200, "", None, count, None, seconds))

    # ------------------------------------------------------------------ test API: updates
    def _user(self, user_id: int, first_name: str = "Trader", username: str | None = None) -> dict[str, Any]:
        u: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "en"}
        if username:
            u["username"] = username
        return u

    def _chat(self, chat_id: Any, user: dict[str, Any] | None = None) -> dict[str, Any]:
        if isinstance(chat_id, str):
            chat_id = self._state.channel_ids.setdefault(chat_id, -1001000000000 - len(self._state.channel_ids))
        if chat_id > 0:
            c: dict[str, Any] = {"id": chat_id, "type": "private", "first_name": (user or {}).get("first_name", "Trader")}
            if user and user.get("username"):
                c["username"] = user["username"]
            return c
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": "Zepix Test Group"}

    def _new_message(self, chat_id: Any, sender: dict[str, Any], **fields_: Any) -> dict[str, Any]:
        chat = self._chat(chat_id, None if sender.get("is_bot") else sender)
        cid = chat["id"]
        mid = self._state.chat_message_ids.get(cid, 0) + 1
        self._state.chat_message_ids[cid] = mid
        msg = {"message_id": mid, "from": sender, "chat": chat, "date": int(time.time())}
        msg.update({k: v for k, v in fields_.items() if v is not None})
        self._state.messages[(cid, mid)] = msg
        return msg

    def _push_update(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        upd = {"update_id": self._state.next_update_id, kind: obj}
        self._state.next_update_id += 1
        self._state.updates.append(upd)
        self._cond.notify_all()
        return upd

    def inject_message(self, user_id: int, text: str, chat_id: int | None = None, *, first_name: str = "Trader",
                       username: str | None = None) -> dict[str, Any]:
        """A user sends `text` (a command if it starts with '/') in `chat_id` (default: the private chat with the
        user). Returns the Update."""
        with self._lock:
            user = self._user(user_id, first_name, username)
            ents = _bot_command_entities(text)
            msg = self._new_message(user_id if chat_id is None else chat_id, user, text=text, entities=ents or None)
            upd = self._push_update("message", msg)
        self._kick_threadsafe()
        return upd

    def inject_callback_query(self, user_id: int, data: str, *, message_id: int | None = None,
                              chat_id: int | None = None, first_name: str = "Trader") -> dict[str, Any]:
        """A user presses an inline button with `data` under the bot's message `message_id` in `chat_id` (default:
        the private chat; the newest bot message there with a keyboard). Returns the Update."""
        with self._lock:
            cid = user_id if chat_id is None else chat_id
            if message_id is None:
                mine = [m for (c, _), m in self._state.messages.items()
                        if c == cid and m["from"].get("is_bot") and m.get("reply_markup")]
                if not mine:
                    raise LookupError(f"no bot message with a keyboard in chat {cid}")
                msg = max(mine, key=lambda m: m["message_id"])
            else:
                msg = self._state.messages.get((cid, message_id))
                if msg is None:
                    raise LookupError(f"no message {message_id} in chat {cid}")
            qid = f"{self.bot_id}{next(self._cb_ids):08d}"
            cq = {"id": qid, "from": self._user(user_id, first_name), "message": msg,
                  "chat_instance": f"-{abs(hash(cid)) % 10**18}", "data": data}
            self._state.callbacks[qid] = cq
            upd = self._push_update("callback_query", cq)
        self._kick_threadsafe()
        return upd

    # ------------------------------------------------------------------ test API: inspection
    def calls(self, method: str | None = None, chat_id: Any = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if (method is None or c.method.lower() == method.lower())
                    and (chat_id is None or c.chat_id == chat_id)]

    def wait_for_calls(self, method: str | None = None, count: int = 1, timeout: float = 5.0, *,
                       chat_id: Any = None, predicate: Callable[[Call], bool] | None = None) -> list[Call]:
        """Wait (condition variable, deadline) until at least `count` matching calls were recorded."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.calls(method, chat_id) if predicate is None or predicate(c)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"waited {timeout}s for {count} x {method or 'any'}; have {len(found)}: "
                                       f"{[c.method for c in self._calls][-20:]}")
                self._cond.wait(remaining)

    def wait_for_poll(self, timeout: float = 5.0) -> None:
        """Wait until a getUpdates long poll is parked on the server."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._polls_waiting == 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("no getUpdates long poll is waiting")
                self._cond.wait(remaining)

    def message(self, chat_id: Any, message_id: int) -> dict[str, Any] | None:
        with self._lock:
            m = self._state.messages.get((chat_id, message_id))
            return json.loads(json.dumps(m)) if m else None

    def bot_messages(self, chat_id: Any) -> list[dict[str, Any]]:
        """The bot's messages in a chat as they are now (edited, not deleted), oldest first."""
        with self._lock:
            ms = [m for (c, _), m in self._state.messages.items() if c == chat_id and m["from"].get("is_bot")]
            return json.loads(json.dumps(sorted(ms, key=lambda m: m["message_id"])))

    def pinned(self, chat_id: Any) -> list[int]:
        with self._lock:
            return list(self._state.pinned.get(chat_id, []))

    @property
    def commands(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._state.commands)

    @property
    def answered_callbacks(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return dict(self._state.answered)

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._state.updates)

    # ------------------------------------------------------------------ HTTP
    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, tuple[str, bytes]] = {}
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if not isinstance(body, dict):
                    raise bad_request("parameters must be a JSON object")
                params.update(body)
            else:
                form = await request.post()
                for k, v in form.items():
                    if isinstance(v, web.FileField):
                        files[k] = (v.filename, v.file.read())
                    else:
                        params[k] = v
        return _coerce(params), files

    async def _handle_api(self, request: web.Request) -> web.Response:
        t = time.monotonic()
        token = request.match_info["token"]
        method = request.match_info["method"]
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        other = self._bots.get(token)
        if other is not None:
            return await other._handle_api(request)
        try:
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            params, files = await self._read_params(request)
            rule = self._take_rule(method, params.get("chat_id"))
            if rule is not None and rule.delay:
                await asyncio.sleep(rule.delay)
            if rule is not None and rule.code != 200:
                raise ApiError(rule.code, rule.description, rule.parameters)
            handler = getattr(self, f"_m_{method.lower()}", None)
            if handler is None:
                raise ApiError(404, "Not Found")
            if asyncio.iscoroutinefunction(handler):
                result = await handler(params, files)
            else:
                with self._lock:
                    result = handler(params, files)
            status, body = 200, {"ok": True, "result": result}
        except ApiError as exc:
            status, body = exc.code, exc.body()
        self._record(t, method, params, files, status, body)
        self._kick()  # wakes control-endpoint waiters (and parked polls, which just re-check)
        return web.json_response(body, status=status)

    def _take_rule(self, method: str, chat_id: Any) -> _FailRule | None:
        with self._lock:
            for r in self._rules:
                if r.method == method.lower() and (r.chat_id is None or r.chat_id == chat_id):
                    r.count -= 1
                    if r.count <= 0:
                        self._rules.remove(r)
                    return r
        return None

    def _record(self, t: float, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]],
                status: int, body: dict[str, Any]) -> None:
        with self._cond:
            self._calls.append(Call(seq=next(self._seq), t=t, method=method, chat_id=params.get("chat_id"),
                                    params=params, files={k: len(v[1]) for k, v in files.items()}, status=status,
                                    response=body, heads={k: v[1][:64] for k, v in files.items()}))
            self._cond.notify_all()

    # ------------------------------------------------------------------ Bot API methods
    def _m_getme(self, p: dict[str, Any], f: Any) -> dict[str, Any]:
        return dict(self.bot_user)

    def _m_logout(self, p: dict[str, Any], f: Any) -> bool:
        return True

    def _m_deletewebhook(self, p: dict[str, Any], f: Any) -> bool:
        self._state.webhook_url = ""
        if p.get("drop_pending_updates"):
            self._state.updates.clear()
        return True

    def _m_setwebhook(self, p: dict[str, Any], f: Any) -> bool:
        self._state.webhook_url = str(p.get("url", ""))
        return True

    def _m_getwebhookinfo(self, p: dict[str, Any], f: Any) -> dict[str, Any]:
        return {"url": self._state.webhook_url, "has_custom_certificate": False,
                "pending_update_count": len(self._state.updates)}

    def _select_updates(self, offset: int | None, limit: int) -> list[dict[str, Any]]:
        ups = self._state.updates
        if offset is not None and offset < 0:
            # Negative offset: the last -offset updates; everything before is forgotten.
            del ups[:max(0, len(ups) + offset)]
        elif offset:
            # Calling with an offset confirms every update with a smaller id.
            ups[:] = [u for u in ups if u["update_id"] >= offset]
        allowed = self._state.allowed_updates
        if allowed:
            ups[:] = [u for u in ups if next(k for k in u if k != "update_id") in allowed]
        return [json.loads(json.dumps(u)) for u in ups[:limit]]

    async def _m_getupdates(self, p: dict[str, Any], f: Any) -> list[dict[str, Any]]:
        offset = p.get("offset")
        limit = p.get("limit", 100)
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            limit = 100
        timeout = max(0, int(p.get("timeout", 0) or 0))
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._state.webhook_url:
                raise ApiError(409, _CONFLICT_WEBHOOK)
            if "allowed_updates" in p and isinstance(p["allowed_updates"], list):
                self._state.allowed_updates = list(p["allowed_updates"])
            self._poll_generation += 1
            gen = self._poll_generation
        self._kick()  # an older poll still parked learns it was superseded
        while True:
            ev = self._wakeup
            with self._lock:
                if self._poll_generation != gen:
                    raise ApiError(409, _CONFLICT_POLL)
                ups = self._select_updates(offset, limit)
                if ups or self._closing or time.monotonic() >= deadline:
                    return ups
                self._polls_waiting += 1
                self._cond.notify_all()
            try:
                assert ev is not None
                await asyncio.wait_for(ev.wait(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                pass
            finally:
                with self._lock:
                    self._polls_waiting -= 1

    def _target(self, p: dict[str, Any]) -> Any:
        cid = p.get("chat_id")
        if cid is None or cid == "":
            raise bad_request("chat_id is empty")
        if isinstance(cid, str):
            if not cid.startswith("@"):
                raise bad_request("chat not found")
            return self._chat(cid)["id"]
        return cid

    def _text(self, p: dict[str, Any], key: str, limit: int, required: bool) -> tuple[str | None, list[Any]]:
        raw = p.get(key)
        if raw is None or raw == "":
            if required:
                raise bad_request("message text is empty")
            return None, []
        raw = str(raw)
        mode = p.get("parse_mode")
        if mode in (None, ""):
            text, ents = raw, list(p.get("entities") or p.get("caption_entities") or [])
        elif str(mode).upper() == "HTML":
            text, ents = parse_html(raw)
        elif str(mode) in ("Markdown", "MarkdownV2"):
            # Not parsed by the fake: stored as sent. Our bots use HTML.
            text, ents = raw, []
        else:
            raise bad_request("unsupported parse_mode")
        if required and not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text) > limit:
            raise bad_request("message is too long" if key == "text" else "message caption is too long")
        return text, ents

    @staticmethod
    def _check_markup(markup: Any) -> dict[str, Any] | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request("field \"inline_keyboard\" of the InlineKeyboardMarkup should be an Array of Arrays")
            for row in rows:
                for b in row:
                    if not isinstance(b, dict) or not b.get("text"):
                        raise bad_request("can't parse inline keyboard button: Text buttons are unallowed in the "
                                          "inline keyboard")
                    actions = [k for k in b if k != "text"]
                    if len(actions) != 1:
                        raise bad_request("can't parse inline keyboard button: exactly one of the optional fields "
                                          "must be used")
                    if "callback_data" in b and not 1 <= len(str(b["callback_data"]).encode()) <= 64:
                        raise bad_request("BUTTON_DATA_INVALID")
        return markup

    def _m_sendmessage(self, p: dict[str, Any], f: Any) -> dict[str, Any]:
        cid = self._target(p)
        text, ents = self._text(p, "text", MAX_TEXT, True)
        markup = self._check_markup(p.get("reply_markup"))
        return self._new_message(cid, self.bot_user, text=text, entities=ents or None, reply_markup=markup)

    def _own_message(self, p: dict[str, Any], what: str) -> dict[str, Any]:
        if p.get("inline_message_id"):
            raise bad_request("inline messages are not supported by the fake")
        cid = self._target(p)
        mid = p.get("message_id")
        if mid is None:
            raise bad_request("message identifier is not specified")
        msg = self._state.messages.get((cid, mid))
        if msg is None:
            raise bad_request(f"message to {what} not found")
        return msg

    def _m_editmessagetext(self, p: dict[str, Any], f: Any) -> dict[str, Any]:
        msg = self._own_message(p, "edit")
        if not msg["from"].get("is_bot"):
            raise bad_request("message can't be edited")
        text, ents = self._text(p, "text", MAX_TEXT, True)
        markup = self._check_markup(p.get("reply_markup"))
        if text == msg.get("text") and (ents or None) == msg.get("entities") and markup == msg.get("reply_markup"):
            raise bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        msg["text"] = text
        msg.pop("entities", None)
        if ents:
            msg["entities"] = ents
        msg.pop("reply_markup", None)
        if markup:
            msg["reply_markup"] = markup
        msg["edit_date"] = int(time.time())
        return json.loads(json.dumps(msg))

    def _m_editmessagereplymarkup(self, p: dict[str, Any], f: Any) -> dict[str, Any]:
        msg = self._own_message(p, "edit")
        if not msg["from"].get("is_bot"):
            raise bad_request("message can't be edited")
        markup = self._check_markup(p.get("reply_markup"))
        if markup == msg.get("reply_markup"):
            raise bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        msg.pop("reply_markup", None)
        if markup:
            msg["reply_markup"] = markup
        msg["edit_date"] = int(time.time())
        return json.loads(json.dumps(msg))

    def _m_deletemessage(self, p: dict[str, Any], f: Any) -> bool:
        msg = self._own_message(p, "delete")
        key = (msg["chat"]["id"], msg["message_id"])
        del self._state.messages[key]
        self._state.deleted.append(key)
        pins = self._state.pinned.get(key[0], [])
        if key[1] in pins:
            pins.remove(key[1])
        return True

    def _m_pinchatmessage(self, p: dict[str, Any], f: Any) -> bool:
        msg = self._own_message(p, "pin")
        cid, mid = msg["chat"]["id"], msg["message_id"]
        pins = self._state.pinned.setdefault(cid, [])
        if mid in pins:
            pins.remove(mid)
        pins.append(mid)
        return True

    def _m_unpinchatmessage(self, p: dict[str, Any], f: Any) -> bool:
        cid = self._target(p)
        pins = self._state.pinned.setdefault(cid, [])
        mid = p.get("message_id")
        if mid is None:
            if pins:
                pins.pop()
            return True
        if (cid, mid) not in self._state.messages:
            raise bad_request("message to unpin not found")
        if mid in pins:
            pins.remove(mid)
        return True

    def _m_answercallbackquery(self, p: dict[str, Any], f: Any) -> bool:
        qid = str(p.get("callback_query_id", ""))
        cq = self._state.callbacks.pop(qid, None)
        if cq is None:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        text = p.get("text")
        if text is not None and len(str(text)) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self._state.answered[qid] = {"text": text, "show_alert": bool(p.get("show_alert", False)),
                                     "data": cq.get("data")}
        return True

    def _m_sendvoice(self, p: dict[str, Any], f: dict[str, tuple[str, bytes]]) -> dict[str, Any]:
        cid = self._target(p)
        voice = p.get("voice")
        if "voice" in f:
            size = len(f["voice"][1])
        elif isinstance(voice, str) and voice.startswith("attach://") and voice[9:] in f:
            size = len(f[voice[9:]][1])
        elif isinstance(voice, str) and voice:
            size = 0  # a file_id or URL of a voice Telegram already has
        else:
            raise bad_request("there is no voice in the request")
        caption, ents = self._text(p, "caption", MAX_CAPTION, False)
        n = next(self._file_ids)
        v = {"file_id": f"AwACAgIAAxkBAAI{n:06d}", "file_unique_id": f"AgAD{n:06d}",
             "duration": int(p.get("duration") or 0), "mime_type": "audio/ogg", "file_size": size}
        markup = self._check_markup(p.get("reply_markup"))
        return self._new_message(cid, self.bot_user, voice=v, caption=caption, caption_entities=ents or None,
                                 reply_markup=markup)

    def _m_setmycommands(self, p: dict[str, Any], f: Any) -> bool:
        cmds = p.get("commands")
        if not isinstance(cmds, list) or len(cmds) > 100:
            raise bad_request("can't parse commands JSON object")
        for c in cmds:
            if not isinstance(c, dict) or not re.fullmatch(r"[a-z0-9_]{1,32}", str(c.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(c.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID" if c.get("description") else
                                  "command description is empty")
        self._state.commands = [{"command": c["command"], "description": c["description"]} for c in cmds]
        return True

    def _m_getmycommands(self, p: dict[str, Any], f: Any) -> list[dict[str, Any]]:
        return list(self._state.commands)

    # ------------------------------------------------------------------ control endpoints (subprocess mode)
    async def _handle_control(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        body: dict[str, Any] = {}
        if request.method == "POST" and request.can_read_body:
            body = await request.json()
        q = dict(request.query)
        try:
            if action == "message":
                res: Any = self.inject_message(int(body["user_id"]), body["text"], body.get("chat_id"))
            elif action == "callback":
                res = self.inject_callback_query(int(body["user_id"]), body["data"], message_id=body.get("message_id"),
                                                 chat_id=body.get("chat_id"))
            elif action == "fail":
                self.fail(body["method"], int(body["error_code"]), body.get("description"),
                          count=int(body.get("count", 1)), chat_id=body.get("chat_id"),
                          parameters=body.get("parameters"), delay=float(body.get("delay", 0)))
                res = True
            elif action == "calls":
                since = int(q.get("since", 0))
                res = [c.to_json() for c in self.calls(q.get("method")) if c.seq > since]
            elif action == "wait_calls":
                res = [c.to_json() for c in await self._await_calls(q.get("method"), int(q.get("count", 1)),
                                                                    float(q.get("timeout", 5)))]
            elif action == "messages":
                res = self.bot_messages(int(q["chat_id"]))
            else:
                return web.json_response({"ok": False, "description": f"unknown control {action}"}, status=404)
        except TimeoutError as exc:
            return web.json_response({"ok": False, "description": str(exc)}, status=408)
        except (KeyError, ValueError, LookupError) as exc:
            return web.json_response({"ok": False, "description": repr(exc)}, status=400)
        return web.json_response({"ok": True, "result": res})

    async def _await_calls(self, method: str | None, count: int, timeout: float) -> list[Call]:
        # Runs on the server loop: wait on the wake-up event (set after every recorded call) with a deadline.
        deadline = time.monotonic() + timeout
        while True:
            ev = self._wakeup
            found = self.calls(method)
            if len(found) >= count:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closing:
                raise TimeoutError(f"waited {timeout}s for {count} x {method or 'any'}; have {len(found)}")
            try:
                assert ev is not None
                await asyncio.wait_for(ev.wait(), remaining)
            except asyncio.TimeoutError:
                pass


# ------------------------------------------------------------------------------------------------ subprocess mode

class FakeBotApiProcess:
    """The fake in a child process (for end-to-end tests of a system that runs in other processes).

    Control over HTTP: `inject_message`, `inject_callback_query`, `fail`, `calls`. `stop()` terminates it and
    waits; it is killed if it does not exit in time.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, *, cwd: str | None = None, env: dict[str, str] | None = None):
        self.token = token
        self.cwd = cwd or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self, timeout: float = 15.0) -> "FakeBotApiProcess":
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.support.fake_botapi", "--token", self.token],
                                     cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stdin=subprocess.PIPE,
                                     text=True)
        # The child prints one JSON line once it listens; readline blocks, so read it on a helper thread and
        # wait with a deadline.
        line: list[str] = []
        t = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        t.start()
        t.join(timeout)
        if not line or not line[0].strip():
            self.stop()
            raise TimeoutError("fake Bot API subprocess did not report its port")
        self.port = int(json.loads(line[0])["port"])
        return self

    def stop(self, timeout: float = 10.0) -> int | None:
        p = self.proc
        if p is None:
            return None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout)
        for stream in (p.stdout, p.stdin):
            if stream is not None:
                stream.close()
        self.proc = None
        return p.returncode

    def __enter__(self) -> "FakeBotApiProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _control(self, action: str, body: dict[str, Any] | None = None, query: str = "") -> Any:
        url = f"http://127.0.0.1:{self.port}/_fake/{action}{query}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())["result"]

    def inject_message(self, user_id: int, text: str, chat_id: int | None = None) -> dict[str, Any]:
        return self._control("message", {"user_id": user_id, "text": text, "chat_id": chat_id})

    def inject_callback_query(self, user_id: int, data: str, *, message_id: int | None = None,
                              chat_id: int | None = None) -> dict[str, Any]:
        return self._control("callback", {"user_id": user_id, "data": data, "message_id": message_id,
                                          "chat_id": chat_id})

    def fail(self, method: str, error_code: int, description: str | None = None, *, count: int = 1,
             parameters: dict[str, Any] | None = None) -> None:
        self._control("fail", {"method": method, "error_code": error_code, "description": description,
                               "count": count, "parameters": parameters})

    def calls(self, method: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        q = f"?since={since}" + (f"&method={method}" if method else "")
        return self._control("calls", query=q)

    def wait_for_calls(self, method: str | None = None, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The server waits on its own condition; a 408 answer means the deadline passed."""
        q = f"?count={count}&timeout={timeout}" + (f"&method={method}" if method else "")
        url = f"http://127.0.0.1:{self.port}/_fake/wait_calls{q}"
        try:
            with urllib.request.urlopen(url, timeout=timeout + 10) as r:
                return json.loads(r.read())["result"]
        except urllib.error.HTTPError as exc:
            if exc.code == 408:
                raise TimeoutError(json.loads(exc.read())["description"]) from None
            raise


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--token", default=DEFAULT_TOKEN)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(list(argv) if argv is not None else None)
    api = FakeBotApi(args.token, port=args.port).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # Closing our stdin (the parent died) also stops us, so a crashed test run leaves no orphan server.
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print(json.dumps({"port": api.port, "base_url": api.base_url, "token": api.token}), flush=True)
    stop.wait()
    api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
