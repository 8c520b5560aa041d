"""The paper broker: a deterministic simulated MT5-like account (the system's default broker, and the backtester's).

Quotes come from one of three sources (`PaperSettings.price_source`):
  alert  - each symbol follows the price of its latest alert (`observe_price`), with a small seeded random walk
           in between; before any alert it starts at the configured start price.
  walk   - a seeded random walk from the start price.
  replay - MetaTrader 5 tick or M1-bar exports (see gateways.broker.replay); symbols without a file walk.
Time never comes from the wall clock: the owner calls `advance(to)` and gets the ticks it produced plus the
deals that SL/TP and pending orders made on them. Same settings + same seed + same calls = same results.

The account is a hedging account in the account currency: P/L = price move in points x tick value x lots,
margin = lots x price / tick size x tick value / leverage (tick value fixed per symbol, from the symbol table).
State lives in SQLite (WAL): positions, pending orders, deals, executed intent ids, balance, clock and the price
feeds, so a restart keeps open positions and carries on the same price path.
"""
from __future__ import annotations

import contextlib
import json
import logging
import random
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from heapq import merge
from pathlib import Path

from config.errors import ConfigError
from gateways.broker.interface import (
    UNCHANGED, AccountInfo, BrokerUnavailable, CloseReason, Deal, DealEntry, LevelArg,
    MarketOrder, Order, OrderResult, OrderTag, PendingKind, PendingOrder, Position, RetcodeClass, Side,
    SymbolInfo, Tick, UnknownSymbol, flat_fields, to_decimal, utc,
)
from gateways.broker.paper_settings import PaperSettings
from gateways.broker.replay import Quote, ReplayFormatError, read_quotes
from gateways.broker.symbols import SymbolSpec
from gateways.storage.sqlite import Transaction

__all__ = ["PaperBroker", "PaperSettings", "Advance"]

log = logging.getLogger(__name__)

# MT5's own numbers, so logs and the trader see the same codes on paper and live.
DONE, PLACED, NO_CHANGES, REQUOTE = 10009, 10008, 10025, 10004
INVALID_VOLUME, INVALID_PRICE, INVALID_STOPS = 10014, 10015, 10016
NO_MONEY, INVALID_EXPIRATION, INVALID_ORDER, POSITION_CLOSED = 10019, 10022, 10035, 10036

SCHEMA_VERSION = 1
_CENT = Decimal("0.01")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
SAVE_EVERY = 1.0    # seconds the clock and the feeds may wait for the broker's next write (see _save_clock_and_feeds)


def _us(dt: datetime) -> int:
    d = utc(dt) - _EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _money(x: Decimal) -> Decimal:
    return x.quantize(_CENT, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Advance:
    """What one `advance()` (or `observe_price()`) produced, in time order."""

    ticks: tuple[Tick, ...]
    deals: tuple[Deal, ...]


# --------------------------------------------------------------------------- price feeds

class _Feed:
    """One symbol's quote stream, in integer points. `step_until(t)` yields the quotes in (last, t]."""

    def __init__(self, spec: SymbolSpec, spread_points: int, start: datetime):
        self.spec = spec
        self.spread = spread_points
        self.bid = int(spec.start_price / spec.point)
        self.ask = self.bid + spread_points
        self.last = start

    def step_until(self, t: datetime) -> list[Quote]:
        raise NotImplementedError

    def observe(self, bid_points: int, at: datetime) -> Quote | None:
        return None

    def state(self) -> dict:
        return {"bid": self.bid, "ask": self.ask, "last": _us(self.last)}

    def close(self) -> None:
        pass

    def load(self, st: dict) -> None:
        self.bid, self.ask, self.last = st["bid"], st["ask"], _from_us(st["last"])


class _WalkFeed(_Feed):
    """Gaussian steps of `sigma` points on a fixed grid of `interval` from the broker's start time."""

    def __init__(self, spec: SymbolSpec, spread_points: int, start: datetime, seed: int, sigma_points: float,
                 interval: timedelta, follows_alerts: bool):
        super().__init__(spec, spread_points, start)
        # str seeds are hashed with SHA-512 by random.seed, so the path does not depend on PYTHONHASHSEED.
        self.rng = random.Random(f"{seed}:{spec.symbol}")
        self.sigma = sigma_points
        self.interval = interval
        self.follows_alerts = follows_alerts
        self.grid = start  # time of the last grid step (the grid is independent of alert times)
        self._rng_saved: list | None = None   # the rng's state as last saved, until it draws again

    def step_until(self, t: datetime) -> list[Quote]:
        out = []
        while self.grid + self.interval <= t:
            self.grid += self.interval
            step = round(self.rng.gauss(0.0, self.sigma)) if self.sigma > 0 else 0
            self._rng_saved = None
            self.bid = max(1, self.bid + step)
            self.ask = self.bid + self.spread
            self.last = self.grid
            out.append(Quote(self.grid, self.bid, self.ask))
        return out

    def observe(self, bid_points: int, at: datetime) -> Quote | None:
        if not self.follows_alerts:
            return None
        self.bid = max(1, bid_points)
        self.ask = self.bid + self.spread
        self.last = max(self.last, at)
        return Quote(self.last, self.bid, self.ask)

    def state(self) -> dict:
        st = super().state()
        if self._rng_saved is None:     # 625 numbers: copied only when the walk has drawn since
            version, internal, gauss_next = self.rng.getstate()
            self._rng_saved = [version, list(internal), gauss_next]
        st.update(grid=_us(self.grid), rng=self._rng_saved)
        return st

    def load(self, st: dict) -> None:
        super().load(st)
        self.grid = _from_us(st["grid"])
        version, internal, gauss_next = st["rng"]
        self.rng.setstate((version, tuple(internal), gauss_next))
        self._rng_saved = None


class _ReplayFeed(_Feed):
    def __init__(self, spec: SymbolSpec, spread_points: int, start: datetime, path: str, utc_offset_minutes: int):
        super().__init__(spec, spread_points, start)
        self.path = path
        self.offset = utc_offset_minutes
        self.consumed = 0
        self._it: Iterator[Quote] = read_quotes(path, spec.point, spread_points, utc_offset_minutes)
        self._peek: Quote | None = next(self._it, None)
        self.step_until(start)  # records at or before the start are the current quote, not future ticks

    def step_until(self, t: datetime) -> list[Quote]:
        out = []
        while self._peek is not None and self._peek.time <= t:
            q = self._peek
            self.bid, self.ask, self.last = q.bid, q.ask, q.time
            self.consumed += 1
            out.append(q)
            self._peek = next(self._it, None)
        return out

    @property
    def exhausted(self) -> bool:
        return self._peek is None

    def close(self) -> None:
        self._it.close()  # the generator holds the export file open

    def state(self) -> dict:
        st = super().state()
        st["consumed"] = self.consumed
        return st

    def load(self, st: dict) -> None:
        super().load(st)
        self._it.close()
        self._it = read_quotes(self.path, self.spec.point, self.spread, self.offset)
        for _ in range(st["consumed"]):
            next(self._it, None)
        self.consumed = st["consumed"]
        self._peek = next(self._it, None)


# --------------------------------------------------------------------------- storage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (
    ticket INTEGER PRIMARY KEY, symbol TEXT NOT NULL, side TEXT NOT NULL, volume TEXT NOT NULL,
    price_open TEXT NOT NULL, sl TEXT, tp TEXT, magic INTEGER NOT NULL, comment TEXT NOT NULL,
    opened_us INTEGER NOT NULL, intent_id TEXT);
CREATE TABLE IF NOT EXISTS orders (
    ticket INTEGER PRIMARY KEY, symbol TEXT NOT NULL, side TEXT NOT NULL, kind TEXT NOT NULL,
    volume TEXT NOT NULL, price TEXT NOT NULL, sl TEXT, tp TEXT, magic INTEGER NOT NULL, comment TEXT NOT NULL,
    placed_us INTEGER NOT NULL, expiration_us INTEGER, intent_id TEXT);
CREATE TABLE IF NOT EXISTS deals (
    ticket INTEGER PRIMARY KEY, order_ticket INTEGER NOT NULL, position_id INTEGER NOT NULL,
    symbol TEXT NOT NULL, side TEXT NOT NULL, entry TEXT NOT NULL, volume TEXT NOT NULL, price TEXT NOT NULL,
    profit TEXT NOT NULL, commission TEXT NOT NULL, swap TEXT NOT NULL, magic INTEGER NOT NULL,
    comment TEXT NOT NULL, time_us INTEGER NOT NULL, reason TEXT, intent_id TEXT);
CREATE INDEX IF NOT EXISTS deals_time ON deals (time_us);
CREATE TABLE IF NOT EXISTS intents (intent_id TEXT PRIMARY KEY, result TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feeds (symbol TEXT PRIMARY KEY, state TEXT NOT NULL);
"""


def _opt(x: Decimal | None) -> str | None:
    return None if x is None else str(x)


def _dopt(s: str | None) -> Decimal | None:
    return None if s is None else Decimal(s)


def _result_json(r: OrderResult) -> str:
    d = flat_fields(r)
    d["retcode_class"] = r.retcode_class.value
    for k in ("volume", "price"):
        d[k] = _opt(d[k])
    return json.dumps(d)


def _result_from_json(s: str) -> OrderResult:
    d = json.loads(s)
    d["retcode_class"] = RetcodeClass(d["retcode_class"])
    d["volume"], d["price"] = _dopt(d["volume"]), _dopt(d["price"])
    return OrderResult(**d)


# --------------------------------------------------------------------------- the broker

class PaperBroker:
    """Simulated broker. Single caller (the gateway actor, or a backtest loop); one instance per database."""

    name = "paper"

    def __init__(self, settings: PaperSettings | None = None, start: datetime | None = None):
        self.settings = settings or PaperSettings()
        # Without a start time the clock begins at the first advance()/observe_price(); until then it sits at
        # the epoch, so nothing here ever reads the wall clock.
        self._start = utc(start) if start is not None else None
        self._db: sqlite3.Connection | None = None
        self._now = self._start or _EPOCH
        self._clock_started = self._start is not None
        self._balance = self.settings.initial_balance
        self._next_ticket = 100001
        self._positions: dict[int, Position] = {}
        self._orders: dict[int, Order] = {}
        self._feeds: dict[str, _Feed] = {}
        self._subscribed: set[str] = set()
        self._infos: dict[str, object] = {}
        s = self.settings
        self._slip_rng = random.Random(f"{s.seed}:slippage")
        self._dirty: set[str] | None = None      # feeds (and the clock) moved since they were last written
        self._saved_at = float("-inf")           # time.monotonic() of that write

    # ------------------------------------------------------------------ lifecycle

    def connect(self) -> None:
        if self._db is not None:
            return
        path = self.settings.database
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        self._db = db
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if not meta:
            self._fresh_state()
        else:
            version = int(meta.get("schema_version", "0"))
            if version != SCHEMA_VERSION:
                raise BrokerUnavailable(f"paper database {path} has schema {version}, expected {SCHEMA_VERSION}")
            self._load_state(meta)
        log.info("paper broker connected db=%s clock=%s balance=%s positions=%d orders=%d",
                 path, self._now.isoformat(), self._balance, len(self._positions), len(self._orders))

    def disconnect(self) -> None:
        if self._db is None:
            return
        self._save_clock_and_feeds()
        self._write_pending()
        for f in self._feeds.values():
            f.close()
        self._db.close()
        self._db = None

    def is_connected(self) -> bool:
        return self._db is not None

    @property
    def now(self) -> datetime:
        return self._now

    def _fresh_state(self) -> None:
        self._now = self._start or _EPOCH
        self._clock_started = self._start is not None
        self._balance = self.settings.initial_balance
        self._build_feeds(self._now)
        with self._tx() as db:
            db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("schema_version", str(SCHEMA_VERSION)), ("balance", str(self._balance)),
                ("next_ticket", str(self._next_ticket)), ("clock_us", str(_us(self._now))),
                ("started_us", str(_us(self._now)) if self._clock_started else ""),
                ("slip_rng", json.dumps(self._rng_state(self._slip_rng)))])
        self._save_clock_and_feeds()
        self._write_pending()   # the first state, whole, at once

    def _start_clock(self, t: datetime) -> None:
        """First time ever seen (no `start` given): the clock and the price grid begin here."""
        for f in self._feeds.values():
            f.close()
        self._now = t
        self._clock_started = True
        self._build_feeds(t)
        # with the start, at once: feeds saved before it (on the epoch grid) would make a restart walk every
        # tick from 1970
        self._save_clock_and_feeds()
        with self._tx() as db:
            db.execute("UPDATE meta SET value=? WHERE key='started_us'", (str(_us(t)),))

    def _load_state(self, meta: dict[str, str]) -> None:
        db = self._require()
        self._now = _from_us(int(meta["clock_us"]))
        self._balance = Decimal(meta["balance"])
        self._next_ticket = int(meta["next_ticket"])
        v, internal, g = json.loads(meta["slip_rng"])
        self._slip_rng.setstate((v, tuple(internal), g))
        self._clock_started = bool(meta["started_us"])
        self._build_feeds(_from_us(int(meta["started_us"])) if self._clock_started else _EPOCH)
        for sym, st in db.execute("SELECT symbol, state FROM feeds"):
            if sym in self._feeds:
                self._feeds[sym].load(json.loads(st))
        for row in db.execute("SELECT * FROM positions"):
            p = Position(ticket=row[0], symbol=row[1], side=Side(row[2]), volume=Decimal(row[3]),
                         price_open=Decimal(row[4]), price_current=Decimal(row[4]), sl=_dopt(row[5]),
                         tp=_dopt(row[6]), profit=Decimal(0), swap=Decimal(0), magic=row[7], comment=row[8],
                         opened_at=_from_us(row[9]), intent_id=row[10])
            self._positions[p.ticket] = p
        for row in db.execute("SELECT * FROM orders"):
            o = Order(ticket=row[0], symbol=row[1], side=Side(row[2]), kind=PendingKind(row[3]),
                      volume=Decimal(row[4]), price=Decimal(row[5]), sl=_dopt(row[6]), tp=_dopt(row[7]),
                      magic=row[8], comment=row[9], placed_at=_from_us(row[10]),
                      expiration=None if row[11] is None else _from_us(row[11]), intent_id=row[12])
            self._orders[o.ticket] = o

    def _build_feeds(self, start: datetime) -> None:
        s = self.settings
        interval = timedelta(microseconds=int(s.tick_interval_seconds * 1_000_000))
        self._feeds = {}
        for sym, spec in s.symbols.items():
            spread = int((spec.spread_pips * spec.pip_size / spec.point).to_integral_value())
            if s.price_source == "replay" and sym in s.replay_files:
                try:
                    self._feeds[sym] = _ReplayFeed(spec, spread, start, s.replay_files[sym],
                                                   s.replay_utc_offset_minutes)
                except (OSError, ReplayFormatError) as e:
                    raise ConfigError(f"broker.paper.replay_files.{sym}", s.replay_files[sym],
                                      f"a readable MT5 'Export ticks' or 'Export bars' CSV ({e})") from None
            else:
                step = s.alert_walk_step_pips if s.price_source == "alert" else s.walk_step_pips
                sigma = float(step * spec.pip_size / spec.point)
                self._feeds[sym] = _WalkFeed(spec, spread, start, s.seed, sigma, interval,
                                             follows_alerts=s.price_source == "alert")

    @staticmethod
    def _rng_state(rng: random.Random) -> list:
        v, internal, g = rng.getstate()
        return [v, list(internal), g]

    def _require(self) -> sqlite3.Connection:
        if self._db is None:
            raise BrokerUnavailable("paper broker is not connected (call connect())")
        return self._db

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; the clock and the feeds that moved since they were last saved go with it."""
        with Transaction(self._require()) as db:
            dirty, self._dirty = self._dirty, None
            try:
                if dirty is not None:
                    self._write_clock_and_feeds(db, dirty)
                yield db
            except BaseException:
                if dirty is not None:      # rolled back: still to be written
                    self._dirty = dirty | (self._dirty or set())
                raise
        if dirty is not None:
            self._saved_at = time.monotonic()

    def _save_clock_and_feeds(self, symbols: list[str] | None = None) -> None:
        """The clock moved and `symbols` (None: every feed) with it. Saved with the next write of the broker
        (an order, a close, a deal) or, with none, at most SAVE_EVERY seconds later (and at disconnect): an alert
        price or a clock tick on its own used to cost a commit and ~6 kB of JSON per feed (its RNG state), on the
        path of every order. A crash loses at most those seconds of the price path, never an order or a deal."""
        if self._dirty is None:
            self._dirty = set()
        if symbols is None:
            self._dirty.update(self._feeds)
        else:
            self._dirty.update(symbols)
        if time.monotonic() - self._saved_at >= SAVE_EVERY:
            self._write_pending()

    def _write_pending(self) -> None:
        """The clock and the feeds waiting for the broker's next write, written now on their own."""
        with self._tx():
            pass

    def _write_clock_and_feeds(self, db: sqlite3.Connection, symbols: set[str]) -> None:
        db.execute("UPDATE meta SET value=? WHERE key='clock_us'", (str(_us(self._now)),))
        db.executemany("INSERT OR REPLACE INTO feeds VALUES (?, ?)",
                       [(sym, json.dumps(self._feeds[sym].state())) for sym in sorted(symbols) if sym in self._feeds])

    def _alloc(self, n: int = 1) -> list[int]:
        tickets = list(range(self._next_ticket, self._next_ticket + n))
        self._next_ticket += n
        self._require().execute("UPDATE meta SET value=? WHERE key='next_ticket'", (str(self._next_ticket),))
        return tickets

    # ------------------------------------------------------------------ prices and time

    def _spec(self, symbol: str) -> SymbolSpec:
        try:
            return self.settings.symbols[symbol]
        except KeyError:
            raise UnknownSymbol(f"unknown symbol {symbol!r}; configured: "
                                + ", ".join(sorted(self.settings.symbols))) from None

    def _price(self, spec: SymbolSpec, points: int) -> Decimal:
        return Decimal(points).scaleb(-spec.digits)

    def _sync(self, symbol: str) -> _Feed:
        """Bring a symbol's feed up to the clock (quotes of symbols nobody watched need no trigger checks)."""
        feed = self._feeds[symbol]
        feed.step_until(self._now)
        return feed

    def subscribe(self, *symbols: str) -> None:
        """Also produce ticks for these symbols in advance() (symbols with positions/orders always tick)."""
        for s in symbols:
            self._spec(s)
            self._subscribed.add(s)

    def symbol_info(self, symbol: str) -> SymbolInfo:
        self._require()
        return self._spec(symbol).info()

    def tick(self, symbol: str) -> Tick:
        self._require()
        spec = self._spec(symbol)
        f = self._sync(symbol)
        return Tick(symbol, self._price(spec, f.bid), self._price(spec, f.ask), f.last)

    def advance(self, to: datetime) -> Advance:
        """Move the clock to `to`, producing ticks for watched symbols and executing SL/TP/pending orders."""
        self._require()
        to = utc(to)
        if not self._clock_started:
            self._start_clock(to)
            return Advance((), ())
        if to <= self._now:
            return Advance((), ())
        active = sorted(self._subscribed | {p.symbol for p in self._positions.values()}
                        | {o.symbol for o in self._orders.values()})
        for sym in active:
            self._sync(sym)  # catch up to the current clock first, so only (now, to] is new
        # each stream binds its own symbol: a bare generator expression here saw only the loop's last symbol,
        # so every symbol's quotes were applied to that one (an SL hit at another symbol's price)
        streams = [[(q.time, sym, q) for q in self._feeds[sym].step_until(to)] for sym in active]
        # a walk feed steps once per tick interval: most advances move only the clock, and a feed's state (its RNG,
        # ~6 kB of JSON) is written only when it moved
        moved = [sym for sym, stream in zip(active, streams) if stream]
        ticks: list[Tick] = []
        deals: list[Deal] = []
        for t, sym, q in merge(*streams, key=lambda x: (x[0], x[1])):
            self._now = t
            deals.extend(self._on_quote(sym, q))
            spec = self.settings.symbols[sym]
            ticks.append(Tick(sym, self._price(spec, q.bid), self._price(spec, q.ask), t))
        self._now = to
        deals.extend(self._expire_orders())
        self._save_clock_and_feeds(moved)
        return Advance(tuple(ticks), tuple(deals))

    def observe_price(self, symbol: str, price: Decimal | float | str, at: datetime) -> Advance:
        """An alert saw `price` (taken as the bid) at `at`: advance to `at`, then jump the quote there.

        Only the `alert` price source follows alerts; for the others this only advances the clock. A late alert
        (`at` before the clock) moves the price at the current time rather than rewriting history.
        """
        self._require()
        spec = self._spec(symbol)
        at = utc(at)
        if not self._clock_started:
            self._start_clock(at)
        before = self.advance(at) if at > self._now else Advance((), ())
        feed = self._sync(symbol)
        points = int((to_decimal(price) / spec.point).to_integral_value(rounding=ROUND_HALF_EVEN))
        q = feed.observe(points, self._now)
        if q is None:
            return before
        deals = self._on_quote(symbol, q)
        self._save_clock_and_feeds([symbol])   # advance() saved the feeds it moved; this one moved now
        tick = Tick(symbol, self._price(spec, q.bid), self._price(spec, q.ask), q.time)
        return Advance(before.ticks + (tick,), before.deals + tuple(deals))

    def _on_quote(self, symbol: str, q: Quote) -> list[Deal]:
        spec = self.settings.symbols[symbol]
        deals: list[Deal] = []
        deals.extend(self._expire_orders())
        bid, ask = self._price(spec, q.bid), self._price(spec, q.ask)
        for o in sorted((o for o in self._orders.values() if o.symbol == symbol), key=lambda o: o.ticket):
            if self._order_triggered(o, bid, ask):
                deals.extend(self._fill_pending(o, spec, q))
        for p in sorted((p for p in self._positions.values() if p.symbol == symbol), key=lambda p: p.ticket):
            market = bid if p.side is Side.BUY else ask
            reason = None
            if p.sl is not None and (market <= p.sl if p.side is Side.BUY else market >= p.sl):
                reason = CloseReason.SL
            elif p.tp is not None and (market >= p.tp if p.side is Side.BUY else market <= p.tp):
                reason = CloseReason.TP
            if reason is not None:
                # Filled at the tick that crossed the level: on a gap that is worse than the SL, as live.
                deals.append(self._close(p, p.volume, market, reason, p.magic, p.comment, None))
        return deals

    @staticmethod
    def _order_triggered(o: Order, bid: Decimal, ask: Decimal) -> bool:
        if o.side is Side.BUY:
            return ask <= o.price if o.kind is PendingKind.LIMIT else ask >= o.price
        return bid >= o.price if o.kind is PendingKind.LIMIT else bid <= o.price

    def _expire_orders(self) -> list[Deal]:
        expired = [o for o in self._orders.values() if o.expiration is not None and o.expiration <= self._now]
        for o in expired:
            del self._orders[o.ticket]
            self._require().execute("DELETE FROM orders WHERE ticket=?", (o.ticket,))
            log.info("paper pending order expired ticket=%d intent=%s", o.ticket, o.intent_id)
        return []

    # ------------------------------------------------------------------ account

    def _position_view(self, p: Position) -> Position:
        spec = self.settings.symbols[p.symbol]
        f = self._sync(p.symbol)
        cur = self._price(spec, f.bid if p.side is Side.BUY else f.ask)
        return replace(p, price_current=cur, profit=self._pnl(spec, p.side, p.price_open, cur, p.volume))

    def _pnl(self, spec: SymbolSpec, side: Side, open_: Decimal, close: Decimal, volume: Decimal) -> Decimal:
        direction = 1 if side is Side.BUY else -1
        info = self._info(spec)
        return _money((close - open_) * direction / info.tick_size * info.tick_value * volume)

    def _info(self, spec: SymbolSpec):
        """The symbol's SymbolInfo, built once (the settings do not change while the broker runs)."""
        info = self._infos.get(spec.symbol)
        if info is None or self.settings.symbols.get(spec.symbol) is not spec:
            info = self._infos[spec.symbol] = spec.info()
        return info

    def _margin(self, spec: SymbolSpec, price: Decimal, volume: Decimal) -> Decimal:
        info = self._info(spec)
        return _money(volume * price / info.tick_size * info.tick_value / self.settings.leverage)

    def account(self) -> AccountInfo:
        self._require()
        # one quote per symbol, not one position view per position: every order checks the margin, and with a
        # few hundred open positions the views made each order cost milliseconds (same figures as the views)
        floating = margin = Decimal(0)
        quotes: dict[str, tuple] = {}
        for p in self._positions.values():
            q = quotes.get(p.symbol)
            if q is None:
                spec = self.settings.symbols[p.symbol]
                f = self._sync(p.symbol)
                q = quotes[p.symbol] = (spec, self._price(spec, f.bid), self._price(spec, f.ask))
            spec, bid, ask = q
            floating += self._pnl(spec, p.side, p.price_open, bid if p.side is Side.BUY else ask, p.volume)
            margin += self._margin(spec, p.price_open, p.volume)
        equity = _money(self._balance + floating)
        return AccountInfo(balance=_money(self._balance), equity=equity, margin=_money(margin),
                           free_margin=_money(equity - margin), currency=self.settings.currency,
                           leverage=self.settings.leverage)

    def positions(self, symbol: str | None = None, magic: int | None = None) -> tuple[Position, ...]:
        self._require()
        return tuple(self._position_view(p) for t, p in sorted(self._positions.items())
                     if (symbol is None or p.symbol == symbol) and (magic is None or p.magic == magic))

    def position_tickets(self) -> frozenset[int]:
        self._require()
        return frozenset(self._positions)

    def position(self, ticket: int) -> Position | None:
        self._require()
        p = self._positions.get(ticket)
        return None if p is None else self._position_view(p)

    def order(self, ticket: int) -> Order | None:
        self._require()
        return self._orders.get(ticket)

    def orders(self, symbol: str | None = None, magic: int | None = None) -> tuple[Order, ...]:
        self._require()
        return tuple(o for t, o in sorted(self._orders.items())
                     if (symbol is None or o.symbol == symbol) and (magic is None or o.magic == magic))

    def deals(self, since: datetime, magic: int | None = None) -> tuple[Deal, ...]:
        db = self._require()
        sql = "SELECT * FROM deals WHERE time_us >= ?"
        args: list[object] = [_us(since)]
        if magic is not None:
            sql += " AND magic = ?"
            args.append(magic)
        rows = db.execute(sql + " ORDER BY time_us, ticket", args).fetchall()
        return tuple(Deal(ticket=r[0], order=r[1], position_id=r[2], symbol=r[3], side=Side(r[4]),
                          entry=DealEntry(r[5]), volume=Decimal(r[6]), price=Decimal(r[7]), profit=Decimal(r[8]),
                          commission=Decimal(r[9]), swap=Decimal(r[10]), magic=r[11], comment=r[12],
                          time=_from_us(r[13]), reason=None if r[14] is None else CloseReason(r[14]),
                          intent_id=r[15]) for r in rows)

    # ------------------------------------------------------------------ sends

    def _reject(self, tag: OrderTag, cls: RetcodeClass, retcode: int, reason: str) -> OrderResult:
        log.info("paper reject intent=%s class=%s code=%d reason=%s", tag.intent_id, cls.value, retcode, reason)
        return OrderResult(tag.intent_id, cls, reason, retcode)

    def _already(self, tag: OrderTag) -> OrderResult | None:
        row = self._require().execute("SELECT result FROM intents WHERE intent_id=?", (tag.intent_id,)).fetchone()
        return replace(_result_from_json(row[0]), duplicate=True) if row else None

    def _remember(self, result: OrderResult) -> OrderResult:
        # Only executed intents are remembered: a rejected intent may be sent again (e.g. after a requote).
        self._require().execute("INSERT INTO intents VALUES (?, ?)", (result.intent_id, _result_json(result)))
        return result

    def _stops_error(self, side: Side, ref: Decimal, sl: Decimal | None, tp: Decimal | None,
                     spec: SymbolSpec) -> str | None:
        """SL/TP must sit on the right side of `ref` (the price the position would close at) by stops_level."""
        gap = spec.point * spec.stops_level
        if side is Side.BUY:
            if sl is not None and not sl < ref - gap:
                return f"stop loss {sl} must be below {ref - gap} for a buy"
            if tp is not None and not tp > ref + gap:
                return f"take profit {tp} must be above {ref + gap} for a buy"
        else:
            if sl is not None and not sl > ref + gap:
                return f"stop loss {sl} must be above {ref + gap} for a sell"
            if tp is not None and not tp < ref - gap:
                return f"take profit {tp} must be below {ref - gap} for a sell"
        return None

    def _levels(self, spec: SymbolSpec, sl: object, tp: object) -> tuple[Decimal | None, Decimal | None]:
        info = self._info(spec)
        conv = lambda x: None if x is None or to_decimal(x) == 0 else info.round_price(x)  # noqa: E731
        return conv(sl), conv(tp)

    def _slippage_points(self, spec: SymbolSpec) -> int:
        s = self.settings
        pips = s.slippage_pips
        if s.slippage_jitter_pips > 0:
            pips += s.slippage_jitter_pips * Decimal(repr(self._slip_rng.random()))
            self._require().execute("UPDATE meta SET value=? WHERE key='slip_rng'",
                                    (json.dumps(self._rng_state(self._slip_rng)),))
        return int((pips * spec.pip_size / spec.point).to_integral_value(rounding=ROUND_HALF_EVEN))

    def market_order(self, request: MarketOrder) -> OrderResult:
        tag = request.tag
        self._require()
        if (dup := self._already(tag)) is not None:
            return dup
        try:
            spec = self._spec(request.symbol)
        except UnknownSymbol as e:
            return self._reject(tag, RetcodeClass.HARD, INVALID_ORDER, str(e))
        info = self._info(spec)
        volume, why = info.check_volume(request.volume)
        if why:
            return self._reject(tag, RetcodeClass.INVALID_VOLUME, INVALID_VOLUME, why)
        feed = self._sync(request.symbol)
        quote_pts = feed.ask if request.side is Side.BUY else feed.bid
        slip = self._slippage_points(spec)
        if request.deviation_points is not None and slip > request.deviation_points:
            return self._reject(tag, RetcodeClass.REQUOTE, REQUOTE,
                                f"requote: price moved {slip} points, more than the allowed deviation "
                                f"{request.deviation_points}")
        fill_pts = quote_pts + slip if request.side is Side.BUY else quote_pts - slip
        price = self._price(spec, fill_pts)
        sl, tp = self._levels(spec, request.sl, request.tp)
        close_ref = self._price(spec, feed.bid if request.side is Side.BUY else feed.ask)
        if (why := self._stops_error(request.side, close_ref, sl, tp, spec)) is not None:
            return self._reject(tag, RetcodeClass.INVALID_STOPS, INVALID_STOPS, why)
        need = self._margin(spec, price, volume)
        free = self.account().free_margin
        if need > free:
            return self._reject(tag, RetcodeClass.HARD, NO_MONEY,
                                f"not enough money: margin {need} {self.settings.currency} needed, {free} free")
        with self._tx():
            order_ticket, deal_ticket = self._alloc(2)
            pos = Position(ticket=order_ticket, symbol=request.symbol, side=request.side, volume=volume,
                           price_open=price, price_current=price, sl=sl, tp=tp, profit=Decimal(0),
                           swap=Decimal(0), magic=tag.magic, comment=tag.comment, opened_at=self._now,
                           intent_id=tag.intent_id)
            self._insert_position(pos)
            self._insert_deal(Deal(deal_ticket, order_ticket, order_ticket, request.symbol, request.side,
                                   DealEntry.IN, volume, price, Decimal(0), Decimal(0), Decimal(0), tag.magic,
                                   tag.comment, self._now, None, tag.intent_id))
            result = OrderResult(tag.intent_id, RetcodeClass.OK, "Request executed", DONE, order=order_ticket,
                                 position=order_ticket, deal=deal_ticket, volume=volume, price=price)
            self._remember(result)
        log.debug("paper fill intent=%s %s %s %s @ %s ticket=%d", tag.intent_id, request.side.value, volume,
                  request.symbol, price, order_ticket)
        return result

    def pending_order(self, request: PendingOrder) -> OrderResult:
        tag = request.tag
        self._require()
        if (dup := self._already(tag)) is not None:
            return dup
        try:
            spec = self._spec(request.symbol)
        except UnknownSymbol as e:
            return self._reject(tag, RetcodeClass.HARD, INVALID_ORDER, str(e))
        info = self._info(spec)
        volume, why = info.check_volume(request.volume)
        if why:
            return self._reject(tag, RetcodeClass.INVALID_VOLUME, INVALID_VOLUME, why)
        feed = self._sync(request.symbol)
        price = info.round_price(request.price)
        bid, ask = self._price(spec, feed.bid), self._price(spec, feed.ask)
        ref, above = (ask, request.kind is PendingKind.STOP) if request.side is Side.BUY else \
            (bid, request.kind is PendingKind.LIMIT)
        if (price <= ref) if above else (price >= ref):
            where = "above" if above else "below"
            return self._reject(tag, RetcodeClass.HARD, INVALID_PRICE,
                                f"invalid price: a {request.side.value.lower()} {request.kind.value.lower()} "
                                f"must be {where} the current {'ask' if request.side is Side.BUY else 'bid'} {ref}")
        sl, tp = self._levels(spec, request.sl, request.tp)
        if (why := self._stops_error(request.side, price, sl, tp, spec)) is not None:
            return self._reject(tag, RetcodeClass.INVALID_STOPS, INVALID_STOPS, why)
        expiration = None if request.expiration is None else utc(request.expiration)
        if expiration is not None and expiration <= self._now:
            return self._reject(tag, RetcodeClass.HARD, INVALID_EXPIRATION,
                                f"expiration {expiration.isoformat()} is not after now {self._now.isoformat()}")
        (ticket,) = self._alloc(1)
        order = Order(ticket=ticket, symbol=request.symbol, side=request.side, kind=request.kind, volume=volume,
                      price=price, sl=sl, tp=tp, magic=tag.magic, comment=tag.comment, placed_at=self._now,
                      expiration=expiration, intent_id=tag.intent_id)
        with self._tx() as db:
            db.execute("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", (
                ticket, order.symbol, order.side.value, order.kind.value, str(volume), str(price), _opt(sl),
                _opt(tp), tag.magic, tag.comment, _us(self._now),
                None if expiration is None else _us(expiration), tag.intent_id))
            self._orders[ticket] = order
            result = OrderResult(tag.intent_id, RetcodeClass.OK, "Request placed", PLACED, order=ticket,
                                 volume=volume, price=price)
            self._remember(result)
        return result

    def _fill_pending(self, o: Order, spec: SymbolSpec, q: Quote) -> list[Deal]:
        price = self._price(spec, q.ask if o.side is Side.BUY else q.bid)
        (deal_ticket,) = self._alloc(1)
        with self._tx() as db:
            db.execute("DELETE FROM orders WHERE ticket=?", (o.ticket,))
            del self._orders[o.ticket]
            pos = Position(ticket=o.ticket, symbol=o.symbol, side=o.side, volume=o.volume, price_open=price,
                           price_current=price, sl=o.sl, tp=o.tp, profit=Decimal(0), swap=Decimal(0),
                           magic=o.magic, comment=o.comment, opened_at=self._now, intent_id=o.intent_id)
            self._insert_position(pos)
            deal = Deal(deal_ticket, o.ticket, o.ticket, o.symbol, o.side, DealEntry.IN, o.volume, price,
                        Decimal(0), Decimal(0), Decimal(0), o.magic, o.comment, self._now, None, o.intent_id)
            self._insert_deal(deal)
        log.info("paper pending filled ticket=%d intent=%s @ %s", o.ticket, o.intent_id, price)
        return [deal]

    def modify_sltp(self, position: int, tag: OrderTag, sl: LevelArg = UNCHANGED,
                    tp: LevelArg = UNCHANGED) -> OrderResult:
        self._require()
        p = self._positions.get(position)
        if p is None:
            return self._reject(tag, RetcodeClass.HARD, POSITION_CLOSED, f"position {position} does not exist")
        spec = self.settings.symbols[p.symbol]
        new_sl, new_tp = self._levels(spec, p.sl if sl is UNCHANGED else sl, p.tp if tp is UNCHANGED else tp)
        if (new_sl, new_tp) == (p.sl, p.tp):
            return OrderResult(tag.intent_id, RetcodeClass.OK, "No changes", NO_CHANGES, position=position)
        feed = self._sync(p.symbol)
        ref = self._price(spec, feed.bid if p.side is Side.BUY else feed.ask)
        if (why := self._stops_error(p.side, ref, new_sl, new_tp, spec)) is not None:
            return self._reject(tag, RetcodeClass.INVALID_STOPS, INVALID_STOPS, why)
        with self._tx() as db:
            db.execute("UPDATE positions SET sl=?, tp=? WHERE ticket=?", (_opt(new_sl), _opt(new_tp), position))
            self._positions[position] = replace(p, sl=new_sl, tp=new_tp)
        return OrderResult(tag.intent_id, RetcodeClass.OK, "Request executed", DONE, position=position)

    def cancel_order(self, order: int, tag: OrderTag) -> OrderResult:
        self._require()
        o = self._orders.get(order)
        if o is None:
            return self._reject(tag, RetcodeClass.HARD, INVALID_ORDER, f"order {order} does not exist")
        with self._tx() as db:
            db.execute("DELETE FROM orders WHERE ticket=?", (order,))
            del self._orders[order]
        return OrderResult(tag.intent_id, RetcodeClass.OK, "Request executed", DONE, order=order)

    def close_position(self, position: int, tag: OrderTag, volume: Decimal | None = None) -> OrderResult:
        self._require()
        if (dup := self._already(tag)) is not None:
            return dup
        p = self._positions.get(position)
        if p is None:
            return self._reject(tag, RetcodeClass.HARD, POSITION_CLOSED, f"position {position} does not exist")
        spec = self.settings.symbols[p.symbol]
        info = self._info(spec)
        reason = CloseReason.MANUAL
        vol = p.volume
        if volume is not None and to_decimal(volume) < p.volume:
            vol = info.round_volume(volume)
            if vol < info.volume_min:
                return self._reject(tag, RetcodeClass.INVALID_VOLUME, INVALID_VOLUME,
                                    f"close volume {volume} rounds down to {vol}, below the minimum "
                                    f"{info.volume_min}")
            rest = p.volume - vol
            if rest < info.volume_min:
                return self._reject(tag, RetcodeClass.INVALID_VOLUME, INVALID_VOLUME,
                                    f"closing {vol} of {p.volume} would leave {rest}, below the minimum "
                                    f"{info.volume_min}; close the whole position instead")
            reason = CloseReason.PARTIAL
        feed = self._sync(p.symbol)
        slip = self._slippage_points(spec)
        pts = feed.bid - slip if p.side is Side.BUY else feed.ask + slip
        with self._tx():
            deal = self._close(p, vol, self._price(spec, pts), reason, tag.magic, tag.comment, tag.intent_id)
            result = OrderResult(tag.intent_id, RetcodeClass.OK, "Request executed", DONE, order=deal.order,
                                 position=position, deal=deal.ticket, volume=vol, price=deal.price)
            self._remember(result)
        return result

    def _close(self, p: Position, volume: Decimal, price: Decimal, reason: CloseReason, magic: int,
               comment: str, intent_id: str | None) -> Deal:
        spec = self.settings.symbols[p.symbol]
        with self._tx() as db:
            order_ticket, deal_ticket = self._alloc(2)
            profit = self._pnl(spec, p.side, p.price_open, price, volume)
            deal = Deal(deal_ticket, order_ticket, p.ticket, p.symbol, p.side.opposite, DealEntry.OUT, volume,
                        price, profit, Decimal(0), Decimal(0), magic, comment, self._now, reason,
                        intent_id or p.intent_id)
            self._balance += profit
            db.execute("UPDATE meta SET value=? WHERE key='balance'", (str(self._balance),))
            rest = p.volume - volume
            if rest > 0:
                db.execute("UPDATE positions SET volume=? WHERE ticket=?", (str(rest), p.ticket))
                self._positions[p.ticket] = replace(p, volume=rest)
            else:
                db.execute("DELETE FROM positions WHERE ticket=?", (p.ticket,))
                del self._positions[p.ticket]
            self._insert_deal(deal)
        log.debug("paper close ticket=%d reason=%s volume=%s @ %s profit=%s", p.ticket, reason.value, volume,
                  price, profit)
        return deal

    def _insert_position(self, p: Position) -> None:
        self._require().execute("INSERT INTO positions VALUES (?,?,?,?,?,?,?,?,?,?,?)", (
            p.ticket, p.symbol, p.side.value, str(p.volume), str(p.price_open), _opt(p.sl), _opt(p.tp), p.magic,
            p.comment, _us(p.opened_at), p.intent_id))
        self._positions[p.ticket] = p

    def _insert_deal(self, d: Deal) -> None:
        self._require().execute("INSERT INTO deals VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
            d.ticket, d.order, d.position_id, d.symbol, d.side.value, d.entry.value, str(d.volume), str(d.price),
            str(d.profit), str(d.commission), str(d.swap), d.magic, d.comment, _us(d.time),
            None if d.reason is None else d.reason.value, d.intent_id))
