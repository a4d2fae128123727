"""Fixtures for emulator tests: emulators on ephemeral loopback ports, stopped after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from perpscope.sim.emulator import Emulator, EmulatorConfig

DEFAULTS: dict[str, object] = {
    "source": "seeded",  # the busy seeded generator: plenty of messages within a second
    "symbols": ("BTC", "ETH"),
    "seed": 7,
    "rate": 4.0,
    "record": True,
    "history_days": 1.0,
}

MakeEmulator = Callable[..., Awaitable[Emulator]]


@pytest.fixture
async def make_emulator() -> AsyncIterator[MakeEmulator]:
    """``await make_emulator(venues=["okx"], faults="…")`` → a started Emulator (test defaults merged in)."""

    started: list[Emulator] = []

    async def make(**overrides: object) -> Emulator:
        emu = Emulator(EmulatorConfig(**{**DEFAULTS, **overrides}))  # type: ignore[arg-type]
        await emu.start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        await emu.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
