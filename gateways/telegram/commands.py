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
    "interval": ("0.5", "1", "2", "5", "10", "30"),
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
    "tierpin": ("auto", "5000", "10000", "25000", "50000", "100000"),
    "targets": ("default", "conservative", "aggressive"),
    "multipliers": ("default", "moderate", "flat"),
    "ticket": (),
    "text": (),
}
# named lists for /set_profit_targets and /set_chain_multipliers (one value per chain level, levels 0-4)
LIST_PRESETS: dict[str, dict[str, tuple]] = {
    "targets": {"default": (10, 20, 40, 80, 160), "conservative": (5, 10, 20, 40, 80),
                "aggressive": (20, 40, 80, 160, 320)},
    "multipliers": {"default": (1, 2, 4, 8, 16), "moderate": (1, 2, 3, 4, 5), "flat": (1, 1, 1, 1, 1)},
}
LISTS = set(LIST_PRESETS)     # a list of numbers: a preset name, or "10,20,40" / "10 20 40"
OPEN = {"symbol", "kind"}     # presets are suggestions; any value is passed on (its owner validates)
NUMERIC = {"amount", "percent", "tier", "lot", "seconds", "interval", "minutes", "pips", "levels", "ratio", "ticket"}


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
    applies: bool = False       # answered only after ops/config had the change applied (ops.config.apply_timeout)


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
# /autonomous_mode: the three re-entry systems that act on their own after a close
AUTONOMOUS = ("positions.reentry.sl_hunt_enabled", "positions.reentry.tp_enabled", "positions.reentry.exit_enabled")


def S(command: str, help: str, key: str, params: str = "", category: str = "system", value: Any = None,
      confirm: bool = False) -> Route:
    """A setting changed through ops/config (the file is rewritten, validated and applied at runtime). ``key`` may
    name arguments ("risk.lot_overrides.{tier}"); the value is the ``value`` argument, else the fixed ``value``."""
    fixed = {"key": key} if value is None else {"key": key, "value": value}
    return Route(command, CFG, "set", help, _p(params), write=True, confirm=confirm, fixed=fixed, category=category,
                 applies=True)


def M(command: str, help: str, changes: tuple, params: str = "", category: str = "system",
      confirm: bool = False) -> Route:
    """Several settings in one ops/config write: ((key, value), ...); a value "$name" is that argument."""
    return Route(command, CFG, "set", help, _p(params), write=True, confirm=confirm, fixed={"changes": changes},
                 category=category, applies=True)


def RS(command: str, help: str, keys: tuple, params: str = "", category: str = "system",
       confirm: bool = False) -> Route:
    """Settings (keys or whole tables) taken out of the config file, so their defaults apply again."""
    return Route(command, CFG, "reset", help, _p(params), write=True, confirm=confirm, fixed={"keys": keys},
                 category=category, applies=True)


def T(command: str, help: str, key: str, category: str = "system") -> Route:
    """An on/off setting flipped through ops/config."""
    return Route(command, CFG, "toggle", help, write=True, fixed={"key": key}, category=category, applies=True)


def SW(command: str, help: str, keys: tuple, category: str = "system") -> Route:
    """Several on/off settings switched together (on | off) or shown (status)."""
    return Route(command, CFG, "switch", help, _p("value:toggle"), write=True, fixed={"keys": keys},
                 category=category, applies=True)


def V(command: str, help: str, key: str | tuple, category: str = "system") -> Route:
    """Settings shown by ops/config (the running values, code defaults included); one key or several."""
    fixed = {"keys": key} if isinstance(key, tuple) else {"key": key}
    return Route(command, CFG, "get", help, fixed=fixed, category=category)


def RV(command: str, help: str, verb: str, params: str = "", write: bool = False, category: str = "risk",
       **fixed) -> Route:
    """A trading/risk verb (it knows the balance, so the tier in force); a writing one goes on to ops/config."""
    return Route(command, RISK, verb, help, _p(params), write=write, fixed=fixed, category=category, applies=write)

def TV(command: str, help: str, verb: str) -> Route:
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
    *(S(f"logic{n}_{s}", f"V3 LOGIC{n} ({tf}) alerts {s}", f"v3.logics_enabled.LOGIC{n}", value=s == "on",
        category="plugins") for n, tf in ((1, "5m"), (2, "15m"), (3, "1h")) for s in ("on", "off")),
    R("enable", G, "plugin", "enable a plugin", P("plugin"), write=True, category="plugins", fixed={"verb": "enable"}),
    R("disable", G, "plugin", "disable a plugin", P("plugin"), write=True, confirm=True, category="plugins",
      fixed={"verb": "disable"}),
    R("shadow", G, "plugin", "run a plugin in shadow mode (decide, never order)", P("plugin"), write=True,
      category="plugins", fixed={"verb": "shadow"}),
    V("dual_order_status", "V3 dual orders (A + B) on/off", "v3.dual_orders", category="plugins"),
    T("toggle_dual_orders", "V3 dual orders on/off (off: one order, Order A's stops)", "v3.dual_orders",
      category="plugins"),
    # E/F. timeframe logic and trends (V3 owns them)
    V("view_logic_settings", "lot/SL multipliers and re-entry windows per logic",
      ("risk.logic_multipliers_enabled", "risk.logics", "positions.reentry.logic_windows"), category="trends"),
    T("toggle_timeframe", "per-logic lot/SL multipliers on/off", "risk.logic_multipliers_enabled",
      category="trends"),
    RS("reset_timeframe_default", "logic multipliers back to defaults", ("risk.logics", "risk.logic_multipliers_enabled"),
       category="trends"),
    # trend views ask a plugin's trend store: legacy_v4 (MANUAL/AUTO slots) unless another plugin is named
    TV("show_trends", "current trends", "trends"),
    TV("trend_matrix", "all symbols x timeframes", "trend_matrix"),
    # the legacy plugin keeps the MANUAL/AUTO trend locks (actors/plugin.py set_trend / set_auto)
    R("set_trend", LEGACY, "set_trend", "lock a trend (MANUAL)", P("symbol tf trend"), write=True, category="trends"),
    R("set_auto", LEGACY, "set_auto", "trend back to AUTO", P("symbol tf"), write=True, category="trends"),
    TV("trend_mode", "manual or auto per symbol", "trend_mode"),
    # G. risk and lot (trading/risk answers status, pause, resume, kill_switch, clear_*; its caps, tiers and lots
    # live in the free-form [risk] table, edited in the config file)
    R("view_risk_caps", RISK, "status", "daily / lifetime loss and headroom", category="risk"),
    R("view_risk_status", RISK, "status", "risk state", category="risk"),
    RV("set_daily_cap", "daily loss cap ($) of the tier in force", "set_cap", "amount", write=True, which="daily"),
    RV("set_lifetime_cap", "lifetime loss cap ($) of the tier in force", "set_cap", "amount", write=True,
       which="lifetime"),
    M("set_risk_tier", "daily and lifetime caps of a tier", (("risk.tiers.{tier}.daily_loss_cap", "$daily"),
      ("risk.tiers.{tier}.lifetime_loss_cap", "$lifetime")), "tier daily:amount lifetime:amount", category="risk"),
    S("switch_tier", "pin the account tier (auto: by balance)", "risk.tier", "tier:tierpin", category="risk"),
    R("clear_loss_data", RISK, "clear_loss_data", "reset the lifetime loss", write=True, confirm=True,
      category="risk"),
    R("clear_daily_loss", RISK, "clear_daily_loss", "reset today's loss", write=True, confirm=True, category="risk"),
    RV("lot_size_status", "lot per tier (manual overrides marked)", "lots"),
    S("set_lot_size", "manual lot for a tier (0.01-10)", "risk.lot_overrides.{tier}", "tier lot",
      category="risk"),
    RS("reset_risk_settings", "every [risk] setting to its default", ("risk",), category="risk", confirm=True),
    # H. SL systems (positions.sl_system picks the recovery SL table)
    V("sl_status", "SL system: Order A table and recovery table",
      ("risk.stops.enabled", "risk.stops.active_system", "positions.sl_system"), category="sl"),
    M("sl_system_change", "switch SL system (Order A and recovery)", (("risk.stops.active_system", "$value"),
      ("positions.sl_system", "$value")), "value:sl_system", category="sl"),
    M("sl_system_on", "SL system on, and which", (("risk.stops.enabled", True), ("risk.stops.active_system", "$system"),
      ("positions.sl_system", "$system")), "system:sl_system", category="sl"),
    S("complete_sl_system_off", "SL system off (SL from risk $ per tier)", "risk.stops.enabled", value=False,
      category="sl", confirm=True),
    RV("view_sl_config", "SL pips per symbol for the tier in force", "sl_config", category="sl"),
    S("set_symbol_sl", "SL reduction % for a symbol (5-50)", "risk.stops.symbol_reductions.{symbol}",
      "symbol percent", category="sl"),
    RS("reset_symbol_sl", "symbol SL reduction off", ("risk.stops.symbol_reductions.{symbol}",), "symbol",
       category="sl"),
    RS("reset_all_sl", "every SL setting to default", ("risk.stops", "positions.sl_system"), category="sl",
       confirm=True),
    # D. re-entry ([positions.reentry] settings through ops/config; chains and sessions from trading/positions)
    S("tp_system", "TP continuation on/off", "positions.reentry.tp_enabled", "value:onoff", category="reentry"),
    S("sl_hunt", "SL-hunt re-entry on/off", "positions.reentry.sl_hunt_enabled", "value:onoff", category="reentry"),
    S("exit_continuation", "exit continuation on/off", "positions.reentry.exit_enabled", "value:onoff",
      category="reentry"),
    V("reentry_config", "every re-entry setting", "positions.reentry", category="reentry"),
    S("set_monitor_interval", "price feed interval (s)", "pricefeed.interval", "seconds:interval", category="reentry"),
    S("set_sl_offset", "SL-hunt offset (pips)", "positions.reentry.sl_hunt_offset_pips", "value:pips",
      category="reentry"),
    S("set_cooldown", "SL-hunt cooldown (s)", "positions.reentry.sl_hunt_cooldown_seconds", "value:seconds",
      category="reentry"),
    S("set_recovery_time", "SL-hunt recovery window (min)", "positions.reentry.default_window_minutes",
      "minutes", category="reentry"),
    S("set_max_levels", "max chain levels", "positions.reentry.max_chain_levels", "value:levels",
      category="reentry"),
    S("set_sl_reduction", "SL reduction per level", "positions.reentry.sl_reduction_per_level", "value:ratio",
      category="reentry"),
    RS("reset_reentry_config", "every re-entry setting to default", ("positions.reentry",), category="reentry",
       confirm=True),
    SW("autonomous_mode", "SL hunt + TP + exit continuation together", AUTONOMOUS, category="reentry"),
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
    S("set_profit_targets", "profit target ($) per chain level", "positions.chains.profit_targets",
      "targets", category="profit"),
    R("profit_chains", POS, "chains", "active profit chains", category="profit"),
    R("stop_profit_chain", POS, "stop_chain", "stop one chain", P("chain_id:text"), write=True, confirm=True,
      category="profit"),
    R("stop_all_profit_chains", POS, "stop_all_chains", "stop every chain", write=True, confirm=True,
      category="profit"),
    S("set_chain_multipliers", "orders per chain level", "positions.chains.multipliers", "multipliers",
      category="profit"),
    V("profit_config", "profit booking settings", "positions.chains", category="profit"),
    V("profit_sl_status", "Order B (profit) SL settings", "risk.order_b", category="profit"),
    S("profit_sl_mode", "Order B SL: SL-2.1 fixed $ / SL-1.1 per logic", "risk.order_b.system",
      "value:profit_sl_mode", category="profit"),
    S("enable_profit_sl", "Order B dollar SL on", "risk.order_b.enabled", value=True, category="profit"),
    S("disable_profit_sl", "Order B dollar SL off (Order A's SL rule)", "risk.order_b.enabled", value=False,
      category="profit"),
    RS("reset_profit_sl", "Order B SL settings to defaults", ("risk.order_b",), category="profit"),
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
    if route.params and route.params[-1].kind in LISTS | {"text"} and len(raw) > len(route.params):
        raw = raw[:len(route.params) - 1] + [" ".join(raw[len(route.params) - 1:])]
    need = [p for p in route.params if not p.optional]
    if len(raw) < len(need) or len(raw) > len(route.params):
        raise UsageError(f"usage: {usage(route)}")
    args: dict[str, Any] = dict(route.fixed)
    for p, word in zip(route.params, raw):
        args[p.name] = convert(p, word)
    return args


def convert(p: Param, word: str) -> Any:
    if p.kind in LISTS:
        return numbers(p, word)
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


def numbers(p: Param, word: str) -> list:
    """A preset name, or numbers separated by commas or spaces -> [10, 20.5, ...]."""
    named = LIST_PRESETS.get(p.kind, {})
    if word.lower() in named:
        return list(named[word.lower()])
    parts = [w for w in word.replace(",", " ").split() if w]
    if not parts:
        raise UsageError(f"{p.name} needs numbers such as 10,20,40,80,160 or one of {', '.join(named)}")
    out = []
    for w in parts:
        try:
            d = Decimal(w)
        except InvalidOperation:
            raise UsageError(f"{p.name}: {w!r} is not a number; give numbers such as 10,20,40,80,160 or one of "
                             f"{', '.join(named)}") from None
        if not d.is_finite():
            raise UsageError(f"{p.name}: {w!r} is not a number")
        out.append(int(d) if d == d.to_integral_value() and "." not in w else float(d))
    return out


def typed(v: Any) -> Any:
    """A word as the TOML value it stands for: on/off -> bool, numbers -> int/float, anything else as is."""
    if v in ("on", "off"):
        return v == "on"
    if isinstance(v, str):
        try:
            d = Decimal(v)
        except InvalidOperation:
            return v
        if d.is_finite():
            return int(d) if d == d.to_integral_value() and "." not in v else float(d)
    return v


def _fill(template: str, args: dict[str, Any]) -> str:
    try:
        return template.format(**{k: v for k, v in args.items() if isinstance(v, (str, int))})
    except (KeyError, IndexError):
        raise UsageError(f"{template} needs an argument that was not given") from None


def _value(spec: Any, args: dict[str, Any]) -> Any:
    if isinstance(spec, str) and spec.startswith("$"):
        return typed(args[spec[1:]])
    return spec


def config_value(route: Route, args: dict[str, Any]) -> dict[str, Any]:
    """Arguments of an ops/config verb: key templates filled from the arguments, values typed for TOML."""
    if route.target != CFG:
        return args
    f = route.fixed
    if route.verb == "set" and "changes" in f:
        return {"changes": [[_fill(k, args), _value(v, args)] for k, v in f["changes"]]}
    if route.verb == "set":
        # the fixed value (/logic1_off), else the last argument (/set_lot_size 5000 <0.05>)
        v = f["value"] if "value" in f else args[route.params[-1].name]
        if not (route.params and route.params[-1].kind == "tierpin"):
            v = typed(v)
        return {"key": _fill(f["key"], args), "value": v}
    if route.verb in ("reset", "switch", "get") and "keys" in f:
        out: dict[str, Any] = {"keys": [_fill(k, args) for k in f["keys"]]}
        if route.verb == "switch":
            out["value"] = args["value"]
        return out
    return {"key": _fill(f["key"], args)}


def may_run(route: Route, role: str | None, args: dict | None = None) -> bool:
    """Admins may do everything; viewers only what changes nothing (an on|off|status command asked for its status
    changes nothing); anyone else nothing."""
    if role == "admin":
        return True
    if role != "viewer":
        return False
    return not route.write or (args or {}).get("value") == "status"
