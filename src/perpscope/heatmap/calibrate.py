"""Calibration: score the engine's consumed liquidity against realized liquidations, next to a naive baseline.

The engine runs over a bars file; the USD it *consumes* (estimated positions whose liquidation price the
price path crossed) is summed per realized bar and compared, per side, with the realized liquidations of
that bar. Two scores per side: Spearman rank correlation (average ranks for ties), and ``r2_log`` = the
squared Pearson correlation of ``log1p(model)`` and ``log1p(realized)`` (identical to ``1 − SSE/SST`` of the
least-squares line from ``log1p(model)`` to ``log1p(realized)``). The same two scores are computed for the
naive baseline ``OI at bar open × adverse range`` (``(open − low)/open`` for longs, ``(high − open)/open``
for shorts).

Realized liquidations are summed over several venues while OI is one venue's: only ranks and shapes are
comparable, never dollars. Method and measured figures: docs/calibration.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..timeutil import NS_PER_MS
from .calibrate_io import (
    CalibrationBars,
    RealizedLiquidations,
    detect_format,
    load_bars,
    load_realized,
)
from .calibrate_model import CalibrationModel, consumed_per_bar
from .calibrate_score import (
    BarAlignment,
    Score,
    align_slots,
    naive_baseline,
    pearson,
    r2_log,
    rankdata,
    score,
    spearman,
    sum_per_bar,
)

__all__ = [
    "BarAlignment",
    "CalibrationBars",
    "CalibrationModel",
    "CalibrationReport",
    "RealizedLiquidations",
    "Score",
    "SideScores",
    "align_slots",
    "calibrate",
    "calibrate_files",
    "detect_format",
    "infer_bar_ns",
    "load_bars",
    "load_realized",
    "naive_baseline",
    "pearson",
    "r2_log",
    "rankdata",
    "score",
    "score_series",
    "spearman",
    "sum_per_bar",
]


@dataclass(frozen=True, kw_only=True)
class SideScores:
    heatmap: Score
    baseline: Score

    def to_json_dict(self) -> dict[str, object]:
        return {"heatmap": self.heatmap.to_json_dict(), "baseline": self.baseline.to_json_dict()}


@dataclass(frozen=True, kw_only=True, eq=False)
class CalibrationReport:
    """Scores per side, the scored bars and their series (so a notebook can plot or re-score them)."""

    long: SideScores
    short: SideScores
    bars: int  # realized bars scored
    bar_ns: int
    from_ns: int | None
    ts_ns: np.ndarray  # (bars,) open of each scored bar
    realized_long_usd: np.ndarray
    realized_short_usd: np.ndarray
    model_long_usd: np.ndarray
    model_short_usd: np.ndarray
    baseline_long_usd: np.ndarray
    baseline_short_usd: np.ndarray
    skipped_uncovered: int = 0  # realized bars not scored because some of their slots are missing
    params: dict[str, object] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # what loading the bars repaired

    def to_json_dict(self) -> dict[str, object]:
        return {
            "long": self.long.to_json_dict(),
            "short": self.short.to_json_dict(),
            "bars": self.bars,
            "bar_ms": self.bar_ns // NS_PER_MS,
            "from_ms": None if self.from_ns is None else self.from_ns // NS_PER_MS,
            "skipped_uncovered": self.skipped_uncovered,
            "notes": list(self.notes),
            "params": self.params,
        }


def infer_bar_ns(realized: RealizedLiquidations) -> int:
    """The realized bar duration: the smallest step between consecutive realized bars."""

    if realized.n < 2:
        raise ValueError("need at least two realized bars to infer their duration: pass --bar")
    return int(np.min(np.diff(realized.ts_ns)))


def score_series(
    *,
    bars: CalibrationBars,
    realized: RealizedLiquidations,
    consumed_long_usd: np.ndarray,
    consumed_short_usd: np.ndarray,
    bar_ns: int | None = None,
    from_ns: int | None = None,
    background: float = 0.0,
    params: dict[str, object] | None = None,
) -> CalibrationReport:
    """Score a per-bar consumed series (one value per row of ``bars``) against ``realized``.

    The consumed USD is summed into the realized bars (``bar_ns``, default: the realized step), the
    baseline is computed from the same bars, ``background × baseline`` is added to the model, and only
    realized bars that all their slots cover and that open at or after ``from_ns`` are scored (earlier
    bars warm the book up)."""

    if bar_ns is None:
        bar_ns = infer_bar_ns(realized)
    align = align_slots(bars.ts_ns, bars.slot_ns, realized.ts_ns, bar_ns=bar_ns)
    model_long = sum_per_bar(consumed_long_usd, align)
    model_short = sum_per_bar(consumed_short_usd, align)
    base_long, base_short = naive_baseline(bars, align)
    if background:
        model_long = model_long + background * base_long
        model_short = model_short + background * base_short
    in_range = np.ones(realized.n, dtype=bool) if from_ns is None else realized.ts_ns >= from_ns
    keep = align.covered & in_range
    rl, rs = realized.long_usd[keep], realized.short_usd[keep]
    ml, ms = model_long[keep], model_short[keep]
    bl, bs = base_long[keep], base_short[keep]
    return CalibrationReport(
        long=SideScores(heatmap=score(ml, rl), baseline=score(bl, rl)),
        short=SideScores(heatmap=score(ms, rs), baseline=score(bs, rs)),
        bars=int(np.count_nonzero(keep)),
        bar_ns=bar_ns,
        from_ns=from_ns,
        ts_ns=realized.ts_ns[keep],
        realized_long_usd=rl,
        realized_short_usd=rs,
        model_long_usd=ml,
        model_short_usd=ms,
        baseline_long_usd=bl,
        baseline_short_usd=bs,
        skipped_uncovered=int(np.count_nonzero(~align.covered & in_range)),
        params=dict(params or {}),
        notes=bars.notes,
    )


def calibrate(
    bars: CalibrationBars,
    realized: RealizedLiquidations,
    *,
    model: CalibrationModel | None = None,
    bar_ns: int | None = None,
    from_ns: int | None = None,
) -> CalibrationReport:
    """Run the engine (with ``model``'s pre/post-processing) over ``bars`` and score it and the naive
    baseline against ``realized`` per side."""

    model = model or CalibrationModel()
    consumed_long, consumed_short = consumed_per_bar(bars, model)
    return score_series(
        bars=bars,
        realized=realized,
        consumed_long_usd=consumed_long,
        consumed_short_usd=consumed_short,
        bar_ns=bar_ns,
        from_ns=from_ns,
        background=model.background,
        params=model.describe(),
    )


def calibrate_files(
    bars_path: str,
    realized_path: str,
    *,
    model: CalibrationModel | None = None,
    bar_ns: int | None = None,
    from_ns: int | None = None,
) -> CalibrationReport:
    """:func:`calibrate` on files (the hourly file can be both ``bars_path`` and ``realized_path``)."""

    return calibrate(
        load_bars(bars_path), load_realized(realized_path), model=model, bar_ns=bar_ns, from_ns=from_ns
    )
