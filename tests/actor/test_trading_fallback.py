"""combined_v3 failing repeatedly: its legacy_v4 fallback serves V3 alerts at the same path (translated by the V4
bridge, handled by the legacy logic), then the primary comes back after the cool-down."""
from __future__ import annotations

import uuid

from actors import messages as m
from tests.support.alerts import alert_dict, command, route, v3_entry
from tests.support.system import running_system, wait_for
from tests.support.trading import doubles_toml

TOML = """
[trading]
fallback_threshold = 3
fallback_period = 60.0
fallback_cooldown = 3.0
[supervision.subtrees.trading]
backoff_min = 0.05
backoff_max = 0.2
healthy_after = 0.5
[plugins.price_action_1m]
enabled = false
[plugins.price_action_5m]
enabled = false
[plugins.price_action_15m]
enabled = false
[plugins.price_action_1h]
enabled = false
""" + doubles_toml()


def test_combined_v3_falls_back_to_the_legacy_logic_and_comes_back(tmp_path):
    with running_system(tmp_path, TOML) as s:
        node = s.node("trading/combined_v3")
        assert node["implementation"] == "primary"
        for i in range(3):
            pid = s.node("trading/combined_v3")["pid"]
            reply = s.client.ask(m.KillChild(corr=uuid.uuid4().hex, name="trading/combined_v3"))
            assert reply is not None and reply.ok, reply
            s.wait_node("trading/combined_v3", lambda n: n["state"] == "running" and n["pid"] != pid, timeout=10,
                        what=f"restart {i + 1}")
        fb = s.wait_node("trading/combined_v3", lambda n: n["implementation"] == "fallback", timeout=5)
        assert fb["actor_class"] == "actors.plugin.LegacyFallbackPlugin"
        wait_for(lambda: all(command(s.client, "trading/combined_v3", "status").data["peers"].values()), 10,
                 what="fallback knows its peers")
        status = command(s.client, "trading/combined_v3", "status").data
        assert (status["family"], status["implementation"]) == ("legacy", "fallback")
        # a V3 alert meanwhile: its pillars feed the legacy trend store, the entry is a legacy dual order
        outs = route(s.client, "trading/combined_v3", alert_dict(v3_entry()), "during-fallback")
        assert outs[-1].status == "executed", outs
        orders = command(s.client, "broker/gateway", "stats").data["orders"]
        assert orders == ["combined_v3:during-fallback:A", "combined_v3:during-fallback:B"]
        comments = {p["comment"] for p in command(s.client, "broker/gateway", "positions").data["positions"]}
        assert comments == {"LOGIC2_TP_TRAIL", "LOGIC2_PROFIT_TRAIL"}
        # after the cool-down the primary is tried again and stays
        back = s.wait_node("trading/combined_v3", lambda n: n["implementation"] == "primary"
                           and n["state"] == "running", timeout=10, what="primary back")
        assert back["actor_class"] == "actors.plugin.PluginActor"
        wait_for(lambda: command(s.client, "trading/combined_v3", "status").data["family"] == "v3", 5)
        # the primary sees what the fallback recorded: the same alert is a duplicate, nothing placed again
        outs = route(s.client, "trading/combined_v3", alert_dict(v3_entry()), "during-fallback")
        assert outs[-1].status == "skipped" and "duplicate" in outs[-1].reason
        assert command(s.client, "broker/gateway", "stats").data["orders"] == orders
