"""Test helpers for the broker gateway: a recorder actor subscribed to "orders", "trades" and "ticks", and a
way to send an intent to broker/gateway and wait for its OrderOutcome (which has no corr for AdminClient.ask)."""
from __future__ import annotations

import time
from dataclasses import asdict
from decimal import Decimal

from actors import messages as m
from actors.base import ZepixActor, handles


def _plain(x):
    d = asdict(x)
    d["type"] = type(x).__name__
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in d.items()}


class Recorder(ZepixActor):
    """Records what the broker actors publish; the command "seen" returns it, "watch" asks for symbols."""

    def setup(self) -> None:
        self.seen: list[dict] = []
        self.subscribe_to("broker/gateway", "orders", "trades")
        self.subscribe_to("broker/pricefeed", "ticks")

    def status_data(self) -> dict:
        return {"directory": sorted(self.directory)}

    def on_command(self, msg, sender):
        if msg.name == "seen":
            return m.CommandReply(corr=msg.corr, ok=True, text="", data={"seen": self.seen})
        if msg.name == "watch":
            self.tell_peer("broker/pricefeed", m.PriceSubscribe(symbols=tuple(msg.args["symbols"])))
            return m.CommandReply(corr=msg.corr, ok=True, text="watching")
        if msg.name == "alert_price":
            ok = self.tell_peer("broker/gateway", m.AlertPrice(symbol=msg.args["symbol"],
                                                               price=Decimal(msg.args["price"])))
            return m.CommandReply(corr=msg.corr, ok=ok, text="sent")
        return super().on_command(msg, sender)

    @handles(m.OrderOutcome, m.TradeEvent)
    def _on_event(self, msg, sender):
        self.seen.append(_plain(msg))

    @handles(m.Ticks)
    def _on_ticks(self, msg, sender):
        self.seen.append({"type": "Ticks", "ticks": [[s, str(b), str(a), t] for s, b, a, t in msg.ticks]})


RECORDER_TOML = ('[[supervision.extra]]\nparent = "ops"\nname = "recorder"\n'
                 'actor = "tests.support.broker.Recorder"\n')


def send_intent(client, intent, timeout: float = 10.0, path: str = "broker/gateway"):
    """Tell the gateway `intent` from a private endpoint and return the OrderOutcome for its intent id."""
    addr = client.address_of(path, timeout)
    assert addr is not None, f"{path} is not running"
    deadline = time.monotonic() + timeout
    with client.asys.private() as ep:
        ep.tell(addr, m.encode(intent))
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            raw = ep.listen(left)
            if raw is None:
                return None
            try:
                msg = m.decode(raw)
            except m.CodecError:
                continue
            if isinstance(msg, m.OrderOutcome) and msg.intent_id == intent.intent_id:
                return msg


def command(client, path: str, name: str, timeout: float = 10.0, **args):
    import uuid

    reply = client.ask_actor(path, m.Command(corr=uuid.uuid4().hex, name=name, args=args, user="test"), timeout)
    assert reply is not None, f"{path} did not answer {name}"
    return reply


def query(client, what: str, timeout: float = 5.0, **args):
    import uuid

    return client.ask_actor("broker/gateway", m.BrokerQuery(corr=uuid.uuid4().hex, what=what, args=args), timeout)


def seen(client, type_: str | None = None, **match) -> list[dict]:
    got = command(client, "ops/recorder", "seen").data["seen"]
    return [e for e in got if (type_ is None or e["type"] == type_) and all(e.get(k) == v for k, v in match.items())]


def wait_wired(client, timeout: float = 10.0) -> None:
    """Until the recorder knows both broker actors (the directory reaches actors shortly after they run) and
    the gateway has it as a subscriber."""
    import uuid

    from tests.support.system import wait_for

    def ok():
        r = client.ask_actor("ops/recorder", m.StatusRequest(corr=uuid.uuid4().hex), 2.0)
        return r is not None and {"broker/gateway", "broker/pricefeed"} <= set(r.data["directory"])

    wait_for(ok, timeout, interval=0.05, what="the recorder sees broker/gateway and broker/pricefeed")
