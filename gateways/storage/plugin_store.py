"""`PluginStore`: a plugin actor's reads and writes of its own database (schema: gateways/storage/plugin_db.py).

One plugin actor writes its file; everything the actor needs is a method here, so the SQL stays in one place.
Decimals are stored as strings, times as ISO 8601 UTC, JSON columns as compact JSON.
"""
from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateways.storage.migrations import migrate
from gateways.storage.plugin_db import migrations_for, path_for
from gateways.storage.sqlite import open_db

_TRADE_COLUMNS = ("trade_id", "order_role", "intent_id", "alert_id", "ticket", "symbol", "direction", "lot_size",
                  "entry_price", "sl_price", "tp_price", "sl_source", "tp_source", "entry_time", "exit_price",
                  "exit_time", "profit", "status", "close_reason", "logic", "plugin_version", "shadow", "detail")


def _s(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, default=str, separators=(",", ":"))
    return v


class PluginStore:
    def __init__(self, data_dir: str | Path, plugin: str, family: str):
        self.path = path_for(data_dir, plugin)
        self.db = open_db(self.path)
        migrate(self.db, migrations_for(family), str(self.path))
        self.tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def close(self) -> None:
        self.db.close()

    # -- signals -----------------------------------------------------------------------------------------------
    def signal(self, alert_id: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM signals WHERE alert_id=?", (alert_id,)).fetchone()

    def add_signal(self, *, alert_id: str, received: str, signal_type: str, symbol: str, direction: str | None,
                   timeframe: str | None, signal_json: dict, decision: str, skip_reason: str | None,
                   trade_id: str | None, version: str) -> None:
        self.db.execute(
            "INSERT INTO signals(alert_id, received_time, signal_type, symbol, direction, timeframe, signal_json, "
            "decision, skip_reason, trade_id, plugin_version) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (alert_id, received, signal_type, symbol, direction, timeframe, _s(signal_json), decision, skip_reason,
             trade_id, version))

    def set_signal(self, alert_id: str, decision: str, reason: str | None) -> None:
        self.db.execute("UPDATE signals SET decision=?, skip_reason=? WHERE alert_id=?", (decision, reason, alert_id))

    # -- trades ------------------------------------------------------------------------------------------------
    def add_trade(self, row: dict) -> None:
        cols = [c for c in _TRADE_COLUMNS if c in row]
        self.db.execute(f"INSERT INTO trades({', '.join(cols)}, updated_at) VALUES "
                        f"({', '.join('?' for _ in cols)}, ?)", [_s(row[c]) for c in cols] + [time.time()])

    def update_trade(self, intent_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{k}=?" for k in fields)
        self.db.execute(f"UPDATE trades SET {sets}, updated_at=? WHERE intent_id=?",
                        [_s(v) for v in fields.values()] + [time.time(), intent_id])

    def update_by_ticket(self, ticket: int, **fields: Any) -> None:
        sets = ", ".join(f"{k}=?" for k in fields)
        self.db.execute(f"UPDATE trades SET {sets}, updated_at=? WHERE ticket=? AND shadow=0",
                        [_s(v) for v in fields.values()] + [time.time(), ticket])

    def trade_by_intent(self, intent_id: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM trades WHERE intent_id=?", (intent_id,)).fetchone()

    def trade_by_ticket(self, ticket: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM trades WHERE ticket=? AND shadow=0", (ticket,)).fetchone()

    def trades_of(self, trade_id: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM trades WHERE trade_id=? ORDER BY id", (trade_id,)).fetchall()

    def trades_for_alert(self, alert_id: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM trades WHERE alert_id=? ORDER BY id", (alert_id,)).fetchall()

    def open_trades(self, symbol: str, sides: Iterable[str]) -> list[sqlite3.Row]:
        sides = tuple(sides)
        return self.db.execute(
            f"SELECT * FROM trades WHERE symbol=? AND status IN ('OPEN', 'PARTIAL') AND shadow=0 AND ticket IS NOT "
            f"NULL AND direction IN ({', '.join('?' for _ in sides)}) ORDER BY id", (symbol, *sides)).fetchall()

    def open_sides(self, symbol: str) -> set[str]:
        rows = self.db.execute("SELECT DISTINCT direction FROM trades WHERE symbol=? AND shadow=0 AND status IN "
                               "('CHECKING', 'PENDING', 'OPEN', 'PARTIAL')", (symbol,)).fetchall()
        return {r[0] for r in rows}

    def pending(self, statuses: tuple[str, ...] = ("PENDING",)) -> list[sqlite3.Row]:
        return self.db.execute(f"SELECT * FROM trades WHERE status IN ({', '.join('?' for _ in statuses)}) AND "
                               "shadow=0 ORDER BY id", statuses).fetchall()

    # -- kv (strategy state) -----------------------------------------------------------------------------------
    def kv_all(self) -> dict[str, Any]:
        return {r["key"]: json.loads(r["value"]) for r in self.db.execute("SELECT key, value FROM kv")}

    def kv_put(self, key: str, value: Any) -> None:
        if value is None:
            self.db.execute("DELETE FROM kv WHERE key=?", (key,))
        else:
            self.db.execute("INSERT INTO kv(key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                            "value=excluded.value, updated_at=excluded.updated_at",
                            (key, json.dumps(value, default=str), time.time()))

    # -- daily stats -------------------------------------------------------------------------------------------
    def bump_daily(self, date: str, *, signals: int = 0, trades: int = 0, wins: int = 0, losses: int = 0,
                   profit: Decimal = Decimal(0)) -> None:
        row = self.db.execute("SELECT profit FROM daily_stats WHERE date=?", (date,)).fetchone()
        if row is None:
            self.db.execute("INSERT INTO daily_stats(date, signals, trades, wins, losses, profit) VALUES "
                            "(?,?,?,?,?,?)", (date, signals, trades, wins, losses, str(profit)))
        else:
            self.db.execute("UPDATE daily_stats SET signals=signals+?, trades=trades+?, wins=wins+?, "
                            "losses=losses+?, profit=? WHERE date=?",
                            (signals, trades, wins, losses, str(Decimal(row["profit"]) + profit), date))

    def daily(self, date: str) -> dict:
        row = self.db.execute("SELECT * FROM daily_stats WHERE date=?", (date,)).fetchone()
        return dict(row) if row else {"date": date, "signals": 0, "trades": 0, "wins": 0, "losses": 0, "profit": "0"}

    def counts(self) -> dict:
        one = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        return {"signals": one("SELECT COUNT(*) FROM signals"),
                "orders": one("SELECT COUNT(*) FROM trades WHERE shadow=0"),
                "open": one("SELECT COUNT(*) FROM trades WHERE shadow=0 AND status IN ('OPEN', 'PARTIAL')"),
                "shadow_orders": one("SELECT COUNT(*) FROM trades WHERE shadow=1")}

    # -- family tables -----------------------------------------------------------------------------------------
    def family_row(self, table: str, row: dict, upsert: bool = True) -> bool:
        """Write a row of a family table if this database has it (a fallback writes into its primary's file)."""
        if table not in self.tables:
            return False
        cols = list(row)
        verb = "INSERT OR REPLACE" if upsert else "INSERT"
        self.db.execute(f"{verb} INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                        [_s(row[c]) for c in cols])
        return True
