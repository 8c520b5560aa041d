"""Profit-booking chains on Order B (facts §4.1, DECISIONS §16)."""
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from config.errors import ConfigError
from strategies.positions import chains as C
from strategies.positions.actions import CloseOrder, Notify, PlaceOrder
from strategies.risk.pips import DEFAULT_SYMBOLS, SymbolSpec
from strategies.risk.side import Side

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
CS = C.ChainSettings()
EUR = SymbolSpec.from_row("EURUSD", DEFAULT_SYMBOLS["EURUSD"])
GOLD = SymbolSpec.from_row("XAUUSD", DEFAULT_SYMBOLS["XAUUSD"])


def chain(side=Side.BUY, lots="0.10", spec=EUR, entry="1.10000"):
    return C.start_chain("PROFIT_EURUSD_0a1b2c3d", "B", spec.symbol, side, "LOGIC1", D(lots), D(entry), D(10), NOW)


def places(actions):
    return [a for a in actions if isinstance(a, PlaceOrder)]


def win_level(ch, settings=CS, spec=EUR, pnl="7"):
    """Fill and close every pending/open order of the current level with a profit."""
    actions = []
    for o in [o for o in ch.orders if o.level == ch.level and o.status is not C.OrderStatus.CLOSED]:
        if o.status is C.OrderStatus.PENDING:
            ch, _ = C.on_fill(ch, o.client_id, D("1.10000"), o.lots, NOW)
        ch, actions = C.on_close(ch, settings, spec, o.client_id, D(pnl), NOW)
    return ch, actions


def test_defaults_match_facts():
    assert CS.multipliers == (1, 2, 4, 8, 16) and CS.max_level == 4
    assert CS.profit_targets == (10, 20, 40, 80, 160) and CS.sl_reductions == (0, 10, 25, 40, 50)
    assert CS.enabled_levels == (True, True, True, False, False)
    assert (CS.min_profit, CS.strict, CS.partial_success_threshold) == (7, True, D("0.75"))


@pytest.mark.parametrize("bid, booked", [("1.10069", False), ("1.10070", True), ("1.10100", True)])
def test_per_order_booking_at_min_profit(bid, booked):
    # 0.10 lots EURUSD: $1 per pip; $7 = 7 pips
    ch, actions = C.on_tick(chain(), CS, EUR, D(bid), D(bid) + D("0.00002"), NOW)
    assert (actions == [CloseOrder("B", "PROFIT_BOOKED_L0")]) is booked
    if booked:  # asked once: the next tick does not ask again
        assert C.on_tick(ch, CS, EUR, D(bid), D(bid), NOW)[1] == []


def test_sell_books_at_the_ask():
    ch = chain(side=Side.SELL)
    assert C.on_tick(ch, CS, EUR, D("1.09920"), D("1.09931"), NOW)[1] == []  # ask 6.9 pips below
    assert C.on_tick(ch, CS, EUR, D("1.09920"), D("1.09930"), NOW)[1] == [CloseOrder("B", "PROFIT_BOOKED_L0")]


@pytest.mark.parametrize("level, count", [(1, 2), (2, 4)])
def test_levels_place_multiplier_orders_with_the_real_pip_sl(level, count):
    ch = chain(spec=GOLD, lots="0.05", entry="2000.00")
    for _ in range(level):
        ch, actions = win_level(ch, spec=GOLD)
    orders = places(actions)
    assert ch.level == level and len(orders) == count
    assert {o.client_id for o in orders} == {f"PROFIT_EURUSD_0a1b2c3d-L{level}-{i}" for i in range(1, count + 1)}
    o = orders[0]
    assert (o.lots, o.sl_pips, o.tp_pips, o.comment) == (D("0.05"), D(200), D(300), f"LOGIC1_PROFIT_L{level}")
    assert any(isinstance(a, Notify) and a.kind == "chain_level_up" for a in actions)


def test_disabled_level_three_completes_after_seven_orders():
    ch = chain()
    placed = 1
    for _ in range(3):
        ch, actions = win_level(ch)
        placed += len(places(actions))
    assert ch.status is C.ChainStatus.COMPLETED and ch.reason == "Level 3 is disabled" and placed == 7
    assert ch.realised == 7 * 7


def test_all_levels_enabled_complete_at_max_level():
    s = C.ChainSettings(enabled_levels=(True,) * 5)
    ch = chain()
    for _ in range(5):
        ch, actions = win_level(ch, s)
    assert ch.status is C.ChainStatus.COMPLETED and ch.level == 4 and "all 5 levels" in ch.reason
    assert len(ch.orders) == 1 + 2 + 4 + 8 + 16


def test_level_waits_for_every_order():
    ch, _ = win_level(chain())
    ch, _ = C.on_fill(ch, ch.orders[1].client_id, D("1.1"), D("0.10"), NOW)
    ch, actions = C.on_close(ch, CS, EUR, ch.orders[1].client_id, D(8), NOW)
    assert places(actions) == [] and ch.level == 1


def test_strict_mode_stops_on_an_unrecovered_loss():
    ch, _ = win_level(chain())
    a, b = ch.orders[1].client_id, ch.orders[2].client_id
    ch, _ = C.on_fill(ch, a, D("1.1"), D("0.1"), NOW)
    ch, _ = C.on_fill(ch, b, D("1.1"), D("0.1"), NOW)
    ch, _ = C.on_close(ch, CS, EUR, a, D(7), NOW)
    ch, actions = C.on_close(ch, CS, EUR, b, D(-10), NOW)
    assert ch.status is C.ChainStatus.STOPPED and ch.reason == "Strict Mode: Level Loss (Not Recovered)"
    assert places(actions) == []


def test_a_recovered_loss_lets_the_chain_continue():
    ch, _ = win_level(chain())
    a, b = ch.orders[1].client_id, ch.orders[2].client_id
    for x in (a, b):
        ch, _ = C.on_fill(ch, x, D("1.1"), D("0.1"), NOW)
    ch, _ = C.on_close(ch, CS, EUR, a, D(7), NOW)
    ch, actions = C.on_close(ch, CS, EUR, b, D(-10), NOW, awaiting_recovery=True)
    assert ch.status is C.ChainStatus.ACTIVE and actions == []
    ch = C.attach_recovery(ch, b, "rec-1", D("0.05"))
    ch, _ = C.on_fill(ch, "rec-1", D("1.1"), D("0.05"), NOW)
    ch, actions = C.on_close(ch, CS, EUR, "rec-1", D(7), NOW)
    assert ch.order(b).outcome is C.Outcome.RECOVERED
    assert ch.level == 2 and len(places(actions)) == 4 and ch.realised == 7 + 7 - 10 + 7


def test_a_failed_recovery_stops_a_strict_chain():
    ch, _ = win_level(chain())
    a, b = ch.orders[1].client_id, ch.orders[2].client_id
    for x in (a, b):
        ch, _ = C.on_fill(ch, x, D("1.1"), D("0.1"), NOW)
    ch, _ = C.on_close(ch, CS, EUR, a, D(7), NOW)
    ch, _ = C.on_close(ch, CS, EUR, b, D(-10), NOW, awaiting_recovery=True)
    ch, actions = C.on_recovery_result(ch, CS, EUR, b, False, NOW)
    assert ch.status is C.ChainStatus.STOPPED


@pytest.mark.parametrize("wins, threshold, continues", [(3, "0.75", True), (2, "0.75", False), (2, "0.5", True)])
def test_partial_progression_threshold(wins, threshold, continues):
    s = C.ChainSettings(strict=False, partial_success_threshold=D(threshold))
    ch, _ = win_level(chain(), s)
    ch, _ = win_level(ch, s)  # level 2: four orders
    ids = [o.client_id for o in ch.orders if o.level == 2]
    for i, x in enumerate(ids):
        ch, _ = C.on_fill(ch, x, D("1.1"), D("0.1"), NOW)
        ch, actions = C.on_close(ch, s, EUR, x, D(7) if i < wins else D(-10), NOW)
    assert (ch.status is not C.ChainStatus.STOPPED) is continues


def test_rejected_level_orders_count_as_failures():
    ch, actions = win_level(chain())
    ch, _ = C.on_fill(ch, ch.orders[1].client_id, D("1.1"), D("0.1"), NOW)
    ch, _ = C.on_close(ch, CS, EUR, ch.orders[1].client_id, D(7), NOW)
    ch, _ = C.on_reject(ch, CS, EUR, ch.orders[2].client_id, "reducing only", NOW)
    assert ch.status is C.ChainStatus.STOPPED


def test_level_target_mode_books_the_level_together():
    s = C.ChainSettings(booking="level_target")
    ch, _ = win_level(chain(), s)  # level 1: two orders, target $20 together
    for o in ch.orders[1:]:
        ch, _ = C.on_fill(ch, o.client_id, D("1.10000"), D("0.10"), NOW)
    assert C.on_tick(ch, s, EUR, D("1.10099"), D("1.101"), NOW)[1] == []  # 9.9 pips x $1 x 2 = 19.8
    ch, actions = C.on_tick(ch, s, EUR, D("1.10100"), D("1.101"), NOW)
    assert actions == [CloseOrder(o.client_id, "PROFIT_TARGET_L1") for o in ch.orders[1:]]


def test_level_target_waits_for_fills():
    s = C.ChainSettings(booking="level_target")
    ch, _ = win_level(chain(), s)
    ch, _ = C.on_fill(ch, ch.orders[1].client_id, D("1.10000"), D("0.10"), NOW)
    assert C.on_tick(ch, s, EUR, D("1.2"), D("1.2"), NOW)[1] == []


def test_sl_reduction_per_level_when_enabled():
    s = C.ChainSettings(reduce_sl_per_level=True)
    ch = chain(spec=GOLD, lots="0.05", entry="2000")
    ch, _ = win_level(ch, s, GOLD)
    ch, actions = win_level(ch, s, GOLD)
    assert places(actions)[0].sl_pips == D(150)  # 200 pips less 25% at level 2


def test_stop_chain_closes_open_orders_and_late_fills():
    ch, _ = win_level(chain())
    ch, _ = C.on_fill(ch, ch.orders[1].client_id, D("1.1"), D("0.1"), NOW)
    ch, actions = C.stop_chain(ch, "REVERSAL", NOW)
    assert ch.status is C.ChainStatus.STOPPED
    assert CloseOrder(ch.orders[1].client_id, "CHAIN_STOPPED_REVERSAL") in actions
    ch, actions = C.on_fill(ch, ch.orders[2].client_id, D("1.1"), D("0.1"), NOW)
    assert actions == [CloseOrder(ch.orders[2].client_id, "CHAIN_STOPPED")]
    assert C.stop_chain(ch, "EXIT", NOW)[1] == []
    assert C.on_tick(ch, CS, EUR, D(2), D(2), NOW)[1] == []


def test_an_order_closing_after_its_chain_stopped_is_recorded_but_not_booked():
    ch, _ = C.stop_chain(chain(), "EXIT", NOW)               # the exit closes Order B, in profit
    ch, actions = C.on_close(ch, CS, EUR, "B", D("3.5"), NOW)
    assert ch.realised == D("3.5") and ch.orders[0].status is C.OrderStatus.CLOSED
    assert actions == []                                     # no "profit booked", no next level
    assert ch.status is C.ChainStatus.STOPPED and ch.level == 0


@pytest.mark.parametrize("reason, priority", [("EXIT", "MEDIUM"), ("AGGRESSIVE_REVERSAL", "MEDIUM"),
                                              ("SESSION", "MEDIUM"), ("MANUAL", "MEDIUM"),
                                              ("NOT FOUND AT THE BROKER", "HIGH"), ("CLIENT", "HIGH")])
def test_a_stop_the_trader_expects_is_told_at_medium_anything_else_at_high(reason, priority):
    _, actions = C.stop_chain(chain(), reason, NOW)
    told = [a for a in actions if isinstance(a, Notify)]
    assert [(a.kind, a.priority) for a in told] == [("chain_stopped", priority)]


def test_unknown_ids_are_ignored():
    ch = chain()
    assert C.on_close(ch, CS, EUR, "nope", D(1), NOW) == (ch, [])
    assert C.on_fill(ch, "nope", D(1), D(1), NOW) == (ch, [])
    assert C.on_fill(ch, "B", D(2), D(1), NOW) == (ch, [])  # a repeated fill does not reopen or move the order
    closed, _ = C.on_close(ch, CS, EUR, "B", D(-1), NOW)
    assert C.on_close(closed, CS, EUR, "B", D(5), NOW) == (closed, [])
    with pytest.raises(KeyError):
        C.attach_recovery(ch, "nope", "r", D("0.01"))


def test_round_trip_through_plain_dicts():
    ch, _ = win_level(chain())
    ch = C.attach_recovery(ch, "B", "rec", D("0.01"))
    assert C.Chain.from_dict(ch.to_dict()) == ch


@pytest.mark.parametrize("config, key", [
    ({"multipliers": [1, 1.5, 2, 3, 4]}, "positions.chains.multipliers"),
    ({"multipliers": [1, 2, 4]}, "positions.chains.multipliers"),
    ({"max_level": 2}, "positions.chains.multipliers"),
    ({"booking": "fifo"}, "positions.chains.booking"),
    ({"partial_success_threshold": 1.5}, "positions.chains.partial_success_threshold"),
    ({"min_profit": 0}, "positions.chains.min_profit"),
    ({"strict_mode": True}, "positions.chains.strict_mode"),
])
def test_settings_errors(config, key):
    with pytest.raises(ConfigError) as e:
        C.ChainSettings.from_mapping(config)
    assert e.value.key == key


def test_settings_presets_parse():
    s = C.ChainSettings.from_mapping({"multipliers": [1, 1, 2, 3, 5], "profit_targets": [5, 10, 20, 40, 80],
                                      "enabled_levels": [True] * 5})
    assert s.multipliers == (1, 1, 2, 3, 5) and s.profit_targets[0] == 5
    assert C.ChainSettings.from_mapping({}) == CS


@hsettings(max_examples=60)
@given(st.lists(st.tuples(st.booleans(), st.decimals(min_value="-50", max_value="50", places=2)), max_size=20))
def test_chain_never_has_more_orders_than_its_levels_allow(events):
    ch = chain()
    for fill_first, pnl in events:
        pending = [o for o in ch.orders if o.status is not C.OrderStatus.CLOSED]
        if not pending:
            break
        o = pending[0]
        if fill_first or o.status is C.OrderStatus.PENDING:
            ch, _ = C.on_fill(ch, o.client_id, D("1.1"), o.lots, NOW)
        ch, _ = C.on_close(ch, CS, EUR, o.client_id, pnl, NOW)
    levels_used = sum(CS.multipliers[: ch.level + 1])
    assert len(ch.orders) == levels_used
    assert ch.level <= CS.max_level and all(CS.enabled_levels[o.level] for o in ch.orders)
    assert C.Chain.from_dict(ch.to_dict()) == ch
