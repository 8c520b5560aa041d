"""Telegram report commands against their real owners, through the local Bot API (tests/support/fake_botapi.py):
trading/positions on a scripted paper desk (tests/support/paper_desk.py) answers /profit_status, /profit_stats,
/session_report, /tp_report and /autonomous_status; trading/legacy_v4 answers the trend views after a trend alert;
the real broker/gateway (paper broker) answers /simulation_mode and refuses to go live while a position is open or
while MT5 credentials are missing. One system for the module; each test trades its own symbol."""
from __future__ import annotations

import html
import uuid
from decimal import Decimal as D

import pytest

from actors import messages as m
from strategies.positions.reports import money, session_id
from tests.support.alerts import alert_dict, route
from tests.support.broker import send_intent
from tests.support.paper_desk import DESK_EXTRAS, set_price
from tests.support.system import wait_for
from tests.support.telegram_world import telegram_world

pytestmark = pytest.mark.slow

ADMIN = 1001
CHAT = ADMIN
DESK = "broker/paper_gateway"
ENTRIES = "trading/test_entries"
POS = "trading/positions"

TOML = "".join(f"[plugins.{p}]\nenabled = false\n" for p in (
    "combined_v3", "price_action_1m", "price_action_5m", "price_action_15m", "price_action_1h")) + f'''
[positions]
gateway = "{DESK}"
tick_sources = ["{DESK}"]
entry_sources = ["{ENTRIES}"]
chain_plugins = ["test_entries"]
[positions.reentry]
tp_cooldown_seconds = 0
[sessions]
master_switch = false
[sessions.windows.dead_zone]
force_close = false
[broker]
poll_interval = 0.2
live_adapter = "mt5"
[broker.paper]
alert_walk_step_pips = 0.0
[telegram]
header_interval = 0
command_timeout = 5.0
poll_timeout = 2
''' + DESK_EXTRAS
NO_MT5 = {k: "" for k in ("ZEPIX_MT5_LOGIN", "ZEPIX_MT5_PASSWORD", "ZEPIX_MT5_SERVER", "MT5_LOGIN", "MT5_PASSWORD",
                          "MT5_SERVER")}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    def subscribed(s):
        wait_for(lambda: (d := cmd(s, DESK, "subs").data).get("ticks", 0) >= 1 and d.get("trades", 0) >= 1, 15,
                 what="positions subscribed to the desk")
        wait_for(lambda: cmd(s, ENTRIES, "subs").data.get("entries", 0) >= 1, 15, what="entries subscribed")
    with telegram_world(tmp_path_factory.mktemp("tgreports"), TOML, chat=CHAT, admin=ADMIN, env=NO_MT5,
                        ready=subscribed) as (api, s):
        yield api, s


def cmd(s, path, name, **args):
    reply = s.client.ask_actor(path, m.Command(corr=uuid.uuid4().hex, name=name, args=args, user="test"), 5.0)
    assert reply is not None, f"{path} did not answer {name}"
    assert reply.ok, reply.text
    return reply


def ask(api, text: str, needle: str, timeout: float = 10.0) -> str:
    """Send `text` as the admin and return the (unescaped) text of the bot's answer containing `needle`."""
    calls = api.calls()
    since = calls[-1].seq if calls else 0
    api.inject_message(ADMIN, text)

    def hit():
        for c in api.calls("sendMessage", chat_id=CHAT):
            if c.seq > since and c.ok and needle in html.unescape(c.params.get("text", "")):
                return c
        return None
    got = [html.unescape(c.params.get("text", ""))[:200] for c in api.calls("sendMessage", chat_id=CHAT)
           if c.seq > since][-3:]
    call = wait_for(hit, timeout, what=f"an answer to {text} with {needle!r}; got {got}")
    return call.params["text"]





def monitors(s):
    return cmd(s, POS, "chains").data["monitors"]


def open_trade(s, trade_id, symbol, side, orders, bid):
    b, a = set_price(s, symbol, bid)
    cmd(s, ENTRIES, "open", trade_id=trade_id, symbol=symbol, side=side, logic="LOGIC1", orders=orders, bid=str(b),
        ask=str(a), pip="0.0001")
    wait_for(lambda: sum(1 for t in monitors(s) if t["chain"] == trade_id or t["chain"].startswith(
        f"PROFIT_{symbol}")) >= len(orders), 10, what=f"{trade_id} tracked")
    return b, a


def test_profit_status_and_stats_show_a_chain_started_on_the_paper_desk(world):
    api, s = world
    open_trade(s, "T-PB", "EURUSD", "BUY", [{"role": "B", "volume": "0.10", "sl_pips": 30, "tp_pips": 60}],
               "1.08500")
    chain = wait_for(lambda: next((c for c in cmd(s, POS, "chains").data["chains"] if c["symbol"] == "EURUSD"),
                                  None), 10, what="EURUSD chain")
    text = html.unescape(ask(api, "/profit_status", "Profit booking: ON"))
    assert "1 active chain(s)" in text, text
    assert f"{chain['chain_id']} EURUSD BUY L0" in text, text
    text = html.unescape(ask(api, "/profit_stats", "Profit chains:"))
    assert "1 started · 1 active · 0 completed · 0 stopped" in text, text


def test_session_report_of_a_closed_session_shows_its_pnl_and_tp_report_counts_it(world):
    api, s = world
    _, ask_ = open_trade(s, "T-SES", "GBPUSD", "BUY", [{"role": "A", "volume": "0.10", "sl_pips": 20,
                                                        "tp_pips": 10}], "1.27000")
    set_price(s, "GBPUSD", str(ask_ + D("0.0010") + D("0.00005")))        # through the TP
    wait_for(lambda: not [t for t in monitors(s) if t["chain"] == "T-SES"], 10, what="T-SES closed")
    deal = next(d for d in cmd(s, DESK, "book").data["deals"] if d["entry"] == "out" and d["symbol"] == "GBPUSD")
    sid = session_id("T-SES")
    listing = html.unescape(ask(api, "/session_report", "trading session(s)"))
    assert f"/session_report_{sid}" in listing, listing
    text = html.unescape(ask(api, f"/session_report_{sid}", f"Session {sid}"))
    assert "(CLOSED)" in text and "GBPUSD BUY · test_entries LOGIC1" in text, text
    assert "entries 1 · re-entries 0 · chain levels 0 · exits 1 · open 0" in text, text
    assert f"P&L {money(deal['profit'])} (1 win(s), 0 loss(es))" in text, text
    assert D(deal["profit"]) > 0
    assert "(tp)" in text and "duration" in text, text
    bad = html.unescape(ask(api, "/session_report ses_00000000", "no trading session"))
    assert "'ses_00000000'" in bad
    # the TP armed a continuation watch: /tp_report and /autonomous_status see it
    text = html.unescape(ask(api, "/tp_report", "TP continuation: ON"))
    assert "watches armed 1" in text, text
    text = html.unescape(ask(api, "/autonomous_status", "Autonomous re-entry system"))
    assert "✅ TP continuation" in text and "attempts 0/10" in text, text
    assert "watch tp_continuation GBPUSD BUY" in text, text


def test_trend_views_after_a_trend_alert(world):
    api, s = world
    outs = route(s.client, "trading/legacy_v4", alert_dict(
        {"type": "trend", "symbol": "XAUUSD", "signal": "bull", "tf": "60", "price": 2650.0}))
    assert "trend NEUTRAL -> BULLISH" in outs[-1].reason, outs
    raw = ask(api, "/trend_matrix", "XAUUSD")
    assert "<pre>" in raw, raw
    table = html.unescape(raw).split("<pre>", 1)[1].split("</pre>", 1)[0].split("\n")
    header = table[0].split()
    rows = {line.split()[0]: dict(zip(header, line.split()[1:])) for line in table[1:-1]}
    assert header == ["15m", "1H", "1D"], table
    assert rows["XAUUSD"] == {"15m": "·", "1H": "↑", "1D": "·"}, table
    assert rows["EURUSD"] == {"15m": "·", "1H": "·", "1D": "·"}, table
    text = html.unescape(ask(api, "/show_trends", "Trends in legacy_v4"))
    assert "XAUUSD: 1H BULLISH" in text, text
    # a MANUAL lock through /set_trend (15m/1h/1d words) lands in the slot alerts use, and /trend_mode shows it
    ask(api, "/set_trend EURUSD 1h BEARISH", "locked MANUAL")
    text = html.unescape(ask(api, "/trend_mode", "locked MANUAL in legacy_v4"))
    assert "EURUSD 1H: MANUAL" in text, text
    outs = route(s.client, "trading/legacy_v4", alert_dict(
        {"type": "trend", "symbol": "EURUSD", "signal": "bull", "tf": "60", "price": 1.1}))
    assert "locked MANUAL" in outs[-1].reason, outs


def test_simulation_mode_names_the_broker_and_refuses_to_go_live_unsafely(world):
    api, s = world
    wait_for(lambda: cmd(s, "broker/gateway", "broker").data["connected"], 10, what="gateway connected")
    text = html.unescape(ask(api, "/simulation_mode status", "simulation ON"))
    assert "paper broker" in text and "paper account: balance" in text, text
    out = send_intent(s.client, m.OrderIntent(intent_id=uuid.uuid4().hex, plugin="combined_v3", symbol="EURUSD",
                                              side="BUY", volume=D("0.10")))
    assert out is not None and out.status == "filled", out
    text = html.unescape(ask(api, "/simulation_mode off", "not switched to mt5"))
    assert "1 position(s) are open at paper; close them first" in text, text
    closed = send_intent(s.client, m.CloseIntent(intent_id=uuid.uuid4().hex, plugin="combined_v3",
                                                 ticket=out.ticket, reason="manual"))
    assert closed is not None and closed.status in ("closed", "filled"), closed
    text = html.unescape(ask(api, "/simulation_mode off", "not switched to mt5"))
    assert "MT5 credentials are missing" in text and "ZEPIX_MT5_PASSWORD" in text, text
    assert cmd(s, "broker/gateway", "broker").data["adapter"] == "paper"
    ask(api, "/simulation_mode", "usage: /simulation_mode <on|off|status>")
