"""Telegram notification layouts (after zepix-facts §5.4) and the live header text (§5.5), from plain dicts.

Pure: no clock and no I/O; times come in the data (aware datetimes, epoch seconds or ISO strings; naive means UTC)
and are shown in the trader's timezone (default Asia/Kolkata). Output is Telegram HTML: every value is escaped
and every tag closes on its own line, so `sender.split_text` can split any message at a line boundary.

`render(kind, data, tz)` returns the text with the default priority of that kind; the `format_*` functions return
the text alone. Kinds: startup, entry, exit, sl_hit, profit_booking, reentry, trend_change, squeeze, error,
daily_summary, state_change.
"""
from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Mapping
from zoneinfo import ZoneInfo

from .sender import Priority

DEFAULT_TZ = "Asia/Kolkata"
RULE = "━━━━━━━━━━━━━━━━"


# --------------------------------------------------------------------------------------------------- helpers

def esc(value: Any) -> str:
    return html.escape(str(value), quote=False)


def _tz(tz: str | dt.tzinfo | None) -> dt.tzinfo:
    if tz is None:
        return ZoneInfo(DEFAULT_TZ)
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def to_local(t: dt.datetime | float | int | str, tz: str | dt.tzinfo | None = DEFAULT_TZ) -> dt.datetime:
    """Any of our time representations -> aware datetime in `tz`. Naive datetimes are UTC (DESIGN: UTC inside)."""
    if isinstance(t, str):
        t = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    elif isinstance(t, (int, float)) and not isinstance(t, bool):
        t = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    if not isinstance(t, dt.datetime):
        raise TypeError(f"not a time: {t!r}")
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(_tz(tz))


def clock(t: Any, tz: str | dt.tzinfo | None = DEFAULT_TZ, seconds: bool = True) -> str:
    """'14:05:09 IST' (the zone's abbreviation; the UTC offset where the zone has none)."""
    loc = to_local(t, tz)
    name = loc.strftime("%Z")
    if not name or name[0] in "+-":
        name = "UTC" + (name or loc.strftime("%z"))
    return loc.strftime("%H:%M:%S" if seconds else "%H:%M") + " " + name


def long_date(t: Any, tz: str | dt.tzinfo | None = DEFAULT_TZ) -> str:
    """'11 Jan 2026 (Sunday)' as in facts §8.2."""
    return to_local(t, tz).strftime("%d %b %Y (%A)")


def _dec(v: Any) -> Decimal | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return v if isinstance(v, Decimal) else Decimal(str(v))
    except InvalidOperation:
        return None


def money(v: Any, signed: bool = True) -> str:
    """'+$1,234.50', '-$11.25', '$0.00'. Decimal arithmetic so 0.1 + 0.2 never shows as 0.30000000000000004."""
    d = _dec(v)
    if d is None:
        return "—"
    q = d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if q < 0 else ("+" if signed and q > 0 else "")
    return f"{sign}${abs(q):,.2f}"


def price(v: Any, digits: int | None = None) -> str:
    d = _dec(v)
    if d is None:
        return "—"
    if digits is not None:
        return f"{d.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP):f}"
    return f"{d:f}"


def lots(v: Any) -> str:
    d = _dec(v)
    return "—" if d is None else f"{d.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):f}"


def _pct(v: Any) -> str:
    d = _dec(v)
    return "—" if d is None else f"{d.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):f}%"


def _line(label: str, value: Any) -> str | None:
    return None if value is None or value == "" else f"{esc(label)}: {esc(value)}"


def _join(lines: Iterable[str | None]) -> str:
    return "\n".join(x for x in lines if x is not None)


def _footer(d: Mapping[str, Any], tz: Any) -> str | None:
    return f"🕐 {esc(clock(d['time'], tz))}" if d.get("time") is not None else None


def _direction(d: Mapping[str, Any]) -> str:
    return str(d.get("direction", "")).upper()


def _order_name(d: Mapping[str, Any]) -> str | None:
    label, role = d.get("order_label"), d.get("order_role")
    if label and role:
        return f"[Order {esc(label)} - {esc(role)}]"
    if label:
        return f"[Order {esc(label)}]"
    return None


# --------------------------------------------------------------------------------------------------- layouts

def format_startup(d: Mapping[str, Any], tz: Any = DEFAULT_TZ) -> str:
    mode = "PAPER TRADING" if d.get("paper", True) else "LIVE TRADING"
    plugins = d.get("plugins")
    return _join([
        f"🤖 <b>{esc(d.get('name', 'Zepix'))} started</b>",
        RULE,
        f"Mode: <b>{mode}</b>",
        _line("Broker", d.get("broker")),
        _line("Plugins", ", ".join(map(str, plugins))) if plugins else None,
        "✅ Menu active — use /start",
        _footer(d, tz),
    ])


_ORDER_EMOJI = {"A": "📈", "B": "💰"}


def format_entry(d: Mapping[str, Any], tz: Any = DEFAULT_TZ) -> str:
    """data: symbol, direction, plugin, orders [{label, role, ticket, entry, sl, tp, lots, ok, error}], and optionally
    signal, score, logic, timeframe, rr, adjustment {from, to, reason}, digits, alert_id, time."""
    digits = d.get("digits")
    orders = list(d.get("orders") or [])
    placed = [o for o in orders if o.get("ok", True)]
    sym, direction = esc(d.get("symbol", "?")), esc(_direction(d))
    if not placed:
        title = f"❌ <b>ENTRY FAILED</b> {sym} {direction}"
    elif len(placed) >= 2:
        title = f"🎯 <b>DUAL ORDER PLACED</b> {sym} {direction}"
    elif placed[0].get("label"):
        title = f"🎯 <b>ORDER {esc(placed[0]['label'])} PLACED</b> {sym} {direction}"
    else:
        title = f"🎯 <b>NEW TRADE</b> {sym} {direction}"
    signal = None
    if d.get("signal") is not None:
        signal = f"Signal: {esc(d['signal'])}" + (f" · Score: {esc(d['score'])}/9" if d.get("score") is not None else "")
    logic = None
    if d.get("logic") is not None:
        logic = f"Logic: {esc(d['logic'])}" + (f" ({esc(d['timeframe'])})" if d.get("timeframe") else "")
    elif d.get("timeframe"):
        logic = f"Timeframe: {esc(d['timeframe'])}"
    adj = d.get("adjustment")
    lines: list[str | None] = [
        title,
        _line("Plugin", d.get("plugin")),
        signal,
        logic,
        (f"🔧 Lot reduced {lots(adj.get('from'))} → {lots(adj.get('to'))}"
         + (f": {esc(adj['reason'])}" if adj.get("reason") else "")) if adj else None,
    ]
    for o in orders:
        label = o.get("label")
        head = f"{_ORDER_EMOJI.get(str(label), '📌')} <b>Order {esc(label)}</b>" if label else "📌 <b>Order</b>"
        if o.get("role"):
            head += f" ({esc(o['role'])})"
        if not o.get("ok", True):
            lines += ["", f"❌ {head} not placed" + (f": {esc(o['error'])}" if o.get("error") else "")]
            continue
        if o.get("ticket") is not None:
            head += f" #{esc(o['ticket'])}"
        lines += ["", head,
                  f"  Entry: {esc(price(o.get('entry'), digits))}",
                  f"  SL: {esc(price(o.get('sl'), digits))}",
                  f"  TP: {esc(price(o.get('tp'), digits))}" if o.get("tp") is not None else "  TP: none",
                  f"  Lots: {esc(lots(o.get('lots')))}"]
    if d.get("rr") is not None:
        lines += ["", f"Risk: 1:{esc(d['rr'])} RR"]
    lines += [_line("Alert", d.get("alert_id")), _footer(d, tz)]
    return _join(lines)


def format_exit(d: Mapping[str, Any], tz: Any = DEFAULT_TZ) -> str:
    """A closed trade (symbol, direction, reason, pnl, plugin, order_label, order_role, chain_level, ticket, entry,
    close) or an exit signal that closed several (signal, symbol, closed, closed_direction, pnl, continuation
    {direction, gap_pips})."""
    digits = d.get("digits")
    if d.get("signal") is not None and d.get("closed") is not None:
        cont = d.get("continuation")
        return _join([
            f"🚨 <b>{esc(d['signal'])}</b>",
            _line("Symbol", d.get("symbol")),
            " ".join(filter(None, ["Closed:", esc(d["closed"]), esc(str(d.get("closed_direction") or "").upper()),
                                   "position(s)"])),
            f"💰 Total P&amp;L: {esc(money(d.get('pnl')))}",
            (f"🔄 Watching for {esc(str(cont.get('direction', '')).upper())} continuation"
             + (f" ({esc(cont['gap_pips'])} pip gap)" if cont.get("gap_pips") is not None else "")) if cont else None,
            _footer(d, tz),
        ])
    pnl = _dec(d.get("pnl"))
    reason = str(d.get("reason", "")).upper()
    if reason in ("MANUAL", "MANUAL_CLOSE"):
        title = "📊 <b>MANUAL CLOSE DETECTED</b>"
    else:
        title = ("✅" if pnl is not None and pnl >= 0 else "❌") + " <b>TRADE CLOSED</b>"
    if d.get("chain_level") is not None:
        title += f" (Chain Level {esc(d['chain_level'])})"
    if _order_name(d):
        title += f" {_order_name(d)}"
    return _join([
        title,
        _line("Reason", reason or None),
        _line("Symbol", d.get("symbol")),
        _line("Direction", _direction(d) or None),
        _line("Plugin", d.get("plugin")),
        _line("Ticket", d.get("ticket")),
        (f"Entry: {esc(price(d['entry'], digits))} → Close: {esc(price(d.get('close'), digits))}"
         if d.get("entry") is not None else None),
        f"P&amp;L: {esc(money(d.get('pnl')))}",
        "Closed outside the bot (MT5 app)" if reason in ("MANUAL", "MANUAL_CLOSE") else None,
        _footer(d, tz),
    ])


def format_sl_hit(d: Mapping[str, Any], tz: Any = DEFAULT_TZ) -> str:
    """symbol, direction, plugin, entry, sl, pnl, and optionally order_label/role, chain_id, chain_level, ticket,
    recovery {target, until} (an armed SL-hunt re-entry)."""
    digits = d.get("digits")
    title = f"🛑 <b>SL HIT</b> {esc(d.get('symbol', '?'))} {esc(_direction(d))}"
    if _order_name(d):
        title += f" {_order_name(d)}"
    rec = d.get("recovery")
    chain = None
    if d.get("chain_id") is not None:
        chain = f"Chain: {esc(d['chain_id'])}" + (f" (Level {esc(d['chain_level'])})" if d.get("chain_level") is not None else "")
    return _join([
        title,
        _line("Plugin", d.get("plugin")),
        _line("Ticket", d.get("ticket")),
        f"Entry: {esc(price(d.get('entry'), digits))} → SL: {esc(price(d.get('sl'), digits))}",
        f"Loss: {esc(money(d.get('pnl')))}",
        chain,
        (f"🔄 SL-hunt re-entry armed at {esc(price(rec.get('target'), digits))}"
         + (f" until {esc(clock(rec['until'], tz, seconds=False))}" if rec.get("until") is not None else ""))
        if rec else None,
        _footer(d, tz),
    ])


def format_profit_booking(d: Mapping[str, Any], tz: Any = DEFAULT_TZ) -> str:
    """chain_id, symbol, from_level, to_level, orders_placed, next_target (per order), sl (per order), booked;
    with `stopped` (a reason) it announces the chain's end instead."""
    if d.get("stopped"):
        return _join([
            "⏹ <b>PROFIT CHAIN STOPPED</b>",
            _line("Chain", d.get("chain_id")),
            _line("Symbol", d.get("symbol")),
            _line("Level", d.get("to_level", d.get("level"))),
            _line("Reason", d.get("stopped")),
            f"Total P&amp;L: {esc(money(d.get('total_pnl')))}" if d.get("total_pnl") is not None else None,
            _footer(d, tz),
        ])
    return _join([
        "🔁 <b>PROFIT BOOKING LEVEL UP!</b>",
        _line("Chain", d.get("chain_id")),
        _line("Symbol", d.get("symbol")),
        f"Level: {esc(d.get('from_level', '?'))} → {esc(d.get('to_level', '?'))}",
        f"Booked: {esc(money(d['booked']))}" if d.get("booked") is not None else None,
        _line("Orders Placed", d.get("orders_placed")),
        f"Next Target: {esc(money(d['next_target'], signed=False))} per order" if d.get("next_target") is not None else None,
        f"SL: {esc(money(d['sl'], signed=False))} fixed per order" if d.get("sl") is not None else None,
        _footer(d, tz),
    ])


_REENTRY_TITLES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "sl_hunt": lambda d: "🔄 <b>SL HUNT RE-ENTRY</b>" + (f" #{esc(d['level'])}" if d.get("level") is not None else ""),
    "tp_continuation": lambda d: f"✅ <b>TP{esc(d.get('tp_level', ''))} RE-ENTRY</b>",
    "exit_continuation": lambda d: "↩️ <b>EXIT CONTINUATION RE-ENTRY</b>",
    "recovery": lambda d: "🔄 <b>PROFIT RECOVERY TRIGGERED</b>",
}
_REENTRY_FAILED = {"sl_hunt": "SL HUNT RECOVERY FAILED", "tp_continuation": "TP CONTINUATION FAILED",
                   "exit_continuation": "EXIT CONTINUATION FAILED", "recovery": "PROFIT RECOVERY FAILED"}


def format_reentry(d: Mapping[str, Any], tz: Any = DEFAULT_TZ) -> str:
    """type (sl_hunt | tp_continuation | exit_continuation | recovery), symbol, direction, plugin, entry, sl, tp,
    lots, and optionally sl_reduction_pct, chain_id, level, max_level, chain_pnl, tp_level; `failed` (a reason)
    reports a re-entry that could not be placed."""
    kind = str(d.get("type", "sl_hunt"))
    digits = d.get("digits")
    if d.get("failed"):
        return _join([f"⚠️ <b>{esc(_REENTRY_FAILED.get(kind, 'RE-ENTRY FAILED'))}</b>",
                      _line("Symbol", d.get("symbol")), _line("Reason", d.get("failed")),
                      _line("Chain", d.get("chain_id")), _footer(d, tz)])
    title = _REENTRY_TITLES.get(kind, lambda _: "🔄 <b>RE-ENTRY</b>")(d)
    sl = f"SL: {esc(price(d.get('sl'), digits))}"
    if d.get("sl_reduction_pct") is not None:
        sl += f" (-{esc(_pct(d['sl_reduction_pct']))} reduction)"
    level = None
    if d.get("level") is not None:
        level = f"Level: {esc(d['level'])}" + (f"/{esc(d['max_level'])}" if d.get("max_level") is not None else "")
    return _join([
        title,
        _line("Plugin", d.get("plugin")),
        _line("Symbol", d.get("symbol")),
        _line("Direction", _direction(d) or None),
        f"Entry: {esc(price(d.get('entry'), digits))}",
        sl,
        f"TP: {esc(price(d.get('tp'), digits))}" if d.get("tp") is not None else "TP: none",
        f"Lots: {esc(lots(d.get('lots')))}",
        _line("Chain", d.get("chain_id")),
        f"Chain P&amp;L: {esc(money(d['chain_pnl']))}" if d.get("chain_pnl") is not None else None,
        level,
        _footer(d, tz),
    ])


def format_trend_change(d: Mapping[str, Any], tz: Any = DEFAULT_TZ) -> str:
    """symbol, timeframe, trend, previous; with `locked` (the manual trend) the signal was ignored."""
    sym, tf = esc(d.get("symbol", "?")), esc(str(d.get("timeframe", "")).upper())
    if d.get("locked"):
        return _join([
            f"🔒 {sym} {tf} Signal Received: <b>{esc(d.get('trend'))}</b>",
            f"Trend Locked: {esc(d['locked'])} (Manual Mode)",
            "Signal ignored - trend will not change",
            _footer(d, tz),
        ])
    kind = "Bias" if d.get("bias") else "Trend"
    was = f" (was {esc(d['previous'])})" if d.get("previous") else ""
    return _join([f"📊 {sym} {tf} {kind} Updated: <b>{esc(d.get('trend'))}</b>{was}", _footer(d, tz)])


def format_squeeze(d: Mapping[str, Any], tz: Any = DEFAULT_TZ) -> str:
    return _join([
        "🔔 <b>Volatility Squeeze Detected</b>",
        _line("Symbol", d.get("symbol")),
        _line("Timeframe", d.get("timeframe")),
        _line("Direction", _direction(d) or None),
        "Big move expected - prepare for breakout!",
        _footer(d, tz),
    ])


_SEVERITY = {"critical": ("🚨", "CRITICAL"), "error": ("❌", "ERROR"), "warning": ("⚠️", "WARNING")}


def format_error(d: Mapping[str, Any], tz: Any = DEFAULT_TZ) -> str:
    """severity (critical | error | warning), component, message, and optionally hint, alert_id, order_id, count."""
    emoji, word = _SEVERITY.get(str(d.get("severity", "error")).lower(), _SEVERITY["error"])
    title = f"{emoji} <b>{word}</b>" + (f" · {esc(d['component'])}" if d.get("component") else "")
    count = d.get("count")
    return _join([
        title,
        esc(d.get("message", "")) + (f" (×{esc(count)})" if count and count > 1 else ""),
        f"👉 {esc(d['hint'])}" if d.get("hint") else None,
        _line("Alert", d.get("alert_id")),
        _line("Order", d.get("order_id")),
        _footer(d, tz),
    ])


def format_daily_summary(d: Mapping[str, Any], tz: Any = DEFAULT_TZ) -> str:
    """date (a date, or any time of that day), trades, wins, losses, gross_pnl, and optionally commission, swap,
    net_pnl (computed when absent), max_drawdown, balance, best/worst {symbol, pnl}, by_plugin {name: pnl}."""
    day = d.get("date")
    if isinstance(day, dt.date) and not isinstance(day, dt.datetime):
        day_s = day.strftime("%d %b %Y (%A)")
    elif isinstance(day, str) and len(day) == 10:
        day_s = dt.date.fromisoformat(day).strftime("%d %b %Y (%A)")
    elif day is not None:
        day_s = long_date(day, tz)
    else:
        day_s = ""
    trades = int(d.get("trades") or 0)
    wins, losses = d.get("wins"), d.get("losses")
    win_rate = _pct(Decimal(int(wins or 0)) * 100 / trades) if trades and wins is not None else "—"
    net = d.get("net_pnl")
    if net is None and d.get("gross_pnl") is not None:
        net = sum((_dec(d.get(k)) or Decimal(0)) for k in ("gross_pnl", "commission", "swap"))
    lines: list[str | None] = [
        "📅 <b>DAILY SUMMARY</b>" + (f" — {esc(day_s)}" if day_s else ""),
        RULE,
        f"📝 Trades: {trades}" + (f" ({esc(wins)} W / {esc(losses)} L)" if wins is not None and losses is not None else ""),
        f"🎯 Win Rate: {esc(win_rate)}",
        f"💵 Gross P&amp;L: {esc(money(d.get('gross_pnl')))}" if d.get("gross_pnl") is not None else None,
        f"💸 Commission: {esc(money(d['commission']))}" if d.get("commission") is not None else None,
        f"🔁 Swap: {esc(money(d['swap']))}" if d.get("swap") is not None else None,
        f"💰 <b>Net P&amp;L: {esc(money(net))}</b>" if net is not None else None,
        f"📉 Max Drawdown: {esc(money(d['max_drawdown']))}" if d.get("max_drawdown") is not None else None,
        f"🏦 Balance: {esc(money(d['balance'], signed=False))}" if d.get("balance") is not None else None,
    ]
    for key, emoji, word in (("best", "🏆", "Best"), ("worst", "🥶", "Worst")):
        t = d.get(key)
        if t:
            lines.append(f"{emoji} {word}: {esc(t.get('symbol', '?'))} {esc(money(t.get('pnl')))}")
    by_plugin = d.get("by_plugin")
    if by_plugin:
        lines.append("<b>By plugin</b>")
        lines += [f"  {esc(name)}: {esc(money(pnl))}" for name, pnl in by_plugin.items()]
    return _join(lines)


_STATE = {
    "ACTIVE": ("🟢", "New entries are allowed."),
    "REDUCING": ("🟠", "Only exposure-reducing orders (closes, partial closes, tighter SL) are allowed."),
    "HALTED": ("⛔", "Nothing new is opened; closing positions is still allowed."),
}


def format_state_change(d: Mapping[str, Any], tz: Any = DEFAULT_TZ) -> str:
    """from, to (ACTIVE | REDUCING | HALTED), reason, and optionally by (who did it)."""
    to = str(d.get("to", "?")).upper()
    emoji, meaning = _STATE.get(to, ("⚠️", None))
    title = f"{emoji} <b>TRADING STATE: {esc(to)}</b>" + (f" (was {esc(str(d['from']).upper())})" if d.get("from") else "")
    return _join([title, _line("Reason", d.get("reason")), meaning, _line("By", d.get("by")), _footer(d, tz)])


@dataclass(frozen=True)
class Rendered:
    text: str
    priority: Priority
    parse_mode: str = "HTML"


FORMATTERS: dict[str, Callable[..., str]] = {
    "startup": format_startup,
    "entry": format_entry,
    "exit": format_exit,
    "sl_hit": format_sl_hit,
    "profit_booking": format_profit_booking,
    "reentry": format_reentry,
    "trend_change": format_trend_change,
    "squeeze": format_squeeze,
    "error": format_error,
    "daily_summary": format_daily_summary,
    "state_change": format_state_change,
}

# After facts §5.6 (trade entries/exits/SL hits HIGH; warnings MEDIUM; info LOW; daily summary never loud) and
# DECISIONS 14 (a trading-state change is always CRITICAL).
DEFAULT_PRIORITIES: dict[str, Priority] = {
    "startup": Priority.LOW,
    "entry": Priority.HIGH,
    "exit": Priority.HIGH,
    "sl_hit": Priority.HIGH,
    "profit_booking": Priority.NORMAL,
    "reentry": Priority.HIGH,
    "trend_change": Priority.LOW,
    "squeeze": Priority.NORMAL,
    "error": Priority.HIGH,
    "daily_summary": Priority.LOW,
    "state_change": Priority.CRITICAL,
}
_ERROR_PRIORITY = {"critical": Priority.CRITICAL, "error": Priority.HIGH, "warning": Priority.NORMAL}


def render(kind: str, data: Mapping[str, Any], tz: str | dt.tzinfo | None = DEFAULT_TZ) -> Rendered:
    try:
        fmt = FORMATTERS[kind]
    except KeyError:
        raise ValueError(f"unknown notification kind {kind!r}; known: {', '.join(FORMATTERS)}") from None
    prio = DEFAULT_PRIORITIES[kind]
    if kind == "error":
        prio = _ERROR_PRIORITY.get(str(data.get("severity", "error")).lower(), Priority.HIGH)
    if data.get("entry_failed") or (kind == "entry" and data.get("orders") and
                                    not any(o.get("ok", True) for o in data["orders"])):
        prio = Priority.CRITICAL  # an entry that failed entirely needs the trader's eyes now
    return Rendered(fmt(data, _tz(tz)), prio)


# --------------------------------------------------------------------------------------------------- header

_PLUGIN_STATE = {"active": "🟢", "running": "🟢", "enabled": "🟢", "disabled": "🔴", "stopped": "🔴",
                 "paused": "⏸", "restarting": "🟡", "degraded": "🟡", "fallback": "🟡", "failed": "❌",
                 "crashed": "❌"}


def live_header(now: Any, tz: str | dt.tzinfo | None = DEFAULT_TZ, *, session: Mapping[str, Any] | None = None,
                open_trades: int | None = None, pnl_today: Any = None, trading_state: str | None = None,
                floating: Any = None,
                plugins: Mapping[str, str] | None = None, title: str | None = None,
                max_symbols: int = 3) -> str:
    """The pinned header (facts §5.5, DECISIONS 20): clock and date in the trader's zone, the forex session and its
    symbols, trading state, open trades, today's P&L and plugin states.
    `pnl_today` is today's realised P&L (trading/risk's day), `floating` the open positions' current profit.

    `session` is the current forex session as the session logic reports it: {"name", "symbols"} (empty symbols:
    nothing may trade, e.g. the dead zone); None when no session is active. The header is refreshed at most every
    30 s, so the clock shows minutes; `updated` at the bottom gives the exact second.
    """
    lines: list[str | None] = [f"🎛️ <b>{esc(title)}</b>" if title else None,
                               f"🕐 <b>{esc(clock(now, tz, seconds=False))}</b> · {esc(long_date(now, tz))}"]
    if session is None:
        lines.append("⚪ <b>Session:</b> none")
    else:
        symbols = list(session.get("symbols") or [])
        if symbols:
            shown = ", ".join(map(str, symbols[:max_symbols])) + ("…" if len(symbols) > max_symbols else "")
            lines += [f"🟢 <b>Session:</b> {esc(session.get('name', '?'))}", f"✅ {esc(shown)}"]
        else:
            lines.append(f"⛔ <b>Session:</b> {esc(session.get('name', '?'))} — no new entries")
    if trading_state:
        st = trading_state.upper()
        lines.append(f"{_STATE.get(st, ('⚠️', None))[0]} <b>Trading:</b> {esc(st)}")
    stats = []
    if open_trades is not None:
        stats.append(f"📊 <b>Open:</b> {esc(open_trades)}")
    if floating is not None:
        stats.append(f"〰️ <b>Floating:</b> {esc(money(floating))}")
    if pnl_today is not None:
        stats.append(f"💰 <b>Today:</b> {esc(money(pnl_today))}")
    if stats:
        lines.append(" · ".join(stats))
    if plugins:
        lines.append("🔌 " + " · ".join(f"{esc(n)} {_PLUGIN_STATE.get(str(s).lower(), '⚪')}" for n, s in plugins.items()))
    lines += [RULE, f"<i>updated {esc(to_local(now, tz).strftime('%H:%M:%S'))}</i>"]
    return _join(lines)
