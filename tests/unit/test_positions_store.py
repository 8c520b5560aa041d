"""The position manager's database: write-ahead outbox (an intent id is written and sent once), state rows,
settings validation of [positions] / [sessions]."""
from decimal import Decimal

import pytest

from actors.positions import Settings
from actors.positions_store import PositionStore
from config.errors import ConfigError
from config.loader import load_config


def test_outbox_writes_each_intent_once_and_tracks_answers(tmp_path):
    store = PositionStore(tmp_path / "p.db")
    assert store.commit(intents=[("pos-a", "order", b"x"), ("pos-b", "order", b"y")]) == ["pos-a", "pos-b"]
    assert store.commit(intents=[("pos-a", "order", b"x")]) == []           # a repeat is not new
    store.commit(answered=[("pos-a", "filled")])
    assert [i for i, _, _ in store.open_intents()] == ["pos-b"]
    store.close()
    again = PositionStore(tmp_path / "p.db")                                   # survives a restart
    assert [i for i, _, _ in again.open_intents()] == ["pos-b"] and again.integrity_ok()


def test_state_rows_round_trip(tmp_path):
    store = PositionStore(tmp_path / "p.db")
    store.commit(chains=[{"chain_id": "C1", "status": "ACTIVE", "x": 1}],
                 tracked=[{"cid": "o1", "ticket": 7, "status": "open"}], kv={"book": {"seq": 3}},
                 events=[{"kind": "k", "text": "t"}])
    assert store.chains() == [{"chain_id": "C1", "status": "ACTIVE", "x": 1}]
    assert store.tracked()[0]["ticket"] == 7 and store.get("book") == {"seq": 3} and store.get("nope", 5) == 5
    assert store.events()[0]["kind"] == "k"


def test_default_config_is_valid_and_matches_the_facts():
    s = Settings(load_config(env={}))
    assert s.chains.multipliers == (1, 2, 4, 8, 16) and s.reentry.retracement == Decimal("0.7")
    assert s.sessions.session("dead_zone").force_close and s.sessions.timezone == "Asia/Kolkata"
    assert not s.reverse_shield and not s.shield.enabled and s.gateway == "broker/gateway"
    assert (s.shield.lot_multiplier, s.shield.recovery_threshold, s.shield.max_concurrent) == (
        Decimal("0.5"), Decimal("0.70"), 3)


def test_old_reverse_shield_switch_turns_the_shield_on():
    cfg = load_config(env={})
    cfg["positions"] = {**cfg["positions"], "reverse_shield": True}
    assert Settings(cfg).shield.enabled


@pytest.mark.parametrize("section, bad", [
    ({"positions": {"sl_system": "sl-9"}}, "positions.sl_system"),
    ({"positions": {"reverse_shield": "maybe"}}, "positions.reverse_shield"),
    ({"positions": {"shield": {"recovery_threshold": "1.5"}}}, "positions.shield.recovery_threshold"),
    ({"positions": {"chains": {"multipliers": [1, 2]}}}, "positions.chains.multipliers"),
    ({"sessions": {"windows": {"asian": {"start": "25:00"}}}}, "sessions.windows.asian.start"),
])
def test_bad_settings_name_the_key(section, bad):
    cfg = load_config(env={})
    for k, v in section.items():
        cfg[k] = {**cfg[k], **v}
    with pytest.raises(ConfigError) as e:
        Settings(cfg)
    assert bad in str(e.value)
