"""Telegram settings that are secrets or per-deployment, read from environment variables (never from files).

ZEPIX_TELEGRAM_TOKEN                 one bot playing every role
ZEPIX_TELEGRAM_CONTROLLER_TOKEN      optional per-role bots (DECISIONS 19); a missing role falls back to
ZEPIX_TELEGRAM_NOTIFICATION_TOKEN    ZEPIX_TELEGRAM_TOKEN, else to another configured bot
ZEPIX_TELEGRAM_ANALYTICS_TOKEN
ZEPIX_TELEGRAM_CHAT_ID               where notifications go (a user id, a negative group id or @channel)
ZEPIX_TELEGRAM_ADMIN_IDS             comma-separated Telegram user ids that may change settings and trade
ZEPIX_TELEGRAM_VIEWER_IDS            comma-separated user ids that may only read
ZEPIX_TELEGRAM_BASE_URL              Bot API base URL (default https://api.telegram.org/bot); `{token}` allowed

No token at all means Telegram is off. Errors are `ConfigError`s naming the variable; token values are redacted.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from config.errors import ConfigError

ROLES = ("controller", "notification", "analytics")
PREFIX = "ZEPIX_TELEGRAM_"
_TOKEN_RE = re.compile(r"\d{3,}:[A-Za-z0-9_-]{20,}")


def redact(token: str) -> str:
    """Enough to tell two tokens apart in a message, never enough to use one."""
    return f"{token.split(':', 1)[0]}:…{token[-2:]}" if ":" in token else "<redacted>"


def _token(env: Mapping[str, str], name: str) -> str | None:
    v = env.get(name, "").strip()
    if not v:
        return None
    if not _TOKEN_RE.fullmatch(v):
        raise ConfigError(name, redact(v), "a bot token from @BotFather, like 123456789:AA… (digits, colon, 35 characters)")
    return v


def _ids(env: Mapping[str, str], name: str) -> frozenset[int]:
    raw = env.get(name, "").strip()
    out = set()
    for part in filter(None, (p.strip() for p in raw.split(","))):
        if not re.fullmatch(r"\d+", part):
            raise ConfigError(name, raw, "comma-separated numeric Telegram user ids, e.g. 123456789,987654321")
        out.add(int(part))
    return frozenset(out)


@dataclass(frozen=True)
class TelegramEnv:
    tokens: Mapping[str, str]      # role -> token, every role present
    chat_id: int | str
    admin_ids: frozenset[int]
    viewer_ids: frozenset[int]
    base_url: str | None

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> "TelegramEnv | None":
        main = _token(env, PREFIX + "TOKEN")
        per_role = {r: _token(env, f"{PREFIX}{r.upper()}_TOKEN") for r in ROLES}
        given = [t for t in (main, per_role["notification"], per_role["controller"], per_role["analytics"]) if t]
        if not given:
            return None
        tokens = {r: per_role[r] or main or given[0] for r in ROLES}
        raw_chat = env.get(PREFIX + "CHAT_ID", "").strip()
        if re.fullmatch(r"-?\d+", raw_chat):
            chat: int | str = int(raw_chat)
        elif re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{4,}", raw_chat):
            chat = raw_chat
        else:
            raise ConfigError(PREFIX + "CHAT_ID", raw_chat or None,
                              "the chat for notifications: your user id, a group id (negative) or @channelname")
        admins = _ids(env, PREFIX + "ADMIN_IDS")
        # Someone in both lists is an admin: the wider role wins rather than failing start-up.
        viewers = _ids(env, PREFIX + "VIEWER_IDS") - admins
        base = env.get(PREFIX + "BASE_URL", "").strip() or None
        if base is not None and not re.match(r"https?://[^/\s]+", base):
            raise ConfigError(PREFIX + "BASE_URL", base, "an http(s) URL such as http://127.0.0.1:8081/bot")
        return cls(tokens=tokens, chat_id=chat, admin_ids=admins, viewer_ids=viewers, base_url=base)

    def bots(self) -> dict[str, tuple[str, ...]]:
        """token -> the roles it plays. One process per token (DESIGN), so this is what to start."""
        out: dict[str, list[str]] = {}
        for role in ROLES:
            out.setdefault(self.tokens[role], []).append(role)
        return {t: tuple(r) for t, r in out.items()}

    def role_of(self, user_id: int) -> str | None:
        """'admin', 'viewer', or None (not allowed to command at all)."""
        if user_id in self.admin_ids:
            return "admin"
        if user_id in self.viewer_ids:
            return "viewer"
        return None

    def __repr__(self) -> str:
        toks = {r: redact(t) for r, t in self.tokens.items()}
        return (f"TelegramEnv(tokens={toks}, chat_id={self.chat_id!r}, admin_ids={sorted(self.admin_ids)}, "
                f"viewer_ids={sorted(self.viewer_ids)}, base_url={self.base_url!r})")
