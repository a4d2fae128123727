"""``perpscope oi``: aggregated open interest across venues, its 1h/4h/24h change and venue shares."""

from __future__ import annotations

import argparse

from rich import box
from rich.table import Table

from ..analytics.open_interest import DEFAULT_HORIZONS, oi_summary
from ..model import Kind
from ..symbols import parse_symbols
from ..timeutil import NS_PER_S, format_ns, parse_duration_ns, parse_time_ns
from ._market import add_common, console, latest_ts, open_store, pct, print_json, usd

EPILOG = """\
Open interest is one side of the book in USD. Venues are aligned as of the same time (a value older than
--max-age is left out, not frozen); a change sums only the venues present at both ends.

examples:
  perpscope oi
  perpscope oi --symbols BTC --horizons 1h,4h,24h,7d --json
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "oi",
        help="open interest across venues: total USD, 1h/4h/24h change, per-venue share",
        description="Aggregated open interest from the store.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--symbols", default=None, help="comma-separated canonical symbols (default: the six)")
    p.add_argument("--at", default=None, metavar="TS", help="as of this time (default: latest stored)")
    p.add_argument("--horizons", default=",".join(DEFAULT_HORIZONS), help="changes over these durations")
    p.add_argument("--max-age", default="1h", help="ignore a venue's value older than this (default 1h)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    symbols = parse_symbols(args.symbols)
    horizons = [h.strip() for h in args.horizons.split(",") if h.strip()]
    max_age = parse_duration_ns(args.max_age)
    now = parse_time_ns(args.at) if args.at else latest_ts(store, Kind.OPEN_INTEREST, symbols)
    if now is None:
        print("no open interest stored for " + ", ".join(symbols))
        return 1
    longest = max((parse_duration_ns(h) for h in horizons), default=0)
    table = store.read(
        Kind.OPEN_INTEREST, symbol=symbols, start_ns=now - longest - max_age - NS_PER_S, end_ns=now + 1
    )
    rows = oi_summary(table, now_ns=now, horizons=horizons, max_age_ns=max_age)
    if args.json:
        print_json([r.to_dict() for r in rows])
        return 0
    t = Table(box=box.SIMPLE_HEAVY, show_edge=False, title=f"open interest as of {format_ns(now)} UTC")
    for name in ("symbol", "venue", "OI", "share", *(f"Δ{h}" for h in horizons)):
        t.add_column(name, justify="left" if name in ("symbol", "venue") else "right")
    for r in rows:
        changes = [f"{usd(r.change_usd[h])} ({pct(r.change_pct[h], digits=2)})" for h in horizons]
        t.add_row(r.symbol, r.venue, usd(r.oi_usd), pct(100 * r.share, sign=False), *changes)
    console().print(t)
    return 0
