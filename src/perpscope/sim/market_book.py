"""A simple stochastic resting book around the simulated price, emitted with each venue's sequence rules.

Levels sit on a fixed lattice (``book_level_bps`` apart) beyond a one-tick touch on each side of the last
price, so most levels persist from step to step and a delta carries only what changed: levels that moved
out of (or into) the window, the touch, and a few random size refreshes. Sizes are exponential around
``book_depth_fraction × venue OI`` USD per level, growing away from the touch. Sequence numbers follow the
venue: Binance ``U/u/pu`` (the snapshot's ``lastUpdateId`` falls inside the first delta, as with the REST
snapshot), Bybit ``u`` + 1 per message with a cross sequence, OKX ``seqId``/``prevSeqId``, Hyperliquid a
top-20 snapshot per step stamped with its time in ms.
"""

from __future__ import annotations

import math
import random

from ..model import BookDelta, BookSnapshot, PriceLevel, Venue
from ..timeutil import NS_PER_MS

HYPERLIQUID_LEVELS = 20  # l2Book carries 20 levels per side
REFRESH_PER_SIDE = 2  # random size refreshes per side and update


class BookSim:
    """The resting book of one venue+symbol; call :meth:`update` once per step, in time order."""

    def __init__(
        self,
        *,
        venue: Venue,
        symbol: str,
        tick: float,
        levels: int,
        level_bps: float,
        depth_usd: float,
        first_id: int,
    ) -> None:
        self.venue = venue
        self.symbol = symbol
        self.tick = tick
        self.levels = levels
        self.level_bps = level_bps
        self.depth_usd = depth_usd
        self.decimals = max(0, -math.floor(math.log10(tick)) + 2)
        self.spacing = 0  # lattice spacing in ticks, fixed at the first snapshot
        self.bids: dict[int, float] = {}
        self.asks: dict[int, float] = {}
        self.last_id = first_id
        self.cross_seq = first_id * 7
        self.snapshotted = False
        self.overlap = False  # Binance: the next delta starts at the snapshot's lastUpdateId
        self._px_cache: dict[int, float] = {}

    # ------------------------------------------------------------------ helpers

    def _px(self, idx: int) -> float:
        px = self._px_cache.get(idx)
        if px is None:
            if len(self._px_cache) > 100_000:
                self._px_cache.clear()
            px = self._px_cache[idx] = round(idx * self.tick, self.decimals)
        return px

    def _size(self, rng: random.Random, price: float, rank: int) -> float:
        base = self.depth_usd / price
        return max(round(base * (0.25 + rng.expovariate(1.0)) * (1.0 + 0.08 * rank), 6), 1e-6)

    def _desired(self, p_idx: int) -> tuple[list[int], list[int]]:
        s = self.spacing
        best_bid, best_ask = p_idx - 1, p_idx + 1
        first_b = ((best_bid - 1) // s) * s
        first_a = -((-(best_ask + 1)) // s) * s
        bids = [best_bid] + [first_b - i * s for i in range(self.levels - 1)]
        asks = [best_ask] + [first_a + i * s for i in range(self.levels - 1)]
        return bids, asks

    def _levels(self, book: dict[int, float], *, reverse: bool, top: int | None = None) -> list[PriceLevel]:
        keys = sorted(book, reverse=reverse)[:top]
        return [(self._px(i), book[i]) for i in keys]

    # ------------------------------------------------------------------ events

    def update(self, ts_ns: int, price: float, rng: random.Random) -> BookSnapshot | BookDelta:
        """Move the book to ``price`` and return the event a venue would send for it."""

        p_idx = round(price / self.tick)
        if self.spacing == 0:
            self.spacing = max(1, round(price * self.level_bps * 1e-4 / self.tick))
        want_b, want_a = self._desired(p_idx)
        changes: list[tuple[bool, int, float]] = []
        for is_bid, book, want in ((True, self.bids, want_b), (False, self.asks, want_a)):
            wanted = set(want)
            for idx in [i for i in book if i not in wanted]:
                del book[idx]
                changes.append((is_bid, idx, 0.0))
            for rank, idx in enumerate(want):
                if idx not in book or rank == 0:
                    book[idx] = self._size(rng, price, rank)
                    changes.append((is_bid, idx, book[idx]))
            for _ in range(REFRESH_PER_SIDE):
                pick = rng.randrange(1, len(want))
                idx = want[pick]
                book[idx] = self._size(rng, price, pick)
                changes.append((is_bid, idx, book[idx]))
        if self.venue is Venue.HYPERLIQUID:
            return self._snapshot(ts_ns, top=HYPERLIQUID_LEVELS, update_id=ts_ns // NS_PER_MS)
        if not self.snapshotted:
            self.snapshotted = True
            self.last_id += 1
            self.cross_seq += 1
            self.overlap = True
            return self._snapshot(ts_ns, top=None, update_id=self.last_id)
        return self._delta(ts_ns, changes)

    def snapshot(self, ts_ns: int) -> BookSnapshot:
        """The current book as a snapshot (what a REST depth request would return now)."""

        top = HYPERLIQUID_LEVELS if self.venue is Venue.HYPERLIQUID else None
        uid = ts_ns // NS_PER_MS if self.venue is Venue.HYPERLIQUID else self.last_id
        return self._snapshot(ts_ns, top=top, update_id=uid)

    def _snapshot(self, ts_ns: int, *, top: int | None, update_id: int) -> BookSnapshot:
        return BookSnapshot(
            venue=self.venue,
            symbol=self.symbol,
            ts_event=ts_ns,
            ts_recv=ts_ns,
            bids=self._levels(self.bids, reverse=True, top=top),
            asks=self._levels(self.asks, reverse=False, top=top),
            update_id=update_id,
            cross_seq=self.cross_seq if self.venue is Venue.BYBIT else None,
        )

    def _delta(self, ts_ns: int, changes: list[tuple[bool, int, float]]) -> BookDelta:
        final: dict[tuple[bool, int], float] = {}
        for is_bid, idx, size in changes:
            final[(is_bid, idx)] = size  # the last change of a level wins
        bids = sorted(((i, s) for (b, i), s in final.items() if b), reverse=True)
        asks = sorted((i, s) for (b, i), s in final.items() if not b)
        bid_levels = [(self._px(i), s) for i, s in bids]
        ask_levels = [(self._px(i), s) for i, s in asks]
        prev = self.last_id
        common = {
            "venue": self.venue,
            "symbol": self.symbol,
            "ts_event": ts_ns,
            "ts_recv": ts_ns,
            "bids": bid_levels,
            "asks": ask_levels,
        }
        if self.venue is Venue.BINANCE:
            first = prev if self.overlap else prev + 1
            self.last_id = prev + max(1, len(final))
            self.overlap = False
            return BookDelta(**common, update_id=self.last_id, first_update_id=first, prev_update_id=prev)
        if self.venue is Venue.BYBIT:
            self.last_id = prev + 1
            self.cross_seq += max(1, len(final))
            return BookDelta(**common, update_id=self.last_id, cross_seq=self.cross_seq)
        # OKX: seqId grows by the number of changes, prevSeqId chains to the previous message
        self.last_id = prev + max(1, len(final))
        return BookDelta(**common, update_id=self.last_id, prev_update_id=prev)
