"""V3 Combined Logic, table-driven with the numbers of zepix-facts §2 and DECISIONS §7-11."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest
from hypothesis import given, settings, strategies as st

from strategies.alerts.parse import parse_alert
from strategies.decisions import Close, Enter, Facts, Notify, Record, Skip
from strategies.risk.pips import DEFAULT_SYMBOLS, resolve_spec
from strategies.risk.side import Side
from strategies.v3 import logic
from strategies.v3.settings import V3Settings
from strategies.v3.strategy import CombinedV3

NOW = datetime(2026, 1, 5, 10, tzinfo=timezone.utc)
S = V3Settings()


def alert(**over):
    body = {"type": "entry_v3", "signal_type": "Institutional_Launchpad", "symbol": "XAUUSD", "direction": "buy",
            "tf": "15", "price": 4335.49, "consensus_score": 8, "sl_price": 4328.12, "tp1_price": 4346.545,
            "tp2_price": 4357.6, "mtf_trends": "1,1,1,1,1", "market_trend": 1}
    body.update(over)
    return parse_alert(json.dumps({k: v for k, v in body.items() if v is not None}).encode())


def facts(symbol="XAUUSD", balance="10000", open_sides=(), headroom=None):
    return Facts(balance=D(balance), spec=resolve_spec(symbol, None, DEFAULT_SYMBOLS),
                 open_sides=frozenset(open_sides), headroom=None if headroom is None else D(headroom))


@pytest.mark.parametrize("signal,tf,want", [
    ("Screener_Full_Bullish", "5", ("LOGIC3", "signal_override")),
    ("Screener_Full_Bearish", "15", ("LOGIC3", "signal_override")),
    ("Golden_Pocket_Flip", "60", ("LOGIC3", "higher_tf_override")),
    ("Golden_Pocket_Flip", "240", ("LOGIC3", "higher_tf_override")),
    ("Golden_Pocket_Flip", "5", ("LOGIC1", "timeframe_routing")),
    ("Momentum_Breakout", "5", ("LOGIC1", "timeframe_routing")),
    ("Momentum_Breakout", "15", ("LOGIC2", "timeframe_routing")),
    ("Momentum_Breakout", "60", ("LOGIC3", "timeframe_routing")),
    ("Momentum_Breakout", "240", ("LOGIC3", "timeframe_routing")),
    ("Momentum_Breakout", "1", ("LOGIC2", "default")),
    ("Momentum_Breakout", "1D", ("LOGIC2", "default")),
])
def test_routing_matrix(signal, tf, want):
    assert logic.route(S, signal, tf) == want


@pytest.mark.parametrize("score,side,strength,passes", [
    (8, Side.BUY, 8, True), (5, Side.BUY, 5, True), (4, Side.BUY, 4, False),
    (1, Side.SELL, 8, True), (4, Side.SELL, 5, True), (5, Side.SELL, 4, False), (9, Side.SELL, 0, False),
])
def test_consensus_gate_is_direction_aware(score, side, strength, passes):
    assert logic.strength(score, side) == strength
    assert logic.passes_gate(S, score, side) is passes


@pytest.mark.parametrize("strength,mult", [(9, "1.0"), (8, "0.8"), (7, "0.8"), (6, "0.6"), (5, "0.6"), (4, "0.4"),
                                           (3, "0.4"), (2, "0.2"), (0, "0.2")])
def test_position_multiplier_steps(strength, mult):
    assert logic.position_multiplier(S, "Momentum_Breakout", strength, Side.BUY, None)[0] == D(mult)
    assert logic.position_multiplier(S, "Momentum_Breakout", 9 - strength, Side.SELL, None)[0] == D(mult)


def test_screener_and_trusted_multipliers():
    assert logic.position_multiplier(S, "Screener_Full_Bearish", 0, Side.SELL, D("0.2"))[0] == D("1.0")
    trusting = V3Settings.from_mapping({"trust_alert_multiplier": True})
    assert logic.position_multiplier(trusting, "Momentum_Breakout", 8, Side.BUY, D("0.3"))[0] == D("0.3")


def test_dual_orders_of_the_facts_example():
    """Tier 10000: 0.05 x 0.8 x 1.25 (LOGIC1) = 0.05 -> 0.025 + 0.025 -> 0.02 + 0.02 on a 0.01 step."""
    d = CombinedV3().decide(alert(tf="5", signal_type="Momentum_Breakout"), {}, facts(), NOW)
    enter = next(x for x in d if isinstance(x, Enter))
    assert enter.logic == "LOGIC1" and D(enter.detail["total_lot"]) == D("0.05")
    a, b = enter.orders
    assert (a.role, a.volume, a.sl, a.tp, a.sl_source, a.tp_source) == ("A", D("0.02"), D("4328.12"), D("4357.6"),
                                                                          "alert", "tp2")
    # Order B: $10 at 0.02 lots of gold (pip 0.01, $1/pip/lot) = 500 pips = 5.00
    assert (b.role, b.volume, b.sl, b.tp, b.sl_source, b.risk) == ("B", D("0.02"), D("4330.49"), D("4346.54"),
                                                                   "fixed_dollar", D("10"))
    assert a.comment == "LOGIC1_V3_A" and b.comment == "LOGIC1_V3_B"


def test_order_b_uses_the_real_pip_value_of_the_symbol():
    # EURUSD: $10 per pip per lot; 0.02 lots -> $0.20 per pip -> $10 = 50 pips = 0.0050
    d = CombinedV3().decide(alert(symbol="EURUSD", price=1.10000, sl_price=1.09800, tp1_price=1.10300,
                                  tp2_price=1.10600), {}, facts("EURUSD"), NOW)
    b = next(x for x in d if isinstance(x, Enter)).orders[1]
    assert (b.volume, b.sl, b.sl_pips) == (D("0.02"), D("1.09500"), D("50"))


def test_a_half_below_the_minimum_volume_is_not_placed_and_the_reason_kept():
    # tier 5000 lot 0.01 x 0.8 = 0.008 -> halves 0.004: neither can be placed
    d = CombinedV3().decide(alert(), {}, facts(balance="5000"), NOW)
    skip = next(x for x in d if isinstance(x, Skip))
    assert "Order A not placed" in skip.reason and "below the minimum volume 0.01" in skip.reason


def test_weak_sell_skipped_with_reason_and_sell_with_consensus_1_trades():
    weak = CombinedV3().decide(alert(direction="sell", consensus_score=6, sl_price=4340, tp1_price=4330,
                                     tp2_price=4320), {}, facts(), NOW)
    assert [x.reason for x in weak if isinstance(x, Skip)] == [
        "consensus 6 gives a SELL strength of 3, below the minimum 5"]
    strong = CombinedV3().decide(alert(direction="sell", consensus_score=1, sl_price=4340, tp1_price=4330,
                                       tp2_price=4320), {}, facts(), NOW)
    enter = next(x for x in strong if isinstance(x, Enter))
    assert enter.side is Side.SELL and all(o.sl > enter.price and o.tp < enter.price for o in enter.orders)


def test_aggressive_reversal_closes_the_opposite_side_first():
    d = CombinedV3().decide(alert(signal_type="Liquidity_Trap_Reversal", consensus_score=6), {},
                            facts(open_sides=[Side.SELL]), NOW)
    kinds = [type(x).__name__ for x in d]
    assert kinds == ["Record", "Close", "Enter"]
    assert d[1] == Close("XAUUSD", (Side.SELL,), "aggressive_reversal")
    # not aggressive (strength 6, not in the list): no close
    d = CombinedV3().decide(alert(signal_type="Momentum_Breakout", consensus_score=6), {},
                            facts(open_sides=[Side.SELL]), NOW)
    assert not [x for x in d if isinstance(x, Close)]


@pytest.mark.parametrize("signal,direction,closes", [("Bullish_Exit", "sell", Side.BUY),
                                                     ("Bearish_Exit", "buy", Side.SELL)])
def test_exits_close_the_side_they_end(signal, direction, closes):
    a = alert(type="exit_v3", signal_type=signal, direction=direction, sl_price=None, tp1_price=None,
              tp2_price=None, mtf_trends=None)
    assert CombinedV3().decide(a, {}, facts(open_sides=[Side.BUY, Side.SELL]), NOW) == [
        Close("XAUUSD", (closes,), "exit")]
    assert isinstance(CombinedV3().decide(a, {}, facts(), NOW)[0], Skip)


def test_squeeze_notifies_and_pulse_records_trends():
    sq = alert(type="squeeze_v3", signal_type="Volatility_Squeeze", direction=None, sl_price=None, mtf_trends=None)
    d = CombinedV3().decide(sq, {}, facts(), NOW)
    assert len(d) == 1 and isinstance(d[0], Notify) and "squeeze" in d[0].text.lower()
    pulse = parse_alert(json.dumps({"type": "trend_pulse_v3", "signal_type": "Trend_Pulse", "symbol": "XAUUSD",
                                    "tf": "15", "price": 1, "consensus_score": 5, "mtf_trends": "1,-1,-1,1,1",
                                    "market_trend": 1}).encode())
    d = CombinedV3().decide(pulse, {}, facts(), NOW)
    assert d[0].key == "trend:XAUUSD" and isinstance(d[0], Record) and d[0].value["mode"] == "AUTO"


def test_switched_off_logic_is_skipped():
    off = CombinedV3(V3Settings.from_mapping({"logics_enabled": {"LOGIC2": False}}))
    assert off.decide(alert(), {}, facts(), NOW)[-1] == Skip("LOGIC2 is switched off")


@settings(max_examples=200, deadline=None)
@given(score=st.integers(0, 9), buy=st.booleans(), balance=st.integers(1000, 300000),
       sl_off=st.decimals("0.5", "40", places=2), tf=st.sampled_from(["5", "15", "60", "240", "1"]),
       headroom=st.one_of(st.none(), st.integers(0, 400)))
def test_property_lots_within_bounds_and_sl_on_the_losing_side(score, buy, balance, sl_off, tf, headroom):
    price = D("2000.00")
    side = "buy" if buy else "sell"
    sl = price - sl_off if buy else price + sl_off
    tp1 = price + sl_off if buy else price - sl_off
    a = alert(direction=side, consensus_score=score, price=float(price), sl_price=float(sl), tp1_price=float(tp1),
              tp2_price=float(tp1 + (sl_off if buy else -sl_off)), tf=tf, signal_type="Momentum_Breakout")
    f = facts(balance=str(balance), headroom=headroom)
    for d in CombinedV3().decide(a, {}, f, NOW):
        if isinstance(d, Enter):
            for o in d.orders:
                assert f.spec.volume_min <= o.volume <= f.spec.volume_max
                assert (o.volume / f.spec.volume_step) == (o.volume / f.spec.volume_step).to_integral_value()
                assert (d.price - o.sl) * o.side.sign > 0
                assert o.tp is None or (o.tp - d.price) * o.side.sign > 0
                if headroom is not None and not o.fixed_risk:
                    assert o.risk <= headroom + D("0.01")
