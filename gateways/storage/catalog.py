"""Every database in a data dir and the migrations that belong to it, for ``zepix-admin db status|migrate``.

Known files: the central ``zepix_bot.db``, ``config_history.db`` and each ``plugins/<plugin>.db`` (the common
plugin schema plus its family's migrations). A plugin's family is its name or the longest family name it starts
with (``price_action_5m`` -> ``price_action``); a plugin of no known family gets the common list. Any other
``*.db`` (journals of other capabilities) is listed with its version and integrity only.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from gateways.storage import central_db, config_history, plugin_db
from gateways.storage.backup import databases
from gateways.storage.migrations import Migration, SchemaTooNew, integrity, migrate, status, version
from gateways.storage.sqlite import open_db


def family_of(plugin: str, families: dict | None = None) -> str:
    """The family whose migrations a plugin's database carries: the configured one (``[plugins.NAME] family``)
    when known, else the plugin's default (combined_v3 -> v3, legacy_v4 -> legacy, the rest -> v6), the same
    rule the plugin actor uses when it opens its database."""
    from strategies.plugins import default_family

    return (families or {}).get(plugin) or default_family(plugin)


def _owned() -> dict[Path, tuple[str, list[Migration] | None]]:
    """The other capabilities' databases: relative path -> (owner, migrations; None when it has none)."""
    # imported here: the owners' modules are actors (Thespian) and this module also serves the offline CLI
    from actors.positions_store import MIGRATIONS as positions
    from actors.risk import MIGRATIONS as risk
    from gateways.broker.ledger import MIGRATIONS as ledger
    from gateways.storage.journal import MIGRATIONS as journal

    return {Path("alerts.db"): ("alert journal", journal), Path("broker/gateway.db"): ("gateway ledger", ledger),
            Path("broker/paper.db"): ("paper broker account", None), Path("risk.db"): ("risk state", risk),
            Path("positions.db"): ("position manager", positions)}


def migrations_of(data_dir: Path, db: Path, families: dict | None = None) -> tuple[str, list[Migration] | None]:
    """(what it is, its migrations or None when it has none / this tool does not know the file)."""
    rel = db.relative_to(data_dir)
    if rel == Path(central_db.FILE):
        return "central", central_db.MIGRATIONS
    if rel == Path(config_history.FILE):
        return "config history", config_history.MIGRATIONS
    if len(rel.parts) == 2 and rel.parts[0] == "plugins":
        fam = family_of(db.stem, families)
        return f"plugin {db.stem} ({fam})", plugin_db.migrations_for(fam)
    owned = _owned().get(rel)
    if owned:
        return owned
    return "unknown owner", None


@dataclass
class DbReport:
    path: str
    kind: str
    version: int | None = None
    latest: int | None = None
    pending: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)   # integrity check
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and not self.problems

    def line(self) -> str:
        ver = "?" if self.version is None else str(self.version)
        latest = "-" if self.latest is None else str(self.latest)
        state = ("ERROR: " + self.error) if self.error else \
            ("CORRUPT: " + "; ".join(self.problems[:3])) if self.problems else \
            ("applied " + ", ".join(self.applied)) if self.applied else \
            ("pending " + ", ".join(self.pending)) if self.pending else "ok"
        return f"{self.path:<36} {self.kind:<32} v{ver:>3}/{latest:<3} {state}"


def check(data_dir: str | Path, apply: bool = False, families: dict | None = None) -> list[DbReport]:
    root = Path(data_dir)
    reports = []
    for db in databases(root):
        kind, migs = migrations_of(root, db, families)
        rep = DbReport(path=str(db.relative_to(root)), kind=kind)
        reports.append(rep)
        try:
            conn = open_db(db) if apply and migs is not None else sqlite3.connect(f"file:{db}?mode=ro", uri=True,
                                                                                   timeout=5)
        except sqlite3.Error as exc:
            rep.error = f"{type(exc).__name__}: {exc}"
            continue
        try:
            rep.problems = integrity(conn)
            rep.version = version(conn)
            if migs is not None:
                st = status(conn, migs, rep.path)
                rep.latest, rep.pending = st.latest, list(st.pending)
                if st.too_new:
                    raise SchemaTooNew(rep.path, st.version, st.latest)
                if apply and st.pending and not rep.problems:
                    rep.applied = migrate(conn, migs, rep.path)
                    rep.pending = []
                    rep.version = version(conn)
        except SchemaTooNew as exc:
            rep.error = str(exc)
        except sqlite3.Error as exc:
            rep.error = f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
    return reports
