"""/simulation_mode in broker/gateway with a real switch: configured on the paper broker, "off" goes live to the
"mt5" adapter (tests/support/fake_mt5.py over rpyc, credentials in the environment); the choice survives a SIGKILL
and restart of the gateway; going back to paper is refused while a position is open at MT5, and allowed once it is
closed."""
from __future__ import annotations

import os
import signal
import uuid
from decimal import Decimal

import pytest

from actors import messages as m
from tests.support.broker import RECORDER_TOML, send_intent, wait_wired
from tests.support.fake_mt5_server import FakeMT5Server
from tests.support.system import running_system, wait_for

pytestmark = pytest.mark.slow

GW = "broker/gateway"
TOML = RECORDER_TOML + ('[broker]\nadapter = "paper"\nlive_adapter = "mt5"\n'
                        'mt5_module = "tests.support.fake_mt5_remote"\npoll_interval = 0.2\nping_interval = 0.2\n'
                        'connect_retry_seconds = 0.2\nconnect_attempts = 3\nreconnect_backoff_max = 0.5\n'
                        '[supervision.subtrees.telegram]\nbuiltin = false\n'
                        '[[supervision.extra]]\nparent = "telegram"\nname = "notifier"\n'
                        'actor = "tests.support.ops_actors.NotifierDouble"\n')
CREDS = {"ZEPIX_MT5_LOGIN": "5550001", "ZEPIX_MT5_PASSWORD": "not-a-secret", "ZEPIX_MT5_SERVER": "Fake-Demo"}


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    with FakeMT5Server(log_path=tmp_path_factory.mktemp("fakemt5") / "server.log") as fake:
        fake.reset()
        env = {"ZEPIX_FAKE_MT5_PORT": str(fake.port), **CREDS}
        with running_system(tmp_path_factory.mktemp("sim"), TOML, env=env) as s:
            wait_wired(s.client)
            yield s


def sim(s, value: str) -> m.CommandReply:
    reply = s.client.ask_actor(GW, m.Command(corr=uuid.uuid4().hex, name="simulation", args={"value": value},
                                             user="telegram:1001"), 10.0)
    assert reply is not None, f"{GW} did not answer simulation {value}"
    return reply


def notes(s) -> list:
    reply = s.client.ask_actor("telegram/notifier", m.Command(corr=uuid.uuid4().hex, name="seen", args={}), 5.0)
    return reply.data["seen"] if reply else []


def connected_to(s, adapter: str) -> bool:
    d = sim(s, "status").data
    return d["adapter"] == adapter and d["connected"]


def test_off_goes_live_survives_a_restart_and_on_waits_for_flat(system):
    s = system
    wait_for(lambda: connected_to(s, "paper"), 10, what="paper connected")
    r = sim(s, "status")
    assert r.ok and r.data["simulation"] is True and "simulation ON: paper broker" in r.text, r
    r = sim(s, "off")
    assert r.ok and "switched from paper to mt5" in r.text, r
    note = wait_for(lambda: next((n for n in notes(s) if n[0] == "simulation_mode"), None), 10,
                    what="the switch notified")
    assert note[1] == "CRITICAL" and "simulation mode OFF (live: mt5)" in note[2] and "telegram:1001" in note[2]
    wait_for(lambda: connected_to(s, "mt5"), 10, what="mt5 connected")
    r = sim(s, "status")
    assert "simulation OFF: live mt5" in r.text and "broker.adapter in the configuration is paper" in r.text, r
    assert r.data["account"]["login"] is not None, r.data

    old = s.node(GW)["pid"]
    os.kill(old, signal.SIGKILL)
    s.wait_node(GW, lambda n: n["state"] == "running" and n.get("pid") not in (None, old), 20, what="restarted")
    wait_for(lambda: connected_to(s, "mt5"), 15, what="mt5 again after the restart")

    out = send_intent(s.client, m.OrderIntent(intent_id=uuid.uuid4().hex, plugin="combined_v3", symbol="EURUSD",
                                              side="BUY", volume=Decimal("0.10")))
    assert out is not None and out.status == "filled", out
    r = sim(s, "on")
    assert not r.ok and r.text == "not switched to paper: 1 position(s) are open at mt5; close them first", r
    assert sim(s, "status").data["adapter"] == "mt5"
    closed = send_intent(s.client, m.CloseIntent(intent_id=uuid.uuid4().hex, plugin="combined_v3",
                                                 ticket=out.ticket, reason="manual"))
    assert closed is not None and closed.status in ("closed", "filled"), closed
    r = sim(s, "on")
    assert r.ok and "switched from mt5 to paper" in r.text, r
    # the switch back is notified too; the refusal before it was not
    switches = wait_for(lambda: (n := [x for x in notes(s) if x[0] == "simulation_mode"]) and len(n) >= 2 and n, 10,
                        what="the second switch notified")
    assert len(switches) == 2 and "simulation mode ON (paper broker)" in switches[1][2], switches
    wait_for(lambda: connected_to(s, "paper"), 10, what="paper again")
    assert sim(s, "off").ok       # and back: nothing is open
    r = sim(s, "sideways")
    assert not r.ok and "on, off or status" in r.text
