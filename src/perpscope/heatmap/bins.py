"""Price bins: log (constant relative width) or linear edges, and the bin of a price."""

from __future__ import annotations

import math

import numpy as np

from .params import BinScale


def price_edges(
    low: float,
    high: float,
    *,
    scale: BinScale = "log",
    width: float = 0.001,
    n_bins: int | None = None,
    max_bins: int = 5000,
    reference: float | None = None,
) -> np.ndarray:
    """Ascending bin edges covering ``[low, high]``. Log bins: each edge is ``(1 + width)`` times the
    previous; linear bins: ``width × reference`` apart (reference defaults to the range's midpoint).
    ``n_bins`` fixes the count instead (edges evenly spaced in log or price). When ``width`` would need
    more than ``max_bins`` bins the width grows to fit."""

    if not (0.0 < low < high) or not math.isfinite(high):
        raise ValueError(f"bad price range ({low}, {high})")
    if scale == "log":
        span = math.log(high / low)
        if n_bins is None:
            step = math.log1p(width)
            n = max(1, math.ceil(span / step - 1e-12))
            if n > max_bins:
                n = max_bins
                step = span / n
            edges = np.exp(math.log(low) + step * np.arange(n + 1))
        else:
            edges = np.exp(np.linspace(math.log(low), math.log(high), n_bins + 1))
    elif scale == "linear":
        if n_bins is None:
            ref = 0.5 * (low + high) if reference is None else reference
            step = width * ref
            n = max(1, math.ceil((high - low) / step - 1e-12))
            if n > max_bins:
                n = max_bins
                step = (high - low) / n
            edges = low + step * np.arange(n + 1)
        else:
            edges = np.linspace(low, high, n_bins + 1)
    else:
        raise ValueError(f"unknown bin scale {scale!r}")
    edges[0] = low
    return edges


def bin_index(edges: np.ndarray, price: np.ndarray | float) -> np.ndarray:
    """Bin of each price: ``j`` with ``edges[j] <= price < edges[j+1]``; -1 outside the edges (the top
    edge itself belongs to the last bin)."""

    p = np.asarray(price, dtype=np.float64)
    idx = np.searchsorted(edges, p, side="right") - 1
    n = edges.shape[0] - 1
    idx = np.where(p == edges[-1], n - 1, idx)
    return np.where((idx < 0) | (idx >= n), -1, idx).astype(np.int64)
