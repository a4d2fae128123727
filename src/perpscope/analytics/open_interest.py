"""Open interest across venues: one-sided USD, aggregated as-of, its change over 1h/4h/24h and each venue's
share.

Venues report OI at different times (Binance REST polls, Bybit/OKX streams every few seconds, Hyperliquid
per block), so every series is aligned *as of* a common time: the last value at or before it, unless that
value is older than ``max_age_ns`` (then the venue is absent there rather than frozen). A change over a
horizon sums only the venues present at both ends, so a venue joining or dropping out is not reported as
a change in open interest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from ..model import OpenInterest
from ..timeutil import NS_PER_S, parse_duration_ns
from ._columns import ALL, Columnar, as_str_array, asof, columns, group_by, venue_order

DEFAULT_HORIZONS: tuple[str, ...] = ("1h", "4h", "24h")


@dataclass(frozen=True, kw_only=True)
class OIAligned:
    """Open interest of several venues on one time grid: ``oi_usd[v, g]`` is venue ``v`` as of
    ``ts_ns[g]`` (NaN where absent)."""

    ts_ns: np.ndarray  # (G,) int64
    venues: tuple[str, ...]
    oi_usd: np.ndarray  # (V, G)

    @property
    def total_usd(self) -> np.ndarray:
        """Sum over the venues present (NaN where none is)."""

        present = np.isfinite(self.oi_usd)
        return np.where(present.any(axis=0), np.where(present, self.oi_usd, 0.0).sum(axis=0), np.nan)

    @property
    def share(self) -> np.ndarray:
        """``(V, G)`` each venue's fraction of the total (NaN where the venue is absent)."""

        with np.errstate(invalid="ignore", divide="ignore"):
            return self.oi_usd / self.total_usd[None, :]

    def change(self, horizon_ns: int) -> tuple[np.ndarray, np.ndarray]:
        """``(usd, percent)`` change of the total over ``horizon_ns`` at each grid time, over the venues
        present at both ends (NaN where the earlier end is before the grid)."""

        # the grid time at or before t - horizon (the earlier end)
        j = np.searchsorted(self.ts_ns, self.ts_ns - horizon_ns, side="right") - 1
        ok = j >= 0
        j = np.maximum(j, 0)
        a, b = self.oi_usd[:, j], self.oi_usd
        both = np.isfinite(a) & np.isfinite(b) & ok[None, :]
        d = np.where(both, b - a, 0.0).sum(axis=0)
        base = np.where(both, a, 0.0).sum(axis=0)
        any_both = both.any(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(any_both, d, np.nan), np.where(any_both & (base > 0), 100.0 * d / base, np.nan)


def _grouped(
    data: Columnar | Iterable[OpenInterest],
) -> tuple[dict[tuple[str, ...], np.ndarray], dict[str, np.ndarray]]:
    if not isinstance(data, pa.Table | pa.RecordBatch | Mapping | Sequence):
        data = list(data)
    c = columns(data, ("symbol", "venue", "ts_event", "oi_usd"))
    ts = c["ts_event"].astype(np.int64)
    return group_by((c["symbol"], c["venue"]), ts), {"ts": ts, "oi_usd": c["oi_usd"].astype(np.float64)}


def align_oi(
    ts_ns: Any,
    venue: Any,
    oi_usd: Any,
    *,
    grid_ns: Any = None,
    step_ns: int = 300 * NS_PER_S,
    max_age_ns: int = 3600 * NS_PER_S,
) -> OIAligned:
    """As-of alignment of one symbol's OI observations (any venues, any order) onto ``grid_ns`` (default:
    every ``step_ns`` from the first to the last observation, on multiples of ``step_ns``)."""

    ts = np.asarray(ts_ns, dtype=np.int64)
    ven = as_str_array(venue).astype(str)
    val = np.asarray(oi_usd, dtype=np.float64)
    if grid_ns is None:
        if ts.size == 0:
            grid = np.zeros(0, dtype=np.int64)
        else:
            grid = np.arange(-(-ts.min() // step_ns), ts.max() // step_ns + 1, dtype=np.int64) * step_ns
    else:
        grid = np.asarray(grid_ns, dtype=np.int64)
    names = tuple(sorted(set(ven.tolist()), key=venue_order))
    rows = []
    for name in names:
        m = np.flatnonzero(ven == name)
        m = m[np.argsort(ts[m], kind="stable")]
        rows.append(asof(ts[m], val[m], grid, max_age_ns=max_age_ns))
    mat = np.vstack(rows) if rows else np.zeros((0, grid.size))
    return OIAligned(ts_ns=grid, venues=names, oi_usd=mat)


@dataclass(frozen=True, kw_only=True)
class OIRow:
    """Open interest of one venue (or ``all``) for one symbol at ``ts_ns``; changes keyed by horizon
    label (``"1h"``…), NaN when there is no value that far back."""

    symbol: str
    venue: str
    ts_ns: int
    oi_usd: float
    share: float
    change_usd: dict[str, float] = field(default_factory=dict)
    change_pct: dict[str, float] = field(default_factory=dict)  # percent, e.g. 2.5 = +2.5 %

    def to_dict(self) -> dict[str, Any]:
        def clean(v: float) -> float | None:
            return v if np.isfinite(v) else None

        out: dict[str, Any] = {
            "symbol": self.symbol,
            "venue": self.venue,
            "ts_ns": self.ts_ns,
            "oi_usd": clean(self.oi_usd),
            "share": clean(self.share),
        }
        for k in self.change_usd:
            out[f"change_{k}_usd"] = clean(self.change_usd[k])
            out[f"change_{k}_pct"] = clean(self.change_pct[k])
        return out


def oi_summary(
    data: Columnar | Iterable[OpenInterest],
    *,
    now_ns: int | None = None,
    horizons: Sequence[str] = DEFAULT_HORIZONS,
    max_age_ns: int = 3600 * NS_PER_S,
) -> list[OIRow]:
    """Per symbol: one row per venue then the ``all`` row (sum of the venues present now, share 1),
    with changes over ``horizons`` (durations like ``"1h"``). ``now_ns`` defaults to the latest event."""

    groups, c = _grouped(data)
    if not groups:
        return []
    now = int(c["ts"].max()) if now_ns is None else int(now_ns)
    h_ns = np.array([parse_duration_ns(h) for h in horizons], dtype=np.int64)
    at = np.concatenate(([now], now - h_ns))
    rows: list[OIRow] = []
    for sym in sorted({s for s, _ in groups}):
        venues = sorted((v for s, v in groups if s == sym), key=venue_order)
        idx = [groups[(sym, v)] for v in venues]
        # (V, 1 + H): each venue now and at each horizon back
        vals = np.vstack([asof(c["ts"][i], c["oi_usd"][i], at, max_age_ns=max_age_ns) for i in idx])
        now_vals = vals[:, 0]
        present = np.isfinite(now_vals)
        total = float(now_vals[present].sum()) if present.any() else float("nan")
        for k, v in enumerate(venues):
            d = vals[k, 0] - vals[k, 1:]
            with np.errstate(invalid="ignore", divide="ignore"):
                pct = 100.0 * d / vals[k, 1:]
            rows.append(
                OIRow(
                    symbol=sym,
                    venue=v,
                    ts_ns=now,
                    oi_usd=float(now_vals[k]),
                    share=float(now_vals[k] / total) if present[k] and total > 0 else float("nan"),
                    change_usd=dict(zip(horizons, d.tolist(), strict=True)),
                    change_pct=dict(zip(horizons, pct.tolist(), strict=True)),
                )
            )
        both = np.isfinite(vals[:, 1:]) & present[:, None]  # (V, H)
        d_all = np.where(both, vals[:, :1] - vals[:, 1:], 0.0).sum(axis=0)
        base = np.where(both, vals[:, 1:], 0.0).sum(axis=0)
        any_both = both.any(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            pct_all = np.where(any_both & (base > 0), 100.0 * d_all / base, np.nan)
        rows.append(
            OIRow(
                symbol=sym,
                venue=ALL,
                ts_ns=now,
                oi_usd=total,
                share=1.0 if np.isfinite(total) else float("nan"),
                change_usd=dict(zip(horizons, np.where(any_both, d_all, np.nan).tolist(), strict=True)),
                change_pct=dict(zip(horizons, pct_all.tolist(), strict=True)),
            )
        )
    return rows
