"""Pip size, pip value, profit and volume rounding for one symbol, from the broker's symbol info or the config table.

DECISIONS §15: nothing here assumes $10 per pip. A `SymbolSpec` is built from the broker's symbol info when the
broker gives a usable tick value, else from the configured symbol row (facts §3.5 symbol_config, §3.7 symbols).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from strategies.risk.config_fields import to_decimal
from strategies.risk.side import Side


@dataclass(frozen=True)
class SymbolRow:
    """One row of the config symbol table: what we know about a symbol without asking the broker."""

    volatility: str  # LOW | MEDIUM | HIGH: picks the risk_by_account_tier column when the SL system is off
    pip_size: Decimal
    pip_value_per_lot: Decimal  # account currency per pip for 1.0 lot
    min_sl_distance: Decimal  # price distance
    contract_size: Decimal
    digits: int
    volume_min: Decimal = Decimal("0.01")
    volume_step: Decimal = Decimal("0.01")
    volume_max: Decimal = Decimal("100")


def _row(vol: str, pip: str, value: str, min_sl: str, contract: str, digits: int, vmax: str) -> SymbolRow:
    return SymbolRow(vol, Decimal(pip), Decimal(value), Decimal(min_sl), Decimal(contract), digits,
                     volume_max=Decimal(vmax))


# facts §3.5 symbol_config; max lots from the Config.py fallback; digits are the usual 5/3/2-digit quotes.
DEFAULT_SYMBOLS: dict[str, SymbolRow] = {
    "EURUSD": _row("LOW", "0.0001", "10.0", "0.0005", "100000", 5, "10"),
    "GBPUSD": _row("MEDIUM", "0.0001", "10.0", "0.0005", "100000", 5, "8"),
    "USDJPY": _row("MEDIUM", "0.01", "9.1", "0.05", "100000", 3, "10"),
    "AUDUSD": _row("MEDIUM", "0.0001", "10.0", "0.0005", "100000", 5, "8"),
    "USDCAD": _row("MEDIUM", "0.0001", "8.0", "0.0005", "100000", 5, "10"),
    "NZDUSD": _row("MEDIUM", "0.0001", "10.0", "0.0005", "100000", 5, "8"),
    "EURJPY": _row("HIGH", "0.01", "9.5", "0.05", "100000", 3, "5"),
    "GBPJPY": _row("HIGH", "0.01", "9.0", "0.05", "100000", 3, "3"),
    "AUDJPY": _row("HIGH", "0.01", "9.2", "0.05", "100000", 3, "5"),
    "XAUUSD": _row("HIGH", "0.01", "1.0", "0.1", "100", 2, "2"),
}


@dataclass(frozen=True)
class SymbolSpec:
    """Everything the risk math needs about a symbol. Prices and money are Decimal."""

    symbol: str
    digits: int
    point: Decimal
    tick_size: Decimal
    tick_value: Decimal  # account currency per tick for 1.0 lot
    contract_size: Decimal
    volume_min: Decimal
    volume_step: Decimal
    volume_max: Decimal
    pip: Decimal | None = None  # explicit pip size; None derives it from digits
    min_stop_distance: Decimal = Decimal(0)  # price distance the SL must keep from the entry
    volatility: str = "MEDIUM"
    source: str = "config"  # "broker" | "config": shown when a number looks wrong

    def __post_init__(self) -> None:
        for name in ("point", "tick_size", "tick_value", "contract_size", "volume_min", "volume_step", "volume_max"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{self.symbol}: {name} must be > 0, got {getattr(self, name)!r}")
        if self.volume_min > self.volume_max:
            raise ValueError(f"{self.symbol}: volume_min {self.volume_min} > volume_max {self.volume_max}")

    @property
    def pip_size(self) -> Decimal:
        """The configured pip, else 10 points on fractional-pip quotes (5 or 3 digits), else one point."""
        if self.pip is not None:
            return self.pip
        return self.point * 10 if self.digits in (3, 5) else self.point

    @property
    def pip_value_per_lot(self) -> Decimal:
        return self.pip_size / self.tick_size * self.tick_value

    def pip_value(self, lots: Decimal) -> Decimal:
        """Account currency per pip at `lots`."""
        return self.pip_value_per_lot * lots

    @classmethod
    def from_row(cls, symbol: str, row: SymbolRow) -> "SymbolSpec":
        point = Decimal(1).scaleb(-row.digits)
        # Express the table's pip value as a tick value so one formula serves both sources.
        tick_value = row.pip_value_per_lot * point / row.pip_size
        return cls(symbol=symbol, digits=row.digits, point=point, tick_size=point, tick_value=tick_value,
                   contract_size=row.contract_size, volume_min=row.volume_min, volume_step=row.volume_step,
                   volume_max=row.volume_max, pip=row.pip_size, min_stop_distance=row.min_sl_distance,
                   volatility=row.volatility, source="config")

    @classmethod
    def from_broker(cls, symbol: str, info: Mapping[str, Any], row: SymbolRow | None = None) -> "SymbolSpec":
        """From MT5 `symbol_info()._asdict()` names. The config row still supplies the pip size and volatility,
        which brokers do not report, and a minimum SL distance if wider than the broker's stops level."""
        digits = int(info["digits"])
        point = to_decimal(info["point"])
        stops_level = to_decimal(info.get("trade_stops_level", 0)) * point
        min_stop = max(stops_level, row.min_sl_distance) if row else stops_level
        return cls(symbol=symbol, digits=digits, point=point,
                   tick_size=to_decimal(info.get("trade_tick_size") or info["point"]),
                   tick_value=to_decimal(info["trade_tick_value"]),
                   contract_size=to_decimal(info["trade_contract_size"]),
                   volume_min=to_decimal(info["volume_min"]), volume_step=to_decimal(info["volume_step"]),
                   volume_max=to_decimal(info["volume_max"]), pip=row.pip_size if row else None,
                   min_stop_distance=min_stop, volatility=row.volatility if row else "MEDIUM", source="broker")


def resolve_spec(symbol: str, broker_info: Mapping[str, Any] | None,
                 table: Mapping[str, SymbolRow]) -> SymbolSpec:
    """Broker info when it is usable, else the config row; KeyError when neither knows the symbol.

    A broker reports tick value 0 for a symbol not yet selected in Market Watch or while the market is closed,
    so such info is treated as absent rather than trusted.
    """
    row = table.get(symbol)
    if broker_info and _usable(broker_info):
        return SymbolSpec.from_broker(symbol, broker_info, row)
    if row is None:
        raise KeyError(f"no symbol info from the broker and no row in the symbol table for {symbol}")
    return SymbolSpec.from_row(symbol, row)


def _usable(info: Mapping[str, Any]) -> bool:
    try:
        return all(to_decimal(info[k]) > 0 for k in (
            "point", "trade_tick_value", "trade_contract_size", "volume_min", "volume_step", "volume_max"))
    except (KeyError, TypeError, ArithmeticError, ValueError):
        return False


def pips_to_price(spec: SymbolSpec, pips: Decimal) -> Decimal:
    return pips * spec.pip_size


def price_to_pips(spec: SymbolSpec, distance: Decimal) -> Decimal:
    return distance / spec.pip_size


def money_for_pips(spec: SymbolSpec, pips: Decimal, lots: Decimal) -> Decimal:
    """facts §3.4: dollar move = lots x pip value x pips."""
    return pips * spec.pip_value(lots)


def pips_for_money(spec: SymbolSpec, money: Decimal, lots: Decimal) -> Decimal:
    if lots <= 0:
        raise ValueError("lots must be > 0")
    return money / spec.pip_value(lots)


def profit(spec: SymbolSpec, side: Side, entry: Decimal, exit_price: Decimal, lots: Decimal) -> Decimal:
    """Profit (negative for a loss) of `lots` opened at `entry` and closed at `exit_price`."""
    return (exit_price - entry) * side.sign / spec.pip_size * spec.pip_value(lots)


def exit_quote(side: Side, bid: Decimal, ask: Decimal) -> Decimal:
    """A BUY closes at the bid, a SELL at the ask."""
    return bid if side is Side.BUY else ask


def round_price(spec: SymbolSpec, price: Decimal) -> Decimal:
    return (price / spec.tick_size).to_integral_value(ROUND_HALF_UP) * spec.tick_size


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of `step` <= value (for value >= 0)."""
    return (value / step).to_integral_value(ROUND_DOWN) * step


@dataclass(frozen=True)
class VolumeRejected:
    """A volume that cannot be sent, with the reason the trader sees."""

    requested: Decimal
    reason: str


def round_volume(spec: SymbolSpec, lots: Decimal) -> Decimal | VolumeRejected:
    """Round DOWN to the symbol's step (never more exposure than computed), cap at the maximum volume,
    and reject what ends below the minimum volume."""
    capped = min(lots, spec.volume_max)
    rounded = floor_to_step(capped, spec.volume_step) if capped > 0 else Decimal(0)
    if rounded < spec.volume_min:
        return VolumeRejected(lots, f"{spec.symbol}: {_fmt(lots)} lots rounds down to {_fmt(rounded)}, "
                                    f"below the minimum volume {_fmt(spec.volume_min)}")
    return rounded


def _fmt(d: Decimal) -> str:
    return format(d.normalize(), "f")
