"""The slow, obviously-correct reference: the engine's recipe as a per-slot loop over cohort objects.

It exists to be read and to check :mod:`perpscope.heatmap.engine` (tests compare the two to 1e-9). Only
the margin ratios, the price-bin rule and the slot-grid alignment are shared with the fast engine; the
recipe itself (entry price, OI changes, attribution, closes, consumption, standing) is written again here
in plain Python, one slot and one cohort at a time. The bars → engine slots split of the intrabar steps
(``intrabar.series_slots``: sub-slot prices, OI levels) is shared too; per-bar totals (flows summed over
a bar's slots, standing at its last slot) are accumulated here in the
loop. Do not use it on more than a few thousand slots.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .bins import bin_index, price_edges
from .intrabar import series_slots
from .params import EngineParams
from .recipe import F_MIN, auto_price_range, cohort_ratios
from .result import Heatmap, HeatmapPart
from .series import BarSeries, common_grid
from .windows import WindowSlots, cut_grid, select_window


@dataclass
class Cohort:
    """Positions opened in one slot on one side at one leverage: one liquidation price."""

    opened: int  # slot
    long: bool
    k: int  # leverage index
    size: float  # USD now (shrinks with closes)
    lp: float  # liquidation price
    bin: int  # price bin of lp (-1: outside the display range)


@dataclass
class SideTotals:
    added: np.ndarray
    consumed: np.ndarray
    closed: np.ndarray
    standing: np.ndarray


@dataclass
class ReferenceResult:
    ts_ns: np.ndarray
    window: WindowSlots
    price_edges: np.ndarray
    venues: tuple[str, ...]
    totals: dict[str, tuple[SideTotals, SideTotals]]  # venue → (long, short)
    # venue → side ("long"/"short") → (K, window slots, bins) standing USD at the end of each slot
    standing: dict[str, dict[str, np.ndarray]]


def _crossed(c: Cohort, low: float, high: float) -> bool:
    return low <= c.lp if c.long else high >= c.lp


def run_reference(
    series: BarSeries | Sequence[BarSeries],
    params: EngineParams | None = None,
    *,
    window: str | int | None = None,
    end_ns: int | None = None,
) -> ReferenceResult:
    params = params or EngineParams()
    items = [series] if isinstance(series, BarSeries) else list(series)
    symbol = items[0].symbol
    full = common_grid(items)
    n = cut_grid(full, end_ns=end_ns)
    grid = full[:n]
    aligned = [s.to_grid(full).head(n) for s in items]
    win = select_window(grid, items[0].interval_ns, window=window, max_columns=None)
    weights = params.normalized_weights
    ratios = {s.venue.value: cohort_ratios(s.venue, symbol, params) for s in aligned}

    if params.price_range is not None:
        lo, hi = params.price_range
    else:
        w_low = min(min(s.low[win.start :].tolist()) for s in aligned)
        w_high = max(max(s.high[win.start :].tolist()) for s in aligned)
        long_min = min(min([r for r in ratios[v][0].tolist() if r > 0] or [1.0]) for v in ratios)
        short_max = max(max(ratios[v][1].tolist()) for v in ratios)
        lo, hi = auto_price_range(w_low, w_high, long_min, short_max)
    edges = price_edges(
        lo,
        hi,
        scale=params.bins,
        width=params.bin_width,
        n_bins=params.n_bins,
        max_bins=params.max_bins,
        reference=float(aligned[0].close[-1]),
    )
    nbin = edges.shape[0] - 1
    k_count = len(params.leverage)

    totals: dict[str, tuple[SideTotals, SideTotals]] = {}
    standing: dict[str, dict[str, np.ndarray]] = {}
    for s in aligned:
        r_long, r_short = (x.tolist() for x in ratios[s.venue.value])
        side_tot = {
            side: SideTotals(
                added=np.zeros(n), consumed=np.zeros(n), closed=np.zeros(n), standing=np.zeros(n)
            )
            for side in ("long", "short")
        }
        mats = {side: np.zeros((k_count, win.n_slots, nbin)) for side in ("long", "short")}
        book: list[Cohort] = []
        inp = series_slots(
            s,
            oi_in_base=params.oi_unit == "base",
            substeps=params.substeps,
            turnover_per_h=params.turnover_per_h,
        )
        m = inp.per_bar  # engine slots per bar; bar b is slots [b·m, (b+1)·m)
        path = inp.path
        decay = 1.0
        if params.half_life_h is not None:
            decay = math.exp(-math.log(2.0) * path.hours / params.half_life_h)  # real hours per slot
        for u in range(path.n):
            b = u // m
            high, low, close = float(path.high[u]), float(path.low[u]), float(path.close[u])
            # entry price of this slot's new positions
            typical = (high + low + close) / 3.0
            entry = typical
            if params.entry == "close":
                entry = close
            elif params.entry == "vwap" and inp.quote_volume is not None and inp.volume is not None:
                vol = float(inp.volume[u])
                if vol > 0.0:
                    vwap = float(inp.quote_volume[u]) / vol
                    if low <= vwap <= high:
                        entry = vwap
            # open interest now and before, in the chosen unit
            oi_now = float(path.level[u])
            oi_prev = float(path.level[u - 1]) if u > 0 else None

            # 1. close
            f = 1.0
            if oi_prev is not None:
                if params.close_rule == "proportional" and oi_now < oi_prev and oi_prev > 0.0:
                    f = max(oi_now / oi_prev, F_MIN)
                f *= decay
            for c in book:
                side = "long" if c.long else "short"
                side_tot[side].closed[b] += c.size * (1.0 - f)
                c.size *= f

            # 2. consume what this slot's range crossed
            survivors = []
            for c in book:
                if _crossed(c, low, high):
                    side_tot["long" if c.long else "short"].consumed[b] += c.size
                else:
                    survivors.append(c)
            book = survivors

            # 3. open new positions from the OI increase
            if oi_prev is not None and oi_now > oi_prev:
                added = (oi_now - oi_prev) * entry if params.oi_unit == "base" else oi_now - oi_prev
                share = 0.5
                if params.attribution == "aggressor":
                    vol_u = None if inp.volume is None else float(inp.volume[u])
                    if inp.taker_buy_volume is not None and vol_u is not None and vol_u > 0.0:
                        share = min(max(float(inp.taker_buy_volume[u]) / vol_u, 0.0), 1.0)
                    per_side = {"long": 2.0 * share * added, "short": 2.0 * (1.0 - share) * added}
                else:
                    per_side = {"long": added, "short": added}
                for side, amount in per_side.items():
                    for k, w in enumerate(weights):
                        size = amount * w
                        if size <= 0.0:
                            continue
                        is_long = side == "long"
                        lp = entry * (r_long[k] if is_long else r_short[k])
                        c = Cohort(
                            opened=u, long=is_long, k=k, size=size, lp=lp, bin=int(bin_index(edges, lp))
                        )
                        side_tot[side].added[b] += size
                        # 4. optionally consumed by its own slot's range
                        if params.consume_own_slot and _crossed(c, low, high):
                            side_tot[side].consumed[b] += size
                        else:
                            book.append(c)

            # end of the bar (its last slot): record what stands
            if u % m != m - 1:
                continue
            for c in book:
                side = "long" if c.long else "short"
                side_tot[side].standing[b] += c.size
                if b >= win.start and c.bin >= 0:
                    mats[side][c.k, b - win.start, c.bin] += c.size
        totals[s.venue.value] = (side_tot["long"], side_tot["short"])
        standing[s.venue.value] = mats
    return ReferenceResult(
        ts_ns=grid,
        window=win,
        price_edges=edges,
        venues=tuple(s.venue.value for s in aligned),
        totals=totals,
        standing=standing,
    )


def reference_heatmap(res: ReferenceResult, series: Sequence[BarSeries], params: EngineParams) -> Heatmap:
    """A one-column-per-slot :class:`Heatmap` of the reference run (downsample it to compare)."""

    items = list(series)
    w0 = res.window.start
    n = res.ts_ns.shape[0]
    ref = items[0].to_grid(common_grid(items)).head(n)
    interval_ns = items[0].interval_ns
    long_tot = sum(res.standing[v]["long"].sum(axis=0) for v in res.venues)
    short_tot = sum(res.standing[v]["short"].sum(axis=0) for v in res.venues)
    by_venue = {
        v: HeatmapPart(
            long_usd=res.standing[v]["long"].sum(axis=0), short_usd=res.standing[v]["short"].sum(axis=0)
        )
        for v in res.venues
    }
    by_lev = {
        float(lev): HeatmapPart(
            long_usd=sum(res.standing[v]["long"][k] for v in res.venues),
            short_usd=sum(res.standing[v]["short"][k] for v in res.venues),
        )
        for k, lev in enumerate(params.leverage)
    }
    return Heatmap(
        symbol=items[0].symbol,
        venues=res.venues,
        time_edges_ns=np.append(res.ts_ns[w0:], res.ts_ns[-1] + interval_ns),
        price_edges=res.price_edges,
        long_usd=np.asarray(long_tot),
        short_usd=np.asarray(short_tot),
        open=ref.open[w0:].copy(),
        high=ref.high[w0:].copy(),
        low=ref.low[w0:].copy(),
        close=ref.close[w0:].copy(),
        consumed_long_usd=sum(res.totals[v][0].consumed[w0:] for v in res.venues),
        consumed_short_usd=sum(res.totals[v][1].consumed[w0:] for v in res.venues),
        by_venue=by_venue,
        by_leverage=by_lev,
        params=params.describe(),
    )
