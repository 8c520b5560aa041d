"""Re-entry after a stop, a target or an exit (facts §4.3-4.6, DECISIONS §16-17), as a pure book of watches.

- SL hunt (Order A / single orders): after an SL hit, wait for price to come back and re-enter the same
  direction if the trend still agrees. `mode = "autonomous"` (default): trigger when price has retraced 70% of
  the original SL distance back from the SL, new SL = 50% of the original; `mode = "offset"`: trigger at
  SL +- 1 pip, new SL = original x (1 - 0.3)^level. The window is per symbol (autonomous) or per logic (offset).
- Profit-order SL hunt (Order B of a profit chain): trigger at SL +- offset, a fixed recovery SL per SL system,
  no TP (the profit chain books it), same level; at most one attempt per order.
- TP continuation: after a TP, re-enter when price goes `gap_pips` further, after a cool-down, up to `max_levels`.
- Exit continuation: after an exit, re-enter in the given direction when price moves `gap` pips from the exit
  price: 2 pips within the logic window for legacy exits, 20 pips within 30 s for V3 exits and reversals. It emits
  a `ReEnter` signal for the plugin rather than an order.
Safety limits (attempts and losses per day, concurrent recoveries, cool-down) and profit protection gate the two
SL hunts. Profit protection (DECISIONS §16): a recovery is allowed when the chain's profit is below the mode's
minimum, or when it exceeds the recovery's potential SL loss x the mode's multiplier; otherwise it is blocked.

`day_start` arguments are the risk daily-reset boundary (`strategies.risk.state.last_reset_boundary`), so "per day"
means the same day as the loss caps. Trend alignment is passed in as a function (symbol, logic) -> Side | None.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from config.errors import ConfigError
from strategies.positions.actions import Action, Notify, PlaceOrder, ReEnter, RecoveryOutcome
from strategies.risk.config_fields import (boolean, check_keys, choice, dec, deep_merge, integer, mapping,
                                           sequence, symbol_name)
from strategies.risk.pips import SymbolSpec, money_for_pips
from strategies.risk.side import Side
from strategies.risk.stops import reduced_sl_pips

Alignment = Callable[[str, "str | None"], "Side | None"]

SL_HUNT_MODES = ("autonomous", "offset")
EXIT_SOURCES = ("legacy", "v3")


@dataclass(frozen=True)
class ProtectionMode:
    multiplier: Decimal
    min_profit: Decimal


# facts §4.4 fine-tune profit protection.
DEFAULT_PROTECTION_MODES: dict[str, ProtectionMode] = {
    "AGGRESSIVE": ProtectionMode(Decimal("3.5"), Decimal("15")),
    "BALANCED": ProtectionMode(Decimal("6"), Decimal("20")),
    "CONSERVATIVE": ProtectionMode(Decimal("9"), Decimal("30")),
    "VERY_CONSERVATIVE": ProtectionMode(Decimal("15"), Decimal("50")),
}


@dataclass(frozen=True)
class ReentrySettings:
    rr_ratio: Decimal = Decimal("1.5")
    default_window_minutes: int = 30
    logic_windows: dict[str, int] = field(default_factory=lambda: {"LOGIC1": 30, "LOGIC2": 45, "LOGIC3": 120})
    min_sl_pips: Decimal = Decimal("10")  # floor for reduced re-entry SLs (fine-tune recovery monitoring)
    min_seconds_between: int = 0  # min_time_between_re_entries, per chain
    # SL hunt
    sl_hunt_enabled: bool = True
    sl_hunt_mode: str = "autonomous"
    sl_hunt_offset_pips: Decimal = Decimal("1")
    sl_hunt_cooldown_seconds: int = 0
    sl_reduction_per_level: Decimal = Decimal("0.3")
    max_chain_levels: int = 5
    max_recovery_attempts: int = 1
    retracement: Decimal = Decimal("0.70")
    tight_sl_multiplier: Decimal = Decimal("0.5")
    min_recovery_pips: Decimal = Decimal("2")
    symbol_windows: dict[str, int] = field(default_factory=lambda: {
        "XAUUSD": 15, "EURUSD": 30, "GBPUSD": 30, "USDJPY": 30, "GBPJPY": 10, "AUDJPY": 10})
    # profit-order SL hunt
    profit_sl_hunt_enabled: bool = True
    profit_sl_hunt_attempts_per_order: int = 1
    profit_sl_hunt_window_minutes: int = 30
    profit_recovery_sl_pips: dict[str, dict[str, Decimal]] = field(default_factory=lambda: {
        "sl-1": {"XAUUSD": Decimal(25), "default": Decimal(15)},
        "sl-2": {"XAUUSD": Decimal(15), "default": Decimal(10)}})
    # safety limits
    max_attempts_per_day: int = 10
    max_losses_per_day: int = 5
    max_concurrent: int = 3
    cooldown_hours: Decimal = Decimal("6")
    # profit protection
    protection_enabled: bool = True
    protection_mode: str = "BALANCED"
    protection_modes: dict[str, ProtectionMode] = field(default_factory=lambda: dict(DEFAULT_PROTECTION_MODES))
    # TP continuation
    tp_enabled: bool = True
    tp_gap_pips: Decimal = Decimal("2")
    tp_cooldown_seconds: int = 5
    tp_max_levels: int = 5
    tp_sl_reduction: Decimal = Decimal("0.3")
    # exit continuation
    exit_enabled: bool = True
    exit_legacy_gap_pips: Decimal = Decimal("2")
    exit_v3_gap_pips: Decimal = Decimal("20")
    exit_v3_window_seconds: int = 30
    exit_types: tuple[str, ...] = ("manual", "reversal", "exit_signal", "trend_reversal")

    def window(self, symbol: str, logic: str | None) -> timedelta:
        """SL-hunt window: per symbol in autonomous mode, per logic otherwise (facts §4.4)."""
        if self.sl_hunt_mode == "autonomous":
            return timedelta(minutes=self.symbol_windows.get(symbol, self.default_window_minutes))
        return self.logic_window(logic)

    def logic_window(self, logic: str | None) -> timedelta:
        return timedelta(minutes=self.logic_windows.get(logic or "", self.default_window_minutes))

    def to_mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            if k == "protection_modes":
                out[k] = {n: {"multiplier": str(m.multiplier), "min_profit": str(m.min_profit)} for n, m in v.items()}
            elif k == "profit_recovery_sl_pips":
                out[k] = {s: {sym: str(p) for sym, p in row.items()} for s, row in v.items()}
            elif isinstance(v, Decimal):
                out[k] = str(v)
            elif isinstance(v, dict):
                out[k] = dict(v)
            elif isinstance(v, tuple):
                out[k] = list(v)
            else:
                out[k] = v
        return out

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None, path: str = "positions.reentry") -> "ReentrySettings":
        raw = deep_merge(cls().to_mapping(), mapping(d if d is not None else {}, path))
        check_keys(raw, path, tuple(cls().to_mapping()))
        p = lambda k: f"{path}.{k}"  # noqa: E731
        pos_dec = {k: dec(raw[k], p(k), minimum=0, exclusive_min=True) for k in (
            "rr_ratio", "min_sl_pips", "sl_hunt_offset_pips", "min_recovery_pips", "cooldown_hours",
            "tp_gap_pips", "exit_legacy_gap_pips", "exit_v3_gap_pips")}
        fractions = {k: dec(raw[k], p(k), minimum=0, maximum="0.95") for k in (
            "sl_reduction_per_level", "tp_sl_reduction")}
        fractions["retracement"] = dec(raw["retracement"], p("retracement"), minimum=0, maximum=1, exclusive_min=True)
        fractions["tight_sl_multiplier"] = dec(raw["tight_sl_multiplier"], p("tight_sl_multiplier"), minimum=0,
                                               maximum=1, exclusive_min=True)
        ints = {k: integer(raw[k], p(k), minimum=lo, maximum=hi) for k, lo, hi in (
            ("default_window_minutes", 1, 1440), ("min_seconds_between", 0, 86400),
            ("sl_hunt_cooldown_seconds", 0, 86400), ("max_chain_levels", 1, 20), ("max_recovery_attempts", 0, 20),
            ("profit_sl_hunt_attempts_per_order", 0, 20), ("profit_sl_hunt_window_minutes", 1, 1440),
            ("max_attempts_per_day", 0, 1000), ("max_losses_per_day", 0, 1000), ("max_concurrent", 0, 100),
            ("tp_cooldown_seconds", 0, 86400), ("tp_max_levels", 0, 20), ("exit_v3_window_seconds", 1, 86400))}
        bools = {k: boolean(raw[k], p(k)) for k in (
            "sl_hunt_enabled", "profit_sl_hunt_enabled", "protection_enabled", "tp_enabled", "exit_enabled")}
        logic_windows = {k: integer(v, f"{p('logic_windows')}.{k}", minimum=1, maximum=1440)
                         for k, v in mapping(raw["logic_windows"], p("logic_windows")).items()}
        symbol_windows = {symbol_name(k, f"{p('symbol_windows')}.{k}"):
                          integer(v, f"{p('symbol_windows')}.{k}", minimum=1, maximum=1440)
                          for k, v in mapping(raw["symbol_windows"], p("symbol_windows")).items()}
        recovery: dict[str, dict[str, Decimal]] = {}
        for system, row in mapping(raw["profit_recovery_sl_pips"], p("profit_recovery_sl_pips")).items():
            key = f"{p('profit_recovery_sl_pips')}.{system}"
            parsed = {(s if s == "default" else symbol_name(s, f"{key}.{s}")):
                      dec(v, f"{key}.{s}", minimum=0, exclusive_min=True) for s, v in mapping(row, key).items()}
            if "default" not in parsed:
                raise ConfigError(f"{key}.default", None, "a default recovery SL in pips")
            recovery[system] = parsed
        modes: dict[str, ProtectionMode] = {}
        for name, row in mapping(raw["protection_modes"], p("protection_modes")).items():
            key = f"{p('protection_modes')}.{name}"
            row = mapping(row, key)
            check_keys(row, key, ("multiplier", "min_profit"))
            modes[name] = ProtectionMode(dec(row.get("multiplier"), f"{key}.multiplier", minimum=0, exclusive_min=True),
                                         dec(row.get("min_profit"), f"{key}.min_profit", minimum=0))
        exit_types = tuple(sequence(raw["exit_types"], p("exit_types")))
        for t in exit_types:
            if not isinstance(t, str) or not t:
                raise ConfigError(p("exit_types"), t, "exit type names")
        return cls(**pos_dec, **fractions, **ints, **bools, logic_windows=logic_windows, symbol_windows=symbol_windows,
                   profit_recovery_sl_pips=recovery, protection_modes=modes, exit_types=exit_types,
                   sl_hunt_mode=choice(raw["sl_hunt_mode"], p("sl_hunt_mode"), SL_HUNT_MODES),
                   protection_mode=choice(raw["protection_mode"], p("protection_mode"), tuple(modes)))


class WatchKind(StrEnum):
    SL_HUNT = "sl_hunt"
    PROFIT_SL_HUNT = "profit_sl_hunt"
    TP_CONTINUATION = "tp_continuation"
    EXIT_CONTINUATION = "exit_continuation"


RECOVERY_KINDS = (WatchKind.SL_HUNT, WatchKind.PROFIT_SL_HUNT)


@dataclass(frozen=True)
class Watch:
    """A pending re-entry: placed when the bid reaches `trigger` between `not_before` and `expires_at`."""

    watch_id: str
    kind: WatchKind
    chain_id: str
    source_order_id: str
    symbol: str
    side: Side  # the re-entry's direction
    logic: str | None
    trigger: Decimal
    not_before: datetime
    expires_at: datetime
    lots: Decimal
    sl_pips: Decimal | None  # None for exit continuation: the plugin decides
    tp_pips: Decimal | None
    level: int
    comment: str
    timeframe: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"watch_id": self.watch_id, "kind": self.kind.value, "chain_id": self.chain_id,
                "source_order_id": self.source_order_id, "symbol": self.symbol, "side": self.side.value,
                "logic": self.logic, "trigger": str(self.trigger), "not_before": self.not_before.isoformat(),
                "expires_at": self.expires_at.isoformat(), "lots": str(self.lots), "sl_pips": _s(self.sl_pips),
                "tp_pips": _s(self.tp_pips), "level": self.level, "comment": self.comment,
                "timeframe": self.timeframe}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Watch":
        return cls(watch_id=d["watch_id"], kind=WatchKind(d["kind"]), chain_id=d["chain_id"],
                   source_order_id=d["source_order_id"], symbol=d["symbol"], side=Side(d["side"]), logic=d["logic"],
                   trigger=Decimal(d["trigger"]), not_before=datetime.fromisoformat(d["not_before"]),
                   expires_at=datetime.fromisoformat(d["expires_at"]), lots=Decimal(d["lots"]),
                   sl_pips=_d(d["sl_pips"]), tp_pips=_d(d["tp_pips"]), level=int(d["level"]), comment=d["comment"],
                   timeframe=d["timeframe"])


@dataclass(frozen=True)
class ChainRecord:
    """Re-entry bookkeeping of one chain (the chain id shared by an Order A/B pair)."""

    level: int = 0
    recovery_attempts: int = 0
    last_reentry_at: datetime | None = None
    stopped: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "recovery_attempts": self.recovery_attempts, "stopped": self.stopped,
                "last_reentry_at": self.last_reentry_at.isoformat() if self.last_reentry_at else None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ChainRecord":
        last = d.get("last_reentry_at")
        return cls(level=int(d["level"]), recovery_attempts=int(d["recovery_attempts"]), stopped=bool(d["stopped"]),
                   last_reentry_at=datetime.fromisoformat(last) if last else None)


@dataclass(frozen=True)
class ReentryBook:
    watches: tuple[Watch, ...] = ()
    chains: dict[str, ChainRecord] = field(default_factory=dict)
    order_attempts: dict[str, int] = field(default_factory=dict)  # profit SL hunt attempts per order
    day_start: datetime | None = None
    attempts_today: int = 0
    losses_today: int = 0
    cooldown_until: datetime | None = None
    seq: int = 0  # makes watch and client ids deterministic

    def chain(self, chain_id: str) -> ChainRecord:
        return self.chains.get(chain_id, ChainRecord())

    def to_dict(self) -> dict[str, Any]:
        return {"watches": [w.to_dict() for w in self.watches],
                "chains": {k: v.to_dict() for k, v in self.chains.items()},
                "order_attempts": dict(self.order_attempts),
                "day_start": self.day_start.isoformat() if self.day_start else None,
                "attempts_today": self.attempts_today, "losses_today": self.losses_today,
                "cooldown_until": self.cooldown_until.isoformat() if self.cooldown_until else None, "seq": self.seq}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ReentryBook":
        def t(v: str | None) -> datetime | None:
            return datetime.fromisoformat(v) if v else None
        return cls(watches=tuple(Watch.from_dict(w) for w in d["watches"]),
                   chains={k: ChainRecord.from_dict(v) for k, v in d["chains"].items()},
                   order_attempts={k: int(v) for k, v in d["order_attempts"].items()}, day_start=t(d["day_start"]),
                   attempts_today=int(d["attempts_today"]), losses_today=int(d["losses_today"]),
                   cooldown_until=t(d["cooldown_until"]), seq=int(d["seq"]))


def _s(v: Decimal | None) -> str | None:
    return None if v is None else str(v)


def _d(v: str | None) -> Decimal | None:
    return None if v is None else Decimal(v)


Result = tuple[ReentryBook, list[Action]]


def protection_allows(settings: ReentrySettings, chain_profit: Decimal, potential_loss: Decimal) -> tuple[bool, str]:
    """DECISIONS §16: allowed when chain profit < mode minimum, or chain profit > potential loss x multiplier."""
    if not settings.protection_enabled:
        return True, "profit protection off"
    mode = settings.protection_modes[settings.protection_mode]
    if chain_profit < mode.min_profit:
        return True, f"chain profit {chain_profit} below the {settings.protection_mode} minimum {mode.min_profit}"
    if chain_profit > potential_loss * mode.multiplier:
        return True, f"chain profit {chain_profit} covers {mode.multiplier} x the potential loss {potential_loss}"
    return False, (f"protecting accumulated profit: chain profit {chain_profit} is not above {mode.multiplier} x "
                   f"the potential loss {potential_loss} ({settings.protection_mode})")


def _roll_day(book: ReentryBook, day_start: datetime) -> ReentryBook:
    if book.day_start is None or day_start > book.day_start:
        return replace(book, day_start=day_start, attempts_today=0, losses_today=0)
    return book


def _safety_block(book: ReentryBook, settings: ReentrySettings, now: datetime, *, registering: bool) -> str | None:
    if book.cooldown_until is not None and now < book.cooldown_until:
        return f"recovery cool-down until {book.cooldown_until.isoformat()}"
    if book.attempts_today >= settings.max_attempts_per_day:
        return f"{book.attempts_today} recovery attempts today (limit {settings.max_attempts_per_day})"
    if book.losses_today >= settings.max_losses_per_day:
        return f"{book.losses_today} recovery losses today (limit {settings.max_losses_per_day})"
    running = sum(1 for w in book.watches if w.kind in RECOVERY_KINDS)
    if registering and running >= settings.max_concurrent:
        return f"{running} recoveries already running (limit {settings.max_concurrent})"
    return None


def _next_id(book: ReentryBook, chain_id: str, kind: WatchKind) -> tuple[ReentryBook, str]:
    seq = book.seq + 1
    return replace(book, seq=seq), f"{chain_id}-{kind.value}-{seq}"


def _not_before(book: ReentryBook, settings: ReentrySettings, chain_id: str, now: datetime,
                cooldown_seconds: int) -> datetime:
    nb = now + timedelta(seconds=cooldown_seconds)
    last = book.chain(chain_id).last_reentry_at
    if last is not None:
        nb = max(nb, last + timedelta(seconds=settings.min_seconds_between))
    return nb


def _refuse(book: ReentryBook, chain_id: str, order_id: str, reason: str, *, stop_chain: bool) -> Result:
    if stop_chain:
        book = replace(book, chains={**book.chains, chain_id: replace(book.chain(chain_id), stopped=True)})
    return book, [RecoveryOutcome(chain_id, order_id, False, reason),
                  Notify("recovery_skipped", f"♻️ no recovery for {chain_id}: {reason}", "MEDIUM")]


def register_sl_hunt(book: ReentryBook, settings: ReentrySettings, spec: SymbolSpec, *, chain_id: str,
                     order_id: str, side: Side, logic: str | None, entry: Decimal, sl_price: Decimal,
                     lots: Decimal, chain_profit: Decimal, now: datetime, day_start: datetime) -> Result:
    """An Order A / single order of `chain_id` hit its SL at `sl_price`: start watching for a recovery."""
    book = _roll_day(book, day_start)
    if not settings.sl_hunt_enabled:
        return book, []
    rec = book.chain(chain_id)
    if rec.stopped:
        return book, []
    if rec.recovery_attempts >= settings.max_recovery_attempts:
        return _refuse(book, chain_id, order_id, "Max recovery attempts exceeded", stop_chain=True)
    if rec.level >= settings.max_chain_levels:
        return _refuse(book, chain_id, order_id, f"chain at its maximum level {settings.max_chain_levels}",
                       stop_chain=True)
    distance = abs(entry - sl_price)
    original_pips = distance / spec.pip_size
    level = rec.level + 1
    if settings.sl_hunt_mode == "autonomous":
        back = max(distance * settings.retracement, settings.min_recovery_pips * spec.pip_size)
        sl_pips = max(settings.min_sl_pips, original_pips * settings.tight_sl_multiplier)
    else:
        back = settings.sl_hunt_offset_pips * spec.pip_size
        sl_pips = reduced_sl_pips(original_pips, settings.sl_reduction_per_level, level, settings.min_sl_pips)
    blocked = _safety_block(book, settings, now, registering=True)
    if blocked is None:
        allowed, why = protection_allows(settings, chain_profit, money_for_pips(spec, sl_pips, lots))
        blocked = None if allowed else why
    if blocked:
        return _refuse(book, chain_id, order_id, blocked, stop_chain=True)
    book, wid = _next_id(book, chain_id, WatchKind.SL_HUNT)
    watch = Watch(wid, WatchKind.SL_HUNT, chain_id, order_id, spec.symbol, side, logic,
                  trigger=sl_price + side.sign * back,
                  not_before=_not_before(book, settings, chain_id, now, settings.sl_hunt_cooldown_seconds),
                  expires_at=now + settings.window(spec.symbol, logic), lots=lots, sl_pips=sl_pips,
                  tp_pips=sl_pips * settings.rr_ratio, level=level, comment=f"{logic or 'CHAIN'}_SL_HUNT_REENTRY")
    rec = replace(rec, recovery_attempts=rec.recovery_attempts + 1)
    book = replace(book, watches=book.watches + (watch,), chains={**book.chains, chain_id: rec})
    return book, [Notify("sl_hunt_armed", f"🎯 SL hunt watch on {spec.symbol} {side.value}: re-entry at "
                                          f"{watch.trigger} until {watch.expires_at:%H:%M} UTC", "LOW")]


def register_profit_sl_hunt(book: ReentryBook, settings: ReentrySettings, spec: SymbolSpec, *, chain_id: str,
                            order_id: str, side: Side, logic: str | None, sl_price: Decimal, lots: Decimal,
                            level: int, chain_profit: Decimal, sl_system: str, now: datetime,
                            day_start: datetime) -> Result:
    """An order of a profit chain hit its SL: watch for price back beyond the SL and re-enter at the same level
    with the fixed recovery SL of the active SL system (facts §4.4 profit_sl_hunt). `lots` is the tier lot."""
    book = _roll_day(book, day_start)
    if not settings.profit_sl_hunt_enabled:
        return _refuse(book, chain_id, order_id, "profit-order SL hunt is off", stop_chain=False)
    if book.order_attempts.get(order_id, 0) >= settings.profit_sl_hunt_attempts_per_order:
        return _refuse(book, chain_id, order_id, "recovery already attempted for this order", stop_chain=False)
    table = settings.profit_recovery_sl_pips.get(sl_system)
    if table is None:
        return _refuse(book, chain_id, order_id, f"no profit_recovery_sl_pips for SL system {sl_system}",
                       stop_chain=False)
    sl_pips = table.get(spec.symbol, table["default"])
    blocked = _safety_block(book, settings, now, registering=True)
    if blocked is None:
        allowed, why = protection_allows(settings, chain_profit, money_for_pips(spec, sl_pips, lots))
        blocked = None if allowed else why
    if blocked:
        return _refuse(book, chain_id, order_id, blocked, stop_chain=False)
    book, wid = _next_id(book, chain_id, WatchKind.PROFIT_SL_HUNT)
    watch = Watch(wid, WatchKind.PROFIT_SL_HUNT, chain_id, order_id, spec.symbol, side, logic,
                  trigger=sl_price + side.sign * settings.sl_hunt_offset_pips * spec.pip_size,
                  not_before=_not_before(book, settings, chain_id, now, settings.sl_hunt_cooldown_seconds),
                  expires_at=now + timedelta(minutes=settings.profit_sl_hunt_window_minutes), lots=lots,
                  sl_pips=sl_pips, tp_pips=None, level=level, comment=f"Recovery {chain_id[-8:]} L{level}")
    book = replace(book, watches=book.watches + (watch,),
                   order_attempts={**book.order_attempts, order_id: book.order_attempts.get(order_id, 0) + 1})
    return book, []


def register_tp_continuation(book: ReentryBook, settings: ReentrySettings, spec: SymbolSpec, *, chain_id: str,
                             order_id: str, side: Side, logic: str | None, tp_price: Decimal, base_sl_pips: Decimal,
                             lots: Decimal, now: datetime) -> Result:
    """An order of `chain_id` reached its TP: re-enter when price goes `tp_gap_pips` further (facts §4.5).
    SL = base SL x (1 - reduction)^level, floored at `min_sl_pips`; TP = SL x rr."""
    if not settings.tp_enabled:
        return book, []
    rec = book.chain(chain_id)
    if rec.stopped:
        return book, []
    if rec.level >= settings.tp_max_levels:
        return book, [Notify("tp_continuation_done", f"✅ {chain_id}: TP continuation ends at level {rec.level}",
                             "LOW")]
    level = rec.level + 1
    sl_pips = reduced_sl_pips(base_sl_pips, settings.tp_sl_reduction, level, settings.min_sl_pips)
    book = replace(book, watches=tuple(w for w in book.watches
                                       if not (w.chain_id == chain_id and w.kind is WatchKind.TP_CONTINUATION)))
    book, wid = _next_id(book, chain_id, WatchKind.TP_CONTINUATION)
    watch = Watch(wid, WatchKind.TP_CONTINUATION, chain_id, order_id, spec.symbol, side, logic,
                  trigger=tp_price + side.sign * settings.tp_gap_pips * spec.pip_size,
                  not_before=_not_before(book, settings, chain_id, now, settings.tp_cooldown_seconds),
                  expires_at=now + settings.logic_window(logic), lots=lots, sl_pips=sl_pips,
                  tp_pips=sl_pips * settings.rr_ratio, level=level, comment=f"{logic or 'CHAIN'}_TP{level}_REENTRY")
    return replace(book, watches=book.watches + (watch,)), []


def register_exit_continuation(book: ReentryBook, settings: ReentrySettings, spec: SymbolSpec, *, source: str,
                               exit_type: str, chain_id: str, side: Side, logic: str | None, timeframe: str | None,
                               ref_price: Decimal, now: datetime) -> Result:
    """After an exit, watch for price to move the gap from `ref_price` in `side`'s direction, then signal a
    re-entry in `side` (DECISIONS §17: legacy 2 pips within the logic window; V3 20 pips within 30 s)."""
    if source not in EXIT_SOURCES:
        raise ValueError(f"source must be one of {EXIT_SOURCES}, got {source!r}")
    if not settings.exit_enabled or exit_type not in settings.exit_types:
        return book, []
    if source == "v3":
        gap, window = settings.exit_v3_gap_pips, timedelta(seconds=settings.exit_v3_window_seconds)
    else:
        gap, window = settings.exit_legacy_gap_pips, settings.logic_window(logic)
    book, wid = _next_id(book, chain_id, WatchKind.EXIT_CONTINUATION)
    watch = Watch(wid, WatchKind.EXIT_CONTINUATION, chain_id, "", spec.symbol, side, logic,
                  trigger=ref_price + side.sign * gap * spec.pip_size, not_before=now, expires_at=now + window,
                  lots=Decimal(0), sl_pips=None, tp_pips=None, level=0,
                  comment=f"exit continuation after {exit_type}", timeframe=timeframe)
    return replace(book, watches=book.watches + (watch,)), []


def on_tick(book: ReentryBook, settings: ReentrySettings, symbol: str, bid: Decimal, now: datetime,
            alignment: Alignment | None, day_start: datetime) -> Result:
    """Expire, wait or fire the watches of `symbol` at this bid. A watch whose price is reached while the trend
    disagrees keeps waiting until its window ends (facts §4.4). `alignment=None` skips the trend check."""
    book = _roll_day(book, day_start)
    actions: list[Action] = []
    keep: list[Watch] = []
    for w in book.watches:
        if w.symbol != symbol:
            keep.append(w)
            continue
        if now >= w.expires_at:
            book, more = _expire(book, w)
            actions += more
            continue
        reached = (bid - w.trigger) * w.side.sign >= 0
        if now < w.not_before or not reached or (alignment is not None and alignment(symbol, w.logic) != w.side):
            keep.append(w)
            continue
        if w.kind in RECOVERY_KINDS:
            blocked = _safety_block(book, settings, now, registering=False)
            if blocked:
                book, more = _refuse(book, w.chain_id, w.source_order_id, blocked,
                                     stop_chain=w.kind is WatchKind.SL_HUNT)
                actions += more
                continue
            book = replace(book, attempts_today=book.attempts_today + 1)
            if book.attempts_today >= settings.max_attempts_per_day:
                book, more = _start_cooldown(book, settings, now, "daily recovery attempts used up")
                actions += more
        book, fired = _fire(book, w, now)
        actions += fired
    return replace(book, watches=tuple(keep)), actions


def _fire(book: ReentryBook, w: Watch, now: datetime) -> Result:
    if w.kind is WatchKind.EXIT_CONTINUATION:
        return book, [ReEnter(w.symbol, w.side, w.logic, w.timeframe, w.comment, w.chain_id)]
    rec = book.chain(w.chain_id)
    if w.kind is not WatchKind.PROFIT_SL_HUNT:  # a profit-order recovery stays on the chain's level
        rec = replace(rec, level=w.level)
    rec = replace(rec, last_reentry_at=now)
    book = replace(book, chains={**book.chains, w.chain_id: rec})
    order = PlaceOrder(client_id=w.watch_id, chain_id=w.chain_id, symbol=w.symbol, side=w.side, lots=w.lots,
                       sl_pips=w.sl_pips, tp_pips=w.tp_pips, comment=w.comment, level=w.level,  # type: ignore[arg-type]
                       recovers=w.source_order_id if w.kind is WatchKind.PROFIT_SL_HUNT else None)
    return book, [order, Notify(w.kind.value, f"🔄 {w.comment}: {w.symbol} {w.side.value} {w.lots} lots", "HIGH")]


def _expire(book: ReentryBook, w: Watch) -> Result:
    if w.kind in RECOVERY_KINDS:
        return _refuse(book, w.chain_id, w.source_order_id, "recovery window expired",
                       stop_chain=w.kind is WatchKind.SL_HUNT)
    return book, []


def _start_cooldown(book: ReentryBook, settings: ReentrySettings, now: datetime, why: str) -> Result:
    until = now + timedelta(hours=float(settings.cooldown_hours))
    return replace(book, cooldown_until=until), [
        Notify("recovery_cooldown", f"🧊 recoveries paused until {until:%Y-%m-%d %H:%M} UTC: {why}", "HIGH")]


def on_recovery_closed(book: ReentryBook, settings: ReentrySettings, pnl: Decimal, now: datetime,
                       day_start: datetime) -> Result:
    """A recovery trade closed: count a loss, and start the cool-down when the daily loss limit is reached."""
    book = _roll_day(book, day_start)
    if pnl >= 0:
        return book, []
    book = replace(book, losses_today=book.losses_today + 1)
    if book.losses_today >= settings.max_losses_per_day:
        return _start_cooldown(book, settings, now, f"{book.losses_today} recovery losses today")
    return book, []


def cancel_chain(book: ReentryBook, chain_id: str) -> ReentryBook:
    """The chain was stopped (exit, reversal, manual): drop its watches and accept no more re-entries for it."""
    return replace(book, watches=tuple(w for w in book.watches if w.chain_id != chain_id),
                   chains={**book.chains, chain_id: replace(book.chain(chain_id), stopped=True)})
