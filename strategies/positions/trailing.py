"""Stop management of one open position: partial closes at TP1/TP2/TP3 (V6 shares), breakeven after TP1 with a
buffer, the profit lock (+40 pips -> SL at entry + 10 pips) and a trailing stop from the best price (facts §4.2,
§2.8). SL moves only ever tighten, and never onto the wrong side of the current price.

With a split profile the position manager closes the partials itself: the broker order should carry the last
target (or none) as its TP. Entry point: `track(...)` then `on_tick(...) -> (position, actions)`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from config.errors import ConfigError
from strategies.positions.actions import Action, CloseOrder, ModifySL, Notify
from strategies.risk.config_fields import boolean, check_keys, dec, deep_merge, integer, mapping, sequence
from strategies.risk.pips import SymbolSpec, exit_quote, floor_to_step
from strategies.risk.side import Side
from strategies.risk.stops import round_sl


@dataclass(frozen=True)
class TargetProfile:
    """How a plugin's position is taken off: shares of the volume closed at TP1, TP2, TP3 (summing to 1),
    breakeven after TP1, and from which TP the rest trails (None: no trailing)."""

    shares: tuple[Decimal, ...]
    breakeven_after_tp1: bool = False
    breakeven_buffer_pips: Decimal = Decimal(0)
    trail_after: int | None = None


def _p(shares: str, be: bool = False, buffer: str = "0", trail: int | None = None) -> TargetProfile:
    return TargetProfile(tuple(Decimal(x) for x in shares.split()), be, Decimal(buffer), trail)


# facts §2.8 (V6 plans): 1m 50/50 trailing from TP1; 5m 50/30/20, SL to breakeven after TP1 (2-pip buffer);
# 15m 40/40/20 with the last 20% trailing; 1h 20/40/40, no trailing.
DEFAULT_PROFILES: dict[str, TargetProfile] = {
    "price_action_1m": _p("0.5 0.5", trail=1),
    "price_action_5m": _p("0.5 0.3 0.2", be=True, buffer="2"),
    "price_action_15m": _p("0.4 0.4 0.2", trail=2),
    "price_action_1h": _p("0.2 0.4 0.4"),
}


@dataclass(frozen=True)
class TrailingSettings:
    trailing_enabled: bool = False  # trail every tracked position, not only profiles that ask for it
    trail_points: int = 50  # distance from the best price, in the symbol's points (exit_strategies default)
    profit_lock_enabled: bool = True
    lock_trigger_pips: Decimal = Decimal("40")
    lock_pips: Decimal = Decimal("10")
    profiles: dict[str, TargetProfile] = field(default_factory=lambda: dict(DEFAULT_PROFILES))

    def to_mapping(self) -> dict[str, Any]:
        return {"trailing_enabled": self.trailing_enabled, "trail_points": self.trail_points,
                "profit_lock_enabled": self.profit_lock_enabled, "lock_trigger_pips": str(self.lock_trigger_pips),
                "lock_pips": str(self.lock_pips),
                "profiles": {n: {"shares": [str(s) for s in p.shares], "breakeven_after_tp1": p.breakeven_after_tp1,
                                 "breakeven_buffer_pips": str(p.breakeven_buffer_pips),
                                 "trail_after": p.trail_after or 0} for n, p in self.profiles.items()}}

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None, path: str = "positions.trailing") -> "TrailingSettings":
        raw = deep_merge(cls().to_mapping(), mapping(d if d is not None else {}, path))
        check_keys(raw, path, tuple(cls().to_mapping()))
        profiles: dict[str, TargetProfile] = {}
        for name, row in mapping(raw["profiles"], f"{path}.profiles").items():
            key = f"{path}.profiles.{name}"
            row = mapping(row, key)
            check_keys(row, key, ("shares", "breakeven_after_tp1", "breakeven_buffer_pips", "trail_after"))
            shares = tuple(dec(s, f"{key}.shares", minimum=0, maximum=1, exclusive_min=True)
                           for s in sequence(row.get("shares", []), f"{key}.shares"))
            if not 1 <= len(shares) <= 3 or sum(shares) != 1:
                raise ConfigError(f"{key}.shares", row.get("shares"), "1 to 3 fractions that add up to 1")
            trail = integer(row.get("trail_after", 0), f"{key}.trail_after", minimum=0, maximum=len(shares))
            profiles[name] = TargetProfile(
                shares, boolean(row.get("breakeven_after_tp1", False), f"{key}.breakeven_after_tp1"),
                dec(row.get("breakeven_buffer_pips", 0), f"{key}.breakeven_buffer_pips", minimum=0),
                trail or None)
        return cls(trailing_enabled=boolean(raw["trailing_enabled"], f"{path}.trailing_enabled"),
                   trail_points=integer(raw["trail_points"], f"{path}.trail_points", minimum=1, maximum=100000),
                   profit_lock_enabled=boolean(raw["profit_lock_enabled"], f"{path}.profit_lock_enabled"),
                   lock_trigger_pips=dec(raw["lock_trigger_pips"], f"{path}.lock_trigger_pips", minimum=0,
                                         exclusive_min=True),
                   lock_pips=dec(raw["lock_pips"], f"{path}.lock_pips", minimum=0), profiles=profiles)


def split_volumes(total: Decimal, shares: Sequence[Decimal], spec: SymbolSpec) -> tuple[Decimal, ...]:
    """Lots closed at each target. Cumulative shares are rounded down to the volume step, so rounding never
    accumulates; a partial below the minimum volume moves on to the next target, and the last target takes
    whatever remains, so the parts always add up to `total`."""
    parts: list[Decimal] = []
    done = Decimal(0)
    cumulative = Decimal(0)
    for share in shares[:-1]:
        cumulative += share
        part = floor_to_step(total * cumulative, spec.volume_step) - done
        left = total - done - part
        if part < spec.volume_min or (0 < left < spec.volume_min):
            part = Decimal(0)
        parts.append(part)
        done += part
    parts.append(total - done)
    return tuple(parts)


@dataclass(frozen=True)
class Position:
    order_id: str
    symbol: str
    side: Side
    entry: Decimal
    sl: Decimal | None
    lots: Decimal  # still open
    targets: tuple[Decimal, ...] = ()  # TP1..TPn prices for a split profile
    parts: tuple[Decimal, ...] = ()  # lots closed at each target (split_volumes)
    profile: str | None = None
    stage: int = 0  # targets already hit
    best: Decimal | None = None
    locked: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "symbol": self.symbol, "side": self.side.value, "entry": str(self.entry),
                "sl": None if self.sl is None else str(self.sl), "lots": str(self.lots),
                "targets": [str(t) for t in self.targets], "parts": [str(p) for p in self.parts],
                "profile": self.profile, "stage": self.stage, "best": None if self.best is None else str(self.best),
                "locked": self.locked}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Position":
        return cls(order_id=d["order_id"], symbol=d["symbol"], side=Side(d["side"]), entry=Decimal(d["entry"]),
                   sl=None if d["sl"] is None else Decimal(d["sl"]), lots=Decimal(d["lots"]),
                   targets=tuple(Decimal(t) for t in d["targets"]), parts=tuple(Decimal(p) for p in d["parts"]),
                   profile=d["profile"], stage=int(d["stage"]), best=None if d["best"] is None else Decimal(d["best"]),
                   locked=bool(d["locked"]))


def track(order_id: str, symbol: str, side: Side, entry: Decimal, sl: Decimal | None, lots: Decimal,
          settings: TrailingSettings, spec: SymbolSpec, profile: str | None = None,
          targets: Sequence[Decimal] = ()) -> Position:
    """Start managing a filled position. With a profile, `targets` are its TP prices (at least as many as the
    profile has shares; extra ones are ignored, missing ones raise)."""
    parts: tuple[Decimal, ...] = ()
    tps: tuple[Decimal, ...] = ()
    if profile is not None:
        prof = settings.profiles[profile]
        if len(targets) < len(prof.shares):
            raise ValueError(f"profile {profile} needs {len(prof.shares)} targets, got {len(targets)}")
        tps = tuple(targets[:len(prof.shares)])
        if any((t - entry) * side.sign <= 0 for t in tps):
            raise ValueError(f"targets {tps} are not all on the profit side of {entry}")
        parts = split_volumes(lots, prof.shares, spec)
    return Position(order_id, symbol, side, entry, sl, lots, tps, parts, profile, best=entry)


def on_tick(pos: Position, settings: TrailingSettings, spec: SymbolSpec, bid: Decimal,
            ask: Decimal) -> tuple[Position, list[Action]]:
    if pos.lots <= 0:
        return pos, []
    side = pos.side
    price = exit_quote(side, bid, ask)
    best = price if pos.best is None or (price - pos.best) * side.sign > 0 else pos.best
    pos = replace(pos, best=best)
    actions: list[Action] = []
    prof = settings.profiles.get(pos.profile) if pos.profile else None

    while pos.stage < len(pos.targets) and (price - pos.targets[pos.stage]) * side.sign >= 0:
        part = pos.parts[pos.stage]
        last = pos.stage == len(pos.targets) - 1
        if last or part >= pos.lots:
            actions.append(CloseOrder(pos.order_id, f"TP{pos.stage + 1}"))
            actions.append(Notify("tp_hit", f"🎯 {pos.symbol} TP{pos.stage + 1}: closed {pos.lots} lots", "MEDIUM"))
            return replace(pos, stage=pos.stage + 1, lots=Decimal(0)), actions
        if part > 0:
            actions.append(CloseOrder(pos.order_id, f"TP{pos.stage + 1}", lots=part))
            actions.append(Notify("tp_hit", f"🎯 {pos.symbol} TP{pos.stage + 1}: closed {part} of {pos.lots} lots",
                                  "MEDIUM"))
        pos = replace(pos, stage=pos.stage + 1, lots=pos.lots - part)

    candidates: list[tuple[Decimal, str]] = []
    if prof and prof.breakeven_after_tp1 and pos.stage >= 1:
        candidates.append((pos.entry + side.sign * prof.breakeven_buffer_pips * spec.pip_size, "breakeven after TP1"))
    if settings.profit_lock_enabled and not pos.locked \
            and (price - pos.entry) * side.sign >= settings.lock_trigger_pips * spec.pip_size:
        candidates.append((pos.entry + side.sign * settings.lock_pips * spec.pip_size, "profit lock"))
        pos = replace(pos, locked=True)
    trailing = settings.trailing_enabled or bool(prof and prof.trail_after and pos.stage >= prof.trail_after)
    if trailing:
        candidates.append((best - side.sign * settings.trail_points * spec.point, "trailing stop"))

    chosen: tuple[Decimal, str] | None = None
    for level, why in candidates:
        level = round_sl(spec, side, level)
        on_losing_side = (price - level) * side.sign > 0
        tighter = pos.sl is None or (level - pos.sl) * side.sign > 0
        if on_losing_side and tighter and (chosen is None or (level - chosen[0]) * side.sign > 0):
            chosen = (level, why)
    if chosen is not None:
        pos = replace(pos, sl=chosen[0])
        actions.append(ModifySL(pos.order_id, chosen[0], chosen[1]))
    return pos, actions
