"""Data for the ops tests: plugin databases written the way a plugin actor writes them, and a V4
``trading_bot.db`` with the schema of zepix-facts §6.1 (base table plus the columns added by later migrations)."""
from __future__ import annotations

import random
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

from gateways.storage.migrations import migrate
from gateways.storage.plugin_db import migrations_for, path_for
from gateways.storage.sqlite import open_db


def plugin_db(data_dir: Path, plugin: str) -> sqlite3.Connection:
    conn = open_db(path_for(data_dir, plugin))
    from strategies.plugins import default_family

    migrate(conn, migrations_for(default_family(plugin)))   # what the plugin actor itself applies
    return conn


def add_trades(conn: sqlite3.Connection, plugin: str, n: int, start: int = 0, profit: str = "1.25") -> list[str]:
    now = time.time()
    intents = []
    with conn:
        for i in range(start, start + n):
            intent = f"{plugin}-intent-{i}"
            conn.execute(
                "INSERT INTO trades (trade_id, order_role, intent_id, ticket, symbol, direction, lot_size, entry_price,"
                " status, profit, plugin_version, updated_at) VALUES (?, 'A', ?, ?, 'XAUUSD', 'BUY', '0.01', "
                "'2400.5', 'CLOSED', ?, 'test', ?)", (f"t{i}", intent, 1000 + i, profit, now))
            intents.append(intent)
    return intents


def touch_trade(conn: sqlite3.Connection, intent: str, profit: str) -> None:
    with conn:
        conn.execute("UPDATE trades SET profit = ?, updated_at = ? WHERE intent_id = ?", (profit, time.time(), intent))


V4_TRADES = """
CREATE TABLE trades (
    id INTEGER PRIMARY KEY AUTOINCREMENT, trade_id TEXT, symbol TEXT, entry_price REAL, exit_price REAL,
    sl_price REAL, tp_price REAL, lot_size REAL, direction TEXT, strategy TEXT, pnl REAL, status TEXT,
    open_time DATETIME, close_time DATETIME, chain_id TEXT, chain_level INTEGER, is_re_entry BOOLEAN,
    commission REAL, swap REAL, comment TEXT, order_type TEXT, profit_chain_id TEXT, profit_level INTEGER DEFAULT 0,
    session_id TEXT, sl_adjusted INTEGER DEFAULT 0, original_sl_distance REAL DEFAULT 0.0, logic_type TEXT,
    base_lot_size REAL DEFAULT 0.0, final_lot_size REAL DEFAULT 0.0, base_sl_pips REAL DEFAULT 0.0,
    final_sl_pips REAL DEFAULT 0.0, lot_multiplier REAL DEFAULT 1.0, sl_multiplier REAL DEFAULT 1.0
);
CREATE TABLE reentry_chains (chain_id TEXT PRIMARY KEY, symbol TEXT, direction TEXT, original_entry REAL,
    original_sl_distance REAL, max_level_reached INTEGER, total_profit REAL, status TEXT, created_at DATETIME,
    completed_at DATETIME);
CREATE TABLE sl_events (id INTEGER PRIMARY KEY, trade_id TEXT, symbol TEXT, sl_price REAL, original_entry REAL,
    hit_time DATETIME, recovery_attempted BOOLEAN, recovery_successful BOOLEAN);
CREATE TABLE system_state (key TEXT PRIMARY KEY, value TEXT, updated_at DATETIME);
CREATE TABLE profit_booking_chains (chain_id TEXT PRIMARY KEY, symbol TEXT NOT NULL, direction TEXT NOT NULL,
    base_lot REAL NOT NULL, current_level INTEGER DEFAULT 0, total_profit REAL DEFAULT 0, status TEXT DEFAULT 'ACTIVE',
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE trading_sessions (session_id TEXT PRIMARY KEY, symbol TEXT NOT NULL, direction TEXT NOT NULL,
    entry_signal TEXT, exit_reason TEXT, start_time DATETIME NOT NULL, end_time DATETIME, total_pnl REAL DEFAULT 0,
    total_trades INTEGER DEFAULT 0, status TEXT DEFAULT 'ACTIVE', metadata TEXT);
"""


def make_v4_db(path: Path, n: int = 60, seed: int = 7, bad: int = 2) -> dict:
    """A V4 database with ``n`` good trades (legacy and V3 rows mixed) and ``bad`` unimportable ones.
    Returns the expected figures, computed independently of the importer's own rules where possible."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    conn.executescript(V4_TRADES)
    expect = {"rows": 0, "pnl": Decimal(0), "v3": 0, "legacy": 0, "bad": 0}
    kinds = [("ZepixPremium", "buy", "legacy"), ("ZepixPremium", "sell", "legacy"),
             ("combinedlogic-1", "BUY", "v3"), ("combinedlogic-3", "SELL", "v3"),
             ("LOGIC2", "sell", "legacy"), ("LOGIC1", "BUY", "v3")]
    for i in range(n + bad):
        strategy, direction, fam = kinds[i % len(kinds)]
        closed = rng.random() < 0.8
        pnl = round(rng.uniform(-25, 30), 2) if closed else None
        lot = rng.choice([0.01, 0.02, 0.05, 0.1])
        if i >= n:
            direction, fam = "hold", "bad"   # not buy/sell: rejected by the import
        conn.execute(
            "INSERT INTO trades (trade_id, symbol, entry_price, exit_price, sl_price, tp_price, lot_size, direction,"
            " strategy, pnl, status, open_time, close_time, chain_id, chain_level, is_re_entry, commission, swap,"
            " order_type, profit_chain_id, logic_type) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (str(500000 + i), rng.choice(["XAUUSD", "EURUSD", "GBPJPY"]), 2400.12 + i, 2405.3 if closed else None,
             2390.0, 2410.0, lot, direction, strategy, pnl, "closed" if closed else "open",
             "2025-11-02 10:15:00", "2025-11-02 11:00:00" if closed else None, f"CH{i // 2}", 1, i % 7 == 0,
             -0.07, 0.0, rng.choice(["TP_TRAIL", "PROFIT_TRAIL", None]), f"PB{i}" if i % 3 == 0 else None,
             "LOGIC1" if fam == "v3" else None))
        expect["rows"] += 1
        expect["pnl"] += Decimal(str(pnl)) if pnl is not None else Decimal(0)
        expect[fam] += 1
    conn.execute("INSERT INTO reentry_chains (chain_id, symbol, direction) VALUES ('CH1', 'XAUUSD', 'buy')")
    conn.execute("INSERT INTO system_state (key, value) VALUES ('paused', 'false')")
    conn.commit()
    conn.close()
    return expect
