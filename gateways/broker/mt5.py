"""Broker adapter over the `MetaTrader5` package API (Windows, next to a running MT5 terminal).

The package exists only on Windows, so it is imported inside `connect()` (or injected), never when this module
is imported. The same code drives the mt5linux client (gateways.broker.mt5linux), whose objects are rpyc
proxies: everything here reads results by attribute and sends requests as plain dicts of int/float/str.

Sends are made safe to reason about:
- a requote / price change is retried with a fresh quote up to `max_requote_retries` times;
- an "unsupported filling mode" answer tries the symbol's next allowed filling mode;
- when the outcome is unknown (trade-server timeout, lost IPC/RPC answer) the adapter looks at the account
  (new position / order, changed SL/TP, reduced volume) before answering: found -> OK with reconciled=True,
  not found -> TIMEOUT, which callers must not blindly resend.
"""
from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from config.errors import ConfigError
from gateways.broker.interface import (
    MAX_COMMENT_LEN, UNCHANGED, AccountInfo, BrokerError, BrokerUnavailable, CloseReason, Deal, DealEntry,
    FillingMode, LevelArg, MarketOrder, Order, OrderResult, OrderTag, PendingKind, PendingOrder, Position,
    RetcodeClass, Side, SymbolInfo, Tick, UnknownSymbol, to_decimal, utc,
)
from gateways.broker.symbols import guess_pip_size

log = logging.getLogger(__name__)

# Values of the MetaTrader5 package constants (checked against the package's documented enums). Read from the
# module when it has them; the fallbacks cover clients that do not re-export every constant (mt5linux has no
# SYMBOL_FILLING_*).
CONSTANTS: dict[str, int] = {
    "TRADE_ACTION_DEAL": 1, "TRADE_ACTION_PENDING": 5, "TRADE_ACTION_SLTP": 6, "TRADE_ACTION_MODIFY": 7,
    "TRADE_ACTION_REMOVE": 8,
    "ORDER_TYPE_BUY": 0, "ORDER_TYPE_SELL": 1, "ORDER_TYPE_BUY_LIMIT": 2, "ORDER_TYPE_SELL_LIMIT": 3,
    "ORDER_TYPE_BUY_STOP": 4, "ORDER_TYPE_SELL_STOP": 5,
    "ORDER_FILLING_FOK": 0, "ORDER_FILLING_IOC": 1, "ORDER_FILLING_RETURN": 2,
    "ORDER_TIME_GTC": 0, "ORDER_TIME_SPECIFIED": 2,
    "SYMBOL_FILLING_FOK": 1, "SYMBOL_FILLING_IOC": 2,
    "SYMBOL_TRADE_EXECUTION_MARKET": 2, "SYMBOL_TRADE_EXECUTION_EXCHANGE": 3,
    "POSITION_TYPE_BUY": 0, "POSITION_TYPE_SELL": 1,
    "DEAL_TYPE_BUY": 0, "DEAL_TYPE_SELL": 1,
    "DEAL_ENTRY_IN": 0, "DEAL_ENTRY_OUT": 1, "DEAL_ENTRY_INOUT": 2, "DEAL_ENTRY_OUT_BY": 3,
    "DEAL_REASON_CLIENT": 0, "DEAL_REASON_MOBILE": 1, "DEAL_REASON_WEB": 2, "DEAL_REASON_EXPERT": 3,
    "DEAL_REASON_SL": 4, "DEAL_REASON_TP": 5, "DEAL_REASON_SO": 6,
}

# Trade server return codes (MQL5 "Trade Server Return Codes").
RETCODE_CLASSES: dict[int, RetcodeClass] = {
    10008: RetcodeClass.OK,  # PLACED
    10009: RetcodeClass.OK,  # DONE
    10010: RetcodeClass.OK,  # DONE_PARTIAL (volume says how much)
    10025: RetcodeClass.OK,  # NO_CHANGES
    10004: RetcodeClass.REQUOTE,  # REQUOTE
    10021: RetcodeClass.REQUOTE,  # PRICE_OFF: no quotes to process the request; a fresh quote is the cure
    10020: RetcodeClass.PRICE_CHANGED,
    10024: RetcodeClass.TOO_MANY_REQUESTS,
    10031: RetcodeClass.CONNECTION,  # no connection with the trade server: the request was not sent
    10012: RetcodeClass.TIMEOUT,  # request cancelled by timeout: it may still have executed
    10030: RetcodeClass.INVALID_FILL,
    10016: RetcodeClass.INVALID_STOPS,
    10014: RetcodeClass.INVALID_VOLUME,
    10034: RetcodeClass.INVALID_VOLUME,  # LIMIT_VOLUME
    10038: RetcodeClass.INVALID_VOLUME,  # INVALID_CLOSE_VOLUME
}
RETCODE_TEXT: dict[int, str] = {
    10004: "Requote", 10006: "Request rejected", 10007: "Request canceled by trader", 10008: "Order placed",
    10009: "Request completed", 10010: "Only part of the request was completed", 10011: "Request processing error",
    10012: "Request canceled by timeout", 10013: "Invalid request", 10014: "Invalid volume in the request",
    10015: "Invalid price in the request", 10016: "Invalid stops in the request", 10017: "Trade is disabled",
    10018: "Market is closed", 10019: "There is not enough money to complete the request",
    10020: "Prices changed", 10021: "There are no quotes to process the request",
    10022: "Invalid order expiration date in the request", 10023: "Order state changed",
    10024: "Too frequent requests", 10025: "No changes in request", 10026: "Autotrading disabled by server",
    10027: "Autotrading disabled by client terminal", 10028: "Request locked for processing",
    10029: "Order or position frozen", 10030: "Invalid order filling type",
    10031: "No connection with the trade server", 10032: "Operation is allowed only for live accounts",
    10033: "The number of pending orders has reached the limit",
    10034: "The volume of orders and positions for the symbol has reached the limit",
    10035: "Incorrect or prohibited order type", 10036: "Position with the specified identifier has already been closed",
    10038: "A close volume exceeds the current position volume",
    10039: "A close order already exists for the specified position",
    10040: "The number of open positions has reached the limit",
    10041: "The pending order activation request is rejected, the order is canceled",
    10042: "Only long positions are allowed", 10043: "Only short positions are allowed",
    10044: "Only position closing is allowed", 10045: "Position closing is allowed only by FIFO rule",
    10046: "Opposite positions on a single symbol are disabled",
}
# last_error() codes of the Python package (RES_*). The IPC ones say whether the request left this process.
RES_S_OK, RES_E_INVALID_PARAMS, RES_E_AUTO_TRADING_DISABLED = 1, -2, -8
RES_E_INTERNAL_FAIL, RES_E_INTERNAL_FAIL_SEND, RES_E_INTERNAL_FAIL_RECEIVE = -10000, -10001, -10002
RES_E_INTERNAL_FAIL_INIT, RES_E_INTERNAL_FAIL_CONNECT, RES_E_INTERNAL_FAIL_TIMEOUT = -10003, -10004, -10005
_NOT_SENT = {RES_E_INTERNAL_FAIL_SEND, RES_E_INTERNAL_FAIL_INIT, RES_E_INTERNAL_FAIL_CONNECT}
_UNKNOWN_OUTCOME = {RES_E_INTERNAL_FAIL, RES_E_INTERNAL_FAIL_RECEIVE, RES_E_INTERNAL_FAIL_TIMEOUT}

_FILLING_FLAG = {FillingMode.FOK: "SYMBOL_FILLING_FOK", FillingMode.IOC: "SYMBOL_FILLING_IOC"}
_FILLING_ORDER = {FillingMode.FOK: "ORDER_FILLING_FOK", FillingMode.IOC: "ORDER_FILLING_IOC",
                  FillingMode.RETURN: "ORDER_FILLING_RETURN"}


def classify_retcode(retcode: int) -> RetcodeClass:
    return RETCODE_CLASSES.get(int(retcode), RetcodeClass.HARD)


def classify_last_error(code: int) -> RetcodeClass:
    """Class of an order_send() that returned None, from last_error()'s code."""
    if code in _NOT_SENT:
        return RetcodeClass.CONNECTION
    if code in _UNKNOWN_OUTCOME:
        return RetcodeClass.TIMEOUT
    return RetcodeClass.HARD


def clean_comment(text: str) -> str:
    """What MT5 accepts as an order comment: printable ASCII, at most 31 characters."""
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)[:MAX_COMMENT_LEN]


# --------------------------------------------------------------------------- settings

def _cfg_int(key: str, v: object, minimum: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or (minimum is not None and v < minimum):
        raise ConfigError(key, v, "an integer" + (f" >= {minimum}" if minimum is not None else ""))
    return v


def _cfg_str(key: str, v: object) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ConfigError(key, v, "a non-empty string")
    return v


@dataclass(frozen=True)
class MT5Settings:
    login: int | None = None
    password: str | None = field(default=None, repr=False)  # from the environment only
    server: str | None = None
    terminal_path: str | None = None
    timeout_ms: int = 60_000
    deviation_points: int = 20
    max_requote_retries: int = 3
    filling_preference: tuple[FillingMode, ...] = (FillingMode.IOC, FillingMode.FOK, FillingMode.RETURN)
    server_utc_offset_minutes: int = 0
    pip_sizes: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))

    _KEYS = ("login", "server", "terminal_path", "timeout_ms", "deviation_points", "max_requote_retries",
             "filling_preference", "server_utc_offset_minutes", "pip_sizes")

    @classmethod
    def _parse(cls, d: Mapping[str, object], path: str, env: Mapping[str, str], extra: tuple[str, ...]) -> dict:
        if not isinstance(d, Mapping):
            raise ConfigError(path, d, "a table")
        if "password" in d:
            raise ConfigError(f"{path}.password", "***", "no password in config files: set MT5_PASSWORD in the "
                                                         "environment")
        allowed = cls._KEYS + extra
        for key in d:
            if key not in allowed:
                raise ConfigError(f"{path}.{key}", d[key], "one of " + ", ".join(sorted(allowed)))
        kw: dict[str, Any] = {}
        login = env.get("MT5_LOGIN", d.get("login"))
        if login is not None:
            key = "MT5_LOGIN" if "MT5_LOGIN" in env else f"{path}.login"
            try:
                kw["login"] = int(login)  # type: ignore[call-overload]
            except (TypeError, ValueError):
                raise ConfigError(key, login, "an account number") from None
        server = env.get("MT5_SERVER", d.get("server"))
        if server is not None:
            kw["server"] = _cfg_str("MT5_SERVER" if "MT5_SERVER" in env else f"{path}.server", server)
        if env.get("MT5_PASSWORD"):
            kw["password"] = env["MT5_PASSWORD"]
        if "terminal_path" in d:
            kw["terminal_path"] = _cfg_str(f"{path}.terminal_path", d["terminal_path"])
        if "timeout_ms" in d:
            kw["timeout_ms"] = _cfg_int(f"{path}.timeout_ms", d["timeout_ms"], 1000)
        if "deviation_points" in d:
            kw["deviation_points"] = _cfg_int(f"{path}.deviation_points", d["deviation_points"], 0)
        if "max_requote_retries" in d:
            kw["max_requote_retries"] = _cfg_int(f"{path}.max_requote_retries", d["max_requote_retries"], 0)
        if "server_utc_offset_minutes" in d:
            off = _cfg_int(f"{path}.server_utc_offset_minutes", d["server_utc_offset_minutes"])
            if not -840 <= off <= 840:
                raise ConfigError(f"{path}.server_utc_offset_minutes", off, "minutes between -840 and 840")
            kw["server_utc_offset_minutes"] = off
        if "filling_preference" in d:
            raw = d["filling_preference"]
            names = [m.value for m in FillingMode]
            if not isinstance(raw, (list, tuple)) or not raw or any(x not in names for x in raw) \
                    or len(set(raw)) != len(raw):
                raise ConfigError(f"{path}.filling_preference", raw, "a list of distinct " + ", ".join(names))
            kw["filling_preference"] = tuple(FillingMode(x) for x in raw)
        if "pip_sizes" in d:
            raw = d["pip_sizes"]
            if not isinstance(raw, Mapping):
                raise ConfigError(f"{path}.pip_sizes", raw, "a table of SYMBOL = pip size")
            pips: dict[str, Decimal] = {}
            for sym, v in raw.items():
                try:
                    pv = to_decimal(v) if not isinstance(v, bool) else None
                except (BrokerError, InvalidOperation):
                    pv = None
                if pv is None or not pv.is_finite() or pv <= 0:
                    raise ConfigError(f"{path}.pip_sizes.{sym}", v, "a positive number such as 0.0001")
                pips[sym] = pv
            kw["pip_sizes"] = MappingProxyType(pips)
        return kw

    @classmethod
    def from_mapping(cls, d: Mapping[str, object] | None, path: str = "broker.mt5",
                     env: Mapping[str, str] | None = None) -> "MT5Settings":
        """Validate `[broker.mt5]`; MT5_LOGIN / MT5_SERVER / MT5_PASSWORD from the environment override."""
        return cls(**cls._parse(d or {}, path, os.environ if env is None else env, ()))


# --------------------------------------------------------------------------- helpers

def _dec(x: object) -> Decimal:
    if isinstance(x, Decimal):
        return x
    if isinstance(x, float):
        return Decimal(repr(x))
    if isinstance(x, int):
        return Decimal(x)
    return Decimal(repr(float(x)))  # rpyc proxies of floats and numpy scalars


def _price_dec(x: object, point: Decimal) -> Decimal:
    return _dec(x).quantize(point, rounding=ROUND_HALF_EVEN)


def _money(x: object) -> Decimal:
    return _dec(x).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def _vol(x: object, info: SymbolInfo) -> Decimal:
    return _dec(x).quantize(info.volume_step, rounding=ROUND_HALF_EVEN)


def _level(x: object, point: Decimal) -> Decimal | None:
    d = _dec(x)
    return None if d == 0 else d.quantize(point, rounding=ROUND_HALF_EVEN)


class MT5Broker:
    """The `Broker` interface over a MetaTrader5-compatible module object."""

    name = "mt5"

    def __init__(self, settings: MT5Settings | None = None, module: Any = None):
        self.settings = settings or MT5Settings()
        self._mt5: Any = module
        self._injected = module is not None
        self._connected = False
        self._symbols: dict[str, SymbolInfo] = {}
        self._exec_modes: dict[str, int] = {}
        self._intents: dict[str, OrderResult] = {}  # executed intents of this session (idempotency)
        self._ticket_intent: dict[int, str] = {}  # order/position tickets we made -> intent id
        self._account_currency = ""

    # ------------------------------------------------------------------ plumbing

    def _load_module(self) -> Any:
        try:
            return importlib.import_module("MetaTrader5")
        except ImportError as e:
            raise BrokerUnavailable("the MetaTrader5 package is not installed (it exists only for Windows); "
                                    "on Linux use broker 'mt5linux'") from e

    def _c(self, name: str) -> int:
        v = getattr(self._mt5, name, None) if self._mt5 is not None else None
        return int(v) if isinstance(v, int) else CONSTANTS[name]

    def _last_error(self) -> tuple[int, str]:
        try:
            err = self._mt5.last_error()
            return int(err[0]), str(err[1])
        except Exception as e:  # noqa: BLE001 - a dead link cannot even report its error
            return RES_E_INTERNAL_FAIL, f"{type(e).__name__}: {e}"

    def _call(self, fn: str, *args: Any, **kwargs: Any) -> Any:
        """Call a query function; transport failures and None answers with IPC errors become BrokerUnavailable."""
        if self._mt5 is None or not self._connected:
            raise BrokerUnavailable(f"{self.name}: not connected")
        try:
            return getattr(self._mt5, fn)(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - rpyc and IPC raise many types; all mean "no answer"
            raise BrokerUnavailable(f"{self.name}: {fn} failed: {type(e).__name__}: {e}") from e

    def _none_error(self, fn: str) -> BrokerError:
        code, text = self._last_error()
        msg = f"{self.name}: {fn} returned nothing: last_error ({code}, {text!r})"
        return BrokerUnavailable(msg) if code <= RES_E_INTERNAL_FAIL else BrokerError(msg)

    def _to_utc(self, server_ts: int | float) -> datetime:
        # MT5 reports times as the trade server's wall clock written as epoch seconds.
        return datetime.fromtimestamp(float(server_ts), tz=timezone.utc) - timedelta(
            minutes=self.settings.server_utc_offset_minutes)

    def _to_server_ts(self, dt: datetime) -> int:
        return int((utc(dt) + timedelta(minutes=self.settings.server_utc_offset_minutes)).timestamp())

    # ------------------------------------------------------------------ lifecycle

    def _initialize_kwargs(self) -> tuple[tuple, dict]:
        s = self.settings
        args = (s.terminal_path,) if s.terminal_path else ()
        kw: dict[str, Any] = {"timeout": s.timeout_ms}
        if s.login is not None:
            kw["login"] = s.login
        if s.password:
            kw["password"] = s.password
        if s.server:
            kw["server"] = s.server
        return args, kw

    def connect(self) -> None:
        if self._connected:
            return
        if self._mt5 is None:
            self._mt5 = self._load_module()
        args, kw = self._initialize_kwargs()
        try:
            ok = self._mt5.initialize(*args, **kw)
        except Exception as e:  # noqa: BLE001
            raise BrokerUnavailable(f"{self.name}: initialize failed: {type(e).__name__}: {e}") from e
        if not ok:
            code, text = self._last_error()
            raise BrokerUnavailable(f"{self.name}: initialize failed: last_error ({code}, {text!r})")
        self._connected = True
        acc = self._call("account_info")
        if acc is None:
            err = self._none_error("account_info")
            self.disconnect()
            raise BrokerUnavailable(str(err))
        self._account_currency = str(acc.currency)
        log.info("%s connected login=%s server=%s currency=%s", self.name, acc.login, acc.server,
                 self._account_currency)

    def disconnect(self) -> None:
        if self._mt5 is not None and self._connected:
            try:
                self._mt5.shutdown()
            except Exception as e:  # noqa: BLE001 - shutting down a dead link is fine
                log.info("%s shutdown: %s", self.name, e)
        self._connected = False
        self._symbols.clear()

    def is_connected(self) -> bool:
        if not self._connected:
            return False
        try:
            ti = self._mt5.terminal_info()
        except Exception:  # noqa: BLE001
            return False
        return ti is not None and bool(ti.connected)

    # ------------------------------------------------------------------ queries

    def account(self) -> AccountInfo:
        acc = self._call("account_info")
        if acc is None:
            raise self._none_error("account_info")
        return AccountInfo(balance=_money(acc.balance), equity=_money(acc.equity), margin=_money(acc.margin),
                           free_margin=_money(acc.margin_free), currency=str(acc.currency),
                           leverage=int(acc.leverage), login=int(acc.login), server=str(acc.server))

    def symbol_info(self, symbol: str) -> SymbolInfo:
        cached = self._symbols.get(symbol)
        if cached is not None:
            return cached
        raw = self._call("symbol_info", symbol)
        if raw is None or not bool(raw.visible):
            # Symbols hidden from Market Watch have no ticks until selected.
            if not self._call("symbol_select", symbol, True):
                code, text = self._last_error()
                raise UnknownSymbol(f"{self.name}: unknown symbol {symbol!r}: last_error ({code}, {text!r})")
            raw = self._call("symbol_info", symbol)
            if raw is None:
                raise UnknownSymbol(f"{self.name}: unknown symbol {symbol!r}")
        digits = int(raw.digits)
        point = _dec(raw.point).quantize(Decimal(1).scaleb(-digits)) if digits else _dec(raw.point)
        flags = int(raw.filling_mode)
        modes = {m for m, flag in _FILLING_FLAG.items() if flags & self._c(flag)}
        exemode = int(raw.trade_exemode)
        if exemode in (self._c("SYMBOL_TRADE_EXECUTION_MARKET"), self._c("SYMBOL_TRADE_EXECUTION_EXCHANGE")) \
                or not modes:
            modes.add(FillingMode.RETURN)
        info = SymbolInfo(
            symbol=symbol, digits=digits, point=point,
            pip_size=guess_pip_size(symbol, digits, point, dict(self.settings.pip_sizes)),
            volume_min=_dec(raw.volume_min), volume_step=_dec(raw.volume_step), volume_max=_dec(raw.volume_max),
            tick_value=_dec(raw.trade_tick_value), tick_size=_dec(raw.trade_tick_size),
            contract_size=_dec(raw.trade_contract_size), filling_modes=frozenset(modes),
            stops_level=int(raw.trade_stops_level))
        self._symbols[symbol] = info
        return info

    def tick(self, symbol: str) -> Tick:
        info = self.symbol_info(symbol)
        t = self._call("symbol_info_tick", symbol)
        if t is None:
            raise self._none_error("symbol_info_tick")
        return Tick(symbol, _price_dec(t.bid, info.point), _price_dec(t.ask, info.point),
                    self._to_utc(int(t.time_msc) / 1000))

    def _position(self, raw: Any) -> Position:
        symbol = str(raw.symbol)
        info = self.symbol_info(symbol)
        point = info.point
        ticket = int(raw.ticket)
        return Position(
            ticket=ticket, symbol=symbol,
            side=Side.BUY if int(raw.type) == self._c("POSITION_TYPE_BUY") else Side.SELL,
            volume=_vol(raw.volume, info), price_open=_price_dec(raw.price_open, point),
            price_current=_price_dec(raw.price_current, point), sl=_level(raw.sl, point), tp=_level(raw.tp, point),
            profit=_money(raw.profit), swap=_money(raw.swap), magic=int(raw.magic), comment=str(raw.comment),
            opened_at=self._to_utc(int(raw.time_msc) / 1000),
            intent_id=self._ticket_intent.get(ticket) or self._ticket_intent.get(int(raw.identifier)))

    def _raw_positions(self, **kw: Any) -> list[Any]:
        got = self._call("positions_get", **kw)
        if got is None:
            code, text = self._last_error()
            if code == RES_S_OK:
                return []
            raise BrokerUnavailable(f"{self.name}: positions_get failed: last_error ({code}, {text!r})") \
                if code <= RES_E_INTERNAL_FAIL else BrokerError(f"positions_get failed: ({code}, {text!r})")
        return list(got)

    def _raw_orders(self, **kw: Any) -> list[Any]:
        got = self._call("orders_get", **kw)
        if got is None:
            code, text = self._last_error()
            if code == RES_S_OK:
                return []
            raise BrokerUnavailable(f"{self.name}: orders_get failed: last_error ({code}, {text!r})") \
                if code <= RES_E_INTERNAL_FAIL else BrokerError(f"orders_get failed: ({code}, {text!r})")
        return list(got)

    def position_tickets(self) -> frozenset[int]:
        """Tickets of all open positions: one cheap call (over rpyc, converting whole positions costs ~20
        round trips each), for the gateway's "did anything close?" check on every poll."""
        return frozenset(int(p.ticket) for p in self._raw_positions())

    def position(self, ticket: int) -> Position | None:
        raw = self._raw_positions(ticket=ticket)
        return self._position(raw[0]) if raw else None

    def order(self, ticket: int) -> Order | None:
        return next((o for o in self.orders() if o.ticket == ticket), None) if self._raw_orders(ticket=ticket) \
            else None

    def positions(self, symbol: str | None = None, magic: int | None = None) -> tuple[Position, ...]:
        raws = self._raw_positions(**({"symbol": symbol} if symbol else {}))
        out = [self._position(r) for r in raws]
        return tuple(p for p in sorted(out, key=lambda p: p.ticket) if magic is None or p.magic == magic)

    _PENDING = {2: (Side.BUY, PendingKind.LIMIT), 3: (Side.SELL, PendingKind.LIMIT),
                4: (Side.BUY, PendingKind.STOP), 5: (Side.SELL, PendingKind.STOP)}

    def orders(self, symbol: str | None = None, magic: int | None = None) -> tuple[Order, ...]:
        out = []
        for r in self._raw_orders(**({"symbol": symbol} if symbol else {})):
            kind = self._PENDING.get(int(r.type))
            if kind is None:
                continue  # stop-limit and close-by orders are not ours to manage
            sym = str(r.symbol)
            info = self.symbol_info(sym)
            point = info.point
            ticket = int(r.ticket)
            exp = int(r.time_expiration)
            out.append(Order(ticket=ticket, symbol=sym, side=kind[0], kind=kind[1], volume=_vol(r.volume_current, info),
                             price=_price_dec(r.price_open, point), sl=_level(r.sl, point), tp=_level(r.tp, point),
                             magic=int(r.magic), comment=str(r.comment),
                             placed_at=self._to_utc(int(r.time_setup_msc) / 1000),
                             expiration=self._to_utc(exp) if exp else None,
                             intent_id=self._ticket_intent.get(ticket)))
        return tuple(o for o in sorted(out, key=lambda o: o.ticket) if magic is None or o.magic == magic)

    def deals(self, since: datetime, magic: int | None = None) -> tuple[Deal, ...]:
        since = utc(since)
        # A day of slack each side: a wrong server offset must not hide deals (we filter exactly below).
        date_from = self._to_server_ts(since) - 86400
        date_to = self._to_server_ts(datetime.now(timezone.utc)) + 2 * 86400
        got = self._call("history_deals_get", date_from, date_to)
        if got is None:
            code, text = self._last_error()
            if code == RES_S_OK:
                return ()
            raise self._none_error("history_deals_get")
        raws = [r for r in got if int(r.type) in (self._c("DEAL_TYPE_BUY"), self._c("DEAL_TYPE_SELL"))]
        raws.sort(key=lambda r: (int(r.time_msc), int(r.ticket)))
        open_ids: set[int] | None = None
        in_volume: dict[int, Decimal] = {}
        out_volume: dict[int, Decimal] = {}
        result = []
        for r in raws:
            pid = int(r.position_id)
            vol = _dec(r.volume)
            entry_code = int(r.entry)
            entry = DealEntry.IN if entry_code == self._c("DEAL_ENTRY_IN") else DealEntry.OUT
            reason = None
            if entry is DealEntry.IN:
                in_volume[pid] = in_volume.get(pid, Decimal(0)) + vol
            else:
                out_volume[pid] = out_volume.get(pid, Decimal(0)) + vol
                rc = int(r.reason)
                if rc == self._c("DEAL_REASON_SL"):
                    reason = CloseReason.SL
                elif rc == self._c("DEAL_REASON_TP"):
                    reason = CloseReason.TP
                elif rc == self._c("DEAL_REASON_SO"):
                    reason = CloseReason.STOP_OUT
                elif rc in (self._c("DEAL_REASON_CLIENT"), self._c("DEAL_REASON_MOBILE"),
                            self._c("DEAL_REASON_WEB"), self._c("DEAL_REASON_EXPERT")):
                    # MT5 has no "partial" reason: a close that leaves volume open is one.
                    if pid in in_volume:
                        partial = out_volume[pid] < in_volume[pid]
                    else:
                        if open_ids is None:
                            open_ids = {int(p.identifier) for p in self._raw_positions()}
                        partial = pid in open_ids
                    reason = CloseReason.PARTIAL if partial else CloseReason.MANUAL
                else:
                    reason = CloseReason.OTHER
            t = self._to_utc(int(r.time_msc) / 1000)
            if t < since or (magic is not None and int(r.magic) != magic):
                continue
            sym = str(r.symbol)
            info = self.symbol_info(sym)
            point = info.point
            vol = _vol(r.volume, info)
            result.append(Deal(
                ticket=int(r.ticket), order=int(r.order), position_id=pid, symbol=sym,
                side=Side.BUY if int(r.type) == self._c("DEAL_TYPE_BUY") else Side.SELL, entry=entry, volume=vol,
                price=_price_dec(r.price, point), profit=_money(r.profit), commission=_money(r.commission),
                swap=_money(r.swap), magic=int(r.magic), comment=str(r.comment), time=t, reason=reason,
                intent_id=self._ticket_intent.get(int(r.order)) or self._ticket_intent.get(pid)))
        return tuple(result)

    # ------------------------------------------------------------------ sending

    def _send(self, request: dict[str, Any]) -> tuple[RetcodeClass, int | None, str, Any]:
        """One order_send: (class, native retcode or last_error code, reason text, raw result or None)."""
        try:
            res = self._mt5.order_send(request)
        except (TypeError, ValueError, KeyError) as e:
            return RetcodeClass.HARD, None, f"request refused by the MetaTrader5 module: {e}", None
        except Exception as e:  # noqa: BLE001 - the answer was lost; the request may have been executed
            return RetcodeClass.TIMEOUT, None, f"no answer to order_send ({type(e).__name__}: {e})", None
        if res is None:
            code, text = self._last_error()
            return classify_last_error(code), code, f"order_send returned nothing: ({code}, {text})", None
        code = int(res.retcode)
        text = str(res.comment) or RETCODE_TEXT.get(code, "")
        return classify_retcode(code), code, f"{text} ({code})" if text else str(code), res

    def _fill_candidates(self, info: SymbolInfo) -> list[int]:
        allowed = [m for m in self.settings.filling_preference if m in info.filling_modes]
        if not allowed:
            allowed = [m for m in (FillingMode.IOC, FillingMode.FOK, FillingMode.RETURN) if m in info.filling_modes]
        return [self._c(_FILLING_ORDER[m]) for m in allowed] or [self._c("ORDER_FILLING_RETURN")]

    def _precheck(self, tag: OrderTag) -> OrderResult | None:
        if not self._connected or self._mt5 is None:
            return OrderResult(tag.intent_id, RetcodeClass.CONNECTION, f"{self.name}: not connected")
        try:
            ti = self._mt5.terminal_info()
        except Exception as e:  # noqa: BLE001
            return OrderResult(tag.intent_id, RetcodeClass.CONNECTION,
                               f"{self.name}: terminal unreachable ({type(e).__name__}: {e}); nothing sent")
        if ti is None:
            code, text = self._last_error()
            return OrderResult(tag.intent_id, RetcodeClass.CONNECTION,
                               f"{self.name}: terminal unreachable: last_error ({code}, {text}); nothing sent", code)
        if not bool(ti.connected):
            return OrderResult(tag.intent_id, RetcodeClass.CONNECTION,
                               "terminal is not connected to the trade server; nothing sent")
        return None

    def _execute(self, tag: OrderTag, info: SymbolInfo, build: Any, reconcile: Any, *, refresh_price: bool,
                 result_fields: Any) -> OrderResult:
        """Send with requote retries and filling-mode fallback; reconcile when the outcome is unknown."""
        fills = self._fill_candidates(info)
        fill_i = 0
        requotes = 0
        attempts = 0
        while True:
            attempts += 1
            try:
                request = build(fills[fill_i])
            except BrokerError as e:
                return OrderResult(tag.intent_id, RetcodeClass.CONNECTION, str(e), attempts=attempts - 1)
            cls, code, reason, res = self._send(request)
            log.info("%s order_send intent=%s action=%s attempt=%d class=%s reason=%s", self.name, tag.intent_id,
                     request.get("action"), attempts, cls.value, reason)
            if cls is RetcodeClass.OK:
                return OrderResult(tag.intent_id, cls, reason, code, attempts=attempts, **result_fields(res))
            if cls in (RetcodeClass.REQUOTE, RetcodeClass.PRICE_CHANGED) and refresh_price \
                    and requotes < self.settings.max_requote_retries:
                requotes += 1
                continue
            if cls is RetcodeClass.INVALID_FILL and fill_i + 1 < len(fills):
                fill_i += 1
                continue
            if cls is RetcodeClass.TIMEOUT:
                try:
                    found = reconcile()
                except BrokerError as e:
                    found = None
                    reason += f"; could not check the account afterwards ({e})"
                if found is not None:
                    log.warning("%s intent=%s: %s, but the account shows it executed", self.name, tag.intent_id,
                                reason)
                    return OrderResult(tag.intent_id, RetcodeClass.OK, f"executed (confirmed after: {reason})",
                                       code, attempts=attempts, reconciled=True, **found)
                reason += "; not found on the account after checking"
            return OrderResult(tag.intent_id, cls, reason, code, attempts=attempts)

    def _done(self, result: OrderResult) -> OrderResult:
        if result.ok:
            self._intents[result.intent_id] = result
            for t in (result.order, result.position):
                if t:
                    self._ticket_intent.setdefault(t, result.intent_id)
        return result

    def _dup(self, tag: OrderTag) -> OrderResult | None:
        prev = self._intents.get(tag.intent_id)
        if prev is None:
            return None
        return replace(prev, duplicate=True)

    def _quote(self, symbol: str, side: Side, info: SymbolInfo) -> float:
        t = self._call("symbol_info_tick", symbol)
        if t is None:
            raise self._none_error("symbol_info_tick")
        return float(_price_dec(t.ask if side is Side.BUY else t.bid, info.point))

    @staticmethod
    def _f(x: Decimal | None) -> float:
        return 0.0 if x is None else float(x)

    def _levels(self, info: SymbolInfo, sl: Any, tp: Any) -> tuple[Decimal | None, Decimal | None]:
        conv = lambda x: None if x is None or to_decimal(x) == 0 else info.round_price(x)  # noqa: E731
        return conv(sl), conv(tp)

    @staticmethod
    def _result_fields(res: Any, info: SymbolInfo) -> dict[str, Any]:
        order, deal = int(res.order), int(res.deal)
        vol = _vol(res.volume, info)
        price = _price_dec(res.price, info.point)
        return {"order": order or None, "deal": deal or None, "volume": vol if vol else None,
                "price": price if price else None}

    def market_order(self, request: MarketOrder) -> OrderResult:
        tag = request.tag
        if (dup := self._dup(tag)) is not None:
            return dup
        if (pre := self._precheck(tag)) is not None:
            return pre
        try:
            info = self.symbol_info(request.symbol)
        except BrokerError as e:
            return OrderResult(tag.intent_id, RetcodeClass.HARD, str(e))
        volume, why = info.check_volume(request.volume)
        if why:
            return OrderResult(tag.intent_id, RetcodeClass.INVALID_VOLUME, why)
        sl, tp = self._levels(info, request.sl, request.tp)
        side = request.side
        comment = clean_comment(tag.comment)
        try:
            before = {int(p.ticket) for p in self._raw_positions(symbol=request.symbol)}
        except BrokerError as e:
            return OrderResult(tag.intent_id, RetcodeClass.CONNECTION, f"{e}; nothing sent")
        order_type = self._c("ORDER_TYPE_BUY" if side is Side.BUY else "ORDER_TYPE_SELL")
        pos_type = self._c("POSITION_TYPE_BUY" if side is Side.BUY else "POSITION_TYPE_SELL")
        deviation = self.settings.deviation_points if request.deviation_points is None else request.deviation_points

        def build(filling: int) -> dict[str, Any]:
            return {"action": self._c("TRADE_ACTION_DEAL"), "symbol": request.symbol, "volume": float(volume),
                    "type": order_type, "price": self._quote(request.symbol, side, info), "sl": self._f(sl),
                    "tp": self._f(tp), "deviation": int(deviation), "magic": tag.magic, "comment": comment,
                    "type_time": self._c("ORDER_TIME_GTC"), "type_filling": filling}

        def reconcile() -> dict[str, Any] | None:
            half_step = info.volume_step / 2
            for p in sorted(self._raw_positions(symbol=request.symbol), key=lambda p: int(p.ticket)):
                if int(p.ticket) not in before and int(p.magic) == tag.magic and int(p.type) == pos_type \
                        and abs(_dec(p.volume) - volume) < half_step:
                    return {"order": int(p.ticket), "position": int(p.ticket), "volume": _vol(p.volume, info),
                            "price": _price_dec(p.price_open, info.point)}
            return None

        def fields(res: Any) -> dict[str, Any]:
            f = self._result_fields(res, info)
            f["position"] = f["order"]  # on hedging accounts the position id is the opening order's ticket
            return f

        return self._done(self._execute(tag, info, build, reconcile, refresh_price=True, result_fields=fields))

    def pending_order(self, request: PendingOrder) -> OrderResult:
        tag = request.tag
        if (dup := self._dup(tag)) is not None:
            return dup
        if (pre := self._precheck(tag)) is not None:
            return pre
        try:
            info = self.symbol_info(request.symbol)
        except BrokerError as e:
            return OrderResult(tag.intent_id, RetcodeClass.HARD, str(e))
        volume, why = info.check_volume(request.volume)
        if why:
            return OrderResult(tag.intent_id, RetcodeClass.INVALID_VOLUME, why)
        sl, tp = self._levels(info, request.sl, request.tp)
        price = info.round_price(request.price)
        type_name = {(Side.BUY, PendingKind.LIMIT): "ORDER_TYPE_BUY_LIMIT",
                     (Side.SELL, PendingKind.LIMIT): "ORDER_TYPE_SELL_LIMIT",
                     (Side.BUY, PendingKind.STOP): "ORDER_TYPE_BUY_STOP",
                     (Side.SELL, PendingKind.STOP): "ORDER_TYPE_SELL_STOP"}[(request.side, request.kind)]
        order_type = self._c(type_name)
        comment = clean_comment(tag.comment)
        try:
            before = {int(o.ticket) for o in self._raw_orders(symbol=request.symbol)}
        except BrokerError as e:
            return OrderResult(tag.intent_id, RetcodeClass.CONNECTION, f"{e}; nothing sent")

        def build(filling: int) -> dict[str, Any]:
            req = {"action": self._c("TRADE_ACTION_PENDING"), "symbol": request.symbol, "volume": float(volume),
                   "type": order_type, "price": float(price), "sl": self._f(sl), "tp": self._f(tp),
                   "magic": tag.magic, "comment": comment, "type_time": self._c("ORDER_TIME_GTC"),
                   "type_filling": filling}
            if request.expiration is not None:
                req["type_time"] = self._c("ORDER_TIME_SPECIFIED")
                req["expiration"] = self._to_server_ts(request.expiration)
            return req

        def reconcile() -> dict[str, Any] | None:
            for o in sorted(self._raw_orders(symbol=request.symbol), key=lambda o: int(o.ticket)):
                if int(o.ticket) not in before and int(o.magic) == tag.magic and int(o.type) == order_type \
                        and _price_dec(o.price_open, info.point) == price:
                    return {"order": int(o.ticket), "volume": _vol(o.volume_current, info), "price": price}
            return None

        def fields(res: Any) -> dict[str, Any]:
            f = self._result_fields(res, info)
            f["price"] = f["price"] or price
            f["volume"] = f["volume"] or volume
            return f

        return self._done(self._execute(tag, info, build, reconcile, refresh_price=False, result_fields=fields))

    def _one_position(self, ticket: int) -> Any | None:
        got = self._raw_positions(ticket=ticket)
        return got[0] if got else None

    def modify_sltp(self, position: int, tag: OrderTag, sl: LevelArg = UNCHANGED,
                    tp: LevelArg = UNCHANGED) -> OrderResult:
        if (pre := self._precheck(tag)) is not None:
            return pre
        try:
            p = self._one_position(position)
        except BrokerError as e:
            return OrderResult(tag.intent_id, RetcodeClass.CONNECTION, f"{e}; nothing sent")
        if p is None:
            return OrderResult(tag.intent_id, RetcodeClass.HARD, f"position {position} does not exist")
        symbol = str(p.symbol)
        info = self.symbol_info(symbol)
        new_sl, new_tp = self._levels(info, _level(p.sl, info.point) if sl is UNCHANGED else sl,
                                      _level(p.tp, info.point) if tp is UNCHANGED else tp)

        def build(_filling: int) -> dict[str, Any]:
            return {"action": self._c("TRADE_ACTION_SLTP"), "position": position, "symbol": symbol,
                    "sl": self._f(new_sl), "tp": self._f(new_tp), "magic": tag.magic,
                    "comment": clean_comment(tag.comment)}

        def reconcile() -> dict[str, Any] | None:
            q = self._one_position(position)
            if q is not None and (_level(q.sl, info.point), _level(q.tp, info.point)) == (new_sl, new_tp):
                return {"position": position}
            return None

        return self._execute(tag, info, build, reconcile, refresh_price=False,
                             result_fields=lambda res: {"position": position})

    def cancel_order(self, order: int, tag: OrderTag) -> OrderResult:
        if (pre := self._precheck(tag)) is not None:
            return pre
        try:
            existing = self._raw_orders(ticket=order)
        except BrokerError as e:
            return OrderResult(tag.intent_id, RetcodeClass.CONNECTION, f"{e}; nothing sent")
        if not existing:
            return OrderResult(tag.intent_id, RetcodeClass.HARD, f"order {order} does not exist")
        info = self.symbol_info(str(existing[0].symbol))

        def build(_filling: int) -> dict[str, Any]:
            return {"action": self._c("TRADE_ACTION_REMOVE"), "order": order, "magic": tag.magic,
                    "comment": clean_comment(tag.comment)}

        def reconcile() -> dict[str, Any] | None:
            return None if self._raw_orders(ticket=order) else {"order": order}

        return self._execute(tag, info, build, reconcile, refresh_price=False,
                             result_fields=lambda res: {"order": order})

    def close_position(self, position: int, tag: OrderTag, volume: Decimal | None = None) -> OrderResult:
        if (dup := self._dup(tag)) is not None:
            return dup
        if (pre := self._precheck(tag)) is not None:
            return pre
        try:
            p = self._one_position(position)
        except BrokerError as e:
            return OrderResult(tag.intent_id, RetcodeClass.CONNECTION, f"{e}; nothing sent")
        if p is None:
            return OrderResult(tag.intent_id, RetcodeClass.HARD, f"position {position} does not exist")
        symbol = str(p.symbol)
        info = self.symbol_info(symbol)
        held = _vol(p.volume, info)
        vol = held
        if volume is not None and to_decimal(volume) < held:
            vol = info.round_volume(volume)
            if vol < info.volume_min:
                return OrderResult(tag.intent_id, RetcodeClass.INVALID_VOLUME,
                                   f"close volume {volume} rounds down to {vol}, below the minimum {info.volume_min}")
            if held - vol < info.volume_min:
                return OrderResult(tag.intent_id, RetcodeClass.INVALID_VOLUME,
                                   f"closing {vol} of {held} would leave {held - vol}, below the minimum "
                                   f"{info.volume_min}; close the whole position instead")
        close_side = Side.SELL if int(p.type) == self._c("POSITION_TYPE_BUY") else Side.BUY

        def build(filling: int) -> dict[str, Any]:
            return {"action": self._c("TRADE_ACTION_DEAL"), "position": position, "symbol": symbol,
                    "volume": float(vol),
                    "type": self._c("ORDER_TYPE_BUY" if close_side is Side.BUY else "ORDER_TYPE_SELL"),
                    "price": self._quote(symbol, close_side, info), "deviation": self.settings.deviation_points,
                    "magic": tag.magic, "comment": clean_comment(tag.comment),
                    "type_time": self._c("ORDER_TIME_GTC"), "type_filling": filling}

        def reconcile() -> dict[str, Any] | None:
            q = self._one_position(position)
            if q is None or _dec(q.volume) <= held - vol:
                return {"position": position, "volume": vol}
            return None

        def fields(res: Any) -> dict[str, Any]:
            f = self._result_fields(res, info)
            f["position"] = position
            return f

        return self._done(self._execute(tag, info, build, reconcile, refresh_price=True, result_fields=fields))
