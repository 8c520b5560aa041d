"""The legacy trend store: one slot per (symbol, timeframe) with a trend and a mode (facts §2.6).

AUTO slots follow bias/trend alerts; a MANUAL slot (/set_trend) ignores them until /set_auto. The store lives
in the strategy state under `trend:<SYMBOL>:<tf>` keys as {"trend", "mode", "updated"}; functions here return
the `Record` decisions that change it.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from strategies.decisions import Record, Skip

BULLISH, BEARISH, NEUTRAL = "BULLISH", "BEARISH", "NEUTRAL"
TRENDS = (BULLISH, BEARISH, NEUTRAL)
AUTO, MANUAL = "AUTO", "MANUAL"
TF_NAMES = {"5": "5m", "15": "15m", "60": "1H", "240": "4H", "1D": "1D"}


# Telegram and people write 15m / 1h / 1d; alerts carry 15 / 60 / 1D (the store's keys)
TF_ALIASES = {"5m": "5", "15m": "15", "1h": "60", "60m": "60", "4h": "240", "1d": "1D", "d": "1D", "d1": "1D",
              "h1": "60", "h4": "240", "m15": "15", "m5": "5"}


def normalize_tf(tf: str, known: tuple[str, ...] = ()) -> str:
    """'1h' -> '60', '1d' -> '1D'; ValueError naming the known timeframes when `known` is given and it is not one."""
    raw = str(tf).strip()
    out = TF_ALIASES.get(raw.lower(), "1D" if raw.upper() == "1D" else raw)
    if known and out not in known:
        raise ValueError(f"timeframe {tf!r} has no trend slot; known: "
                         + ", ".join(f"{TF_NAMES.get(k, k)}" for k in known))
    return out


def key(symbol: str, tf: str) -> str:
    return f"trend:{symbol}:{tf}"


def slot(state: Mapping[str, Any], symbol: str, tf: str) -> dict:
    return state.get(key(symbol, tf)) or {"trend": NEUTRAL, "mode": AUTO}


def trend_of(state: Mapping[str, Any], symbol: str, tf: str) -> str:
    return slot(state, symbol, tf)["trend"]


def from_sign(sign: int) -> str:
    return BULLISH if sign > 0 else BEARISH if sign < 0 else NEUTRAL


def auto_update(state: Mapping[str, Any], symbol: str, tf: str, trend: str, now: datetime) -> Record | Skip:
    """An alert's trend for a slot: a Record, or a Skip when the slot is locked or already says so."""
    current = slot(state, symbol, tf)
    name = TF_NAMES.get(tf, tf)
    if current["mode"] == MANUAL:
        return Skip(f"{symbol} {name} trend is locked MANUAL at {current['trend']}; the {trend} alert is ignored "
                    f"(/set_auto to follow alerts again)")
    if current["trend"] == trend:
        return Skip(f"duplicate: {symbol} {name} trend is already {trend}")
    return Record(key(symbol, tf), {"trend": trend, "mode": AUTO, "updated": now.isoformat()},
                  note=f"{symbol} {name} trend {current['trend']} -> {trend}")


def set_manual(symbol: str, tf: str, trend: str, now: datetime) -> Record:
    if trend not in TRENDS:
        raise ValueError(f"trend must be one of {', '.join(TRENDS)}, got {trend!r}")
    return Record(key(symbol, tf), {"trend": trend, "mode": MANUAL, "updated": now.isoformat()},
                  note=f"{symbol} {TF_NAMES.get(tf, tf)} locked MANUAL at {trend}")


def set_auto(state: Mapping[str, Any], symbol: str, tf: str, now: datetime) -> Record:
    current = slot(state, symbol, tf)
    return Record(key(symbol, tf), {"trend": current["trend"], "mode": AUTO, "updated": now.isoformat()},
                  note=f"{symbol} {TF_NAMES.get(tf, tf)} back to AUTO")


def aligned(state: Mapping[str, Any], symbol: str, tfs: tuple[str, str]) -> tuple[str | None, str]:
    """(direction BULLISH/BEARISH or None, description): both timeframes non-neutral and equal."""
    a, b = (trend_of(state, symbol, tf) for tf in tfs)
    desc = f"{TF_NAMES.get(tfs[0], tfs[0])} {a}, {TF_NAMES.get(tfs[1], tfs[1])} {b}"
    if a == b and a != NEUTRAL:
        return a, desc
    return None, desc
