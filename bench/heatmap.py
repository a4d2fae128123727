"""Benchmark of the heatmap engine. Prints one JSON object as its last line.

- ``year_5m_seconds``: one year of 5-minute slots (105,120) × 3 venues × 2,000 price bins, synthetic
  random walks, aggregate display matrices included (2,000 columns max → 1,984 columns of 53 slots);
  median of ``--repeat`` runs after the first, with the first (cold) run reported separately.
- ``year_5m_parts_seconds``: the same with per-venue and per-leverage display matrices.
- ``reference_seconds`` / ``fast_seconds`` / ``speedup``: the per-cohort reference implementation and the
  engine on a smaller case (``--small-slots`` slots × 3 venues, one column per slot).

Usage: ``python bench/heatmap.py [--repeat 3] [--small-slots 2000]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from perpscope.heatmap.engine import run_engine
from perpscope.heatmap.params import EngineParams
from perpscope.heatmap.reference import run_reference
from perpscope.heatmap.synthetic import random_walk_series

VENUES = ("binance", "bybit", "okx")
YEAR_5M = 365 * 288


def _inputs(n: int) -> list:
    return [random_walk_series(n, venue=v, seed=i, vol=0.0015) for i, v in enumerate(VENUES)]


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--small-slots", type=int, default=2000)
    args = ap.parse_args()

    year = _inputs(YEAR_5M)
    params = EngineParams(n_bins=2000, max_columns=2000)
    cold = _time(lambda: run_engine(year, params, parts=False))
    warm = [_time(lambda: run_engine(year, params, parts=False)) for _ in range(args.repeat)]
    parts_runs = [_time(lambda: run_engine(year, params, parts=True)) for _ in range(args.repeat)]
    series_only = [_time(lambda: run_engine(year, params, display=False)) for _ in range(args.repeat)]
    hm = run_engine(year, params, parts=False).heatmap
    assert hm is not None

    small = _inputs(args.small_slots)
    small_params = EngineParams(n_bins=2000, max_columns=None)
    ref_s = _time(lambda: run_reference(small, small_params))
    fast_runs = [_time(lambda: run_engine(small, small_params)) for _ in range(args.repeat)]
    fast_s = statistics.median(fast_runs)

    out = {
        "year_5m_seconds": round(statistics.median(warm), 3),
        "year_5m_cold_seconds": round(cold, 3),
        "year_5m_parts_seconds": round(statistics.median(parts_runs), 3),
        "year_5m_series_only_seconds": round(statistics.median(series_only), 3),
        "year_slots": YEAR_5M,
        "venues": len(VENUES),
        "price_bins": int(hm.n_price),
        "display_columns": int(hm.n_time),
        "reference_seconds": round(ref_s, 3),
        "fast_seconds": round(fast_s, 4),
        "speedup": round(ref_s / fast_s, 1),
        "small_slots": args.small_slots,
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
