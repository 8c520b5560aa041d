"""The ChildSpec of the position manager (trading/positions); the trading subtree module adds it to its list."""
from __future__ import annotations

from supervision.childspec import ChildSpec

ACTOR = "actors.positions.PositionManager"


def positions_spec(cfg: dict, defaults: dict) -> ChildSpec:
    return ChildSpec(name="positions", actor=ACTOR, **defaults)
