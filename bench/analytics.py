"""Throughput of the analytics hot paths on synthetic inputs. Prints one JSON object as its last line.

python bench/analytics.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from perpscope.analytics.cascades import CascadeDetector, detect_cascades
from perpscope.analytics.depth import depth_profile
from perpscope.analytics.orderflow import Book, book_imbalance, cvd, footprint
from perpscope.model import PositionSide

S = 10**9


def _timed(fn, *args, **kw):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000, help="events per test")
    n = ap.parse_args().n
    rng = np.random.default_rng(0)

    # liquidations: bursty arrivals (mean 2 s apart, exponential), both sides, 4 venues
    ts = np.cumsum(rng.exponential(2.0, n) * S).astype(np.int64)
    side = rng.random(n) < 0.5
    usd = rng.lognormal(9.5, 1.5, n)
    px = 100_000 + np.cumsum(rng.normal(0, 5, n))
    venue = rng.choice(np.array(["binance", "bybit", "okx", "hyperliquid"], dtype=object), n)
    sampled = venue == "binance"
    found, t_batch = _timed(detect_cascades, ts, side, usd, px, venue, sampled, symbol="BTC")
    m = min(n, 200_000)
    det = CascadeDetector()
    sides = np.where(side[:m], PositionSide.LONG, PositionSide.SHORT)
    t = time.perf_counter()
    for i in range(m):
        det.push(int(ts[i]), sides[i], float(usd[i]), float(px[i]), venue[i], bool(sampled[i]), symbol="BTC")
    det.flush()
    t_incr = time.perf_counter() - t

    # trades: CVD and a 5-minute footprint
    tts = np.sort(rng.integers(0, 86400 * S, n))
    tside = rng.random(n) < 0.5
    tq = rng.lognormal(-3, 1.5, n)
    tp = 100_000 + np.cumsum(rng.normal(0, 2, n))
    c, t_cvd = _timed(cvd, tts, tside, tq, tp)
    edges = rng.integers(0, 86400 * S, 10_000)
    t = time.perf_counter()
    for a in edges:
        c.window(int(a), int(a) + 900 * S)
    t_win = (time.perf_counter() - t) / edges.size
    _, t_fp = _timed(footprint, tts, tp, tq, tside, bar_ns=300 * S, tick=10.0)

    # books: 4 venues × 1,000 levels per side
    books = {}
    for v in ("binance", "bybit", "okx", "hyperliquid"):
        bp = 100_000 - np.cumsum(rng.uniform(0.1, 5, 1000))
        ap_ = 100_000 + np.cumsum(rng.uniform(0.1, 5, 1000))
        books[v] = Book(
            bid_px=bp, bid_sz=rng.lognormal(0, 1, 1000), ask_px=ap_, ask_sz=rng.lognormal(0, 1, 1000)
        )
    _, t_obi = _timed(lambda: [book_imbalance(b) for _ in range(100) for b in books.values()])
    _, t_depth = _timed(depth_profile, books, range_pct=0.05)

    print(
        json.dumps(
            {
                "n": n,
                "cascades_found": len(found),
                "cascades_batch_events_per_s": round(n / t_batch),
                "cascades_incremental_events_per_s": round(m / t_incr),
                "cvd_trades_per_s": round(n / t_cvd),
                "cvd_window_us": round(t_win * 1e6, 2),
                "footprint_trades_per_s": round(n / t_fp),
                "obi_us_per_book": round(t_obi / 400 * 1e6, 1),
                "depth_profile_4x2000_levels_ms": round(t_depth * 1e3, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
