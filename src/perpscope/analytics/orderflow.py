"""Order flow: cumulative volume delta (CVD), order-book imbalance (OBI), the CVD × OBI quadrant, and
footprint bars.

* CVD: taker buy volume minus taker sell volume, cumulated (base coin and USD). Kept as cumulative arrays so
  any window is two lookups: ``cvd.window(a, b)`` covers trades with ``a <= ts < b``, hence adjacent windows
  add up exactly to their union.
* OBI: ``(bids − asks) / (bids + asks)`` of resting size (base coin) within ±``pct`` of the mid (default
  0.5 %); in [−1, 1], positive when bids outweigh asks. Aggregated across venues by summing each venue's
  band (each around its own mid).
* Quadrant: CVD change × OBI, four named quadrants (``Quadrant``), ``neutral`` inside the thresholds.
* Footprint: traded volume at price per time bar, split by aggressor (one ``np.bincount`` over bar × level).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pyarrow as pa

from ..model import BookSnapshot, Trade
from ._columns import ALL, Columnar, as_str_array, columns, venue_order

DEFAULT_OBI_PCT = 0.005  # ±0.5 % of mid


# --------------------------------------------------------------------------------------------------------
# CVD


def aggressor_sign(side: Any) -> np.ndarray:
    """+1 for a taker buy, −1 for a taker sell. Accepts 'buy'/'sell' (any case, or Side), bool (True =
    buy) or signed numbers."""

    arr = np.asarray(side)
    if arr.dtype == bool:
        return np.where(arr, 1.0, -1.0)
    if arr.dtype.kind in "iuf":
        return np.sign(arr).astype(np.float64)
    text = np.char.lower(as_str_array(arr).astype(str)) if arr.size else arr.astype(str)
    buy = text == "buy"
    bad = ~buy & (text != "sell")
    if bad.any():
        raise ValueError(f"trade side must be 'buy' or 'sell', got {text[bad][0]!r}")
    return np.where(buy, 1.0, -1.0)


@dataclass(frozen=True, kw_only=True)
class CVD:
    """Cumulative volume delta of a trade stream, by time. ``cum_*[i]`` covers the first ``i`` trades
    (``cum_*[0] == 0``), so a window is a difference of two entries."""

    ts_ns: np.ndarray  # (N,) sorted
    cum_base: np.ndarray  # (N + 1,) signed base volume
    cum_usd: np.ndarray  # (N + 1,) signed notional
    cum_volume_base: np.ndarray  # (N + 1,) unsigned base volume, to judge how one-sided a window is

    def _index(self, t: int | None, default: int) -> int:
        return default if t is None else int(np.searchsorted(self.ts_ns, t, side="left"))

    def window(self, start_ns: int | None = None, end_ns: int | None = None) -> tuple[float, float]:
        """``(base, usd)`` delta of trades with ``start <= ts < end`` (None = open end)."""

        a = self._index(start_ns, 0)
        b = self._index(end_ns, self.ts_ns.size)
        b = max(a, b)
        return float(self.cum_base[b] - self.cum_base[a]), float(self.cum_usd[b] - self.cum_usd[a])

    def volume(self, start_ns: int | None = None, end_ns: int | None = None) -> float:
        """Unsigned base volume of the same window."""

        a = self._index(start_ns, 0)
        b = max(a, self._index(end_ns, self.ts_ns.size))
        return float(self.cum_volume_base[b] - self.cum_volume_base[a])

    def at(self, ts_ns: Any) -> tuple[np.ndarray, np.ndarray]:
        """CVD (base, usd) of the trades strictly before each time: a step series for charts."""

        i = np.searchsorted(self.ts_ns, np.asarray(ts_ns, dtype=np.int64), side="left")
        return self.cum_base[i], self.cum_usd[i]

    def bars(self, edges_ns: Any) -> tuple[np.ndarray, np.ndarray]:
        """Per-interval delta between consecutive ``edges_ns`` (base, usd), each ``edges[k] <= ts <
        edges[k+1]``."""

        base, usd = self.at(edges_ns)
        return np.diff(base), np.diff(usd)


def cvd(ts_ns: Any, side: Any, quantity: Any, price: Any) -> CVD:
    """CVD of one stream (any venues mixed: that is the aggregate). Trades are ordered by time (stable)."""

    ts = np.asarray(ts_ns, dtype=np.int64)
    order = np.argsort(ts, kind="stable")
    qty = np.asarray(quantity, dtype=np.float64)[order]
    signed = aggressor_sign(side)[order] * qty
    px = np.asarray(price, dtype=np.float64)[order]
    zero = np.zeros(1)
    return CVD(
        ts_ns=ts[order],
        cum_base=np.concatenate((zero, np.cumsum(signed))),
        cum_usd=np.concatenate((zero, np.cumsum(signed * px))),
        cum_volume_base=np.concatenate((zero, np.cumsum(np.abs(qty)))),
    )


def _trade_columns(trades: Columnar | Iterable[Trade]) -> dict[str, np.ndarray]:
    if not isinstance(trades, pa.Table | pa.RecordBatch | Mapping | Sequence):
        trades = list(trades)
    return columns(trades, ("ts_event", "side", "quantity", "price"), optional=("venue", "symbol"))


def cvd_by_venue(trades: Columnar | Iterable[Trade]) -> dict[str, CVD]:
    """CVD per venue plus ``"all"`` (every venue together) from trades of ONE symbol (table columns
    ``ts_event, venue, side, quantity, price`` or ``Trade`` events)."""

    c = _trade_columns(trades)
    out: dict[str, CVD] = {}
    if "venue" in c:
        ven = as_str_array(c["venue"]).astype(str)
        for v in sorted(set(ven.tolist()), key=venue_order):
            m = ven == v
            out[v] = cvd(c["ts_event"][m], c["side"][m], c["quantity"][m], c["price"][m])
    out[ALL] = cvd(c["ts_event"], c["side"], c["quantity"], c["price"])
    return out


# --------------------------------------------------------------------------------------------------------
# order book imbalance


@dataclass(frozen=True, kw_only=True)
class Book:
    """One venue's book as arrays, best level first on each side, positive sizes only."""

    bid_px: np.ndarray
    bid_sz: np.ndarray
    ask_px: np.ndarray
    ask_sz: np.ndarray

    @property
    def mid(self) -> float:
        """Mid of best bid and ask; NaN if a side is empty."""

        if self.bid_px.size == 0 or self.ask_px.size == 0:
            return float("nan")
        return 0.5 * (float(self.bid_px[0]) + float(self.ask_px[0]))

    @classmethod
    def from_levels(cls, bids: Iterable[Sequence[float]], asks: Iterable[Sequence[float]]) -> Book:
        b = np.asarray(list(bids), dtype=np.float64).reshape(-1, 2)
        a = np.asarray(list(asks), dtype=np.float64).reshape(-1, 2)
        return as_book((b[:, 0], b[:, 1], a[:, 0], a[:, 1]))


BookLike = Book | BookSnapshot | tuple[Any, Any, Any, Any] | Any


def as_book(obj: BookLike) -> Book:
    """A ``Book`` from: a Book; a ``(bid_px, bid_sz, ask_px, ask_sz)`` tuple of arrays (any order); a
    ``BookSnapshot``; or anything with ``to_arrays()`` returning such a tuple (``feed.book.LocalBook``)."""

    if isinstance(obj, Book):
        return obj
    if isinstance(obj, BookSnapshot):
        return Book.from_levels(obj.bids, obj.asks)
    if hasattr(obj, "to_arrays"):
        obj = obj.to_arrays()
    try:
        bp, bs, ap, az = (np.asarray(x, dtype=np.float64).ravel() for x in obj)
    except (TypeError, ValueError):
        raise TypeError(f"cannot read a book from {type(obj).__name__}") from None
    if bp.size != bs.size or ap.size != az.size:
        raise ValueError("book arrays: prices and sizes must have the same length per side")
    bk, ak = bs > 0, az > 0
    bp, bs, ap, az = bp[bk], bs[bk], ap[ak], az[ak]
    bo, ao = np.argsort(-bp, kind="stable"), np.argsort(ap, kind="stable")
    return Book(bid_px=bp[bo], bid_sz=bs[bo], ask_px=ap[ao], ask_sz=az[ao])


def band_sizes(
    book: BookLike, *, pct: float = DEFAULT_OBI_PCT, mid: float | None = None
) -> tuple[float, float]:
    """Resting ``(bid, ask)`` base size with price within ``mid·(1 ± pct)`` (pct is a fraction)."""

    b = as_book(book)
    m = b.mid if mid is None else float(mid)
    if not np.isfinite(m):
        return 0.0, 0.0
    lo, hi = m * (1.0 - pct), m * (1.0 + pct)
    bid = float(b.bid_sz[(b.bid_px >= lo) & (b.bid_px <= hi)].sum())
    ask = float(b.ask_sz[(b.ask_px >= lo) & (b.ask_px <= hi)].sum())
    return bid, ask


def imbalance_from_sizes(bid: Any, ask: Any) -> Any:
    """``(bid − ask)/(bid + ask)``, NaN where both are zero (vectorized)."""

    b = np.asarray(bid, dtype=np.float64)
    a = np.asarray(ask, dtype=np.float64)
    tot = b + a
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(tot > 0, (b - a) / np.where(tot > 0, tot, 1.0), np.nan)
    return np.clip(out, -1.0, 1.0) if out.ndim else float(np.clip(out, -1.0, 1.0))


def book_imbalance(book: BookLike, *, pct: float = DEFAULT_OBI_PCT, mid: float | None = None) -> float:
    """OBI of one book within ±pct of its mid (or of ``mid``); NaN for an empty band."""

    return float(imbalance_from_sizes(*band_sizes(book, pct=pct, mid=mid)))


def imbalance_by_venue(books: Mapping[str, BookLike], *, pct: float = DEFAULT_OBI_PCT) -> dict[str, float]:
    """OBI per venue and ``"all"`` (bands summed over venues, each around its own mid)."""

    sizes = {str(v): band_sizes(b, pct=pct) for v, b in books.items()}
    out = {v: float(imbalance_from_sizes(*sizes[v])) for v in sorted(sizes, key=venue_order)}
    bid_all = sum(s[0] for s in sizes.values())
    ask_all = sum(s[1] for s in sizes.values())
    out[ALL] = float(imbalance_from_sizes(bid_all, ask_all))
    return out


# --------------------------------------------------------------------------------------------------------
# quadrant


class Quadrant(StrEnum):
    """Where flow (CVD change) meets the book (OBI). Names say what the tape and the book are doing."""

    # CVD up, OBI > 0: takers lift offers and bids stack underneath: the book backs the buying
    BUYING_WITH_SUPPORT = "buying-with-support"
    # CVD up, OBI < 0: takers lift offers into heavier resting asks: supply absorbs the buying
    BUYING_INTO_WALL = "buying-into-wall"
    # CVD down, OBI > 0: takers hit bids into heavier resting bids: the selling is being absorbed
    SELLING_ABSORBED = "selling-absorbed"
    # CVD down, OBI < 0: takers hit bids while asks outweigh them: little stands under the selling
    SELLING_INTO_THIN_BIDS = "selling-into-thin-bids"
    # |CVD| or |OBI| inside the thresholds
    NEUTRAL = "neutral"


QUADRANT_MEANING: dict[Quadrant, str] = {
    Quadrant.BUYING_WITH_SUPPORT: "aggressive buying with bids stacked below: the book supports the move",
    Quadrant.BUYING_INTO_WALL: "aggressive buying into heavier offers: if the wall holds, the buying stalls",
    Quadrant.SELLING_ABSORBED: "aggressive selling into heavier bids: passive buyers are absorbing it",
    Quadrant.SELLING_INTO_THIN_BIDS: "aggressive selling over thin bids: little resting demand to stop it",
    Quadrant.NEUTRAL: "flow or book too balanced to call",
}


_QUADRANT_BY_CODE = np.array(
    [
        Quadrant.BUYING_WITH_SUPPORT,
        Quadrant.BUYING_INTO_WALL,
        Quadrant.SELLING_ABSORBED,
        Quadrant.SELLING_INTO_THIN_BIDS,
        Quadrant.NEUTRAL,
    ],
    dtype=object,
)


def classify_quadrants(
    cvd_change: Any, obi: Any, *, min_cvd: float = 0.0, min_obi: float = 0.0
) -> np.ndarray:
    """Quadrant of each CVD change × OBI pair (object array of Quadrant). Neutral when ``|cvd| <= min_cvd``
    or ``|obi| <= min_obi`` or either is NaN."""

    c = np.asarray(cvd_change, dtype=np.float64)
    o = np.asarray(obi, dtype=np.float64)
    up, down = c > min_cvd, c < -min_cvd
    bid_heavy, ask_heavy = o > min_obi, o < -min_obi
    codes = np.select([up & bid_heavy, up & ask_heavy, down & bid_heavy, down & ask_heavy], [0, 1, 2, 3], 4)
    return _QUADRANT_BY_CODE[codes]


def classify_quadrant(
    cvd_change: float, obi: float, *, min_cvd: float = 0.0, min_obi: float = 0.0
) -> Quadrant:
    """Scalar form of ``classify_quadrants``."""

    out = classify_quadrants(np.array([cvd_change]), np.array([obi]), min_cvd=min_cvd, min_obi=min_obi)
    return Quadrant(out[0])


@dataclass(frozen=True, kw_only=True)
class QuadrantRow:
    symbol: str
    venue: str  # or "all"
    cvd_base: float
    cvd_usd: float
    volume_base: float  # traded base volume in the window (|CVD| / volume says how one-sided)
    obi: float
    quadrant: Quadrant

    def to_dict(self) -> dict[str, Any]:
        def clean(v: float) -> float | None:
            return v if np.isfinite(v) else None

        return {
            "symbol": self.symbol,
            "venue": self.venue,
            "cvd_base": self.cvd_base,
            "cvd_usd": self.cvd_usd,
            "volume_base": self.volume_base,
            "obi": clean(self.obi),
            "quadrant": self.quadrant.value,
        }


def quadrant_rows(
    symbol: str,
    trades: Columnar | Iterable[Trade],
    books: Mapping[str, BookLike],
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    pct: float = DEFAULT_OBI_PCT,
    min_cvd_ratio: float = 0.02,
    min_obi: float = 0.05,
) -> list[QuadrantRow]:
    """One row per venue (with trades or a book) and ``all``: CVD over ``[start, end)``, OBI of the
    current books, quadrant. CVD counts as directional when ``|CVD| > min_cvd_ratio × volume`` (default:
    net 2 % of what traded), OBI when ``|OBI| > min_obi``."""

    flows = cvd_by_venue(trades)
    obis = imbalance_by_venue(books, pct=pct) if books else {ALL: float("nan")}
    venues = [*sorted((set(flows) | set(obis)) - {ALL}, key=venue_order), ALL]
    rows = []
    for v in venues:
        f = flows.get(v)
        base, usd = f.window(start_ns, end_ns) if f else (0.0, 0.0)
        vol = f.volume(start_ns, end_ns) if f else 0.0
        obi = obis.get(v, float("nan"))
        ratio = base / vol if vol > 0 else 0.0
        quad = classify_quadrant(ratio, obi, min_cvd=min_cvd_ratio, min_obi=min_obi)
        rows.append(
            QuadrantRow(
                symbol=symbol, venue=v, cvd_base=base, cvd_usd=usd, volume_base=vol, obi=obi, quadrant=quad
            )
        )
    return rows


# --------------------------------------------------------------------------------------------------------
# footprint


@dataclass(frozen=True, kw_only=True)
class Footprint:
    """Traded base volume at price per bar, split by aggressor. ``buy[b, l]`` is taker-buy volume in bar
    ``b`` (``bar_start_ns[b]`` + ``bar_ns``) at price level ``l`` (``price[l]`` … ``price[l] + tick``)."""

    bar_ns: int
    tick: float
    bar_start_ns: np.ndarray  # (B,)
    price: np.ndarray  # (L,) lower edge of each level
    buy: np.ndarray  # (B, L)
    sell: np.ndarray  # (B, L)

    @property
    def delta(self) -> np.ndarray:
        return self.buy - self.sell

    @property
    def total(self) -> np.ndarray:
        return self.buy + self.sell

    @property
    def poc(self) -> np.ndarray:
        """Point of control per bar: the level with the most volume (NaN for an empty bar)."""

        tot = self.total
        idx = np.argmax(tot, axis=1) if tot.size else np.zeros(tot.shape[0], dtype=np.int64)
        return np.where(tot.sum(axis=1) > 0, self.price[idx] if self.price.size else np.nan, np.nan)


def nice_tick(span: float, *, levels: int = 50) -> float:
    """A 1/2/5×10^k step that cuts ``span`` into about ``levels`` rows."""

    if not np.isfinite(span) or span <= 0:
        return 1.0
    raw = span / levels
    mag = 10.0 ** np.floor(np.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if raw <= m * mag:
            return float(m * mag)
    return float(10.0 * mag)


MAX_FOOTPRINT_CELLS = 20_000_000


def footprint(
    ts_ns: Any,
    price: Any,
    quantity: Any,
    side: Any,
    *,
    bar_ns: int,
    tick: float | None = None,
    start_ns: int | None = None,
) -> Footprint:
    """Footprint bars of a trade stream. Bars are aligned to multiples of ``bar_ns`` (or to ``start_ns``)
    and empty bars in between are kept; levels are multiples of ``tick`` (default: ``nice_tick`` of the
    traded range)."""

    if bar_ns <= 0:
        raise ValueError("bar_ns must be positive")
    ts = np.asarray(ts_ns, dtype=np.int64)
    px = np.asarray(price, dtype=np.float64)
    qty = np.asarray(quantity, dtype=np.float64)
    buy = aggressor_sign(side) > 0
    if ts.size == 0:
        empty = np.zeros((0, 0))
        return Footprint(
            bar_ns=bar_ns,
            tick=tick or 1.0,
            bar_start_ns=np.zeros(0, np.int64),
            price=np.zeros(0),
            buy=empty,
            sell=empty,
        )
    if tick is None:
        tick = nice_tick(float(px.max() - px.min()))
    if tick <= 0:
        raise ValueError("tick must be positive")
    origin = (ts.min() // bar_ns) * bar_ns if start_ns is None else int(start_ns)
    keep = ts >= origin
    ts, px, qty, buy = ts[keep], px[keep], qty[keep], buy[keep]
    bar = (ts - origin) // bar_ns
    # round before floor so a price that is an exact multiple of tick (61800.3 / 0.1) is not put one below
    lvl_abs = np.floor(np.round(px / tick, 6)).astype(np.int64)
    lvl0 = int(lvl_abs.min()) if lvl_abs.size else 0
    lvl = lvl_abs - lvl0
    n_bars = int(bar.max()) + 1 if bar.size else 0
    n_lvls = int(lvl.max()) + 1 if lvl.size else 0
    if n_bars * n_lvls > MAX_FOOTPRINT_CELLS:
        raise ValueError(
            f"footprint would have {n_bars} bars × {n_lvls} price levels; use a larger --bar or tick"
        )
    flat = bar * n_lvls + lvl
    cells = n_bars * n_lvls
    buy_m = np.bincount(flat, weights=np.where(buy, qty, 0.0), minlength=cells).reshape(n_bars, n_lvls)
    sell_m = np.bincount(flat, weights=np.where(buy, 0.0, qty), minlength=cells).reshape(n_bars, n_lvls)
    return Footprint(
        bar_ns=bar_ns,
        tick=float(tick),
        bar_start_ns=origin + np.arange(n_bars, dtype=np.int64) * bar_ns,
        price=(lvl0 + np.arange(n_lvls)) * tick,
        buy=buy_m,
        sell=sell_m,
    )
