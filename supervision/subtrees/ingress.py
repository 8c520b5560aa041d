"""The ingress subtree: the webhook (HTTP + alert journal) and the router, both permanent.

The webhook restarts fast (short backoff) because TradingView does not retry; its socket is bound with
SO_REUSEADDR so a new instance gets the port at once. Configuration of ``[webhook.*]``, ``[alerts]`` and
``[routing]`` is checked here, at start-up, so a bad value stops the system with the key named instead of
crash-looping the actor.
"""
from __future__ import annotations

from config.errors import ConfigError
from gateways.http.access import Access
from strategies.alerts import ParserSettings
from strategies.routing import RoutingTable
from supervision.childspec import ChildSpec

WEBHOOK = "actors.webhook.WebhookActor"
ROUTER = "actors.router.RouterActor"


def check(cfg: dict) -> None:
    web = cfg["webhook"]
    lim = web["limits"]
    for key in ("max_body_bytes", "max_header_bytes", "max_connections", "rate_limit_burst"):
        if lim[key] < 1:
            raise ConfigError(f"webhook.limits.{key}", lim[key], "an integer >= 1")
    for key in ("read_timeout", "keepalive_timeout"):
        if lim[key] <= 0:
            raise ConfigError(f"webhook.limits.{key}", lim[key], "a number of seconds > 0")
    if lim["rate_limit_per_ip"] < 0:
        raise ConfigError("webhook.limits.rate_limit_per_ip", lim["rate_limit_per_ip"], "a number >= 0 (0: off)")
    Access.from_config(web["access"])
    ParserSettings.from_mapping(cfg.get("alerts", {}))
    RoutingTable.from_config(cfg.get("routing", {}))
    if cfg["routing"]["max_in_flight"] < 1:
        raise ConfigError("routing.max_in_flight", cfg["routing"]["max_in_flight"], "an integer >= 1")
    if cfg["routing"]["wait_max"] < 0:
        raise ConfigError("routing.wait_max", cfg["routing"]["wait_max"], "an integer >= 0")
    if cfg["routing"]["wait_timeout"] <= 0:
        raise ConfigError("routing.wait_timeout", cfg["routing"]["wait_timeout"], "seconds > 0")
    jr = cfg["journal"]
    for key in ("retention_days", "dedupe_window", "redeliver_max_age"):
        if jr[key] < 0:
            raise ConfigError(f"journal.{key}", jr[key], "a number >= 0")
    if not jr["file"] or "/" in jr["file"]:
        raise ConfigError("journal.file", jr["file"], "a file name inside system.data_dir")


def children(cfg: dict, defaults: dict) -> list[ChildSpec]:
    check(cfg)
    # Short backoff: TradingView does not retry. A longer hang timeout: under a burst on a busy 2-core host the
    # heartbeat answer was seen 3 s late (bench/webhook_latency.py), and killing a busy webhook drops every
    # connection it holds, so it must be really stuck before it is killed.
    webhook = {**defaults, "backoff_min": min(defaults["backoff_min"], 0.05),
               "backoff_max": min(defaults["backoff_max"], 1.0),
               "hang_timeout": max(defaults["hang_timeout"], 10.0)}
    return [ChildSpec(name="webhook", actor=WEBHOOK, restart="permanent", **webhook),
            ChildSpec(name="router", actor=ROUTER, restart="permanent", **defaults)]
