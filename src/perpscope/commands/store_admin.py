"""``perpscope store``: what the store holds (stats, schema) and compaction of small files."""

from __future__ import annotations

import argparse
import sys

import msgspec
from rich import box
from rich.console import Console
from rich.table import Table

from ..store import VIEW_NAMES, Store, as_kind
from ..store.schema import schema_doc
from ..timeutil import format_ns, now_ns, parse_duration_ns
from ._common import add_data_dir, resolve_data_dir

EPILOG = """\
examples:
  perpscope store stats                    # rows, files, bytes and time span per view
  perpscope store compact                  # merge small flush files, drop identical rows
  perpscope store compact --kind trades --older-than 10m
  perpscope store schema bars              # the columns of a view
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "store",
        help="store maintenance: stats, compact, schema",
        description="Inspect and maintain the embedded store (Parquet files under the data directory).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    s = sub.add_parser("stats", help="rows, files, bytes and time span per view")
    s.add_argument("--json", action="store_true", help="print JSON")
    add_data_dir(s)
    s.set_defaults(func=run_stats)

    c = sub.add_parser(
        "compact",
        help="merge each partition's small files into one and drop identical rows (safe while reading)",
    )
    c.add_argument("--kind", help=f"only this view ({', '.join(VIEW_NAMES.values())})")
    c.add_argument(
        "--older-than", metavar="DURATION", help="only files last written more than DURATION ago (e.g. 10m)"
    )
    add_data_dir(c)
    c.set_defaults(func=run_compact)

    sc = sub.add_parser("schema", help="the columns of each view (or one)")
    sc.add_argument("view", nargs="?", help="a view name, e.g. trades")
    sc.set_defaults(func=run_schema)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def run_stats(args: argparse.Namespace) -> int:
    store = Store(resolve_data_dir(args))
    stats = store.stats()
    if args.json:
        doc = {
            "root": str(stats.root),
            "views": {
                k.view: {
                    "rows": k.rows,
                    "files": k.files,
                    "bytes": k.bytes,
                    "partitions": k.partitions,
                    "first_ts": k.first_ts,
                    "last_ts": k.last_ts,
                }
                for k in stats.kinds
            },
        }
        sys.stdout.buffer.write(msgspec.json.encode(doc) + b"\n")
        return 0
    console = Console(soft_wrap=True, highlight=False)
    table = Table(box=box.SIMPLE_HEAVY, show_edge=False, title=f"store {stats.root}")
    for name, justify in [
        ("view", "left"),
        ("rows", "right"),
        ("files", "right"),
        ("size", "right"),
        ("partitions", "right"),
        ("first (UTC)", "left"),
        ("last (UTC)", "left"),
    ]:
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for k in stats.kinds:
        table.add_row(
            k.view,
            f"{k.rows:,}",
            f"{k.files:,}",
            _size(k.bytes),
            f"{k.partitions:,}",
            format_ns(k.first_ts) if k.first_ts is not None else "",
            format_ns(k.last_ts) if k.last_ts is not None else "",
        )
    console.print(table)
    console.print(f"total {stats.rows:,} rows in {stats.files:,} files, {_size(stats.bytes)}")
    return 0


def run_compact(args: argparse.Namespace) -> int:
    store = Store(resolve_data_dir(args))
    older = now_ns() - parse_duration_ns(args.older_than) if args.older_than else None
    report = store.compact(kind=args.kind, older_than_ns=older)
    print(
        f"compacted {report.partitions} partition{'s' if report.partitions != 1 else ''}: "
        f"{report.files_in} files → {report.files_out}, {report.rows_in:,} rows → {report.rows_out:,} "
        f"({report.duplicates_removed:,} duplicates dropped), {_size(report.bytes_in)} → "
        f"{_size(report.bytes_out)} in {report.seconds:.2f}s"
        + (f"; cleaned {report.cleaned} leftovers of killed writers" if report.cleaned else "")
    )
    return 0


def run_schema(args: argparse.Namespace) -> int:
    kinds = [as_kind(args.view)] if args.view else list(VIEW_NAMES)
    for kind in kinds:
        print(f"{VIEW_NAMES[kind]}:")
        for name, typ, nullable in schema_doc(kind):
            print(f"  {name:<18} {typ}{'  (nullable)' if nullable else ''}")
    return 0
