"""Who may post to the webhook: source-address allow-list (with TradingView's preset), the client address behind
trusted proxies (X-Forwarded-For), and a per-address token-bucket rate limit. Pure: times are passed in.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from config.errors import ConfigError

# The addresses TradingView sends webhooks from (TradingView's "About webhooks" help page).
TRADINGVIEW_IPS = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")


def _networks(items, key: str) -> tuple:
    out = []
    if not isinstance(items, (list, tuple)):
        raise ConfigError(key, items, "a list of IP addresses or networks such as \"10.0.0.0/8\"")
    for item in items:
        try:
            out.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError:
            raise ConfigError(key, item, "an IP address or network such as \"52.89.214.238\" or \"10.0.0.0/8\"") \
                from None
    return tuple(out)


def _ip(text: str):
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _inside(addr, nets) -> bool:
    if addr is None:
        return False
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in net for net in nets if net.version == addr.version)


@dataclass(frozen=True)
class Access:
    """allow: networks that may post alerts (empty: anyone holding the token); proxies: networks whose
    X-Forwarded-For is believed."""
    allow: tuple = ()
    proxies: tuple = ()

    @classmethod
    def from_config(cls, access: dict, path: str = "webhook.access") -> "Access":
        allow = _networks(access.get("allow_ips", []), f"{path}.allow_ips")
        if access.get("tradingview_preset", False):
            allow += _networks(list(TRADINGVIEW_IPS), f"{path}.tradingview_preset")
        return cls(allow=allow, proxies=_networks(access.get("trusted_proxies", []), f"{path}.trusted_proxies"))

    def client(self, peer: str, forwarded_for: str | None) -> str:
        """The client's address: the peer's, or, when the peer is a trusted proxy, the nearest address in
        X-Forwarded-For that is not itself a trusted proxy (entries further left are the client's own claims)."""
        if not forwarded_for or not _inside(_ip(peer), self.proxies):
            return peer
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        for hop in reversed(hops):
            addr = _ip(hop)
            if addr is None:
                return peer      # a garbled header from a trusted proxy: trust nothing in it
            if not _inside(addr, self.proxies):
                return str(addr)
        return hops[0] if hops else peer

    def allowed(self, client: str) -> bool:
        return not self.allow or _inside(_ip(client), self.allow)


@dataclass
class RateLimiter:
    """Token bucket per client address: ``rate`` requests/s sustained, bursts of ``burst``. rate <= 0: off."""
    rate: float
    burst: int
    buckets: dict = field(default_factory=dict)      # address -> (tokens, last time)
    max_clients: int = 100_000

    def allow(self, client: str, now: float) -> tuple[bool, float]:
        """(allowed, seconds until the next request would be allowed)."""
        if self.rate <= 0:
            return True, 0.0
        tokens, last = self.buckets.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self.buckets[client] = (tokens - 1.0, now)
            return True, 0.0
        self.buckets[client] = (tokens, now)
        return False, (1.0 - tokens) / self.rate

    def prune(self, now: float) -> None:
        """Forget addresses whose bucket is full again (bounded memory under a spray of addresses)."""
        full = float(self.burst) / self.rate if self.rate > 0 else 0.0
        for client, (tokens, last) in list(self.buckets.items()):
            if now - last >= full:
                del self.buckets[client]
        if len(self.buckets) > self.max_clients:
            self.buckets.clear()
