"""Alert -> order accepted by the paper broker, through HTTP and every actor, next to the in-process floor.

    python bench/alert_to_order.py [--n 200] [--rate 20] [--pure 5000]

1. Floor: the same strategy called in-process, ``CombinedV3.decide`` on the same V3 entry alert, ``--pure`` times
   (per-call p50/p99 and decisions per second).
2. The whole system as ``run.py`` starts it (``supervision.host`` with the shipped configuration): the real
   webhook, journal, router, combined_v3, trading/risk, trading/positions and broker/gateway on the paper broker
   (balance raised so margin never refuses an order). ``--n`` unique V3 buy alerts are POSTed at ``--rate``
   alerts/s over one keep-alive connection (open loop: a slow answer does not delay the schedule). Each alert
   places Order A and Order B.

Latency of an alert = the time the paper broker accepted (filled) its order, as the gateway stamped it the moment the
broker's answer came back (the "executed" transition's time in the journal), minus the wall-clock time just before
the benchmark sent the HTTP request; both clocks are this machine's ``time.time()``. "first order" is the earlier of
A and B, "both orders" the later. Until 2026-11-22 the end point was later: when the gateway reported the fill,
after writing it to its ledger and answering the plugin; that is still printed ("first fill reported by the
gateway"), so figures stay comparable with older runs. Also from the journal: HTTP sent -> webhook received (the request read
and parsed) -> "routed" (handed to the plugin by the webhook, or by the router) -> plugin "decided". The first
10 alerts warm up (symbol info, connections, caches) and are left out.

3. CPU per alert by process (psutil: user + system time of every process of the system from the first third of
   the alerts to the last fill, divided by the alerts sent in that span): where the machine's time goes, Thespian's
   transport included. On two cores every process's share competes with the alert's own path.
"""
from __future__ import annotations

import argparse
import http.client
import json
import sqlite3
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

from bench._common import bench_system, descendants, machine_line, summary, table  # noqa: E402
from actors import messages as m  # noqa: E402
from bench.plugin_decision import pure  # noqa: E402  (the same floor)
from tests.support.system import wait_for  # noqa: E402

TOKEN = "a2o" + uuid.uuid4().hex
WARMUP = 10
CPU_ROWS = 10     # processes listed by name in the CPU table; the rest are summed
PATH_ACTORS = ("ingress/webhook", "trading/combined_v3", "trading/risk", "broker/gateway")
TOML = f"""
token = "{TOKEN}"
[broker.paper]
initial_balance = 10000000.0
[trading]
starting_balance = 10000000.0
"""


def body(i: int, exit_: bool = False) -> bytes:
    if exit_:
        return json.dumps({"type": "exit_v3", "signal_type": "Bullish_Exit", "symbol": "XAUUSD", "direction": "sell",
                           "tf": "15", "price": 4336.10, "consensus_score": 9, "market_trend": 1,
                           "reason": "TP_hit_or_reversal_or_momentum_loss", "id": f"a2o-x-{uuid.uuid4().hex}-{i}"}
                          ).encode()
    return json.dumps({"type": "entry_v3", "signal_type": "Institutional_Launchpad", "symbol": "XAUUSD",
                       "direction": "buy", "tf": "15", "price": 4335.49, "consensus_score": 8, "sl_price": 4328.12,
                       "tp1_price": 4346.545, "tp2_price": 4357.6, "mtf_trends": "1,1,1,1,-1", "market_trend": 1,
                       "position_multiplier": 0.8, "id": f"a2o-{uuid.uuid4().hex}-{i}"}).encode()


def post_all(port: int, n: int, rate: float, exits: bool = True,
             warmed=lambda: None) -> list[tuple[str, float, float, bool]]:
    """[(alert_id, sent at (time.time()), answered after (s), is an exit)] for every alert, sent on a fixed
    schedule. With ``exits`` every second alert is a Bullish_Exit that closes the buys: the book stays as small as a
    trader's (two positions); without, it grows by two positions per alert."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    start = time.perf_counter() + 0.2
    try:
        for i in range(n):
            due = start + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)          # pacing the load generator, not synchronisation
            if i == cpu_from(n):
                warmed()
            is_exit = exits and i % 2 == 1
            data = body(i, is_exit)
            sent = time.time()
            t0 = time.perf_counter()
            conn.request("POST", f"/webhook/{TOKEN}", data, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            answer = json.loads(resp.read())
            if resp.status != 200 or answer.get("status") != "accepted":
                raise RuntimeError(f"alert {i}: HTTP {resp.status} {answer}")
            out.append((answer["alert_id"], sent, time.perf_counter() - t0, is_exit))
    finally:
        conn.close()
    return out


def journal_times(db: Path, ids: list[str]) -> dict[str, dict[str, list[float]]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out: dict[str, dict[str, list[float]]] = {i: {} for i in ids}
        for alert_id, status, at, detail in conn.execute("SELECT alert_id, status, at, detail FROM transitions"):
            if alert_id in out:
                out[alert_id].setdefault(status, []).append(at)
                if status == "executed":
                    reported = json.loads(detail or "{}").get("reported_at")
                    out[alert_id].setdefault("reported", []).append(reported or at)
        return out
    finally:
        conn.close()


def cpu_from(n: int) -> int:
    """The alert from which CPU is counted: after the first third (the seconds after start-up carry the actors'
    own start-up work: connections, first queries, caches)."""
    return max(WARMUP, n // 3)


def cpu_by_actor() -> dict[str, float]:
    """CPU seconds (user + system) used so far by each process of the system, by its title ("zepix
    zepix-root/trading/risk" -> "trading/risk"; Thespian's logger and admin by their own names)."""
    out: dict[str, float] = {}
    for proc in descendants():
        try:
            argv = proc.cmdline()     # a retitled process keeps its old argument area: the title is argv[0]
            title = argv[0] if argv else proc.name()
            t = proc.cpu_times()
        except psutil.Error:
            continue
        if title.startswith("zepix zepix-root/"):
            name = title[len("zepix zepix-root/"):]
        elif title.startswith("zepix "):
            name = title[len("zepix "):]
        elif title.split(" ")[0] in ("logger", "MultiProcAdmin"):
            name = "thespian " + title.split(" ")[0]
        else:
            continue    # the benchmark's own client processes
        out[name] = out.get(name, 0.0) + t.user + t.system
    return out


def fast_loops(client) -> list[list]:
    """[path, handled, fast passes] of the actors on the path: how often each waited for its mail itself."""
    rows = []
    for path in PATH_ACTORS:
        reply = client.ask_actor(path, m.StatusRequest(corr=uuid.uuid4().hex), timeout=5)
        data = reply.data if reply else {}
        mail = data.get("mail", {})
        rows.append([path, data.get("handled", "?"), mail.get("fast_passes", "?"),
                     {True: "on", False: "unavailable", None: "off"}.get(mail.get("fast_loop"), "?")])
    return rows


def through_http(n: int, rate: float, exits: bool) -> dict:
    with bench_system(TOML) as s:
        port = s.config["webhook"]["port"]
        db = Path(s.config["system"]["data_dir"]) / s.config["journal"]["file"]
        cpu0: dict[str, float] = {}
        sent = post_all(port, n, rate, exits, warmed=lambda: cpu0.update(cpu_by_actor()))
        ids = [a for a, *_ in sent]
        need = {a: 1 if x else 2 for a, _, _, x in sent}      # an entry fills two orders, an exit closes

        def executed_both() -> int:
            t = journal_times(db, ids)
            return sum(1 for a, v in t.items() if len(v.get("executed", [])) >= need[a] or v.get("rejected")
                       or v.get("skipped"))
        wait_for(lambda: executed_both() >= len(ids), 60, interval=0.2, what="every alert's two orders filled")
        cpu1 = cpu_by_actor()
        # includes the system's idle ticking (heartbeats, timers) over the same seconds, a small share at 20/s
        cpu = {k: (cpu1[k] - cpu0.get(k, 0.0)) * 1000 / (n - cpu_from(n)) for k in cpu1}
        times = journal_times(db, ids)
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        reasons = conn.execute("SELECT status, reason, COUNT(*) FROM alerts WHERE status != 'executed' "
                               "GROUP BY status, reason").fetchall()
        conn.close()
        for status, reason, count in reasons:
            print(f"not executed: {count} x {status}: {reason}", file=sys.stderr)
        loops = fast_loops(s.client)
    first, both, ack, arrived, routed, decided, closed, reported, failed = [], [], [], [], [], [], [], [], 0
    for k, (alert_id, t_sent, answered, is_exit) in enumerate(sent):
        t = times[alert_id]
        if t.get("rejected") or t.get("skipped") or len(t.get("executed", [])) < need[alert_id]:
            failed += 1
            continue
        if k < WARMUP:
            continue
        if is_exit:
            closed.append((min(t["executed"]) - t_sent) * 1000)
            continue
        received = t["accepted"][0]
        ack.append(answered * 1000)
        arrived.append((received - t_sent) * 1000)
        routed.append((min(t["routed"]) - received) * 1000)
        decided.append((min(t["decided"]) - received) * 1000)
        ex = sorted(t["executed"])
        first.append((ex[0] - t_sent) * 1000)
        both.append((ex[1] - t_sent) * 1000)
        reported.append((min(t["reported"]) - t_sent) * 1000)
    return {"first": summary(first), "both": summary(both), "reported": summary(reported), "ack": summary(ack), "arrived": summary(arrived),
            "routed": summary(routed),
            "decided": summary(decided), "closed": summary(closed), "failed": failed, "cpu": cpu, "loops": loops}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--pure", type=int, default=5000)
    p.add_argument("--growing-book", action="store_true",
                   help="entries only: the paper book grows by two positions per alert")
    a = p.parse_args()
    print(machine_line())
    rate, floor = pure(a.pure)
    r = through_http(a.n, a.rate, not a.growing_book)
    rows = [["in-process CombinedV3.decide (the floor)", floor["n"], floor["p50"], floor["p99"], floor["max"]],
            ["HTTP POST -> 200 accepted (journal committed)", r["ack"]["n"], r["ack"]["p50"], r["ack"]["p99"],
             r["ack"]["max"]],
            ["HTTP sent -> webhook received (request read and parsed)", r["arrived"]["n"], r["arrived"]["p50"],
             r["arrived"]["p99"], r["arrived"]["max"]],
            ["webhook received -> 'routed' (handed to the plugin)", r["routed"]["n"], r["routed"]["p50"],
             r["routed"]["p99"], r["routed"]["max"]],
            ["webhook received -> combined_v3 'decided'", r["decided"]["n"], r["decided"]["p50"],
             r["decided"]["p99"], r["decided"]["max"]],
            ["HTTP sent -> first order filled (paper)", r["first"]["n"], r["first"]["p50"], r["first"]["p99"],
             r["first"]["max"]],
            ["HTTP sent -> both orders filled (paper)", r["both"]["n"], r["both"]["p50"], r["both"]["p99"],
             r["both"]["max"]],
            ["HTTP sent -> first fill reported by the gateway (ledger written)", r["reported"]["n"],
             r["reported"]["p50"], r["reported"]["p99"], r["reported"]["max"]]]
    if not a.growing_book:
        rows.append(["exit alert: HTTP sent -> first close filled", r["closed"]["n"], r["closed"]["p50"],
                     r["closed"]["p99"], r["closed"]["max"]])
    table(["path", "n", "p50 ms", "p99 ms", "max ms"], rows,
          title=f"Alert -> order at {a.rate:g} alerts/s through HTTP and every actor "
                f"({'entries only, growing book' if a.growing_book else 'entries and exits alternating'}; "
                f"failed: {r['failed']})")
    table(["figure", "value"], [
        ["in-process decisions per second", f"{rate:,.0f}"],
        ["first order p50 / floor p50", f"{r['first']['p50'] / floor['p50']:.0f}x"],
        ["first order p99 / floor p99", f"{r['first']['p99'] / floor['p99']:.0f}x"],
        ["targets (issue 5)", "p50 < 5 ms, p99 < 20 ms"]])
    cpu = sorted(r["cpu"].items(), key=lambda kv: -kv[1])
    top = [[name, f"{ms:.2f}"] for name, ms in cpu[:CPU_ROWS]]
    rest = sum(ms for _, ms in cpu[CPU_ROWS:])
    table(["process", "CPU ms per alert"],
          top + [[f"the other {len(cpu) - CPU_ROWS}", f"{rest:.2f}"],
                 ["all processes of the system", f"{sum(ms for _, ms in cpu):.2f}"]],
          title="CPU per alert, by process (user + system time from the first third on / alerts sent in it)")
    table(["actor", "messages handled", "fast-loop passes", "fast loop"], r["loops"],
          title="Wake-ups the actors on the path handled in their own wait (actors/base.py, fast_mail)")


if __name__ == "__main__":
    main()
