"""Shared plumbing of the analytics commands (cascades, funding, oi, quadrant, footprint, depth, levels):
time windows, reading from the store, rebuilding order books from stored snapshots and deltas, output."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import msgspec

from ..errors import StoreError
from ..jsonsafe import json_safe
from ..model import BookDelta, BookSnapshot, Kind, Venue
from ..store import VIEW_NAMES, Store
from ..timeutil import NS_PER_S, format_ns, now_ns, parse_duration_ns, parse_time_ns
from ._common import add_data_dir, resolve_data_dir

DELTA_LEAD_NS = 60 * NS_PER_S  # deltas received before the snapshot that may bridge it (Binance)


def add_window(parser: argparse.ArgumentParser, *, default: str | None) -> None:
    tail = f"; default {default}" if default else ""
    parser.add_argument(
        "--window",
        default=None,
        metavar="DUR",
        help=f"length of the window ending at --to (e.g. 15m, 4h, 3d){tail}",
    )
    parser.add_argument(
        "--from", dest="from_", default=None, metavar="TS", help="start (ISO-8601 or epoch ms)"
    )
    parser.add_argument(
        "--to",
        default=None,
        metavar="TS",
        help="end (ISO-8601 or epoch ms); default: the latest stored event of the symbol",
    )
    parser.set_defaults(default_window=default)


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_data_dir(parser)


def open_store(args: argparse.Namespace) -> Store:
    return Store(resolve_data_dir(args))


def latest_ts(store: Store, kind: Kind, symbols: list[str] | None = None) -> int | None:
    """The latest ``ts_event`` stored for ``kind`` (and symbols), or None when there is none."""

    where = ""
    params: list[Any] = []
    if symbols:
        where = f" WHERE symbol IN ({', '.join('?' for _ in symbols)})"
        params = list(symbols)
    try:
        table = store.query(f"SELECT max(ts_event) AS t FROM {VIEW_NAMES[kind]}{where}", params)
    except StoreError:
        return None  # no such view yet: nothing stored of that kind
    value = table.column("t")[0].as_py() if table.num_rows else None
    return int(value) if value is not None else None


def resolve_window(
    args: argparse.Namespace, store: Store, kind: Kind, symbols: list[str] | None
) -> tuple[int | None, int]:
    """``(start_ns, end_ns)`` from --from/--to/--window; ``end`` defaults to just after the latest stored
    event (so offline data works), ``start`` to end − window (None: no lower bound)."""

    if getattr(args, "to", None):
        end = parse_time_ns(args.to)
    else:
        last = latest_ts(store, kind, symbols)
        end = last + 1 if last is not None else now_ns()
    if getattr(args, "from_", None):
        start: int | None = parse_time_ns(args.from_)
    elif getattr(args, "window", None) or getattr(args, "default_window", None):
        start = end - parse_duration_ns(args.window or args.default_window)
    else:
        start = None
    if start is not None and start >= end:
        raise ValueError(f"empty window: --from {format_ns(start)} is not before --to {format_ns(end)}")
    return start, end


def books_at(store: Store, symbol: str, at_ns: int) -> dict[str, Any]:
    """Per venue, the local book as of ``at_ns`` rebuilt from the latest stored snapshot before it and the
    deltas after it (``feed.book.LocalBook``, the venue's own sync rules). Venues whose book cannot be
    synced are left out with a note on stderr. Cost grows with the time since that snapshot."""

    from ..feed.book import LocalBook

    try:
        latest = store.query(
            f"SELECT venue, max(ts_event) AS t FROM {VIEW_NAMES[Kind.BOOK_SNAPSHOT]} "
            "WHERE symbol = ? AND ts_event < ? GROUP BY venue",
            [symbol, at_ns],
        ).to_pylist()
    except StoreError:
        return {}  # no snapshot stored at all
    books: dict[str, Any] = {}
    for row in sorted(latest, key=lambda r: str(r["venue"])):
        venue = Venue(row["venue"])
        t = int(row["t"])
        snap = [
            s for s in store.events(Kind.BOOK_SNAPSHOT, venue=venue, symbol=symbol, start_ns=t, end_ns=t + 1)
        ]
        if not snap or not isinstance(snap[-1], BookSnapshot):
            continue
        last = snap[-1]
        deltas = [
            d
            for d in store.events(
                Kind.BOOK_DELTA, venue=venue, symbol=symbol, start_ns=t - DELTA_LEAD_NS, end_ns=at_ns
            )
            if isinstance(d, BookDelta)
        ]
        book = LocalBook(venue, symbol)
        # receive order is the order the collector applied them in; deltas received before the snapshot
        # are buffered by the book (Binance bridges them with U <= lastUpdateId <= u)
        for d in sorted((d for d in deltas if d.ts_recv < last.ts_recv), key=lambda d: d.ts_recv):
            book.apply(d)
        book.apply(last)
        for d in sorted((d for d in deltas if d.ts_recv >= last.ts_recv), key=lambda d: d.ts_recv):
            book.apply(d)
        if book.synced:
            books[venue.value] = book
        else:
            print(
                f"note: {venue.value} {symbol} book could not be synced ({book.state.value}); left out",
                file=sys.stderr,
            )
    return books


def stored_quadrant(store: Store, symbol: str, start_ns: int, end_ns: int, **thresholds: float) -> list[Any]:
    """``analytics.orderflow.quadrant_rows`` over the stored trades of ``[start_ns, end_ns)`` and the books
    as of ``end_ns`` (``pct``, ``min_cvd_ratio``, ``min_obi`` pass through); [] when neither is stored."""

    from ..analytics.orderflow import quadrant_rows

    trades = store.read(
        Kind.TRADE,
        symbol=symbol,
        start_ns=start_ns,
        end_ns=end_ns,
        columns=["ts_event", "venue", "side", "quantity", "price"],
    )
    books = books_at(store, symbol, end_ns)
    if trades.num_rows == 0 and not books:
        return []
    return quadrant_rows(symbol, trades, books, start_ns=start_ns, end_ns=end_ns, **thresholds)


def console() -> Any:
    """A rich console; when output is not a terminal, wide enough that tables do not fold."""

    from rich.console import Console

    con = Console(soft_wrap=True)
    return con if con.is_terminal else Console(soft_wrap=True, width=200)


def print_json(obj: Any) -> None:
    sys.stdout.write(msgspec.json.encode(json_safe(obj)).decode() + "\n")


def usd(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    sign = "-" if x < 0 else ""
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{sign}${abs(x) / div:,.2f}{unit}"
    return f"{sign}${abs(x):,.0f}"


def pct(x: float | None, *, digits: int = 1, sign: bool = True) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:+.{digits}f}%" if sign else f"{x:.{digits}f}%"


def window_text(start: int | None, end: int) -> str:
    return f"{format_ns(start) if start is not None else '…'} → {format_ns(end)} UTC"
