"""``perpscope replay``: a recorded capture of raw venue messages through the production decoder, into the
store or onto the tape — the way to study a past event with real traffic."""

from __future__ import annotations

import argparse
import sys
import time

from rich.console import Console

from ..model import Venue
from ..store import Store
from ..terminal.tape import Tape, parse_tiers
from ..timeutil import NS_PER_S
from ..venues.lines import DecodedCapture
from ._common import add_data_dir, resolve_data_dir

EPILOG = """examples:
  perpscope replay binance ../shared/data/binance-usdm-ws-btcusdt-2024-08-08.txt.gz          # into the store
  perpscope replay bybit session.jsonl.zst --speed 10 --tape   # ten times real time, on the tape
  perpscope replay okx capture.jsonl --speed max --tape --min-usd 0
Input line formats are those of `perpscope decode` (JSON per line, '<receive-ns> <json>', session jsonl;
.gz/.zst transparent). --speed paces by the capture's own receive (or event) times.
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "replay",
        help="replay a recorded capture through the production decoder into the store or onto the tape",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("venue", choices=[v.value for v in Venue])
    p.add_argument("file", help="capture file ('-' for stdin)")
    p.add_argument("--speed", default="max", help="N times real time, or 'max' (default)")
    p.add_argument("--tape", action="store_true", help="print the liquidation tape instead of storing")
    p.add_argument("--min-usd", type=float, default=10_000.0, help="tape: smallest liquidation printed")
    p.add_argument("--tiers", default=None, help="tape: size tiers (default 50k,100k,200k,1m)")
    add_data_dir(p)
    p.set_defaults(func=run)


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"bad --speed {text!r}: a positive number or 'max'") from None
    if value <= 0:
        raise ValueError("--speed must be positive")
    return value


def run(args: argparse.Namespace) -> int:
    speed = _speed(args.speed)
    capture = DecodedCapture(args.venue, None if args.file == "-" else args.file)
    err = Console(stderr=True)
    tape = Tape(console=Console(), min_usd=args.min_usd, tiers=parse_tiers(args.tiers)) if args.tape else None
    store = None if args.tape else Store(resolve_data_dir(args))
    writer = store.writer() if store is not None else None
    t0_wall = time.monotonic()
    t0_cap: int | None = None
    stored = 0
    try:
        for ev in capture:
            if speed is not None:
                t_cap = ev.ts_recv or ev.ts_event
                t0_cap = t_cap if t0_cap is None else t0_cap
                ahead = (t_cap - t0_cap) / NS_PER_S / speed - (time.monotonic() - t0_wall)
                if ahead > 0:
                    time.sleep(ahead)
            if tape is not None:
                tape.feed([ev])
                tape.tick(ev.ts_event)
            elif writer is not None:
                writer.append(ev)
                stored += 1
        if tape is not None:
            tape.close()
    finally:
        if writer is not None:
            writer.close()
    st = capture.stats
    kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(st.events.items()))
    err.print(f"replayed {st.messages:,} messages → {kinds or 'no events'}; rejected {st.bad:,}")
    for line, reason in st.bad_lines[:5]:
        err.print(f"  line {line}: {reason}", highlight=False)
    if store is not None:
        err.print(f"stored {stored:,} events in {store.root}")
    sys.stdout.flush()
    return 0
