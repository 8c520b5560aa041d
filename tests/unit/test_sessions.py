"""Forex sessions (facts §8.1, DECISIONS §18): current session, trade permission, advance alerts, force close,
status, editing and settings."""
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, strategies as st

from config.errors import ConfigError
from strategies.sessions import (SessionDef, SessionSettings, advance_alerts, check_trade, current_session,
                                 force_close_due, session_transition, set_force_close, set_master_switch, shift_time,
                                 status, status_text, toggle_symbol)

IST = ZoneInfo("Asia/Kolkata")
S = SessionSettings()


def ist(h, m, s=0, day=5):
    return datetime(2026, 1, day, h, m, s, tzinfo=IST)


@pytest.mark.parametrize("h, m, session", [
    (5, 0, "asian"), (9, 0, "asian"), (13, 29, "asian"), (13, 30, "london"), (18, 29, "london"),
    (18, 30, "overlap"), (22, 29, "overlap"), (22, 30, "ny_late"), (23, 59, "ny_late"), (0, 0, "ny_late"),
    (3, 29, "ny_late"), (3, 30, "dead_zone"), (4, 59, "dead_zone"),
])
def test_current_session_ist_table(h, m, session):
    assert current_session(S, ist(h, m)).id == session


def test_utc_input_is_converted():
    assert current_session(S, datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)).id == "london"  # 13:30 IST


def test_no_session_in_a_gap_and_latest_start_wins_on_overlap():
    gap = SessionSettings(sessions=(SessionDef("a", "A", time(9), time(10), ("EURUSD",)),))
    assert current_session(gap, ist(11, 0)) is None
    overlapping = SessionSettings(sessions=(
        SessionDef("night", "Night", time(22), time(6), ("USDJPY",)),
        SessionDef("early", "Early", time(1), time(4), ("EURUSD",)),
        SessionDef("late", "Late", time(23), time(2), ("XAUUSD",)),
    ))
    assert current_session(overlapping, ist(23, 30)).id == "late"
    assert current_session(overlapping, ist(1, 30)).id == "early"  # started after "late", which wrapped midnight
    assert current_session(overlapping, ist(5, 0)).id == "night"


@pytest.mark.parametrize("symbol, h, m, source, allowed, reason", [
    ("USDJPY", 6, 0, "legacy", True, "allowed in the Asian Session"),
    ("EURUSD", 6, 0, "legacy", False, "EURUSD is not traded in the Asian Session"),
    ("GBPJPY", 6, 0, "v6", False, "not traded"),
    ("EURUSD", 14, 0, "legacy", True, ""),
    ("EURGBP", 14, 0, "v6", True, ""),
    ("EURUSD", 23, 0, "legacy", False, "NY Late Session"),
    ("XAUUSD", 23, 0, "legacy", True, ""),
    ("XAUUSD", 4, 0, "legacy", False, "allowed: none"),
    ("EURUSD", 4, 0, "v3", True, "v3 entries bypass"),
    ("usdjpy", 6, 0, "legacy", True, ""),
])
def test_check_trade(symbol, h, m, source, allowed, reason):
    v = check_trade(S, symbol, ist(h, m), source)
    assert v.allowed is allowed and reason in v.reason


def test_master_switch_off_allows_everything_and_no_session_blocks():
    off = set_master_switch(S, False)
    assert check_trade(off, "EURUSD", ist(4, 0)).allowed
    gap = SessionSettings(sessions=(SessionDef("a", "A", time(9), time(10), ("EURUSD",)),))
    v = check_trade(gap, "EURUSD", ist(11, 0))
    assert not v.allowed and v.reason == "No active session"
    with pytest.raises(ValueError):
        check_trade(S, "EURUSD", ist(11, 0), source="v9")


def test_session_transition_event_once():
    sid, ev = session_transition(S, "asian", ist(13, 30))
    assert sid == "london" and ev.previous == "asian" and ev.name == "London Session"
    assert session_transition(S, "london", ist(13, 31)) == ("london", None)


def test_advance_alerts_once_per_session_per_day():
    alerts, sent = advance_alerts(S, ist(13, 0), frozenset())
    assert [(a.session_id, a.minutes_left) for a in alerts] == [("london", 30)]
    again, sent2 = advance_alerts(S, ist(13, 1), sent)
    assert again == () and sent2 == sent
    alerts, sent = advance_alerts(S, ist(18, 10), sent)  # a late poll still alerts, with the real minutes left
    assert [(a.session_id, a.minutes_left) for a in alerts] == [("overlap", 20)]
    assert advance_alerts(S, ist(12, 0), sent)[0] == ()  # 90 min before London: too early
    assert advance_alerts(S, ist(13, 30), frozenset())[0] == ()  # already started


def test_advance_alert_for_a_start_after_midnight_is_keyed_by_its_own_day():
    custom = SessionSettings(sessions=(SessionDef("x", "X", time(0, 10), time(2), ("EURUSD",)),))
    alerts, sent = advance_alerts(custom, ist(23, 50), frozenset())
    assert alerts[0].starts_at == ist(0, 10, day=6) and sent == {"x@2026-01-06"}
    assert advance_alerts(custom, ist(0, 5, day=6), sent)[0] == ()


def test_dead_zone_has_no_advance_alert_and_old_keys_are_pruned():
    alerts, sent = advance_alerts(S, ist(3, 10), frozenset({"asian@2025-12-01"}))
    assert alerts == () and sent == frozenset()
    assert advance_alerts(set_master_switch(S, False), ist(13, 0), frozenset())[0] == ()


@pytest.mark.parametrize("h, m, s, due", [
    (4, 58, 59, False), (4, 59, 0, True), (4, 59, 59, True), (5, 0, 0, False), (3, 30, 0, False),
])
def test_dead_zone_force_close_in_its_last_minute(h, m, s, due):
    fc = force_close_due(S, ist(h, m, s))
    assert (fc is not None) is due
    if due:
        assert fc.session_id == "dead_zone" and 0 < fc.seconds_left <= 60


def test_force_close_can_be_turned_off_or_on_elsewhere():
    assert force_close_due(set_force_close(S, "dead_zone", False), ist(4, 59, 30)) is None
    assert force_close_due(set_force_close(S, "ny_late", True), ist(3, 29, 30)).session_id == "ny_late"


def test_status_text():
    assert status_text(status(S, ist(14, 0))) == (
        "🟢 **Master Switch:** ON\n🕐 **Current Session:** London Session\n"
        "✅ **Allowed Symbols:** EURUSD, GBPUSD, EURGBP, GBPJPY, EURJPY, XAUUSD (6/11)")
    st_ = status(S, ist(4, 0))
    assert (st_.session_id, st_.allowed_symbols) == ("dead_zone", ())
    assert "None (0/11)" in status_text(st_)
    assert "🔴 **Master Switch:** OFF" in status_text(status(set_master_switch(S, False), ist(4, 0)))


def test_editing_shifts_with_wrap_and_toggles_symbols():
    s = shift_time(S, "ny_late", "end", 30)
    assert s.session("ny_late").end == time(4, 0)
    s = shift_time(S, "asian", "start", -330)
    assert s.session("asian").start == time(23, 30)
    s = toggle_symbol(S, "asian", "EURUSD")
    assert "EURUSD" in s.session("asian").symbols
    assert "EURUSD" not in toggle_symbol(s, "asian", "eurusd").session("asian").symbols
    with pytest.raises(ValueError):
        toggle_symbol(S, "asian", "BTCUSD")
    with pytest.raises(ValueError):
        shift_time(S, "dead_zone", "end", -90)  # 05:00 -> 03:30 = its start
    with pytest.raises(KeyError):
        S.session("tokyo")


def test_settings_defaults_and_overrides():
    assert SessionSettings.from_mapping({}) == S
    s = SessionSettings.from_mapping({"master_switch": False, "bypass": [],
                                      "windows": {"asian": {"start": "05:30", "symbols": ["USDJPY"]}}})
    assert not s.master_switch and s.bypass == frozenset()
    assert s.session("asian").start == time(5, 30) and s.session("asian").symbols == ("USDJPY",)
    assert s.session("asian").end == time(13, 30)


@pytest.mark.parametrize("config, key", [
    ({"windows": {"asian": {"start": "5am"}}}, "sessions.windows.asian.start"),
    ({"windows": {"asian": {"end": "05:00"}}}, "sessions.windows.asian.end"),
    ({"windows": {"asian": {"symbols": ["BTCUSD"]}}}, "sessions.windows.asian.symbols"),
    ({"windows": {"asian": {"colour": "red"}}}, "sessions.windows.asian.colour"),
    ({"master_switch": "yes"}, "sessions.master_switch"),
    ({"bypass": ["v4"]}, "sessions.bypass"),
    ({"advance_alert_minutes": 0}, "sessions.advance_alert_minutes"),
    ({"timezone": "IST"}, "sessions.timezone"),
])
def test_settings_errors_name_the_key(config, key):
    with pytest.raises(ConfigError) as e:
        SessionSettings.from_mapping(config)
    assert e.value.key == key


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(timezone.utc)))
def test_default_table_covers_every_minute_and_dead_zone_blocks_all(now):
    s = current_session(S, now)
    assert s is not None
    local = now.astimezone(IST)
    if time(3, 30) <= local.time() < time(5, 0):
        assert s.id == "dead_zone"
        assert not any(check_trade(S, sym, now).allowed for sym in S.all_symbols)


def test_naive_time_refused():
    with pytest.raises(ValueError):
        current_session(S, datetime(2026, 1, 5, 12, 0))


def test_session_boundaries_are_exact_to_the_second():
    assert current_session(S, ist(13, 29, 59)).id == "asian"
    assert current_session(S, ist(13, 30, 0) - timedelta(microseconds=1)).id == "asian"


def _entry(symbol):
    from decimal import Decimal as D
    from strategies.decisions import Enter
    from strategies.risk.side import Side
    return Enter(symbol, symbol, Side.BUY, "LOGIC1", (), D("1"))


@pytest.mark.parametrize("symbol,source,when,kept,reason", [
    ("EURUSD", "legacy", (8, 0), False, "EURUSD is not traded in the Asian Session"),
    ("EURUSD", "v6", (8, 0), False, "EURUSD is not traded in the Asian Session"),
    ("USDJPY", "legacy", (8, 0), True, ""),
    ("EURUSD", "v3", (8, 0), True, ""),                 # V3 bypasses by default (DECISIONS §18)
])
def test_gate_entries_skips_entries_outside_an_allowed_session(symbol, source, when, kept, reason):
    from strategies.decisions import Close, Skip
    from strategies.risk.side import Side
    from strategies.sessions import gate_entries
    close = Close(symbol, (Side.SELL,), "reversal")
    out = gate_entries(S, [close, _entry(symbol)], symbol, source, ist(*when))
    assert out[0] is close
    if kept:
        assert out[1] == _entry(symbol)
    else:
        assert isinstance(out[1], Skip) and out[1].reason.startswith("session filter: " + reason)


def test_gate_entries_with_the_master_switch_off_filters_nothing():
    from dataclasses import replace
    from strategies.sessions import gate_entries
    off = replace(S, master_switch=False)
    assert gate_entries(off, [_entry("EURUSD")], "EURUSD", "legacy", ist(8, 0)) == [_entry("EURUSD")]
