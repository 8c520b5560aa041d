"""Property: parse_alert returns a ParsedAlert or raises AlertError for any body, hints and settings; nothing else.

Thousands of bodies: raw bytes, mutated and truncated valid payloads, random JSON objects over the real field
names, random pipe messages over the V6 types, random PineConnector lines. Accepted alerts must also survive
to_dict/from_dict, JSON and msgpack, and give a dedupe key.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from decimal import Decimal

import msgpack
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from strategies.alerts import AlertError, ParsedAlert, ParserSettings, dedupe_key, parse_alert
from strategies.alerts.errors import CODES
from strategies.alerts.pineconnector import COMMANDS
from strategies.alerts.v3 import SIGNALS
from strategies.alerts.v6 import TYPES as V6_TYPES

def budget(n: int):
    # ZEPIX_FUZZ_SCALE=50 for a long local or nightly run; the default keeps the unit suite fast.
    return hsettings(max_examples=n * int(os.environ.get("ZEPIX_FUZZ_SCALE", "1")), deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])

T0 = datetime(2026, 1, 7, 10, 15, tzinfo=timezone.utc)

VALID = [
    b'{"type":"entry_v3","signal_type":"Institutional_Launchpad","symbol":"XAUUSD","direction":"buy","tf":"15",'
    b'"price":4335.49,"consensus_score":8,"sl_price":4328.12,"tp1_price":4346.545,"tp2_price":4357.6,'
    b'"mtf_trends":"1,1,1,1,-1","market_trend":1,"volume_delta_ratio":1.8731,"price_in_ob":true,'
    b'"position_multiplier":0.8}',
    b'{"type":"entry_v3","signal_type":"Sideways_Breakout","symbol":"{{ticker}}","direction":"buy","tf":"5",'
    b'"price":{{close}},"consensus_score":6,"adx_value":24.3,"confidence":"MEDIUM","mtf_trends":"1,1,-1,1,1,'
    b'"market_trend":1,"position_multiplier":0.6}',
    b'{"type":"trend_pulse_v3","signal_type":"Trend_Pulse","symbol":"USDJPY","tf":"15","price":157.412,'
    b'"current_trends":"1,1,1,-1,-1,-1","changed_timeframes":"5,","market_trend":-1,"consensus_score":8}',
    b'{"type":"bias","symbol":"XAUUSD","signal":"bull","tf":"1d","price":4232.29,"strategy":"ZepixPremium"}',
    b'{"type":"exit","symbol":"{{ticker}}","signal":"bear","tf":"5m","price":{{close}},"id":"x1"}',
    "BULLISH_ENTRY|XAUUSD|5|2030.5|BUY|HIGH|90|27.3|STRONG|2028|2033|2035.5|2038|5/1|TL_OK|".encode(),
    "TREND_PULSE|XAUUSD|5|4|2|15:BULL→BEAR,60:SIDE→BEAR|MIXED_BULLISH".encode(),
    b"STATE_CHANGE|XAUUSD|15|TRENDING_BULLISH|MIXED_BULLISH|5/1",
    b"MOMENTUM_CHANGE|XAUUSD|5|26.4|STRONG|22.1|MODERATE|INCREASING",
    b'60123456789,buy,EURUSD,risk=1,sl=1.0812,tp=1.0890,comment="a,b"',
    b"60123456789,closeall,XAUUSD",
    b"New Bullish Entry Signal on XAUUSD 5",
]

SETTINGS = [
    ParserSettings(),
    ParserSettings(symbol_map={"XAUUSD": "GOLD"}, pineconnector_targets="pips"),
    ParserSettings(repair_placeholders=False, repair_missing_quote=False, max_body_bytes=512,
                   pineconnector_license_ids=frozenset({"60123456789"})),
]

hints_st = st.fixed_dictionaries({}, optional={
    "symbol": st.one_of(st.sampled_from(["XAUUSD", "OANDA:EURUSD", "BTCUSD", "", "{{ticker}}"]), st.text(max_size=8)),
    "strategy": st.one_of(st.none(), st.text(max_size=70)),
    "tf": st.one_of(st.sampled_from(["5", "1h", "D", "0", "x"]), st.integers(-5, 100000)),
    "other": st.text(max_size=5),
})


def check(body: bytes, hints: dict, settings: ParserSettings) -> None:
    try:
        alert = parse_alert(body, hints=hints, settings=settings)
    except AlertError as err:
        assert err.code in CODES
        assert err.field and err.reason and str(err).startswith(err.field + ": ")
        json.dumps(err.to_dict())
        return
    assert isinstance(alert, ParsedAlert)
    assert alert.symbol in settings.symbols
    data = alert.to_dict()
    assert ParsedAlert.from_dict(json.loads(json.dumps(data))) == alert
    assert ParsedAlert.from_dict(msgpack.unpackb(msgpack.packb(data))) == alert
    assert dedupe_key(alert, body, T0)


@budget(600)
@given(st.binary(max_size=600), hints_st, st.sampled_from(SETTINGS))
def test_random_bytes(body, hints, settings):
    check(body, hints, settings)


@st.composite
def mutated(draw):
    body = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "delete", "insert", "replace", "duplicate"]))
        i = draw(st.integers(0, len(body)))
        if op == "truncate":
            body = body[:i]
        elif op == "delete":
            body[i:i + draw(st.integers(1, 8))] = b""
        elif op == "insert":
            body[i:i] = draw(st.sampled_from([b'"', b",", b"|", b"{", b"}", b"NA", b"NaN", b"-", b"1e999", b"{{close}}",
                                              b"\xe2\x86\x92", b"\xff", b"\n", b" ", b"9" * 30, b"[[[", b"null"]))
        elif op == "replace" and body:
            j = min(i, len(body) - 1)
            body[j] = draw(st.integers(0, 255))
        else:
            body = body[:i] + body[i - draw(st.integers(0, i)):]
    return bytes(body)


@budget(1200)
@given(mutated(), hints_st, st.sampled_from(SETTINGS))
def test_mutated_valid_payloads(body, hints, settings):
    check(body, hints, settings)


KEYS = ["type", "signal_type", "symbol", "direction", "tf", "price", "consensus_score", "sl_price", "tp1_price",
        "tp2_price", "mtf_trends", "market_trend", "position_multiplier", "adx_value", "confidence", "id",
        "alert_id", "strategy", "signal", "current_trends", "reason", "timestamp"]
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["entry_v3", "exit_v3", "squeeze_v3", "trend_pulse_v3", "bias", "trend", "entry", "exit",
                     "reversal", "BUY", "sell", "neutral", "bull", "reversal_bear", "15", "1D", "5m", "XAUUSD",
                     "OANDA:XAUUSD", "{{ticker}}", "1,1,1,1,1", "1,0,-1,1,1,1", "1,1", "NaN", "-1", "HIGH",
                     *SIGNALS]),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)), max_leaves=8)


BASES = [json.loads(b.replace(b"{{ticker}}", b"XAUUSD").replace(b"{{close}}", b"1").replace(b'-1,1,1,"', b'-1,1,1","'),
                    parse_float=Decimal)
         for b in VALID if b.startswith(b"{")]


@st.composite
def json_objects(draw):
    # Mostly valid objects with a few fields replaced or removed, so the field checks behind `type` get exercised.
    if draw(st.booleans()):
        obj = dict(draw(st.sampled_from(BASES)))
        for key in draw(st.lists(st.sampled_from(sorted(obj)), max_size=2)):
            obj.pop(key, None)
        obj.update(draw(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=3)))
    else:
        obj = draw(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), json_values, max_size=12))
    return json.dumps(obj, default=str).encode()


@budget(400)
@given(json_objects(), hints_st, st.sampled_from(SETTINGS))
def test_random_json_objects(body, hints, settings):
    check(body, hints, settings)


pipe_token = st.one_of(
    st.sampled_from(["XAUUSD", "EURUSD", "5", "60", "1D", "2030.5", "BUY", "SELL", "HIGH", "90", "NA", "STRONG",
                     "5/1", "TL_OK", "", "15:BULL→BEAR", "BULLISH", "MIXED_BULLISH", "INCREASING", "-0", "1e5",
                     "nan", "{{ticker}}", "9" * 25]),
    st.text(alphabet=st.characters(blacklist_characters="|"), max_size=8),
)


@budget(500)
@given(st.sampled_from(sorted(V6_TYPES)) | st.text(max_size=6), st.lists(pipe_token, max_size=17), st.booleans(),
       hints_st)
def test_random_pipe_messages(type_name, tokens, trailing, hints):
    body = "|".join([type_name, *tokens]) + ("|" if trailing else "")
    check(body.encode("utf-8", "surrogatepass"), hints, ParserSettings())


pc_param = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["risk", "sl", "tp", "sl_price", "tp_pips", "comment",
                                                        "secret", "price", "betrigger", "x"]),
              st.sampled_from(["1", "0", "-1", "1.0812", "abc", '"a,b"', "", "1e400"])),
    st.text(max_size=6),
)


@budget(400)
@given(st.sampled_from(["60123456789", "", "x y", "buy"]), st.sampled_from(sorted(COMMANDS)) | st.text(max_size=6),
       st.sampled_from(["EURUSD", "OANDA:XAUUSD", "BTCUSD", "", "{{ticker}}"]), st.lists(pc_param, max_size=5),
       hints_st, st.sampled_from(SETTINGS))
def test_random_pineconnector_lines(license_id, command, symbol, params, hints, settings):
    check(",".join([license_id, command, symbol, *params]).encode("utf-8", "surrogatepass"), hints, settings)


def test_valid_seeds_parse():
    # The mutation seeds must themselves be accepted (except the plain-text one), or the fuzzing proves little.
    accepted = 0
    for body in VALID:
        try:
            alert = parse_alert(body, hints={"symbol": "XAUUSD"}, settings=ParserSettings())
            accepted += 1
            assert alert.price is None or isinstance(alert.price, Decimal)
        except AlertError as err:
            assert err.code == "plain_text"
    assert accepted == len(VALID) - 1
