"""Telegram commands that change settings, end to end in a real system: the bot (through the local Bot API
server) -> ops/config (rewrites the config file, validates it with the loader and the tables' own readers, reloads)
-> the owners apply it (real trading/risk and trading/combined_v3). Tests run in file order on one system."""
from __future__ import annotations

import tomllib

import pytest

from tests.support.alerts import alert_dict, command, risk_status, route, v3_entry
from tests.support.system import wait_for
from tests.support.telegram_world import last_seq, telegram_world
from tests.support.trading import doubles_toml

pytestmark = pytest.mark.slow

ADMIN = 1001
CHAT = ADMIN

TOML = "".join(f"[plugins.{p}]\nenabled = false\n" for p in (
    "price_action_1m", "price_action_5m", "price_action_15m", "price_action_1h", "legacy_v4")) + """
[positions]
enabled = false
[sessions]
master_switch = false
[telegram]
header_interval = 0
command_timeout = 3.0
poll_timeout = 2
[ops.config]
poll_interval = 0.2
apply_timeout = 1.0
""" + doubles_toml()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tgset")
    with telegram_world(tmp, TOML, chat=CHAT, admin=ADMIN, env={"ZEPIX_CONFIG": str(tmp / "zepix-test.toml")}) \
            as (api, system):
        yield api, system


def config_file(system):
    return system.test_dir / "zepix-test.toml"



def wait_text(api, needle, since=0, timeout=10.0):
    def hit():
        for c in api.calls("sendMessage", chat_id=CHAT):
            if c.seq > since and c.ok and needle in c.params.get("text", ""):
                return c
        return None
    return wait_for(hit, timeout, what=f"a message with {needle!r}; got "
                    f"{[c.params.get('text', '')[:160] for c in api.calls('sendMessage', chat_id=CHAT) if c.seq > since][-5:]}")


def say(api, text, needle, timeout=10.0):
    since = last_seq(api)
    api.inject_message(ADMIN, text)
    return wait_text(api, needle, since=since, timeout=timeout).params["text"]


def test_set_daily_cap_changes_the_running_cap_of_the_tier_in_force(world):
    api, system = world
    status = risk_status(system)
    assert status["tier"] == "10000" and status["daily_loss_cap"] == "200"
    text = say(api, "/set_daily_cap 150", "/set_daily_cap")
    assert text.startswith("✅") and "tier 10000: daily loss cap -&gt; 150" in text, text
    assert "trading/risk" in text          # ops/config reports who applied it
    assert risk_status(system)["daily_loss_cap"] == "150"
    doc = tomllib.loads(config_file(system).read_text())
    assert doc["risk"]["tiers"]["10000"] == {"daily_loss_cap": 150}


def test_logic1_off_makes_combined_v3_skip_a_logic1_alert_with_the_reason(world):
    api, system = world
    text = say(api, "/logic1_off", "/logic1_off")
    assert text.startswith("✅") and "trading/combined_v3" in text, text
    outs = route(system.client, "trading/combined_v3", alert_dict(v3_entry(tf="5")), "tg-logic1-off")
    assert outs[-1].status == "skipped" and "LOGIC1 is switched off" in outs[-1].reason, outs
    text = say(api, "/view_logic_settings", "/view_logic_settings")
    assert "risk.logics.LOGIC1.lot_multiplier = 1.25" in text and "positions.reentry.logic_windows.LOGIC3 = 120" \
        in text, text
    text = say(api, "/dual_order_status", "/dual_order_status")
    assert "v3.dual_orders = on" in text, text     # not in the file: the reader's default answers


def test_a_bad_value_is_refused_with_the_readers_message_and_the_file_is_untouched(world):
    api, system = world
    before = config_file(system).read_bytes()
    text = say(api, "/set_symbol_sl XAUUSD 60", "/set_symbol_sl")
    assert text.startswith("❌"), text
    assert "risk.stops.symbol_reductions.XAUUSD" in text and "&lt;= 50" in text, text
    assert config_file(system).read_bytes() == before
    # a valid one goes through and shows in the SL view of the tier in force
    say(api, "/set_symbol_sl XAUUSD 20", "✅ <b>/set_symbol_sl")
    text = say(api, "/view_sl_config", "/view_sl_config")
    assert "XAUUSD: 1500 pips -20%" in text, text


def test_sl_system_change_switches_both_tables_and_sl_status_shows_them(world):
    api, system = world
    say(api, "/sl_system_change sl-2", "✅ <b>/sl_system_change")
    text = say(api, "/sl_status", "/sl_status")
    assert "risk.stops.active_system = sl-2" in text and "positions.sl_system = sl-2" in text, text


def test_a_reset_brings_back_the_defaults(world):
    api, system = world
    since = last_seq(api)
    api.inject_message(ADMIN, "/reset_risk_settings")
    wait_text(api, "Confirm", since=since)
    since = last_seq(api)
    api.inject_callback_query(ADMIN, "y:reset_risk_settings")
    text = wait_text(api, "/reset_risk_settings", since=since).params["text"]
    assert text.startswith("✅"), text
    assert "risk" not in tomllib.loads(config_file(system).read_text())
    assert risk_status(system)["daily_loss_cap"] == "200"
    text = say(api, "/view_sl_config", "/view_sl_config")
    assert "sl-1" in text and "symbol reductions: none" in text, text
    # a V3 logic switched off comes back with its default when the key is reset through ops/config
    reply = command(system.client, "ops/config", "reset", timeout=5.0, keys=["v3.logics_enabled.LOGIC1"])
    assert reply.ok, reply
    outs = route(system.client, "trading/combined_v3", alert_dict(v3_entry(tf="5")), "tg-logic1-back")
    assert "LOGIC1 is switched off" not in (outs[-1].reason or ""), outs


def test_ops_config_set_of_several_keys_is_all_or_nothing(world):
    api, system = world
    before = config_file(system).read_bytes()
    bad = command(system.client, "ops/config", "set", changes=[["risk.tiers.5000.daily_loss_cap", 120],
                                                               ["risk.order_b.system", "SL-9"]])
    assert not bad.ok and "risk.order_b.system" in bad.text and "SL-2.1, SL-1.1" in bad.text, bad
    assert config_file(system).read_bytes() == before
    good = command(system.client, "ops/config", "set", changes=[["risk.tiers.5000.daily_loss_cap", 120],
                                                                ["risk.order_b.system", "SL-1.1"]])
    assert good.ok and "zepix-root/trading/risk" in good.data["applied"], good
    doc = tomllib.loads(config_file(system).read_text())["risk"]
    assert doc["tiers"]["5000"]["daily_loss_cap"] == 120 and doc["order_b"]["system"] == "SL-1.1"
    got = command(system.client, "ops/config", "get", keys=["risk.order_b.system", "risk.order_b.fixed_sl"])
    assert got.data["values"] == {"risk.order_b.system": "SL-1.1", "risk.order_b.fixed_sl": "10"}


def test_toggle_and_switch_flip_effective_booleans(world):
    api, system = world
    assert "v3.dual_orders = off" in say(api, "/toggle_dual_orders", "✅ <b>/toggle_dual_orders") + \
        say(api, "/dual_order_status", "/dual_order_status")
    assert tomllib.loads(config_file(system).read_text())["v3"]["dual_orders"] is False
    say(api, "/toggle_dual_orders", "✅ <b>/toggle_dual_orders")
    assert tomllib.loads(config_file(system).read_text())["v3"]["dual_orders"] is True
    say(api, "/autonomous_mode off", "✅ <b>/autonomous_mode")
    reentry = tomllib.loads(config_file(system).read_text())["positions"]["reentry"]
    assert reentry == {"sl_hunt_enabled": False, "tp_enabled": False, "exit_enabled": False}
    text = say(api, "/autonomous_mode status", "/autonomous_mode")
    assert "\noff\n" in text and "positions.reentry.tp_enabled = off" in text, text
    not_bool = command(system.client, "ops/config", "toggle", key="risk.order_b.system")
    assert not not_bool.ok and "not an on/off setting" in not_bool.text
    # /reset_reentry_config (confirmed) takes [positions.reentry] out: the shipped defaults are back on
    since = last_seq(api)
    api.inject_callback_query(ADMIN, "y:reset_reentry_config")
    wait_text(api, "✅ <b>/reset_reentry_config", since=since)
    assert "reentry" not in tomllib.loads(config_file(system).read_text()).get("positions", {})
    assert "\non\n" in say(api, "/autonomous_mode status", "/autonomous_mode")
