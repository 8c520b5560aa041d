"""Actor hop latency: round trips with our msgpack codec (ZepixActor) versus raw Thespian (pickled objects).

    python bench/actor_hop.py [--n 2000] [--warmup 200] [--rounds 20]

Starts a real Zepix actor system (``supervision.host``, loopback-only transport, multiprocTCPBase) and creates
in it, from the benchmark's AdminClient: an echo and a pinger of each kind (bench/bench_actors.py), every one
its own OS process. Four paths, ``n`` timed round trips each after ``warmup`` untimed ones (and 10 more at
the start of every later round), run in rounds that take turns (order reversed every other round) so load
from elsewhere on the machine hits all of them alike:

- actor -> actor: a pinger actor sends one tick to its echo child, waits for the answer, sends the next; each
  round trip is timed with ``perf_counter_ns`` inside the pinger process;
- external -> actor: the benchmark process (a private endpoint of the AdminClient's actor system, like
  ``AdminClient.ask``) sends a tick to an echo actor and waits for the answer.

Codec rows include encode + decode on both ends (and ZepixActor's dispatch); raw rows let Thespian pickle a
frozen dataclass with the same fields. A last table times the codec alone in this process.
"""
from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors import messages as m
from bench import bench_actors as ba
from bench._common import bench_system, descendants, machine_line, summary, table
from supervision.system import new_corr


def external_round_trips(asys, echo, codec: bool, n: int, warmup: int) -> list[int]:
    out = []
    with asys.private() as ep:
        for i in range(warmup + n):
            t0 = time.perf_counter_ns()
            if codec:
                ep.tell(echo, m.encode(ba.BenchTick(seq=i)))
                raw = ep.listen(5.0)
                reply = m.decode(raw)
            else:
                ep.tell(echo, ba.RawTick(seq=i))
                reply = ep.listen(5.0)
            t1 = time.perf_counter_ns()
            if reply is None or reply.seq != i:
                raise RuntimeError(f"external round trip {i}: unexpected reply {reply!r}")
            if i >= warmup:
                out.append(t1 - t0)
    return out


def actor_round_trips(asys, pinger, codec: bool, n: int, warmup: int) -> list[int]:
    corr = new_corr()
    with asys.private() as ep:
        if codec:
            ep.tell(pinger, m.encode(ba.HopRun(corr=corr, n=n, warmup=warmup)))
        else:
            ep.tell(pinger, ba.RawHopRun(corr=corr, n=n, warmup=warmup))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            raw = ep.listen(max(0.1, deadline - time.monotonic()))
            if raw is None:
                break
            reply = m.decode(raw) if codec and isinstance(raw, (bytes, bytearray)) else raw
            if getattr(reply, "corr", None) == corr:
                return list(reply.rtt_ns)
    raise RuntimeError("the pinger did not report within 60 s")


def codec_alone(iterations: int = 20000) -> list[list]:
    tick, raw = ba.BenchTick(seq=12345), ba.RawTick(seq=12345)
    rows = []
    for label, enc, dec, obj in (("msgpack codec (actors.messages)", m.encode, m.decode, tick),
                                 ("pickle (what Thespian does)", pickle.dumps, pickle.loads, raw)):
        data = enc(obj)
        t0 = time.perf_counter()
        for _ in range(iterations):
            enc(obj)
        t1 = time.perf_counter()
        for _ in range(iterations):
            dec(data)
        t2 = time.perf_counter()
        rows.append([label, len(data), (t1 - t0) / iterations * 1e6, (t2 - t1) / iterations * 1e6,
                     (t2 - t0) / iterations * 1e6])
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="timed round trips per path")
    p.add_argument("--warmup", type=int, default=200, help="untimed round trips before the first round")
    p.add_argument("--rounds", type=int, default=20,
                   help="the n round trips are split into this many rounds; the paths take turns, in reversed "
                        "order every other round, so load from elsewhere hits them alike")
    args = p.parse_args(argv)

    print("# Actor hop latency: msgpack codec (ZepixActor) vs raw Thespian\n")
    print(machine_line())
    started = time.monotonic()
    paths = [("actor -> actor", "codec"), ("actor -> actor", "raw"),
             ("external -> actor", "codec"), ("external -> actor", "raw")]
    rtts: dict[tuple[str, str], list[int]] = {k: [] for k in paths}
    walls: dict[tuple[str, str], float] = {k: 0.0 for k in paths}
    with bench_system() as system:
        asys = system.client.asys
        actors = {
            ("actor -> actor", "codec"): asys.createActor(ba.PINGER_CODEC),
            ("actor -> actor", "raw"): asys.createActor(ba.PINGER_RAW),
            ("external -> actor", "codec"): asys.createActor(ba.ECHO_CODEC),
            ("external -> actor", "raw"): asys.createActor(ba.ECHO_RAW),
        }
        per_round = [args.n // args.rounds + (1 if i < args.n % args.rounds else 0) for i in range(args.rounds)]
        for r, count in enumerate(per_round):
            warm = args.warmup if r == 0 else 10
            for key in (paths if r % 2 == 0 else paths[::-1]):
                kind, codec = key[0], key[1] == "codec"
                t0 = time.perf_counter()
                if kind == "actor -> actor":
                    got = actor_round_trips(asys, actors[key], codec, count, warm)
                else:
                    got = external_round_trips(asys, actors[key], codec, count, warm)
                walls[key] += time.perf_counter() - t0
                rtts[key].extend(got)
        system_procs = len(descendants())

    rows = []
    for key in paths:
        ms = [x / 1e6 for x in rtts[key]]
        s = summary(ms)
        rows.append([key[0], key[1], s["n"], s["mean"], s["p50"], s["p90"], s["p99"], s["max"],
                     round(1000.0 / s["mean"]) if s["mean"] else 0])
    table(["path", "messages", "n", "mean ms", "p50 ms", "p90 ms", "p99 ms", "max ms", "round trips/s"], rows,
          title=f"Round trip latency (n={args.n} per path after {args.warmup} warm-up, "
                f"{args.rounds} alternating rounds)")
    print("\nround trips/s = 1000 / mean (one message in flight at a time); each round trip is two messages.")

    def ratio(kind, col):
        c = summary([x / 1e6 for x in rtts[(kind, "codec")]])[col]
        r = summary([x / 1e6 for x in rtts[(kind, "raw")]])[col]
        return c, r, c - r, (c / r if r else float("nan"))

    diff_rows = []
    for kind in ("actor -> actor", "external -> actor"):
        for col in ("p50", "p99", "mean"):
            c, r, d, q = ratio(kind, col)
            diff_rows.append([kind, col, c, r, d, q])
    table(["path", "stat", "codec ms", "raw ms", "codec - raw ms", "codec / raw"], diff_rows,
          title="Cost of the codec per round trip")
    table(["serializer", "bytes", "encode µs", "decode µs", "both µs"], codec_alone(),
          title="Serialization alone, in this process (one tick message)")
    print(f"\nsystem processes during the run: {system_procs}; wall time {time.monotonic() - started:.1f} s · "
          f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
