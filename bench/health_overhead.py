"""Cost of the ops actors: CPU and memory of the health monitor at several sample intervals, and the time of a
central database sync for N trades.

    python bench/health_overhead.py [--seconds 20] [--intervals 10,2,0.5] [--trades 1000,10000,50000]

Part 1 starts a real system per sample interval (with --extra worker actors so the tree is about as large as the
full Zepix tree) and reads the monitor's CPU time (psutil cpu_times of the ops/health process) over --seconds,
its RSS/PSS, and the time one sample takes (gathering the tree, psutil for every pid, a StatusRequest round trip
to every actor). Part 2 (no actors) writes N trades into a plugin database and times the first full sync into
zepix_bot.db, an incremental sync after 1% of the rows changed, and a sync with nothing new.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from _common import REPO, bench_system, machine_line, table  # noqa: F401

import psutil

from actors import messages as m
from gateways.storage import central_db, sync
from gateways.storage.migrations import migrate
from gateways.storage.sqlite import open_db
from tests.support.ops_data import plugin_db


def extra_workers(n: int) -> str:
    subs = ["ingress", "trading", "broker", "telegram"]
    return "".join(f'[[supervision.extra]]\nparent = "{subs[i % 4]}"\nname = "w{i}"\n'
                   f'actor = "tests.support.actors.Worker"\n' for i in range(n))


def monitor_cost(interval: float, seconds: float, workers: int) -> list:
    toml = f"[ops.health]\nsample_interval = {interval}\n" + extra_workers(workers)
    with bench_system(toml) as s:
        node = s.node("ops/health")
        proc = psutil.Process(node["pid"])
        time.sleep(max(2.0, interval))   # let the first samples happen
        c0, t0 = sum(proc.cpu_times()[:2]), time.monotonic()
        time.sleep(seconds)
        c1, t1 = sum(proc.cpu_times()[:2]), time.monotonic()
        mem = proc.memory_full_info()
        reply = s.client.ask_actor("ops/health", m.Command(corr=uuid.uuid4().hex, name="health"), 5.0)
        n_actors = len(reply.data["actors"]) if reply else 0
        st = s.client.ask_actor("ops/health", m.StatusRequest(corr=uuid.uuid4().hex), 5.0)
        return [f"{interval:g}", n_actors, f"{100 * (c1 - c0) / (t1 - t0):.2f}", f"{mem.rss / 2**20:.1f}",
                f"{mem.pss / 2**20:.1f}", st.data.get("last_sample_ms") if st else "-", st.data.get("samples") if st else "-"]


def sync_cost(n: int) -> list:
    tmp = Path(tempfile.mkdtemp(prefix="zepix-bench-sync-"))
    conn = plugin_db(tmp, "combined_v3")
    now = time.time()
    with conn:
        conn.executemany(
            "INSERT INTO trades (trade_id, order_role, intent_id, ticket, symbol, direction, lot_size, entry_price, "
            "status, profit, plugin_version, updated_at) VALUES (?, 'A', ?, ?, 'XAUUSD', 'BUY', '0.01', '2400.5', "
            "'CLOSED', '1.25', 'bench', ?)", [(f"t{i}", f"i{i}", i, now) for i in range(n)])
    central = open_db(central_db.path(tmp))
    migrate(central, central_db.MIGRATIONS)
    t0 = time.perf_counter()
    run = sync.sync_all(central, tmp, batch=n)
    full = time.perf_counter() - t0
    assert run.ok and run.summary()["written"] == n
    time.sleep(0.01)
    with conn:
        conn.execute("UPDATE trades SET profit = '2', updated_at = ? WHERE id % 100 = 0", (time.time(),))
    t0 = time.perf_counter()
    run = sync.sync_all(central, tmp, batch=n, lookback=0.0)
    inc = time.perf_counter() - t0
    changed = run.summary()["written"]
    t0 = time.perf_counter()
    sync.sync_all(central, tmp, batch=n, lookback=0.0)
    idle = time.perf_counter() - t0
    conn.close()
    central.close()
    return [n, f"{full * 1000:.0f}", f"{n / full:,.0f}", changed, f"{inc * 1000:.1f}", f"{idle * 1000:.2f}"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--intervals", default="10,2,0.5")
    ap.add_argument("--workers", type=int, default=12, help="extra worker actors (the full tree has ~20 actors)")
    ap.add_argument("--trades", default="1000,10000,50000")
    args = ap.parse_args()
    print(machine_line())
    rows = [monitor_cost(float(i), args.seconds, args.workers) for i in args.intervals.split(",")]
    table(["sample interval s", "actors", "monitor CPU %", "RSS MB", "PSS MB", "one sample ms", "samples"], rows,
          title=f"Health monitor cost over {args.seconds:g} s")
    rows = [sync_cost(int(n)) for n in args.trades.split(",")]
    table(["trades", "first sync ms", "rows/s", "changed rows", "incremental ms", "nothing new ms"], rows,
          title="Central database sync (one plugin database)")


if __name__ == "__main__":
    main()
