"""A running Zepix with one Telegram bot against the local Bot API stand-in, for the Telegram actor tests.

``telegram_world(tmp, toml, chat=..., admin=...)`` starts ``tests.support.fake_botapi.FakeBotApi``, then a real system
with ``ZEPIX_TELEGRAM_*`` pointing at it, waits until the bot polls, and yields ``(api, system)``; everything is
stopped (and every process killed) when the block ends.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from tests.support.fake_botapi import FakeBotApi
from tests.support.system import running_system


def tg_env(api: FakeBotApi, chat: int, admin: int, viewer: int | None = None) -> dict:
    env = {"ZEPIX_TELEGRAM_TOKEN": api.token, "ZEPIX_TELEGRAM_CHAT_ID": str(chat),
           "ZEPIX_TELEGRAM_ADMIN_IDS": str(admin), "ZEPIX_TELEGRAM_BASE_URL": api.base_url}
    if viewer is not None:
        env["ZEPIX_TELEGRAM_VIEWER_IDS"] = str(viewer)
    return env


@contextlib.contextmanager
def telegram_world(tmp: Path, toml: str, *, chat: int, admin: int, viewer: int | None = None,
                   env: dict | None = None, ready=None):
    """``ready(system)``: an extra wait before the bot's first poll is awaited (subscriptions and the like)."""
    with FakeBotApi() as api:
        with running_system(tmp, toml, env={**tg_env(api, chat, admin, viewer), **(env or {})},
                            ready_timeout=40) as system:
            if ready is not None:
                ready(system)
            api.wait_for_poll(timeout=20)
            yield api, system


def last_seq(api: FakeBotApi) -> int:
    """The sequence number of the last call the stand-in saw (0: none): 'since' for the next wait."""
    calls = api.calls()
    return calls[-1].seq if calls else 0
