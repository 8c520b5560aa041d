"""trading/positions: the position manager (issue 6; facts §4, §8; DECISIONS §16-18).

Fed by ticks (Ticks from broker/pricefeed), broker trade events (TradeEvent on "trades" from broker/gateway) and
the plugins' entries (TradeOpened / TradeClosed on "entries"). It runs the pure state machines of
``strategies.positions`` (profit chains on Order B, SL-hunt / TP / exit continuation watches, split targets,
profit lock, trailing) and ``strategies.sessions``, and turns their actions into OrderIntent / ModifyIntent /
CloseIntent to the gateway with deterministic intent ids ("pos-<client id>", "pos-close-<client id>-<reason>",
...), so a restart never places an order twice (the gateway answers a repeated intent id with what it knows).

Everything is persisted in data_dir/positions.db (actors/positions_store.py) before any intent leaves; after a
restart the actor reloads, resends the intents that were never answered and reconciles its open orders with the
broker's positions (BrokerQuery "positions"). Every action is published on topic "positions" (PositionAction)
and, when the trader should see it, sent as a notification.

Commands: chains, stop_chain {chain_id}, stop_all_chains, sessions, session_edit {sessions: {...}}, session_reset,
allowed {symbol, source}, events, shield {state: on|off|status} (reverse shield, strategies/positions/shield.py),
and the read-only reports session_report {id?}, tp_report, profit_status, profit_stats, autonomous_status.
"""
from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import replace
from datetime import datetime, time as dtime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors import messages as m
from actors.base import ZepixActor, handles
from actors.positions_store import PositionStore
from actors.price_subs import PriceSubscriptions
from config.errors import ConfigError
from strategies import sessions as S
from strategies.positions import chains as C
from strategies.positions import reentry as R
from strategies.positions import reports as REP
from strategies.positions import shield as SH
from strategies.positions import trailing as T
from strategies.positions.actions import CloseOrder, ModifySL, Notify, PlaceOrder, ReEnter, RecoveryOutcome
from strategies.risk.config_fields import boolean, clock, dec, sequence
from strategies.risk.pips import DEFAULT_SYMBOLS, SymbolSpec, exit_quote, profit
from strategies.risk.settings import RiskSettings
from strategies.risk.side import Side
from strategies.risk.state import last_reset_boundary
from strategies.risk.stops import place_stops

DEFAULT_ENTRY_SOURCES = ("trading/combined_v3", "trading/price_action_1m", "trading/price_action_5m",
                         "trading/price_action_15m", "trading/price_action_1h", "trading/legacy_v4")


def _utc(ts: float | None = None) -> datetime:
    return datetime.fromtimestamp(time.time() if ts is None else ts, tz=timezone.utc)


def _d(v: Any) -> Decimal | None:
    if v is None or v == "":
        return None
    return v if isinstance(v, Decimal) else Decimal(str(v))


def _s(v: Decimal | None) -> str | None:
    return None if v is None else str(v)


class Settings:
    """[positions] (with chains / reentry / trailing sub-tables) and [sessions], validated."""

    def __init__(self, config: dict):
        pos = dict(config.get("positions", {}))
        p = "positions"
        self.chains = C.ChainSettings.from_mapping(pos.pop("chains", {}), f"{p}.chains")
        self.reentry = R.ReentrySettings.from_mapping(pos.pop("reentry", {}), f"{p}.reentry")
        self.trailing = T.TrailingSettings.from_mapping(pos.pop("trailing", {}), f"{p}.trailing")
        self.shield = SH.ShieldSettings.from_mapping(pos.pop("shield", {}), f"{p}.shield")
        self.sessions = S.SessionSettings.from_mapping(config.get("sessions", {}), "sessions")
        self.enabled = boolean(pos.get("enabled", True), f"{p}.enabled")
        self.gateway = str(pos.get("gateway", "broker/gateway"))
        self.risk = str(pos.get("risk", "trading/risk"))
        self.tick_sources = tuple(str(x) for x in sequence(pos.get("tick_sources", ["broker/pricefeed"]),
                                                           f"{p}.tick_sources"))
        self.entry_sources = tuple(str(x) for x in sequence(pos.get("entry_sources", list(DEFAULT_ENTRY_SOURCES)),
                                                            f"{p}.entry_sources"))
        self.database = str(pos.get("database", "positions.db"))
        self.require_alignment = boolean(pos.get("require_alignment", True), f"{p}.require_alignment")
        self.sl_system = str(pos.get("sl_system", "sl-1"))
        if self.sl_system not in self.reentry.profit_recovery_sl_pips:
            raise ConfigError(f"{p}.sl_system", self.sl_system,
                              "one of " + ", ".join(self.reentry.profit_recovery_sl_pips))
        self.daily_reset: dtime = clock(pos.get("daily_reset", "03:35"), f"{p}.daily_reset")
        self.timezone = str(config.get("system", {}).get("timezone", "Asia/Kolkata"))
        self.session_poll_seconds = float(dec(pos.get("session_poll_seconds", 30), f"{p}.session_poll_seconds",
                                              minimum="0.05", maximum=3600))
        self.resend_after_seconds = float(dec(pos.get("resend_after_seconds", 10), f"{p}.resend_after_seconds",
                                              minimum="0.5", maximum=3600))
        self.reconcile_seconds = float(dec(pos.get("reconcile_seconds", 60), f"{p}.reconcile_seconds",
                                           minimum=1, maximum=86400))
        self.v3_plugins = tuple(str(x) for x in sequence(pos.get("v3_plugins", ["combined_v3"]), f"{p}.v3_plugins"))
        self.session_force_close = boolean(pos.get("session_force_close", True), f"{p}.session_force_close")
        self.reverse_shield = boolean(pos.get("reverse_shield", False), f"{p}.reverse_shield")
        if self.reverse_shield:   # the old switch: same as [positions.shield] enabled = true
            self.shield = replace(self.shield, enabled=True)
        self.chain_plugins = tuple(str(x) for x in sequence(pos.get("chain_plugins", ["combined_v3", "legacy_v4"]),
                                                            f"{p}.chain_plugins"))
        risk = config.get("risk")
        self.symbols = RiskSettings.from_mapping(risk).symbols if isinstance(risk, dict) else dict(DEFAULT_SYMBOLS)


class PositionManager(ZepixActor):
    """See the module docstring."""
    fast_mail = True      # every fill and close comes here: its own wait saves a Thespian turn each (actors/base.py)

    # ------------------------------------------------------------------ lifecycle
    def setup(self) -> None:
        self.cfg = Settings(self.config)
        data_dir = Path(self.config.get("system", {}).get("data_dir", "."))
        db = Path(self.cfg.database)
        self.store = PositionStore(db if db.is_absolute() else data_dir / db)
        self.specs: dict[str, SymbolSpec] = {}
        self.quotes: dict[str, tuple[Decimal, Decimal, float]] = {}
        self.chains: dict[str, C.Chain] = {C.Chain.from_dict(d).chain_id: C.Chain.from_dict(d)
                                           for d in self.store.chains()}
        self.tracked: dict[str, dict] = {t["cid"]: t for t in self.store.tracked()}
        self.by_ticket = {t["ticket"]: cid for cid, t in self.tracked.items() if t.get("ticket") is not None}
        book = self.store.get("book")
        self.book = R.ReentryBook.from_dict(book) if book else R.ReentryBook()
        shields = self.store.get("shields")
        self.shields = SH.ShieldBook.from_dict(shields) if shields else SH.ShieldBook()
        self.risk_headroom: Decimal | None = None   # from trading/risk's RiskState (topic "risk")
        self.meta: dict[str, dict] = self.store.get("meta", {})     # chain id -> owner plugin, trade id, timeframe
        self.trend: dict[str, str] = self.store.get("trend", {})    # "SYMBOL|logic" -> BUY | SELL | ""
        self.session_id: str | None = self.store.get("session_id")
        self.alerts_sent = frozenset(self.store.get("alerts_sent", []))
        self.closed_by_session: list[str] = self.store.get("closed_by_session", [])
        self.realised: dict[str, str] = self.store.get("realised", {})  # re-entry chain -> realised pnl
        self.session_edits: dict = self.store.get("session_edits", {})  # runtime edits (Telegram menus) over config
        if self.session_edits:
            self._apply_session_edits()
        self._reset_dirty()
        self.resumed = bool(self.chains or self.tracked)
        self.pending_queries: dict[str, str] = {}
        # new-exposure intents ("order") wait for trading/risk; approved ids go to the gateway (kept over restarts)
        self.risk_ok: set[str] = set(self.store.get("risk_ok", []))
        self.risk_asked: set[str] = set()
        self.latency: list[float] = []
        self.prices = PriceSubscriptions(self, self.cfg.tick_sources)
        self._subscribe()
        self.resent = 0
        self.after(0.0, "start")
        self.after(self.cfg.session_poll_seconds, "sessions")

    def _subscribe(self) -> None:
        # subscribe_to keeps one topic list per publisher, so the gateway may be asked for "trades" and "ticks"
        wanted: dict[str, list[str]] = {}
        for path in self.cfg.tick_sources:
            wanted.setdefault(path, []).append("ticks")
        wanted.setdefault(self.cfg.gateway, []).append("trades")
        wanted.setdefault("trading/risk", []).append("risk")   # daily-loss headroom for the reverse shield
        for path in self.cfg.entry_sources:
            wanted.setdefault(path, []).append("entries")
        for path, topics in wanted.items():
            self.subscribe_to(path, *topics)

    def teardown(self) -> None:
        store = getattr(self, "store", None)
        if store is not None:
            store.close()

    def config_sections(self) -> tuple:
        return ("positions", "sessions")

    def reconfigure(self, config: dict, changed: tuple) -> None:
        new = Settings(config)   # raises ConfigError (a ValueError) to refuse
        self.cfg = new
        if self.session_edits:
            self._apply_session_edits()
        self._subscribe()
        self.prices.sources = tuple(new.tick_sources)
        self.prices.want(self._price_symbols())
        self.after(0.0, "sessions")

    def status_data(self) -> dict:
        return {"chains": sum(1 for c in self.chains.values() if c.status is C.ChainStatus.ACTIVE),
                "watches": len(self.book.watches),
                "open_orders": sum(1 for t in self.tracked.values() if t["status"] != "closed"),
                "quotes": {s: str(q[0]) for s, q in self.quotes.items()}, "resumed": self.resumed,
                "resent": self.resent, "session": self.session_id, "directory": len(self.directory),
                "shields": len(self.shields.shields), "risk_headroom": _s(self.risk_headroom)}

    # ------------------------------------------------------------------ helpers
    def _reset_dirty(self) -> None:
        self.d_chains: set[str] = set()
        self.d_tracked: set[str] = set()
        self.d_kv: dict[str, Any] = {}
        self.out: list[tuple[str, str, Any]] = []       # (intent_id, kind, message) to send after the commit
        self.ev: list[dict] = []
        self.answered: list[tuple[str, str]] = []

    def symbol_spec(self, symbol: str) -> SymbolSpec:
        s = self.specs.get(symbol)
        if s is None:
            row = self.cfg.symbols.get(symbol)
            if row is None:
                raise KeyError(f"no symbol row for {symbol}")
            s = self.specs[symbol] = SymbolSpec.from_row(symbol, row)
        return s

    def now(self) -> datetime:
        return _utc()

    def day_start(self, now: datetime) -> datetime:
        return last_reset_boundary(now, self.cfg.daily_reset, self.cfg.timezone)

    def _alignment(self):
        if not self.cfg.require_alignment:
            return None

        def align(symbol: str, logic: str | None) -> Side | None:
            v = self.trend.get(f"{symbol}|{logic or ''}") or self.trend.get(f"{symbol}|")
            return Side(v) if v else None
        return align

    def _set_chain(self, chain: C.Chain) -> None:
        self.chains[chain.chain_id] = chain
        self.d_chains.add(chain.chain_id)

    def _touch(self, t: dict) -> None:
        self.tracked[t["cid"]] = t
        if t.get("ticket") is not None:
            self.by_ticket[t["ticket"]] = t["cid"]
        self.d_tracked.add(t["cid"])

    def _book(self, book: R.ReentryBook) -> None:
        if book is not self.book:
            self.book = book
            self.d_kv["book"] = book.to_dict()

    def _shield_book(self, book: SH.ShieldBook) -> None:
        if book is not self.shields:
            self.shields = book
            self.d_kv["shields"] = book.to_dict()

    def event(self, kind: str, text: str, priority: str = "INFO", chain_id: str = "", symbol: str = "",
              notify: bool = True, **data) -> None:
        """An action: logged in the DB, published on "positions", and (unless INFO) notified to the trader."""
        at = time.time()
        self.ev.append({"at": at, "kind": kind, "text": text, "chain_id": chain_id, "symbol": symbol, "data": data})
        self.publish("positions", m.PositionAction(kind=kind, text=text, priority=priority, chain_id=chain_id,
                                                   symbol=symbol, data={k: str(v) for k, v in data.items()}, at=at))
        if notify and priority != "INFO":
            self.notify(kind, priority, text, chain_id=chain_id, symbol=symbol)
        else:
            self.log.info("%s: %s %s", self.path, kind, text)

    def _price_symbols(self) -> set[str]:
        """Symbols whose quotes this manager needs: open and pending orders, active chains, watches, shields."""
        out = {t["symbol"] for t in self.tracked.values() if t["status"] != "closed"}
        out.update(c.symbol for c in self.chains.values() if c.status is C.ChainStatus.ACTIVE)
        out.update(w.symbol for w in self.book.watches)
        out.update(sh.symbol for sh in self.shields.shields)
        return out

    def _flush(self) -> None:
        """Commit this handler's changes and intents, then send the intents (write-ahead)."""
        if not (self.d_chains or self.d_tracked or self.d_kv or self.out or self.ev or self.answered):
            return
        if self.d_chains or self.d_tracked or "book" in self.d_kv or "shields" in self.d_kv:
            self.prices.want(self._price_symbols())
        encoded = [(iid, kind, m.encode(msg)) for iid, kind, msg in self.out]
        new = set(self.store.commit(
            chains=[self.chains[c].to_dict() for c in self.d_chains], tracked=[self.tracked[t] for t in self.d_tracked],
            kv=self.d_kv, intents=encoded, events=self.ev, answered=self.answered))
        gateway = self.peer(self.cfg.gateway)
        for iid, kind, data in encoded:
            if iid in new:
                self._route_intent(iid, kind, data, gateway)
        if gateway is None and new:
            self.log.warning("%s: %s not running; %d intent(s) wait in the outbox", self.path, self.cfg.gateway,
                             len(new))
        self._reset_dirty()

    # ------------------------------------------------------------------ risk gate
    def _route_intent(self, iid: str, kind: str, body: bytes, gateway) -> None:
        """Closes and SL moves go straight to the gateway; a new-exposure order ("order": re-entries, chain levels)
        first passes trading/risk, unless it was approved before (a resend after a restart)."""
        if kind != "order" or iid in self.risk_ok:
            if gateway is not None:
                self.send(gateway, body)
            return
        intent = m.decode(body)
        cid = iid[4:]
        t = self.tracked.get(cid) or {}
        try:
            spec = self.symbol_spec(intent.symbol)
            entry = _d(t.get("entry"))
            risk = profit(spec, Side(intent.side), entry, intent.sl, intent.volume).copy_abs() \
                if entry is not None and intent.sl is not None else None
        except (KeyError, ValueError, ArithmeticError):
            spec, risk = None, None
        order = {"role": cid, "kind": "OPEN", "symbol": intent.symbol, "side": intent.side,
                 "volume": str(intent.volume), "risk": _s(risk), "fixed_risk": False,
                 "volume_min": _s(spec.volume_min) if spec else None,
                 "volume_step": _s(spec.volume_step) if spec else None}
        self.risk_asked.add(iid)
        if not self.tell_peer(self.cfg.risk, m.RiskCheck(corr=iid, plugin=str(intent.plugin), orders=(order,),
                                                         alert_id=cid)):
            # nothing goes out without a risk check: the intent waits in the outbox until trading/risk runs
            self.log.warning("%s: %s not running; %s waits for its risk check", self.path, self.cfg.risk, iid)

    @handles(m.RiskVerdict)
    def _on_verdict(self, msg: m.RiskVerdict, sender) -> None:
        iid = msg.corr
        if iid not in self.risk_asked or iid in self.risk_ok:
            return
        self.risk_asked.discard(iid)
        row = self.store.conn.execute("SELECT body, status FROM intents WHERE intent_id=?", (iid,)).fetchone()
        if row is None or row["status"] != "sent":
            return
        item = msg.orders[0] if msg.orders and isinstance(msg.orders[0], dict) else {}
        t = self.tracked.get(iid[4:])
        if not msg.ok or not item.get("ok"):
            reason = f"risk ({msg.state}): {item.get('reason') or msg.reason}"
            self.answered.append((iid, "rejected"))
            if t is not None and t["status"] == "pending":
                self._rejected(t, reason, self.now())
            else:
                self.event("order_rejected", f"⚠️ {iid} refused: {reason}", "HIGH")
            self._flush()
            return
        body = bytes(row["body"])
        intent = m.decode(body)
        volume = _d(item.get("volume")) or intent.volume
        if volume != intent.volume:
            intent = replace(intent, volume=volume)
            body = m.encode(intent)
            with self.store.conn:
                self.store.conn.execute("UPDATE intents SET body=? WHERE intent_id=?", (body, iid))
            if t is not None:
                self._touch({**t, "lots": _s(volume)})
            self.event("order_resized", f"✂️ {iid}: volume cut by risk to {volume} ({item.get('reason')})", "MEDIUM",
                       symbol=intent.symbol)
        self.risk_ok.add(iid)
        self.d_kv["risk_ok"] = sorted(self.risk_ok)
        self._flush()
        gateway = self.peer(self.cfg.gateway)
        if gateway is not None:
            self.send(gateway, body)

    # ------------------------------------------------------------------ timers
    def on_timer(self, key: Any) -> None:
        if key == "start":
            self.prices.want(self._price_symbols())      # what the database brought back
            self._resend_open_intents()
            self._reconcile()
            self.after(self.cfg.reconcile_seconds, "reconcile")
            self.after(self.cfg.resend_after_seconds, "resend")
        elif key == "resend":
            self._resend_open_intents(older_than=self.cfg.resend_after_seconds)
            self.after(self.cfg.resend_after_seconds, "resend")
        elif key == "reconcile":
            self.prices.want(self._price_symbols())      # (a feed that was not running is asked again)
            self._reconcile()
            self.after(self.cfg.reconcile_seconds, "reconcile")
        elif key == "sessions":
            self._poll_sessions(self.now())
            self._flush()
            self.after(self.cfg.session_poll_seconds, "sessions")

    def _resend_open_intents(self, older_than: float = 0.0) -> None:
        gateway = self.peer(self.cfg.gateway)
        if gateway is None:
            return
        cutoff = time.time() - older_than
        for iid, _kind, body in self.store.open_intents():
            row = self.store.conn.execute("SELECT updated_at FROM intents WHERE intent_id=?", (iid,)).fetchone()
            if older_than and row and row["updated_at"] > cutoff:
                continue
            # the same intent id: the gateway answers a repeat with what it already did, never places twice
            self._route_intent(iid, _kind, body, gateway)
            self.resent += 1
            with self.store.conn:
                self.store.conn.execute("UPDATE intents SET updated_at=? WHERE intent_id=?", (time.time(), iid))

    def _reconcile(self) -> None:
        if not any(t["status"] in ("open", "closing") for t in self.tracked.values()):
            return
        corr = uuid.uuid4().hex
        self.pending_queries[corr] = "positions"
        self.tell_peer(self.cfg.gateway, m.BrokerQuery(corr=corr, what="positions"))

    def on_directory(self, previous: dict) -> None:
        self.prices.on_directory(self.directory, previous)
        gw = self.cfg.gateway
        if self.directory.get(gw) is not None and self.directory.get(gw) != previous.get(gw):
            self._resend_open_intents()
        elif self.directory.get(self.cfg.risk) is not None and self.directory.get(self.cfg.risk) != previous.get(
                self.cfg.risk):
            self._resend_open_intents()     # orders waiting for their risk check

    # ------------------------------------------------------------------ inputs
    @handles(m.Ticks)
    def _on_ticks(self, msg: m.Ticks, sender) -> None:
        t0 = time.perf_counter()
        for tick in msg.ticks:
            try:
                symbol, bid, ask, ts = tick[0], _d(tick[1]), _d(tick[2]), float(tick[3])
            except (IndexError, TypeError, ValueError, ArithmeticError):
                self.log.error("%s: bad tick %r", self.path, tick)
                continue
            self.quotes[symbol] = (bid, ask, ts)
            self._tick(symbol, bid, ask, self.now())
        self._flush()
        self.latency.append(time.perf_counter() - t0)
        if len(self.latency) > 10000:
            del self.latency[:5000]

    def _tick(self, symbol: str, bid: Decimal, ask: Decimal, now: datetime) -> None:
        if not self.cfg.enabled:
            return
        try:
            spec = self.symbol_spec(symbol)
        except KeyError:
            return
        for chain in [c for c in self.chains.values() if c.symbol == symbol and c.status is C.ChainStatus.ACTIVE]:
            new, acts = C.on_tick(chain, self.cfg.chains, spec, bid, ask, now)
            if new is not chain:
                self._set_chain(new)
            self._execute(acts, chain_id=chain.chain_id)
        for t in [t for t in self.tracked.values() if t["symbol"] == symbol and t["status"] == "open" and t.get("trail")]:
            pos = T.Position.from_dict(t["trail"])
            new, acts = T.on_tick(pos, self.cfg.trailing, spec, bid, ask)
            if new != pos:
                t = {**t, "trail": new.to_dict()}
                self._touch(t)
            self._execute(acts, chain_id=t["chain"])
        if any(s.symbol == symbol for s in self.shields.shields):
            shields, acts = SH.on_tick(self.shields, self.cfg.shield, symbol, bid, now)
            self._shield_book(shields)
            self._execute(acts)
        if any(w.symbol == symbol for w in self.book.watches) or self.book.day_start is None:
            book, acts = R.on_tick(self.book, self.cfg.reentry, symbol, bid, now, self._alignment(),
                                   self.day_start(now))
            self._book(book)
            self._execute(acts)

    @handles(m.TrendUpdate)
    def _on_trend(self, msg: m.TrendUpdate, sender) -> None:
        side = msg.side.upper()
        if side not in ("BUY", "SELL", ""):
            self.log.error("%s: TrendUpdate with side %r from %s ignored", self.path, msg.side, msg.source)
            return
        self.trend[f"{msg.symbol}|{msg.logic}"] = side
        self.d_kv["trend"] = self.trend
        self._flush()

    @handles(m.RiskState)
    def _on_risk_state(self, msg: m.RiskState, sender) -> None:
        self.risk_headroom = _d(msg.headroom)

    @handles(m.TradeOpened)
    def _on_opened(self, msg: m.TradeOpened, sender) -> None:
        now = self.now()
        try:
            side = Side.parse(msg.side)
            spec = self.symbol_spec(msg.symbol)
        except (ValueError, KeyError) as exc:
            self.event("entry_refused", f"⚠️ {msg.plugin} trade {msg.trade_id}: not managed: {exc}", "HIGH",
                       symbol=msg.symbol)
            self._flush()
            return
        logic = msg.logic or None
        timeframe = str(msg.detail.get("timeframe", "")) or None
        self.trend[f"{msg.symbol}|{msg.logic}"] = str(msg.detail.get("trend", side.value)).upper()
        self.d_kv["trend"] = self.trend
        self.meta.setdefault(msg.trade_id, {"plugin": msg.plugin, "trade_id": msg.trade_id, "timeframe": timeframe,
                                            "logic": msg.logic})
        for o in msg.orders:
            if not isinstance(o, dict):
                continue
            ticket = o.get("ticket")
            cid = str(o.get("intent_id") or f"{msg.plugin}-{ticket}")
            if cid in self.tracked:
                continue   # a repeated TradeOpened
            role = str(o.get("role", "single")).upper()
            entry, sl, tp, lots = _d(o.get("price")), _d(o.get("sl")), _d(o.get("tp")), _d(o.get("volume"))
            if entry is None or lots is None or ticket is None:
                self.event("entry_refused", f"⚠️ {msg.plugin} trade {msg.trade_id}: order {o!r} lacks ticket, "
                                            f"price or volume", "HIGH", symbol=msg.symbol)
                continue
            base_sl = abs(entry - sl) / spec.pip_size if sl is not None else None
            t = {"cid": cid, "ticket": int(ticket), "role": role, "chain": msg.trade_id, "pchain": None,
                 "plugin": msg.plugin, "symbol": msg.symbol, "side": side.value, "logic": logic,
                 "timeframe": timeframe, "entry": _s(entry), "sl": _s(sl), "tp": _s(tp), "lots": _s(lots),
                 "base_sl_pips": _s(base_sl), "status": "open", "kind": "entry", "recovers": None, "pnl": None,
                 "trail": None, "close_on_fill": False, "opened_at": now.timestamp()}
            if role == "B" and self.cfg.chains.enabled and msg.plugin in self.cfg.chain_plugins:
                chain_id = f"PROFIT_{msg.symbol}_{hashlib.sha1(msg.trade_id.encode()).hexdigest()[:8]}"
                t["pchain"] = chain_id
                if chain_id not in self.chains:
                    self.meta[chain_id] = {**self.meta[msg.trade_id]}
                    sl_money = profit(spec, side, entry, sl, lots).copy_abs() if sl is not None \
                        else Decimal(str(self.cfg.chains.min_profit))
                    self._set_chain(C.start_chain(chain_id, cid, msg.symbol, side, logic, lots, entry, sl_money, now))
                    self.event("chain_started", f"🔗 {msg.symbol} profit chain {chain_id} started with Order B "
                                                f"{lots} lots", "LOW", chain_id=chain_id, symbol=msg.symbol)
            else:
                targets = [_d(x) for x in (o.get("targets") or msg.detail.get("targets") or [])]
                profile = msg.plugin if msg.plugin in self.cfg.trailing.profiles and targets else None
                try:
                    pos = T.track(cid, msg.symbol, side, entry, sl, lots, self.cfg.trailing, spec, profile, targets)
                    t["trail"] = pos.to_dict()
                except ValueError as exc:
                    self.event("targets_refused", f"⚠️ {msg.symbol} {cid}: split targets not used: {exc}", "MEDIUM",
                               symbol=msg.symbol)
                    t["trail"] = T.track(cid, msg.symbol, side, entry, sl, lots, self.cfg.trailing, spec).to_dict()
            self._touch(t)
        self.d_kv["meta"] = self.meta
        self._flush()

    @handles(m.TradeClosed)
    def _on_trade_closed(self, msg: m.TradeClosed, sender) -> None:
        """An exit or reversal from a plugin: stop the trade's chains (closing their orders) and maybe watch for an
        exit continuation."""
        now = self.now()
        reason = msg.reason or "exit"
        mine = [t for t in self.tracked.values() if t["chain"] == msg.trade_id]
        for t in mine:
            if t["kind"] == "entry" and t["status"] == "open":
                # the plugin publishes TradeClosed once its orders are closed at the broker; their TradeEvents may
                # still be on their way. Closing them again from the chain was refused ("position does not exist")
                # and told the trader so, at HIGH, on every exit.
                self._touch({**t, "status": "closing"})
        for pchain in {t["pchain"] for t in mine if t.get("pchain")}:
            self._stop_chain(pchain, reason.upper(), now)
        self._book(R.cancel_chain(self.book, msg.trade_id))
        if mine and reason in self.cfg.reentry.exit_types:
            first = mine[0]
            side = Side(msg.detail.get("continue_side", first["side"]))
            quote = self.quotes.get(first["symbol"])
            ref = _d(msg.detail.get("price")) or (quote[0] if quote else None)
            if ref is not None:
                source = "v3" if msg.plugin in self.cfg.v3_plugins else "legacy"
                book, acts = R.register_exit_continuation(
                    self.book, self.cfg.reentry, self.symbol_spec(first["symbol"]), source=source, exit_type=reason,
                    chain_id=msg.trade_id, side=side, logic=first.get("logic"), timeframe=first.get("timeframe"),
                    ref_price=ref, now=now)
                self._book(book)
                self._execute(acts)
                if book.watches and book.watches[-1].kind is R.WatchKind.EXIT_CONTINUATION:
                    w = book.watches[-1]
                    self.event("exit_watch", f"👀 exit continuation on {w.symbol} {w.side.value}: entry signal at "
                                             f"{w.trigger} until {w.expires_at:%H:%M:%S} UTC", "LOW",
                               chain_id=msg.trade_id, symbol=w.symbol)
        self._flush()

    @handles(m.TradeEvent)
    def _on_trade_event(self, msg: m.TradeEvent, sender) -> None:
        cid = self.by_ticket.get(msg.ticket)
        if cid is None and msg.intent_id.startswith("pos-") and msg.intent_id[4:] in self.tracked:
            cid = msg.intent_id[4:]
        if cid is None:
            return
        t = self.tracked[cid]
        kind = msg.kind
        if kind in ("opened", "pending_filled"):
            if t["status"] == "pending":
                self._filled(t, msg.ticket, msg.price, msg.volume)
        elif kind == "partial":
            trail = t.get("trail")
            lots = _d(t["lots"]) - msg.volume
            self._touch({**t, "lots": _s(lots)} if not trail else
                        {**t, "lots": _s(lots), "trail": {**trail, "lots": str(min(_d(trail["lots"]), lots))}})
        elif kind == "modified":
            trail = t.get("trail")
            new = {**t, "sl": _s(msg.sl), "tp": _s(msg.tp)}
            if trail:
                new["trail"] = {**trail, "sl": _s(msg.sl)}
            self._touch(new)
        elif kind in ("closed", "sl_hit", "tp_hit"):
            why = {"sl_hit": "sl", "tp_hit": "tp"}.get(kind) or (msg.reason.lower() if msg.reason.lower() in
                                                                 ("sl", "tp") else "closed")
            pnl = msg.profit if msg.profit is not None else self._estimate(t, msg.price)
            # Closed neither by its SL/TP nor by a close of ours ("pos-close-..."): its plugin's exit or reversal,
            # or a close outside the bot (broker-side events carry the opening intent). A chain order closed that
            # way stops its chain (facts §4.1); it is not a level booked in profit.
            outside = (msg.reason or "closed").upper() \
                if why == "closed" and not msg.intent_id.startswith("pos-close-") else ""
            self._closed(t, pnl, msg.price, why, self.now(), outside=outside)
        self._flush()

    @handles(m.OrderOutcome)
    def _on_outcome(self, msg: m.OrderOutcome, sender) -> None:
        iid = msg.intent_id
        if not iid.startswith("pos-"):
            return
        if msg.status != "unknown":
            self.answered.append((iid, msg.status))
            if iid in self.risk_ok:
                self.risk_ok.discard(iid)
                self.d_kv["risk_ok"] = sorted(self.risk_ok)
        if iid.startswith("pos-close-") or iid.startswith("pos-mod-"):
            if msg.status == "rejected":
                self.event("order_rejected", f"⚠️ {iid} refused: {msg.reason}", "HIGH", symbol=msg.symbol)
            self._flush()
            return
        t = self.tracked.get(iid[4:])
        if t is None:
            self._flush()
            return
        if msg.status == "filled" and t["status"] == "pending":
            self._filled(t, msg.ticket, msg.price, msg.volume)
        elif msg.status == "rejected" and t["status"] == "pending":
            self._rejected(t, msg.reason or "rejected", self.now())
        self._flush()

    @handles(m.BrokerReply)
    def _on_broker_reply(self, msg: m.BrokerReply, sender) -> None:
        if self.pending_queries.pop(msg.corr, None) != "positions" or not msg.ok:
            return
        rows = msg.data.get("positions", [])
        open_tickets = {int(r["ticket"]) for r in rows if isinstance(r, dict) and "ticket" in r}
        now = self.now()
        for t in list(self.tracked.values()):
            if t["status"] in ("open", "closing") and t.get("ticket") is not None and \
                    t["ticket"] not in open_tickets:
                quote = self.quotes.get(t["symbol"])
                price = exit_quote(Side(t["side"]), quote[0], quote[1]) if quote else _d(t["entry"])
                pnl = self._estimate(t, price)
                self.event("reconciled", f"🔎 {t['symbol']} order {t['cid']} (ticket {t['ticket']}) is no longer "
                                         f"open at the broker: taken as closed at {price} ({pnl})", "MEDIUM",
                           chain_id=t.get("pchain") or t["chain"], symbol=t["symbol"])
                self._closed(t, pnl, price, "closed", now)
        self._flush()

    # ------------------------------------------------------------------ order life cycle
    def _estimate(self, t: dict, price: Decimal | None) -> Decimal:
        if price is None or t.get("entry") is None:
            return Decimal(0)
        return profit(self.symbol_spec(t["symbol"]), Side(t["side"]), _d(t["entry"]), price, _d(t["lots"]))

    def _filled(self, t: dict, ticket: int | None, price: Decimal | None, volume: Decimal | None) -> None:
        if ticket is None:
            return
        now = self.now()
        entry = price if price is not None else _d(t["entry"])
        lots = volume if volume else _d(t["lots"])
        t = {**t, "ticket": int(ticket), "status": "open", "entry": _s(entry), "lots": _s(lots),
             "opened_at": now.timestamp()}
        if t.get("pchain"):
            chain = self.chains.get(t["pchain"])
            if chain is not None:
                new, acts = C.on_fill(chain, t["cid"], entry, lots, now)
                self._set_chain(new)
                self._touch(t)
                self._execute(acts, chain_id=chain.chain_id)
                return
        else:
            t["trail"] = T.track(t["cid"], t["symbol"], Side(t["side"]), entry, _d(t["sl"]), lots, self.cfg.trailing,
                                 self.symbol_spec(t["symbol"])).to_dict()
        self._touch(t)
        if t.get("close_on_fill"):
            self._send_close(t, "CHAIN_STOPPED")

    def _rejected(self, t: dict, reason: str, now: datetime) -> None:
        self._touch({**t, "status": "closed", "pnl": "0", "closed_at": now.timestamp(), "exit_reason": "refused"})
        self.event("order_rejected", f"⚠️ {t['symbol']} {t['cid']} refused: {reason}", "HIGH",
                   chain_id=t.get("pchain") or t["chain"], symbol=t["symbol"])
        if t.get("pchain") and t["pchain"] in self.chains:
            chain = self.chains[t["pchain"]]
            new, acts = C.on_reject(chain, self.cfg.chains, self.symbol_spec(t["symbol"]), t["cid"], reason, now)
            self._set_chain(new)
            self._execute(acts, chain_id=chain.chain_id)
        elif self.shields.owner(t["cid"]) is not None:
            shields, acts = SH.on_order_closed(self.shields, t["cid"], Decimal(0))
            self._shield_book(shields)
            self._execute(acts, chain_id=t["chain"])

    def _closed(self, t: dict, pnl: Decimal, price: Decimal | None, why: str, now: datetime,
                outside: str = "") -> None:
        """``outside``: the reason of a close that was neither an SL/TP hit nor ours (an exit, a reversal)."""
        if t["status"] == "closed":
            return
        # exit price, reason and time make the session and TP reports (strategies/positions/reports.py)
        t = {**t, "status": "closed", "pnl": _s(pnl), "exit_price": _s(price), "exit_reason": why,
             "closed_at": now.timestamp()}
        self._touch(t)
        spec = self.symbol_spec(t["symbol"])
        side = Side(t["side"])
        ds = self.day_start(now)
        if t.get("pchain") and t["pchain"] in self.chains:
            if outside:
                # its other open orders are closed; this one already is (its tracked status says so)
                self._stop_chain(t["pchain"], outside, now)
            chain = self.chains[t["pchain"]]
            order = chain.order(t["cid"])
            awaiting = False
            if why == "sl" and not t.get("recovers") and chain.status is C.ChainStatus.ACTIVE and order is not None:
                book, acts = R.register_profit_sl_hunt(
                    self.book, self.cfg.reentry, spec, chain_id=chain.chain_id, order_id=t["cid"], side=side,
                    logic=chain.logic, sl_price=_d(t["sl"]) or price, lots=chain.lots, level=order.level,
                    chain_profit=chain.realised, sl_system=self.cfg.sl_system, now=now, day_start=ds)
                self._book(book)
                awaiting = not any(isinstance(a, RecoveryOutcome) for a in acts)
                self._execute([a for a in acts if not isinstance(a, RecoveryOutcome)], chain_id=chain.chain_id)
                if awaiting:
                    self.event("profit_sl_hunt_armed", f"🎯 {t['symbol']} chain {chain.chain_id}: order {t['cid']} "
                                                       f"stopped out, recovery watch armed", "LOW",
                               chain_id=chain.chain_id, symbol=t["symbol"])
            new, acts = C.on_close(chain, self.cfg.chains, spec, t["cid"], pnl, now, awaiting_recovery=awaiting)
            self._set_chain(new)
            if t.get("recovers"):
                book, more = R.on_recovery_closed(self.book, self.cfg.reentry, pnl, now, ds)
                self._book(book)
                acts = acts + more
            self._execute(acts, chain_id=chain.chain_id)
            if new.status is not C.ChainStatus.ACTIVE:
                self._book(R.cancel_chain(self.book, new.chain_id))
            return
        chain_id = t["chain"]
        self.realised[chain_id] = str(_d(self.realised.get(chain_id, "0")) + pnl)
        self.d_kv["realised"] = self.realised
        if t.get("kind") == R.WatchKind.SL_HUNT.value:
            book, acts = R.on_recovery_closed(self.book, self.cfg.reentry, pnl, now, ds)
            self._book(book)
            self._execute(acts, chain_id=chain_id)
        if self.shields.owner(t["cid"]) is not None or str(t.get("kind") or "").startswith("SHIELD_"):
            # a shield order: no re-entry of its own
            shields, acts = SH.on_order_closed(self.shields, t["cid"], pnl)
            self._shield_book(shields)
            self._execute(acts, chain_id=chain_id)
            return
        if not self.cfg.enabled:
            return
        if why == "sl":
            sl_price = _d(t["sl"]) or price
            if sl_price is None or t.get("entry") is None:
                return
            if self.shields.is_on(self.cfg.shield) and self._open_shields(t, sl_price, price, pnl, now):
                return
            book, acts = R.register_sl_hunt(
                self.book, self.cfg.reentry, spec, chain_id=chain_id, order_id=t["cid"], side=side,
                logic=t.get("logic"), entry=_d(t["entry"]), sl_price=sl_price, lots=_d(t["lots"]),
                chain_profit=_d(self.realised[chain_id]) - pnl, now=now, day_start=ds)
            self._book(book)
            self._execute(acts, chain_id=chain_id)
        elif why == "tp":
            tp_price = _d(t["tp"]) or price
            if tp_price is None or not t.get("base_sl_pips"):
                return
            book, acts = R.register_tp_continuation(
                self.book, self.cfg.reentry, spec, chain_id=chain_id, order_id=t["cid"], side=side,
                logic=t.get("logic"), tp_price=tp_price, base_sl_pips=_d(t["base_sl_pips"]), lots=_d(t["lots"]),
                now=now)
            self._book(book)
            self._execute(acts, chain_id=chain_id)
            w = next((w for w in reversed(book.watches) if w.chain_id == chain_id
                      and w.kind is R.WatchKind.TP_CONTINUATION), None)
            if w is not None:
                self.event("tp_watch", f"👀 TP continuation on {w.symbol} {w.side.value}: re-entry at {w.trigger} "
                                       f"(SL {w.sl_pips:.1f} pips)", "LOW", chain_id=chain_id, symbol=w.symbol)

    def _open_shields(self, t: dict, sl_price: Decimal, price: Decimal | None, pnl: Decimal, now: datetime) -> bool:
        """Reverse shield after an SL hit; True when the SL-hunt recovery must not start now (shields opened, or
        skipped without fallback)."""
        side = Side(t["side"])
        quote = self.quotes.get(t["symbol"])
        if price is not None:
            # the SL fill is fresher than the last tick (the broker reports the hit before the tick that caused
            # it): price the shields there, or their stops land off the entry / get widened near a stale quote
            spread = quote[1] - quote[0] if quote else Decimal(0)
            bid, ask = (price, price + spread) if side is Side.BUY else (price - spread, price)
            self.quotes[t["symbol"]] = (bid, ask, quote[2] if quote else time.time())
        else:
            bid, ask = (quote[0], quote[1]) if quote else (sl_price, sl_price)
        shields, acts, opened = SH.open_shields(
            self.shields, self.cfg.shield, self.symbol_spec(t["symbol"]), chain_id=t["chain"], order_id=t["cid"],
            side=side, logic=t.get("logic"), entry=_d(t["entry"]), sl_price=sl_price, lots=_d(t["lots"]), bid=bid,
            ask=ask, headroom=self.risk_headroom,
            chain_profit=_d(self.realised.get(t["chain"], "0")) - pnl, now=now)
        self._shield_book(shields)
        self._execute(acts, chain_id=t["chain"])
        return opened or not self.cfg.shield.fallback_to_recovery

    def _resume_recovery(self, a: SH.ResumeRecovery) -> None:
        now = a.at
        book, acts = R.register_sl_hunt(
            self.book, self.cfg.reentry, self.symbol_spec(a.symbol), chain_id=a.chain_id, order_id=a.order_id,
            side=a.side, logic=a.logic, entry=a.entry, sl_price=a.sl_price, lots=a.lots, chain_profit=a.chain_profit,
            now=now, day_start=self.day_start(now))
        self._book(book)
        self._execute(acts, chain_id=a.chain_id)

    def _stop_chain(self, chain_id: str, reason: str, now: datetime) -> bool:
        chain = self.chains.get(chain_id)
        if chain is None or chain.status is not C.ChainStatus.ACTIVE:
            return False
        new, acts = C.stop_chain(chain, reason, now)
        self._set_chain(new)
        self._book(R.cancel_chain(self.book, chain_id))
        for o in new.orders:   # a level order still pending is closed as soon as it fills
            t = self.tracked.get(o.client_id)
            if t is not None and t["status"] == "pending":
                self._touch({**t, "close_on_fill": True})
        self._execute(acts, chain_id=chain_id)
        return True

    # ------------------------------------------------------------------ actions -> intents
    def _execute(self, actions: list, chain_id: str = "") -> None:
        for a in actions:
            if isinstance(a, PlaceOrder):
                self._place(a)
            elif isinstance(a, CloseOrder):
                t = self.tracked.get(a.order_id)
                if t is None:
                    continue
                if t["status"] == "pending":
                    self._touch({**t, "close_on_fill": True})
                elif t["status"] == "open":
                    self._send_close(t, a.reason, a.lots)
            elif isinstance(a, ModifySL):
                t = self.tracked.get(a.order_id)
                if t is None or t["status"] != "open":
                    continue
                iid = f"pos-mod-{t['cid']}-{a.sl}"
                self.out.append((iid, "modify", m.ModifyIntent(intent_id=iid, plugin=t["plugin"], ticket=t["ticket"],
                                                                sl=a.sl, detail={"reason": a.reason})))
                self._touch({**t, "sl": str(a.sl)})
                self.event("sl_moved", f"🛡 {t['symbol']} {t['cid']}: SL -> {a.sl} ({a.reason})", "LOW",
                           chain_id=t.get("pchain") or t["chain"], symbol=t["symbol"])
            elif isinstance(a, Notify):
                chain = self.chains.get(chain_id)
                self.event(a.kind, a.text, a.priority, chain_id=chain_id, symbol=chain.symbol if chain else "")
            elif isinstance(a, ReEnter):
                self._reenter(a)
            elif isinstance(a, SH.ResumeRecovery):
                self._resume_recovery(a)
            elif isinstance(a, RecoveryOutcome):
                chain = self.chains.get(a.chain_id)
                if chain is not None:
                    t = self.tracked.get(a.order_id)
                    spec = self.symbol_spec(chain.symbol)
                    new, acts = C.on_recovery_result(chain, self.cfg.chains, spec, a.order_id, a.recovered,
                                                     self.now())
                    self._set_chain(new)
                    self._execute(acts, chain_id=chain.chain_id)
                    if t is not None and new.status is not C.ChainStatus.ACTIVE:
                        self._book(R.cancel_chain(self.book, new.chain_id))

    def _owner(self, chain_id: str) -> dict:
        meta = self.meta.get(chain_id)
        if meta:
            return meta
        t = next((t for t in self.tracked.values() if t["chain"] == chain_id or t.get("pchain") == chain_id), None)
        return {"plugin": t["plugin"] if t else "positions", "trade_id": t["chain"] if t else chain_id,
                "timeframe": t.get("timeframe") if t else None}

    def _place(self, a: PlaceOrder) -> None:
        if a.client_id in self.tracked:
            return   # never twice for one client id
        owner = self._owner(a.chain_id)
        pchain = a.chain_id if a.chain_id in self.chains else None
        quote = self.quotes.get(a.symbol)
        kind = "level" if pchain and not a.recovers else a.comment
        watch_kind = next((k.value for k in R.WatchKind if f"-{k.value}-" in a.client_id), None)
        t = {"cid": a.client_id, "ticket": None, "role": "REENTRY" if not pchain else "LEVEL", "chain": owner.get(
             "trade_id") or a.chain_id, "pchain": pchain, "plugin": owner["plugin"], "symbol": a.symbol,
             "side": a.side.value, "logic": None if pchain is None else self.chains[pchain].logic,
             "timeframe": owner.get("timeframe"), "entry": None, "sl": None, "tp": None, "lots": str(a.lots),
             "base_sl_pips": str(a.sl_pips), "status": "pending", "kind": watch_kind or kind,
             "recovers": a.recovers, "pnl": None, "trail": None, "close_on_fill": False,
             "opened_at": self.now().timestamp()}
        if pchain is None:
            t["chain"] = a.chain_id
            wl = next((w for w in self.book.watches if w.watch_id == a.client_id), None)
            t["logic"] = wl.logic if wl else self.meta.get(a.chain_id, {}).get("logic") or None
        if a.recovers and pchain:
            self._set_chain(C.attach_recovery(self.chains[pchain], a.recovers, a.client_id, a.lots))
        if quote is None:
            self._touch(t)
            self._rejected(t, f"no price for {a.symbol} yet", self.now())
            return
        side = a.side
        entry = quote[1] if side is Side.BUY else quote[0]
        spec = self.symbol_spec(a.symbol)
        rr = (a.tp_pips / a.sl_pips) if a.tp_pips is not None else None
        stops = place_stops(spec, side, entry, a.sl_pips, a.lots, rr_ratio=rr)
        t.update(entry=str(entry), sl=str(stops.sl), tp=_s(stops.tp))
        self._touch(t)
        iid = f"pos-{a.client_id}"
        self.out.append((iid, "order", m.OrderIntent(
            intent_id=iid, plugin=owner["plugin"], symbol=a.symbol, side=side.value, volume=a.lots, sl=stops.sl,
            tp=stops.tp, comment=a.comment[:31],
            detail={"source": "trading/positions", "chain_id": a.chain_id, "level": a.level,
                    "client_id": a.client_id, "recovers": a.recovers or ""})))
        self.event("order_placed", f"📤 {a.comment}: {a.symbol} {side.value} {a.lots} lots, SL {stops.sl} "
                                   f"({stops.sl_pips:.1f} pips), TP {stops.tp}", "LOW",
                   chain_id=a.chain_id, symbol=a.symbol, client_id=a.client_id, sl=stops.sl, tp=stops.tp,
                   sl_pips=stops.sl_pips)

    def _send_close(self, t: dict, reason: str, lots: Decimal | None = None) -> None:
        suffix = reason if lots is None else f"{reason}-{lots}"
        iid = f"pos-close-{t['cid']}-{suffix}"
        intent_reason = "session" if reason == "SESSION" else "chain" if "CHAIN" in reason or "PROFIT" in reason \
            else reason.lower()
        self.out.append((iid, "close", m.CloseIntent(intent_id=iid, plugin=t["plugin"], ticket=t["ticket"], volume=lots,
                                                     reason=intent_reason, detail={"why": reason, "client_id": t["cid"]})))
        self.event("close_sent", f"📥 {t['symbol']} {t['cid']}: close{'' if lots is None else f' {lots} lots'} "
                                 f"({reason})", "INFO", chain_id=t.get("pchain") or t["chain"], symbol=t["symbol"])

    def _reenter(self, a: ReEnter) -> None:
        plugin = self.meta.get(a.chain_id, {}).get("plugin", "")
        quote = self.quotes.get(a.symbol)
        price = (quote[1] if a.side is Side.BUY else quote[0]) if quote else None
        sig = m.ReEntrySignal(signal_id=f"pos-reenter-{a.chain_id}-{self.book.seq}", plugin=plugin, symbol=a.symbol,
                              side=a.side.value, logic=a.logic or "", timeframe=a.timeframe or "", reason=a.reason,
                              price=price)
        sent = bool(plugin) and self.tell_peer(f"trading/{plugin}", sig)
        self.event("reenter_signal", f"🔁 exit continuation: {a.symbol} {a.side.value} entry signal to "
                                     f"{plugin or 'no plugin'} ({a.reason}){'' if sent else ' - not delivered'}",
                   "MEDIUM", chain_id=a.chain_id, symbol=a.symbol)

    # ------------------------------------------------------------------ sessions
    def _poll_sessions(self, now: datetime) -> None:
        st = self.cfg.sessions
        sid, started = S.session_transition(st, self.session_id, now)
        if started is not None:
            self.session_id = sid
            self.d_kv["session_id"] = sid
            if started.previous is not None or self.session_id is not None:
                self.event("session_started", f"🕐 {started.name} started", "MEDIUM", session=sid or "")
        due, sent = S.advance_alerts(st, now, self.alerts_sent)
        if sent != self.alerts_sent:
            self.alerts_sent = sent
            self.d_kv["alerts_sent"] = sorted(sent)
        for a in due:
            self.event("session_alert", f"⏰ {a.name} starts in {a.minutes_left} min ({a.starts_at:%H:%M} "
                                        f"{st.timezone})", "MEDIUM", session=a.session_id)
        fc = S.force_close_due(st, now)
        if fc is None or not self.cfg.session_force_close:
            return
        closing = [t for t in self.tracked.values() if t["status"] in ("open", "pending")]
        if not closing:
            return
        stopped = {pchain for pchain in {t["pchain"] for t in closing if t.get("pchain")}
                   if self._stop_chain(pchain, "SESSION", now)}
        for t in closing:
            self._book(R.cancel_chain(self.book, t["chain"]))
            t = self.tracked[t["cid"]]
            if t.get("pchain") in stopped:
                continue        # stopping its chain closed it (or closes it when it fills): not a second close
            if t["status"] == "open":
                self._send_close(t, "SESSION")
            else:
                self._touch({**t, "close_on_fill": True})
        self.event("session_close", f"🌙 {fc.name} ends in {fc.seconds_left} s: closing {len(closing)} "
                                    f"position(s)", "HIGH", session=fc.session_id, count=len(closing))

    def _apply_session_edits(self) -> None:
        from strategies.risk.config_fields import deep_merge
        base = self.cfg.sessions.to_mapping()
        self.cfg.sessions = S.SessionSettings.from_mapping(deep_merge(base, self.session_edits), "sessions")

    # ------------------------------------------------------------------ commands
    def on_command(self, msg: m.Command, sender):
        try:
            reply = self._command(msg)
        except (KeyError, ValueError, TypeError) as exc:
            reply = m.CommandReply(corr=msg.corr, ok=False, text=f"{msg.name}: {exc}")
        self._flush()
        return reply

    def _command(self, msg: m.Command) -> m.CommandReply:
        ok = lambda text, **data: m.CommandReply(corr=msg.corr, ok=True, text=text, data=data)  # noqa: E731
        now = self.now()
        if msg.name == "chains":
            return ok(self._chains_text(), **self._chains_data())
        if msg.name == "stop_chain":
            cid = str(msg.args["chain_id"])
            if cid not in self.chains:
                raise KeyError(f"no chain {cid}")
            done = self._stop_chain(cid, "MANUAL", now)
            return ok(f"chain {cid} stopped" if done else f"chain {cid} is {self.chains[cid].status.value}")
        if msg.name == "stop_all_chains":
            n = sum(self._stop_chain(c, "MANUAL", now) for c in list(self.chains))
            return ok(f"{n} chain(s) stopped", stopped=n)
        if msg.name == "sessions":
            st = S.status(self.cfg.sessions, now)
            return ok(S.status_text(st), **self._sessions_data(st))
        if msg.name == "session_edit":
            # runtime edits over the configured table (master switch, times, symbols, force close); kept in the DB
            from strategies.risk.config_fields import deep_merge
            edits = deep_merge(self.session_edits, dict(msg.args.get("sessions", {})))
            S.SessionSettings.from_mapping(deep_merge(Settings(self.config).sessions.to_mapping(), edits), "sessions")
            self.session_edits = edits
            self.d_kv["session_edits"] = edits
            self.cfg = Settings(self.config)
            self._apply_session_edits()
            self.after(0.0, "sessions")
            st = S.status(self.cfg.sessions, now)
            self.event("session_edit", f"🛠 sessions changed by {msg.user or 'someone'}: {edits}", "MEDIUM")
            return ok(S.status_text(st), **self._sessions_data(st))
        if msg.name == "session_reset":
            self.session_edits = {}
            self.d_kv["session_edits"] = {}
            self.cfg = Settings(self.config)
            return ok("session edits dropped; the configured table applies")
        if msg.name == "allowed":
            v = S.check_trade(self.cfg.sessions, str(msg.args["symbol"]), now, str(msg.args.get("source", "legacy")))
            return ok(v.reason, allowed=v.allowed, session=v.session_id or "")
        if msg.name == "events":
            return ok("", events=self.store.events(int(msg.args.get("limit", 50))))
        if msg.name == "latency":
            return ok("", seconds=list(self.latency))
        if msg.name == "shield":
            arg = str(msg.args.get("state", msg.args.get("arg", "status"))).lower()
            if arg in ("on", "off"):
                self._shield_book(SH.set_enabled(self.shields, arg == "on"))
                self.event("shield_switch", f"🛡 reverse shield {arg} ({msg.user or 'someone'})", "MEDIUM")
            elif arg != "status":
                raise ValueError(f"shield takes on, off or status, not {arg!r}")
            st = SH.status(self.shields, self.cfg.shield)
            return ok(f"reverse shield {'ON' if st['enabled'] else 'OFF'}, {len(st['shields'])} open", **st)
        if msg.name in ("session_report", "tp_report", "profit_status", "profit_stats", "autonomous_status"):
            return self._report(msg, ok, now)
        return m.CommandReply(corr=msg.corr, ok=False, text=f"{self.path} has no command {msg.name!r}; commands: "
                              "chains, stop_chain, stop_all_chains, sessions, session_edit, session_reset, allowed, "
                              "events, shield, session_report, tp_report, profit_status, profit_stats, "
                              "autonomous_status")

    def _report(self, msg: m.Command, ok, now: datetime) -> m.CommandReply:
        """The read-only Telegram reports (strategies/positions/reports.py)."""
        if msg.name == "session_report":
            sessions = REP.trading_sessions(self.tracked.values(), now.timestamp())
            wanted = str(msg.args.get("id") or "").strip()
            if not wanted:
                return ok(REP.sessions_text(sessions),
                          sessions=[{k: v for k, v in x.items() if k != "orders"} for x in sessions])
            found = REP.find_session(sessions, wanted)
            if found is None:
                raise ValueError(f"no trading session {wanted!r}; /session_report without an id lists them")
            return ok(REP.session_text(found, self.cfg.timezone), **found)
        if msg.name == "tp_report":
            d = REP.tp_stats(self.tracked.values(), self.store.count_events("tp_watch"), self._pip_size,
                             self.cfg.reentry)
            return ok(REP.tp_text(d), **d)
        if msg.name == "profit_status":
            d = REP.profit_status(self.chains.values(), self.cfg.chains)
            return ok(REP.profit_status_text(d), **d)
        if msg.name == "profit_stats":
            d = REP.profit_stats(self.chains.values(), self.cfg.chains)
            return ok(REP.profit_stats_text(d), **d)
        d = REP.autonomous_status(self.cfg.reentry, self.book, self.tracked.values(), self.day_start(now), now,
                                  self.cfg.chains.enabled and self.cfg.enabled)
        d["positions_enabled"] = self.cfg.enabled
        text = REP.autonomous_text(d)
        if not self.cfg.enabled:
            text = "⚠️ position management is off ([positions] enabled = false): nothing re-enters\n" + text
        return ok(text, **d)

    def _pip_size(self, symbol: str) -> Decimal | None:
        try:
            return self.symbol_spec(symbol).pip_size
        except KeyError:
            return None

    def _chains_data(self) -> dict:
        chains = []
        for c in self.chains.values():
            chains.append({"chain_id": c.chain_id, "symbol": c.symbol, "side": c.side.value, "logic": c.logic or "",
                           "level": c.level, "status": c.status.value, "realised": str(c.realised),
                           "reason": c.reason, "started_at": c.started_at.isoformat(),
                           "orders": [{"client_id": o.client_id, "level": o.level, "status": o.status.value,
                                       "outcome": o.outcome.value, "pnl": _s(o.pnl),
                                       "ticket": (self.tracked.get(o.client_id) or {}).get("ticket")}
                                      for o in c.orders]})
        watches = [{"watch_id": w.watch_id, "kind": w.kind.value, "chain_id": w.chain_id, "symbol": w.symbol,
                    "side": w.side.value, "trigger": str(w.trigger), "expires_at": w.expires_at.isoformat(),
                    "sl_pips": _s(w.sl_pips), "level": w.level} for w in self.book.watches]
        monitors = [{"client_id": t["cid"], "ticket": t["ticket"], "symbol": t["symbol"], "side": t["side"],
                     "kind": t.get("kind"), "chain": t.get("pchain") or t["chain"], "status": t["status"],
                     "sl": t.get("sl"), "tp": t.get("tp"), "lots": t["lots"]}
                    for t in self.tracked.values() if t["status"] != "closed"]
        return {"chains": chains, "watches": watches, "monitors": monitors,
                "safety": {"attempts_today": self.book.attempts_today, "losses_today": self.book.losses_today,
                           "cooldown_until": self.book.cooldown_until.isoformat() if self.book.cooldown_until
                           else None}}

    def _chains_text(self) -> str:
        d = self._chains_data()
        lines = [f"{len([c for c in d['chains'] if c['status'] == 'ACTIVE'])} active chain(s), "
                 f"{len(d['watches'])} watch(es), {len(d['monitors'])} open order(s)"]
        for c in d["chains"]:
            open_n = sum(1 for o in c["orders"] if o["status"] != "CLOSED")
            lines.append(f"  {c['chain_id']:<26} {c['symbol']:<7} {c['side']:<4} L{c['level']} {c['status']:<9} "
                         f"realised {c['realised']:>8}  open {open_n}  {c['reason']}")
        for w in d["watches"]:
            lines.append(f"  watch {w['kind']:<17} {w['symbol']:<7} {w['side']:<4} at {w['trigger']} until "
                         f"{w['expires_at'][11:19]} UTC (chain {w['chain_id']})")
        return "\n".join(lines)

    def _sessions_data(self, st: S.SessionStatus) -> dict:
        s = self.cfg.sessions
        return {"master_switch": st.master_switch, "session_id": st.session_id or "", "session": st.session_name,
                "allowed": list(st.allowed_symbols), "total_symbols": st.total_symbols,
                "local_time": st.local_time.isoformat(), "timezone": s.timezone,
                "windows": [{"id": w.id, "name": w.name, "start": f"{w.start:%H:%M}", "end": f"{w.end:%H:%M}",
                             "symbols": list(w.symbols), "advance_alert": w.advance_alert,
                             "force_close": w.force_close} for w in s.sessions],
                "bypass": sorted(s.bypass)}
