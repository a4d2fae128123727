"""perpscope.heatmap: the estimated liquidation heatmap.

- :mod:`.margin` / :mod:`.tiers`: isolated-margin liquidation prices per venue, dated tier tables
- :mod:`.engine`: the fast cohort engine (:func:`run_engine`, :func:`compute_heatmap`); :mod:`.reference`
  is the same recipe as a slow per-cohort loop, its test oracle
- :mod:`.params`: every assumption (:class:`EngineParams`); :mod:`.series`: inputs (:class:`BarSeries`)
- :mod:`.result`: the :class:`Heatmap` the engine produces and renderers consume

Method and figures: docs/heatmap.md.
"""

from .engine import EngineResult, SlotSeries, compute_heatmap, run_engine
from .margin import liquidation_distance, liquidation_price, liquidation_ratio
from .params import DEFAULT_LEVERAGE, DEFAULT_WEIGHTS, WINDOW_PRESETS, EngineParams, parse_leverage_mix
from .result import Heatmap, HeatmapPart, LiquidationMap
from .series import BarSeries, SeriesError
from .tiers import TierError, TierTable, load_tiers, refresh_tiers

__all__ = [
    "DEFAULT_LEVERAGE",
    "DEFAULT_WEIGHTS",
    "WINDOW_PRESETS",
    "BarSeries",
    "EngineParams",
    "EngineResult",
    "Heatmap",
    "HeatmapPart",
    "LiquidationMap",
    "SeriesError",
    "SlotSeries",
    "TierError",
    "TierTable",
    "compute_heatmap",
    "liquidation_distance",
    "liquidation_price",
    "liquidation_ratio",
    "load_tiers",
    "parse_leverage_mix",
    "refresh_tiers",
    "run_engine",
]
