"""``perpscope collect``: every normalized event from the venues into the embedded store."""

from __future__ import annotations

import argparse
import asyncio
import json

from rich.console import Console

from ..feed.collector import Collector
from ..feed.health import Health
from ..feed.live import collector_config, maybe_emulator, run_collector
from ..store import Store
from ..symbols import parse_symbols, parse_venues
from ..timeutil import NS_PER_S, parse_duration_ns
from ._common import add_data_dir, resolve_data_dir

EPILOG = """examples:
  perpscope collect --venues binance,bybit,okx,hyperliquid --symbols BTC,ETH,SOL,BNB,XRP,DOGE
  perpscope collect --duration 10m                  # stop after ten minutes
  perpscope collect --emulate --duration 30s        # offline: in-process exchange emulator on loopback
  perpscope status                                  # from another terminal, while it runs
"""


def add_feed_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--venues", default=None, help="comma list (default: all four)")
    p.add_argument("--symbols", default=None, help="comma list of coins (default: BTC,ETH,SOL,BNB,XRP,DOGE)")
    p.add_argument(
        "--duration", default=None, help="stop after this long (10m, 2h, 3d); default: until Ctrl-C"
    )
    p.add_argument("--emulate", action="store_true", help="collect from an in-process emulator (offline)")
    p.add_argument("--emulate-rate", type=float, default=1.0, help="emulated market pace multiplier")
    p.add_argument("--emulate-faults", default="", help="fault spec for the emulator (see perpscope emulate)")
    p.add_argument("--no-books", action="store_true", help="skip order books (much less traffic)")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "collect",
        help="collect live venue data (liquidations, trades, OI, funding, books …) into the store",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_feed_args(p)
    add_data_dir(p)
    p.add_argument("--flush-interval", type=float, default=2.0, help="seconds between store flushes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = resolve_data_dir(args)
    config = collector_config(parse_venues(args.venues), parse_symbols(args.symbols), books=not args.no_books)
    duration_s = parse_duration_ns(args.duration) / NS_PER_S if args.duration else None
    console = Console(stderr=True)
    store = Store(root)

    async def main() -> Collector:
        async with maybe_emulator(
            config, emulate=args.emulate, rate=args.emulate_rate, faults=args.emulate_faults
        ) as cfg:
            with store.writer(flush_interval_s=args.flush_interval) as writer:
                collector = Collector(cfg, writer=writer, health=Health(root))  # type: ignore[arg-type]
                where = "the in-process emulator" if args.emulate else "the venues"
                console.print(
                    f"collecting {', '.join(cfg.symbols)} from {', '.join(v.value for v in cfg.venues)} "
                    f"({where}) into {root}; Ctrl-C stops"
                )
                await run_collector(collector, duration_s=duration_s)
                return collector

    collector = asyncio.run(main())
    gaps = sum(len(s.gaps) for s in collector.health.streams.values())
    console.print(f"stored {collector.events_total:,} events; gaps {gaps}; see `perpscope status`")
    print(json.dumps({"events": collector.events_total, "gaps": gaps}))
    return 0
