"""Helper process for the store's multi-process tests (run as a script, not collected by pytest).

``proc_writer.py ROOT stream INTERVAL_S``: append unique trades forever, printing ``flushed <rows>`` after
each flush; ``ROOT hold``: take the writer lock, print ``locked`` and wait; ``ROOT compact SECONDS``: run
compactions in a loop for SECONDS.
"""

from __future__ import annotations

import sys
import time

from perpscope.model import Side, Trade, Venue
from perpscope.store import Store


def stream(store: Store, interval_s: float) -> None:
    w = store.writer(flush_interval_s=interval_s, max_buffer=1_000_000)
    w.on_flush = lambda done: print(f"flushed {w.rows_written}", flush=True)
    i = 0
    print("started", flush=True)
    while True:
        for _ in range(50):
            now = time.time_ns()
            w.append(
                Trade(
                    venue=Venue.BINANCE,
                    symbol="BTC",
                    ts_event=now,
                    ts_recv=now,
                    side=Side.BUY,
                    price=100.0 + i % 7,
                    quantity=1.0,
                    notional_usd=100.0,
                    trade_id=str(i),
                )
            )
            i += 1
        time.sleep(0.002)


def main() -> None:
    store = Store(sys.argv[1])
    mode = sys.argv[2]
    if mode == "stream":
        stream(store, float(sys.argv[3]))
    elif mode == "hold":
        with store.writer():
            print("locked", flush=True)
            time.sleep(60)
    elif mode == "compact":
        end = time.monotonic() + float(sys.argv[3])
        n = 0
        while time.monotonic() < end:
            n += store.compact().partitions
            time.sleep(0.05)
        print(f"compacted {n}", flush=True)


if __name__ == "__main__":
    main()
