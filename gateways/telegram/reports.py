"""Analytics reports from the broker's deals (BrokerQuery what="deals"): daily/weekly/monthly summaries, P&L per
symbol or per plugin, and the open-positions list. Pure: deals and times come in as plain dicts and numbers.

A deal is a dict as broker/gateway answers it: symbol, profit, commission, swap, entry ("in" | "out"), and
optionally plugin (or magic/comment), time. Only closing ("out") deals carry P&L; a deal without ``entry`` counts.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from .formatting import esc, format_daily_summary, money, price

PERIOD_DAYS = {"day": 1, "week": 7, "month": 30}


def _d(v: Any) -> Decimal:
    try:
        return Decimal(str(v)) if v is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def closing(deals: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [d for d in deals if str(d.get("entry", "out")).lower() in ("out", "out_by", "inout")]


def summary(deals: Iterable[Mapping[str, Any]], day: Any = None, balance: Any = None) -> str:
    outs = closing(deals)
    pnls = [_d(d.get("profit")) for d in outs]
    wins = sum(1 for p in pnls if p > 0)
    by_plugin: dict[str, Decimal] = {}
    for d, p in zip(outs, pnls):
        name = str(d.get("plugin") or d.get("comment") or "other")
        by_plugin[name] = by_plugin.get(name, Decimal(0)) + p
    best = max(zip(outs, pnls), key=lambda x: x[1], default=None)
    worst = min(zip(outs, pnls), key=lambda x: x[1], default=None)
    data: dict[str, Any] = {
        "date": day, "trades": len(outs), "wins": wins, "losses": len(outs) - wins,
        "gross_pnl": sum(pnls, Decimal(0)),
        "commission": sum((_d(d.get("commission")) for d in deals_list(deals)), Decimal(0)),
        "swap": sum((_d(d.get("swap")) for d in outs), Decimal(0)),
        "balance": balance,
        "by_plugin": by_plugin or None,
    }
    if best and len(outs) > 1:
        data["best"] = {"symbol": best[0].get("symbol"), "pnl": best[1]}
        data["worst"] = {"symbol": worst[0].get("symbol"), "pnl": worst[1]}
    return format_daily_summary(data)


def deals_list(deals: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return list(deals)


def breakdown(deals: Iterable[Mapping[str, Any]], by: str, title: str) -> str:
    """P&L per symbol or per plugin, biggest winner first."""
    rows: dict[str, list[Decimal]] = {}
    for d in closing(deals):
        key = str(d.get(by) or d.get("comment") or "other") if by == "plugin" else str(d.get("symbol", "?"))
        rows.setdefault(key, []).append(_d(d.get("profit")))
    if not rows:
        return f"<b>{esc(title)}</b>\nNo closed trades in this period."
    lines = [f"<b>{esc(title)}</b>"]
    for key, ps in sorted(rows.items(), key=lambda kv: -sum(kv[1])):
        wins = sum(1 for p in ps if p > 0)
        lines.append(f"{esc(key)}: {esc(money(sum(ps, Decimal(0))))} · {len(ps)} trades · {wins} won")
    return "\n".join(lines)


def positions(items: Iterable[Mapping[str, Any]]) -> str:
    items = list(items)
    if not items:
        return "📈 <b>Open trades</b>\nNone."
    lines = [f"📈 <b>Open trades</b> ({len(items)})"]
    total = Decimal(0)
    for p in items:
        pnl = _d(p.get("profit"))
        total += pnl
        lines.append(f"#{esc(p.get('ticket', '?'))} {esc(p.get('symbol', '?'))} {esc(str(p.get('side', '')).upper())} "
                     f"{esc(p.get('volume', ''))} @ {esc(price(p.get('price_open', p.get('price'))))} "
                     f"· {esc(money(pnl))}")
    lines.append(f"Total: {esc(money(total))}")
    return "\n".join(lines)
