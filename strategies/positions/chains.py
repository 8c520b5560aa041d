"""Profit-booking ("pyramid") chains on Order B (facts §4.1, DECISIONS §16) as a pure state machine.

A chain starts from a filled Order B at level 0. Its orders are booked when they reach `min_profit` each
(`booking = "per_order"`, the current behaviour) or when the level's open orders together reach the level's
profit target (`booking = "level_target"`, the original design). When every order of a level is closed and the
level succeeded, the next level places `multipliers[level]` orders of the chain's lot. Strict mode stops the chain
on any unrecovered loss; otherwise a level succeeds when its share of winners reaches `partial_success_threshold`.
A level that is disabled, or the last level, completes the chain. An exit or reversal stops it (`stop_chain`).

Entry points return `(new_chain, actions)`: on_tick, on_fill, on_reject, on_close, attach_recovery,
on_recovery_result, stop_chain. Orders are identified by the client ids the chain gave them
(level 0: the Order B's own id).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from config.errors import ConfigError
from strategies.positions.actions import Action, CloseOrder, Notify, PlaceOrder
from strategies.risk.config_fields import (boolean, check_keys, choice, dec, deep_merge, integer, mapping,
                                           sequence)
from strategies.risk.pips import SymbolSpec, exit_quote, pips_for_money, profit
from strategies.risk.side import Side

BOOKING_MODES = ("per_order", "level_target")


@dataclass(frozen=True)
class ChainSettings:
    enabled: bool = True
    max_level: int = 4
    multipliers: tuple[int, ...] = (1, 2, 4, 8, 16)  # orders placed at each level
    profit_targets: tuple[Decimal, ...] = tuple(Decimal(x) for x in (10, 20, 40, 80, 160))
    enabled_levels: tuple[bool, ...] = (True, True, True, False, False)
    sl_reductions: tuple[Decimal, ...] = tuple(Decimal(x) for x in (0, 10, 25, 40, 50))  # percent per level
    reduce_sl_per_level: bool = False  # the current system keeps the full dollar SL at every level
    booking: str = "per_order"
    min_profit: Decimal = Decimal("7")
    strict: bool = True  # allow_partial_progression = false
    partial_success_threshold: Decimal = Decimal("0.75")
    rr_ratio: Decimal = Decimal("1.5")

    def to_mapping(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "max_level": self.max_level, "multipliers": list(self.multipliers),
                "profit_targets": [str(x) for x in self.profit_targets], "enabled_levels": list(self.enabled_levels),
                "sl_reductions": [str(x) for x in self.sl_reductions], "reduce_sl_per_level": self.reduce_sl_per_level,
                "booking": self.booking, "min_profit": str(self.min_profit), "strict": self.strict,
                "partial_success_threshold": str(self.partial_success_threshold), "rr_ratio": str(self.rr_ratio)}

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None, path: str = "positions.chains") -> "ChainSettings":
        raw = deep_merge(cls().to_mapping(), mapping(d if d is not None else {}, path))
        check_keys(raw, path, tuple(cls().to_mapping()))
        max_level = integer(raw["max_level"], f"{path}.max_level", minimum=0, maximum=20)
        n = max_level + 1

        def per_level(name: str) -> list[Any]:
            values = sequence(raw[name], f"{path}.{name}")
            if len(values) != n:
                raise ConfigError(f"{path}.{name}", raw[name], f"a list of {n} values (max_level + 1)")
            return values

        return cls(
            enabled=boolean(raw["enabled"], f"{path}.enabled"), max_level=max_level,
            # Orders are whole: a multiplier like 1.5 cannot be placed as 1.5 orders of the chain's lot.
            multipliers=tuple(integer(m, f"{path}.multipliers", minimum=1, maximum=1000)
                              for m in per_level("multipliers")),
            profit_targets=tuple(dec(x, f"{path}.profit_targets", minimum=0, exclusive_min=True)
                                 for x in per_level("profit_targets")),
            enabled_levels=tuple(boolean(x, f"{path}.enabled_levels") for x in per_level("enabled_levels")),
            sl_reductions=tuple(dec(x, f"{path}.sl_reductions", minimum=0, maximum=90)
                                for x in per_level("sl_reductions")),
            reduce_sl_per_level=boolean(raw["reduce_sl_per_level"], f"{path}.reduce_sl_per_level"),
            booking=choice(raw["booking"], f"{path}.booking", BOOKING_MODES),
            min_profit=dec(raw["min_profit"], f"{path}.min_profit", minimum=0, exclusive_min=True),
            strict=boolean(raw["strict"], f"{path}.strict"),
            partial_success_threshold=dec(raw["partial_success_threshold"], f"{path}.partial_success_threshold",
                                          minimum=0, maximum=1),
            rr_ratio=dec(raw["rr_ratio"], f"{path}.rr_ratio", minimum=0, exclusive_min=True),
        )


class ChainStatus(StrEnum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    STOPPED = "STOPPED"


class OrderStatus(StrEnum):
    PENDING = "PENDING"  # sent, not filled yet
    OPEN = "OPEN"
    CLOSING = "CLOSING"  # close requested; avoids asking again on every tick
    CLOSED = "CLOSED"


class Outcome(StrEnum):
    NONE = ""
    PROFIT = "PROFIT"
    LOSS = "LOSS"
    AWAITING_RECOVERY = "AWAITING_RECOVERY"
    RECOVERED = "RECOVERED"
    REJECTED = "REJECTED"


@dataclass(frozen=True)
class ChainOrder:
    client_id: str
    level: int
    lots: Decimal
    status: OrderStatus
    entry: Decimal | None = None
    pnl: Decimal | None = None
    outcome: Outcome = Outcome.NONE
    recovers: str | None = None  # a recovery order: the lost order whose outcome it decides

    def to_dict(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "level": self.level, "lots": str(self.lots), "status": self.status.value,
                "entry": _s(self.entry), "pnl": _s(self.pnl), "outcome": self.outcome.value,
                "recovers": self.recovers}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ChainOrder":
        return cls(client_id=d["client_id"], level=int(d["level"]), lots=Decimal(d["lots"]),
                   status=OrderStatus(d["status"]), entry=_d(d["entry"]), pnl=_d(d["pnl"]),
                   outcome=Outcome(d["outcome"]), recovers=d["recovers"])


@dataclass(frozen=True)
class Chain:
    chain_id: str
    symbol: str
    side: Side
    logic: str | None
    lots: Decimal  # every level order uses the chain's lot (the Order B lot)
    sl_money: Decimal  # dollar SL of each order (Order B SL system)
    started_at: datetime
    level: int = 0
    status: ChainStatus = ChainStatus.ACTIVE
    orders: tuple[ChainOrder, ...] = field(default_factory=tuple)
    realised: Decimal = Decimal(0)
    reason: str = ""

    def order(self, client_id: str) -> ChainOrder | None:
        return next((o for o in self.orders if o.client_id == client_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {"chain_id": self.chain_id, "symbol": self.symbol, "side": self.side.value, "logic": self.logic,
                "lots": str(self.lots), "sl_money": str(self.sl_money), "started_at": self.started_at.isoformat(),
                "level": self.level, "status": self.status.value, "orders": [o.to_dict() for o in self.orders],
                "realised": str(self.realised), "reason": self.reason}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Chain":
        return cls(chain_id=d["chain_id"], symbol=d["symbol"], side=Side(d["side"]), logic=d["logic"],
                   lots=Decimal(d["lots"]), sl_money=Decimal(d["sl_money"]),
                   started_at=datetime.fromisoformat(d["started_at"]), level=int(d["level"]),
                   status=ChainStatus(d["status"]), orders=tuple(ChainOrder.from_dict(o) for o in d["orders"]),
                   realised=Decimal(d["realised"]), reason=d["reason"])


def _s(v: Decimal | None) -> str | None:
    return None if v is None else str(v)


def _d(v: str | None) -> Decimal | None:
    return None if v is None else Decimal(v)


Result = tuple[Chain, list[Action]]


def start_chain(chain_id: str, order_id: str, symbol: str, side: Side, logic: str | None, lots: Decimal,
                entry: Decimal, sl_money: Decimal, now: datetime) -> Chain:
    """A chain at level 0 holding the filled Order B `order_id`."""
    return Chain(chain_id=chain_id, symbol=symbol, side=side, logic=logic, lots=lots, sl_money=sl_money,
                 started_at=now, orders=(ChainOrder(order_id, 0, lots, OrderStatus.OPEN, entry=entry),))


def _with_order(chain: Chain, order: ChainOrder) -> Chain:
    return replace(chain, orders=tuple(order if o.client_id == order.client_id else o for o in chain.orders))


def on_tick(chain: Chain, settings: ChainSettings, spec: SymbolSpec, bid: Decimal, ask: Decimal,
            now: datetime) -> Result:
    """Book orders that reached their profit: each on its own (per_order) or the level together (level_target)."""
    if chain.status is not ChainStatus.ACTIVE:
        return chain, []
    price = exit_quote(chain.side, bid, ask)
    open_orders = [o for o in chain.orders if o.status is OrderStatus.OPEN and o.entry is not None]
    actions: list[Action] = []
    if settings.booking == "per_order":
        for o in open_orders:
            pnl = profit(spec, chain.side, o.entry, price, o.lots)  # type: ignore[arg-type]
            if pnl >= settings.min_profit:
                chain = _with_order(chain, replace(o, status=OrderStatus.CLOSING))
                actions.append(CloseOrder(o.client_id, f"PROFIT_BOOKED_L{o.level}"))
        return chain, actions
    level_orders = [o for o in chain.orders if o.level == chain.level and o.status is not OrderStatus.CLOSED]
    if not level_orders or any(o.status is not OrderStatus.OPEN for o in level_orders):
        return chain, []  # wait for every order of the level to be filled before judging the level
    total = sum((profit(spec, chain.side, o.entry, price, o.lots) for o in level_orders),  # type: ignore[arg-type]
                Decimal(0))
    if total >= settings.profit_targets[chain.level]:
        for o in level_orders:
            chain = _with_order(chain, replace(o, status=OrderStatus.CLOSING))
            actions.append(CloseOrder(o.client_id, f"PROFIT_TARGET_L{chain.level}"))
    return chain, actions


def on_fill(chain: Chain, client_id: str, entry: Decimal, lots: Decimal, now: datetime) -> Result:
    """A placed order filled. A fill arriving after the chain stopped is closed at once; a repeated fill is
    ignored."""
    o = chain.order(client_id)
    if o is None or o.status is not OrderStatus.PENDING:
        return chain, []
    chain = _with_order(chain, replace(o, status=OrderStatus.OPEN, entry=entry, lots=lots))
    if chain.status is not ChainStatus.ACTIVE:
        chain = _with_order(chain, replace(o, status=OrderStatus.CLOSING, entry=entry, lots=lots))
        return chain, [CloseOrder(client_id, f"CHAIN_{chain.status.value}")]
    return chain, []


def on_reject(chain: Chain, settings: ChainSettings, spec: SymbolSpec, client_id: str, reason: str,
              now: datetime) -> Result:
    """An order of the chain was refused (risk or broker): it counts as a failed order of its level."""
    o = chain.order(client_id)
    if o is None or o.status is OrderStatus.CLOSED:
        return chain, []
    chain = _with_order(chain, replace(o, status=OrderStatus.CLOSED, pnl=Decimal(0), outcome=Outcome.REJECTED))
    if o.recovers:
        chain = _resolve(chain, o.recovers, recovered=False)
    return _advance(chain, settings, spec, now)


def on_close(chain: Chain, settings: ChainSettings, spec: SymbolSpec, client_id: str, pnl: Decimal,
             now: datetime, *, awaiting_recovery: bool = False) -> Result:
    """An order of the chain closed with `pnl`. With `awaiting_recovery` a losing order waits for its SL-hunt
    recovery (facts §4.4 profit_sl_hunt) before the level is judged."""
    o = chain.order(client_id)
    if o is None or o.status is OrderStatus.CLOSED:
        return chain, []
    if pnl >= 0:
        outcome = Outcome.PROFIT
    else:
        outcome = Outcome.AWAITING_RECOVERY if awaiting_recovery and chain.status is ChainStatus.ACTIVE \
            else Outcome.LOSS
    chain = _with_order(chain, replace(o, status=OrderStatus.CLOSED, pnl=pnl, outcome=outcome))
    chain = replace(chain, realised=chain.realised + pnl)
    actions: list[Action] = []
    if outcome is Outcome.PROFIT and o.recovers is None and chain.status is ChainStatus.ACTIVE:
        # (an order of a stopped chain closes because the chain stopped: that is not a booking)
        actions.append(Notify("profit_booked", f"💰 {chain.symbol} chain {chain.chain_id} L{o.level}: "
                                               f"+{pnl} booked", "MEDIUM"))
    if o.recovers:
        chain = _resolve(chain, o.recovers, recovered=pnl >= 0)
    chain, more = _advance(chain, settings, spec, now)
    return chain, actions + more


def attach_recovery(chain: Chain, lost_client_id: str, client_id: str, lots: Decimal) -> Chain:
    """Track a recovery order (PlaceOrder.recovers) placed for a lost order; it is booked like the others and its
    result decides the lost order's outcome. The chain stays on its level (facts §4.4)."""
    lost = chain.order(lost_client_id)
    if lost is None:
        raise KeyError(f"{chain.chain_id} has no order {lost_client_id}")
    order = ChainOrder(client_id, lost.level, lots, OrderStatus.PENDING, recovers=lost_client_id)
    return replace(chain, orders=chain.orders + (order,))


def on_recovery_result(chain: Chain, settings: ChainSettings, spec: SymbolSpec, lost_client_id: str,
                       recovered: bool, now: datetime) -> Result:
    """The recovery of a lost order ended without a recovery trade (window expired, blocked) or was judged
    elsewhere."""
    chain = _resolve(chain, lost_client_id, recovered)
    return _advance(chain, settings, spec, now)


def _resolve(chain: Chain, lost_client_id: str, recovered: bool) -> Chain:
    lost = chain.order(lost_client_id)
    if lost is None or lost.outcome not in (Outcome.AWAITING_RECOVERY, Outcome.LOSS):
        return chain
    return _with_order(chain, replace(lost, outcome=Outcome.RECOVERED if recovered else Outcome.LOSS))


# Stops the trader expects (a strategy's exit or reversal, a session's force-close, their own command) are told at
# MEDIUM; anything else (an order closed outside the bot, at the broker) at HIGH.
EXPECTED_STOPS = frozenset({"EXIT", "REVERSAL", "TREND_REVERSAL", "AGGRESSIVE_REVERSAL", "SESSION", "MANUAL"})


def stop_chain(chain: Chain, reason: str, now: datetime) -> Result:
    """Stop the chain (exit or reversal signal, /stop_profit_chain) and close its open orders."""
    if chain.status is not ChainStatus.ACTIVE:
        return chain, []
    actions: list[Action] = []
    for o in chain.orders:
        if o.status is OrderStatus.OPEN:
            chain = _with_order(chain, replace(o, status=OrderStatus.CLOSING))
            actions.append(CloseOrder(o.client_id, f"CHAIN_STOPPED_{reason}"))
    chain = replace(chain, status=ChainStatus.STOPPED, reason=reason)
    actions.append(Notify("chain_stopped", f"⛔ {chain.symbol} profit chain {chain.chain_id} stopped: {reason}",
                          "MEDIUM" if reason in EXPECTED_STOPS else "HIGH"))
    return chain, actions


def _advance(chain: Chain, settings: ChainSettings, spec: SymbolSpec, now: datetime) -> Result:
    """Judge the current level once every order of it (recovery orders included) is closed and resolved."""
    if chain.status is not ChainStatus.ACTIVE:
        return chain, []
    level_orders = [o for o in chain.orders if o.level == chain.level]
    if any(o.status is not OrderStatus.CLOSED or o.outcome is Outcome.AWAITING_RECOVERY for o in level_orders):
        return chain, []
    primary = [o for o in level_orders if o.recovers is None]
    good = sum(1 for o in primary if o.outcome in (Outcome.PROFIT, Outcome.RECOVERED))
    if settings.strict:
        if good < len(primary):
            return _finish(chain, ChainStatus.STOPPED, "Strict Mode: Level Loss (Not Recovered)", "HIGH")
    elif Decimal(good) / Decimal(len(primary)) < settings.partial_success_threshold:
        return _finish(chain, ChainStatus.STOPPED, f"level {chain.level}: {good}/{len(primary)} orders won, below "
                                                   f"{settings.partial_success_threshold:%}", "HIGH")
    if chain.level >= settings.max_level:
        return _finish(chain, ChainStatus.COMPLETED, f"all {settings.max_level + 1} levels done", "MEDIUM")
    nxt = chain.level + 1
    if not settings.enabled_levels[nxt]:
        return _finish(chain, ChainStatus.COMPLETED, f"Level {nxt} is disabled", "MEDIUM")
    return _place_level(chain, settings, spec, nxt)


def _finish(chain: Chain, status: ChainStatus, reason: str, priority: str) -> Result:
    chain = replace(chain, status=status, reason=reason)
    icon = "🏁" if status is ChainStatus.COMPLETED else "⛔"
    return chain, [Notify(f"chain_{status.value.lower()}", f"{icon} {chain.symbol} profit chain {chain.chain_id} "
                                                           f"{status.value.lower()}: {reason} "
                                                           f"(realised {chain.realised})", priority)]


def level_sl_pips(chain: Chain, settings: ChainSettings, spec: SymbolSpec, level: int) -> Decimal:
    """The dollar SL at the chain's lot in the symbol's real pips, reduced per level when configured."""
    pips = pips_for_money(spec, chain.sl_money, chain.lots)
    if settings.reduce_sl_per_level:
        pips = pips * (1 - settings.sl_reductions[level] / 100)
    return pips


def _place_level(chain: Chain, settings: ChainSettings, spec: SymbolSpec, level: int) -> Result:
    count = settings.multipliers[level]
    new_orders = tuple(ChainOrder(f"{chain.chain_id}-L{level}-{i + 1}", level, chain.lots, OrderStatus.PENDING)
                       for i in range(count))
    chain = replace(chain, level=level, orders=chain.orders + new_orders)
    sl = level_sl_pips(chain, settings, spec, level)
    actions: list[Action] = [
        PlaceOrder(client_id=o.client_id, chain_id=chain.chain_id, symbol=chain.symbol, side=chain.side,
                   lots=o.lots, sl_pips=sl, tp_pips=sl * settings.rr_ratio,
                   comment=f"{chain.logic or 'CHAIN'}_PROFIT_L{level}", level=level) for o in new_orders]
    actions.append(Notify("chain_level_up", f"🔁 PROFIT BOOKING LEVEL UP! {chain.symbol} {chain.chain_id}: "
                                            f"level {level}, {count} order(s) of {chain.lots} lots", "MEDIUM"))
    return chain, actions
