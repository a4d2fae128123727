"""``perpscope decode VENUE [FILE]``: raw venue websocket messages → normalized events, one JSON per line."""

from __future__ import annotations

import argparse
import sys
import zlib
from typing import BinaryIO

import msgspec

from ..errors import InputFileError
from ..model import Venue, event_record
from ..venues.lines import FORMATS, DecodedCapture, DecodeStats

EPILOG = """\
input: one message per line: plain JSON, '<receive-ns> <json>', the Binance combined-stream wrapper, or a
cryptofeed-style session capture (.jsonl with t=recv frames); .gz/.zst are read transparently; no FILE or
'-' reads stdin. Bad lines are counted and reported on stderr (line number and reason); the exit code is 0
when the whole input was read.

examples:
  perpscope decode binance capture.txt.gz > events.jsonl
  perpscope decode bybit session.jsonl.zst | head
  echo '{"topic":"allLiquidation.BTCUSDT","ts":1,"data":[{"T":1739502302929,"s":"BTCUSDT","S":"Buy",'\\
'"v":"0.5","p":"96000"}]}' | perpscope decode bybit
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "decode",
        help="decode raw venue websocket messages into normalized events (JSON lines)",
        description="Decode raw websocket messages of a venue, one per line, into normalized events printed "
        "as JSON lines with kind, venue, symbol, ts_event, side, price, quantity, notional_usd and the "
        "kind-specific fields. Works offline.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("venue", choices=[v.value for v in Venue], help="venue whose messages FILE holds")
    p.add_argument("file", nargs="?", default="-", help="capture file (.gz/.zst ok); '-' or none: stdin")
    p.add_argument("--format", choices=["jsonl"], default="jsonl", help="output format (default: jsonl)")
    p.add_argument(
        "--input-format",
        choices=FORMATS,
        default="auto",
        help="line format of the input (default: detected from the first line)",
    )
    p.add_argument(
        "--all-connections",
        action="store_true",
        help="session captures: also decode frames of connections to other markets of the venue (e.g. "
        "Bybit spot), which are skipped by default",
    )
    p.add_argument(
        "--show-errors",
        type=int,
        default=20,
        metavar="N",
        help="list the first N bad lines on stderr (all are counted; default 20)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    capture = DecodedCapture(
        args.venue,
        args.file,
        fmt=args.input_format,
        all_connections=args.all_connections,
        keep_bad=max(args.show_errors, 0),
    )
    out: BinaryIO | None = getattr(sys.stdout, "buffer", None)
    encode = msgspec.json.Encoder().encode
    batch: list[bytes] = []
    try:
        for event in capture:
            batch.append(encode(event_record(event)))
            if len(batch) >= 512:
                _write(out, batch)
                batch = []
        _write(out, batch)
    except BrokenPipeError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        raise InputFileError(str(args.file), capture.reader.line_no or None, f"cannot read: {exc}") from None
    if out is not None:
        out.flush()
    _report(capture.stats, args.show_errors)
    return 0


def _write(out: BinaryIO | None, batch: list[bytes]) -> None:
    if not batch:
        return
    data = b"\n".join(batch) + b"\n"
    if out is not None:
        out.write(data)
    else:
        sys.stdout.write(data.decode())


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counter.items()))


def _report(stats: DecodeStats, show: int) -> None:
    err = sys.stderr
    for line, reason in stats.bad_lines[: max(show, 0)]:
        print(f"line {line}: {reason}", file=err)
    if stats.bad > show > 0:
        print(f"... {stats.bad - show:,} more bad lines", file=err)
    total = sum(stats.events.values())
    kinds = f" ({_counts(stats.events)})" if stats.events else ""
    print(f"decoded {stats.messages:,} messages → {total:,} events{kinds}", file=err)
    if stats.bad:
        print(f"bad lines: {stats.bad:,} ({_counts(stats.bad_by_error)})", file=err)
    else:
        print("bad lines: 0", file=err)
    if stats.no_event:
        print(f"messages without events: {_counts(stats.no_event)}", file=err)
    if stats.skipped:
        print(f"skipped lines: {_counts(stats.skipped)}", file=err)
