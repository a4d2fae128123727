"""Funding normalization, OI-weighted averages, history percentiles and the scoreboard."""

from __future__ import annotations

import bisect
import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpscope.analytics.funding import (
    DAY_NS,
    HOUR_NS,
    funding_scoreboard,
    oi_weighted_average,
    percentile_rank,
    rate_8h,
    rate_apr,
)
from perpscope.model import Funding, OpenInterest, Venue
from perpscope.timeutil import NS_PER_MS

T0 = 1_780_000_000 * 10**9 // HOUR_NS * HOUR_NS  # a whole hour


def test_normalization_across_intervals() -> None:
    assert rate_8h(0.0001, 1) == pytest.approx(0.0008)
    assert rate_8h(0.0001, 4) == pytest.approx(0.0002)
    assert rate_8h(0.0001, 8) == pytest.approx(0.0001)
    assert rate_apr(0.0001, 8) == pytest.approx(0.1095)  # 0.01 % per 8 h = 10.95 % a year
    assert rate_apr(0.0000125, 1) == pytest.approx(0.1095)  # the same carry paid hourly
    np.testing.assert_allclose(rate_apr(np.array([0.0001, 0.0001]), np.array([4, 8])), [0.219, 0.1095])


def test_oi_weighted_average() -> None:
    assert oi_weighted_average([0.0001, 0.0003], [300.0, 100.0]) == pytest.approx(0.00015)
    assert oi_weighted_average([0.0001, np.nan, 0.0003], [1.0, 5.0, 1.0]) == pytest.approx(0.0002)
    assert oi_weighted_average([0.0001, 0.0003], [np.nan, 0.0]) == pytest.approx(0.0002)  # no OI: plain mean
    assert np.isnan(oi_weighted_average([np.nan], [1.0]))


@given(
    history=st.lists(st.floats(-0.01, 0.01), min_size=1, max_size=50),
    a=st.floats(-0.02, 0.02),
    b=st.floats(-0.02, 0.02),
)
def test_percentile_rank_bounded_and_monotone(history: list[float], a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    p_lo, p_hi = percentile_rank(lo, history), percentile_rank(hi, history)
    assert 0.0 <= p_lo <= p_hi <= 100.0


def test_percentile_rank_midrank() -> None:
    assert percentile_rank(2.0, [1.0, 2.0, 3.0]) == pytest.approx(50.0)
    assert percentile_rank(5.0, [1.0, 2.0, 3.0]) == 100.0
    assert np.isnan(percentile_rank(1.0, []))


def _f(venue: Venue, t: int, rate: float, interval: float, settled: float | None = None) -> Funding:
    return Funding(
        venue=venue,
        symbol="BTC",
        ts_event=t,
        ts_recv=t,
        rate=rate,
        interval_hours=interval,
        settled_rate=settled,
        next_funding_ts=t + int(interval * HOUR_NS),
    )


def _history() -> tuple[list[Funding], list[OpenInterest]]:
    """Binance settles every 8 h; Hyperliquid every hour. 90 days: the first 60 rich, the last 30 cheap."""

    events: list[Funding] = []
    now = T0 + 90 * DAY_NS
    for k in range(90 * 3):
        t = T0 + k * 8 * HOUR_NS
        events.append(_f(Venue.BINANCE, t, 0.0003 if t < T0 + 60 * DAY_NS else 0.00005, 8))
    for k in range(90 * 24):
        t = T0 + k * HOUR_NS
        events.append(_f(Venue.HYPERLIQUID, t, 0.00004 if t < T0 + 60 * DAY_NS else 0.000005, 1))
    events.append(_f(Venue.BINANCE, now, 0.0001, 8, settled=0.00005))  # current: mid of its 90 d range
    events.append(_f(Venue.HYPERLIQUID, now, 0.0000125, 1, settled=0.000005))
    oi = [
        OpenInterest(
            venue=Venue.BINANCE, symbol="BTC", ts_event=now - 60 * 10**9, ts_recv=now, oi_base=1, oi_usd=3e9
        ),
        OpenInterest(venue=Venue.HYPERLIQUID, symbol="BTC", ts_event=now, ts_recv=now, oi_base=1, oi_usd=1e9),
    ]
    return events, oi


def test_scoreboard_rows_and_percentiles() -> None:
    events, oi = _history()
    rows = funding_scoreboard(events, oi)
    assert [(r.symbol, r.venue) for r in rows] == [("BTC", "binance"), ("BTC", "hyperliquid"), ("BTC", "all")]
    bn, hl, agg = rows
    assert (bn.rate, bn.interval_hours, bn.settled_rate) == (0.0001, 8.0, 0.00005)
    assert bn.rate_8h == pytest.approx(0.0001) and bn.apr == pytest.approx(0.1095)
    assert hl.rate_8h == pytest.approx(0.0001) and hl.apr == pytest.approx(0.1095)
    assert bn.next_funding_ts == bn.ts_ns + 8 * HOUR_NS
    # above every one of the last 30 days' cheap rates; below the 60 rich days before
    assert bn.pct_30d == 100.0 and bn.pct_90d == pytest.approx(100.0 / 3, abs=0.5)
    assert hl.pct_30d == 100.0 and hl.pct_90d == pytest.approx(100.0 / 3, abs=0.5)
    # time-weighted: both venues have an as-of value for every hour of history, whatever their interval
    assert bn.n_hours_90d == hl.n_hours_90d == 90 * 24 and bn.n_hours_30d == 30 * 24
    assert bn.settled_8h == pytest.approx(0.00005) and hl.settled_8h == pytest.approx(0.00004)
    # the cross-venue row: OI-weighted (3:1)
    assert agg.rate_8h == pytest.approx(0.0001) and agg.oi_usd == pytest.approx(4e9)
    assert agg.pct_30d == 100.0 and agg.pct_90d == pytest.approx(100.0 / 3, abs=0.5)
    assert rows[0].to_dict()["pct_30d"] == 100.0


def test_scoreboard_weights_by_open_interest_and_accepts_tables() -> None:
    t = T0
    events = [_f(Venue.BYBIT, t, 0.0001, 8), _f(Venue.OKX, t, 0.0004, 4)]  # 8 h: 0.0001 and 0.0008
    oi = [
        OpenInterest(venue=v, symbol="BTC", ts_event=t, ts_recv=t, oi_base=1.0, oi_usd=usd)
        for v, usd in ((Venue.BYBIT, 6e8), (Venue.OKX, 2e8))
    ]
    rows = funding_scoreboard(events, oi)
    assert rows[-1].rate_8h == pytest.approx((0.0001 * 6 + 0.0008 * 2) / 8)
    assert np.isnan(rows[0].pct_30d) and rows[0].n_hours_30d == 0  # no history: no percentile
    assert rows[0].to_dict()["pct_30d"] is None
    table = pa.table(
        {
            "symbol": ["BTC", "BTC"],
            "venue": ["bybit", "okx"],
            "ts_event": [t, t],
            "rate": [0.0001, 0.0004],
            "interval_hours": [8.0, 4.0],
            "settled_rate": pa.array([None, None], pa.float64()),
            "next_funding_ts": [t + 8 * HOUR_NS, t + 4 * HOUR_NS],
        }
    )
    oi_table = pa.table(
        {"symbol": ["BTC"] * 2, "venue": ["bybit", "okx"], "ts_event": [t, t], "oi_usd": [6e8, 2e8]}
    )
    assert [r.to_dict() for r in funding_scoreboard(table, oi_table)] == [r.to_dict() for r in rows]
    assert funding_scoreboard([]) == []


def test_stale_oi_is_not_a_weight() -> None:
    t = T0
    events = [_f(Venue.BYBIT, t, 0.0001, 8), _f(Venue.OKX, t, 0.0003, 8)]
    oi = [
        OpenInterest(venue=Venue.OKX, symbol="BTC", ts_event=t - 2 * DAY_NS, ts_recv=t, oi_base=1, oi_usd=9e9)
    ]
    rows = funding_scoreboard(events, oi)
    assert np.isnan(rows[1].oi_usd) and rows[-1].rate_8h == pytest.approx(0.0002)


@pytest.mark.shared_data
def test_percentile_on_real_binance_funding_history(shared: Callable[[str], Path]) -> None:
    """Hourly Binance BTC funding (percent) 2025-12-04 … 2026-05-25: the scoreboard's percentile equals an
    independent mid-rank over the previous 30/90 days of hourly values."""

    path = shared("btc-hourly-oi-liquidations-2025-12-04_2026-05-25.csv")
    with open(path, newline="") as fh:
        rows = [
            (int(r["timestamp"]) * NS_PER_MS, float(r["funding_rate_pct"]) / 100) for r in csv.DictReader(fh)
        ]
    ts = np.array([r[0] for r in rows])
    rate = np.array([r[1] for r in rows])
    events = [_f(Venue.BINANCE, int(t), float(x), 8) for t, x in zip(ts, rate, strict=True)]
    (bn, _) = funding_scoreboard(events)
    now = int(ts[-1])
    for days, got, n in ((30, bn.pct_30d, bn.n_hours_30d), (90, bn.pct_90d, bn.n_hours_90d)):
        # every whole hour in [now - days, now) takes the last value at or before it (missing rows filled)
        hours = range(now - days * DAY_NS, now, HOUR_NS)
        hist = np.array([rate[bisect.bisect_right(ts.tolist(), h) - 1] for h in hours])
        want = 100.0 * (np.sum(hist < rate[-1]) + 0.5 * np.sum(hist == rate[-1])) / hist.size
        assert got == pytest.approx(want) and n == days * 24
    assert np.diff(ts).max() > HOUR_NS  # the file does miss hours: the as-of fill matters
