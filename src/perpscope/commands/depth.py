"""``perpscope depth SYMBOL``: cross-venue resting liquidity per price bucket."""

from __future__ import annotations

import argparse

from rich import box
from rich.table import Table

from ..analytics.depth import depth_profile
from ..model import Kind
from ..symbols import parse_symbols
from ..timeutil import format_ns, parse_time_ns
from ._market import add_common, books_at, console, latest_ts, open_store, print_json, usd

EPILOG = """\
Books are rebuilt as of --at (default: the latest stored book event) from stored snapshots and deltas,
then merged into common buckets (edges are multiples of the bucket size, so venues line up).

examples:
  perpscope depth BTC
  perpscope depth ETH --range 2% --bucket 1
  perpscope depth BTC --at 2024-08-08T23:59Z --json
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "depth",
        help="cross-venue resting liquidity per price bucket",
        description="Resting bids and asks of all venues' books merged into common price buckets.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("symbol", help="canonical symbol (BTC, ETH, …)")
    p.add_argument("--range", default="5%", help="± around the median mid (default 5%%)")
    p.add_argument("--bucket", type=float, default=None, help="bucket size in price (default: ~100 buckets)")
    p.add_argument("--at", default=None, metavar="TS", help="as of this time (default: latest stored)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    (sym,) = parse_symbols(args.symbol)
    rng = float(args.range.rstrip("%")) / 100
    if args.at:
        at = parse_time_ns(args.at)
    else:
        last = max(
            (
                t
                for t in (latest_ts(store, k, [sym]) for k in (Kind.BOOK_DELTA, Kind.BOOK_SNAPSHOT))
                if t is not None
            ),
            default=None,
        )
        if last is None:
            print(f"no {sym} order books stored")
            return 1
        at = last + 1
    books = books_at(store, sym, at)
    if not books:
        print(f"no {sym} book could be rebuilt as of {format_ns(at)} UTC")
        return 1
    prof = depth_profile(books, bucket=args.bucket, range_pct=rng)
    rows = prof.to_rows()
    if args.json:
        print_json(
            {
                "symbol": sym,
                "at_ns": at,
                "center": prof.center,
                "bucket": prof.bucket,
                "venues": list(prof.venues),
                "buckets": rows,
            }
        )
        return 0
    t = Table(
        box=box.SIMPLE_HEAVY,
        show_edge=False,
        title=f"{sym} depth ±{100 * rng:g}% around {prof.center:,.6g}, bucket {prof.bucket:g} "
        f"({format_ns(at)} UTC)",
    )
    for name in ("price", "bids", "asks", *prof.venues):
        t.add_column(name, justify="right")
    for r in reversed(rows):
        t.add_row(
            f"{r['price_low']:,.6g}",
            usd(r["bid_usd"]) if r["bid_usd"] else "",
            usd(r["ask_usd"]) if r["ask_usd"] else "",
            *(f"{r[f'{v}_base']:,.4g}" if r[f"{v}_base"] else "" for v in prof.venues),
        )
    con = console()
    con.print(t)
    bids, asks = usd(float(prof.total_bid_usd.sum())), usd(float(prof.total_ask_usd.sum()))
    con.print(f"total within range: bids {bids}, asks {asks}")
    return 0
