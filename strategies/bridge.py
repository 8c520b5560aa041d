"""The V4 <-> V5 bridge the router applies before routing: old names for the same three logics and strategies.

What the domain facts define (zepix-facts §1.4, §2.1, and "Internal naming changed over time"):
- ``LOGIC1/2/3`` (old builds) and ``combinedlogic-1/2/3`` (later code) are the same three logics; this project
  calls them LOGIC1/2/3 (the V5 plugin combined_v3 and the legacy_v4 plugin both use those names).
- A legacy V4 ``entry`` alert's timeframe picks its logic: 5m -> LOGIC1, 15m -> LOGIC2, 1h -> LOGIC3; 1d entries
  are ignored by the legacy engine.
- ``strategy = "ZepixPremium"`` (every legacy template) is the legacy V4 strategy.

So a ``?strategy=combinedlogic-2`` / ``LOGIC2`` hint means the V5 owner of the logics (combined_v3) with that
logic, and ``ZepixPremium`` means legacy_v4. Pure: dict in, dict out (``ParsedAlert.to_dict()`` shape); the
bridge's reading is recorded in ``extras["bridge"]`` so the journal and the plugin can see it.
"""
from __future__ import annotations

import re
from typing import Mapping

LOGICS = ("LOGIC1", "LOGIC2", "LOGIC3")
LEGACY_ENTRY_LOGIC = {"5": "LOGIC1", "15": "LOGIC2", "60": "LOGIC3"}     # §1.4: 1d entries are ignored
V5_LOGIC_OWNER = "combined_v3"
LEGACY_STRATEGY = {"zepixpremium": "legacy_v4"}
# V4 signal names for the legacy entry signals (the "BUY_SIGNAL -> entry long"): a legacy `entry` alert
# may say BUY_SIGNAL / SELL_SIGNAL where the templates say buy / sell. The legacy parser reads them through
# `legacy_signal`, records the translation as a repair, and the alert goes on as the entry it means.
LEGACY_SIGNAL_ALIASES = {"entry": {"buy_signal": "buy", "sell_signal": "sell"}}

_LOGIC_NAME = re.compile(r"(?:combined[-_ ]?logic|logic)[-_ ]?([123])\Z", re.IGNORECASE)


def legacy_signal(type_name: str, signal):
    """('entry', 'BUY_SIGNAL') -> ('buy', "signal: 'BUY_SIGNAL' -> 'buy' (V4 bridge)"); unknown names unchanged."""
    if not isinstance(signal, str):
        return signal, None
    alias = LEGACY_SIGNAL_ALIASES.get(type_name, {}).get(signal.strip().lower())
    if alias is None:
        return signal, None
    return alias, f"signal: {signal.strip()!r} -> {alias!r} (V4 bridge)"


def logic_name(name: str) -> str | None:
    """'combinedlogic-1' / 'LOGIC1' / 'logic_1' -> 'LOGIC1'; None when the name is not one of the three logics."""
    match = _LOGIC_NAME.match(name.strip()) if isinstance(name, str) else None
    return f"LOGIC{match.group(1)}" if match else None


def v4_logic_name(logic: str) -> str:
    """'LOGIC2' -> 'combinedlogic-2' (the name the later V4 code and its Telegram commands use)."""
    if logic not in LOGICS:
        raise ValueError(f"{logic!r} is not one of {', '.join(LOGICS)}")
    return f"combinedlogic-{logic[-1]}"


def legacy_entry_logic(alert: Mapping) -> str | None:
    """The logic a legacy V4 entry belongs to by its timeframe; None for other alerts and unmapped timeframes."""
    if alert.get("format") != "legacy_v4" or alert.get("kind") != "entry":
        return None
    return LEGACY_ENTRY_LOGIC.get(str(alert.get("timeframe")))


def bridge(alert: Mapping) -> tuple[dict, str]:
    """(alert as V5 understands it, what was translated or ""). Never fails: an unknown name passes unchanged."""
    out = dict(alert)
    note: dict = {}
    strategy = alert.get("strategy")
    if isinstance(strategy, str) and strategy:
        logic = logic_name(strategy)
        if logic is not None:
            out["strategy"] = V5_LOGIC_OWNER
            note.update(strategy=strategy, logic=logic)
        elif strategy.strip().lower() in LEGACY_STRATEGY:
            out["strategy"] = LEGACY_STRATEGY[strategy.strip().lower()]
            note.update(strategy=strategy)
    if "logic" not in note:
        logic = legacy_entry_logic(alert)
        if logic is not None:
            note.update(logic=logic)
    if not note:
        return out, ""
    out["extras"] = {**(alert.get("extras") or {}), "bridge": note}
    said = []
    if "strategy" in note:
        said.append(f"strategy {note['strategy']} -> {out['strategy']}")
    if "logic" in note:
        said.append(f"logic {note['logic']}")
    return out, "bridge: " + ", ".join(said)
