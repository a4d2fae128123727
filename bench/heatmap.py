"""Benchmark of the heatmap engine. Prints one JSON object as its last line.

- ``year_5m_seconds``: one year of 5-minute slots (105,120) × 3 venues × 2,000 price bins, synthetic
  random walks, aggregate display matrices included (2,000 columns max → 1,984 columns of 53 slots);
  median of ``--repeat`` runs after the first, with the first (cold) run reported separately.
- ``year_5m_parts_seconds``: the same with per-venue and per-leverage display matrices.
- ``reference_seconds`` / ``fast_seconds`` / ``speedup``: the per-cohort reference implementation and the
  engine on a smaller case (``--small-slots`` slots × 3 venues, one column per slot).
- ``year_5m_shipped_seconds`` / ``_parts_seconds``: the year case with the shipped heatmap's intrabar steps
  (``calibrate_model.DISPLAY_SUBSTEPS``/``DISPLAY_TURNOVER_PER_H``), median of ``--repeat``.
- ``--steps N:F`` (repeatable): also time the year case once per ``substeps:turnover_per_h`` setting
  (``steps_seconds``); e.g. ``--steps 8:0.3`` is the calibrated setting (slow: ~4 GB of memory).

``--substeps``/``--turnover-per-h`` apply to the first group (default 0/0: the plain recipe).

Usage: ``python bench/heatmap.py [--repeat 3] [--small-slots 2000] [--steps 1:0.3 --steps 8:0.3]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import replace

import numpy as np

from perpscope.heatmap.calibrate_model import DISPLAY_SUBSTEPS, DISPLAY_TURNOVER_PER_H
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
    ap.add_argument("--substeps", type=int, default=0)
    ap.add_argument("--turnover-per-h", type=float, default=0.0)
    ap.add_argument("--steps", action="append", default=[], metavar="N:F")
    args = ap.parse_args()

    year = _inputs(YEAR_5M)
    params = EngineParams(
        n_bins=2000, max_columns=2000, substeps=args.substeps, turnover_per_h=args.turnover_per_h
    )
    cold = _time(lambda: run_engine(year, params, parts=False))
    warm = [_time(lambda: run_engine(year, params, parts=False)) for _ in range(args.repeat)]
    parts_runs = [_time(lambda: run_engine(year, params, parts=True)) for _ in range(args.repeat)]
    series_only = [_time(lambda: run_engine(year, params, display=False)) for _ in range(args.repeat)]
    hm = run_engine(year, params, parts=False).heatmap
    assert hm is not None

    shipped = replace(params, substeps=DISPLAY_SUBSTEPS, turnover_per_h=DISPLAY_TURNOVER_PER_H)
    shipped_runs = [_time(lambda: run_engine(year, shipped, parts=False)) for _ in range(args.repeat)]
    shipped_parts = [_time(lambda: run_engine(year, shipped, parts=True)) for _ in range(args.repeat)]
    steps: dict[str, float] = {}
    for item in args.steps:
        n_s, _, f_s = item.partition(":")
        p = replace(params, substeps=int(n_s), turnover_per_h=float(f_s or 0.0))
        steps[item] = round(_time(lambda p=p: run_engine(year, p, parts=False)), 3)

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
        "substeps": args.substeps,
        "turnover_per_h": args.turnover_per_h,
        "year_5m_shipped_seconds": round(statistics.median(shipped_runs), 3),
        "year_5m_shipped_parts_seconds": round(statistics.median(shipped_parts), 3),
        "shipped_steps": f"{DISPLAY_SUBSTEPS}:{DISPLAY_TURNOVER_PER_H}",
        "steps_seconds": steps,
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
