"""What calibration runs: the heatmap engine (with its intrabar path and turnover steps, ``EngineParams``
``substeps``/``turnover_per_h``, implemented once in ``heatmap/intrabar.py``) plus a documented
post-processing of its output.

Chosen on the first half of the 6-month hourly file, reported on its second half and on the 5-minute week
(docs/calibration.md, bench/calibrate.py). On top of the engine's own recipe:

1. **Intrabar path** (engine step, on). A bar is split into ``3 × substeps`` sub-slots along the path
   ``open → low → high → close`` when it closed at or above its open, else ``open → high → low → close``
   (the usual OHLC-path heuristic). Positions then open along the bar's range rather than at one point,
   and a position opened near the high can be liquidated by the fall to the low later in the same bar.
   OI moves linearly (in base coin) from the bar's open to its close across the sub-slots.
2. **Turnover** (engine step, on). Open interest is net; traders keep closing and reopening. Before
   each sub-slot a flat slot at its open price lowers OI by ``turnover`` (``1 − (1 − turnover_per_h)^hours``
   of the standing OI) plus the sub-slot's own decrease, which the engine's proportional close rule takes
   from every cohort; the sub-slot then reopens it (plus its own increase) at its entry price. Net OI is
   unchanged; liquidation levels keep forming near the traded price and are consumed once when swept.
3. **Leverage mix** (an engine parameter): the engine's default mix (10/25/50/100/125× at
   35/30/20/10/5 %, ``params.DEFAULT_LEVERAGE``), so calibration scores what ``run_engine`` draws.
4. **Background** (post-processing, off by default). A uniform density of ``background × OI`` USD per
   unit of relative price, regenerated at each scored bar's open, adds ``background × baseline`` to the
   bar's consumed USD: positions the cohorts cannot see. It only helped before step 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..model import Venue
from ..timeutil import NS_PER_S
from .calibrate_io import CalibrationBars
from .engine import run_engine
from .intrabar import split_bars
from .params import EngineParams
from .series import BarSeries

# Defaults chosen on the first half of the hourly file only (bench/calibrate.py: the argmax of the mean
# long/short Spearman over a grid of leverage mix × substeps × turnover × background, ties within 0.002
# going to fewer sub-slots), then reported on the second half and the 5-minute week. The surface is flat
# near them: substeps 4–16, turnover 3–50 %/h move H1 by less than 0.01.
DEFAULT_SUBSTEPS = 8
DEFAULT_TURNOVER_PER_H = 0.3
DEFAULT_BACKGROUND = 0.0


# What the shipped heatmap (``perpscope heatmap``/``demo``/``serve``, ``pipeline``) runs by default. The
# calibrated 8 sub-steps took 76 s and 3.6 GB for a year of 5-minute bars × 3 venues (48 engine slots per
# bar), far over the ~3 s budget; turnover alone costs ~1 s (one sub-step already ~3–4 s), the best that fits
# (docs/heatmap.md, "Intrabar steps"): the calibrated setting is ``--substeps 8`` away.
DISPLAY_SUBSTEPS = 0
DISPLAY_TURNOVER_PER_H = DEFAULT_TURNOVER_PER_H


def default_engine_params() -> EngineParams:
    """The shipped heatmap's defaults: the engine's own (its leverage mix is the calibrated one,
    ``params.DEFAULT_LEVERAGE``) with the display intrabar steps (``DISPLAY_SUBSTEPS``,
    ``DISPLAY_TURNOVER_PER_H``) and one display column per slot. Calibration replaces the two steps by its
    model's ``substeps``/``turnover_per_h``."""

    return EngineParams(max_columns=None, substeps=DISPLAY_SUBSTEPS, turnover_per_h=DISPLAY_TURNOVER_PER_H)


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
            "engine": replace(
                self.engine, substeps=self.substeps, turnover_per_h=self.turnover_per_h
            ).describe(),
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
    # taker-buy share of each slot's volume (0..1) for attribution="aggressor"; None = unknown (½)
    taker_buy_share: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.open.shape[0])


def engine_slots(bars: CalibrationBars, model: CalibrationModel) -> EngineSlots:
    """The engine slots for ``model``: the engine's own bars → slots split (``intrabar.split_bars``, the
    ``substeps``/``turnover_per_h`` steps of ``EngineParams``) applied with the file's OI at each bar's
    open (the hourly file's ``oi_open`` need not equal the previous bar's close)."""

    oi_in_base = model.engine.oi_unit == "base"
    lv_open = bars.oi_open_usd / bars.open if oi_in_base else bars.oi_open_usd
    lv_close = bars.oi_close_usd / bars.close if oi_in_base else bars.oi_close_usd
    path = split_bars(
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        lv_open,
        lv_close,
        bar_hours=bars.slot_ns / (3600 * NS_PER_S),
        substeps=model.substeps,
        turnover_per_h=model.turnover_per_h,
    )
    return EngineSlots(
        open=path.open,
        high=path.high,
        low=path.low,
        close=path.close,
        oi_close_usd=path.level * path.close if oi_in_base else path.level,
        parent=path.parent,
        hours=path.hours,
        oi_start_usd=float(bars.oi_open_usd[0]),
    )


def consumed_per_bar(
    bars: CalibrationBars, model: CalibrationModel, *, taker_buy_share: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Run the engine over the pre-processed slots of ``bars`` and return the consumed long/short USD per
    input bar (sub-slots summed back into their bar). ``taker_buy_share`` (one value per bar, 0..1) feeds
    ``attribution="aggressor"``."""

    slots = engine_slots(bars, model)
    if taker_buy_share is not None:
        share = np.asarray(taker_buy_share, dtype=np.float64)
        if share.shape != (bars.n,):
            raise ValueError(f"taker_buy_share needs one value per bar ({bars.n}), got {share.shape}")
        slots = replace(slots, taker_buy_share=share[slots.parent])
    cl, cs = run_engine_consumed(slots, model)
    return (
        np.bincount(slots.parent, weights=cl, minlength=bars.n),
        np.bincount(slots.parent, weights=cs, minlength=bars.n),
    )


def run_engine_consumed(slots: EngineSlots, model: CalibrationModel) -> tuple[np.ndarray, np.ndarray]:
    """Consumed long/short USD per engine slot, from the production engine (slot series only, no display
    matrices) run with its own steps off on slots :func:`engine_slots` already split. The engine runs on
    a synthetic 1-second grid: sub-slots need not divide a second and gaps between bars are not extra
    slots; the only time-dependent assumption, ``half_life_h``, is rescaled so its decay per slot is the
    real one."""

    params = replace(model.engine, substeps=0, turnover_per_h=0.0)  # the slots are split already
    if params.half_life_h is not None:
        params = replace(params, half_life_h=params.half_life_h / 3600.0 / slots.hours)
    # a flat seed slot at the first open carries the OI before the first slot, so the first slot's own
    # OI change opens positions like every other slot's
    seed_px = slots.open[:1]
    series = BarSeries.from_arrays(
        venue=model.venue,
        symbol=model.symbol,
        interval_s=1,
        ts_ns=np.arange(slots.n + 1, dtype=np.int64) * NS_PER_S,
        open=np.concatenate([seed_px, slots.open]),
        high=np.concatenate([seed_px, slots.high]),
        low=np.concatenate([seed_px, slots.low]),
        close=np.concatenate([seed_px, slots.close]),
        oi_usd=np.concatenate([[slots.oi_start_usd], slots.oi_close_usd]),
        # the engine reads the share as taker_buy_volume / volume
        volume=None if slots.taker_buy_share is None else np.ones(slots.n + 1),
        taker_buy_volume=None
        if slots.taker_buy_share is None
        else np.concatenate([[0.5], np.clip(slots.taker_buy_share, 0.0, 1.0)]),
    )
    result = run_engine(series, params, display=False, parts=False)
    return result.long.consumed_usd[1:], result.short.consumed_usd[1:]
