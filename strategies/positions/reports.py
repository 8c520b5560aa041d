"""Read-only reports over the position manager's records (facts §5.2 B, D, J): trading sessions, TP-continuation
statistics, profit-booking status and statistics, and the autonomous re-entry system's state.

Pure: the callers pass the tracked orders (trading/positions' `tracked` rows as dicts), the profit chains, the
re-entry book and settings, and the current time. A *trading session* (facts §7 trading_sessions) is one entry
signal and everything that followed it until all its orders closed: the plugin's entry orders, their re-entries
(SL hunt, TP continuation) and the profit-chain levels built on its Order B. They share the tracked rows' `chain`
field (the plugin's trade id). Session ids are short and Telegram-clickable: ``ses_<8 hex of the trade id>``.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from strategies.positions import chains as C
from strategies.positions import reentry as R

ENTRY_KINDS = ("entry",)
RECOVERY_KINDS = tuple(k.value for k in R.RECOVERY_KINDS)


def session_id(trade_id: str) -> str:
    return "ses_" + hashlib.sha1(trade_id.encode()).hexdigest()[:8]


def _d(v: Any) -> Decimal | None:
    if v is None or v == "":
        return None
    try:
        return v if isinstance(v, Decimal) else Decimal(str(v))
    except ArithmeticError:
        return None


def money(v: Any) -> str:
    d = _d(v)
    if d is None:
        return "—"
    q = d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{'-' if q < 0 else '+' if q > 0 else ''}${abs(q):,.2f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(max(0.0, seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {s:02d}s"


def _when(ts: float | None, tz: str) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, tz=ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def _filled(t: Mapping[str, Any]) -> bool:
    return t.get("ticket") is not None


def _pips(t: Mapping[str, Any], pip_size: Callable[[str], Decimal | None]) -> Decimal | None:
    entry, exit_, size = _d(t.get("entry")), _d(t.get("exit_price")), pip_size(t["symbol"])
    if entry is None or not exit_ or not size:   # 0: closed at an unknown price
        return None
    move = exit_ - entry if t["side"] == "BUY" else entry - exit_
    return (move / size).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


# ------------------------------------------------------------------------------------------------ trading sessions
def trading_sessions(tracked: Iterable[Mapping[str, Any]], now: float) -> list[dict]:
    """Every trading session, newest first, as plain data."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for t in tracked:
        groups.setdefault(str(t["chain"]), []).append(t)
    out = []
    for trade_id, rows in groups.items():
        rows = sorted(rows, key=lambda t: (t.get("opened_at") or 0.0, t["cid"]))
        first = next((t for t in rows if t.get("kind") in ENTRY_KINDS), rows[0])
        filled = [t for t in rows if _filled(t)]
        closed = [t for t in filled if t["status"] == "closed"]
        open_ = [t for t in rows if t["status"] != "closed"]
        started = min((t["opened_at"] for t in rows if t.get("opened_at")), default=None)
        ended = max((t["closed_at"] for t in closed if t.get("closed_at")), default=None) if not open_ else None
        pnl = sum((_d(t.get("pnl")) or Decimal(0) for t in closed), Decimal(0))
        out.append({
            "session_id": session_id(trade_id), "trade_id": trade_id, "symbol": first["symbol"],
            "direction": first["side"], "plugin": first.get("plugin", ""), "logic": first.get("logic") or "",
            "status": "ACTIVE" if open_ else "CLOSED", "entries": sum(1 for t in rows if t.get("kind") in ENTRY_KINDS),
            "reentries": sum(1 for t in rows if t.get("role") == "REENTRY"),
            "levels": sum(1 for t in rows if t.get("role") == "LEVEL"),
            "exits": len(closed), "open": len(open_),
            "rejected": sum(1 for t in rows if t["status"] == "closed" and not _filled(t)),
            "wins": sum(1 for t in closed if (_d(t.get("pnl")) or 0) > 0),
            "losses": sum(1 for t in closed if (_d(t.get("pnl")) or 0) < 0),
            "pnl": str(pnl), "started_at": started, "ended_at": ended,
            "duration_seconds": None if started is None else (ended or now) - started,
            "orders": [{"client_id": t["cid"], "ticket": t.get("ticket"), "role": t.get("role"),
                        "kind": t.get("kind"), "side": t["side"], "lots": t.get("lots"), "entry": t.get("entry"),
                        "exit": t.get("exit_price"), "exit_reason": t.get("exit_reason"), "status": t["status"],
                        "pnl": t.get("pnl")} for t in rows],
        })
    out.sort(key=lambda s: (s["started_at"] or 0.0, s["trade_id"]), reverse=True)
    return out


def find_session(sessions: list[dict], wanted: str) -> dict | None:
    """By session id (any case: Telegram lower-cases clickable commands) or by the plugin's trade id."""
    w = wanted.strip()
    return next((s for s in sessions if s["session_id"] == w.lower() or s["trade_id"] == w), None)


def sessions_text(sessions: list[dict], limit: int = 10) -> str:
    if not sessions:
        return "no trading sessions recorded yet"
    lines = [f"{len(sessions)} trading session(s); latest {min(limit, len(sessions))}:"]
    for s in sessions[:limit]:
        lines.append(f"{'🟢' if s['status'] == 'ACTIVE' else '⚪'} {s['symbol']} {s['direction']} {s['plugin']} "
                     f"{money(s['pnl'])} ({s['exits']} exit(s), {s['open']} open) /session_report_{s['session_id']}")
    return "\n".join(lines)


def session_text(s: Mapping[str, Any], tz: str = "UTC") -> str:
    lines = [f"📋 Session {s['session_id']} ({s['status']})",
             f"{s['symbol']} {s['direction']} · {s['plugin']}{' ' + s['logic'] if s['logic'] else ''}",
             f"trade {s['trade_id']}",
             f"entries {s['entries']} · re-entries {s['reentries']} · chain levels {s['levels']} · "
             f"exits {s['exits']} · open {s['open']}" + (f" · rejected {s['rejected']}" if s["rejected"] else ""),
             f"P&L {money(s['pnl'])} ({s['wins']} win(s), {s['losses']} loss(es))",
             f"started {_when(s['started_at'], tz)} · "
             + (f"ended {_when(s['ended_at'], tz)} · " if s["ended_at"] else "")
             + f"duration {duration(s['duration_seconds'])} ({tz})"]
    for o in s["orders"]:
        what = o["kind"] or o["role"] or ""
        out = f" -> {o['exit']} ({o['exit_reason']})" if o["exit"] else ""
        pnl = f" {money(o['pnl'])}" if o["status"] == "closed" and o["ticket"] is not None else ""
        state = "refused" if o["status"] == "closed" and o["ticket"] is None else o["status"]
        lines.append(f"  {what:<17} {o['side']:<4} {o['lots'] or '?'} @ {o['entry'] or '?'}{out} {state}{pnl}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ TP continuation
def tp_stats(tracked: Iterable[Mapping[str, Any]], armed: int, pip_size: Callable[[str], Decimal | None],
             settings: R.ReentrySettings) -> dict:
    """TP-continuation re-entries: watches armed (`armed`, from the event log), orders placed, filled, closed with a
    win or a loss, pips and money; per symbol too."""
    rows = [t for t in tracked if t.get("kind") == R.WatchKind.TP_CONTINUATION.value]
    total: dict[str, Any] = {"armed": armed, "placed": 0, "filled": 0, "refused": 0, "open": 0, "wins": 0,
                             "losses": 0, "pips": Decimal(0), "pnl": Decimal(0)}
    per: dict[str, dict] = {}
    for t in rows:
        for agg in (total, per.setdefault(t["symbol"], {"placed": 0, "filled": 0, "refused": 0, "open": 0,
                                                        "wins": 0, "losses": 0, "pips": Decimal(0),
                                                        "pnl": Decimal(0)})):
            agg["placed"] += 1
            if not _filled(t):
                agg["refused" if t["status"] == "closed" else "open"] += 1
                continue
            agg["filled"] += 1
            if t["status"] != "closed":
                agg["open"] += 1
                continue
            pnl = _d(t.get("pnl")) or Decimal(0)
            if pnl > 0:
                agg["wins"] += 1
            elif pnl < 0:
                agg["losses"] += 1
            agg["pnl"] += pnl
            agg["pips"] += _pips(t, pip_size) or Decimal(0)

    def plain(a: dict) -> dict:
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in a.items()}
    return {**plain(total), "enabled": settings.tp_enabled, "max_levels": settings.tp_max_levels,
            "gap_pips": str(settings.tp_gap_pips), "by_symbol": {s: plain(a) for s, a in sorted(per.items())}}


def tp_text(d: Mapping[str, Any]) -> str:
    closed = d["wins"] + d["losses"]
    rate = f"{100 * d['wins'] / closed:.0f}%" if closed else "—"
    lines = [f"🎯 TP continuation: {'ON' if d['enabled'] else 'OFF'} (gap {d['gap_pips']} pips, up to "
             f"{d['max_levels']} levels)",
             f"watches armed {d['armed']} · orders placed {d['placed']} · filled {d['filled']} · refused "
             f"{d['refused']} · open {d['open']}",
             f"wins {d['wins']} · losses {d['losses']} · win rate {rate}",
             f"pips {d['pips']} · P&L {money(d['pnl'])}"]
    for sym, a in d["by_symbol"].items():
        lines.append(f"  {sym:<7} placed {a['placed']} filled {a['filled']} W{a['wins']}/L{a['losses']} "
                     f"{a['pips']} pips {money(a['pnl'])}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ profit booking
def _chain_row(c: C.Chain) -> dict:
    return {"chain_id": c.chain_id, "symbol": c.symbol, "side": c.side.value, "logic": c.logic or "",
            "level": c.level, "status": c.status.value, "booked": str(c.realised), "reason": c.reason,
            "started_at": c.started_at.isoformat(),
            "open_orders": sum(1 for o in c.orders if o.status is not C.OrderStatus.CLOSED),
            "booked_orders": sum(1 for o in c.orders if o.outcome is C.Outcome.PROFIT)}


def profit_status(chains: Iterable[C.Chain], settings: C.ChainSettings) -> dict:
    active = [_chain_row(c) for c in chains if c.status is C.ChainStatus.ACTIVE]
    return {"enabled": settings.enabled, "booking": settings.booking, "max_level": settings.max_level,
            "min_profit": str(settings.min_profit), "targets": [str(x) for x in settings.profit_targets],
            "active": sorted(active, key=lambda r: r["started_at"]),
            "booked_active": str(sum((Decimal(r["booked"]) for r in active), Decimal(0)))}


def profit_status_text(d: Mapping[str, Any]) -> str:
    lines = [f"📈 Profit booking: {'ON' if d['enabled'] else 'OFF'} ({d['booking']}, min {money(d['min_profit'])} "
             f"per order, levels 0-{d['max_level']})",
             f"{len(d['active'])} active chain(s), booked so far {money(d['booked_active'])}"]
    for r in d["active"]:
        lines.append(f"  {r['chain_id']} {r['symbol']} {r['side']} L{r['level']} booked {money(r['booked'])} "
                     f"({r['booked_orders']} order(s)), {r['open_orders']} open")
    return "\n".join(lines)


def profit_stats(chains: Iterable[C.Chain], settings: C.ChainSettings) -> dict:
    rows = list(chains)
    by = {s.value: [c for c in rows if c.status is s] for s in C.ChainStatus}
    levels = {str(n): sum(1 for c in rows if c.level == n) for n in range(settings.max_level + 1)}
    booked = sum((c.realised for c in rows), Decimal(0))
    orders = [o for c in rows for o in c.orders]
    reasons: dict[str, int] = {}
    for c in by["STOPPED"]:
        reasons[c.reason or "?"] = reasons.get(c.reason or "?", 0) + 1
    return {"started": len(rows), "active": len(by["ACTIVE"]), "completed": len(by["COMPLETED"]),
            "stopped": len(by["STOPPED"]), "stop_reasons": reasons, "levels_reached": levels,
            "highest_level": max((c.level for c in rows), default=0), "booked": str(booked),
            "orders_booked": sum(1 for o in orders if o.outcome is C.Outcome.PROFIT),
            "orders_lost": sum(1 for o in orders if o.outcome is C.Outcome.LOSS),
            "orders_recovered": sum(1 for o in orders if o.outcome is C.Outcome.RECOVERED)}


def profit_stats_text(d: Mapping[str, Any]) -> str:
    levels = " ".join(f"L{k}:{v}" for k, v in d["levels_reached"].items())
    stops = ", ".join(f"{k} {v}" for k, v in sorted(d["stop_reasons"].items())) or "—"
    return "\n".join([
        f"📊 Profit chains: {d['started']} started · {d['active']} active · {d['completed']} completed · "
        f"{d['stopped']} stopped",
        f"stopped by: {stops}",
        f"chains ending at each level: {levels} (highest L{d['highest_level']})",
        f"orders booked {d['orders_booked']} · lost {d['orders_lost']} · recovered {d['orders_recovered']}",
        f"profit booked {money(d['booked'])}"])


# ------------------------------------------------------------------------------------------------ autonomous system
def autonomous_status(settings: R.ReentrySettings, book: R.ReentryBook, tracked: Iterable[Mapping[str, Any]],
                      day_start: datetime, now: datetime, chains_enabled: bool) -> dict:
    """Which re-entry kinds are on, today's attempts and losses against the daily limits, the cool-down, the
    recoveries in the market and the watches (SL-hunt monitors and continuations) waiting for price."""
    stale = book.day_start is None or book.day_start < day_start     # counters of an earlier risk day
    cooling = book.cooldown_until is not None and book.cooldown_until > now
    recoveries = [{"client_id": t["cid"], "symbol": t["symbol"], "side": t["side"], "kind": t.get("kind"),
                   "status": t["status"], "lots": t.get("lots")}
                  for t in tracked if t.get("kind") in RECOVERY_KINDS and t["status"] != "closed"]
    watches = [{"kind": w.kind.value, "symbol": w.symbol, "side": w.side.value, "trigger": str(w.trigger),
                "expires_at": w.expires_at.isoformat(), "chain_id": w.chain_id} for w in book.watches]
    return {
        "systems": {"sl_hunt": settings.sl_hunt_enabled, "profit_sl_hunt": settings.profit_sl_hunt_enabled,
                    "tp_continuation": settings.tp_enabled, "exit_continuation": settings.exit_enabled,
                    "profit_booking": chains_enabled, "profit_protection": settings.protection_enabled},
        "sl_hunt_mode": settings.sl_hunt_mode, "protection_mode": settings.protection_mode,
        "attempts_today": 0 if stale else book.attempts_today, "max_attempts_per_day": settings.max_attempts_per_day,
        "losses_today": 0 if stale else book.losses_today, "max_losses_per_day": settings.max_losses_per_day,
        "max_concurrent": settings.max_concurrent,
        "cooldown_until": book.cooldown_until.isoformat() if cooling else None,
        "recoveries": recoveries, "watches": watches,
        "monitors": sum(1 for w in book.watches if w.kind in R.RECOVERY_KINDS)}


def autonomous_text(d: Mapping[str, Any]) -> str:
    names = {"sl_hunt": "SL hunt", "profit_sl_hunt": "profit SL hunt", "tp_continuation": "TP continuation",
             "exit_continuation": "exit continuation", "profit_booking": "profit booking",
             "profit_protection": "profit protection"}
    on = lambda v: "✅" if v else "❌"   # noqa: E731
    lines = ["🤖 Autonomous re-entry system",
             " · ".join(f"{on(v)} {names[k]}" for k, v in d["systems"].items()),
             f"SL hunt mode {d['sl_hunt_mode']} · protection {d['protection_mode']}",
             f"today: attempts {d['attempts_today']}/{d['max_attempts_per_day']} · losses "
             f"{d['losses_today']}/{d['max_losses_per_day']} · recoveries at once ≤ {d['max_concurrent']}",
             f"cool-down until {d['cooldown_until'][11:19]} UTC" if d["cooldown_until"] else "no cool-down",
             f"{len(d['recoveries'])} recovery order(s) in the market · {d['monitors']} SL-hunt monitor(s) · "
             f"{len(d['watches']) - d['monitors']} continuation watch(es)"]
    for r in d["recoveries"]:
        lines.append(f"  recovery {r['symbol']} {r['side']} {r['lots']} lots ({r['kind']}, {r['status']})")
    for w in d["watches"]:
        lines.append(f"  watch {w['kind']} {w['symbol']} {w['side']} at {w['trigger']} until "
                     f"{w['expires_at'][11:19]} UTC")
    return "\n".join(lines)
