"""Restart policy, pure and clock-free: restart intensity, exponential backoff with jitter, circuit breaker.

The supervisor actor owns one of each per child and passes the current monotonic time in, so the rules are
unit-tested without processes and behave the same in every actor.
"""
from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field


class RestartIntensity:
    """OTP's restart intensity: more than ``intensity`` restarts within ``period`` seconds means give up."""

    def __init__(self, intensity: int, period: float):
        self.intensity = intensity
        self.period = period
        self._restarts: deque[float] = deque()

    def record(self, now: float) -> bool:
        """Count one restart; True while the limit is not exceeded."""
        self._restarts.append(now)
        self._forget(now)
        return len(self._restarts) <= self.intensity

    def count(self, now: float) -> int:
        self._forget(now)
        return len(self._restarts)

    def _forget(self, now: float) -> None:
        while self._restarts and now - self._restarts[0] > self.period:
            self._restarts.popleft()


class Backoff:
    """Exponential backoff with full jitter between ``minimum`` and ``maximum`` seconds.

    The first restart after a healthy run waits ``minimum`` (plus jitter), so a one-off crash is repaired
    quickly; a crash loop backs off towards ``maximum``.
    """

    def __init__(self, minimum: float, maximum: float, jitter: float = 0.2, rng: random.Random | None = None):
        self.minimum = minimum
        self.maximum = maximum
        self.jitter = jitter
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        # The exponent is capped: after 1024 failures without a healthy run 2**n no longer fits a float and
        # this raised OverflowError inside the supervisor's exit handling (crashing the supervisor).
        base = min(self.maximum, self.minimum * (2 ** min(self.failures, 64)))
        self.failures += 1
        return min(self.maximum, base * (1.0 + self._rng.uniform(0.0, self.jitter)))

    def reset(self) -> None:
        self.failures = 0


CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass
class CircuitBreaker:
    """Chooses the implementation of a child that has a fallback.

    closed: the primary runs. ``threshold`` failures within ``period`` seconds open the breaker: the fallback
    runs. After ``cooldown`` seconds the breaker is half-open: the primary is tried again; if it stays healthy
    for ``healthy_after`` seconds the breaker closes, if it fails the breaker opens again.
    """

    threshold: int
    period: float
    cooldown: float
    healthy_after: float
    state: str = CLOSED
    opened_at: float = 0.0
    _failures: deque = field(default_factory=deque)

    def implementation(self, now: float) -> str:
        """Which implementation to start now: "primary" or "fallback"."""
        if self.state == OPEN and now - self.opened_at >= self.cooldown:
            self.state = HALF_OPEN
        return "fallback" if self.state == OPEN else "primary"

    def record_failure(self, implementation: str, now: float) -> bool:
        """A child running ``implementation`` failed. True when this failure opened the breaker."""
        if implementation != "primary":
            return False
        if self.state == HALF_OPEN:
            self._open(now)
            return True
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.period:
            self._failures.popleft()
        if self.state == CLOSED and len(self._failures) >= self.threshold:
            self._open(now)
            return True
        return False

    def record_healthy(self, implementation: str, running_since: float, now: float) -> bool:
        """Called periodically while a child runs. True when this closed a half-open breaker."""
        if implementation == "primary" and self.state == HALF_OPEN and now - running_since >= self.healthy_after:
            self.state = CLOSED
            self._failures.clear()
            return True
        return False

    def _open(self, now: float) -> None:
        self.state = OPEN
        self.opened_at = now
        self._failures.clear()
