"""``perpscope cascades [SYMBOL]``: the liquidation cascades found in stored liquidations."""

from __future__ import annotations

import argparse

from ..analytics.cascades import CascadeParams, detect_cascades_table, format_cascade
from ..model import Kind, event_record
from ..symbols import parse_symbols
from ..timeutil import NS_PER_S, format_ns
from ._market import add_common, add_window, open_store, print_json, resolve_window

EPILOG = """\
A cascade is a run of same-side liquidations (any venues) in which each event follows the previous one
within --gap seconds, and some --window-s seconds of it hold either ≥ --min-count events worth
≥ --min-count-usd, or ≥ --min-usd from ≥ 2 events (defaults validated on a real Binance flush; see
docs/analytics.md). Totals with ≥ include sampled feeds (Binance, OKX): lower bounds.

examples:
  perpscope cascades BTC
  perpscope cascades BTC --from 2024-12-05T19:00Z --to 2024-12-05T21:00Z
  perpscope cascades --json --min-count 8
  perpscope cascades BTC --save        # also store them (kind "cascade", view "cascades")
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "cascades",
        help="liquidation cascades found in stored liquidations (one per line)",
        description="Detect liquidation cascades in the stored liquidations and print one per line: start, "
        "end, side, count, total USD, venues, price range.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("symbol", nargs="?", default=None, help="canonical symbol (BTC, ETH, …); default: all")
    add_window(p, default=None)
    d = CascadeParams()
    p.add_argument("--window-s", type=float, default=d.window_ns / NS_PER_S, help="threshold window, seconds")
    p.add_argument(
        "--gap", type=float, default=d.gap_ns / NS_PER_S, help="max seconds between events of a run"
    )
    p.add_argument("--min-count", type=int, default=d.min_count, help="events in one window (count rule)")
    p.add_argument("--min-count-usd", type=float, default=d.min_count_usd, help="USD floor of the count rule")
    p.add_argument("--min-usd", type=float, default=d.min_usd, help="USD in one window (USD rule)")
    p.add_argument("--save", action="store_true", help="write the cascades to the store (idempotent per run)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    symbols = parse_symbols(args.symbol) if args.symbol else None
    start, end = resolve_window(args, store, Kind.LIQUIDATION, symbols)
    params = CascadeParams(
        window_ns=round(args.window_s * NS_PER_S),
        gap_ns=round(args.gap * NS_PER_S),
        min_count=args.min_count,
        min_count_usd=args.min_count_usd,
        min_usd=args.min_usd,
    )
    table = store.read(Kind.LIQUIDATION, symbol=symbols, start_ns=start, end_ns=end)
    found = detect_cascades_table(table, params=params)
    if args.save and found:
        source = f"cascades:{','.join(symbols or ['*'])}:{start}:{end}:{params}"
        store.write_batch(found, source_id=source)
    if args.json:
        print_json([event_record(c) for c in found])
        return 0
    for c in found:
        print(format_cascade(c) + f"  (to {format_ns(c.ts_end)[11:]})")
    scope = ", ".join(symbols) if symbols else "all symbols"
    print(f"{len(found)} cascade(s) in {table.num_rows:,} liquidations ({scope})")
    return 0
