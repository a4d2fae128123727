"""The intrabar path and turnover slots (heatmap/intrabar.py, shared by the engine and calibration), and
what calibration makes of them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpscope.heatmap.calibrate import CalibrationBars
from perpscope.heatmap.calibrate_model import (
    CalibrationModel,
    consumed_per_bar,
    default_engine_params,
    engine_slots,
    run_engine_consumed,
)
from perpscope.heatmap.engine import run_engine
from perpscope.heatmap.intrabar import SlotPath, split_bars
from perpscope.heatmap.series import BarSeries

HOUR = 3_600_000_000_000


def _bars(rows: list[tuple[float, float, float, float, float, float]]) -> CalibrationBars:
    """rows of (open, high, low, close, oi_open_usd, oi_close_usd), hourly."""

    a = np.array(rows, dtype=float)
    return CalibrationBars(
        ts_ns=HOUR * np.arange(len(rows), dtype=np.int64),
        open=a[:, 0],
        high=a[:, 1],
        low=a[:, 2],
        close=a[:, 3],
        oi_open_usd=a[:, 4],
        oi_close_usd=a[:, 5],
    )


def _path(
    bars: CalibrationBars, *, substeps: int, oi_in_base: bool = True, turnover: float = 0.0
) -> SlotPath:
    lo = bars.oi_open_usd / bars.open if oi_in_base else bars.oi_open_usd
    lc = bars.oi_close_usd / bars.close if oi_in_base else bars.oi_close_usd
    return split_bars(
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        lo,
        lc,
        bar_hours=1.0,
        substeps=substeps,
        turnover_per_h=turnover,
    )


def test_path_of_an_up_and_a_down_bar() -> None:
    bars = _bars([(100, 110, 95, 105, 1000, 1365), (105, 112, 90, 100, 1365, 1365)])
    s = _path(bars, substeps=1)
    # up bar: open → low → high → close; down bar: open → high → low → close
    np.testing.assert_allclose(s.open, [100, 95, 110, 105, 112, 90])
    np.testing.assert_allclose(s.close, [95, 110, 105, 112, 90, 100])
    np.testing.assert_allclose(s.high, [100, 110, 110, 112, 112, 100])
    np.testing.assert_allclose(s.low, [95, 95, 105, 105, 90, 90])
    np.testing.assert_array_equal(s.parent, [0, 0, 0, 1, 1, 1])
    assert s.hours == pytest.approx(1 / 3)
    # OI moves linearly in base coin: 10 BTC at 100 → 13 BTC at 105, i.e. 11, 12, 13 at the sub-closes
    np.testing.assert_allclose(s.level[:3], [11, 12, 13])
    usd = _path(bars, substeps=1, oi_in_base=False)
    np.testing.assert_allclose(usd.level[:3], [1000 + 365 / 3, 1000 + 2 * 365 / 3, 1365])
    assert engine_slots(bars, CalibrationModel(substeps=1, turnover_per_h=0.0)).oi_start_usd == 1000.0


@given(
    st.lists(
        st.tuples(
            st.floats(50, 150), st.floats(0, 0.05), st.floats(0, 0.05), st.floats(0, 1), st.floats(0.5, 2)
        ),
        min_size=2,
        max_size=12,
    ),
    st.integers(1, 6),
)
def test_path_spans_each_bar_exactly(rows: list[tuple[float, ...]], substeps: int) -> None:
    o = np.array([r[0] for r in rows])
    h = o * (1 + np.array([r[1] for r in rows]))
    lo = o * (1 - np.array([r[2] for r in rows]))
    c = lo + (h - lo) * np.array([r[3] for r in rows])
    oi = 1e6 * np.array([r[4] for r in rows])
    bars = _bars([(o[i], h[i], lo[i], c[i], oi[i], oi[i] * 1.01) for i in range(len(rows))])
    s = _path(bars, substeps=substeps)
    k = 3 * substeps
    assert s.n == k * bars.n
    np.testing.assert_allclose(s.high.reshape(-1, k).max(axis=1), h, rtol=1e-12)
    np.testing.assert_allclose(s.low.reshape(-1, k).min(axis=1), lo, rtol=1e-12)
    np.testing.assert_allclose(s.open.reshape(-1, k)[:, 0], o)
    np.testing.assert_allclose(s.close.reshape(-1, k)[:, -1], c)
    # the path is continuous inside a bar, and the last sub-slot holds the bar's closing OI
    np.testing.assert_allclose(s.open.reshape(-1, k)[:, 1:], s.close.reshape(-1, k)[:, :-1])
    np.testing.assert_allclose(s.level.reshape(-1, k)[:, -1], bars.oi_close_usd / c, rtol=1e-12)


def test_turnover_slots() -> None:
    # base OI: 10 → 12 → 9 over two hourly bars; turnover 0.1/h on one-hour slots is a rate of 0.1
    t = split_bars(
        np.array([100.0, 101.0]),
        np.array([102.0, 103.0]),
        np.array([99.0, 100.0]),
        np.array([101.0, 102.0]),
        np.array([10.0, 12.0]),
        np.array([12.0, 9.0]),
        bar_hours=1.0,
        substeps=0,
        turnover_per_h=0.1,
    )
    assert t.n == 4 and t.hours == 0.5
    # flat slots sit at the slot's open price
    np.testing.assert_allclose(t.open, [100, 100, 101, 101])
    np.testing.assert_allclose(t.high, [100, 102, 101, 103])
    np.testing.assert_allclose(t.low, [100, 99, 101, 100])
    # net OI is untouched on the real slots; the flat slot lowers it by 10 % (+ the slot's own decrease)
    np.testing.assert_allclose(t.level[1::2], [12, 9])
    np.testing.assert_allclose(t.level[0::2], [10 - 1.0, 12 - 3 - 1.2])
    np.testing.assert_array_equal(t.parent, [0, 0, 1, 1])


def test_engine_slots_compose_path_and_turnover() -> None:
    bars = _bars([(100, 110, 95, 105, 1000, 1050)] * 3)
    m = CalibrationModel(substeps=2, turnover_per_h=0.3)
    s = engine_slots(bars, m)
    assert s.n == 3 * 6 * 2
    # per-slot rate compounds to the hourly one: (1 − r)^(slots per hour) = 1 − 0.3
    sub = _path(bars, substeps=2)
    r = 1 - 0.7**sub.hours
    np.testing.assert_allclose(s.oi_close_usd[0], 1000 / 100 * (1 - r) * 100)
    assert engine_slots(bars, replace(m, substeps=0, turnover_per_h=0.0)).n == 3


def test_first_slot_opens_positions() -> None:
    # one bar whose OI doubles, then a crash through every long liquidation price (OI constant in coin)
    bars = _bars([(100, 100, 100, 100, 1000, 2000), (100, 100, 50, 50, 2000, 1000)])
    m = CalibrationModel(substeps=0, turnover_per_h=0.0, background=0.0)
    cl, cs = consumed_per_bar(bars, m)
    assert cl[0] == 0.0 and cs.sum() == 0.0
    assert cl[1] == pytest.approx(1000.0)  # the first slot's +1000 USD of longs, all liquidated


def test_half_life_is_rescaled_to_real_time() -> None:
    # +10 BTC over bar 0, two quiet hours, then a crash through every long LP; decay half-life 1 h
    rows = [(100, 100, 100, 100, 1000, 2000)] + [(100, 100, 100, 100, 2000, 2000)] * 2
    rows.append((100, 100, 50, 50, 2000, 1000))
    bars = _bars(rows)
    eng = replace(default_engine_params(), half_life_h=1.0)

    def crash_usd(substeps: int) -> float:
        m = CalibrationModel(engine=eng, substeps=substeps, turnover_per_h=0.0, background=0.0)
        cl, _ = consumed_per_bar(bars, m)
        assert cl[:-1].sum() == 0.0
        return float(cl[-1])

    # one slot per bar: opened at slot 0, consumed at slot 3 after three closes of ½
    assert crash_usd(0) == pytest.approx(1000 * 0.5**3, rel=1e-9)
    # k sub-slots per bar: 1000/k opened at each sub-slot j < k of bar 0; the crash bar's path is
    # open → high (flat) → low, so the first falling sub-slot (index 3k + k/3) consumes everything, after
    # (that index − j) closes of 0.5^(1/k) each
    for substeps in (1, 3):
        k = 3 * substeps
        hit = 3 * k + k // 3
        want = sum(1000 / k * 0.5 ** ((hit - j) / k) for j in range(k))
        assert crash_usd(substeps) == pytest.approx(want, rel=1e-9)


def test_run_engine_consumed_matches_raw_bars_without_steps() -> None:
    rng = np.random.default_rng(7)
    n = 200
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    o = np.r_[100.0, c[:-1]]
    h = np.maximum(o, c) * (1 + rng.exponential(0.004, n))
    lo = np.minimum(o, c) * (1 - rng.exponential(0.004, n))
    oi = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.01, n + 1)))
    bars = _bars([(o[i], h[i], lo[i], c[i], oi[i], oi[i + 1]) for i in range(n)])
    m = CalibrationModel(substeps=0, turnover_per_h=0.0, background=0.0)
    cl, cs = run_engine_consumed(engine_slots(bars, m), m)
    pl, ps = consumed_per_bar(bars, m)
    np.testing.assert_allclose(cl, pl)
    np.testing.assert_allclose(cs, ps)
    assert cl.sum() > 0 and cs.sum() > 0


@pytest.mark.parametrize(("substeps", "turnover"), [(0, 0.3), (2, 0.0), (8, 0.3)])
def test_calibration_scores_the_production_engine(substeps: int, turnover: float) -> None:
    """On contiguous bars (each bar opens at the previous close and OI) what calibration consumes per bar is
    what ``run_engine`` with ``substeps``/``turnover_per_h`` consumes (after a flat seed bar that carries the
    OI before the first bar)."""

    rng = np.random.default_rng(3)
    n = 150
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    o = np.r_[100.0, c[:-1]]
    h = np.maximum(o, c) * (1 + rng.exponential(0.004, n))
    lo = np.minimum(o, c) * (1 - rng.exponential(0.004, n))
    oi = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.01, n + 1)))
    bars = _bars([(o[i], h[i], lo[i], c[i], oi[i], oi[i + 1]) for i in range(n)])
    eng = replace(default_engine_params(), half_life_h=5.0)
    m = CalibrationModel(engine=eng, substeps=substeps, turnover_per_h=turnover)
    cl, cs = consumed_per_bar(bars, m)
    series = BarSeries.from_arrays(
        venue="binance",
        symbol="BTC",
        interval_s=3600,
        ts_ns=HOUR * np.arange(n + 1, dtype=np.int64),
        open=np.r_[o[0], o],
        high=np.r_[o[0], h],
        low=np.r_[o[0], lo],
        close=np.r_[o[0], c],
        oi_usd=oi,
    )
    res = run_engine(series, replace(eng, substeps=substeps, turnover_per_h=turnover), display=False)
    scale = float(cl.max())
    np.testing.assert_allclose(res.long.consumed_usd[1:], cl, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(res.short.consumed_usd[1:], cs, rtol=1e-9, atol=1e-9 * float(cs.max()))
    assert cl.sum() > 0 and cs.sum() > 0
