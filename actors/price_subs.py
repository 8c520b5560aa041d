"""Which symbols an actor asked its price feeds for (PriceSubscribe), kept in step with what it needs.

broker/pricefeed polls the gateway only for the symbols in ``[pricefeed] symbols`` and those subscribers asked
for; nobody asked, so with the shipped configuration no tick was ever published and the position manager never had
a quote (chain levels refused "no price for XAUUSD yet", trailing and re-entry watches never moved). An actor that
needs quotes says which symbols with ``want(symbols)`` after each change: only the difference is sent. A feed that
restarts (a new address in the directory) forgot every request, so ``on_directory`` sends the whole set again, and
a feed that is not running is asked again at the next ``want``.
"""
from __future__ import annotations

from actors import messages as m


class PriceSubscriptions:
    def __init__(self, actor, sources) -> None:
        self.actor = actor
        self.sources = tuple(sources)
        self.asked: dict[str, set[str]] = {}       # feed path -> symbols it was asked for
        self.wanted: set[str] = set()

    def want(self, symbols) -> None:
        """The symbols needed now; subscribes the new ones and unsubscribes the ones no longer needed."""
        self.wanted = {str(s) for s in symbols if s}
        for path in self.sources:
            asked = self.asked.get(path, set())
            more, fewer = self.wanted - asked, asked - self.wanted
            if more and not self.actor.tell_peer(path, m.PriceSubscribe(symbols=tuple(sorted(more)))):
                continue        # not running: asked again at the next call
            if fewer:
                self.actor.tell_peer(path, m.PriceSubscribe(symbols=tuple(sorted(fewer)), subscribe=False))
            self.asked[path] = set(self.wanted)

    def add(self, symbol: str) -> None:
        if symbol and symbol not in self.wanted:
            self.want(self.wanted | {symbol})

    def on_directory(self, directory: dict, previous: dict) -> None:
        """A feed at a new address (restarted) is asked for everything again."""
        moved = [p for p in self.sources if directory.get(p) is not None and directory.get(p) != previous.get(p)]
        for path in moved:
            self.asked.pop(path, None)
        if moved:
            self.want(self.wanted)
