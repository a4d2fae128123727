"""``perpscope collect``: every normalized event from the venues into the embedded store."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import replace

from rich.console import Console

from ..bus.collect import BusCollectResult, parse_shard, run_bus_collectors, shard_configs
from ..feed.collector import Collector, CollectorConfig
from ..feed.health import Health
from ..feed.live import collector_config, maybe_emulator, run_collector, stop_on_signals
from ..feed.plans import roots_from_json
from ..store import Store
from ..symbols import parse_symbols, parse_venues
from ..timeutil import NS_PER_S, parse_duration_ns
from ._common import add_data_dir, resolve_data_dir

EPILOG = """examples:
  perpscope collect --venues binance,bybit,okx,hyperliquid --symbols BTC,ETH,SOL,BNB,XRP,DOGE
  perpscope collect --duration 10m                  # stop after ten minutes
  perpscope collect --emulate --duration 30s        # offline: in-process exchange emulator on loopback
  perpscope status                                  # from another terminal, while it runs
  perpscope collect --bus nats://10.0.0.1:4222,nats://10.0.0.2:4222 --shard 0/3   # publish one shard
  perpscope collect --bus nats://127.0.0.1:4222 --endpoints "$(perpscope emulate | head -1)"
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
    p.add_argument(
        "--endpoints",
        default=None,
        metavar="JSON",
        help="collect from a running emulator: the endpoints JSON line `perpscope emulate` prints",
    )


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
    p.add_argument(
        "--bus",
        default=None,
        metavar="URL",
        help="publish to NATS JetStream (nats://host:4222[,nats://…]) instead of writing the store",
    )
    p.add_argument("--shard", default=None, metavar="N/M", help="with --bus: collect shard N of M (0-based)")
    p.set_defaults(func=run)


def feed_config(args: argparse.Namespace, *, books: bool) -> CollectorConfig:
    """The collector config of the feed flags (``--endpoints`` re-roots it at a running emulator)."""

    config = collector_config(parse_venues(args.venues), parse_symbols(args.symbols), books=books)
    if getattr(args, "endpoints", None) is not None:
        if args.emulate:
            raise ValueError("--endpoints and --emulate exclude each other")
        try:
            roots = roots_from_json(json.loads(args.endpoints))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"--endpoints: not an emulator endpoints JSON object ({exc})") from None
        config = replace(config, roots=roots)
    return config


def run(args: argparse.Namespace) -> int:
    shard = parse_shard(args.shard)
    if shard is not None and not args.bus:
        raise ValueError("--shard needs --bus (a shard publishes its part to the bus)")
    config = feed_config(args, books=not args.no_books)
    if args.bus:
        return _run_bus(args, config, shard)
    root = resolve_data_dir(args)
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


def _run_bus(args: argparse.Namespace, config: CollectorConfig, shard: tuple[int, int] | None) -> int:
    duration_s = parse_duration_ns(args.duration) / NS_PER_S if args.duration else None
    console = Console(stderr=True)

    async def main() -> BusCollectResult:
        async with maybe_emulator(
            config, emulate=args.emulate, rate=args.emulate_rate, faults=args.emulate_faults
        ) as cfg:
            configs = shard_configs(cfg, shard)
            pairs = [f"{c.venues[0].value}:{s}" if shard else s for c in configs for s in c.symbols]
            console.print(
                f"publishing {', '.join(pairs)} to {args.bus}"
                + (f" (shard {shard[0]}/{shard[1]})" if shard else "")
                + "; Ctrl-C stops"
            )
            stop = asyncio.Event()
            stop_on_signals(stop)
            return await run_bus_collectors(configs, args.bus, stop, duration_s=duration_s)

    res = asyncio.run(main())
    p = res.publisher
    console.print(f"published {p.published:,} of {res.events:,} events; dropped {p.dropped}; gaps {res.gaps}")
    print(
        json.dumps(
            {
                "events": res.events,
                "published": p.published,
                "dropped": p.dropped,
                "failed_batches": p.failed_batches,
                "duplicates_at_stream": res.duplicates_at_stream,
                "gaps": res.gaps,
            }
        )
    )
    return 0
