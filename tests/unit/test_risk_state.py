"""Account trading state (DECISIONS §13-14): caps by tier, ACTIVE / REDUCING / HALTED, the daily reset boundary,
and check_intent."""
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal as D

import pytest
from hypothesis import given, strategies as st

from strategies.risk.settings import RiskSettings
from strategies.risk.side import Side
from strategies.risk.state import (Approved, DailyReset, Intent, IntentKind, Rejected, RiskState, StateChanged,
                                   TradingState, check_intent, clear_daily_loss, clear_loss_data, headroom,
                                   initial_state, last_reset_boundary, record_close, roll, set_kill_switch,
                                   set_paused, update_balance)

UTC = timezone.utc
S = RiskSettings()
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # 17:30 IST


def utc(*a):
    return datetime(*a, tzinfo=UTC)


@pytest.mark.parametrize("now, boundary", [
    (utc(2026, 1, 5, 22, 5), utc(2026, 1, 5, 22, 5)),  # 03:35 IST on the 6th is 22:05 UTC on the 5th
    (utc(2026, 1, 5, 22, 4, 59), utc(2026, 1, 4, 22, 5)),
    (utc(2026, 1, 5, 23, 0), utc(2026, 1, 5, 22, 5)),
    (utc(2026, 1, 6, 12, 0), utc(2026, 1, 5, 22, 5)),
    (utc(2026, 1, 1, 0, 0), utc(2025, 12, 31, 22, 5)),
    (datetime(2026, 1, 6, 3, 35, tzinfo=timezone(timedelta(hours=5, minutes=30))), utc(2026, 1, 5, 22, 5)),
])
def test_reset_boundary_ist(now, boundary):
    assert last_reset_boundary(now, time(3, 35), "Asia/Kolkata") == boundary


@pytest.mark.parametrize("now, boundary", [
    (utc(2026, 3, 8, 12, 0), utc(2026, 3, 8, 7, 30)),  # New York springs forward on 8 Mar: 03:30 EDT = 07:30 UTC
    (utc(2026, 3, 8, 7, 0), utc(2026, 3, 7, 8, 30)),  # before it: yesterday's 03:30 EST
    (utc(2026, 11, 1, 12, 0), utc(2026, 11, 1, 8, 30)),  # back to EST
])
def test_reset_boundary_across_dst(now, boundary):
    assert last_reset_boundary(now, time(3, 30), "America/New_York") == boundary


def test_naive_time_is_refused():
    with pytest.raises(ValueError):
        last_reset_boundary(datetime(2026, 1, 1, 12, 0))


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
       st.sampled_from(["Asia/Kolkata", "America/New_York", "Europe/London", "UTC"]),
       st.times())
def test_boundary_is_the_latest_reset_not_after_now(now, tz, reset):
    reset = reset.replace(second=0, microsecond=0)
    b = last_reset_boundary(now, reset, tz)
    assert b <= now
    assert now - b < timedelta(hours=26)


def fresh(balance="10000"):
    return initial_state(D(balance), T0, S)


def test_daily_cap_moves_to_reducing_then_reset_returns_to_active():
    st0 = fresh()
    st1, ev = record_close(st0, D("-150"), T0, S)
    assert st1.status is TradingState.ACTIVE and ev == []
    st2, ev = record_close(st1, D("-50"), T0, S)  # 200 = the 10000 tier cap
    assert st2.status is TradingState.REDUCING
    assert ev == [StateChanged(TradingState.ACTIVE, TradingState.REDUCING, st2.reason, T0)]
    assert "daily loss 200 reached the cap 200 of tier 10000" in st2.reason
    later = utc(2026, 1, 5, 22, 5)
    st3, ev = roll(st2, later, S)
    assert st3.status is TradingState.ACTIVE and st3.daily_loss == 0 and st3.lifetime_loss == 200
    assert isinstance(ev[0], DailyReset) and ev[0].daily_loss == 200
    assert ev[1].old is TradingState.REDUCING and ev[1].new is TradingState.ACTIVE and "daily reset" in ev[1].reason
    assert roll(st3, later + timedelta(hours=1), S) == (st3, [])


def test_profits_count_but_do_not_offset_losses():
    st1, _ = record_close(fresh(), D("500"), T0, S)
    st1, _ = record_close(st1, D("-199"), T0, S)
    assert (st1.daily_profit, st1.daily_loss, st1.total_trades, st1.winning_trades) == (500, 199, 2, 1)
    assert st1.status is TradingState.ACTIVE


@pytest.mark.parametrize("balance, losses, status", [
    ("5000", ["-99"], TradingState.ACTIVE), ("5000", ["-100"], TradingState.REDUCING),
    ("25000", ["-499.99"], TradingState.ACTIVE), ("25000", ["-500"], TradingState.REDUCING),
    ("100000", ["-1999"], TradingState.ACTIVE), ("100000", ["-2000"], TradingState.REDUCING),
    ("4000", ["-100"], TradingState.REDUCING),  # below the lowest tier: its caps apply
])
def test_daily_caps_per_tier(balance, losses, status):
    st1 = fresh(balance)
    for loss in losses:
        st1, _ = record_close(st1, D(loss), T0, S)
    assert st1.status is status


def test_lifetime_cap_halts_across_days_and_clear_loss_data_resumes():
    st1 = fresh("5000")
    now = T0
    for _ in range(5):  # 5 days x $100 = the 5000 tier's lifetime cap of 500
        st1, ev = record_close(st1, D("-100"), now, S)
        now += timedelta(days=1)
    assert st1.status is TradingState.HALTED and "lifetime loss 500" in st1.reason
    st2, ev = roll(st1, now, S)
    assert st2.status is TradingState.HALTED  # the daily reset does not lift a lifetime halt
    st3, ev = clear_loss_data(st2, now, S)
    assert st3.status is TradingState.ACTIVE and ev[-1].reason == "loss data cleared"


def test_clear_daily_loss_lifts_reducing():
    st1, _ = record_close(fresh(), D("-250"), T0, S)
    st2, ev = clear_daily_loss(st1, T0, S)
    assert st2.status is TradingState.ACTIVE and st2.lifetime_loss == 250 and ev[0].new is TradingState.ACTIVE


def test_pause_and_kill_switch_halt_and_release_in_order():
    st1, ev = set_paused(fresh(), True, T0, S)
    assert st1.status is TradingState.HALTED and ev[0].reason == "trading paused (/pause)"
    st2, ev = set_kill_switch(st1, True, T0, S)
    assert st2.reason == "kill switch is on" and ev == []  # still HALTED: no new transition
    st3, ev = set_paused(st2, False, T0, S)
    assert st3.status is TradingState.HALTED and ev == []
    st4, ev = set_kill_switch(st3, False, T0, S)
    assert st4.status is TradingState.ACTIVE and ev[0].reason == "kill switch released"
    assert ev[0].priority == "CRITICAL"


def test_a_balance_drop_to_a_lower_tier_tightens_the_caps():
    st1, _ = record_close(fresh("10000"), D("-150"), T0, S)
    assert st1.status is TradingState.ACTIVE
    st2, ev = update_balance(st1, D("9850"), T0, S)  # tier 5000: daily cap 100
    assert st2.status is TradingState.REDUCING and ev[0].new is TradingState.REDUCING


def test_headroom_is_the_smallest_remaining_cap():
    assert headroom(fresh("10000"), S) == 200  # the daily cap (200) is below the per-trade cap (300)
    wide = RiskSettings.from_mapping({"tiers": {"10000": {"daily_loss_cap": 1000}}})
    assert headroom(initial_state(D(10000), T0, wide), wide) == 300
    st1, _ = record_close(fresh("10000"), D("-120"), T0, S)
    assert headroom(st1, S) == 80  # 200 - 120
    st2, _ = record_close(st1, D("-500"), T0, S)
    assert headroom(st2, S) == 0


def open_(risk="50", lots="0.05"):
    return Intent(IntentKind.OPEN, "EURUSD", Side.BUY, D(lots), None if risk is None else D(risk))


@pytest.mark.parametrize("intent, verdict", [
    (open_(), None),
    (open_(risk="200"), None),
    (open_(risk="200.01"), "left of the daily cap (200 of 200)"),
    (open_(risk=None), "must carry a stop loss"),
    (open_(lots="0"), "not positive"),
    (Intent(IntentKind.MODIFY_SL, "EURUSD", Side.BUY, old_sl=D("1.1"), new_sl=D("1.0")), None),
    (Intent(IntentKind.MODIFY_SL, "EURUSD", Side.BUY, old_sl=D("1.1"), new_sl=None), "may not lose its stop loss"),
])
def test_check_intent_active(intent, verdict):
    r = check_intent(fresh(), intent, T0, S)
    assert r == Approved() if verdict is None else (isinstance(r, Rejected) and verdict in r.reason)


def test_per_trade_cap_binds_when_below_the_daily_room():
    wide = RiskSettings.from_mapping({"tiers": {"10000": {"daily_loss_cap": 1000}}})
    st1 = initial_state(D(10000), T0, wide)
    assert check_intent(st1, open_(risk="300"), T0, wide) == Approved()
    r = check_intent(st1, open_(risk="300.01"), T0, wide)
    assert isinstance(r, Rejected) and "per-trade cap 300 of tier 10000" in r.reason


def test_intent_must_fit_what_is_left_of_the_lifetime_cap():
    st1 = fresh("5000")
    for day in range(4):  # 400 of the 500 lifetime cap, spread over days so the daily cap does not stop it
        st1, _ = record_close(st1, D("-100"), T0 + timedelta(days=day), S)
    st1, _ = record_close(st1, D("-60"), T0 + timedelta(days=4), S)
    now = T0 + timedelta(days=5)  # a new day: 100 of daily room, 40 of lifetime room
    assert check_intent(st1, open_(risk="40"), now, S) == Approved()
    r = check_intent(st1, open_(risk="41"), now, S)
    assert isinstance(r, Rejected) and "left of the lifetime cap (40 of 500)" in r.reason


def test_intent_must_fit_what_is_left_of_the_daily_cap():
    st1, _ = record_close(fresh(), D("-150"), T0, S)
    assert check_intent(st1, open_(risk="50"), T0, S) == Approved()
    r = check_intent(st1, open_(risk="51"), T0, S)
    assert isinstance(r, Rejected) and "left of the daily cap" in r.reason


REDUCING_INTENTS = [
    Intent(IntentKind.CLOSE, "EURUSD", Side.BUY),
    Intent(IntentKind.PARTIAL_CLOSE, "EURUSD", Side.SELL, D("0.01")),
    Intent(IntentKind.MODIFY_SL, "EURUSD", Side.BUY, old_sl=D("1.09"), new_sl=D("1.095")),
    Intent(IntentKind.MODIFY_SL, "EURUSD", Side.SELL, old_sl=D("1.11"), new_sl=D("1.105")),
    Intent(IntentKind.MODIFY_SL, "EURUSD", Side.SELL, old_sl=None, new_sl=D("1.105")),
]
ADDING_INTENTS = [
    open_(),
    Intent(IntentKind.MODIFY_SL, "EURUSD", Side.BUY, old_sl=D("1.095"), new_sl=D("1.09")),
    Intent(IntentKind.MODIFY_SL, "EURUSD", Side.SELL, old_sl=D("1.105"), new_sl=D("1.11")),
]


@pytest.mark.parametrize("make", ["reducing", "halted"])
def test_only_exposure_reducing_intents_pass_outside_active(make):
    if make == "reducing":
        st1, _ = record_close(fresh(), D("-200"), T0, S)
    else:
        st1, _ = set_paused(fresh(), True, T0, S)
    for intent in REDUCING_INTENTS:
        assert check_intent(st1, intent, T0, S) == Approved(), intent
    for intent in ADDING_INTENTS:
        r = check_intent(st1, intent, T0, S)
        assert isinstance(r, Rejected), intent
        assert ("reducing only" if make == "reducing" else "trading halted") in r.reason


def test_check_intent_applies_a_pending_daily_reset():
    st1, _ = record_close(fresh(), D("-200"), T0, S)
    assert isinstance(check_intent(st1, open_(), T0, S), Rejected)
    assert check_intent(st1, open_(), T0 + timedelta(days=1), S) == Approved()


def test_state_round_trips_through_a_plain_dict():
    st1, _ = record_close(fresh(), D("-250.5"), T0, S)
    st1, _ = set_paused(st1, True, T0, S)
    d = st1.to_dict()
    assert all(isinstance(v, (str, int, bool)) for v in d.values())
    assert RiskState.from_dict(d) == st1


intents = st.builds(
    Intent, kind=st.sampled_from(list(IntentKind)), symbol=st.just("EURUSD"), side=st.sampled_from(list(Side)),
    lots=st.decimals(min_value="0", max_value="10", places=2),
    risk=st.one_of(st.none(), st.decimals(min_value="0", max_value="5000", places=2)),
    old_sl=st.one_of(st.none(), st.decimals(min_value="1", max_value="2", places=4)),
    new_sl=st.one_of(st.none(), st.decimals(min_value="1", max_value="2", places=4)))


@given(intent=intents, losses=st.lists(st.decimals(min_value="-3000", max_value="3000", places=2), max_size=6),
       balance=st.decimals(min_value="0", max_value="200000", places=2), paused=st.booleans(), kill=st.booleans())
def test_no_new_exposure_is_approved_while_reducing_or_halted(intent, losses, balance, paused, kill):
    st1 = initial_state(balance, T0, S)
    for pnl in losses:
        st1, _ = record_close(st1, pnl, T0, S)
    st1, _ = set_paused(st1, paused, T0, S)
    st1, _ = set_kill_switch(st1, kill, T0, S)
    r = check_intent(st1, intent, T0, S)
    if st1.status is not TradingState.ACTIVE and isinstance(r, Approved):
        assert intent.reduces_exposure
    if intent.kind is IntentKind.OPEN and isinstance(r, Approved):
        assert intent.risk is not None and intent.risk <= headroom(st1, S)
