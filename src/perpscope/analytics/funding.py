"""Funding: rates normalized to 8 h and APR, the OI-weighted cross-venue average, and where the current
rate sits against its own 30- and 90-day history, put together as a per venue × symbol scoreboard.

Venues settle every 1 h (Hyperliquid), 4 h or 8 h (Binance, Bybit, OKX; some symbols 1–4 h), so rates are
only comparable once normalized: ``rate_8h = rate · 8 / interval_hours``, ``apr = rate · 8760 /
interval_hours`` (simple, not compounded; a fraction: 0.1095 = 10.95 % a year).

History percentiles are time-weighted: the 8 h-normalized rate is sampled as-of every hour (the last value
known at that hour, if not older than ``max_age_ns``), so a venue recorded once per settlement and one
streamed every second weigh each hour the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ..model import Funding, OpenInterest
from ..timeutil import NS_PER_S
from ._columns import ALL, Columnar, as_str_array, asof, columns, group_by, venue_order

HOUR_NS = 3600 * NS_PER_S
DAY_NS = 24 * HOUR_NS
HOURS_PER_YEAR = 24 * 365


def rate_8h(rate: Any, interval_hours: Any) -> Any:
    """A per-interval rate expressed per 8 hours (vectorized)."""

    return np.asarray(rate, dtype=np.float64) * 8.0 / np.asarray(interval_hours, dtype=np.float64)


def rate_apr(rate: Any, interval_hours: Any) -> Any:
    """A per-interval rate as a simple annual rate (fraction; vectorized)."""

    return np.asarray(rate, dtype=np.float64) * HOURS_PER_YEAR / np.asarray(interval_hours, dtype=np.float64)


def oi_weighted_average(values: Any, oi_usd: Any) -> float:
    """Average of ``values`` weighted by open interest; entries with a NaN value or a non-positive/NaN OI
    are left out. With no usable OI at all it falls back to the plain mean of the finite values (NaN when
    there are none)."""

    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(oi_usd, dtype=np.float64)
    ok = np.isfinite(v)
    wok = ok & np.isfinite(w) & (w > 0)
    if wok.any():
        return float(np.sum(v[wok] * w[wok]) / np.sum(w[wok]))
    return float(np.mean(v[ok])) if ok.any() else float("nan")


def percentile_rank(current: float, history: Any) -> float:
    """Percentile (0–100) of ``current`` within ``history``, ties counted half (mid-rank); NaN values in
    history are ignored, and an empty history gives NaN."""

    h = np.asarray(history, dtype=np.float64)
    h = h[np.isfinite(h)]
    if h.size == 0 or not np.isfinite(current):
        return float("nan")
    less = np.count_nonzero(h < current)
    equal = np.count_nonzero(h == current)
    return float(100.0 * (less + 0.5 * equal) / h.size)


def hourly_grid(now_ns: int, lookback_ns: int) -> np.ndarray:
    """Whole hours in ``[now - lookback, now)``."""

    first = -(-(now_ns - lookback_ns) // HOUR_NS)
    last = (now_ns - 1) // HOUR_NS
    return np.arange(first, last + 1, dtype=np.int64) * HOUR_NS


@dataclass(frozen=True, kw_only=True)
class FundingRow:
    """One scoreboard row. ``venue == "all"`` is the OI-weighted cross-venue row of a symbol."""

    symbol: str
    venue: str
    ts_ns: int  # time of the current rate
    rate: float  # current / predicted rate for the running interval (per interval)
    interval_hours: float
    settled_rate: float | None  # last settled rate (per interval), when known
    rate_8h: float
    apr: float
    pct_30d: float  # percentile (0–100) of rate_8h against its hourly as-of history; NaN without history
    pct_90d: float
    n_hours_30d: int  # hours of history behind pct_30d (so a thin history is visible)
    n_hours_90d: int
    next_funding_ts: int | None
    oi_usd: float  # latest one-sided OI used as the weight (NaN when unknown)

    @property
    def settled_8h(self) -> float | None:
        return None if self.settled_rate is None else self.settled_rate * 8.0 / self.interval_hours

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, float) and not np.isfinite(v):
                out[k] = None  # JSON has no NaN
        return out


def _events_to_columnar(data: Any) -> Any:
    if isinstance(data, pa.Table | pa.RecordBatch | Mapping | Sequence):
        return data
    return list(data)


def _latest_oi(
    oi: Columnar | Iterable[OpenInterest] | None, now_ns: int, max_age_ns: int
) -> dict[tuple[str, ...], float]:
    if oi is None:
        return {}
    c = columns(_events_to_columnar(oi), ("symbol", "venue", "ts_event", "oi_usd"))
    ts, val = c["ts_event"].astype(np.int64), c["oi_usd"].astype(np.float64)
    now = np.array([now_ns])
    return {
        key: float(asof(ts[m], val[m], now, max_age_ns=max_age_ns)[0])
        for key, m in group_by((c["symbol"], c["venue"]), ts).items()
    }


def funding_scoreboard(
    funding: Columnar | Iterable[Funding],
    open_interest: Columnar | Iterable[OpenInterest] | None = None,
    *,
    now_ns: int | None = None,
    max_age_ns: int = DAY_NS,
    oi_max_age_ns: int = DAY_NS,
) -> list[FundingRow]:
    """Scoreboard rows per symbol: one per venue (venue order), then the ``all`` row with the OI-weighted
    average (weights: each venue's latest OI; equal weights when no OI is known). ``funding`` holds the
    Funding events (table columns ``symbol, venue, ts_event, rate, interval_hours`` and optionally
    ``settled_rate, next_funding_ts``) including their history; ``now_ns`` defaults to the latest event.
    The ``all`` row's percentiles compare the current average with the hourly history of the same
    average (as-of rates of each venue, fixed current OI weights)."""

    c = columns(
        _events_to_columnar(funding),
        ("symbol", "venue", "ts_event", "rate", "interval_hours"),
        optional=("settled_rate", "next_funding_ts"),
    )
    ts_all = c["ts_event"].astype(np.int64)
    if ts_all.size == 0:
        return []
    now = int(ts_all.max()) if now_ns is None else int(now_ns)
    sym_all, ven_all = as_str_array(c["symbol"]), as_str_array(c["venue"])
    r8_all = rate_8h(c["rate"], c["interval_hours"])
    settled_all = c["settled_rate"].astype(np.float64) if "settled_rate" in c else None
    next_all = c["next_funding_ts"].astype(np.float64) if "next_funding_ts" in c else None
    oi_latest = _latest_oi(open_interest, now, oi_max_age_ns)
    grid90 = hourly_grid(now, 90 * DAY_NS)
    in30 = grid90 >= now - 30 * DAY_NS

    keep = np.flatnonzero(ts_all <= now)
    groups: dict[str, dict[str, np.ndarray]] = {}
    for (sym, ven), idx in group_by((sym_all[keep], ven_all[keep]), ts_all[keep]).items():
        groups.setdefault(sym, {})[ven] = keep[idx]

    rows: list[FundingRow] = []
    for sym in sorted(groups):
        venue_rows: list[FundingRow] = []
        venue_hist: list[np.ndarray] = []
        for ven in sorted(groups[sym], key=venue_order):
            m = groups[sym][ven]  # this venue's events, by time
            i = m[-1]
            # the current event is excluded from its own history: grid hours strictly before it
            hist = asof(ts_all[m[:-1]], r8_all[m[:-1]], grid90, max_age_ns=max_age_ns)
            hist = np.where(grid90 < ts_all[i], hist, np.nan)
            venue_hist.append(asof(ts_all[m], r8_all[m], grid90, max_age_ns=max_age_ns))
            settled = None
            if settled_all is not None:
                s = settled_all[m]
                known = np.flatnonzero(np.isfinite(s))
                settled = float(s[known[-1]]) if known.size else None
            nxt = None
            if next_all is not None and np.isfinite(next_all[i]):
                nxt = int(next_all[i])
            interval = float(c["interval_hours"][i])
            rate = float(c["rate"][i])
            venue_rows.append(
                FundingRow(
                    symbol=sym,
                    venue=ven,
                    ts_ns=int(ts_all[i]),
                    rate=rate,
                    interval_hours=interval,
                    settled_rate=settled,
                    rate_8h=float(r8_all[i]),
                    apr=float(rate_apr(rate, interval)),
                    pct_30d=percentile_rank(float(r8_all[i]), hist[in30]),
                    pct_90d=percentile_rank(float(r8_all[i]), hist),
                    n_hours_30d=int(np.count_nonzero(np.isfinite(hist[in30]))),
                    n_hours_90d=int(np.count_nonzero(np.isfinite(hist))),
                    next_funding_ts=nxt,
                    oi_usd=oi_latest.get((sym, ven), float("nan")),
                )
            )
        if not venue_rows:
            continue
        rows.extend(venue_rows)
        weights = np.array([r.oi_usd for r in venue_rows])
        current = np.array([r.rate_8h for r in venue_rows])
        avg = oi_weighted_average(current, weights)
        w = np.where(np.isfinite(weights) & (weights > 0), weights, 0.0)
        if not w.any():
            w = np.ones_like(w)
        hist_m = np.vstack(venue_hist)  # (V, H)
        present = np.isfinite(hist_m)
        wsum = (w[:, None] * present).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            avg_hist = np.where(present, hist_m * w[:, None], 0.0).sum(axis=0) / wsum
        latest_ts = max(r.ts_ns for r in venue_rows)
        avg_hist = np.where((wsum > 0) & (grid90 < latest_ts), avg_hist, np.nan)
        total_oi = float(np.nansum(weights)) if np.isfinite(weights).any() else float("nan")
        rows.append(
            FundingRow(
                symbol=sym,
                venue=ALL,
                ts_ns=latest_ts,
                rate=avg,  # already per 8 h: the average is taken over normalized rates
                interval_hours=8.0,
                settled_rate=None,
                rate_8h=avg,
                apr=avg * HOURS_PER_YEAR / 8.0,
                pct_30d=percentile_rank(avg, avg_hist[in30]),
                pct_90d=percentile_rank(avg, avg_hist),
                n_hours_30d=int(np.count_nonzero(np.isfinite(avg_hist[in30]))),
                n_hours_90d=int(np.count_nonzero(np.isfinite(avg_hist))),
                next_funding_ts=None,
                oi_usd=total_oi,
            )
        )
    return rows
