"""Broker gateway figures: intent -> OrderOutcome round trip, and tick fan-out from broker/pricefeed.

    python bench/gateway_roundtrip.py [--n 300] [--seconds 5]

Round trip: the benchmark (a private endpoint, like a plugin actor) sends an OrderIntent to broker/gateway in a
real Zepix system and waits for its OrderOutcome; timed with perf_counter_ns, one at a time, alternating BUY
and SELL of 0.01 lots, each closed again by a CloseIntent (timed as its own row). Adapters: paper (SQLite WAL ledger + paper DB), and the fake MetaTrader5 served over
rpyc reached by the real mt5linux client (tests/support/fake_mt5_server.py). Each send also writes the
gateway's ledger twice (before and after), which is part of the figure.

Fan-out: 6 subscriber actors of "ticks", price source "walk" stepping every 0.1 s (every symbol moves every batch), 10 symbols,
batches every 0.25 s; ticks/s = ticks received by all subscribers per second.
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors import messages as m
from bench._common import bench_system, machine_line, summary, table, wait_for
from tests.support.broker import RECORDER_TOML, command, query


def roundtrips(client, n: int) -> tuple[list[float], list[float]]:
    """(open round trips, close round trips): each order is closed again, so the account stays flat and every
    send sees the same account (the MT5 adapter reads the symbol's positions around each send)."""
    addr = client.address_of("broker/gateway", 5)
    opens, closes = [], []
    with client.asys.private() as ep:
        def ask(intent):
            t0 = time.perf_counter_ns()
            ep.tell(addr, m.encode(intent))
            while True:
                raw = ep.listen(10)
                if raw is None:
                    raise RuntimeError(f"no answer to {intent}")
                o = m.decode(raw)
                if isinstance(o, m.OrderOutcome) and o.intent_id == intent.intent_id:
                    if o.status not in ("filled", "closed"):
                        raise RuntimeError(f"{intent}: {o}")
                    return o, (time.perf_counter_ns() - t0) / 1e6

        for i in range(n + 20):
            o, dt = ask(m.OrderIntent(intent_id=uuid.uuid4().hex, plugin="combined_v3", symbol="EURUSD",
                                      side="BUY" if i % 2 else "SELL", volume=Decimal("0.01")))
            _, dt2 = ask(m.CloseIntent(intent_id=uuid.uuid4().hex, plugin="combined_v3", ticket=o.ticket))
            if i >= 20:
                opens.append(dt)
                closes.append(dt2)
    return opens, closes


def connected(client):
    return wait_for(lambda: (r := query(client, "status")) and r.data["connected"], 15, what="gateway connected")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    rows = []
    with bench_system() as s:
        connected(s.client)
        o, c = roundtrips(s.client, args.n)
        rows += [["paper", "open", *_row(o)], ["paper", "close", *_row(c)]]
    from tests.support.fake_mt5_server import FakeMT5Server

    with FakeMT5Server() as fake:
        toml = f'[broker]\nadapter = "mt5linux"\n[broker.mt5linux]\nport = {fake.port}\n'
        with bench_system(toml) as s:
            connected(s.client)
            o, c = roundtrips(s.client, args.n)
            rows += [["fake MT5 over rpyc (mt5linux)", "open", *_row(o)],
                     ["fake MT5 over rpyc (mt5linux)", "close", *_row(c)]]
    table(["adapter", "intent", "n", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows, "intent -> OrderOutcome round trip")

    subs = "".join(RECORDER_TOML.replace('name = "recorder"', f'name = "recorder{i}"') for i in range(6))
    symbols = ["EURUSD", "GBPUSD", "USDJPY", "USDCAD", "AUDUSD", "NZDUSD", "EURJPY", "GBPJPY", "AUDJPY", "XAUUSD"]
    toml = subs + '[broker.paper]\nprice_source = "walk"\ntick_interval_seconds = 0.1\n[pricefeed]\ninterval = 0.25\nsymbols = [' + \
        ", ".join(f'"{x}"' for x in symbols) + "]\n"
    with bench_system(toml) as s:
        connected(s.client)

        def count(i):
            return sum(len(e["ticks"]) for e in command(s.client, f"ops/recorder{i}", "seen").data["seen"]
                       if e["type"] == "Ticks")

        wait_for(lambda: all(count(i) for i in range(6)), 15, what="every subscriber gets ticks")
        c0, t0 = sum(count(i) for i in range(6)), time.monotonic()
        time.sleep(args.seconds)   # a measurement window, not synchronisation
        c1, t1 = sum(count(i) for i in range(6)), time.monotonic()
        rate = (c1 - c0) / (t1 - t0)
        table(["subscribers", "symbols", "batch interval s", "ticks/s delivered", "ticks/s per subscriber"],
              [[6, len(symbols), 0.25, round(rate, 1), round(rate / 6, 1)]], "tick fan-out")
    print("\n" + machine_line())


def _row(vals):
    st = summary(vals)
    return [st["n"], st["p50"], st["p90"], st["p99"], st["max"]]


if __name__ == "__main__":
    main()
