"""``perpscope heatmap``: the estimated liquidation heatmap of one symbol from the store or from the venues'
public REST history, as a PNG, an interactive HTML file, JSON, or a text summary."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from ..heatmap.calibrate_model import (
    DEFAULT_SUBSTEPS,
    DISPLAY_SUBSTEPS,
    DISPLAY_TURNOVER_PER_H,
    default_engine_params,
)
from ..heatmap.params import EngineParams, parse_leverage_mix
from ..heatmap.pipeline import (
    ESTIMATE_LABEL,
    FETCH_VENUES,
    NS_PER_DAY,
    NoDataError,
    compute,
    fetch_series,
    heatmap_json,
    load_store_series,
    write_output,
)
from ..heatmap.windows import window_ns
from ..model import Venue
from ..render import render_summary
from ..store import Store
from ..symbols import parse_venues
from ..timeutil import now_ns, parse_time_ns
from ._common import add_data_dir, resolve_data_dir

EPILOG = """examples:
  perpscope heatmap BTC                                   # text summary of the last 24h from the store
  perpscope heatmap BTC --window 7d --out btc-7d.png
  perpscope heatmap ETH --venues binance,okx --end 2026-05-30T12:00Z --out eth.html
  perpscope heatmap BTC --source fetch --window 3d --json > btc.json
  perpscope heatmap BTC --source fetch --rest-url binance=http://127.0.0.1:19000   # against the emulator

Every figure is an ESTIMATE of where leveraged positions would be force-closed, not a prediction.
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "heatmap",
        help="estimated liquidation heatmap of a symbol (PNG, HTML, JSON or a text summary)",
        description="Estimated liquidation heatmap of one symbol across venues, from the embedded store or "
        "fetched over the venues' public REST history (klines + open-interest history).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("symbol", help="BTC, ETH, SOL, ...")
    p.add_argument("--venues", default=None, help="comma-separated venues (default: all with data)")
    p.add_argument("--window", default="24h", help="displayed window: 12h, 24h, 3d, 7d, 30d, ...")
    p.add_argument("--end", default=None, metavar="TS", help="window end, ISO or ms (default: latest)")
    p.add_argument(
        "--warmup",
        default="1d",
        help="history before the window that builds the book (default 1d; with --source fetch it is fetched)",
    )
    p.add_argument("--source", choices=("store", "fetch"), default="store", help="where bars come from")
    p.add_argument(
        "--rest-url",
        action="append",
        default=[],
        metavar="VENUE=URL",
        help="override a venue's REST base URL (e.g. the emulator's); repeatable",
    )
    p.add_argument("--leverage", default=None, help="leverage mix LEV:WEIGHT,... (weights normalized)")
    bins = p.add_mutually_exclusive_group()
    bins.add_argument("--bins", type=int, default=None, metavar="N", help="fixed number of price bins")
    bins.add_argument("--bin-pct", type=float, default=None, metavar="PCT", help="bin width in %% (0.1)")
    p.add_argument("--linear-bins", action="store_true", help="linear instead of log price bins")
    color = p.add_mutually_exclusive_group()
    color.add_argument("--log-color", dest="log_color", action="store_true", default=True, help="(default)")
    color.add_argument("--linear-color", dest="log_color", action="store_false", help="linear colour scale")
    p.add_argument(
        "--substeps",
        type=int,
        default=None,
        metavar="N",
        help=f"intrabar path: 3·N sub-slots per bar, 0 = off (default {DISPLAY_SUBSTEPS}; calibrated: "
        f"{DEFAULT_SUBSTEPS}, slower)",
    )
    p.add_argument(
        "--turnover-per-h",
        "--turnover",
        dest="turnover",
        type=float,
        default=None,
        metavar="F",
        help="share of open positions closed and reopened per hour, 0 = off "
        f"(default {DISPLAY_TURNOVER_PER_H})",
    )
    p.add_argument("--out", default=None, metavar="FILE", help="write FILE.png, FILE.html or FILE.json")
    p.add_argument("--json", action="store_true", help="print the JSON matrices to stdout")
    add_data_dir(p)
    p.set_defaults(func=run)


def engine_params(args: argparse.Namespace) -> EngineParams:
    """The calibrated defaults overridden by the flags."""

    changes: dict[str, object] = {"max_columns": 2000}
    if args.leverage:
        lev, w = parse_leverage_mix(args.leverage)
        changes.update(leverage=lev, weights=w)
    if args.bins is not None:
        changes["n_bins"] = args.bins
    if args.bin_pct is not None:
        changes["bin_width"] = args.bin_pct / 100.0
    if args.linear_bins:
        changes["bins"] = "linear"
    if args.turnover is not None:
        changes["turnover_per_h"] = args.turnover
    if args.substeps is not None:
        changes["substeps"] = args.substeps
    return dataclasses.replace(default_engine_params(), **changes)


def _rest_urls(items: list[str]) -> dict[Venue, str]:
    out: dict[Venue, str] = {}
    for item in items:
        name, sep, url = item.partition("=")
        if not sep or not url:
            raise ValueError(f"--rest-url wants VENUE=URL, got {item!r}")
        out[Venue(name.strip().lower())] = url.strip()
    return out


def run(args: argparse.Namespace) -> int:
    symbol = args.symbol.upper()
    try:
        params = engine_params(args)
        venues = parse_venues(args.venues)
        end_ns = parse_time_ns(args.end) if args.end else None
        win = window_ns(args.window)
        warm = window_ns(args.warmup) or 0
        if args.source == "fetch":
            rest = _rest_urls(args.rest_url)
            fetch_end = end_ns if end_ns is not None else now_ns()
            start = fetch_end - (win or NS_PER_DAY) - warm
            series, notes = fetch_series(
                symbol=symbol, venues=venues, start_ns=start, end_ns=fetch_end, rest_urls=rest
            )
            for n in notes:
                print(f"note: {n}", file=sys.stderr)
            if not any(v in FETCH_VENUES for v in venues):
                raise NoDataError("none of the venues publishes open-interest history")
        else:
            store = Store(resolve_data_dir(args))
            start = None if end_ns is None or win is None else end_ns - win - warm
            series = load_store_series(store, symbol=symbol, venues=venues, start_ns=start, end_ns=end_ns)
            if series and end_ns is None and win is not None:
                # default end = latest data: keep only the warm-up + window before the latest bar
                last = max(int(s.ts_ns[-1]) + s.interval_ns for s in series)
                series = [s for s in series if int(s.ts_ns[-1]) >= last - win - warm]
        if not series:
            raise NoDataError(f"no bars for {symbol} on {', '.join(v.value for v in venues)}")
        hm = compute(series, params, window=args.window, end_ns=end_ns)
    except NoDataError as exc:
        print(f"error: {exc} (window {args.window}, source {args.source})", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(heatmap_json(hm), sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
    if args.out:
        try:
            path = write_output(hm, Path(args.out), log_color=args.log_color)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if not args.json:
            print(f"wrote {path} ({ESTIMATE_LABEL})")
    if not args.out and not args.json:
        print(render_summary(hm))
    return 0
