"""Issue 4's oracle: when the engine's assumptions equal the simulator's, the heatmap recovers the
simulator's standing liquidation USD per price bin and its consumed series matches realized liquidations.

Exact case: the simulator opens every bar's new contracts at the bar's typical price (effective from the
next bar, as the engine's cohorts), one position size (the engine's ``position_usd`` → the same
maintenance tier), leverage split exactly by the weights, bars that either open or close (net flow, so OI
changes are exactly the engine's opens and proportional closes) and market makers absorbing every forced
order (liquidations leave OI alone, as the engine assumes). Then estimate and truth agree to rounding.

Realistic entries: positions open at the price of a random step inside the bar. The engine still puts
them at the typical price, which is inside the bar's [low, high], so each position's liquidation price
moves by at most the bar's range: standing USD agrees "up to binning" — distributions within a fraction
of a bar range (earth mover's distance in log price), totals within a few per mille except in the rare
slots where price sits between a big cohort's true and estimated levels.
"""

from __future__ import annotations

import numpy as np
import pytest

from perpscope.heatmap.engine import run_engine
from perpscope.heatmap.params import EngineParams
from perpscope.heatmap.series import BarSeries
from perpscope.model import Venue
from perpscope.sim.market import SimConfig, SimResult, simulate
from perpscope.timeutil import NS_PER_S

DAY = 86400 * NS_PER_S
ENGINE_LIKE = {
    "flow": "net",
    "size_sigma": 0.0,
    "size_median_usd": 10_000.0,  # EngineParams.position_usd default
    "liquidation_oi_drop": 0.0,
    "leverage_sampling": "stratified",
    "attribution": "both",
}


def with_origin(s: BarSeries, price0: float) -> BarSeries:
    """The engine reads OI *changes*; the simulated market opens its whole OI in its first bar, so give the
    engine the empty market one slot before (OI 0) to see that opening."""

    return BarSeries.from_arrays(
        venue=s.venue,
        symbol=s.symbol,
        interval_s=s.interval_s,
        ts_ns=np.r_[s.ts_ns[0] - s.interval_ns, s.ts_ns],
        open=np.r_[price0, s.open],
        high=np.r_[price0, s.high],
        low=np.r_[price0, s.low],
        close=np.r_[price0, s.close],
        oi_usd=np.r_[0.0, s.oi_usd],
        volume=np.r_[0.0, s.volume],
        taker_buy_volume=np.r_[0.0, s.taker_buy_volume],
    )


def run(r: SimResult, *, bin_width: float = 0.001):  # type: ignore[no-untyped-def]
    cfg = r.config
    series = [with_origin(r.bar_series(v), cfg.price0("BTC")) for v in cfg.venues]
    params = EngineParams(
        leverage=cfg.leverage_levels,
        weights=cfg.leverage_weights,
        price_range=(40_000.0, 200_000.0),
        bin_width=bin_width,
        max_columns=None,
    )
    return run_engine(series, params)


def w1_log(a: np.ndarray, b: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Earth mover's distance per row between two USD distributions over log-price bins."""

    ca = np.cumsum(a, axis=1) / a.sum(axis=1, keepdims=True)
    cb = np.cumsum(b, axis=1) / b.sum(axis=1, keepdims=True)
    return (np.abs(ca - cb)[:, :-1] * np.diff(np.log(centers))).sum(axis=1)


@pytest.mark.parametrize("venues", [tuple(Venue), (Venue.BINANCE,)])
def test_engine_recovers_standing_and_realized_exactly(venues: tuple[Venue, ...]) -> None:
    cfg = SimConfig(seed=5, venues=venues, duration_ns=2 * DAY, entry="typical", **ENGINE_LIKE)
    r = simulate(cfg)
    res = run(r)
    hm = res.heatmap
    assert hm is not None
    truth_long, truth_short = r.standing_matrix(price_edges=hm.price_edges)
    # slot 0 of the engine is the empty origin slot
    for est, truth in ((hm.long_usd[1:], truth_long), (hm.short_usd[1:], truth_short)):
        assert est.shape == truth.shape == (r.n_slots, hm.n_price)
        assert truth.sum() > 0
        assert np.allclose(est, truth, rtol=1e-9, atol=1e-9 * truth.max())
    # per venue and per leverage tier too
    for v in venues:
        tl, _ = r.standing_matrix(v, price_edges=hm.price_edges)
        assert np.allclose(hm.by_venue[v.value].long_usd[1:], tl, rtol=1e-9, atol=1e-9 * tl.max())
    t100, _ = r.standing_matrix(price_edges=hm.price_edges, leverage=100.0)
    assert np.allclose(hm.by_leverage[100.0].long_usd[1:], t100, rtol=1e-9, atol=1e-9 * truth_long.max())
    realized_long, realized_short = r.realized(basis="entry")
    assert realized_long.sum() > 0 and realized_short.sum() > 0
    assert np.allclose(res.long.consumed_usd[1:], realized_long, rtol=1e-9, atol=1e-6)
    assert np.allclose(res.short.consumed_usd[1:], realized_short, rtol=1e-9, atol=1e-6)


def test_engine_recovers_standing_up_to_binning_with_entries_spread_in_the_bar() -> None:
    venues = (Venue.BINANCE, Venue.BYBIT, Venue.OKX)
    cfg = SimConfig(seed=0, venues=venues, duration_ns=2 * DAY, entry="step", **ENGINE_LIKE)
    r = simulate(cfg)
    res = run(r)
    hm = res.heatmap
    assert hm is not None
    bars = r.bar_arrays("binance")
    bar_range = float(np.median(np.log(bars.high / bars.low)))
    truth_long, truth_short = r.standing_matrix(price_edges=hm.price_edges)
    for est, truth in ((hm.long_usd[1:], truth_long), (hm.short_usd[1:], truth_short)):
        total_err = np.abs(est.sum(axis=1) - truth.sum(axis=1)) / truth.sum(axis=1)
        assert np.median(total_err) < 0.002
        assert np.quantile(total_err, 0.95) < 0.05
        dist = w1_log(truth, est, hm.price_centers)
        # mass moves by at most the opening bar's range; typically by a fraction of it
        assert np.median(dist) < 0.5 * bar_range
        assert np.quantile(dist, 0.9) < 1.0 * bar_range
        # not exact any more: entries really differ from the typical price
        assert not np.allclose(est, truth, rtol=1e-6)
    realized_long, realized_short = r.realized(basis="entry")
    for consumed, realized in (
        (res.long.consumed_usd[1:], realized_long),
        (res.short.consumed_usd[1:], realized_short),
    ):
        assert consumed.sum() == pytest.approx(realized.sum(), rel=0.02)
        hourly_c = consumed.reshape(-1, 12).sum(axis=1)
        hourly_r = realized.reshape(-1, 12).sum(axis=1)
        assert np.corrcoef(hourly_c, hourly_r)[0, 1] > 0.95
