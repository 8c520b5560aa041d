"""The broker subtree: broker/gateway (the only actor that talks to the broker) and broker/pricefeed.

With `[broker] placement = "member"` the gateway requires the Thespian capability ``mt5`` and is placed on the
convention member started next to the MT5 terminal (``python run.py member --capability mt5``).
"""
from __future__ import annotations

from config.errors import ConfigError
from supervision.childspec import ChildSpec

PLACEMENTS = ("local", "member")


def children(cfg: dict, defaults: dict) -> list[ChildSpec]:
    b = cfg.get("broker", {})
    placement = b.get("placement", "local")
    if placement not in PLACEMENTS:
        raise ConfigError("broker.placement", placement, " | ".join(PLACEMENTS))
    requires = {"mt5": True} if placement == "member" else {}
    # connecting happens on timers after setup, so a slow terminal never makes the gateway look hung
    return [
        ChildSpec(name="gateway", actor="actors.gateway.BrokerGateway", requires=requires, **defaults),
        ChildSpec(name="pricefeed", actor="actors.pricefeed.PriceFeed", **defaults),
    ]
