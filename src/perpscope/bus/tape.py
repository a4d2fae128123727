"""The terminal tape fed from the bus: live liquidations of every collector, cascades detected here."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from dataclasses import dataclass

from ..model import Liquidation
from ..terminal.tape import Tape
from ..timeutil import now_ns
from .collect import connect_bus
from .core import SUBJECT_ROOT


@dataclass
class BusTapeResult:
    received: int = 0
    dropped: int = 0  # the terminal fell behind: oldest liquidations dropped


async def run_bus_tape(
    tape: Tape,
    url: str,
    stop: asyncio.Event,
    *,
    venues: Collection[str] | None = None,
    symbols: Collection[str] | None = None,
    duration_s: float | None = None,
    maxsize: int = 10_000,
) -> BusTapeResult:
    """Subscribe to ``perpscope.liquidation.>`` from now on and print until ``stop`` (or ``duration_s``)."""

    bus = await connect_bus(url)
    res = BusTapeResult()
    queue: asyncio.Queue[Liquidation] = asyncio.Queue(maxsize)

    async def pull() -> None:
        async for d in bus.subscribe(f"{SUBJECT_ROOT}.liquidation.>"):
            ev = d.event
            if not isinstance(ev, Liquidation):
                continue
            if (venues and ev.venue.value not in venues) or (symbols and ev.symbol not in symbols):
                continue
            res.received += 1
            if queue.full():
                queue.get_nowait()
                res.dropped += 1
            queue.put_nowait(ev)

    puller = asyncio.create_task(pull())
    loop = asyncio.get_running_loop()
    deadline = None if duration_s is None else loop.time() + duration_s
    tape.header()
    try:
        while not stop.is_set() and (deadline is None or loop.time() < deadline) and not puller.done():
            with contextlib.suppress(TimeoutError):
                batch = [await asyncio.wait_for(queue.get(), timeout=0.5)]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                tape.feed(batch)
            tape.tick(now_ns())
        if puller.done() and puller.exception() is not None:
            raise puller.exception()  # type: ignore[misc]
    finally:
        puller.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await puller
        while not queue.empty():
            tape.feed([queue.get_nowait()])
        tape.close()
        await bus.close()
    return res
