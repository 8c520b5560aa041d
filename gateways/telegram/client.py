"""Thin async wrapper over python-telegram-bot's `Bot`: executes a scheduler `Send` and turns every outcome,
exceptions included, into a plain result (`SendOk`, `SendRetryAfter`, `SendError`) the scheduler understands.

Create, use and stop one client on one event loop (the owning actor's private loop): the HTTP connection pool
belongs to that loop. `base_url` points it at another Bot API server (a local Bot API server, or the test fake).
"""
from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from telegram import Bot, BotCommand, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from .env import redact
from .sender import OutMessage, Send, SendError, SendOk, SendRetryAfter, SendResult

DEFAULT_BASE_URL = "https://api.telegram.org/bot"


@dataclass(frozen=True)
class Updates:
    """A getUpdates answer: the updates as Bot API dicts, and the offset that confirms them next time."""

    updates: tuple[dict[str, Any], ...]
    next_offset: int | None


def retry_after_seconds(exc: RetryAfter) -> float:
    """RetryAfter.retry_after is an int today and a timedelta in PTB's future; accept both without the warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


def map_exception(exc: BaseException) -> SendRetryAfter | SendError:
    """Exception -> result. Order matters: BadRequest and TimedOut are NetworkError subclasses."""
    if isinstance(exc, RetryAfter):
        return SendRetryAfter(retry_after_seconds(exc))
    if isinstance(exc, BadRequest):
        text = exc.message
        low = text.lower()
        if "can't parse entities" in low or "can't find end of the entity" in low:
            return SendError("bad_markup", text)
        if "not found" in low:
            # "message to edit not found", "chat not found", "message to delete not found": nothing to retry.
            return SendError("not_found", text)
        return SendError("bad_request", text)
    if isinstance(exc, TimedOut):
        # The request may have reached Telegram: a retry can duplicate the message (at least once).
        return SendError("timed_out", exc.message, retryable=True)
    if isinstance(exc, Conflict):
        return SendError("conflict", exc.message)
    if isinstance(exc, Forbidden):
        return SendError("forbidden", exc.message)
    if isinstance(exc, InvalidToken):
        return SendError("invalid_token", exc.message)
    if isinstance(exc, ChatMigrated):
        return SendError("chat_migrated", f"{exc.message} (new chat id {exc.new_chat_id})")
    if isinstance(exc, NetworkError):
        return SendError("network", exc.message, retryable=True)
    if isinstance(exc, TelegramError):
        return SendError("telegram", exc.message)
    raise exc


def _not_modified(exc: BadRequest) -> bool:
    # Editing a message to what it already shows is a success for us (the header refresh does this a lot).
    return "message is not modified" in exc.message.lower()


class TelegramClient:
    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        write_timeout: float = 10.0,
        pool_timeout: float = 1.0,
        media_write_timeout: float = 20.0,
    ):
        url = base_url or DEFAULT_BASE_URL
        request = HTTPXRequest(connection_pool_size=8, connect_timeout=connect_timeout, read_timeout=read_timeout,
                               write_timeout=write_timeout, pool_timeout=pool_timeout,
                               media_write_timeout=media_write_timeout)
        # Long polling gets its own connection so a pending getUpdates never blocks a send.
        poll_request = HTTPXRequest(connection_pool_size=1, connect_timeout=connect_timeout,
                                    read_timeout=read_timeout, write_timeout=write_timeout, pool_timeout=pool_timeout)
        file_url = url.replace("/bot", "/file/bot", 1) if "/bot" in url else url
        self.bot = Bot(token, base_url=url, base_file_url=file_url, request=request, get_updates_request=poll_request)
        self._token = token

    async def start(self) -> dict[str, Any]:
        """Initialise the HTTP pools and call getMe (a bad token fails here). Returns the bot user as a dict."""
        try:
            await self.bot.initialize()
        except TelegramError as exc:
            # The pools are open even when getMe failed; and PTB puts the whole token into InvalidToken's text.
            await self.bot.shutdown()
            if isinstance(exc, InvalidToken):
                # `from None`: a chained traceback would print the original text, token and all.
                raise InvalidToken(self._redact(exc.message)) from None
            raise
        return self.bot.bot.to_dict()

    async def stop(self) -> None:
        await self.bot.shutdown()  # a no-op when nothing is open

    def _redact(self, text: str) -> str:
        return text.replace(self._token, redact(self._token))

    def _map(self, exc: TelegramError) -> SendRetryAfter | SendError:
        r = map_exception(exc)
        if isinstance(r, SendError) and self._token in r.description:
            r = SendError(r.kind, self._redact(r.description), r.retryable)
        return r

    async def __aenter__(self) -> "TelegramClient":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ sending
    async def execute(self, send: Send | OutMessage) -> SendResult:
        m = send.message if isinstance(send, Send) else send
        try:
            return SendOk(await self._call(m))
        except BadRequest as exc:
            if m.method in ("editMessageText", "editMessageReplyMarkup") and _not_modified(exc):
                return SendOk(m.message_id)
            return self._map(exc)
        except TelegramError as exc:
            return self._map(exc)

    async def _call(self, m: OutMessage) -> int | None:
        b = self.bot
        markup = InlineKeyboardMarkup.de_json(dict(m.reply_markup), b) if m.reply_markup else None
        if m.method == "sendMessage":
            msg = await b.send_message(m.chat_id, m.text, parse_mode=m.parse_mode, reply_markup=markup,
                                       disable_notification=m.disable_notification,
                                       link_preview_options=LinkPreviewOptions(is_disabled=True))
            return msg.message_id
        if m.method == "editMessageText":
            res = await b.edit_message_text(m.text, chat_id=m.chat_id, message_id=m.message_id,
                                            parse_mode=m.parse_mode, reply_markup=markup,
                                            link_preview_options=LinkPreviewOptions(is_disabled=True))
            return res.message_id if hasattr(res, "message_id") else m.message_id
        if m.method == "editMessageReplyMarkup":
            res = await b.edit_message_reply_markup(chat_id=m.chat_id, message_id=m.message_id, reply_markup=markup)
            return res.message_id if hasattr(res, "message_id") else m.message_id
        if m.method == "pinChatMessage":
            await b.pin_chat_message(m.chat_id, m.message_id, disable_notification=m.disable_notification)
            return m.message_id
        if m.method == "unpinChatMessage":
            await b.unpin_chat_message(m.chat_id, message_id=m.message_id)
            return m.message_id
        if m.method == "deleteMessage":
            await b.delete_message(m.chat_id, m.message_id)
            return m.message_id
        if m.method == "sendVoice":
            msg = await b.send_voice(m.chat_id, m.voice, caption=m.text or None, parse_mode=m.parse_mode,
                                     disable_notification=m.disable_notification, filename="voice.ogg")
            return msg.message_id
        raise ValueError(f"unsupported method {m.method!r}")

    # ------------------------------------------------------------------ receiving and setup
    async def get_updates(self, offset: int | None = None, timeout: int = 0, limit: int = 100,
                          allowed_updates: Sequence[str] | None = None) -> Updates | SendRetryAfter | SendError:
        """One long poll. Conflict (another poller, or a webhook is set) comes back as SendError('conflict')."""
        try:
            ups = await self.bot.get_updates(offset=offset, timeout=timeout, limit=limit,
                                             allowed_updates=list(allowed_updates) if allowed_updates else None)
        except TelegramError as exc:
            return self._map(exc)
        dicts = tuple(u.to_dict() for u in ups)
        nxt = max(u.update_id for u in ups) + 1 if ups else offset
        return Updates(dicts, nxt)

    async def answer_callback(self, callback_query_id: str, text: str | None = None,
                              show_alert: bool = False) -> SendResult:
        """Answer a button press at once (not via the scheduler): Telegram shows a spinner until we do."""
        try:
            await self.bot.answer_callback_query(callback_query_id, text=text, show_alert=show_alert)
            return SendOk()
        except TelegramError as exc:
            return self._map(exc)

    async def set_commands(self, commands: Sequence[tuple[str, str]] | Mapping[str, str]) -> SendResult:
        pairs = commands.items() if isinstance(commands, Mapping) else commands
        try:
            await self.bot.set_my_commands([BotCommand(c, d) for c, d in pairs])
            return SendOk()
        except TelegramError as exc:
            return self._map(exc)

    async def delete_webhook(self, drop_pending_updates: bool = False) -> SendResult:
        """Long polling only works without a webhook; call once at start."""
        try:
            await self.bot.delete_webhook(drop_pending_updates=drop_pending_updates)
            return SendOk()
        except TelegramError as exc:
            return self._map(exc)
