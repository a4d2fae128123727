"""The collector's writer when it publishes to the bus: sync ``extend`` → bounded buffer → batched,
concurrent background publishes that survive a NATS outage (buffer, retry, count what had to be dropped).

A worker takes up to ``batch`` events once the oldest waiting one has lingered ``linger_s`` (or at once when
``batch`` are waiting); the bus then packs them per subject into batch messages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..model import AnyEvent

log = logging.getLogger(__name__)


class BatchPublisher(Protocol):
    async def publish(self, events: Sequence[AnyEvent]) -> int: ...


@dataclass
class PublisherStats:
    queued: int = 0  # events handed to extend
    published: int = 0  # acknowledged by the bus (stored, or recognised as a duplicate)
    dropped: int = 0  # buffer full (a long outage): the oldest events were dropped
    failed_batches: int = 0  # publish attempts that raised; their events were put back and retried


class BusPublisher:
    """``extend(events)`` never blocks: events wait in a buffer of at most ``max_buffer``; ``workers`` tasks
    publish batches of up to ``batch`` each, after the oldest waited ``linger_s`` (fewer, fuller NATS
    messages for a few ms of latency). Use ``async with BusPublisher(bus) as pub:``."""

    def __init__(
        self,
        bus: BatchPublisher,
        *,
        max_buffer: int = 1_000_000,
        batch: int = 5_000,
        workers: int = 4,
        retry_delay_s: float = 0.5,
        linger_s: float = 0.02,
    ) -> None:
        self.bus = bus
        self.max_buffer = max_buffer
        self.batch = batch
        self.retry_delay_s = retry_delay_s
        self.linger_s = linger_s
        self._first_at = 0.0  # monotonic time the buffer last went from empty to not empty
        self.stats = PublisherStats()
        self._buf: deque[AnyEvent] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._busy = 0
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def pending(self) -> int:
        return len(self._buf)

    def extend(self, events: Sequence[AnyEvent]) -> None:
        self.stats.queued += len(events)
        if not self._buf:
            self._first_at = time.monotonic()
        self._buf.extend(events)
        over = len(self._buf) - self.max_buffer
        if over > 0:  # keep the newest: a live feed values recent data, and the drop is counted
            for _ in range(over):
                self._buf.popleft()
            self.stats.dropped += over
        self._wake.set()

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]

    async def _work(self) -> None:
        while True:
            if not self._buf:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if len(self._buf) < self.batch and not self._closing:
                wait = self._first_at + self.linger_s - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
            n = min(self.batch, len(self._buf))
            chunk = [self._buf.popleft() for _ in range(n)]
            self._busy += 1
            try:
                await self.bus.publish(chunk)
                self.stats.published += len(chunk)
            except asyncio.CancelledError:
                self._buf.extendleft(reversed(chunk))
                raise
            except Exception as exc:  # the bus is down for longer than its own retries: keep and retry
                self.stats.failed_batches += 1
                log.warning("bus publish failed (%s); %d events kept for retry", exc, len(chunk))
                self._buf.extendleft(reversed(chunk))
                await asyncio.sleep(self.retry_delay_s)
            finally:
                self._busy -= 1

    async def close(self, timeout_s: float = 30.0) -> None:
        """Publish what is buffered (up to ``timeout_s``), then stop; what is left is counted as dropped."""

        self._closing = True
        self._wake.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
            for t in pending:
                t.cancel()
            for t in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        self.stats.dropped += len(self._buf)
        self._buf.clear()
        self._tasks = []

    async def __aenter__(self) -> BusPublisher:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
