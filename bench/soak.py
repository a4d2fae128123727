"""Soak: the emulator (its own process) at a busy rate for all four venues and six symbols, the collector
(this process) writing everything to a fresh store. Prints one JSON object as the last line:
``msgs_per_s`` sustained (WebSocket data frames received by the collector's sessions, REST responses
included, over the measured span after a 5 s warm-up), ``events_per_s`` (normalized events handed to the
store writer), ``p50_ms``/``p99_ms`` from the venue's event time (the emulator stamps it when it generates
the event, just before encoding and sending it) to the collector handing the event to the store writer,
which then flushes every ``--flush-interval`` on its own thread (candles are left out: their ts_event is
the bar's open; so are events without a venue time stamp, ts_event == ts_recv; both are counted in
``latency_excluded``), ``peak_rss_mb`` and RSS at start/end of the measured span (flat memory), and
``lost``: trades missing from each venue's contiguous trade-id sequence plus book sequence gaps.
``*_cpu_pct`` and ``*_us_per_msg`` are the CPU time (user + system, all threads, from /proc) of the
collector (this process, store flush thread included) and of the emulator process over the measured span:
where the 2 cores go.

``--rate`` paces the seeded market (10 = 10x a busy market, about 3k frames/s for 4 venues x 6 symbols);
raise it (e.g. ``--rate 200``) to find the most the emulator + collector sustain together: the source then
generates as fast as the emulator process can, and the figures show which side saturates.

    python bench/soak.py --seconds 60 --rate 10
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from perpscope.feed.collector import Collector, CollectorConfig
from perpscope.feed.plans import roots_from_json
from perpscope.model import Candle, Trade
from perpscope.store import Store
from perpscope.symbols import DEFAULT_SYMBOLS
from perpscope.timeutil import now_ns


def cpu_s(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process (all its threads) from /proc."""

    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class GcPauses:
    """Longest garbage-collector pause per generation in this process (gc.callbacks)."""

    def __init__(self) -> None:
        self.max_ms = [0.0, 0.0, 0.0]
        self._t0 = 0.0
        gc.callbacks.append(self._cb)

    def _cb(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            g = info["generation"]
            self.max_ms[g] = max(self.max_ms[g], (time.perf_counter() - self._t0) * 1e3)


async def loop_lag(out: list[float], period_s: float = 0.01) -> None:
    """How late a 10 ms sleep wakes up: the longest stretch the event loop was busy (or descheduled)."""

    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(period_s)
        out.append((loop.time() - t - period_s) * 1e3)


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class MeasuringWriter:
    """Wraps the store writer: latency samples at hand-off, trade ids per (venue, symbol) for loss."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.latency_ms: list[float] = []
        self.by_stream: dict[str, list[float]] = defaultdict(list)  # "venue/EventType" → latency samples
        self.events = 0
        self.no_latency = 0
        self.ids: dict[tuple[str, str], list[int]] = defaultdict(list)

    def extend(self, events: list) -> None:  # type: ignore[type-arg]
        t = now_ns()
        for e in events:
            if isinstance(e, Candle) or e.ts_event == e.ts_recv:
                self.no_latency += 1  # a bar's ts_event is its open; no venue time stamp: no send time
            else:
                ms = (t - e.ts_event) / 1e6
                self.latency_ms.append(ms)
                self.by_stream[f"{e.venue.value}/{type(e).__name__}"].append(ms)
            self.events += 1
            if isinstance(e, Trade) and e.trade_id.isdigit():
                self.ids[(e.venue.value, e.symbol)].append(int(e.trade_id))
        self.inner.extend(events)  # type: ignore[attr-defined]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=10.0, help="emulated market pace (10 = 10x a busy market)")
    ap.add_argument("--source", default="seeded")
    ap.add_argument("--flush-interval", type=float, default=1.0)
    ap.add_argument(
        "--source-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="passed to `perpscope emulate` (e.g. trades_per_s=30, book_churn=0)",
    )
    args = ap.parse_args()

    emu = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "perpscope",
            "emulate",
            "--source",
            args.source,
            "--rate",
            str(args.rate),
            "--fault-log",
            "/dev/null",
            *(x for opt in args.source_option for x in ("--source-option", opt)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        endpoints = json.loads(emu.stdout.readline())  # type: ignore[union-attr]
        store = Store(Path(tempfile.mkdtemp(prefix="perpscope-soak-")))
        cfg = CollectorConfig(symbols=DEFAULT_SYMBOLS, roots=roots_from_json(endpoints))
        rss: list[float] = []
        lags: list[float] = []  # collector event-loop lag samples (ms)
        gc_ms: list[float] = []  # longest GC pause per generation in the collector (ms)
        cpu: list[float] = []  # CPU seconds over the measured span: collector (this process), emulator

        async def run() -> tuple[Collector, MeasuringWriter, float]:
            with store.writer(flush_interval_s=args.flush_interval) as w:
                mw = MeasuringWriter(w)
                col = Collector(cfg, writer=mw)  # type: ignore[arg-type]
                stop = asyncio.Event()
                task = asyncio.create_task(col.run(stop))
                await asyncio.sleep(5.0)  # warm-up: connections, snapshots
                m0 = sum(s.messages for s in col.health.streams.values())
                mw.latency_ms.clear()
                mw.by_stream.clear()
                mw.events = mw.no_latency = 0
                lag_task = asyncio.create_task(loop_lag(lags))
                gcp = GcPauses()
                cpu0 = (cpu_s(), cpu_s(emu.pid))
                t0 = time.monotonic()
                while time.monotonic() - t0 < args.seconds:
                    rss.append(rss_mb())
                    await asyncio.sleep(1.0)
                elapsed = time.monotonic() - t0
                m1 = sum(s.messages for s in col.health.streams.values())
                cpu.extend((cpu_s() - cpu0[0], cpu_s(emu.pid) - cpu0[1]))
                lag_task.cancel()
                gc_ms.extend(gcp.max_ms)
                stop.set()
                await task
                col.msgs_measured = m1 - m0  # type: ignore[attr-defined]
                return col, mw, elapsed

        col, mw, elapsed = asyncio.run(run())
    finally:
        emu.terminate()
        emu.wait(10)
    lat = np.asarray(mw.latency_ms)
    lost = 0
    for ids in mw.ids.values():
        a = np.unique(np.asarray(ids))
        lost += int(a[-1] - a[0] + 1 - a.size) if a.size else 0
    book_gaps = sum(b.stats.gaps for b in col.books.books.values())
    msgs = col.msgs_measured  # type: ignore[attr-defined]
    out = {
        "seconds": round(elapsed, 1),
        "rate": args.rate,
        "source_options": args.source_option,
        "msgs_per_s": round(msgs / elapsed, 1),
        "events_per_s": round(mw.events / elapsed, 1),
        "latency_samples": int(lat.size),
        "latency_excluded": mw.no_latency,
        "p50_ms": round(float(np.percentile(lat, 50)), 2) if lat.size else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 2) if lat.size else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_start_mb": round(rss[0], 1) if rss else None,
        "rss_end_mb": round(rss[-1], 1) if rss else None,
        "lost": lost + book_gaps,
        "collector_cpu_pct": round(100 * cpu[0] / elapsed, 1),
        "emulator_cpu_pct": round(100 * cpu[1] / elapsed, 1),
        "collector_us_per_msg": round(1e6 * cpu[0] / max(1, msgs), 1),
        "emulator_us_per_msg": round(1e6 * cpu[1] / max(1, msgs), 1),
        "collector_loop_lag_p99_ms": round(float(np.percentile(lags, 99)), 1) if lags else None,
        "collector_loop_lag_max_ms": round(max(lags), 1) if lags else None,
        "collector_gc_max_ms": [round(x, 1) for x in gc_ms],
        "parse_errors": sum(s.parse_errors for s in col.health.streams.values()),
        "p99_ms_by_stream": {
            k: round(float(np.percentile(v, 99)), 1) for k, v in sorted(mw.by_stream.items()) if len(v) >= 20
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
