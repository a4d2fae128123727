"""Liquidation prices per venue: exact vectors from venues.md and the venues' docs, tier boundaries,
and properties (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpscope.heatmap.margin import liquidation_distance, liquidation_price, liquidation_ratio
from perpscope.heatmap.tiers import TierTable, load_tiers
from perpscope.model import Venue

VENUES = [v.value for v in Venue]


def test_binance_btc_10x_and_100x_long() -> None:
    t = load_tiers("binance", "BTC")
    d = liquidation_distance("binance", "long", np.array([10.0, 100.0]), tiers=t, position_usd=10_000)
    assert round(float(d[0]) * 100, 2) == 9.64
    assert round(float(d[1]) * 100, 2) == 0.60
    assert d[0] == pytest.approx(1 - 0.9 / 0.996, rel=1e-12)
    assert d[1] == pytest.approx(1 - 0.99 / 0.996, rel=1e-12)


def test_binance_btc_short_mirror() -> None:
    t = load_tiers("binance", "BTC")
    lp = liquidation_price("binance", "short", 60_000.0, np.array([10.0, 100.0]), tiers=t)
    np.testing.assert_allclose(lp, [60_000 * 1.1 / 1.004, 60_000 * 1.01 / 1.004], rtol=1e-12)
    d = liquidation_distance("binance", "short", 10.0, tiers=t)
    assert round(float(d) * 100, 2) == 9.56


def test_binance_general_form_matches_closed_form() -> None:
    # LP = (Q·EP − WB − cum)/(Q·(1 − MMR)) with WB = Q·EP/L, evaluated literally
    ep, lev, q, mmr, cum = 60_000.0, 20.0, 5.0, 0.005, 50.0  # 300k notional: tier 2
    wb = q * ep / lev
    long_lp = (q * ep - wb - cum) / (q * (1 - mmr))
    short_lp = (q * ep + wb + cum) / (q * (1 + mmr))
    t = load_tiers("binance", "BTC")
    assert float(
        liquidation_price("binance", "long", ep, lev, tiers=t, position_usd=q * ep)
    ) == pytest.approx(long_lp, rel=1e-13)
    assert float(
        liquidation_price("binance", "short", ep, lev, tiers=t, position_usd=q * ep)
    ) == pytest.approx(short_lp, rel=1e-13)


def test_bybit_documented_example() -> None:
    assert float(liquidation_price("bybit", "long", 20_000.0, 50.0, mmr=0.005)) == pytest.approx(19_700.0)
    # Same through the packaged BTC table (tier 1: MMR 0.5 %, no deduction)
    t = load_tiers("bybit", "BTC")
    assert float(liquidation_price("bybit", "long", 20_000.0, 50.0, tiers=t, position_usd=20_000)) == (
        pytest.approx(19_700.0)
    )
    assert float(liquidation_price("bybit", "short", 20_000.0, 50.0, mmr=0.005)) == pytest.approx(20_300.0)
    assert float(liquidation_distance("bybit", "long", 10.0, mmr=0.005)) == pytest.approx(0.095)
    assert float(liquidation_distance("bybit", "long", 100.0, mmr=0.005)) == pytest.approx(0.005)


def test_bybit_deduction_form() -> None:
    # LP_long = EP − (IM − MM)/Q with MM = EP·Q·MMR − deduction
    ep, lev, q = 50_000.0, 40.0, 60.0  # 3,000,000 USD: tier 3 (2.6M–3.2M), MMR 0.63 %, deduction 3,020
    im = ep * q / lev
    mm = ep * q * 0.0063 - 3020.0
    t = load_tiers("bybit", "BTC")
    got = float(liquidation_price("bybit", "long", ep, lev, tiers=t, position_usd=q * ep))
    assert got == pytest.approx(ep - (im - mm) / q, rel=1e-13)
    got_s = float(liquidation_price("bybit", "short", ep, lev, tiers=t, position_usd=q * ep))
    assert got_s == pytest.approx(ep + (im - mm) / q, rel=1e-13)


def test_okx_10x_with_fee() -> None:
    d = liquidation_distance("okx", "long", 10.0, mmr=0.004, fee_rate=0.0005)
    assert round(float(d) * 100, 2) == 9.59
    # literal formula with contracts: LP = (margin − ctVal·N·EP)/(ctVal·N·(MMR + f − 1))
    ct_val, n, ep, lev = 0.01, 250.0, 64_000.0, 10.0
    margin = ct_val * n * ep / lev
    want_long = (margin - ct_val * n * ep) / (ct_val * n * (0.004 + 0.0005 - 1))
    want_short = (margin + ct_val * n * ep) / (ct_val * n * (0.004 + 0.0005 + 1))
    assert float(liquidation_price("okx", "long", ep, lev, mmr=0.004, fee_rate=0.0005)) == pytest.approx(
        want_long, rel=1e-13
    )
    assert float(liquidation_price("okx", "short", ep, lev, mmr=0.004, fee_rate=0.0005)) == pytest.approx(
        want_short, rel=1e-13
    )


def test_hyperliquid_half_initial_margin_at_max_leverage() -> None:
    t = load_tiers("hyperliquid", "BTC")
    assert t.mmr[0] == pytest.approx(0.0125)  # 40× → 1.25 %
    ep, lev = 100_000.0, 20.0
    q = 1.0
    mmr = 0.0125
    margin_available = ep * q / lev - ep * q * mmr
    for side, s in (("long", 1.0), ("short", -1.0)):
        want = ep - s * margin_available / q / (1 - mmr * s)
        got = float(liquidation_price("hyperliquid", side, ep, lev, tiers=t, position_usd=ep * q))
        assert got == pytest.approx(want, rel=1e-13)


def test_leverage_clipped_to_tier_max() -> None:
    t = load_tiers("hyperliquid", "BTC")
    a = liquidation_price("hyperliquid", "long", 100.0, 100.0, tiers=t)
    b = liquidation_price("hyperliquid", "long", 100.0, 40.0, tiers=t)
    assert float(a) == float(b)
    c = liquidation_price("hyperliquid", "long", 100.0, 100.0, tiers=t, clip_leverage=False)
    assert float(c) > float(a)


def _binance_like() -> TierTable:
    return load_tiers("binance", "BTC")


def test_tier_selection_at_boundaries_cap_inclusive() -> None:
    t = _binance_like()  # (0, 50k] 0.40 %, (50k, 600k] 0.50 % cum 50, (600k, 3M] 0.65 % cum 950
    n = np.array([0.0, 1.0, 50_000.0, np.nextafter(50_000.0, np.inf), 600_000.0, 600_001.0, 3e6, 9e9])
    np.testing.assert_array_equal(t.tier_index(n), [0, 0, 0, 1, 1, 2, 2, 2])
    mmr, cum, _ = t.lookup(n)
    np.testing.assert_allclose(mmr, [0.004, 0.004, 0.004, 0.005, 0.005, 0.0065, 0.0065, 0.0065])
    np.testing.assert_allclose(cum, [0, 0, 0, 50, 50, 950, 950, 950])


def test_tier_selection_at_boundaries_floor_inclusive() -> None:
    t = load_tiers("hyperliquid", "BTC")  # [0, 150M) 40×, [150M, ∞) 20×
    n = np.array([0.0, np.nextafter(150e6, 0), 150e6, 1e12])
    np.testing.assert_array_equal(t.tier_index(n), [0, 0, 1, 1])


def test_cum_recursion_holds_in_every_packaged_table() -> None:
    for venue in VENUES:
        for symbol in ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE"):
            t = load_tiers(venue, symbol)
            np.testing.assert_allclose(t.cum_consistency(), 0.0, atol=1e-6 * max(1.0, float(t.cum.max())))
            # maintenance margin is continuous at every boundary
            f = t.notional_floor[1:]
            left = f * t.mmr[:-1] - t.cum[:-1]
            right = f * t.mmr[1:] - t.cum[1:]
            np.testing.assert_allclose(left, right, rtol=1e-12, atol=1e-6)


def test_cum_k_formula_on_binance_btc() -> None:
    t = _binance_like()
    # cum_k = cum_(k−1) + floor_k·(MMR_k − MMR_(k−1))
    assert t.cum[1] == pytest.approx(0 + 50_000 * (0.005 - 0.004))
    assert t.cum[2] == pytest.approx(t.cum[1] + 600_000 * (0.0065 - 0.005))


def test_tier_is_per_position_not_per_cohort() -> None:
    t = _binance_like()
    small = liquidation_price("binance", "long", 100.0, 10.0, tiers=t, position_usd=5_000.0)
    big = liquidation_price("binance", "long", 100.0, 10.0, tiers=t, position_usd=1_000_000.0)
    assert float(small) == pytest.approx(100 * 0.9 / 0.996)
    assert float(big) != float(small)


def test_arrays_broadcast() -> None:
    entry = np.linspace(100, 200, 7)[:, None]
    lev = np.array([10.0, 25.0, 50.0, 100.0])[None, :]
    lp = liquidation_price("binance", "long", entry, lev, symbol="BTC")
    assert lp.shape == (7, 4)
    side = np.array([1.0, -1.0])[:, None]
    r = liquidation_ratio("okx", side, np.array([10.0, 20.0])[None, :], mmr=0.004)
    assert r.shape == (2, 2) and np.all(r[0] < 1) and np.all(r[1] > 1)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError):
        liquidation_price("binance", "long", 100.0, 0.5, mmr=0.004)
    with pytest.raises(ValueError):
        liquidation_price("binance", "long", 100.0, 10.0)  # no tiers/symbol/mmr
    with pytest.raises(ValueError):
        liquidation_price("binance", "long", 100.0, 10.0, mmr=0.004, fee_rate=0.001)
    with pytest.raises(ValueError):
        liquidation_price("binance", "long", 100.0, 10.0, tiers=load_tiers("okx", "BTC"))


lev_st = st.floats(min_value=1.0, max_value=125.0, allow_nan=False)
entry_st = st.floats(min_value=1e-4, max_value=1e6, allow_nan=False)
pos_st = st.floats(min_value=1.0, max_value=1e8, allow_nan=False)


@given(
    venue=st.sampled_from(VENUES),
    symbol=st.sampled_from(["BTC", "ETH", "SOL", "DOGE"]),
    entry=entry_st,
    lev=lev_st,
    pos=pos_st,
)
def test_long_below_entry_below_short(venue: str, symbol: str, entry: float, lev: float, pos: float) -> None:
    t = load_tiers(venue, symbol)
    long_lp = float(liquidation_price(venue, "long", entry, lev, tiers=t, position_usd=pos))
    short_lp = float(liquidation_price(venue, "short", entry, lev, tiers=t, position_usd=pos))
    assert 0.0 <= long_lp < entry < short_lp


@given(venue=st.sampled_from(VENUES), a=lev_st, b=lev_st, pos=pos_st)
def test_monotone_in_leverage(venue: str, a: float, b: float, pos: float) -> None:
    lo, hi = min(a, b), max(a, b)
    t = load_tiers(venue, "BTC")
    for side in ("long", "short"):
        d_lo = float(liquidation_distance(venue, side, lo, tiers=t, position_usd=pos))
        d_hi = float(liquidation_distance(venue, side, hi, tiers=t, position_usd=pos))
        assert d_hi <= d_lo + 1e-15  # more leverage: liquidation never further away


@given(
    lev=st.floats(min_value=1.0, max_value=100.0),
    mmr=st.floats(min_value=1e-4, max_value=0.009),
    entry=entry_st,
)
def test_reduces_to_closed_forms(lev: float, mmr: float, entry: float) -> None:
    b_long = liquidation_price("binance", "long", entry, lev, mmr=mmr)
    b_short = liquidation_price("binance", "short", entry, lev, mmr=mmr)
    assert float(b_long) == pytest.approx(entry * (1 - 1 / lev) / (1 - mmr), rel=1e-12, abs=1e-12)
    assert float(b_short) == pytest.approx(entry * (1 + 1 / lev) / (1 + mmr), rel=1e-12)
    y_long = liquidation_price("bybit", "long", entry, lev, mmr=mmr)
    assert float(y_long) == pytest.approx(entry * (1 - 1 / lev + mmr), rel=1e-12, abs=1e-12)
    h_long = liquidation_price("hyperliquid", "long", entry, lev, mmr=mmr)
    assert float(h_long) == float(b_long)
