"""The broker gateway on a member host (issue 4, multi-host): ``[broker] placement = "member"`` puts
broker/gateway on the ``python run.py member --capability mt5`` system. An alert placed through it becomes paper
positions; after the member's processes are killed, the next alert is answered "rejected: broker unreachable"
within the gateway's hang timeout + 1 s instead of waiting for a host that is gone."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import psutil
import pytest

from supervision import hygiene
from tests.e2e.test_alert_to_order import admin, post, v3_buy
from tests.e2e.test_run import run_py
from tests.support.system import REPO, find, free_port, kill_tree_groups, wait_for

pytestmark = pytest.mark.slow

HANG = 3.0   # [supervision] hang_timeout of the defaults, which the gateway's ChildSpec takes


def test_gateway_on_a_member_host_and_its_loss_rejects_orders_at_once(tmp_path):
    token = "t" + uuid.uuid4().hex
    with run_py(tmp_path, toml='[broker]\nplacement = "member"\n', env={"ZEPIX_WEBHOOK_TOKEN": token}) as r:
        wait_for(lambda: (t := r.tree()) and find(t, "broker/gateway"), 30, what="tree")
        assert find(r.tree(), "broker/gateway")["state"] == "waiting", find(r.tree(), "broker/gateway")
        member = subprocess.Popen([sys.executable, "run.py", "member", "--leader", f"127.0.0.1:{r.admin_port}",
                                   "--capability", "mt5", "--admin-port", str(free_port()), "--data-dir",
                                   str(tmp_path / "member")], cwd=REPO, env=r.env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            node = wait_for(lambda: (t := r.tree()) and (n := find(t, "broker/gateway"))["state"] == "running" and n,
                            40, interval=0.1, what="gateway running on the member")
            member_pgids = {os.getpgid(p.pid) for p in psutil.Process(member.pid).children(recursive=True)}
            assert os.getpgid(node["pid"]) in member_pgids, "the gateway must run on the member"
            r.wait_ready(40)

            def journal(alert_id):
                rows = json.loads(admin(r, "alerts", "--json"))
                rows = rows.get("alerts", rows) if isinstance(rows, dict) else rows
                return next((a for a in rows if a.get("alert_id") == alert_id), None)

            def final(alert_id, timeout, interval=0.2):
                return wait_for(lambda: (a := journal(alert_id)) and a["status"] in ("executed", "rejected", "skipped")
                                and a, timeout, interval=interval, what="the alert reaches a final state")

            # "running" is the actor; the broker behind it connects right after (a first order before that is
            # rightly refused as "broker unreachable")
            wait_for(lambda: json.loads(admin(r, "broker", "--json")).get("connected"), 30, interval=0.2,
                     what="the member's gateway connected to its broker")
            first = "m1-" + uuid.uuid4().hex[:8]
            status, answer = wait_for(lambda: (a := post(r.webhook_port, token, v3_buy(first)))[0] == 200 and a, 20,
                                      what="webhook accepts")
            row = final(answer["alert_id"], 30)
            assert row["status"] == "executed", row
            positions = json.loads(admin(r, "positions", "--json"))
            positions = positions.get("positions", positions) if isinstance(positions, dict) else positions
            assert len(positions) == 2, positions

            for g in member_pgids | {member.pid}:
                hygiene.kill_group(g)
            t0 = time.monotonic()
            second = "m2-" + uuid.uuid4().hex[:8]
            status, answer = post(r.webhook_port, token, v3_buy(second))
            assert status == 200 and answer["status"] == "accepted", answer
            row = final(answer["alert_id"], HANG + 1.0 + 2.0, interval=0.05)
            took = time.monotonic() - t0
            assert row["status"] == "rejected", row
            assert "broker unreachable" in json.dumps(row), row
            assert took < HANG + 1.0, f"answered after {took:.2f} s"
        finally:
            kill_tree_groups(member.pid)
            member.wait(5)
