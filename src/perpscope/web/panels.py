"""The dashboard's table panels: funding scoreboard, CVD × OBI quadrant, cross-venue depth, levels."""

from __future__ import annotations

from typing import Any

from ..analytics.funding import DAY_NS, funding_scoreboard
from ..model import Kind
from ..store import Store
from ..timeutil import NS_PER_S
from .params import ApiError


def latest(store: Store, kind: Kind, symbol: str) -> int | None:
    from ..commands._market import latest_ts

    return latest_ts(store, kind, [symbol])


def funding_payload(store: Store, *, symbol: str) -> dict[str, Any]:
    now = latest(store, Kind.FUNDING, symbol)
    if now is None:
        raise ApiError(f"no funding stored for {symbol}", status=404)
    funding = store.read(Kind.FUNDING, symbol=symbol, start_ns=now - 91 * DAY_NS, end_ns=now + 1)
    oi = store.read(Kind.OPEN_INTEREST, symbol=symbol, start_ns=now - DAY_NS, end_ns=now + 1)
    rows = funding_scoreboard(funding, oi, now_ns=now)
    return {"symbol": symbol, "at_ms": now // 1_000_000, "rows": [r.to_dict() for r in rows]}


def quadrant_payload(store: Store, *, symbol: str) -> dict[str, Any]:
    from ..commands._market import stored_quadrant

    last = latest(store, Kind.TRADE, symbol)
    if last is None:
        return {"symbol": symbol, "rows": [], "note": f"no {symbol} trades stored"}
    end = last + 1
    rows = stored_quadrant(store, symbol, end - 3600 * NS_PER_S, end)
    return {"symbol": symbol, "window": "1h", "rows": [r.to_dict() for r in rows]}


def depth_payload(store: Store, *, symbol: str) -> dict[str, Any]:
    from ..analytics.depth import depth_profile
    from ..commands._market import books_at

    lasts = [t for t in (latest(store, k, symbol) for k in (Kind.BOOK_DELTA, Kind.BOOK_SNAPSHOT)) if t]
    if not lasts:
        return {"symbol": symbol, "rows": [], "note": f"no {symbol} order books stored"}
    books = books_at(store, symbol, max(lasts) + 1)
    if not books:
        return {"symbol": symbol, "rows": [], "note": f"no {symbol} book could be rebuilt"}
    prof = depth_profile(books, range_pct=0.02)
    return {"symbol": symbol, "center": prof.center, "venues": list(prof.venues), "rows": prof.to_rows()}


def levels_payload(store: Store, *, symbol: str, window: str) -> dict[str, Any]:
    """The confluence report as of the newest stored bar (``perpscope levels``, the same defaults)."""

    from ..commands._levels import stored_levels

    last = latest(store, Kind.BAR, symbol)
    if last is None:
        raise ApiError(f"no bars stored for {symbol}", status=404)
    report = stored_levels(store, symbol, end_ns=last + 1, window=window, per_side=5)
    if report is None:
        raise ApiError(f"no bars stored for {symbol}", status=404)
    return {
        "symbol": symbol,
        "estimated": True,
        "price": float(report.heatmap.close[-1]),
        "levels": [r.to_dict() for r in report.rows],
        "missing": report.missing,
    }
