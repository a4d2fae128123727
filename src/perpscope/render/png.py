"""Static PNG of an estimated liquidation heatmap (matplotlib, Agg canvas; no display needed).

Left: time × price cells coloured by standing USD (log or linear colour), the price path over them, a
USD colour bar. Right: the liquidation map — cumulative estimated USD that a move from the current price
to each level would liquidate (longs below, shorts above). Title and footnote say "Estimated".
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator

from ..heatmap.result import Heatmap
from ._common import (
    ESTIMATED_NOTE,
    SideChoice,
    assumptions_text,
    fit,
    is_log_bins,
    price_text,
    side_matrix,
    title_text,
    usd,
)

BACKGROUND = "#0b0e14"
FOREGROUND = "#d8dee9"
PRICE_LINE = "#4fc3f7"
LONG_COLOUR = "#ef5350"  # longs liquidate on the way down
SHORT_COLOUR = "#26a69a"
LOG_FLOOR_QUANTILE = 0.25


def _dates(ns: np.ndarray) -> np.ndarray:
    """int64 ns → matplotlib date numbers (days since 1970, float)."""

    return np.asarray(ns, dtype=np.float64) / 86_400e9


def render_png(
    heatmap: Heatmap,
    path: str | os.PathLike[str],
    *,
    side: SideChoice = "both",
    log_color: bool = True,
    width: int = 1600,
    height: int = 900,
    dpi: int = 100,
    candles: bool = False,
    cmap: str = "inferno",
    max_columns: int | None = None,
    max_bins: int | None = None,
) -> Path:
    """Write the PNG (exactly ``width`` × ``height`` pixels) and return its path. Columns and bins are
    merged down to about one per pixel (totals unchanged) before drawing."""

    if width < 300 or height < 200:
        raise ValueError("width >= 300 and height >= 200 pixels")
    hm = fit(
        heatmap,
        max_columns=max_columns or max(50, int(width * 0.68)),
        max_bins=max_bins or max(50, int(height * 0.78)),
    )
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor=BACKGROUND)
    FigureCanvasAgg(fig)
    # margins in pixels, so small pictures keep their labels
    left, right, top, bottom = 95 / width, 1 - 105 / width, 1 - 78 / height, 95 / height
    grid = fig.add_gridspec(
        1, 3, width_ratios=[1.0, 0.24, 0.025], wspace=0.05, left=left, right=right, top=top, bottom=bottom
    )
    ax = fig.add_subplot(grid[0, 0])
    ax_map = fig.add_subplot(grid[0, 1], sharey=ax)
    cax = fig.add_subplot(grid[0, 2])
    for a in (ax, ax_map, cax):
        a.set_facecolor(BACKGROUND)
        a.tick_params(colors=FOREGROUND, labelsize=8)
        for spine in a.spines.values():
            spine.set_color("#3b4252")

    z = side_matrix(hm, side).T  # (bins, columns)
    positive = z[z > 0.0]
    vmax = float(positive.max()) if positive.size else 1.0
    if log_color and positive.size:
        # the lower quartile of cells starts the scale: bands stand out instead of a uniform glow
        vmin = max(float(np.quantile(positive, LOG_FLOOR_QUANTILE)), vmax * 1e-4)
        norm: Normalize = LogNorm(vmin=min(vmin, vmax * 0.999), vmax=vmax, clip=True)
    else:
        norm = Normalize(vmin=0.0, vmax=vmax)
    masked = np.ma.masked_less_equal(z, 0.0)
    x_edges = _dates(hm.time_edges_ns)
    mesh = ax.pcolormesh(
        x_edges, hm.price_edges, masked, cmap=cmap, norm=norm, shading="flat", rasterized=True
    )
    if is_log_bins(hm.price_edges):
        ax.set_yscale("log")
        # a heatmap spans far less than a decade: plain, evenly spaced price ticks read better
        ax.yaxis.set_major_locator(MaxNLocator(nbins=10))
        ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: price_text(v)))
    x_mid = 0.5 * (x_edges[:-1] + x_edges[1:])
    if candles:
        ax.vlines(x_mid, hm.low, hm.high, color=PRICE_LINE, linewidth=0.6, alpha=0.6)
    ax.plot(x_mid, hm.close, color=PRICE_LINE, linewidth=1.3, label="price (close)")
    ax.set_xlim(x_edges[0], x_edges[-1])
    ax.set_ylim(hm.price_edges[0], hm.price_edges[-1])
    ax.xaxis_date()
    fig.autofmt_xdate(rotation=0, ha="center")
    ax.set_ylabel("price", color=FOREGROUND)
    ax.set_xlabel("time (UTC)", color=FOREGROUND)
    leg = ax.legend(loc="upper left", fontsize=8, facecolor=BACKGROUND, edgecolor="#3b4252")
    for text in leg.get_texts():
        text.set_color(FOREGROUND)

    cbar = fig.colorbar(mesh, cax=cax)
    cbar.set_label("estimated liquidation USD per price bin", color=FOREGROUND, fontsize=9)
    if isinstance(norm, LogNorm):
        cbar.ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    cbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: usd(v)))
    cbar.ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    cbar.ax.tick_params(colors=FOREGROUND, labelsize=8)

    lm = hm.liquidation_map()
    edges = hm.price_edges
    y = np.repeat(edges, 2)[1:-1]  # step outline over bins
    if side in ("both", "long"):
        ax_map.fill_betweenx(
            y, 0.0, np.repeat(lm.cum_long_usd, 2), color=LONG_COLOUR, alpha=0.55, linewidth=0
        )
    if side in ("both", "short"):
        ax_map.fill_betweenx(
            y, 0.0, np.repeat(lm.cum_short_usd, 2), color=SHORT_COLOUR, alpha=0.55, linewidth=0
        )
    ax_map.axhline(lm.current_price, color=PRICE_LINE, linewidth=1.0)
    ax_map.text(
        0.98,
        lm.current_price,
        f" {price_text(lm.current_price)}",
        transform=ax_map.get_yaxis_transform(),
        color=PRICE_LINE,
        fontsize=8,
        ha="right",
        va="bottom",
    )
    ax_map.set_xlim(left=0.0)
    ax_map.xaxis.set_major_locator(MaxNLocator(nbins=4, prune="lower"))  # "$0" would touch the time axis
    ax_map.xaxis.set_major_formatter(FuncFormatter(lambda v, _: usd(v)))
    ax_map.tick_params(axis="x", labelrotation=30)
    ax_map.tick_params(axis="y", labelleft=False)
    ax_map.set_title("liquidation map (cumulative)", color=FOREGROUND, fontsize=9)
    ax_map.set_xlabel("estimated USD", color=FOREGROUND, fontsize=9)

    # "BTC — Estimated liquidation heatmap (…)" on the first line, venues and window on the second
    head, _, rest = title_text(hm, side).partition(" — ")
    what, _, where = rest.partition(" — ")
    fig.text(left, 1 - 12 / height, f"{head} — {what}", color=FOREGROUND, fontsize=12, ha="left", va="top")
    fig.text(left, 1 - 34 / height, where, color="#a3acb9", fontsize=9.5, ha="left", va="top")
    foot = f"{ESTIMATED_NOTE}. {assumptions_text(hm)}".strip().rstrip(".")
    fig.text(left, 8 / height, foot, color="#a3acb9", fontsize=8, ha="left", va="bottom")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=dpi, facecolor=BACKGROUND)
    return out
