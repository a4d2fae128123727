"""Confluence: each heatmap band checked against the book, funding, CVD and the tape, with a short reading.

A heatmap read alone fails about half the time; the read improves when each cluster is checked against:

* **path** — resting liquidity a move toward the cluster must eat (bids below price for a long cluster, asks
  above for a short cluster), between price and the band and at it, compared with the cluster's estimated
  USD: ``air`` (< ``air_ratio``), ``absorb`` (≥ ``absorb_ratio``) or ``partial``;
* **funding** — its sign (positive funding: longs pay, long positioning is crowded), its 90-day
  percentile, and whether it flipped sign since the last settlement;
* **CVD** — direction over the last window and the one before ("turning" when they disagree), and whether
  it points *toward* the cluster (falling toward longs below, rising toward shorts above);
* **tape** — liquidations of the cluster's side near the level recently (the cluster may already be
  being consumed).

The reading states what would happen IF price went there; it never predicts that it will.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from ..model import Liquidation, PositionSide
from ..timeutil import NS_PER_S
from ._columns import ALL, Columnar, columns
from .bands import Band
from .cascades import _is_long
from .depth import Books, resting_in
from .funding import FundingRow
from .orderflow import CVD

Path = Literal["air", "partial", "absorb", "unknown"]
Direction = Literal["rising", "falling", "flat", "unknown"]
Verdict = Literal["fragile", "mixed", "cushioned"]


@dataclass(frozen=True, kw_only=True)
class ConfluenceParams:
    around_pct: float = 0.002  # "at the level": the band's range widened by ±0.2 %
    air_ratio: float = 0.25  # resting on the way + at the level < 25 % of the cluster's USD → air
    absorb_ratio: float = 1.0  # ≥ 100 % → the book could absorb it
    cvd_window_ns: int = 3600 * NS_PER_S  # CVD direction over this window (and the one before it)
    cvd_min_ratio: float = 0.02  # |CVD| below 2 % of the window's volume → flat
    tape_window_ns: int = 3600 * NS_PER_S  # recent liquidations ...
    tape_pct: float = 0.005  # ... within ±0.5 % of the band
    funding_flat: float = 1e-6  # |rate per 8 h| below this → no sign


DEFAULT_CONFLUENCE_PARAMS = ConfluenceParams()


@dataclass(frozen=True, kw_only=True)
class FundingContext:
    """Funding facts a confluence row needs: the current 8 h rate, its 90-day percentile, and the rate
    settled before it (for "flipped")."""

    rate_8h: float
    pct_90d: float = float("nan")
    prev_rate_8h: float | None = None

    @classmethod
    def from_scoreboard(cls, rows: Sequence[FundingRow], symbol: str) -> FundingContext | None:
        """From ``funding_scoreboard`` rows: the ``all`` row's rate and percentile; the previous rate is the
        OI-weighted settled 8 h rate of the venues that report one."""

        mine = [r for r in rows if r.symbol == symbol]
        agg = next((r for r in mine if r.venue == ALL), None)
        if agg is None:
            return None
        settled = [(r.settled_8h, r.oi_usd) for r in mine if r.venue != ALL and r.settled_8h is not None]
        prev = None
        if settled:
            s = np.array([x[0] for x in settled], dtype=np.float64)
            w = np.array([x[1] for x in settled], dtype=np.float64)
            w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
            prev = float(np.sum(s * w) / w.sum()) if w.sum() > 0 else float(s.mean())
        return cls(rate_8h=agg.rate_8h, pct_90d=agg.pct_90d, prev_rate_8h=prev)


@dataclass(frozen=True, kw_only=True)
class ConfluenceRow:
    band: Band
    between_usd: float  # resting USD on the side a move toward the band eats, between price and the band
    at_usd: float  # same side, at the band (range ± around_pct)
    path: Path
    funding_8h: float | None
    funding_pct_90d: float | None
    funding_flipped: bool
    cvd_usd: float | None  # CVD over the last window
    cvd_direction: Direction
    cvd_previous: Direction  # over the window before
    cvd_toward: bool  # flow points toward the cluster
    tape_count: int  # recent same-side liquidations near the band
    tape_usd: float
    verdict: Verdict
    reading: str

    def to_dict(self) -> dict[str, Any]:
        def clean(v: float | None) -> float | None:
            return None if v is None or not np.isfinite(v) else float(v)

        b = self.band
        return {
            "side": b.side.value,
            "price_low": b.price_low,
            "price_high": b.price_high,
            "price_peak": b.price_peak,
            "distance_pct": b.distance_pct,
            "usd": b.usd,
            "persistence": b.persistence,
            "lookback": b.lookback,
            "between_usd": clean(self.between_usd),
            "at_usd": clean(self.at_usd),
            "path": self.path,
            "funding_8h": clean(self.funding_8h),
            "funding_pct_90d": clean(self.funding_pct_90d),
            "funding_flipped": self.funding_flipped,
            "cvd_usd": clean(self.cvd_usd),
            "cvd_direction": self.cvd_direction,
            "cvd_previous": self.cvd_previous,
            "cvd_toward": self.cvd_toward,
            "tape_count": self.tape_count,
            "tape_usd": self.tape_usd,
            "verdict": self.verdict,
            "reading": self.reading,
        }


def _direction(c: CVD | None, start: int, end: int, p: ConfluenceParams) -> tuple[Direction, float | None]:
    if c is None:
        return "unknown", None
    base, usd = c.window(start, end)
    vol = c.volume(start, end)
    if vol <= 0:
        return "unknown", None
    ratio = base / vol
    if ratio > p.cvd_min_ratio:
        return "rising", usd
    if ratio < -p.cvd_min_ratio:
        return "falling", usd
    return "flat", usd


def _sign(x: float | None, flat: float) -> int:
    if x is None or not np.isfinite(x) or abs(x) < flat:
        return 0
    return 1 if x > 0 else -1


def _money(x: float) -> str:
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"${x / div:.1f}{unit}"
    return f"${x:.0f}"


def _liq_columns(liqs: Columnar | Iterable[Liquidation] | None) -> dict[str, np.ndarray] | None:
    if liqs is None:
        return None
    if not isinstance(liqs, pa.Table | pa.RecordBatch | Mapping | Sequence):
        liqs = list(liqs)
    c = columns(liqs, ("ts_event", "side", "price", "notional_usd"))
    if c["ts_event"].size:
        c["is_long"] = _is_long(c["side"])
    else:
        c["is_long"] = np.zeros(0, dtype=bool)
    return c


def confluence_row(
    band: Band,
    *,
    books: Books | None,
    now_ns: int,
    price: float | None = None,
    funding: FundingContext | None = None,
    cvd: CVD | None = None,
    liquidations: Columnar | Iterable[Liquidation] | None = None,
    params: ConfluenceParams = DEFAULT_CONFLUENCE_PARAMS,
) -> ConfluenceRow:
    """The confluence of one band (see module docstring). Missing inputs give ``unknown``/None fields and
    are left out of the verdict rather than guessed."""

    return confluence_rows(
        [band],
        books=books,
        now_ns=now_ns,
        price=price,
        funding=funding,
        cvd=cvd,
        liquidations=liquidations,
        params=params,
    )[0]


def confluence_rows(
    bands: Sequence[Band],
    *,
    books: Books | None,
    now_ns: int,
    price: float | None = None,
    funding: FundingContext | None = None,
    cvd: CVD | None = None,
    liquidations: Columnar | Iterable[Liquidation] | None = None,
    params: ConfluenceParams = DEFAULT_CONFLUENCE_PARAMS,
) -> list[ConfluenceRow]:
    """One row per band, same order. ``books`` maps venue → book (any ``as_book`` input); ``cvd`` is the
    aggregate CVD; ``liquidations`` recent liquidation events/table; ``price`` defaults to each band's
    ``current_price``."""

    p = params
    liq = _liq_columns(liquidations)
    recent_dir, recent_usd = _direction(cvd, now_ns - p.cvd_window_ns, now_ns, p)
    prev_dir, _ = _direction(cvd, now_ns - 2 * p.cvd_window_ns, now_ns - p.cvd_window_ns, p)
    f_sign = _sign(funding.rate_8h, p.funding_flat) if funding else 0
    prev_sign = _sign(funding.prev_rate_8h, p.funding_flat) if funding else 0
    flipped = f_sign != 0 and prev_sign != 0 and f_sign != prev_sign
    rows = []
    for band in bands:
        px = band.current_price if price is None else float(price)
        is_long = band.side is PositionSide.LONG
        at_lo, at_hi = band.price_low * (1.0 - p.around_pct), band.price_high * (1.0 + p.around_pct)
        between_usd = at_usd = float("nan")
        path: Path = "unknown"
        if books:
            # the side a move toward the band eats: bids under a long cluster, asks over a short one
            if is_long:
                between = resting_in(books, at_hi, px, closed="right") if px > at_hi else None
            else:
                between = resting_in(books, px, at_lo, closed="left") if px < at_lo else None
            at = resting_in(books, at_lo, at_hi)
            pick = (lambda r: r.bid_usd) if is_long else (lambda r: r.ask_usd)
            between_usd = pick(between) if between is not None else 0.0
            at_usd = pick(at)
            ratio = (between_usd + at_usd) / band.usd if band.usd > 0 else float("inf")
            path = "air" if ratio < p.air_ratio else ("absorb" if ratio >= p.absorb_ratio else "partial")
        toward = (recent_dir == "falling") if is_long else (recent_dir == "rising")
        away = (recent_dir == "rising") if is_long else (recent_dir == "falling")
        crowded = f_sign == (1 if is_long else -1)
        tape_count, tape_usd = 0, 0.0
        if liq is not None:
            lo, hi = band.price_low * (1.0 - p.tape_pct), band.price_high * (1.0 + p.tape_pct)
            m = (
                (liq["ts_event"] >= now_ns - p.tape_window_ns)
                & (liq["ts_event"] <= now_ns)
                & (liq["is_long"] == is_long)
                & (liq["price"] >= lo)
                & (liq["price"] <= hi)
            )
            tape_count, tape_usd = int(np.count_nonzero(m)), float(liq["notional_usd"][m].sum())
        score = int(crowded) + int(toward) - int(away)
        score += {"air": 1, "absorb": -1}.get(path, 0)
        verdict: Verdict = "fragile" if score >= 2 else ("cushioned" if score <= -1 else "mixed")
        rows.append(
            ConfluenceRow(
                band=band,
                between_usd=between_usd,
                at_usd=at_usd,
                path=path,
                funding_8h=funding.rate_8h if funding else None,
                funding_pct_90d=funding.pct_90d if funding else None,
                funding_flipped=flipped,
                cvd_usd=recent_usd,
                cvd_direction=recent_dir,
                cvd_previous=prev_dir,
                cvd_toward=toward,
                tape_count=tape_count,
                tape_usd=tape_usd,
                verdict=verdict,
                reading=_reading(
                    band,
                    path=path,
                    f_sign=f_sign,
                    funding=funding,
                    flipped=flipped,
                    recent=recent_dir,
                    previous=prev_dir,
                    tape=(tape_count, tape_usd),
                    resting=between_usd + at_usd if books else None,
                    verdict=verdict,
                ),
            )
        )
    return rows


def _reading(
    band: Band,
    *,
    path: Path,
    f_sign: int,
    funding: FundingContext | None,
    flipped: bool,
    recent: Direction,
    previous: Direction,
    tape: tuple[int, float],
    resting: float | None,
    verdict: Verdict,
) -> str:
    is_long = band.side is PositionSide.LONG
    where = "below" if is_long else "above"
    parts = [f"{band.side.value} cluster {abs(band.distance_pct):.1f}% {where}"]
    if funding is not None:
        sign = {1: "positive", -1: "negative", 0: "flat"}[f_sign]
        text = f"funding flipped {sign}" if flipped else f"{sign} funding"
        if np.isfinite(funding.pct_90d):
            text += f" (p{funding.pct_90d:.0f} of 90d)"
        parts.append(text)
    if recent != "unknown":
        if previous not in ("unknown", "flat") and recent not in ("flat", previous):
            parts.append(f"CVD turning {'up' if recent == 'rising' else 'down'}")
        else:
            parts.append(f"CVD {recent}")
    book_side = "bids" if is_long else "asks"
    if path != "unknown":
        label = {"air": "thin", "partial": "some", "absorb": "thick"}[path]
        parts.append(f"{label} {book_side} ({path})")
    if tape[0]:
        parts.append(f"{tape[0]} {band.side.value} liquidations near it recently ({_money(tape[1])})")
    forced = "forced selling" if is_long else "forced buying"
    zone = f"{band.price_low:,.6g}–{band.price_high:,.6g}"
    cond = f"if price reached {zone}"
    money = f" ({_money(resting)})" if resting is not None else ""
    if verdict == "fragile":
        how = {
            "air": f"{forced} would meet little resting {book_side[:-1]} to stop it and could extend",
            "partial": f"{forced} would add to pressure already building and could run past some {book_side}",
            "absorb": f"{forced} would add to pressure already building, against thick {book_side}",
            "unknown": f"{forced} would add to pressure already building and could extend (book unknown)",
        }[path]
        tail = f"fragile: {cond}, {how}"
    elif verdict == "cushioned":
        how = {
            "absorb": f"resting {book_side}{money} could absorb the {forced}",
            "partial": f"the {forced} would meet some {book_side}{money}",
            "air": f"the {forced} would meet thin {book_side}",
            "unknown": f"how the book would take the {forced} is unknown",
        }[path]
        lead = "" if path == "absorb" else "flow points away from it; "
        tail = f"cushioned: {lead}{cond}, {how}"
    else:
        how = {
            "air": f"the {forced} would meet thin {book_side}, though flow and funding do not add to it",
            "partial": f"the {forced} would meet partial resistance",
            "absorb": f"the {forced} would meet thick {book_side}{money}, though flow or funding lean to it",
            "unknown": "the signals are mixed and the book is unknown",
        }[path]
        tail = f"mixed: {cond}, {how}"
    return ", ".join(parts) + ": " + tail
