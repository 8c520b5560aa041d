"""Supervision timings: restart after SIGKILL, hang detected -> replaced, fallback activation.

    python bench/restart.py [--kills 20] [--hangs 10] [--fallbacks 5]

Starts a real Zepix actor system (``supervision.host``) with three extra workers from
``[[supervision.extra]]`` and subscribes to the root supervisor's events (``Subscribe`` from a private
endpoint of the AdminClient's actor system). Event times are the supervisor's ``at`` (unix time, stamped when
it saw the transition); the benchmark takes ``time.time()`` just before it signals, on the same host clock.

1. restart: ``ops/victim`` (tests.support.actors.Worker) is SIGKILLed ``--kills`` times; measured: SIGKILL ->
   ``exited`` (the supervisor hears of the exit) and SIGKILL -> ``restarted`` (the new process answered
   ``Init`` with ``Started``). ``healthy_after = 0.3`` and a pause of 0.6-0.8 s (random, so kills land at a
   random phase of the supervisor's 0.1 s tick) between kills let the backoff reset, so each kill is a one-off
   crash (first backoff ``backoff_min`` = 0.05 s + up to 20 % jitter); back-to-back kills would measure the
   exponential backoff instead.
2. hang: ``broker/hanger`` (heartbeat_interval 0.25 s, hang_timeout 1.0 s) is SIGSTOPped ``--hangs`` times;
   measured: SIGSTOP -> ``hung`` (the supervisor SIGKILLs it) and SIGSTOP -> ``restarted``.
3. fallback: ``trading/crashy`` (tests.support.actors.CrashOnStart, fallback tests.support.actors.Fallback,
   breaker_threshold 3, breaker_cooldown 2 s). Each repetition sets ZEPIX_TEST_DIR/crash_ctor.remaining so
   every new primary raises in its constructor, then SIGKILLs the running primary (the first failure); the
   two failed restarts that follow open the breaker. Measured: first failure (its ``exited`` event) ->
   ``fallback_on`` and -> the fallback's ``restarted`` event with implementation "fallback". Between
   repetitions the counter is cleared, the cool-down waited out, and the child restarted through the admin
   ``RestartChild`` so the primary runs again (half-open -> closed).
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors import messages as m
from bench._common import bench_system, machine_line, summary, table
from supervision.system import new_corr

CONFIG = """
[supervision.subtrees.ops]
intensity = 1000
period = 60.0
[supervision.subtrees.broker]
intensity = 1000
period = 60.0
[supervision.subtrees.trading]
intensity = 1000
period = 60.0

[[supervision.extra]]
parent = "ops"
name = "victim"
actor = "tests.support.actors.Worker"
healthy_after = 0.3

[[supervision.extra]]
parent = "broker"
name = "hanger"
actor = "tests.support.actors.Worker"
heartbeat_interval = 0.25
hang_timeout = 1.0
healthy_after = 0.3

[[supervision.extra]]
parent = "trading"
name = "crashy"
actor = "tests.support.actors.CrashOnStart"
fallback = "tests.support.actors.Fallback"
breaker_threshold = 3
breaker_period = 60.0
breaker_cooldown = 2.0
healthy_after = 0.3
"""

TARGET_P99_MS = 500.0


class Events:
    """Supervision events of the whole tree, from a subscription at the root."""

    def __init__(self, client):
        self.client = client
        self._ctx = client.asys.private()
        self.ep = self._ctx.__enter__()
        self.root = client.root()
        self.ep.tell(self.root, m.encode(m.Subscribe()))
        self.log: list[tuple[float, m.SupervisionEvent]] = []
        # A status round trip on the same endpoint: once it is answered the root has our subscription.
        corr = new_corr()
        self.ep.tell(self.root, m.encode(m.StatusRequest(corr=corr)))
        self._wait(lambda msg: getattr(msg, "corr", None) == corr, 5.0, "status reply")

    def _wait(self, pred, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {what} within {timeout} s; last events: "
                                   f"{[(e.kind, e.child, e.details) for _, e in self.log[-8:]]}")
            raw = self.ep.listen(left)
            if raw is None:
                continue
            try:
                msg = m.decode(raw)
            except m.CodecError:
                continue
            if isinstance(msg, m.SupervisionEvent):
                self.log.append((time.time(), msg))
            if pred(msg):
                return msg

    def wait(self, child: str, kind: str, timeout: float = 10.0, **details) -> m.SupervisionEvent:
        def match(msg):
            return (isinstance(msg, m.SupervisionEvent) and msg.child == child and msg.kind == kind
                    and all(msg.details.get(k) == v for k, v in details.items()))
        return self._wait(match, timeout, f"{kind} event of {child} {details or ''}")

    def received_at(self, event) -> float:
        return next(t for t, e in self.log if e is event)

    def close(self) -> None:
        try:
            self.ep.tell(self.root, m.encode(m.Subscribe(subscribe=False)))
        finally:
            self._ctx.__exit__(None, None, None)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


_rng = random.Random(20)


def pause() -> None:
    """0.6 s (> healthy_after + one supervisor tick: the backoff resets, so the next failure is a one-off) plus a
    random 0-0.2 s, so the signal lands at a random phase of the supervisor's 0.1 s tick and heartbeat."""
    time.sleep(0.6 + _rng.uniform(0.0, 0.2))


def bench_kills(system, events: Events, kills: int) -> dict:
    pid = system.node("ops/victim")["pid"]
    to_exit, to_restart, to_seen = [], [], []
    for _ in range(kills):
        t = time.time()
        os.kill(pid, signal.SIGKILL)
        exited = events.wait("victim", "exited")
        restarted = events.wait("victim", "restarted")
        new = restarted.details["pid"]
        assert new != pid and alive(new), f"victim was not replaced: old {pid}, new {new}"
        to_exit.append((exited.at - t) * 1000)
        to_restart.append((restarted.at - t) * 1000)
        to_seen.append((events.received_at(restarted) - t) * 1000)
        pid = new
        pause()
    return {"SIGKILL -> exited": to_exit, "SIGKILL -> restarted": to_restart,
            "SIGKILL -> restarted received by subscriber": to_seen}


def bench_hangs(system, events: Events, hangs: int) -> dict:
    pid = system.node("broker/hanger")["pid"]
    to_hung, to_restart = [], []
    for _ in range(hangs):
        t = time.time()
        os.kill(pid, signal.SIGSTOP)
        hung = events.wait("hanger", "hung", pid=pid)
        restarted = events.wait("hanger", "restarted")
        new = restarted.details["pid"]
        assert new != pid and alive(new) and not alive(pid), f"hanger not replaced: old {pid}, new {new}"
        to_hung.append((hung.at - t) * 1000)
        to_restart.append((restarted.at - t) * 1000)
        pid = new
        pause()
    return {"SIGSTOP -> hung": to_hung, "SIGSTOP -> restarted": to_restart}


def bench_fallbacks(system, events: Events, reps: int) -> tuple[dict, list[str]]:
    counter = system.dir / "crash_ctor.remaining"
    to_on, to_fallback, from_kill = [], [], []
    notes = []
    for rep in range(reps):
        node = system.node("trading/crashy")
        assert node["state"] == "running" and node["implementation"] == "primary", node
        counter.write_text("1000")
        pause()
        t = time.time()
        os.kill(node["pid"], signal.SIGKILL)
        first = events.wait("crashy", "exited")
        on = events.wait("crashy", "fallback_on")
        fb = events.wait("crashy", "restarted", implementation="fallback")
        failures = sum(1 for _, e in events.log if e.child == "crashy" and e.kind == "exited" and e.at >= first.at
                       and e.at <= on.at)
        to_on.append((on.at - first.at) * 1000)
        to_fallback.append((fb.at - first.at) * 1000)
        from_kill.append((fb.at - t) * 1000)
        if rep == 0:
            notes.append(f"failures before the breaker opened: {failures} (reasons: "
                         + "; ".join(sorted({e.reason for _, e in events.log if e.child == 'crashy'
                                             and e.kind == 'exited' and first.at <= e.at <= on.at})) + ")")
        if rep == reps - 1:
            break
        # back to the primary for the next repetition: no more constructor failures, wait out the cool-down,
        # restart through the admin (half-open -> the primary starts -> healthy -> closed)
        counter.write_text("0")
        time.sleep(2.1)
        reply = system.client.ask(m.RestartChild(corr=new_corr(), name="trading/crashy"), 5.0)
        assert reply is not None and reply.ok, reply
        events.wait("crashy", "restarted", implementation="primary")
        events.wait("crashy", "fallback_off", timeout=10.0)
    return ({"first failure -> fallback_on": to_on, "first failure -> fallback restarted": to_fallback,
             "SIGKILL -> fallback restarted": from_kill}, notes)


def rows_of(results: dict, target: float | None = None) -> list[list]:
    rows = []
    for label, values in results.items():
        s = summary(values)
        row = [label, s["n"], s["mean"], s["p50"], s["p90"], s["p99"], s["min"], s["max"]]
        if target is not None:
            row.append(("yes" if s["p99"] < target else "NO") if "restarted" in label and "received" not in label
                       else "")
        rows.append(row)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--hangs", type=int, default=10)
    p.add_argument("--fallbacks", type=int, default=5)
    args = p.parse_args(argv)
    print("# Supervision timings: restart, hang, fallback\n")
    print(machine_line())
    started = time.monotonic()
    headers = ["measure", "n", "mean ms", "p50 ms", "p90 ms", "p99 ms", "min ms", "max ms"]
    with bench_system(CONFIG) as system:
        events = Events(system.client)
        try:
            kills = bench_kills(system, events, args.kills)
            hangs = bench_hangs(system, events, args.hangs)
            fallbacks, notes = bench_fallbacks(system, events, args.fallbacks)
            spurious = [(e.kind, e.child, e.reason) for _, e in events.log
                        if e.child not in ("victim", "hanger", "crashy")]
        finally:
            events.close()
    table(headers + [f"p99 < {TARGET_P99_MS:g} ms"], rows_of(kills, TARGET_P99_MS),
          title=f"Restart after SIGKILL (ops/victim, {args.kills} kills, one-off crashes)")
    table(headers, rows_of(hangs),
          title=f"Hang detected -> replaced (broker/hanger, heartbeat 0.25 s, hang_timeout 1.0 s, "
                f"{args.hangs} SIGSTOPs)")
    table(headers, rows_of(fallbacks),
          title=f"Fallback activation (trading/crashy, breaker_threshold 3, {args.fallbacks} repetitions)")
    for note in notes:
        print(f"\n{note}")
    print(f"\nevents of other children during the run: {spurious or 'none'}")
    print(f"wall time {time.monotonic() - started:.1f} s · load average at the end "
          f"{os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
