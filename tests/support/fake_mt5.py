"""A faithful fake of the `MetaTrader5` Python package for tests (the real one exists only on Windows).

Module-level functions with the real names, signatures and return conventions (namedtuples with the real field
names, `None` plus `last_error()` on failure), the real constant values, and a simulated hedging account behind
them. Tests steer it through `control()` (a `FakeTerminal`): scripted order_send outcomes (retcode sequences,
None results, a timeout after which the order *did* execute, exceptions), a terminal that loses the trade
server (`terminal_info().connected` False) or its IPC link, prices that hit SL/TP while disconnected.

`install()` puts this module in `sys.modules["MetaTrader5"]`; tests/support/fake_mt5_server.py serves it over
rpyc the way the mt5linux server does.
"""
from __future__ import annotations

import sys
import threading
from collections import deque, namedtuple
from datetime import datetime, timezone
from types import ModuleType
from typing import Any

__author__ = "MetaQuotes Ltd. (fake for tests)"
__version__ = "5.0.4200"

# ---------------------------------------------------------------------------------------------- constants
ACCOUNT_MARGIN_MODE_RETAIL_NETTING, ACCOUNT_MARGIN_MODE_EXCHANGE, ACCOUNT_MARGIN_MODE_RETAIL_HEDGING = 0, 1, 2
ACCOUNT_TRADE_MODE_DEMO, ACCOUNT_TRADE_MODE_CONTEST, ACCOUNT_TRADE_MODE_REAL = 0, 1, 2
DEAL_ENTRY_IN, DEAL_ENTRY_OUT, DEAL_ENTRY_INOUT, DEAL_ENTRY_OUT_BY = 0, 1, 2, 3
DEAL_REASON_CLIENT, DEAL_REASON_MOBILE, DEAL_REASON_WEB, DEAL_REASON_EXPERT = 0, 1, 2, 3
DEAL_REASON_SL, DEAL_REASON_TP, DEAL_REASON_SO, DEAL_REASON_ROLLOVER = 4, 5, 6, 7
DEAL_REASON_VMARGIN, DEAL_REASON_SPLIT = 8, 9
DEAL_TYPE_BUY, DEAL_TYPE_SELL, DEAL_TYPE_BALANCE, DEAL_TYPE_CREDIT = 0, 1, 2, 3
ORDER_FILLING_FOK, ORDER_FILLING_IOC, ORDER_FILLING_RETURN = 0, 1, 2
ORDER_STATE_STARTED, ORDER_STATE_PLACED, ORDER_STATE_CANCELED, ORDER_STATE_PARTIAL = 0, 1, 2, 3
ORDER_STATE_FILLED, ORDER_STATE_REJECTED, ORDER_STATE_EXPIRED = 4, 5, 6
ORDER_TIME_GTC, ORDER_TIME_DAY, ORDER_TIME_SPECIFIED, ORDER_TIME_SPECIFIED_DAY = 0, 1, 2, 3
ORDER_TYPE_BUY, ORDER_TYPE_SELL, ORDER_TYPE_BUY_LIMIT, ORDER_TYPE_SELL_LIMIT = 0, 1, 2, 3
ORDER_TYPE_BUY_STOP, ORDER_TYPE_SELL_STOP, ORDER_TYPE_BUY_STOP_LIMIT, ORDER_TYPE_SELL_STOP_LIMIT = 4, 5, 6, 7
ORDER_TYPE_CLOSE_BY = 8
ORDER_REASON_CLIENT, ORDER_REASON_MOBILE, ORDER_REASON_WEB, ORDER_REASON_EXPERT = 0, 1, 2, 3
ORDER_REASON_SL, ORDER_REASON_TP, ORDER_REASON_SO = 4, 5, 6
POSITION_TYPE_BUY, POSITION_TYPE_SELL = 0, 1
POSITION_REASON_CLIENT, POSITION_REASON_MOBILE, POSITION_REASON_WEB, POSITION_REASON_EXPERT = 0, 1, 2, 3
SYMBOL_FILLING_FOK, SYMBOL_FILLING_IOC = 1, 2
SYMBOL_TRADE_EXECUTION_REQUEST, SYMBOL_TRADE_EXECUTION_INSTANT = 0, 1
SYMBOL_TRADE_EXECUTION_MARKET, SYMBOL_TRADE_EXECUTION_EXCHANGE = 2, 3
SYMBOL_TRADE_MODE_DISABLED, SYMBOL_TRADE_MODE_FULL = 0, 4
TICK_FLAG_BID, TICK_FLAG_ASK, TICK_FLAG_LAST, TICK_FLAG_VOLUME = 2, 4, 8, 16
TRADE_ACTION_DEAL, TRADE_ACTION_PENDING, TRADE_ACTION_SLTP = 1, 5, 6
TRADE_ACTION_MODIFY, TRADE_ACTION_REMOVE, TRADE_ACTION_CLOSE_BY = 7, 8, 10
TRADE_RETCODE_REQUOTE, TRADE_RETCODE_REJECT, TRADE_RETCODE_CANCEL = 10004, 10006, 10007
TRADE_RETCODE_PLACED, TRADE_RETCODE_DONE, TRADE_RETCODE_DONE_PARTIAL = 10008, 10009, 10010
TRADE_RETCODE_ERROR, TRADE_RETCODE_TIMEOUT, TRADE_RETCODE_INVALID = 10011, 10012, 10013
TRADE_RETCODE_INVALID_VOLUME, TRADE_RETCODE_INVALID_PRICE, TRADE_RETCODE_INVALID_STOPS = 10014, 10015, 10016
TRADE_RETCODE_TRADE_DISABLED, TRADE_RETCODE_MARKET_CLOSED, TRADE_RETCODE_NO_MONEY = 10017, 10018, 10019
TRADE_RETCODE_PRICE_CHANGED, TRADE_RETCODE_PRICE_OFF, TRADE_RETCODE_INVALID_EXPIRATION = 10020, 10021, 10022
TRADE_RETCODE_ORDER_CHANGED, TRADE_RETCODE_TOO_MANY_REQUESTS, TRADE_RETCODE_NO_CHANGES = 10023, 10024, 10025
TRADE_RETCODE_SERVER_DISABLES_AT, TRADE_RETCODE_CLIENT_DISABLES_AT = 10026, 10027
TRADE_RETCODE_LOCKED, TRADE_RETCODE_FROZEN, TRADE_RETCODE_INVALID_FILL = 10028, 10029, 10030
TRADE_RETCODE_CONNECTION, TRADE_RETCODE_ONLY_REAL, TRADE_RETCODE_LIMIT_ORDERS = 10031, 10032, 10033
TRADE_RETCODE_LIMIT_VOLUME, TRADE_RETCODE_INVALID_ORDER, TRADE_RETCODE_POSITION_CLOSED = 10034, 10035, 10036
TRADE_RETCODE_INVALID_CLOSE_VOLUME, TRADE_RETCODE_CLOSE_ORDER_EXIST = 10038, 10039
TRADE_RETCODE_LIMIT_POSITIONS, TRADE_RETCODE_REJECT_CANCEL = 10040, 10041
RES_S_OK, RES_E_FAIL, RES_E_INVALID_PARAMS, RES_E_NO_MEMORY, RES_E_NOT_FOUND = 1, -1, -2, -3, -4
RES_E_INVALID_VERSION, RES_E_AUTH_FAILED, RES_E_UNSUPPORTED, RES_E_AUTO_TRADING_DISABLED = -5, -6, -7, -8
RES_E_INTERNAL_FAIL, RES_E_INTERNAL_FAIL_SEND, RES_E_INTERNAL_FAIL_RECEIVE = -10000, -10001, -10002
RES_E_INTERNAL_FAIL_INIT, RES_E_INTERNAL_FAIL_CONNECT, RES_E_INTERNAL_FAIL_TIMEOUT = -10003, -10004, -10005

# ---------------------------------------------------------------------------------------------- structures
TradeRequest = namedtuple("TradeRequest", "action magic order symbol volume price stoplimit sl tp deviation type "
                                          "type_filling type_time expiration comment position position_by")
OrderSendResult = namedtuple("OrderSendResult", "retcode deal order volume price bid ask comment request_id "
                                                "retcode_external request")
TradePosition = namedtuple("TradePosition", "ticket time time_msc time_update time_update_msc type magic identifier "
                                            "reason volume price_open sl tp price_current swap profit symbol comment "
                                            "external_id")
TradeOrder = namedtuple("TradeOrder", "ticket time_setup time_setup_msc time_done time_done_msc time_expiration type "
                                      "type_time type_filling state magic position_id position_by_id reason "
                                      "volume_initial volume_current price_open sl tp price_current price_stoplimit "
                                      "symbol comment external_id")
TradeDeal = namedtuple("TradeDeal", "ticket order time time_msc type entry magic position_id reason volume price "
                                    "commission swap profit fee symbol comment external_id")
Tick = namedtuple("Tick", "time bid ask last volume time_msc flags volume_real")
AccountInfo = namedtuple("AccountInfo", "login trade_mode leverage limit_orders margin_so_mode trade_allowed "
                                        "trade_expert margin_mode currency_digits fifo_close balance credit profit "
                                        "equity margin margin_free margin_level margin_so_call margin_so_so "
                                        "margin_initial margin_maintenance assets liabilities commission_blocked "
                                        "name server currency company")
TerminalInfo = namedtuple("TerminalInfo", "community_account community_connection connected dlls_allowed "
                                          "trade_allowed tradeapi_disabled email_enabled ftp_enabled "
                                          "notifications_enabled mqid build maxbars codepage ping_last "
                                          "community_balance retransmission company name language path data_path "
                                          "commondata_path")
SymbolInfo = namedtuple("SymbolInfo", (
    "custom chart_mode select visible session_deals session_buy_orders session_sell_orders volume volumehigh "
    "volumelow time digits spread spread_float ticks_bookdepth trade_calc_mode trade_mode start_time "
    "expiration_time trade_stops_level trade_freeze_level trade_exemode swap_mode swap_rollover3days "
    "margin_hedged_use_leg expiration_mode filling_mode order_mode order_gtc_mode option_mode option_right bid "
    "bidhigh bidlow ask askhigh asklow last lasthigh lastlow volume_real volumehigh_real volumelow_real "
    "option_strike point trade_tick_value trade_tick_value_profit trade_tick_value_loss trade_tick_size "
    "trade_contract_size trade_accrued_interest trade_face_value trade_liquidity_rate volume_min volume_max "
    "volume_step volume_limit swap_long swap_short margin_initial margin_maintenance session_volume "
    "session_turnover session_interest session_buy_orders_volume session_sell_orders_volume session_open "
    "session_close session_aw session_price_settlement session_price_limit_min session_price_limit_max "
    "margin_hedged price_change price_volatility price_theoretical price_greeks_delta price_greeks_theta "
    "price_greeks_gamma price_greeks_vega price_greeks_rho price_greeks_omega price_sensitivity basis category "
    "currency_base currency_profit currency_margin bank description exchange formula isin name page path"))

_REQUEST_DEFAULTS = dict(action=0, magic=0, order=0, symbol="", volume=0.0, price=0.0, stoplimit=0.0, sl=0.0,
                         tp=0.0, deviation=0, type=0, type_filling=0, type_time=0, expiration=0, comment="",
                         position=0, position_by=0)
_COMMENTS = {10004: "Requote", 10008: "Request executed", 10009: "Request executed", 10012: "Request timed out",
             10013: "Invalid request", 10014: "Invalid volume", 10015: "Invalid price", 10016: "Invalid stops",
             10020: "Prices changed", 10024: "Too many requests", 10025: "No changes", 10030: "Unsupported filling mode",
             10031: "No connection", 10035: "Invalid order", 10036: "Position doesn't exist",
             10038: "Invalid close volume"}


def _ts(x: Any) -> float:
    """date_from/date_to as the real module takes them: a datetime or seconds since 1970."""
    if isinstance(x, datetime):
        return (x if x.tzinfo else x.replace(tzinfo=timezone.utc)).timestamp()
    return float(x)


class FakeTerminal:
    """The terminal + trade server behind the module functions. All methods take plain values (rpyc-friendly)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.reset()

    # ------------------------------------------------------------------ programming the fake
    def reset(self) -> None:
        with self._lock:
            self.initialized = False
            self.init_error: tuple[int, str] | None = None
            self.init_args: tuple = ()
            self.init_kwargs: dict = {}
            self.ipc_error: tuple[int, str] | None = None
            self.connected = True
            self.error: tuple[int, str] = (RES_S_OK, "Success")
            self.time_msc = 1_700_000_000_000
            self.balance = 10_000.0
            self.login = 51234567
            self.server = "Fake-Demo"
            self.currency = "USD"
            self.leverage = 100
            self.symbols: dict[str, dict[str, Any]] = {}
            self.prices: dict[str, tuple[float, float]] = {}
            self.positions: dict[int, dict[str, Any]] = {}
            self.orders: dict[int, dict[str, Any]] = {}
            self.deals: list[TradeDeal] = []
            self.next_ticket = 5_000_001
            self.request_id = 0
            self.script: deque[tuple] = deque()
            self.requests: list[dict[str, Any]] = []
            self.calls: list[str] = []

    def add_symbol(self, name: str, digits: int, bid: float, ask: float, *, filling_mode: int = SYMBOL_FILLING_IOC,
                   trade_exemode: int = SYMBOL_TRADE_EXECUTION_MARKET, volume_min: float = 0.01,
                   volume_step: float = 0.01, volume_max: float = 100.0, contract_size: float = 100000.0,
                   tick_value: float = 1.0, stops_level: int = 0, visible: bool = True) -> None:
        with self._lock:
            point = round(10 ** -digits, digits)
            self.symbols[name] = dict(digits=digits, point=point, filling_mode=filling_mode,
                                      trade_exemode=trade_exemode, volume_min=volume_min, volume_step=volume_step,
                                      volume_max=volume_max, trade_contract_size=contract_size,
                                      trade_tick_value=tick_value, trade_tick_size=point,
                                      trade_stops_level=stops_level, visible=visible, select=visible)
            self.prices[name] = (bid, ask)

    def set_account(self, *, balance: float | None = None, login: int | None = None, currency: str | None = None,
                    leverage: int | None = None) -> None:
        with self._lock:
            self.balance = self.balance if balance is None else balance
            self.login = self.login if login is None else login
            self.currency = self.currency if currency is None else currency
            self.leverage = self.leverage if leverage is None else leverage

    def queue_retcode(self, retcode: int, comment: str | None = None) -> None:
        """The next order_send answers this retcode without executing anything."""
        self.script.append(("retcode", retcode, comment))

    def queue_none(self, code: int, message: str) -> None:
        """The next order_send returns None; last_error() gives (code, message). Nothing executes."""
        self.script.append(("none", code, message))

    def queue_timeout_executed(self, how: str = "retcode") -> None:
        """The next order_send executes but its answer is a timeout: how = retcode (10012) | none (-10005) |
        raise (ConnectionResetError, as a dropped RPC link does)."""
        self.script.append(("timeout_executed", how))

    def queue_raise(self, message: str = "Connection reset by peer") -> None:
        """The next order_send raises before reaching the server (nothing executes)."""
        self.script.append(("raise", message))

    def disconnect_trade_server(self) -> None:
        self.connected = False

    def reconnect_trade_server(self) -> None:
        self.connected = True

    def break_ipc(self, code: int = RES_E_INTERNAL_FAIL_CONNECT, message: str = "No IPC connection") -> None:
        """Every function returns None (False for bools) with this last_error until heal_ipc()."""
        self.ipc_error = (code, message)

    def heal_ipc(self) -> None:
        self.ipc_error = None

    def fail_initialize(self, code: int = RES_E_AUTH_FAILED, message: str = "Authorization failed") -> None:
        self.init_error = (code, message)

    def advance_time(self, seconds: float) -> None:
        self.time_msc += int(seconds * 1000)

    def set_price(self, symbol: str, bid: float, ask: float) -> None:
        """New quote; pending orders and SL/TP trigger server-side, also while the terminal is disconnected."""
        with self._lock:
            self.advance_time(1)
            self.prices[symbol] = (bid, ask)
            for t, o in sorted(self.orders.items()):
                if o["symbol"] != symbol:
                    continue
                typ, price = o["type"], o["price_open"]
                hit = (typ == ORDER_TYPE_BUY_LIMIT and ask <= price) or (typ == ORDER_TYPE_BUY_STOP and ask >= price) \
                    or (typ == ORDER_TYPE_SELL_LIMIT and bid >= price) or (typ == ORDER_TYPE_SELL_STOP and bid <= price)
                if hit:
                    del self.orders[t]
                    side = ORDER_TYPE_BUY if typ in (ORDER_TYPE_BUY_LIMIT, ORDER_TYPE_BUY_STOP) else ORDER_TYPE_SELL
                    self._open(t, symbol, side, o["volume_current"], ask if side == ORDER_TYPE_BUY else bid,
                               o["sl"], o["tp"], o["magic"], o["comment"])
            for t, p in sorted(self.positions.items()):
                if p["symbol"] != symbol:
                    continue
                market = bid if p["type"] == POSITION_TYPE_BUY else ask
                buy = p["type"] == POSITION_TYPE_BUY
                if p["sl"] and (market <= p["sl"] if buy else market >= p["sl"]):
                    self._close(t, p["volume"], market, DEAL_REASON_SL, p["magic"], "[sl " + str(p["sl"]) + "]")
                elif p["tp"] and (market >= p["tp"] if buy else market <= p["tp"]):
                    self._close(t, p["volume"], market, DEAL_REASON_TP, p["magic"], "[tp " + str(p["tp"]) + "]")

    def add_balance_deal(self, amount: float, comment: str = "deposit") -> None:
        with self._lock:
            self.balance += amount
            self.deals.append(self._deal(0, DEAL_TYPE_BALANCE, DEAL_ENTRY_IN, 0, 0, DEAL_REASON_CLIENT, 0.0, 0.0,
                                         amount, "", comment))

    # ------------------------------------------------------------------ read-back for assertions
    def request_log(self) -> tuple:
        """Every request order_send received, as tuples of (key, value) pairs (plain values cross rpyc by copy)."""
        with self._lock:
            return tuple(tuple(sorted(r.items())) for r in self.requests)

    def position_count(self) -> int:
        return len(self.positions)

    def call_log(self) -> tuple:
        return tuple(self.calls)

    # ------------------------------------------------------------------ the simulated server
    def _now(self) -> int:
        return self.time_msc

    def _ticket(self) -> int:
        t = self.next_ticket
        self.next_ticket += 1
        return t

    def _deal(self, order: int, typ: int, entry: int, magic: int, position_id: int, reason: int, volume: float,
              price: float, profit: float, symbol: str, comment: str) -> TradeDeal:
        now = self._now()
        return TradeDeal(ticket=self._ticket(), order=order, time=now // 1000, time_msc=now, type=typ, entry=entry,
                         magic=magic, position_id=position_id, reason=reason, volume=volume, price=price,
                         commission=0.0, swap=0.0, profit=profit, fee=0.0, symbol=symbol, comment=comment,
                         external_id="")

    def _open(self, ticket: int, symbol: str, typ: int, volume: float, price: float, sl: float, tp: float,
              magic: int, comment: str) -> int:
        now = self._now()
        self.positions[ticket] = dict(ticket=ticket, time=now // 1000, time_msc=now, time_update=now // 1000,
                                      time_update_msc=now, type=typ, magic=magic, identifier=ticket,
                                      reason=POSITION_REASON_EXPERT, volume=volume, price_open=price, sl=sl, tp=tp,
                                      swap=0.0, symbol=symbol, comment=comment, external_id="")
        self.deals.append(self._deal(ticket, DEAL_TYPE_BUY if typ == ORDER_TYPE_BUY else DEAL_TYPE_SELL,
                                     DEAL_ENTRY_IN, magic, ticket, DEAL_REASON_EXPERT, volume, price, 0.0, symbol,
                                     comment))
        return self.deals[-1].ticket

    def _profit(self, p: dict[str, Any], price: float, volume: float) -> float:
        s = self.symbols[p["symbol"]]
        direction = 1 if p["type"] == POSITION_TYPE_BUY else -1
        return round((price - p["price_open"]) * direction / s["trade_tick_size"] * s["trade_tick_value"] * volume, 2)

    def _close(self, ticket: int, volume: float, price: float, reason: int, magic: int, comment: str) -> int:
        p = self.positions[ticket]
        profit = self._profit(p, price, volume)
        self.balance = round(self.balance + profit, 2)
        order = self._ticket()
        self.deals.append(self._deal(order, DEAL_TYPE_SELL if p["type"] == POSITION_TYPE_BUY else DEAL_TYPE_BUY,
                                     DEAL_ENTRY_OUT, magic, ticket, reason, volume, price, profit, p["symbol"],
                                     comment))
        rest = round(p["volume"] - volume, 8)
        if rest <= 0:
            del self.positions[ticket]
        else:
            p["volume"] = rest
        return self.deals[-1].ticket

    def _position_tuple(self, p: dict[str, Any]) -> TradePosition:
        bid, ask = self.prices[p["symbol"]]
        cur = bid if p["type"] == POSITION_TYPE_BUY else ask
        return TradePosition(price_current=cur, profit=self._profit(p, cur, p["volume"]),
                             **{k: v for k, v in p.items()})

    def _volume_ok(self, s: dict[str, Any], v: float) -> bool:
        steps = round(v / s["volume_step"], 6)
        return s["volume_min"] - 1e-9 <= v <= s["volume_max"] + 1e-9 and abs(steps - round(steps)) < 1e-6

    def _filling_ok(self, s: dict[str, Any], filling: int, pending: bool) -> bool:
        if filling == ORDER_FILLING_FOK:
            return bool(s["filling_mode"] & SYMBOL_FILLING_FOK)
        if filling == ORDER_FILLING_IOC:
            return bool(s["filling_mode"] & SYMBOL_FILLING_IOC)
        if filling == ORDER_FILLING_RETURN:
            return pending or s["trade_exemode"] in (SYMBOL_TRADE_EXECUTION_EXCHANGE,)
        return False

    def _stops_ok(self, s: dict[str, Any], buy: bool, ref: float, sl: float, tp: float) -> bool:
        gap = s["trade_stops_level"] * s["point"]
        if buy:
            return (not sl or sl < ref - gap) and (not tp or tp > ref + gap)
        return (not sl or sl > ref + gap) and (not tp or tp < ref - gap)

    def _result(self, request: dict[str, Any], retcode: int, deal: int = 0, order: int = 0, volume: float = 0.0,
                price: float = 0.0, comment: str | None = None) -> OrderSendResult:
        self.request_id += 1
        bid, ask = self.prices.get(request.get("symbol", ""), (0.0, 0.0))
        return OrderSendResult(retcode=retcode, deal=deal, order=order, volume=volume, price=price, bid=bid, ask=ask,
                               comment=comment if comment is not None else _COMMENTS.get(retcode, ""),
                               request_id=self.request_id, retcode_external=0,
                               request=TradeRequest(**{**_REQUEST_DEFAULTS, **request}))

    def _execute(self, r: dict[str, Any]) -> OrderSendResult:
        action = r.get("action")
        sym = r.get("symbol", "")
        if action == TRADE_ACTION_REMOVE:
            if r.get("order") not in self.orders:
                return self._result(r, TRADE_RETCODE_INVALID_ORDER)
            del self.orders[r["order"]]
            return self._result(r, TRADE_RETCODE_DONE, order=r["order"])
        if action == TRADE_ACTION_SLTP:
            p = self.positions.get(r.get("position", 0))
            if p is None:
                return self._result(r, TRADE_RETCODE_POSITION_CLOSED)
            s = self.symbols[p["symbol"]]
            bid, ask = self.prices[p["symbol"]]
            buy = p["type"] == POSITION_TYPE_BUY
            sl, tp = float(r.get("sl", 0.0)), float(r.get("tp", 0.0))
            if (sl, tp) == (p["sl"], p["tp"]):
                return self._result(r, TRADE_RETCODE_NO_CHANGES)
            if not self._stops_ok(s, buy, bid if buy else ask, sl, tp):
                return self._result(r, TRADE_RETCODE_INVALID_STOPS)
            p["sl"], p["tp"] = sl, tp
            return self._result(r, TRADE_RETCODE_DONE)
        s = self.symbols.get(sym)
        if s is None:
            return self._result(r, TRADE_RETCODE_INVALID)
        bid, ask = self.prices[sym]
        volume = float(r.get("volume", 0.0))
        typ = r.get("type", 0)
        sl, tp = float(r.get("sl", 0.0)), float(r.get("tp", 0.0))
        if action == TRADE_ACTION_DEAL:
            if not self._filling_ok(s, r.get("type_filling", ORDER_FILLING_FOK), pending=False):
                return self._result(r, TRADE_RETCODE_INVALID_FILL)
            if not self._volume_ok(s, volume):
                return self._result(r, TRADE_RETCODE_INVALID_VOLUME)
            price = ask if typ == ORDER_TYPE_BUY else bid
            if r.get("position"):
                p = self.positions.get(r["position"])
                if p is None:
                    return self._result(r, TRADE_RETCODE_POSITION_CLOSED)
                if volume > p["volume"] + 1e-9:
                    return self._result(r, TRADE_RETCODE_INVALID_CLOSE_VOLUME)
                deal = self._close(r["position"], volume, price, DEAL_REASON_EXPERT, r.get("magic", 0),
                                   r.get("comment", ""))
                return self._result(r, TRADE_RETCODE_DONE, deal=deal, order=self.deals[-1].order, volume=volume,
                                    price=price)
            if not self._stops_ok(s, typ == ORDER_TYPE_BUY, bid if typ == ORDER_TYPE_BUY else ask, sl, tp):
                return self._result(r, TRADE_RETCODE_INVALID_STOPS)
            ticket = self._ticket()
            deal = self._open(ticket, sym, typ, volume, price, sl, tp, r.get("magic", 0), r.get("comment", ""))
            return self._result(r, TRADE_RETCODE_DONE, deal=deal, order=ticket, volume=volume, price=price)
        if action == TRADE_ACTION_PENDING:
            if typ not in (ORDER_TYPE_BUY_LIMIT, ORDER_TYPE_SELL_LIMIT, ORDER_TYPE_BUY_STOP, ORDER_TYPE_SELL_STOP):
                return self._result(r, TRADE_RETCODE_INVALID_ORDER)
            if not self._filling_ok(s, r.get("type_filling", ORDER_FILLING_RETURN), pending=True):
                return self._result(r, TRADE_RETCODE_INVALID_FILL)
            if not self._volume_ok(s, volume):
                return self._result(r, TRADE_RETCODE_INVALID_VOLUME)
            price = float(r.get("price", 0.0))
            valid = {ORDER_TYPE_BUY_LIMIT: price < ask, ORDER_TYPE_BUY_STOP: price > ask,
                     ORDER_TYPE_SELL_LIMIT: price > bid, ORDER_TYPE_SELL_STOP: price < bid}[typ]
            if not valid:
                return self._result(r, TRADE_RETCODE_INVALID_PRICE)
            if not self._stops_ok(s, typ in (ORDER_TYPE_BUY_LIMIT, ORDER_TYPE_BUY_STOP), price, sl, tp):
                return self._result(r, TRADE_RETCODE_INVALID_STOPS)
            ticket = self._ticket()
            now = self._now()
            self.orders[ticket] = dict(ticket=ticket, time_setup=now // 1000, time_setup_msc=now, time_done=0,
                                       time_done_msc=0, time_expiration=r.get("expiration", 0), type=typ,
                                       type_time=r.get("type_time", 0), type_filling=r.get("type_filling", 0),
                                       state=ORDER_STATE_PLACED, magic=r.get("magic", 0), position_id=0,
                                       position_by_id=0, reason=ORDER_REASON_EXPERT, volume_initial=volume,
                                       volume_current=volume, price_open=price, sl=sl, tp=tp, price_stoplimit=0.0,
                                       symbol=sym, comment=r.get("comment", ""), external_id="")
            return self._result(r, TRADE_RETCODE_PLACED, order=ticket, volume=volume, price=price)
        return self._result(r, TRADE_RETCODE_INVALID)

    def order_send(self, request: Any) -> OrderSendResult | None:
        with self._lock:
            if not self._ready("order_send"):
                return None
            try:
                r = dict(request)
            except (TypeError, ValueError):
                self.error = (RES_E_INVALID_PARAMS, "Invalid arguments")
                return None
            self.requests.append(r)
            for key in ("action",):
                if key not in r:
                    self.error = (RES_E_INVALID_PARAMS, f'Invalid "{key}" argument')
                    return None
            if len(str(r.get("comment", ""))) > 31:
                # The real terminal refuses a long comment outright rather than cutting it.
                self.error = (RES_E_INVALID_PARAMS, 'Invalid "comment" argument')
                return None
            if self.script:
                step = self.script.popleft()
                kind = step[0]
                if kind == "retcode":
                    return self._result(r, step[1], comment=step[2])
                if kind == "none":
                    self.error = (step[1], step[2])
                    return None
                if kind == "raise":
                    raise ConnectionResetError(step[1])
                if kind == "timeout_executed":
                    self._execute(r)
                    if step[1] == "none":
                        self.error = (RES_E_INTERNAL_FAIL_TIMEOUT, "IPC timeout")
                        return None
                    if step[1] == "raise":
                        raise ConnectionResetError("Connection reset by peer")
                    return self._result(r, TRADE_RETCODE_TIMEOUT)
            if not self.connected:
                return self._result(r, TRADE_RETCODE_CONNECTION)
            return self._execute(r)

    def _ready(self, fn: str) -> bool:
        self.calls.append(fn)
        if not self.initialized:
            self.error = (RES_E_INTERNAL_FAIL_CONNECT, "No IPC connection")
            return False
        if self.ipc_error is not None:
            self.error = self.ipc_error
            return False
        self.error = (RES_S_OK, "Success")
        return True


_control = FakeTerminal()


def control() -> FakeTerminal:
    return _control


# ---------------------------------------------------------------------------------------------- module API
def initialize(path: str | None = None, *, login: int | None = None, password: str | None = None,
               server: str | None = None, timeout: int | None = None, portable: bool = False) -> bool:
    c = _control
    with c._lock:
        c.calls.append("initialize")
        c.init_args = (path,) if path else ()
        c.init_kwargs = {k: v for k, v in dict(login=login, password=password, server=server, timeout=timeout,
                                               portable=portable).items() if v not in (None, False)}
        if c.init_error is not None:
            c.error = c.init_error
            return False
        if c.ipc_error is not None:
            c.error = c.ipc_error
            return False
        c.initialized = True
        c.error = (RES_S_OK, "Success")
        return True


def login(login: int, password: str | None = None, server: str | None = None, timeout: int | None = None) -> bool:
    c = _control
    with c._lock:
        if not c._ready("login"):
            return False
        c.login = login
        return True


def shutdown() -> None:
    c = _control
    with c._lock:
        c.calls.append("shutdown")
        c.initialized = False


def version() -> tuple | None:
    return (500, 4200, "1 Feb 2024") if _control._ready("version") else None


def last_error() -> tuple:
    return tuple(_control.error)


def terminal_info() -> TerminalInfo | None:
    c = _control
    with c._lock:
        if not c._ready("terminal_info"):
            return None
        return TerminalInfo(community_account=False, community_connection=False, connected=c.connected,
                            dlls_allowed=False, trade_allowed=True, tradeapi_disabled=False, email_enabled=False,
                            ftp_enabled=False, notifications_enabled=False, mqid=False, build=4200, maxbars=100000,
                            codepage=0, ping_last=1200, community_balance=0.0, retransmission=0.0,
                            company="Fake Broker Ltd", name="MetaTrader 5", language="English",
                            path="C:\\Program Files\\MetaTrader 5", data_path="C:\\MT5", commondata_path="C:\\Common")


def account_info() -> AccountInfo | None:
    c = _control
    with c._lock:
        if not c._ready("account_info"):
            return None
        profit = round(sum(c._position_tuple(p).profit for p in c.positions.values()), 2)
        margin = 0.0
        for p in c.positions.values():
            s = c.symbols[p["symbol"]]
            margin += p["volume"] * s["trade_contract_size"] * p["price_open"] / c.leverage
        margin = round(margin, 2)
        equity = round(c.balance + profit, 2)
        return AccountInfo(login=c.login, trade_mode=ACCOUNT_TRADE_MODE_DEMO, leverage=c.leverage, limit_orders=200,
                           margin_so_mode=0, trade_allowed=True, trade_expert=True,
                           margin_mode=ACCOUNT_MARGIN_MODE_RETAIL_HEDGING, currency_digits=2, fifo_close=False,
                           balance=c.balance, credit=0.0, profit=profit, equity=equity, margin=margin,
                           margin_free=round(equity - margin, 2),
                           margin_level=round(equity / margin * 100, 2) if margin else 0.0, margin_so_call=50.0,
                           margin_so_so=30.0, margin_initial=0.0, margin_maintenance=0.0, assets=0.0,
                           liabilities=0.0, commission_blocked=0.0, name="Test Trader", server=c.server,
                           currency=c.currency, company="Fake Broker Ltd")


def symbol_select(symbol: str, enable: bool = True) -> bool:
    c = _control
    with c._lock:
        if not c._ready("symbol_select"):
            return False
        s = c.symbols.get(symbol)
        if s is None:
            c.error = (RES_E_NOT_FOUND, "Terminal: Not found")
            return False
        s["visible"] = s["select"] = bool(enable)
        return True


def symbol_info(symbol: str) -> SymbolInfo | None:
    c = _control
    with c._lock:
        if not c._ready("symbol_info"):
            return None
        s = c.symbols.get(symbol)
        if s is None:
            c.error = (RES_E_NOT_FOUND, "Terminal: Not found")
            return None
        bid, ask = c.prices[symbol]
        values = {f: 0 for f in SymbolInfo._fields}
        values.update({f: "" for f in ("basis", "category", "bank", "description", "exchange", "formula", "isin",
                                       "page", "path")})
        values.update(custom=False, time=c.time_msc // 1000, spread=round((ask - bid) / s["point"]),
                      spread_float=True, trade_mode=SYMBOL_TRADE_MODE_FULL, bid=bid, ask=ask,
                      trade_tick_value_profit=s["trade_tick_value"], trade_tick_value_loss=s["trade_tick_value"],
                      currency_base=symbol[:3], currency_profit=symbol[3:6], currency_margin=symbol[:3],
                      name=symbol, path=f"Forex\\{symbol}", order_mode=127, expiration_mode=15,
                      **{k: v for k, v in s.items()})
        return SymbolInfo(**values)


def symbol_info_tick(symbol: str) -> Tick | None:
    c = _control
    with c._lock:
        if not c._ready("symbol_info_tick"):
            return None
        s = c.symbols.get(symbol)
        if s is None or not s["visible"]:
            c.error = (RES_E_NOT_FOUND, "Terminal: Not found")
            return None
        bid, ask = c.prices[symbol]
        return Tick(time=c.time_msc // 1000, bid=bid, ask=ask, last=0.0, volume=0, time_msc=c.time_msc,
                    flags=TICK_FLAG_BID | TICK_FLAG_ASK, volume_real=0.0)


def order_send(request: Any) -> OrderSendResult | None:
    return _control.order_send(request)


def positions_get(symbol: str | None = None, group: str | None = None, ticket: int | None = None) -> tuple | None:
    c = _control
    with c._lock:
        if not c._ready("positions_get"):
            return None
        ps = [p for t, p in sorted(c.positions.items())
              if (symbol is None or p["symbol"] == symbol) and (ticket is None or t == ticket)]
        return tuple(c._position_tuple(p) for p in ps)


def positions_total() -> int | None:
    return len(_control.positions) if _control._ready("positions_total") else None


def orders_get(symbol: str | None = None, group: str | None = None, ticket: int | None = None) -> tuple | None:
    c = _control
    with c._lock:
        if not c._ready("orders_get"):
            return None
        out = []
        for t, o in sorted(c.orders.items()):
            if (symbol is None or o["symbol"] == symbol) and (ticket is None or t == ticket):
                bid, ask = c.prices[o["symbol"]]
                out.append(TradeOrder(price_current=ask if o["type"] in (2, 4) else bid, **o))
        return tuple(out)


def orders_total() -> int | None:
    return len(_control.orders) if _control._ready("orders_total") else None


def history_deals_get(date_from: Any = None, date_to: Any = None, group: str | None = None,
                      ticket: int | None = None, position: int | None = None) -> tuple | None:
    c = _control
    with c._lock:
        if not c._ready("history_deals_get"):
            return None
        if ticket is not None:
            return tuple(d for d in c.deals if d.order == ticket)
        if position is not None:
            return tuple(d for d in c.deals if d.position_id == position)
        if date_from is None or date_to is None:
            c.error = (RES_E_INVALID_PARAMS, "Invalid arguments")
            return None
        lo, hi = _ts(date_from), _ts(date_to)
        return tuple(d for d in c.deals if lo <= d.time <= hi)


def history_deals_total(date_from: Any, date_to: Any) -> int | None:
    got = history_deals_get(date_from, date_to)
    return None if got is None else len(got)


def install(monkeypatch: Any = None) -> ModuleType:
    """Reset the fake and make `import MetaTrader5` return it (through monkeypatch when given, so it is undone)."""
    module = sys.modules[__name__]
    _control.reset()
    if monkeypatch is not None:
        monkeypatch.setitem(sys.modules, "MetaTrader5", module)
    else:
        sys.modules["MetaTrader5"] = module
    return module


def standard_symbols() -> None:
    """EURUSD (5 digits, IOC) and XAUUSD (2 digits, FOK only, contract 100) at round prices."""
    _control.add_symbol("EURUSD", 5, 1.10000, 1.10010, filling_mode=SYMBOL_FILLING_IOC, tick_value=1.0)
    _control.add_symbol("XAUUSD", 2, 2000.00, 2000.25, filling_mode=SYMBOL_FILLING_FOK, contract_size=100.0,
                        tick_value=1.0, volume_max=50.0)
