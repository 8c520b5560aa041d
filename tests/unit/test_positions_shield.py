"""Reverse Shield v3 (facts §4.2, §7 reverse_shield_config): two opposite shields at 0.5 x the lot, SL at the
original entry, Shield A TP one loss gap beyond the SL, recovery trigger at 70 % back, max 3, $50 buffer."""
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from config.errors import ConfigError
from strategies.positions import shield as SH
from strategies.positions.actions import CloseOrder, Notify, PlaceOrder
from strategies.risk.pips import DEFAULT_SYMBOLS, SymbolSpec
from strategies.risk.side import Side

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
ON = SH.ShieldSettings(enabled=True)


def spec(sym="XAUUSD"):
    return SymbolSpec.from_row(sym, DEFAULT_SYMBOLS[sym])


def gold_buy_stopped(book=SH.ShieldBook(), settings=ON, lots="0.10", headroom="500", order_id="o1", chain="T1"):
    # facts' gold example scale: BUY at 2000.00, SL 1990.00 (a $10 gap), stopped; the market is 1989.90/1990.10
    return SH.open_shields(book, settings, spec(), chain_id=chain, order_id=order_id, side=Side.BUY, logic="LOGIC1",
                           entry=D("2000.00"), sl_price=D("1990.00"), lots=D(lots), bid=D("1990.00"),
                           ask=D("1990.20"), headroom=None if headroom is None else D(headroom), chain_profit=D(0),
                           now=NOW)


def test_defaults_follow_the_facts_and_the_shield_is_off():
    s = SH.ShieldSettings.from_mapping({})
    assert (s.enabled, s.lot_multiplier, s.order_a_rr, s.recovery_threshold, s.max_concurrent,
            s.min_daily_loss_buffer) == (False, D("0.5"), D("1.0"), D("0.70"), 3, D("50"))
    book, acts, opened = gold_buy_stopped(settings=s)
    assert (book, acts, opened) == (SH.ShieldBook(), [], False)


def test_two_opposite_shields_at_half_the_lot_sl_at_entry_tp_one_gap_beyond():
    book, acts, opened = gold_buy_stopped()
    assert opened
    a, b = [x for x in acts if isinstance(x, PlaceOrder)]
    assert (a.side, b.side) == (Side.SELL, Side.SELL)
    assert a.lots == b.lots == D("0.05")
    pip = spec().pip_size
    fill = D("1990.00")                                 # a SELL fills at the bid
    assert fill + a.sl_pips * pip == D("2000.00")        # SL = the original entry
    assert fill - a.tp_pips * pip == D("1980.00")        # TP A = SL price - the $10 gap (rr 1.0)
    assert b.tp_pips is None and b.sl_pips == a.sl_pips  # B is left to profit booking
    (sh,) = book.shields
    assert sh.trigger == D("1997.00")                    # SL + 70 % of the gap toward the entry
    assert SH.ShieldBook.from_dict(book.to_dict()) == book


def test_sell_side_mirrors():
    book, acts, opened = SH.open_shields(SH.ShieldBook(), ON, spec("EURUSD"), chain_id="T2", order_id="o2",
                                         side=Side.SELL, logic=None, entry=D("1.08000"), sl_price=D("1.08300"),
                                         lots=D("0.30"), bid=D("1.08290"), ask=D("1.08300"), headroom=D("60"),
                                         chain_profit=D(0), now=NOW)
    a = next(x for x in acts if isinstance(x, PlaceOrder))
    assert opened and a.side is Side.BUY and a.lots == D("0.15")
    assert D("1.08300") - a.sl_pips * D("0.0001") == D("1.08000")
    assert D("1.08300") + a.tp_pips * D("0.0001") == D("1.08600")
    assert book.shields[0].trigger == D("1.08090")


@pytest.mark.parametrize("lots,expected", [("0.10", "0.05"), ("0.03", "0.01"), ("0.15", "0.07")])
def test_lot_rounds_down_to_the_step(lots, expected):
    assert SH.shield_lots(ON, spec(), D(lots)) == D(expected)


def test_below_min_lot_cancels_or_uses_the_minimum():
    assert SH.shield_lots(ON, spec(), D("0.01")) is None
    _, acts, opened = gold_buy_stopped(lots="0.01")
    assert not opened and "minimum lot" in acts[0].text
    keep = SH.ShieldSettings(enabled=True, cancel_if_below_min_lot=False)
    assert SH.shield_lots(keep, spec(), D("0.01")) == D("0.01")


@pytest.mark.parametrize("headroom,opened", [("49.99", False), ("50", True), (None, False)])
def test_daily_loss_buffer(headroom, opened):
    _, acts, got = gold_buy_stopped(headroom=headroom)
    assert got is opened
    if not opened:
        assert isinstance(acts[0], Notify) and acts[0].kind == "shield_skipped"


def test_at_most_three_concurrent_shields():
    book = SH.ShieldBook()
    for i in range(3):
        book, _, opened = gold_buy_stopped(book=book, order_id=f"o{i}", chain=f"T{i}")
        assert opened
    _, acts, opened = gold_buy_stopped(book=book, order_id="o9", chain="T9")
    assert not opened and "limit 3" in acts[0].text
    assert len({o for s in book.shields for o in s.orders}) == 6   # distinct, deterministic client ids


def test_recovery_trigger_closes_the_shields_and_resumes_recovery():
    book, _, _ = gold_buy_stopped()
    same, acts = SH.on_tick(book, ON, "XAUUSD", D("1996.99"), NOW)
    assert acts == [] and same.shields == book.shields
    done, acts = SH.on_tick(book, ON, "XAUUSD", D("1997.00"), NOW)
    assert done.shields == ()
    closes = [a for a in acts if isinstance(a, CloseOrder)]
    assert {c.order_id for c in closes} == set(book.shields[0].orders)
    (resume,) = [a for a in acts if isinstance(a, SH.ResumeRecovery)]
    assert (resume.side, resume.entry, resume.sl_price, resume.lots) == (Side.BUY, D("2000.00"), D("1990.00"),
                                                                         D("0.10"))


def test_shield_ends_when_both_orders_closed_by_themselves():
    book, _, _ = gold_buy_stopped()
    a, b = book.shields[0].orders
    book, acts = SH.on_order_closed(book, a, D("5"))
    assert acts == [] and book.shields[0].open_orders == (b,)
    book, acts = SH.on_order_closed(book, b, D("-5"))
    assert book.shields == () and acts[0].kind == "shield_done"
    # a closed shield no longer resumes recovery
    assert SH.on_tick(book, ON, "XAUUSD", D("1999"), NOW)[1] == []


def test_runtime_switch_overrides_the_config():
    off = SH.ShieldSettings()
    book = SH.set_enabled(SH.ShieldBook(), True)
    assert gold_buy_stopped(book=book, settings=off)[2]
    assert not gold_buy_stopped(book=SH.set_enabled(SH.ShieldBook(), False))[2]


def test_bad_settings_refused():
    with pytest.raises(ConfigError):
        SH.ShieldSettings.from_mapping({"recovery_threshold": "1.5"})
    with pytest.raises(ConfigError):
        SH.ShieldSettings.from_mapping({"shield_lot": "0.5"})


def test_without_profit_booking_shield_b_gets_shield_a_target():
    s = SH.ShieldSettings(enabled=True, profit_booking_for_b=False)
    _, acts, _ = gold_buy_stopped(settings=s)
    a, b = [x for x in acts if isinstance(x, PlaceOrder)]
    assert b.tp_pips == a.tp_pips
