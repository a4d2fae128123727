"""``perpscope funding``: the funding scoreboard from stored funding and open interest."""

from __future__ import annotations

import argparse
import asyncio
import itertools

from rich import box
from rich.table import Table

from ..analytics.funding import DAY_NS, funding_scoreboard
from ..feed.history import fetch_funding_history
from ..feed.plans import VenueRoots
from ..model import Kind, Venue
from ..store import Store
from ..symbols import parse_symbols, parse_venues
from ..timeutil import NS_PER_MS, format_ns, now_ns, parse_time_ns
from ._market import add_common, console, latest_ts, open_store, pct, print_json, usd

EPILOG = """\
Per venue and symbol: current/predicted rate, last settled rate, interval, the rate per 8 h and as a
simple APR, and its percentile against its own 30- and 90-day hourly history; then an "all" row with the
OI-weighted cross-venue average. History comes from the store (collect or import funding first) or,
with --fetch, from the venues' public REST (settled rates of the last 90 days, stored idempotently first).

examples:
  perpscope funding
  perpscope funding --symbols BTC,ETH --json
  perpscope funding --at 2026-05-01T00:00Z
  perpscope funding --fetch --symbols BTC,ETH --venues binance,bybit,okx,hyperliquid
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "funding",
        help="funding scoreboard: 8h/APR rates, OI-weighted average, 30/90-day percentiles",
        description="Funding scoreboard from the store.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--symbols", default=None, help="comma-separated canonical symbols (default: the six)")
    p.add_argument(
        "--at", default=None, metavar="TS", help="evaluate as of this time (default: latest stored)"
    )
    p.add_argument("--fetch", action="store_true", help="first fetch 90 days of settled funding over REST")
    p.add_argument("--venues", default=None, help="with --fetch: comma list (default: all four)")
    p.add_argument(
        "--rest-url",
        action="append",
        default=[],
        metavar="VENUE=URL",
        help="with --fetch: a venue's REST root",
    )
    add_common(p)
    p.set_defaults(func=run)


def fetch_into_store(store: Store, args: argparse.Namespace, symbols: list[str]) -> None:
    """90 days of settled funding from the venues' public REST into the store (idempotent per request)."""

    roots = {}
    for item in args.rest_url:
        venue, _, url = item.partition("=")
        if not url:
            raise ValueError(f"bad --rest-url {item!r}: use VENUE=URL")
        roots[Venue(venue.strip().lower())] = VenueRoots(ws=url, rest=url)
    end_ms = now_ns() // NS_PER_MS
    start_ms = end_ms - 90 * DAY_NS // NS_PER_MS
    venues = parse_venues(args.venues)
    events, notes = asyncio.run(
        fetch_funding_history(venues=venues, symbols=symbols, start_ms=start_ms, end_ms=end_ms, roots=roots)
    )
    for note in notes:
        console().print(f"[yellow]fetch: {note}[/]")
    for (venue, symbol), group in itertools.groupby(events, key=lambda f: (f.venue.value, f.symbol)):
        rows = list(group)
        store.write_batch(
            rows, source_id=f"funding-fetch/{venue}/{symbol}/{rows[0].ts_event}-{rows[-1].ts_event}"
        )
    console().print(
        f"fetched {len(events):,} settled funding rates from {', '.join(v.value for v in venues)}"
    )


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    symbols = parse_symbols(args.symbols)
    if args.fetch:
        fetch_into_store(store, args, symbols)
    now = parse_time_ns(args.at) if args.at else latest_ts(store, Kind.FUNDING, symbols)
    if now is None:
        print("no funding stored for " + ", ".join(symbols) + " (collect or import some first)")
        return 1
    start = now - 91 * DAY_NS
    funding = store.read(Kind.FUNDING, symbol=symbols, start_ns=start, end_ns=now + 1)
    oi = store.read(Kind.OPEN_INTEREST, symbol=symbols, start_ns=now - DAY_NS, end_ns=now + 1)
    rows = funding_scoreboard(funding, oi, now_ns=now)
    if args.json:
        print_json([r.to_dict() for r in rows])
        return 0
    t = Table(box=box.SIMPLE_HEAVY, show_edge=False, title=f"funding as of {format_ns(now)} UTC")
    for name in ("symbol", "venue", "rate", "settled", "interval", "8h", "APR", "p30d", "p90d", "OI"):
        t.add_column(name, justify="left" if name in ("symbol", "venue") else "right")
    for r in rows:
        settled = "–" if r.settled_rate is None else f"{100 * r.settled_rate:.4f}%"
        t.add_row(
            r.symbol,
            r.venue,
            f"{100 * r.rate:.4f}%",
            settled,
            f"{r.interval_hours:g}h",
            f"{100 * r.rate_8h:.4f}%",
            pct(100 * r.apr, digits=2),
            pct(r.pct_30d, digits=0, sign=False).rstrip("%"),
            pct(r.pct_90d, digits=0, sign=False).rstrip("%"),
            usd(r.oi_usd),
        )
    console().print(t)
    return 0
