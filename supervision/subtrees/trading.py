"""Children of the trading subtree: the risk actor, the strategy plugins and the position manager."""
from __future__ import annotations

from supervision.childspec import ChildSpec
from supervision.subtrees.positions_spec import positions_spec


def children(cfg: dict, defaults: dict) -> list[ChildSpec]:
    out: list[ChildSpec] = []
    if cfg.get("positions", {}).get("enabled", True):
        out.append(positions_spec(cfg, defaults))
    return out
