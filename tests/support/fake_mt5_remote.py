"""A stand-in for the `MetaTrader5` module inside an actor process: every attribute is the fake MetaTrader5
module served by tests/support/fake_mt5_server.py (port in ZEPIX_FAKE_MT5_PORT), so a test programs the fake
(retcodes, timeouts, disconnects) from its own process while the gateway's "mt5" adapter imports this module
(`[broker] mt5_module = "tests.support.fake_mt5_remote"`) exactly where it would import MetaTrader5."""
from __future__ import annotations

import os

import rpyc

_conn = rpyc.classic.connect("127.0.0.1", int(os.environ["ZEPIX_FAKE_MT5_PORT"]))
_remote = _conn.modules["MetaTrader5"]


def __getattr__(name: str):
    return getattr(_remote, name)
