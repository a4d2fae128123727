"""Cross-venue resting liquidity: books of several venues merged into common price buckets, and how much
rests between the current price and a level and around the level.

A cascade that runs through a price range empty of resting bids "falls through air"; one that meets thick
bids on the way, or at the level, is absorbed. ``resting_between`` and ``resting_around`` measure exactly
that, over all venues' books at once (base coin and USD).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ._columns import venue_order
from .orderflow import Book, BookLike, as_book, nice_tick

Books = Mapping[str, BookLike]
Closed = Literal["both", "left", "right", "neither"]


def _books(books: Books | BookLike) -> dict[str, Book]:
    if isinstance(books, Mapping):
        return {str(v): as_book(b) for v, b in sorted(books.items(), key=lambda kv: venue_order(str(kv[0])))}
    return {"book": as_book(books)}


def _bucket_index(price: np.ndarray, bucket: float) -> np.ndarray:
    # round first: 61800.3 / 0.1 is 618002.9999…, which must land in bucket 618003
    return np.floor(np.round(price / bucket, 6)).astype(np.int64)


@dataclass(frozen=True, kw_only=True)
class DepthProfile:
    """Resting size per price bucket per venue. Bucket ``k`` covers ``[lower[k], lower[k] + bucket)``;
    edges are multiples of ``bucket``, so profiles with the same bucket line up across venues and time."""

    bucket: float
    center: float  # the reference price the range was taken around
    lower: np.ndarray  # (K,)
    venues: tuple[str, ...]
    bid_base: np.ndarray  # (V, K)
    ask_base: np.ndarray
    bid_usd: np.ndarray
    ask_usd: np.ndarray

    @property
    def total_bid_base(self) -> np.ndarray:
        return self.bid_base.sum(axis=0)

    @property
    def total_ask_base(self) -> np.ndarray:
        return self.ask_base.sum(axis=0)

    @property
    def total_bid_usd(self) -> np.ndarray:
        return self.bid_usd.sum(axis=0)

    @property
    def total_ask_usd(self) -> np.ndarray:
        return self.ask_usd.sum(axis=0)

    def coarsen(self, factor: int) -> DepthProfile:
        """Merge buckets ``factor`` at a time (edges stay multiples of the new bucket). Totals are kept."""

        if factor < 1:
            raise ValueError("factor must be a positive integer")
        if factor == 1 or self.lower.size == 0:
            return self
        k = _bucket_index(self.lower, self.bucket)
        coarse = np.floor_divide(k, factor)
        c0 = int(coarse.min())
        idx = coarse - c0
        n = int(idx.max()) + 1

        def merge(m: np.ndarray) -> np.ndarray:
            out = np.zeros((m.shape[0], n))
            for r in range(m.shape[0]):
                out[r] = np.bincount(idx, weights=m[r], minlength=n)
            return out

        return DepthProfile(
            bucket=self.bucket * factor,
            center=self.center,
            lower=(c0 + np.arange(n)) * (self.bucket * factor),
            venues=self.venues,
            bid_base=merge(self.bid_base),
            ask_base=merge(self.ask_base),
            bid_usd=merge(self.bid_usd),
            ask_usd=merge(self.ask_usd),
        )

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per non-empty bucket: price range, totals and per-venue base sizes."""

        rows = []
        for k in np.flatnonzero((self.total_bid_base + self.total_ask_base) > 0):
            row: dict[str, Any] = {
                "price_low": float(self.lower[k]),
                "price_high": float(self.lower[k] + self.bucket),
                "bid_base": float(self.total_bid_base[k]),
                "ask_base": float(self.total_ask_base[k]),
                "bid_usd": float(self.total_bid_usd[k]),
                "ask_usd": float(self.total_ask_usd[k]),
            }
            for v, name in enumerate(self.venues):
                row[f"{name}_base"] = float(self.bid_base[v, k] + self.ask_base[v, k])
            rows.append(row)
        return rows


def depth_profile(
    books: Books | BookLike,
    *,
    bucket: float | None = None,
    range_pct: float = 0.05,
    center: float | None = None,
) -> DepthProfile:
    """Merge books (``{venue: book}`` or one book) into common buckets over ``center·(1 ± range_pct)``.
    ``center`` defaults to the median of the venues' mids, ``bucket`` to a 1/2/5 step giving about 100
    buckets over the range."""

    bk = _books(books)
    mids = np.array([b.mid for b in bk.values()])
    mids = mids[np.isfinite(mids)]
    c = float(center) if center is not None else (float(np.median(mids)) if mids.size else float("nan"))
    names = tuple(bk)
    if not np.isfinite(c) or c <= 0:
        z = np.zeros((len(names), 0))
        return DepthProfile(
            bucket=bucket or 1.0,
            center=c,
            lower=np.zeros(0),
            venues=names,
            bid_base=z,
            ask_base=z,
            bid_usd=z,
            ask_usd=z,
        )
    lo, hi = c * (1.0 - range_pct), c * (1.0 + range_pct)
    step = float(bucket) if bucket is not None else nice_tick(hi - lo, levels=100)
    if step <= 0:
        raise ValueError("bucket must be positive")
    k_lo, k_hi = int(_bucket_index(np.array([lo]), step)[0]), int(_bucket_index(np.array([hi]), step)[0])
    n = k_hi - k_lo + 1
    out = {key: np.zeros((len(names), n)) for key in ("bid_base", "ask_base", "bid_usd", "ask_usd")}
    for v, b in enumerate(bk.values()):
        for side, px, sz in (("bid", b.bid_px, b.bid_sz), ("ask", b.ask_px, b.ask_sz)):
            m = (px >= lo) & (px <= hi)
            idx = _bucket_index(px[m], step) - k_lo
            out[f"{side}_base"][v] = np.bincount(idx, weights=sz[m], minlength=n)
            out[f"{side}_usd"][v] = np.bincount(idx, weights=sz[m] * px[m], minlength=n)
    return DepthProfile(bucket=step, center=c, lower=(k_lo + np.arange(n)) * step, venues=names, **out)


@dataclass(frozen=True, kw_only=True)
class Resting:
    """Resting size in a price range: base coin and USD per side, over all venues (and per venue)."""

    price_low: float
    price_high: float
    bid_base: float
    ask_base: float
    bid_usd: float
    ask_usd: float
    by_venue: dict[str, Resting] = field(default_factory=dict)


def _in(px: np.ndarray, lo: float, hi: float, closed: Closed) -> np.ndarray:
    left = px >= lo if closed in ("both", "left") else px > lo
    right = px <= hi if closed in ("both", "right") else px < hi
    return left & right


def _resting_one(b: Book, lo: float, hi: float, closed: Closed) -> Resting:
    bm = _in(b.bid_px, lo, hi, closed)
    am = _in(b.ask_px, lo, hi, closed)
    return Resting(
        price_low=lo,
        price_high=hi,
        bid_base=float(b.bid_sz[bm].sum()),
        ask_base=float(b.ask_sz[am].sum()),
        bid_usd=float((b.bid_sz[bm] * b.bid_px[bm]).sum()),
        ask_usd=float((b.ask_sz[am] * b.ask_px[am]).sum()),
    )


def resting_in(
    books: Books | BookLike, price_low: float, price_high: float, *, closed: Closed = "both"
) -> Resting:
    """Resting size with price between ``price_low`` and ``price_high`` (ends included per ``closed``),
    summed over venues."""

    lo, hi = min(price_low, price_high), max(price_low, price_high)
    per = {v: _resting_one(b, lo, hi, closed) for v, b in _books(books).items()}
    return Resting(
        price_low=lo,
        price_high=hi,
        bid_base=sum(r.bid_base for r in per.values()),
        ask_base=sum(r.ask_base for r in per.values()),
        bid_usd=sum(r.bid_usd for r in per.values()),
        ask_usd=sum(r.ask_usd for r in per.values()),
        by_venue=per,
    )


def resting_between(books: Books | BookLike, from_price: float, to_price: float) -> Resting:
    """What rests between the current price and a level (either order): below price the bids are what
    a fall must eat through, above price the asks are what a rise must lift."""

    return resting_in(books, from_price, to_price)


def resting_around(books: Books | BookLike, level: float, pct: float) -> Resting:
    """What rests within ``level·(1 ± pct)`` (pct a fraction: 0.002 = ±0.2 %)."""

    return resting_in(books, level * (1.0 - pct), level * (1.0 + pct))
