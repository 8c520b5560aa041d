"""The direction of an order or position, shared by risk, stops and position management."""
from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for BUY, -1 for SELL: price moves in this sign are in the trade's favour."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> "Side":
        return Side.SELL if self is Side.BUY else Side.BUY

    @classmethod
    def parse(cls, value: "str | Side") -> "Side":
        """Accept BUY/SELL in any case (legacy alerts send `buy`, V3 sends `BUY`)."""
        try:
            return cls(str(value).strip().upper())
        except ValueError:
            raise ValueError(f"side must be BUY or SELL, got {value!r}") from None
