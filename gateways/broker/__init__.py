"""Broker adapters behind one interface: paper (default), MetaTrader5 (Windows) and mt5linux (rpyc to Wine).

Only the interface and the paper broker are imported here; the MT5 adapters load their client packages lazily
inside connect(), so importing this package never needs MetaTrader5, rpyc or mt5linux.
"""
from gateways.broker.interface import (  # noqa: F401
    MAX_COMMENT_LEN, UNCHANGED, AccountInfo, Broker, BrokerError, BrokerUnavailable, CloseReason, Deal, DealEntry,
    FillingMode, InvalidRequest, MarketOrder, Order, OrderResult, OrderTag, PendingKind, PendingOrder, Position,
    RetcodeClass, Side, SymbolInfo, Tick, UnknownSymbol,
)
