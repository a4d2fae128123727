"""Running the collector from a command: against the real venues, or against the in-process emulator
(``--emulate``) through the very same code path (only the endpoint roots differ)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from ..model import Venue
from .collector import Collector, CollectorConfig
from .plans import roots_from_json


@contextlib.asynccontextmanager
async def maybe_emulator(
    config: CollectorConfig, *, emulate: bool, rate: float = 1.0, faults: str = "", source: str = "sim"
) -> AsyncIterator[CollectorConfig]:
    """Yields the collector config, re-rooted at a loopback emulator when ``emulate``."""

    if not emulate:
        yield config
        return
    from ..sim.emulator import Emulator, EmulatorConfig  # the emulator is only needed offline

    emu_cfg = EmulatorConfig(
        venues=config.venues, symbols=config.symbols, rate=rate, faults=faults, source=source
    )
    async with Emulator(emu_cfg) as emu:
        yield replace(config, roots=roots_from_json(emu.endpoints))


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def collector_config(
    venues: Sequence[Venue], symbols: Sequence[str], *, books: bool = True
) -> CollectorConfig:
    return CollectorConfig(venues=tuple(venues), symbols=tuple(symbols), books=books)


async def run_collector(collector: Collector, *, duration_s: float | None) -> None:
    stop = asyncio.Event()
    stop_on_signals(stop)
    await collector.run(stop, duration_s=duration_s)
