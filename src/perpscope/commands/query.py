"""``perpscope query "SQL"``: read-only SQL over the store's views, printed as a table or JSON."""

from __future__ import annotations

import argparse
import sys

import msgspec
import pyarrow as pa
from rich import box
from rich.console import Console
from rich.table import Table

from ..store import VIEW_NAMES, Store
from ._common import add_data_dir, resolve_data_dir

EPILOG = f"""\
Views (one per event kind, columns as the normalized events; timestamps are int64 ns UTC):
  {", ".join(VIEW_NAMES.values())}
Only SELECT (and EXPLAIN) runs; anything that would write is refused. See docs/storage.md for columns.

examples:
  perpscope query "SELECT venue, symbol, count(*), sum(notional_usd) FROM liquidations GROUP BY ALL"
  perpscope query "SELECT make_timestamp_ns(ts_event) AS t, close, oi_usd FROM bars ORDER BY t DESC LIMIT 5"
  perpscope query --json "SELECT * FROM funding WHERE symbol = 'BTC' ORDER BY ts_event"
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "query",
        help="run read-only SQL over the store (views: liquidations, trades, open_interest, bars, …)",
        description="Run one read-only SQL statement (DuckDB dialect) over the store's views and print "
        "the rows as a table, or as a JSON array of objects with --json.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sql", help="the SQL statement (quote it)")
    p.add_argument("--json", action="store_true", help="print a JSON array of row objects (all rows)")
    p.add_argument(
        "--max-rows",
        type=int,
        default=200,
        metavar="N",
        help="table output: show at most N rows (default 200; JSON prints all)",
    )
    add_data_dir(p)
    p.set_defaults(func=run)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def print_table(table: pa.Table, *, max_rows: int, console: Console | None = None) -> None:
    console = console or Console(soft_wrap=True)
    out = Table(box=box.SIMPLE_HEAVY, show_edge=False)
    for name in table.column_names:
        typ = table.schema.field(name).type
        numeric = pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ)
        out.add_column(name, justify="right" if numeric else "left", overflow="fold")
    shown = table.slice(0, max(max_rows, 0))
    for row in shown.to_pylist():
        out.add_row(*(_cell(v) for v in row.values()))
    console.print(out)
    more = table.num_rows - shown.num_rows
    tail = f" (showing {shown.num_rows}; use --json or LIMIT for the rest)" if more > 0 else ""
    console.print(f"[dim]{table.num_rows} row{'s' if table.num_rows != 1 else ''}{tail}[/dim]")


def rows_json(table: pa.Table) -> bytes:
    """Rows as a JSON array; dates/times as ISO strings, decimals as strings, NaN as null."""

    return msgspec.json.encode(table.to_pylist())


def run(args: argparse.Namespace) -> int:
    store = Store(resolve_data_dir(args))
    table = store.query(args.sql)
    if args.json:
        sys.stdout.buffer.write(rows_json(table) + b"\n")
        sys.stdout.flush()
    else:
        print_table(table, max_rows=args.max_rows)
    return 0
