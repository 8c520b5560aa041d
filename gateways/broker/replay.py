"""Reads MetaTrader 5 "Export ticks" / "Export bars" CSV files as a stream of (time, bid, ask) quotes.

Formats (tab-separated, one header line; DATE is YYYY.MM.DD, times are the broker's *server* time):
  ticks: <DATE> <TIME> <BID> <ASK> <LAST> <VOLUME> <FLAGS>       TIME is HH:MM:SS.mmm; a tick that changed only
         the ask (or only the bid) leaves the other cell empty, so empty cells carry the previous value.
  bars:  <DATE> <TIME> <OPEN> <HIGH> <LOW> <CLOSE> <TICKVOL> <VOL> <SPREAD>   prices are bid, SPREAD in points.
An M1 bar becomes four ticks: open at :00, the nearer extreme at :20, the other at :40, close at :59 (a rising
bar visits its low first, a falling bar its high first), the same path MT5's "1 minute OHLC" tester uses.
"""
from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path

_BAR_OFFSETS = (0, 20, 40, 59)


class ReplayFormatError(ValueError):
    """The file is not an MT5 tick or bar export; the message names file, line and what was expected."""


@dataclass(frozen=True)
class Quote:
    time: datetime  # UTC
    bid: int  # points
    ask: int  # points


def _open_text(path: Path) -> io.TextIOBase:
    # MT5 writes UTF-16LE with a BOM on some builds and UTF-8 on others; sniff instead of guessing.
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        enc = "utf-16"
    elif head.startswith(codecs.BOM_UTF8):
        enc = "utf-8-sig"
    else:
        enc = "utf-8"
    return open(path, encoding=enc, newline="")


def _split(line: str) -> list[str]:
    line = line.rstrip("\r\n")
    return line.split("\t") if "\t" in line else line.split(",")


def _parse_time(date_s: str, time_s: str, offset: timedelta) -> datetime:
    fmt = "%Y.%m.%d %H:%M:%S.%f" if "." in time_s else "%Y.%m.%d %H:%M:%S"
    naive = datetime.strptime(f"{date_s} {time_s}", fmt)
    return (naive - offset).replace(tzinfo=timezone.utc)


def _points(cell: str, point: Decimal) -> int:
    d = Decimal(cell)
    q = d / point
    if q != q.to_integral_value():
        # Prices finer than the symbol's point are a wrong symbol/digits pairing, not noise to round away.
        raise InvalidOperation(f"{cell} is finer than the point {point}")
    return int(q)


def detect_kind(header: list[str]) -> str:
    cols = [c.strip().upper() for c in header]
    if "<BID>" in cols and "<ASK>" in cols:
        return "ticks"
    if all(c in cols for c in ("<OPEN>", "<HIGH>", "<LOW>", "<CLOSE>")):
        return "bars"
    raise ReplayFormatError("header " + "\t".join(header) + " is neither <DATE> <TIME> <BID> <ASK> ... (ticks) "
                            "nor <DATE> <TIME> <OPEN> <HIGH> <LOW> <CLOSE> ... (bars)")


def read_quotes(path: str | Path, point: Decimal, default_spread_points: int,
                utc_offset_minutes: int = 0) -> Iterator[Quote]:
    """Yield quotes in file order (lazily: exports run to gigabytes). Raises ReplayFormatError on bad rows."""
    path = Path(path)
    offset = timedelta(minutes=utc_offset_minutes)
    with _open_text(path) as f:
        header_line = f.readline()
        if not header_line:
            raise ReplayFormatError(f"{path}: empty file")
        header = [c.strip().upper() for c in _split(header_line)]
        kind = detect_kind(header)
        idx = {name: i for i, name in enumerate(header)}
        if "<DATE>" not in idx or "<TIME>" not in idx:
            raise ReplayFormatError(f"{path}: header has no <DATE> and <TIME> columns")
        bid = ask = None
        last_time: datetime | None = None
        for lineno, line in enumerate(f, start=2):
            if not line.strip():
                continue
            cells = _split(line)

            def cell(name: str, cells: list[str] = cells) -> str:
                i = idx[name]
                return cells[i].strip() if i < len(cells) else ""

            try:
                t = _parse_time(cell("<DATE>"), cell("<TIME>"), offset)
                if last_time is not None and t < last_time:
                    raise ValueError(f"time goes backwards ({t} after {last_time})")
                last_time = t
                if kind == "ticks":
                    b, a = cell("<BID>"), cell("<ASK>")
                    if b:
                        bid = _points(b, point)
                    if a:
                        ask = _points(a, point)
                    if (b or a) and bid is not None and ask is not None:
                        yield Quote(t, bid, ask)
                else:
                    o, h, lo, c = (_points(cell(n), point) for n in ("<OPEN>", "<HIGH>", "<LOW>", "<CLOSE>"))
                    sp_cell = cell("<SPREAD>") if "<SPREAD>" in idx else ""
                    spread = int(sp_cell) if sp_cell and int(sp_cell) > 0 else default_spread_points
                    path_pts = (o, lo, h, c) if c >= o else (o, h, lo, c)
                    for sec, p in zip(_BAR_OFFSETS, path_pts, strict=True):
                        yield Quote(t + timedelta(seconds=sec), p, p + spread)
            except (ValueError, InvalidOperation, IndexError) as e:
                raise ReplayFormatError(f"{path}:{lineno}: {line.rstrip()!r}: {e}") from None
