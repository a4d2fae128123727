"""The store writer: a durable pull consumer that writes the lake exactly once per event.

Order per batch: de-dup by id → record the batch's new ids as *pending* (fsync) → write + flush the lake
(fsync'd files) → append the ids to the journal (fsync) → ack. After a crash, pending ids are resolved
against the lake (ids are deterministic from content, so they are recomputed from the stored rows):
what reached the lake is known, what did not is redelivered by JetStream and written then.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..model import Kind
from ..store import Store
from .core import Delivery, event_id
from .jetstream import JetStreamBus

BUS_DIR = "_bus"


def _split_id(msg_id: str) -> tuple[str, str, str, int]:
    kind, venue, rest = msg_id.split(".", 2)
    symbol, ts, _digest = rest.rsplit(".", 2)
    return kind, venue, symbol, int(ts)


class IdJournal:
    """Recent event ids, persisted next to the lake (``<data>/_bus/<durable>.ids``)."""

    def __init__(self, root: Path, durable: str, *, keep: int = 2_000_000) -> None:
        self.dir = root / BUS_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / f"{durable}.ids"
        self.pending_path = self.dir / f"{durable}.pending"
        self.keep = keep
        self._order: deque[str] = deque()
        self._set: set[str] = set()
        if self.path.exists():
            self._add(self.path.read_text().split())
        self._lines = len(self._order)

    def __contains__(self, msg_id: str) -> bool:
        return msg_id in self._set

    def __len__(self) -> int:
        return len(self._set)

    def _add(self, ids: Iterable[str]) -> None:
        for i in ids:
            if i not in self._set:
                self._set.add(i)
                self._order.append(i)
        while len(self._order) > self.keep:
            self._set.discard(self._order.popleft())

    @staticmethod
    def _write(path: Path, text: str, mode: str) -> None:
        with open(path, mode) as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def begin(self, ids: list[str]) -> None:
        self._write(self.pending_path, "\n".join(ids) + "\n", "w")

    def commit(self, ids: list[str]) -> None:
        if ids:
            self._write(self.path, "\n".join(ids) + "\n", "a")
        self._add(ids)
        self._lines += len(ids)
        self.pending_path.unlink(missing_ok=True)
        if self._lines > 2 * self.keep:  # rewrite with only the ids still kept
            tmp = self.path.with_suffix(".tmp")
            self._write(tmp, "\n".join(self._order) + "\n", "w")
            os.replace(tmp, self.path)
            self._lines = len(self._order)

    def recover(self, store: Store) -> int:
        """Resolve a batch interrupted between flush and commit: keep the ids whose event is in the lake."""

        if not self.pending_path.exists():
            return 0
        pending = self.pending_path.read_text().split()
        groups: dict[tuple[str, str, str], list[int]] = {}
        for i in pending:
            kind, venue, symbol, ts = _split_id(i)
            groups.setdefault((kind, venue, symbol), []).append(ts)
        wanted = set(pending)
        found: list[str] = []
        for (kind, venue, symbol), tss in groups.items():
            for ev in store.events(
                Kind(kind), venue=venue, symbol=symbol, start_ns=min(tss), end_ns=max(tss) + 1
            ):
                eid = event_id(ev)
                if eid in wanted:
                    found.append(eid)
        self.commit(found)
        return len(found)


def lake_ids(store: Store, kinds: Iterable[Kind] = tuple(Kind)) -> list[str]:
    """The bus ids of every event in the lake (one per row: a duplicate row shows up twice)."""

    out: list[str] = []
    for kind in kinds:
        out += [event_id(ev) for ev in store.events(kind)]
    return out


@dataclass
class WriterStats:
    received: int = 0
    written: int = 0
    duplicates: int = 0
    batches: int = 0
    recovered: int = 0
    rejected: int = 0
    bad_payloads: int = 0  # messages that were neither an event nor a valid batch (terminated, skipped)
    messages: int = 0  # NATS messages acked
    max_write_s: float = 0.0  # the slowest durable write: pending ids, lake flush, journal (with fsyncs)
    errors: list[str] = field(default_factory=list)


async def run_store_writer(
    bus: JetStreamBus,
    store: Store,
    *,
    durable: str = "store-writer",
    batch: int = 2000,
    fetch_timeout_s: float = 0.5,
    stop: asyncio.Event | None = None,
    idle_exit_s: float | None = None,
    stats: WriterStats | None = None,
    on_durable: Callable[[list[Delivery]], None] | None = None,
    max_write: int = 50_000,
    progress_every_s: float = 2.0,
    ack_wait_s: float = 5.0,
) -> WriterStats:
    """Consume ``durable`` until ``stop`` is set (or nothing arrived for ``idle_exit_s``).

    Fetching runs in its own task while the previous write is flushed (a flush costs a fixed ~0.2 s of
    fsyncs): everything fetched meanwhile, up to ``max_write`` events, is written by the next flush. Every
    ``progress_every_s`` the messages held (being written, or fetched and waiting) are reported in progress
    so a slow flush on a starved machine does not make JetStream redeliver them after ``ack_wait``."""

    stats = stats if stats is not None else WriterStats()
    journal = IdJournal(store.root, durable)
    stats.recovered = journal.recover(store)
    consumer = await bus.pull(durable, ack_wait_s=ack_wait_s)
    loop = asyncio.get_running_loop()
    fetched: list[Delivery] = []
    arrived = asyncio.Event()
    room = asyncio.Event()
    room.set()
    done = False
    empty = [0]  # fetches in a row that returned nothing

    async def fetcher() -> None:
        while not done:
            await room.wait()
            deliveries = await consumer.fetch(batch, timeout=fetch_timeout_s)
            empty[0] = 0 if deliveries else empty[0] + 1
            if deliveries:
                fetched.extend(deliveries)
                arrived.set()
                if len(fetched) >= max_write:
                    room.clear()

    holding: list[Delivery] = []  # the deliveries being written now

    async def keep_alive() -> None:
        while not done:
            await asyncio.sleep(progress_every_s)
            for ack in {id(d.ack): d.ack for d in (*holding, *fetched)}.values():
                progress = getattr(ack, "progress", None)
                if progress is not None:
                    await progress()

    fetch_task = asyncio.create_task(fetcher())
    alive_task = asyncio.create_task(keep_alive())
    idle_since = loop.time()
    try:
        # background: its buffer takes whole lists (``extend``); it flushes only when asked (interval 1 h)
        with store.writer(flush_interval_s=3600.0, max_buffer=10_000_000, background=True) as w:
            while not (stop is not None and stop.is_set()):
                if not fetched:
                    arrived.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(arrived.wait(), fetch_timeout_s)
                    if fetch_task.done():
                        fetch_task.result()  # re-raise what stopped the fetcher
                    if not fetched:
                        idle = loop.time() - idle_since
                        if idle_exit_s is not None and idle > idle_exit_s and empty[0] >= 1:
                            break
                        continue
                idle_since = loop.time()
                cut = min(max_write, len(fetched))
                while cut < len(fetched) and fetched[cut].ack is fetched[cut - 1].ack:
                    cut += 1  # never split a batch message: it is acked once, after all of it is durable
                deliveries, fetched[:] = fetched[:cut], fetched[cut:]
                holding[:] = deliveries
                room.set()
                stats.received += len(deliveries)
                fresh: list[str] = []
                events = []
                seen: set[str] = set()
                for d in deliveries:
                    i = d.id
                    if i in journal or i in seen:
                        stats.duplicates += 1
                        continue
                    seen.add(i)
                    fresh.append(i)
                    events.append(d.event)
                w.extend(events)
                if fresh:
                    t_write = loop.time()
                    journal.begin(fresh)
                    rejected_before = w.rejected.total
                    # the flush fsyncs Parquet files: off the event loop so fetches/acks keep flowing
                    stats.written += await asyncio.to_thread(w.flush)
                    stats.rejected += w.rejected.total - rejected_before
                    journal.commit(fresh)
                    stats.max_write_s = max(stats.max_write_s, loop.time() - t_write)
                    if on_durable is not None:  # e.g. the bench's end-to-end latency
                        on_durable([d for d in deliveries if d.id in seen])
                acks = list({id(d.ack): d.ack for d in deliveries}.values())  # one per message
                for ack in acks:
                    await ack()
                holding.clear()
                stats.messages += len(acks)
                stats.bad_payloads = bus.bad_payloads
                stats.batches += 1
    finally:
        stats.bad_payloads = bus.bad_payloads
        done = True
        room.set()
        for task in (fetch_task, alive_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return stats
