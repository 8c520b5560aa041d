"""Test doubles for the trading tests, until the real gateway and journal are merged:

``PaperGatewayDouble`` at broker/gateway wraps gateways.broker.paper.PaperBroker: it answers OrderIntent /
CloseIntent with OrderOutcome (to the intent's reply_to when it has one; a repeated intent id with the first
outcome; and publishes them on "orders"), publishes TradeEvent on "trades", answers BrokerQuery account/symbol/void, and takes commands ``price`` (move a symbol's price; SL/TP hits become TradeEvents),
``stats`` (what it was asked) and ``positions``.
``JournalDouble`` at ingress/webhook keeps every AlertOutcome; command ``outcomes`` returns them.
"""
from __future__ import annotations

import time
import zlib
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from actors import messages as m
from actors.base import ZepixActor, handles
from actors.gateway import publish_trade
from gateways.broker.interface import MarketOrder, OrderTag, Side
from gateways.broker.paper import PaperBroker
from gateways.broker.paper_settings import PaperSettings


def doubles_toml(gateway_options: str = "") -> str:
    """Config that puts the doubles at ingress/webhook and broker/gateway, with the real ones there turned off."""
    options = f"options = {{ {gateway_options} }}\n" if gateway_options else ""
    return ('[supervision.subtrees.ingress]\nbuiltin = false\n[supervision.subtrees.broker]\nbuiltin = false\n'
            '[[supervision.extra]]\nparent = "ingress"\nname = "webhook"\nactor = "tests.support.trading.JournalDouble"\n'
            '[[supervision.extra]]\nparent = "broker"\nname = "gateway"\n'
            f'actor = "tests.support.trading.PaperGatewayDouble"\n{options}')


def magic_of(plugin: str) -> int:
    return zlib.crc32(plugin.encode()) % 1_000_000


class PaperGatewayDouble(ZepixActor):
    def setup(self) -> None:
        path = Path(self.config["system"]["data_dir"]) / "paper-double.db"
        balance = Decimal(str(self.spec.get("options", {}).get("balance", "10000")))
        self.broker = PaperBroker(PaperSettings(database=str(path), initial_balance=balance))
        self.broker.connect()
        self.orders: list[str] = []          # intent ids of market orders sent to the paper broker
        self.closes: list[str] = []
        self.owner: dict[int, tuple[str, str]] = {}   # position ticket -> (plugin, intent id)
        self.done: dict[str, m.OrderOutcome] = {}     # intent id -> its outcome (a repeat is answered with it)

    def _now(self) -> datetime:
        now = datetime.now(timezone.utc)
        return max(now, self.broker.now) if self.broker.now.year > 1970 else now

    def _outcome(self, sender, msg: m.OrderOutcome) -> None:
        self.done[msg.intent_id] = msg
        if sender is not None:
            self.tell(sender, msg)
        self.publish("orders", msg)

    @handles(m.OrderIntent)
    def _on_order(self, msg: m.OrderIntent, sender) -> None:
        if msg.reply_to:     # forwarded by trading/risk: the plugin gets the answer, like the real gateway
            sender = self.peer(msg.reply_to)
        if msg.intent_id in self.done:
            self._outcome(sender, self.done[msg.intent_id])
            return
        hint = msg.detail.get("price_hint")
        if hint:
            self._deals(self.broker.observe_price(msg.symbol, Decimal(str(hint)), self._now()).deals)
        self.orders.append(msg.intent_id)
        res = self.broker.market_order(MarketOrder(symbol=msg.symbol, side=Side(msg.side), volume=msg.volume,
                                                   tag=OrderTag.fit(msg.intent_id, magic_of(msg.plugin), msg.comment),
                                                   sl=msg.sl, tp=msg.tp))
        status = "filled" if res.ok else "rejected"
        if res.ok and not res.duplicate:
            self.owner[res.position] = (msg.plugin, msg.intent_id)
            publish_trade(self, m.TradeEvent(kind="opened", ticket=res.position, symbol=msg.symbol, side=msg.side,
                                                volume=res.volume, price=res.price, plugin=msg.plugin,
                                                intent_id=msg.intent_id, sl=msg.sl, tp=msg.tp, at=time.time()))
        self._outcome(sender, m.OrderOutcome(intent_id=msg.intent_id, plugin=msg.plugin, status=status,
                                             ticket=res.position, symbol=msg.symbol, side=msg.side, price=res.price,
                                             volume=res.volume, retcode=res.retcode, reason=res.reason,
                                             alert_id=msg.alert_id, detail=msg.detail, at=time.time()))

    @handles(m.CloseIntent)
    def _on_close(self, msg: m.CloseIntent, sender) -> None:
        self.closes.append(msg.intent_id)
        pos = {p.ticket: p for p in self.broker.positions()}.get(msg.ticket)
        res = self.broker.close_position(msg.ticket, OrderTag.fit(msg.intent_id, magic_of(msg.plugin), "close"),
                                         msg.volume)
        if res.ok and pos is not None and not res.duplicate:
            profit = pos.profit
            publish_trade(self, m.TradeEvent(kind="closed", ticket=msg.ticket, symbol=pos.symbol,
                                                side=pos.side.value, volume=pos.volume, price=res.price,
                                                plugin=msg.plugin, intent_id=msg.intent_id, profit=profit,
                                                reason=msg.reason, at=time.time()))
        self._outcome(sender, m.OrderOutcome(intent_id=msg.intent_id, plugin=msg.plugin,
                                             status="closed" if res.ok else "rejected", ticket=msg.ticket,
                                             price=res.price, volume=res.volume, reason=res.reason,
                                             detail=msg.detail, at=time.time()))

    def _deals(self, deals) -> None:
        for d in deals:
            if d.entry.value != "out":
                continue
            plugin, intent = self.owner.get(d.position_id, ("", ""))
            kind = {"sl": "sl_hit", "tp": "tp_hit"}.get(d.reason.value if d.reason else "", "closed")
            publish_trade(self, m.TradeEvent(kind=kind, ticket=d.position_id, symbol=d.symbol, side=d.side.value,
                                                volume=d.volume, price=d.price, plugin=plugin, intent_id=intent,
                                                profit=d.profit, reason=kind, at=time.time()))

    @handles(m.BrokerQuery)
    def _on_query(self, msg: m.BrokerQuery, sender) -> None:
        if msg.what == "account":
            acc = self.broker.account()
            self.tell(sender, m.BrokerReply(corr=msg.corr, ok=True, data={"balance": str(acc.balance),
                                                                           "equity": str(acc.equity)}))
        elif msg.what == "symbol":
            i = self.broker.symbol_info(msg.args["symbol"])
            self.tell(sender, m.BrokerReply(corr=msg.corr, ok=True, data={
                "digits": i.digits, "point": str(i.point), "trade_tick_size": str(i.tick_size),
                "trade_tick_value": str(i.tick_value), "trade_contract_size": str(i.contract_size),
                "volume_min": str(i.volume_min), "volume_step": str(i.volume_step),
                "volume_max": str(i.volume_max), "trade_stops_level": i.stops_level}))
        elif msg.what == "void":
            iid = msg.args["intent_id"]
            if iid not in self.done:
                self.done[iid] = m.OrderOutcome(intent_id=iid, plugin=msg.args.get("plugin", ""), status="rejected",
                                                reason=f"voided: {msg.args.get('reason', '')}")
            out = self.done[iid]
            self.tell(sender, m.BrokerReply(corr=msg.corr, ok=True, data={"state": "done" if out.status != "rejected"
                                                                           else "rejected",
                                                                           "outcome": m.outcome_dict(out)}))
        else:
            self.tell(sender, m.BrokerReply(corr=msg.corr, ok=False, error=f"unknown query {msg.what}"))

    def on_command(self, msg, sender):
        if msg.name == "price":
            adv = self.broker.observe_price(msg.args["symbol"], Decimal(str(msg.args["price"])), self._now())
            self._deals(adv.deals)
            return m.CommandReply(corr=msg.corr, ok=True, text=f"{len(adv.deals)} deals")
        if msg.name == "tick":
            # a broker quote on "ticks", as broker/pricefeed publishes them
            n = self.publish("ticks", m.Ticks(ticks=((msg.args["symbol"], Decimal(str(msg.args["bid"])),
                                                      Decimal(str(msg.args["ask"])), time.time()),)))
            return m.CommandReply(corr=msg.corr, ok=True, text=f"{n} subscribers")
        if msg.name == "stats":
            return m.CommandReply(corr=msg.corr, ok=True, text="", data={"orders": self.orders, "closes": self.closes})
        if msg.name == "positions":
            return m.CommandReply(corr=msg.corr, ok=True, text="", data={"positions": [
                {"ticket": p.ticket, "symbol": p.symbol, "side": p.side.value, "volume": str(p.volume),
                 "sl": str(p.sl), "tp": str(p.tp), "comment": p.comment} for p in self.broker.positions()]})
        return super().on_command(msg, sender)

    def teardown(self) -> None:
        self.broker.disconnect()


class JournalDouble(ZepixActor):
    def setup(self) -> None:
        self.outcomes: list[dict] = []

    @handles(m.AlertOutcome)
    def _on_outcome(self, msg: m.AlertOutcome, sender) -> None:
        self.outcomes.append({"alert_id": msg.alert_id, "status": msg.status, "source": msg.source,
                              "reason": msg.reason, "detail": msg.detail})

    def on_command(self, msg, sender):
        if msg.name == "outcomes":
            return m.CommandReply(corr=msg.corr, ok=True, text="", data={"outcomes": self.outcomes})
        return super().on_command(msg, sender)
