"""``perpscope serve``: the web dashboard (heatmap, liquidation map, live tape, funding, quadrant, depth,
levels) over the store, on loopback by default; optionally with the collector or the NATS bus feeding the
live tape in the same process."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
import tempfile
from pathlib import Path

from ..errors import PerpscopeError
from ..symbols import parse_symbols, parse_venues
from ..timeutil import NS_PER_S, parse_duration_ns
from ._common import add_data_dir, resolve_data_dir
from .collect import add_feed_args

DERIVE_EVERY_S = 60.0  # --collect: bars from the collected 1-minute candles + open interest, every minute
DEMO_RATE = 30.0  # --demo: emulated market pace (simulated seconds per wall second)

EPILOG = """\
Binds to 127.0.0.1 by default; any other host requires --token, which every request and WebSocket must
then carry (?token=T or "Authorization: Bearer T").

Live data: --collect runs the collector in the same process (writing the store, feeding the tape; with
--emulate against the in-process exchange emulator); --bus URL feeds the tape from the NATS bus instead;
neither: attach to a store another collector writes. --demo runs offline: simulated history ending now,
then the collector against the emulator (BTC on Binance, Bybit, OKX) continuing it.

examples:
  perpscope serve --demo                       # open http://127.0.0.1:8050/
  perpscope serve --collect --venues binance,okx --symbols BTC,ETH
  perpscope serve --data-dir ~/perpscope-data  # attach to a store a collector writes
  perpscope serve --bus nats://127.0.0.1:4222  # tape from the bus (perpscope.>)
  perpscope serve --host 0.0.0.0 --token s3cret
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "serve",
        help="web dashboard: heatmap, liquidation map, live tape, funding, quadrant, depth, levels",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8050, help="port (default 8050; 0 = any free port)")
    p.add_argument(
        "--demo", action="store_true", help="offline demo: simulated history + collector on the emulator"
    )
    p.add_argument("--token", default="", help="access token (required for a non-loopback --host)")
    p.add_argument("--collect", action="store_true", help="run the collector in this process")
    p.add_argument("--bus", default=None, metavar="URL", help="feed the tape from NATS (nats://HOST:PORT)")
    add_feed_args(p)
    p.set_defaults(emulate_rate=None)
    add_data_dir(p)
    p.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def collect_spec(args: argparse.Namespace) -> object | None:
    """The embedded collector's spec from the flags (None: no collector)."""

    from ..heatmap.pipeline import DEMO_VENUES
    from ..web.feeds import CollectSpec

    if args.demo:
        return CollectSpec(
            venues=DEMO_VENUES,
            symbols=("BTC",),
            books=not args.no_books,
            emulate=True,
            rate=args.emulate_rate or DEMO_RATE,
            faults=args.emulate_faults,
        )
    if not args.collect:
        return None
    return CollectSpec(
        venues=tuple(parse_venues(args.venues)),
        symbols=tuple(parse_symbols(args.symbols)),
        books=not args.no_books,
        emulate=args.emulate,
        rate=args.emulate_rate or 1.0,
        faults=args.emulate_faults,
        derive_every_s=DERIVE_EVERY_S,
    )


async def serve(
    *,
    host: str,
    port: int,
    data_dir: Path,
    token: str,
    demo: bool = False,
    collect: object | None = None,
    bus: str | None = None,
    stop: asyncio.Event | None = None,
    duration_s: float | None = None,
) -> None:
    """Run the dashboard (and its feed) until ``stop`` is set, ``duration_s`` passed or the feed failed
    (re-raised); prints the URL once listening."""

    from aiohttp import web

    from ..feed.fanout import Fanout
    from ..feed.live import stop_on_signals
    from ..store import Store
    from ..web.demo import seed_demo_store
    from ..web.feeds import CollectSpec, run_bus_feed, run_collector_feed
    from ..web.server import STATE_KEY, make_app

    stop = stop or asyncio.Event()
    stop_on_signals(stop)
    fanout = Fanout()
    store = await asyncio.to_thread(seed_demo_store, data_dir) if demo else Store(data_dir)
    app = make_app(store, fanout=fanout, token=token, demo=demo)
    state = app[STATE_KEY]
    feed: asyncio.Task[None] | None = None
    if isinstance(collect, CollectSpec):
        feed = asyncio.create_task(run_collector_feed(store, fanout, stop, collect, state))
    elif bus:
        feed = asyncio.create_task(run_bus_feed(bus, fanout, stop, state))
    failure: list[BaseException] = []

    def feed_done(t: asyncio.Task[None]) -> None:
        if not t.cancelled() and t.exception() is not None:
            exc = t.exception()
            assert exc is not None
            failure.append(exc)
            state["error"] = str(exc)
            stop.set()

    if feed is not None:
        feed.add_done_callback(feed_done)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        suffix = f"?token={token}" if token else ""
        print(f"perpscope dashboard on http://{host}:{bound}/{suffix}", flush=True)
        if duration_s is None:
            await stop.wait()
        else:
            try:
                await asyncio.wait_for(stop.wait(), timeout=duration_s)
            except TimeoutError:
                stop.set()
    finally:
        stop.set()
        if feed is not None:
            try:
                await asyncio.wait_for(asyncio.shield(feed), timeout=10)
            except (TimeoutError, Exception):  # reported through ``failure``
                feed.cancel()
        await runner.cleanup()
    if failure:
        raise failure[0]


def run(args: argparse.Namespace) -> int:
    if not is_loopback(args.host) and not args.token:
        print(f"error: --host {args.host} is not loopback: pass --token", file=sys.stderr)
        return 2
    if args.bus and (args.collect or args.demo):
        print(
            "error: --bus feeds the tape instead of a local collector: drop --collect/--demo", file=sys.stderr
        )
        return 2
    loose = [
        f
        for f, on in (("--venues", args.venues), ("--symbols", args.symbols), ("--emulate", args.emulate))
        if on
    ]
    if loose and not args.collect:
        print(f"error: {', '.join(loose)} only apply with --collect", file=sys.stderr)
        return 2
    if args.demo and args.data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="perpscope-serve-demo-"))
    else:
        data_dir = resolve_data_dir(args)
    try:
        duration_s = parse_duration_ns(args.duration) / NS_PER_S if args.duration else None
        spec = collect_spec(args)
    except (ValueError, PerpscopeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(
            serve(
                host=args.host,
                port=args.port,
                data_dir=data_dir,
                token=args.token,
                demo=args.demo,
                collect=spec,
                bus=args.bus,
                duration_s=duration_s,
            )
        )
    except KeyboardInterrupt:
        return 0
    except PerpscopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
