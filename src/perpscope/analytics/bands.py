"""Bands: the dense clusters of the estimated liquidation heatmap above and below price, with persistence.

On one column of the heatmap (default the latest), longs are looked for below price and shorts above.
Bands are grown greedily: take the largest bin not yet used, extend it left and right while neighbouring
bins hold at least ``edge_frac`` of that peak, mark those bins used, repeat until the next peak is below
``min_frac`` of the side's largest bin. Adjacent bins thus merge into one band with a USD total and a
price range.

**Persistence**: over the last ``lookback`` time columns, in how many did the band (the same bins, same
side) hold at least ``persist_frac`` of its own peak over those columns. A cluster that appeared in one
column is transient and not a band (``min_persistence``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..heatmap.result import Heatmap
from ..model import PositionSide


@dataclass(frozen=True, kw_only=True)
class BandParams:
    lookback: int = 12  # time columns persistence is measured over (including the current one)
    persist_frac: float = 0.5  # a column counts when the band holds ≥ this fraction of its peak
    min_persistence: int = 3  # bands standing in fewer columns are transient and dropped
    edge_frac: float = 0.5  # a band extends over neighbours holding ≥ this fraction of its peak bin
    min_frac: float = 0.1  # peaks below this fraction of the side's largest bin are not bands
    min_usd: float = 0.0  # nor bands smaller than this (estimated USD)

    def __post_init__(self) -> None:
        if self.lookback < 1:
            raise ValueError("lookback must be at least 1")
        if not 0.0 <= self.persist_frac <= 1.0 or not 0.0 < self.edge_frac <= 1.0:
            raise ValueError("persist_frac must be in [0, 1] and edge_frac in (0, 1]")


DEFAULT_BAND_PARAMS = BandParams()


@dataclass(frozen=True, kw_only=True)
class Band:
    """One cluster. ``side`` is the side of the positions that would be liquidated there (longs below
    price, shorts above)."""

    side: PositionSide
    price_low: float  # lower edge of the lowest bin
    price_high: float  # upper edge of the highest bin
    price_peak: float  # centre of the densest bin
    usd: float  # estimated USD standing in the band (the column's value)
    current_price: float
    distance_pct: float  # signed % from price to the band's nearest edge (negative: below)
    persistence: int  # columns (of ``lookback``) the band held ≥ persist_frac of its peak
    lookback: int  # columns actually available for persistence (≤ params.lookback)
    bin_lo: int  # first and last price bin (inclusive)
    bin_hi: int

    @property
    def persistence_frac(self) -> float:
        return self.persistence / self.lookback if self.lookback else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["side"] = self.side.value
        out["persistence_frac"] = self.persistence_frac
        return out


def band_persistence(
    matrix: np.ndarray, bin_lo: int, bin_hi: int, *, column: int = -1, lookback: int = 12, frac: float = 0.5
) -> tuple[int, int]:
    """``(persistence, columns used)`` of bins ``bin_lo..bin_hi`` of a ``(T, P)`` matrix over the
    ``lookback`` columns ending at ``column``: how many hold ≥ ``frac`` × the band's peak over them."""

    t_end = column % matrix.shape[0] + 1
    t_start = max(0, t_end - lookback)
    series = matrix[t_start:t_end, bin_lo : bin_hi + 1].sum(axis=1)
    peak = float(series.max()) if series.size else 0.0
    if peak <= 0:
        return 0, int(series.size)
    return int(np.count_nonzero(series >= frac * peak)), int(series.size)


def _grow(values: np.ndarray, p: BandParams) -> list[tuple[int, int]]:
    """Greedy peak-and-extend over one side's bins; returns (lo, hi) bin ranges, largest peak first.

    A remaining maximum that sits directly next to a higher, already-banded bin is that band's shoulder,
    not a peak of its own: it is grown and merged into that band. Two peaks stay separate bands only when
    the valley between them drops below ``edge_frac`` of the peak being grown."""

    n = values.size
    owner = np.full(n, -1, dtype=np.int64)
    top = float(values.max()) if n else 0.0
    if top <= 0:
        return []
    floor = p.min_frac * top
    ranges: list[list[int]] = []
    while True:
        k = int(np.argmax(np.where(owner >= 0, -1.0, values)))
        peak = float(values[k])
        if owner[k] >= 0 or peak <= 0 or peak < floor:
            break
        ok = (owner < 0) & (values >= p.edge_frac * peak) & (values > 0)
        left_bad = np.flatnonzero(~ok[:k])
        right_bad = np.flatnonzero(~ok[k + 1 :])
        lo = int(left_bad[-1]) + 1 if left_bad.size else 0
        hi = k + int(right_bad[0]) if right_bad.size else n - 1
        higher = [j for j in (k - 1, k + 1) if 0 <= j < n and owner[j] >= 0 and values[j] > peak]
        if higher:
            band = int(owner[max(higher, key=lambda j: values[j])])
            ranges[band][0] = min(ranges[band][0], lo)
            ranges[band][1] = max(ranges[band][1], hi)
        else:
            band = len(ranges)
            ranges.append([lo, hi])
        owner[lo : hi + 1] = band
    return [(lo, hi) for lo, hi in ranges]


def find_bands(heatmap: Heatmap, *, column: int = -1, params: BandParams = DEFAULT_BAND_PARAMS) -> list[Band]:
    """Persistent bands of a heatmap at ``column`` (default: the latest), longs first then shorts, each
    side by estimated USD, largest first."""

    if heatmap.n_time == 0 or heatmap.n_price == 0:
        return []
    price = float(heatmap.close[column])
    centers = heatmap.price_centers
    edges = heatmap.price_edges
    bands: list[Band] = []
    for side, matrix, mask in (
        (PositionSide.LONG, heatmap.long_usd, centers < price),
        (PositionSide.SHORT, heatmap.short_usd, centers > price),
    ):
        values = np.where(mask, np.nan_to_num(matrix[column]), 0.0)
        found = []
        for lo, hi in _grow(values, params):
            usd = float(values[lo : hi + 1].sum())
            if usd < params.min_usd:
                continue
            pers, used = band_persistence(
                matrix, lo, hi, column=column, lookback=params.lookback, frac=params.persist_frac
            )
            if pers < params.min_persistence:
                continue
            k = lo + int(np.argmax(values[lo : hi + 1]))
            near = float(edges[hi + 1] if side is PositionSide.LONG else edges[lo])
            found.append(
                Band(
                    side=side,
                    price_low=float(edges[lo]),
                    price_high=float(edges[hi + 1]),
                    price_peak=float(centers[k]),
                    usd=usd,
                    current_price=price,
                    distance_pct=100.0 * (min(near, price) / price - 1.0)
                    if side is PositionSide.LONG
                    else 100.0 * (max(near, price) / price - 1.0),
                    persistence=pers,
                    lookback=used,
                    bin_lo=lo,
                    bin_hi=hi,
                )
            )
        bands.extend(sorted(found, key=lambda b: -b.usd))
    return bands


def top_bands(bands: list[Band], *, per_side: int = 3) -> list[Band]:
    """The ``per_side`` largest bands below and above price, nearest first within each side."""

    out: list[Band] = []
    for side in (PositionSide.LONG, PositionSide.SHORT):
        chosen = sorted((b for b in bands if b.side is side), key=lambda b: -b.usd)[:per_side]
        out.extend(sorted(chosen, key=lambda b: abs(b.distance_pct)))
    return out
