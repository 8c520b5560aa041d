"""Three bots (controller, notification, analytics tokens) behind one local Bot API server: routing by priority,
CRITICAL to every bot and through a bot restart (persisted outbox), 429 RetryAfter honoured, 409 Conflict
reported. Real actor system, real python-telegram-bot HTTP."""
from __future__ import annotations

import sqlite3

import pytest

from actors import messages as m
from supervision.system import new_corr
from tests.support.fake_botapi import FakeBotApi
from tests.support.system import find, running_system, wait_for

ADMIN = 2001
CHAT = ADMIN
EXTRAS = """
[telegram]
header_interval = 0
poll_timeout = 2
"""


def token(n: int) -> str:
    return f"{700000000 + n}:" + chr(ord("A") + n) * 35


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tg3")
    with FakeBotApi(token(0), bot_username="ctl_bot") as ctl:
        notif = ctl.add_bot(token(1), "notif_bot")
        ana = ctl.add_bot(token(2), "ana_bot")
        env = {"ZEPIX_TELEGRAM_CONTROLLER_TOKEN": token(0), "ZEPIX_TELEGRAM_NOTIFICATION_TOKEN": token(1),
               "ZEPIX_TELEGRAM_ANALYTICS_TOKEN": token(2), "ZEPIX_TELEGRAM_CHAT_ID": str(CHAT),
               "ZEPIX_TELEGRAM_ADMIN_IDS": str(ADMIN), "ZEPIX_TELEGRAM_BASE_URL": ctl.base_url}
        with running_system(tmp, EXTRAS, env=env, ready_timeout=40) as system:
            for api in (ctl, notif, ana):
                api.wait_for_poll(timeout=20)
            yield {"controller": ctl, "notification": notif, "analytics": ana}, system


def notify(system, **kw):
    addr = system.client.address_of("telegram/notifier")
    assert addr is not None
    system.client.asys.tell(addr, m.encode(m.Notify(**kw)))


def delivered(api, needle):
    return [c for c in api.calls("sendMessage", chat_id=CHAT) if c.ok and needle in c.params.get("text", "")]


def test_one_actor_per_token(world):
    _, system = world
    tree = system.tree()
    for name in ("controller", "notification", "analytics", "notifier"):
        assert find(tree, f"telegram/{name}")["state"] == "running"
    assert find(tree, "telegram/bot") is None


def test_routing_by_priority(world):
    bots, system = world
    notify(system, kind="x", priority="HIGH", text="high one")
    notify(system, kind="x", priority="LOW", text="low one")
    notify(system, kind="x", priority="INFO", text="info one")
    notify(system, kind="x", priority="CRITICAL", text="critical one")
    wait_for(lambda: delivered(bots["notification"], "high one"), 10, what="HIGH at the notification bot")
    wait_for(lambda: delivered(bots["analytics"], "low one"), 10, what="LOW at the analytics bot")
    wait_for(lambda: delivered(bots["controller"], "info one"), 10, what="INFO at the controller bot")
    for api in bots.values():
        wait_for(lambda: delivered(api, "critical one"), 10, what=f"CRITICAL at {api.bot_user['username']}")
    assert not delivered(bots["controller"], "high one") and not delivered(bots["analytics"], "high one")
    assert not delivered(bots["notification"], "low one")


def test_retry_after_is_honoured(world):
    bots, system = world
    api = bots["notification"]
    api.inject_429("sendMessage", retry_after=2, count=1)
    notify(system, kind="x", priority="HIGH", text="after a 429")
    ok = wait_for(lambda: delivered(api, "after a 429"), 15, what="the message after the 429")[0]
    refused = [c for c in api.calls("sendMessage") if c.status == 429]
    assert refused, "the 429 was never provoked"
    waited = ok.t - refused[-1].t
    assert 2.0 <= waited < 3.5, f"resent after {waited:.3f} s, Telegram asked for 2 s"


def test_critical_survives_a_bot_restart(world, tmp_path):
    bots, system = world
    api = bots["notification"]
    # Telegram makes the bot wait 4 s: the CRITICAL message is in the outbox, not yet delivered, when we kill it
    since = max([c.seq for c in api.calls()] or [0])
    api.inject_429("sendMessage", retry_after=4, count=1)
    notify(system, kind="broker_down", priority="CRITICAL", text="broker link lost")
    wait_for(lambda: [c for c in api.calls("sendMessage") if c.status == 429 and c.seq > since], 10, what="the 429")
    db = system.test_dir / "data" / "telegram" / "notification-outbox.db"
    pending = sqlite3.connect(db).execute("SELECT count(*) FROM outbox WHERE status='pending'").fetchone()[0]
    assert pending >= 1
    old = system.node("telegram/notification")
    reply = system.client.ask(m.KillChild(corr=new_corr(), name="telegram/notification"))
    assert reply and reply.ok, reply
    system.wait_node("telegram/notification", lambda n: n["state"] == "running" and n["pid"] != old["pid"],
                     timeout=30)
    wait_for(lambda: delivered(api, "broker link lost"), 20, what="the CRITICAL message after the restart")
    wait_for(lambda: sqlite3.connect(db).execute("SELECT count(*) FROM outbox WHERE status='pending'")
             .fetchone()[0] == 0, 10, what="the outbox emptied")
    # the other bots got it too
    for role in ("controller", "analytics"):
        wait_for(lambda: delivered(bots[role], "broker link lost"), 10, what=f"CRITICAL at {role}")


def test_conflict_is_a_critical_notice(world):
    bots, system = world
    bots["analytics"].inject_conflict(count=1)
    wait_for(lambda: delivered(bots["notification"], "409 Conflict"), 20, what="the conflict notice")
    st = system.client.ask_actor("telegram/analytics", m.StatusRequest(corr=new_corr()))
    assert st.data["conflicts"] >= 1
