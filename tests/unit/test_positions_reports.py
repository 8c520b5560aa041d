"""The read-only reports of trading/positions (strategies/positions/reports.py) and the trend views
(strategies/trend_report.py): grouping, counting and the Telegram layouts."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from strategies import trend_report as TR
from strategies.legacy import trends as LT
from strategies.positions import chains as C
from strategies.positions import reentry as R
from strategies.positions import reports as REP
from strategies.risk.side import Side

T0 = 1_700_000_000.0
NOW = datetime.fromtimestamp(T0 + 3600, tz=timezone.utc)


def row(cid, chain, **kw):
    base = {"cid": cid, "ticket": 1, "role": "A", "chain": chain, "pchain": None, "plugin": "combined_v3",
            "symbol": "EURUSD", "side": "BUY", "logic": "LOGIC1", "entry": "1.10000", "lots": "0.10",
            "status": "closed", "kind": "entry", "pnl": "10", "opened_at": T0, "closed_at": T0 + 60,
            "exit_price": "1.10100", "exit_reason": "tp"}
    return {**base, **kw}


def pip(symbol):
    return D("0.0001") if symbol != "XAUUSD" else D("0.01")


def test_a_session_groups_entries_reentries_and_levels_of_one_trade():
    tracked = [row("c:a1:A", "c:a1"),
               row("c:a1:B", "c:a1", role="B", pnl="-4", closed_at=T0 + 300, exit_reason="sl"),
               row("SL1", "c:a1", role="REENTRY", kind="sl_hunt", pnl="7.5", opened_at=T0 + 400, closed_at=T0 + 900),
               row("L1", "c:a1", role="LEVEL", kind="level", ticket=None, pnl="0", exit_reason="refused"),
               row("other", "c:a2", symbol="XAUUSD", side="SELL", status="open", pnl=None, closed_at=None,
                   opened_at=T0 + 1000)]
    sessions = REP.trading_sessions(tracked, T0 + 3600)
    assert [s["trade_id"] for s in sessions] == ["c:a2", "c:a1"]           # newest first
    s = REP.find_session(sessions, REP.session_id("c:a1").upper())           # Telegram lower-cases, people not
    assert s is REP.find_session(sessions, "c:a1")
    assert (s["entries"], s["reentries"], s["levels"], s["exits"], s["open"], s["rejected"]) == (2, 1, 1, 3, 0, 1)
    assert (D(s["pnl"]), s["wins"], s["losses"], s["status"]) == (D("13.5"), 2, 1, "CLOSED")
    assert s["duration_seconds"] == 900
    active = sessions[0]
    assert active["status"] == "ACTIVE" and active["duration_seconds"] == 2600 and active["ended_at"] is None
    text = REP.session_text(s, "Asia/Kolkata")
    assert f"📋 Session {s['session_id']} (CLOSED)" in text
    assert "P&L +$13.50 (2 win(s), 1 loss(es))" in text
    assert "duration 15m 00s (Asia/Kolkata)" in text
    assert "2023-11-15 03:43:20" in text                                    # T0 in IST
    assert "sl_hunt" in text and "refused" in text
    listing = REP.sessions_text(sessions)
    assert listing.startswith("2 trading session(s)") and f"/session_report_{s['session_id']}" in listing
    assert REP.find_session(sessions, "ses_ffffffff") is None
    assert REP.sessions_text([]) == "no trading sessions recorded yet"


def test_tp_stats_count_placed_filled_refused_wins_losses_and_pips():
    tp = R.WatchKind.TP_CONTINUATION.value
    tracked = [row("t1", "x", kind=tp, role="REENTRY", entry="1.10000", exit_price="1.10150", pnl="15"),
               row("t2", "x", kind=tp, role="REENTRY", entry="1.10200", exit_price="1.10100", pnl="-10"),
               row("t3", "y", kind=tp, role="REENTRY", ticket=None, pnl="0"),
               row("t4", "y", kind=tp, role="REENTRY", status="open", pnl=None),
               row("g1", "z", kind=tp, role="REENTRY", symbol="XAUUSD", side="SELL", entry="2650.00",
                   exit_price="2649.00", pnl="10"),
               row("e", "x")]                                                  # not a TP re-entry
    d = REP.tp_stats(tracked, armed=7, pip_size=pip, settings=R.ReentrySettings())
    assert (d["armed"], d["placed"], d["filled"], d["refused"], d["open"]) == (7, 5, 4, 1, 1)
    assert (d["wins"], d["losses"], D(d["pips"]), D(d["pnl"])) == (2, 1, D("105.0"), D("15"))
    assert d["by_symbol"]["XAUUSD"]["pips"] == "100.0"
    text = REP.tp_text(d)
    assert "TP continuation: ON (gap 2 pips, up to 5 levels)" in text
    assert "wins 2 · losses 1 · win rate 67%" in text and "P&L +$15.00" in text


def _chain(cid, symbol="EURUSD"):
    return C.start_chain(cid, f"{cid}-B", symbol, Side.BUY, "LOGIC1", D("0.10"), D("1.1"), D("10"),
                         datetime(2026, 1, 1, tzinfo=timezone.utc))


def test_profit_status_and_stats():
    a = replace(_chain("P1"), level=2, realised=D("21.5"))
    b = replace(_chain("P2"), status=C.ChainStatus.COMPLETED, level=4, realised=D("150"))
    c = replace(_chain("P3"), status=C.ChainStatus.STOPPED, level=1, realised=D("-3"), reason="REVERSAL")
    settings = C.ChainSettings()
    st = REP.profit_status([a, b, c], settings)
    assert [r["chain_id"] for r in st["active"]] == ["P1"] and st["booked_active"] == "21.5"
    text = REP.profit_status_text(st)
    assert "Profit booking: ON (per_order, min +$7.00 per order, levels 0-4)" in text
    assert "P1 EURUSD BUY L2 booked +$21.50 (0 order(s)), 1 open" in text
    assert "OFF" in REP.profit_status_text(REP.profit_status([], replace(settings, enabled=False)))
    stats = REP.profit_stats([a, b, c], settings)
    assert (stats["started"], stats["active"], stats["completed"], stats["stopped"]) == (3, 1, 1, 1)
    assert stats["levels_reached"] == {"0": 0, "1": 1, "2": 1, "3": 0, "4": 1} and stats["highest_level"] == 4
    assert stats["booked"] == "168.5" and stats["stop_reasons"] == {"REVERSAL": 1}
    assert "profit booked +$168.50" in REP.profit_stats_text(stats)


def test_autonomous_status_uses_todays_counters_and_lists_monitors():
    s = replace(R.ReentrySettings(), exit_enabled=False)
    day = NOW - timedelta(hours=2)
    watch = R.Watch("w1", R.WatchKind.SL_HUNT, "c1", "o1", "EURUSD", Side.BUY, "LOGIC1", D("1.1"), NOW,
                    NOW + timedelta(minutes=30), D("0.1"), D("5"), None, 1, "SL_HUNT")
    book = R.ReentryBook(watches=(watch,), day_start=day, attempts_today=3, losses_today=1,
                         cooldown_until=NOW + timedelta(hours=1))
    tracked = [row("r1", "c1", kind="sl_hunt", status="open"), row("r2", "c1", kind="sl_hunt")]
    d = REP.autonomous_status(s, book, tracked, day, NOW, chains_enabled=True)
    assert d["systems"]["exit_continuation"] is False and d["systems"]["sl_hunt"] is True
    assert (d["attempts_today"], d["losses_today"], d["monitors"], len(d["recoveries"])) == (3, 1, 1, 1)
    text = REP.autonomous_text(d)
    assert "❌ exit continuation" in text and "attempts 3/10 · losses 1/5" in text
    assert "cool-down until" in text and "1 recovery order(s) in the market · 1 SL-hunt monitor(s)" in text
    # a new risk day: yesterday's counters do not count, an expired cool-down is not shown
    later = REP.autonomous_status(s, book, [], NOW + timedelta(days=1), NOW + timedelta(days=1), True)
    assert (later["attempts_today"], later["losses_today"], later["cooldown_until"]) == (0, 0, None)


def test_trend_cells_from_every_family_store():
    state = {"trend:XAUUSD:60": {"trend": "BULLISH", "mode": "AUTO", "updated": "t"},
             "trend:EURUSD:15": {"trend": "BEARISH", "mode": "MANUAL", "updated": "t"},
             "trend:GBPUSD": {"15m": 1, "1H": -1, "4H": 0, "1D": 1, "updated": "t", "mode": "AUTO"},
             "tftrend:USDJPY:5": {"direction": "BEAR"}, "_flags": {"enabled": True}, "other": 3}
    c = TR.cells(state)
    assert c[("XAUUSD", "1H")]["trend"] == "BULLISH"
    assert c[("EURUSD", "15m")] == {"trend": "BEARISH", "mode": "MANUAL", "updated": "t"}
    assert [c[("GBPUSD", tf)]["trend"] for tf in ("15m", "1H", "4H", "1D")] == ["BULLISH", "BEARISH", "NEUTRAL",
                                                                              "BULLISH"]
    assert c[("USDJPY", "5m")]["trend"] == "BEARISH"
    d = TR.matrix(state, ["AUDUSD"], ["15", "60", "1D"], plugin="legacy_v4")
    assert d["timeframes"] == ["5m", "15m", "1H", "4H", "1D"]
    assert [r["symbol"] for r in d["rows"]] == ["AUDUSD", "EURUSD", "GBPUSD", "USDJPY", "XAUUSD"]
    lines = TR.matrix_text(d).split("\n")
    assert lines[0] == "         5m  15m   1H   4H   1D "
    assert lines[2] == "EURUSD    ·    ↓*   ·    ·    · "
    for line in lines[1:-1]:        # every arrow under its column label's last character
        assert [i for i, ch in enumerate(line) if ch in "↑↓·"] == [i for i, ch in enumerate(lines[0])
                                                                    if ch != " " and (i + 1 == len(lines[0])
                                                                                      or lines[0][i + 1] == " ")]
    assert "EURUSD 15m: MANUAL" in TR.mode_text(d)
    assert "XAUUSD: 1H BULLISH" in TR.trends_text(d) and "AUDUSD" not in TR.trends_text(d)
    empty = TR.matrix({}, [], [], plugin="legacy_v4")
    assert "no trends stored yet" in TR.matrix_text(empty) and "every trend slot" in TR.mode_text(empty)


@pytest.mark.parametrize("given,want", [("1h", "60"), ("1H", "60"), ("60", "60"), ("15m", "15"), ("1d", "1D"),
                                        ("1D", "1D"), ("4h", "240")])
def test_legacy_timeframe_words_map_to_the_store_slots(given, want):
    assert LT.normalize_tf(given) == want


def test_unknown_legacy_timeframe_names_the_known_ones():
    with pytest.raises(ValueError, match=r"timeframe '4h' has no trend slot; known: 15m, 1H, 1D"):
        LT.normalize_tf("4h", ("15", "60", "1D"))
