"""Priority send scheduler for one Telegram bot: decides what goes out next and when (sans-IO, time passed in).

The owner loops: `enqueue(msg, now)` for new messages; `next_due(now)` returns either a `Send` to execute now or
the number of seconds to wait (`math.inf` when there is nothing it may send until a result arrives); after the
request it reports `on_result(send, SendOk | SendRetryAfter | SendError, now)`, which may return a `Delivered` or
`Failed` outcome for the whole message.

Guarantees:
* Priority CRITICAL > HIGH > NORMAL > LOW; first in, first out within a priority and chat.
* Sliding-window limits: per chat, per group chat (negative chat id) and per bot. A dispatch at time t is allowed
  only if fewer than N dispatches of that scope happened in (t - W, t], so any window [t, t + W) holds at most N.
* One request in flight per chat, so the parts of a split message and retries keep their order.
* A RetryAfter pauses the bot (or only the chat, by setting) until exactly `now + retry_after`.
* A bounded queue: on overflow the oldest message of the lowest priority is dropped (counted); CRITICAL is never
  dropped, even if that means exceeding the bound.
* Text over the limit (4096 UTF-16 code units) is split at line boundaries into several messages.
"""
from __future__ import annotations

import base64
import enum
import heapq
import html
import itertools
import math
import re
from collections import deque
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping, Union

from config.errors import ConfigError

TELEGRAM_MAX_TEXT = 4096
"""Bot API limit for a message text (and 1024 for a caption), measured by Telegram in UTF-16 code units."""
TELEGRAM_MAX_CAPTION = 1024

# Methods whose payload is `text` and that may therefore be split; an edit cannot become two messages.
_SPLITTABLE = frozenset({"sendMessage"})
_TEXT_METHODS = frozenset({"sendMessage", "editMessageText"})
METHODS = frozenset({
    "sendMessage", "editMessageText", "editMessageReplyMarkup", "pinChatMessage", "unpinChatMessage",
    "deleteMessage", "sendVoice",
})


class Priority(enum.IntEnum):
    LOW = 0
    NORMAL = 1
    HIGH = 2
    CRITICAL = 3

    @classmethod
    def parse(cls, value: "Priority | str | int") -> "Priority":
        if isinstance(value, Priority):
            return value
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                raise ValueError(f"unknown priority {value!r}; allowed: {', '.join(p.name for p in cls)}") from None
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
        raise ValueError(f"unknown priority {value!r}")


@dataclass(frozen=True)
class OutMessage:
    """One outgoing Bot API request as plain data (so it can cross actor boundaries and be persisted).

    `method` is the Bot API method name. `text` is the message text (the caption for sendVoice).
    `reply_markup` is the Bot API JSON shape, e.g. {"inline_keyboard": [[{"text": "OK", "callback_data": "x"}]]}.
    `key` is the caller's identity for the message (journal or outbox id); outcomes carry it back.
    `is_group` overrides the "negative chat id means group, supergroup or channel" rule.
    """

    chat_id: int | str
    text: str = ""
    priority: Priority = Priority.NORMAL
    method: str = "sendMessage"
    parse_mode: str | None = "HTML"
    reply_markup: Mapping[str, Any] | None = None
    message_id: int | None = None
    disable_notification: bool = False
    voice: bytes | str | None = None
    key: str | None = None
    is_group: bool | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unsupported method {self.method!r}; allowed: {', '.join(sorted(METHODS))}")
        object.__setattr__(self, "priority", Priority.parse(self.priority))

    @property
    def group(self) -> bool:
        if self.is_group is not None:
            return self.is_group
        if isinstance(self.chat_id, str):
            # "@channelname" targets are channels or public supergroups: group limits apply.
            return self.chat_id.startswith("@") or self.chat_id.startswith("-")
        return self.chat_id < 0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "priority":
                v = v.name
            elif f.name == "voice" and isinstance(v, bytes):
                v = {"b64": base64.b64encode(v).decode("ascii")}
            elif f.name == "reply_markup" and v is not None:
                v = dict(v)
            d[f.name] = v
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "OutMessage":
        kw = dict(d)
        voice = kw.get("voice")
        if isinstance(voice, Mapping):
            kw["voice"] = base64.b64decode(voice["b64"])
        return cls(**kw)


@dataclass(frozen=True)
class Send:
    """One request the owner must execute now: `message` is already one part (text within the limit)."""

    id: int
    message: OutMessage
    part: int
    parts: int
    attempt: int

    @property
    def key(self) -> str | None:
        return self.message.key


@dataclass(frozen=True)
class SendOk:
    message_id: int | None = None


@dataclass(frozen=True)
class SendRetryAfter:
    seconds: float


@dataclass(frozen=True)
class SendError:
    """A failed request. `kind` is one of: network, timed_out, bad_request, bad_markup, not_found, forbidden,
    conflict, invalid_token, chat_migrated, telegram. Only `retryable` errors are tried again."""

    kind: str
    description: str = ""
    retryable: bool = False


SendResult = Union[SendOk, SendRetryAfter, SendError]


@dataclass(frozen=True)
class Delivered:
    key: str | None
    message: OutMessage
    message_ids: tuple[int | None, ...]


@dataclass(frozen=True)
class Failed:
    key: str | None
    message: OutMessage
    kind: str
    reason: str


Outcome = Union[Delivered, Failed]


@dataclass(frozen=True)
class EnqueueResult:
    parts: int
    dropped: tuple[OutMessage, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.parts > 0


@dataclass
class SenderStats:
    enqueued: int = 0
    dispatched: int = 0
    delivered: int = 0
    failed: int = 0
    retry_after: int = 0
    retries: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {p.name: 0 for p in Priority})


# --------------------------------------------------------------------------------------------------- settings

def _int(key: str, v: Any, lo: int, hi: int | None = None) -> int:
    allowed = f"an integer >= {lo}" + (f" and <= {hi}" if hi is not None else "")
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        raise ConfigError(key, v, allowed)
    return v


def _seconds(key: str, v: Any, *, zero_ok: bool = False) -> float:
    allowed = "a number of seconds >= 0" if zero_ok else "a number of seconds > 0"
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 or (v == 0 and not zero_ok):
        raise ConfigError(key, v, allowed)
    return float(v)


@dataclass(frozen=True)
class SenderSettings:
    """Every number the scheduler uses; defaults are Telegram's published flood limits."""

    chat_max_messages: int = 1
    chat_window_seconds: float = 1.0
    group_max_messages: int = 20
    group_window_seconds: float = 60.0
    bot_max_messages: int = 30
    bot_window_seconds: float = 1.0
    max_queue: int = 1000
    max_message_chars: int = TELEGRAM_MAX_TEXT
    retry_after_scope: str = "bot"
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    max_attempts: int = 5
    outbox_priorities: tuple[str, ...] = ("CRITICAL",)

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None, path: str = "telegram.sender") -> "SenderSettings":
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        for k in d:
            if k not in known:
                raise ConfigError(f"{path}.{k}", d[k], "one of: " + ", ".join(sorted(known)))
        key = lambda name: f"{path}.{name}"  # noqa: E731
        kw: dict[str, Any] = {}
        for name in ("chat_max_messages", "group_max_messages", "bot_max_messages", "max_queue", "max_attempts"):
            if name in d:
                kw[name] = _int(key(name), d[name], 1)
        if "max_message_chars" in d:
            # Telegram rejects longer texts; a smaller limit is allowed (e.g. to keep messages readable).
            kw["max_message_chars"] = _int(key("max_message_chars"), d["max_message_chars"], 64, TELEGRAM_MAX_TEXT)
        for name in ("chat_window_seconds", "group_window_seconds", "bot_window_seconds", "retry_initial_seconds",
                     "retry_max_seconds"):
            if name in d:
                kw[name] = _seconds(key(name), d[name])
        if "retry_after_scope" in d:
            v = d["retry_after_scope"]
            if v not in ("bot", "chat"):
                raise ConfigError(key("retry_after_scope"), v, "'bot' (pause every chat) or 'chat' (pause that chat)")
            kw["retry_after_scope"] = v
        if "outbox_priorities" in d:
            v = d["outbox_priorities"]
            names = {p.name for p in Priority}
            allowed = "a list of priority names that includes CRITICAL, e.g. ['CRITICAL', 'HIGH']"
            if isinstance(v, str) or not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
                raise ConfigError(key("outbox_priorities"), v, allowed)
            upper = tuple(dict.fromkeys(x.upper() for x in v))
            if "CRITICAL" not in upper or not set(upper) <= names:
                raise ConfigError(key("outbox_priorities"), v, allowed)
            kw["outbox_priorities"] = upper
        s = cls(**kw)
        if s.retry_max_seconds < s.retry_initial_seconds:
            raise ConfigError(key("retry_max_seconds"), s.retry_max_seconds,
                              f"a number of seconds >= retry_initial_seconds ({s.retry_initial_seconds})")
        return s

    def persists(self, priority: Priority | str) -> bool:
        """Whether messages of this priority belong in the outbox (survive restarts)."""
        return Priority.parse(priority).name in self.outbox_priorities


# --------------------------------------------------------------------------------------------------- splitting

def utf16_len(text: str) -> int:
    """Length as Telegram counts it: characters outside the BMP (most emoji) count twice."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _cut(text: str, limit: int) -> int:
    """Largest index i such that text[:i] fits `limit` UTF-16 units (never inside a character)."""
    n = 0
    for i, ch in enumerate(text):
        n += 2 if ord(ch) > 0xFFFF else 1
        if n > limit:
            return i
    return len(text)


def _split_long_line(line: str, limit: int) -> list[str]:
    out = []
    while utf16_len(line) > limit:
        i = _cut(line, limit)
        space = line.rfind(" ", 0, i)
        # Breaking at a word keeps words whole; a long token without spaces is cut hard.
        j = space + 1 if space > 0 else i
        out.append(line[:j])
        line = line[j:]
    out.append(line)
    return out


def split_text(text: str, limit: int = TELEGRAM_MAX_TEXT) -> list[str]:
    """Split `text` into parts of at most `limit` UTF-16 units, at line boundaries.

    The newline at each boundary is dropped, so for text whose lines all fit, "\\n".join(parts) == text.
    A single line longer than the limit is broken at the last space that fits, else hard.
    HTML tags must not span lines (our layouts close every tag on its line) or a part would be invalid.
    """
    if limit < 1:
        raise ValueError("limit must be >= 1")
    if utf16_len(text) <= limit:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        pieces = _split_long_line(line, limit) if utf16_len(line) > limit else [line]
        for k, piece in enumerate(pieces):
            n = utf16_len(piece)
            sep = 1 if current else 0
            if current and (k > 0 or size + sep + n > limit):
                parts.append("\n".join(current))
                current, size, sep = [], 0, 0
            current.append(piece)
            size += sep + n
            if k < len(pieces) - 1:
                # Pieces of one broken line are separate parts; joined they rebuild the line exactly.
                parts.append("\n".join(current))
                current, size = [], 0
    if current:
        parts.append("\n".join(current))
    return parts


def _truncate(text: str, limit: int) -> str:
    if utf16_len(text) <= limit:
        return text
    return text[:_cut(text, limit - 1)] + "…"


_TAG = re.compile(r"<[^>]*>")


def plain_text(text: str, parse_mode: str | None) -> str:
    """The visible text of an HTML message, used when Telegram refuses our markup: better unformatted than lost."""
    if parse_mode and parse_mode.upper() == "HTML":
        return html.unescape(_TAG.sub("", text))
    return text


# --------------------------------------------------------------------------------------------------- scheduler

@dataclass
class _Msg:
    id: int
    original: OutMessage
    parts: int
    remaining: int
    message_ids: list[int | None] = field(default_factory=list)
    in_flight: bool = False


@dataclass
class _Item:
    seq: int
    msg: _Msg
    message: OutMessage
    part: int
    attempt: int = 0
    not_before: float = -math.inf

    def sort_key(self) -> tuple[int, int]:
        return (-int(self.message.priority), self.seq)


class _Window:
    """Sliding-window log: at most `n` events in any half-open window of `w` seconds."""

    __slots__ = ("n", "w", "times")

    def __init__(self, n: int, w: float):
        self.n, self.w = n, w
        self.times: deque[float] = deque()

    def ready_at(self, now: float) -> float:
        while self.times and self.times[0] + self.w <= now:
            self.times.popleft()
        if len(self.times) < self.n:
            return -math.inf
        return self.times[-self.n] + self.w

    def add(self, t: float) -> None:
        self.times.append(t)


class SendScheduler:
    """See the module docstring. Not thread-safe: one owner (the bot's actor) calls it."""

    def __init__(self, settings: SenderSettings | None = None):
        self.settings = settings or SenderSettings()
        self.stats = SenderStats()
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._queues: dict[Any, list[tuple[tuple[int, int], _Item]]] = {}
        self._size = 0
        self._chat_windows: dict[Any, _Window] = {}
        self._group_windows: dict[Any, _Window] = {}
        self._bot_window = _Window(self.settings.bot_max_messages, self.settings.bot_window_seconds)
        self._bot_paused_until = -math.inf
        self._chat_paused_until: dict[Any, float] = {}
        self._in_flight: dict[int, tuple[Send, _Item]] = {}
        self._busy_chats: set[Any] = set()

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        """Queued parts, not counting requests in flight."""
        return self._size

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def idle(self) -> bool:
        return self._size == 0 and not self._in_flight

    def paused_until(self, chat_id: Any = None) -> float:
        """The time before which nothing (to that chat) may go out because of RetryAfter."""
        t = self._bot_paused_until
        if chat_id is not None:
            t = max(t, self._chat_paused_until.get(_chat_key(chat_id), -math.inf))
        return t

    # ------------------------------------------------------------------ enqueue
    def enqueue(self, msg: OutMessage, now: float) -> EnqueueResult:
        limit = self.settings.max_message_chars
        if msg.method in _SPLITTABLE:
            texts = split_text(msg.text, limit)
        elif msg.method in _TEXT_METHODS:
            texts = [_truncate(msg.text, limit)]
        elif msg.method == "sendVoice":
            texts = [_truncate(msg.text, TELEGRAM_MAX_CAPTION)]
        else:
            texts = [msg.text]
        m = _Msg(id=next(self._ids), original=msg, parts=len(texts), remaining=len(texts))
        items = [_Item(seq=next(self._seq), msg=m, message=replace(msg, text=t), part=i + 1)
                 for i, t in enumerate(texts)]
        dropped = self._make_room(m, len(items))
        if m in dropped:
            self.stats.dropped[msg.priority.name] += 1
            others = tuple(x.original for x in dropped if x is not m)
            return EnqueueResult(parts=0, dropped=(msg,) + others)
        q = self._queues.setdefault(_chat_key(msg.chat_id), [])
        for it in items:
            heapq.heappush(q, (it.sort_key(), it))
        self._size += len(items)
        self.stats.enqueued += 1
        return EnqueueResult(parts=len(items), dropped=tuple(x.original for x in dropped))

    def _make_room(self, new: _Msg, n_new: int) -> list[_Msg]:
        """Drop whole messages, lowest priority and oldest first, until `n_new` parts fit. Never CRITICAL, never
        one with a part in flight (its rest would arrive truncated)."""
        dropped: list[_Msg] = []
        if self._size + n_new <= self.settings.max_queue:
            return dropped
        counts: dict[int, tuple[tuple[int, int], _Msg, int]] = {}
        for q in self._queues.values():
            for _, it in q:
                m = it.msg
                if m.in_flight or m.original.priority == Priority.CRITICAL:
                    continue
                prev = counts.get(m.id)
                order = (int(m.original.priority), it.seq)
                counts[m.id] = (min(prev[0], order) if prev else order, m, (prev[2] if prev else 0) + 1)
        candidates = sorted(counts.values(), key=lambda c: c[0])
        if new.original.priority != Priority.CRITICAL:
            candidates.append(((int(new.original.priority), math.inf), new, n_new))  # type: ignore[arg-type]
            candidates.sort(key=lambda c: c[0])
        size = self._size + n_new
        for _, m, n in candidates:
            if size <= self.settings.max_queue:
                break
            if m is new:
                # Dropping the newcomer frees enough by itself; older messages it outranks stay.
                return [new]
            dropped.append(m)
            size -= n
        for m in dropped:
            self._remove_msg(m)
            self.stats.dropped[m.original.priority.name] += 1
        return dropped

    def _remove_msg(self, m: _Msg) -> None:
        key = _chat_key(m.original.chat_id)
        q = self._queues.get(key, [])
        kept = [e for e in q if e[1].msg is not m]
        self._size -= len(q) - len(kept)
        heapq.heapify(kept)
        self._queues[key] = kept

    # ------------------------------------------------------------------ dispatch
    def _chat_ready_at(self, key: Any, head: _Item, now: float) -> float:
        if key in self._busy_chats:
            return math.inf
        w = self._chat_windows.get(key)
        t = max(head.not_before, self._chat_paused_until.get(key, -math.inf))
        if w is not None:
            t = max(t, w.ready_at(now))
        if head.message.group:
            g = self._group_windows.get(key)
            if g is not None:
                t = max(t, g.ready_at(now))
        return t

    def next_due(self, now: float) -> Send | float:
        """A `Send` to execute now, or seconds to wait before calling again (inf: nothing until a result)."""
        bot_ready = max(self._bot_paused_until, self._bot_window.ready_at(now))
        best: tuple[tuple[int, int], Any, _Item] | None = None
        earliest = math.inf
        for key, q in self._queues.items():
            if not q:
                continue
            head = q[0][1]
            t = max(self._chat_ready_at(key, head, now), bot_ready)
            if t <= now:
                if best is None or head.sort_key() < best[0]:
                    best = (head.sort_key(), key, head)
            else:
                earliest = min(earliest, t)
        if best is None:
            return _wait(now, earliest)
        _, key, item = best
        heapq.heappop(self._queues[key])
        self._size -= 1
        return self._dispatch(key, item, now)

    def _dispatch(self, key: Any, item: _Item, now: float) -> Send:
        s = self.settings
        self._bot_window.add(now)
        self._chat_windows.setdefault(key, _Window(s.chat_max_messages, s.chat_window_seconds)).add(now)
        if item.message.group:
            self._group_windows.setdefault(key, _Window(s.group_max_messages, s.group_window_seconds)).add(now)
        item.attempt += 1
        item.msg.in_flight = True
        send = Send(id=next(self._ids), message=item.message, part=item.part, parts=item.msg.parts,
                    attempt=item.attempt)
        self._in_flight[send.id] = (send, item)
        self._busy_chats.add(key)
        self.stats.dispatched += 1
        return send

    # ------------------------------------------------------------------ results
    def on_result(self, send: Send, result: SendResult, now: float) -> Outcome | None:
        try:
            _, item = self._in_flight.pop(send.id)
        except KeyError:
            raise ValueError(f"send {send.id} is not in flight") from None
        key = _chat_key(item.message.chat_id)
        self._busy_chats.discard(key)
        item.msg.in_flight = False
        if isinstance(result, SendOk):
            item.msg.message_ids.append(result.message_id)
            item.msg.remaining -= 1
            if item.msg.remaining == 0:
                self.stats.delivered += 1
                return Delivered(item.msg.original.key, item.msg.original, tuple(item.msg.message_ids))
            return None
        if isinstance(result, SendRetryAfter):
            self.stats.retry_after += 1
            until = now + result.seconds
            if self.settings.retry_after_scope == "bot":
                self._bot_paused_until = max(self._bot_paused_until, until)
            else:
                self._chat_paused_until[key] = max(self._chat_paused_until.get(key, -math.inf), until)
            # Flood control is not the message's fault: it does not use up an attempt.
            item.attempt -= 1
            self._requeue(key, item)
            return None
        if isinstance(result, SendError):
            if result.kind == "bad_markup" and item.message.parse_mode:
                item.message = replace(item.message, text=plain_text(item.message.text, item.message.parse_mode),
                                       parse_mode=None)
                self.stats.retries += 1
                self._requeue(key, item)
                return None
            critical = item.message.priority == Priority.CRITICAL
            if result.retryable and (critical or item.attempt < self.settings.max_attempts):
                s = self.settings
                item.not_before = now + min(s.retry_max_seconds, s.retry_initial_seconds * 2 ** (item.attempt - 1))
                self.stats.retries += 1
                self._requeue(key, item)
                return None
            self._remove_msg(item.msg)
            self.stats.failed += 1
            return Failed(item.msg.original.key, item.msg.original, result.kind, result.description)
        raise TypeError(f"unknown result {result!r}")

    def _requeue(self, key: Any, item: _Item) -> None:
        # Same seq: the item goes back to its place at the head, ahead of later parts of its message.
        heapq.heappush(self._queues.setdefault(key, []), (item.sort_key(), item))
        self._size += 1


def _chat_key(chat_id: Any) -> Any:
    # "123" and 123 are the same chat; "@name" stays a string.
    if isinstance(chat_id, str):
        try:
            return int(chat_id)
        except ValueError:
            return chat_id
    return chat_id


def _wait(now: float, at: float) -> float:
    if math.isinf(at):
        return math.inf
    wait = max(0.0, at - now)
    # Float rounding could make now + wait land just before `at` and spin the caller on zero-length waits.
    while now + wait < at:
        wait = math.nextafter(wait, math.inf)
    return wait
