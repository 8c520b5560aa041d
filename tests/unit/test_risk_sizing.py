"""Lot sizing (facts §2.4, §3.3, DECISIONS §11): tier lot x multipliers, 50/50 split rounded down, halves below the
minimum volume not placed with a reason, lots cut to the loss headroom and never above the caps."""
from decimal import Decimal as D

import pytest
from hypothesis import given, strategies as st

from strategies.risk.pips import DEFAULT_SYMBOLS, SymbolSpec, money_for_pips
from strategies.risk.sizing import NotPlaced, Sized, combined_lot, size_dual, size_order
from strategies.risk.tiers import DEFAULT_TIERS, tier_for_balance


def spec(sym):
    return SymbolSpec.from_row(sym, DEFAULT_SYMBOLS[sym])


@pytest.mark.parametrize("balance, pos_mult, logic_mult, total, each", [
    (10000, "0.8", "1.25", "0.05", "0.02"),  # facts §2.4 example: 0.025 + 0.025 -> 0.02 + 0.02
    (10000, "1.0", "1.0", "0.05", "0.02"),
    (25000, "1.0", "1.25", "0.125", "0.06"),
    (50000, "0.6", "0.625", "0.075", "0.03"),
    (100000, "1.0", "1.25", "0.625", "0.31"),
    (100000, "0.2", "0.625", "0.0625", "0.03"),
])
def test_v3_dual_pipeline(balance, pos_mult, logic_mult, total, each):
    base = tier_for_balance(DEFAULT_TIERS, D(balance)).lot
    lots = combined_lot(base, D(pos_mult), D(logic_mult))
    assert lots == D(total)
    dual = size_dual(spec("EURUSD"), lots)
    assert dual.order_a == Sized(D(each)) and dual.order_b == Sized(D(each))


def test_halves_below_minimum_are_not_placed_with_the_reason():
    lots = combined_lot(D("0.01"), D("0.8"), D("1.25"))  # tier 5000: 0.01 total -> 0.005 each
    dual = size_dual(spec("EURUSD"), lots)
    assert not dual.any_placed
    assert isinstance(dual.order_a, NotPlaced) and dual.order_a.reason.startswith("Order A not placed")
    assert "below the minimum volume 0.01" in dual.order_b.reason


def test_one_half_can_be_refused_while_the_other_is_placed():
    dual = size_dual(spec("EURUSD"), D("0.04"), order_b_fixed_risk=D(10), max_loss_per_order=D(5),
                     order_a_sl_pips=D(10))
    assert dual.order_a == Sized(D("0.02")) and isinstance(dual.order_b, NotPlaced)


def test_legacy_dual_gives_each_order_the_full_lot():
    dual = size_dual(spec("EURUSD"), combined_lot(D("0.05"), D("1.25")), split=False)
    assert dual.order_a == dual.order_b == Sized(D("0.06"))


@pytest.mark.parametrize("lots, sl_pips, max_loss, expected", [
    ("0.10", 150, "300", "0.10"),  # $150 risk fits
    ("0.10", 150, "100", "0.06"),  # cut: 100 / (150 x $10) = 0.0666 -> 0.06
    ("0.10", 150, "10", None),  # 0.0066 -> below 0.01
    ("0.10", 150, "0", None),
])
def test_lot_is_cut_to_the_loss_headroom(lots, sl_pips, max_loss, expected):
    r = size_order(spec("EURUSD"), D(lots), sl_pips=D(sl_pips), max_loss=D(max_loss))
    if expected is None:
        assert isinstance(r, NotPlaced)
    else:
        assert r.lots == D(expected)
        assert (r.notes != ()) == (D(expected) != D(lots))


def test_symbol_max_lot_caps_with_a_note():
    r = size_order(spec("GBPJPY"), D("5"))
    assert r.lots == D("3") and "maximum volume" in r.notes[0]


def test_negative_multiplier_is_a_bug():
    with pytest.raises(ValueError):
        combined_lot(D("0.05"), D("-1"))


@given(sym=st.sampled_from(sorted(DEFAULT_SYMBOLS)), base=st.sampled_from([t.lot for t in DEFAULT_TIERS]),
       mults=st.lists(st.decimals(min_value="0.1", max_value="3", places=3), max_size=3),
       sl_pips=st.decimals(min_value="1", max_value="3000", places=1),
       max_loss=st.one_of(st.none(), st.decimals(min_value="0", max_value="5000", places=2)))
def test_lots_never_above_caps_nor_below_minimum(sym, base, mults, sl_pips, max_loss):
    s = spec(sym)
    lots = combined_lot(base, *mults)
    r = size_order(s, lots, sl_pips=sl_pips, max_loss=max_loss)
    if isinstance(r, Sized):
        assert s.volume_min <= r.lots <= s.volume_max
        assert r.lots <= lots
        if max_loss is not None:
            assert money_for_pips(s, sl_pips, r.lots) <= max_loss
    dual = size_dual(s, lots, order_a_sl_pips=sl_pips, max_loss_per_order=max_loss)
    for half in (dual.order_a, dual.order_b):
        if isinstance(half, Sized):
            assert s.volume_min <= half.lots <= min(s.volume_max, lots / 2)
