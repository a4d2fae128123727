"""Shared pieces of the renderers: labels, USD formatting, price-bin merging, side selection."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np

from ..heatmap.result import Heatmap, HeatmapPart
from ..timeutil import NS_PER_S, format_ns

SideChoice = Literal["both", "long", "short"]

ESTIMATED_NOTE = "estimated liquidation levels — a map of forced liquidity, not a price target"


def usd(x: float) -> str:
    """``1234567`` → ``$1.23M`` (k, M, B, T)."""

    a = abs(x)
    sign = "-" if x < 0 else ""
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{sign}${a / div:.3g}{unit}"
    return f"{sign}${a:.0f}"


def price_text(p: float) -> str:
    """A price with the decimals its size needs (95,123.4 · 3,412.55 · 0.32145)."""

    if p >= 1000:
        return f"{p:,.1f}"
    if p >= 10:
        return f"{p:,.2f}"
    if p >= 0.1:
        return f"{p:.4f}"
    return f"{p:.6g}"


def duration_text(ns: int) -> str:
    s = ns / NS_PER_S
    for unit, size in (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size and abs(s / size - round(s / size)) < 1e-9:
            return f"{round(s / size)}{unit}"
    if s >= 86400:
        return f"{s / 86400:.1f}d"
    return f"{s / 3600:.1f}h"


def window_text(hm: Heatmap) -> str:
    """``2026-05-25 00:00 → 2026-05-26 00:00 UTC (24h)``."""

    t0, t1 = int(hm.time_edges_ns[0]), int(hm.time_edges_ns[-1])
    return f"{format_ns(t0)[:16]} → {format_ns(t1)[:16]} UTC ({duration_text(t1 - t0)})"


def title_text(hm: Heatmap, side: SideChoice = "both") -> str:
    which = {"both": "long + short", "long": "longs", "short": "shorts"}[side]
    venues = ", ".join(hm.venues)
    return f"{hm.symbol} — Estimated liquidation heatmap ({which}) — {venues} — {window_text(hm)}"


def leverage_mix_text(hm: Heatmap) -> str:
    lev = hm.params.get("leverage")
    w = hm.params.get("weights")
    if isinstance(lev, list | tuple) and isinstance(w, list | tuple) and len(lev) == len(w):
        return "leverage mix " + ", ".join(
            f"{float(x):g}×:{float(y):.0%}" for x, y in zip(lev, w, strict=True)
        )
    if hm.by_leverage:
        return "leverage tiers " + ", ".join(f"{k:g}×" for k in sorted(hm.by_leverage))
    return ""


def assumptions_text(hm: Heatmap) -> str:
    """The leverage mix plus the engine's intrabar steps (turnover, intrabar path) when they are on."""

    parts = [leverage_mix_text(hm)]
    turnover = hm.params.get("turnover_per_h")
    if isinstance(turnover, int | float) and turnover > 0:
        parts.append(f"turnover {float(turnover):.0%}/h")
    substeps = hm.params.get("substeps")
    if isinstance(substeps, int) and substeps > 0:
        parts.append(f"intrabar path {3 * substeps} steps/bar")
    return ", ".join(p for p in parts if p)


def side_matrix(hm: Heatmap | HeatmapPart, side: SideChoice) -> np.ndarray:
    if side == "long":
        return hm.long_usd
    if side == "short":
        return hm.short_usd
    return hm.long_usd + hm.short_usd


def is_log_bins(edges: np.ndarray) -> bool:
    """True when bins have a constant ratio (log bins) rather than a constant width."""

    if edges.shape[0] < 3 or edges[0] <= 0:
        return False
    r = edges[1:] / edges[:-1]
    w = np.diff(edges)
    return bool(np.ptp(r) <= 1e-6 * r.mean() and np.ptp(w) > 1e-6 * w.mean())


def merge_price_bins(hm: Heatmap, max_bins: int) -> Heatmap:
    """Merge adjacent price bins so there are at most ``max_bins``. A cell is USD per bin, so merged cells
    are sums (totals per column are unchanged); parts are merged the same way."""

    if max_bins <= 0:
        raise ValueError("max_bins must be positive")
    p = hm.n_price
    if p <= max_bins:
        return hm
    group = -(-p // max_bins)
    starts = np.arange(0, p, group)

    def merge(m: np.ndarray) -> np.ndarray:
        return np.add.reduceat(m, starts, axis=1)

    return replace(
        hm,
        price_edges=np.append(hm.price_edges[starts], hm.price_edges[-1]),
        long_usd=merge(hm.long_usd),
        short_usd=merge(hm.short_usd),
        by_venue={
            k: HeatmapPart(long_usd=merge(v.long_usd), short_usd=merge(v.short_usd))
            for k, v in hm.by_venue.items()
        },
        by_leverage={
            k: HeatmapPart(long_usd=merge(v.long_usd), short_usd=merge(v.short_usd))
            for k, v in hm.by_leverage.items()
        },
    )


def fit(hm: Heatmap, *, max_columns: int, max_bins: int) -> Heatmap:
    """Downsample columns (durations weighted, consumed flows summed) and merge bins for display."""

    return merge_price_bins(hm.downsample(max_columns), max_bins)


def bin_centres(edges: np.ndarray) -> np.ndarray:
    """Geometric centres for log bins, arithmetic otherwise."""

    if is_log_bins(edges):
        return np.sqrt(edges[:-1] * edges[1:])
    return 0.5 * (edges[:-1] + edges[1:])
