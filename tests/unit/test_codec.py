"""The msgpack codec of actors/messages.py: every registered message round-trips, bad bytes raise the specific
CodecError subclass with a clear text, and decode() of any bytes raises nothing but CodecError."""
from __future__ import annotations

import dataclasses
import os
import typing
from decimal import Decimal

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from actors import messages as m


def budget(n: int):
    return hsettings(max_examples=n * int(os.environ.get("ZEPIX_FUZZ_SCALE", "1")), deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


NESTED = {
    "price": Decimal("4335.49"),
    "tiny": Decimal("-0.00001"),
    "levels": [1, 2.5, "x", None, True, Decimal("1E+3")],
    "deep": {"a": {"b": {"c": [Decimal("0.1"), {"d": b"\x00\xff"}]}}},
    7: "int key",
    "msg": m.Ping(seq=42),          # a registered message nested inside a dict
}


def sample(hint, name: str):
    """A non-default sample value for a field of this type."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return sample(args[0], name)
    if hint is bool:
        return True
    if hint is int:
        return 123456789012
    if hint is float:
        return 1712345678.25
    if hint is str:
        return f"{name}-\u00e9\u4e2d"
    if hint is dict:
        return dict(NESTED)
    if hint is tuple or origin is tuple:
        return (1, "two", Decimal("3.5"))
    if hint is Decimal:
        return Decimal("12.3400")
    if hint is object:   # actor addresses
        from thespian.actors import ActorAddress
        return ActorAddress(("127.0.0.1", 19999))
    raise AssertionError(f"no sample for field {name}: {hint!r}; extend sample()")


def build(cls):
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: sample(hints[f.name], f.name) for f in dataclasses.fields(cls)})


REGISTERED = m.registered_types()


def test_registry_is_not_empty_and_tags_match():
    assert len(REGISTERED) >= 16
    for tag, cls in REGISTERED.items():
        assert cls._tag == tag
        assert isinstance(cls._version, int)


@pytest.mark.parametrize("tag", sorted(REGISTERED))
def test_every_registered_type_round_trips(tag):
    cls = REGISTERED[tag]
    msg = build(cls)
    data = m.encode(msg)
    assert isinstance(data, bytes)
    back = m.decode(data)
    assert type(back) is cls
    assert back == msg
    # the bytes are stable: encoding the decoded message gives the same bytes (they can be journaled)
    assert m.encode(back) == data
    # decode accepts every bytes-like type
    assert m.decode(bytearray(data)) == msg
    assert m.decode(memoryview(data)) == msg


@pytest.mark.parametrize("tag", sorted(REGISTERED))
def test_defaults_round_trip(tag):
    cls = REGISTERED[tag]
    hints = typing.get_type_hints(cls)
    required = {f.name: sample(hints[f.name], f.name) for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    msg = cls(**required)
    assert m.decode(m.encode(msg)) == msg


def test_nested_values_keep_their_types():
    ev = m.decode(m.encode(m.SupervisionEvent(kind="k", supervisor="s", child="c", details=dict(NESTED))))
    d = ev.details
    assert d["price"] == Decimal("4335.49") and isinstance(d["price"], Decimal)
    assert str(d["price"]) == "4335.49"
    assert str(d["levels"][5]) == "1E+3"
    assert d["deep"]["a"]["b"]["c"][1]["d"] == b"\x00\xff"
    assert d[7] == "int key"
    assert d["msg"] == m.Ping(seq=42)


def test_encode_refuses_unregistered_and_unencodable():
    with pytest.raises(TypeError, match="not a registered message"):
        m.encode({"tag": "life.ping"})
    with pytest.raises(TypeError, match="cannot encode object"):
        m.encode(m.SupervisionEvent(kind="k", supervisor="s", child="c", details={"x": object()}))


# -- bad bytes ------------------------------------------------------------------------------------------------

GOOD = m.encode(m.Ping(seq=1))


@pytest.mark.parametrize("data, text", [
    (b"", "not msgpack"),
    (b"\xc1", "not msgpack"),                         # a byte msgpack never uses
    (b"hello, this is not a message", "not msgpack"),
    (GOOD[:-1], "not msgpack"),                       # truncated
    (GOOD[:1], "not msgpack"),
    (GOOD + b"\x00", "not msgpack"),                  # trailing bytes
    (msgpack.packb([1, 2, 3]), "expected [tag, version, fields]"),
    (msgpack.packb({"tag": "life.ping"}), "expected [tag, version, fields]"),
    (msgpack.packb(["life.ping", 1]), "expected [tag, version, fields]"),
    (msgpack.packb(["life.ping", "1", {"seq": 1}]), "expected [tag, version, fields]"),
    (msgpack.packb(["life.ping", 1, {"seq": msgpack.ExtType(9, b"x")}]), "extension type 9"),
    (msgpack.packb(["life.ping", 1, {"seq": msgpack.ExtType(2, b"\xff")}]), "invalid Decimal"),
    (msgpack.packb(["life.ping", 1, {"seq": msgpack.ExtType(2, b"12,5")}]), "invalid Decimal"),
])
def test_garbage_is_malformed(data, text):
    with pytest.raises(m.MalformedMessage) as info:
        m.decode(data)
    msg = str(info.value)
    assert text in msg
    # a clear text: never just a prefix with nothing after it
    assert len(msg.split(":", 1)[-1].strip()) > 3, msg


def test_not_bytes_is_malformed():
    with pytest.raises(m.MalformedMessage, match="expected bytes, got str"):
        m.decode("life.ping")


def test_unknown_tag():
    with pytest.raises(m.UnknownMessageType, match="unknown message type 'life.nope'"):
        m.decode(msgpack.packb(["life.nope", 1, {}]))


def test_unknown_tag_nested():
    inner = msgpack.packb(["no.such", 1, {}])
    with pytest.raises(m.UnknownMessageType, match="'no.such'"):
        m.decode(msgpack.packb(["adm.tree", 1, {"corr": "c", "node": {"x": msgpack.ExtType(1, inner)}}]))


@pytest.mark.parametrize("version", [0, 2, 99, -1])
def test_wrong_version(version):
    with pytest.raises(m.UnsupportedVersion, match=f"'life.ping' version {version} is not supported"):
        m.decode(msgpack.packb(["life.ping", version, {"seq": 1}]))


def test_bool_is_not_a_version():
    # True == 1 in Python, but a version field of true is not version 1
    with pytest.raises(m.CodecError, match="version"):
        m.decode(msgpack.packb(["life.ping", True, {"seq": 1}]))


@pytest.mark.parametrize("fields, text", [
    ({}, "missing 1 required positional argument: 'seq'"),
    ({"seq": 1, "extra": 2}, "unexpected keyword argument 'extra'"),
    ({"sequence": 1}, "unexpected keyword argument 'sequence'"),
    ({1: 1}, "keywords must be strings"),
])
def test_wrong_field_names(fields, text):
    with pytest.raises(m.MalformedMessage, match="message 'life.ping' has wrong fields") as info:
        m.decode(msgpack.packb(["life.ping", 1, fields]))
    assert text in str(info.value)


@pytest.mark.parametrize("tag, fields, field", [
    ("life.ping", {"seq": "1"}, "seq"),
    ("life.ping", {"seq": 1.5}, "seq"),
    ("life.ping", {"seq": True}, "seq"),
    ("life.ping", {"seq": None}, "seq"),
    ("adm.restart", {"corr": "c", "name": 5}, "name"),      # would crash the supervisor's router
    ("adm.restart", {"corr": "c", "name": ["ops"]}, "name"),
    ("adm.tree", {"corr": "c", "node": []}, "node"),
    ("adm.reply", {"corr": "c", "ok": 1, "text": "t"}, "ok"),
    ("sup.event", {"kind": "k", "supervisor": "s", "child": "c", "at": "now"}, "at"),
    ("life.pong", {"seq": 1, "name": "n", "pid": msgpack.ExtType(2, b"7")}, "pid"),  # Decimal is not an int
])
def test_wrong_field_types(tag, fields, field):
    with pytest.raises(m.MalformedMessage, match=f"message {tag!r} field {field!r}"):
        m.decode(msgpack.packb([tag, REGISTERED[tag]._version, fields]))


def test_float_fields_accept_ints():
    ev = m.decode(msgpack.packb(["sup.event", 1, {"kind": "k", "supervisor": "s", "child": "c", "at": 5}]))
    assert ev.at == 5


def test_codec_errors_are_value_errors_and_distinct():
    for cls in (m.UnknownMessageType, m.UnsupportedVersion, m.MalformedMessage):
        assert issubclass(cls, m.CodecError) and issubclass(cls, ValueError)
    assert len({m.UnknownMessageType, m.UnsupportedVersion, m.MalformedMessage}) == 3


# -- property: decode() of anything raises only CodecError ------------------------------------------------------

def _check_decode(data: bytes) -> None:
    try:
        msg = m.decode(data)
    except m.CodecError as exc:
        assert str(exc)
        return
    # whatever decodes is a registered message that encodes again
    assert type(msg)._tag in REGISTERED
    m.encode(msg)


@budget(1500)
@given(st.binary(max_size=200))
def test_decode_random_bytes_only_raises_codec_error(data):
    _check_decode(data)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.floats(allow_nan=False),
                     st.text(max_size=10), st.binary(max_size=10),
                     st.builds(msgpack.ExtType, st.integers(0, 5), st.binary(max_size=12)))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=6), st.integers(-2**63, 2**64 - 1)), inner, max_size=4)),
    max_leaves=12)


@budget(300)
@given(tag=st.one_of(st.sampled_from(sorted(REGISTERED)), st.text(max_size=8)),
       version=st.one_of(st.just(1), st.integers(-3, 3), st.booleans()),
       fields=st.dictionaries(st.one_of(st.sampled_from(["seq", "name", "corr", "node", "pid", "kind", "at",
                                                         "details", "ok", "data"]), st.text(max_size=5)),
                              _values, max_size=6),
       cut=st.integers(0, 400))
def test_decode_structured_garbage_only_raises_codec_error(tag, version, fields, cut):
    data = msgpack.packb([tag, version, fields], use_bin_type=True)
    _check_decode(data)
    _check_decode(data[:cut])


@budget(300)
@given(st.sampled_from(sorted(REGISTERED)), st.data())
def test_mutated_valid_messages_only_raise_codec_error(tag, data):
    raw = bytearray(m.encode(build(REGISTERED[tag])))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    _check_decode(bytes(raw))


def test_an_actor_address_field_refuses_other_pickles():
    import pickle
    import msgpack
    evil = msgpack.packb(["dir.found", 1, {"corr": "c", "path": "p",
                                            "address": msgpack.ExtType(3, pickle.dumps({"not": "an address"}))}],
                         use_bin_type=True)
    with pytest.raises(m.MalformedMessage, match="expected an actor address, got dict"):
        m.decode(evil)
