"""``perpscope store-writer``: consume the NATS JetStream bus and write the lake exactly once per event."""

from __future__ import annotations

import argparse
import asyncio
import signal

from ..bus import JetStreamBus
from ..bus.writer import run_store_writer
from ..store import Store
from ._common import add_data_dir, resolve_data_dir

EPILOG = """example:
  perpscope store-writer --bus nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222
  perpscope store-writer --bus nats://127.0.0.1:4222 --durable lake-writer --data-dir /srv/perpscope
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "store-writer",
        help="durable JetStream consumer that writes bus events to the lake exactly once",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_data_dir(p)
    p.add_argument("--bus", required=True, help="NATS server URL(s), comma-separated")
    p.add_argument("--durable", default="store-writer", help="durable consumer name (default store-writer)")
    p.set_defaults(func=run)


async def _main(url: str, store: Store, durable: str) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bus = await JetStreamBus.connect(url)
    try:
        stats = await run_store_writer(bus, store, durable=durable, stop=stop)
    finally:
        await bus.close()
    print(f"received {stats.received}  written {stats.written}  duplicates {stats.duplicates}")
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_main(args.bus, Store(resolve_data_dir(args)), args.durable))
