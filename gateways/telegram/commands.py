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
CFG, LEGACY = "ops/config", "trading/legacy_v4"


def U(command: str, help: str, owner: str, params: str = "", write: bool = False, category: str = "system",
      confirm: bool = False) -> Route:
    """A command of the §5.2 table that no actor answers yet: the bot says so (and names the owner) instead of
    sending a verb nobody knows. tests/unit/test_telegram_routes.py keeps every other route honest."""
    return Route(command, G, "unavailable", help, _p(params), write=write, confirm=confirm,
                 fixed={"owner": owner}, category=category)


def S(command: str, help: str, key: str, params: str = "", category: str = "system") -> Route:
    """A setting changed through ops/config (the file is rewritten, validated and applied at runtime)."""
    return Route(command, CFG, "set", help, _p(params), write=True, fixed={"key": key}, category=category)


def V(command: str, help: str, key: str, category: str = "system") -> Route:
    """A settings section shown by ops/config (the running values)."""
    return Route(command, CFG, "get", help, fixed={"key": key}, category=category)

def T(command: str, help: str, verb: str) -> Route:
    """A trend view answered by a plugin's trend store (legacy_v4 by default, or the plugin named)."""
    return Route(command, G, "plugin", help, _p("plugin?"), fixed={"verb": verb, "plugin": "legacy_v4"},
                 category="trends")


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
    # on = the paper broker, off = the live MT5 adapter; the gateway refuses while anything is open there
    R("simulation_mode", GW, "simulation", "paper mode on/off/status", P("value:toggle"), write=True,
      category="trading"),
    R("panic_close", G, "panic", "close every open position", write=True, confirm=True, category="trading"),
    R("closeall", G, "panic", "close every open position", write=True, confirm=True, category="trading"),
    R("close", G, "close", "close one position by ticket", P("ticket"), write=True, confirm=True,
      category="trading"),
    # C. plugins and logics
    R("plugins", G, "plugins", "plugin states", category="plugins"),
    R("logic_status", V3, "status", "combined_v3 state", category="plugins"),
    *(U(f"logic{n}_{s}", f"V3 logic {n} {s}", V3, write=True, category="plugins")
      for n in (1, 2, 3) for s in ("on", "off")),
    R("enable", G, "plugin", "enable a plugin", P("plugin"), write=True, category="plugins", fixed={"verb": "enable"}),
    R("disable", G, "plugin", "disable a plugin", P("plugin"), write=True, confirm=True, category="plugins",
      fixed={"verb": "disable"}),
    R("shadow", G, "plugin", "run a plugin in shadow mode (decide, never order)", P("plugin"), write=True,
      category="plugins", fixed={"verb": "shadow"}),
    U("dual_order_status", "dual orders on/off", V3, category="plugins"),
    U("toggle_dual_orders", "dual orders on/off", V3, write=True, category="plugins"),
    # E/F. timeframe logic and trends (V3 owns them)
    U("view_logic_settings", "lot/SL multipliers per logic", V3, category="trends"),
    U("toggle_timeframe", "per-logic multipliers on/off", V3, write=True, category="trends"),
    U("reset_timeframe_default", "multipliers back to defaults", V3, write=True, category="trends"),
    # trend views ask a plugin's trend store: legacy_v4 (MANUAL/AUTO slots) unless another plugin is named
    T("show_trends", "current trends", "trends"),
    T("trend_matrix", "all symbols x timeframes", "trend_matrix"),
    # the legacy plugin keeps the MANUAL/AUTO trend locks (actors/plugin.py set_trend / set_auto)
    R("set_trend", LEGACY, "set_trend", "lock a trend (MANUAL)", P("symbol tf trend"), write=True, category="trends"),
    R("set_auto", LEGACY, "set_auto", "trend back to AUTO", P("symbol tf"), write=True, category="trends"),
    T("trend_mode", "manual or auto per symbol", "trend_mode"),
    # G. risk and lot (trading/risk answers status, pause, resume, kill_switch, clear_*; its caps, tiers and lots
    # live in the free-form [risk] table, edited in the config file)
    R("view_risk_caps", RISK, "status", "daily / lifetime loss and headroom", category="risk"),
    R("view_risk_status", RISK, "status", "risk state", category="risk"),
    U("set_daily_cap", "daily loss cap ($)", RISK, "amount", write=True, category="risk"),
    U("set_lifetime_cap", "lifetime loss cap ($)", RISK, "amount", write=True, category="risk"),
    U("set_risk_tier", "caps of a tier", RISK, "tier daily:amount lifetime:amount", write=True, category="risk"),
    U("switch_tier", "switch the account tier", RISK, "tier", write=True, category="risk"),
    R("clear_loss_data", RISK, "clear_loss_data", "reset the lifetime loss", write=True, confirm=True,
      category="risk"),
    R("clear_daily_loss", RISK, "clear_daily_loss", "reset today's loss", write=True, confirm=True, category="risk"),
    U("lot_size_status", "lot per tier", RISK, category="risk"),
    U("set_lot_size", "manual lot for a tier", RISK, "tier lot", write=True, category="risk"),
    U("reset_risk_settings", "risk settings to defaults", RISK, write=True, confirm=True, category="risk"),
    # H. SL systems (positions.sl_system picks the recovery SL table)
    V("sl_status", "active SL system", "positions.sl_system", category="sl"),
    S("sl_system_change", "switch SL system", "positions.sl_system", "value:sl_system", category="sl"),
    U("sl_system_on", "enable an SL system", RISK, "system:sl_system", write=True, category="sl"),
    U("complete_sl_system_off", "SL systems off", RISK, write=True, confirm=True, category="sl"),
    U("view_sl_config", "SL per symbol", RISK, category="sl"),
    U("set_symbol_sl", "SL reduction % for a symbol", RISK, "symbol percent", write=True, category="sl"),
    U("reset_symbol_sl", "symbol SL to default", RISK, "symbol", write=True, category="sl"),
    U("reset_all_sl", "every SL to default", RISK, write=True, confirm=True, category="sl"),
    # D. re-entry ([positions.reentry] settings through ops/config; chains and sessions from trading/positions)
    S("tp_system", "TP continuation on/off", "positions.reentry.tp_enabled", "value:onoff", category="reentry"),
    S("sl_hunt", "SL-hunt re-entry on/off", "positions.reentry.sl_hunt_enabled", "value:onoff", category="reentry"),
    S("exit_continuation", "exit continuation on/off", "positions.reentry.exit_enabled", "value:onoff",
      category="reentry"),
    V("reentry_config", "every re-entry setting", "positions.reentry", category="reentry"),
    U("set_monitor_interval", "price monitor interval (s)", POS, "value:seconds", write=True, category="reentry"),
    S("set_sl_offset", "SL-hunt offset (pips)", "positions.reentry.sl_hunt_offset_pips", "value:pips",
      category="reentry"),
    S("set_cooldown", "SL-hunt cooldown (s)", "positions.reentry.sl_hunt_cooldown_seconds", "value:seconds",
      category="reentry"),
    U("set_recovery_time", "recovery window (min)", POS, "value:minutes", write=True, category="reentry"),
    S("set_max_levels", "max chain levels", "positions.reentry.max_chain_levels", "value:levels",
      category="reentry"),
    S("set_sl_reduction", "SL reduction per level", "positions.reentry.sl_reduction_per_level", "value:ratio",
      category="reentry"),
    U("reset_reentry_config", "re-entry defaults", POS, write=True, confirm=True, category="reentry"),
    U("autonomous_mode", "autonomous system on/off", POS, "value:toggle", write=True, category="reentry"),
    R("autonomous_status", POS, "autonomous_status", "autonomous system status", category="reentry"),
    R("chains", POS, "chains", "active re-entry chains", category="reentry"),
    R("sessions", POS, "sessions", "forex market sessions", category="reentry"),
    R("session_report", POS, "session_report", "one trading session's report (no id: the latest)", P("id:text?"),
      category="reentry"),
    R("tp_report", POS, "tp_report", "TP re-entry statistics", category="reentry"),
    # J. profit booking ([positions.chains] through ops/config; chains from trading/positions)
    R("profit_status", POS, "profit_status", "profit booking status", category="profit"),
    R("profit_stats", POS, "profit_stats", "profit booking statistics", category="profit"),
    S("toggle_profit_booking", "profit booking on/off", "positions.chains.enabled", "value:onoff",
      category="profit"),
    U("set_profit_targets", "targets per level", POS, "targets:text", write=True, category="profit"),
    R("profit_chains", POS, "chains", "active profit chains", category="profit"),
    R("stop_profit_chain", POS, "stop_chain", "stop one chain", P("chain_id:text"), write=True, confirm=True,
      category="profit"),
    R("stop_all_profit_chains", POS, "stop_all_chains", "stop every chain", write=True, confirm=True,
      category="profit"),
    U("set_chain_multipliers", "lot multipliers per level", POS, "values:text", write=True, category="profit"),
    V("profit_config", "profit booking settings", "positions.chains", category="profit"),
    U("profit_sl_status", "profit SL mode", POS, category="profit"),
    U("profit_sl_mode", "switch profit SL mode", POS, "mode:profit_sl_mode", write=True, category="profit"),
    U("enable_profit_sl", "profit SL on", POS, write=True, category="profit"),
    U("disable_profit_sl", "profit SL off", POS, write=True, category="profit"),
    U("reset_profit_sl", "profit SL defaults", POS, write=True, category="profit"),
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
    R("stats", RISK, "status", "tier, losses, balance", category="reports"),
    # L. diagnostics
    R("health_status", HEALTH, "health", "health of every actor", category="system"),
    R("health", HEALTH, "health", "health of every actor", category="system"),
    R("system_resources", HEALTH, "health", "CPU, memory, open files per actor", category="system"),
    R("error_stats", HEALTH, "health", "restarts and errors per actor", category="system"),
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


def config_value(route: Route, args: dict[str, Any]) -> dict[str, Any]:
    """Arguments of an ops/config "set": the TOML value typed (on/off -> bool, numbers -> int/float)."""
    if route.target != CFG or route.verb != "set" or "value" not in args:
        return args
    v = args["value"]
    if v in ("on", "off"):
        v = v == "on"
    elif isinstance(v, str):
        try:
            d = Decimal(v)
            v = int(d) if d == d.to_integral_value() and "." not in v else float(d)
        except InvalidOperation:
            pass
    return {"key": args["key"], "value": v}


def may_run(route: Route, role: str | None) -> bool:
    """Admins may do everything; viewers only what changes nothing; anyone else nothing."""
    if role == "admin":
        return True
    return role == "viewer" and not route.write
