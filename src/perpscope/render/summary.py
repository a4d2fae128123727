"""A short text summary of a heatmap: the largest estimated long/short clusters near price, cumulative
USD within a few percent, and what the price path consumed. Always labelled as an estimate."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..heatmap.result import Heatmap
from ._common import ESTIMATED_NOTE, assumptions_text, bin_centres, price_text, title_text, usd


@dataclass(frozen=True, kw_only=True)
class Cluster:
    """A band of price where estimated liquidations concentrate (last column of the heatmap)."""

    side: str  # "long" | "short"
    low: float
    high: float
    usd: float
    distance: float  # USD-weighted centre / current price − 1


def clusters(hm: Heatmap, *, top: int = 3, width: float = 0.0025, column: int = -1) -> list[Cluster]:
    """The ``top`` largest bands per side in the ``column`` (default the last): bins are pooled into bands
    of relative width ``width`` anchored at the current price, longs below it, shorts above it."""

    price = float(hm.close[column])
    centres = bin_centres(hm.price_edges)
    step = math.log1p(width)
    band = np.floor(np.log(centres / price) / step).astype(np.int64)
    out: list[Cluster] = []
    for side, values, keep in (
        ("long", hm.long_usd[column], centres < price),
        ("short", hm.short_usd[column], centres > price),
    ):
        sel = keep & (values > 0.0)
        if not np.any(sel):
            continue
        b = band[sel]
        v = values[sel]
        c = centres[sel]
        ids, inv = np.unique(b, return_inverse=True)
        tot = np.bincount(inv, weights=v)
        wc = np.bincount(inv, weights=v * c) / tot
        for i in np.argsort(tot)[::-1][:top]:
            g = int(ids[i])
            out.append(
                Cluster(
                    side=side,
                    low=price * math.exp(g * step),
                    high=price * math.exp((g + 1) * step),
                    usd=float(tot[i]),
                    distance=float(wc[i] / price - 1.0),
                )
            )
    return out


def render_summary(hm: Heatmap, *, top: int = 3, width: float = 0.0025) -> str:
    """Plain-text summary (a few lines) of the heatmap's last column and window."""

    price = float(hm.close[-1])
    lines = [title_text(hm), f"Last price {price_text(price)}. All figures are ESTIMATED (model output)."]
    found = clusters(hm, top=top, width=width)
    for side, where in (("long", "below"), ("short", "above")):
        rows = [c for c in found if c.side == side]
        label = "long" if side == "long" else "short"
        if not rows:
            lines.append(f"Estimated {label}s {where} price: none standing in range.")
            continue
        lines.append(f"Largest estimated {label} clusters ({where} price):")
        for c in rows:
            lines.append(
                f"  {price_text(c.low)} – {price_text(c.high)}  {usd(c.usd):>9}  {c.distance:+.2%} from price"
            )
    lm = hm.liquidation_map()
    parts = []
    for pct in (0.01, 0.02, 0.05):
        below = lm.long_usd[lm.relative >= -pct].sum()
        above = lm.short_usd[lm.relative <= pct].sum()
        parts.append(f"±{pct:.0%}: longs {usd(below)} / shorts {usd(above)}")
    lines.append("Estimated cumulative within " + "; ".join(parts))
    lines.append(
        f"Estimated standing now: longs {usd(float(hm.long_usd[-1].sum()))}, "
        f"shorts {usd(float(hm.short_usd[-1].sum()))} (inside the price range shown)"
    )
    consumed_long, consumed_short = float(hm.consumed_long_usd.sum()), float(hm.consumed_short_usd.sum())
    lines.append(
        f"Estimated consumed by the price path in the window: longs {usd(consumed_long)}, "
        f"shorts {usd(consumed_short)}"
    )
    mix = assumptions_text(hm)
    if mix:
        lines.append(f"Assumptions: {mix}.")
    lines.append(ESTIMATED_NOTE[0].upper() + ESTIMATED_NOTE[1:] + ".")
    return "\n".join(lines)
