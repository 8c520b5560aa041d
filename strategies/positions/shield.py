"""Reverse Shield v3 (facts §4.2 and §7 `reverse_shield_config`): an optional hedge after an SL hit, off by default.

When an order hits its SL and the shield is on, two "shield" orders open in the opposite direction at
`lot_multiplier` x the original lot (rounded down to the volume step): SL at the original entry, Shield A's TP one
loss gap (x `order_a_rr`) beyond the SL price, Shield B without a TP when
`profit_booking_for_b` (for profit booking; the hand-off to a profit chain is not wired yet, so it runs until the
recovery level, its SL or a manual close), else with Shield A's TP. If price comes back `recovery_threshold` of the loss gap from the SL toward the entry, the
shields are closed and the normal SL-hunt recovery resumes (`ResumeRecovery`). When a shield cannot open (switched
off, too many shields, daily-loss headroom below `min_daily_loss_buffer`, lot below the minimum) the caller falls
back to normal recovery if `fallback_to_recovery`.

Pure: prices, the daily-loss headroom and the time are passed in; the actor carries out the actions.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from strategies.positions.actions import Action, CloseOrder, Notify, PlaceOrder
from strategies.risk.config_fields import boolean, check_keys, dec, deep_merge, integer, mapping
from strategies.risk.pips import SymbolSpec
from strategies.risk.side import Side


@dataclass(frozen=True)
class ShieldSettings:
    enabled: bool = False
    lot_multiplier: Decimal = Decimal("0.5")          # shield_lot_size_multiplier
    order_a_rr: Decimal = Decimal("1.0")              # shield_order_a_rr
    profit_booking_for_b: bool = True                 # use_profit_booking_for_order_b
    recovery_threshold: Decimal = Decimal("0.70")     # recovery_threshold_percent
    max_concurrent: int = 3                           # max_concurrent_shields
    min_daily_loss_buffer: Decimal = Decimal("50")    # risk_integration.min_daily_loss_buffer
    cancel_if_below_min_lot: bool = True
    fallback_to_recovery: bool = True                 # fallback_to_v2_on_cancel

    def to_mapping(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in self.__dict__.items()}

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None, path: str = "positions.shield") -> "ShieldSettings":
        raw = deep_merge(cls().to_mapping(), mapping(d if d is not None else {}, path))
        check_keys(raw, path, tuple(cls().to_mapping()))
        p = lambda k: f"{path}.{k}"  # noqa: E731
        return cls(enabled=boolean(raw["enabled"], p("enabled")),
                   lot_multiplier=dec(raw["lot_multiplier"], p("lot_multiplier"), minimum=0, maximum=10,
                                      exclusive_min=True),
                   order_a_rr=dec(raw["order_a_rr"], p("order_a_rr"), minimum=0, exclusive_min=True),
                   profit_booking_for_b=boolean(raw["profit_booking_for_b"], p("profit_booking_for_b")),
                   recovery_threshold=dec(raw["recovery_threshold"], p("recovery_threshold"), minimum=0, maximum=1,
                                          exclusive_min=True),
                   max_concurrent=integer(raw["max_concurrent"], p("max_concurrent"), minimum=0, maximum=100),
                   min_daily_loss_buffer=dec(raw["min_daily_loss_buffer"], p("min_daily_loss_buffer"), minimum=0),
                   cancel_if_below_min_lot=boolean(raw["cancel_if_below_min_lot"], p("cancel_if_below_min_lot")),
                   fallback_to_recovery=boolean(raw["fallback_to_recovery"], p("fallback_to_recovery")))


@dataclass(frozen=True)
class ResumeRecovery:
    """The shields were closed at the recovery trigger: start the normal SL-hunt recovery of the stopped order."""

    shield_id: str
    chain_id: str
    order_id: str
    symbol: str
    side: Side  # the stopped order's side (the recovery's direction)
    logic: str | None
    entry: Decimal
    sl_price: Decimal
    lots: Decimal
    chain_profit: Decimal
    at: datetime  # the tick's time: the recovery watch starts then (and may fire on that same tick)


@dataclass(frozen=True)
class Shield:
    shield_id: str
    chain_id: str
    source_order_id: str
    symbol: str
    side: Side  # the stopped order's side; the shields trade the opposite
    logic: str | None
    entry: Decimal
    sl_price: Decimal
    lots: Decimal  # the stopped order's lot
    shield_lots: Decimal
    trigger: Decimal  # recovery trigger: SL + threshold x gap toward the entry
    orders: tuple[str, ...]  # client ids of Shield A and Shield B
    open_orders: tuple[str, ...]
    chain_profit: Decimal
    opened_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"shield_id": self.shield_id, "chain_id": self.chain_id, "source_order_id": self.source_order_id,
                "symbol": self.symbol, "side": self.side.value, "logic": self.logic, "entry": str(self.entry),
                "sl_price": str(self.sl_price), "lots": str(self.lots), "shield_lots": str(self.shield_lots),
                "trigger": str(self.trigger), "orders": list(self.orders), "open_orders": list(self.open_orders),
                "chain_profit": str(self.chain_profit), "opened_at": self.opened_at.isoformat()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Shield":
        return cls(shield_id=d["shield_id"], chain_id=d["chain_id"], source_order_id=d["source_order_id"],
                   symbol=d["symbol"], side=Side(d["side"]), logic=d["logic"], entry=Decimal(d["entry"]),
                   sl_price=Decimal(d["sl_price"]), lots=Decimal(d["lots"]), shield_lots=Decimal(d["shield_lots"]),
                   trigger=Decimal(d["trigger"]), orders=tuple(d["orders"]), open_orders=tuple(d["open_orders"]),
                   chain_profit=Decimal(d["chain_profit"]), opened_at=datetime.fromisoformat(d["opened_at"]))


@dataclass(frozen=True)
class ShieldBook:
    shields: tuple[Shield, ...] = ()
    seq: int = 0  # makes client ids deterministic
    enabled: bool | None = None  # runtime switch (/shield on|off); None follows the config

    def is_on(self, settings: ShieldSettings) -> bool:
        return settings.enabled if self.enabled is None else self.enabled

    def owner(self, order_id: str) -> Shield | None:
        return next((s for s in self.shields if order_id in s.orders), None)

    def to_dict(self) -> dict[str, Any]:
        return {"shields": [s.to_dict() for s in self.shields], "seq": self.seq, "enabled": self.enabled}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ShieldBook":
        return cls(shields=tuple(Shield.from_dict(s) for s in d.get("shields", [])), seq=int(d.get("seq", 0)),
                   enabled=d.get("enabled"))


Result = tuple[ShieldBook, list[Action]]


def shield_lots(settings: ShieldSettings, spec: SymbolSpec, lots: Decimal) -> Decimal | None:
    """The shield lot: multiplier x lot rounded down to the volume step; None when below the minimum lot and
    `cancel_if_below_min_lot` (else the minimum lot)."""
    raw = lots * settings.lot_multiplier
    steps = (raw / spec.volume_step).to_integral_value(rounding=ROUND_DOWN)
    out = min(steps * spec.volume_step, spec.volume_max)
    if out < spec.volume_min:
        return None if settings.cancel_if_below_min_lot else spec.volume_min
    return out


def open_shields(book: ShieldBook, settings: ShieldSettings, spec: SymbolSpec, *, chain_id: str, order_id: str,
                 side: Side, logic: str | None, entry: Decimal, sl_price: Decimal, lots: Decimal, bid: Decimal,
                 ask: Decimal, headroom: Decimal | None, chain_profit: Decimal,
                 now: datetime) -> tuple[ShieldBook, list[Action], bool]:
    """The order `order_id` (`side`, `lots`, opened at `entry`) hit its SL at `sl_price`; the market is `bid`/`ask`.
    Returns (book, actions, opened). When not opened the actions say why; the caller then falls back to normal
    recovery if `settings.fallback_to_recovery`. `headroom` is the money the day may still lose (None: unknown,
    which skips the shield: a hedge must not be opened blind to the daily loss cap)."""
    def skip(why: str) -> tuple[ShieldBook, list[Action], bool]:
        return book, [Notify("shield_skipped", f"🛡 no reverse shield for {spec.symbol} {order_id}: {why}",
                             "MEDIUM")], False

    if not book.is_on(settings):
        return book, [], False
    if len(book.shields) >= settings.max_concurrent:
        return skip(f"{len(book.shields)} shields already open (limit {settings.max_concurrent})")
    if headroom is None:
        return skip("daily-loss headroom unknown (no figures from trading/risk yet)")
    if headroom < settings.min_daily_loss_buffer:
        return skip(f"daily-loss headroom {headroom} below the buffer {settings.min_daily_loss_buffer}")
    gap = abs(entry - sl_price)
    if gap <= 0:
        return skip("the SL equals the entry")
    lot = shield_lots(settings, spec, lots)
    if lot is None:
        return skip(f"{settings.lot_multiplier} x {lots} lots is below the minimum lot {spec.volume_min}")
    shield_side = side.opposite
    fill = bid if shield_side is Side.SELL else ask
    # pips from the fill so the stops land on the facts' prices: SL = original entry, TP A = SL price -/+ gap x rr
    sl_pips = (entry - fill) * side.sign / spec.pip_size
    tp_price = sl_price - side.sign * gap * settings.order_a_rr
    tp_pips = (fill - tp_price) * side.sign / spec.pip_size
    if sl_pips <= 0 or tp_pips <= 0:
        return skip(f"price {fill} is no longer between the entry {entry} and the shield target {tp_price}")
    seq = book.seq + 1
    sid = f"{chain_id}-shield-{seq}"
    a = PlaceOrder(client_id=f"{sid}-A", chain_id=chain_id, symbol=spec.symbol, side=shield_side, lots=lot,
                   sl_pips=sl_pips, tp_pips=tp_pips, comment="SHIELD_A", level=0)
    b = PlaceOrder(client_id=f"{sid}-B", chain_id=chain_id, symbol=spec.symbol, side=shield_side, lots=lot,
                   sl_pips=sl_pips, tp_pips=None if settings.profit_booking_for_b else tp_pips, comment="SHIELD_B",
                   level=0)
    trigger = sl_price + side.sign * gap * settings.recovery_threshold
    shield = Shield(sid, chain_id, order_id, spec.symbol, side, logic, entry, sl_price, lots, lot, trigger,
                    (a.client_id, b.client_id), (a.client_id, b.client_id), chain_profit, now)
    book = replace(book, shields=book.shields + (shield,), seq=seq)
    return book, [a, b, Notify("shield_opened", f"🛡 reverse shield on {spec.symbol}: 2 x {shield_side.value} {lot} "
                                                f"lots, SL {entry}, Shield A TP {tp_price}; recovery at {trigger}",
                               "HIGH")], True


def on_tick(book: ShieldBook, settings: ShieldSettings, symbol: str, bid: Decimal, now: datetime) -> Result:
    """Price back `recovery_threshold` of the gap toward the entry: close the shields, resume normal recovery."""
    actions: list[Action] = []
    keep: list[Shield] = []
    for s in book.shields:
        if s.symbol != symbol or (bid - s.trigger) * s.side.sign < 0:
            keep.append(s)
            continue
        actions += [CloseOrder(o, "SHIELD_RECOVERY") for o in s.open_orders]
        actions.append(Notify("shield_closed", f"🛡 {symbol} back at {bid} (recovery level {s.trigger}): shields "
                                               f"closed, SL-hunt recovery resumes", "HIGH"))
        actions.append(ResumeRecovery(s.shield_id, s.chain_id, s.source_order_id, s.symbol, s.side, s.logic,
                                      s.entry, s.sl_price, s.lots, s.chain_profit, now))
    return replace(book, shields=tuple(keep)), actions


def on_order_closed(book: ShieldBook, order_id: str, pnl: Decimal) -> Result:
    """A shield order closed by itself (TP, SL at the entry, manual, refused): when both are done the shield ends
    without a recovery (the move it hedged has played out)."""
    s = book.owner(order_id)
    if s is None or order_id not in s.open_orders:
        return book, []
    rest = tuple(o for o in s.open_orders if o != order_id)
    if rest:
        return replace(book, shields=tuple(replace(x, open_orders=rest) if x is s else x for x in book.shields)), []
    return replace(book, shields=tuple(x for x in book.shields if x is not s)), [
        Notify("shield_done", f"🛡 reverse shield {s.shield_id} on {s.symbol} finished (last order {order_id} "
                              f"closed, {pnl})", "MEDIUM")]


def set_enabled(book: ShieldBook, on: bool | None) -> ShieldBook:
    """The runtime switch; None goes back to the configured value. Open shields are left to run their course."""
    return replace(book, enabled=on)


def status(book: ShieldBook, settings: ShieldSettings) -> dict[str, Any]:
    return {"enabled": book.is_on(settings), "configured": settings.enabled, "runtime": book.enabled,
            "shields": [s.to_dict() for s in book.shields], "settings": settings.to_mapping()}


__all__ = ["ResumeRecovery", "Shield", "ShieldBook", "ShieldSettings", "on_order_closed", "on_tick",
           "open_shields", "set_enabled", "shield_lots", "status"]
