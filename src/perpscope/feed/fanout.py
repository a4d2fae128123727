"""Fan-out of event batches to live consumers (tape, dashboard, bus) that must never block the collector:
each subscriber has a bounded queue; when it is full the oldest batch is dropped and counted."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..model import AnyEvent

Batch = Sequence[AnyEvent]


@dataclass(eq=False, kw_only=True)
class Subscription:
    queue: asyncio.Queue[Batch]
    dropped: int = 0  # batches dropped because this consumer was too slow

    async def get(self) -> Batch:
        return await self.queue.get()


@dataclass(kw_only=True)
class Fanout:
    maxsize: int = 1_000  # batches per subscriber
    subscribers: list[Subscription] = field(default_factory=list)

    def subscribe(self, *, maxsize: int | None = None) -> Subscription:
        sub = Subscription(queue=asyncio.Queue(maxsize or self.maxsize))
        self.subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self.subscribers:
            self.subscribers.remove(sub)

    def publish(self, batch: Batch) -> None:
        """Never waits: a full queue loses its oldest batch (drop-oldest), counted per subscriber."""

        for sub in self.subscribers:
            q = sub.queue
            while q.full():
                try:
                    q.get_nowait()
                except asyncio.QueueEmpty:  # pragma: no cover - single-threaded loop
                    break
                sub.dropped += 1
            q.put_nowait(batch)
