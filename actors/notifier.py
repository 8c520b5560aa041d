"""The notification router (``telegram/notifier``): every actor's ``self.notify(...)`` arrives here as ``Notify``.

Routing by priority (zepix-facts §5.1, configurable in [telegram.routing]): CRITICAL -> every bot; HIGH and
MEDIUM -> the Notification bot; LOW -> Analytics; INFO -> Controller. A role without its own token is played by
the bot that has it (with one token: ``telegram/bot``). Per notification type (``Notify.kind``) the trader sets
on / silent (delivered without a sound) / off, in [telegram.modes] or at runtime (/notify_mode); CRITICAL is
never muted.

It also turns trading events into notifications with the layouts of zepix-facts §5.4: TradeOpened (topic
"entries" from the plugins) -> entry, TradeEvent closes (topic "trades" from broker/gateway) -> exit / SL hit,
rejected OrderOutcomes (topic "orders") -> order_rejected, TradeClosed -> trade_closed.

A CRITICAL notification whose bot is not running (restarting) is held here and handed over when the bot is back
in the directory; in the bot it goes through the persisted outbox. Nothing CRITICAL is dropped.
"""
from __future__ import annotations

import hashlib
import time
from typing import Any

from actors import messages as m
from actors.base import ZepixActor, handles
from gateways.telegram import formatting as fmt
from gateways.telegram import voice as V
from gateways.telegram.env import ROLES

PRIORITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO")
TO_SENDER = {"CRITICAL": "CRITICAL", "HIGH": "HIGH", "MEDIUM": "NORMAL", "LOW": "LOW", "INFO": "LOW"}
DEFAULT_ROUTING = {"CRITICAL": "all", "HIGH": "notification", "MEDIUM": "notification", "LOW": "analytics",
                   "INFO": "controller"}
MODES = ("on", "silent", "off")
_EMOJI = {"CRITICAL": "🚨", "HIGH": "🔴", "MEDIUM": "🟡", "LOW": "🟢", "INFO": "ℹ️"}
PLUGIN_PATHS = ("trading/combined_v3", "trading/price_action_1m", "trading/price_action_5m",
                "trading/price_action_15m", "trading/price_action_1h", "trading/legacy_v4")
HOLD_LIMIT = 1000


class TelegramNotifier(ZepixActor):

    def setup(self) -> None:
        opts = self.spec.get("options", {}) or {}
        # role -> actor path of the bot that plays it (from the subtree, which knows the tokens)
        self.bots: dict[str, str] = dict(opts.get("bots") or {r: "telegram/bot" for r in ROLES})
        tc = self.config.get("telegram", {})
        self.routing = {**DEFAULT_ROUTING, **(tc.get("routing") or {})}
        self.modes: dict[str, str] = dict(tc.get("modes") or {})
        self.tz = self.config.get("system", {}).get("timezone", fmt.DEFAULT_TZ)
        self.held: list[tuple[str, m.TgSend]] = []
        self.counts = {"routed": 0, "muted": 0, "silent": 0, "held": 0, "dropped": 0, "bad": 0}
        self.subscribe_to("broker/gateway", "orders", "trades")
        for path in PLUGIN_PATHS:
            self.subscribe_to(path, "entries")

    def status_data(self) -> dict:
        return {**self.counts, "modes": dict(self.modes), "bots": dict(self.bots), "holding": len(self.held)}

    def config_sections(self) -> tuple:
        return ("telegram",)

    def reconfigure(self, config: dict, changed: tuple) -> None:
        tc = config.get("telegram", {})
        modes = dict(tc.get("modes") or {})
        for kind, mode in modes.items():
            if mode not in MODES:
                raise ValueError(f"telegram.modes.{kind} = {mode!r}; allowed: {', '.join(MODES)}")
        self.modes = modes
        self.routing = {**DEFAULT_ROUTING, **(tc.get("routing") or {})}

    # -- routing -----------------------------------------------------------------------------------------------
    def targets(self, priority: str) -> list[str]:
        role = self.routing.get(priority, "notification")
        if role == "all":
            return list(dict.fromkeys(self.bots[r] for r in ROLES if r in self.bots))
        return [self.bots.get(role) or self.bots.get("notification") or next(iter(self.bots.values()))]

    def mode_of(self, kind: str) -> str:
        return self.modes.get(kind, self.modes.get("*", "on"))

    @handles(m.Notify)
    def _on_notify(self, msg: m.Notify, sender) -> None:
        prio = msg.priority.upper() if isinstance(msg.priority, str) else "HIGH"
        if prio not in PRIORITIES:
            self.counts["bad"] += 1
            self.log.error("%s: Notify from %s with unknown priority %r, sent as HIGH", self.path, msg.source,
                           msg.priority)
            prio = "HIGH"
        text = self.render(msg, prio)
        # §5.6: CRITICAL events are spoken too (the bots voice only the priorities telegram.voice names)
        self.emit(msg.kind, prio, text, msg.source, msg.at,
                  voice=V.spoken(msg.text) if prio == "CRITICAL" and msg.kind != "daily_summary" else "")

    def render(self, msg: m.Notify, prio: str) -> str:
        if msg.kind in fmt.FORMATTERS and msg.data:
            try:
                return fmt.render(msg.kind, {**msg.data, "time": msg.data.get("time", msg.at or None)}, self.tz).text
            except Exception as exc:   # a layout must never cost the notification: fall back to its text
                self.log.warning("%s: layout %s failed (%s); sending the plain text", self.path, msg.kind, exc)
        head = f"{_EMOJI[prio]} <b>{prio}</b> · {fmt.esc(msg.kind)}"
        src = f"\n<i>{fmt.esc(msg.source)}</i>" if msg.source else ""
        return f"{head}\n{fmt.esc(msg.text)}{src}"

    def emit(self, kind: str, prio: str, text: str, source: str = "", at: float = 0.0, voice: str = "") -> None:
        mode = self.mode_of(kind)
        if prio != "CRITICAL" and mode == "off":
            self.counts["muted"] += 1
            return
        silent = prio != "CRITICAL" and mode == "silent"
        self.counts["silent" if silent else "routed"] += 1
        key = ""
        if prio == "CRITICAL":
            digest = hashlib.sha1(f"{source}|{kind}|{at}|{text}".encode()).hexdigest()[:16]
            key = f"crit:{digest}"
        for path in self.targets(prio):
            out = m.TgSend(text=text, priority=TO_SENDER[prio], kind=kind, key=key, silent=silent,
                           voice="" if silent else voice)
            if not self.tell_peer(path, out):
                if prio == "CRITICAL":
                    if len(self.held) >= HOLD_LIMIT:
                        self.log.error("%s: %d CRITICAL notifications held; the oldest is only in the log now",
                                       self.path, HOLD_LIMIT)
                        self.held.pop(0)
                    self.held.append((path, out))
                    self.counts["held"] += 1
                else:
                    self.counts["dropped"] += 1
                    self.log.warning("%s: %s is not running; %s %s notification only logged", self.path, path, prio,
                                     kind)

    def on_directory(self, previous: dict) -> None:
        if not self.held:
            return
        keep = []
        for path, out in self.held:
            if not self.tell_peer(path, out):
                keep.append((path, out))
        self.held = keep

    # -- commands (/notify, /notify_mode) ----------------------------------------------------------------------
    def on_command(self, msg: m.Command, sender):
        if msg.name == "modes":
            lines = [f"{k}: {v}" for k, v in sorted(self.modes.items())] or ["every type: on"]
            routing = ", ".join(f"{p}→{self.routing.get(p)}" for p in PRIORITIES)
            return m.CommandReply(corr=msg.corr, ok=True, text="Notification modes\n" + "\n".join(lines) +
                                  f"\nRouting: {routing}\nCRITICAL is never muted.",
                                  data={"modes": dict(self.modes)})
        if msg.name == "mode":
            kind, mode = str(msg.args.get("kind", "")), str(msg.args.get("mode", ""))
            if not kind or mode not in MODES:
                return m.CommandReply(corr=msg.corr, ok=False, text=f"usage: mode <kind> <{'|'.join(MODES)}>")
            self.modes[kind] = mode
            self.log.info("%s: %s set notifications %s to %s", self.path, msg.user, kind, mode)
            return m.CommandReply(corr=msg.corr, ok=True, text=f"{kind} notifications: {mode}"
                                  + (" (CRITICAL ones still arrive)" if mode != "on" else ""))
        return super().on_command(msg, sender)

    # -- trading events -> notifications -----------------------------------------------------------------------
    @handles(m.TradeOpened)
    def _on_opened(self, msg: m.TradeOpened, sender) -> None:
        orders = [{"label": o.get("role"), "role": {"A": "TP Trail", "B": "Profit Trail"}.get(o.get("role")),
                   "ticket": o.get("ticket"), "entry": o.get("price"), "sl": o.get("sl"), "tp": o.get("tp"),
                   "lots": o.get("volume"), "ok": o.get("ok", True), "error": o.get("error")}
                  for o in msg.orders if isinstance(o, dict)]
        data: dict[str, Any] = {**msg.detail, "symbol": msg.symbol, "direction": msg.side, "plugin": msg.plugin,
                                "orders": orders, "logic": msg.logic or None, "alert_id": msg.alert_id or None,
                                "time": time.time()}
        r = fmt.render("entry", data, self.tz)
        first = orders[0] if orders else {}
        self.emit("entry", "CRITICAL" if r.priority.name == "CRITICAL" else "HIGH", r.text, msg.plugin,
                  voice=V.entry_text(msg.side, msg.symbol, first.get("entry"), msg.logic or msg.plugin))

    @handles(m.TradeClosed)
    def _on_closed(self, msg: m.TradeClosed, sender) -> None:
        d = msg.detail or {}
        text = "\n".join(filter(None, [
            f"📕 <b>Trade closed</b> · {fmt.esc(msg.plugin)}",
            f"Trade: {fmt.esc(msg.trade_id)}", f"Reason: {fmt.esc(msg.reason)}",
            f"P&amp;L: {fmt.esc(fmt.money(d['pnl']))}" if d.get("pnl") is not None else None]))
        self.emit("trade_closed", "LOW", text, msg.plugin)

    @handles(m.TradeEvent)
    def _on_trade(self, msg: m.TradeEvent, sender) -> None:
        if msg.kind not in ("closed", "sl_hit", "tp_hit"):
            return
        reason = {"sl_hit": "SL_HIT", "tp_hit": "TP_HIT"}.get(msg.kind, (msg.reason or "CLOSED").upper())
        data = {"symbol": msg.symbol, "direction": msg.side, "plugin": msg.plugin or None, "ticket": msg.ticket,
                "close": msg.price, "pnl": msg.profit, "reason": reason, "time": msg.at or time.time()}
        kind = "sl_hit" if msg.kind == "sl_hit" else "exit"
        self.emit(kind, "HIGH", fmt.format_exit(data, self.tz), "broker/gateway",
                  voice=V.exit_text(msg.side, msg.profit))

    @handles(m.OrderOutcome)
    def _on_order(self, msg: m.OrderOutcome, sender) -> None:
        if msg.status not in ("rejected", "unknown"):
            return
        data = {"severity": "error", "component": msg.plugin or "broker",
                "message": f"order {msg.status}: {msg.side} {msg.symbol} {msg.volume or ''} — {msg.reason}".strip(),
                "hint": "check the broker connection" if msg.status == "unknown" else None,
                "alert_id": msg.alert_id or None, "order_id": msg.intent_id, "time": msg.at or time.time()}
        self.emit("order_rejected", "HIGH", fmt.format_error(data, self.tz), "broker/gateway")
