"""Depth-limited book streams (Bybit ``orderbook.50``, OKX ``books`` …): what a subscriber of a top-N stream
holds, and the delta that keeps it equal to the truth book's top N after each change. Levels leaving the
window are deleted, levels entering it are sent, so a client applying the deltas never drifts."""

from __future__ import annotations

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

    def levels(self) -> tuple[list[PriceLevel], list[PriceLevel]]:
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())

    def advance(self) -> tuple[list[PriceLevel], list[PriceLevel]]:
        """The delta from the published view to the truth's current top N (and apply it to the view)."""

        m = self.market
        out: list[list[PriceLevel]] = []
        for view, side in ((self.bids, m.bids), (self.asks, m.asks)):
            top = side.top(self.depth)
            sizes = side.sizes
            changes: list[PriceLevel] = []
            keep = set(top)
            for p in [p for p in view if p not in keep]:
                del view[p]
                changes.append((p, 0.0))
            for p in top:
                q = sizes[p]
                if view.get(p) != q:
                    view[p] = q
                    changes.append((p, q))
            out.append(changes)
        return out[0], out[1]
