"""Collectors that publish to the bus: one shard of venue×symbol, one Collector per venue of the shard."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..feed.collector import Collector, CollectorConfig
from ..feed.health import Health
from .core import select_shard
from .jetstream import BusError, JetStreamBus
from .publisher import BusPublisher, PublisherStats

CONNECT_TIMEOUT_S = 15.0


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"N/M"`` (0-based N) → (N, M)."""

    if not text:
        return None
    n, sep, m = text.partition("/")
    try:
        out = (int(n), int(m))
    except ValueError:
        out = (-1, 0)
    if not sep or not 0 <= out[0] < out[1]:
        raise ValueError(f"--shard {text!r}: use N/M with 0 ≤ N < M, e.g. 0/3")
    return out


def shard_configs(config: CollectorConfig, shard: tuple[int, int] | None) -> list[CollectorConfig]:
    """The collector configs of one shard: a Collector takes venues × symbols, a shard is any set of pairs,
    so each venue of the shard gets its own config with that venue's symbols."""

    if shard is None:
        return [config]
    pairs = [(v.value, s) for v in config.venues for s in config.symbols]
    mine = set(select_shard(pairs, *shard))
    out = []
    for v in config.venues:
        symbols = tuple(s for s in config.symbols if (v.value, s) in mine)
        if symbols:
            out.append(replace(config, venues=(v,), symbols=symbols))
    return out


@dataclass
class BusCollectResult:
    events: int
    gaps: int
    publisher: PublisherStats
    duplicates_at_stream: int


async def connect_bus(url: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> JetStreamBus:
    try:
        return await asyncio.wait_for(JetStreamBus.connect(url), timeout_s)
    except TimeoutError:
        raise BusError(f"cannot connect to NATS at {url} within {timeout_s:g} s") from None


async def run_bus_collectors(
    configs: Sequence[CollectorConfig],
    url: str,
    stop: asyncio.Event,
    *,
    duration_s: float | None = None,
    health: Health | None = None,
    close_timeout_s: float = 30.0,
) -> BusCollectResult:
    """Run the collectors concurrently, publishing every event to the bus; flush the buffer on stop."""

    bus = await connect_bus(url)
    try:
        async with BusPublisher(bus) as pub:
            shared = health or Health()
            collectors = [Collector(c, writer=pub, health=shared) for c in configs]
            await asyncio.gather(*(c.run(stop, duration_s=duration_s) for c in collectors))
            await pub.close(close_timeout_s)
        gaps = sum(len(s.gaps) for s in shared.streams.values())
        return BusCollectResult(
            events=sum(c.events_total for c in collectors),
            gaps=gaps,
            publisher=pub.stats,
            duplicates_at_stream=bus.duplicate_events,  # events in messages the stream already had
        )
    finally:
        await bus.close()
