"""Pure decision logic: alerts to decisions, risk math, profit chains, re-entry, sessions. No I/O, no actors, no clocks: time is passed in so a backtest replays it exactly."""
