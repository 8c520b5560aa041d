"""The account's trading state and loss counters, and the check every order intent passes before the broker.

States after NautilusTrader (DECISIONS §14):
  ACTIVE    everything allowed within the per-trade, daily and lifetime caps;
  REDUCING  the daily loss cap is hit: only exposure-reducing intents (close, partial close, SL tightening);
  HALTED    lifetime cap hit, kill switch on, or /pause: nothing new; closes still allowed.
Daily counters reset at `risk.daily_reset` in `risk.timezone` (DECISIONS §13). Every function is pure: it takes
the state and the time and returns a new state plus the events the actor must notify (state changes as CRITICAL).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from strategies.risk.settings import RiskSettings
from strategies.risk.side import Side
from strategies.risk.tiers import Tier


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class IntentKind(StrEnum):
    OPEN = "OPEN"
    CLOSE = "CLOSE"
    PARTIAL_CLOSE = "PARTIAL_CLOSE"
    MODIFY_SL = "MODIFY_SL"


@dataclass(frozen=True)
class Intent:
    """What a plugin or the position manager wants the broker to do, as risk sees it.

    `side` is the side of the position concerned. An OPEN carries `risk`, the money lost if its SL is hit;
    a MODIFY_SL carries the position's current and new SL so risk can tell tightening from loosening.
    """

    kind: IntentKind
    symbol: str
    side: Side
    lots: Decimal = Decimal(0)
    risk: Decimal | None = None
    old_sl: Decimal | None = None
    new_sl: Decimal | None = None

    @property
    def reduces_exposure(self) -> bool:
        if self.kind in (IntentKind.CLOSE, IntentKind.PARTIAL_CLOSE):
            return True
        if self.kind is IntentKind.MODIFY_SL and self.new_sl is not None:
            if self.old_sl is None:
                return True  # adding an SL to a position without one can only limit the loss
            return (self.new_sl - self.old_sl) * self.side.sign > 0
        return False


@dataclass(frozen=True)
class Approved:
    pass


@dataclass(frozen=True)
class Rejected:
    reason: str


@dataclass(frozen=True)
class StateChanged:
    """A trading-state transition; the actor notifies it as CRITICAL (DECISIONS §14)."""

    old: TradingState
    new: TradingState
    reason: str
    at: datetime
    priority: str = "CRITICAL"


@dataclass(frozen=True)
class DailyReset:
    """The daily counters were zeroed; carries the figures of the day that ended."""

    at: datetime
    daily_loss: Decimal
    daily_profit: Decimal


Event = StateChanged | DailyReset


@dataclass(frozen=True)
class RiskState:
    balance: Decimal
    period_start: datetime  # UTC reset boundary the daily counters belong to
    daily_loss: Decimal = Decimal(0)
    daily_profit: Decimal = Decimal(0)
    lifetime_loss: Decimal = Decimal(0)
    total_trades: int = 0
    winning_trades: int = 0
    paused: bool = False
    kill_switch: bool = False
    status: TradingState = TradingState.ACTIVE
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "balance": str(self.balance), "period_start": self.period_start.isoformat(),
            "daily_loss": str(self.daily_loss), "daily_profit": str(self.daily_profit),
            "lifetime_loss": str(self.lifetime_loss), "total_trades": self.total_trades,
            "winning_trades": self.winning_trades, "paused": self.paused, "kill_switch": self.kill_switch,
            "status": self.status.value, "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RiskState":
        return cls(
            balance=Decimal(d["balance"]), period_start=datetime.fromisoformat(d["period_start"]),
            daily_loss=Decimal(d["daily_loss"]), daily_profit=Decimal(d["daily_profit"]),
            lifetime_loss=Decimal(d["lifetime_loss"]), total_trades=int(d["total_trades"]),
            winning_trades=int(d["winning_trades"]), paused=bool(d["paused"]), kill_switch=bool(d["kill_switch"]),
            status=TradingState(d["status"]), reason=str(d["reason"]),
        )


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("time must be timezone-aware (UTC inside the system)")


def last_reset_boundary(now: datetime, reset_at: time = time(3, 35), tz: str = "Asia/Kolkata") -> datetime:
    """The most recent daily reset instant <= now, in UTC: `reset_at` wall-clock time in `tz` today, or
    yesterday if today's has not come yet. Comparing in UTC keeps DST-shifted days correct."""
    _require_aware(now)
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    utc_now = now.astimezone(timezone.utc)
    today = datetime.combine(local.date(), reset_at, tzinfo=zone).astimezone(timezone.utc)
    if today <= utc_now:
        return today
    # Yesterday's reset is before today's local midnight, so it is always in the past.
    return datetime.combine(local.date() - timedelta(days=1), reset_at, tzinfo=zone).astimezone(timezone.utc)


def current_tier(state: RiskState, settings: RiskSettings) -> Tier:
    return settings.tier_for(state.balance)


def initial_state(balance: Decimal, now: datetime, settings: RiskSettings) -> RiskState:
    state = RiskState(balance=balance, period_start=last_reset_boundary(now, settings.daily_reset, settings.timezone))
    status, reason = evaluate(state, settings)
    return replace(state, status=status, reason=reason)


def evaluate(state: RiskState, settings: RiskSettings) -> tuple[TradingState, str]:
    """The state the counters and switches call for, with the reason the trader sees."""
    tier = current_tier(state, settings)
    if state.kill_switch:
        return TradingState.HALTED, "kill switch is on"
    if state.paused:
        return TradingState.HALTED, "trading paused (/pause)"
    if state.lifetime_loss >= tier.lifetime_loss_cap:
        return TradingState.HALTED, (f"lifetime loss {state.lifetime_loss} reached the cap "
                                     f"{tier.lifetime_loss_cap} of tier {tier.name}")
    if state.daily_loss >= tier.daily_loss_cap:
        return TradingState.REDUCING, (f"daily loss {state.daily_loss} reached the cap {tier.daily_loss_cap} "
                                       f"of tier {tier.name}; only closes until the reset at "
                                       f"{settings.daily_reset:%H:%M} {settings.timezone}")
    return TradingState.ACTIVE, ""


def _settle(old: RiskState, new: RiskState, now: datetime, settings: RiskSettings, cause: str,
            events: list[Event]) -> tuple[RiskState, list[Event]]:
    status, reason = evaluate(new, settings)
    if status is TradingState.ACTIVE:
        reason = cause if status is not old.status else ""
    if status is not old.status:
        events.append(StateChanged(old.status, status, reason, now))
    return replace(new, status=status, reason=reason), events


def roll(state: RiskState, now: datetime, settings: RiskSettings) -> tuple[RiskState, list[Event]]:
    """Apply the daily reset if a reset boundary passed since the counters' period began."""
    boundary = last_reset_boundary(now, settings.daily_reset, settings.timezone)
    if boundary <= state.period_start:
        return state, []
    events: list[Event] = [DailyReset(boundary, state.daily_loss, state.daily_profit)]
    fresh = replace(state, daily_loss=Decimal(0), daily_profit=Decimal(0), period_start=boundary)
    return _settle(state, fresh, now, settings, f"daily reset at {settings.daily_reset:%H:%M} {settings.timezone}",
                   events)


def record_close(state: RiskState, pnl: Decimal, now: datetime,
                 settings: RiskSettings) -> tuple[RiskState, list[Event]]:
    """Count a closed trade (facts §3.1): a profit adds to the day's profit; a loss (or zero) adds its size to
    both the daily and the lifetime loss. Losses are not netted against profits, as in the original."""
    state, events = roll(state, now, settings)
    if pnl > 0:
        new = replace(state, daily_profit=state.daily_profit + pnl, total_trades=state.total_trades + 1,
                      winning_trades=state.winning_trades + 1)
    else:
        new = replace(state, daily_loss=state.daily_loss - pnl, lifetime_loss=state.lifetime_loss - pnl,
                      total_trades=state.total_trades + 1)
    return _settle(state, new, now, settings, "", events)


def update_balance(state: RiskState, balance: Decimal, now: datetime,
                   settings: RiskSettings) -> tuple[RiskState, list[Event]]:
    """A new balance can move the account to another tier and so to other caps."""
    state, events = roll(state, now, settings)
    tier = settings.tier_for(balance).name
    return _settle(state, replace(state, balance=balance), now, settings, f"balance {balance}: tier {tier}", events)


def set_paused(state: RiskState, paused: bool, now: datetime,
               settings: RiskSettings) -> tuple[RiskState, list[Event]]:
    state, events = roll(state, now, settings)
    return _settle(state, replace(state, paused=paused), now, settings, "resumed (/resume)", events)


def set_kill_switch(state: RiskState, on: bool, now: datetime,
                    settings: RiskSettings) -> tuple[RiskState, list[Event]]:
    state, events = roll(state, now, settings)
    return _settle(state, replace(state, kill_switch=on), now, settings, "kill switch released", events)


def clear_daily_loss(state: RiskState, now: datetime, settings: RiskSettings) -> tuple[RiskState, list[Event]]:
    """/clear_daily_loss."""
    state, events = roll(state, now, settings)
    return _settle(state, replace(state, daily_loss=Decimal(0)), now, settings, "daily loss cleared", events)


def clear_loss_data(state: RiskState, now: datetime, settings: RiskSettings) -> tuple[RiskState, list[Event]]:
    """/clear_loss_data: daily and lifetime loss back to zero."""
    state, events = roll(state, now, settings)
    new = replace(state, daily_loss=Decimal(0), lifetime_loss=Decimal(0))
    return _settle(state, new, now, settings, "loss data cleared", events)


def headroom(state: RiskState, settings: RiskSettings) -> Decimal:
    """The most one new order may lose at its SL: the smallest of the per-trade cap and what is left of the
    daily and lifetime caps (never negative). Sizing cuts lots to this."""
    tier = current_tier(state, settings)
    room = min(tier.per_trade_cap, tier.daily_loss_cap - state.daily_loss, tier.lifetime_loss_cap - state.lifetime_loss)
    return max(room, Decimal(0))


def check_intent(state: RiskState, intent: Intent, now: datetime, settings: RiskSettings) -> Approved | Rejected:
    """Approve or reject one intent. Exposure-reducing intents always pass, whatever the state."""
    if intent.reduces_exposure:
        return Approved()
    state, _ = roll(state, now, settings)
    if state.status is TradingState.HALTED:
        return Rejected(f"trading halted: {state.reason}; only closes are allowed")
    if state.status is TradingState.REDUCING:
        return Rejected(f"reducing only: {state.reason}")
    if intent.kind is IntentKind.MODIFY_SL:
        if intent.new_sl is None:
            return Rejected("a position may not lose its stop loss")
        return Approved()  # loosening an SL while ACTIVE: the per-trade cap was checked when the order opened
    if intent.lots <= 0:
        return Rejected(f"volume {intent.lots} is not positive")
    if intent.risk is None:
        return Rejected("an opening order must carry a stop loss; its risk is unknown")
    tier = current_tier(state, settings)
    if intent.risk > tier.per_trade_cap:
        return Rejected(f"SL risk {intent.risk} is above the per-trade cap {tier.per_trade_cap} of tier {tier.name}")
    daily_room = tier.daily_loss_cap - state.daily_loss
    if intent.risk > daily_room:
        return Rejected(f"SL risk {intent.risk} is above what is left of the daily cap ({daily_room} of "
                        f"{tier.daily_loss_cap})")
    lifetime_room = tier.lifetime_loss_cap - state.lifetime_loss
    if intent.risk > lifetime_room:
        return Rejected(f"SL risk {intent.risk} is above what is left of the lifetime cap ({lifetime_room} of "
                        f"{tier.lifetime_loss_cap})")
    return Approved()
