"""The synthetic market: determinism, open interest from positions, real liquidations, conservation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.heatmap.margin import liquidation_price
from perpscope.model import Venue, encode_event
from perpscope.sim.market import MarketStream, SimConfig, simulate
from perpscope.sim.market_positions import first_crossing
from perpscope.sim.market_price import ar1, funding_rate
from perpscope.timeutil import NS_PER_S

H = 3600 * NS_PER_S
DAY = 24 * H
ALL = tuple(Venue)


@pytest.fixture(scope="module")
def two_days():
    return simulate(SimConfig(seed=3, venues=ALL, duration_ns=2 * DAY, chunk_ns=12 * H))


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="multiple of step"):
        SimConfig(bar_ns=301 * NS_PER_S)
    with pytest.raises(ValueError, match="initial_prices"):
        SimConfig(symbols=("PEPE",))
    with pytest.raises(ValueError, match="leverage"):
        SimConfig(leverage=((0.5, 1.0),))
    with pytest.raises(ValueError, match="liquidation_oi_drop"):
        SimConfig(liquidation_oi_drop=1.5)
    with pytest.raises(ValueError, match="not one of"):
        SimConfig(flow="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="GARCH"):
        SimConfig(garch_alpha=0.5, garch_beta=0.6)
    cfg = SimConfig(leverage={20: 3.0, 5: 1.0})
    assert cfg.leverage_levels == (20.0, 5.0) and cfg.leverage_weights == (0.75, 0.25)


def test_same_seed_same_market_other_seed_other_market() -> None:
    cfg = SimConfig(seed=11, duration_ns=6 * H, chunk_ns=2 * H)
    a, b = simulate(cfg), simulate(cfg)
    c = simulate(SimConfig(seed=12, duration_ns=6 * H, chunk_ns=2 * H))
    for v in cfg.venues:
        assert np.array_equal(a.bar_arrays(v).close, b.bar_arrays(v).close)
        assert np.array_equal(a.bar_arrays(v).oi_usd, b.bar_arrays(v).oi_usd)
        assert not np.array_equal(a.bar_arrays(v).close, c.bar_arrays(v).close)
    assert np.array_equal(a.realized()[0], b.realized()[0])
    ea = [encode_event(e) for e in a.events()]
    eb = [encode_event(e) for e in b.events()]
    assert ea == eb and len(ea) > 10_000


def test_stream_yields_exactly_the_batch_run_across_chunks() -> None:
    cfg = SimConfig(seed=5, venues=ALL, duration_ns=3 * H, chunk_ns=H)
    batch = [encode_event(e) for e in simulate(cfg).events()]
    stream = MarketStream(cfg)
    live = [encode_event(e) for e in stream.events()]
    assert live == batch
    assert stream.now_ns == cfg.start_ns + 3 * H - cfg.step_ns


def test_stream_forever_continues_past_the_duration() -> None:
    cfg = SimConfig(seed=5, duration_ns=H, chunk_ns=H)
    stream = MarketStream(cfg, forever=True)
    last = None
    for i, batch in enumerate(stream):
        last = batch.ts_ns
        if i == 3 * cfg.steps_per_bar * 12 + 5:  # three hours and a bit
            break
    assert last is not None and last > cfg.start_ns + 3 * H


async def _first_batches(stream: MarketStream, n: int) -> list[int]:
    out = []
    async for batch in stream.run(speed=None):
        out.append(batch.ts_ns)
        if len(out) == n:
            break
    return out


async def _aiter_events(stream: MarketStream, n: int) -> list[bytes]:
    out: list[bytes] = []
    async for batch in stream:
        out.extend(encode_event(e) for e in batch)
        if len(out) >= n:
            break
    return out[:n]


def test_async_stream_matches_sync() -> None:
    import asyncio

    cfg = SimConfig(seed=2, duration_ns=H, chunk_ns=H)
    got = asyncio.run(_first_batches(MarketStream(cfg), 7))
    assert got == [cfg.start_ns + i * cfg.step_ns for i in range(7)]
    sync = [encode_event(e) for e in simulate(cfg).events()][:500]
    assert asyncio.run(_aiter_events(MarketStream(cfg, speed=None), 500)) == sync


def test_async_stream_is_paced_by_speed() -> None:
    import asyncio
    import time

    cfg = SimConfig(seed=2, duration_ns=H, chunk_ns=H)
    t = time.perf_counter()
    # 10 steps of 10 s at 200× real time: about half a second
    stream = MarketStream(cfg, speed=200.0)

    async def take() -> None:
        n = 0
        async for _ in stream:
            n += 1
            if n == 11:
                break

    asyncio.run(take())
    assert 0.4 < time.perf_counter() - t < 3.0


def test_open_interest_is_the_sum_of_open_positions(two_days) -> None:
    r = two_days
    for v in r.config.venues:
        f = r.flows(v)
        bars = r.bar_arrays(v)
        assert np.allclose(bars.oi_usd, f.oi_qty * bars.close, rtol=1e-12)
        for slot in (0, 1, 100, 287, 288, 500, r.n_slots - 1):
            t = r.open_positions(v, at_slot=slot)
            longs = t.qty[t.side > 0].sum() + f.absorber_long_qty[slot]
            shorts = t.qty[t.side < 0].sum() + f.absorber_short_qty[slot]
            # one-sided OI: every contract has a long and a short
            assert longs == pytest.approx(f.oi_qty[slot], rel=1e-9)
            assert shorts == pytest.approx(f.oi_qty[slot], rel=1e-9)
            assert t.entry_usd[t.side > 0].sum() == pytest.approx(f.standing_long_usd[slot], rel=1e-9)
            assert np.all(t.qty > 0.0)
        # the market opens with its target and stays near it
        target = r.config.venue_oi_usd(v, "BTC")
        assert bars.oi_usd[0] == pytest.approx(target, rel=0.05)
        assert 0.3 * target < bars.oi_usd.min() and bars.oi_usd.max() < 2.0 * target


@pytest.mark.parametrize("drop", [0.0, 0.5, 1.0])
def test_liquidations_move_open_interest_by_the_configured_share(drop: float) -> None:
    r = simulate(SimConfig(seed=8, duration_ns=DAY, chunk_ns=6 * H, liquidation_oi_drop=drop, flow="net"))
    f = r.flows("binance")
    liq = r.liquidations("binance")
    liq_qty = np.bincount(liq.slot, weights=liq.qty, minlength=r.n_slots)
    # bars that only close (net flow): OI = previous OI after proportional closes, minus the share of
    # forced orders filled by the other side closing; the rest is absorbed by makers (OI unchanged)
    closing = np.flatnonzero(f.close_fraction[1:] > 0.0) + 1
    hit = closing[liq_qty[closing] > 0]
    assert hit.size > 5
    expect = f.oi_qty[closing - 1] * (1.0 - f.close_fraction[closing]) - drop * liq_qty[closing]
    assert np.allclose(f.oi_qty[closing], expect, rtol=1e-9)
    absorbed = f.absorber_long_qty + f.absorber_short_qty
    assert (absorbed.max() == 0.0) == (drop == 1.0)
    for slot in (10, 100, 287):
        t = r.open_positions("binance", at_slot=slot)
        assert t.qty[t.side > 0].sum() + f.absorber_long_qty[slot] == pytest.approx(f.oi_qty[slot], rel=1e-9)
        assert t.qty[t.side < 0].sum() + f.absorber_short_qty[slot] == pytest.approx(f.oi_qty[slot], rel=1e-9)


def test_every_liquidation_really_crossed_its_level(two_days) -> None:
    r = two_days
    cfg = r.config
    for v in cfg.venues:
        _, mark, _ = r.prices(v)
        liq = r.liquidations(v)
        assert len(liq) > 100
        step = (liq.ts_ns - cfg.start_ns) // cfg.step_ns
        crossed = np.where(liq.side > 0, mark[step] <= liq.liq_price, mark[step] >= liq.liq_price)
        assert crossed.all()
        assert np.array_equal(liq.mark, mark[step])
        # ... and not before: the first step at or after it could be liquidated
        live = (liq.live_from_ns - cfg.start_ns) // cfg.step_ns
        assert np.all(live <= step)
        for i in range(len(liq)):
            seg = mark[live[i] : step[i]]
            assert not np.any(seg <= liq.liq_price[i] if liq.side[i] > 0 else seg >= liq.liq_price[i])
        # the level is the venue's formula for that position (packaged tiers, per-position size)
        expect = liquidation_price(
            v, liq.side.astype(float), liq.entry, liq.leverage, symbol="BTC", position_usd=liq.size_usd
        )
        assert np.allclose(liq.liq_price, expect, rtol=1e-12)


def test_hyperliquid_clips_leverage_to_its_maximum(two_days) -> None:
    liq = two_days.liquidations("hyperliquid")
    assert liq.leverage.max() == 100.0 and liq.leverage_eff.max() == 40.0  # BTC max 40×


def test_conservation_opened_equals_standing_closed_liquidated(two_days) -> None:
    r = two_days
    for v in r.config.venues:
        f = r.flows(v)
        for opened, standing, closed, liq in (
            (f.opened_long_usd, f.standing_long_usd, f.closed_long_usd, f.liquidated_long_usd),
            (f.opened_short_usd, f.standing_short_usd, f.closed_short_usd, f.liquidated_short_usd),
        ):
            lhs = np.cumsum(opened)
            rhs = standing + np.cumsum(closed) + np.cumsum(liq)
            assert np.allclose(lhs, rhs, rtol=1e-9)
            assert liq.sum() > 0 and closed.sum() > 0
        rl, rs = r.realized(v, basis="entry")
        assert np.allclose(rl, f.liquidated_long_usd) and np.allclose(rs, f.liquidated_short_usd)


def test_realized_sums_over_venues_and_fill_basis_uses_the_mark(two_days) -> None:
    r = two_days
    total = r.realized(basis="fill")[0]
    parts = sum(r.realized(v, basis="fill")[0] for v in r.config.venues)
    assert np.allclose(total, parts)
    liq = r.liquidations()
    per_slot = np.bincount(liq.slot[liq.side > 0], weights=liq.fill_usd[liq.side > 0], minlength=r.n_slots)
    assert np.allclose(per_slot, total)


def test_standing_matrix_equals_standing_per_slot(two_days) -> None:
    r = two_days
    edges = np.exp(np.linspace(math.log(50_000), math.log(150_000), 301))
    lm, sm = r.standing_matrix(price_edges=edges)
    assert lm.shape == (r.n_slots, 300)
    for slot in (0, 143, 144, 400, r.n_slots - 1):
        lo, sh = r.standing(at_slot=slot, price_edges=edges)
        assert np.allclose(lm[slot], lo, rtol=1e-9, atol=1e-6)
        assert np.allclose(sm[slot], sh, rtol=1e-9, atol=1e-6)
    # one leverage tier is a part of the total
    l10, _ = r.standing(at_slot=200, price_edges=edges, leverage=10.0)
    l_all, _ = r.standing(at_slot=200, price_edges=edges)
    assert 0 < l10.sum() < l_all.sum()
    # longs liquidate below the price, shorts above
    close = r.bar_arrays("binance").close[200]
    centers = 0.5 * (edges[1:] + edges[:-1])
    assert l_all[centers > close * 1.01].sum() < 1e-6 * l_all.sum() + 1.0
    with pytest.raises(IndexError):
        r.standing(at_slot=r.n_slots, price_edges=edges)


def test_aggressor_attribution_leverages_the_taker_side() -> None:
    r = simulate(SimConfig(seed=4, duration_ns=DAY, attribution="aggressor", flow="net", chunk_ns=DAY))
    t = r.open_positions("binance", at_slot=200)
    assert set(np.unique(t.leverage[t.maker])) == {1.0}
    assert np.all(t.liq_price[t.maker & (t.side > 0)] == 0.0)  # a 1× long cannot be liquidated
    liq = r.liquidations("binance")
    assert liq.leverage.min() >= 10.0


def test_price_path_has_clusters_jumps_and_correlation() -> None:
    r = simulate(SimConfig(seed=21, symbols=("BTC", "ETH"), duration_ns=14 * DAY, venues=(Venue.BINANCE,)))
    btc = np.diff(np.log(r.bar_arrays("binance", "BTC").close))
    eth = np.diff(np.log(r.bar_arrays("binance", "ETH").close))
    # volatility clustering: squared returns are autocorrelated; jumps: fat tails
    sq = btc**2
    assert np.corrcoef(sq[1:], sq[:-1])[0, 1] > 0.05
    kurt = np.mean((btc - btc.mean()) ** 4) / np.var(btc) ** 2
    assert kurt > 4.0
    assert np.corrcoef(btc, eth)[0, 1] > 0.5
    # annualized volatility in the neighbourhood of the configured 55 %
    ann = btc.std() * math.sqrt(365 * 288)
    assert 0.3 < ann < 1.2


def test_funding_settles_on_the_venue_interval(two_days) -> None:
    r = two_days
    for v, hours in ((Venue.BINANCE, 8), (Venue.HYPERLIQUID, 1)):
        bars = r.bar_arrays(v)
        changes = np.flatnonzero(np.diff(bars.funding_rate) != 0.0) + 1
        # a settled rate changes at the bar that closes at an interval boundary
        close_ns = bars.ts_ns[changes] + r.config.bar_ns
        assert np.all(close_ns % (hours * H) == 0)
        assert len(changes) >= 2
        assert np.all(np.abs(bars.funding_rate) <= r.config.funding_cap_8h * hours / 8 + 1e-15)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(50.0, 150.0), min_size=6, max_size=60),
    st.integers(1, 6),
    st.data(),
)
def test_first_crossing_matches_a_scan(prices: list[float], k: int, data: st.DataObject) -> None:
    n = (len(prices) // k) * k
    price = np.array(prices[:n])
    if n == 0:
        return
    q = data.draw(st.integers(1, 20))
    start = np.array(data.draw(st.lists(st.integers(0, n), min_size=q, max_size=q)))
    level = np.array(data.draw(st.lists(st.floats(40.0, 160.0), min_size=q, max_size=q)))
    for below in (True, False):
        got = first_crossing(price, k, start, level, below=below)
        for i in range(q):
            hits = [
                j for j in range(start[i], n) if (price[j] <= level[i] if below else price[j] >= level[i])
            ]
            assert got[i] == (hits[0] if hits else n)


@given(st.floats(-1.0, 1.0), st.floats(0.0, 0.999), st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=400))
def test_ar1_matches_the_recursion(x0: float, phi: float, eps: list[float]) -> None:
    e = np.array(eps)
    out = ar1(x0, phi, e)
    x = x0
    for j, v in enumerate(eps):
        x = phi * x + v
        assert out[j] == pytest.approx(x, abs=1e-9)


@given(st.floats(-0.01, 0.01))
def test_funding_rule_is_premium_plus_clamped_interest(premium: float) -> None:
    cfg = SimConfig()
    rate = float(funding_rate(cfg, premium, 8.0))
    expect = premium + min(max(0.0001 - premium, -0.0005), 0.0005)
    assert rate == pytest.approx(min(max(expect, -0.0075), 0.0075), abs=1e-15)
    assert float(funding_rate(cfg, premium, 1.0)) == pytest.approx(rate / 8.0, abs=1e-15)
