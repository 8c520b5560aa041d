"""Stop-loss and take-profit distances: the sl-1 / sl-2 pip tables for Order A and single orders, and the
fixed-dollar SL of Order B, turned into prices on the losing side of the entry.

Order A SL pips (facts §3.5) = table[system][symbol][tier] x (1 - symbol reduction %) x logic sl_multiplier
x re-entry factor; with the SL system disabled, pips = tier risk $ for the symbol's volatility / pip value of
the tier lot. Order B SL (facts §3.6) = a dollar amount (SL-2.1: fixed $10; SL-1.1: per logic) divided by the
symbol's real pip value at the order's lot (DECISIONS §11, §15).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from strategies.risk.pips import SymbolSpec, money_for_pips, pips_for_money
from strategies.risk.side import Side
from strategies.risk.tiers import DEFAULT_TIERS, Tier

_TIER_KEYS = tuple(t.balance for t in DEFAULT_TIERS)


def _table(rows: dict[str, tuple[int, ...]]) -> dict[str, dict[Decimal, Decimal]]:
    return {sym: {tier: Decimal(p) for tier, p in zip(_TIER_KEYS, pips)} for sym, pips in rows.items()}


# facts §3.5, sl_pips column of each cell (the risk $ / % columns are informational).
DEFAULT_SL_SYSTEMS: dict[str, dict[str, dict[Decimal, Decimal]]] = {
    "sl-1": _table({
        "EURUSD": (150, 150, 50, 40, 40), "GBPUSD": (150, 150, 50, 40, 50), "AUDUSD": (150, 150, 50, 40, 50),
        "USDCAD": (150, 150, 50, 40, 50), "NZDUSD": (150, 150, 50, 40, 50), "USDJPY": (166, 166, 55, 44, 55),
        "EURJPY": (111, 111, 41, 44, 44), "GBPJPY": (111, 111, 41, 44, 44), "AUDJPY": (111, 111, 41, 44, 44),
        "XAUUSD": (1000, 1500, 500, 500, 600),
    }),
    "sl-2": _table({
        "EURUSD": (100, 100, 35, 30, 30), "GBPUSD": (120, 120, 40, 35, 40), "AUDUSD": (120, 120, 40, 35, 40),
        "USDCAD": (120, 120, 40, 35, 40), "NZDUSD": (120, 120, 40, 35, 40), "USDJPY": (130, 130, 45, 38, 45),
        "EURJPY": (80, 80, 30, 35, 35), "GBPJPY": (80, 80, 30, 35, 35), "AUDJPY": (80, 80, 30, 35, 35),
        "XAUUSD": (500, 800, 300, 300, 200),
    }),
}

# facts §3.5 risk_by_account_tier, risk $ per volatility class (used only with the SL system disabled).
DEFAULT_RISK_BY_TIER: dict[Decimal, dict[str, Decimal]] = {
    tier: {"LOW": Decimal(low), "MEDIUM": Decimal(med), "HIGH": Decimal(high)}
    for tier, (low, med, high) in zip(_TIER_KEYS, (
        (75, 75, 50), (150, 150, 100), (500, 500, 375), (1000, 1000, 1000), (2000, 2500, 3000)))
}

# facts §2.2: legacy SL multipliers per logic.
DEFAULT_LOGIC_SL_MULTIPLIERS: dict[str, Decimal] = {
    "LOGIC1": Decimal("1.0"), "LOGIC2": Decimal("1.5"), "LOGIC3": Decimal("2.5")}


@dataclass(frozen=True)
class StopSettings:
    """Order A / single-order SL system. Tables are read-only after construction."""

    enabled: bool = True
    active_system: str = "sl-1"
    systems: dict[str, dict[str, dict[Decimal, Decimal]]] = field(default_factory=lambda: DEFAULT_SL_SYSTEMS)
    symbol_reductions: dict[str, Decimal] = field(default_factory=dict)  # percent, 5..50 (/set_symbol_sl)
    logic_sl_multipliers: dict[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_LOGIC_SL_MULTIPLIERS))
    risk_by_tier: dict[Decimal, dict[str, Decimal]] = field(default_factory=lambda: DEFAULT_RISK_BY_TIER)
    rr_ratio: Decimal = Decimal("1.5")
    logic_multipliers_enabled: bool = True   # risk.logic_multipliers_enabled (false: SL multiplier 1)


@dataclass(frozen=True)
class OrderBStopSettings:
    """Order B ("profit trail") SL: SL-2.1 = one fixed amount, SL-1.1 = an amount per logic; disabled, Order B
    takes Order A's SL rule (the SL system's pips) instead of a dollar amount."""

    enabled: bool = True
    system: str = "SL-2.1"
    fixed_sl: Decimal = Decimal("10")
    per_logic: dict[str, Decimal] = field(default_factory=lambda: {
        "LOGIC1": Decimal("20"), "LOGIC2": Decimal("40"), "LOGIC3": Decimal("50")})

    def amount(self, logic: str | None) -> Decimal:
        """The dollar SL for an Order B of `logic`; SL-1.1 falls back to the fixed amount for an unknown logic."""
        if self.system == "SL-1.1" and logic in self.per_logic:
            return self.per_logic[logic]  # type: ignore[index]
        return self.fixed_sl


def order_a_sl_pips(settings: StopSettings, spec: SymbolSpec, tier: Tier, logic: str | None = None,
                    reentry_factor: Decimal = Decimal(1)) -> Decimal:
    """SL distance in pips for Order A or a single order (facts §3.5). KeyError names what is missing."""
    if settings.enabled:
        table = settings.systems[settings.active_system]
        if spec.symbol not in table:
            raise KeyError(f"SL system {settings.active_system} has no row for {spec.symbol}")
        row = table[spec.symbol]
        if tier.balance not in row:
            raise KeyError(f"SL system {settings.active_system} has no {tier.name} tier for {spec.symbol}")
        base = row[tier.balance]
    else:
        risk_money = settings.risk_by_tier[tier.balance][spec.volatility]
        base = pips_for_money(spec, risk_money, tier.lot)
    reduction = settings.symbol_reductions.get(spec.symbol, Decimal(0))
    multiplier = settings.logic_sl_multipliers.get(logic, Decimal(1)) \
        if logic and settings.logic_multipliers_enabled else Decimal(1)
    return base * (1 - reduction / 100) * multiplier * reentry_factor


def order_b_sl_pips(settings: OrderBStopSettings, spec: SymbolSpec, lots: Decimal, logic: str | None = None) -> Decimal:
    """Pips that lose exactly the Order B dollar SL at `lots` with the symbol's real pip value."""
    return pips_for_money(spec, settings.amount(logic), lots)


def reduced_sl_pips(base_pips: Decimal, reduction: Decimal, level: int, floor_pips: Decimal = Decimal(0)) -> Decimal:
    """Re-entry SL: base x (1 - reduction)^level, never below `floor_pips` (facts §4.4, §4.5)."""
    if level < 0:
        raise ValueError("level must be >= 0")
    return max(floor_pips, base_pips * (1 - reduction) ** level)


@dataclass(frozen=True)
class StopLevels:
    """Absolute SL/TP prices for one order, and what they mean in pips and money."""

    sl: Decimal
    tp: Decimal | None
    sl_pips: Decimal
    risk: Decimal  # money lost if the SL is hit at `lots`
    widened: bool  # True when the SL was pushed out to the symbol's minimum stop distance
    note: str = ""


def place_stops(spec: SymbolSpec, side: Side, entry: Decimal, sl_pips: Decimal, lots: Decimal,
                rr_ratio: Decimal | None = None, tp_price: Decimal | None = None) -> StopLevels:
    """SL `sl_pips` on the losing side of `entry`, TP at `tp_price` or at SL distance x `rr_ratio`.

    The SL distance is kept >= one tick and >= the symbol's minimum stop distance (a broker rejects closer
    stops), and the SL price is rounded to the tick grid away from the entry, so it is always strictly on the
    losing side; `widened` and `risk` report what that costs.
    """
    if sl_pips <= 0:
        raise ValueError("sl_pips must be > 0")
    wanted = sl_pips * spec.pip_size
    distance = max(wanted, spec.min_stop_distance, spec.tick_size)
    sl = round_sl(spec, side, entry - side.sign * distance)
    actual = (entry - sl) * side.sign
    actual_pips = actual / spec.pip_size
    tp = None
    if tp_price is not None:
        tp = tp_price
    elif rr_ratio is not None:
        tp_distance = max(actual * rr_ratio, spec.tick_size)
        tp = _round_toward_profit(spec, entry + side.sign * tp_distance, side)
    return StopLevels(sl=sl, tp=tp, sl_pips=actual_pips, risk=money_for_pips(spec, actual_pips, lots),
                      widened=distance > wanted)


def stops_from_alert(spec: SymbolSpec, side: Side, entry: Decimal, lots: Decimal, alert_sl: Decimal | None,
                     alert_tp: Decimal | None, fallback_sl_pips: Decimal, rr_ratio: Decimal) -> StopLevels:
    """Order A of V3 (facts §2.5): the alert's SL and TP2 when they sit on the right sides of the entry,
    else the SL system's distance and TP = SL distance x rr. What was replaced is said in `note`."""
    note = ""
    sl_pips = fallback_sl_pips
    if alert_sl is not None:
        if (entry - alert_sl) * side.sign > 0:
            sl_pips = (entry - alert_sl) * side.sign / spec.pip_size
        else:
            note = f"alert SL {alert_sl} is not on the losing side of {entry}; SL system used"
    tp = alert_tp
    if alert_tp is not None and (alert_tp - entry) * side.sign <= 0:
        tp = None
        note = (note + "; " if note else "") + f"alert TP {alert_tp} is not on the winning side; RR used"
    levels = place_stops(spec, side, entry, sl_pips, lots, rr_ratio=rr_ratio, tp_price=tp)
    return StopLevels(levels.sl, levels.tp, levels.sl_pips, levels.risk, levels.widened, note)


def round_sl(spec: SymbolSpec, side: Side, price: Decimal) -> Decimal:
    """An SL price on the tick grid, rounded away from the profit side (never tighter than asked)."""
    rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
    return (price / spec.tick_size).to_integral_value(rounding) * spec.tick_size


def _round_toward_profit(spec: SymbolSpec, price: Decimal, side: Side) -> Decimal:
    # A TP rounded past the computed level would ask for more than the RR; rounding back toward the entry
    # cannot reach it because the TP distance is at least one tick.
    rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
    return (price / spec.tick_size).to_integral_value(rounding) * spec.tick_size
