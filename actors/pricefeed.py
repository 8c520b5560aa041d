"""broker/pricefeed: quotes of the subscribed symbols, batched to the subscribers of topic "ticks".

The gateway owns the broker (one MT5 connection, one paper market), so the feed asks it: every `interval`
seconds one TickPoll for all wanted symbols, answered by one TickBatch. Only symbols whose quote changed since
the last batch are published, all in one Ticks message (one-way bursts of small messages are slow in Thespian,
DESIGN.md). Symbols come from `[pricefeed] symbols` and from PriceSubscribe messages. A symbol whose quote has
not moved for `stale_after` seconds (or a gateway that stops answering) is reported once as stale, and again
when it recovers.
"""
from __future__ import annotations

import time
import uuid

from actors import messages as m
from actors.base import ZepixActor, handles

GATEWAY = "broker/gateway"
MIN_INTERVAL = 0.25


class PriceFeed(ZepixActor):

    def setup(self) -> None:
        c = self.config.get("pricefeed", {})
        self.interval = max(float(c.get("interval", 1.0)), MIN_INTERVAL)
        self.stale_after = float(c.get("stale_after", 30.0))
        self.symbols: set[str] = {str(s) for s in c.get("symbols", [])}
        self.requested: dict[str, list] = {}         # symbol -> addresses that asked for it
        self.last: dict[str, tuple] = {}             # symbol -> (bid, ask, time) last published
        self.changed_at: dict[str, float] = {}       # symbol -> monotonic time of its last change
        self.stale: set[str] = set()
        self.pending_corr = ""
        self.last_answer = time.monotonic()
        self.batches = 0
        self.after(self.interval, "poll")

    def config_sections(self) -> tuple:
        return ("pricefeed",)

    def reconfigure(self, config: dict, changed: tuple) -> None:
        c = config["pricefeed"]
        interval = float(c["interval"])
        if interval < MIN_INTERVAL:
            raise ValueError(f"pricefeed.interval {interval} is below the minimum {MIN_INTERVAL} s")
        self.interval = interval
        self.stale_after = float(c["stale_after"])
        self.symbols = {str(s) for s in c["symbols"]}

    def status_data(self) -> dict:
        return {"symbols": sorted(self.feed_symbols()), "stale": sorted(self.stale), "batches": self.batches,
                "subscribers": len(self.topic_subs.get("ticks", ()))}

    def feed_symbols(self) -> set[str]:
        return self.symbols | {s for s, who in self.requested.items() if who}

    def on_directory(self, previous: dict) -> None:
        # a subscriber that restarted asks again from its new address; the old one would keep its symbols fed
        alive = {str(a) for a in self.directory.values()}
        for who in self.requested.values():
            who[:] = [a for a in who if str(a) in alive]

    @handles(m.PriceSubscribe)
    def _on_subscribe(self, msg: m.PriceSubscribe, sender) -> None:
        for s in msg.symbols:
            # a list: Thespian's ActorAddress is not hashable
            who = self.requested.setdefault(str(s), [])
            if msg.subscribe and sender not in who:
                who.append(sender)
            elif not msg.subscribe and sender in who:
                who.remove(sender)

    def on_timer(self, key) -> None:
        if key != "poll":
            return
        self.after(self.interval, "poll")
        wanted = self.feed_symbols()
        if not wanted:
            return
        now = time.monotonic()
        if self.pending_corr and now - self.last_answer > max(3 * self.interval, self.stale_after):
            self._mark_stale(wanted - self.stale, "the broker gateway does not answer")
        self.pending_corr = uuid.uuid4().hex
        self.tell_peer(GATEWAY, m.TickPoll(corr=self.pending_corr, symbols=tuple(sorted(wanted))))

    @handles(m.TickBatch)
    def _on_batch(self, msg: m.TickBatch, sender) -> None:
        now = time.monotonic()
        self.last_answer = now
        self.pending_corr = ""
        fresh = []
        for sym, bid, ask, at in msg.ticks:
            key = (bid, ask, at)
            if self.last.get(sym) != key:
                self.last[sym] = key
                self.changed_at[sym] = now
                fresh.append((sym, bid, ask, at))
                if sym in self.stale:
                    self.stale.discard(sym)
                    self.notify("stale_quote", "LOW", f"{sym}: quotes are coming again", symbol=sym)
        if fresh:
            self.batches += 1
            self.publish("ticks", m.Ticks(ticks=tuple(fresh)))
        old = {s for s in self.feed_symbols() - self.stale
               if now - self.changed_at.setdefault(s, now) > self.stale_after}
        if msg.errors:
            old |= {s for s in msg.errors if s not in self.stale}
        if not msg.connected:
            old |= self.feed_symbols() - self.stale
        if old:
            why = "broker not connected" if not msg.connected else f"no new quote for {self.stale_after:g} s"
            self._mark_stale(old, why, msg.errors)

    def _mark_stale(self, symbols: set, why: str, errors: dict | None = None) -> None:
        for s in sorted(symbols):
            self.stale.add(s)
            detail = (errors or {}).get(s, why)
            self.notify("stale_quote", "MEDIUM", f"{s}: stale quote ({detail})", symbol=s)
