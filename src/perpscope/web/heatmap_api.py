"""Heatmap and liquidation-map payloads of the dashboard, computed once per (symbol, window, venues, store
version) and cached: the aggregate matrices go out as base64 float32, the split of a cell by venue and by
leverage only on request (``/api/heatmap/split``, on hover)."""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..analytics.funding import DAY_NS
from ..heatmap.calibrate_model import default_engine_params
from ..heatmap.pipeline import NoDataError, compute, load_store_series
from ..heatmap.result import Heatmap, HeatmapPart
from ..model import Kind, Venue
from ..store import Store
from .params import ApiError, Query, index, window_ns

MAX_COLUMNS = 400
WARMUP_NS = 2 * DAY_NS  # engine warm-up before the window
LABEL = "Estimated liquidation levels (a model, not observed orders)"


@dataclass(frozen=True, kw_only=True)
class Computed:
    """One computed heatmap: downsampled for display, plus the full-resolution last column for the map."""

    hm: Heatmap  # ≤ MAX_COLUMNS columns
    last: Heatmap  # the last engine column alone (the liquidation map's "now")


def store_version(store: Store, symbol: str) -> tuple[int, int]:
    """Changes whenever a bar file of ``symbol`` is added, replaced or removed: (files, newest mtime)."""

    files = store.files(Kind.BAR, symbol=symbol)
    newest = 0
    for f in files:
        try:
            newest = max(newest, f.stat().st_mtime_ns)
        except OSError:  # compacted away meanwhile: the listing changed anyway
            newest = -1
    return len(files), newest


class HeatmapCache:
    """LRU of :class:`Computed` by key; one computation per key at a time (concurrent requests wait)."""

    def __init__(self, size: int = 12) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[tuple[object, ...], Computed] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[object, ...], threading.Lock] = {}

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._key_locks.clear()

    def get(self, store: Store, *, symbol: str, window: str, venues: tuple[Venue, ...] | None) -> Computed:
        key = (symbol, window, venues, MAX_COLUMNS, store_version(store, symbol))
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                hit = self._items.get(key)
                if hit is not None:
                    self._items.move_to_end(key)
                    self.hits += 1
                    return hit
            try:
                value = _compute(store, symbol=symbol, window=window, venues=venues)
            except BaseException:
                with self._lock:  # a failing key (unknown symbol …) leaves nothing behind
                    if key not in self._items:
                        self._key_locks.pop(key, None)
                raise
            with self._lock:
                self.misses += 1
                self._items[key] = value
                while len(self._items) > self.size:
                    old, _ = self._items.popitem(last=False)
                    self._key_locks.pop(old, None)
            return value


def _latest_bar(store: Store, symbol: str) -> int | None:
    from ..commands._market import latest_ts

    return latest_ts(store, Kind.BAR, [symbol])


def _compute(store: Store, *, symbol: str, window: str, venues: tuple[Venue, ...] | None) -> Computed:
    last = _latest_bar(store, symbol)
    if last is None:
        raise ApiError(f"no bars stored for {symbol}", status=404)
    end = last + 1
    start = end - window_ns(window) - WARMUP_NS
    series = load_store_series(
        store,
        symbol=symbol,
        venues=list(venues) if venues else None,
        start_ns=start,
        end_ns=end,
        derive=False,
    )
    try:
        hm = compute(
            series, replace(default_engine_params(), max_columns=MAX_COLUMNS), window=window, end_ns=end
        )
    except NoDataError as exc:
        raise ApiError(f"no heatmap for {symbol}: {exc}", status=404) from None
    return Computed(hm=hm.downsample(MAX_COLUMNS), last=_last_column(hm))


def _last_column(hm: Heatmap) -> Heatmap:
    def part(p: HeatmapPart) -> HeatmapPart:
        return HeatmapPart(long_usd=p.long_usd[-1:], short_usd=p.short_usd[-1:])

    return replace(
        hm,
        time_edges_ns=hm.time_edges_ns[-2:],
        long_usd=hm.long_usd[-1:],
        short_usd=hm.short_usd[-1:],
        open=hm.open[-1:],
        high=hm.high[-1:],
        low=hm.low[-1:],
        close=hm.close[-1:],
        consumed_long_usd=hm.consumed_long_usd[-1:],
        consumed_short_usd=hm.consumed_short_usd[-1:],
        by_venue={k: part(p) for k, p in hm.by_venue.items()},
        by_leverage={k: part(p) for k, p in hm.by_leverage.items()},
    )


def _tiers(hm: Heatmap, leverage: tuple[float, ...] | None) -> list[float]:
    levs = sorted(hm.by_leverage)
    if leverage is None:
        return levs
    chosen = [lv for lv in levs if any(abs(lv - x) < 1e-9 for x in leverage)]
    if not chosen:
        raise ApiError(f"no such leverage tier: available {', '.join(f'{x:g}' for x in levs)}")
    return chosen


def _filtered(hm: Heatmap, leverage: tuple[float, ...] | None) -> tuple[np.ndarray, np.ndarray]:
    if leverage is None:
        return hm.long_usd, hm.short_usd
    chosen = _tiers(hm, leverage)
    return (
        sum(hm.by_leverage[lv].long_usd for lv in chosen),  # type: ignore[return-value]
        sum(hm.by_leverage[lv].short_usd for lv in chosen),
    )


def f32(a: np.ndarray) -> str:
    """Row-major float32 bytes, base64 (the browser reads them with a Float32Array)."""

    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def _rounded(a: np.ndarray, digits: int = 2) -> list[float]:
    return np.round(np.nan_to_num(np.asarray(a, dtype=np.float64)), digits).tolist()  # type: ignore[no-any-return]


def heatmap_payload(
    cache: HeatmapCache,
    store: Store,
    *,
    symbol: str,
    window: str,
    venues: tuple[Venue, ...] | None,
    leverage: tuple[float, ...] | None,
) -> dict[str, Any]:
    """Aggregate (or leverage-filtered) long/short matrices as base64 float32 ``(T, P)``, the price path and
    the axes; the per-venue / per-leverage split of a cell comes from :func:`split_payload`."""

    hm = cache.get(store, symbol=symbol, window=window, venues=venues).hm
    long_usd, short_usd = _filtered(hm, leverage)
    return {
        "symbol": hm.symbol,
        "window": window,
        "estimated": True,
        "label": LABEL,
        "venues": list(hm.venues),
        "leverage_tiers": [float(x) for x in sorted(hm.by_leverage)],
        "leverage": [float(x) for x in leverage] if leverage else None,
        "time_ms": hm.time_starts_ms.astype(np.int64).tolist(),
        "price": _rounded(hm.price_centers),
        "close": _rounded(hm.close),
        "shape": [hm.n_time, hm.n_price],
        "encoding": "float32-base64",
        "long_usd": f32(long_usd),
        "short_usd": f32(short_usd),
    }


def _pair(long_v: float, short_v: float) -> dict[str, float]:
    return {"long_usd": round(float(long_v), 0), "short_usd": round(float(short_v), 0)}


def split_payload(
    cache: HeatmapCache,
    store: Store,
    *,
    symbol: str,
    window: str,
    venues: tuple[Venue, ...] | None,
    leverage: tuple[float, ...] | None,
    query: Query,
) -> dict[str, Any]:
    """Estimated USD of one heatmap cell (``i``: time column, ``j``: price bin, from ``query``) by venue and
    by leverage."""

    hm = cache.get(store, symbol=symbol, window=window, venues=venues).hm
    i = index(query, "i", hm.n_time)
    j = index(query, "j", hm.n_price)
    tiers = _tiers(hm, leverage)
    long_usd, short_usd = _filtered(hm, leverage)
    return {
        "symbol": hm.symbol,
        "estimated": True,
        "time_ms": int(hm.time_starts_ms[i]),
        "price": round(float(hm.price_centers[j]), 2),
        "total": _pair(long_usd[i, j], short_usd[i, j]),
        "by_venue": {v: _pair(p.long_usd[i, j], p.short_usd[i, j]) for v, p in sorted(hm.by_venue.items())},
        "by_leverage": {
            f"{lv:g}": _pair(hm.by_leverage[lv].long_usd[i, j], hm.by_leverage[lv].short_usd[i, j])
            for lv in tiers
        },
        "note": "venue split is over all leverage tiers" if leverage else "",
    }


def _cum(
    longs: np.ndarray, shorts: np.ndarray, centers: np.ndarray, price: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative USD from ``price`` to each bin: longs below, shorts above (``Heatmap.liquidation_map``)."""

    below, above = centers < price, centers > price
    lo = np.where(below, longs, 0.0)
    sh = np.where(above, shorts, 0.0)
    return np.where(below, np.cumsum(lo[::-1])[::-1], 0.0), np.where(above, np.cumsum(sh), 0.0)


def liqmap_payload(
    cache: HeatmapCache,
    store: Store,
    *,
    symbol: str,
    window: str,
    venues: tuple[Venue, ...] | None,
    leverage: tuple[float, ...] | None,
) -> dict[str, Any]:
    """The liquidation map at the last engine column: cumulative estimated USD to each price level, for the
    chosen venues and leverage tiers, with the same cumulative split by venue and by leverage (hover)."""

    last = cache.get(store, symbol=symbol, window=window, venues=venues).last
    price = float(last.close[-1])
    centers = last.price_centers
    tiers = _tiers(last, leverage)
    long_usd, short_usd = _filtered(last, leverage)
    cum_long, cum_short = _cum(long_usd[0], short_usd[0], centers, price)

    def split(p: HeatmapPart) -> dict[str, list[float]]:
        lo, sh = _cum(p.long_usd[0], p.short_usd[0], centers, price)
        return {"cum_long_usd": _rounded(lo, 0), "cum_short_usd": _rounded(sh, 0)}

    return {
        "symbol": symbol,
        "window": window,
        "estimated": True,
        "current_price": price,
        "leverage_tiers": [float(x) for x in sorted(last.by_leverage)],
        "leverage": [float(x) for x in leverage] if leverage else None,
        "price": _rounded(centers),
        "cum_long_usd": _rounded(cum_long, 0),
        "cum_short_usd": _rounded(cum_short, 0),
        "long_usd": _rounded(np.where(centers < price, long_usd[0], 0.0), 0),
        "short_usd": _rounded(np.where(centers > price, short_usd[0], 0.0), 0),
        "by_venue": {v: split(p) for v, p in sorted(last.by_venue.items())},
        "by_leverage": {f"{lv:g}": split(last.by_leverage[lv]) for lv in tiers},
        "note": "venue split is over all leverage tiers" if leverage else "",
    }
