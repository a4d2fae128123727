"""``perpscope demo``: offline end-to-end run — simulated market → embedded store → heatmap engine →
PNG, HTML and a summary — in well under 30 seconds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..heatmap.pipeline import run_demo

EPILOG = """examples:
  perpscope demo                              # writes ./perpscope-demo/{heatmap.png,heatmap.html,summary.txt}
  perpscope demo --out-dir /tmp/demo --seed 3 --days 3

No network: BTC on Binance, Bybit and OKX is simulated (a warm-up day, then the window shown), its
normalized events are written to a fresh store under OUT_DIR/store, read back and run through the engine.
Every heatmap figure is an ESTIMATE, not a prediction.
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo",
        help="offline demo: simulated market → store → estimated liquidation heatmap (PNG, HTML, summary)",
        description="Run the simulator through the real pipeline (store → engine → render), offline.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out-dir", default="perpscope-demo", help="output directory (default ./perpscope-demo)")
    p.add_argument("--seed", type=int, default=7, help="simulator seed (default 7)")
    p.add_argument("--days", type=int, default=7, help="days shown after the warm-up day (default 7)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.days <= 30:
        print("error: --days must be 1..30", file=sys.stderr)
        return 2
    res = run_demo(Path(args.out_dir), seed=args.seed, days=args.days)
    print(res.summary.read_text(), end="")
    print()
    print(f"heatmap PNG:  {res.png}")
    print(f"heatmap HTML: {res.html}")
    print(f"summary:      {res.summary}")
    print(f"elapsed: {res.elapsed_s:.1f} s")
    return 0
