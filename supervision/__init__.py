"""The runtime: child specs, restart/backoff/circuit-breaker policy, the supervisor actor, tree snapshots and the admin CLI."""
