"""The central database ``data_dir/zepix_bot.db`` (zepix-facts §6.3): plugin registry, every plugin's trades
copied into ``aggregated_trades``, system events and system config. ``ops/dbsync`` is its only writer.

Differences from the V5 plan, on purpose: ``aggregated_trades`` has one row per order (like the plugin
``trades`` tables it copies) keyed by ``(plugin_id, intent_id)``, so a copy is an idempotent upsert; money stays
a decimal string; ``sync_state`` keeps the per-plugin watermark of the incremental copy.
"""
from __future__ import annotations

from pathlib import Path

from gateways.storage.migrations import Migration

FILE = "zepix_bot.db"

MIGRATIONS = [
    Migration(1, "central", """
CREATE TABLE plugins_registry (
    plugin_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    plugin_type TEXT NOT NULL,        -- V3_COMBINED | V6_PRICE_ACTION | V4_LEGACY | OTHER
    version TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1,
    installed_date TEXT NOT NULL,
    last_active TEXT,
    database_path TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DISABLED', 'ERROR')),
    error_message TEXT
);
CREATE TABLE aggregated_trades (
    id INTEGER PRIMARY KEY,
    plugin_id TEXT NOT NULL REFERENCES plugins_registry(plugin_id),
    plugin_type TEXT NOT NULL,
    intent_id TEXT NOT NULL,
    trade_id TEXT NOT NULL,
    order_role TEXT NOT NULL,
    mt5_ticket INTEGER,
    symbol TEXT NOT NULL,
    direction TEXT NOT NULL,
    lot_size TEXT NOT NULL,
    entry_price TEXT,
    exit_price TEXT,
    entry_time TEXT,
    exit_time TEXT,
    profit_dollars TEXT,
    status TEXT NOT NULL,
    close_reason TEXT,
    logic TEXT,
    shadow INTEGER NOT NULL DEFAULT 0,
    source_id INTEGER NOT NULL,       -- trades.id in the plugin database
    source_updated_at REAL NOT NULL,  -- trades.updated_at when copied
    synced_at REAL NOT NULL,
    UNIQUE (plugin_id, intent_id)
);
CREATE INDEX aggregated_status ON aggregated_trades(status);
CREATE INDEX aggregated_symbol ON aggregated_trades(symbol);
CREATE INDEX aggregated_entry ON aggregated_trades(entry_time);
CREATE TABLE sync_state (
    plugin_id TEXT PRIMARY KEY,
    wm_updated_at REAL NOT NULL DEFAULT 0,
    wm_id INTEGER NOT NULL DEFAULT 0,
    last_sync REAL,
    rows_copied INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE system_config (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO system_config (key, value) VALUES ('bot_version', '5.0.0'), ('architecture', 'actors_v3_v6_v4'),
    ('v3_enabled', 'true'), ('v6_enabled', 'true');
CREATE TABLE system_events (
    id INTEGER PRIMARY KEY,
    event_time REAL NOT NULL,
    event_type TEXT NOT NULL,          -- supervision kinds (started, exited, hung, ...), sync_failed, backup ...
    plugin_id TEXT,                   -- the actor path for supervision events
    description TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('INFO', 'WARNING', 'ERROR', 'CRITICAL')),
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX system_events_time ON system_events(event_time);
"""),
    Migration(2, "v4_import", """
CREATE TABLE import_batches (
    batch_id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,             -- the V4 trading_bot.db imported
    source_sha256 TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL CHECK (status IN ('running', 'imported', 'undone', 'failed')),
    report TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE import_rows (
    batch_id INTEGER NOT NULL REFERENCES import_batches(batch_id),
    plugin TEXT NOT NULL,
    intent_id TEXT NOT NULL,
    PRIMARY KEY (plugin, intent_id)
);
"""),
]

# plugins known in advance (§6.3 seeds the registry with them); plugin databases found on disk are added
SEED_PLUGINS = ("combined_v3", "price_action_1m", "price_action_5m", "price_action_15m", "price_action_1h",
                "legacy_v4")


def plugin_type(plugin: str) -> str:
    if plugin.startswith("combined"):
        return "V3_COMBINED"
    if plugin.startswith("price_action"):
        return "V6_PRICE_ACTION"
    if plugin.startswith("legacy"):
        return "V4_LEGACY"
    return "OTHER"


def path(data_dir: str | Path) -> Path:
    return Path(data_dir) / FILE
