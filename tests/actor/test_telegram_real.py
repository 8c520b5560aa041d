"""The Telegram bot against the REAL owners (no doubles): trading/risk, broker/gateway on the paper broker and
ops/health, with the local Bot API server (tests/support/fake_botapi.py). One system for the module: /status,
/pause and /resume change risk's state, /trades lists a paper order, /health answers, and the pinned header is
edited in place with risk's trading state."""
from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from actors import messages as m
from gateways.telegram import voice as V
from tests.support.alerts import risk_status
from tests.support.broker import send_intent
from tests.support.system import find, wait_for
from tests.support.telegram_world import last_seq, telegram_world

pytestmark = pytest.mark.slow

ADMIN = 1001
CHAT = ADMIN

# the strategy plugins and trading/positions are not needed here: fewer processes, faster start
TOML = "".join(f"[plugins.{p}]\nenabled = false\n" for p in (
    "combined_v3", "price_action_1m", "price_action_5m", "price_action_15m", "price_action_1h", "legacy_v4")) + """
[positions]
enabled = false
[broker]
poll_interval = 0.2
[broker.paper]
alert_walk_step_pips = 0.0
[telegram]
header_interval = 1.0
command_timeout = 5.0
poll_timeout = 2
[telegram.voice]
enabled = true
[ops.health]
sample_interval = 1.0
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with telegram_world(tmp_path_factory.mktemp("tgreal"), TOML, chat=CHAT, admin=ADMIN) as (api, system):
        yield api, system



def wait_text(api, needle, since=0, timeout=10.0, method="sendMessage"):
    def hit():
        for c in api.calls(method, chat_id=CHAT):
            if c.seq > since and c.ok and needle in c.params.get("text", ""):
                return c
        return None
    return wait_for(hit, timeout, what=f"{method} with {needle!r}; got "
                    f"{[c.params.get('text', '')[:80] for c in api.calls(method, chat_id=CHAT) if c.seq > since][-5:]}")


def test_the_real_owners_run(world):
    _, system = world
    tree = system.tree()
    for path in ("trading/risk", "broker/gateway", "ops/health", "telegram/bot"):
        assert find(tree, path)["state"] == "running", path
    assert find(tree, "trading/combined_v3") is None


def test_status_is_risks_own_answer(world):
    api, system = world
    since = last_seq(api)
    api.inject_message(ADMIN, "/status")
    call = wait_text(api, "/status", since=since)
    s = risk_status(system)
    assert s["state"] == "ACTIVE"
    assert "✅" in call.params["text"] and f"ACTIVE; daily loss {s['daily_loss']}" in call.params["text"]


def test_pause_then_resume_change_risks_state(world):
    api, system = world
    since = last_seq(api)
    api.inject_message(ADMIN, "/pause")
    wait_text(api, "trading paused (/pause)", since=since)
    s = risk_status(system)
    assert s["state"] == "HALTED" and s["reason"] == "trading paused (/pause)"
    since = last_seq(api)
    api.inject_message(ADMIN, "/resume")
    call = wait_text(api, "/resume", since=since)
    assert "ACTIVE" in call.params["text"]
    assert risk_status(system)["state"] == "ACTIVE"


def test_trades_lists_a_paper_order(world):
    api, system = world
    intent = m.OrderIntent(intent_id=uuid.uuid4().hex, plugin="combined_v3", symbol="EURUSD", side="BUY",
                           volume=Decimal("0.10"))
    out = send_intent(system.client, intent)
    assert out is not None and out.status == "filled", out
    since = last_seq(api)
    api.inject_message(ADMIN, "/trades")
    call = wait_text(api, "Open trades", since=since)
    assert f"#{out.ticket} EURUSD BUY 0.10" in call.params["text"], call.params["text"]


def test_health_is_ops_healths_report(world):
    api, _ = world
    since = last_seq(api)
    api.inject_message(ADMIN, "/health")
    call = wait_text(api, "Health:", since=since, timeout=15)
    assert "broker/gateway" in call.params["text"] and "trading/risk" in call.params["text"]


def test_header_is_edited_in_place_with_the_trading_state(world):
    api, system = world
    new = wait_for(lambda: next((c for c in api.calls("sendMessage", chat_id=CHAT)
                                 if c.ok and "Zepix · Live" in c.params.get("text", "")), None), 10,
                   what="the header message")
    mid = new.result["message_id"]
    since = last_seq(api)
    system.client.ask_actor("trading/risk", m.Command(corr=uuid.uuid4().hex, name="pause", args={}, user="test"), 5)
    try:
        halted = wait_text(api, "Trading:</b> HALTED", since=since, method="editMessageText")
        assert halted.params["message_id"] == mid
        assert "Today:" in halted.params["text"]
    finally:
        system.client.ask_actor("trading/risk", m.Command(corr=uuid.uuid4().hex, name="resume", args={},
                                                          user="test"), 5)
    active = wait_text(api, "Trading:</b> ACTIVE", since=last_seq(api), method="editMessageText")
    assert active.params["message_id"] == mid
    # one header: every later refresh edits it, none sends a second one
    assert sum(1 for c in api.calls("sendMessage", chat_id=CHAT) if "Zepix · Live" in c.params.get("text", "")) == 1


def test_voice_alert_is_sent_or_its_absence_explained(world):
    """With telegram.voice on: a notification with a spoken text also arrives as a voice note when this machine
    has espeak-ng/espeak and opusenc/ffmpeg; otherwise the bot has said why voice is off and sends text only."""
    api, system = world
    engine = V.find_engine(V.VoiceSettings(enabled=True))
    since = last_seq(api)
    addr = system.client.address_of("telegram/bot")
    system.client.asys.tell(addr, m.encode(m.TgSend(text="🔴 voice check", priority="HIGH", kind="exit",
                                                    voice="BUY trade closed with profit of 7.30 dollars.")))
    wait_text(api, "voice check", since=since)
    if isinstance(engine, str):
        notice = wait_text(api, "voice off: no TTS engine found", since=0)
        assert "text only" in notice.params["text"]
        assert not api.calls("sendVoice")
    else:
        (call, *_) = wait_for(lambda: [c for c in api.calls("sendVoice", chat_id=CHAT) if c.seq > since and c.ok],
                              15, what="a sendVoice")
        # a real voice note: an uploaded Ogg/Opus file (Telegram shows anything else as a document, or refuses it)
        assert call.files and all(size > 100 for size in call.files.values()), call.files
        head = next(iter(call.heads.values()))
        assert head.startswith(b"OggS") and b"OpusHead" in head, head
