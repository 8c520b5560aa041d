"""Broker gateway figures: intent -> OrderOutcome round trip, and tick fan-out from broker/pricefeed.

    python bench/gateway_roundtrip.py [--n 300] [--seconds 5]

Round trip: the benchmark (a private endpoint, like a plugin actor) sends an OrderIntent to broker/gateway in a
real Zepix system and waits for its OrderOutcome; timed with perf_counter_ns, one at a time, alternating BUY
and SELL of 0.01 lots. Adapters: paper (SQLite WAL ledger + paper DB), and the fake MetaTrader5 served over
rpyc reached by the real mt5linux client (tests/support/fake_mt5_server.py). Each send also writes the
gateway's ledger twice (before and after), which is part of the figure.

Fan-out: 6 subscriber actors of "ticks", price source "walk" (every symbol moves every batch), 10 symbols,
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
from tests.support.broker import RECORDER_TOML, command, query, send_intent


def roundtrips(client, n: int) -> list[float]:
    out = []
    for i in range(n + 20):
        intent = m.OrderIntent(intent_id=uuid.uuid4().hex, plugin="combined_v3", symbol="EURUSD",
                               side="BUY" if i % 2 else "SELL", volume=Decimal("0.01"))
        t0 = time.perf_counter_ns()
        o = send_intent(client, intent, timeout=10)
        dt = (time.perf_counter_ns() - t0) / 1e6
        if o is None or o.status != "filled":
            raise RuntimeError(f"intent {i}: {o}")
        if i >= 20:
            out.append(dt)
    return out


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
        rows.append(["paper", *_row(roundtrips(s.client, args.n))])
    from tests.support.fake_mt5_server import FakeMT5Server

    with FakeMT5Server() as fake:
        toml = f'[broker]\nadapter = "mt5linux"\n[broker.mt5linux]\nport = {fake.port}\n'
        with bench_system(toml) as s:
            connected(s.client)
            rows.append(["fake MT5 over rpyc (mt5linux)", *_row(roundtrips(s.client, args.n))])
    table(["adapter", "n", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows, "intent -> OrderOutcome round trip")

    subs = "".join(RECORDER_TOML.replace('name = "recorder"', f'name = "recorder{i}"') for i in range(6))
    symbols = ["EURUSD", "GBPUSD", "USDJPY", "USDCAD", "AUDUSD", "NZDUSD", "EURJPY", "GBPJPY", "AUDJPY", "XAUUSD"]
    toml = subs + '[broker.paper]\nprice_source = "walk"\n[pricefeed]\ninterval = 0.25\nsymbols = [' + \
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
