"""The simulator's events look like the venue adapters' output: order, kinds, venue feed rules, books."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from perpscope.feed.book import Applied, BookSet
from perpscope.model import (
    Bar,
    BookDelta,
    BookSnapshot,
    Candle,
    Funding,
    Liquidation,
    OpenInterest,
    Side,
    Trade,
    Venue,
)
from perpscope.sim.market import MarketStream, SimConfig, simulate
from perpscope.timeutil import NS_PER_S

H = 3600 * NS_PER_S


@pytest.fixture(scope="module")
def run():
    cfg = SimConfig(seed=9, venues=tuple(Venue), duration_ns=4 * H, chunk_ns=2 * H, jump_rate_per_day=12.0)
    r = simulate(cfg)
    return r, list(r.events())


def test_events_arrive_in_receive_order_with_every_kind(run) -> None:
    r, events = run
    ts = np.array([e.ts_recv for e in events])
    assert np.all(np.diff(ts) >= 0)
    kinds = Counter(type(e).__name__ for e in events)
    n_steps = r.n_slots * r.config.steps_per_bar
    assert kinds["MarkPrice"] == 4 * n_steps
    for k in ("Candle", "Bar", "OpenInterest", "Funding"):
        assert kinds[k] == 4 * r.n_slots
    assert kinds["Trade"] > 4 * n_steps  # a buy and a sell print most steps
    assert kinds["Liquidation"] > 0
    # candles and bars: stamped at the bar open, received at its close
    for e in events:
        if isinstance(e, Candle | Bar):
            assert e.ts_recv == e.ts_event + r.config.bar_ns


def test_bars_equal_the_trades_and_the_arrays(run) -> None:
    r, events = run
    for v in r.config.venues:
        arr = r.bar_arrays(v)
        vol = np.zeros(r.n_slots)
        buy = np.zeros(r.n_slots)
        hi = np.full(r.n_slots, -np.inf)
        lo = np.full(r.n_slots, np.inf)
        for e in events:
            if isinstance(e, Trade) and e.venue is v:
                b = (e.ts_event - r.config.start_ns) // r.config.bar_ns
                vol[b] += e.quantity
                buy[b] += e.quantity if e.side is Side.BUY else 0.0
                hi[b] = max(hi[b], e.price)
                lo[b] = min(lo[b], e.price)
                assert e.notional_usd == pytest.approx(e.price * e.quantity)
        assert np.allclose(vol, arr.volume, rtol=1e-9)
        assert np.allclose(buy, arr.taker_buy_volume, rtol=1e-9)
        assert np.all(hi <= arr.high) and np.all(lo >= arr.low)
        bars = [e for e in events if isinstance(e, Bar) and e.venue is v]
        assert bars == r.bars(v)
        ois = [e for e in events if isinstance(e, OpenInterest) and e.venue is v]
        assert np.allclose([e.oi_usd for e in ois], arr.oi_usd)
        assert np.allclose([e.oi_base * c for e, c in zip(ois, arr.close, strict=True)], arr.oi_usd)
        fund = [e for e in events if isinstance(e, Funding) and e.venue is v]
        assert all(e.next_funding_ts > e.ts_event for e in fund)
        assert [e.settled_rate for e in fund] == arr.funding_rate.tolist()


def test_liquidation_feeds_follow_each_venue(run) -> None:
    r, events = run
    liq = [e for e in events if isinstance(e, Liquidation)]
    by_venue: dict[Venue, list[Liquidation]] = defaultdict(list)
    for e in liq:
        by_venue[e.venue].append(e)
    assert Venue.HYPERLIQUID not in by_venue  # no public liquidation feed
    truth = r.liquidations()
    for v in (Venue.BINANCE, Venue.OKX):
        seconds = Counter(e.ts_event // NS_PER_S for e in by_venue[v])
        assert max(seconds.values()) == 1  # at most one per symbol per second
        assert all(e.sampled for e in by_venue[v])
        # a lower bound of the truth
        assert sum(e.quantity for e in by_venue[v]) < truth.qty[truth.venue == v.value].sum()
    bybit = by_venue[Venue.BYBIT]
    assert bybit and not any(e.sampled for e in bybit)
    assert sum(e.quantity for e in bybit) == pytest.approx(truth.qty[truth.venue == "bybit"].sum(), rel=1e-9)
    assert r.liquidation_prints("bybit") == len(bybit)
    # price: Binance the fill (the mark), Bybit/OKX the bankruptcy price (beyond the liquidation price)
    _, mark, _ = r.prices("binance")
    for e in by_venue[Venue.BINANCE]:
        step = (e.ts_event - r.config.start_ns) // r.config.step_ns
        assert e.price == mark[step]
    worst = {1: truth.liq_price[truth.side > 0].max(), -1: truth.liq_price[truth.side < 0].min()}
    for e in bybit:
        if e.side.value == "long":
            assert e.price < worst[1]
        else:
            assert e.price > worst[-1]


def test_books_sync_with_the_feed_order_books(run) -> None:
    r, events = run
    books = BookSet(raise_on_gap=True)
    outcomes: Counter[tuple[str, Applied]] = Counter()
    for e in events:
        if isinstance(e, BookSnapshot | BookDelta):
            outcomes[(e.venue.value, books.apply(e))] += 1
    n_steps = r.n_slots * r.config.steps_per_bar
    for v in ("binance", "bybit", "okx"):
        assert outcomes[(v, Applied.SNAPSHOT)] == 1
        assert outcomes[(v, Applied.APPLIED)] == n_steps - 1
    assert outcomes[("hyperliquid", Applied.SNAPSHOT)] == n_steps
    _, mark, _ = r.prices("okx")
    for book in books:
        assert book.synced and not book.crossed
        assert book.stats.gaps == 0
    okx = books.book("okx", "BTC")
    bid, ask = okx.best_bid(), okx.best_ask()
    assert bid is not None and ask is not None and bid[0] < mark[-1] < ask[0]
    assert len(okx.levels("bid")) == r.config.book_levels


def test_stream_book_snapshot_is_the_current_book() -> None:
    cfg = SimConfig(seed=1, duration_ns=H, chunk_ns=H)
    stream = MarketStream(cfg)
    books = BookSet(raise_on_gap=True)
    for i, batch in enumerate(stream):
        for e in batch.events:
            if isinstance(e, BookSnapshot | BookDelta):
                books.apply(e)
        if i == 50:
            break
    snap = stream.book_snapshot("binance")
    live = books.book("binance", "BTC")
    assert snap.update_id == live.last_update_id
    assert snap.bids == live.levels("bid") and snap.asks == live.levels("ask")
