"""Cross-venue depth buckets and resting liquidity between price and a level."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.analytics.depth import depth_profile, resting_around, resting_between, resting_in
from perpscope.analytics.orderflow import Book


def _books() -> dict[str, Book]:
    return {
        "okx": Book.from_levels([(99.95, 2.0), (99.0, 5.0), (97.0, 10.0)], [(100.05, 1.0), (101.0, 4.0)]),
        "binance": Book.from_levels([(99.9, 1.0), (98.0, 3.0)], [(100.1, 2.0), (103.0, 7.0), (120.0, 9.0)]),
    }


def test_profile_buckets_are_aligned_and_per_venue() -> None:
    prof = depth_profile(_books(), bucket=1.0, range_pct=0.05)
    assert prof.venues == ("binance", "okx") and prof.center == pytest.approx(100.0)
    assert prof.lower[0] == 95.0 and prof.lower[-1] == 105.0
    k = int(np.flatnonzero(prof.lower == 99.0)[0])
    assert prof.total_bid_base[k] == 8.0  # [99, 100): 99.95 (okx 2), 99.9 (binance 1), 99.0 (okx 5)
    assert prof.bid_base[:, k].tolist() == [1.0, 7.0]
    assert prof.total_ask_base.sum() == 1 + 4 + 2 + 7  # 120 is outside ±5 %
    assert prof.ask_usd[0].sum() == pytest.approx(2 * 100.1 + 7 * 103.0)
    rows = prof.to_rows()
    assert rows[0]["price_low"] == 97.0 and rows[0]["okx_base"] == 10.0


def test_coarsen_keeps_edges_on_the_new_grid() -> None:
    prof = depth_profile(_books(), bucket=0.5, range_pct=0.05)
    c = prof.coarsen(4)
    assert c.bucket == 2.0 and np.all(np.mod(c.lower, 2.0) == 0)
    assert c.total_bid_base.sum() == pytest.approx(prof.total_bid_base.sum())


book_levels = st.lists(st.tuples(st.floats(90.0, 110.0), st.floats(0.0, 100.0)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(
    venues=st.lists(st.tuples(book_levels, book_levels), min_size=1, max_size=4),
    bucket=st.sampled_from([0.01, 0.1, 0.25, 0.5, 1.0]),
    factor=st.integers(1, 7),
)
def test_depth_conservation(
    venues: list[tuple[list[tuple[float, float]], list[tuple[float, float]]]], bucket: float, factor: int
) -> None:
    books = {f"v{i}": Book.from_levels(b, a) for i, (b, a) in enumerate(venues)}
    center = 100.0
    prof = depth_profile(books, bucket=bucket, range_pct=0.08, center=center)
    lo, hi = center * 0.92, center * 1.08
    for v, (bids, asks) in enumerate(venues):
        want_b = sum(s for p, s in bids if lo <= p <= hi and s > 0)
        want_a = sum(s for p, s in asks if lo <= p <= hi and s > 0)
        assert prof.bid_base[v].sum() == pytest.approx(want_b, abs=1e-9)
        assert prof.ask_base[v].sum() == pytest.approx(want_a, abs=1e-9)
    np.testing.assert_allclose(prof.total_bid_base, prof.bid_base.sum(axis=0))
    merged = prof.coarsen(factor)
    for name in ("bid_base", "ask_base", "bid_usd", "ask_usd"):
        np.testing.assert_allclose(
            getattr(merged, name).sum(axis=1), getattr(prof, name).sum(axis=1), atol=1e-6
        )
    # each merged bucket holds exactly the fine buckets inside it
    fine_k = np.floor(np.round(prof.lower / bucket, 6)).astype(int) // factor
    coarse_k = np.floor(np.round(merged.lower / merged.bucket, 6)).astype(int)
    for j, k in enumerate(coarse_k):
        assert merged.total_bid_base[j] == pytest.approx(prof.total_bid_base[fine_k == k].sum(), abs=1e-9)


def test_resting_between_and_around() -> None:
    books = _books()
    down = resting_between(books, 100.0, 98.0)  # a fall to 98 eats these bids
    assert down.bid_base == 1.0 + 2.0 + 5.0 + 3.0 and down.ask_base == 0.0
    assert down.by_venue["okx"].bid_base == 7.0 and down.by_venue["binance"].bid_usd == pytest.approx(
        99.9 + 3 * 98.0
    )
    up = resting_between(books, 100.0, 103.0)
    assert up.ask_base == 1 + 4 + 2 + 7 and up.bid_base == 0.0
    around = resting_around(books, 97.0, 0.005)
    assert around.bid_base == 10.0 and (around.price_low, around.price_high) == pytest.approx(
        (96.515, 97.485)
    )
    assert resting_in(books, 98.0, 99.0, closed="neither").bid_base == 0.0
    assert resting_in(books, 98.0, 99.0, closed="left").bid_base == 3.0
