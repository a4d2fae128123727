"""``perpscope emulate``: run the exchange emulator on loopback until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys

from ..sim.emulator import Emulator, EmulatorConfig, parse_faults
from ..symbols import parse_symbols, parse_venues
from ..timeutil import NS_PER_S, parse_duration_ns

EPILOG = """examples:
  perpscope emulate
  perpscope emulate --venues binance,bybit --symbols BTC,ETH --port-base 19000
  perpscope emulate --faults drop:binance@30s,stall:bybit@10s/20s,malformed:okx@0.01,http429:binance@0.1
  perpscope emulate --source binance:../shared/data/binance-usdm-ws-btcusdt-2024-08-08.txt.gz --rate 2

On start it prints its endpoints as one JSON line, e.g.
  {"binance": {"ws": "ws://127.0.0.1:19000", "rest": "http://127.0.0.1:19000"}, "bybit": {...}, ...}
Every injected fault is written as a JSON line to --fault-log (default: stderr).
Fault grammar: KIND:VENUE@WHEN[/OPTION...] with KIND drop|stall|gap|burst|malformed|http429|http418|http403;
see docs/emulator.md."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "emulate",
        help="loopback servers speaking the venues' websocket and REST protocols (with fault injection)",
        description="Start an exchange emulator: one loopback WebSocket + HTTP server per venue with the "
        "venue's real URL paths, subscribe/ack and ping rules and message formats, fed by a seeded market or "
        "a recorded capture.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--venues", default=None, help="comma-separated venues (default: all four)")
    p.add_argument(
        "--symbols", default=None, help="comma-separated symbols (default: BTC,ETH,SOL,BNB,XRP,DOGE)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--port-base",
        type=int,
        default=0,
        help="binance on N, bybit N+1, okx N+2, hyperliquid N+3 (default 0: ephemeral ports)",
    )
    p.add_argument(
        "--source",
        default="sim",
        help="'sim' (the synthetic market simulator, default), 'seeded' (a lighter, busier generator) or a "
        "capture file [VENUE:]PATH in a `perpscope decode` line format",
    )
    p.add_argument(
        "--source-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a sim/seeded source keyword, repeatable (e.g. trades_per_s=30, book_churn=0, step_s=0.25)",
    )
    p.add_argument("--faults", default=None, help="fault spec, e.g. drop:binance@30s,malformed:okx@0.01")
    p.add_argument(
        "--rate", type=float, default=1.0, help="market pace multiplier / replay speed (default 1)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the generator and the faults")
    p.add_argument(
        "--trades-per-frame",
        type=int,
        default=1,
        metavar="N",
        help="up to N consecutive trades of a symbol in one frame where the venue allows (bybit, okx, "
        "hyperliquid); default 1",
    )
    p.add_argument(
        "--fault-log", default="-", help="where to write injected faults as JSON lines (default stderr)"
    )
    p.add_argument("--duration", default=None, help="stop after this long (e.g. 10m); default: until Ctrl-C")
    p.add_argument("--loop", action="store_true", help="replay a capture file again when it ends")
    p.add_argument("--verbose", "-v", action="store_true", help="log connections and errors to stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.rate <= 0:
        raise ValueError("--rate must be > 0")
    if args.port_base and not 1 <= args.port_base <= 65532:
        raise ValueError("--port-base must be within 1..65532 (or 0 for ephemeral ports)")
    if args.trades_per_frame < 1:
        raise ValueError("--trades-per-frame must be ≥ 1")
    duration_s = parse_duration_ns(args.duration) / NS_PER_S if args.duration else None
    options: dict[str, object] = {}
    for item in args.source_option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--source-option {item!r}: use KEY=VALUE")
        options[key.strip()] = _number(value.strip())
    config = EmulatorConfig(
        venues=parse_venues(args.venues),
        symbols=parse_symbols(args.symbols),
        host=args.host,
        port_base=args.port_base,
        source=args.source,
        faults=parse_faults(args.faults),
        rate=args.rate,
        seed=args.seed,
        fault_log=args.fault_log,
        loop_capture=args.loop,
        sim_options=options,
        trades_per_frame=args.trades_per_frame,
    )
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    try:
        asyncio.run(_serve(config, duration_s))
    except OSError as exc:  # a port in use, an address that cannot be bound
        raise ValueError(f"cannot start the servers on {args.host}: {exc}") from None
    return 0


def _number(text: str) -> object:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


async def _serve(config: EmulatorConfig, duration_s: float | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with Emulator(config) as emu:
        print(json.dumps(emu.endpoints), flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=duration_s)
