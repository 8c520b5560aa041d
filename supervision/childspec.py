"""Child specifications in OTP's vocabulary: what to start, how to restart it, how to tell it is alive.

A ``ChildSpec`` travels inside ``Init`` messages as a plain dict (``to_dict``/``from_dict``), so a supervisor
process can build its own children from the spec its parent handed it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from config.errors import ConfigError

RESTART_TYPES = ("permanent", "transient", "temporary")
STRATEGIES = ("one_for_one", "rest_for_one")
KINDS = ("worker", "supervisor")


@dataclass(frozen=True)
class ChildSpec:
    name: str
    actor: str                              # dotted path of the actor class
    kind: str = "worker"
    restart: str = "permanent"              # permanent: always; transient: after abnormal exits; temporary: never
    intensity: int = 5                      # max restarts within period before this supervisor escalates
    period: float = 30.0
    backoff_min: float = 0.05
    backoff_max: float = 5.0
    heartbeat_interval: float = 1.0
    hang_timeout: float = 3.0
    start_timeout: float = 10.0             # Init -> Started, else the child counts as hung
    shutdown_timeout: float = 5.0
    healthy_after: float = 10.0             # a run this long resets the backoff (and closes a half-open breaker)
    fallback: str | None = None             # dotted path of the fallback implementation
    breaker_threshold: int = 3              # failures within breaker_period that switch to the fallback
    breaker_period: float = 60.0
    breaker_cooldown: float = 30.0          # then the primary is tried again (half-open)
    strategy: str = "one_for_one"           # supervisors only
    requires: dict = field(default_factory=dict)   # Thespian capabilities the child needs (multi-host placement)
    options: dict = field(default_factory=dict)    # actor-specific settings
    children: tuple = ()                    # supervisors only: tuple of ChildSpec

    def __post_init__(self):
        where = f"child {self.name!r}"
        if not self.name or "/" in self.name:
            raise ConfigError(f"{where}.name", self.name, "a non-empty name without '/'")
        if self.kind not in KINDS:
            raise ConfigError(f"{where}.kind", self.kind, " | ".join(KINDS))
        if self.restart not in RESTART_TYPES:
            raise ConfigError(f"{where}.restart", self.restart, " | ".join(RESTART_TYPES))
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"{where}.strategy", self.strategy, " | ".join(STRATEGIES))
        for key in ("period", "backoff_min", "backoff_max", "heartbeat_interval", "hang_timeout",
                    "start_timeout", "shutdown_timeout", "breaker_period", "breaker_cooldown"):
            if not isinstance(getattr(self, key), (int, float)) or getattr(self, key) <= 0:
                raise ConfigError(f"{where}.{key}", getattr(self, key), "a number of seconds > 0")
        if self.backoff_max < self.backoff_min:
            raise ConfigError(f"{where}.backoff_max", self.backoff_max, f">= backoff_min ({self.backoff_min})")
        if self.hang_timeout <= self.heartbeat_interval:
            raise ConfigError(f"{where}.hang_timeout", self.hang_timeout,
                              f"> heartbeat_interval ({self.heartbeat_interval})")
        if not isinstance(self.intensity, int) or self.intensity < 0:
            raise ConfigError(f"{where}.intensity", self.intensity, "an integer >= 0")
        if not isinstance(self.breaker_threshold, int) or self.breaker_threshold < 1:
            raise ConfigError(f"{where}.breaker_threshold", self.breaker_threshold, "an integer >= 1")
        names = [c.name for c in self.children]
        if len(names) != len(set(names)):
            raise ConfigError(f"{where}.children", names, "unique names")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["children"] = [c.to_dict() for c in self.children]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ChildSpec":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"child {d.get('name')!r}", sorted(unknown), f"keys among {sorted(known)}")
        d = dict(d)
        d["children"] = tuple(cls.from_dict(c) for c in d.get("children", ()))
        return cls(**d)

    def with_children(self, children) -> "ChildSpec":
        return replace(self, children=tuple(children))
