"""supervision/logfiles.py: who writes the log file and how the one owner rotates it."""
from __future__ import annotations

import logging

import pytest

from supervision import logfiles


def cfg(tmp_path, mode="single", **log) -> dict:
    return {"system": {"data_dir": str(tmp_path), "mode": mode},
            "logging": {"level": "INFO", "max_bytes": 100, "backups": 2, **log}}


@pytest.mark.parametrize("mode, log, direct", [
    ("single", {}, True),
    ("single", {"direct": False}, False),
    ("leader", {}, False),        # actors may run on member hosts, whose data dir this config does not name
    ("member", {}, False),
])
def test_actors_write_the_file_themselves_only_on_a_single_host(tmp_path, mode, log, direct):
    c = cfg(tmp_path, mode, **log)
    assert logfiles.direct(c) is direct
    handler = logfiles.handler_def(c)
    # with direct writers, Thespian's logger must not rotate too: two owners would write into each other's files
    assert handler["class"] == ("logging.handlers.WatchedFileHandler" if direct
                                else "logging.handlers.RotatingFileHandler")
    assert handler["filename"] == str(tmp_path / "logs" / "zepix.log")


def test_rotate_shifts_the_old_files_and_keeps_only_backups(tmp_path):
    path = tmp_path / "zepix.log"
    path.write_text("x" * 50)
    assert logfiles.rotate(path, 100, 2) is False             # under max_bytes: left alone
    for generation in ("first", "second", "third"):
        path.write_text(generation * 40)
        assert logfiles.rotate(path, 100, 2) is True
        assert not path.exists()
    assert (tmp_path / "zepix.log.1").read_text().startswith("third")
    assert (tmp_path / "zepix.log.2").read_text().startswith("second")
    assert not (tmp_path / "zepix.log.3").exists()            # "first" was dropped
    assert logfiles.rotate(path, 100, 2) is False             # no file (nobody wrote since): nothing to do


def test_rotate_without_backups_empties_the_file(tmp_path):
    path = tmp_path / "zepix.log"
    path.write_text("y" * 200)
    assert logfiles.rotate(path, 100, 0) is True
    assert path.read_text() == ""


def test_writers_follow_the_rotation_to_the_new_file(tmp_path):
    c = cfg(tmp_path)
    one, two = logfiles.open_handler(c), logfiles.open_handler(c)     # as two actor processes would
    log = logging.getLogger("zepix.test.logfiles")
    log.propagate, log.handlers = False, [one, two]
    log.setLevel(logging.DEBUG)
    try:
        log.info("before %s", "x" * 80)
        log.debug("below the configured level: not written")
        path = logfiles.log_path(c)
        assert logfiles.rotate(path, 100, 2) is True
        log.info("after")
        assert path.read_text().count("after") == 2            # both writers reopened the new file
        old = (tmp_path / "logs" / "zepix.log.1").read_text()
        assert old.count("before") == 2 and "below" not in old
        assert old.splitlines()[0].split(" ")[2:5] == ["INFO", "zepix.test.logfiles", "before"]
    finally:
        log.handlers = []
        one.close()
        two.close()
