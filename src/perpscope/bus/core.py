"""Bus primitives: subjects, MessagePack encoding (one event or a batch), stable ids, sharding, and the
in-process bus."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import NamedTuple, Protocol

import msgspec

from ..model import AnyEvent, Event

SUBJECT_ROOT = "perpscope"
BATCH_VERSION = 1


class EventBatch(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="batch"):
    """Several events of one subject in one NATS message (wire format v1, see docs/bus.md).

    Tagged ``kind: "batch"`` like the events are tagged by their kind, so one decoder tells a single event
    from a batch. ``ids[i]`` is the stable id of ``events[i]`` (the writer de-duplicates per event)."""

    v: int
    ids: list[str]
    events: list[AnyEvent]


class BadPayload(ValueError):
    """A bus message that is neither one event nor a valid batch (counted by consumers, never fatal)."""


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(AnyEvent)
_payload_decoder = msgspec.msgpack.Decoder(AnyEvent | EventBatch)


def subject_of(event: Event) -> str:
    """``perpscope.<kind>.<venue>.<symbol>``: what a subscriber filters on."""

    return f"{SUBJECT_ROOT}.{event.kind_name.value}.{event.venue.value}.{event.symbol}"


def encode_message(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_message(data: bytes) -> AnyEvent:
    """One event of a single-event message (consumers use :func:`decode_payload`, which takes both)."""

    return _decoder.decode(data)


def batch_id(ids: Sequence[str]) -> str:
    """``Nats-Msg-Id`` of a batch: a stable hash of its event ids (a retried publish of the same batch is
    de-duplicated by the stream; differently cut batches of the same events are not: the writer's id
    journal catches those per event)."""

    digest = hashlib.blake2b("\n".join(ids).encode(), digest_size=16).hexdigest()
    return f"batch.{len(ids)}.{digest}"


def encode_batch(events: Sequence[AnyEvent], ids: Sequence[str] | None = None) -> bytes:
    """A batch message of ``events`` (ids computed unless given, in the same order)."""

    ids = [event_id(ev) for ev in events] if ids is None else list(ids)
    if len(ids) != len(events):
        raise ValueError(f"{len(ids)} ids for {len(events)} events")
    return _encoder.encode(EventBatch(v=BATCH_VERSION, ids=ids, events=list(events)))


def decode_payload(data: bytes, msg_id: str | None = None) -> list[tuple[str, AnyEvent]]:
    """THE decode of a bus message: ``(id, event)`` pairs of a single-event message (id from its
    ``Nats-Msg-Id`` when given, else computed) or of a batch. Raises :class:`BadPayload`."""

    try:
        obj = _payload_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadPayload(f"undecodable bus message ({len(data)} bytes): {exc}") from None
    if isinstance(obj, EventBatch):
        if obj.v != BATCH_VERSION:
            raise BadPayload(f"batch version {obj.v} (this reader knows {BATCH_VERSION})")
        if len(obj.ids) != len(obj.events):
            raise BadPayload(f"batch with {len(obj.ids)} ids for {len(obj.events)} events")
        return list(zip(obj.ids, obj.events, strict=True))
    return [(msg_id or event_id(obj), obj)]


def event_id(event: Event, payload: bytes | None = None) -> str:
    """Deterministic from content: two collectors that saw the same event give it the same id.

    ``ts_recv`` (each collector's own clock) is left out, so redundant collectors agree; ``payload`` is
    accepted for compatibility and ignored."""

    del payload
    body = _encoder.encode(msgspec.structs.replace(event, ts_recv=0))
    digest = hashlib.blake2b(body, digest_size=12).hexdigest()
    return f"{event.kind_name.value}.{event.venue.value}.{event.symbol}.{event.ts_event}.{digest}"


def _stable_hash(text: str) -> int:
    # Python's hash() is salted per process; shards must agree across machines.
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def shard_of(venue: str, symbol: str, m: int) -> int:
    """The shard (0 … m-1) that owns one venue×symbol pair, the same on every machine."""

    if m < 1:
        raise ValueError(f"shard count must be ≥ 1, got {m}")
    return _stable_hash(f"{venue}:{symbol}") % m


def select_shard(pairs: Iterable[tuple[str, str]], n: int, m: int) -> list[tuple[str, str]]:
    """The pairs shard ``n`` of ``m`` collects (``--shard N/M``, 0-based)."""

    if not 0 <= n < m:
        raise ValueError(f"shard {n}/{m}: need 0 ≤ N < M")
    return [(v, s) for v, s in pairs if shard_of(str(v), s, m) == n]


class Delivery(NamedTuple):
    """One event taken off the bus; ``ack`` confirms it (a no-op in process; the events of one batch
    message share one ``ack``). A tuple: cheap to make, one per event."""

    id: str
    event: AnyEvent
    ack: Callable[[], Awaitable[None]]


async def _noop() -> None:
    return None


class Bus(Protocol):
    async def publish(self, events: Sequence[AnyEvent]) -> int: ...

    def subscribe(self, subject: str = ...) -> AsyncIterator[Delivery]: ...

    async def close(self) -> None: ...


def _matches(pattern: str, subject: str) -> bool:
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]):
            return False
    return len(p) == len(s)


class InProcessBus:
    """The single-process default: fan-out to asyncio queues, same API as JetStreamBus."""

    def __init__(self, *, maxsize: int = 100_000) -> None:
        self._subs: list[tuple[str, asyncio.Queue[Delivery | None]]] = []
        self._maxsize = maxsize

    async def publish(self, events: Sequence[AnyEvent]) -> int:
        for ev in events:
            subject = subject_of(ev)
            delivery = Delivery(event_id(ev), ev, _noop)
            for pattern, q in self._subs:
                if _matches(pattern, subject):
                    await q.put(delivery)
        return len(events)

    async def subscribe(self, subject: str = f"{SUBJECT_ROOT}.>") -> AsyncIterator[Delivery]:
        q: asyncio.Queue[Delivery | None] = asyncio.Queue(self._maxsize)
        entry = (subject, q)
        self._subs.append(entry)
        try:
            while (item := await q.get()) is not None:
                yield item
        finally:
            self._subs.remove(entry)

    async def close(self) -> None:
        for _, q in self._subs:
            await q.put(None)
