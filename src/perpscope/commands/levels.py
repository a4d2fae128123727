"""``perpscope levels SYMBOL``: the heatmap's top clusters on each side, each checked against the book,
funding, CVD and the tape, with a plain-language reading."""

from __future__ import annotations

import argparse
import sys

from rich import box
from rich.table import Table

from ..analytics.confluence import ConfluenceParams
from ..model import Kind
from ..symbols import parse_symbols
from ..timeutil import parse_duration_ns, parse_time_ns
from ._levels import stored_levels
from ._market import add_common, console, latest_ts, open_store, pct, print_json, usd, window_text

EPILOG = """\
For the --per-side largest persistent clusters below price (longs) and above (shorts) of the estimated
heatmap: estimated USD and persistence (columns of the last --lookback holding ≥ half the band's peak),
resting liquidity between price and the level and at it (air / partial / absorb), funding sign and 90-day
percentile, CVD direction over --cvd-window (and whether it turned), recent liquidations near the level,
and a reading. The reading says what would happen IF price went there; it is not a forecast.

examples:
  perpscope levels BTC
  perpscope levels ETH --window 3d --per-side 5
  perpscope levels BTC --to 2026-05-30T12:00Z --json
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "levels",
        help="top heatmap clusters with book, funding, CVD and tape context, and a reading",
        description="Confluence report for the heatmap's persistent clusters.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("symbol", help="canonical symbol (BTC, ETH, …)")
    p.add_argument("--window", default="24h", help="heatmap window (default 24h)")
    p.add_argument("--to", default=None, metavar="TS", help="end (default: after the latest stored bar)")
    p.add_argument("--per-side", type=int, default=3, help="clusters per side (default 3)")
    p.add_argument("--lookback", type=int, default=12, help="heatmap columns for persistence (default 12)")
    p.add_argument("--cvd-window", default="1h", help="CVD direction window (default 1h)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    (sym,) = parse_symbols(args.symbol)
    if args.to:
        end = parse_time_ns(args.to)
    else:
        last = latest_ts(store, Kind.BAR, [sym])
        if last is None:
            print(f"no {sym} bars stored (import or collect bars first)")
            return 1
        end = last + 1
    report = stored_levels(
        store,
        sym,
        end_ns=end,
        window=args.window,
        per_side=args.per_side,
        lookback=args.lookback,
        params=ConfluenceParams(cvd_window_ns=parse_duration_ns(args.cvd_window)),
    )
    if report is None:
        print(f"no {sym} bars stored before the end")
        return 1
    hm, rows = report.heatmap, report.rows
    if report.missing:
        print(
            f"note: no {', '.join(report.missing)} stored for {sym}: those columns are unknown",
            file=sys.stderr,
        )
    if args.json:
        print_json(
            {
                "symbol": sym,
                "price": float(hm.close[-1]),
                "estimated": True,
                "levels": [r.to_dict() for r in rows],
            }
        )
        return 0
    t = Table(
        box=box.SIMPLE_HEAVY,
        show_edge=False,
        title=f"{sym} levels, heatmap {window_text(int(hm.time_edges_ns[0]), end)}, "
        f"price {hm.close[-1]:,.6g} (cluster USD is an estimate)",
    )
    for name in (
        "side",
        "range",
        "dist",
        "est. USD",
        "persist",
        "between",
        "at",
        "path",
        "funding",
        "CVD",
        "tape",
    ):
        t.add_column(name, justify="left" if name in ("side", "path", "CVD", "range") else "right")
    for r in rows:
        b = r.band
        fund = "–"
        if r.funding_8h is not None:
            p90 = (
                ""
                if r.funding_pct_90d is None or r.funding_pct_90d != r.funding_pct_90d
                else f" p{r.funding_pct_90d:.0f}"
            )
            fund = f"{100 * r.funding_8h:+.4f}%{p90}{' flip' if r.funding_flipped else ''}"
        t.add_row(
            b.side.value,
            f"{b.price_low:,.6g}–{b.price_high:,.6g}",
            pct(b.distance_pct),
            usd(b.usd),
            f"{b.persistence}/{b.lookback}",
            usd(r.between_usd),
            usd(r.at_usd),
            r.path,
            fund,
            r.cvd_direction
            if r.cvd_previous in (r.cvd_direction, "unknown", "flat")
            else f"{r.cvd_previous}→{r.cvd_direction}",
            f"{r.tape_count} / {usd(r.tape_usd)}" if r.tape_count else "",
        )
    con = console()
    con.print(t)
    for r in rows:
        con.print(f"• {r.reading}")
    if not rows:
        con.print("no persistent clusters in the window")
    return 0
