"""Telegram bots in a real actor system, talking to a local Bot API server (tests/support/fake_botapi.py) through
python-telegram-bot's real HTTP stack. One token: ``telegram/bot`` plays every role. Doubles stand in for
trading/risk and broker/gateway ([supervision.subtrees.trading]
builtin = false
[supervision.subtrees.broker]
builtin = false
[[supervision.extra]])."""
from __future__ import annotations

import sqlite3

import pytest

from actors import messages as m
from supervision.system import new_corr
from tests.support.system import find, wait_for
from tests.support.telegram_world import last_seq, telegram_world

ADMIN, VIEWER, STRANGER = 1001, 1002, 6666
CHAT = ADMIN     # notifications go to the admin's private chat

EXTRAS = """
[supervision.subtrees.trading]
builtin = false
[supervision.subtrees.broker]
builtin = false
[telegram]
header_interval = 0
command_timeout = 2.0
poll_timeout = 2

[[supervision.extra]]
parent = "trading"
name = "risk"
actor = "tests.support.telegram_actors.RiskDouble"

[[supervision.extra]]
parent = "broker"
name = "gateway"
actor = "tests.support.telegram_actors.GatewayDouble"
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with telegram_world(tmp_path_factory.mktemp("tg"), EXTRAS, chat=CHAT, admin=ADMIN, viewer=VIEWER) \
            as (api, system):
        yield api, system


def sent_texts(api, chat=CHAT, since=0):
    return [c.params.get("text", "") for c in api.calls("sendMessage", chat_id=chat) if c.seq > since and c.ok]



def wait_text(api, needle, chat=CHAT, since=0, timeout=10.0, method="sendMessage"):
    def hit():
        for c in api.calls(method, chat_id=chat):
            if c.seq > since and c.ok and needle in c.params.get("text", ""):
                return c
        return None
    return wait_for(hit, timeout, what=f"{method} containing {needle!r}; got {sent_texts(api, chat, since)[-5:]}")


def tell(system, path, msg):
    addr = system.client.address_of(path)
    assert addr is not None, f"{path} is not running"
    system.client.asys.tell(addr, m.encode(msg))


def test_tree_has_one_bot_playing_every_role(world):
    api, system = world
    tree = system.tree()
    assert find(tree, "telegram/bot")["state"] == "running"
    assert find(tree, "telegram/notifier")["state"] == "running"
    assert find(tree, "telegram/controller") is None
    assert [c["command"] for c in api.commands][:3] == ["start", "menu", "help"]


def test_status_from_admin_is_answered_by_trading_risk(world):
    api, _ = world
    since = last_seq(api)
    api.inject_message(ADMIN, "/status")
    call = wait_text(api, "trading state: ACTIVE", since=since)
    assert "/status" in call.params["text"]


def test_stranger_is_ignored(world):
    api, system = world
    since = last_seq(api)
    api.inject_message(STRANGER, "/pause")
    api.inject_message(ADMIN, "/help")          # a later update: once it is answered, the stranger's was handled
    wait_text(api, "Commands", since=since)
    assert not [c for c in api.calls() if c.seq > since and c.chat_id == STRANGER]
    st = system.client.ask_actor("telegram/bot", m.StatusRequest(corr=new_corr()))
    assert st.data["strangers"] >= 1
    risk = system.client.ask_actor("trading/risk", m.StatusRequest(corr=new_corr()))
    assert risk.data["state"] == "ACTIVE"


def test_viewer_may_read_but_not_change(world):
    api, _ = world
    since = last_seq(api)
    api.inject_message(VIEWER, "/pause")
    wait_text(api, "may only read", chat=VIEWER, since=since)
    api.inject_message(VIEWER, "/status")
    wait_text(api, "trading state", chat=VIEWER, since=since)


def test_command_for_absent_actor_answers_why(world):
    api, _ = world
    since = last_seq(api)
    api.inject_message(ADMIN, "/chains")
    wait_text(api, "trading/positions is not running", since=since)


def test_command_without_answer_times_out(world):
    api, _ = world
    since = last_seq(api)
    api.inject_callback_query(ADMIN, "y:clear_daily_loss")     # the confirmation button
    wait_text(api, "no answer from trading/risk within 2 s", since=since, timeout=10)


def test_bad_arguments_say_what_is_expected(world):
    api, _ = world
    since = last_seq(api)
    api.inject_message(ADMIN, "/set_daily_cap lots")
    wait_text(api, "amount must be a number", since=since)


def test_menu_button_pauses_through_trading_risk(world):
    api, system = world
    since = last_seq(api)
    api.inject_message(ADMIN, "/start")
    menu = wait_text(api, "control panel", since=since)
    mid = menu.result["message_id"]
    api.inject_callback_query(ADMIN, "r:pause", message_id=mid)
    wait_text(api, "trading paused", since=since)
    risk = system.client.ask_actor("trading/risk", m.StatusRequest(corr=new_corr()))
    assert risk.data["state"] == "PAUSED" and risk.data["by"] == [f"telegram:{ADMIN}"]
    assert any(c.params.get("callback_query_id") for c in api.calls("answerCallbackQuery") if c.seq > since)
    # a category button edits the menu in place; resume from a text command puts the state back
    api.inject_callback_query(ADMIN, "c:risk:0", message_id=mid)
    wait_text(api, "Risk", since=since, method="editMessageText")
    api.inject_message(ADMIN, "/resume")
    wait_text(api, "trading resumed", since=since)


def test_refresh_button_edits_in_place(world):
    api, _ = world
    since = last_seq(api)
    api.inject_message(ADMIN, "/status")
    first = wait_text(api, "trading state", since=since)
    mid = first.result["message_id"]
    api.inject_callback_query(ADMIN, "f:status", message_id=mid)
    # the same text within the same second is "message is not modified" (400) for Telegram: still an edit
    edits = api.wait_for_calls("editMessageText", predicate=lambda c: c.seq > since and "trading state" in
                               c.params.get("text", ""))
    assert edits[0].params["message_id"] == mid
    assert not [t for t in sent_texts(api, since=first.seq)]    # no new message


def test_panic_close_asks_for_confirmation_then_closes(world):
    api, system = world
    since = last_seq(api)
    api.inject_message(ADMIN, "/panic_close")
    ask = wait_text(api, "Confirm", since=since)
    gw = system.client.ask_actor("broker/gateway", m.StatusRequest(corr=new_corr()))
    assert gw.data["closed"] == []               # nothing happens before the confirmation
    api.inject_callback_query(ADMIN, "y:panic_close", message_id=ask.result["message_id"])
    wait_text(api, "Closed #11", since=since)
    gw = system.client.ask_actor("broker/gateway", m.StatusRequest(corr=new_corr()))
    assert gw.data["closed"] == [11]


def test_trades_and_reports_from_broker_answers(world):
    api, _ = world
    since = last_seq(api)
    api.inject_message(ADMIN, "/trades")
    wait_text(api, "#11 XAUUSD BUY", since=since)
    api.inject_message(ADMIN, "/weekly")
    rep = wait_text(api, "WEEKLY SUMMARY", since=since)
    assert "Trades: 2 (1 W / 1 L)" in rep.params["text"] and "+$8.50" in rep.params["text"]
    api.inject_message(ADMIN, "/pair_report")
    wait_text(api, "XAUUSD: +$12.50", since=since)


def test_tree_command(world):
    api, _ = world
    since = last_seq(api)
    api.inject_message(ADMIN, "/tree")
    call = wait_text(api, "Supervision tree", since=since)
    assert "risk" in call.params["text"] and "notifier" in call.params["text"]


def test_notification_modes_and_layouts(world):
    api, system = world
    since = last_seq(api)
    tell(system, "telegram/notifier", m.Notify(kind="entry", priority="HIGH", text="entry", source="test",
                                               data={"symbol": "XAUUSD", "direction": "BUY", "plugin": "combined_v3",
                                                     "orders": [{"label": "A", "ticket": 5, "entry": "2650.1",
                                                                 "sl": "2640", "tp": "2670", "lots": "0.1"}]}))
    wait_text(api, "ORDER A PLACED", since=since)
    api.inject_message(ADMIN, "/notify_mode trend_change off")
    wait_text(api, "trend_change notifications: off", since=since)
    api.inject_message(ADMIN, "/notify_mode squeeze silent")
    wait_text(api, "squeeze notifications: silent", since=since)
    tell(system, "telegram/notifier", m.Notify(kind="trend_change", priority="LOW", text="muted one"))
    tell(system, "telegram/notifier", m.Notify(kind="squeeze", priority="MEDIUM", text="quiet one"))
    tell(system, "telegram/notifier", m.Notify(kind="trend_change", priority="CRITICAL", text="never muted"))
    quiet = wait_text(api, "quiet one", since=since)
    assert quiet.params.get("disable_notification") is True
    wait_text(api, "never muted", since=since)
    assert not [t for t in sent_texts(api, since=since) if "muted one" in t and "never" not in t]


def test_restart_does_not_replay_a_handled_command(world):
    api, system = world
    since = last_seq(api)
    api.inject_message(ADMIN, "/pause")
    wait_text(api, "trading paused", since=since)
    api.inject_message(ADMIN, "/resume")
    wait_text(api, "trading resumed", since=since)
    db = system.test_dir / "data" / "telegram" / "bot.db"
    offset = int(sqlite3.connect(db).execute("SELECT value FROM kv WHERE key='offset'").fetchone()[0])
    assert offset == api.pending_updates[-1]["update_id"] + 1 if api.pending_updates else offset > 0
    old = system.node("telegram/bot")
    system.client.ask(m.KillChild(corr=new_corr(), name="telegram/bot"))
    system.wait_node("telegram/bot", lambda n: n["state"] == "running" and n["pid"] != old["pid"], timeout=30)
    after = last_seq(api)
    api.inject_message(ADMIN, "/status")
    wait_text(api, "trading state: ACTIVE", since=after, timeout=20)
    replayed = [t for t in sent_texts(api, since=after) if "paused" in t or "resumed" in t]
    assert replayed == []
