"""Notification layouts and the live header: content, the trader's timezone, escaping, and Telegram-valid HTML."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from gateways.telegram.formatting import (
    FORMATTERS,
    RULE,
    clock,
    live_header,
    long_date,
    money,
    price,
    render,
)
from gateways.telegram.sender import Priority, split_text
from tests.support.fake_botapi import parse_html

T = dt.datetime(2026, 1, 11, 8, 35, 9, tzinfo=dt.timezone.utc)  # 14:05:09 IST, a Sunday

ENTRY = {
    "plugin": "combined_v3", "symbol": "XAUUSD", "direction": "buy", "signal": "Bullish_Entry", "score": 7,
    "logic": "combinedlogic-2", "timeframe": "15m", "rr": "1.5", "time": T, "alert_id": "a1b2",
    "adjustment": {"from": "0.10", "to": "0.06", "reason": "daily cap"},
    "orders": [
        {"label": "A", "role": "TP Trail", "ticket": 5001, "entry": Decimal("2650.10"), "sl": "2640.00",
         "tp": 2670.0, "lots": "0.03"},
        {"label": "B", "role": "Profit Trail", "ticket": 5002, "entry": "2650.10", "sl": "2645.10",
         "tp": "2655.10", "lots": 0.03},
    ],
}

SAMPLES = {
    "startup": {"paper": True, "broker": "paper", "plugins": ["combined_v3", "price_action_5m"], "time": T},
    "entry": ENTRY,
    "exit": {"symbol": "XAUUSD", "direction": "BUY", "reason": "tp_hit", "pnl": "12.5", "plugin": "combined_v3",
             "order_label": "A", "order_role": "TP Trail", "chain_level": 1, "entry": "2650.10",
             "close": "2655.10", "time": T},
    "sl_hit": {"symbol": "EURUSD", "direction": "SELL", "plugin": "price_action_5m", "entry": "1.08500",
               "sl": "1.08700", "pnl": -10, "chain_id": "CH1", "chain_level": 0,
               "recovery": {"target": "1.08690", "until": T + dt.timedelta(minutes=30)}, "time": T},
    "profit_booking": {"chain_id": "PROFIT_XAUUSD_1a7bfc2e", "symbol": "XAUUSD", "from_level": 0, "to_level": 1,
                       "orders_placed": 2, "next_target": 7, "sl": 10, "booked": "14.6"},
    "reentry": {"type": "sl_hunt", "symbol": "XAUUSD", "direction": "BUY", "plugin": "combined_v3",
                "entry": "2641.00", "sl": "2634.00", "tp": "2651.50", "lots": "0.05", "sl_reduction_pct": 30,
                "chain_id": "CH1", "level": 2, "max_level": 5},
    "trend_change": {"symbol": "XAUUSD", "timeframe": "1h", "trend": "BULLISH", "previous": "BEARISH"},
    "squeeze": {"symbol": "GBPJPY", "timeframe": "15m"},
    "error": {"severity": "critical", "component": "broker gateway", "message": "MT5 connection lost",
              "hint": "check the terminal is running", "count": 3},
    "daily_summary": {"date": "2026-01-11", "trades": 12, "wins": 8, "losses": 4, "gross_pnl": "120",
                      "commission": "-6", "max_drawdown": "-30", "best": {"symbol": "XAUUSD", "pnl": 40},
                      "by_plugin": {"combined_v3": 80, "price_action_5m": "34"}},
    "state_change": {"from": "ACTIVE", "to": "REDUCING", "reason": "daily loss cap reached", "time": T},
}


@pytest.mark.parametrize("kind", sorted(FORMATTERS))
def test_every_layout_is_valid_telegram_html(kind):
    text = render(kind, SAMPLES[kind]).text
    plain, _ = parse_html(text)  # raises like the Bot API would on bad markup
    assert plain.strip() and len(plain) < 4096
    # Every tag closes on its line, so splitting at any line boundary keeps each part valid.
    for line in text.split("\n"):
        parse_html(line or " ")


def test_all_kinds_have_samples():
    assert set(SAMPLES) == set(FORMATTERS)


def test_entry_layout_in_ist():
    text = render("entry", ENTRY).text
    plain, ents = parse_html(text)
    lines = plain.split("\n")
    assert lines[0] == "🎯 DUAL ORDER PLACED XAUUSD BUY"
    assert "Signal: Bullish_Entry · Score: 7/9" in lines
    assert "Logic: combinedlogic-2 (15m)" in lines
    assert "🔧 Lot reduced 0.10 → 0.06: daily cap" in lines
    assert "📈 Order A (TP Trail) #5001" in lines and "💰 Order B (Profit Trail) #5002" in lines
    assert "  Entry: 2650.10" in lines and "  TP: 2670.0" in lines and "  Lots: 0.03" in lines
    assert "Risk: 1:1.5 RR" in lines
    assert lines[-1] == "🕐 14:05:09 IST"
    assert render("entry", ENTRY).priority == Priority.HIGH


def test_entry_single_and_failed_orders():
    one = dict(ENTRY, orders=[ENTRY["orders"][0], dict(ENTRY["orders"][1], ok=False, error="not enough money")])
    plain, _ = parse_html(render("entry", one).text)
    assert plain.startswith("🎯 ORDER A PLACED XAUUSD BUY")
    assert "❌ 💰 Order B (Profit Trail) not placed: not enough money" in plain
    none = dict(ENTRY, orders=[dict(o, ok=False) for o in ENTRY["orders"]])
    r = render("entry", none)
    assert parse_html(r.text)[0].startswith("❌ ENTRY FAILED XAUUSD BUY") and r.priority == Priority.CRITICAL


def test_timezone_is_passed_in():
    a = render("state_change", SAMPLES["state_change"], tz="Asia/Kolkata").text
    b = render("state_change", SAMPLES["state_change"], tz="Europe/London").text
    assert a.endswith("🕐 14:05:09 IST") and b.endswith("🕐 08:35:09 GMT")
    assert clock(1768120509, "Asia/Dubai") == "12:35:09 UTC+04"  # a zone without an abbreviation
    assert clock("2026-01-11T08:35:09Z") == "14:05:09 IST"
    assert clock(dt.datetime(2026, 1, 11, 8, 35, 9)) == "14:05:09 IST"  # naive means UTC
    assert long_date(dt.datetime(2026, 1, 11, 19, 0, tzinfo=dt.timezone.utc)) == "12 Jan 2026 (Monday)"  # IST midnight


def test_values_are_escaped():
    text = render("error", {"severity": "warning", "component": "<webhook>", "message": "body had {{close}} & <b>"}).text
    plain, ents = parse_html(text)
    assert "⚠️ WARNING · <webhook>" in plain and "body had {{close}} & <b>" in plain
    assert [e["type"] for e in ents] == ["bold"]


def test_exit_variants():
    plain = parse_html(render("exit", SAMPLES["exit"]).text)[0].split("\n")
    assert plain[0] == "✅ TRADE CLOSED (Chain Level 1) [Order A - TP Trail]"
    assert "Reason: TP_HIT" in plain and "P&L: +$12.50" in plain and "Entry: 2650.10 → Close: 2655.10" in plain
    loss = parse_html(render("exit", dict(SAMPLES["exit"], pnl="-3.456")).text)[0]
    assert loss.startswith("❌ TRADE CLOSED") and "P&L: -$3.46" in loss
    signal = parse_html(render("exit", {"signal": "Bullish_Exit", "symbol": "XAUUSD", "closed": 2,
                                        "closed_direction": "buy", "pnl": 21,
                                        "continuation": {"direction": "BUY", "gap_pips": 20}}).text)[0]
    assert signal.split("\n") == ["🚨 Bullish_Exit", "Symbol: XAUUSD", "Closed: 2 BUY position(s)",
                                  "💰 Total P&L: +$21.00", "🔄 Watching for BUY continuation (20 pip gap)"]
    manual = parse_html(render("exit", dict(SAMPLES["exit"], reason="manual")).text)[0]
    assert manual.startswith("📊 MANUAL CLOSE DETECTED") and "Closed outside the bot (MT5 app)" in manual


def test_other_layouts_content():
    sl = parse_html(render("sl_hit", SAMPLES["sl_hit"]).text)[0]
    assert "🛑 SL HIT EURUSD SELL" in sl and "Loss: -$10.00" in sl
    assert "🔄 SL-hunt re-entry armed at 1.08690 until 14:35 IST" in sl
    pb = parse_html(render("profit_booking", SAMPLES["profit_booking"]).text)[0].split("\n")
    assert pb == ["🔁 PROFIT BOOKING LEVEL UP!", "Chain: PROFIT_XAUUSD_1a7bfc2e", "Symbol: XAUUSD", "Level: 0 → 1",
                  "Booked: +$14.60", "Orders Placed: 2", "Next Target: $7.00 per order", "SL: $10.00 fixed per order"]
    re_ = parse_html(render("reentry", SAMPLES["reentry"]).text)[0]
    assert re_.startswith("🔄 SL HUNT RE-ENTRY #2") and "SL: 2634.00 (-30.0% reduction)" in re_
    assert "Level: 2/5" in re_
    tp = parse_html(render("reentry", {"type": "tp_continuation", "tp_level": 2, "symbol": "X", "entry": 1,
                                       "sl": 1, "tp": 2, "lots": 1}).text)[0]
    assert tp.startswith("✅ TP2 RE-ENTRY")
    failed = parse_html(render("reentry", {"type": "sl_hunt", "failed": "MT5 order placement failed",
                                           "symbol": "XAUUSD"}).text)[0]
    assert failed.startswith("⚠️ SL HUNT RECOVERY FAILED")
    trend = parse_html(render("trend_change", SAMPLES["trend_change"]).text)[0]
    assert trend == "📊 XAUUSD 1H Trend Updated: BULLISH (was BEARISH)"
    locked = parse_html(render("trend_change", {"symbol": "XAUUSD", "timeframe": "1H", "trend": "BEARISH",
                                                "locked": "BULLISH"}).text)[0]
    assert locked.split("\n") == ["🔒 XAUUSD 1H Signal Received: BEARISH", "Trend Locked: BULLISH (Manual Mode)",
                                  "Signal ignored - trend will not change"]
    err = render("error", SAMPLES["error"])
    assert err.priority == Priority.CRITICAL and "MT5 connection lost (×3)" in parse_html(err.text)[0]
    assert render("error", {"severity": "warning", "message": "x"}).priority == Priority.NORMAL
    state = render("state_change", SAMPLES["state_change"])
    assert state.priority == Priority.CRITICAL
    assert parse_html(state.text)[0].split("\n")[:3] == [
        "🟠 TRADING STATE: REDUCING (was ACTIVE)", "Reason: daily loss cap reached",
        "Only exposure-reducing orders (closes, partial closes, tighter SL) are allowed."]


def test_daily_summary():
    plain = parse_html(render("daily_summary", SAMPLES["daily_summary"]).text)[0].split("\n")
    assert plain[0] == "📅 DAILY SUMMARY — 11 Jan 2026 (Sunday)"
    assert plain[1] == RULE
    assert "📝 Trades: 12 (8 W / 4 L)" in plain and "🎯 Win Rate: 66.7%" in plain
    assert "💰 Net P&L: +$114.00" in plain and "📉 Max Drawdown: -$30.00" in plain
    assert "  price_action_5m: +$34.00" in plain
    empty = parse_html(render("daily_summary", {"date": dt.date(2026, 1, 12), "trades": 0}).text)[0]
    assert "🎯 Win Rate: —" in empty
    assert render("daily_summary", SAMPLES["daily_summary"]).priority == Priority.LOW


def test_money_and_price():
    assert money(0.1 + 0.2) == "+$0.30" and money(-1234.5) == "-$1,234.50" and money(0) == "$0.00"
    assert money(7, signed=False) == "$7.00" and money(None) == "—"
    assert price("1.085", 5) == "1.08500" and price(2650.1) == "2650.1" and price(Decimal("0.00012")) == "0.00012"


def test_live_header():
    text = live_header(T, session={"name": "London Session", "symbols": ["EURUSD", "GBPUSD", "EURGBP", "XAUUSD"]},
                       open_trades=3, pnl_today="12.5", trading_state="active",
                       plugins={"combined_v3": "active", "price_action_5m": "disabled", "legacy_v4": "restarting"},
                       title="Zepix · Controller")
    plain, _ = parse_html(text)
    assert plain.split("\n") == [
        "🎛️ Zepix · Controller",
        "🕐 14:05 IST · 11 Jan 2026 (Sunday)",
        "🟢 Session: London Session",
        "✅ EURUSD, GBPUSD, EURGBP…",
        "🟢 Trading: ACTIVE",
        "📊 Open: 3 · 💰 Today: +$12.50",
        "🔌 combined_v3 🟢 · price_action_5m 🔴 · legacy_v4 🟡",
        RULE,
        "updated 14:05:09",
    ]
    dead = parse_html(live_header(T, session={"name": "Dead Zone", "symbols": []}, trading_state="HALTED"))[0]
    assert "⛔ Session: Dead Zone — no new entries" in dead and "⛔ Trading: HALTED" in dead
    assert "⚪ Session: none" in parse_html(live_header(T, tz="UTC"))[0]


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="known"):
        render("nope", {})


def test_long_layout_splits_into_valid_parts():
    many = {"date": "2026-01-11", "trades": 1, "by_plugin": {f"plugin_{i:04d}": i for i in range(400)}}
    text = render("daily_summary", many).text
    parts = split_text(text)
    assert len(parts) >= 2
    for p in parts:
        plain, _ = parse_html(p)
        assert len(plain) <= 4096
