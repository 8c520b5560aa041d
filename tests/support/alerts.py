"""Helpers to build alerts for the trading tests and to hand them to a plugin as ingress/router would."""
from __future__ import annotations

import json
import time
import uuid

from actors import messages as m
from strategies.alerts.parse import parse_alert

TERMINAL = ("executed", "rejected", "skipped")


def alert_dict(body) -> dict:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return parse_alert(raw if isinstance(raw, bytes) else raw.encode()).to_dict()


def v3_entry(**over) -> dict:
    body = {"type": "entry_v3", "signal_type": "Institutional_Launchpad", "symbol": "XAUUSD", "direction": "buy",
            "tf": "15", "price": 4335.49, "consensus_score": 8, "sl_price": 4328.12, "tp1_price": 4346.545,
            "tp2_price": 4357.6, "mtf_trends": "1,1,1,1,1", "market_trend": 1}
    body.update(over)
    return body


def route(client, path: str, alert: dict, alert_id: str | None = None, timeout: float = 10.0) -> list:
    """Send an AlertRoute to the plugin at ``path`` and collect its AlertOutcomes up to a terminal one."""
    alert_id = alert_id or uuid.uuid4().hex
    addr = client.address_of(path, timeout)
    assert addr is not None, f"{path} is not running"
    seen = []
    deadline = time.monotonic() + timeout
    with client.asys.private() as ep:
        ep.tell(addr, m.encode(m.AlertRoute(alert_id=alert_id, alert=alert, received_at=time.time())))
        while time.monotonic() < deadline:
            raw = ep.listen(max(0.01, deadline - time.monotonic()))
            if raw is None:
                break
            msg = m.decode(raw)
            if isinstance(msg, m.AlertOutcome) and msg.alert_id == alert_id:
                seen.append(msg)
                if msg.status in TERMINAL:
                    return seen
    raise AssertionError(f"no terminal outcome for {alert_id} from {path}: {seen}")


def command(client, path: str, name: str, timeout: float = 5.0, **args) -> m.CommandReply:
    reply = client.ask_actor(path, m.Command(corr=uuid.uuid4().hex, name=name, args=args, user="test"), timeout)
    assert reply is not None, f"{path} did not answer {name}"
    return reply


def risk_status(system) -> dict:
    """trading/risk's status figures (tier, caps, state)."""
    reply = command(system.client, "trading/risk", "status")
    assert reply.ok, reply
    return reply.data
