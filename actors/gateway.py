"""broker/gateway: the one actor that talks to the broker (paper, MetaTrader5 or mt5linux). Money moves here.

One serial executor: intents (OrderIntent / ModifyIntent / CloseIntent) are handled one at a time, in arrival
order; a job waiting for a backoff pause holds the queue (queries are still answered meanwhile). Each intent id
is written to the gateway's database before the send and again after the answer (gateways.broker.ledger), so
a repeated intent is answered from the database and never sent twice, and a gateway that died between the two
reconciles the intent against the broker (magic number + the intent's tag in the comment) at its next start.

Retcodes by class: requote / price changed -> a fresh price, up to `requote_tries` sends; too many requests /
no connection -> backoff pauses (`busy_tries`); timeout / None / IPC error -> reconcile before any resend;
invalid fill / stops / volume -> fixed and resent once; anything else -> rejected with the broker's reason.
Results go to the sender (OrderOutcome), to topic "orders", fills and closes to "trades" (TradeEvent), the
alert's outcome to ingress/webhook, rejects and connection loss to the trader (Notify).

Positions opened here are kept in the ledger; every `poll_interval` the deals since the oldest of them are read
and closes the gateway did not make (SL, TP, stop-out, a trader's manual close, also while disconnected) become
TradeEvents (sl_hit, tp_hit, closed, partial), and filled pending orders pending_filled. With the paper broker
the gateway owns the simulated market and moves its clock to the wall clock on the same timer.
"""
from __future__ import annotations

import os
import signal
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors import messages as m
from actors.messages import outcome_dict, outcome_from
from actors.base import ZepixActor, handles
from gateways.broker.interface import (
    UNCHANGED, BrokerError, BrokerUnavailable, CloseReason, DealEntry, MarketOrder, OrderResult, OrderTag,
    PendingKind, PendingOrder, RetcodeClass, Side, flat_fields, to_decimal,
)
from actors.gateway_simulation import SimulationSwitch, with_adapter
from gateways.broker.ledger import TAG_PREFIX, Ledger, comment_for

WEBHOOK = "ingress/webhook"
_PENDING_KINDS = {"buy_limit": (Side.BUY, PendingKind.LIMIT), "sell_limit": (Side.SELL, PendingKind.LIMIT),
                  "buy_stop": (Side.BUY, PendingKind.STOP), "sell_stop": (Side.SELL, PendingKind.STOP)}
_CLOSE_KIND = {CloseReason.SL: "sl_hit", CloseReason.TP: "tp_hit", CloseReason.PARTIAL: "partial"}


def _now_utc() -> datetime:
    return datetime.now(timezone.utc)


def _plain(x: Any) -> Any:
    """Broker values (dataclasses with Decimals, enums, datetimes) as message-safe plain data."""
    if hasattr(x, "__dataclass_fields__"):
        return {k: _plain(v) for k, v in flat_fields(x).items()}
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [_plain(v) for v in x]
    if isinstance(x, datetime):
        return x.timestamp()
    if hasattr(x, "value") and isinstance(getattr(x, "value"), str):   # str enums
        return x.value
    return x


@dataclass
class Job:
    msg: Any
    sender: Any
    magic: int
    kind: str                       # order | pending | modify | close
    corr: str = ""                  # a CLI Command waiting for this job (answered with CommandReply)
    sends: int = 0
    requotes: int = 0
    busy: int = 0
    timeouts: int = 0
    fixed: bool = False
    notes: list = field(default_factory=list)
    answered_at: float = 0.0        # time.time() the broker answered the last send: when the order was accepted


def publish_trade(actor, event: m.TradeEvent) -> None:
    """A TradeEvent goes out on "trades" (risk, positions, the notifier: every plugin's trades) and on
    "trades.<plugin>" (a plugin follows only its own). Every plugin used to get every trade of every plugin, a
    message per plugin per fill, to throw away. Stand-ins of the gateway publish the same way."""
    actor.publish("trades", event)
    if event.plugin:
        actor.publish(f"trades.{event.plugin}", event)


class BrokerGateway(SimulationSwitch, ZepixActor):
    fast_mail = True      # on every alert's path: waits for its mailbox itself (actors/base.py)

    @staticmethod
    def actorSystemCapabilityCheck(capabilities: dict, requirements: dict) -> bool:
        # Thespian places an actor by asking its class, not by comparing the requirements itself: without this
        # a gateway that requires `mt5` (placement = "member") was created on the leader, next to no terminal
        return all(capabilities.get(k) == v for k, v in (requirements or {}).items())

    # -- life --------------------------------------------------------------------------------------------------
    def setup(self) -> None:
        from gateways.broker.factory import adapter_name, build_broker

        self.bcfg = self.config["broker"]
        self.configured_adapter = adapter_name(self.config)
        self.magics = {str(k): int(v) for k, v in self.bcfg.get("magic", {}).items()}
        data = Path(self.config["system"]["data_dir"]) / "broker"
        self.ledger = Ledger(data / "gateway.db")
        # /simulation_mode may have switched brokers at runtime; that choice survives a restart
        self.adapter = self._effective_adapter(self.configured_adapter)
        self.broker = build_broker(with_adapter(self.config, self.adapter))
        self.connected = False
        self.conn_error = "not connected yet"
        self.connect_tries = 0
        self.reconnect_round = 0
        self.queue: deque = deque()
        self._last_alert_price: dict[str, tuple] = {}
        self.job: Job | None = None
        self.last_reconcile = 0.0
        self.foreign: set[int] = set()      # open tickets without one of our magic numbers
        self.sent = 0
        self.rejected = 0
        self._warn_insecure()
        # connect on a timer: setup stays quick (a terminal may take seconds), and what reconciliation finds is
        # published once the directory has told us where the subscribers and ingress/webhook are
        self.directory_waits = 0
        self.after(0.0, "connect")
        self.after(self.bcfg["poll_interval"], "poll")
        self.after(self.bcfg["ping_interval"], "ping")

    def _warn_insecure(self) -> None:
        if self.adapter == "mt5linux":
            from gateways.broker.mt5linux import is_loopback

            host = self.broker.settings.host
            if not is_loopback(host):
                self.notify("broker_insecure", "HIGH", f"mt5linux server {host} is not on loopback: its rpyc "
                            "server runs any code sent to it; reach it only through a VPN or SSH tunnel")

    def teardown(self) -> None:
        try:
            self.broker.disconnect()
        except Exception as exc:   # a dead link cannot be closed cleanly; nothing to keep
            self.log.info("%s: disconnect: %s", self.path, exc)
        self.ledger.close()

    def status_data(self) -> dict:
        return {"adapter": self.adapter, "configured_adapter": self.configured_adapter, "connected": self.connected,
                "connection_error": self.conn_error,
                "queued": len(self.queue) + (1 if self.job else 0), "sent": self.sent, "rejected": self.rejected,
                "intents": self.ledger.count_intents()}

    # -- connection --------------------------------------------------------------------------------------------
    def _try_connect(self) -> None:
        self.connect_tries += 1
        try:
            self.broker.connect()
            why = self._terminal_problem()
            if why:
                raise BrokerUnavailable(why)
        except (BrokerError, OSError) as exc:
            self.conn_error = str(exc)
            self.log.warning("%s: connect try %d failed: %s", self.path, self.connect_tries, exc)
            try:
                self.broker.disconnect()
            except Exception:   # noqa: BLE001 - nothing to close
                pass
            attempts = self.bcfg["connect_attempts"]
            if self.connect_tries % attempts == 0:
                self.reconnect_round += 1
                self.notify("broker_disconnected", "CRITICAL",
                            f"{self.adapter}: cannot connect after {self.connect_tries} tries: {exc}; "
                            "orders are rejected until it is back")
                delay = min(self.bcfg["connect_retry_seconds"] * (2 ** self.reconnect_round),
                            self.bcfg["reconnect_backoff_max"])
            else:
                delay = self.bcfg["connect_retry_seconds"]
            self.after(delay, "connect")
            return
        was_lost = self.reconnect_round > 0 or self.connect_tries > 1
        self.connected = True
        self.conn_error = ""
        self.connect_tries = 0
        self.reconnect_round = 0
        if self.adapter == "paper":
            self.broker.advance(_now_utc())
        self.log.info("%s: connected to %s", self.path, self.adapter)
        if was_lost:
            self.notify("broker_connected", "MEDIUM", f"{self.adapter}: connected again; reconciling")
        self._reconcile()

    def _terminal_problem(self) -> str:
        """MT5 only: the terminal must be connected to the trade server and allow algo trading."""
        mod = getattr(self.broker, "_mt5", None)
        if self.adapter == "paper" or mod is None:
            return ""
        ti = mod.terminal_info()
        if ti is None:
            return "terminal_info() returned nothing"
        if not bool(ti.connected):
            return "the terminal is not connected to the trade server"
        if not bool(ti.trade_allowed):
            return "algo trading is disabled in the terminal (press 'Algo Trading')"
        return ""

    def _lost(self, why: str) -> None:
        if not self.connected:
            return
        self.connected = False
        self.conn_error = why
        self.notify("broker_disconnected", "CRITICAL", f"{self.adapter}: connection lost: {why}; reconnecting")
        try:
            self.broker.disconnect()
        except Exception:   # noqa: BLE001
            pass
        self.connect_tries = 0
        self.after(self.bcfg["connect_retry_seconds"] / 5, "connect")

    def on_timer(self, key: Any) -> None:
        if key == "connect":
            if not self.directory and self.directory_waits < 40:
                self.directory_waits += 1
                self.after(0.05, "connect")
            elif not self.connected:
                self._try_connect()
        elif key == "poll":
            self.after(self.bcfg["poll_interval"], "poll")
            if self.connected:
                self._guarded(self._poll)
        elif key == "ping":
            self.after(self.bcfg["ping_interval"], "ping")
            if self.connected:
                self._guarded(self._ping)
        elif isinstance(key, tuple) and key[0] == "retry":
            if self.job is not None and self.job.msg.intent_id == key[1]:
                self._step()

    def _guarded(self, fn) -> None:
        try:
            fn()
        except BrokerUnavailable as exc:
            self._lost(str(exc))

    def _ping(self) -> None:
        if self.adapter == "paper":
            return
        if not self.broker.is_connected():
            raise BrokerUnavailable("the terminal lost its connection")
        why = self._terminal_problem()
        if why:
            raise BrokerUnavailable(why)

    def _poll(self) -> None:
        if self.adapter == "paper":
            self.broker.advance(_now_utc())
            self._scan_deals()
        else:
            # reading deals over the terminal API is expensive; only when one of our positions is gone or a
            # pending order of ours is waiting (broker-side partial closes are found by the periodic reconcile)
            rows = self.ledger.db.execute("SELECT ticket, state FROM positions WHERE state IN ('open', 'pending')")
            rows = rows.fetchall()
            live = self.broker.position_tickets()
            if any(r[1] == "pending" or r[0] not in live for r in rows):
                self._scan_deals()
        if time.monotonic() - self.last_reconcile > self.bcfg["reconcile_interval"]:
            self._reconcile()

    # -- intents -----------------------------------------------------------------------------------------------
    @handles(m.OrderIntent, m.ModifyIntent, m.CloseIntent)
    def _on_intent(self, msg, sender) -> None:
        alert_price = msg.detail.get("alert_price") if isinstance(msg, m.OrderIntent) else None
        if alert_price:
            # the paper "alert" price source: the quote must be the alert's before this order fills. A separate
            # AlertPrice can arrive after the order (it may be sent before the plugin knows our address), so the
            # price also rides on the intent itself.
            self._on_alert_price(m.AlertPrice(symbol=msg.symbol, price=Decimal(str(alert_price)),
                                              at=float(msg.detail.get("alert_at") or 0.0), alert_id=msg.alert_id),
                                 sender)
        if getattr(msg, "reply_to", ""):
            # forwarded by trading/risk: the answer goes to the plugin that decided it, looked up when it is due
            # (a plugin restarted meanwhile is at a new address; one not running asks again with the same id)
            sender = msg.reply_to
        self.queue.append((msg, sender, ""))
        self._pump()

    def _pump(self) -> None:
        while self.job is None and self.queue:
            msg, sender, corr = self.queue.popleft()
            self._start(msg, sender, corr)

    def _kind(self, msg) -> str:
        if isinstance(msg, m.OrderIntent):
            return "order" if msg.kind == "market" else "pending"
        return "modify" if isinstance(msg, m.ModifyIntent) else "close"

    def _invalid(self, msg) -> str:
        if not msg.intent_id:
            return "the intent has no intent_id"
        if isinstance(msg, m.OrderIntent):
            if msg.side not in ("BUY", "SELL"):
                return f"side must be BUY or SELL, not {msg.side!r}"
            if msg.kind != "market" and msg.kind not in _PENDING_KINDS:
                return f"kind must be market, {', '.join(_PENDING_KINDS)}; not {msg.kind!r}"
            if msg.kind in _PENDING_KINDS and _PENDING_KINDS[msg.kind][0].value != msg.side:
                return f"a {msg.kind} order must be a {_PENDING_KINDS[msg.kind][0].value}"
            if msg.kind != "market" and msg.price is None:
                return f"a {msg.kind} order needs a price"
            if not msg.volume.is_finite() or msg.volume <= 0:
                return f"volume must be positive, not {msg.volume}"
        elif isinstance(msg, m.CloseIntent):
            if msg.volume is not None and (not msg.volume.is_finite() or msg.volume <= 0):
                return f"close volume must be positive, not {msg.volume}"
        return ""

    def _start(self, msg, sender, corr: str) -> None:
        prev = self.ledger.intent(msg.intent_id)
        if prev is not None and prev["state"] != "pending":
            out = outcome_from(prev["outcome"])
            out = replace(out, detail={**out.detail, "duplicate": True})
            self.log.info("%s: intent %s again: answered from the ledger (%s)", self.path, msg.intent_id, out.status)
            self._answer(sender, corr, out)
            return
        kind = self._kind(msg)
        magic = self.magics.get(msg.plugin)
        why = self._invalid(msg)
        if not why and magic is None:
            why = f"no magic number configured for plugin {msg.plugin!r} ([broker.magic])"
        if not why and not self.connected:
            why = f"broker unreachable: {self.conn_error}"
        job = Job(msg=msg, sender=sender, magic=magic or 0, kind=kind, corr=corr)
        if why:
            self._reject(job, why, None, persist=False)
            return
        self.job = job
        if prev is not None:
            # a send of this intent may have happened before a crash: look before sending again
            try:
                found = self._find(prev)
            except BrokerUnavailable as exc:
                self.job = None
                self._lost(str(exc))
                self._reject(job, f"broker unreachable: {exc}", None, persist=False)
                return
            if found is not None:
                self._done(job, found, reconciled=True)
                return
        else:
            # written with its first attempt counted: one commit before the send, not two
            self.ledger.begin(msg.intent_id, kind, msg.plugin, job.magic, getattr(msg, "symbol", ""),
                              _plain(flat_fields(msg)), attempts=1)
            self._step(counted=True)
            return
        self._step()

    def _tag(self, job: Job) -> OrderTag:
        return OrderTag.fit(job.msg.intent_id, job.magic, comment_for(job.msg.intent_id,
                                                                      getattr(job.msg, "comment", "")))

    def _send(self, job: Job) -> OrderResult:
        msg, tag = job.msg, self._tag(job)
        if self.adapter == "paper":
            self.broker.advance(_now_utc())
        if job.kind == "order":
            return self.broker.market_order(MarketOrder(msg.symbol, Side(msg.side), msg.volume, tag, msg.sl, msg.tp))
        if job.kind == "pending":
            side, pk = _PENDING_KINDS[msg.kind]
            return self.broker.pending_order(PendingOrder(msg.symbol, side, pk, msg.volume, msg.price, tag,
                                                          msg.sl, msg.tp))
        if job.kind == "modify":
            return self.broker.modify_sltp(msg.ticket, tag, UNCHANGED if msg.sl is None else msg.sl,
                                           UNCHANGED if msg.tp is None else msg.tp)
        return self.broker.close_position(msg.ticket, tag, msg.volume)

    def _step(self, counted: bool = False) -> None:
        """Send the job's intent until it is done or waits; ``counted``: the ledger already counts this send."""
        job = self.job
        assert job is not None
        b = self.bcfg
        while True:
            if not counted:
                self.ledger.attempt(job.msg.intent_id)
            counted = False
            _crash_point("before_send")
            job.sends += 1
            self.sent += 1
            try:
                result = self._send(job)
            except BrokerUnavailable as exc:
                result = OrderResult(job.msg.intent_id, RetcodeClass.CONNECTION, str(exc))
            except BrokerError as exc:
                result = OrderResult(job.msg.intent_id, RetcodeClass.HARD, str(exc))
            job.answered_at = time.time()
            _crash_point("after_send")
            cls = result.retcode_class
            # the one line per send (the paper broker logs its fills at DEBUG): each record is a message
            self.log.info("%s: intent %s send %d: %s %s%s", self.path, job.msg.intent_id, job.sends, cls.value,
                          result.reason, f" ticket {result.position or result.order} {result.volume} @ {result.price}"
                          if result.ok else "")
            if result.ok:
                self._done(job, result, reconciled=result.reconciled)
                return
            job.notes.append(f"{cls.value}: {result.reason}")
            if cls in (RetcodeClass.REQUOTE, RetcodeClass.PRICE_CHANGED):
                if job.requotes + 1 < b["requote_tries"]:
                    job.requotes += 1
                    continue   # the adapter takes a fresh price for every send
                self._reject(job, f"price kept moving: {result.reason}", result.retcode)
                return
            if cls in (RetcodeClass.TOO_MANY_REQUESTS, RetcodeClass.CONNECTION):
                if job.busy + 1 < b["busy_tries"]:
                    job.busy += 1
                    self.after(b["busy_backoff_seconds"] * (2 ** (job.busy - 1)), ("retry", job.msg.intent_id))
                    return
                if cls is RetcodeClass.CONNECTION:
                    self._reject(job, f"broker unreachable: {result.reason}", result.retcode)
                    self._lost(result.reason)
                else:
                    self._reject(job, f"the broker refuses requests for now: {result.reason}", result.retcode)
                return
            if cls is RetcodeClass.TIMEOUT:
                try:
                    found = self._find(self.ledger.intent(job.msg.intent_id))
                except BrokerUnavailable as exc:
                    found = None
                    job.notes.append(f"could not reconcile: {exc}")
                if found is not None:
                    self._done(job, found, reconciled=True)
                    return
                if job.timeouts < b["timeout_resends"]:
                    job.timeouts += 1
                    self.log.warning("%s: intent %s timed out and is not on the account: sending again",
                                     self.path, job.msg.intent_id)
                    continue
                self._reject(job, f"no answer from the broker and the order is not on the account "
                                  f"({result.reason}); it will be adopted if it appears", result.retcode,
                             status="unknown")
                return
            if cls in (RetcodeClass.INVALID_FILL, RetcodeClass.INVALID_STOPS, RetcodeClass.INVALID_VOLUME) \
                    and not job.fixed:
                fixed = self._fix(job, cls)
                if fixed is not None:
                    job.fixed = True
                    job.msg = fixed
                    continue
            self._reject(job, result.reason, result.retcode)
            return

    def _fix(self, job: Job, cls: RetcodeClass):
        """One correction of the request after an invalid fill / stops / volume answer, or None."""
        msg = job.msg
        symbol = getattr(msg, "symbol", "") or (self.ledger.position(msg.ticket) or {}).get("symbol", "")
        if not symbol:
            return None
        try:
            info = self.broker.symbol_info(symbol)
            if cls is RetcodeClass.INVALID_FILL:
                # the adapters already walk the symbol's filling modes; a fresh symbol read may list others
                getattr(self.broker, "_symbols", {}).pop(symbol, None)
                return msg
            if cls is RetcodeClass.INVALID_VOLUME:
                vol = msg.volume
                if vol is None:
                    return None
                # only the step is corrected: raising to the minimum or cutting to the maximum would change the
                # risk the plugin decided on, so those stay rejects
                fixed = info.round_volume(vol)
                if fixed == vol or not info.volume_min <= fixed <= info.volume_max:
                    return None
                return replace(msg, volume=fixed)
            if cls is RetcodeClass.INVALID_STOPS and isinstance(msg, m.OrderIntent) and msg.kind == "market":
                tick = self.broker.tick(symbol)
                gap = info.point * (info.stops_level + 1)
                buy = msg.side == "BUY"
                ref = tick.bid if buy else tick.ask
                sl, tp = msg.sl, msg.tp
                if sl is not None and (sl < ref if buy else sl > ref):   # right side, too close
                    sl = min(sl, ref - gap) if buy else max(sl, ref + gap)
                else:
                    sl = None if sl is None else sl
                if tp is not None and (tp > ref if buy else tp < ref):
                    tp = max(tp, ref + gap) if buy else min(tp, ref - gap)
                if (sl, tp) != (msg.sl, msg.tp):
                    return replace(msg, sl=sl, tp=tp)
        except BrokerError:
            return None
        return None

    # -- results -----------------------------------------------------------------------------------------------
    def _done(self, job: Job, r: OrderResult, reconciled: bool = False) -> None:
        msg = job.msg
        status = {"order": "filled", "pending": "placed", "modify": "modified", "close": "closed"}[job.kind]
        if job.kind == "order":
            ticket = r.position or r.order
        elif job.kind == "pending":
            ticket = r.order
        else:
            ticket = msg.ticket
        pos = self.ledger.position(ticket) if ticket else None
        symbol = getattr(msg, "symbol", "") or (pos or {}).get("symbol", "")
        side = getattr(msg, "side", "") or (pos or {}).get("side", "")
        detail = dict(getattr(msg, "detail", {}) or {})
        if reconciled:
            detail["reconciled"] = True
        if job.fixed:
            detail["fixed"] = job.notes[-1] if job.notes else True
        out = m.OrderOutcome(intent_id=msg.intent_id, plugin=msg.plugin, status=status, ticket=ticket,
                             symbol=symbol, side=side, price=r.price, volume=r.volume, retcode=r.retcode,
                             reason=r.reason, attempts=max(job.sends, 1), alert_id=getattr(msg, "alert_id", ""),
                             detail=detail, at=job.answered_at if job.answered_at and not reconciled else time.time())
        # asked before the transaction: a terminal's answer can take a while, the ledger's write lock should not
        opened = (self._broker_time_of(ticket, pending=job.kind == "pending")
                  if job.kind in ("order", "pending") and ticket else None)
        with self.ledger.tx():
            event = self._record(job, r, ticket, pos, symbol, side, out, opened)
        self.job = None
        self._answer(job.sender, job.corr, out)
        self.publish("orders", out)
        if event is not None:
            publish_trade(self, event)
        self._alert_outcome(out)
        self._pump()

    def _record(self, job: Job, r: OrderResult, ticket, pos, symbol: str, side: str, out: m.OrderOutcome,
                opened: float | None):
        """The ledger's side of a done intent (one transaction); the TradeEvent to publish, if any."""
        msg = job.msg
        if r.deal:
            self.ledger.mark_seen(r.deal)
        event = None
        if job.kind in ("order", "pending") and ticket:
            self.ledger.add_position(ticket, msg.intent_id, msg.plugin, job.magic, msg.symbol, msg.side,
                                     r.volume or msg.volume, r.price or msg.price or Decimal(0), msg.sl, msg.tp,
                                     state="open" if job.kind == "order" else "pending")
            if opened is not None:
                self.ledger.db.execute("UPDATE positions SET opened_at=? WHERE ticket=?", (opened, ticket))
            if job.kind == "order":
                event = m.TradeEvent(kind="opened", ticket=ticket, symbol=msg.symbol, side=msg.side,
                                     volume=r.volume or msg.volume, price=r.price or Decimal(0), plugin=msg.plugin,
                                     intent_id=msg.intent_id, sl=msg.sl, tp=msg.tp, at=time.time())
        elif job.kind == "modify" and pos is not None:
            sl = msg.sl if msg.sl is not None else (None if pos["sl"] is None else Decimal(pos["sl"]))
            tp = msg.tp if msg.tp is not None else (None if pos["tp"] is None else Decimal(pos["tp"]))
            self.ledger.set_levels(ticket, sl, tp)
            event = m.TradeEvent(kind="modified", ticket=ticket, symbol=symbol, side=side,
                                 volume=Decimal(pos["volume"]), price=Decimal(pos["price"]), plugin=msg.plugin,
                                 intent_id=msg.intent_id, sl=sl, tp=tp, at=time.time())
        elif job.kind == "close":
            vol = r.volume or (Decimal(pos["volume"]) if pos else Decimal(0))
            rest = self.ledger.reduce_position(ticket, vol) if pos else Decimal(0)
            if pos and rest <= 0:
                self.ledger.close_position(ticket, msg.reason or "manual")
            event = m.TradeEvent(kind="closed" if rest <= 0 else "partial", ticket=ticket, symbol=symbol,
                                 side=side, volume=vol, price=r.price or Decimal(0), plugin=msg.plugin,
                                 intent_id=msg.intent_id, reason=msg.reason or "manual", at=time.time())
        self.ledger.finish(msg.intent_id, "done", ticket, outcome_dict(out))
        return event

    def _reject(self, job: Job, reason: str, retcode: int | None, persist: bool = True,
                status: str = "rejected") -> None:
        msg = job.msg
        self.rejected += 1
        out = m.OrderOutcome(intent_id=msg.intent_id, plugin=msg.plugin, status=status,
                             ticket=getattr(msg, "ticket", None), symbol=getattr(msg, "symbol", ""),
                             side=getattr(msg, "side", ""), retcode=retcode, reason=reason,
                             attempts=job.sends, alert_id=getattr(msg, "alert_id", ""),
                             detail={**(getattr(msg, "detail", {}) or {}), "tries": list(job.notes)},
                             at=time.time())
        if persist:
            self.ledger.finish(msg.intent_id, "unknown" if status == "unknown" else "rejected", None,
                               outcome_dict(out))
        if self.job is job:
            self.job = None
        what = f"{getattr(msg, 'side', '')} {getattr(msg, 'volume', '') or ''} {getattr(msg, 'symbol', '')}".strip()
        self.notify("order_rejected", "HIGH", f"{msg.plugin}: order {what or type(msg).__name__} {status}: {reason}",
                    intent_id=msg.intent_id, alert_id=getattr(msg, "alert_id", ""))
        self._answer(job.sender, job.corr, out)
        self.publish("orders", out)
        self._alert_outcome(out)
        self._pump()

    def _answer(self, sender, corr: str, out: m.OrderOutcome) -> None:
        if isinstance(sender, str):
            sender = self.peer(sender)
        if sender is None:
            return
        if corr:
            text = (f"{out.status}: ticket {out.ticket} {out.side} {out.volume or ''} {out.symbol} "
                    f"@ {out.price}" if out.status not in ("rejected", "unknown") else f"{out.status}: {out.reason}")
            self.tell(sender, m.CommandReply(corr=corr, ok=out.status not in ("rejected", "unknown"), text=text,
                                             data=outcome_dict(out)))
        else:
            self.tell(sender, out)

    def _alert_outcome(self, out: m.OrderOutcome) -> None:
        if not out.alert_id:
            return
        ok = out.status not in ("rejected", "unknown")
        # "executed" at the time the broker accepted the order (the outcome's time); when the gateway reported it,
        # after its own ledger write, is in the detail
        self.tell_peer(WEBHOOK, m.AlertOutcome(
            alert_id=out.alert_id, status="executed" if ok else "rejected", source=self.path,
            reason="" if ok else out.reason,
            detail={"intent_id": out.intent_id, "ticket": out.ticket, "price": out.price, "volume": out.volume,
                    "order_status": out.status, "reported_at": time.time()}, at=out.at or time.time()))

    def _broker_time_of(self, ticket: int, pending: bool) -> float | None:
        """The broker's time of a new position/order: deal scans start there (a broker clock may differ)."""
        try:
            r = self.broker.order(ticket) if pending else self.broker.position(ticket)
        except BrokerError:
            return None
        return None if r is None else (r.placed_at if pending else r.opened_at).timestamp()

    # -- reconciliation ----------------------------------------------------------------------------------------
    def _find(self, row: dict | None) -> OrderResult | None:
        """Is this intent already executed at the broker? (by magic and the intent tag in the comment)"""
        if row is None:
            return None
        tag, magic, req, iid = row["tag"], row["magic"], row["request"], row["intent_id"]
        mine = lambda c: str(c).startswith(tag)  # noqa: E731
        since = _now_utc() - timedelta(hours=self.bcfg["deal_lookback_hours"])
        if row["kind"] == "order":
            for p in self.broker.positions(magic=magic):
                if mine(p.comment) or p.intent_id == iid:
                    return OrderResult(iid, RetcodeClass.OK, "found on the account", order=p.ticket,
                                       position=p.ticket, volume=p.volume, price=p.price_open, reconciled=True)
            for d in self.broker.deals(since, magic=magic):
                if d.entry is DealEntry.IN and (mine(d.comment) or d.intent_id == iid):
                    return OrderResult(iid, RetcodeClass.OK, "found in the deal history", order=d.order,
                                       position=d.position_id, deal=d.ticket, volume=d.volume, price=d.price,
                                       reconciled=True)
        elif row["kind"] == "pending":
            for o in self.broker.orders(magic=magic):
                if mine(o.comment) or o.intent_id == iid:
                    return OrderResult(iid, RetcodeClass.OK, "found on the account", order=o.ticket,
                                       volume=o.volume, price=o.price, reconciled=True)
            for d in self.broker.deals(since, magic=magic):
                if d.entry is DealEntry.IN and (mine(d.comment) or d.intent_id == iid):
                    return OrderResult(iid, RetcodeClass.OK, "found filled in the deal history", order=d.order,
                                       volume=d.volume, price=d.price, reconciled=True)
        elif row["kind"] == "close":
            for d in self.broker.deals(since):
                if d.entry is DealEntry.OUT and (mine(d.comment) or d.intent_id == iid):
                    return OrderResult(iid, RetcodeClass.OK, "found in the deal history", position=d.position_id,
                                       deal=d.ticket, volume=d.volume, price=d.price, reconciled=True)
        elif row["kind"] == "modify":
            ticket = int(req["ticket"])
            for p in self.broker.positions():
                if p.ticket == ticket:
                    want_sl = req.get("sl")
                    want_tp = req.get("tp")
                    if (want_sl is None or p.sl == Decimal(str(want_sl))) and \
                            (want_tp is None or p.tp == Decimal(str(want_tp))):
                        return OrderResult(iid, RetcodeClass.OK, "levels found on the position", position=ticket,
                                           reconciled=True)
        return None

    def _reconcile(self) -> None:
        """At (re)connect and every reconcile_interval: intents left unfinished, positions with our magic the
        ledger does not know (adopted), ledger positions gone from the broker (closed from the deal history)."""
        self.last_reconcile = time.monotonic()
        try:
            for row in self.ledger.unfinished():
                if self.job is not None and self.job.msg.intent_id == row["intent_id"]:
                    continue
                self._resolve_unfinished(row)
            magics = set(self.magics.values())
            by_magic = {v: k for k, v in self.magics.items()}
            # tickets first (cheap); whole positions only for tickets we have not seen (over rpyc a whole
            # position is ~20 round trips, and a reconcile of hundreds of them outlasted the hang timeout)
            tickets = self.broker.position_tickets()
            self._scan_deals()
            known = {p["ticket"]: p for p in self.ledger.open_positions()}
            live = {}
            for ticket in sorted(tickets - set(known) - self.foreign):
                p = self.broker.position(ticket)
                if p is None:
                    continue
                if p.magic not in magics:
                    self.foreign.add(ticket)   # the trader's own or another EA's: not ours to manage
                    continue
                live[ticket] = p
            for ticket, p in live.items():
                iid = p.intent_id
                if iid is None and str(p.comment).startswith(TAG_PREFIX):
                    r = self.ledger.db.execute("SELECT intent_id FROM intents WHERE tag=?",
                                               (str(p.comment)[:12],)).fetchone()
                    iid = r[0] if r else None
                plugin = by_magic.get(p.magic, "unknown")
                self.ledger.add_position(ticket, iid, plugin, p.magic, p.symbol, p.side.value, p.volume,
                                         p.price_open, p.sl, p.tp)
                self.ledger.db.execute("UPDATE positions SET opened_at=? WHERE ticket=?",
                                       (p.opened_at.timestamp(), ticket))
                if iid:
                    row = self.ledger.intent(iid)
                    if row is not None and row["state"] in ("pending", "unknown", "rejected"):
                        self._late_fill(row, p)
                self.notify("position_adopted", "MEDIUM",
                            f"{plugin}: position {ticket} {p.side.value} {p.volume} {p.symbol} with our magic "
                            f"{p.magic} was not in the gateway's records; adopted", ticket=ticket)
                publish_trade(self, m.TradeEvent(kind="opened", ticket=ticket, symbol=p.symbol,
                                                    side=p.side.value, volume=p.volume, price=p.price_open,
                                                    plugin=plugin, intent_id=iid or "", sl=p.sl, tp=p.tp,
                                                    reason="adopted", at=time.time()))
            open_orders = None
            for ticket, row in known.items():
                if ticket in tickets or row["state"] != "open":
                    continue
                # gone from the broker and no deal explains it (yet): close the record, say so
                self.ledger.close_position(ticket, "vanished")
                publish_trade(self, m.TradeEvent(kind="closed", ticket=ticket, symbol=row["symbol"],
                                                    side=row["side"], volume=Decimal(row["volume"]),
                                                    price=Decimal(0), plugin=row["plugin"],
                                                    intent_id=row["intent_id"] or "",
                                                    reason="not found at the broker", at=time.time()))
            for row in self.ledger.db.execute("SELECT * FROM positions WHERE state='pending'").fetchall():
                if open_orders is None:
                    open_orders = {o.ticket for o in self.broker.orders()}
                if row["ticket"] not in open_orders and row["ticket"] not in tickets:
                    self.ledger.close_position(row["ticket"], "cancelled")
        except BrokerUnavailable as exc:
            self._lost(str(exc))

    def _resolve_unfinished(self, row: dict) -> None:
        found = self._find(row)
        req = row["request"]
        msg_plugin = row["plugin"]
        if found is None:
            out = m.OrderOutcome(intent_id=row["intent_id"], plugin=msg_plugin, status="rejected",
                                 symbol=row["symbol"], side=req.get("side", ""), alert_id=req.get("alert_id", ""),
                                 reason="not sent: the gateway stopped before the broker answered and the order "
                                        "is not on the account", at=time.time())
            self.ledger.finish(row["intent_id"], "rejected", None, outcome_dict(out))
            self.log.warning("%s: unfinished intent %s not found at the broker: rejected", self.path,
                             row["intent_id"])
            self.publish("orders", out)
            self._alert_outcome(out)
            return
        self.log.warning("%s: unfinished intent %s found at the broker: %s", self.path, row["intent_id"],
                         found.reason)
        job = Job(msg=_rebuild(row), sender=None, magic=row["magic"], kind=row["kind"])
        self.job, held = job, self.job
        self._done(job, found, reconciled=True)
        self.job = held

    def _late_fill(self, row: dict, p) -> None:
        out = m.OrderOutcome(intent_id=row["intent_id"], plugin=row["plugin"], status="filled", ticket=p.ticket,
                             symbol=p.symbol, side=p.side.value, price=p.price_open, volume=p.volume,
                             reason="found on the account after all", alert_id=row["request"].get("alert_id", ""),
                             detail={"reconciled": True, "late": True}, at=time.time())
        self.ledger.finish(row["intent_id"], "done", p.ticket, outcome_dict(out))
        self.publish("orders", out)
        self._alert_outcome(out)

    def _scan_deals(self) -> None:
        """Deals of positions the ledger holds: closes we did not make, filled pending orders."""
        rows = {r["ticket"]: dict(r) for r in self.ledger.db.execute(
            "SELECT * FROM positions WHERE state IN ('open', 'pending')").fetchall()}
        if not rows:
            return
        since = datetime.fromtimestamp(min(r["opened_at"] for r in rows.values()) - 1.0, tz=timezone.utc)
        for d in self.broker.deals(since):
            row = rows.get(d.position_id)
            if row is None or self.ledger.seen(d.ticket):
                continue
            self.ledger.mark_seen(d.ticket)
            if d.entry is DealEntry.IN:
                if row["state"] == "pending":
                    self.ledger.db.execute("UPDATE positions SET state='open', price=?, volume=? WHERE ticket=?",
                                           (str(d.price), str(d.volume), row["ticket"]))
                    row["state"] = "open"
                    publish_trade(self, m.TradeEvent(kind="pending_filled", ticket=row["ticket"],
                                                        symbol=d.symbol, side=row["side"], volume=d.volume,
                                                        price=d.price, plugin=row["plugin"],
                                                        intent_id=row["intent_id"] or "", at=time.time()))
                continue
            if str(d.comment).startswith(TAG_PREFIX):
                r = self.ledger.db.execute("SELECT state FROM intents WHERE tag=? AND kind='close'",
                                           (str(d.comment)[:12],)).fetchone()
                if r is not None and r[0] == "done":
                    continue   # our own close, reported when it was made
            rest = self.ledger.reduce_position(row["ticket"], d.volume)
            reason = d.reason or CloseReason.OTHER
            kind = _CLOSE_KIND.get(reason) or ("partial" if rest > 0 else "closed")
            if rest <= 0:
                self.ledger.close_position(row["ticket"], reason.value)
            self.log.info("%s: position %s %s by the broker (%s) @ %s", self.path, row["ticket"], kind,
                          reason.value, d.price)
            publish_trade(self, m.TradeEvent(kind=kind, ticket=row["ticket"], symbol=d.symbol, side=row["side"],
                                                volume=d.volume, price=d.price, plugin=row["plugin"],
                                                intent_id=row["intent_id"] or "", profit=d.profit,
                                                reason=reason.value, at=time.time()))

    # -- prices, queries, commands -----------------------------------------------------------------------------
    @handles(m.AlertPrice)
    def _on_alert_price(self, msg: m.AlertPrice, sender) -> None:
        if self.adapter != "paper" or not self.connected:
            return
        # The price comes twice per alert (AlertPrice, then on each intent): once is enough
        key = (msg.price, msg.at)
        if msg.at > 0 and self._last_alert_price.get(msg.symbol) == key:
            return
        self._last_alert_price[msg.symbol] = key
        at = datetime.fromtimestamp(msg.at, tz=timezone.utc) if msg.at > 0 else _now_utc()
        try:
            moved = self.broker.observe_price(msg.symbol, msg.price, at)
        except BrokerError as exc:
            self.log.warning("%s: alert price %s %s ignored: %s", self.path, msg.symbol, msg.price, exc)
            return
        if moved.deals:
            # an SL/TP or pending order hit at the new price; without deals there is nothing to scan (the scan
            # reads every deal since the oldest open position, which grows with the book)
            self._scan_deals()

    @handles(m.TickPoll)
    def _on_tick_poll(self, msg: m.TickPoll, sender) -> None:
        ticks, errors = [], {}
        if self.connected:
            try:
                if self.adapter == "paper":
                    self.broker.advance(_now_utc())
                for sym in msg.symbols:
                    try:
                        t = self.broker.tick(str(sym))
                        ticks.append((t.symbol, t.bid, t.ask, t.time.timestamp()))
                    except BrokerUnavailable:
                        raise
                    except BrokerError as exc:
                        errors[str(sym)] = str(exc)
            except BrokerUnavailable as exc:
                self._lost(str(exc))
        self.tell(sender, m.TickBatch(corr=msg.corr, ticks=tuple(ticks), connected=self.connected, errors=errors))

    @handles(m.BrokerQuery)
    def _on_query(self, msg: m.BrokerQuery, sender) -> None:
        self.tell(sender, self._query(msg.corr, msg.what, msg.args))

    def _query(self, corr: str, what: str, args: dict) -> m.BrokerReply:
        if what == "status":
            return m.BrokerReply(corr=corr, ok=True, data=self.status_data())
        if what == "void":      # the ledger's business: answered with the terminal down as well
            if not args.get("intent_id"):
                return m.BrokerReply(corr=corr, ok=False, error="void needs intent_id")
            return m.BrokerReply(corr=corr, ok=True, data=self._void(str(args["intent_id"]), str(args.get(
                "plugin", "")), str(args.get("reason", ""))))
        if not self.connected:
            return m.BrokerReply(corr=corr, ok=False, error=f"broker unreachable: {self.conn_error}")
        try:
            if what == "account":
                data = _plain(self.broker.account())
            elif what == "positions":
                data = {"positions": _plain(self.broker.positions(args.get("symbol"), args.get("magic")))}
            elif what == "orders":
                data = {"orders": _plain(self.broker.orders(args.get("symbol"), args.get("magic")))}
            elif what == "deals":
                since = datetime.fromtimestamp(float(args.get("since", time.time() - 86400)), tz=timezone.utc)
                data = {"deals": _plain(self.broker.deals(since, args.get("magic")))}
            elif what == "symbol":
                info = self.broker.symbol_info(str(args["symbol"]))
                data = _plain(info)
                # MetaTrader's own names as well: strategies.risk.pips reads symbol facts under them
                data.update(trade_tick_value=str(info.tick_value), trade_tick_size=str(info.tick_size),
                            trade_contract_size=str(info.contract_size))
            elif what == "tick":
                data = _plain(self.broker.tick(str(args["symbol"])))
            else:
                return m.BrokerReply(corr=corr, ok=False, error=f"unknown query {what!r}: account | positions | "
                                                                 "orders | deals | symbol | tick | void | status")
        except KeyError as exc:
            return m.BrokerReply(corr=corr, ok=False, error=f"missing argument {exc}")
        except BrokerUnavailable as exc:
            self._lost(str(exc))
            return m.BrokerReply(corr=corr, ok=False, error=f"broker unreachable: {exc}")
        except BrokerError as exc:
            return m.BrokerReply(corr=corr, ok=False, error=str(exc))
        return m.BrokerReply(corr=corr, ok=True, data=data)

    def _void(self, intent_id: str, plugin: str, reason: str) -> dict:
        """What became of an intent whose owner lost track of it (its risk verdict was lost to a restart or came too
        late): the ledger's outcome if the intent arrived, {"state": "pending"} while it is being worked on; else it
        is voided now, so that a copy still on its way is refused, never placed."""
        prev = self.ledger.intent(intent_id)
        if prev is None:
            out = m.OrderOutcome(intent_id=intent_id, plugin=plugin, status="rejected",
                                 reason=f"voided by its owner before it reached the broker: {reason}",
                                 at=time.time())
            with self.ledger.tx():
                self.ledger.begin(intent_id, "order", plugin, self.magics.get(plugin, 0), "", {"voided": reason})
                self.ledger.finish(intent_id, "rejected", None, outcome_dict(out))
            self.log.info("%s: intent %s voided (%s)", self.path, intent_id, reason)
            return {"state": "rejected", "outcome": outcome_dict(out)}
        if prev["state"] == "pending" or prev["outcome"] is None:
            return {"state": "pending"}
        return {"state": prev["state"], "outcome": prev["outcome"]}

    def on_command(self, msg: m.Command, sender):
        a = msg.args
        if msg.name == "simulation":
            return self._simulation(msg)
        if msg.name in ("broker", "positions", "account"):
            q = {"broker": "account", "positions": "positions", "account": "account"}[msg.name]
            r = self._query(msg.corr, q, {})
            data = {"adapter": self.adapter, "connected": self.connected, "connection_error": self.conn_error,
                    **({"account": r.data} if q == "account" and r.ok else {}),
                    **(r.data if q == "positions" and r.ok else {})}
            return m.CommandReply(corr=msg.corr, ok=r.ok or msg.name == "broker", text=r.error or "ok", data=data)
        try:
            if msg.name == "order":
                side = str(a["side"]).upper()
                intent = m.OrderIntent(intent_id=f"manual-{uuid.uuid4().hex}", plugin="manual",
                                       symbol=str(a["symbol"]), side=side, volume=to_decimal(str(a["volume"])),
                                       sl=None if a.get("sl") is None else to_decimal(str(a["sl"])),
                                       tp=None if a.get("tp") is None else to_decimal(str(a["tp"])),
                                       comment="manual", detail={"user": msg.user})
            elif msg.name == "close":
                intent = m.CloseIntent(intent_id=f"manual-{uuid.uuid4().hex}", plugin="manual",
                                       ticket=int(a["ticket"]),
                                       volume=None if a.get("volume") is None else to_decimal(str(a["volume"])),
                                       reason="manual", detail={"user": msg.user})
            else:
                return super().on_command(msg, sender)
        except (KeyError, ValueError, TypeError, ArithmeticError, BrokerError) as exc:
            return m.CommandReply(corr=msg.corr, ok=False, text=f"bad arguments for {msg.name}: {exc}")
        self.queue.append((intent, sender, msg.corr))
        self._pump()
        return None


def _rebuild(row: dict):
    """The intent message of a ledger row (for outcomes of intents resolved after a restart)."""
    req = dict(row["request"])
    for k in ("volume", "price", "sl", "tp"):
        if req.get(k) is not None:
            req[k] = Decimal(str(req[k]))
    cls = {"order": m.OrderIntent, "pending": m.OrderIntent, "modify": m.ModifyIntent,
           "close": m.CloseIntent}[row["kind"]]
    return cls(**req)


def _crash_point(name: str) -> None:
    """Test hook: SIGKILL this process at a named point once, when ZEPIX_TEST_DIR/broker_crash_<name> exists."""
    d = os.environ.get("ZEPIX_TEST_DIR")
    if not d:
        return
    p = os.path.join(d, f"broker_crash_{name}")     # (os.path: pathlib cost 0.1 ms a send on the order's path)
    if os.path.exists(p):
        os.unlink(p)
        os.kill(os.getpid(), signal.SIGKILL)
