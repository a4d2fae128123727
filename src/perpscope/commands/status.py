"""``perpscope status``: what the running (or last) collector says about each venue and stream."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from ..feed.health import read_status
from ..timeutil import NS_PER_S, format_ns, now_ns
from ._common import add_data_dir, resolve_data_dir

EPILOG = """example:
  perpscope status                 # table per venue and stream
  perpscope status --gaps 20 --json
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "status",
        help="collector health per venue and stream: connected, msgs/s, last message age, gaps, reconnects",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_data_dir(p)
    p.add_argument("--gaps", type=int, default=10, help="list the last N recorded gaps (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = resolve_data_dir(args)
    status, gaps = read_status(root)
    recent = gaps[-args.gaps :] if args.gaps > 0 else []
    if args.json:
        print(json.dumps({"status": status, "gaps": [g.__dict__ for g in recent], "total_gaps": len(gaps)}))
        return 0
    console = Console()
    if status is None:
        console.print(f"no collector status under {root} (run `perpscope collect` first)")
        return 0
    age_s = (now_ns() - int(status["ts_ns"])) / NS_PER_S
    stale = " — collector not running?" if age_s > 30 else ""
    table = Table(title=f"collector status (written {age_s:.0f}s ago{stale})")
    for col in (
        "venue",
        "stream",
        "connected",
        "msgs/s",
        "last msg age",
        "messages",
        "gaps",
        "reconnects",
        "parse errors",
    ):
        table.add_column(col, justify="right" if col not in ("venue", "stream") else "left")
    for s in status["streams"]:
        age = s["last_message_age_s"]
        table.add_row(
            s["venue"],
            s["stream"],
            "[green]yes[/]" if s["connected"] else "[red]no[/]",
            f"{s['msgs_per_s']:.1f}",
            "—" if age is None else f"{age:.1f}s",
            f"{s['messages']:,}",
            str(s["gaps"]),
            str(s["reconnects"]),
            str(s["parse_errors"])
            + (f" ({', '.join(s['error_reasons'])[:60]})" if s["parse_errors"] else ""),
        )
    console.print(table)
    if recent:
        gt = Table(title=f"last {len(recent)} of {len(gaps)} gaps")
        for col in ("venue", "stream", "from", "to", "seconds", "reason"):
            gt.add_column(col)
        for g in recent:
            gt.add_row(
                g.venue,
                g.stream,
                format_ns(g.from_ns, ms=True),
                format_ns(g.to_ns, ms=True),
                f"{(g.to_ns - g.from_ns) / NS_PER_S:.2f}",
                g.reason,
            )
        console.print(gt)
    return 0
