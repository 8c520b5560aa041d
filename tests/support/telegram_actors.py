"""Test doubles for the Telegram tests: stand-ins for the actors that own commands (trading/risk) and for the
broker gateway's queries, registered with [[supervision.extra]]."""
from __future__ import annotations

from decimal import Decimal

from actors import messages as m
from actors.base import ZepixActor, handles


class RiskDouble(ZepixActor):
    """Answers Command like trading/risk would: status, pause, resume; "slow" never answers (timeouts)."""

    def setup(self) -> None:
        self.state = "ACTIVE"
        self.by = []

    def on_command(self, msg, sender):
        if msg.name == "status":
            return m.CommandReply(corr=msg.corr, ok=True, text=f"trading state: {self.state}",
                                  data={"state": self.state})
        if msg.name == "pause":
            self.state = "PAUSED"
            self.by.append(msg.user)
            return m.CommandReply(corr=msg.corr, ok=True, text="trading paused")
        if msg.name == "resume":
            self.state = "ACTIVE"
            return m.CommandReply(corr=msg.corr, ok=True, text="trading resumed")
        if msg.name == "clear_daily_loss":
            return None     # never answers: the bot reports a timeout
        return super().on_command(msg, sender)

    def status_data(self) -> dict:
        return {"state": self.state, "by": list(self.by)}


class GatewayDouble(ZepixActor):
    """Answers BrokerQuery positions/deals with fixed data; closes any ticket it is asked to."""

    @handles(m.BrokerQuery)
    def _on_query(self, msg, sender):
        if msg.what == "positions":
            data = {"positions": [{"ticket": 11, "symbol": "XAUUSD", "side": "BUY", "volume": "0.10",
                                   "price_open": "2650.10", "profit": "12.50", "plugin": "combined_v3"}]}
        elif msg.what == "deals":
            data = {"deals": [{"symbol": "XAUUSD", "entry": "out", "profit": "12.50", "plugin": "combined_v3"},
                              {"symbol": "EURUSD", "entry": "out", "profit": "-4.00", "plugin": "price_action_5m"}]}
        else:
            data = {}
        self.tell(sender, m.BrokerReply(corr=msg.corr, ok=True, data=data))

    @handles(m.CloseIntent)
    def _on_close(self, msg, sender):
        self.closed = getattr(self, "closed", []) + [msg.ticket]
        self.tell(sender, m.OrderOutcome(intent_id=msg.intent_id, plugin=msg.plugin, status="closed",
                                         ticket=msg.ticket, symbol="XAUUSD", price=Decimal("2651.00")))

    def status_data(self) -> dict:
        return {"closed": list(getattr(self, "closed", []))}
