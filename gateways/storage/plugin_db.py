"""The common schema of every plugin database (``data_dir/plugins/<plugin>.db``), after zepix-facts §6.3.

Every plugin writes these tables, whatever its family, so that db sync, reports and the V4 import read all
plugins the same way: ``signals`` (every alert the plugin saw, with its decision or skip reason), ``trades``
(one row per order: Order A and Order B of a dual entry are two rows with one ``trade_id``), ``daily_stats`` and
``kv`` (small plugin state such as trend stores). A family adds its own tables as further migrations in
``FAMILY_MIGRATIONS``.

Money and prices are stored as decimal strings (TEXT), times as ISO 8601 UTC. ``trades.updated_at`` (unix
seconds) changes with every write of the row, so db sync can copy incrementally.
"""
from __future__ import annotations

from pathlib import Path

from gateways.storage.migrations import Migration

COMMON = [
    Migration(1, "common", """
CREATE TABLE signals (
    id INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL,
    received_time TEXT NOT NULL,
    signal_type TEXT NOT NULL,
    symbol TEXT NOT NULL,
    direction TEXT,
    timeframe TEXT,
    signal_json TEXT NOT NULL,
    decision TEXT NOT NULL,           -- traded | skipped | rejected | recorded (trend/state updates) | shadow
    skip_reason TEXT,
    trade_id TEXT,
    plugin_version TEXT NOT NULL
);
CREATE UNIQUE INDEX signals_alert ON signals(alert_id);
CREATE TABLE trades (
    id INTEGER PRIMARY KEY,
    trade_id TEXT NOT NULL,           -- one entry decision; Order A and B share it
    order_role TEXT NOT NULL,         -- A | B | single | reentry
    intent_id TEXT NOT NULL UNIQUE,
    alert_id TEXT,
    ticket INTEGER,
    symbol TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('BUY', 'SELL')),
    lot_size TEXT NOT NULL,
    entry_price TEXT,
    sl_price TEXT,
    tp_price TEXT,
    sl_source TEXT,                   -- e.g. alert, sl-1, fixed_dollar
    tp_source TEXT,                   -- e.g. tp1, tp2, rr
    entry_time TEXT,
    exit_price TEXT,
    exit_time TEXT,
    profit TEXT,                      -- realised, account currency
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'OPEN', 'PARTIAL', 'CLOSED', 'REJECTED')),  -- + CHECKING (3)
    close_reason TEXT,
    logic TEXT,
    plugin_version TEXT NOT NULL,
    shadow INTEGER NOT NULL DEFAULT 0,
    detail TEXT NOT NULL DEFAULT '{}',  -- JSON: multipliers, consensus, filters that decided the size
    updated_at REAL NOT NULL
);
CREATE INDEX trades_status ON trades(status);
CREATE INDEX trades_updated ON trades(updated_at, id);
CREATE INDEX trades_ticket ON trades(ticket);
CREATE TABLE daily_stats (
    date TEXT PRIMARY KEY,            -- trader's date (system.timezone)
    signals INTEGER NOT NULL DEFAULT 0,
    trades INTEGER NOT NULL DEFAULT 0,
    wins INTEGER NOT NULL DEFAULT 0,
    losses INTEGER NOT NULL DEFAULT 0,
    profit TEXT NOT NULL DEFAULT '0'
);
CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""),
]

# family -> its own migrations, numbered after COMMON (2, 3, ...). The family of a database is the family of the
# plugin that owns the path (combined_v3's database stays "v3" while its legacy fallback writes into it).
FAMILY_MIGRATIONS: dict[str, list[Migration]] = {
    # trading (issue 5), after zepix-facts §6.3
    "v3": [Migration(2, "v3_signal_details", """
CREATE TABLE v3_signal_details (
    alert_id TEXT PRIMARY KEY,
    signal_type TEXT NOT NULL,
    timeframe TEXT,
    consensus_score INTEGER,
    strength INTEGER,                 -- consensus in the trade's direction (9 - score for sells)
    position_multiplier TEXT,
    multiplier_source TEXT,
    logic_route TEXT,                 -- LOGIC1 | LOGIC2 | LOGIC3
    routing_reason TEXT,              -- signal_override | higher_tf_override | timeframe_routing | default
    logic_multiplier TEXT,
    mtf_15m INTEGER, mtf_1h INTEGER, mtf_4h INTEGER, mtf_1d INTEGER,
    mtf_raw_string TEXT
);
""")],
    "legacy": [Migration(2, "legacy_trend_events", """
CREATE TABLE trend_events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    symbol TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    trend TEXT NOT NULL,              -- BULLISH | BEARISH | NEUTRAL
    mode TEXT NOT NULL,               -- AUTO | MANUAL
    alert_id TEXT,
    note TEXT
);
CREATE INDEX trend_events_symbol ON trend_events(symbol, timeframe, id);
""")],
    "v6": [Migration(2, "v6_market_trends", """
CREATE TABLE market_trends (
    symbol TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    bull_count INTEGER,
    bear_count INTEGER,
    market_state TEXT,
    direction INTEGER,                -- 1 | 0 | -1
    last_updated TEXT NOT NULL,
    PRIMARY KEY (symbol, timeframe)
);
CREATE TABLE v6_signal_filters (
    alert_id TEXT PRIMARY KEY,
    adx TEXT,
    adx_strength TEXT,
    confidence_score INTEGER,
    spread_pips TEXT,
    failed_filter TEXT                -- NULL when every filter passed
);
""")],
}


# Common migrations added after the family ones, numbered after them in every family: (name, sql)
LATER_COMMON = [
    # An entry's orders are written while trading/risk checks them (CHECKING), since trading/risk sends the
    # approved ones to the gateway itself. SQLite cannot change a CHECK constraint in place: the table is rebuilt.
    ("trades_checking_status", """
CREATE TABLE trades_new (
    id INTEGER PRIMARY KEY,
    trade_id TEXT NOT NULL,
    order_role TEXT NOT NULL,
    intent_id TEXT NOT NULL UNIQUE,
    alert_id TEXT,
    ticket INTEGER,
    symbol TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('BUY', 'SELL')),
    lot_size TEXT NOT NULL,
    entry_price TEXT,
    sl_price TEXT,
    tp_price TEXT,
    sl_source TEXT,
    tp_source TEXT,
    entry_time TEXT,
    exit_price TEXT,
    exit_time TEXT,
    profit TEXT,
    status TEXT NOT NULL CHECK (status IN ('CHECKING', 'PENDING', 'OPEN', 'PARTIAL', 'CLOSED', 'REJECTED')),
    close_reason TEXT,
    logic TEXT,
    plugin_version TEXT NOT NULL,
    shadow INTEGER NOT NULL DEFAULT 0,
    detail TEXT NOT NULL DEFAULT '{}',
    updated_at REAL NOT NULL
);
INSERT INTO trades_new SELECT * FROM trades;
DROP TABLE trades;
ALTER TABLE trades_new RENAME TO trades;
CREATE INDEX trades_status ON trades(status);
CREATE INDEX trades_updated ON trades(updated_at, id);
CREATE INDEX trades_ticket ON trades(ticket);
"""),
]


def migrations_for(family: str) -> list[Migration]:
    first = COMMON + FAMILY_MIGRATIONS.get(family, [])
    return first + [Migration(len(first) + i + 1, name, sql) for i, (name, sql) in enumerate(LATER_COMMON)]


def path_for(data_dir: str | Path, plugin: str) -> Path:
    return Path(data_dir) / "plugins" / f"{plugin}.db"
