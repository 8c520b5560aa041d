"""The log file: where records go, who writes them and who rotates them.

With Thespian's logging every record an actor logs is a TCP message to Thespian's logger process, which writes
it: about ten records per alert cost the actors on the alert's path a transmit and an acknowledgement each, and
the logger 2 ms of CPU per alert. On a single host (``system.mode = "single"``, POSIX) each actor process writes
its records to ``<data dir>/logs/zepix.log`` itself instead (``logging.direct``, default on):

- every process appends through its own ``WatchedFileHandler``. The file is opened with O_APPEND, so lines from
  different processes never overwrite each other (a record that fits the 8 kB write buffer is one ``write``, so
  only a longer one, a big traceback, can be interleaved with another process's line), and the handler reopens
  the file when its name points to a new file;
- one owner rotates: the root supervisor calls ``rotate`` every ``logging.rotate_check_seconds`` (5 s). A file over
  ``logging.max_bytes`` is renamed to ``zepix.log.1`` (older ones shift up to ``logging.backups``), and every writer
  moves to the new file at its next record. A file can grow past ``max_bytes`` by what is written in one check;
- records an actor logs before its Init (which brings the configuration), the host process's, and everything in
  leader / member mode or on Windows still go through Thespian's logger, to the same file.

Two owners that each rotated (Thespian's ``RotatingFileHandler`` and ours) would write into each other's renamed
files, so with direct logging Thespian's logger gets a ``WatchedFileHandler`` too and leaves rotation to the root.
"""
from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
ROTATE_CHECK = 5.0      # default seconds between the root's size checks (logging.rotate_check_seconds)


def log_path(cfg: dict) -> Path:
    return Path(cfg["system"]["data_dir"]) / "logs" / "zepix.log"


def direct(cfg: dict) -> bool:
    """True when actors of this system write the log file themselves."""
    return (os.name == "posix" and cfg.get("system", {}).get("mode") == "single"
            and bool(cfg.get("logging", {}).get("direct", True)))


def rotate_check(cfg: dict) -> float:
    return float(cfg.get("logging", {}).get("rotate_check_seconds", ROTATE_CHECK))


def level(cfg: dict) -> int:
    return logging.getLevelName(str(cfg["logging"]["level"]).upper())


def handler_def(cfg: dict) -> dict:
    """The file handler of Thespian's logger (``logDefs``)."""
    path = str(log_path(cfg))
    lvl = str(cfg["logging"]["level"]).upper()
    if direct(cfg):
        return {"class": "logging.handlers.WatchedFileHandler", "filename": path, "encoding": "utf-8",
                "formatter": "line", "level": lvl}
    return {"class": "logging.handlers.RotatingFileHandler", "filename": path, "encoding": "utf-8",
            "maxBytes": cfg["logging"]["max_bytes"], "backupCount": cfg["logging"]["backups"],
            "formatter": "line", "level": lvl}


def open_handler(cfg: dict) -> logging.Handler:
    """This process's own writer of the log file."""
    path = log_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.WatchedFileHandler(str(path), encoding="utf-8")
    handler.setFormatter(logging.Formatter(LINE_FORMAT))
    handler.setLevel(level(cfg))
    return handler


def rotate(path: Path, max_bytes: int, backups: int) -> bool:
    """Rename ``path`` to ``path.1`` (shifting older files up, dropping the one past ``backups``) when it holds at
    least ``max_bytes``. True when it rotated. With ``backups`` 0 the file is emptied instead, as
    ``RotatingFileHandler`` would."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    if max_bytes <= 0 or size < max_bytes:
        return False
    if backups <= 0:
        os.truncate(path, 0)
        return True
    for i in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{i}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{i + 1}"))
    os.replace(path, path.with_name(f"{path.name}.1"))
    return True
