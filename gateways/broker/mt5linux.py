"""Broker adapter over the `mt5linux` client: the MetaTrader5 API of a Windows terminal running under Wine,
reached over rpyc (`from mt5linux import MetaTrader5; mt5 = MetaTrader5(host=..., port=...)`).

The client evaluates `mt5.<function>(...)` inside the server's Python (rpyc classic "slave" service), so the
server end can run any code this side sends: it must listen on loopback, or on a VPN address at most. A
non-loopback host is allowed but logged as a warning at every connect.
"""
from __future__ import annotations

import importlib
import ipaddress
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

from config.errors import ConfigError
from gateways.broker.interface import BrokerUnavailable
from gateways.broker.mt5 import MT5Broker, MT5Settings, _cfg_int, _cfg_str

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MT5LinuxSettings(MT5Settings):
    host: str = "127.0.0.1"
    port: int = 18812
    rpc_timeout_seconds: int = 30

    @classmethod
    def from_mapping(cls, d: Mapping[str, object] | None, path: str = "broker.mt5linux",
                     env: Mapping[str, str] | None = None) -> "MT5LinuxSettings":
        d = d or {}
        kw = cls._parse(d, path, os.environ if env is None else env, ("host", "port", "rpc_timeout_seconds"))
        if "host" in d:
            kw["host"] = _cfg_str(f"{path}.host", d["host"])
        if "port" in d:
            port = _cfg_int(f"{path}.port", d["port"], 1)
            if port > 65535:
                raise ConfigError(f"{path}.port", port, "a TCP port from 1 to 65535")
            kw["port"] = port
        if "rpc_timeout_seconds" in d:
            kw["rpc_timeout_seconds"] = _cfg_int(f"{path}.rpc_timeout_seconds", d["rpc_timeout_seconds"], 1)
        return cls(**kw)


def is_loopback(host: str) -> bool:
    """True when every address `host` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addrs = {info[4][0] for info in infos}
    return bool(addrs) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs)


def _default_client_factory(host: str, port: int, timeout: int) -> Any:
    try:
        mod = importlib.import_module("mt5linux")
    except ImportError as e:
        raise BrokerUnavailable("the mt5linux package is not installed (pip install 'mt5linux>=1.0.11,<1.1')") from e
    return mod.MetaTrader5(host=host, port=port, timeout=timeout)


class MT5LinuxBroker(MT5Broker):
    """The MT5 adapter with an mt5linux client in place of the MetaTrader5 module."""

    name = "mt5linux"

    def __init__(self, settings: MT5LinuxSettings | None = None,
                 client_factory: Callable[[str, int, int], Any] | None = None):
        super().__init__(settings or MT5LinuxSettings())
        self.settings: MT5LinuxSettings
        self._factory = client_factory or _default_client_factory

    def connect(self) -> None:
        if self._connected:
            return
        s = self.settings
        if not is_loopback(s.host):
            log.warning("mt5linux host %s is not loopback: the rpyc server executes any code sent to it; "
                        "reach it only over a VPN or an SSH tunnel", s.host)
        if self._mt5 is None:
            try:
                self._mt5 = self._factory(s.host, s.port, s.rpc_timeout_seconds)
            except BrokerUnavailable:
                raise
            except Exception as e:  # noqa: BLE001 - refused, reset, DNS, rpyc handshake: all "unreachable"
                raise BrokerUnavailable(f"mt5linux: cannot reach the server at {s.host}:{s.port}: "
                                        f"{type(e).__name__}: {e}") from e
        try:
            super().connect()
        except BrokerUnavailable:
            self._drop_client()
            raise

    def disconnect(self) -> None:
        super().disconnect()
        self._drop_client()

    def _drop_client(self) -> None:
        # mt5linux has no close(); its rpyc connection lives in a name-mangled attribute. Closing it frees the
        # socket now instead of at garbage collection, and a later connect() builds a fresh client.
        client, self._mt5 = self._mt5, None
        conn = getattr(client, "_MetaTrader5__conn", None)
        if conn is not None:
            try:
                conn.close()
            except Exception as e:  # noqa: BLE001
                log.info("mt5linux: closing the rpyc connection: %s", e)
