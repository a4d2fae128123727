"""Property tests: random delta sequences applied to a LocalBook equal a plain dict oracle."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.feed.book import Applied, LocalBook
from perpscope.model import BookDelta, BookSnapshot, PriceLevel, Venue

# bids on 1..25, asks on 26..50: a valid random walk never crosses, so any crossing is a bug
BID_PX = st.integers(1, 25).map(float)
ASK_PX = st.integers(26, 50).map(float)
SIZE = st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.25, 7.0])

levels_bid = st.lists(st.tuples(BID_PX, SIZE), max_size=8)
levels_ask = st.lists(st.tuples(ASK_PX, SIZE), max_size=8)
Oracle = tuple[dict[float, float], dict[float, float]]


def _apply(oracle: Oracle, bids: list[PriceLevel], asks: list[PriceLevel]) -> None:
    for side, levels in zip(oracle, (bids, asks), strict=True):
        for p, s in levels:
            if s == 0.0:
                side.pop(p, None)
            else:
                side[p] = s


def _snapshot_of(oracle: Oracle, venue: Venue, uid: int) -> BookSnapshot:
    bids = sorted(oracle[0].items(), reverse=True)
    asks = sorted(oracle[1].items())
    return BookSnapshot(venue=venue, symbol="X", ts_event=0, ts_recv=0, bids=bids, asks=asks, update_id=uid)


def _check(book: LocalBook, oracle: Oracle) -> None:
    bids, asks = oracle
    assert book.levels("bid") == sorted(bids.items(), reverse=True)
    assert book.levels("ask") == sorted(asks.items())
    assert book.best_bid() == (max(bids.items()) if bids else None)
    assert book.best_ask() == (min(asks.items()) if asks else None)
    assert not book.crossed
    mid = book.mid()
    if mid is not None:
        for pct in (1.0, 10.0, 40.0):
            d = book.depth_within(pct)
            lo, hi = mid * (1 - pct / 100), mid * (1 + pct / 100)
            assert d.bid_base == sum(s for p, s in bids.items() if p >= lo)
            assert d.ask_base == sum(s for p, s in asks.items() if p <= hi)
            assert np.isclose(d.bid_usd, sum(p * s for p, s in bids.items() if p >= lo))


@settings(max_examples=150, deadline=None)
@given(
    initial=st.tuples(levels_bid, levels_ask),
    steps=st.lists(st.tuples(levels_bid, levels_ask, st.integers(1, 5)), min_size=1, max_size=30),
    data=st.data(),
)
def test_binance_random_stream_equals_oracle(
    initial: tuple[list[PriceLevel], list[PriceLevel]],
    steps: list[tuple[list[PriceLevel], list[PriceLevel], int]],
    data: st.DataObject,
) -> None:
    """Deltas with random id spans; REST snapshot taken after delta k, arriving after delta j >= k."""

    oracle: Oracle = ({}, {})
    _apply(oracle, *initial)
    deltas: list[BookDelta] = []
    states: list[Oracle] = []
    u = 1000
    for bids, asks, span in steps:
        first, u = u + 1, u + span
        deltas.append(
            BookDelta(
                venue=Venue.BINANCE,
                symbol="X",
                ts_event=0,
                ts_recv=0,
                bids=bids,
                asks=asks,
                update_id=u,
                first_update_id=first,
                prev_update_id=first - 1,
            )
        )
        _apply(oracle, bids, asks)
        states.append((dict(oracle[0]), dict(oracle[1])))
    k = data.draw(st.integers(0, len(deltas) - 1), label="snapshot after delta")
    j = data.draw(st.integers(k, len(deltas) - 1), label="snapshot arrives after delta")
    snapshot = _snapshot_of(states[k], Venue.BINANCE, deltas[k].update_id)
    book = LocalBook(Venue.BINANCE, "X")
    for i, d in enumerate(deltas):
        book.apply(d)
        if i == j:
            assert book.apply(snapshot) is Applied.SNAPSHOT
            _check(book, states[i])
    assert book.synced and book.stats.gaps == 0
    _check(book, oracle)


@settings(max_examples=150, deadline=None)
@given(
    initial=st.tuples(levels_bid, levels_ask),
    steps=st.lists(st.tuples(levels_bid, levels_ask), min_size=1, max_size=30),
    venue=st.sampled_from([Venue.BYBIT, Venue.OKX]),
    drop=st.one_of(st.none(), st.integers(0, 29)),
)
def test_bybit_okx_random_stream_equals_oracle(
    initial: tuple[list[PriceLevel], list[PriceLevel]],
    steps: list[tuple[list[PriceLevel], list[PriceLevel]]],
    venue: Venue,
    drop: int | None,
) -> None:
    """Contiguous ids (Bybit u+1, OKX prevSeqId chain); dropping one delta must be caught as a gap and
    never silently corrupt the book; a fresh snapshot then restores the oracle."""

    if drop is not None and drop >= len(steps) - 1:
        drop = None  # a lost last message is undetectable until the next one: nothing to check
    oracle: Oracle = ({}, {})
    _apply(oracle, *initial)
    book = LocalBook(venue, "X")
    book.apply(_snapshot_of(oracle, venue, 100))
    uid = 100
    gapped = False
    for i, (bids, asks) in enumerate(steps):
        nxt = uid + (1 if venue is Venue.BYBIT else 3)
        d = BookDelta(
            venue=venue,
            symbol="X",
            ts_event=0,
            ts_recv=0,
            bids=bids,
            asks=asks,
            update_id=nxt,
            prev_update_id=uid if venue is Venue.OKX else None,
        )
        uid = nxt
        _apply(oracle, bids, asks)
        if i == drop:
            gapped = True
            continue
        out = book.apply(d)
        if not gapped:
            assert out is Applied.APPLIED
            _check(book, oracle)
        else:
            assert out in (Applied.GAP, Applied.BUFFERED)
    if gapped:
        assert book.needs_resync and book.stats.gaps == 1
        book.apply(_snapshot_of(oracle, venue, uid))
    assert book.synced
    _check(book, oracle)
