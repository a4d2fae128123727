"""Engine inputs: BarSeries from arrays, Bar events and Arrow tables; validation; grid alignment."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from perpscope.heatmap.engine import run_engine
from perpscope.heatmap.params import EngineParams
from perpscope.heatmap.series import BarSeries, SeriesError, common_grid
from perpscope.model import Bar, Venue
from perpscope.timeutil import NS_PER_MS, NS_PER_S

STEP = 300 * NS_PER_S


def _bars(n: int, venue: Venue = Venue.BYBIT) -> list[Bar]:
    out = []
    for i in range(n):
        p = 100.0 + i
        out.append(
            Bar(
                venue=venue,
                symbol="ETH",
                ts_event=i * STEP,
                ts_recv=i * STEP,
                interval_s=300,
                open=p,
                high=p + 2,
                low=p - 2,
                close=p + 1,
                oi_usd=1e6 + 1e4 * i,
                volume=10.0 if i % 2 else None,
                taker_buy_volume=6.0 if i % 2 else None,
            )
        )
    return out


def test_from_bars_sorts_and_keeps_optional_columns() -> None:
    bars = _bars(6)
    s = BarSeries.from_bars(reversed(bars))
    assert s.venue is Venue.BYBIT and s.symbol == "ETH" and s.interval_s == 300 and len(s) == 6
    np.testing.assert_array_equal(s.ts_ns, np.arange(6) * STEP)
    assert s.volume is not None and s.volume[0] == 0.0 and s.volume[1] == 10.0
    with pytest.raises(SeriesError):
        BarSeries.from_bars([*bars, _bars(1, Venue.OKX)[0]])
    with pytest.raises(SeriesError):
        BarSeries.from_bars([])


def test_from_arrow_with_ms_timestamps() -> None:
    table = pa.table(
        {
            "timestamp": pa.array([0, 300_000, 600_000], pa.int64()),
            "open": [1.0, 2.0, 3.0],
            "high": [2.0, 3.0, 4.0],
            "low": [0.5, 1.5, 2.5],
            "close": [2.0, 3.0, 3.5],
            "oi_usd": [10.0, None, 30.0],
        }
    )
    s = BarSeries.from_arrow(table, venue="okx", symbol="sol")
    assert s.interval_s == 300 and s.symbol == "SOL"
    np.testing.assert_array_equal(s.ts_ns, np.array([0, 300_000, 600_000]) * NS_PER_MS)
    np.testing.assert_array_equal(s.oi_usd, [10.0, 10.0, 30.0])  # a missing OI is carried forward
    with pytest.raises(SeriesError):
        BarSeries.from_arrow(table.drop_columns(["oi_usd"]), venue="okx", symbol="SOL")


@pytest.mark.parametrize(
    "change",
    [
        {"ts_ns": np.array([0, STEP, STEP])},
        {"ts_ns": np.array([0, STEP, STEP + 7])},
        {"high": np.array([0.5, 3.0, 4.0])},
        {"low": np.array([0.0, 1.5, 2.5])},
        {"oi_usd": np.array([-1.0, 1.0, 1.0])},
    ],
)
def test_validation(change: dict[str, np.ndarray]) -> None:
    base = {
        "ts_ns": np.array([0, STEP, 2 * STEP]),
        "open": np.array([1.0, 2.0, 3.0]),
        "high": np.array([2.0, 3.0, 4.0]),
        "low": np.array([0.5, 1.5, 2.5]),
        "close": np.array([2.0, 3.0, 3.5]),
        "oi_usd": np.array([1.0, 2.0, 3.0]),
    }
    base.update(change)
    with pytest.raises(SeriesError):
        BarSeries.from_arrays(venue="binance", symbol="BTC", interval_s=300, **base)


def test_to_grid_fills_gaps_with_flat_bars() -> None:
    s = BarSeries.from_bars(_bars(5))
    keep = np.array([True, False, True, True, False])
    holey = BarSeries.from_arrays(
        venue=s.venue,
        symbol=s.symbol,
        interval_s=300,
        ts_ns=s.ts_ns[keep],
        open=s.open[keep],
        high=s.high[keep],
        low=s.low[keep],
        close=s.close[keep],
        oi_usd=s.oi_usd[keep],
    )
    other = BarSeries.from_arrays(
        venue="okx",
        symbol="ETH",
        interval_s=300,
        ts_ns=np.arange(-1, 5) * STEP,
        open=np.full(6, 100.0),
        high=np.full(6, 101.0),
        low=np.full(6, 99.0),
        close=np.full(6, 100.0),
        oi_usd=np.full(6, 1e6),
    )
    grid = common_grid([holey, other])
    np.testing.assert_array_equal(grid, np.arange(-1, 5) * STEP)
    g = holey.to_grid(grid)
    # before the first bar: flat at its open, same OI; the gap: flat at the previous close, same OI
    assert g.open[0] == g.high[0] == g.low[0] == g.close[0] == s.open[0] and g.oi_usd[0] == s.oi_usd[0]
    assert g.open[2] == g.high[2] == g.low[2] == g.close[2] == s.close[0] and g.oi_usd[2] == s.oi_usd[0]
    assert g.close[5] == s.close[3] and g.oi_usd[5] == s.oi_usd[3]
    res = run_engine([holey, other], EngineParams(max_columns=None), display=False)
    assert res.by_venue["bybit"][0].added_usd[2] == 0.0  # nothing opens in a filled gap
    with pytest.raises(SeriesError):
        common_grid(
            [
                s,
                BarSeries.from_arrays(
                    venue="okx",
                    symbol="ETH",
                    interval_s=60,
                    ts_ns=[0],
                    open=[1.0],
                    high=[1.0],
                    low=[1.0],
                    close=[1.0],
                    oi_usd=[1.0],
                ),
            ]
        )
    with pytest.raises(SeriesError):
        run_engine([s, BarSeries.from_bars(_bars(3, Venue.BYBIT))])  # one series per venue
