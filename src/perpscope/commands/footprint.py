"""``perpscope footprint SYMBOL``: traded volume at price per bar, split by aggressor."""

from __future__ import annotations

import argparse

import numpy as np

from ..analytics.orderflow import footprint
from ..model import Kind
from ..symbols import parse_symbols
from ..timeutil import format_ns, parse_duration_ns
from ._market import add_common, add_window, open_store, print_json, resolve_window, window_text

EPILOG = """\
Each bar lists its price levels (multiples of --tick; default: a 1/2/5 step giving ~50 levels over the
traded range) with taker-sell × taker-buy volume in the base coin, the delta, and the point of control.

examples:
  perpscope footprint BTC --bar 5m
  perpscope footprint ETH --bar 1m --window 30m --tick 0.5 --venue binance
  perpscope footprint BTC --bar 15m --window 4h --json
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "footprint",
        help="footprint bars: volume at price per bar split by aggressor",
        description="Footprint bars from stored trades.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("symbol", help="canonical symbol (BTC, ETH, …)")
    p.add_argument("--bar", default="5m", help="bar length (default 5m)")
    p.add_argument("--tick", type=float, default=None, help="price level size (default: automatic)")
    p.add_argument("--venue", default=None, help="one venue only (default: all venues together)")
    add_window(p, default="1h")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    (sym,) = parse_symbols(args.symbol)
    start, end = resolve_window(args, store, Kind.TRADE, [sym])
    bar_ns = parse_duration_ns(args.bar)
    trades = store.read(
        Kind.TRADE,
        venue=args.venue,
        symbol=sym,
        start_ns=start,
        end_ns=end,
        columns=["ts_event", "side", "quantity", "price"],
    )
    if trades.num_rows == 0:
        print(f"no {sym} trades stored in {window_text(start, end)}")
        return 1
    col = {n: trades.column(n).to_numpy(zero_copy_only=False) for n in trades.column_names}
    fp = footprint(
        col["ts_event"],
        col["price"],
        col["quantity"],
        col["side"],
        bar_ns=bar_ns,
        tick=args.tick,  # bars start at the first trade's bar (multiples of bar_ns), not at an empty window
    )
    if args.json:
        bars = []
        for b in range(fp.bar_start_ns.size):
            used = np.flatnonzero(fp.total[b] > 0)
            bars.append(
                {
                    "start_ns": int(fp.bar_start_ns[b]),
                    "poc": float(fp.poc[b]),
                    "delta": float(fp.delta[b].sum()),
                    "levels": [
                        {
                            "price": float(fp.price[k]),
                            "buy": float(fp.buy[b, k]),
                            "sell": float(fp.sell[b, k]),
                        }
                        for k in used[::-1]
                    ],
                }
            )
        print_json({"symbol": sym, "bar_ns": bar_ns, "tick": fp.tick, "bars": bars})
        return 0
    digits = max(0, -int(np.floor(np.log10(fp.tick)))) if fp.tick < 1 else 0
    for b in range(fp.bar_start_ns.size):
        used = np.flatnonzero(fp.total[b] > 0)
        if used.size == 0:
            continue
        print(
            f"── {format_ns(int(fp.bar_start_ns[b]))}  POC {fp.poc[b]:,.{digits}f}  "
            f"Δ {fp.delta[b].sum():+,.4g}  vol {fp.total[b].sum():,.4g}"
        )
        for k in used[::-1]:
            level = f"{fp.price[k]:>14,.{digits}f}"
            print(f"   {level}  {fp.sell[b, k]:>12,.4f} × {fp.buy[b, k]:<12,.4f} {fp.delta[b, k]:+,.4f}")
    return 0
