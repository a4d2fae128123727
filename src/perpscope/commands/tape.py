"""``perpscope tape``: the live cross-venue liquidation tape in the terminal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from rich.console import Console

from ..bus.tape import run_bus_tape
from ..feed.collector import Collector
from ..feed.live import maybe_emulator, stop_on_signals
from ..terminal.tape import Tape, parse_tiers
from ..timeutil import NS_PER_S, now_ns, parse_duration_ns
from .collect import add_feed_args, feed_config

EPILOG = """examples:
  perpscope tape                                   # all four venues, six coins, prints >= $10k
  perpscope tape --min-usd 100000 --symbols BTC,ETH --tiers 50k,100k,200k,1m
  perpscope tape --emulate --emulate-rate 20       # offline, a busy emulated market
  perpscope tape --bus nats://127.0.0.1:4222       # from the NATS bus (collectors run elsewhere)
Longs liquidated print red (forced selling), shorts green. '≥' marks venues whose feed is sampled
(Binance, OKX: at most one liquidation per second): their sizes are lower bounds. Hyperliquid publishes
no liquidations. Cascades (runs of same-side liquidations across venues) print as one line.
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "tape",
        help="live terminal liquidation tape with size tiers and cascade detection",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_feed_args(p)
    p.add_argument("--min-usd", type=float, default=10_000.0, help="smallest liquidation printed (USD)")
    p.add_argument("--tiers", default=None, help="size tiers highlighted (default 50k,100k,200k,1m)")
    p.add_argument(
        "--bus",
        default=None,
        metavar="URL",
        help="read liquidations from NATS JetStream (nats://host:4222[,…]) instead of running a collector",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = feed_config(args, books=False)
    duration_s = parse_duration_ns(args.duration) / NS_PER_S if args.duration else None
    tape = Tape(console=Console(), min_usd=args.min_usd, tiers=parse_tiers(args.tiers))
    if args.bus:
        if args.emulate or args.endpoints:
            raise ValueError("--bus reads the bus: drop --emulate/--endpoints (collectors run elsewhere)")
        venues = {v.value for v in config.venues}
        stop = asyncio.Event()

        async def from_bus() -> None:
            stop_on_signals(stop)
            res = await run_bus_tape(
                tape, args.bus, stop, venues=venues, symbols=set(config.symbols), duration_s=duration_s
            )
            if res.dropped:
                tape.console.print(
                    f"[yellow]{res.dropped} liquidations dropped: the terminal could not keep up[/]"
                )

        asyncio.run(from_bus())
        return 0

    async def main() -> None:
        async with maybe_emulator(
            config, emulate=args.emulate, rate=args.emulate_rate, faults=args.emulate_faults
        ) as cfg:
            collector = Collector(cfg)  # live only: nothing stored
            sub = collector.fanout.subscribe(maxsize=10_000)
            stop = asyncio.Event()
            stop_on_signals(stop)
            tape.header()
            runner = asyncio.create_task(collector.run(stop, duration_s=duration_s))
            while not runner.done():
                with contextlib.suppress(TimeoutError):
                    batch = await asyncio.wait_for(sub.get(), timeout=0.5)
                    tape.feed(batch)
                tape.tick(now_ns())
            while not sub.queue.empty():
                tape.feed(sub.queue.get_nowait())
            tape.close()
            if sub.dropped:
                tape.console.print(
                    f"[yellow]{sub.dropped} batches dropped: the terminal could not keep up[/]"
                )

    asyncio.run(main())
    return 0
