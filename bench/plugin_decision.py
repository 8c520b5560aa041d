"""Plugin decision latency: AlertRoute -> decision -> risk check -> OrderIntents answered, through real actors.

    python bench/plugin_decision.py [--n 100] [--rate 20] [--pure 5000]

1. In-process floor: ``CombinedV3.decide`` on one V3 entry alert, ``--pure`` times (alerts/s, per-call p50/p99).
2. Through the actors: a real Zepix (supervision.host) with trading/risk, trading/combined_v3 and the paper-broker
   double at broker/gateway (tests/support/trading.py, the real gateway actor is another helper's work). The
   benchmark sends ``--n`` AlertRoutes at ``--rate`` alerts/s from an AdminClient endpoint and times each until
   its terminal AlertOutcome ("executed": both orders answered by the gateway); plugin-internal p50 from its
   status. Prints tables.
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors import messages as m
from bench._common import bench_system, machine_line, summary, table
from strategies.alerts.model import ParsedAlert
from strategies.decisions import Facts
from strategies.risk.pips import DEFAULT_SYMBOLS, resolve_spec
from strategies.v3.strategy import CombinedV3
from tests.support.alerts import alert_dict, v3_entry
from tests.support.system import wait_for
from tests.support.trading import doubles_toml

TOML = """
[plugins.price_action_1m]
enabled = false
[plugins.price_action_5m]
enabled = false
[plugins.price_action_15m]
enabled = false
[plugins.price_action_1h]
enabled = false
[plugins.legacy_v4]
enabled = false
""" + doubles_toml('balance = "10000000"')


def pure(n: int) -> tuple[float, dict]:
    strategy = CombinedV3()
    alert = ParsedAlert.from_dict(alert_dict(v3_entry()))
    facts = Facts(balance=Decimal(10000), spec=resolve_spec("XAUUSD", None, DEFAULT_SYMBOLS))
    now = datetime.now(timezone.utc)
    times = []
    t_all = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter_ns()
        strategy.decide(alert, {}, facts, now)
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return n / (time.perf_counter() - t_all), summary(times)


def through_actors(n: int, rate: float) -> tuple[dict, dict, int]:
    with bench_system(TOML) as s:
        client = s.client

        def status():
            r = client.ask_actor("trading/combined_v3", m.StatusRequest(corr=uuid.uuid4().hex), 2.0)
            return r.data if r else None
        wait_for(lambda: (d := status()) and all(d["peers"].values()), 15, what="plugin knows its peers")
        addr = client.address_of("trading/combined_v3")
        alert = alert_dict(v3_entry())
        lat, decided = [], []
        failures = 0
        with client.asys.private() as ep:
            for i in range(n + 10):
                t_next = time.perf_counter() + 1.0 / rate
                aid = f"bench-{i}-{uuid.uuid4().hex[:8]}"
                t0 = time.perf_counter_ns()
                ep.tell(addr, m.encode(m.AlertRoute(alert_id=aid, alert=alert, received_at=time.time())))
                while True:
                    raw = ep.listen(5.0)
                    if raw is None:
                        failures += 1
                        break
                    out = m.decode(raw)
                    if not isinstance(out, m.AlertOutcome) or out.alert_id != aid:
                        continue
                    if out.status == "decided" and i >= 10:
                        decided.append((time.perf_counter_ns() - t0) / 1e6)
                    if out.status in ("executed", "rejected", "skipped"):
                        if out.status != "executed":
                            failures += 1
                        if i >= 10:   # the first 10 warm up (symbol info, connections)
                            lat.append((time.perf_counter_ns() - t0) / 1e6)
                        break
                time.sleep(max(0.0, t_next - time.perf_counter()))
        return summary(lat), summary(decided), failures


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--pure", type=int, default=5000)
    a = p.parse_args()
    print(machine_line())
    rate, pure_s = pure(a.pure)
    full, decided, failures = through_actors(a.n, a.rate)
    table(["path", "n", "p50 ms", "p99 ms", "max ms"], [
        ["pure CombinedV3.decide (in-process floor)", pure_s["n"], pure_s["p50"], pure_s["p99"], pure_s["max"]],
        ["AlertRoute -> 'decided' outcome", decided["n"], decided["p50"], decided["p99"], decided["max"]],
        ["AlertRoute -> risk -> 2 intents filled -> 'executed'", full["n"], full["p50"], full["p99"], full["max"]],
    ], title=f"plugin decision latency at {a.rate:g} alerts/s (failures: {failures})")
    table(["figure", "value"], [["pure decisions per second", f"{rate:,.0f}"],
                                ["actors p50 / pure p50", f"{full['p50'] / pure_s['p50']:.0f}x"]])


if __name__ == "__main__":
    main()
