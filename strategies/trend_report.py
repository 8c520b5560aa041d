"""Read views of a plugin's trend store for Telegram (/show_trends, /trend_matrix, /trend_mode). Pure.

Each strategy family keeps its trends in its own state keys: legacy ``trend:<SYM>:<tf>`` = {"trend", "mode",
"updated"} (MANUAL/AUTO slots, strategies/legacy/trends.py); V3 ``trend:<SYM>`` = the four MTF pillars
{"15m": 1, "1H": -1, ...} (always AUTO: alerts set them); V6 ``tftrend:<SYM>:<tf>`` = {"direction"}. ``cells``
reads any of them into one shape: (symbol, timeframe name) -> {"trend", "mode", "updated"}.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

BULLISH, BEARISH, NEUTRAL = "BULLISH", "BEARISH", "NEUTRAL"
TF_NAMES = {"1": "1m", "5": "5m", "15": "15m", "60": "1H", "240": "4H", "1D": "1D", "1d": "1D", "15m": "15m",
            "1h": "1H", "1H": "1H", "4h": "4H", "4H": "4H", "5m": "5m", "1m": "1m"}
TF_ORDER = ("1m", "5m", "15m", "1H", "4H", "1D")
ARROW = {BULLISH: "↑", BEARISH: "↓", NEUTRAL: "·"}


def tf_name(tf: str) -> str:
    return TF_NAMES.get(tf, tf)


def trend_word(v: Any) -> str:
    """1 / -1 / 0, BULLISH, BULL, BUY, bearish... -> BULLISH | BEARISH | NEUTRAL."""
    if isinstance(v, bool):
        return NEUTRAL
    if isinstance(v, (int, float)):
        return BULLISH if v > 0 else BEARISH if v < 0 else NEUTRAL
    s = str(v or "").upper()
    if s.startswith("BULL") or s in ("BUY", "UP", "LONG"):
        return BULLISH
    if s.startswith("BEAR") or s in ("SELL", "DOWN", "SHORT"):
        return BEARISH
    return NEUTRAL


def cells(state: Mapping[str, Any]) -> dict[tuple[str, str], dict]:
    out: dict[tuple[str, str], dict] = {}
    for key, value in state.items():
        if not isinstance(value, Mapping):
            continue
        parts = key.split(":")
        if parts[0] == "trend" and len(parts) == 3:                 # legacy slot
            out[(parts[1], tf_name(parts[2]))] = {"trend": trend_word(value.get("trend")),
                                                  "mode": str(value.get("mode") or "AUTO"),
                                                  "updated": value.get("updated")}
        elif parts[0] == "trend" and len(parts) == 2:               # V3 pillars
            for pillar, sign in value.items():
                if pillar not in ("updated", "mode"):
                    out[(parts[1], tf_name(pillar))] = {"trend": trend_word(sign), "mode": "AUTO",
                                                        "updated": value.get("updated")}
        elif parts[0] == "tftrend" and len(parts) == 3:             # V6 per-timeframe direction
            out[(parts[1], tf_name(parts[2]))] = {"trend": trend_word(value.get("direction")), "mode": "AUTO",
                                                  "updated": value.get("updated")}
    return out


def _tf_key(tf: str) -> tuple[int, str]:
    return (TF_ORDER.index(tf), tf) if tf in TF_ORDER else (len(TF_ORDER), tf)


def matrix(state: Mapping[str, Any], symbols: Iterable[str] = (), timeframes: Iterable[str] = (),
           plugin: str = "") -> dict:
    """Every symbol (configured ones and any the store knows) x every timeframe; missing slots are NEUTRAL/AUTO."""
    c = cells(state)
    tfs = sorted({tf_name(t) for t in timeframes} | {tf for _, tf in c}, key=_tf_key)
    syms = sorted(set(symbols) | {s for s, _ in c})
    rows = [{"symbol": s, "cells": {tf: c.get((s, tf), {"trend": NEUTRAL, "mode": "AUTO", "updated": None})
                                    for tf in tfs}} for s in syms]
    return {"plugin": plugin, "timeframes": tfs, "rows": rows, "known": len(c),
            "manual": sorted(f"{s} {tf}" for (s, tf), v in c.items() if v["mode"] == "MANUAL")}


def matrix_text(d: Mapping[str, Any]) -> str:
    """A monospace table (the bot sends it in <pre>): ↑ bullish, ↓ bearish, · neutral, * locked MANUAL."""
    tfs = d["timeframes"]
    if not tfs:
        return f"{d['plugin']}: no trends stored yet (trend, bias or pulse alerts fill the store)"
    # the arrow sits under the label's last character; a MANUAL mark follows it
    lines = [f"{'':<7}" + "".join(f"{tf:>4} " for tf in tfs)]
    for r in d["rows"]:
        cells_ = "".join(f"{ARROW[v['trend']]:>4}{'*' if v['mode'] == 'MANUAL' else ' '}" for v in r["cells"].values())
        lines.append(f"{r['symbol']:<7}{cells_}")
    lines.append(f"↑ bull ↓ bear · neutral * MANUAL ({d['plugin']}, {d['known']} slot(s) set)")
    return "\n".join(lines)


def trends_text(d: Mapping[str, Any]) -> str:
    """Only the slots that hold something, one symbol per line."""
    lines = []
    for r in d["rows"]:
        set_ = [(tf, v) for tf, v in r["cells"].items() if v["updated"] or v["mode"] == "MANUAL"]
        if set_:
            lines.append(f"{r['symbol']}: " + ", ".join(
                f"{tf} {v['trend']}{' (MANUAL)' if v['mode'] == 'MANUAL' else ''}" for tf, v in set_))
    if not lines:
        return f"{d['plugin']}: no trends stored yet (trend, bias or pulse alerts fill the store)"
    return f"📍 Trends in {d['plugin']}\n" + "\n".join(lines)


def mode_text(d: Mapping[str, Any]) -> str:
    manual = d["manual"]
    head = f"🔒 {len(manual)} slot(s) locked MANUAL in {d['plugin']}" if manual else \
        f"every trend slot of {d['plugin']} is AUTO (follows alerts)"
    body = [f"  {x}: MANUAL (/set_auto to follow alerts again)" for x in manual]
    return "\n".join([head, *body, "other slots: AUTO" if manual else ""]).rstrip()
