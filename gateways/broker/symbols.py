"""Default symbol table (zepix-facts §3.4/§3.5/§3.7): pip sizes, pip values, contracts, volume limits.

Used as the paper broker's defaults and, for pip size only, by the MT5 adapters (MetaTrader has points, not
pips). Every value can be overridden in config; DECISIONS §15: broker values win where the broker has them.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateways.broker.interface import FillingMode, SymbolInfo


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    digits: int
    pip_size: Decimal
    pip_value_per_lot: Decimal  # account currency (USD) per pip per 1.0 lot
    contract_size: Decimal
    volume_max: Decimal
    spread_pips: Decimal
    start_price: Decimal
    volume_min: Decimal = Decimal("0.01")
    volume_step: Decimal = Decimal("0.01")
    stops_level: int = 0

    @property
    def point(self) -> Decimal:
        return Decimal(1).scaleb(-self.digits)

    def info(self) -> SymbolInfo:
        # One tick is one point; its value follows from the pip value (a pip is pip_size/point ticks).
        tick_value = self.pip_value_per_lot * self.point / self.pip_size
        return SymbolInfo(
            symbol=self.symbol, digits=self.digits, point=self.point, pip_size=self.pip_size,
            volume_min=self.volume_min, volume_step=self.volume_step, volume_max=self.volume_max,
            tick_value=tick_value, tick_size=self.point, contract_size=self.contract_size,
            filling_modes=frozenset({FillingMode.IOC, FillingMode.FOK}), stops_level=self.stops_level)


def _d(x: str) -> Decimal:
    return Decimal(x)


# pip size / pip value / contract from facts §3.5 symbol_config; max lots from the Config.py fallback (§3.5);
# digits are the common 5/3-digit FX and 2-digit gold quotes; spreads and start prices are simulator defaults
# (typical retail values), not facts.
DEFAULT_SYMBOLS: dict[str, SymbolSpec] = {s.symbol: s for s in (
    SymbolSpec("XAUUSD", 2, _d("0.01"), _d("1.0"), _d("100"), _d("2"), _d("25"), _d("2000.00")),
    SymbolSpec("EURUSD", 5, _d("0.0001"), _d("10.0"), _d("100000"), _d("10"), _d("1.0"), _d("1.08500")),
    SymbolSpec("GBPUSD", 5, _d("0.0001"), _d("10.0"), _d("100000"), _d("8"), _d("1.5"), _d("1.27000")),
    SymbolSpec("USDJPY", 3, _d("0.01"), _d("9.1"), _d("100000"), _d("10"), _d("1.2"), _d("150.000")),
    SymbolSpec("USDCAD", 5, _d("0.0001"), _d("8.0"), _d("100000"), _d("10"), _d("1.8"), _d("1.36000")),
    SymbolSpec("AUDUSD", 5, _d("0.0001"), _d("10.0"), _d("100000"), _d("8"), _d("1.4"), _d("0.66000")),
    SymbolSpec("NZDUSD", 5, _d("0.0001"), _d("10.0"), _d("100000"), _d("8"), _d("1.8"), _d("0.61000")),
    SymbolSpec("EURJPY", 3, _d("0.01"), _d("9.5"), _d("100000"), _d("5"), _d("2.0"), _d("162.000")),
    SymbolSpec("GBPJPY", 3, _d("0.01"), _d("9.0"), _d("100000"), _d("3"), _d("3.0"), _d("190.000")),
    SymbolSpec("AUDJPY", 3, _d("0.01"), _d("9.2"), _d("100000"), _d("5"), _d("2.0"), _d("99.000")),
)}


def guess_pip_size(symbol: str, digits: int, point: Decimal, table: dict[str, Decimal] | None = None) -> Decimal:
    """Pip size for a broker symbol: config table first, then the 5/3-digit rule (a pip is 10 points when the
    quote has an odd number of digits, else one point). Gold at 2 or 3 digits gives 0.01, as facts §3.4 says."""
    if table and symbol in table:
        return table[symbol]
    spec = DEFAULT_SYMBOLS.get(symbol)
    if spec is not None:
        return spec.pip_size
    return point * 10 if digits % 2 == 1 else point
