"""Local order books kept in sync with each venue's snapshot + delta rules (../shared/reference/venues.md).

A :class:`LocalBook` consumes the normalized :class:`~perpscope.model.BookSnapshot` /
:class:`~perpscope.model.BookDelta` events of one venue symbol. Their sequence fields carry the venue's own
numbers, and the book applies that venue's rule:

- Binance: buffer deltas until a REST snapshot arrives; drop ``u < lastUpdateId``; the first applied delta
  must satisfy ``U <= lastUpdateId <= u``; afterwards every ``pu`` equals the previous ``u``.
- Bybit: a ``snapshot`` (or a delta with ``u == 1``) replaces the book; deltas continue ``u + 1``.
- OKX: ``prevSeqId == -1`` is a snapshot (the decoder emits BookSnapshot); each delta's ``prevSeqId``
  equals the previous ``seqId``; ``seqId == prevSeqId`` is a heartbeat; ``seqId < prevSeqId`` a reset.
- Hyperliquid: every ``l2Book`` message is a full top-20 snapshot; older ``time`` values are dropped.

On a sequence gap or a crossed book the book enters the ``RESYNC`` state, records a :class:`BookGapRecord`,
and keeps buffering deltas so the session can fetch (Binance) or resubscribe for (Bybit, OKX) a snapshot
and catch up from the buffer without dropping the stream. Levels live in a dict price → size with a
sorted price list beside it, so the best level is O(1) and depth queries run on cached numpy arrays.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, NamedTuple

import numpy as np

from ..errors import GapDetected
from ..model import BookDelta, BookSnapshot, PriceLevel, Side, Venue

BookSide = Literal["bid", "ask"]

DEFAULT_MAX_BUFFER = 100_000  # deltas kept while waiting for a snapshot (Binance 0 ms depth: ~20/s)
MAX_GAP_LOG = 1_000


class BookState(StrEnum):
    """Where a book stands with respect to its venue's sequence."""

    EMPTY = "empty"  # no snapshot yet: deltas are buffered
    SYNCED = "synced"  # levels are trustworthy
    RESYNC = "resync"  # a gap or crossed book was seen: deltas are buffered until a fresh snapshot


class Applied(StrEnum):
    """What :meth:`LocalBook.apply` did with one event."""

    SNAPSHOT = "snapshot"  # the book was replaced
    APPLIED = "applied"  # a delta was applied
    BUFFERED = "buffered"  # kept until a snapshot arrives
    STALE = "stale"  # already contained in the book (older than the snapshot): dropped
    HEARTBEAT = "heartbeat"  # OKX seqId == prevSeqId: nothing changes
    RESET = "reset"  # a venue sequence reset (Bybit u == 1, OKX seqId < prevSeqId) was applied
    GAP = "gap"  # a sequence gap: the book now needs a snapshot
    CROSSED = "crossed"  # the book crossed after this event: it now needs a snapshot


@dataclass(frozen=True, kw_only=True)
class BookGapRecord:
    """One detected gap: the sequence number we expected after ``from_id`` and what arrived instead."""

    venue: str
    symbol: str
    ts_recv: int  # ns, receive time of the event that revealed it
    from_id: int | None  # last update id applied
    to_id: int | None  # first update id of the offending event
    reason: str  # "sequence gap", "crossed book", "snapshot older than buffered deltas", ...


class BookGap(GapDetected):
    """A gap in a venue's book sequence; the book is in ``RESYNC`` and needs a fresh snapshot."""

    def __init__(self, record: BookGapRecord) -> None:
        super().__init__(
            f"{record.venue} {record.symbol} book: {record.reason} (last id {record.from_id}, "
            f"got {record.to_id}); fetch a fresh snapshot (Binance REST depth) or resubscribe"
        )
        self.record = record


@dataclass(kw_only=True)
class BookStats:
    """Counters for status pages and tests."""

    snapshots: int = 0
    deltas_applied: int = 0
    buffered: int = 0  # deltas ever buffered
    stale_dropped: int = 0
    heartbeats: int = 0
    resets: int = 0  # venue sequence resets (not gaps)
    gaps: int = 0  # sequence gaps (incl. crossed books)
    crossed: int = 0
    resyncs: int = 0  # snapshots applied while in RESYNC
    stale_snapshots: int = 0  # Binance snapshots older than the first buffered delta (fetch again)
    buffer_overflow: int = 0  # buffered deltas dropped because the buffer was full


class Depth(NamedTuple):
    """Resting size within ±pct of the mid: base coin and USD on each side."""

    bid_base: float
    ask_base: float
    bid_usd: float
    ask_usd: float


class BookArrays(NamedTuple):
    """The whole book as float64 arrays, best level first on each side."""

    bid_px: np.ndarray
    bid_sz: np.ndarray
    ask_px: np.ndarray
    ask_sz: np.ndarray


class SideLevels:
    """One side of a book: ``sizes`` price → size and ``prices`` ascending (bisect-maintained), so the best
    level is O(1); best-first numpy arrays are cached per version. Also the emulator's truth book."""

    __slots__ = ("_cache", "_cache_version", "_cum", "_cum_version", "is_bid", "prices", "sizes", "version")

    def __init__(self, *, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.prices: list[float] = []
        self.sizes: dict[float, float] = {}
        self.version = 0
        self._cache: tuple[np.ndarray, np.ndarray] | None = None
        self._cache_version = -1
        self._cum: tuple[np.ndarray, np.ndarray] | None = None
        self._cum_version = -1

    def clear(self) -> None:
        self.prices.clear()
        self.sizes.clear()
        self.version += 1

    def load(self, levels: Iterable[PriceLevel]) -> None:
        sizes = {float(p): float(s) for p, s in levels if s > 0.0}
        self.sizes = sizes
        self.prices = sorted(sizes)
        self.version += 1

    def update(self, levels: Iterable[PriceLevel]) -> None:
        """Set absolute sizes; size 0 deletes the level."""

        sizes, prices = self.sizes, self.prices
        for p, s in levels:
            if s > 0.0:
                if p not in sizes:
                    bisect.insort(prices, p)
                sizes[p] = s
            elif p in sizes:
                del sizes[p]
                del prices[bisect.bisect_left(prices, p)]
        self.version += 1

    def top(self, n: int) -> list[float]:
        """The best ``n`` prices, best first."""

        if n <= 0:
            return []
        return self.prices[: -n - 1 : -1] if self.is_bid else self.prices[:n]

    def best(self) -> float | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.is_bid else self.prices[0]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(prices, sizes) best first."""

        if self._cache is None or self._cache_version != self.version:
            order = self.prices[::-1] if self.is_bid else self.prices
            px = np.array(order, dtype=np.float64)
            sz = np.array(list(map(self.sizes.__getitem__, order)), dtype=np.float64)
            self._cache = (px, sz)
            self._cache_version = self.version
        return self._cache

    def cumulative(self) -> tuple[np.ndarray, np.ndarray]:
        """Cumulative size (base) and notional (USD) best first, with a leading 0: entry k sums the best k
        levels. Cached per version, so repeated depth queries between updates are a binary search."""

        if self._cum is None or self._cum_version != self.version:
            px, sz = self.arrays()
            self._cum = (
                np.concatenate(([0.0], np.cumsum(sz))),
                np.concatenate(([0.0], np.cumsum(sz * px))),
            )
            self._cum_version = self.version
        return self._cum


@dataclass(kw_only=True)
class _Seq:
    """Venue sequence bookkeeping."""

    last_id: int | None = None  # last applied update id (Binance u, Bybit u, OKX seqId, HL time)
    bridged: bool = False  # Binance: the first delta spanning lastUpdateId has been applied
    buffer: deque[BookDelta] = field(default_factory=deque)


class LocalBook:
    """The local order book of one venue symbol, kept in sync by that venue's sequence rules."""

    def __init__(
        self,
        venue: Venue | str,
        symbol: str,
        *,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        raise_on_gap: bool = False,
    ) -> None:
        self.venue = Venue(venue)
        self.symbol = symbol
        self.max_buffer = max_buffer
        self.raise_on_gap = raise_on_gap
        self.state = BookState.EMPTY
        self.stats = BookStats()
        self.gap_log: deque[BookGapRecord] = deque(maxlen=MAX_GAP_LOG)
        self.last_gap: BookGapRecord | None = None
        self.ts_event = 0  # ns of the last applied event
        self.ts_recv = 0
        self._bids = SideLevels(is_bid=True)
        self._asks = SideLevels(is_bid=False)
        self._seq = _Seq()
        self._replaying = False
        self._pending_raise: BookGapRecord | None = None

    # ------------------------------------------------------------------ state
    @property
    def synced(self) -> bool:
        """True when the levels can be trusted (Binance also needs the bridging delta)."""

        if self.state is not BookState.SYNCED:
            return False
        return self._seq.bridged or self.venue is not Venue.BINANCE

    @property
    def needs_snapshot(self) -> bool:
        """True until a (fresh) snapshot is applied: at start and after a gap."""

        return self.state is not BookState.SYNCED

    @property
    def needs_resync(self) -> bool:
        """True after a gap or crossed book, until a snapshot is applied."""

        return self.state is BookState.RESYNC

    @property
    def last_update_id(self) -> int | None:
        return self._seq.last_id

    @property
    def buffered(self) -> int:
        return len(self._seq.buffer)

    # ------------------------------------------------------------------ apply
    def apply(self, event: BookSnapshot | BookDelta) -> Applied:
        """Apply one normalized book event; raises :class:`BookGap` on a gap when ``raise_on_gap``."""

        if isinstance(event, BookSnapshot):
            return self.apply_snapshot(event)
        return self.apply_delta(event)

    def apply_many(self, events: Iterable[BookSnapshot | BookDelta]) -> list[Applied]:
        return [self.apply(e) for e in events]

    def apply_snapshot(self, snap: BookSnapshot) -> Applied:
        seq = self._seq
        if self.venue is Venue.HYPERLIQUID and seq.last_id is not None and snap.update_id < seq.last_id:
            self.stats.stale_dropped += 1  # an older block than the one we show
            return Applied.STALE
        if self.state is BookState.RESYNC:
            self.stats.resyncs += 1
        self.stats.snapshots += 1
        self._bids.load(snap.bids)
        self._asks.load(snap.asks)
        seq.last_id = snap.update_id
        seq.bridged = False
        self.state = BookState.SYNCED
        self._touch(snap.ts_event, snap.ts_recv)
        if self._is_crossed():
            return self._crossed(snap.ts_recv, snap.update_id)
        # Replay what arrived while we waited; a delta may itself reveal a new gap (state RESYNC again,
        # the remaining deltas go back to the buffer through apply_delta).
        pending = list(seq.buffer)
        seq.buffer.clear()
        self._replaying = True
        try:
            for delta in pending:
                self._apply_delta(delta, replay=True)
        finally:
            self._replaying = False
        if self.state is BookState.RESYNC:
            if self.raise_on_gap and self._pending_raise is not None:
                rec, self._pending_raise = self._pending_raise, None
                raise BookGap(rec)
            return Applied.GAP
        return Applied.SNAPSHOT

    def apply_delta(self, delta: BookDelta) -> Applied:
        return self._apply_delta(delta, replay=False)

    def _apply_delta(self, delta: BookDelta, *, replay: bool) -> Applied:
        if self.state is not BookState.SYNCED:
            if self.venue is Venue.BYBIT and delta.update_id == 1:
                pass  # Bybit u == 1: a full book from a restarted service; handled below
            else:
                self._buffer(delta, replay=replay)
                return Applied.BUFFERED
        if self.venue is Venue.BINANCE:
            return self._binance(delta)
        if self.venue is Venue.BYBIT:
            return self._bybit(delta)
        if self.venue is Venue.OKX:
            return self._okx(delta)
        raise ValueError("hyperliquid books are snapshots only (l2Book); got a BookDelta")

    def _binance(self, d: BookDelta) -> Applied:
        seq = self._seq
        last = seq.last_id
        assert last is not None
        if d.update_id < last:
            self.stats.stale_dropped += 1
            return Applied.STALE
        if not seq.bridged:
            first = d.first_update_id if d.first_update_id is not None else d.update_id
            if first > last:
                # The snapshot is older than the oldest delta we hold, so it cannot be completed: fetch
                # another one (this delta stays buffered). Not a stream gap: counted apart.
                self.stats.stale_snapshots += 1
                return self._gap(d, last, first, "snapshot older than buffered deltas", is_gap=False)
            seq.bridged = True
        elif d.prev_update_id != last:
            return self._gap(d, last, d.prev_update_id, "sequence gap (pu != previous u)")
        return self._commit(d)

    def _bybit(self, d: BookDelta) -> Applied:
        seq = self._seq
        if d.update_id == 1:
            # Bybit: "u=1 is a snapshot due to a service restart: overwrite the local book".
            self._bids.clear()
            self._asks.clear()
            self.stats.resets += 1
            if self.state is BookState.RESYNC:
                self.stats.resyncs += 1
            self.state = BookState.SYNCED
            self._seq.buffer.clear()
            out = self._commit(d)
            return Applied.RESET if out is Applied.APPLIED else out
        last = seq.last_id
        assert last is not None
        if d.update_id <= last:
            self.stats.stale_dropped += 1
            return Applied.STALE
        if d.update_id != last + 1:
            return self._gap(d, last, d.update_id, "sequence gap (u != previous u + 1)")
        return self._commit(d)

    def _okx(self, d: BookDelta) -> Applied:
        seq = self._seq
        last = seq.last_id
        if d.prev_update_id is None:
            raise ValueError("okx book delta without prevSeqId")
        if d.prev_update_id != last:
            if last is not None and d.prev_update_id <= d.update_id <= last and d.prev_update_id < last:
                # an older message delivered again (seqIds only grow between resets)
                self.stats.stale_dropped += 1
                return Applied.STALE
            return self._gap(d, last, d.prev_update_id, "sequence gap (prevSeqId != previous seqId)")
        if d.update_id == d.prev_update_id:
            # OKX heartbeat: no change for a while, same seqId (levels empty)
            self.stats.heartbeats += 1
            self._touch(d.ts_event, d.ts_recv)
            if d.bids or d.asks:
                return self._commit(d)
            return Applied.HEARTBEAT
        out = self._commit(d)
        if d.update_id < d.prev_update_id and out is Applied.APPLIED:
            self.stats.resets += 1  # maintenance: seqId restarts lower, the prevSeqId chain still holds
            return Applied.RESET
        return out

    def _commit(self, d: BookDelta) -> Applied:
        if d.bids:
            self._bids.update(d.bids)
        if d.asks:
            self._asks.update(d.asks)
        self._seq.last_id = d.update_id
        self.stats.deltas_applied += 1
        self._touch(d.ts_event, d.ts_recv)
        if (d.bids or d.asks) and self._is_crossed():
            return self._crossed(d.ts_recv, d.update_id)
        return Applied.APPLIED

    def _buffer(self, d: BookDelta, *, replay: bool) -> None:
        buf = self._seq.buffer
        if len(buf) >= self.max_buffer:
            buf.popleft()
            self.stats.buffer_overflow += 1
        buf.append(d)
        if not replay:
            self.stats.buffered += 1

    def _record(
        self, ts_recv: int, from_id: int | None, to_id: int | None, reason: str, *, is_gap: bool = True
    ) -> BookGapRecord:
        rec = BookGapRecord(
            venue=self.venue.value,
            symbol=self.symbol,
            ts_recv=ts_recv,
            from_id=from_id,
            to_id=to_id,
            reason=reason,
        )
        if is_gap:
            self.gap_log.append(rec)
            self.last_gap = rec
            self.stats.gaps += 1
        self.state = BookState.RESYNC
        self._seq.bridged = False
        return rec

    def _gap(
        self, d: BookDelta, from_id: int | None, to_id: int | None, reason: str, *, is_gap: bool = True
    ) -> Applied:
        rec = self._record(d.ts_recv, from_id, to_id, reason, is_gap=is_gap)
        self._seq.buffer.clear()
        self._buffer(d, replay=True)
        return self._raise_or(rec, Applied.GAP)

    def _raise_or(self, rec: BookGapRecord, result: Applied) -> Applied:
        """Raise BookGap when asked to, except while replaying the buffer (raise after the replay)."""

        if self.raise_on_gap:
            if self._replaying:
                self._pending_raise = rec
            else:
                raise BookGap(rec)
        return result

    def _crossed(self, ts_recv: int, update_id: int) -> Applied:
        self.stats.crossed += 1
        if self.venue is Venue.HYPERLIQUID:
            return Applied.CROSSED  # snapshots only: the next block replaces it, nothing to resync
        bid, ask = self._bids.best(), self._asks.best()
        rec = self._record(ts_recv, self._seq.last_id, update_id, f"crossed book (bid {bid} >= ask {ask})")
        # deltas buffered before a crossed snapshot stay: the stream is fine, the snapshot was not
        return self._raise_or(rec, Applied.CROSSED)

    def _touch(self, ts_event: int, ts_recv: int) -> None:
        self.ts_event = ts_event
        self.ts_recv = ts_recv

    def _is_crossed(self) -> bool:
        bid, ask = self._bids.best(), self._asks.best()
        return bid is not None and ask is not None and bid >= ask

    # ------------------------------------------------------------------ queries
    @property
    def crossed(self) -> bool:
        return self._is_crossed()

    def best_bid(self) -> PriceLevel | None:
        p = self._bids.best()
        return None if p is None else (p, self._bids.sizes[p])

    def best_ask(self) -> PriceLevel | None:
        p = self._asks.best()
        return None if p is None else (p, self._asks.sizes[p])

    def mid(self) -> float | None:
        bid, ask = self._bids.best(), self._asks.best()
        if bid is None or ask is None:
            return None
        return (bid + ask) / 2.0

    def spread(self) -> float | None:
        bid, ask = self._bids.best(), self._asks.best()
        if bid is None or ask is None:
            return None
        return ask - bid

    def __len__(self) -> int:
        return len(self._bids.prices) + len(self._asks.prices)

    def size_at(self, side: BookSide | Side, price: float) -> float:
        return self._side(side).sizes.get(float(price), 0.0)

    def levels(self, side: BookSide | Side, n: int | None = None) -> list[PriceLevel]:
        """The best ``n`` levels of a side (all when None), best first."""

        s = self._side(side)
        prices = s.prices
        if s.is_bid:
            chosen = prices[::-1] if n is None else prices[: -n - 1 : -1] if n > 0 else []
        else:
            chosen = prices if n is None else prices[: max(n, 0)]
        return [(p, s.sizes[p]) for p in chosen]

    def to_arrays(self) -> BookArrays:
        bp, bs = self._bids.arrays()
        ap, az = self._asks.arrays()
        return BookArrays(bp, bs, ap, az)

    def depth_within(self, pct: float) -> Depth:
        """Resting size within ±``pct`` percent of the mid (pct=1.0 → ±1 %), base coin and USD."""

        out = self.depth_profile([pct])
        return Depth(*(float(x) for x in out[0]))

    def depth_profile(self, pcts: Sequence[float] | np.ndarray) -> np.ndarray:
        """Depth for many bands at once: shape (len(pcts), 4) = bid_base, ask_base, bid_usd, ask_usd."""

        bands = np.asarray(pcts, dtype=np.float64)
        out = np.zeros((bands.size, 4), dtype=np.float64)
        mid = self.mid()
        if mid is None:
            return out
        bp, _ = self._bids.arrays()
        ap, _ = self._asks.arrays()
        # cumulative sums best-first; a band's total is the cumsum at the count of levels inside it
        b_cum, b_usd = self._bids.cumulative()
        a_cum, a_usd = self._asks.cumulative()
        lo = mid * (1.0 - bands / 100.0)
        hi = mid * (1.0 + bands / 100.0)
        # bids are descending: count of bid prices >= lo
        nb = bp.size - np.searchsorted(bp[::-1], lo, side="left")
        na = np.searchsorted(ap, hi, side="right")
        out[:, 0] = b_cum[nb]
        out[:, 1] = a_cum[na]
        out[:, 2] = b_usd[nb]
        out[:, 3] = a_usd[na]
        return out

    def imbalance(self, pct: float) -> float | None:
        """(bid − ask) / (bid + ask) of the USD depth within ±pct; None for an empty band."""

        d = self.depth_within(pct)
        total = d.bid_usd + d.ask_usd
        return None if total <= 0 else (d.bid_usd - d.ask_usd) / total

    def side(self, side: BookSide | Side) -> SideLevels:
        """The levels of one side (read only: change the book through :meth:`apply`)."""

        return self._side(side)

    def _side(self, side: BookSide | Side) -> SideLevels:
        if side in ("bid", Side.BUY):
            return self._bids
        if side in ("ask", Side.SELL):
            return self._asks
        raise ValueError(f"side must be 'bid' or 'ask', got {side!r}")

    def __repr__(self) -> str:
        return (
            f"LocalBook({self.venue.value} {self.symbol} {self.state.value} id={self._seq.last_id} "
            f"bid={self.best_bid()} ask={self.best_ask()} levels={len(self)})"
        )


class BookSet:
    """Books for many (venue, symbol) pairs; dispatches normalized book events to the right one."""

    def __init__(self, *, max_buffer: int = DEFAULT_MAX_BUFFER, raise_on_gap: bool = False) -> None:
        self.max_buffer = max_buffer
        self.raise_on_gap = raise_on_gap
        self.books: dict[tuple[Venue, str], LocalBook] = {}

    def book(self, venue: Venue | str, symbol: str) -> LocalBook:
        key = (Venue(venue), symbol)
        found = self.books.get(key)
        if found is None:
            found = LocalBook(key[0], symbol, max_buffer=self.max_buffer, raise_on_gap=self.raise_on_gap)
            self.books[key] = found
        return found

    def apply(self, event: BookSnapshot | BookDelta) -> Applied:
        return self.book(event.venue, event.symbol).apply(event)

    def needing_snapshot(self) -> list[LocalBook]:
        return [b for b in self.books.values() if b.needs_snapshot]

    def __iter__(self) -> Iterator[LocalBook]:
        return iter(self.books.values())

    def __len__(self) -> int:
        return len(self.books)
