"""Children of the ``telegram`` subtree: one bot actor per distinct token, and the notification router.

Tokens come only from the environment (gateways.telegram.env): none -> no children (Telegram is off, run.py
says so). One token -> ``bot`` plays controller, notification and analytics. Several -> one actor per token,
named after the first role it plays (``controller``, ``notification``, ``analytics``). The notifier learns from
its options which actor path plays which role; tokens never travel in specs or messages, each bot reads its own
from the environment it inherited.
"""
from __future__ import annotations

import os

from gateways.telegram.env import TelegramEnv
from supervision.childspec import ChildSpec

BOT = "actors.telegram_bot.TelegramBot"
NOTIFIER = "actors.notifier.TelegramNotifier"


def plan(env: TelegramEnv) -> dict[str, tuple[str, ...]]:
    """actor name -> the roles it plays."""
    bots = env.bots()
    if len(bots) == 1:
        return {"bot": next(iter(bots.values()))}
    return {roles[0]: roles for roles in bots.values()}


def children(cfg: dict, defaults: dict, environ=None) -> list[ChildSpec]:
    env = TelegramEnv.from_environ(os.environ if environ is None else environ)
    if env is None:
        return []
    tc = cfg.get("telegram", {})
    bot_timing = {**defaults, "start_timeout": max(defaults.get("start_timeout", 10.0), float(tc.get("start_timeout", 20.0)))}
    out, role_paths = [], {}
    for name, roles in plan(env).items():
        out.append(ChildSpec(name=name, actor=BOT, options={"roles": list(roles)}, **bot_timing))
        for r in roles:
            role_paths[r] = f"telegram/{name}"
    out.append(ChildSpec(name="notifier", actor=NOTIFIER, options={"bots": role_paths}, **defaults))
    return out


def off_message() -> str | None:
    """What run.py prints when Telegram is off (None when it is on)."""
    try:
        env = TelegramEnv.from_environ(os.environ)
    except Exception as exc:   # a wrong variable stops start-up elsewhere with the details
        return f"  telegram    : not started: {exc}"
    if env is not None:
        return None
    return ("  telegram    : off (no bot token). To turn it on: export ZEPIX_TELEGRAM_TOKEN=<token from @BotFather>, "
            "ZEPIX_TELEGRAM_CHAT_ID and ZEPIX_TELEGRAM_ADMIN_IDS (see docs/telegram.md)")
