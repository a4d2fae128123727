"""Depth-limited book streams (Bybit ``orderbook.50``, OKX ``books`` …): what a subscriber of a top-N stream
holds, and the delta that keeps it equal to the truth book's top N after each change. Levels leaving the
window are deleted, levels entering it are sent, so a client applying the deltas never drifts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ...model import PriceLevel
from .market import SymbolMarket


class DepthView:
    """The top-``depth`` levels of one symbol as published on one stream, with its sequence number."""

    __slots__ = ("asks", "bids", "depth", "gap_token", "last_push_ns", "market", "prev_seq", "seq")

    def __init__(self, market: SymbolMarket, depth: int, *, seq: int, gap_token: int) -> None:
        self.market = market
        self.depth = depth
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.seq = seq
        self.prev_seq = seq
        self.gap_token = gap_token
        self.last_push_ns = 0
        self.sync()

    def sync(self) -> tuple[list[PriceLevel], list[PriceLevel]]:
        """Reset the view to the truth's top N; returns it best first (a snapshot)."""

        b, a = self.market.top(self.depth)
        self.bids = dict(b)
        self.asks = dict(a)
        return b, a

    def levels(self, n: int | None = None) -> tuple[list[PriceLevel], list[PriceLevel]]:
        """The published levels best first (the best ``n`` of each side when given)."""

        bids = sorted(self.bids.items(), reverse=True)
        asks = sorted(self.asks.items())
        return (bids, asks) if n is None else (bids[:n], asks[:n])

    def advance(
        self,
        changed_bids: Sequence[PriceLevel] | None = None,
        changed_asks: Sequence[PriceLevel] | None = None,
    ) -> tuple[list[PriceLevel], list[PriceLevel]]:
        """The delta from the published view to the truth's current top N (and apply it to the view).

        ``changed_*`` are the truth's levels that just changed: with them only those and the levels crossing
        the window edge are examined (set operations in C); without them every level of the window is."""

        m = self.market
        out: list[list[PriceLevel]] = []
        for view, side, changed in ((self.bids, m.bids, changed_bids), (self.asks, m.asks, changed_asks)):
            top = side.top(self.depth)
            sizes = side.sizes
            changes: list[PriceLevel] = []
            top_set = set(top)
            for p in view.keys() - top_set:
                del view[p]
                changes.append((p, 0.0))
            if changed is None:
                candidates: Iterable[float] = top
            else:
                candidates = (top_set - view.keys()) | (top_set & {p for p, _ in changed})
            for p in candidates:
                q = sizes[p]
                if view.get(p) != q:
                    view[p] = q
                    changes.append((p, q))
            changes.sort(reverse=side.is_bid)  # as the venues list them: best first
            out.append(changes)
        return out[0], out[1]
