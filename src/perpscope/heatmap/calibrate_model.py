"""What calibration runs: the heatmap engine plus three documented pre/post-processing steps.

Measured on the 6-month hourly file (chosen on its first half) and checked on its second half and on the
5-minute week (docs/calibration.md), each step adds to the first-cut engine:

1. **Intrabar path** (pre-processing). A bar is split into ``3 × substeps`` sub-slots along a price path
   ``open → low → high → close`` when it closed at or above its open, else ``open → high → low → close``
   (the usual OHLC-path heuristic). The engine then opens positions along the bar's range, not at one
   point, and a position opened near the high can be liquidated by the fall to the low later in the bar.
   OI moves linearly (in base coin) from the bar's open to its close across the sub-slots.
2. **Turnover** (pre-processing). Open interest is net: traders keep closing and reopening. Each sub-slot
   first closes ``turnover_per_h × hours`` of the standing OI (a flat slot at the sub-slot's open price,
   which the engine's proportional close rule applies to every cohort), then reopens it with the
   sub-slot's own OI change at the sub-slot's entry price. Liquidation levels thus keep forming near the
   traded price and are consumed once when price sweeps them.
3. **Background** (post-processing). Liquidations also come from positions the cohorts cannot see
   (cross margin, older or larger positions): a uniform density of ``background × OI`` USD per unit of
   relative price, regenerated at each scored bar's open, adds ``background × baseline`` to the bar's
   consumed USD. It mostly orders the bars where no modelled level was crossed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..model import Venue
from ..timeutil import NS_PER_S
from .calibrate_io import CalibrationBars
from .params import EngineParams
from .recipe import cohort_ratios

# Defaults chosen on the first half of the hourly file (bench/calibrate.py); Spearman is flat around them
# (substeps 3–6, turnover 0.3–10 %/h, background 1e-6–0.1 all within ±0.01), so they are round values.
DEFAULT_SUBSTEPS = 4
DEFAULT_TURNOVER_PER_H = 0.01
DEFAULT_BACKGROUND = 0.001


def default_engine_params() -> EngineParams:
    """The engine's own defaults, with one display column per slot (calibration needs every slot)."""

    return EngineParams(max_columns=None)


@dataclass(frozen=True, kw_only=True)
class CalibrationModel:
    """The engine's assumptions (``engine``), the margin formula's venue and symbol, and the three
    calibration steps (``substeps = 0``, ``turnover_per_h = 0`` and ``background = 0`` turn them off,
    which is the plain engine on the raw bars)."""

    engine: EngineParams = field(default_factory=default_engine_params)
    venue: Venue = Venue.BINANCE
    symbol: str = "BTC"
    substeps: int = DEFAULT_SUBSTEPS
    turnover_per_h: float = DEFAULT_TURNOVER_PER_H
    background: float = DEFAULT_BACKGROUND

    def __post_init__(self) -> None:
        if self.substeps < 0:
            raise ValueError("substeps must be >= 0")
        if not 0.0 <= self.turnover_per_h < 1.0:
            raise ValueError("turnover_per_h must be in [0, 1)")
        if self.background < 0.0:
            raise ValueError("background must be >= 0")

    def describe(self) -> dict[str, object]:
        return {
            "engine": self.engine.describe(),
            "venue": str(self.venue),
            "symbol": self.symbol,
            "substeps": self.substeps,
            "turnover_per_h": self.turnover_per_h,
            "background": self.background,
        }


@dataclass(frozen=True, kw_only=True, eq=False)
class EngineSlots:
    """The slot series the engine runs on (after the pre-processing). ``parent`` is the input bar of each
    slot, ``hours`` its real duration."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    oi_close_usd: np.ndarray  # OI at the slot's close (the engine's convention)
    parent: np.ndarray  # int64
    hours: float
    oi_start_usd: float  # OI before the first slot, at the first slot's open price

    @property
    def n(self) -> int:
        return int(self.open.shape[0])


def raw_slots(bars: CalibrationBars) -> EngineSlots:
    """The bars as they are: one engine slot per bar."""

    return EngineSlots(
        open=bars.open,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        oi_close_usd=bars.oi_close_usd,
        parent=np.arange(bars.n, dtype=np.int64),
        hours=bars.slot_ns / (3600 * NS_PER_S),
        oi_start_usd=float(bars.oi_open_usd[0]),
    )


def intrabar_path(bars: CalibrationBars, *, substeps: int, oi_in_base: bool = True) -> EngineSlots:
    """Split each bar into ``3 × substeps`` sub-slots along ``open → low → high → close`` (bars that closed
    at or above their open) or ``open → high → low → close``; OI moves linearly from the bar's open to its
    close (in base coin when ``oi_in_base``, so a sub-slot's price move alone opens nothing)."""

    if substeps < 1:
        raise ValueError("substeps must be >= 1")
    o, h, lo, c = bars.open, bars.high, bars.low, bars.close
    up = c >= o
    knots = np.stack([o, np.where(up, lo, h), np.where(up, h, lo), c], axis=1)  # (n, 4)
    frac = np.arange(substeps + 1, dtype=np.float64) / substeps
    segments = [
        knots[:, s : s + 1] + (knots[:, s + 1 : s + 2] - knots[:, s : s + 1]) * frac[None, :]
        for s in range(3)
    ]
    # (n, 3·substeps + 1) path points; consecutive segments share their knot
    points = np.concatenate([segments[0], segments[1][:, 1:], segments[2][:, 1:]], axis=1)
    k = 3 * substeps
    so = points[:, :-1].reshape(-1)
    sc = points[:, 1:].reshape(-1)
    step = (np.arange(k, dtype=np.float64) + 1.0) / k  # fraction of the bar done at each sub-slot close
    if oi_in_base:
        b_open = bars.oi_open_usd / o
        b_close = bars.oi_close_usd / c
        base = b_open[:, None] + (b_close - b_open)[:, None] * step[None, :]
        oi_close = base.reshape(-1) * sc
    else:
        oi_close = (
            bars.oi_open_usd[:, None] + (bars.oi_close_usd - bars.oi_open_usd)[:, None] * step[None, :]
        ).reshape(-1)
    return EngineSlots(
        open=so,
        high=np.maximum(so, sc),
        low=np.minimum(so, sc),
        close=sc,
        oi_close_usd=oi_close,
        parent=np.repeat(np.arange(bars.n, dtype=np.int64), k),
        hours=bars.slot_ns / (3600 * NS_PER_S) / k,
        oi_start_usd=float(bars.oi_open_usd[0]),
    )


def with_turnover(slots: EngineSlots, *, rate: float, oi_in_base: bool = True) -> EngineSlots:
    """Insert before every slot a flat slot (all prices = the slot's open) whose OI is lower by ``rate`` of
    the standing OI plus the slot's own OI decrease; the slot itself then reopens ``rate`` plus its own
    increase. Net OI is unchanged; the engine closes ``rate`` of every cohort proportionally and reopens it
    at the slot's entry price."""

    if rate <= 0.0:
        return slots
    if oi_in_base:
        level = slots.oi_close_usd / slots.close
        prev = np.append(slots.oi_start_usd / slots.open[0], level[:-1])
    else:
        level = slots.oi_close_usd
        prev = np.append(slots.oi_start_usd, level[:-1])
    delta = level - prev
    dip = prev - np.maximum(-delta, 0.0) - rate * prev  # OI after the flat slot's closes
    dip = np.maximum(dip, 0.0)
    flat_oi = dip * slots.open if oi_in_base else dip
    n = slots.n
    inter = np.empty(2 * n)

    def interleave(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        out = inter.copy()
        out[0::2] = first
        out[1::2] = second
        return out

    return EngineSlots(
        open=interleave(slots.open, slots.open),
        high=interleave(slots.open, slots.high),
        low=interleave(slots.open, slots.low),
        close=interleave(slots.open, slots.close),
        oi_close_usd=interleave(flat_oi, slots.oi_close_usd),
        parent=np.repeat(slots.parent, 2),
        hours=slots.hours / 2.0,
        oi_start_usd=slots.oi_start_usd,
    )


def engine_slots(bars: CalibrationBars, model: CalibrationModel) -> EngineSlots:
    """The pre-processed slot series for ``model``."""

    oi_in_base = model.engine.oi_unit == "base"
    slots = (
        intrabar_path(bars, substeps=model.substeps, oi_in_base=oi_in_base)
        if model.substeps
        else raw_slots(bars)
    )
    if model.turnover_per_h > 0.0:
        # per-slot rate from the per-hour rate (compounded, so sub-slot count does not change the total)
        per_slot = 1.0 - (1.0 - model.turnover_per_h) ** slots.hours
        slots = with_turnover(slots, rate=per_slot, oi_in_base=oi_in_base)
    return slots


def consumed_per_bar(bars: CalibrationBars, model: CalibrationModel) -> tuple[np.ndarray, np.ndarray]:
    """Run the engine over the pre-processed slots of ``bars`` and return the consumed long/short USD per
    input bar (sub-slots summed back into their bar)."""

    slots = engine_slots(bars, model)
    cl, cs = run_engine_consumed(slots, model)
    return (
        np.bincount(slots.parent, weights=cl, minlength=bars.n),
        np.bincount(slots.parent, weights=cs, minlength=bars.n),
    )


def run_engine_consumed(slots: EngineSlots, model: CalibrationModel) -> tuple[np.ndarray, np.ndarray]:
    """Consumed long/short USD per engine slot."""

    return _interim_engine(slots, model)


def _interim_engine(slots: EngineSlots, model: CalibrationModel) -> tuple[np.ndarray, np.ndarray]:
    # INTERIM: a small reference recipe used until the production engine lands; same semantics as
    # EngineParams documents (typical entry, both sides, proportional close, base-coin OI, no own-slot
    # consumption, log bins).
    p = replace(model.engine)
    r_long, r_short = cohort_ratios(model.venue, model.symbol, p)
    w = np.asarray(p.normalized_weights)
    lo = float(slots.low.min()) * max(float(r_long.min()), 0.05) * 0.99
    hi = float(slots.high.max()) * float(r_short.max()) * 1.01
    step = np.log1p(p.bin_width)
    nb = int(np.ceil(np.log(hi / lo) / step))
    edges = np.exp(np.log(lo) + step * np.arange(nb + 1))
    long_book = np.zeros(nb)
    short_book = np.zeros(nb)
    entry = slots.close if p.entry == "close" else (slots.high + slots.low + slots.close) / 3.0
    if p.oi_unit == "base":
        level = slots.oi_close_usd / slots.close
        prev = np.append(slots.oi_start_usd / slots.open[0], level[:-1])
        d_open = np.maximum(level - prev, 0.0) * entry
    else:
        level = slots.oi_close_usd
        prev = np.append(slots.oi_start_usd, level[:-1])
        d_open = np.maximum(level - prev, 0.0)
    keep = np.where(level < prev, np.maximum(level / np.where(prev > 0, prev, 1.0), 0.0), 1.0)
    il = np.searchsorted(edges, entry[:, None] * r_long[None, :], side="right") - 1
    ish = np.searchsorted(edges, entry[:, None] * r_short[None, :], side="right") - 1
    lo_idx = np.searchsorted(edges, slots.low, side="right") - 1  # bin holding the low
    hi_idx = np.searchsorted(edges, slots.high, side="right") - 1
    cl = np.zeros(slots.n)
    cs = np.zeros(slots.n)
    for t in range(slots.n):
        # longs whose LP ≥ low are liquidated: bins above the low's bin, and the low's bin itself
        a = lo_idx[t]
        cl[t] = long_book[a:].sum()
        long_book[a:] = 0.0
        b = hi_idx[t] + 1
        cs[t] = short_book[:b].sum()
        short_book[:b] = 0.0
        if keep[t] < 1.0:
            long_book *= keep[t]
            short_book *= keep[t]
        if d_open[t] > 0.0:
            np.add.at(long_book, il[t], d_open[t] * w)
            np.add.at(short_book, ish[t], d_open[t] * w)
    return cl, cs
