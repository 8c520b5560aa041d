"""Tier lookup (DECISIONS §13) and lot per tier with manual overrides, with the facts §3.1 numbers."""
from decimal import Decimal as D

import pytest
from hypothesis import given, strategies as st

from strategies.risk.tiers import DEFAULT_TIERS, lot_for_balance, lot_for_tier, tier_for_balance


@pytest.mark.parametrize("balance, tier", [
    ("-50", "5000"), ("0", "5000"), ("1000", "5000"), ("4999.99", "5000"), ("5000", "5000"), ("7499", "5000"),
    ("9999.99", "5000"), ("10000", "10000"), ("17500", "10000"), ("24999.99", "10000"), ("25000", "25000"),
    ("49999", "25000"), ("50000", "50000"), ("74999", "50000"), ("99999.99", "50000"), ("100000", "100000"),
    ("5000000", "100000"),
])
def test_highest_tier_not_above_balance_else_lowest(balance, tier):
    assert tier_for_balance(DEFAULT_TIERS, D(balance)).name == tier


@pytest.mark.parametrize("tier, lot, daily, lifetime, per_trade", [
    ("5000", "0.01", 100, 500, 150), ("10000", "0.05", 200, 1000, 300), ("25000", "0.10", 500, 2500, 750),
    ("50000", "0.20", 1000, 5000, 1500), ("100000", "0.50", 2000, 10000, 3000),
])
def test_default_tier_table_matches_facts(tier, lot, daily, lifetime, per_trade):
    t = tier_for_balance(DEFAULT_TIERS, D(tier))
    assert (t.lot, t.daily_loss_cap, t.lifetime_loss_cap, t.per_trade_cap) == (D(lot), daily, lifetime, per_trade)


def test_manual_override_replaces_the_tier_lot_only_for_its_tier():
    overrides = {D(5000): D("0.04")}
    assert lot_for_balance(DEFAULT_TIERS, D(6000), overrides) == D("0.04")
    assert lot_for_balance(DEFAULT_TIERS, D(12000), overrides) == D("0.05")
    assert lot_for_tier(DEFAULT_TIERS[0]) == D("0.01")


def test_tier_lookup_ignores_table_order_and_needs_tiers():
    assert tier_for_balance(tuple(reversed(DEFAULT_TIERS)), D(30000)).name == "25000"
    with pytest.raises(ValueError):
        tier_for_balance((), D(1))


@given(st.decimals(min_value=-10**6, max_value=10**8, places=2))
def test_chosen_tier_is_the_highest_not_above_the_balance(balance):
    t = tier_for_balance(DEFAULT_TIERS, balance)
    if balance >= DEFAULT_TIERS[0].balance:
        assert t.balance <= balance
        assert all(o.balance <= t.balance or o.balance > balance for o in DEFAULT_TIERS)
    else:
        assert t is DEFAULT_TIERS[0]
