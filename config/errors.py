"""The one error type for invalid configuration: names the key, the value and what is allowed."""
from __future__ import annotations


class ConfigError(ValueError):
    """Invalid configuration. Start-up stops with this message; a hot reload keeps the running config."""

    def __init__(self, key: str, value: object, allowed: str):
        self.key = key
        self.value = value
        self.allowed = allowed
        super().__init__(f"config key {key!r} has value {value!r}; allowed: {allowed}")
