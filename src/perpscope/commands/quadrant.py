"""``perpscope quadrant``: each symbol placed by CVD change and order-book imbalance."""

from __future__ import annotations

import argparse

from rich import box
from rich.table import Table

from ..analytics.orderflow import DEFAULT_OBI_PCT, QUADRANT_MEANING
from ..model import Kind
from ..symbols import parse_symbols
from ._market import (
    add_common,
    add_window,
    console,
    open_store,
    print_json,
    resolve_window,
    stored_quadrant,
    usd,
    window_text,
)

EPILOG = """\
CVD = taker buy − taker sell volume over the window (per venue and "all"); OBI = (bids − asks)/(bids +
asks) of resting size within ±--pct of mid in the books as of the window's end (rebuilt from stored
snapshots and deltas). Quadrants:
  buying-with-support     CVD up,   OBI > 0: the book backs the buying
  buying-into-wall        CVD up,   OBI < 0: heavier offers absorb the buying
  selling-absorbed        CVD down, OBI > 0: heavier bids absorb the selling
  selling-into-thin-bids  CVD down, OBI < 0: little resting demand under the selling
  neutral                 |CVD| ≤ --min-cvd × volume or |OBI| ≤ --min-obi

examples:
  perpscope quadrant
  perpscope quadrant --symbols BTC,ETH --window 1h --json
  perpscope quadrant --from 2024-08-08T23:54Z --to 2024-08-09T00:00Z
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "quadrant",
        help="CVD × order-book-imbalance quadrant per symbol and venue",
        description="Place each symbol (per venue and across venues) by its CVD change and its order-book "
        "imbalance.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--symbols", default=None, help="comma-separated canonical symbols (default: the six)")
    add_window(p, default="15m")
    p.add_argument("--pct", type=float, default=100 * DEFAULT_OBI_PCT, help="OBI band, ±%% of mid (0.5)")
    p.add_argument("--min-cvd", type=float, default=0.02, help="|CVD| / volume below this is neutral")
    p.add_argument("--min-obi", type=float, default=0.05, help="|OBI| below this is neutral")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    symbols = parse_symbols(args.symbols)
    start, end = resolve_window(args, store, Kind.TRADE, symbols)
    rows = []
    for sym in symbols:
        rows += stored_quadrant(
            store, sym, start, end, pct=args.pct / 100, min_cvd_ratio=args.min_cvd, min_obi=args.min_obi
        )
    if args.json:
        print_json([r.to_dict() for r in rows])
        return 0
    t = Table(box=box.SIMPLE_HEAVY, show_edge=False, title=f"quadrant {window_text(start, end)}")
    for name in ("symbol", "venue", "CVD (base)", "CVD (USD)", "CVD/vol", "OBI"):
        t.add_column(name, justify="right" if name.startswith(("CVD", "OBI")) else "left")
    t.add_column("quadrant", no_wrap=True, min_width=22)
    for r in rows:
        ratio = f"{r.cvd_base / r.volume_base:+.1%}" if r.volume_base > 0 else "–"
        obi = f"{r.obi:+.3f}" if r.obi == r.obi else "–"
        t.add_row(r.symbol, r.venue, f"{r.cvd_base:+,.4g}", usd(r.cvd_usd), ratio, obi, r.quadrant.value)
    con = console()
    con.print(t)
    for q in sorted({r.quadrant for r in rows}):
        con.print(f"[dim]{q.value}: {QUADRANT_MEANING[q]}[/dim]")
    if not rows:
        con.print("no trades or books stored for " + ", ".join(symbols) + " in the window")
    return 0
