"""Interactive HTML of an estimated liquidation heatmap: ONE self-contained file (plotly.js inlined from
the installed ``plotly`` package, so it opens without internet). Zoom and pan; hovering a cell shows its
estimated USD with the long/short split, the split by venue and by leverage tier. Columns and bins are
merged down for a sane file size (totals per column unchanged); numbers travel as float32 arrays.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..heatmap.result import Heatmap
from ._common import (
    ESTIMATED_NOTE,
    SideChoice,
    assumptions_text,
    bin_centres,
    fit,
    is_log_bins,
    side_matrix,
    title_text,
    usd,
)
from .png import LOG_FLOOR_QUANTILE

LONG_COLOUR = "#ef5350"
SHORT_COLOUR = "#26a69a"
PRICE_LINE = "#4fc3f7"
COLOURSCALE = "Inferno"


def _iso(ns: np.ndarray) -> list[str]:
    return np.datetime_as_string(np.asarray(ns, dtype="datetime64[ns]"), unit="s").tolist()


def _log_ticks(vmin: float, vmax: float) -> tuple[list[float], list[str]]:
    lo, hi = math.floor(math.log10(vmin)), math.ceil(math.log10(vmax))
    vals = [10.0**e * m for e in range(lo, hi + 1) for m in (1, 3) if vmin <= 10.0**e * m <= vmax]
    return [math.log10(v) for v in vals], [usd(v) for v in vals]


def hover_layout(hm: Heatmap) -> tuple[list[str], list[float], str]:
    """(venue names, leverage tiers, hovertemplate) for the cells' customdata
    ``[total, long, short, *venues, *leverages]`` (USD)."""

    venues = list(hm.by_venue)
    levs = sorted(hm.by_leverage)
    lines = [
        "%{x}<br>price %{y:,.6~g}",
        "<b>Estimated %{customdata[0]:$,.0f}</b>",
        "long %{customdata[1]:$,.0f} · short %{customdata[2]:$,.0f}",
    ]
    if venues:
        lines.append(
            "by venue: " + " · ".join(f"{v} %{{customdata[{3 + i}]:$,.0f}}" for i, v in enumerate(venues))
        )
    if levs:
        base = 3 + len(venues)
        lines.append(
            "by leverage: "
            + " · ".join(f"{lv:g}× %{{customdata[{base + i}]:$,.0f}}" for i, lv in enumerate(levs))
        )
    return venues, levs, "<br>".join(lines) + "<extra>estimated</extra>"


def render_html(
    heatmap: Heatmap,
    path: str | os.PathLike[str],
    *,
    side: SideChoice = "both",
    log_color: bool = True,
    max_columns: int = 300,
    max_bins: int = 300,
    height: int = 820,
) -> Path:
    """Write the self-contained HTML file and return its path."""

    if not (1 <= max_columns <= 2000 and 1 <= max_bins <= 2000):
        raise ValueError("max_columns and max_bins must be in 1..2000")
    hm = fit(heatmap, max_columns=max_columns, max_bins=max_bins)
    venues, levs, template = hover_layout(hm)
    total = side_matrix(hm, side).T  # (bins, columns)
    layers = [total, hm.long_usd.T, hm.short_usd.T]
    layers += [side_matrix(hm.by_venue[v], side).T for v in venues]
    layers += [side_matrix(hm.by_leverage[lv], side).T for lv in levs]
    custom = np.stack(layers, axis=-1).astype(np.float32)

    positive = total[total > 0.0]
    colorbar: dict[str, object] = {"title": {"text": "estimated USD<br>per bin"}}
    if log_color and positive.size:
        vmax = float(positive.max())
        vmin = max(float(np.quantile(positive, LOG_FLOOR_QUANTILE)), vmax * 1e-4)
        z = np.where(total > 0.0, np.log10(np.maximum(total, vmin)), np.nan)
        tickvals, ticktext = _log_ticks(vmin, vmax)
        colorbar.update(tickvals=tickvals, ticktext=ticktext)
        zmin, zmax = math.log10(vmin), math.log10(vmax)
    else:
        z = np.where(total > 0.0, total, np.nan)
        zmin, zmax = 0.0, float(positive.max()) if positive.size else 1.0
    x = _iso((hm.time_edges_ns[:-1] + hm.time_edges_ns[1:]) // 2)
    y = bin_centres(hm.price_edges)

    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.8, 0.2], horizontal_spacing=0.02)
    fig.add_trace(
        go.Heatmap(
            x=x,
            y=y,
            z=z.astype(np.float32),
            zmin=zmin,
            zmax=zmax,
            customdata=custom,
            hovertemplate=template,
            colorscale=COLOURSCALE,
            colorbar=colorbar,
            name="estimated liquidation USD",
            hoverongaps=False,
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=hm.close,
            mode="lines",
            line={"color": PRICE_LINE, "width": 1.5},
            name="price (close)",
            hovertemplate="%{x}<br>close %{y:,.6~g}<extra>price</extra>",
        ),
        row=1,
        col=1,
    )
    lm = hm.liquidation_map()
    for name, values, colour, show in (
        ("longs below price", lm.cum_long_usd, LONG_COLOUR, side in ("both", "long")),
        ("shorts above price", lm.cum_short_usd, SHORT_COLOUR, side in ("both", "short")),
    ):
        if not show:
            continue
        fig.add_trace(
            go.Scatter(
                x=values,
                y=y,
                mode="lines",
                fill="tozerox",
                line={"color": colour, "width": 1},
                name=f"estimated cumulative {name}",
                hovertemplate="price %{y:,.6~g}<br>estimated cumulative %{x:$,.0f}<extra>"
                + name
                + "</extra>",
            ),
            row=1,
            col=2,
        )
    fig.add_hline(y=lm.current_price, line={"color": PRICE_LINE, "width": 1, "dash": "dot"}, row=1, col=2)
    ytype = "log" if is_log_bins(hm.price_edges) else "linear"
    fig.update_yaxes(type=ytype, title_text="price", row=1, col=1)
    fig.update_yaxes(type=ytype, row=1, col=2)
    fig.update_xaxes(title_text="time (UTC)", row=1, col=1)
    fig.update_xaxes(title_text="Estimated cumulative USD", row=1, col=2)
    foot = f"{ESTIMATED_NOTE}. {assumptions_text(hm)}".strip()
    fig.update_layout(
        title={"text": title_text(hm, side), "x": 0.01, "font": {"size": 15}},
        template="plotly_dark",
        height=height,
        hovermode="closest",
        legend={"orientation": "h", "y": -0.12, "x": 0.0},
        margin={"l": 70, "r": 30, "t": 60, "b": 140},
        annotations=[
            *fig.layout.annotations,
            {
                "text": foot,
                "xref": "paper",
                "yref": "paper",
                "x": 0.0,
                "y": -0.19,
                "showarrow": False,
                "font": {"size": 11, "color": "#a3acb9"},
                "xanchor": "left",
            },
        ],
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(
        out,
        include_plotlyjs=True,
        full_html=True,
        include_mathjax=False,
        config={"displaylogo": False, "responsive": True, "scrollZoom": True},
    )
    return out
