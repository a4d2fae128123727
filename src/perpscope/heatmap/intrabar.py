"""The engine's two intrabar steps: a bar becomes engine *slots* (the one place this is implemented; the
engine, the reference and calibration all call it).

1. **Intrabar path** (``substeps > 0``): a bar is split into ``3 × substeps`` sub-slots along
   ``open → low → high → close`` when it closed at or above its open, else ``open → high → low → close``
   (the usual OHLC-path heuristic). OI (in the engine's unit, base coin by default) moves linearly from the
   bar's open to its close across the sub-slots.
2. **Turnover** (``turnover_per_h > 0``): before each (sub-)slot a flat slot at its open price lowers OI by
   ``rate = 1 − (1 − turnover_per_h)^hours`` of the standing OI (``hours``: the sub-slot's duration) plus
   the sub-slot's own decrease — the engine's proportional close rule takes that from every cohort — and
   the sub-slot then reopens it (plus its own increase) at its entry price. Net OI is unchanged.

With both off a bar is one slot. ``slots_per_bar`` slots replace every bar, so slot ``u`` belongs to bar
``u // slots_per_bar``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .series import BarSeries


def slots_per_bar(substeps: int, turnover_per_h: float) -> int:
    """Engine slots per input bar: ``3·substeps`` path sub-slots (1 without the path), doubled by turnover."""

    return (3 * substeps if substeps > 0 else 1) * (2 if turnover_per_h > 0.0 else 1)


@dataclass(frozen=True, kw_only=True, eq=False)
class SlotPath:
    """Engine slots: prices, ``level`` (OI in the engine's unit at the slot's close), the input bar of each
    slot (``parent``) and the real duration of one slot in hours."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    level: np.ndarray
    parent: np.ndarray  # int64
    hours: float

    @property
    def n(self) -> int:
        return int(self.open.shape[0])


def split_bars(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    level_open: np.ndarray,
    level_close: np.ndarray,
    *,
    bar_hours: float,
    substeps: int,
    turnover_per_h: float,
    level_before: float | None = None,
) -> SlotPath:
    """Bars → engine slots (module docstring). ``level_open``/``level_close``: OI in the engine's unit at
    each bar's open/close; ``level_before``: OI before the first slot (default ``level_open[0]``), from
    which the first slot's turnover and own change are measured."""

    if substeps < 0:
        raise ValueError("substeps must be >= 0")
    if not 0.0 <= turnover_per_h < 1.0:
        raise ValueError("turnover_per_h must be in [0, 1)")
    o = np.asarray(open_, dtype=np.float64)
    n = o.shape[0]
    if substeps > 0:
        k = 3 * substeps
        up = close >= o
        knots = np.stack([o, np.where(up, low, high), np.where(up, high, low), close], axis=1)  # (n, 4)
        frac = np.arange(substeps + 1, dtype=np.float64) / substeps
        segments = [
            knots[:, s : s + 1] + (knots[:, s + 1 : s + 2] - knots[:, s : s + 1]) * frac[None, :]
            for s in range(3)
        ]
        # (n, 3·substeps + 1) path points; consecutive segments share their knot
        points = np.concatenate([segments[0], segments[1][:, 1:], segments[2][:, 1:]], axis=1)
        so = points[:, :-1].reshape(-1)
        sc = points[:, 1:].reshape(-1)
        step = (np.arange(k, dtype=np.float64) + 1.0) / k  # fraction of the bar done at each sub-slot close
        lev = (level_open[:, None] + (level_close - level_open)[:, None] * step[None, :]).reshape(-1)
        path = SlotPath(
            open=so,
            high=np.maximum(so, sc),
            low=np.minimum(so, sc),
            close=sc,
            level=lev,
            parent=np.repeat(np.arange(n, dtype=np.int64), k),
            hours=bar_hours / k,
        )
    else:
        path = SlotPath(
            open=o,
            high=np.asarray(high, dtype=np.float64),
            low=np.asarray(low, dtype=np.float64),
            close=np.asarray(close, dtype=np.float64),
            level=np.asarray(level_close, dtype=np.float64),
            parent=np.arange(n, dtype=np.int64),
            hours=bar_hours,
        )
    if turnover_per_h <= 0.0:
        return path
    # per-slot rate from the per-hour rate (compounded, so the sub-slot count does not change the total)
    rate = 1.0 - (1.0 - turnover_per_h) ** path.hours
    # no bars (a one-bar series is only its baseline bar): nothing to measure from
    first = float(level_open[0]) if n else 0.0
    if level_before is not None:
        first = float(level_before)
    prev = np.append(first, path.level[:-1]) if path.n else path.level
    delta = path.level - prev
    dip = np.maximum(prev - np.maximum(-delta, 0.0) - rate * prev, 0.0)  # OI after the flat slot's closes

    def interleave(first_: np.ndarray, second: np.ndarray) -> np.ndarray:
        out = np.empty(2 * path.n)
        out[0::2] = first_
        out[1::2] = second
        return out

    return SlotPath(
        open=interleave(path.open, path.open),
        high=interleave(path.open, path.high),
        low=interleave(path.open, path.low),
        close=interleave(path.open, path.close),
        level=interleave(dip, path.level),
        parent=np.repeat(path.parent, 2),
        hours=path.hours / 2.0,
    )


@dataclass(frozen=True, kw_only=True, eq=False)
class SlotInputs:
    """One venue's engine slots with the per-slot flow columns the recipe reads (a slot carries its bar's
    volume columns: only their ratios — VWAP, taker-buy share — are used)."""

    path: SlotPath
    per_bar: int
    volume: np.ndarray | None
    taker_buy_volume: np.ndarray | None
    quote_volume: np.ndarray | None


def series_slots(s: BarSeries, *, oi_in_base: bool, substeps: int, turnover_per_h: float) -> SlotInputs:
    """A venue's aligned bars → engine slots. OI at a bar's open is the previous bar's close OI. The first
    bar is the baseline (its OI opens nothing, as without the intrabar steps): its slots are flat at its
    close with its OI, so every bar has exactly ``slots_per_bar`` slots."""

    level = s.oi_usd / s.close if oi_in_base else s.oi_usd.copy()
    m = slots_per_bar(substeps, turnover_per_h)
    bar_hours = s.interval_s / 3600.0
    if m == 1:
        path = SlotPath(
            open=s.open,
            high=s.high,
            low=s.low,
            close=s.close,
            level=level,
            parent=np.arange(len(s), dtype=np.int64),
            hours=bar_hours,
        )
    else:
        rest = split_bars(
            s.open[1:],
            s.high[1:],
            s.low[1:],
            s.close[1:],
            level[:-1],
            level[1:],
            bar_hours=bar_hours,
            substeps=substeps,
            turnover_per_h=turnover_per_h,
        )
        c0 = np.full(m, float(s.close[0]))
        path = SlotPath(
            open=np.concatenate([c0, rest.open]),
            high=np.concatenate([c0, rest.high]),
            low=np.concatenate([c0, rest.low]),
            close=np.concatenate([c0, rest.close]),
            level=np.concatenate([np.full(m, float(level[0])), rest.level]),
            parent=np.concatenate([np.zeros(m, dtype=np.int64), rest.parent + 1]),
            hours=rest.hours,
        )

    def per_slot(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None or m == 1 else a[path.parent]

    return SlotInputs(
        path=path,
        per_bar=m,
        volume=s.volume if m == 1 else per_slot(s.volume),
        taker_buy_volume=s.taker_buy_volume if m == 1 else per_slot(s.taker_buy_volume),
        quote_volume=s.quote_volume if m == 1 else per_slot(s.quote_volume),
    )
