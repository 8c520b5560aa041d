"""Webhook acknowledgement latency and throughput on loopback, against a running Zepix and a minimal aiohttp server.

    python bench/webhook_latency.py [--requests 2000] [--levels 1,50,200]

For each concurrency level, that many keep-alive clients (asyncio, one connection each) POST unique V3 alerts
until ``--requests`` are answered; a request's latency runs from its first byte sent to its last byte received,
and the answer is only sent after the journal commit (WAL, synchronous=NORMAL), so it includes parse, dedupe,
journal write and the HTTP round trip. Then the run waits until every accepted alert has been routed and
decided by a plugin test double (``tests.support.plugins.RecordingPlugin`` at ``trading/combined_v3``) and
reports the sustained rate, zero loss checked in the journal.

The same client load is run against a minimal aiohttp server (in its own process) doing the same work per
request (parse_alert, dedupe keys, Journal.accept on its own file), and the ratio of the two is printed.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import bench_system, summary, table  # noqa: E402
from tests.support.system import free_port, wait_for  # noqa: E402

TOKEN = "b" + uuid.uuid4().hex


def alert_body(i: int) -> bytes:
    return json.dumps({"type": "entry_v3", "signal_type": "Institutional_Launchpad", "symbol": "XAUUSD",
                       "direction": "buy", "tf": "15", "price": 4335.49, "consensus_score": 8, "sl_price": 4328.12,
                       "tp1_price": 4346.545, "tp2_price": 4357.6, "mtf_trends": "1,1,1,1,-1", "market_trend": 1,
                       "position_multiplier": 0.8, "id": f"{uuid.uuid4().hex}-{i}"}).encode()


async def _exchange(reader, writer, path: str, body: bytes) -> tuple[bytes, bytes]:
    """One POST on a keep-alive connection: (status line and headers, body)."""
    writer.write((f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}"
                  f"\r\n\r\n").encode() + body)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


def _record(head: bytes, data: bytes, ids: list, errors: list) -> None:
    if head.startswith(b"HTTP/1.1 200"):
        ids.append(json.loads(data)["alert_id"])
    else:
        errors.append(head.split(b"\r\n", 1)[0].decode())


async def _client(port: int, path: str, jobs: asyncio.Queue, lat: list, ids: list, errors: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            try:
                i = jobs.get_nowait()
            except asyncio.QueueEmpty:
                return
            body = alert_body(i)
            t0 = time.perf_counter()
            head, data = await _exchange(reader, writer, path, body)
            lat.append(time.perf_counter() - t0)
            _record(head, data, ids, errors)
    finally:
        writer.close()


async def _load(port: int, path: str, clients: int, n: int):
    jobs: asyncio.Queue = asyncio.Queue()
    for i in range(n):
        jobs.put_nowait(i)
    lat: list = []
    ids: list = []
    errors: list = []
    t0 = time.perf_counter()
    await asyncio.gather(*(_client(port, path, jobs, lat, ids, errors) for _ in range(clients)))
    return lat, ids, errors, time.perf_counter() - t0


def load(port: int, path: str, clients: int, n: int):
    return asyncio.run(_load(port, path, clients, n))


async def _paced_client(port: int, path: str, start: float, period: float, count: int, first: int, lat: list,
                        ids: list, errors: list, late: list) -> None:
    """One keep-alive client sending ``count`` alerts, one every ``period`` seconds from ``start`` (open loop:
    the schedule does not wait for slow answers; a request that could not leave on time counts from its due
    time, so a slow server cannot hide its queueing by slowing the clients down)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    try:
        for k in range(count):
            due = start + k * period
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late.append(-delay)
            head, data = await _exchange(reader, writer, path, alert_body(first + k))
            lat.append(loop.time() - due)
            _record(head, data, ids, errors)
    finally:
        writer.close()


async def _paced(port: int, path: str, clients: int, rate: float, seconds: float):
    loop = asyncio.get_running_loop()
    per_client = rate / clients
    period = 1.0 / per_client
    count = max(1, int(seconds * per_client))
    start = loop.time() + 0.5
    lat: list = []
    ids: list = []
    errors: list = []
    late: list = []
    # client c starts at its own phase, so the offered load is spread evenly over time
    await asyncio.gather(*(_paced_client(port, path, start + c * period / clients, period, count, c * count, lat, ids,
                                         errors, late) for c in range(clients)))
    return lat, ids, errors, loop.time() - start, late     # from the first due time, not the connection set-up


def paced(port: int, path: str, clients: int, rate: float, seconds: float):
    return asyncio.run(_paced(port, path, clients, rate, seconds))


AIOHTTP_SERVER = r'''
import sys, time, secrets
from datetime import datetime, timezone
from aiohttp import web
from gateways.storage.journal import Journal
from strategies.alerts import AlertError, ParserSettings, content_key, dedupe_key, parse_alert
port, db = int(sys.argv[1]), sys.argv[2]
journal, settings = Journal(db), ParserSettings()
async def hook(request):
    body = await request.read()
    received = time.time()
    alert_id = f"{received:.3f}-{secrets.token_hex(4)}"
    try:
        parsed = parse_alert(body, settings=settings)
    except AlertError as err:
        return web.json_response({"status": "rejected", "error": err.message}, status=422)
    intake = journal.accept(alert_id=alert_id, received_at=received, client=request.remote or "", hints={},
                            raw_body=body, alert=parsed.to_dict(),
                            dedupe_key=dedupe_key(parsed, body, datetime.fromtimestamp(received, timezone.utc)),
                            content_key=None if parsed.alert_id else content_key(parsed, body), window_s=300.0)
    return web.json_response({"status": intake.status, "alert_id": alert_id})
app = web.Application(client_max_size=65536)
app.router.add_post("/webhook/{token}", hook)
web.run_app(app, host="127.0.0.1", port=port, print=lambda *a: print("READY", flush=True), access_log=None)
'''


def run_levels(name: str, port: int, path: str, levels: list[int], n: int, rate: float, seconds: float) -> dict:
    out = {}
    load(port, path, 4, 100)          # warm-up (connections, page cache, JIT-free Python paths)
    for clients in levels:
        lat, ids, errors, wall = load(port, path, clients, n)
        s = summary([x * 1000 for x in lat])
        out[clients] = {"p50": s["p50"], "p90": s["p90"], "p99": s["p99"], "max": s["max"], "rate": len(lat) / wall,
                        "ok": len(ids), "errors": len(errors), "ids": ids}
        print(f"{name}: {clients} clients flooding: {len(lat)} answers in {wall:.2f}s, errors {len(errors)}"
              + (f" (first: {errors[0]})" if errors else ""), file=sys.stderr)
        lat, pids, errors, wall, late = paced(port, path, clients, rate, seconds)
        s = summary([x * 1000 for x in lat])
        out[clients]["paced"] = {"p50": s["p50"], "p99": s["p99"], "max": s["max"], "rate": len(lat) / wall,
                                 "errors": len(errors), "late": len(late), "n": len(lat)}
        out[clients]["ids"] = ids + pids
        print(f"{name}: {clients} clients at {rate:g}/s: {len(lat)} answers, errors {len(errors)}, "
              f"{len(late)} sent late", file=sys.stderr)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--levels", default="1,50,200")
    ap.add_argument("--rate", type=float, default=300.0, help="offered alerts/s of the paced runs")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each paced run")
    args = ap.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"commit {commit}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}")

    toml = (f'token = "{TOKEN}"\n[webhook.limits]\nrate_limit_per_ip = 0.0\nmax_connections = 1024\n'
            '[supervision.subtrees.trading]\nbuiltin = false\n'
            '[[supervision.extra]]\nparent = "trading"\nname = "combined_v3"\n'
            'actor = "tests.support.plugins.RecordingPlugin"\n')
    with bench_system(toml) as s:
        port = s.config["webhook"]["port"]
        zepix = run_levels("zepix", port, f"/webhook/{TOKEN}", levels, args.requests, args.rate, args.seconds)
        ids = [i for r in zepix.values() for i in r["ids"]]
        db = Path(s.config["system"]["data_dir"]) / s.config["journal"]["file"]

        def decided() -> int:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                return conn.execute("SELECT COUNT(*) FROM alerts WHERE status = 'decided'").fetchone()[0]
            finally:
                conn.close()

        # sustained: first let the latency runs drain, then one burst at 50 clients, timed from its first request
        # until every one of its alerts is decided
        wait_for(lambda: decided() >= len(ids) + 100, 300, interval=0.1, what="latency runs drained")
        base = decided()
        t0 = time.perf_counter()
        lat, burst_ids, errors, wall = load(port, f"/webhook/{TOKEN}", 50, args.requests)
        try:
            wait_for(lambda: decided() - base >= len(burst_ids), 120, interval=0.05, what="all decided")
        except AssertionError:
            pass
        routed_wall = time.perf_counter() - t0
        expected = len(ids) + len(burst_ids) + 100        # +100: the warm-up
        try:
            wait_for(lambda: decided() >= expected, 60, what="every alert decided")
        except AssertionError:
            pass
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        by_status = dict(conn.execute("SELECT status, COUNT(*) FROM alerts GROUP BY status").fetchall())
        conn.close()
        print(f"journal: {by_status}", file=sys.stderr)
        lost = expected - decided()

    aport = free_port()
    adb = Path(os.environ.get("TMPDIR", "/tmp")) / f"zepix-bench-aiohttp-{uuid.uuid4().hex}.db"
    proc = subprocess.Popen([sys.executable, "-c", AIOHTTP_SERVER, str(aport), str(adb)],
                            cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout.readline().startswith("READY")
        aio = run_levels("aiohttp", aport, f"/webhook/{TOKEN}", levels, args.requests, args.rate, args.seconds)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for suffix in ("", "-wal", "-shm"):
            Path(str(adb) + suffix).unlink(missing_ok=True)

    rows = []
    for c in levels:
        z, a = zepix[c], aio[c]
        rows.append([c, f"{z['p50']:.2f} ms", f"{z['p99']:.2f} ms", f"{z['max']:.2f} ms", f"{z['rate']:.0f}/s",
                     z["errors"], f"{a['p50']:.2f} ms", f"{a['p99']:.2f} ms", f"{a['rate']:.0f}/s",
                     f"{z['p99'] / a['p99']:.2f}", f"{z['rate'] / a['rate']:.2f}"])
    table(["clients", "zepix p50", "zepix p99", "zepix max", "zepix acks", "errors", "aiohttp p50", "aiohttp p99",
           "aiohttp acks", "p99 ratio", "rate ratio"], rows,
          title=f"Ack latency (journal commit included), {args.requests} unique V3 alerts per level, keep-alive")
    rows = []
    for c in levels:
        z, a = zepix[c]["paced"], aio[c]["paced"]
        rows.append([c, f"{args.rate:g}/s", f"{z['p50']:.2f} ms", f"{z['p99']:.2f} ms", f"{z['max']:.2f} ms",
                     f"{z['rate']:.0f}/s", z["errors"], z["late"], f"{a['p50']:.2f} ms", f"{a['p99']:.2f} ms",
                     f"{z['p99'] / a['p99']:.2f}"])
    table(["clients", "offered", "zepix p50", "zepix p99", "zepix max", "answered", "errors", "sent late",
           "aiohttp p50", "aiohttp p99", "p99 ratio"], rows,
          title=f"Ack latency at a steady {args.rate:g} alerts/s spread over the clients (open loop, "
                f"{args.seconds:g} s per level; latency from each request's due time)")
    table(["alerts", "acked at 50 clients", "all routed+decided", "sustained rate", "lost"],
          [[len(burst_ids), f"{wall:.2f} s", f"{routed_wall:.2f} s", f"{len(burst_ids) / routed_wall:.0f}/s",
            lost]], title="Sustained: journaled, routed and decided by a plugin, zero loss")
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
