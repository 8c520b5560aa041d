"""Test doubles around the position manager, for real actor systems with scripted price paths.

``PaperGateway`` (register it under parent "broker") wraps the real ``PaperBroker`` with the "alert" price source
and no random walk, so the price is exactly what the test sets with the command ``price {symbol, bid}``. It
answers OrderIntent / ModifyIntent / CloseIntent with OrderOutcome (idempotent per intent id, as the broker is),
publishes TradeEvent on "trades" (opened, closed, sl_hit, tp_hit) and Ticks on "ticks", and answers BrokerQuery
"positions" with ``{"positions": [{"ticket", "symbol", "side", "volume", "price_open", "sl", "tp", "intent_id",
"comment"}]}``.

``EntryDouble`` (under parent "trading") stands in for a strategy plugin: the command ``open {trade_id, symbol,
side, logic, orders: [{role, volume, sl_pips, tp_pips}]}`` sends one OrderIntent per order and, once all are
filled, publishes TradeOpened on "entries"; ``close {trade_id, reason, ...}`` publishes TradeClosed.
"""
from __future__ import annotations

import time
import uuid
import zlib
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from actors import messages as m
from actors.base import ZepixActor, handles
from actors.gateway import publish_trade
from gateways.broker.interface import CloseReason, DealEntry, MarketOrder, OrderTag, Side
from gateways.broker.paper import PaperBroker, PaperSettings
from tests.support.system import wait_for


def _magic(plugin: str) -> int:
    return zlib.crc32(plugin.encode()) % 1_000_000


class PaperGateway(ZepixActor):
    def setup(self) -> None:
        data = Path(self.config["system"]["data_dir"])
        # No walk grid at all (one step every ~3 years): the price is only what the test sets. This also keeps
        # clear of a PaperBroker.advance bug: with several symbols active, grid quotes are labelled with the
        # last symbol's name (late binding of `sym` in the generator), so one symbol's SL fires on another's price.
        settings = PaperSettings.from_mapping({"price_source": "alert", "alert_walk_step_pips": 0,
                                               "tick_interval_seconds": 100_000_000,
                                               "database": str(data / "paper_desk.db")})
        self.broker = PaperBroker(settings)
        self.broker.connect()
        self.intents_seen: dict[str, int] = {}

    def teardown(self) -> None:
        self.broker.disconnect()

    def _at(self) -> datetime:
        # the paper clock only moves forward; wall time keeps it in step with the position manager's clock
        return max(datetime.now(timezone.utc), self.broker.now + timedelta(microseconds=1))

    def _deal_events(self, deals) -> None:
        for d in deals:
            if d.entry is DealEntry.OUT:
                kind = {CloseReason.SL: "sl_hit", CloseReason.TP: "tp_hit"}.get(d.reason, "closed")
                if d.reason is CloseReason.PARTIAL:
                    kind = "partial"
                publish_trade(self, m.TradeEvent(kind=kind, ticket=d.position_id, symbol=d.symbol,
                                                    side=d.side.value, volume=d.volume, price=d.price,
                                                    intent_id=d.intent_id or "", profit=d.profit,
                                                    reason=d.reason.value if d.reason else "", at=time.time()))

    def _count(self, iid: str) -> None:
        self.intents_seen[iid] = self.intents_seen.get(iid, 0) + 1

    @handles(m.OrderIntent)
    def _order(self, msg: m.OrderIntent, sender) -> None:
        self._count(msg.intent_id)
        self.broker.advance(self._at())
        r = self.broker.market_order(MarketOrder(msg.symbol, Side(msg.side), msg.volume,
                                                 OrderTag(msg.intent_id, _magic(msg.plugin), msg.comment[:31]),
                                                 msg.sl, msg.tp))
        status = "filled" if r.ok else "rejected"
        out = m.OrderOutcome(intent_id=msg.intent_id, plugin=msg.plugin, status=status, ticket=r.position,
                             symbol=msg.symbol, side=msg.side, price=r.price, volume=r.volume, retcode=r.retcode,
                             reason="" if r.ok else r.reason, detail=msg.detail, at=time.time())
        self.tell(sender, out)
        self.publish("orders", out)
        if r.ok and not r.duplicate:
            publish_trade(self, m.TradeEvent(kind="opened", ticket=r.position, symbol=msg.symbol, side=msg.side,
                                                volume=r.volume, price=r.price, plugin=msg.plugin,
                                                intent_id=msg.intent_id, sl=msg.sl, tp=msg.tp, at=time.time()))

    @handles(m.PriceSubscribe)
    def _subscribe_prices(self, msg: m.PriceSubscribe, sender) -> None:
        pass    # (the desk publishes every symbol it moves; as a tick source it is asked like broker/pricefeed)

    @handles(m.CloseIntent)
    def _close(self, msg: m.CloseIntent, sender) -> None:
        self._count(msg.intent_id)
        since = self.broker.now
        r = self.broker.close_position(msg.ticket, OrderTag(msg.intent_id, _magic(msg.plugin), msg.reason[:31]),
                                       msg.volume)
        out = m.OrderOutcome(intent_id=msg.intent_id, plugin=msg.plugin, status="closed" if r.ok else "rejected",
                             ticket=msg.ticket, price=r.price, volume=r.volume, reason="" if r.ok else r.reason,
                             detail={**msg.detail, "close_reason": msg.reason}, at=time.time())
        self.tell(sender, out)
        if r.ok and not r.duplicate:
            deals = [d for d in self.broker.deals(since - timedelta(seconds=1)) if d.ticket == r.deal]
            for d in deals:
                kind = "partial" if msg.volume is not None and d.reason is CloseReason.PARTIAL else "closed"
                publish_trade(self, m.TradeEvent(kind=kind, ticket=msg.ticket, symbol=d.symbol, side=d.side.value,
                                                    volume=d.volume, price=d.price, plugin=msg.plugin,
                                                    intent_id=msg.intent_id, profit=d.profit, reason=msg.reason,
                                                    at=time.time()))

    @handles(m.ModifyIntent)
    def _modify(self, msg: m.ModifyIntent, sender) -> None:
        self._count(msg.intent_id)
        r = self.broker.modify_sltp(msg.ticket, OrderTag(msg.intent_id, _magic(msg.plugin)), msg.sl)
        self.tell(sender, m.OrderOutcome(intent_id=msg.intent_id, plugin=msg.plugin,
                                         status="modified" if r.ok else "rejected", ticket=msg.ticket,
                                         reason="" if r.ok else r.reason, at=time.time()))

    @handles(m.BrokerQuery)
    def _query(self, msg: m.BrokerQuery, sender) -> None:
        if msg.what != "positions":
            self.tell(sender, m.BrokerReply(corr=msg.corr, ok=False, error=f"not supported: {msg.what}"))
            return
        rows = [{"ticket": p.ticket, "symbol": p.symbol, "side": p.side.value, "volume": p.volume,
                 "price_open": p.price_open, "sl": p.sl, "tp": p.tp, "intent_id": p.intent_id or "",
                 "comment": p.comment} for p in self.broker.positions()]
        self.tell(sender, m.BrokerReply(corr=msg.corr, ok=True, data={"positions": rows}))

    def on_command(self, msg, sender):
        a = msg.args
        if msg.name == "price":
            adv = self.broker.observe_price(a["symbol"], Decimal(str(a["bid"])), self._at())
            self._deal_events(adv.deals)
            tick = self.broker.tick(a["symbol"])
            self.publish("ticks", m.Ticks(ticks=((a["symbol"], tick.bid, tick.ask, time.time()),)))
            return m.CommandReply(corr=msg.corr, ok=True, text="", data={"bid": str(tick.bid), "ask": str(tick.ask),
                                                                          "deals": len(adv.deals)})
        if msg.name == "subs":
            return m.CommandReply(corr=msg.corr, ok=True, text="",
                                  data={t: len(s) for t, s in self.topic_subs.items()})
        if msg.name == "book":
            since = datetime(2000, 1, 1, tzinfo=timezone.utc)
            positions = [{"ticket": p.ticket, "symbol": p.symbol, "side": p.side.value, "volume": str(p.volume),
                          "price_open": str(p.price_open), "sl": str(p.sl), "tp": str(p.tp), "comment": p.comment,
                          "intent_id": p.intent_id} for p in self.broker.positions()]
            deals = [{"ticket": d.ticket, "position": d.position_id, "symbol": d.symbol, "entry": d.entry.value,
                      "volume": str(d.volume), "price": str(d.price), "profit": str(d.profit), "comment": d.comment,
                      "reason": d.reason.value if d.reason else "", "intent_id": d.intent_id}
                     for d in self.broker.deals(since)]
            return m.CommandReply(corr=msg.corr, ok=True, text="",
                                  data={"positions": positions, "deals": deals, "intents": dict(self.intents_seen)})
        return super().on_command(msg, sender)


class EntryDouble(ZepixActor):
    """A strategy plugin stand-in: opens scripted trades through the gateway and reports them on "entries"."""

    def setup(self) -> None:
        self.gateway = self.spec.get("options", {}).get("gateway", "broker/gateway")
        self.pending: dict[str, dict] = {}      # trade id -> {"msg": args, "fills": {intent_id: outcome}}
        self.opened: dict[str, list] = {}       # trade id -> its filled orders (with tickets)
        self.closing: dict[str, set] = {}       # trade id -> close intents not answered yet ("exit" command)
        self.reentry_signals: list[dict] = []

    @handles(m.OrderOutcome)
    def _outcome(self, msg: m.OrderOutcome, sender) -> None:
        trade_id = msg.detail.get("trade_id")
        if ":close:" in msg.intent_id:
            # as a plugin does: TradeClosed once every order of the trade is closed at the broker
            left = self.closing.get(trade_id)
            if left is not None:
                left.discard(msg.intent_id)
                if not left:
                    del self.closing[trade_id]
                    self._announce_close(msg.plugin, trade_id)
            return
        p = self.pending.get(trade_id)
        if p is None:
            return
        p["fills"][msg.intent_id] = msg
        if len(p["fills"]) < len(p["orders"]):
            return
        a = p["args"]
        orders = []
        for o in p["orders"]:
            out = p["fills"][o["intent_id"]]
            if out.status != "filled":
                continue
            orders.append({"role": o["role"], "ticket": out.ticket, "volume": out.volume, "price": out.price,
                           "sl": o["sl"], "tp": o["tp"], "intent_id": o["intent_id"]})
        del self.pending[trade_id]
        self.opened[trade_id] = orders
        self.publish("entries", m.TradeOpened(plugin=a.get("plugin", self.name), trade_id=trade_id, alert_id="",
                                              symbol=a["symbol"], side=a["side"], orders=tuple(orders),
                                              logic=a.get("logic", ""), detail=a.get("detail", {})))

    @handles(m.ReEntrySignal)
    def _reenter(self, msg: m.ReEntrySignal, sender) -> None:
        self.reentry_signals.append({"symbol": msg.symbol, "side": msg.side, "reason": msg.reason})

    def on_command(self, msg, sender):
        a = msg.args
        if msg.name == "open":
            trade_id, side = a["trade_id"], a["side"]
            bid, ask = Decimal(str(a["bid"])), Decimal(str(a["ask"]))
            entry = ask if side == "BUY" else bid
            sign = 1 if side == "BUY" else -1
            pip = Decimal(str(a.get("pip", "0.0001")))
            orders = []
            for i, o in enumerate(a["orders"]):
                sl = entry - sign * Decimal(str(o["sl_pips"])) * pip
                tp = entry + sign * Decimal(str(o["tp_pips"])) * pip if o.get("tp_pips") else None
                orders.append({"role": o["role"], "intent_id": f"{trade_id}-{o['role']}{i}", "sl": sl, "tp": tp,
                               "volume": Decimal(str(o["volume"]))})
            self.pending[trade_id] = {"args": a, "orders": orders, "fills": {}}
            for o in orders:
                self.tell_peer(self.gateway, m.OrderIntent(
                    intent_id=o["intent_id"], plugin=a.get("plugin", self.name), symbol=a["symbol"], side=side,
                    volume=o["volume"], sl=o["sl"], tp=o["tp"], comment=f"{a.get('logic', '')}_{o['role']}",
                    detail={"trade_id": trade_id}))
            return m.CommandReply(corr=msg.corr, ok=True, text="sent")
        if msg.name == "close":
            self.publish("entries", m.TradeClosed(plugin=a.get("plugin", self.name), trade_id=a["trade_id"],
                                                  reason=a.get("reason", "exit"), detail=a.get("detail", {})))
            return m.CommandReply(corr=msg.corr, ok=True, text="closed")
        if msg.name == "exit":
            # a plugin's exit: close intents for the trade's orders, then TradeClosed ("announce": "after" the
            # closes are answered, as a plugin does, or "before" them, so positions hears of the exit first)
            trade_id, plugin = a["trade_id"], a.get("plugin", self.name)
            intents = []
            for o in self.opened.get(trade_id, []):
                iid = f"{plugin}:{trade_id}:close:{o['ticket']}"
                intents.append(iid)
                self.tell_peer(self.gateway, m.CloseIntent(intent_id=iid, plugin=plugin, ticket=o["ticket"],
                                                           reason="exit", detail={"trade_id": trade_id}))
            if a.get("announce", "after") == "before":
                self._announce_close(plugin, trade_id)
            else:
                self.closing[trade_id] = set(intents)
            return m.CommandReply(corr=msg.corr, ok=True, text=f"closing {len(intents)}")
        if msg.name == "subs":
            return m.CommandReply(corr=msg.corr, ok=True, text="",
                                  data={t: len(s) for t, s in self.topic_subs.items()})
        if msg.name == "signals":
            return m.CommandReply(corr=msg.corr, ok=True, text="", data={"signals": self.reentry_signals})
        return super().on_command(msg, sender)


    def _announce_close(self, plugin: str, trade_id: str) -> None:
        self.publish("entries", m.TradeClosed(plugin=plugin, trade_id=trade_id, reason="exit"))


# -- helpers for tests driving the desk ------------------------------------------------------------------------------
DESK_PATH = "broker/paper_gateway"
POSITIONS_PATH = "trading/positions"
# the desk at DESK_PATH and an entries stand-in that trades through it (append to a test's TOML)
DESK_EXTRAS = f'''[[supervision.extra]]
parent = "broker"
name = "paper_gateway"
actor = "tests.support.paper_desk.PaperGateway"
[[supervision.extra]]
parent = "trading"
name = "test_entries"
actor = "tests.support.paper_desk.EntryDouble"
options = {{gateway = "{DESK_PATH}"}}
'''


def positions_status(s) -> dict:
    """trading/positions' StatusReply data ({} when it does not answer)."""
    reply = s.client.ask_actor(POSITIONS_PATH, m.StatusRequest(corr=uuid.uuid4().hex), 3.0)
    return reply.data if reply else {}


def set_price(s, symbol: str, bid) -> tuple[Decimal, Decimal]:
    """Set the desk's bid and wait until the position manager has seen that tick (and handled it)."""
    reply = s.client.ask_actor(DESK_PATH, m.Command(corr=uuid.uuid4().hex, name="price",
                                                    args={"symbol": symbol, "bid": bid}, user="test"), 5.0)
    assert reply is not None and reply.ok, reply
    data = reply.data
    wait_for(lambda: positions_status(s).get("quotes", {}).get(symbol) == data["bid"], 10,
             what=f"{symbol} tick {bid} seen")
    return Decimal(data["bid"]), Decimal(data["ask"])
