"""The store writer as the collector uses it (background thread): ``extend`` on the event loop never
writes Parquet itself; the flush thread does, within the flush interval, and a writer that falls far
behind (2 x max_buffer) flushes on the caller as back-pressure."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from perpscope.model import Side, Trade, Venue
from perpscope.store import Store

T0 = 1_733_400_000_000_000_000


def trades(n: int, start: int = 0) -> list[Trade]:
    return [
        Trade(
            venue=Venue.BINANCE,
            symbol="BTC",
            ts_event=T0 + i,
            ts_recv=T0 + i,
            side=Side.BUY,
            price=100_000.0,
            quantity=0.01,
            notional_usd=1_000.0,
            trade_id=str(i),
        )
        for i in range(start, start + n)
    ]


def test_extend_leaves_due_flushes_to_the_writer_thread(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    flushed_on: list[str] = []
    with store.writer(flush_interval_s=0.1, max_buffer=200) as w:
        w.on_flush = lambda done: flushed_on.append(threading.current_thread().name)
        w.extend(trades(150))
        time.sleep(0.15)
        w.extend(trades(150, start=150))  # due (by age and by size) when extended: the thread is woken
        deadline = time.monotonic() + 5
        while w.rows_written < 300 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert w.rows_written == 300  # … the flush thread wrote it all
        assert flushed_on and threading.main_thread().name not in flushed_on
        w.extend(["not an event"])  # type: ignore[list-item]
        assert w.rejected.total == 1
    assert store.read("trades").num_rows == 300


def test_extend_flushes_on_the_caller_when_the_thread_falls_far_behind(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    flushed_on: list[str] = []
    with store.writer(flush_interval_s=3600, max_buffer=50) as w:
        w.on_flush = lambda done: flushed_on.append(threading.current_thread().name)
        w.extend(trades(100))  # 2 x max_buffer at once: back-pressure, written here
        assert w.rows_written == 100 and w.buffered == 0
        assert flushed_on == [threading.main_thread().name]
    assert store.read("trades").num_rows == 100
