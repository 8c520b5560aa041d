"""Online backups of every Zepix database with SQLite's backup API (consistent while the writers keep writing).

A backup set is a folder ``<backups>/<UTC time>/`` holding a copy of each database under its path relative to
the data dir; the oldest sets beyond ``retention`` are removed. Folders other than the data dir's databases
(logs, the backups themselves) are never copied.
"""
from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

SKIP_DIRS = {"backups", "logs"}


def databases(data_dir: str | Path) -> list[Path]:
    """Every ``*.db`` below the data dir, except in backups/ and logs/."""
    root = Path(data_dir)
    out = []
    for p in sorted(root.rglob("*.db")):
        rel = p.relative_to(root)
        if rel.parts[0] in SKIP_DIRS or not p.is_file():
            continue
        out.append(p)
    return out


def backup_all(data_dir: str | Path, dest_root: str | Path, retention: int, now: float | None = None,
               pages: int = 1024) -> dict:
    """Copy every database into a new backup set; returns {"set", "copied": [...], "errors": {...}, "removed"}."""
    now = time.time() if now is None else now
    root = Path(data_dir)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    target = Path(dest_root) / stamp
    n = 1
    while target.exists():   # two backups within one second
        target = Path(dest_root) / f"{stamp}-{n}"
        n += 1
    copied, errors = [], {}
    for db in databases(root):
        rel = db.relative_to(root)
        out = target / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            src = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            dst = sqlite3.connect(out)
            try:
                src.backup(dst, pages=pages)
            finally:
                dst.close()
                src.close()
            copied.append(str(rel))
        except sqlite3.Error as exc:
            errors[str(rel)] = f"{type(exc).__name__}: {exc}"
            out.unlink(missing_ok=True)
    removed = prune(dest_root, retention)
    return {"set": str(target), "copied": copied, "errors": errors, "removed": removed}


def prune(dest_root: str | Path, retention: int) -> list[str]:
    sets = sorted(p for p in Path(dest_root).iterdir() if p.is_dir()) if Path(dest_root).is_dir() else []
    doomed = sets[:-retention] if retention > 0 else sets
    for p in doomed:
        shutil.rmtree(p, ignore_errors=True)
    return [p.name for p in doomed]
