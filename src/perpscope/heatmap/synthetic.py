"""Random-walk engine inputs for tests and the benchmark (not a market model: see perpscope.sim)."""

from __future__ import annotations

import numpy as np

from ..model import Venue
from ..timeutil import NS_PER_S
from .series import BarSeries

YEAR_2025_NS = 1_735_689_600 * NS_PER_S  # 2025-01-01T00:00Z


def random_walk_series(
    n: int,
    *,
    venue: Venue | str = Venue.BINANCE,
    symbol: str = "BTC",
    seed: int = 0,
    interval_s: int = 300,
    start_ns: int = YEAR_2025_NS,
    price: float = 60_000.0,
    vol: float = 0.002,
    jump_prob: float = 0.002,
    jump_size: float = 0.03,
    oi_usd: float = 5e9,
    oi_vol: float = 0.002,
    with_flow: bool = True,
) -> BarSeries:
    """``n`` slots of a log random walk with occasional jumps, intrabar wicks, an OI random walk (up and
    down) and taker flow."""

    rng = np.random.default_rng(seed)
    ret = rng.normal(0.0, vol, n)
    jumps = rng.random(n) < jump_prob
    ret[jumps] += rng.choice([-1.0, 1.0], int(jumps.sum())) * jump_size * rng.random(int(jumps.sum()))
    close = price * np.exp(np.cumsum(ret))
    open_ = np.empty(n)
    open_[0] = price
    open_[1:] = close[:-1]
    wick_hi = np.abs(rng.normal(0.0, vol * 0.7, n))
    wick_lo = np.abs(rng.normal(0.0, vol * 0.7, n))
    high = np.maximum(open_, close) * np.exp(wick_hi)
    low = np.minimum(open_, close) * np.exp(-wick_lo)
    oi_base = (oi_usd / price) * np.exp(np.cumsum(rng.normal(0.0, oi_vol, n)))
    oi = oi_base * close
    volume = taker = quote = None
    if with_flow:
        volume = np.abs(rng.normal(1000.0, 300.0, n)) + 1.0
        taker = volume * np.clip(rng.normal(0.5, 0.1, n), 0.0, 1.0)
        quote = volume * (high + low + close) / 3.0 * np.exp(rng.normal(0.0, vol * 0.1, n))
        quote = np.clip(quote, volume * low, volume * high)
    return BarSeries.from_arrays(
        venue=venue,
        symbol=symbol,
        interval_s=interval_s,
        ts_ns=start_ns + np.arange(n, dtype=np.int64) * interval_s * NS_PER_S,
        open=open_,
        high=high,
        low=low,
        close=close,
        oi_usd=oi,
        volume=volume,
        taker_buy_volume=taker,
        quote_volume=quote,
    )
