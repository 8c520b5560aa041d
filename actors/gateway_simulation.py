"""Simulation mode of broker/gateway (/simulation_mode on|off|status, facts §5.2 A): which broker the gateway
talks to, switched at runtime between the paper broker ("on") and the live MetaTrader adapter ("off").

The configured `broker.adapter` is what a fresh install uses. A switch is kept in the gateway's own database
(data_dir/broker/gateway.db, meta key "simulation") together with the adapter the configuration named at the
time, so a restart keeps the trader's choice; when the operator later changes `broker.adapter` (or
ZEPIX_BROKER) the configuration wins again and the old switch is dropped. "off" goes to the configured adapter
when that is a live one, otherwise to `broker.live_adapter` (mt5 | mt5linux).

Money is at stake, so a switch is refused, with the reason, while the current broker has open positions or
pending orders, while an intent is being sent or has no answer yet, and (for "off") while MT5 credentials are
missing. A switch is notified as CRITICAL.
"""
from __future__ import annotations

import json
import time
from typing import Any

from config.errors import ConfigError

LIVE = ("mt5", "mt5linux")
META_KEY = "simulation"


def live_adapter(config: dict) -> str:
    """The adapter "simulation off" means: the configured one when it is live, else broker.live_adapter."""
    b = config.get("broker", {})
    if b.get("adapter", "paper") in LIVE:
        return b["adapter"]
    name = b.get("live_adapter", "mt5")
    if name not in LIVE:
        raise ConfigError("broker.live_adapter", name, " | ".join(LIVE))
    return name


def with_adapter(config: dict, adapter: str) -> dict:
    return {**config, "broker": {**config.get("broker", {}), "adapter": adapter}}


def missing_credentials(broker: Any) -> list[str]:
    """The MT5 login, password and server a live adapter needs; [] when all are set."""
    s = getattr(broker, "settings", None)
    if s is None or not hasattr(s, "login"):    # the paper broker has no account to log in to
        return []
    names = {"login": "ZEPIX_MT5_LOGIN", "password": "ZEPIX_MT5_PASSWORD", "server": "ZEPIX_MT5_SERVER"}
    return [env for attr, env in names.items() if not getattr(s, attr, None)]


class SimulationSwitch:
    """Mixed into BrokerGateway: uses its ledger, broker, adapter, queue/job and notify."""

    def _effective_adapter(self, configured: str) -> str:
        raw = self.ledger.get(META_KEY)
        if not raw:
            return configured
        try:
            saved = json.loads(raw)
            adapter, was = saved["adapter"], saved["configured"]
        except (ValueError, KeyError, TypeError):
            self.log.warning("%s: unreadable simulation switch %r dropped", self.path, raw)
            self.ledger.put(META_KEY, "")
            return configured
        if was != configured:
            # the operator changed broker.adapter since: the configuration is the newer decision
            self.log.warning("%s: broker.adapter is now %s (was %s when /simulation_mode chose %s): using %s",
                             self.path, configured, was, adapter, configured)
            self.ledger.put(META_KEY, "")
            return configured
        if adapter != configured:
            self.log.info("%s: %s as switched by /simulation_mode (configured: %s)", self.path, adapter, configured)
        return adapter

    def _simulation(self, msg) -> Any:
        from actors import messages as m

        value = str(msg.args.get("value") or msg.args.get("state") or "status").lower()
        if value not in ("on", "off", "status"):
            return m.CommandReply(corr=msg.corr, ok=False, text=f"simulation takes on, off or status, not {value!r}")
        if value == "status":
            return m.CommandReply(corr=msg.corr, ok=True, text=self._simulation_text(), data=self._simulation_data())
        try:
            target = "paper" if value == "on" else live_adapter(self.config)
        except ConfigError as exc:
            return m.CommandReply(corr=msg.corr, ok=False, text=f"simulation off: {exc}")
        if target == self.adapter:
            return m.CommandReply(corr=msg.corr, ok=True, text=f"simulation is already {value.upper()}: "
                                  + self._simulation_text(), data=self._simulation_data())
        why = self._switch_blocked()
        if why:
            return m.CommandReply(corr=msg.corr, ok=False, text=f"not switched to {target}: {why}",
                                  data=self._simulation_data())
        from gateways.broker.factory import build_broker
        try:
            new = build_broker(with_adapter(self.config, target))
        except (ConfigError, ValueError) as exc:
            return m.CommandReply(corr=msg.corr, ok=False, text=f"not switched to {target}: {exc}")
        missing = missing_credentials(new) if target in LIVE else []
        if missing:
            return m.CommandReply(corr=msg.corr, ok=False, text=(
                f"not switched to {target}: MT5 credentials are missing ({', '.join(missing)} not set in the "
                "gateway's environment); set them and restart, then try again"), data=self._simulation_data())
        old = self.adapter
        self._use_broker(target, new)
        self.ledger.put(META_KEY, json.dumps({"adapter": target, "configured": self.configured_adapter,
                                              "at": time.time(), "by": msg.user}))
        mode = "ON (paper broker)" if target == "paper" else f"OFF (live: {target})"
        self.notify("simulation_mode", "CRITICAL", f"simulation mode {mode}: broker/gateway switched from {old} "
                                                   f"to {target} by {msg.user or 'someone'}", adapter=target)
        return m.CommandReply(corr=msg.corr, ok=True, text=f"simulation {mode}: switched from {old} to {target}; "
                              "connecting", data=self._simulation_data())

    def _switch_blocked(self) -> str:
        busy = len(self.queue) + (1 if self.job is not None else 0)
        if busy:
            return f"{busy} intent(s) are being sent to {self.adapter}; wait for their answers"
        unanswered = self.ledger.unfinished()
        if unanswered:
            return f"{len(unanswered)} intent(s) at {self.adapter} have no answer yet; wait for reconciliation"
        known = self.ledger.db.execute("SELECT count(*) FROM positions WHERE state IN ('open', 'pending')")
        n_known = known.fetchone()[0]
        live, orders = None, None
        if self.connected:
            try:
                live = len(self.broker.positions())
                orders = len(self.broker.orders())
            except Exception as exc:   # noqa: BLE001 - a failing broker cannot prove it is flat
                return f"cannot check {self.adapter} for open positions ({exc})"
        n = max(n_known, live or 0)
        if n:
            return f"{n} position(s) are open at {self.adapter}; close them first"
        if orders:
            return f"{orders} pending order(s) are waiting at {self.adapter}; cancel them first"
        if not self.connected and self.adapter != "paper":
            # nothing of ours is open by the ledger; the unreachable terminal cannot be asked. Leaving for paper
            # is the safe direction, and the notification says what could not be checked.
            self.log.warning("%s: %s unreachable (%s); switching with the ledger's word only", self.path,
                             self.adapter, self.conn_error)
        return ""

    def _use_broker(self, adapter: str, broker: Any) -> None:
        try:
            self.broker.disconnect()
        except Exception as exc:   # noqa: BLE001 - a dead link cannot be closed cleanly
            self.log.info("%s: disconnect %s: %s", self.path, self.adapter, exc)
        self.broker, self.adapter = broker, adapter
        self.connected, self.conn_error = False, f"switching to {adapter}"
        self.connect_tries = self.reconnect_round = 0
        self.foreign = set()
        self._warn_insecure()
        self.after(0.0, "connect")

    def _simulation_data(self) -> dict:
        data: dict[str, Any] = {"adapter": self.adapter, "simulation": self.adapter == "paper",
                                "configured": self.configured_adapter, "connected": self.connected,
                                "connection_error": self.conn_error}
        if self.connected:
            try:
                a = self.broker.account()
                data["account"] = {"login": a.login, "server": a.server, "balance": str(a.balance),
                                   "equity": str(a.equity), "currency": a.currency}
            except Exception as exc:   # noqa: BLE001 - status must answer even when the broker does not
                data["account_error"] = str(exc)
        return data

    def _simulation_text(self) -> str:
        d = self._simulation_data()
        mode = "ON: paper broker (simulated fills)" if d["simulation"] else f"OFF: live {d['adapter']}"
        lines = [f"simulation {mode}"]
        a = d.get("account")
        if a:
            who = f"account {a['login']}" + (f" on {a['server']}" if a["server"] else "") if a["login"] else \
                "paper account"
            lines.append(f"{who}: balance {a['balance']} {a['currency']}, equity {a['equity']}")
        else:
            lines.append(f"not connected: {d['connection_error'] or d.get('account_error', '?')}")
        if d["adapter"] != d["configured"]:
            lines.append(f"(switched by /simulation_mode; broker.adapter in the configuration is {d['configured']})")
        return "\n".join(lines)
