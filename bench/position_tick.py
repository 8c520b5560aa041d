"""Tick-batch processing time of the position manager with N open chains and monitors (issue 6 benchmark).

Runs the real PositionManager handlers in-process (no actor system: sending is stubbed, the SQLite store is real,
in a temp dir), opens N trades (half Order B profit chains, half Order A with a trailing/profit-lock monitor) over
10 symbols, then feeds batches of 10 ticks that move prices without booking anything and measures each batch
(handler + commit). Prints p50/p99 per batch.

    python bench/position_tick.py [--n 200 50] [--batches 500]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors import messages as m  # noqa: E402
from actors.positions import PositionManager  # noqa: E402
from config.loader import load_config  # noqa: E402

SYMBOLS = {"EURUSD": "1.08500", "GBPUSD": "1.27000", "AUDUSD": "0.66000", "NZDUSD": "0.61000",
           "USDCAD": "1.36000", "USDJPY": "150.000", "EURJPY": "160.000", "GBPJPY": "190.000",
           "AUDJPY": "98.000", "XAUUSD": "2000.00"}


def manager(data_dir: Path) -> PositionManager:
    pm = PositionManager()
    pm.config = load_config(env={}, overrides={"system.data_dir": str(data_dir)})
    pm.path = "trading/positions"
    pm.after = lambda *a, **k: None
    pm.send = lambda *a, **k: None
    pm.notify = lambda *a, **k: None
    pm.setup()
    return pm


def run(n: int, batches: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        pm = manager(Path(tmp))
        names = list(SYMBOLS)
        ticks0 = []
        for sym, px in SYMBOLS.items():
            p = Decimal(px)
            ticks0.append((sym, p, p + p / 100000, time.time()))
        pm._on_ticks(m.Ticks(ticks=tuple(ticks0)), None)
        for i in range(n):
            sym = names[i % len(names)]
            p = Decimal(SYMBOLS[sym])
            pip = Decimal("0.01") if "JPY" in sym or sym == "XAUUSD" else Decimal("0.0001")
            role = "B" if i % 2 == 0 else "A"
            pm._on_opened(m.TradeOpened(plugin="combined_v3", trade_id=f"T{i}", alert_id="", symbol=sym, side="BUY",
                                        orders=({"role": role, "ticket": 1000 + i, "volume": Decimal("0.01"),
                                                 "price": p, "sl": p - 300 * pip, "tp": p + 600 * pip,
                                                 "intent_id": f"T{i}-{role}"},), logic="LOGIC1"), None)
        times = []
        for b in range(batches):
            batch = []
            for sym, px in SYMBOLS.items():
                p = Decimal(px)
                pip = Decimal("0.01") if "JPY" in sym or sym == "XAUUSD" else Decimal("0.0001")
                bid = p + pip * Decimal((b % 5) - 2) / 2   # +-1 pip: no booking, no SL, trailing "best" moves
                batch.append((sym, bid, bid + pip, time.time()))
            t0 = time.perf_counter()
            pm._on_ticks(m.Ticks(ticks=tuple(batch)), None)
            times.append(time.perf_counter() - t0)
        pm.teardown()
    times.sort()
    return (statistics.median(times) * 1000, times[int(len(times) * 0.99) - 1] * 1000, max(times) * 1000)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[0, 50, 200, 500])
    ap.add_argument("--batches", type=int, default=500)
    args = ap.parse_args()
    print(f"{'open chains+monitors':>21} {'ticks/batch':>11} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for n in args.n:
        p50, p99, mx = run(n, args.batches)
        print(f"{n:>21} {len(SYMBOLS):>11} {p50:>8.2f} {p99:>8.2f} {mx:>8.2f}")


if __name__ == "__main__":
    main()
