"""Broker wiring without actors: adapter choice and settings from config, the subtree's placement, the ledger's
tag/comment rules and its write-before-send record."""
from __future__ import annotations

from decimal import Decimal

import pytest

from config.errors import ConfigError
from config.loader import load_config
from gateways.broker.factory import build_broker, paper_settings
from gateways.broker.ledger import Ledger, comment_for, intent_tag
from supervision.subtrees.broker import children
from supervision.tree import spec_defaults


def cfg(tmp_path, **env):
    return load_config(env={"ZEPIX_DATA_DIR": str(tmp_path), **env})


def test_paper_is_the_default_and_lives_in_the_data_dir(tmp_path):
    c = cfg(tmp_path)
    b = build_broker(c, env={})
    assert b.name == "paper" and b.settings.database == str(tmp_path / "broker" / "paper.db")


def test_env_overrides_pick_adapter_balance_and_a_csv_price_file(tmp_path):
    c = cfg(tmp_path, ZEPIX_BROKER="mt5linux", ZEPIX_PAPER_BALANCE="2500",
            ZEPIX_PAPER_PRICES=str(tmp_path / "EURUSD_ticks.csv"))
    assert c["broker"]["adapter"] == "mt5linux"
    s = paper_settings(c)
    assert s.initial_balance == Decimal("2500.0") and s.price_source == "replay"
    assert s.replay_files["EURUSD"].endswith("EURUSD_ticks.csv")
    with pytest.raises(ConfigError, match="broker.paper.price_source"):
        paper_settings(cfg(tmp_path, ZEPIX_PAPER_PRICES="prices.csv"))


def test_mt5_credentials_come_from_the_environment_only(tmp_path):
    c = cfg(tmp_path, ZEPIX_BROKER="mt5linux")
    b = build_broker(c, env={"ZEPIX_MT5_LOGIN": "123", "ZEPIX_MT5_PASSWORD": "pw", "ZEPIX_MT5_SERVER": "Demo"})
    assert (b.settings.login, b.settings.password, b.settings.server) == (123, "pw", "Demo")
    assert b.settings.host == "127.0.0.1" and b.settings.port == 18812


def test_unknown_adapter_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="broker.adapter"):
        build_broker(cfg(tmp_path, ZEPIX_BROKER="ib"), env={})


def test_member_placement_requires_the_mt5_capability(tmp_path):
    c = cfg(tmp_path)
    local = {s.name: s for s in children(c, spec_defaults(c, "broker"))}
    assert set(local) == {"gateway", "pricefeed"} and local["gateway"].requires == {}
    c["broker"]["placement"] = "member"
    member = {s.name: s for s in children(c, spec_defaults(c, "broker"))}
    assert member["gateway"].requires == {"mt5": True} and member["pricefeed"].requires == {}
    c["broker"]["placement"] = "remote"
    with pytest.raises(ConfigError, match="broker.placement"):
        children(c, spec_defaults(c, "broker"))


def test_comment_starts_with_the_intent_tag_and_fits_mt5():
    c = comment_for("a-very-long-intent-id-" + "x" * 60, "combined_v3 LOGIC1 order A ünïcode")
    assert len(c) <= 31 and c.startswith(intent_tag("a-very-long-intent-id-" + "x" * 60))
    assert c.isascii() and intent_tag("a") != intent_tag("b") and len(intent_tag("a")) == 12


def test_ledger_keeps_an_intent_pending_until_finished(tmp_path):
    led = Ledger(tmp_path / "g.db")
    led.begin("i1", "order", "combined_v3", 30301, "EURUSD", {"volume": Decimal("0.1")})
    assert [r["intent_id"] for r in led.unfinished()] == ["i1"]
    led.close()
    led = Ledger(tmp_path / "g.db")     # survives a restart
    assert led.intent("i1")["state"] == "pending" and led.intent("i1")["request"] == {"volume": "0.1"}
    led.finish("i1", "done", 7, {"status": "filled"})
    assert led.unfinished() == [] and led.intent("i1")["ticket"] == 7


def test_simulation_off_means_the_configured_live_adapter_or_broker_live_adapter(tmp_path):
    from actors.gateway_simulation import live_adapter, missing_credentials, with_adapter

    c = cfg(tmp_path)
    assert c["broker"]["adapter"] == "paper" and live_adapter(c) == "mt5"
    assert live_adapter(cfg(tmp_path, ZEPIX_BROKER="mt5linux")) == "mt5linux"
    c["broker"]["live_adapter"] = "mt5linux"
    assert live_adapter(c) == "mt5linux"
    c["broker"]["live_adapter"] = "ib"
    with pytest.raises(ConfigError, match="broker.live_adapter"):
        live_adapter(c)
    # credentials: all three from the environment, or each named when missing; paper needs none
    live = with_adapter(cfg(tmp_path), "mt5")
    assert missing_credentials(build_broker(live, env={})) == ["ZEPIX_MT5_LOGIN", "ZEPIX_MT5_PASSWORD",
                                                                "ZEPIX_MT5_SERVER"]
    assert missing_credentials(build_broker(live, env={"ZEPIX_MT5_LOGIN": "12", "ZEPIX_MT5_SERVER": "S"})) == \
        ["ZEPIX_MT5_PASSWORD"]
    assert missing_credentials(build_broker(live, env={"ZEPIX_MT5_LOGIN": "12", "ZEPIX_MT5_SERVER": "S",
                                                       "ZEPIX_MT5_PASSWORD": "p"})) == []
    assert missing_credentials(build_broker(cfg(tmp_path), env={})) == []
