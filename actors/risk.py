"""`RiskActor` at trading/risk: the single writer of account risk (DECISIONS §13-15).

It keeps the loss counters and the trading state (ACTIVE / REDUCING / HALTED) in data_dir/risk.db, counts every
realised result it sees on broker/gateway's "trades" topic, refreshes the balance from the broker, applies the
daily reset at `risk.daily_reset` in `risk.timezone`, and answers every `RiskCheck` with a `RiskVerdict`: each
opening order approved at the volume the caps allow (cut when its risk grows with the volume), or refused with
the reason; closes and SL tightening always pass. Every state change is notified as CRITICAL and published on
topic "risk" (`RiskState`). Commands: status, pause, resume, kill_switch (args on=true|false), clear_daily_loss,
clear_loss_data, set_balance (args balance); set_cap (args which=daily|lifetime, amount: the cap of the
tier in force, written through ops/config), lots (lot per tier), sl_config (the SL table of the tier in force).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path

from actors import messages as m
from actors.base import ZepixActor, handles
from gateways.storage.migrations import Migration, migrate
from gateways.storage.sqlite import open_db
from strategies.risk import state as R
from strategies.risk.pips import floor_to_step
from strategies.risk.settings import RiskSettings
from strategies.risk.side import Side
from strategies.risk.tiers import lot_for_tier

GATEWAY = "broker/gateway"
CONFIG = "ops/config"
CAP_FIELDS = {"daily": "daily_loss_cap", "lifetime": "lifetime_loss_cap"}

MIGRATIONS = [Migration(1, "risk", """
CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,               -- state | reset | close | command
    detail TEXT NOT NULL
);
CREATE TABLE seen_closes (key TEXT PRIMARY KEY, at REAL NOT NULL);
""")]

_CLOSING_KINDS = ("closed", "partial", "sl_hit", "tp_hit")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _dec(value, default: Decimal | None = None) -> Decimal | None:
    if value is None or value == "":
        return default
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


class RiskActor(ZepixActor):
    fast_mail = True      # on every alert's path: waits for its mailbox itself (actors/base.py)

    def setup(self) -> None:
        self.settings = RiskSettings.from_mapping(self.config.get("risk") or {})
        self.tcfg = self.config["trading"]
        path = Path(self.config["system"]["data_dir"]) / "risk.db"
        self.db = open_db(path)
        migrate(self.db, MIGRATIONS, str(path))
        row = self.db.execute("SELECT value FROM kv WHERE key='state'").fetchone()
        now = utcnow()
        if row:
            self.state = R.RiskState.from_dict(json.loads(row["value"]))
            self._apply(R.roll(self.state, now, self.settings), "start")
        else:
            self.state = R.initial_state(Decimal(str(self.tcfg["starting_balance"])), now, self.settings)
            self._save()
        self.balance_corr = ""
        self.forwarded = 0                      # approved intents sent on to broker/gateway from here
        self.relays: dict[str, tuple] = {}      # our corr at ops/config -> (asker's corr, asker, what)
        self.subscribe_to(GATEWAY, "trades")
        self.after(float(self.tcfg["risk_tick"]), "tick")
        self.after(0.0, "balance")

    # -- persistence and publication -----------------------------------------------------------------------------
    def _save(self) -> None:
        with self.db:
            self.db.execute("INSERT INTO kv(key, value, updated_at) VALUES ('state', ?, ?) ON CONFLICT(key) DO "
                            "UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
                            (json.dumps(self.state.to_dict()), time.time()))

    def _event(self, kind: str, detail: dict) -> None:
        with self.db:
            self.db.execute("INSERT INTO events(at, kind, detail) VALUES (?, ?, ?)",
                            (utcnow().isoformat(), kind, json.dumps(detail, default=str)))

    def _apply(self, result: tuple[R.RiskState, list], cause: str) -> None:
        new, events = result
        changed = new != self.state
        self.state = new
        for ev in events:
            if isinstance(ev, R.StateChanged):
                self._event("state", {"old": ev.old.value, "new": ev.new.value, "reason": ev.reason, "cause": cause})
                text = f"Trading {ev.old.value} -> {ev.new.value}: {ev.reason or cause}"
                self.notify("risk_state", ev.priority, text, old=ev.old.value, new=ev.new.value)
            elif isinstance(ev, R.DailyReset):
                self._event("reset", {"daily_loss": str(ev.daily_loss), "daily_profit": str(ev.daily_profit)})
        if changed or events:
            self._save()
            self._publish()

    def _snapshot(self) -> m.RiskState:
        s = self.state
        tier = R.current_tier(s, self.settings)
        return m.RiskState(state=s.status.value, reason=s.reason, balance=str(s.balance), tier=tier.name,
                           daily_loss=str(s.daily_loss), daily_profit=str(s.daily_profit),
                           lifetime_loss=str(s.lifetime_loss), headroom=str(R.headroom(s, self.settings)),
                           at=time.time())

    def _publish(self) -> None:
        self.publish("risk", self._snapshot())

    def _on_event_subscribe(self, msg, sender) -> None:
        super()._on_event_subscribe(msg, sender)
        if msg.subscribe and "risk" in msg.topics:
            self.tell(sender, self._snapshot())   # a new subscriber learns the current figures at once

    # -- timers ------------------------------------------------------------------------------------------------
    def on_timer(self, key) -> None:
        if key == "tick":
            self._apply(R.roll(self.state, utcnow(), self.settings), "daily reset")
            self.after(float(self.tcfg["risk_tick"]), "tick")
        elif isinstance(key, tuple) and key[0] == "relay":
            self.relays.pop(key[1], None)
        elif key == "balance":
            self.balance_corr = f"risk-balance-{time.monotonic_ns()}"
            self.tell_peer(GATEWAY, m.BrokerQuery(corr=self.balance_corr, what="account"))
            self.after(float(self.tcfg["balance_refresh"]), "balance")

    @handles(m.BrokerReply)
    def _on_broker_reply(self, msg: m.BrokerReply, sender) -> None:
        if msg.corr != self.balance_corr or not msg.ok:
            return
        try:
            balance = _dec(msg.data.get("balance"))
        except ValueError as exc:
            self.log.warning("%s: bad balance from the broker: %s", self.path, exc)
            return
        if balance is not None and balance != self.state.balance:
            self._apply(R.update_balance(self.state, balance, utcnow(), self.settings), "balance")

    def on_directory(self, previous: dict) -> None:
        if self.peer(GATEWAY) is not None and previous.get(GATEWAY) != self.peer(GATEWAY):
            self.balance_corr = f"risk-balance-{time.monotonic_ns()}"
            self.tell_peer(GATEWAY, m.BrokerQuery(corr=self.balance_corr, what="account"))

    # -- realised results --------------------------------------------------------------------------------------
    @handles(m.TradeEvent)
    def _on_trade(self, msg: m.TradeEvent, sender) -> None:
        if msg.kind not in _CLOSING_KINDS or msg.profit is None:
            return
        key = f"{msg.ticket}:{msg.kind}:{msg.intent_id}:{msg.volume}:{msg.at}"
        with self.db:
            cur = self.db.execute("INSERT OR IGNORE INTO seen_closes(key, at) VALUES (?, ?)", (key, time.time()))
        if cur.rowcount == 0:
            return   # the same close reported twice (a gateway restart replays) counts once
        self._event("close", {"ticket": msg.ticket, "plugin": msg.plugin, "profit": str(msg.profit)})
        self._apply(R.record_close(self.state, Decimal(msg.profit), utcnow(), self.settings),
                    f"trade {msg.ticket} closed at {msg.profit}")

    # -- the check ---------------------------------------------------------------------------------------------
    @handles(m.RiskCheck)
    def _on_check(self, msg: m.RiskCheck, sender) -> None:
        now = utcnow()
        self._apply(R.roll(self.state, now, self.settings), "daily reset")
        items, reasons = [], []
        working = self.state
        for order in msg.orders:
            try:
                item, working = self._check_one(order, working, now)
            except (KeyError, ValueError, TypeError) as exc:
                item = {"role": order.get("role", "") if isinstance(order, dict) else "", "ok": False,
                        "volume": "0", "reason": f"bad order in the risk check: {exc}"}
            items.append(item)
            if not item["ok"]:
                reasons.append(f"{item['role']}: {item['reason']}" if item["role"] else item["reason"])
        ok = any(i["ok"] for i in items)
        reason = "; ".join(reasons)
        if not ok and not reason:
            reason = "nothing to check"
        self._forward(msg, items)
        self.tell(sender, m.RiskVerdict(corr=msg.corr, ok=ok, orders=tuple(items), reason=reason,
                                        state=self.state.status.value))
        # a refusal (or a cut) is worth a line; an approval is in the plugin's database and the journal already,
        # and a log record is one more message through this actor's transport before the next check
        self.log.log(logging.INFO if reason else logging.DEBUG, "%s: check %s for %s alert %s -> %s %s", self.path,
                     msg.corr, msg.plugin, msg.alert_id, "ok" if ok else "refused", reason)

    def _forward(self, msg: m.RiskCheck, items: list) -> None:
        """Each approved order's intent goes to broker/gateway from here, at the approved volume: the order's
        shortest way (NautilusTrader's RiskEngine -> ExecutionEngine); the gateway answers the plugin (reply_to).
        Only an intent that is exactly the order checked (same role, symbol, side) goes; anything else, and every
        intent while no gateway is in the directory, stays with the plugin, which sends what was approved."""
        gateway = self.peer(GATEWAY) if msg.intents else None
        for order, item, intent in zip(msg.orders, items, msg.intents):
            item["forwarded"] = False
            checked = isinstance(intent, m.OrderIntent) and isinstance(order, dict) and (
                intent.detail.get("order"), intent.symbol, intent.side) == (
                item["role"], order.get("broker_symbol", order.get("symbol")), order.get("side"))
            if gateway is None or not item["ok"] or not checked:
                continue
            self.tell(gateway, replace(intent, volume=Decimal(item["volume"])))
            item["forwarded"] = True
            self.forwarded += 1

    def _check_one(self, order: dict, working: R.RiskState, now: datetime) -> tuple[dict, R.RiskState]:
        role = str(order.get("role", ""))
        kind = R.IntentKind(str(order.get("kind", "OPEN")))
        volume = _dec(order.get("volume"), Decimal(0))
        risk = _dec(order.get("risk"))
        intent = R.Intent(kind=kind, symbol=str(order["symbol"]), side=Side.parse(order["side"]), lots=volume,
                          risk=risk, old_sl=_dec(order.get("old_sl")), new_sl=_dec(order.get("new_sl")))
        verdict = R.check_intent(working, intent, now, self.settings)
        if isinstance(verdict, R.Approved):
            return {"role": role, "ok": True, "volume": str(volume), "reason": ""}, self._reserve(working, risk)
        # a risk that grows with the volume can be brought within the caps by a smaller volume
        if (kind is R.IntentKind.OPEN and working.status is R.TradingState.ACTIVE and risk and risk > 0
                and volume > 0 and not order.get("fixed_risk")):
            room = R.headroom(working, self.settings)
            step = _dec(order.get("volume_step"), Decimal("0.01"))
            vmin = _dec(order.get("volume_min"), step)
            cut = floor_to_step(room / (risk / volume), step)
            if cut >= vmin:
                cut_risk = risk * cut / volume
                return ({"role": role, "ok": True, "volume": str(cut),
                         "reason": f"cut from {volume} to {cut} lots to keep the SL loss within {room}"},
                        self._reserve(working, cut_risk))
        return {"role": role, "ok": False, "volume": "0", "reason": verdict.reason}, working

    @staticmethod
    def _reserve(working: R.RiskState, risk: Decimal | None) -> R.RiskState:
        # the orders of one check share the headroom: the second must fit what the first leaves
        if not risk:
            return working
        return replace(working, daily_loss=working.daily_loss + risk, lifetime_loss=working.lifetime_loss + risk)

    # -- commands ----------------------------------------------------------------------------------------------
    def on_command(self, msg: m.Command, sender):
        now = utcnow()
        name = msg.name
        try:
            if name == "status":
                pass
            elif name == "pause":
                self._apply(R.set_paused(self.state, True, now, self.settings), f"/pause by {msg.user}")
            elif name == "resume":
                self._apply(R.set_paused(self.state, False, now, self.settings), f"/resume by {msg.user}")
            elif name == "kill_switch":
                on = msg.args.get("on", True)
                if not isinstance(on, bool):
                    raise ValueError("kill_switch needs on=true or on=false")
                self._apply(R.set_kill_switch(self.state, on, now, self.settings), f"kill switch by {msg.user}")
            elif name == "clear_daily_loss":
                self._apply(R.clear_daily_loss(self.state, now, self.settings), f"daily loss cleared by {msg.user}")
            elif name == "clear_loss_data":
                self._apply(R.clear_loss_data(self.state, now, self.settings), f"loss data cleared by {msg.user}")
            elif name == "set_cap":
                return self._set_cap(msg, sender)
            elif name == "lots":
                return self._lots(msg)
            elif name == "sl_config":
                return self._sl_config(msg)
            elif name == "set_balance":
                bal = _dec(msg.args.get("balance"))
                if bal is None or bal < 0:
                    raise ValueError("set_balance needs balance >= 0")
                self._apply(R.update_balance(self.state, bal, now, self.settings), f"balance set by {msg.user}")
            else:
                return m.CommandReply(corr=msg.corr, ok=False, text=f"{self.path} has no command {name!r}; known: "
                                      "status, pause, resume, kill_switch, clear_daily_loss, clear_loss_data, "
                                      "set_balance, set_cap, lots, sl_config")
        except ValueError as exc:
            return m.CommandReply(corr=msg.corr, ok=False, text=str(exc))
        if name != "status":
            self._event("command", {"name": name, "user": msg.user, "args": msg.args})
        snap, status = self._snapshot(), self._status()
        text = f"{snap.state}" + (f" ({snap.reason})" if snap.reason else "") + \
            f"; daily loss {snap.daily_loss}, lifetime loss {snap.lifetime_loss}, tier {snap.tier}" + \
            f"; caps: daily {status['daily_loss_cap']}, lifetime {status['lifetime_loss_cap']}"
        return m.CommandReply(corr=msg.corr, ok=True, text=text, data=status)

    # -- settings seen from the tier in force ------------------------------------------------------------------
    def _set_cap(self, msg: m.Command, sender):
        """The cap of the tier in force (this actor knows the balance) written through ops/config; the answer of
        ops/config (after the actors applied it) is relayed to the asker."""
        which = msg.args.get("which")
        if which not in CAP_FIELDS:
            raise ValueError(f"set_cap needs which = {' | '.join(CAP_FIELDS)}, got {which!r}")
        amount = _dec(msg.args.get("amount"))
        if amount is None or amount <= 0:
            raise ValueError(f"the {which} loss cap must be a number > 0, got {msg.args.get('amount')!r}")
        tier = R.current_tier(self.state, self.settings).name
        key = f"risk.tiers.{tier}.{CAP_FIELDS[which]}"
        value = int(amount) if amount == amount.to_integral_value() else float(amount)
        corr = f"risk-cap-{time.monotonic_ns()}"
        if not self.tell_peer(CONFIG, m.Command(corr=corr, name="set", args={"key": key, "value": value},
                                                user=msg.user)):
            raise ValueError(f"{CONFIG} is not running, so the cap cannot be changed now")
        self.relays[corr] = (msg.corr, sender, f"tier {tier}: {which} loss cap -> {amount}")
        # ops/config answers after its apply timeout; an answer that never comes must not be kept forever
        apply_timeout = float(self.config.get("ops", {}).get("config", {}).get("apply_timeout", 5.0))
        self.after(apply_timeout + 30.0, ("relay", corr))
        return None

    @handles(m.CommandReply)
    def _on_config_reply(self, msg: m.CommandReply, sender) -> None:
        relay = self.relays.pop(msg.corr, None)
        if relay is None:
            return
        corr, asker, what = relay
        self.tell(asker, m.CommandReply(corr=corr, ok=msg.ok, text=f"{what}\n{msg.text}", data=msg.data))

    def _lots(self, msg: m.Command) -> m.CommandReply:
        s, current = self.settings, R.current_tier(self.state, self.settings)
        rows, lines = [], []
        for t in s.tiers:
            lot = lot_for_tier(t, s.lot_overrides)
            override = t.balance in s.lot_overrides
            rows.append({"tier": t.name, "lot": str(lot), "base_lot": str(t.lot), "override": override,
                         "current": t is current})
            lines.append(f"{'▶ ' if t is current else ''}{t.name}: {lot}" + (f" (manual; base {t.lot})" if override
                                                                                else ""))
        mode = "pinned" if s.pinned_tier is not None else "by balance"
        mult = ", ".join(f"{k} x{v}" for k, v in s.logic_lot_multipliers.items()) \
            if s.logic_multipliers_enabled else "off (x1)"
        lines.append(f"tier in force: {current.name} ({mode}); logic multipliers: {mult}")
        return m.CommandReply(corr=msg.corr, ok=True, text="\n".join(lines),
                              data={"tiers": rows, "tier": current.name, "pinned": s.pinned_tier is not None})

    def _sl_config(self, msg: m.Command) -> m.CommandReply:
        st, tier = self.settings.stops, R.current_tier(self.state, self.settings)
        table = st.systems.get(st.active_system, {})
        pips = {sym: str(row.get(tier.balance, "")) for sym, row in table.items()}
        reductions = {sym: str(v) for sym, v in st.symbol_reductions.items()}
        lines = [f"SL system {'on' if st.enabled else 'OFF (risk per tier)'}: {st.active_system}, tier {tier.name}"]
        lines += [f"{sym}: {p} pips" + (f" -{reductions[sym]}%" if sym in reductions else "")
                  for sym, p in pips.items()]
        lines.append("symbol reductions: " + (", ".join(f"{k} {v}%" for k, v in reductions.items()) or "none"))
        return m.CommandReply(corr=msg.corr, ok=True, text="\n".join(lines),
                              data={"enabled": st.enabled, "active_system": st.active_system, "tier": tier.name,
                                    "pips": pips, "symbol_reductions": reductions})

    def _status(self) -> dict:
        s = self._snapshot()
        tier = R.current_tier(self.state, self.settings)
        return {"state": s.state, "reason": s.reason, "balance": s.balance, "tier": s.tier,
                "tier_pinned": self.settings.pinned_tier is not None,
                "daily_loss": s.daily_loss, "daily_profit": s.daily_profit, "lifetime_loss": s.lifetime_loss,
                "headroom": s.headroom, "daily_loss_cap": str(tier.daily_loss_cap),
                "lifetime_loss_cap": str(tier.lifetime_loss_cap), "per_trade_cap": str(tier.per_trade_cap),
                "forwarded": self.forwarded}

    def status_data(self) -> dict:
        return self._status()

    # -- runtime configuration ---------------------------------------------------------------------------------
    def config_sections(self) -> tuple:
        return ("risk", "trading")

    def reconfigure(self, config: dict, changed: tuple) -> None:
        settings = RiskSettings.from_mapping(config.get("risk") or {})   # ConfigError (a ValueError) refuses
        self.settings = settings
        self.tcfg = config["trading"]
        status, reason = R.evaluate(self.state, settings)
        self._apply((replace(self.state, status=status, reason=reason),
                     [R.StateChanged(self.state.status, status, reason, utcnow())]
                     if status is not self.state.status else []), "configuration")

    def teardown(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            db.close()
