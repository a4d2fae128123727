"""Pieces of the recipe shared by the fast engine and the reference: margin ratios per cohort kind, the
price range rule and numeric constants. Everything else is implemented twice, independently."""

from __future__ import annotations

import numpy as np

from ..model import Venue
from .margin import liquidation_ratio
from .params import EngineParams
from .tiers import TierTable, load_tiers

# An OI ratio below this counts as this (a drop to zero would make log-survival -inf).
F_MIN = 1e-12


def tier_table(venue: Venue, symbol: str, params: EngineParams) -> TierTable | None:
    """The tier table a venue's series uses: from ``params.tiers`` (keyed by venue name) or the packaged
    snapshot; None when ``params.mmr`` overrides tiers."""

    if params.mmr is not None:
        return None
    if params.tiers is not None and str(venue.value) in params.tiers:
        return params.tiers[str(venue.value)]
    return load_tiers(venue, symbol)


def cohort_ratios(venue: Venue, symbol: str, params: EngineParams) -> tuple[np.ndarray, np.ndarray]:
    """``LP/entry`` per leverage for longs and shorts of one venue's series, ``(K,)`` each."""

    model = params.margin_model or venue
    table = tier_table(model, symbol, params) if params.mmr is None else None
    lev = np.asarray(params.leverage, dtype=np.float64)
    fee = params.fee_rate if Venue(model) is Venue.OKX else None
    common = {
        "tiers": table,
        "position_usd": params.position_usd,
        "mmr": params.mmr,
        "fee_rate": fee,
        "clip_leverage": params.clip_leverage,
    }
    r_long = liquidation_ratio(model, "long", lev, **common)  # type: ignore[arg-type]
    r_short = liquidation_ratio(model, "short", lev, **common)  # type: ignore[arg-type]
    return np.atleast_1d(r_long).astype(np.float64), np.atleast_1d(r_short).astype(np.float64)


def auto_price_range(
    low: float, high: float, long_ratio_min: float, short_ratio_max: float
) -> tuple[float, float]:
    """The display range: the window's low/high widened to the farthest liquidation price of a cohort
    opened inside the window (long floor at 5 % of the low for very low leverage)."""

    lo = low * max(long_ratio_min, 0.05)
    hi = high * max(short_ratio_max, 1.0)
    if hi <= lo:
        hi = lo * 1.001
    return lo, hi
