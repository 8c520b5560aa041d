"""ParsedAlert codec (JSON and msgpack round trips), ParserSettings.from_mapping errors, dedupe keys."""
from __future__ import annotations

import hashlib
import json
import pickle
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import msgpack
import pytest

from config.errors import ConfigError
from strategies.alerts import (
    AlertError, AlertFormat, AlertKind, Direction, ParsedAlert, ParserSettings, content_key, dedupe_key, parse_alert,
)

V3 = (b'{"type":"entry_v3","signal_type":"Sideways_Breakout","symbol":"{{ticker}}","direction":"buy","tf":"5",'
      b'"price":{{close}},"consensus_score":6,"adx_value":24.3,"confidence":"MEDIUM","sl_price":0.5787006772,'
      b'"mtf_trends":"1,1,-1,1,1,"market_trend":1,"price_in_ob":false,"position_multiplier":0.6,"x":{"y":[1.5]}}')
V6 = b"BULLISH_ENTRY|XAUUSD|5|2030.5|BUY|HIGH|90|27.3|STRONG|2028|2033|2035.5|2038|5/1|TL_OK|"
T0 = datetime(2026, 1, 7, 10, 15, 5, tzinfo=timezone.utc)


def parse(raw: bytes, **hints) -> ParsedAlert:
    return parse_alert(raw, hints=hints, settings=ParserSettings())


# --- model ---------------------------------------------------------------------------------------------------------

def test_to_dict_is_plain_values():
    d = parse(V3, symbol="NZDUSD").to_dict()
    assert d == {
        "schema": 1, "format": "v3", "kind": "entry", "signal_type": "Sideways_Breakout", "symbol": "NZDUSD",
        "broker_symbol": "NZDUSD", "direction": "BUY", "closes": [], "timeframe": "5", "price": None,
        "sl": "0.5787006772", "tp1": None, "tp2": None, "tp3": None, "consensus_score": 6,
        "mtf": {"15m": 1, "1H": -1, "4H": 1, "1D": 1}, "mtf_raw": "1,1,-1,1,1", "market_trend": 1,
        "position_multiplier": "0.6", "adx": "24.3", "confidence": "MEDIUM", "confidence_score": None,
        "strategy": None, "alert_id": None, "extras": {"price_in_ob": False, "x": {"y": ["1.5"]}},
        "repairs": ["price: literal {{close}} replaced by null",
                    'mtf_trends: missing closing quote added (the "1,1,1,1,1,"market_trend" build)',
                    "symbol: literal {{ticker}} replaced by NZDUSD from ?symbol="],
    }


@pytest.mark.parametrize("raw, hints", [(V3, {"symbol": "NZDUSD"}), (V6, {}),
                                        (b"6012345678,closelongshort,EURUSD", {"tf": "1h"})])
def test_round_trips_through_json_msgpack_and_pickle(raw, hints):
    alert = parse(raw, **hints)
    assert ParsedAlert.from_dict(json.loads(json.dumps(alert.to_dict()))) == alert
    assert ParsedAlert.from_dict(msgpack.unpackb(msgpack.packb(alert.to_dict()))) == alert
    assert pickle.loads(pickle.dumps(alert)) == alert


def test_from_dict_restores_types():
    alert = ParsedAlert.from_dict(parse(V6).to_dict())
    assert alert.format is AlertFormat.V6 and alert.kind is AlertKind.ENTRY and alert.direction is Direction.BUY
    assert isinstance(alert.tp3, Decimal) and alert.tp3 == Decimal("2038")


@pytest.mark.parametrize("change, fragment", [
    ({"schema": 2}, "schema 2 is not supported"),
    ({"price": 1.5}, "price must be a decimal string"),
    ({"price": "NaN"}, "price is not finite"),
    ({"price": "abc"}, "price is not a decimal"),
    ({"kind": "teleport"}, "teleport"),
    ({"mtf": {"5m": 1}}, "mtf must map"),
    ({"consensus_score": "8"}, "consensus_score must be an int"),
    ({"surprise": 1}, "unknown keys ['surprise']"),
    ({"symbol": ""}, "symbol must be a non-empty str"),
])
def test_from_dict_rejects_bad_data(change, fragment):
    data = {**parse(V6).to_dict(), **change}
    with pytest.raises(ValueError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        ParsedAlert.from_dict(data)


def test_alert_is_frozen():
    alert = parse(V6)
    with pytest.raises(AttributeError):
        alert.price = Decimal(1)  # type: ignore[misc]


# --- settings ------------------------------------------------------------------------------------------------------

def test_default_settings():
    s = ParserSettings()
    assert s.symbols == {"XAUUSD", "EURUSD", "GBPUSD", "USDJPY", "USDCAD", "AUDUSD", "NZDUSD", "EURJPY", "GBPJPY",
                         "AUDJPY", "EURGBP"}
    assert s.symbol_map == {} and s.broker_symbol("XAUUSD") == "XAUUSD"
    assert ParserSettings.from_mapping({}) == s == ParserSettings.from_mapping(None)


def test_from_mapping_full():
    s = ParserSettings.from_mapping({
        "symbols": ["OANDA:XAUUSD", "eurusd"], "symbol_map": {"xauusd": "GOLD"}, "max_body_bytes": 4096,
        "v3": {"repair_placeholders": False, "repair_missing_quote": False, "min_position_multiplier": 0.2,
               "max_position_multiplier": "1.5"},
        "pineconnector": {"targets": "pips", "license_ids": [" 601 "]},
    })
    assert s.symbols == {"XAUUSD", "EURUSD"} and s.symbol_map == {"XAUUSD": "GOLD"}
    assert (s.max_body_bytes, s.repair_placeholders, s.repair_missing_quote) == (4096, False, False)
    assert (s.v3_min_multiplier, s.v3_max_multiplier) == (Decimal("0.2"), Decimal("1.5"))
    assert (s.pineconnector_targets, s.pineconnector_license_ids) == ("pips", {"601"})
    assert pickle.loads(pickle.dumps(s)) == s


@pytest.mark.parametrize("table, key", [
    ({"symbols": []}, "cfg.alerts.symbols"),
    ({"symbols": "XAUUSD"}, "cfg.alerts.symbols"),
    ({"symbols": ["XAU USD"]}, "cfg.alerts.symbols"),
    ({"symbol_map": {"BTCUSD": "BTC"}}, "cfg.alerts.symbol_map.BTCUSD"),
    ({"symbol_map": {"XAUUSD": "GO LD"}}, "cfg.alerts.symbol_map.XAUUSD"),
    ({"symbol_map": ["XAUUSD"]}, "cfg.alerts.symbol_map"),
    ({"max_body_bytes": 10}, "cfg.alerts.max_body_bytes"),
    ({"max_body_bytes": True}, "cfg.alerts.max_body_bytes"),
    ({"v3": {"repair_placeholders": "yes"}}, "cfg.alerts.v3.repair_placeholders"),
    ({"v3": {"min_position_multiplier": "abc"}}, "cfg.alerts.v3.min_position_multiplier"),
    ({"v3": {"min_position_multiplier": 3}}, "cfg.alerts.v3.min_position_multiplier"),
    ({"v3": {"trust_multiplier": True}}, "cfg.alerts.v3.trust_multiplier"),
    ({"v3": 1}, "cfg.alerts.v3"),
    ({"pineconnector": {"targets": "points"}}, "cfg.alerts.pineconnector.targets"),
    ({"pineconnector": {"license_ids": "601"}}, "cfg.alerts.pineconnector.license_ids"),
    ({"colour": "red"}, "cfg.alerts.colour"),
])
def test_from_mapping_errors_name_the_key(table, key):
    with pytest.raises(ConfigError) as info:
        ParserSettings.from_mapping(table, path="cfg.alerts")
    assert info.value.key == key
    assert str(info.value).startswith(f"config key {key!r} has value ")


def test_from_mapping_error_lists_allowed_values():
    with pytest.raises(ConfigError) as info:
        ParserSettings.from_mapping({"pineconnector": {"targets": "points"}})
    assert (info.value.value, info.value.allowed) == ("points", "'price' | 'pips' | 'percent'")


def test_license_ids_are_never_echoed():
    with pytest.raises(ConfigError) as info:
        ParserSettings.from_mapping({"pineconnector": {"license_ids": ["ok", 60123456789]}})
    assert "60123456789" not in str(info.value)


def test_direct_construction_is_validated():
    with pytest.raises(ConfigError):
        ParserSettings(symbols=frozenset({"xauusd"}))
    with pytest.raises(ConfigError):
        ParserSettings(symbol_map={"BTCUSD": "BTC"})
    with pytest.raises(ConfigError):
        ParserSettings(pineconnector_targets="points")


def test_body_limit_comes_from_settings():
    raw = V6 + b" " * (300 - len(V6))
    assert parse_alert(raw, hints={}, settings=ParserSettings(max_body_bytes=300)).symbol == "XAUUSD"
    with pytest.raises(AlertError) as info:
        parse_alert(raw + b" ", hints={}, settings=ParserSettings(max_body_bytes=300))
    assert (info.value.code, info.value.reason) == ("too_large", "is 301 bytes; the limit is 300")


# --- dedupe --------------------------------------------------------------------------------------------------------

def test_same_body_same_minute_same_key():
    a = parse(V6)
    key = dedupe_key(a, V6, T0)
    assert key.startswith("h:") and len(key) == 66
    assert dedupe_key(a, V6, T0.replace(second=59)) == key
    assert dedupe_key(a, V6 + b"\r\n", T0) == key                      # normalised: surrounding whitespace
    assert dedupe_key(a, V6, T0.astimezone(timezone(timedelta(hours=5, minutes=30)))) == key  # same instant


def test_key_is_deterministic():
    assert (dedupe_key(parse(V6), V6, T0) ==
            "h:" + hashlib.sha256(
                b"zepix-alert-key-v1\0" + content_key(parse(V6), V6).encode() + b"\0" + b"2026-01-07T10:15Z"
            ).hexdigest())


def test_next_minute_or_other_body_gives_other_key():
    a = parse(V6)
    key = dedupe_key(a, V6, T0)
    assert dedupe_key(a, V6, T0 + timedelta(minutes=1)) != key
    other = V6.replace(b"2030.5", b"2030.6")
    assert dedupe_key(parse(other), other, T0) != key


def test_same_bytes_repaired_to_different_symbols_are_different_alerts():
    a, b = parse(V3, symbol="NZDUSD"), parse(V3, symbol="EURUSD")
    assert dedupe_key(a, V3, T0) != dedupe_key(b, V3, T0)
    assert content_key(a, V3) != content_key(b, V3)


def test_content_key_ignores_arrival_time():
    a = parse(V6)
    assert content_key(a, V6) == content_key(ParsedAlert.from_dict(a.to_dict()), V6)
    assert content_key(a, V6).startswith("c:")


def test_explicit_id_wins_over_body_and_time():
    raw1 = b'{"type":"entry","symbol":"XAUUSD","signal":"buy","tf":"5m","price":1,"id":"abc"}'
    raw2 = b'{"type":"entry","symbol":"XAUUSD","signal":"buy","tf":"5m","price":2,"id":"abc"}'
    k1 = dedupe_key(parse(raw1), raw1, T0)
    assert k1.startswith("id:")
    assert dedupe_key(parse(raw2), raw2, T0 + timedelta(hours=3)) == k1
    raw3 = raw1.replace(b'"abc"', b'"abd"')
    assert dedupe_key(parse(raw3), raw3, T0) != k1


def test_naive_datetime_is_a_caller_error():
    with pytest.raises(ValueError, match="timezone-aware"):
        dedupe_key(parse(V6), V6, datetime(2026, 1, 7, 10, 15))
