"""`PluginActor`: one strategy plugin at trading/<name> (combined_v3, price_action_1m/5m/15m/1h, legacy_v4).

The configuration chooses the strategy family (strategies/plugins.py). For each `AlertRoute` (from ingress/webhook,
or ingress/router for fan-outs and restarts): decide with the pure strategy -> close what the decision closes
(CloseIntent per ticket found in the plugin's database) -> ask trading/risk about the entry's orders, the check
carrying each order's `OrderIntent` (trading/risk sends the approved ones on to broker/gateway itself, which answers
here) -> record the signal and the orders (CHECKING) -> record the verdict and every outcome -> answer
`AlertOutcome` to ingress/webhook (decided, then executed / rejected / skipped with the reason) and publish
`TradeOpened` / `TradeClosed` on topic "entries".

Money safety: intent ids are `<plugin>:<alert_id>:<role>`, so a replayed alert or a resent intent can never place a
second order (the gateway answers a known intent id with what it already did); an alert whose signal row exists is
never decided again; intents still PENDING after a restart are sent again with the same id, and intents still
CHECKING (their risk verdict lost to a restart) are settled with the gateway, which voids the ones it never received.
Shadow mode decides and records, and places nothing.

`LegacyFallbackPlugin` is combined_v3's fallback: the same actor running the legacy logic (with the V3 bridge) at
the same path, writing into the same database.
"""
from __future__ import annotations

import time
import zoneinfo
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from actors import messages as m
from actors.base import ZepixActor, handles
from actors.price_subs import PriceSubscriptions
from gateways.storage.plugin_store import PluginStore
from strategies.alerts.model import ParsedAlert
from strategies.decisions import Close, Enter, Facts, Notify, Record, Skip
from strategies.plugins import build_strategy, default_family, plugin_settings
from strategies.reentry import plan_reentry
from strategies import sessions as S
from strategies.risk.pips import resolve_spec
from strategies.risk.settings import RiskSettings
from strategies.risk.side import Side

GATEWAY = "broker/gateway"
LOST_GATEWAY = "broker unreachable: the member host running broker/gateway was lost"
RISK = "trading/risk"
JOURNAL = "ingress/webhook"
POSITIONS = "trading/positions"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Job:
    """One alert on its way: the intents sent for it and what came back."""

    alert_id: str
    alert: ParsedAlert
    reply_to: Any
    started: float
    enter: Enter | None = None
    trade_id: str = ""
    risk_corr: str = ""
    risk_deadline: float = 0.0
    risk_msg: Any = None
    risk_sent: bool = False
    planned: dict = field(default_factory=dict)      # intent_id -> OrderIntent in the risk check (planned volume)
    early: list = field(default_factory=list)        # (OrderOutcome, sender) that overtook the risk verdict
    intents: dict = field(default_factory=dict)      # intent_id -> message sent
    sent_at: dict = field(default_factory=dict)      # intent_id -> monotonic time of the last send
    results: dict = field(default_factory=dict)      # intent_id -> (ok, text)
    opened: list = field(default_factory=list)       # order dicts for TradeOpened
    reasons: list = field(default_factory=list)
    unsent: set = field(default_factory=set)         # intents waiting for broker/gateway to appear
    held: bool = False                               # still being set up: not finished even if all is answered
    price_at: float = 0.0                            # the alert's arrival (the time of its price)
    decided: Any = None                              # the "decided" AlertOutcome, sent with the next outcome
    journal: bool = True                             # an alert of the journal (False: a re-entry signal)


class PluginActor(ZepixActor):
    fast_mail = True      # on every alert's path: waits for its mailbox itself (actors/base.py)
    forced_family: str | None = None

    # -- set-up and configuration ------------------------------------------------------------------------------
    def setup(self) -> None:
        self.plugin = self.name
        self._configure(self.config)
        db_family = plugin_settings(self.config, self.plugin).family if self.forced_family is None \
            else default_family(self.plugin)
        self.store = PluginStore(self.config["system"]["data_dir"], self.plugin, db_family)
        self.state: dict = self.store.kv_all()
        flags = self.state.get("_flags") or {}
        self.enabled = flags.get("enabled", self.pset.enabled)
        self.shadow = flags.get("shadow", self.pset.shadow)
        self.jobs: dict[str, Job] = {}            # alert_id -> job
        self.by_intent: dict[str, str] = {}       # intent_id -> alert_id
        self.by_corr: dict[str, str] = {}         # risk corr -> alert_id
        self.symbol_info: dict[str, dict] = {}
        self.asked_symbols: set[str] = set()
        self.gateway_seen = False                 # a gateway was in the directory once (startup is not a loss)
        self.risk: m.RiskState | None = None
        self.decisions = 0
        self.latency_ms: list[float] = []
        self.subscribe_to(GATEWAY, f"trades.{self.plugin}")   # only this plugin's trades
        self.subscribe_to(RISK, "risk")
        # broker quotes: (bid, ask, arrived at) per broker symbol, for the spread filter and alerts with no price
        self.quotes: dict[str, tuple[Decimal, Decimal, float]] = {}
        # quotes of the symbols this plugin's alerts name (spread filter, alerts without a price), from the first
        # alert of each symbol on
        self.prices = PriceSubscriptions(self, (self.tcfg["tick_source"],) if self.tcfg.get("tick_source") else ())
        if self.tcfg.get("tick_source"):
            self.subscribe_to(self.tcfg["tick_source"], "ticks")
        self.after(0.25, "sweep")
        if self.implementation == "fallback" or self.forced_family:
            self.notify("plugin_fallback", "HIGH", f"{self.plugin} runs on its legacy_v4 fallback: V3 alerts are "
                                                   f"translated and handled by the legacy logic")

    def _configure(self, config: dict) -> None:
        pset = plugin_settings(config, self.plugin)
        family = self.forced_family or pset.family
        self.strategy = build_strategy(config, self.plugin, family)
        self.risk_settings = RiskSettings.from_mapping(config.get("risk") or {})
        self._specs: dict[str, tuple] = {}    # broker symbol -> (broker info it was built from, symbol, spec)
        self.pset, self.family = pset, family
        self.tcfg = config["trading"]
        self.tz = zoneinfo.ZoneInfo(config["system"]["timezone"])
        self.sessions = S.SessionSettings.from_mapping(config.get("sessions", {}), "sessions")

    def config_sections(self) -> tuple:
        return ("plugins", "risk", "v3", "legacy", "v6", "trading", "sessions")

    def reconfigure(self, config: dict, changed: tuple) -> None:
        before = (self.pset.enabled, self.pset.shadow)
        self._configure(config)     # ConfigError (a ValueError) refuses and keeps the running settings
        if (self.pset.enabled, self.pset.shadow) != before:
            # the file's enabled/shadow changed: it wins over an earlier /enable, /disable or /shadow. Any other
            # change (a /logic1_off, a risk cap) keeps them: it used to switch a disabled plugin back on.
            self.enabled, self.shadow = self.pset.enabled, self.pset.shadow
            self._save_flags(clear=True)
        self.log.info("%s: configuration applied (%s)", self.path, ", ".join(changed))

    def _save_flags(self, clear: bool = False) -> None:
        value = None if clear else {"enabled": self.enabled, "shadow": self.shadow}
        with self.store.db:
            self.store.kv_put("_flags", value)
        self.state.pop("_flags", None) if clear else self.state.__setitem__("_flags", value)

    def teardown(self) -> None:
        store = getattr(self, "store", None)
        if store is not None:
            store.close()

    def on_directory(self, previous: dict) -> None:
        self.prices.on_directory(self.directory, previous)
        gw = self.peer(GATEWAY)
        if gw is None and previous.get(GATEWAY) is not None and self._gateway_remote():
            self._gateway_lost()
        for job in list(self.jobs.values()):
            if job.risk_corr and not job.risk_sent:
                job.risk_sent = self.tell_peer(RISK, job.risk_msg)
            if gw is not None:
                for iid in list(job.unsent):
                    job.unsent.discard(iid)
                    job.sent_at[iid] = time.monotonic()
                    self.tell(gw, job.intents[iid])
        if gw is not None and gw != previous.get(GATEWAY):
            self.gateway_seen = True
            self.asked_symbols.clear()
            self._resend_pending()

    # -- a gateway on a member host ------------------------------------------------------------------------------
    def _gateway_remote(self) -> bool:
        return (self.config.get("broker") or {}).get("placement", "local") == "member"

    def _gateway_lost(self) -> None:
        """The member host running broker/gateway was lost (its heartbeat stopped and the supervisor took the
        gateway out of the directory). Every intent still waiting is answered now instead of being held until
        the host returns. One that reached the gateway may still have been placed: the gateway reconciles with
        the terminal when it comes back and adopts such a position, so it is never sent a second time here."""
        for job in list(self.jobs.values()):
            for iid in list(job.intents):
                if iid in job.results:
                    continue
                job.unsent.discard(iid)
                self._intent_result(job, iid, False, LOST_GATEWAY)

    # -- helpers -----------------------------------------------------------------------------------------------
    def _today(self) -> str:
        return utcnow().astimezone(self.tz).date().isoformat()

    def _alert_price(self, alert: ParsedAlert, at: float) -> None:
        """The paper broker's "alert" price source follows each symbol's latest alert (MT5 ignores this)."""
        if alert.price is not None:
            self.tell_peer(GATEWAY, m.AlertPrice(symbol=alert.broker_symbol, price=alert.price, at=at,
                                                 alert_id=""))

    def _outcome(self, alert_id: str, status: str, reason: str = "", reply_to=None, **detail) -> None:
        self._send_outcome(m.AlertOutcome(alert_id=alert_id, status=status, source=self.path, reason=reason,
                                          detail=detail, at=time.time()), reply_to)

    def _send_decided(self, job: "Job") -> None:
        if job.decided is not None:
            out, job.decided = job.decided, None
            self._send_outcome(out, job.reply_to)

    def _send_outcome(self, out: m.AlertOutcome, reply_to) -> None:
        alert_id, status, reason = out.alert_id, out.status, out.reason
        sent = self.tell_peer(JOURNAL, out)
        journal = self.peer(JOURNAL)
        if reply_to is not None and reply_to != journal:
            self.tell(reply_to, out)
        if not sent:
            self.log.warning("%s: no journal running for the outcome of %s: %s %s", self.path, alert_id, status, reason)

    def _facts(self, alert: ParsedAlert) -> Facts:
        info = self.symbol_info.get(alert.broker_symbol)
        if info is None and alert.broker_symbol not in self.asked_symbols and self.peer(GATEWAY) is not None:
            self.asked_symbols.add(alert.broker_symbol)
            self.tell_peer(GATEWAY, m.BrokerQuery(corr=f"sym:{alert.broker_symbol}", what="symbol",
                                                  args={"symbol": alert.broker_symbol}))
        spec = self._spec(alert.symbol, alert.broker_symbol, info)
        balance = Decimal(self.risk.balance) if self.risk else Decimal(str(self.tcfg["starting_balance"]))
        # headroom lets the strategy size within the caps; outside ACTIVE the risk actor refuses with its reason
        headroom = Decimal(self.risk.headroom) if self.risk and self.risk.state == "ACTIVE" else None
        sides = frozenset(Side(s) for s in self.store.open_sides(alert.symbol))
        price = spread = None
        self.prices.add(alert.broker_symbol)
        quote = self.quotes.get(alert.broker_symbol)
        if quote is not None and time.time() - quote[2] <= float(self.tcfg.get("quote_max_age", 60.0)):
            bid, ask, _ = quote
            spread = (ask - bid) / spec.pip_size
            if alert.price is None and alert.direction is not None:
                # the alert's own price wins (the paper broker follows it); without one, the side's broker price
                price = ask if alert.direction.value == "BUY" else bid
        return Facts(balance=balance, spec=spec, open_sides=sides, headroom=headroom, price=price,
                     spread_pips=spread)

    @handles(m.Ticks)
    def _on_ticks(self, msg: m.Ticks, sender) -> None:
        now = time.time()
        for tick in msg.ticks:
            try:
                self.quotes[str(tick[0])] = (Decimal(str(tick[1])), Decimal(str(tick[2])), now)
            except (IndexError, TypeError, ValueError, ArithmeticError):
                self.log.warning("%s: bad tick %r ignored", self.path, tick)

    # -- alerts ------------------------------------------------------------------------------------------------
    @handles(m.AlertRoute)
    def _on_alert(self, msg: m.AlertRoute, sender) -> None:
        t0 = time.perf_counter()
        aid = msg.alert_id
        if aid in self.jobs:
            self._outcome(aid, "decided", "duplicate: this alert is being handled", sender)
            return
        row = self.store.signal(aid)
        if row is not None:
            self._resend_pending(aid)
            self._outcome(aid, "skipped", f"duplicate: already handled ({row['decision']}"
                                          f"{': ' + row['skip_reason'] if row['skip_reason'] else ''})", sender)
            return
        now = utcnow()
        try:
            alert = ParsedAlert.from_dict(msg.alert)
        except (ValueError, TypeError, KeyError) as exc:
            reason = f"bad alert: {exc}"
            with self.store.db:
                self.store.add_signal(alert_id=aid, received=now.isoformat(), signal_type="?", symbol="?",
                                      direction=None, timeframe=None, signal_json=msg.alert if isinstance(
                                          msg.alert, dict) else {}, decision="rejected", skip_reason=reason,
                                      trade_id=None, version=self.pset.version)
            self._outcome(aid, "rejected", reason, sender)
            return
        base = dict(alert_id=aid, received=now.isoformat(), signal_type=alert.signal_type, symbol=alert.symbol,
                    direction=alert.direction.value if alert.direction else None, timeframe=alert.timeframe,
                    signal_json=msg.alert, trade_id=None, version=self.pset.version)
        if not self.enabled:
            self._alert_price(alert, msg.received_at)
            with self.store.db:
                self.store.add_signal(decision="skipped", skip_reason=f"{self.plugin} is disabled", **base)
                self.store.bump_daily(self._today(), signals=1)
            self._outcome(aid, "skipped", f"{self.plugin} is disabled", sender)
            return
        try:
            facts = self._facts(alert)
            decisions = self.strategy.decide(alert, self.state, facts, now)
            # forex sessions (DECISIONS §18): V3 alerts count as "v3" even when the legacy fallback handles them
            source = "v3" if alert.format.value == "v3" else self.family
            decisions = S.gate_entries(self.sessions, decisions, alert.symbol, source, now)
        except Exception as exc:   # a strategy bug must not lose the alert: it is recorded and answered
            self._alert_price(alert, msg.received_at)
            self.errors += 1
            self.log.exception("%s: strategy failed on %s", self.path, aid)
            reason = f"strategy error: {type(exc).__name__}: {exc}"
            with self.store.db:
                self.store.add_signal(decision="rejected", skip_reason=reason, **base)
            self._outcome(aid, "rejected", reason, sender)
            return
        self.decisions += 1
        enter = next((d for d in decisions if isinstance(d, Enter)), None)
        skips = [d.reason for d in decisions if isinstance(d, Skip)]
        closes = [d for d in decisions if isinstance(d, Close)]
        records = [d for d in decisions if isinstance(d, Record)]
        trade_id = f"{self.plugin}:{aid}" if enter else None
        if enter and self.shadow:
            decision = "shadow"
        elif enter or closes:
            decision = "decided"
        elif skips:
            decision = "skipped"
        else:
            decision = "recorded"
        job = Job(aid, alert, sender, t0, enter=enter, trade_id=trade_id or "", reasons=list(skips),
                  price_at=msg.received_at)
        if not enter or closes or self.shadow:
            # before any close of this alert, from this same actor, so the gateway sees the price first. An entry's
            # intents carry the price themselves: a separate message would wake the gateway while trading/risk
            # checks the entry, and compete with it for a core (sent after all if risk refuses the entry)
            self._alert_price(alert, msg.received_at)
        if (enter or closes) and not self.shadow:
            # The orders' next step leaves before this alert's records are written, which take longer than the
            # decision. A crash while writing loses nothing and places nothing twice: the alert is unanswered, so
            # it is delivered again (webhook or router), and the fresh instance decides the same orders and closes
            # under the same intent ids, which the gateway answers with what it already did.
            self.jobs[aid] = job
            job.held = True
            for c in closes:
                self._send_closes(job, c)
            if enter:
                self._ask_risk(job, facts)
            self.send_now()
        with self.store.db:
            self.store.add_signal(decision=decision, skip_reason="; ".join(skips) or None,
                                  **{**base, "trade_id": trade_id})
            self.store.bump_daily(self._today(), signals=1)
            for r in records:
                self.store.kv_put(r.key, r.value)
                if r.value is None:
                    self.state.pop(r.key, None)
                else:
                    self.state[r.key] = r.value
            self._family_rows(alert, aid, decisions, enter, skips, now, facts)
            if enter and not self.shadow:
                self._checking_rows(job)
        for d in decisions:
            if isinstance(d, Notify):
                self.notify(d.kind, d.priority, d.text, alert_id=aid, symbol=alert.symbol)
        if records:
            self._send_trends(alert.symbol, records)
        if not enter and not closes:
            notes = [r.note for r in records if r.note]
            reason = "; ".join(skips) or ("state updated: " + "; ".join(notes) if notes else "nothing to do")
            self._outcome(aid, "skipped", reason, sender)
            self._latency(t0)
            return
        if self.shadow:
            self._shadow(job, closes)
            self._latency(t0)
            return
        # "decided" waits for the alert's next outcome (or the sweep, at most 0.25 s): sent now it would wake the
        # journal while the orders are on their way, and the journal keeps the time it was decided either way
        job.decided = m.AlertOutcome(alert_id=aid, status="decided", source=self.path, reason="; ".join(skips),
                                     detail={"orders": [{"role": o.role, "volume": str(o.volume)} for o in
                                                        enter.orders] if enter else []}, at=time.time())
        job.held = False
        self._maybe_done(job)

    # -- exit continuation (ReEntrySignal from trading/positions) ---------------------------------------------
    @handles(m.ReEntrySignal)
    def _on_reentry(self, msg: m.ReEntrySignal, sender) -> None:
        """A fresh entry asked by the position manager: sized by this plugin's risk settings, checked by
        trading/risk, placed with intent ids "<plugin>:<signal_id>:single" (a repeated signal is dropped)."""
        sid = msg.signal_id
        if sid in self.jobs or self.store.signal(sid) is not None:
            self.log.info("%s: re-entry %s already handled", self.path, sid)
            return
        now = utcnow()
        symbol = msg.symbol.upper()
        base = dict(alert_id=sid, received=now.isoformat(), signal_type="REENTRY", symbol=symbol,
                    direction=msg.side.upper() or None, timeframe=msg.timeframe or None,
                    signal_json={"reentry": {"signal_id": sid, "side": msg.side, "logic": msg.logic,
                                             "timeframe": msg.timeframe, "reason": msg.reason,
                                             "price": str(msg.price) if msg.price is not None else None}},
                    version=self.pset.version)
        reason = ""
        if msg.plugin and msg.plugin != self.plugin:
            reason = f"re-entry for {msg.plugin} sent to {self.plugin}"
        elif not self.enabled:
            reason = f"{self.plugin} is disabled"
        enter = None
        facts = None
        if not reason:
            try:
                facts = self._facts_for(symbol, symbol)
                d = plan_reentry(self.risk_settings, facts, symbol=symbol, broker_symbol=symbol, side=msg.side,
                                 logic=msg.logic, price=msg.price, reason=msg.reason)
            except (KeyError, ValueError, ArithmeticError) as exc:
                d = Skip(f"re-entry could not be sized: {exc}")
            if isinstance(d, Skip):
                reason = d.reason
            else:
                enter = d
        if enter is None or self.shadow:
            why = reason or "shadow mode: decided, nothing placed"
            with self.store.db:
                self.store.add_signal(decision="shadow" if enter else "skipped", skip_reason=why, trade_id=None,
                                      **base)
            self.log.info("%s: re-entry %s on %s not placed: %s", self.path, sid, symbol, why)
            self.notify("reentry_skipped", "MEDIUM", f"🔁 {self.plugin}: exit continuation on {symbol} "
                                                     f"{msg.side} not placed: {why}", symbol=symbol, signal_id=sid)
            return
        trade_id = f"{self.plugin}:{sid}"
        job = Job(sid, None, None, time.perf_counter(), enter=enter, trade_id=trade_id, journal=False)
        self.jobs[sid] = job
        self._ask_risk(job, facts)
        with self.store.db:
            self.store.add_signal(decision="decided", skip_reason=None, trade_id=trade_id, **base)
            self._checking_rows(job)

    def _send_trends(self, symbol: str, records: list) -> None:
        """Tell trading/positions the trend this plugin now sees (re-entries need it to agree, facts §4.4): legacy
        per logic (its alignment pair agreeing), V3 per symbol (the sign of the MTF pillars' sum). Only changes."""
        updates: list[tuple[str, str]] = []
        if self.family == "legacy" and any(r.key.startswith(f"trend:{symbol}:") for r in records):
            from strategies.legacy import trends as T
            for logic, tfs in self.strategy.settings.alignment.items():
                direction, _ = T.aligned(self.state, symbol, tfs)
                updates.append((logic, {T.BULLISH: "BUY", T.BEARISH: "SELL"}.get(direction, "")))
        elif self.family == "v3":
            rec = next((r for r in records if r.key == f"trend:{symbol}" and r.value), None)
            if rec is not None:
                total = sum(v for k, v in rec.value.items() if k not in ("updated", "mode") and isinstance(v, int))
                updates.append(("", "BUY" if total > 0 else "SELL" if total < 0 else ""))
        sent = self.__dict__.setdefault("trends_sent", {})
        for logic, side in updates:
            if sent.get((symbol, logic)) != side and self.tell_peer(POSITIONS, m.TrendUpdate(
                    symbol=symbol, logic=logic, side=side, source=self.path)):
                sent[(symbol, logic)] = side

    def _spec(self, symbol: str, broker_symbol: str, info: dict | None):
        """The symbol's facts, built again only when the broker's info or the settings changed (building them
        from the broker's figures was a fifth of an alert's time before its risk check)."""
        hit = self._specs.get(broker_symbol)
        if hit is not None and hit[0] is info and hit[1] == symbol:
            return hit[2]
        spec = resolve_spec(symbol, info, self.risk_settings.symbols)
        self._specs[broker_symbol] = (info, symbol, spec)
        return spec

    def _facts_for(self, symbol: str, broker_symbol: str) -> Facts:
        info = self.symbol_info.get(broker_symbol)
        spec = self._spec(symbol, broker_symbol, info)
        balance = Decimal(self.risk.balance) if self.risk else Decimal(str(self.tcfg["starting_balance"]))
        headroom = Decimal(self.risk.headroom) if self.risk and self.risk.state == "ACTIVE" else None
        return Facts(balance=balance, spec=spec, headroom=headroom)

    def _family_rows(self, alert, aid, decisions, enter, skips, now, facts) -> None:
        d = enter.detail if enter else {}
        if self.family == "v3" and alert.format.value == "v3":
            self.store.family_row("v3_signal_details", {
                "alert_id": aid, "signal_type": alert.signal_type, "timeframe": alert.timeframe,
                "consensus_score": alert.consensus_score, "strength": d.get("strength"),
                "position_multiplier": d.get("position_multiplier"), "multiplier_source": d.get("multiplier_source"),
                "logic_route": d.get("logic"), "routing_reason": d.get("routing_reason"),
                "logic_multiplier": d.get("logic_multiplier"), "mtf_15m": alert.mtf.get("15m"),
                "mtf_1h": alert.mtf.get("1H"), "mtf_4h": alert.mtf.get("4H"), "mtf_1d": alert.mtf.get("1D"),
                "mtf_raw_string": alert.mtf_raw})
        elif self.family == "legacy":
            for r in decisions:
                if isinstance(r, Record) and r.key.startswith("trend:") and r.value and r.key.count(":") == 2:
                    _, sym, tf = r.key.split(":")
                    self.store.family_row("trend_events", {"at": now.isoformat(), "symbol": sym, "timeframe": tf,
                                                           "trend": r.value["trend"], "mode": r.value["mode"],
                                                           "alert_id": aid, "note": r.note}, upsert=False)
        elif self.family == "v6":
            for r in decisions:
                if isinstance(r, Record) and r.key.startswith("market:") and r.value:
                    _, sym, tf = r.key.split(":", 2)
                    self.store.family_row("market_trends", {
                        "symbol": sym, "timeframe": tf, "bull_count": r.value.get("bull"),
                        "bear_count": r.value.get("bear"), "market_state": r.value.get("state"),
                        "direction": r.value.get("direction"), "last_updated": now.isoformat()})
            if alert.kind.value == "entry":
                self.store.family_row("v6_signal_filters", {
                    "alert_id": aid, "adx": alert.adx, "adx_strength": alert.extras.get("adx_strength"),
                    "confidence_score": alert.confidence_score, "spread_pips": facts.spread_pips,
                    "failed_filter": "; ".join(skips) or None})

    def _latency(self, t0: float) -> None:
        self.latency_ms.append((time.perf_counter() - t0) * 1000)
        del self.latency_ms[:-1000]

    def _trade_row(self, job: Job, plan, volume: Decimal, intent_id: str, status: str, shadow: bool,
                   reason: str | None = None) -> dict:
        e = job.enter
        return {"trade_id": job.trade_id, "order_role": plan.role, "intent_id": intent_id, "alert_id": job.alert_id,
                "symbol": e.symbol, "direction": plan.side.value, "lot_size": volume, "entry_price": e.price,
                "sl_price": plan.sl, "tp_price": plan.tp, "sl_source": plan.sl_source, "tp_source": plan.tp_source,
                "entry_time": utcnow().isoformat(), "status": status, "logic": e.logic, "close_reason": reason,
                "plugin_version": self.pset.version, "shadow": 1 if shadow else 0,
                "detail": {**e.detail, "sl_pips": str(plan.sl_pips), "risk": str(plan.risk), "notes": list(e.notes),
                           "comment": plan.comment}}

    def _intent_id(self, alert_id: str, role: str) -> str:
        return f"{self.plugin}:{alert_id}:{role}"

    # -- shadow ------------------------------------------------------------------------------------------------
    def _shadow(self, job: Job, closes: list[Close]) -> None:
        parts = []
        with self.store.db:
            if job.enter:
                for plan in job.enter.orders:
                    iid = self._intent_id(job.alert_id, plan.role)
                    self.store.add_trade(self._trade_row(job, plan, plan.volume, iid, "CLOSED", True,
                                                         "shadow: not placed"))
                    parts.append(f"{plan.role} {plan.side.value} {plan.volume} SL {plan.sl} TP {plan.tp}")
        for c in closes:
            parts.append(f"close {'/'.join(s.value for s in c.sides)} ({c.reason})")
        self._outcome(job.alert_id, "skipped", "shadow mode: decided, nothing placed: " + "; ".join(parts),
                      job.reply_to, shadow=True)

    # -- closes ------------------------------------------------------------------------------------------------
    def _checking_rows(self, job: Job) -> None:
        """The entry's orders, written while trading/risk checks them: CHECKING until the verdict, then PENDING
        (approved, at the approved volume) or REJECTED with the reason."""
        for plan in job.enter.orders:
            iid = self._intent_id(job.alert_id, plan.role)
            self.store.add_trade(self._trade_row(job, plan, plan.volume, iid, "CHECKING", False))

    def _send_closes(self, job: Job, close: Close) -> None:
        rows = self.store.open_trades(close.symbol, [s.value for s in close.sides])
        if not rows:
            job.reasons.append(f"no open {'/'.join(s.value for s in close.sides)} ticket on {close.symbol} to close")
        for row in rows:
            iid = f"{self.plugin}:{job.alert_id}:close:{row['ticket']}"
            msg = m.CloseIntent(intent_id=iid, plugin=self.plugin, ticket=int(row["ticket"]), reason=close.reason,
                                detail={"trade_id": row["trade_id"], "role": row["order_role"],
                                        "alert_id": job.alert_id})
            self._send_intent(job, iid, msg)

    def _send_intent(self, job: Job, iid: str, msg) -> None:
        job.intents[iid] = msg
        job.sent_at[iid] = time.monotonic()
        self.by_intent[iid] = job.alert_id
        if not self.tell_peer(GATEWAY, msg):
            if self.gateway_seen and self._gateway_remote():
                # its member host is gone: nothing brings it back soon, so the trader hears it now (issue 4)
                self._intent_result(job, iid, False, LOST_GATEWAY)
                return
            job.unsent.add(iid)   # sent when the gateway appears; refused after order_timeout

    # -- risk --------------------------------------------------------------------------------------------------
    def _ask_risk(self, job: Job, facts: Facts) -> None:
        """The check carries each order's intent: trading/risk sends the approved ones on to the gateway."""
        e = job.enter
        orders = tuple({"role": p.role, "kind": "OPEN", "symbol": e.symbol, "broker_symbol": e.broker_symbol,
                        "side": p.side.value, "volume": str(p.volume), "risk": str(p.risk),
                        "fixed_risk": p.fixed_risk, "volume_min": str(facts.spec.volume_min),
                        "volume_step": str(facts.spec.volume_step)}
                       for p in e.orders)
        alert_price = {"alert_price": str(job.alert.price), "alert_at": job.price_at} \
            if job.alert is not None and job.alert.price is not None else {}
        for p in e.orders:
            iid = self._intent_id(job.alert_id, p.role)
            job.planned[iid] = m.OrderIntent(
                intent_id=iid, plugin=self.plugin, symbol=e.broker_symbol, side=p.side.value, volume=p.volume,
                sl=p.sl, tp=p.tp, comment=p.comment, alert_id=job.alert_id, reply_to=self.where,
                detail={"order": p.role, "trade_id": job.trade_id, "price_hint": str(e.price),
                        "version": self.pset.version, **alert_price})
            self.by_intent[iid] = job.alert_id    # an outcome can overtake the verdict
        job.risk_corr = f"{self.plugin}:{job.alert_id}:risk"
        job.risk_deadline = time.monotonic() + float(self.tcfg["risk_timeout"])
        self.by_corr[job.risk_corr] = job.alert_id
        job.risk_msg = m.RiskCheck(corr=job.risk_corr, plugin=self.plugin, orders=orders, alert_id=job.alert_id,
                                   intents=tuple(job.planned.values()))
        # while trading/risk is not (yet) in the directory the check waits, up to risk_timeout, then is refused
        job.risk_sent = self.tell_peer(RISK, job.risk_msg)

    def _risk_refused(self, job: Job, reason: str, void: bool = False) -> None:
        """Nothing of this entry goes out. ``void``: the check may still be on its way (trading/risk did not answer
        in time), and an approval would send the orders from there: the gateway is told to refuse them."""
        job.risk_corr = ""
        job.reasons.append(reason)
        if job.alert is not None:
            self._alert_price(job.alert, job.price_at)    # the entry's intents, which carry it, stay here
        with self.store.db:
            for iid in job.planned:
                self.store.update_trade(iid, status="REJECTED", close_reason=reason)
            self.store.set_signal(job.alert_id, "rejected", "; ".join(job.reasons))
        if void:
            for iid in job.planned:
                self._void(iid, reason)
        for iid in job.planned:
            self.by_intent.pop(iid, None)
        job.enter = None
        self._maybe_done(job)

    @handles(m.RiskVerdict)
    def _on_verdict(self, msg: m.RiskVerdict, sender) -> None:
        aid = self.by_corr.pop(msg.corr, None)
        job = self.jobs.get(aid) if aid else None
        if job is None or job.risk_corr != msg.corr:
            return   # late verdict of a check that already timed out: the alert was answered
        job.risk_corr = ""
        if not msg.ok:
            self._risk_refused(job, f"risk ({msg.state}): {msg.reason}")
            return
        verdicts = {v.get("role"): v for v in msg.orders}
        to_send = []
        with self.store.db:
            for plan in job.enter.orders:
                iid = self._intent_id(job.alert_id, plan.role)
                v = verdicts.get(plan.role) or {"ok": False, "reason": "no verdict for this order"}
                if not v.get("ok"):
                    reason = f"Order {plan.role} refused by risk: {v.get('reason')}"
                    job.reasons.append(reason)
                    self.store.update_trade(iid, status="REJECTED", close_reason=reason)
                    self.by_intent.pop(iid, None)
                    continue
                volume = Decimal(str(v.get("volume") or plan.volume))
                if v.get("reason"):
                    job.reasons.append(f"Order {plan.role}: {v['reason']}")
                self.store.update_trade(iid, status="PENDING", lot_size=volume)
                to_send.append((iid, replace(job.planned[iid], volume=volume), bool(v.get("forwarded"))))
            self.store.set_signal(job.alert_id, "traded", "; ".join(job.reasons) or None)
        for iid, intent, forwarded in to_send:
            if forwarded:
                # trading/risk sent it to the gateway already; the gateway answers here
                job.intents[iid] = intent
                job.sent_at[iid] = time.monotonic()
                self.by_intent[iid] = job.alert_id
            else:
                self._send_intent(job, iid, intent)
        early, job.early = job.early, []
        for outcome, sender_ in early:
            self._on_order_outcome(outcome, sender_)
        self._maybe_done(job)

    # -- outcomes ----------------------------------------------------------------------------------------------
    @handles(m.OrderOutcome)
    def _on_order_outcome(self, msg: m.OrderOutcome, sender) -> None:
        aid = self.by_intent.get(msg.intent_id)
        job = self.jobs.get(aid) if aid else None
        if job is not None and job.risk_corr:
            # the gateway's answer to an intent trading/risk forwarded overtook the risk verdict (other sender)
            job.early.append((msg, sender))
            return
        row = self.store.trade_by_intent(msg.intent_id)
        if msg.status in ("filled", "placed"):
            if row is not None:
                with self.store.db:
                    self.store.update_trade(msg.intent_id, status="OPEN", ticket=msg.ticket,
                                            entry_price=msg.price if msg.price is not None else row["entry_price"],
                                            lot_size=msg.volume if msg.volume is not None else row["lot_size"])
                    self.store.bump_daily(self._today(), trades=1)
            if job:
                job.opened.append({"role": row["order_role"] if row else "", "ticket": msg.ticket,
                                   "volume": str(msg.volume), "price": str(msg.price),
                                   "sl": row["sl_price"] if row else None, "tp": row["tp_price"] if row else None,
                                   "intent_id": msg.intent_id})
                self._intent_result(job, msg.intent_id, True, f"{msg.status} ticket {msg.ticket}")
        elif msg.status == "closed":
            ci = job.intents.get(msg.intent_id) if job else None
            if isinstance(ci, m.CloseIntent):
                self._closed(ci.ticket, msg.price, None, ci.reason)
            if job:
                self._intent_result(job, msg.intent_id, True, f"closed ticket {msg.ticket}")
        elif msg.status == "rejected":
            if row is not None:
                with self.store.db:
                    self.store.update_trade(msg.intent_id, status="REJECTED", close_reason=msg.reason)
            if job:
                self._intent_result(job, msg.intent_id, False, f"broker rejected {msg.intent_id.rsplit(':', 1)[-1]}: "
                                                               f"{msg.reason}")
        else:
            # "unknown": the gateway reconciles; the intent is asked again after order_timeout with the same id
            self.log.warning("%s: outcome %s for %s: %s", self.path, msg.status, msg.intent_id, msg.reason)

    def _intent_result(self, job: Job, iid: str, ok: bool, text: str) -> None:
        job.results[iid] = (ok, text)
        if not ok:
            job.reasons.append(text)
        self._maybe_done(job)

    def _maybe_done(self, job: Job) -> None:
        if job.held or job.risk_corr or len(job.results) < len(job.intents):
            return
        self.jobs.pop(job.alert_id, None)
        for iid in job.intents:
            self.by_intent.pop(iid, None)
        ok_any = any(ok for ok, _ in job.results.values())
        status = "executed" if ok_any else ("rejected" if job.intents or job.enter is None else "skipped")
        if not job.intents and not ok_any:
            status = "rejected" if job.reasons else "skipped"
        if job.opened and job.enter:
            e = job.enter
            self.publish("entries", m.TradeOpened(plugin=self.plugin, trade_id=job.trade_id, alert_id=job.alert_id,
                                                  symbol=e.symbol, side=e.side.value, orders=tuple(job.opened),
                                                  logic=e.logic, detail={**e.detail, "version": self.pset.version}))
        if not ok_any and job.trade_id:
            with self.store.db:
                self.store.set_signal(job.alert_id, "rejected", "; ".join(job.reasons) or None)
        if not job.journal:
            if status != "executed":
                self.notify("reentry_skipped", "MEDIUM", f"🔁 {self.plugin}: exit continuation {job.alert_id} not "
                                                         f"placed: {'; '.join(job.reasons) or status}",
                            signal_id=job.alert_id)
            else:
                self.log.info("%s: re-entry %s placed", self.path, job.alert_id)
            return
        self._send_decided(job)
        self._outcome(job.alert_id, status, "; ".join(job.reasons), job.reply_to,
                      results={iid: text for iid, (_, text) in job.results.items()})
        self._latency(job.started)

    def _resend_pending(self, alert_id: str | None = None) -> None:
        """PENDING rows have an intent whose outcome never came back: ask again with the same intent id. CHECKING
        rows lost their risk verdict to a restart: trading/risk may have sent them on, so the gateway is asked what
        became of them (and refuses them from now on if they never arrived)."""
        for row in self.store.pending(("PENDING", "CHECKING")):
            if alert_id and row["alert_id"] != alert_id:
                continue
            if row["alert_id"] in self.jobs:
                continue
            if row["status"] == "CHECKING":
                self._void(row["intent_id"], "its risk verdict was lost to a restart of " + self.plugin)
            else:
                self._resend_row(row)

    def _resend_row(self, row) -> None:
        # re-built from the row; the gateway recognises the intent id and never places it twice
        self.tell_peer(GATEWAY, m.OrderIntent(
            intent_id=row["intent_id"], plugin=self.plugin, symbol=row["symbol"], side=row["direction"],
            volume=Decimal(row["lot_size"]), sl=Decimal(row["sl_price"]) if row["sl_price"] else None,
            tp=Decimal(row["tp_price"]) if row["tp_price"] else None, alert_id=row["alert_id"] or "",
            detail={"order": row["order_role"], "trade_id": row["trade_id"], "resent": True,
                    "price_hint": row["entry_price"]}))

    def _void(self, intent_id: str, reason: str) -> None:
        self.tell_peer(GATEWAY, m.BrokerQuery(corr=f"void:{intent_id}", what="void",
                                              args={"intent_id": intent_id, "plugin": self.plugin, "reason": reason}))

    def _voided(self, intent_id: str, data: dict) -> None:
        """The gateway's answer about an intent whose risk verdict was lost: what it did is what happened."""
        row = self.store.trade_by_intent(intent_id)
        if row is None or row["status"] not in ("CHECKING", "REJECTED"):
            return
        if data.get("state") == "pending":
            # the gateway has it in hand (a restarted gateway finishes its own unfinished intents): asked again
            # later; never sent from here, as only trading/risk knows the volume it approved
            self.after(float(self.tcfg["order_timeout"]), ("void", intent_id))
            return
        out = data.get("outcome") or {}
        if out.get("status") in ("filled", "placed"):
            self._on_order_outcome(m.outcome_from(out), None)     # the row becomes OPEN with its ticket
            self.log.warning("%s: %s was placed after all (ticket %s): its trade is open", self.path, intent_id,
                             out.get("ticket"))
        elif row["status"] == "CHECKING":
            with self.store.db:
                self.store.update_trade(intent_id, status="REJECTED", close_reason=out.get("reason") or "voided")

    # -- positions closing at the broker -----------------------------------------------------------------------
    @handles(m.TradeEvent)
    def _on_trade(self, msg: m.TradeEvent, sender) -> None:
        if msg.plugin != self.plugin or msg.kind not in ("closed", "sl_hit", "tp_hit"):
            return
        self._closed(msg.ticket, msg.price, msg.profit, msg.reason or msg.kind)

    def _closed(self, ticket: int, price, profit, reason: str) -> None:
        row = self.store.trade_by_ticket(ticket)
        if row is None:
            return
        with self.store.db:
            fields = {"exit_price": price, "exit_time": utcnow().isoformat()}
            if profit is not None:
                fields["profit"] = profit
            if row["status"] != "CLOSED":
                fields.update(status="CLOSED", close_reason=reason)
            self.store.update_by_ticket(ticket, **fields)
            if profit is not None and row["profit"] is None:
                p = Decimal(profit)
                self.store.bump_daily(self._today(), wins=1 if p > 0 else 0, losses=0 if p > 0 else 1, profit=p)
        if row["status"] != "CLOSED":
            rows = self.store.trades_of(row["trade_id"])
            if all(r["status"] in ("CLOSED", "REJECTED") for r in rows):
                total = sum((Decimal(r["profit"]) for r in rows if r["profit"]), Decimal(0))
                self.publish("entries", m.TradeClosed(plugin=self.plugin, trade_id=row["trade_id"], reason=reason,
                                                      detail={"profit": str(total), "tickets": [r["ticket"] for r in rows]}))

    # -- other messages ----------------------------------------------------------------------------------------
    @handles(m.RiskState)
    def _on_risk_state(self, msg: m.RiskState, sender) -> None:
        self.risk = msg

    @handles(m.BrokerReply)
    def _on_broker_reply(self, msg: m.BrokerReply, sender) -> None:
        if msg.corr.startswith("sym:") and msg.ok and isinstance(msg.data, dict):
            self.symbol_info[msg.corr[4:]] = msg.data.get("info", msg.data)
        elif msg.corr.startswith("void:"):
            if msg.ok and isinstance(msg.data, dict):
                self._voided(msg.corr[5:], msg.data)
            else:
                self.log.warning("%s: the gateway could not say what became of %s: %s", self.path, msg.corr[5:],
                                 msg.error)

    def on_timer(self, key) -> None:
        if isinstance(key, tuple) and key[0] == "void":
            row = self.store.trade_by_intent(key[1])
            if row is not None and row["status"] == "CHECKING":
                self._void(key[1], "its risk verdict was lost to a restart of " + self.plugin)
            return
        if key != "sweep":
            return
        now = time.monotonic()
        timeout = float(self.tcfg["order_timeout"])
        for job in list(self.jobs.values()):
            self._send_decided(job)
            if job.risk_corr and now > job.risk_deadline:
                self.by_corr.pop(job.risk_corr, None)
                self._risk_refused(job, "trading/risk did not answer within " f"{self.tcfg['risk_timeout']} s"
                                   if job.risk_sent else "trading/risk is not running: no order goes out without "
                                   "a risk check", void=job.risk_sent)
                continue
            for iid, msg in list(job.intents.items()):
                if iid not in job.results and now - job.sent_at[iid] > timeout:
                    job.sent_at[iid] = now
                    if iid in job.unsent:
                        self._intent_result(job, iid, False, "broker/gateway is not running")
                    else:
                        self.tell_peer(GATEWAY, msg)     # same intent id: the gateway never acts twice
        self.after(0.25, "sweep")

    # -- commands and status -----------------------------------------------------------------------------------
    def on_command(self, msg: m.Command, sender):
        name, args = msg.name, msg.args
        if name in ("enable", "disable"):
            self.enabled = name == "enable"
        elif name == "shadow":
            on = args.get("on", True)
            if not isinstance(on, bool):
                return m.CommandReply(corr=msg.corr, ok=False, text="shadow needs on=true or on=false")
            self.shadow = on
        elif name in ("set_trend", "set_auto") and self.family == "legacy":
            from strategies.legacy import trends as T
            try:
                sym = str(args["symbol"]).upper()
                # the store's slots are the alert timeframes (15 / 60 / 1D); /set_trend offers 15m / 1h / 1d
                tf = T.normalize_tf(str(args["tf"]), self.strategy.settings.trend_timeframes)
                rec = T.set_manual(sym, tf, str(args.get("trend", "")).upper(), utcnow()) if name == "set_trend" \
                    else T.set_auto(self.state, sym, tf, utcnow())
            except (KeyError, ValueError) as exc:
                return m.CommandReply(corr=msg.corr, ok=False, text=f"{name}: {exc}")
            with self.store.db:
                self.store.kv_put(rec.key, rec.value)
            self.state[rec.key] = rec.value
            self._send_trends(sym, [rec])     # re-entries check alignment against the locked trend too
            return m.CommandReply(corr=msg.corr, ok=True, text=rec.note)
        elif name in ("trends", "trend_matrix", "trend_mode"):
            from strategies import trend_report as TR
            tfs = self.strategy.settings.trend_timeframes if self.family == "legacy" else ()
            d = TR.matrix(self.state, self.risk_settings.symbols, tfs, plugin=self.plugin)
            text = {"trends": TR.trends_text, "trend_matrix": TR.matrix_text, "trend_mode": TR.mode_text}[name](d)
            return m.CommandReply(corr=msg.corr, ok=True, text=text,
                                  data={**d, "monospace": name == "trend_matrix"})
        elif name != "status":
            return m.CommandReply(corr=msg.corr, ok=False, text=f"{self.path} has no command {name!r}; known: "
                                  "enable, disable, shadow, status, trends, trend_matrix, trend_mode"
                                  + (", set_trend, set_auto" if self.family == "legacy" else ""))
        if name != "status":
            self._save_flags()
            self.notify("plugin_changed", "MEDIUM", f"{self.plugin}: {self._flags_text()} (by {msg.user or '?'})")
        return m.CommandReply(corr=msg.corr, ok=True, text=f"{self.plugin}: {self._flags_text()}",
                              data=self.status_data())

    def _flags_text(self) -> str:
        return ("enabled" if self.enabled else "disabled") + (", shadow" if self.shadow else "")

    def status_data(self) -> dict:
        lat = sorted(self.latency_ms)
        return {"plugin": self.plugin, "family": self.family, "implementation": self.implementation,
                "enabled": self.enabled, "shadow": self.shadow, "version": self.pset.version,
                "in_flight": len(self.jobs), "quotes": sorted(getattr(self, "quotes", {})),
                "decisions": self.decisions,
                "peers": {p: self.peer(p) is not None for p in (RISK, GATEWAY, JOURNAL)}, **self.store.counts(),
                "today": self.store.daily(self._today()),
                "latency_p50_ms": round(lat[len(lat) // 2], 2) if lat else None}


class LegacyFallbackPlugin(PluginActor):
    """combined_v3's fallback: the legacy logic (V3 alerts through the bridge), at the same path and database."""

    forced_family = "legacy"
