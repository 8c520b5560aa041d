"""Actors of the hop benchmark (bench/actor_hop.py): an echo and a pinger, once with our msgpack codec
(``ZepixActor`` subclasses, registered message types) and once as plain Thespian actors that send Python
objects (pickled by Thespian). Created by the benchmark in a running system, so forked actor processes import
this module (the system runs with the repo root as its working directory)."""
from __future__ import annotations

import time
from dataclasses import dataclass

from thespian.actors import Actor

from actors import messages as m
from actors.base import ZepixActor, handles

ECHO_CODEC = "bench.bench_actors.CodecEcho"
ECHO_RAW = "bench.bench_actors.RawEcho"
PINGER_CODEC = "bench.bench_actors.CodecPinger"
PINGER_RAW = "bench.bench_actors.RawPinger"


# -- messages: the same fields both ways ------------------------------------------------------------------------

@m.message("bench.tick")
@dataclass(frozen=True)
class BenchTick:
    """About the size of a price tick or a small event (~60 bytes of msgpack)."""
    seq: int
    symbol: str = "XAUUSD"
    bid: float = 2345.12
    ask: float = 2345.47
    source: str = "bench"


@m.message("bench.hop_run")
@dataclass(frozen=True)
class HopRun:
    corr: str
    n: int
    warmup: int


@m.message("bench.hop_result")
@dataclass(frozen=True)
class HopResult:
    corr: str
    rtt_ns: tuple
    pid: int = 0
    echo_pid: int = 0


@dataclass(frozen=True)
class RawTick:
    seq: int
    symbol: str = "XAUUSD"
    bid: float = 2345.12
    ask: float = 2345.47
    source: str = "bench"


@dataclass(frozen=True)
class RawHopRun:
    corr: str
    n: int
    warmup: int


@dataclass(frozen=True)
class RawHopResult:
    corr: str
    rtt_ns: tuple
    pid: int = 0
    echo_pid: int = 0


# -- with our codec ---------------------------------------------------------------------------------------------

class _Standalone(ZepixActor):
    """Started by the benchmark, not by a supervisor: there is no Init to wait for (a ZepixActor keeps every
    message that arrives before its Init until it comes)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.initialized = True


class CodecEcho(_Standalone):
    """Decodes each BenchTick and answers with it, encoded again (ZepixActor's decode -> dispatch -> tell)."""

    @handles(BenchTick)
    def _echo(self, msg: BenchTick, sender) -> None:
        self.tell(sender, msg)


class CodecPinger(_Standalone):
    """On HopRun: sends BenchTicks one at a time to its own CodecEcho child and times each round trip."""

    echo = None

    @handles(HopRun)
    def _run(self, msg: HopRun, sender) -> None:
        if self.echo is None:
            self.echo = self.createActor(ECHO_CODEC)
        self.run, self.asker, self.i, self.rtts = msg, sender, 0, []
        self._next()

    def _next(self) -> None:
        self.t0 = time.perf_counter_ns()
        self.tell(self.echo, BenchTick(seq=self.i))

    @handles(BenchTick)
    def _back(self, msg: BenchTick, sender) -> None:
        t = time.perf_counter_ns()
        if self.i >= self.run.warmup:
            self.rtts.append(t - self.t0)
        self.i += 1
        if self.i < self.run.warmup + self.run.n:
            self._next()
        else:
            import os
            self.tell(self.asker, HopResult(corr=self.run.corr, rtt_ns=tuple(self.rtts), pid=os.getpid()))


# -- raw Thespian -----------------------------------------------------------------------------------------------

class RawEcho(Actor):
    """Answers each RawTick with the same object (Thespian pickles it both ways)."""

    def receiveMessage(self, msg, sender):
        if isinstance(msg, RawTick):
            self.send(sender, msg)


class RawPinger(Actor):
    """The raw twin of CodecPinger."""

    echo = None

    def receiveMessage(self, msg, sender):
        if isinstance(msg, RawTick):
            t = time.perf_counter_ns()
            if self.i >= self.run.warmup:
                self.rtts.append(t - self.t0)
            self.i += 1
            if self.i < self.run.warmup + self.run.n:
                self._next()
            else:
                import os
                self.send(self.asker, RawHopResult(corr=self.run.corr, rtt_ns=tuple(self.rtts), pid=os.getpid()))
        elif isinstance(msg, RawHopRun):
            if self.echo is None:
                self.echo = self.createActor(ECHO_RAW)
            self.run, self.asker, self.i, self.rtts = msg, sender, 0, []
            self._next()

    def _next(self) -> None:
        self.t0 = time.perf_counter_ns()
        self.send(self.echo, RawTick(seq=self.i))
