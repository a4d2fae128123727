"""``perpscope import``: historical files into the store (Binance archive files, generic bar CSVs)."""

from __future__ import annotations

import argparse

from rich.console import Console

from ..model import Venue
from ..store import VIEW_NAMES, Store
from ..store.derive import derive_all_bars
from ..store.importers import SUPPORTED_TYPES, FileImport, ImportReport, import_bars_csv, import_binance_file
from ..timeutil import NS_PER_S, format_ns, parse_duration_ns
from ._common import add_data_dir, resolve_data_dir

EPILOG = """\
Each file is checked whole before anything is stored: a bad row stops with the file and line, and
nothing of that file is written. Importing a file again is a no-op ("skipped"); a Binance archive file
with the same name but new content replaces what it stored before.

examples:
  perpscope import binance-archive BTCUSDT-klines-5m-2024-06-01.zip BTCUSDT-metrics-2024-06-01.zip
  perpscope import binance-archive ~/dl/ETHUSDT-aggTrades-2024-06-*.zip
  perpscope import binance-archive data.csv --type fundingRate --symbol BTC
  perpscope import binance-archive BTCUSDT-klines-5m-*.zip BTCUSDT-metrics-*.zip --bars
  perpscope import bars btcusdt-binance-5m-oi-2026-05-25_2026-05-31.csv --venue binance --symbol BTC
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "import",
        help="import history: Binance archive files (klines, metrics, aggTrades, fundingRate) or bar CSVs",
        description="Import historical files into the store, idempotently and all-or-nothing per file.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="source", metavar="SOURCE", required=True)

    b = sub.add_parser(
        "binance-archive",
        help="data.binance.vision USD-M files (.zip or .csv, with or without header)",
        description="Import data.binance.vision USD-M futures files: klines → candles, metrics → "
        "open_interest, aggTrades/trades → trades, fundingRate → funding. Type, symbol and kline interval "
        "come from the file name <SYMBOL>-<type>[-<interval>]-<date>.zip unless given.",
        epilog="example:\n  perpscope import binance-archive BTCUSDT-klines-5m-2024-06-01.zip "
        "BTCUSDT-metrics-2024-06-01.zip\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    b.add_argument("files", nargs="+", metavar="FILE")
    b.add_argument(
        "--type", dest="data_type", choices=SUPPORTED_TYPES, help="override the type from the name"
    )
    b.add_argument("--symbol", help="override the symbol (BTC or BTCUSDT)")
    b.add_argument("--interval", help="override the kline interval (e.g. 5m)")
    b.add_argument("--force", action="store_true", help="import again even if already stored")
    b.add_argument(
        "--bars",
        action="store_true",
        help="then derive heatmap bars from the stored candles + open interest (+ funding) of these symbols",
    )
    add_data_dir(b)
    b.set_defaults(func=run_binance)

    c = sub.add_parser(
        "bars",
        help="a bar CSV: timestamp,open,high,low,close,oi_usd[,funding_rate]",
        description="Import a CSV of bars (timestamp = bar open in epoch ms UTC; oi_usd = one side's open "
        "interest in USD at the bar close; funding_rate = fraction per funding interval, optional) as the "
        "heatmap's input. Optional volume and taker_buy_volume columns are kept, other columns ignored.",
        epilog="example:\n  perpscope import bars btcusdt-binance-5m.csv --venue binance --symbol BTC\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("file", metavar="FILE")
    c.add_argument("--venue", required=True, choices=[v.value for v in Venue])
    c.add_argument("--symbol", required=True, help="BTC (or the venue's name, BTCUSDT)")
    c.add_argument("--interval", help="bar interval (e.g. 5m); default: inferred from the timestamps")
    c.add_argument("--force", action="store_true", help="import again even if already stored")
    add_data_dir(c)
    c.set_defaults(func=run_bars)


def _line(item: FileImport) -> str:
    view = VIEW_NAMES[item.kind]
    span = ""
    if item.first_ts is not None and item.last_ts is not None:
        span = f"  {format_ns(item.first_ts)} → {format_ns(item.last_ts)}"
    note = "  (already stored)" if item.status == "skipped" else ""
    ignored = f"  ignored columns: {', '.join(item.ignored_columns)}" if item.ignored_columns else ""
    return f"{item.status:<8} {item.path}  {item.symbol} {view}: {item.rows:,} rows{span}{note}{ignored}"


def _summary(console: Console, report: ImportReport) -> None:
    per_kind = ", ".join(f"{n:,} {VIEW_NAMES[k]}" for k, n in report.rows_by_kind().items()) or "nothing"
    written = len(report.files) - len(report.skipped)
    console.print(
        f"stored {per_kind} from {written} file{'s' if written != 1 else ''}; "
        f"skipped {len(report.skipped)} duplicate file{'s' if len(report.skipped) != 1 else ''}"
    )


def run_binance(args: argparse.Namespace) -> int:
    store = Store(resolve_data_dir(args))
    console = Console(soft_wrap=True, highlight=False)
    report = ImportReport()
    for path in args.files:
        item = import_binance_file(
            store,
            path,
            data_type=args.data_type,
            symbol=args.symbol,
            interval=args.interval,
            force=args.force,
        )
        report.add(item)
        console.print(_line(item))
    _summary(console, report)
    if args.bars:
        _derive(console, store, report)
    return 0


def _derive(console: Console, store: Store, report: ImportReport) -> None:
    """Bars for each symbol touched, over the span of the files just stored (all history if none was)."""

    for symbol in sorted({f.symbol for f in report.files}):
        spans = [
            (f.first_ts, f.last_ts) for f in report.files if f.symbol == symbol and f.first_ts is not None
        ]
        day = 86_400 * NS_PER_S  # whole UTC days: a sample just after midnight closes the bar before it
        start = min(a for a, _ in spans) // day * day if spans else None
        end = (max(b for _, b in spans if b is not None) // day + 1) * day if spans else None
        done = derive_all_bars(store, venue=Venue.BINANCE, symbol=symbol, start_ns=start, end_ns=end)
        if not done:
            console.print(f"bars     {symbol}: no candles stored, nothing to derive")
        for interval_s, n in done.items():
            hint = "" if n else " (needs open interest: import the metrics files of the same days)"
            console.print(
                f"bars     {symbol} {interval_s}s: {n:,} bars derived from candles + open interest{hint}"
            )


def run_bars(args: argparse.Namespace) -> int:
    store = Store(resolve_data_dir(args))
    console = Console(soft_wrap=True, highlight=False)
    interval_s = parse_duration_ns(args.interval) // NS_PER_S if args.interval else None
    item = import_bars_csv(store, args.file, args.venue, args.symbol, interval_s, force=args.force)
    console.print(_line(item))
    report = ImportReport([item])
    _summary(console, report)
    return 0
