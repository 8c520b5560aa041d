"""Routing of every alert kind to its plugin, the fan-out of V6 trend updates, and the V4 <-> V5 bridge."""
from __future__ import annotations

import pytest

from config.loader import defaults
from strategies.alerts import parse_alert
from strategies.alerts.model import AlertKind
from strategies.bridge import bridge, legacy_entry_logic, logic_name, v4_logic_name
from strategies.routing import RoutingTable, route_alert

TABLE = RoutingTable.from_config(defaults()["routing"])
V6_ALL = ("trading/price_action_15m", "trading/price_action_1h", "trading/price_action_1m", "trading/price_action_5m")


def legacy(type_: str, signal: str, tf: str, **extra) -> dict:
    import json
    body = {"type": type_, "symbol": "XAUUSD", "signal": signal, "tf": tf, "price": 2000.5,
            "strategy": "ZepixPremium", **extra}
    return parse_alert(json.dumps(body).encode()).to_dict()


def v3(type_: str, signal_type: str, tf: str = "15", **extra) -> dict:
    import json
    body = {"type": type_, "signal_type": signal_type, "symbol": "XAUUSD", "tf": tf, "price": 2000.5,
            "consensus_score": 7, "market_trend": 1, **extra}
    return parse_alert(json.dumps(body).encode()).to_dict()


def v6(text: str) -> dict:
    return parse_alert(text.encode()).to_dict()


PULSE_1D = "TREND_PULSE|XAUUSD|1D|4|2|15:BULL→BEAR,60:SIDE→BEAR|MIXED_BULLISH"
PULSE_5 = "TREND_PULSE|XAUUSD|5|4|2|15:BULL→BEAR|MIXED_BULLISH"
STATE_60 = "STATE_CHANGE|XAUUSD|60|TRENDING_BULLISH|MIXED_BULLISH|5/1"
MOMENTUM_1W = "MOMENTUM_CHANGE|XAUUSD|1W|26.4|STRONG|22.1|MODERATE|INCREASING"


@pytest.mark.parametrize("alert, targets", [
    (lambda: v3("trend_pulse_v3", "Trend_Pulse", current_trends="1,1,1,1,1,1", previous_trends="1,1,1,1,-1,1",
                changed_timeframes="240", change_details="x"), ("trading/combined_v3",)),
    (lambda: legacy("bias", "bull", "1d"), ("trading/legacy_v4",)),
    (lambda: legacy("trend", "bear", "15m"), ("trading/legacy_v4",)),
    (lambda: v6(PULSE_5), ("trading/price_action_5m",)),
    (lambda: v6(STATE_60), ("trading/price_action_1h",)),
    (lambda: v6(PULSE_1D), V6_ALL),
    (lambda: v6(MOMENTUM_1W), V6_ALL),
])
def test_trend_bias_and_pulse_updates_go_to_the_trend_store_owner(alert, targets):
    try:
        a = alert()
    except Exception as exc:     # a sample this parser reads differently: say which
        pytest.fail(f"sample did not parse: {exc}")
    got, why = TABLE.route_all(a)
    assert got == targets, why


def test_every_alert_kind_has_a_route():
    for fmt in ("v3", "legacy_v4", "pineconnector", "v6"):
        for kind in AlertKind:
            for tf in ("1", "5", "15", "60", "240", "1D", "1W", None):
                got, why = TABLE.route_all({"format": fmt, "kind": kind.value, "timeframe": tf})
                assert got and all(t.startswith("trading/") for t in got), (fmt, kind, tf, why)


def test_an_unknown_format_has_no_route_and_says_why():
    assert TABLE.route_all({"format": "v9", "kind": "entry"}) == ((), "no plugin is configured for format v9")


def test_v6_entries_never_fan_out():
    got, _ = TABLE.route_all({"format": "v6", "kind": "entry", "timeframe": "1D"})
    assert got == ("trading/price_action_15m",)


def test_a_strategy_hint_keeps_a_v6_trend_update_on_one_plugin():
    got, why = TABLE.route_all({"format": "v6", "kind": "trend_pulse", "timeframe": "1D",
                                "strategy": "price_action_1m"})
    assert got == ("trading/price_action_1m",) and why == "strategy price_action_1m"


@pytest.mark.parametrize("name, logic", [("combinedlogic-1", "LOGIC1"), ("LOGIC2", "LOGIC2"),
                                         ("CombinedLogic_3", "LOGIC3"), ("logic1", "LOGIC1"),
                                         ("combinedlogic-4", None), ("ZepixPremium", None), ("", None)])
def test_logic_names_old_and_new(name, logic):
    assert logic_name(name) == logic


def test_v4_logic_name_round_trip_and_refusal():
    assert [logic_name(v4_logic_name(x)) for x in ("LOGIC1", "LOGIC2", "LOGIC3")] == ["LOGIC1", "LOGIC2", "LOGIC3"]
    with pytest.raises(ValueError, match="LOGIC4"):
        v4_logic_name("LOGIC4")


@pytest.mark.parametrize("tf, logic", [("5m", "LOGIC1"), ("15m", "LOGIC2"), ("1h", "LOGIC3"), ("1d", None)])
def test_legacy_entry_timeframe_picks_the_logic(tf, logic):
    assert legacy_entry_logic(legacy("entry", "buy", tf)) == logic
    assert legacy_entry_logic(legacy("trend", "bull", "1h")) is None


def test_bridge_sends_a_combinedlogic_hint_to_combined_v3_with_its_logic():
    alert = dict(v3("entry_v3", "Institutional_Launchpad", direction="buy"), strategy="combinedlogic-1")
    out, note = bridge(alert)
    assert out["strategy"] == "combined_v3" and out["extras"]["bridge"] == {"strategy": "combinedlogic-1",
                                                                          "logic": "LOGIC1"}
    assert note == "bridge: strategy combinedlogic-1 -> combined_v3, logic LOGIC1"
    assert alert["strategy"] == "combinedlogic-1" and "bridge" not in alert.get("extras", {})   # input untouched
    assert TABLE.route_all(out)[0] == ("trading/combined_v3",)
    # without the bridge the hint names no plugin and the alert would go by its format only
    assert TABLE.route_all(dict(legacy("entry", "buy", "5m"), strategy="combinedlogic-1"))[0] == ("trading/legacy_v4",)
    assert TABLE.route_all(bridge(dict(legacy("entry", "buy", "5m"), strategy="combinedlogic-1"))[0])[0] == (
        "trading/combined_v3",)


def test_bridge_reads_zepixpremium_as_legacy_v4_and_records_the_legacy_logic():
    out, note = bridge(legacy("entry", "sell", "15m"))
    assert out["strategy"] == "legacy_v4" and out["extras"]["bridge"] == {"strategy": "ZepixPremium",
                                                                        "logic": "LOGIC2"}
    assert TABLE.route_all(out)[0] == ("trading/legacy_v4",)
    from strategies.alerts.model import ParsedAlert
    assert ParsedAlert.from_dict(out).extras["bridge"]["logic"] == "LOGIC2"    # plugins can still decode it


def test_bridge_leaves_other_alerts_alone():
    alert = v6(PULSE_5)
    out, note = bridge(alert)
    assert out == alert and note == ""


def test_v4_signal_names_of_legacy_entries_are_the_entries_they_mean():
    from strategies.alerts import AlertError, parse_alert
    for name, side in (("BUY_SIGNAL", "BUY"), ("sell_signal", "SELL")):
        a = parse_alert(('{"type":"entry","symbol":"EURUSD","signal":"%s","tf":"15m","price":1.1,'
                         '"strategy":"ZepixPremium"}' % name).encode())
        assert (a.kind.value, a.direction.value, a.signal_type) == ("entry", side, side.lower())
        assert a.repairs == (f"signal: {name!r} -> {side.lower()!r} (V4 bridge)",)
    # only where an entry is meant: a trend alert with an entry's name is still wrong, and says what is accepted
    try:
        parse_alert(b'{"type":"trend","symbol":"EURUSD","signal":"BUY_SIGNAL","tf":"1h","price":1.1}')
    except AlertError as err:
        assert err.field == "signal" and "bull" in err.message
    else:
        raise AssertionError("a trend alert with BUY_SIGNAL was accepted")


def test_route_alert_is_the_bridge_then_the_table_as_router_and_webhook_decide():
    alert, targets, why = route_alert(TABLE, legacy("entry", "buy", "5m"))
    assert targets == ("trading/legacy_v4",) and alert["extras"]["bridge"]["logic"] == "LOGIC1"
    assert why == "bridge: strategy ZepixPremium -> legacy_v4, logic LOGIC1; strategy legacy_v4"
    assert route_alert(TABLE, v6(PULSE_5))[1:] == (("trading/price_action_5m",), "v6 timeframe 5")
    assert route_alert(TABLE, v6(PULSE_1D))[1] == V6_ALL
    assert route_alert(TABLE, {"format": "v9", "kind": "entry"})[1:] == ((), "no plugin is configured for format v9")
