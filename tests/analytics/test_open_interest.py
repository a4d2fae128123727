"""Open interest across venues: as-of alignment, totals, shares, changes over horizons."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.analytics.open_interest import align_oi, oi_summary
from perpscope.model import OpenInterest, Venue
from perpscope.timeutil import NS_PER_MS, NS_PER_S

H = 3600 * NS_PER_S
M = 60 * NS_PER_S


def _oi(venue: Venue, t: int, usd: float, symbol: str = "BTC") -> OpenInterest:
    return OpenInterest(venue=venue, symbol=symbol, ts_event=t, ts_recv=t, oi_base=usd / 100_000, oi_usd=usd)


def test_summary_changes_shares_and_all_row() -> None:
    events = []
    for k in range(25):  # hourly binance, every 20 min bybit (ends slightly off the hour)
        events.append(_oi(Venue.BINANCE, k * H, 1e9 + k * 1e7))
    for k in range(73):
        events.append(_oi(Venue.BYBIT, k * 20 * M + 7 * NS_PER_S, 5e8 + k * 1e6))
    rows = oi_summary(events, now_ns=24 * H + 30 * M)
    bn, by, agg = rows
    assert (bn.venue, by.venue, agg.venue) == ("binance", "bybit", "all")
    assert bn.oi_usd == pytest.approx(1.24e9) and by.oi_usd == pytest.approx(5.72e8)
    assert bn.share + by.share == pytest.approx(1.0) and agg.share == 1.0
    assert agg.oi_usd == pytest.approx(1.24e9 + 5.72e8)
    assert bn.change_usd["1h"] == pytest.approx(1e7) and bn.change_usd["24h"] == pytest.approx(2.4e8)
    # as of 20:30 bybit's last sample is 20:20:07 (k=61), as of 24:30 it is 24:00:07 (k=72)
    assert by.change_usd["4h"] == pytest.approx(11e6)
    assert agg.change_usd["4h"] == pytest.approx(4e7 + 11e6)
    assert agg.change_pct["4h"] == pytest.approx(100 * (4e7 + 11e6) / (1.2e9 + 5.61e8))
    d = agg.to_dict()
    assert d["change_24h_usd"] == pytest.approx(2.4e8 + 71e6) and d["venue"] == "all"


def test_a_venue_joining_is_not_a_change() -> None:
    events = [_oi(Venue.BINANCE, k * H, 1e9) for k in range(5)] + [_oi(Venue.OKX, 4 * H, 3e8)]
    agg = oi_summary(events)[-1]
    assert agg.oi_usd == pytest.approx(1.3e9)
    assert agg.change_usd["1h"] == 0.0  # OKX has no value an hour ago: left out of the change
    assert np.isnan(oi_summary(events)[1].change_usd["1h"])


def test_stale_venue_drops_out() -> None:
    events = [_oi(Venue.BINANCE, 0, 1e9), _oi(Venue.BYBIT, 3 * H, 5e8)]
    bn, by, agg = oi_summary(events)
    assert np.isnan(bn.oi_usd) and agg.oi_usd == pytest.approx(5e8) and by.share == 1.0
    assert oi_summary([]) == []


def test_align_grid_total_share_and_change() -> None:
    ts = np.array([0, 0, H, H, 2 * H])
    ven = np.array(["binance", "okx", "binance", "okx", "binance"])
    usd = np.array([100.0, 50.0, 110.0, 55.0, 120.0])
    a = align_oi(ts, ven, usd, step_ns=H)
    assert a.venues == ("binance", "okx")
    np.testing.assert_allclose(a.total_usd, [150, 165, 175])
    np.testing.assert_allclose(a.share[:, 1], [110 / 165, 55 / 165])
    d_usd, d_pct = a.change(H)
    assert np.isnan(d_usd[0]) and d_usd[1] == pytest.approx(15) and d_pct[1] == pytest.approx(10.0)
    assert d_usd[2] == pytest.approx(10)  # binance 110 → 120, okx 55 → 55 (its 1 h old value is not stale)


@settings(max_examples=100, deadline=None)
@given(
    obs=st.lists(
        st.tuples(st.integers(0, 48), st.sampled_from(["binance", "bybit", "okx"]), st.floats(1e6, 1e10)),
        min_size=1,
        max_size=40,
    )
)
def test_total_is_sum_of_venues_and_shares_sum_to_one(obs: list[tuple[int, str, float]]) -> None:
    ts = np.array([o[0] * 30 * M for o in obs])
    a = align_oi(ts, [o[1] for o in obs], [o[2] for o in obs], step_ns=30 * M, max_age_ns=2 * H)
    present = np.isfinite(a.oi_usd).any(axis=0)
    np.testing.assert_allclose(a.total_usd[present], np.nansum(a.oi_usd, axis=0)[present])
    np.testing.assert_allclose(np.nansum(a.share, axis=0)[present], 1.0)


@pytest.mark.shared_data
def test_real_binance_5m_oi_changes(shared: Callable[[str], Path]) -> None:
    """Binance BTCUSDT 5-minute OI (2026-05-25 … 05-31): changes match the file's own rows."""

    path = shared("btcusdt-binance-5m-oi-2026-05-25_2026-05-31.csv")
    with open(path, newline="") as fh:
        rows = [(int(r["timestamp"]) * NS_PER_MS, float(r["oi_usd"])) for r in csv.DictReader(fh)]
    events = [_oi(Venue.BINANCE, t, v) for t, v in rows]
    by_ts = dict(rows)
    bn, agg = oi_summary(events)
    now = rows[-1][0]
    for label, back in (("1h", H), ("4h", 4 * H), ("24h", 24 * H)):
        assert bn.change_usd[label] == pytest.approx(rows[-1][1] - by_ts[now - back])
        assert agg.change_pct[label] == pytest.approx(100 * (rows[-1][1] / by_ts[now - back] - 1))
