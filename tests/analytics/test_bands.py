"""Heatmap bands: peak detection, merging adjacent bins, persistence and its threshold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from perpscope.analytics.bands import BandParams, band_persistence, find_bands, top_bands
from perpscope.heatmap.result import Heatmap
from perpscope.model import PositionSide

H = 3600 * 10**9


def heatmap(
    long_usd: np.ndarray, short_usd: np.ndarray, *, price: float = 100.0, lo: float = 90.0
) -> Heatmap:
    t, p = long_usd.shape
    close = np.full(t, price)
    return Heatmap(
        symbol="BTC",
        venues=("binance",),
        time_edges_ns=np.arange(t + 1, dtype=np.int64) * H,
        price_edges=lo + np.arange(p + 1) * 0.5,  # 0.5-wide bins from `lo`
        long_usd=long_usd,
        short_usd=short_usd,
        open=close,
        high=close,
        low=close,
        close=close,
        consumed_long_usd=np.zeros(t),
        consumed_short_usd=np.zeros(t),
    )


def scenario() -> Heatmap:
    t, p = 20, 40  # bins 90.0 … 110.0, price 100 (bin 20 starts at 100)
    long_usd = np.full((t, p), 1e6)
    short_usd = np.full((t, p), 1e6)
    long_usd[:, 10:13] += [40e6, 80e6, 30e6]  # 95.0–96.5: a persistent long cluster (peak and shoulders)
    long_usd[-1, 4] += 200e6  # 92.0–92.5: appeared in the last column only (transient)
    short_usd[12:, 28] += 50e6  # 104.0–104.5: a short cluster standing for the last 8 columns
    long_usd[:, 25] += 500e6  # above price: longs up there are not a "below" band
    return heatmap(long_usd, short_usd)


def test_finds_persistent_bands_and_drops_transient_ones() -> None:
    bands = find_bands(scenario())
    assert [(b.side, b.price_low, b.price_high) for b in bands] == [
        (PositionSide.LONG, 95.0, 96.5),
        (PositionSide.SHORT, 104.0, 104.5),
    ]
    long, short = bands
    assert long.usd == pytest.approx(150e6 + 3e6) and long.price_peak == 95.75
    assert long.persistence == 12 and long.lookback == 12 and long.persistence_frac == 1.0
    assert long.distance_pct == pytest.approx(-3.5)  # nearest edge 96.5 vs price 100
    assert short.persistence == 8 and short.distance_pct == pytest.approx(4.0)
    assert long.to_dict()["side"] == "long"
    # with min_persistence=1 the transient spike is a band too (and the biggest long one)
    loose = find_bands(scenario(), params=BandParams(min_persistence=1))
    assert loose[0].price_low == 92.0 and loose[0].persistence == 1


def test_valleys_split_bands_and_edge_fraction_decides_how_deep() -> None:
    long_usd = np.zeros((4, 40))
    long_usd[:, 10:13] = [80e6, 30e6, 60e6]  # two peaks, a valley at 37.5 % of the larger one
    hm = heatmap(long_usd, np.zeros((4, 40)))
    two = find_bands(hm, params=BandParams(edge_frac=0.5))
    assert [(b.price_low, b.price_high) for b in two] == [(95.5, 96.5), (95.0, 95.5)]  # by USD: 90M, 80M
    one = find_bands(hm, params=BandParams(edge_frac=0.3))
    assert [(b.price_low, b.price_high, b.usd) for b in one] == [(95.0, 96.5, 170e6)]
    # a shoulder (a bin next to a higher banded bin) always joins its band, whatever edge_frac
    first = find_bands(scenario(), params=BandParams(edge_frac=0.9))[0]
    assert (first.price_low, first.price_high) == (95.0, 96.5)


def test_top_bands_orders_nearest_first() -> None:
    long_usd = np.zeros((5, 40))
    long_usd[:, 2] = 10e6  # 91.0: far, large
    long_usd[:, 16] = 5e6  # 98.0: near, smaller
    long_usd[:, 8] = 1e6  # 94.0: small
    bands = find_bands(heatmap(long_usd, np.zeros((5, 40))), params=BandParams(min_frac=0.05))
    assert [b.price_low for b in bands] == [91.0, 98.0, 94.0]  # by USD
    assert [b.price_low for b in top_bands(bands, per_side=2)] == [98.0, 91.0]  # two largest, nearest first


def test_empty_heatmap() -> None:
    assert find_bands(heatmap(np.zeros((3, 10)), np.zeros((3, 10)))) == []


matrices = arrays(np.float64, st.tuples(st.integers(1, 15), st.integers(3, 12)), elements=st.floats(0, 1e9))


@settings(max_examples=200, deadline=None)
@given(m=matrices, a=st.floats(0, 1), b=st.floats(0, 1), lookback=st.integers(1, 20), data=st.data())
def test_persistence_monotone_in_threshold(
    m: np.ndarray, a: float, b: float, lookback: int, data: st.DataObject
) -> None:
    lo = data.draw(st.integers(0, m.shape[1] - 1))
    hi = data.draw(st.integers(lo, m.shape[1] - 1))
    x1, x2 = sorted((a, b))
    p1, n = band_persistence(m, lo, hi, lookback=lookback, frac=x1)
    p2, _ = band_persistence(m, lo, hi, lookback=lookback, frac=x2)
    assert 0 <= p2 <= p1 <= n == min(lookback, m.shape[0])
    if m[-n:, lo : hi + 1].sum() > 0:
        assert p2 >= 1  # the peak column always counts


@settings(max_examples=100, deadline=None)
@given(long_usd=arrays(np.float64, (8, 24), elements=st.floats(0, 1e8)), a=st.floats(0, 1), b=st.floats(0, 1))
def test_bands_kept_shrink_as_threshold_rises(long_usd: np.ndarray, a: float, b: float) -> None:
    x1, x2 = sorted((a, b))
    hm = heatmap(long_usd, np.zeros_like(long_usd), price=101.0)
    loose = find_bands(hm, params=BandParams(lookback=8, persist_frac=x1, min_persistence=4))
    strict = find_bands(hm, params=BandParams(lookback=8, persist_frac=x2, min_persistence=4))
    assert {(b.bin_lo, b.bin_hi) for b in strict} <= {(b.bin_lo, b.bin_hi) for b in loose}
    for s in strict:
        (match,) = [b for b in loose if (b.bin_lo, b.bin_hi) == (s.bin_lo, s.bin_hi)]
        assert match.persistence >= s.persistence
