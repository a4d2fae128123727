"""Local order books: per-venue sync rules, gaps, resets, crossed books and queries on constructed events."""

from __future__ import annotations

import numpy as np
import pytest

from perpscope.errors import GapDetected
from perpscope.feed.book import Applied, BookGap, BookSet, BookState, LocalBook
from perpscope.model import BookDelta, BookSnapshot, PriceLevel, Side, Venue


def snap(
    venue: Venue,
    uid: int,
    bids: list[PriceLevel],
    asks: list[PriceLevel],
    *,
    cross_seq: int | None = None,
    ts: int = 1,
) -> BookSnapshot:
    return BookSnapshot(
        venue=venue,
        symbol="BTC",
        ts_event=ts,
        ts_recv=ts,
        bids=bids,
        asks=asks,
        update_id=uid,
        cross_seq=cross_seq,
    )


def delta(
    venue: Venue,
    uid: int,
    bids: list[PriceLevel] | None = None,
    asks: list[PriceLevel] | None = None,
    *,
    first: int | None = None,
    prev: int | None = None,
    ts: int = 2,
) -> BookDelta:
    return BookDelta(
        venue=venue,
        symbol="BTC",
        ts_event=ts,
        ts_recv=ts,
        bids=bids or [],
        asks=asks or [],
        update_id=uid,
        first_update_id=first,
        prev_update_id=prev,
    )


B = Venue.BINANCE
BASE_BIDS = [(100.0, 1.0), (99.0, 2.0), (98.0, 3.0)]
BASE_ASKS = [(101.0, 1.5), (102.0, 2.5), (103.0, 3.5)]


# ---------------------------------------------------------------- Binance


def test_binance_buffers_until_snapshot_then_bridges() -> None:
    book = LocalBook(B, "BTC")
    assert book.state is BookState.EMPTY and book.needs_snapshot
    # deltas before the snapshot: the first is entirely older than lastUpdateId=20
    assert book.apply(delta(B, 15, [(100.0, 9.0)], first=10, prev=9)) is Applied.BUFFERED
    assert book.apply(delta(B, 22, [(100.0, 5.0)], first=16, prev=15)) is Applied.BUFFERED
    assert book.apply(delta(B, 25, asks=[(101.0, 0.0)], first=23, prev=22)) is Applied.BUFFERED
    assert book.buffered == 3 and book.best_bid() is None
    assert book.apply(snap(B, 20, BASE_BIDS, BASE_ASKS)) is Applied.SNAPSHOT
    assert book.synced and book.last_update_id == 25 and book.buffered == 0
    assert book.best_bid() == (100.0, 5.0)  # the u=15 delta was dropped, u=22 (U=16 <= 20 <= 22) applied
    assert book.best_ask() == (102.0, 2.5)  # 101 deleted by size 0
    assert book.stats.stale_dropped == 1 and book.stats.deltas_applied == 2
    # continues with pu == previous u
    assert book.apply(delta(B, 30, [(100.5, 1.0)], first=26, prev=25)) is Applied.APPLIED
    assert book.best_bid() == (100.5, 1.0)


def test_binance_snapshot_then_live_bridging_and_stale() -> None:
    book = LocalBook(B, "BTC")
    book.apply(snap(B, 50, BASE_BIDS, BASE_ASKS))
    assert book.state is BookState.SYNCED and not book.synced  # no bridging delta yet
    assert book.apply(delta(B, 49, [(1.0, 1.0)], first=40, prev=39)) is Applied.STALE
    assert book.apply(delta(B, 55, [(99.5, 1.0)], first=45, prev=44)) is Applied.APPLIED
    assert book.synced


def test_binance_gap_then_resync_from_buffer() -> None:
    book = LocalBook(B, "BTC")
    book.apply(snap(B, 10, BASE_BIDS, BASE_ASKS))
    book.apply(delta(B, 12, [(100.0, 2.0)], first=9, prev=8))
    # u=13..15 lost: pu=15 != 12
    assert book.apply(delta(B, 18, [(100.0, 3.0)], first=16, prev=15, ts=7)) is Applied.GAP
    assert book.needs_resync and book.stats.gaps == 1
    assert book.last_gap is not None and (book.last_gap.from_id, book.last_gap.to_id) == (12, 15)
    assert book.last_gap.ts_recv == 7
    # the stream keeps flowing into the buffer
    assert book.apply(delta(B, 20, [(97.0, 1.0)], first=19, prev=18)) is Applied.BUFFERED
    assert book.apply(delta(B, 24, asks=[(101.0, 7.0)], first=21, prev=20)) is Applied.BUFFERED
    # a fresh snapshot at 19 (after the gap): u=18 stale, u=20 bridges (19 <= 19 <= 20), u=24 follows
    fresh_bids = [(100.0, 3.0), (99.0, 2.0)]
    assert book.apply(snap(B, 19, fresh_bids, [(101.0, 1.0)])) is Applied.SNAPSHOT
    assert book.synced and book.stats.resyncs == 1 and book.last_update_id == 24
    assert book.levels("bid") == [(100.0, 3.0), (99.0, 2.0), (97.0, 1.0)]
    assert book.best_ask() == (101.0, 7.0)


def test_binance_snapshot_older_than_buffer_asks_for_another() -> None:
    book = LocalBook(B, "BTC")
    book.apply(delta(B, 40, [(100.0, 1.0)], first=35, prev=34))
    assert book.apply(snap(B, 30, BASE_BIDS, BASE_ASKS)) is Applied.GAP
    assert book.needs_resync and book.stats.stale_snapshots == 1 and book.stats.gaps == 0
    assert book.buffered == 1
    assert book.apply(snap(B, 37, BASE_BIDS, BASE_ASKS)) is Applied.SNAPSHOT
    assert book.synced and book.last_update_id == 40


def test_binance_gap_raises_typed_error_and_keeps_buffering() -> None:
    book = LocalBook(B, "BTC", raise_on_gap=True)
    book.apply(snap(B, 10, BASE_BIDS, BASE_ASKS))
    book.apply(delta(B, 11, first=10, prev=9))
    with pytest.raises(GapDetected) as info:
        book.apply(delta(B, 20, first=15, prev=14))
    assert isinstance(info.value, BookGap) and info.value.record.reason.startswith("sequence gap")
    assert book.apply(delta(B, 22, first=21, prev=20)) is Applied.BUFFERED
    assert book.apply(snap(B, 21, BASE_BIDS, BASE_ASKS)) is Applied.SNAPSHOT
    assert book.last_update_id == 22


def test_gap_inside_buffer_during_replay_is_detected() -> None:
    book = LocalBook(B, "BTC", raise_on_gap=True)
    book.apply(delta(B, 12, first=10, prev=9))
    book.apply(delta(B, 14, first=13, prev=12))
    book.apply(delta(B, 20, first=18, prev=17))  # 15..17 missing
    book.apply(delta(B, 22, first=21, prev=20))
    with pytest.raises(BookGap):
        book.apply(snap(B, 11, BASE_BIDS, BASE_ASKS))
    # the deltas after the gap are all still buffered for the next snapshot
    assert book.needs_resync and book.buffered == 2
    assert book.apply(snap(B, 19, BASE_BIDS, BASE_ASKS)) is Applied.SNAPSHOT
    assert book.last_update_id == 22


def test_buffer_is_bounded() -> None:
    book = LocalBook(B, "BTC", max_buffer=3)
    for i in range(5):
        book.apply(delta(B, 10 + i, first=10 + i, prev=9 + i))
    assert book.buffered == 3 and book.stats.buffer_overflow == 2
    book.apply(snap(B, 12, BASE_BIDS, BASE_ASKS))
    assert book.synced and book.last_update_id == 14


def test_binance_crossed_book_needs_resync() -> None:
    book = LocalBook(B, "BTC")
    book.apply(snap(B, 10, BASE_BIDS, BASE_ASKS))
    assert book.apply(delta(B, 11, [(101.5, 1.0)], first=10, prev=9)) is Applied.CROSSED
    assert book.crossed and book.needs_resync and book.stats.crossed == 1 and book.stats.gaps == 1
    assert book.last_gap is not None and "crossed" in book.last_gap.reason
    book.apply(delta(B, 12, first=12, prev=11))
    book.apply(snap(B, 12, BASE_BIDS, BASE_ASKS))
    assert not book.crossed and book.synced


# ---------------------------------------------------------------- Bybit

Y = Venue.BYBIT


def test_bybit_snapshot_delta_and_gap() -> None:
    book = LocalBook(Y, "BTC")
    assert book.apply(delta(Y, 5, [(100.0, 1.0)])) is Applied.BUFFERED  # before any snapshot
    assert book.apply(snap(Y, 100, BASE_BIDS, BASE_ASKS, cross_seq=7)) is Applied.SNAPSHOT
    assert book.stats.stale_dropped == 1  # u=5 is older than the snapshot
    assert book.apply(delta(Y, 101, [(100.0, 0.0)])) is Applied.APPLIED
    assert book.best_bid() == (99.0, 2.0)
    assert book.apply(delta(Y, 101, [(100.0, 4.0)])) is Applied.STALE  # duplicate
    assert book.apply(delta(Y, 103, [(100.0, 4.0)])) is Applied.GAP  # 102 missing
    assert book.last_gap is not None and (book.last_gap.from_id, book.last_gap.to_id) == (101, 103)
    assert book.best_bid() == (99.0, 2.0)  # the gapped delta was not applied
    # resubscribe → a new snapshot; buffered deltas after it continue
    book.apply(delta(Y, 201, asks=[(101.0, 0.0)]))
    assert book.apply(snap(Y, 200, BASE_BIDS, BASE_ASKS)) is Applied.SNAPSHOT
    assert book.synced and book.last_update_id == 201 and book.best_ask() == (102.0, 2.5)


def test_bybit_u1_resets_the_book() -> None:
    book = LocalBook(Y, "BTC")
    book.apply(snap(Y, 500, BASE_BIDS, BASE_ASKS))
    out = book.apply(delta(Y, 1, [(50.0, 1.0)], [(51.0, 1.0)]))
    assert out is Applied.RESET and book.stats.resets == 1
    assert book.levels("bid") == [(50.0, 1.0)] and book.levels("ask") == [(51.0, 1.0)]
    assert book.apply(delta(Y, 2, [(49.0, 1.0)])) is Applied.APPLIED
    # u=1 also recovers a book that was waiting for a resync
    book.apply(delta(Y, 9, [(49.0, 1.0)]))
    assert book.needs_resync
    assert book.apply(delta(Y, 1, [(60.0, 1.0)], [(61.0, 1.0)])) is Applied.RESET
    assert book.synced and book.best_bid() == (60.0, 1.0) and book.stats.resyncs == 1


def test_bybit_crossed_delta() -> None:
    book = LocalBook(Y, "BTC")
    book.apply(snap(Y, 10, BASE_BIDS, BASE_ASKS))
    assert book.apply(delta(Y, 11, asks=[(99.5, 1.0)])) is Applied.CROSSED
    assert book.needs_resync


# ---------------------------------------------------------------- OKX

OK = Venue.OKX


def test_okx_prevseq_chain_heartbeat_reset_and_gap() -> None:
    book = LocalBook(OK, "BTC")
    book.apply(delta(OK, 9, [(1.0, 1.0)], prev=8))  # before the snapshot: buffered, then stale
    assert book.apply(snap(OK, 10, BASE_BIDS, BASE_ASKS)) is Applied.SNAPSHOT
    assert book.stats.stale_dropped == 1
    assert book.apply(delta(OK, 15, [(100.0, 9.0)], prev=10)) is Applied.APPLIED
    assert book.apply(delta(OK, 15, prev=15)) is Applied.HEARTBEAT
    assert book.stats.heartbeats == 1 and book.last_update_id == 15
    # maintenance: seqId restarts lower, prevSeqId still chains
    assert book.apply(delta(OK, 3, [(100.0, 8.0)], prev=15)) is Applied.RESET
    assert book.apply(delta(OK, 4, [(100.0, 7.0)], prev=3)) is Applied.APPLIED
    assert book.best_bid() == (100.0, 7.0) and book.stats.resets == 1
    assert book.apply(delta(OK, 9, [(100.0, 1.0)], prev=6)) is Applied.GAP
    assert book.last_gap is not None and (book.last_gap.from_id, book.last_gap.to_id) == (4, 6)
    assert book.best_bid() == (100.0, 7.0)
    assert book.apply(snap(OK, 9, BASE_BIDS, BASE_ASKS)) is Applied.SNAPSHOT  # resubscribed
    assert book.synced and book.stats.resyncs == 1


def test_okx_crossed_snapshot() -> None:
    book = LocalBook(OK, "BTC")
    assert book.apply(snap(OK, 10, [(105.0, 1.0)], BASE_ASKS)) is Applied.CROSSED
    assert book.needs_resync and book.stats.crossed == 1


# ---------------------------------------------------------------- Hyperliquid

H = Venue.HYPERLIQUID


def test_hyperliquid_snapshots_only() -> None:
    book = LocalBook(H, "BTC")
    assert book.apply(snap(H, 1000, BASE_BIDS, BASE_ASKS)) is Applied.SNAPSHOT
    assert book.apply(snap(H, 2000, [(90.0, 1.0)], [(91.0, 1.0)])) is Applied.SNAPSHOT
    assert book.apply(snap(H, 1500, BASE_BIDS, BASE_ASKS)) is Applied.STALE  # older block
    assert book.best_bid() == (90.0, 1.0)
    # a crossed snapshot is counted; the next block replaces it, nothing to resync
    assert book.apply(snap(H, 3000, [(92.0, 1.0)], [(91.0, 1.0)])) is Applied.CROSSED
    assert book.stats.crossed == 1 and not book.needs_resync
    with pytest.raises(ValueError, match="snapshots only"):
        book.apply(delta(H, 3001, [(1.0, 1.0)]))


# ---------------------------------------------------------------- queries


def test_queries() -> None:
    book = LocalBook(Y, "BTC")
    assert book.mid() is None and book.best_ask() is None and book.depth_within(1.0).bid_base == 0.0
    book.apply(snap(Y, 1, BASE_BIDS, BASE_ASKS))
    assert book.mid() == 100.5 and book.spread() == 1.0
    assert book.levels("bid", 2) == [(100.0, 1.0), (99.0, 2.0)]
    assert book.levels(Side.SELL, 2) == [(101.0, 1.5), (102.0, 2.5)]
    assert book.levels("ask", 0) == [] and len(book.levels("ask", 10)) == 3
    assert book.size_at("bid", 99.0) == 2.0 and book.size_at("ask", 99.0) == 0.0
    arr = book.to_arrays()
    assert arr.bid_px.tolist() == [100.0, 99.0, 98.0] and arr.ask_sz.tolist() == [1.5, 2.5, 3.5]
    # ±1 % of 100.5: bids >= 99.495 (100), asks <= 101.505 (101)
    d = book.depth_within(1.0)
    assert (d.bid_base, d.ask_base) == (1.0, 1.5)
    assert d.bid_usd == pytest.approx(100.0) and d.ask_usd == pytest.approx(151.5)
    prof = book.depth_profile([1.0, 2.0, 10.0])
    assert prof[:, 0].tolist() == [1.0, 3.0, 6.0] and prof[:, 1].tolist() == [1.5, 4.0, 7.5]
    bid_usd, ask_usd = 100 + 198 + 294, 151.5 + 255 + 360.5
    assert book.imbalance(10.0) == pytest.approx((bid_usd - ask_usd) / (bid_usd + ask_usd))
    with pytest.raises(ValueError):
        book.levels("middle")  # type: ignore[arg-type]


def test_arrays_cache_invalidated_by_updates() -> None:
    book = LocalBook(Y, "BTC")
    book.apply(snap(Y, 1, BASE_BIDS, BASE_ASKS))
    first = book.to_arrays()
    assert book.to_arrays().bid_px is first.bid_px  # cached
    book.apply(delta(Y, 2, [(99.5, 4.0)]))
    assert book.to_arrays().bid_px.tolist() == [100.0, 99.5, 99.0, 98.0]
    assert np.all(np.diff(book.to_arrays().ask_px) > 0)


def test_bookset_dispatch() -> None:
    books = BookSet()
    books.apply(snap(Y, 1, BASE_BIDS, BASE_ASKS))
    books.apply(delta(B, 5, first=4, prev=3))
    assert len(books) == 2
    assert [b.venue for b in books.needing_snapshot()] == [Venue.BINANCE]
    assert books.book("bybit", "BTC").best_bid() == (100.0, 1.0)


def test_crossed_snapshot_keeps_the_buffered_stream() -> None:
    book = LocalBook(B, "BTC")
    book.apply(delta(B, 22, [(100.0, 5.0)], first=16, prev=15))
    assert book.apply(snap(B, 20, [(103.0, 1.0)], BASE_ASKS)) is Applied.CROSSED  # a bad snapshot
    assert book.needs_resync and book.buffered == 1
    book.apply(delta(B, 25, asks=[(101.0, 0.0)], first=23, prev=22))
    assert book.apply(snap(B, 20, BASE_BIDS, BASE_ASKS)) is Applied.SNAPSHOT  # a good one
    assert book.synced and book.last_update_id == 25 and book.best_bid() == (100.0, 5.0)
    assert [b.symbol for b in BookSet()] == []
