"""Calibration scoring: Spearman (average ranks) and R² of log1p values, slot → realized-bar alignment, and
the naive baseline (OI at bar open × the bar's adverse range)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..timeutil import NS_PER_MS
from .calibrate_io import CalibrationBars


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given the average of the ranks they span (SciPy's ``method="average"``)."""

    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    # start of each run of equal values in sorted order
    new = np.empty(n, dtype=bool)
    if n:
        new[0] = True
        new[1:] = xs[1:] != xs[:-1]
    run = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n)  # exclusive
    avg = 0.5 * (starts + 1 + ends)  # mean of ranks starts+1 .. ends
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = avg[run]
    return ranks


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; NaN when fewer than two points or either input is constant."""

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"length mismatch {x.shape} vs {y.shape}")
    if x.shape[0] < 2:
        return float("nan")
    dx = x - x.mean()
    dy = y - y.mean()
    sxx = float(dx @ dx)
    syy = float(dy @ dy)
    if sxx == 0.0 or syy == 0.0:
        return float("nan")
    return float(np.clip((dx @ dy) / np.sqrt(sxx * syy), -1.0, 1.0))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation with average ranks for ties (Pearson of the ranks)."""

    return pearson(rankdata(x), rankdata(y))


def r2_log(model: np.ndarray, realized: np.ndarray) -> float:
    """Squared Pearson correlation of ``log1p(model)`` and ``log1p(realized)`` (USD ≥ 0): the R² of the
    least-squares line from the model's log values to the realized ones, so any scale is free."""

    m = np.asarray(model, dtype=np.float64)
    r = np.asarray(realized, dtype=np.float64)
    if np.any(m < 0.0) or np.any(r < 0.0):
        raise ValueError("r2_log needs non-negative USD values")
    rho = pearson(np.log1p(m), np.log1p(r))
    return rho * rho if np.isfinite(rho) else float("nan")


@dataclass(frozen=True, kw_only=True)
class Score:
    spearman: float
    r2_log: float
    # Σ model USD / Σ realized USD over the scored bars: the dollar level, which the two scores ignore
    scale: float = float("nan")

    def to_json_dict(self) -> dict[str, float | None]:
        return {
            "spearman": _finite_or_none(self.spearman),
            "r2_log": _finite_or_none(self.r2_log),
            "scale": _finite_or_none(self.scale),
        }


def score(model: np.ndarray, realized: np.ndarray) -> Score:
    total = float(np.sum(realized))
    scale = float(np.sum(model)) / total if total > 0 else float("nan")
    return Score(spearman=spearman(model, realized), r2_log=r2_log(model, realized), scale=scale)


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


# ------------------------------------------------------------------------------------ alignment, baseline


@dataclass(frozen=True, kw_only=True, eq=False)
class BarAlignment:
    """Which realized bar each slot falls in (``-1``: none), and which realized bars are fully covered."""

    slot_bar: np.ndarray  # (n_slots,) int64 index into the realized bars, -1 outside every bar
    covered: np.ndarray  # (n_bars,) bool: every slot of the bar is present
    first_slot: np.ndarray  # (n_bars,) int64 first slot of the bar (-1 when none)
    bar_ns: int


def align_slots(slot_ts_ns: np.ndarray, slot_ns: int, bar_ts_ns: np.ndarray, *, bar_ns: int) -> BarAlignment:
    """Map slots (open times, duration ``slot_ns``) to realized bars (open times, duration ``bar_ns``).

    A slot belongs to the bar whose ``[open, open + bar_ns)`` holds the slot's open; ``bar_ns`` must be a
    multiple of ``slot_ns`` so slots never straddle bars. A bar is *covered* when all ``bar_ns/slot_ns``
    slots are present (bars missing a slot are not scored: their sums would be too small)."""

    if slot_ns <= 0 or bar_ns <= 0:
        raise ValueError("slot and bar durations must be positive")
    if bar_ns % slot_ns:
        raise ValueError(
            f"realized bar {bar_ns // NS_PER_MS} ms is not a multiple of the bars' {slot_ns // NS_PER_MS} ms"
        )
    slot_ts_ns = np.asarray(slot_ts_ns, dtype=np.int64)
    bar_ts_ns = np.asarray(bar_ts_ns, dtype=np.int64)
    if slot_ts_ns.size and np.any((bar_ts_ns - slot_ts_ns[0]) % slot_ns):
        raise ValueError(
            f"realized bar opens are not on the bars' {slot_ns // NS_PER_MS // 1000} s grid: they must start "
            "where a bar starts"
        )
    idx = np.searchsorted(bar_ts_ns, slot_ts_ns, side="right") - 1
    inside = idx >= 0
    inside[inside] &= slot_ts_ns[inside] < bar_ts_ns[idx[inside]] + bar_ns
    slot_bar = np.where(inside, idx, -1).astype(np.int64)
    counts = np.bincount(slot_bar[inside], minlength=bar_ts_ns.shape[0])
    covered = counts == bar_ns // slot_ns
    first = np.full(bar_ts_ns.shape[0], -1, dtype=np.int64)
    pos = np.flatnonzero(inside)
    uniq, at = np.unique(slot_bar[pos], return_index=True)
    first[uniq] = pos[at]
    return BarAlignment(slot_bar=slot_bar, covered=covered, first_slot=first, bar_ns=bar_ns)


def sum_per_bar(values: np.ndarray, alignment: BarAlignment) -> np.ndarray:
    """Sum a per-slot flow (e.g. consumed USD) into the realized bars."""

    inside = alignment.slot_bar >= 0
    return np.bincount(
        alignment.slot_bar[inside],
        weights=np.asarray(values, dtype=np.float64)[inside],
        minlength=alignment.covered.shape[0],
    )


def naive_baseline(bars: CalibrationBars, alignment: BarAlignment) -> tuple[np.ndarray, np.ndarray]:
    """Per realized bar: ``OI at bar open × (open − low)/open`` (longs) and ``× (high − open)/open`` (shorts),
    with the bar's open = its first slot's open, its low/high = the extremes of its slots. Bars without a
    slot get 0."""

    nb = alignment.covered.shape[0]
    inside = alignment.slot_bar >= 0
    low = np.full(nb, np.inf)
    high = np.full(nb, -np.inf)
    np.minimum.at(low, alignment.slot_bar[inside], bars.low[inside])
    np.maximum.at(high, alignment.slot_bar[inside], bars.high[inside])
    has = alignment.first_slot >= 0
    first = np.where(has, alignment.first_slot, 0)
    open_ = bars.open[first]
    oi = bars.oi_open_usd[first]
    long_usd = np.where(has, oi * (open_ - low) / open_, 0.0)
    short_usd = np.where(has, oi * (high - open_) / open_, 0.0)
    return np.maximum(long_usd, 0.0), np.maximum(short_usd, 0.0)
