"""Confluence rows on scenarios where the answer is known, and on a simulated market end to end."""

from __future__ import annotations

import numpy as np
import pytest

from perpscope.analytics.bands import Band, BandParams, find_bands
from perpscope.analytics.confluence import (
    ConfluenceParams,
    FundingContext,
    confluence_row,
    confluence_rows,
)
from perpscope.analytics.funding import funding_scoreboard
from perpscope.analytics.orderflow import Book, cvd
from perpscope.model import Liquidation, PositionSide, Venue

S = 10**9
H = 3600 * S
NOW = 100 * H


def long_band(usd: float = 50e6) -> Band:
    return Band(
        side=PositionSide.LONG,
        price_low=95.0,
        price_high=96.0,
        price_peak=95.5,
        usd=usd,
        current_price=100.0,
        distance_pct=-4.0,
        persistence=10,
        lookback=12,
        bin_lo=10,
        bin_hi=11,
    )


def short_band() -> Band:
    return Band(
        side=PositionSide.SHORT,
        price_low=104.0,
        price_high=105.0,
        price_peak=104.5,
        usd=40e6,
        current_price=100.0,
        distance_pct=4.0,
        persistence=6,
        lookback=12,
        bin_lo=28,
        bin_hi=29,
    )


THIN = {
    "binance": Book.from_levels([(99.9, 5_000.0), (99.0, 3_000.0)], [(100.1, 5_000.0), (101.0, 3_000.0)]),
    "bybit": Book.from_levels([(99.95, 2_000.0)], [(100.05, 2_000.0)]),
}  # ~$1M of bids above the long band, ~$1M of asks below the short band
THICK = {
    "binance": Book.from_levels([(99.9, 5_000.0), (97.0, 400_000.0), (95.5, 200_000.0)], [(100.1, 5_000.0)]),
}  # $38.8M on the way down to the band + $19.1M at it


def flow(previous: str, recent: str) -> object:
    """One hour of trades each way: ``previous`` hour then ``recent`` hour ('buy' / 'sell' dominated)."""

    ts, side, qty = [], [], []
    for start, dominant in ((NOW - 2 * H, previous), (NOW - H, recent)):
        for k in range(60):
            ts += [start + k * 60 * S, start + k * 60 * S + S]
            other = "sell" if dominant == "buy" else "buy"
            side += [dominant, other]
            qty += [3.0, 1.0]
    return cvd(ts, side, qty, np.full(len(ts), 100.0))


def test_thin_book_under_a_long_cluster_with_crowded_longs_and_selling_is_fragile() -> None:
    row = confluence_row(
        long_band(),
        books=THIN,
        now_ns=NOW,
        funding=FundingContext(rate_8h=0.0003, pct_90d=92.0, prev_rate_8h=0.0002),
        cvd=flow("sell", "sell"),  # type: ignore[arg-type]
    )
    assert row.path == "air"
    assert row.between_usd == pytest.approx(5_000 * 99.9 + 3_000 * 99.0 + 2_000 * 99.95)
    assert row.at_usd == 0.0
    assert row.cvd_direction == "falling" and row.cvd_toward and not row.funding_flipped
    assert row.verdict == "fragile"
    assert row.reading.startswith(
        "long cluster 4.0% below, positive funding (p92 of 90d), CVD falling, thin bids"
    )
    assert "if price reached 95–96, forced selling would meet little resting bid to stop it" in row.reading
    d = row.to_dict()
    assert d["verdict"] == "fragile" and d["side"] == "long" and d["persistence"] == 10


def test_thick_bids_and_buying_cushion_a_long_cluster_funding_flipped() -> None:
    row = confluence_row(
        long_band(),
        books=THICK,
        now_ns=NOW,
        funding=FundingContext(rate_8h=-0.0001, pct_90d=8.0, prev_rate_8h=0.0001),
        cvd=flow("buy", "buy"),  # type: ignore[arg-type]
    )
    assert row.path == "absorb" and row.between_usd == pytest.approx(5_000 * 99.9 + 400_000 * 97.0)
    assert row.at_usd == pytest.approx(200_000 * 95.5)
    assert row.funding_flipped and row.cvd_direction == "rising" and not row.cvd_toward
    assert row.verdict == "cushioned"
    assert "funding flipped negative (p8 of 90d)" in row.reading and "thick bids (absorb)" in row.reading
    assert "resting bids ($58.4M) could absorb the forced selling" in row.reading


def test_cvd_turning_is_read_and_short_clusters_mirror() -> None:
    row = confluence_row(
        short_band(),
        books=THIN,
        now_ns=NOW,
        funding=FundingContext(rate_8h=-0.0002, pct_90d=5.0, prev_rate_8h=-0.0001),
        cvd=flow("sell", "buy"),  # type: ignore[arg-type]
    )
    assert (row.cvd_previous, row.cvd_direction) == ("falling", "rising")
    assert row.cvd_toward and row.path == "air" and row.verdict == "fragile"
    assert (
        "short cluster 4.0% above, negative funding (p5 of 90d), CVD turning up, thin asks (air)"
        in row.reading
    )
    assert "forced buying" in row.reading
    # the same band with selling that turned: flow now points away
    away = confluence_row(short_band(), books=THIN, now_ns=NOW, cvd=flow("buy", "sell"))  # type: ignore[arg-type]
    assert "CVD turning down" in away.reading and not away.cvd_toward and away.verdict == "mixed"


def test_partial_path_and_missing_inputs() -> None:
    partial = {"okx": Book.from_levels([(99.0, 200_000.0)], [(101.0, 1.0)])}  # $19.8M vs a $50M cluster
    row = confluence_row(long_band(), books=partial, now_ns=NOW)
    assert row.path == "partial" and row.verdict == "mixed"
    bare = confluence_row(long_band(), books=None, now_ns=NOW)
    assert bare.path == "unknown" and bare.cvd_direction == "unknown" and bare.funding_8h is None
    want = "long cluster 4.0% below: mixed: if price reached 95–96, the signals are mixed and the book is "
    want += "unknown"
    assert bare.reading == want
    assert np.isnan(bare.between_usd) and bare.to_dict()["between_usd"] is None


def test_recent_tape_near_the_level() -> None:
    def liq(t: int, side: PositionSide, price: float, usd: float) -> Liquidation:
        return Liquidation(
            venue=Venue.BYBIT,
            symbol="BTC",
            ts_event=t,
            ts_recv=t,
            side=side,
            price=price,
            quantity=usd / price,
            notional_usd=usd,
            sampled=False,
        )

    liqs = [
        liq(NOW - 10 * S, PositionSide.LONG, 95.8, 200_000),  # counted
        liq(NOW - 50 * 60 * S, PositionSide.LONG, 96.3, 100_000),  # within +0.5 % of the band: counted
        liq(NOW - 2 * H, PositionSide.LONG, 95.5, 1e6),  # too old
        liq(NOW - 10 * S, PositionSide.SHORT, 95.5, 1e6),  # other side
        liq(NOW - 10 * S, PositionSide.LONG, 98.0, 1e6),  # not near the level
    ]
    row = confluence_row(long_band(), books=THIN, now_ns=NOW, liquidations=liqs)
    assert (row.tape_count, row.tape_usd) == (2, 300_000.0)
    assert "2 long liquidations near it recently ($300.0k)" in row.reading


def test_readings_never_predict() -> None:
    rows = []
    for books in (THIN, THICK, None):
        for previous, recent in (("buy", "sell"), ("sell", "sell"), ("buy", "buy")):
            for rate in (0.0003, -0.0003, 0.0):
                rows += confluence_rows(
                    [long_band(), short_band()],
                    books=books,
                    now_ns=NOW,
                    funding=FundingContext(rate_8h=rate, pct_90d=50.0, prev_rate_8h=-rate),
                    cvd=flow(previous, recent),  # type: ignore[arg-type]
                )
    assert {r.verdict for r in rows} == {"fragile", "mixed", "cushioned"}
    for r in rows:
        assert "if price reached" in r.reading
        assert " will " not in r.reading and "target" not in r.reading


def test_confluence_on_a_simulated_market() -> None:
    """End to end on the seeded simulator: truth standing positions → bands; its books, trades, funding
    and liquidations → rows. Known: bands beyond the simulated book (±25 levels) have every resting bid
    (ask) between them and price; CVD direction follows the trades' own signed sum."""

    from perpscope.feed.book import BookSet
    from perpscope.heatmap.result import Heatmap
    from perpscope.model import BookDelta, BookSnapshot, Funding, OpenInterest, Trade
    from perpscope.sim.market import SimConfig, simulate

    sim = simulate(SimConfig(seed=7, venues=(Venue.BINANCE, Venue.BYBIT), duration_ns=6 * H))
    events = list(sim.events())
    bars = sim.bar_arrays(Venue.BINANCE)
    price = float(bars.close[-1])
    edges = np.linspace(price * 0.85, price * 1.15, 301)
    long_m, short_m = sim.standing_matrix(price_edges=edges)
    hm = Heatmap(
        symbol="BTC",
        venues=("binance", "bybit"),
        time_edges_ns=np.append(bars.ts_ns, bars.ts_ns[-1] + 300 * S),
        price_edges=edges,
        long_usd=long_m,
        short_usd=short_m,
        open=bars.open,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        consumed_long_usd=np.zeros(len(bars.close)),
        consumed_short_usd=np.zeros(len(bars.close)),
    )
    bands = find_bands(hm, params=BandParams(lookback=12, min_persistence=3))
    assert {b.side for b in bands} == {PositionSide.LONG, PositionSide.SHORT}
    top_bin = int(np.argmax(np.where(hm.price_centers < price, long_m[-1], 0)))
    assert any(b.side is PositionSide.LONG and b.bin_lo <= top_bin <= b.bin_hi for b in bands)

    books = BookSet()
    for e in events:
        if isinstance(e, BookSnapshot | BookDelta):
            books.apply(e)
    venue_books = {b.venue.value: b for b in books if b.synced}
    assert set(venue_books) == {"binance", "bybit"}
    trades = [e for e in events if isinstance(e, Trade)]
    flow_all = cvd(
        [t.ts_event for t in trades],
        [t.side for t in trades],
        [t.quantity for t in trades],
        [t.price for t in trades],
    )
    now = max(t.ts_event for t in trades) + 1
    board = funding_scoreboard(
        [e for e in events if isinstance(e, Funding)], [e for e in events if isinstance(e, OpenInterest)]
    )
    ctx = FundingContext.from_scoreboard(board, "BTC")
    assert ctx is not None and np.isfinite(ctx.rate_8h)
    rows = confluence_rows(
        bands,
        books=venue_books,
        now_ns=now,
        price=price,
        funding=ctx,
        cvd=flow_all,
        liquidations=[e for e in events if isinstance(e, Liquidation)],
        params=ConfluenceParams(cvd_window_ns=H),
    )
    assert len(rows) == len(bands)
    all_bids = sum(
        float((b.to_arrays().bid_px * b.to_arrays().bid_sz)[b.to_arrays().bid_px < price].sum())
        for b in venue_books.values()
    )
    all_asks = sum(
        float((b.to_arrays().ask_px * b.to_arrays().ask_sz)[b.to_arrays().ask_px > price].sum())
        for b in venue_books.values()
    )
    far = [r for r in rows if abs(r.band.distance_pct) > 1.5]
    assert far
    for r in far:
        want = all_bids if r.band.side is PositionSide.LONG else all_asks
        assert r.between_usd == pytest.approx(want) and r.at_usd == 0.0
    signed = sum((1 if t.side == "buy" else -1) * t.quantity for t in trades if now - H <= t.ts_event < now)
    volume = sum(t.quantity for t in trades if now - H <= t.ts_event < now)
    want_dir = "rising" if signed > 0.02 * volume else ("falling" if signed < -0.02 * volume else "flat")
    assert {r.cvd_direction for r in rows} == {want_dir}
    assert all(r.reading and "if price reached" in r.reading for r in rows)
