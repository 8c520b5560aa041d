"""The Telegram command table (after zepix-facts §5.2) mapped onto Zepix actors, argument parsing and roles.

Pure: no I/O. Each `Route` says which actor path owns a command, the verb it receives in `Command(name=...)`,
its parameters (with the preset values the zero-typing menus offer), whether it changes anything (admins only)
and whether it needs a confirmation button first. Routes with `target=""` are answered by the bot itself
(`local` names how: menu, help, tree, analytics, trades, panic...).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

SYMBOLS = ("XAUUSD", "EURUSD", "GBPUSD", "USDJPY", "GBPJPY", "EURJPY", "AUDUSD", "USDCAD", "NZDUSD", "EURGBP",
           "AUDJPY")
PLUGINS = ("combined_v3", "price_action_1m", "price_action_5m", "price_action_15m", "price_action_1h", "legacy_v4")
TOGGLE = ("on", "off", "status")

# preset values per parameter kind (menus show them as buttons; typing any valid value works too)
PRESETS: dict[str, tuple[str, ...]] = {
    "toggle": TOGGLE,
    "onoff": ("on", "off"),
    "symbol": SYMBOLS,
    "plugin": PLUGINS,
    "tf": ("15m", "1h", "1d"),
    "trend": ("BULLISH", "BEARISH", "NEUTRAL", "AUTO"),
    "amount": ("10", "25", "50", "100", "200", "500", "1000", "2000", "5000"),
    "percent": ("10", "20", "30", "40", "50", "60", "70", "80", "90"),
    "tier": ("5000", "10000", "25000", "50000", "100000"),
    "lot": ("0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1.0", "2.0", "5.0"),
    "seconds": ("30", "60", "120", "180", "300", "600"),
    "minutes": ("1", "2", "3", "5", "10", "15"),
    "pips": ("1", "2", "3", "4", "5"),
    "levels": ("1", "2", "3", "4", "5"),
    "ratio": ("0.3", "0.4", "0.5", "0.6", "0.7"),
    "sl_system": ("sl-1", "sl-2"),
    "profit_sl_mode": ("SL-1.1", "SL-2.1"),
    "logic": ("combinedlogic-1", "combinedlogic-2", "combinedlogic-3"),
    "log_level": ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
    "mode": ("on", "silent", "off"),
    "kind": ("entry", "exit", "sl_hit", "reentry", "profit_booking", "trend_change", "order_rejected", "error",
             "actor_restarted", "daily_summary"),
    "ticket": (),
    "text": (),
}
OPEN = {"symbol", "kind"}     # presets are suggestions; any value is passed on (its owner validates)
NUMERIC = {"amount", "percent", "tier", "lot", "seconds", "minutes", "pips", "levels", "ratio", "ticket"}


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    optional: bool = False


@dataclass(frozen=True)
class Route:
    command: str
    target: str                 # actor path, "" = answered by the bot itself
    verb: str                   # Command.name for the target, or the local handler's name
    help: str
    params: tuple[Param, ...] = ()
    write: bool = False         # changes something: admins only
    confirm: bool = False       # destructive: a confirmation button first
    fixed: dict = field(default_factory=dict)   # arguments always sent (e.g. the logic of /logic1_on)
    category: str = "system"


def _p(spec: str) -> tuple[Param, ...]:
    """'symbol tf trend?' -> params (name = kind unless 'name:kind')."""
    out = []
    for word in spec.split():
        opt = word.endswith("?")
        word = word.rstrip("?")
        name, _, kind = word.partition(":")
        out.append(Param(name, kind or name, opt))
    return tuple(out)


R, P, G, RISK, POS, V3, HEALTH, GW = Route, _p, "", "trading/risk", "trading/positions", "trading/combined_v3", \
    "ops/health", "broker/gateway"

CATEGORIES: dict[str, str] = {
    "trading": "💱 Trading", "plugins": "🔌 Plugins", "risk": "🛡️ Risk", "sl": "⚙️ SL System",
    "reentry": "🔄 Re-entry", "profit": "📈 Profit", "trends": "📍 Trends", "reports": "💰 Reports",
    "system": "🔬 Diagnostics",
}

ROUTES: tuple[Route, ...] = (
    # A. trading control
    R("start", G, "menu", "main menu", category="trading"),
    R("menu", G, "menu", "main menu", category="trading"),
    R("help", G, "help", "every command", category="trading"),
    R("status", RISK, "status", "trading state, balance, limits", category="trading"),
    R("pause", RISK, "pause", "stop acting on new signals", write=True, category="trading"),
    R("resume", RISK, "resume", "act on new signals again", write=True, category="trading"),
    R("trades", G, "trades", "open positions (from the broker)", category="trading"),
    R("dashboard", G, "header", "refresh the live header", category="trading"),
    R("simulation_mode", GW, "simulation", "paper mode on/off/status", P("value:toggle"), write=True,
      category="trading"),
    R("panic_close", G, "panic", "close every open position", write=True, confirm=True, category="trading"),
    R("closeall", G, "panic", "close every open position", write=True, confirm=True, category="trading"),
    R("close", G, "close", "close one position by ticket", P("ticket"), write=True, confirm=True,
      category="trading"),
    # C. plugins and logics
    R("plugins", G, "plugins", "plugin states", category="plugins"),
    R("logic_status", V3, "logic_status", "V3 logics on/off", category="plugins"),
    *(R(f"logic{n}_{s}", V3, "logic", f"V3 logic {n} {s}", write=True, category="plugins",
        fixed={"logic": f"combinedlogic-{n}", "enabled": s == "on"}) for n in (1, 2, 3) for s in ("on", "off")),
    R("enable", G, "plugin", "enable a plugin", P("plugin"), write=True, category="plugins", fixed={"verb": "enable"}),
    R("disable", G, "plugin", "disable a plugin", P("plugin"), write=True, confirm=True, category="plugins",
      fixed={"verb": "disable"}),
    R("shadow", G, "plugin", "run a plugin in shadow mode (decide, never order)", P("plugin"), write=True,
      category="plugins", fixed={"verb": "shadow"}),
    R("dual_order_status", V3, "dual_order_status", "dual orders on/off", category="plugins"),
    R("toggle_dual_orders", V3, "toggle_dual_orders", "dual orders on/off", write=True, category="plugins"),
    # E/F. timeframe logic and trends (V3 owns them)
    R("view_logic_settings", V3, "view_logic_settings", "lot/SL multipliers per logic", category="trends"),
    R("toggle_timeframe", V3, "toggle_timeframe", "per-logic multipliers on/off", write=True, category="trends"),
    R("reset_timeframe_default", V3, "reset_timeframe_default", "multipliers back to defaults", write=True,
      category="trends"),
    R("show_trends", V3, "show_trends", "current trends", category="trends"),
    R("trend_matrix", V3, "trend_matrix", "all symbols x timeframes", category="trends"),
    R("set_trend", V3, "set_trend", "lock a trend (MANUAL)", P("symbol tf trend"), write=True, category="trends"),
    R("set_auto", V3, "set_auto", "trend back to AUTO", P("symbol tf"), write=True, category="trends"),
    R("trend_mode", V3, "trend_mode", "manual or auto per symbol", category="trends"),
    # G. risk and lot
    R("view_risk_caps", RISK, "caps", "daily / lifetime caps", category="risk"),
    R("view_risk_status", RISK, "status", "risk state", category="risk"),
    R("set_daily_cap", RISK, "set_daily_cap", "daily loss cap ($)", P("amount"), write=True, category="risk"),
    R("set_lifetime_cap", RISK, "set_lifetime_cap", "lifetime loss cap ($)", P("amount"), write=True,
      category="risk"),
    R("set_risk_tier", RISK, "set_risk_tier", "caps of a tier", P("tier daily:amount lifetime:amount"), write=True,
      category="risk"),
    R("switch_tier", RISK, "switch_tier", "switch the account tier", P("tier"), write=True, category="risk"),
    R("clear_loss_data", RISK, "clear_loss_data", "reset the lifetime loss", write=True, confirm=True,
      category="risk"),
    R("clear_daily_loss", RISK, "clear_daily_loss", "reset today's loss", write=True, confirm=True, category="risk"),
    R("lot_size_status", RISK, "lot_size_status", "lot per tier", category="risk"),
    R("set_lot_size", RISK, "set_lot_size", "manual lot for a tier", P("tier lot"), write=True, category="risk"),
    R("reset_risk_settings", RISK, "reset_risk_settings", "risk settings to defaults", write=True, confirm=True,
      category="risk"),
    # H. SL systems
    R("sl_status", RISK, "sl_status", "active SL system", category="sl"),
    R("sl_system_change", RISK, "sl_system_change", "switch SL system", P("system:sl_system"), write=True,
      category="sl"),
    R("sl_system_on", RISK, "sl_system_on", "enable an SL system", P("system:sl_system"), write=True, category="sl"),
    R("complete_sl_system_off", RISK, "complete_sl_system_off", "SL systems off", write=True, confirm=True,
      category="sl"),
    R("view_sl_config", RISK, "view_sl_config", "SL per symbol", category="sl"),
    R("set_symbol_sl", RISK, "set_symbol_sl", "SL reduction % for a symbol", P("symbol percent"), write=True,
      category="sl"),
    R("reset_symbol_sl", RISK, "reset_symbol_sl", "symbol SL to default", P("symbol"), write=True, category="sl"),
    R("reset_all_sl", RISK, "reset_all_sl", "every SL to default", write=True, confirm=True, category="sl"),
    # D. re-entry
    R("tp_system", POS, "tp_system", "TP continuation on/off", P("value:toggle"), write=True, category="reentry"),
    R("sl_hunt", POS, "sl_hunt", "SL-hunt re-entry on/off", P("value:toggle"), write=True, category="reentry"),
    R("exit_continuation", POS, "exit_continuation", "exit continuation on/off", P("value:toggle"), write=True,
      category="reentry"),
    R("reentry_config", POS, "reentry_config", "every re-entry setting", category="reentry"),
    R("set_monitor_interval", POS, "set_monitor_interval", "price monitor interval (s)", P("value:seconds"),
      write=True, category="reentry"),
    R("set_sl_offset", POS, "set_sl_offset", "SL-hunt offset (pips)", P("value:pips"), write=True,
      category="reentry"),
    R("set_cooldown", POS, "set_cooldown", "SL-hunt cooldown (s)", P("value:seconds"), write=True,
      category="reentry"),
    R("set_recovery_time", POS, "set_recovery_time", "recovery window (min)", P("value:minutes"), write=True,
      category="reentry"),
    R("set_max_levels", POS, "set_max_levels", "max chain levels", P("value:levels"), write=True,
      category="reentry"),
    R("set_sl_reduction", POS, "set_sl_reduction", "SL reduction per level", P("value:ratio"), write=True,
      category="reentry"),
    R("reset_reentry_config", POS, "reset_reentry_config", "re-entry defaults", write=True, confirm=True,
      category="reentry"),
    R("autonomous_mode", POS, "autonomous_mode", "autonomous system on/off", P("value:toggle"), write=True,
      category="reentry"),
    R("autonomous_status", POS, "autonomous_status", "autonomous system status", category="reentry"),
    R("chains", POS, "chains", "active re-entry chains", category="reentry"),
    R("sessions", POS, "sessions", "trading sessions", category="reentry"),
    R("session_report", POS, "session_report", "one session's report", P("id:text"), category="reentry"),
    R("tp_report", POS, "tp_report", "TP re-entry statistics", category="reentry"),
    # J. profit booking
    R("profit_status", POS, "profit_status", "profit booking status", category="profit"),
    R("profit_stats", POS, "profit_stats", "profit booking statistics", category="profit"),
    R("toggle_profit_booking", POS, "toggle_profit_booking", "profit booking on/off", write=True,
      category="profit"),
    R("set_profit_targets", POS, "set_profit_targets", "targets per level", P("targets:text"), write=True,
      category="profit"),
    R("profit_chains", POS, "profit_chains", "active profit chains", category="profit"),
    R("stop_profit_chain", POS, "stop_profit_chain", "stop one chain", P("id:text"), write=True, confirm=True,
      category="profit"),
    R("stop_all_profit_chains", POS, "stop_all_profit_chains", "stop every chain", write=True, confirm=True,
      category="profit"),
    R("set_chain_multipliers", POS, "set_chain_multipliers", "lot multipliers per level", P("values:text"),
      write=True, category="profit"),
    R("profit_config", POS, "profit_config", "profit booking settings", category="profit"),
    R("profit_sl_status", POS, "profit_sl_status", "profit SL mode", category="profit"),
    R("profit_sl_mode", POS, "profit_sl_mode", "switch profit SL mode", P("mode:profit_sl_mode"), write=True,
      category="profit"),
    R("enable_profit_sl", POS, "enable_profit_sl", "profit SL on", write=True, category="profit"),
    R("disable_profit_sl", POS, "disable_profit_sl", "profit SL off", write=True, category="profit"),
    R("reset_profit_sl", POS, "reset_profit_sl", "profit SL defaults", write=True, category="profit"),
    # B. reports (built by the bot from the broker's deals)
    R("daily", G, "report", "today's summary", fixed={"period": "day"}, category="reports"),
    R("weekly", G, "report", "last 7 days", fixed={"period": "week"}, category="reports"),
    R("monthly", G, "report", "last 30 days", fixed={"period": "month"}, category="reports"),
    R("profit", G, "report", "P&L today", fixed={"period": "day"}, category="reports"),
    R("performance", G, "report", "last 30 days", fixed={"period": "month"}, category="reports"),
    R("pair_report", G, "report", "P&L per symbol (30 days)", fixed={"period": "month", "by": "symbol"},
      category="reports"),
    R("strategy_report", G, "report", "P&L per plugin (30 days)", fixed={"period": "month", "by": "plugin"},
      category="reports"),
    R("stats", RISK, "stats", "tier, losses, win rate", category="reports"),
    # L. diagnostics
    R("health_status", HEALTH, "status", "health of every actor", category="system"),
    R("health", HEALTH, "status", "health of every actor", category="system"),
    R("system_resources", HEALTH, "resources", "CPU, memory, disk", category="system"),
    R("error_stats", HEALTH, "error_stats", "errors per actor", category="system"),
    R("tree", G, "tree", "the supervision tree", category="system"),
    R("notify", "telegram/notifier", "modes", "notification types and their modes", category="system"),
    R("notify_mode", "telegram/notifier", "mode", "set a notification type on / silent / off",
      P("kind mode"), write=True, category="system"),
)

BY_NAME: dict[str, Route] = {r.command: r for r in ROUTES}


class UsageError(ValueError):
    """A command's arguments are wrong; the text says what is expected."""


def usage(route: Route) -> str:
    parts = [f"/{route.command}"]
    for p in route.params:
        choices = PRESETS.get(p.kind, ())
        hint = "|".join(choices[:6]) + ("|…" if len(choices) > 6 else "") if choices and p.kind not in NUMERIC \
            else p.name
        parts.append(f"[{hint}]" if p.optional else f"<{hint}>")
    return " ".join(parts)


def parse_command(text: str) -> tuple[str, list[str]] | None:
    """'/set_trend@zepix_bot XAUUSD 1h BULLISH' -> ('set_trend', ['XAUUSD', '1h', 'BULLISH']); None if no command.
    '/session_report_SES12' style clickable commands become ('session_report', ['SES12'])."""
    text = (text or "").strip()
    if not text.startswith("/"):
        return None
    words = text.split()
    name = words[0][1:].split("@", 1)[0].lower()
    args = words[1:]
    if name not in BY_NAME and name.startswith("session_report_"):
        return "session_report", [name.removeprefix("session_report_")] + args
    return name, args


def bind_args(route: Route, raw: list[str]) -> dict[str, Any]:
    """Positional words -> named, typed arguments (plus the route's fixed ones); UsageError when wrong."""
    if route.params and route.params[-1].kind == "text" and len(raw) > len(route.params):
        raw = raw[:len(route.params) - 1] + [" ".join(raw[len(route.params) - 1:])]
    need = [p for p in route.params if not p.optional]
    if len(raw) < len(need) or len(raw) > len(route.params):
        raise UsageError(f"usage: {usage(route)}")
    args: dict[str, Any] = dict(route.fixed)
    for p, word in zip(route.params, raw):
        args[p.name] = convert(p, word)
    return args


def convert(p: Param, word: str) -> Any:
    if p.kind in NUMERIC:
        try:
            d = Decimal(word)
        except InvalidOperation:
            raise UsageError(f"{p.name} must be a number, got {word!r}") from None
        if not d.is_finite():
            raise UsageError(f"{p.name} must be a number, got {word!r}")
        return int(d) if d == d.to_integral_value() and p.kind in ("ticket", "levels", "seconds", "minutes",
                                                                    "tier") else str(d)
    choices = PRESETS.get(p.kind, ())
    if choices and p.kind not in OPEN:
        low = {c.lower(): c for c in choices}
        if word.lower() not in low:
            raise UsageError(f"{p.name} must be one of {', '.join(choices)}; got {word!r}")
        return low[word.lower()]
    if p.kind == "symbol":
        return word.upper()
    return word.lower() if p.kind == "kind" else word


def may_run(route: Route, role: str | None) -> bool:
    """Admins may do everything; viewers only what changes nothing; anyone else nothing."""
    if role == "admin":
        return True
    return role == "viewer" and not route.write
