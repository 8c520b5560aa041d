"""Forex sessions (facts §8.1, DECISIONS §18): which session is open, whether a symbol may be entered now,
advance alerts before a session starts, the force-close flag at a session's end, and the status shown in Telegram.

Times in the table are wall-clock times in `timezone` (default Asia/Kolkata); callers pass aware datetimes.
Sessions filter legacy and V6 entries; sources listed in `bypass` (default V3) skip the filter.

Configuration (every key optional; a session table given replaces the keys it names):

    [sessions]
    master_switch = true
    timezone = "Asia/Kolkata"
    advance_alert_minutes = 30
    force_close_minutes = 1
    bypass = ["v3"]
    all_symbols = ["USDJPY", ...]
    [sessions.windows.asian]
    name = "Asian Session"
    start = "05:00"
    end = "13:30"
    symbols = ["USDJPY", "AUDJPY", "AUDUSD", "NZDUSD"]
    advance_alert = true
    force_close = false
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from config.errors import ConfigError
from strategies.risk.config_fields import (boolean, check_keys, choice, clock, deep_merge, integer, mapping,
                                           sequence, symbol_name, timezone_name)

SOURCES = ("legacy", "v6", "v3")


@dataclass(frozen=True)
class SessionDef:
    id: str
    name: str
    start: time
    end: time  # a session with end < start runs past midnight
    symbols: tuple[str, ...]
    advance_alert: bool = True
    force_close: bool = False

    @property
    def wraps_midnight(self) -> bool:
        return self.end < self.start


def _s(id_: str, name: str, start: str, end: str, symbols: str, alert: bool, force: bool) -> SessionDef:
    h1, m1 = map(int, start.split(":"))
    h2, m2 = map(int, end.split(":"))
    return SessionDef(id_, name, time(h1, m1), time(h2, m2), tuple(symbols.split()), alert, force)


# facts §8.1 (session_settings.json v4.0).
DEFAULT_SESSIONS: tuple[SessionDef, ...] = (
    _s("asian", "Asian Session", "05:00", "13:30", "USDJPY AUDJPY AUDUSD NZDUSD", True, False),
    _s("london", "London Session", "13:30", "18:30", "EURUSD GBPUSD EURGBP GBPJPY EURJPY XAUUSD", True, False),
    _s("overlap", "Overlap Session", "18:30", "22:30", "EURUSD GBPUSD XAUUSD USDJPY", True, False),
    _s("ny_late", "NY Late Session", "22:30", "03:30", "USDJPY XAUUSD USDCAD", True, False),
    _s("dead_zone", "Dead Zone", "03:30", "05:00", "", False, True),
)
DEFAULT_ALL_SYMBOLS: tuple[str, ...] = (
    "USDJPY", "AUDJPY", "AUDUSD", "NZDUSD", "EURUSD", "GBPUSD", "EURGBP", "GBPJPY", "EURJPY", "XAUUSD", "USDCAD")


@dataclass(frozen=True)
class SessionSettings:
    master_switch: bool = True
    timezone: str = "Asia/Kolkata"
    sessions: tuple[SessionDef, ...] = DEFAULT_SESSIONS
    all_symbols: tuple[str, ...] = DEFAULT_ALL_SYMBOLS
    advance_alert_minutes: int = 30
    force_close_minutes: int = 1
    bypass: frozenset[str] = frozenset({"v3"})

    def session(self, session_id: str) -> SessionDef:
        for s in self.sessions:
            if s.id == session_id:
                return s
        raise KeyError(f"no session {session_id!r}; sessions: {', '.join(s.id for s in self.sessions)}")

    def to_mapping(self) -> dict[str, Any]:
        return {
            "master_switch": self.master_switch, "timezone": self.timezone,
            "advance_alert_minutes": self.advance_alert_minutes, "force_close_minutes": self.force_close_minutes,
            "bypass": sorted(self.bypass), "all_symbols": list(self.all_symbols),
            "windows": {s.id: {"name": s.name, "start": f"{s.start:%H:%M}", "end": f"{s.end:%H:%M}",
                               "symbols": list(s.symbols), "advance_alert": s.advance_alert,
                               "force_close": s.force_close} for s in self.sessions},
        }

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None, path: str = "sessions") -> "SessionSettings":
        raw = deep_merge(cls().to_mapping(), mapping(d if d is not None else {}, path))
        check_keys(raw, path, ("master_switch", "timezone", "advance_alert_minutes", "force_close_minutes", "bypass",
                               "all_symbols", "windows"))
        all_symbols = tuple(symbol_name(s, f"{path}.all_symbols") for s in sequence(raw["all_symbols"],
                                                                                    f"{path}.all_symbols"))
        sessions = []
        for sid, row in mapping(raw["windows"], f"{path}.windows").items():
            key = f"{path}.windows.{sid}"
            row = mapping(row, key)
            check_keys(row, key, ("name", "start", "end", "symbols", "advance_alert", "force_close"))
            start = clock(row.get("start"), f"{key}.start")
            end = clock(row.get("end"), f"{key}.end")
            if start == end:
                raise ConfigError(f"{key}.end", row.get("end"), "a time different from start")
            symbols = tuple(symbol_name(s, f"{key}.symbols") for s in sequence(row.get("symbols", []),
                                                                               f"{key}.symbols"))
            for s in symbols:
                if s not in all_symbols:
                    raise ConfigError(f"{key}.symbols", s, "symbols listed in " + f"{path}.all_symbols")
            name = row.get("name", sid)
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{key}.name", name, "a non-empty text")
            sessions.append(SessionDef(sid, name, start, end, symbols,
                                       boolean(row.get("advance_alert", True), f"{key}.advance_alert"),
                                       boolean(row.get("force_close", False), f"{key}.force_close")))
        return cls(
            master_switch=boolean(raw["master_switch"], f"{path}.master_switch"),
            timezone=timezone_name(raw["timezone"], f"{path}.timezone"),
            sessions=tuple(sessions), all_symbols=all_symbols,
            advance_alert_minutes=integer(raw["advance_alert_minutes"], f"{path}.advance_alert_minutes",
                                          minimum=1, maximum=720),
            force_close_minutes=integer(raw["force_close_minutes"], f"{path}.force_close_minutes",
                                        minimum=1, maximum=120),
            bypass=frozenset(choice(b, f"{path}.bypass", SOURCES) for b in sequence(raw["bypass"], f"{path}.bypass")),
        )


_DAY = 24 * 3600


def _local(settings: SessionSettings, now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("time must be timezone-aware")
    return now.astimezone(ZoneInfo(settings.timezone))


def _secs(t: time) -> int:
    return t.hour * 3600 + t.minute * 60


def _since_start(s: SessionDef, local: datetime) -> int:
    """Seconds since the session's start time last passed (0 .. one day), modulo midnight."""
    now_s = local.hour * 3600 + local.minute * 60 + local.second
    return (now_s - _secs(s.start)) % _DAY


def _length(s: SessionDef) -> int:
    return (_secs(s.end) - _secs(s.start)) % _DAY


def is_active(s: SessionDef, local: datetime) -> bool:
    """start <= now < end on the wall clock, wrapping midnight when end < start."""
    return _since_start(s, local) < _length(s)


def current_session(settings: SessionSettings, now: datetime) -> SessionDef | None:
    """The open session; when several overlap, the one that started most recently ("latest start wins",
    measured in real time so a session that wrapped past midnight does not beat one that began after it)."""
    local = _local(settings, now)
    active = [s for s in settings.sessions if is_active(s, local)]
    return min(active, key=lambda s: _since_start(s, local)) if active else None


@dataclass(frozen=True)
class SessionVerdict:
    allowed: bool
    reason: str
    session_id: str | None


def check_trade(settings: SessionSettings, symbol: str, now: datetime, source: str = "legacy") -> SessionVerdict:
    """May a new entry on `symbol` from `source` ("legacy", "v6", "v3") be taken now?"""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    session = current_session(settings, now)
    sid = session.id if session else None
    if not settings.master_switch:
        return SessionVerdict(True, "session filter off (master switch)", sid)
    if source in settings.bypass:
        return SessionVerdict(True, f"{source} entries bypass the session filter", sid)
    if session is None:
        return SessionVerdict(False, "No active session", None)
    if symbol.upper() not in session.symbols:
        allowed = ", ".join(session.symbols) or "none"
        return SessionVerdict(False, f"{symbol} is not traded in the {session.name} (allowed: {allowed})", sid)
    return SessionVerdict(True, f"{symbol} allowed in the {session.name}", sid)


@dataclass(frozen=True)
class SessionStarted:
    previous: str | None
    current: str | None
    name: str


def session_transition(settings: SessionSettings, previous_id: str | None,
                       now: datetime) -> tuple[str | None, SessionStarted | None]:
    """The current session id, and an event when it differs from `previous_id` (the actor keeps that id)."""
    session = current_session(settings, now)
    sid = session.id if session else None
    if sid == previous_id:
        return sid, None
    return sid, SessionStarted(previous_id, sid, session.name if session else "No session")


@dataclass(frozen=True)
class AdvanceAlert:
    session_id: str
    name: str
    starts_at: datetime  # aware, in the session timezone
    minutes_left: int


def _key(session_id: str, day: date) -> str:
    return f"{session_id}@{day.isoformat()}"


def advance_alerts(settings: SessionSettings, now: datetime,
                   sent: frozenset[str]) -> tuple[tuple[AdvanceAlert, ...], frozenset[str]]:
    """Alerts due for sessions starting within `advance_alert_minutes`, each at most once per session per day.

    `sent` is the actor's memory of what it already alerted ("id@YYYY-MM-DD" of the start day); the returned set
    replaces it, pruned of days before yesterday so it stays small. A poll that misses the exact minute still
    alerts, with the minutes actually left.
    """
    local = _local(settings, now)
    zone = ZoneInfo(settings.timezone)
    window = timedelta(minutes=settings.advance_alert_minutes)
    due: list[AdvanceAlert] = []
    new_sent = {k for k in sent if k.rsplit("@", 1)[-1] >= (local.date() - timedelta(days=1)).isoformat()}
    if not settings.master_switch:
        return (), frozenset(new_sent)
    for s in settings.sessions:
        if not s.advance_alert:
            continue
        start = datetime.combine(local.date(), s.start, tzinfo=zone)
        if start <= local:
            start = datetime.combine(local.date() + timedelta(days=1), s.start, tzinfo=zone)
        left = start - local
        key = _key(s.id, start.date())
        if timedelta(0) < left <= window and key not in new_sent:
            new_sent.add(key)
            due.append(AdvanceAlert(s.id, s.name, start, -(-int(left.total_seconds()) // 60)))
    return tuple(due), frozenset(new_sent)


@dataclass(frozen=True)
class ForceClose:
    session_id: str
    name: str
    seconds_left: int


def force_close_due(settings: SessionSettings, now: datetime) -> ForceClose | None:
    """Raised while <= `force_close_minutes` remain in an open session with force close on (facts §8.1:
    the dead zone by default). The actor closes open positions; repeating the close on the next poll is harmless."""
    local = _local(settings, now)
    for s in settings.sessions:
        if s.force_close and is_active(s, local):
            left = _length(s) - _since_start(s, local)
            if left <= settings.force_close_minutes * 60:
                return ForceClose(s.id, s.name, left)
    return None


@dataclass(frozen=True)
class SessionStatus:
    master_switch: bool
    session_id: str | None
    session_name: str
    allowed_symbols: tuple[str, ...]
    total_symbols: int
    local_time: datetime


def status(settings: SessionSettings, now: datetime) -> SessionStatus:
    session = current_session(settings, now)
    if session is None:
        name, allowed = "None", ()
    else:
        name, allowed = session.name, session.symbols
    if not settings.master_switch:
        allowed = settings.all_symbols
    return SessionStatus(settings.master_switch, session.id if session else None, name, allowed,
                         len(settings.all_symbols), _local(settings, now))


def status_text(st: SessionStatus) -> str:
    """The facts §8.1 layout (Telegram Markdown)."""
    switch = f"{'🟢' if st.master_switch else '🔴'} **Master Switch:** {'ON' if st.master_switch else 'OFF'}"
    symbols = ", ".join(st.allowed_symbols) if st.allowed_symbols else "None"
    return "\n".join((switch, f"🕐 **Current Session:** {st.session_name}",
                      f"✅ **Allowed Symbols:** {symbols} ({len(st.allowed_symbols)}/{st.total_symbols})"))


# Editing (Telegram menus): each returns new settings; the actor validates by saving through from_mapping.

def shift_time(settings: SessionSettings, session_id: str, which: str, minutes: int) -> SessionSettings:
    """Move a session's start or end by `minutes` (the menus use +-30), wrapping at 24 h."""
    if which not in ("start", "end"):
        raise ValueError("which must be 'start' or 'end'")
    s = settings.session(session_id)
    t = getattr(s, which)
    total = (_secs(t) // 60 + minutes) % (24 * 60)
    moved = replace(s, **{which: time(total // 60, total % 60)})
    if moved.start == moved.end:
        raise ValueError(f"{session_id}: start and end would be equal")
    return _with_session(settings, moved)


def toggle_symbol(settings: SessionSettings, session_id: str, symbol: str) -> SessionSettings:
    s = settings.session(session_id)
    sym = symbol.upper()
    if sym not in settings.all_symbols:
        raise ValueError(f"{sym} is not one of the session symbols {', '.join(settings.all_symbols)}")
    symbols = tuple(x for x in s.symbols if x != sym) if sym in s.symbols else s.symbols + (sym,)
    return _with_session(settings, replace(s, symbols=symbols))


def set_master_switch(settings: SessionSettings, on: bool) -> SessionSettings:
    return replace(settings, master_switch=on)


def set_force_close(settings: SessionSettings, session_id: str, on: bool) -> SessionSettings:
    return _with_session(settings, replace(settings.session(session_id), force_close=on))


def _with_session(settings: SessionSettings, new: SessionDef) -> SessionSettings:
    return replace(settings, sessions=tuple(new if s.id == new.id else s for s in settings.sessions))


def gate_entries(settings: SessionSettings, decisions: list, symbol: str, source: str, now: datetime) -> list:
    """A strategy's decisions with each entry outside an allowed session for `symbol` replaced by a Skip naming the
    reason (DECISIONS §18: legacy and V6 are filtered, sources in `bypass` are not). Closes and state updates stay."""
    from strategies.decisions import Enter, Skip   # decisions imports nothing of this module; kept local anyway
    if not any(isinstance(d, Enter) for d in decisions):
        return decisions
    verdict = check_trade(settings, symbol, now, source)
    if verdict.allowed:
        return decisions
    return [Skip(f"session filter: {verdict.reason}") if isinstance(d, Enter) else d for d in decisions]
