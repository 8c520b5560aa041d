"""Split TPs for V6 (facts §2.8), breakeven after TP1 with a buffer, profit lock and trailing stop (facts §4.2)."""
from decimal import Decimal as D

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from config.errors import ConfigError
from strategies.positions import trailing as T
from strategies.positions.actions import CloseOrder, ModifySL
from strategies.risk.pips import DEFAULT_SYMBOLS, SymbolSpec
from strategies.risk.side import Side

EUR = SymbolSpec.from_row("EURUSD", DEFAULT_SYMBOLS["EURUSD"])
GOLD = SymbolSpec.from_row("XAUUSD", DEFAULT_SYMBOLS["XAUUSD"])
TS = T.TrailingSettings()
QUIET = T.TrailingSettings(profit_lock_enabled=False)


@pytest.mark.parametrize("total, profile, parts", [
    ("0.05", "price_action_5m", ("0.02", "0.02", "0.01")),
    ("1.00", "price_action_5m", ("0.50", "0.30", "0.20")),
    ("0.01", "price_action_1m", ("0", "0.01")),
    ("0.03", "price_action_15m", ("0.01", "0.01", "0.01")),
    ("0.10", "price_action_1h", ("0.02", "0.04", "0.04")),
    ("0.02", "price_action_5m", ("0.01", "0", "0.01")),
])
def test_split_volumes(total, profile, parts):
    assert T.split_volumes(D(total), TS.profiles[profile].shares, EUR) == tuple(D(p) for p in parts)


@given(total=st.integers(1, 1000).map(lambda n: D(n) / 100),
       shares=st.sampled_from([p.shares for p in T.DEFAULT_PROFILES.values()]))
def test_split_parts_add_up_and_are_sendable(total, shares):
    parts = T.split_volumes(total, shares, EUR)
    assert sum(parts) == total and len(parts) == len(shares)
    for p in parts:
        assert p == 0 or (p >= EUR.volume_min and p == (p / EUR.volume_step).to_integral_value() * EUR.volume_step)


def pos5m(settings=QUIET, lots="0.05"):
    return T.track("A1", "XAUUSD", Side.BUY, D("2000.00"), D("1990.00"), D(lots), settings, GOLD, "price_action_5m",
                   [D("2005"), D("2010"), D("2015"), D("2020")])


def test_tp_stages_close_partials_then_the_rest():
    p = pos5m()
    p, actions = T.on_tick(p, QUIET, GOLD, D("2004.99"), D("2005.2"))
    assert actions == []
    p, actions = T.on_tick(p, QUIET, GOLD, D("2005.00"), D("2005.2"))
    assert actions[0] == CloseOrder("A1", "TP1", D("0.02")) and p.lots == D("0.03")
    assert ModifySL("A1", D("2000.02"), "breakeven after TP1") in actions  # 2-pip buffer
    p, actions = T.on_tick(p, QUIET, GOLD, D("2016"), D("2016.2"))  # TP2 and TP3 in one jump
    assert actions[0] == CloseOrder("A1", "TP2", D("0.02")) and actions[2] == CloseOrder("A1", "TP3")
    assert p.lots == 0 and T.on_tick(p, QUIET, GOLD, D("2030"), D("2030"))[1] == []


def test_breakeven_does_not_loosen_a_better_sl():
    p = pos5m()
    p = T.Position(**{**p.__dict__, "sl": D("2003.00")})
    p, actions = T.on_tick(p, QUIET, GOLD, D("2005.00"), D("2005.2"))
    assert not any(isinstance(a, ModifySL) for a in actions) and p.sl == D("2003.00")


def test_targets_must_match_the_profile_and_side():
    with pytest.raises(ValueError):
        T.track("A", "XAUUSD", Side.BUY, D("2000"), None, D("0.05"), TS, GOLD, "price_action_5m", [D("2005")])
    with pytest.raises(ValueError):
        T.track("A", "XAUUSD", Side.SELL, D("2000"), None, D("0.05"), TS, GOLD, "price_action_1m",
                [D("1990"), D("2010")])


@pytest.mark.parametrize("side, entry, price, sl", [
    (Side.BUY, "1.10000", "1.10400", "1.10100"),  # +40 pips -> SL entry + 10 pips
    (Side.SELL, "1.10000", "1.09600", "1.09900"),
])
def test_profit_lock(side, entry, price, sl):
    p = T.track("A", "EURUSD", side, D(entry), None, D("0.1"), TS, EUR)
    before = D(price) - side.sign * D("0.00001")
    assert T.on_tick(p, TS, EUR, before, before)[1] == []
    p, actions = T.on_tick(p, TS, EUR, D(price), D(price))
    assert actions == [ModifySL("A", D(sl), "profit lock")] and p.locked
    assert T.on_tick(p, TS, EUR, D(price), D(price))[1] == []


def test_trailing_follows_the_best_price_and_never_loosens():
    s = T.TrailingSettings(trailing_enabled=True, profit_lock_enabled=False)  # 50 points = 5 pips on EURUSD
    p = T.track("A", "EURUSD", Side.BUY, D("1.10000"), D("1.09800"), D("0.1"), s, EUR)
    p, actions = T.on_tick(p, s, EUR, D("1.10100"), D("1.10102"))
    assert actions == [ModifySL("A", D("1.10050"), "trailing stop")]
    p, actions = T.on_tick(p, s, EUR, D("1.10060"), D("1.10062"))  # pulled back: SL stays
    assert actions == [] and p.sl == D("1.10050") and p.best == D("1.10100")
    p, actions = T.on_tick(p, s, EUR, D("1.10200"), D("1.10202"))
    assert actions == [ModifySL("A", D("1.10150"), "trailing stop")]


def test_sell_trails_from_the_ask():
    s = T.TrailingSettings(trailing_enabled=True, profit_lock_enabled=False)
    p = T.track("A", "EURUSD", Side.SELL, D("1.10000"), D("1.10200"), D("0.1"), s, EUR)
    p, actions = T.on_tick(p, s, EUR, D("1.09880"), D("1.09900"))
    assert actions == [ModifySL("A", D("1.09950"), "trailing stop")]


def test_profile_trailing_starts_after_its_tp():
    p = T.track("A", "XAUUSD", Side.BUY, D("2000.00"), D("1990.00"), D("0.02"), QUIET, GOLD, "price_action_1m",
                [D("2005"), D("2010")])
    p, actions = T.on_tick(p, QUIET, GOLD, D("2004"), D("2004.2"))
    assert actions == []
    p, actions = T.on_tick(p, QUIET, GOLD, D("2006"), D("2006.2"))
    assert CloseOrder("A", "TP1", D("0.01")) in actions
    assert ModifySL("A", D("2005.50"), "trailing stop") in actions  # 50 points of 0.01 = 0.50 below the best


def test_no_trailing_by_default_without_a_profile():
    p = T.track("A", "EURUSD", Side.BUY, D("1.10000"), D("1.09800"), D("0.1"), QUIET, EUR)
    assert T.on_tick(p, QUIET, EUR, D("1.2"), D("1.2"))[1] == []


def test_round_trip_and_settings():
    p, _ = T.on_tick(pos5m(), QUIET, GOLD, D("2005.00"), D("2005.2"))
    assert T.Position.from_dict(p.to_dict()) == p
    assert T.TrailingSettings.from_mapping({}) == TS
    s = T.TrailingSettings.from_mapping({"profiles": {"price_action_1h": {"trail_after": 3}}, "trail_points": 30})
    assert s.profiles["price_action_1h"].trail_after == 3 and s.trail_points == 30
    for config, key in [({"profiles": {"x": {"shares": [0.5, 0.4]}}}, "positions.trailing.profiles.x.shares"),
                        ({"profiles": {"x": {"shares": [0.25] * 4}}}, "positions.trailing.profiles.x.shares"),
                        ({"profiles": {"price_action_1m": {"trail_after": 3}}},
                         "positions.trailing.profiles.price_action_1m.trail_after"),
                        ({"trail_points": 0}, "positions.trailing.trail_points"),
                        ({"lock_pips": -1}, "positions.trailing.lock_pips")]:
        with pytest.raises(ConfigError) as e:
            T.TrailingSettings.from_mapping(config)
        assert e.value.key == key


@hsettings(max_examples=80)
@given(side=st.sampled_from(list(Side)), moves=st.lists(st.integers(-300, 300), min_size=1, max_size=30),
       trailing=st.booleans(), lock=st.booleans())
def test_sl_moves_only_tighten_and_stay_on_the_losing_side(side, moves, trailing, lock):
    s = T.TrailingSettings(trailing_enabled=trailing, profit_lock_enabled=lock)
    entry = D("2000.00")
    p = T.track("A", "XAUUSD", side, entry, entry - side.sign * 10, D("0.05"), s, GOLD, "price_action_5m",
                [entry + side.sign * k for k in (1, 2, 3)])
    price = entry
    for m in moves:
        price += D(m) / 100
        before = p.sl
        p, actions = T.on_tick(p, s, GOLD, price, price)
        for a in actions:
            if isinstance(a, ModifySL):
                assert (price - a.sl) * side.sign > 0
                assert (a.sl - before) * side.sign > 0
    assert p.lots >= 0
