"""The streaming writer: buffers events and flushes them as small Parquet files every few seconds.

A killed writer loses at most what it buffered since the last flush (``flush_interval_s``, enforced by a
background timer even when no event arrives) and never leaves a visible partial file.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import StoreError
from ..model import Event, Kind
from . import layout
from .layout import FileLock
from .schema import KIND_OF_TYPE, split_good_events
from .store import partition_table

if TYPE_CHECKING:
    from .store import Store

FlushCallback = Callable[[list[tuple[Kind, int]]], None]


@dataclass(slots=True)
class Rejected:
    """Events the writer refused (wrong types, unknown enum values, NaN …): counted, never written."""

    total: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)  # first few offending events, for the log
    max_samples: int = 20

    def add(self, event: object, reason: str) -> None:
        self.total += 1
        self.reasons[reason] += 1
        if len(self.samples) < self.max_samples:
            self.samples.append(f"{reason}: {event!r}"[:500])

    def __int__(self) -> int:
        return self.total

    def __bool__(self) -> bool:
        return self.total > 0


def _partition_key(event: Event) -> tuple[str, str, int]:
    return (
        str(event.venue.value if hasattr(event.venue, "value") else event.venue),
        event.symbol,
        event.ts_event // layout.NS_PER_DAY,
    )


class StoreWriter:
    """``with store.writer() as w: w.append(event)``. Holds the store's writer lock until ``close()``.

    A buffer is due when it reaches ``max_buffer`` events or its oldest event is older than
    ``flush_interval_s``. Without ``background`` ``append`` flushes a due buffer itself; with
    ``background=True`` (the default) the flush thread does, woken by ``append``, so the caller (an event
    loop) never waits on Parquet + fsync, unless the thread falls behind by ``2 * max_buffer`` events.
    ``on_flush`` (if set) is called after each flush with ``[(kind, rows), …]``, on the flushing thread (use
    ``loop.call_soon_threadsafe`` from asyncio code).
    """

    def __init__(
        self,
        store: Store,
        *,
        flush_interval_s: float = 2.0,
        max_buffer: int = 50_000,
        background: bool = True,
    ) -> None:
        if flush_interval_s <= 0 or max_buffer <= 0:
            raise ValueError("flush_interval_s and max_buffer must be positive")
        self.store = store
        self.flush_interval_s = float(flush_interval_s)
        self.max_buffer = int(max_buffer)
        self.on_flush: FlushCallback | None = None
        self.rejected = Rejected()
        self.rows_written = 0
        self.files_written = 0
        self.flushes = 0
        self._buffer: dict[Kind, list[Event]] = {}
        self._count = 0
        self._oldest: float | None = None  # monotonic time of the oldest buffered event
        self._buf_lock = threading.Lock()
        self._io_lock = threading.Lock()
        self._error: BaseException | None = None
        self._closed = False
        self._lock = FileLock(store.root / layout.LOCK_DIR / "writer.lock", what="store writer")
        self._lock.acquire()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._timer, name="perpscope-store-flush", daemon=True)
            self._thread.start()

    # ----------------------------------------------------------------- public
    def append(self, event: Event) -> None:
        self._raise_pending()
        if self._closed:
            raise StoreError("store writer is closed")
        kind = KIND_OF_TYPE.get(type(event))
        if kind is None:
            self.rejected.add(event, f"not a perpscope event: {type(event).__name__}")
            return
        with self._buf_lock:
            self._buffer.setdefault(kind, []).append(event)
            self._count += 1
            if self._oldest is None:
                self._oldest = time.monotonic()
            due = self._due_locked()
        if due:
            self._due()

    def extend(self, events: Iterable[Event]) -> None:
        if self._thread is None:  # flushes exactly every ``max_buffer`` events
            for e in events:
                self.append(e)
            return
        self._raise_pending()
        if self._closed:
            raise StoreError("store writer is closed")
        kind_of = KIND_OF_TYPE.get
        with self._buf_lock:
            buffer = self._buffer
            n = 0
            for e in events:
                kind = kind_of(type(e))
                if kind is None:
                    self.rejected.add(e, f"not a perpscope event: {type(e).__name__}")
                    continue
                lst = buffer.get(kind)
                if lst is None:
                    lst = buffer[kind] = []
                lst.append(e)
                n += 1
            if not n:
                return
            self._count += n
            if self._oldest is None:
                self._oldest = time.monotonic()
            due = self._due_locked()
        if due:
            self._due()

    def _due(self) -> None:
        if self._thread is None or self._count >= 2 * self.max_buffer:
            self.flush()
        else:
            self._wake.set()

    def flush(self) -> int:
        """Write everything buffered now; returns the rows written."""

        self._raise_pending()
        return self._flush()

    def close(self) -> None:
        """Flush and release the lock. Idempotent."""

        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self._flush()
            self._raise_pending()
        finally:
            self._lock.release()

    @property
    def buffered(self) -> int:
        return self._count

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- internals
    def _due_locked(self) -> bool:
        if self._count >= self.max_buffer:
            return True
        return self._oldest is not None and time.monotonic() - self._oldest >= self.flush_interval_s

    def _raise_pending(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise StoreError(f"store writer failed to flush: {err}") from err

    def _timer(self) -> None:
        tick = min(0.5, self.flush_interval_s / 4)
        while not self._stop.is_set():
            self._wake.wait(tick)
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._buf_lock:
                due = self._due_locked()
            if due:
                try:
                    self._flush()
                except BaseException as exc:  # kept for the next foreground call
                    self._error = exc

    def _flush(self) -> int:
        with self._io_lock:
            with self._buf_lock:
                batch, self._buffer = self._buffer, {}
                self._count = 0
                self._oldest = None
            if not batch:
                return 0
            done: list[tuple[Kind, int]] = []
            written: set[tuple[str, str, int]] = set()
            kind: Kind | None = None
            try:
                for kind in list(batch):
                    table, bad = split_good_events(kind, batch[kind])
                    bad_ids = {id(e) for e, _ in bad}
                    for event, reason in bad:
                        self.rejected.add(event, reason)
                    batch[kind] = [e for e in batch[kind] if id(e) not in bad_ids]
                    name = layout.unique_name("part") + layout.PARQUET
                    written = set()
                    for part, piece in partition_table(kind, table):
                        layout.write_parquet_atomic(part.path(self.store.root) / name, piece)
                        written.add((part.venue, part.symbol, part.day))
                        self.files_written += 1
                    del batch[kind]
                    done.append((kind, table.num_rows))
                    self.rows_written += table.num_rows
            except BaseException:
                # what was not written stays buffered for the next try (partitions already written are not)
                if kind is not None and kind in batch:
                    batch[kind] = [e for e in batch[kind] if _partition_key(e) not in written]
                self._requeue(batch)
                raise
            self.flushes += 1
        callback = self.on_flush
        if callback is not None and done:
            callback(done)
        return sum(n for _, n in done)

    def _requeue(self, batch: dict[Kind, list[Event]]) -> None:
        with self._buf_lock:
            for kind, events in batch.items():
                self._buffer[kind] = events + self._buffer.get(kind, [])
                self._count += len(events)
            if self._count and self._oldest is None:
                self._oldest = time.monotonic()
