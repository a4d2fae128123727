"""The fast engine against its oracles: the per-cohort reference (1e-9), conservation, windows,
downsampling, parts, bins and the liquidation map."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpscope.heatmap.bins import bin_index, price_edges
from perpscope.heatmap.engine import compute_heatmap, run_engine
from perpscope.heatmap.params import DEFAULT_LEVERAGE, WINDOW_PRESETS, EngineParams, parse_leverage_mix
from perpscope.heatmap.reference import reference_heatmap, run_reference
from perpscope.heatmap.series import BarSeries
from perpscope.heatmap.synthetic import random_walk_series
from perpscope.timeutil import NS_PER_MS, NS_PER_S

RTOL = 1e-9


def _close(a: np.ndarray, b: np.ndarray, scale: float | None = None) -> None:
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0) if scale is None else scale
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * scale)


def _drop_rows(s: BarSeries, keep: np.ndarray) -> BarSeries:
    def cut(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[keep]

    return BarSeries.from_arrays(
        venue=s.venue,
        symbol=s.symbol,
        interval_s=s.interval_s,
        ts_ns=s.ts_ns[keep],
        open=s.open[keep],
        high=s.high[keep],
        low=s.low[keep],
        close=s.close[keep],
        oi_usd=s.oi_usd[keep],
        volume=cut(s.volume),
        taker_buy_volume=cut(s.taker_buy_volume),
        quote_volume=cut(s.quote_volume),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[BarSeries], EngineParams, str | None]:
    n = draw(st.integers(min_value=2, max_value=70))
    venues = draw(
        st.lists(
            st.sampled_from(["binance", "bybit", "okx", "hyperliquid"]), min_size=1, max_size=3, unique=True
        )
    )
    oi_vol = draw(st.sampled_from([0.0005, 0.01, 0.2, 1.5]))  # 1.5: OI collapses and explodes
    vol = draw(st.sampled_from([0.001, 0.004, 0.02]))
    jump = draw(st.sampled_from([0.0, 0.05]))
    series = []
    for i, v in enumerate(venues):
        s = random_walk_series(
            n,
            venue=v,
            seed=draw(st.integers(0, 10_000)) + i,
            vol=vol,
            oi_vol=oi_vol,
            jump_prob=0.1 if jump else 0.0,
            jump_size=jump,
            with_flow=draw(st.booleans()),
        )
        if n > 3 and draw(st.booleans()):  # gaps: the engine fills missing slots
            keep = np.ones(n, dtype=bool)
            keep[draw(st.lists(st.integers(1, n - 2), max_size=n // 3))] = False
            s = _drop_rows(s, keep)
        series.append(s)
    k = draw(st.integers(1, 4))
    levs = draw(
        st.lists(
            st.sampled_from([1.0, 2.0, 5.0, 10.0, 20.0, 25.0, 50.0, 75.0, 100.0, 125.0]),
            min_size=k,
            max_size=k,
            unique=True,
        )
    )
    weights = draw(st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k).filter(lambda w: sum(w) > 0.01))
    params = EngineParams(
        leverage=tuple(levs),
        weights=tuple(weights),
        attribution=draw(st.sampled_from(["both", "aggressor"])),
        entry=draw(st.sampled_from(["typical", "vwap", "close"])),
        close_rule=draw(st.sampled_from(["proportional", "none"])),
        half_life_h=draw(st.sampled_from([None, 0.5, 24.0])),
        oi_unit=draw(st.sampled_from(["base", "usd"])),
        position_usd=draw(st.sampled_from([1_000.0, 10_000.0, 60_000.0, 5e6])),
        mmr=draw(st.sampled_from([None, None, 0.004])),
        bins=draw(st.sampled_from(["log", "linear"])),
        bin_width=draw(st.sampled_from([0.001, 0.004, 0.02])),
        consume_own_slot=draw(st.booleans()),
        substeps=draw(st.sampled_from([0, 0, 1, 2, 3])),
        turnover_per_h=draw(st.sampled_from([0.0, 0.0, 0.3, 0.9])),
        max_columns=None,
    )
    window = draw(st.sampled_from([None, None, "1h", "3h"]))
    return series, params, window


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_fast_engine_matches_reference(case: tuple[list[BarSeries], EngineParams, str | None]) -> None:
    series, params, window = case
    fast = run_engine(series, params, window=window)
    ref = run_reference(series, params, window=window)
    np.testing.assert_array_equal(fast.ts_ns, ref.ts_ns)
    np.testing.assert_array_equal(fast.price_edges, ref.price_edges)
    assert fast.window == ref.window
    for v in fast.venues:
        for i in range(2):
            a, b = fast.by_venue[v][i], ref.totals[v][i]
            scale = max(1.0, float(np.cumsum(b.added).max()))
            _close(a.consumed_usd, b.consumed, scale)
            _close(a.added_usd, b.added, scale)
            _close(a.closed_usd, b.closed, scale)
            _close(a.standing_usd, b.standing, scale)
    hm = fast.heatmap
    rh = reference_heatmap(ref, series, params)
    assert hm is not None
    scale = max(1.0, float(max(rh.long_usd.max(initial=0), rh.short_usd.max(initial=0))))
    _close(hm.long_usd, rh.long_usd, scale)
    _close(hm.short_usd, rh.short_usd, scale)
    for lev, part in rh.by_leverage.items():
        _close(hm.by_leverage[lev].long_usd, part.long_usd, scale)
        _close(hm.by_leverage[lev].short_usd, part.short_usd, scale)
    for v, part in rh.by_venue.items():
        _close(hm.by_venue[v].long_usd, part.long_usd, scale)
        _close(hm.by_venue[v].short_usd, part.short_usd, scale)
    _close(hm.consumed_long_usd, rh.consumed_long_usd)
    _close(hm.consumed_short_usd, rh.consumed_short_usd)
    np.testing.assert_array_equal(hm.time_edges_ns, rh.time_edges_ns)
    np.testing.assert_array_equal(hm.close, rh.close)


@pytest.mark.parametrize(
    ("oi_vol", "substeps", "turnover"),
    [(0.002, 0, 0.0), (0.3, 0, 0.0), pytest.param(0.3, 1, 0.3, marks=pytest.mark.slow)],
)
def test_fast_matches_reference_displayed_at_lower_resolution(
    oi_vol: float, substeps: int, turnover: float
) -> None:
    series = [
        random_walk_series(400, venue=v, seed=i, oi_vol=oi_vol) for i, v in enumerate(["binance", "okx"])
    ]
    steps = {"substeps": substeps, "turnover_per_h": turnover}
    p_full = EngineParams(max_columns=None, **steps)  # type: ignore[arg-type]
    ref = reference_heatmap(run_reference(series, p_full, window="24h"), series, p_full)
    for cols in (1, 7, 50, 143):
        hm = run_engine(series, EngineParams(max_columns=cols, **steps), window="24h").heatmap  # type: ignore[arg-type]
        want = ref.downsample(cols)
        assert hm is not None and hm.n_time == want.n_time
        scale = float(want.long_usd.max())
        _close(hm.long_usd, want.long_usd, scale)
        _close(hm.short_usd, want.short_usd, scale)
        _close(hm.by_leverage[25.0].long_usd, want.by_leverage[25.0].long_usd, scale)
        _close(hm.consumed_long_usd, want.consumed_long_usd)
        np.testing.assert_array_equal(hm.time_edges_ns, want.time_edges_ns)
        np.testing.assert_array_equal(hm.high, want.high)
        np.testing.assert_array_equal(hm.low, want.low)
        np.testing.assert_array_equal(hm.open, want.open)
        np.testing.assert_array_equal(hm.close, want.close)


def test_conservation_per_side_per_slot() -> None:
    series = [
        random_walk_series(3000, venue="binance", seed=3, oi_vol=0.05, jump_prob=0.01),
        random_walk_series(3000, venue="bybit", seed=4, oi_vol=0.002),
    ]
    for params in (
        EngineParams(),
        EngineParams(half_life_h=6.0, consume_own_slot=True, attribution="aggressor"),
        EngineParams(substeps=8, turnover_per_h=0.3),
        EngineParams(substeps=2, turnover_per_h=0.9, half_life_h=6.0, oi_unit="usd"),
        EngineParams(substeps=0, turnover_per_h=0.3, consume_own_slot=True),
    ):
        res = run_engine(series, params, display=False)
        for side in (res.long, res.short, *[x for pair in res.by_venue.values() for x in pair]):
            added = np.cumsum(side.added_usd)
            rhs = side.standing_usd + np.cumsum(side.consumed_usd) + np.cumsum(side.closed_usd)
            np.testing.assert_allclose(rhs, added, rtol=1e-9, atol=1e-9 * added.max())
            assert np.all(side.standing_usd >= 0.0)
            assert side.consumed_usd.sum() > 0.0 and side.closed_usd.sum() > 0.0


def test_hand_computed_three_slots() -> None:
    """OI rises by 1 BTC at 100 (typical price) in slot 1, falls by half in slot 2, the 10× long band is
    hit in slot 3. One leverage, MMR 0.5 % (Binance form): LP = 100·0.9/0.995."""

    lp = 100.0 * 0.9 / 0.995
    s = BarSeries.from_arrays(
        venue="binance",
        symbol="BTC",
        interval_s=60,
        ts_ns=np.arange(4) * 60 * NS_PER_S,
        open=[100.0, 100.0, 100.0, 100.0],
        high=[100.0, 100.0, 100.0, 100.0],
        low=[100.0, 100.0, 100.0, 80.0],
        close=[100.0, 100.0, 100.0, 90.0],
        oi_usd=[1000.0, 1100.0, 550.0, 495.0],  # base: 10, 11, 5.5, 5.5
    )
    p = EngineParams(leverage=(10.0,), weights=(1.0,), mmr=0.005, max_columns=None, price_range=(50.0, 150.0))
    res = run_engine(s, p)
    np.testing.assert_allclose(res.long.added_usd, [0, 100, 0, 0])
    np.testing.assert_allclose(res.long.closed_usd, [0, 0, 50, 0])
    np.testing.assert_allclose(res.long.consumed_usd, [0, 0, 0, 50])
    np.testing.assert_allclose(res.long.standing_usd, [0, 100, 50, 0])
    np.testing.assert_allclose(res.short.standing_usd, [0, 100, 50, 50])  # 110 above: never reached
    hm = res.heatmap
    assert hm is not None
    j = int(bin_index(hm.price_edges, lp))
    np.testing.assert_allclose(hm.long_usd[:, j], [0, 100, 50, 0])
    assert hm.long_usd.sum() == pytest.approx(150.0)
    js = int(bin_index(hm.price_edges, 100.0 * 1.1 / 1.005))
    np.testing.assert_allclose(hm.short_usd[:, js], [0, 100, 50, 50])


def test_own_slot_consumption_rule() -> None:
    s = BarSeries.from_arrays(
        venue="binance",
        symbol="BTC",
        interval_s=60,
        ts_ns=np.arange(3) * 60 * NS_PER_S,
        open=[100.0, 100.0, 100.0],
        high=[100.0, 100.0, 100.0],
        low=[100.0, 95.0, 100.0],  # slot 1's own range reaches the 100× long band (but entry is ~98.3)
        close=[100.0, 100.0, 100.0],
        oi_usd=[1000.0, 2000.0, 2000.0],
    )
    base = EngineParams(leverage=(100.0,), weights=(1.0,), mmr=0.004, max_columns=None)
    not_own = run_engine(s, base)
    own = run_engine(
        s, EngineParams(leverage=(100.0,), weights=(1.0,), mmr=0.004, max_columns=None, consume_own_slot=True)
    )
    assert not_own.long.consumed_usd.sum() == 0.0 and not_own.long.standing_usd[-1] > 0.0
    assert (
        own.long.consumed_usd[1] == pytest.approx(own.long.added_usd[1]) and own.long.standing_usd[-1] == 0.0
    )


def test_attribution_modes() -> None:
    s = random_walk_series(200, seed=5)
    both = run_engine(s, EngineParams(), display=False)
    np.testing.assert_array_equal(both.long.added_usd, both.short.added_usd)
    agg = run_engine(s, EngineParams(attribution="aggressor"), display=False)
    np.testing.assert_allclose(agg.long.added_usd + agg.short.added_usd, 2.0 * both.long.added_usd)
    share = s.taker_buy_volume / s.volume  # type: ignore[operator]
    up = both.long.added_usd > 0
    np.testing.assert_allclose(agg.long.added_usd[up] / both.long.added_usd[up], 2.0 * share[up])
    no_flow = random_walk_series(200, seed=5, with_flow=False)
    agg2 = run_engine(no_flow, EngineParams(attribution="aggressor"), display=False)
    np.testing.assert_allclose(agg2.long.added_usd, agg2.short.added_usd)  # b = ½ without flow


def test_oi_unit_base_ignores_pure_price_moves() -> None:
    n = 50
    close = 100.0 * np.exp(np.linspace(0.0, 0.2, n))
    s = BarSeries.from_arrays(
        venue="binance",
        symbol="BTC",
        interval_s=300,
        ts_ns=np.arange(n) * 300 * NS_PER_S,
        open=np.r_[100.0, close[:-1]],
        high=np.maximum(np.r_[100.0, close[:-1]], close),
        low=np.minimum(np.r_[100.0, close[:-1]], close),
        close=close,
        oi_usd=1e6 * close,  # constant 10k coins
    )
    assert run_engine(s, EngineParams(), display=False).long.added_usd.sum() < 1e-6  # rounding of oi/close
    assert run_engine(s, EngineParams(oi_unit="usd"), display=False).long.added_usd.sum() > 1e6


def test_parts_sum_to_aggregate() -> None:
    series = [
        random_walk_series(900, venue=v, seed=i) for i, v in enumerate(["binance", "bybit", "hyperliquid"])
    ]
    hm = compute_heatmap(series, EngineParams(max_columns=100), window="3d")
    scale = float(hm.long_usd.max())
    for total, name in ((hm.long_usd, "long_usd"), (hm.short_usd, "short_usd")):
        _close(sum(getattr(p, name) for p in hm.by_venue.values()), total, scale)
        _close(sum(getattr(p, name) for p in hm.by_leverage.values()), total, scale)
    assert set(hm.by_venue) == {"binance", "bybit", "hyperliquid"}
    assert set(hm.by_leverage) == set(DEFAULT_LEVERAGE)
    no_parts = compute_heatmap(series, EngineParams(max_columns=100), window="3d", parts=False)
    _close(no_parts.long_usd, hm.long_usd, scale)
    assert not no_parts.by_venue and not no_parts.by_leverage


def test_downsampling_keeps_totals() -> None:
    s = random_walk_series(1000, seed=8)
    full = compute_heatmap(s, EngineParams(max_columns=None))
    small = compute_heatmap(s, EngineParams(max_columns=33))
    assert small.n_time <= 33
    assert small.consumed_long_usd.sum() == pytest.approx(full.consumed_long_usd.sum(), rel=1e-12)
    widths_full = np.diff(full.time_edges_ns).astype(float)
    widths_small = np.diff(small.time_edges_ns).astype(float)
    integral_full = (full.long_usd * widths_full[:, None]).sum(axis=0)
    integral_small = (small.long_usd * widths_small[:, None]).sum(axis=0)
    np.testing.assert_allclose(integral_small, integral_full, rtol=1e-9, atol=1e-9 * integral_full.max())
    assert (
        small.time_edges_ns[0] == full.time_edges_ns[0] and small.time_edges_ns[-1] == full.time_edges_ns[-1]
    )


def test_windows_and_end() -> None:
    s = random_walk_series(3 * 288, seed=9)  # three days of 5-minute slots
    interval = 300 * NS_PER_S
    pr = (30_000.0, 120_000.0)
    full = run_engine(s, EngineParams(max_columns=None, price_range=pr))
    day = run_engine(s, EngineParams(max_columns=None, price_range=pr), window="24h")
    assert day.window.n_slots == 288 and day.window.start == 2 * 288
    hm_full, hm_day = full.heatmap, day.heatmap
    assert hm_full is not None and hm_day is not None
    # the window is the tail of the full run: positions opened before it still stand in it
    _close(hm_day.long_usd, hm_full.long_usd[-288:], float(hm_full.long_usd.max()))
    assert hm_day.long_usd[0].sum() > 0.0
    end = int(s.ts_ns[288 + 144])
    half = run_engine(s, EngineParams(max_columns=None, price_range=pr), window="12h", end_ns=end)
    assert half.heatmap is not None
    assert half.ts_ns[-1] == end - interval and half.heatmap.time_edges_ns[-1] == end
    assert half.heatmap.n_time == 144
    _close(half.heatmap.long_usd, hm_full.long_usd[288 : 288 + 144], float(hm_full.long_usd.max()))
    for preset in WINDOW_PRESETS:
        res = run_engine(s, EngineParams(max_columns=200), window=preset, display=True, parts=False)
        assert res.heatmap is not None and res.heatmap.n_time <= 200
    with pytest.raises(ValueError):
        run_engine(s, EngineParams(), end_ns=int(s.ts_ns[0]))


def test_price_bins() -> None:
    e = price_edges(100.0, 200.0, scale="log", width=0.001)
    np.testing.assert_allclose(e[1:] / e[:-1], 1.001, rtol=1e-12)
    assert e[0] == 100.0 and e[-1] >= 200.0 and e[-2] < 200.0
    lin = price_edges(100.0, 200.0, scale="linear", width=0.01, reference=150.0)
    np.testing.assert_allclose(np.diff(lin), 1.5, rtol=1e-9)
    fixed = price_edges(100.0, 200.0, scale="log", n_bins=2000)
    assert fixed.shape == (2001,) and fixed[-1] == pytest.approx(200.0)
    capped = price_edges(1.0, 1e6, scale="log", width=0.0001, max_bins=300)
    assert capped.shape == (301,) and capped[-1] == pytest.approx(1e6)
    idx = bin_index(e, np.array([99.0, 100.0, e[1], np.nextafter(e[1], 0), e[-1], e[-1] * 1.01]))
    np.testing.assert_array_equal(idx, [-1, 0, 1, 0, e.shape[0] - 2, -1])
    hm = compute_heatmap(random_walk_series(300, seed=2), EngineParams(bins="linear", bin_width=0.002))
    assert np.allclose(np.diff(hm.price_edges), np.diff(hm.price_edges)[0])


def test_liquidation_map_from_engine() -> None:
    hm = compute_heatmap(random_walk_series(600, seed=11), EngineParams(max_columns=60))
    lm = hm.liquidation_map()
    price = float(hm.close[-1])
    assert lm.current_price == price
    below = lm.price < price
    assert np.all(lm.cum_short_usd[below] == 0.0) and np.all(lm.cum_long_usd[~below] == 0.0)
    # cumulative longs grow as price falls further away; the nearest bin holds just its own USD
    cl = lm.cum_long_usd[below]
    assert np.all(np.diff(cl) <= 1e-9 * max(1.0, cl.max()))
    assert cl[0] == pytest.approx(hm.long_usd[-1][below].sum())
    cs = lm.cum_short_usd[~below]
    assert cs[-1] == pytest.approx(hm.short_usd[-1][~below].sum())
    assert lm.cum_long_usd.max() > 0.0 and lm.cum_short_usd.max() > 0.0


def test_params_validation_and_leverage_mix() -> None:
    levs, ws = parse_leverage_mix("10:0.4,25:0.3,50:0.2,100:0.1")
    assert levs == (10.0, 25.0, 50.0, 100.0) and ws == pytest.approx((0.4, 0.3, 0.2, 0.1), rel=1e-12)
    levs, ws = parse_leverage_mix("5x:2, 20:2")
    assert levs == (5.0, 20.0) and ws == (0.5, 0.5)
    for bad in ("", "10:x", "0.5:1", "10:0"):
        with pytest.raises(ValueError):
            parse_leverage_mix(bad)
    for kw in (
        {"leverage": (10.0,), "weights": (0.5, 0.5)},
        {"leverage": (0.5,), "weights": (1.0,)},
        {"weights": (0.0, 0.0, 0.0, 0.0)},
        {"attribution": "trend"},
        {"bin_width": 0.0},
        {"price_range": (10.0, 5.0)},
        {"max_columns": 0},
    ):
        with pytest.raises(ValueError):
            EngineParams(**kw)  # type: ignore[arg-type]
    d = EngineParams().describe()
    assert d["leverage"] == list(DEFAULT_LEVERAGE) and abs(sum(d["weights"]) - 1.0) < 1e-12  # type: ignore[arg-type]


def test_engine_on_real_week(shared: Callable[[str], Path]) -> None:
    path = shared("btcusdt-binance-5m-oi-2026-05-25_2026-05-31.csv")
    data = np.genfromtxt(path, delimiter=",", names=True)
    s = BarSeries.from_arrays(
        venue="binance",
        symbol="BTC",
        interval_s=300,
        ts_ns=data["timestamp"].astype(np.int64) * NS_PER_MS,
        open=data["open"],
        high=data["high"],
        low=data["low"],
        close=data["close"],
        oi_usd=data["oi_usd"],
    )
    res = run_engine(s, EngineParams(), window="24h")
    hm = res.heatmap
    assert hm is not None and hm.n_time == 288
    assert np.isfinite(hm.long_usd).all() and hm.long_usd.max() > 0.0 and hm.short_usd.max() > 0.0
    assert res.long.consumed_usd.sum() > 0.0 and res.short.consumed_usd.sum() > 0.0
    # longs stand below and shorts above the last price (most of the USD)
    lm = hm.liquidation_map()
    assert lm.cum_long_usd.max() > 0.0 and lm.cum_short_usd.max() > 0.0
    added = np.cumsum(res.long.added_usd)
    rhs = res.long.standing_usd + np.cumsum(res.long.consumed_usd) + np.cumsum(res.long.closed_usd)
    np.testing.assert_allclose(rhs, added, rtol=1e-9, atol=1e-6 * added.max())


def test_output_is_json_ready_and_labelled() -> None:
    import json

    hm = compute_heatmap(random_walk_series(200, seed=12), EngineParams(max_columns=20), window="12h")
    d = json.loads(json.dumps(hm.to_json_dict()))
    assert d["estimated"] is True and d["symbol"] == "BTC" and d["venues"] == ["binance"]
    assert len(d["time"]) == hm.n_time and len(d["price"]) == hm.n_price
    assert len(d["long_usd"]) == hm.n_time and len(d["long_usd"][0]) == hm.n_price
    assert d["params"]["leverage"] == list(DEFAULT_LEVERAGE) and d["params"]["window_slots"] == 144
    res = run_engine(random_walk_series(200, seed=12), EngineParams(), display=False)
    assert res.heatmap is None and res.long.consumed_usd.shape == (200,)


def test_intrabar_steps_off_reproduce_the_engine_before_them_exactly() -> None:
    """substeps=0, turnover_per_h=0 is bit-for-bit the engine as it was before the two steps existed
    (tests/heatmap/data/engine_before_intrabar.npz was written by that engine, commit d939aae)."""

    want = np.load(Path(__file__).parent / "data" / "engine_before_intrabar.npz")
    series = [
        random_walk_series(400, venue=v, seed=11 + i, oi_vol=0.05, jump_prob=0.02, with_flow=True)
        for i, v in enumerate(["binance", "bybit", "okx"])
    ]
    cases = {
        "default": EngineParams(max_columns=97, n_bins=120, substeps=0, turnover_per_h=0.0),
        "modes": EngineParams(
            max_columns=60,
            n_bins=120,
            half_life_h=5.0,
            attribution="aggressor",
            entry="vwap",
            consume_own_slot=True,
        ),
    }
    for name, p in cases.items():
        res = run_engine(series, p, window="24h")
        hm = res.heatmap
        assert hm is not None
        got = {
            "long": hm.long_usd,
            "short": hm.short_usd,
            "lev25_long": hm.by_leverage[25.0].long_usd,
            "okx_short": hm.by_venue["okx"].short_usd,
            "consumed_long": res.long.consumed_usd,
            "standing_short": res.short.standing_usd,
            "closed_long": res.long.closed_usd,
            "added_short": res.short.added_usd,
        }
        for key, arr in got.items():
            np.testing.assert_array_equal(arr, want[f"{name}_{key}"], err_msg=f"{name}_{key}")


def test_intrabar_params_are_validated() -> None:
    for bad in ({"substeps": -1}, {"substeps": 1.5}, {"turnover_per_h": -0.1}, {"turnover_per_h": 1.0}):
        with pytest.raises(ValueError):
            EngineParams(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        EngineParams(turnover_per_h=float("nan"))


def test_half_life_is_in_real_hours_with_sub_slots() -> None:
    """A flat market, OI opened once: with sub-slots the decay per bar is the same as without."""

    n = 30
    s = BarSeries.from_arrays(
        venue="binance",
        symbol="BTC",
        interval_s=3600,
        ts_ns=np.arange(n) * 3600 * NS_PER_S,
        open=np.full(n, 100.0),
        high=np.full(n, 100.0),
        low=np.full(n, 100.0),
        close=np.full(n, 100.0),
        oi_usd=np.r_[1000.0, np.full(n - 1, 2000.0)],
    )
    out = []
    for steps in (0, 1, 4):
        p = EngineParams(half_life_h=2.0, substeps=steps, leverage=(10.0,), weights=(1.0,), max_columns=None)
        out.append(run_engine(s, p).long.standing_usd)
    # bar 1 opens 1000 USD (linearly over its sub-slots, so its end value differs); from bar 2 on each bar
    # halves the book every two hours
    for st_ in out:
        np.testing.assert_allclose(st_[3:] / st_[2:-1], 2.0**-0.5, rtol=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 30),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_first_crossing_in_bars_equals_the_flat_search(
    per_bar: int, bars: int, seed: int, below: bool
) -> None:
    from perpscope.heatmap.engine import _first_crossing, _first_crossing_in_bars

    rng = np.random.default_rng(seed)
    n = per_bar * bars
    values = np.round(rng.normal(0.0, 1.0, n), 1)  # ties on purpose
    start = rng.integers(0, n + 1, 300)
    level = np.round(rng.normal(0.0, 1.5, 300), 1)
    want = _first_crossing(values, start, level, below=below)
    got = _first_crossing_in_bars(values, start, level, below=below, per_bar=per_bar)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(("substeps", "turnover"), [(0, 0.0), (0, 0.3), (2, 0.0), (2, 0.3)])
@pytest.mark.parametrize("n", [1, 2])
def test_one_and_two_bar_series(n: int, substeps: int, turnover: float) -> None:
    """A live store starts with one derived bar: the intrabar steps must handle a series that is only its
    baseline bar (the dashboard's /api/heatmap once returned 500 IndexError on it)."""

    series = [random_walk_series(n, venue=v, seed=i) for i, v in enumerate(("binance", "bybit"))]
    params = EngineParams(substeps=substeps, turnover_per_h=turnover, max_columns=None)
    fast = run_engine(series, params)
    ref = run_reference(series, params)
    np.testing.assert_array_equal(fast.ts_ns, ref.ts_ns)
    assert fast.ts_ns.shape[0] == n
    for v in fast.venues:
        for i in range(2):
            _close(fast.by_venue[v][i].standing_usd, ref.totals[v][i].standing, 1.0)
    assert fast.heatmap is not None
    assert np.isfinite(fast.heatmap.long_usd).all() and np.isfinite(fast.heatmap.short_usd).all()
