"""What feeds the dashboard's live tape: the collector (against the venues or the in-process emulator)
writing the store in the same event loop, or the NATS bus. Each runs until ``stop`` is set and publishes
onto the dashboard's :class:`Fanout` (bounded, drop-oldest per WebSocket client)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from ..errors import PerpscopeError
from ..feed.fanout import Fanout
from ..model import Venue
from ..store import Store

BUS_CONNECT_TIMEOUT_S = 10.0
log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class CollectSpec:
    """What the embedded collector collects (``serve --collect`` / ``--demo``)."""

    venues: tuple[Venue, ...]
    symbols: tuple[str, ...]
    books: bool = True
    emulate: bool = False
    rate: float = 1.0
    faults: str = ""
    flush_interval_s: float = 1.0
    derive_every_s: float | None = None  # derive bars from the stored candles + open interest this often


async def derive_bars_loop(store: Store, spec: CollectSpec, stop: asyncio.Event) -> None:
    """Every ``spec.derive_every_s``: the heatmap's bars from the candles and open interest the collector
    stored (``store.derive``, idempotent per UTC day), so the heatmap and levels follow the live data."""

    from ..store.derive import derive_all_bars
    from ..store.layout import NS_PER_DAY
    from ..timeutil import NS_PER_S, now_ns

    assert spec.derive_every_s is not None
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=spec.derive_every_s)
        # today's derived bars are replaced as a whole; just after midnight yesterday's once more
        start = (now_ns() - 600 * NS_PER_S) // NS_PER_DAY * NS_PER_DAY
        for venue in spec.venues:
            for symbol in spec.symbols:
                try:
                    await asyncio.to_thread(
                        derive_all_bars, store, venue=venue, symbol=symbol, start_ns=start
                    )
                except PerpscopeError as exc:  # nothing stored yet, or an import holds the batch lock
                    log.info("deriving %s %s bars: %s", venue.value, symbol, exc)


async def run_collector_feed(
    store: Store, fanout: Fanout, stop: asyncio.Event, spec: CollectSpec, state: dict[str, Any]
) -> None:
    """The collector writing ``store`` (``Store.writer``) and publishing every stored batch on ``fanout``;
    with ``spec.emulate`` against the loopback exchange emulator (the real path, offline)."""

    from ..feed.collector import Collector
    from ..feed.health import Health
    from ..feed.live import collector_config, maybe_emulator

    config = collector_config(spec.venues, spec.symbols, books=spec.books)
    async with maybe_emulator(config, emulate=spec.emulate, rate=spec.rate, faults=spec.faults) as cfg:
        with store.writer(flush_interval_s=spec.flush_interval_s) as writer:
            collector = Collector(cfg, writer=writer, health=Health(store.root), fanout=fanout)  # type: ignore[arg-type]
            state["feed"] = "collector (emulator)" if spec.emulate else "collector"
            state["events"] = lambda: collector.events_total
            deriver = (
                asyncio.create_task(derive_bars_loop(store, spec, stop)) if spec.derive_every_s else None
            )
            try:
                await collector.run(stop)
            finally:
                if deriver is not None:
                    deriver.cancel()


async def run_bus_feed(url: str, fanout: Fanout, stop: asyncio.Event, state: dict[str, Any]) -> None:
    """Live events from the NATS JetStream bus (``perpscope.>``, from now on) onto ``fanout``: the dashboard
    then needs no local collector. Consecutive deliveries already waiting are published as one batch."""

    from ..bus import JetStreamBus
    from ..bus.jetstream import BusError

    try:  # JetStreamBus.connect keeps retrying a server that is not there: bound the wait
        bus = await asyncio.wait_for(JetStreamBus.connect(url), BUS_CONNECT_TIMEOUT_S)
    except TimeoutError:
        raise BusError(f"cannot connect to NATS at {url} within {BUS_CONNECT_TIMEOUT_S:g} s") from None
    counter = {"n": 0}
    state["feed"] = "bus"
    state["events"] = lambda: counter["n"]
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=10_000)

    async def pull() -> None:
        async for d in bus.subscribe("perpscope.>"):
            if queue.full():  # the tape is live: a backlog loses its oldest events
                queue.get_nowait()
            queue.put_nowait(d.event)

    async def push() -> None:
        while True:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            counter["n"] += len(batch)
            fanout.publish(batch)

    tasks = [asyncio.create_task(pull()), asyncio.create_task(push())]
    try:
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        for t in done:
            if t is not stopper and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await bus.close()
