"""``BarSeries``: the engine's input for one venue and symbol, as float64/int64 column arrays."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import PerpscopeError
from ..model import Bar, Venue
from ..timeutil import NS_PER_MS, NS_PER_S


class SeriesError(PerpscopeError, ValueError):
    """Engine input that cannot be used (unsorted, mixed intervals, bad prices)."""


_OPTIONAL = ("volume", "taker_buy_volume", "quote_volume")


@dataclass(frozen=True, kw_only=True, eq=False)
class BarSeries:
    """Slots of one venue+symbol: ``ts_ns`` bar opens (int64 ns UTC, strictly increasing, on a grid of
    ``interval_s``), OHLC, one-sided open interest in USD at the bar's close, and optional volume and
    taker-buy volume (base coin) and quote volume (USD)."""

    venue: Venue
    symbol: str
    interval_s: int
    ts_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    oi_usd: np.ndarray
    volume: np.ndarray | None = None
    taker_buy_volume: np.ndarray | None = None
    quote_volume: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.ts_ns.shape[0]
        if self.interval_s <= 0:
            raise SeriesError("interval_s must be positive")
        for name in ("open", "high", "low", "close", "oi_usd", *_OPTIONAL):
            arr = getattr(self, name)
            if arr is not None and arr.shape != (n,):
                raise SeriesError(
                    f"{self.venue}/{self.symbol}: {name} has shape {arr.shape}, expected ({n},)"
                )
        if n and np.any(np.diff(self.ts_ns) <= 0):
            raise SeriesError(f"{self.venue}/{self.symbol}: timestamps must be strictly increasing")
        step = self.interval_s * NS_PER_S
        if n and np.any((self.ts_ns - self.ts_ns[0]) % step != 0):
            raise SeriesError(f"{self.venue}/{self.symbol}: bar opens are not on a {self.interval_s}s grid")
        prices = np.stack([self.open, self.high, self.low, self.close]) if n else np.zeros((4, 0))
        if not np.all(np.isfinite(prices)) or np.any(prices <= 0.0):
            raise SeriesError(f"{self.venue}/{self.symbol}: prices must be finite and positive")
        if np.any(self.high < np.maximum(self.open, self.close)) or np.any(
            self.low > np.minimum(self.open, self.close)
        ):
            raise SeriesError(f"{self.venue}/{self.symbol}: high/low do not contain open/close")
        if np.any(self.oi_usd[np.isfinite(self.oi_usd)] < 0.0):
            raise SeriesError(f"{self.venue}/{self.symbol}: negative open interest")

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])

    @property
    def interval_ns(self) -> int:
        return self.interval_s * NS_PER_S

    @classmethod
    def from_arrays(
        cls,
        *,
        venue: Venue | str,
        symbol: str,
        interval_s: int,
        ts_ns: Any,
        open: Any,
        high: Any,
        low: Any,
        close: Any,
        oi_usd: Any,
        volume: Any = None,
        taker_buy_volume: Any = None,
        quote_volume: Any = None,
    ) -> BarSeries:
        """Build from array-likes; missing open interest (NaN) is carried forward (back-filled at the
        start) because the engine reads OI *changes*."""

        def f64(x: Any) -> np.ndarray:
            return np.ascontiguousarray(np.asarray(x, dtype=np.float64))

        def opt(x: Any) -> np.ndarray | None:
            if x is None:
                return None
            arr = f64(x)
            return None if arr.size and np.all(np.isnan(arr)) else np.nan_to_num(arr, nan=0.0)

        oi = _fill_nan(f64(oi_usd))
        return cls(
            venue=Venue(venue),
            symbol=symbol.upper(),
            interval_s=int(interval_s),
            ts_ns=np.ascontiguousarray(np.asarray(ts_ns, dtype=np.int64)),
            open=f64(open),
            high=f64(high),
            low=f64(low),
            close=f64(close),
            oi_usd=oi,
            volume=opt(volume),
            taker_buy_volume=opt(taker_buy_volume),
            quote_volume=opt(quote_volume),
        )

    @classmethod
    def from_bars(cls, bars: Iterable[Bar]) -> BarSeries:
        """From normalized :class:`~perpscope.model.Bar` events of ONE venue+symbol+interval (any order)."""

        items = sorted(bars, key=lambda b: b.ts_event)
        if not items:
            raise SeriesError("no bars")
        first = items[0]
        for b in items:
            if (b.venue, b.symbol, b.interval_s) != (first.venue, first.symbol, first.interval_s):
                raise SeriesError("bars mix venues, symbols or intervals; build one series per venue")

        def col(name: str) -> np.ndarray | None:
            vals = [getattr(b, name) for b in items]
            if all(v is None for v in vals):
                return None
            return np.array([np.nan if v is None else v for v in vals], dtype=np.float64)

        return cls.from_arrays(
            venue=first.venue,
            symbol=first.symbol,
            interval_s=first.interval_s,
            ts_ns=[b.ts_event for b in items],
            open=[b.open for b in items],
            high=[b.high for b in items],
            low=[b.low for b in items],
            close=[b.close for b in items],
            oi_usd=[b.oi_usd for b in items],
            volume=col("volume"),
            taker_buy_volume=col("taker_buy_volume"),
        )

    @classmethod
    def from_arrow(
        cls, table: Any, *, venue: Venue | str, symbol: str, interval_s: int | None = None
    ) -> BarSeries:
        """From a pyarrow table (or anything with ``column_names`` and ``column(name)``) with columns
        ``ts_ns`` (or ``timestamp`` in ms), ``open, high, low, close, oi_usd`` and optionally ``volume,
        taker_buy_volume, quote_volume``. ``interval_s`` defaults to the smallest timestamp step."""

        names = set(table.column_names)

        def get(name: str) -> np.ndarray | None:
            if name not in names:
                return None
            return np.asarray(table.column(name).to_numpy(zero_copy_only=False))

        ts = get("ts_ns")
        if ts is None:
            ms = get("timestamp")
            if ms is None:
                raise SeriesError("table needs a ts_ns (ns) or timestamp (ms) column")
            ts = ms.astype(np.int64) * NS_PER_MS
        missing = [c for c in ("open", "high", "low", "close", "oi_usd") if c not in names]
        if missing:
            raise SeriesError(f"table lacks columns: {', '.join(missing)}")
        ts = ts.astype(np.int64)
        if interval_s is None:
            if ts.shape[0] < 2:
                raise SeriesError("cannot infer interval_s from fewer than two rows; pass interval_s=")
            interval_s = int(np.diff(ts).min() // NS_PER_S)
        return cls.from_arrays(
            venue=venue,
            symbol=symbol,
            interval_s=interval_s,
            ts_ns=ts,
            open=get("open"),
            high=get("high"),
            low=get("low"),
            close=get("close"),
            oi_usd=get("oi_usd"),
            volume=get("volume"),
            taker_buy_volume=get("taker_buy_volume"),
            quote_volume=get("quote_volume"),
        )

    def to_grid(self, grid_ns: np.ndarray) -> BarSeries:
        """Reindex onto ``grid_ns`` (a superset on the same interval grid). Missing slots become flat bars
        at the previous close with unchanged open interest and no volume (nothing opens or closes; price
        sat at the close). Slots before the first bar copy the first bar's open and OI."""

        if grid_ns.shape == self.ts_ns.shape and np.array_equal(grid_ns, self.ts_ns):
            return self
        pos = np.searchsorted(grid_ns, self.ts_ns)
        if np.any(pos >= grid_ns.shape[0]) or not np.array_equal(grid_ns[pos], self.ts_ns):
            raise SeriesError(f"{self.venue}/{self.symbol}: bars are not on the common slot grid")
        n = grid_ns.shape[0]
        have = np.zeros(n, dtype=bool)
        have[pos] = True
        # index of the last real bar at or before each grid slot (-1 before the first)
        last = np.maximum.accumulate(np.where(have, np.arange(n), -1))
        src = np.searchsorted(pos, np.maximum(last, 0))  # row of that bar in self
        before = last < 0
        prev_close = self.close[src]
        prev_close = np.where(before, self.open[0], prev_close)

        def price(own: np.ndarray) -> np.ndarray:
            out = prev_close.copy()
            out[pos] = own
            return out

        def flow(own: np.ndarray | None) -> np.ndarray | None:
            if own is None:
                return None
            out = np.zeros(n)
            out[pos] = own
            return out

        oi = self.oi_usd[src]
        oi = np.where(before, self.oi_usd[0], oi)
        return replace(
            self,
            ts_ns=grid_ns.astype(np.int64),
            open=price(self.open),
            high=price(self.high),
            low=price(self.low),
            close=price(self.close),
            oi_usd=oi,
            volume=flow(self.volume),
            taker_buy_volume=flow(self.taker_buy_volume),
            quote_volume=flow(self.quote_volume),
        )

    def head(self, n: int) -> BarSeries:
        """The first ``n`` slots."""

        def cut(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[:n]

        return replace(
            self,
            ts_ns=self.ts_ns[:n],
            open=self.open[:n],
            high=self.high[:n],
            low=self.low[:n],
            close=self.close[:n],
            oi_usd=self.oi_usd[:n],
            volume=cut(self.volume),
            taker_buy_volume=cut(self.taker_buy_volume),
            quote_volume=cut(self.quote_volume),
        )


def _fill_nan(a: np.ndarray) -> np.ndarray:
    ok = np.isfinite(a)
    if ok.all():
        return a
    if not ok.any():
        raise SeriesError("open interest is missing in every row")
    idx = np.where(ok, np.arange(a.shape[0]), -1)
    idx = np.maximum.accumulate(idx)
    first = int(np.argmax(ok))
    idx = np.where(idx < 0, first, idx)
    return a[idx]


def common_grid(series: Sequence[BarSeries]) -> np.ndarray:
    """The slot grid covering every series (same interval and phase required)."""

    if not series:
        raise SeriesError("no series")
    step = series[0].interval_ns
    for s in series:
        if s.interval_ns != step:
            raise SeriesError("series have different intervals; resample to one slot size first")
        if len(s) == 0:
            raise SeriesError(f"{s.venue}/{s.symbol}: empty series")
    start = min(int(s.ts_ns[0]) for s in series)
    end = max(int(s.ts_ns[-1]) for s in series)
    for s in series:
        if (int(s.ts_ns[0]) - start) % step:
            raise SeriesError("series bar opens are not aligned to the same slot grid")
    return np.arange(start, end + step, step, dtype=np.int64)
