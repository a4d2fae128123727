"""``perpscope serve``: the web dashboard (heatmap, liquidation map, live tape, funding, quadrant, depth,
levels) over the store, on loopback by default."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
import tempfile
from pathlib import Path

from ._common import add_data_dir, resolve_data_dir

EPILOG = """\
Binds to 127.0.0.1 by default; any other host requires --token, which every request and WebSocket must
then carry (?token=T or "Authorization: Bearer T"). --demo runs offline: a simulated store plus a live
simulator feeding the tape.

examples:
  perpscope serve --demo                       # open http://127.0.0.1:8050/
  perpscope serve --data-dir ~/perpscope-data  # attach to a store a collector writes
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
    p.add_argument("--demo", action="store_true", help="offline demo: simulated store + live simulated tape")
    p.add_argument("--token", default="", help="access token (required for a non-loopback --host)")
    add_data_dir(p)
    p.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def serve(
    *, host: str, port: int, data_dir: Path, demo: bool, token: str, stop: asyncio.Event | None = None
) -> None:
    """Run the dashboard until ``stop`` is set (forever when None); prints the URL once listening."""

    from aiohttp import web

    from ..feed.fanout import Fanout
    from ..store import Store
    from ..web.demo import run_demo_feed, seed_demo_store
    from ..web.server import STATE_KEY, make_app

    stop = stop or asyncio.Event()
    fanout = Fanout()
    store = await asyncio.to_thread(seed_demo_store, data_dir) if demo else Store(data_dir)
    app = make_app(store, fanout=fanout, token=token, demo=demo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    suffix = f"?token={token}" if token else ""
    print(f"perpscope dashboard on http://{host}:{bound}/{suffix}", flush=True)
    feed = asyncio.create_task(run_demo_feed(fanout, stop, state=app[STATE_KEY])) if demo else None
    try:
        await stop.wait()
    finally:
        if feed is not None:
            feed.cancel()
        await runner.cleanup()


def run(args: argparse.Namespace) -> int:
    if not is_loopback(args.host) and not args.token:
        print(f"error: --host {args.host} is not loopback: pass --token", file=sys.stderr)
        return 2
    if args.demo and args.data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="perpscope-serve-demo-"))
    else:
        data_dir = resolve_data_dir(args)
    try:
        asyncio.run(
            serve(host=args.host, port=args.port, data_dir=data_dir, demo=args.demo, token=args.token)
        )
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
