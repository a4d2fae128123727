"""NATS JetStream bus: a durable ``PERPSCOPE`` stream, de-duplicated by ``Nats-Msg-Id``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

from ..errors import PerpscopeError
from ..model import AnyEvent
from .core import (
    SUBJECT_ROOT,
    BadPayload,
    Delivery,
    batch_id,
    decode_payload,
    encode_batch,
    encode_message,
    event_id,
    subject_of,
)

log = logging.getLogger(__name__)

STREAM = "PERPSCOPE"
BATCH_EVENTS = 500  # events per NATS message at most
BATCH_BYTES = 256 * 1024  # payload bytes per NATS message at most (a single larger event goes alone)
_RETRYABLE = (NatsTimeout, NoRespondersError, APIError, asyncio.TimeoutError, ConnectionError)


class BusError(PerpscopeError):
    """The bus could not be reached or refused a message after retries."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamLimits:
    """Retention of the stream: by age and size; ``duplicate_window_s`` bounds publisher de-dup."""

    max_age_s: float = 7 * 86_400.0
    max_bytes: int = 50 * 2**30
    duplicate_window_s: float = 120.0
    replicas: int | None = None  # None: 3 on a cluster of ≥ 3 servers, else 1


def parse_servers(url: str) -> list[str]:
    """``nats://a:4222,nats://b:4222`` (or ``a:4222,b:4222``) → server URLs."""

    out = []
    for part in url.split(","):
        part = part.strip()
        if part:
            out.append(part if "://" in part else f"nats://{part}")
    if not out:
        raise BusError(f"no NATS server in {url!r}")
    return out


@dataclass(slots=True)
class _Waiter:
    """Acks still awaited for one pipelined publish attempt."""

    left: int
    done: asyncio.Future[None]
    sizes: list[int]  # events per message (by index)
    failed: set[int] = field(default_factory=set)


class JetStreamBus:
    """Publish/subscribe normalized events over JetStream. Create with ``await JetStreamBus.connect(url)``."""

    def __init__(
        self,
        nc: Client,
        js: JetStreamContext,
        *,
        publish_concurrency: int,
        batch_events: int = BATCH_EVENTS,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self.nc = nc
        self.js = js
        self._sem = asyncio.Semaphore(publish_concurrency)
        self.batch_events = batch_events  # 1: one single-event message per event (wire format v0)
        self.batch_bytes = batch_bytes
        self.duplicates_dropped = 0  # messages the stream recognised as already stored
        self.duplicate_events = 0  # the events in those messages
        self.retries = 0  # messages re-sent because no ack came
        self.oversized = 0  # events larger than the server's max_payload on their own: dropped, logged
        self.messages = 0  # NATS messages stored (or recognised as duplicates)
        self.bad_payloads = 0  # received messages that were neither an event nor a valid batch
        self.duplicates_skipped = 0  # events subscribe() had already yielded (a redundant collector's copy)
        self._ack_prefix: str | None = None
        self._inflight: dict[str, tuple[_Waiter, int]] = {}
        self._token = 0

    @classmethod
    async def connect(
        cls,
        url: str | Sequence[str],
        *,
        limits: StreamLimits | None = None,
        publish_concurrency: int = 8,
        ensure_stream: bool = True,
        batch_events: int = BATCH_EVENTS,
        batch_bytes: int = BATCH_BYTES,
    ) -> JetStreamBus:
        servers = parse_servers(url) if isinstance(url, str) else list(url)
        try:
            nc = await nats.connect(
                servers=servers,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.2,
                connect_timeout=2,
                allow_reconnect=True,
            )
        except Exception as exc:  # nats raises several unrelated types here
            raise BusError(f"cannot connect to NATS at {','.join(servers)}: {exc}") from exc
        bus = cls(
            nc,
            nc.jetstream(timeout=5.0),
            publish_concurrency=publish_concurrency,
            batch_events=batch_events,
            batch_bytes=batch_bytes,
        )
        if ensure_stream:
            await bus.ensure_stream(limits or StreamLimits())
        return bus

    async def ensure_stream(self, limits: StreamLimits) -> None:
        """Create the stream if absent (idempotent; an existing one keeps its configuration)."""

        replicas = limits.replicas
        if replicas is None:
            cluster = (self.nc._server_info or {}).get("cluster")  # set only when clustered
            replicas = 3 if cluster else 1
        config = StreamConfig(
            name=STREAM,
            subjects=[f"{SUBJECT_ROOT}.>"],
            storage=StorageType.FILE,
            max_age=limits.max_age_s,
            max_bytes=limits.max_bytes,
            duplicate_window=limits.duplicate_window_s,
            num_replicas=replicas,
        )
        for attempt in range(40):
            try:
                try:
                    await self.js.stream_info(STREAM)
                    return
                except NotFoundError:
                    await self.js.add_stream(config)
                    return
            except _RETRYABLE:
                # a fresh cluster has no JetStream meta leader for a moment
                if attempt == 39:
                    raise
                await asyncio.sleep(0.25)

    async def _ack_subscription(self) -> str:
        """One wildcard inbox for every publish ack: acks are matched by token, no future per message."""

        if self._ack_prefix is None:
            prefix = f"_PSACK.{self.nc.new_inbox().rsplit('.', 1)[-1]}"
            await self.nc.subscribe(prefix + ".*", cb=self._on_ack)
            self._ack_prefix = prefix
        return self._ack_prefix

    async def _on_ack(self, msg: Msg) -> None:
        entry = self._inflight.pop(msg.subject.rsplit(".", 1)[-1], None)
        if entry is None:
            return  # an ack of an attempt already given up on: the retry carries the same id
        waiter, index = entry
        data = msg.data
        if not data.startswith(b'{"stream"') or b'"seq"' not in data:
            # an error ack, or a status message without a body (503 no responders while the stream has
            # no leader): not stored, retry
            waiter.failed.add(index)
        elif b"duplicate" in data:  # {"stream":…, "seq":N,"duplicate": true}
            self.duplicates_dropped += 1
            self.duplicate_events += waiter.sizes[index]
        waiter.left -= 1
        if waiter.left <= 0 and not waiter.done.done():
            waiter.done.set_result(None)

    def messages_of(self, events: Sequence[AnyEvent]) -> list[tuple[str, bytes, str]]:
        """``(subject, payload, Nats-Msg-Id)`` per NATS message: the events grouped by subject (order kept
        within a subject) into batches of at most ``batch_events`` events and ``batch_bytes`` bytes."""

        if self.batch_events <= 1:
            singles = [(subject_of(ev), encode_message(ev), event_id(ev)) for ev in events]
            return [m for m in singles if self._fits(m[1], m[0])]
        groups: dict[str, list[AnyEvent]] = {}
        for ev in events:
            subject = subject_of(ev)
            group = groups.get(subject)
            if group is None:
                groups[subject] = [ev]
            else:
                group.append(ev)
        out: list[tuple[str, bytes, str]] = []
        step = self.batch_events
        for subject, group in groups.items():
            ids = [event_id(ev) for ev in group]
            for k in range(0, len(group), step):
                self._cut(subject, group[k : k + step], ids[k : k + step], out)
        return out

    def _cut(
        self, subject: str, evs: list[AnyEvent], ids: list[str], out: list[tuple[str, bytes, str]]
    ) -> None:
        payload = encode_batch(evs, ids)
        if len(payload) > self.batch_bytes and len(evs) > 1:  # halve until it fits (big book snapshots)
            half = len(evs) // 2
            self._cut(subject, evs[:half], ids[:half], out)
            self._cut(subject, evs[half:], ids[half:], out)
            return
        if self._fits(payload, subject):
            out.append((subject, payload, batch_id(ids)))

    def _fits(self, payload: bytes, subject: str) -> bool:
        """False (counted, logged) for one event the server would refuse whatever the retries."""

        limit = int(getattr(self.nc, "max_payload", 0) or 0)
        if limit <= 0 or len(payload) <= limit:
            return True
        self.oversized += 1
        log.error(
            "dropped an event of %d bytes on %s: over the server's max_payload %d",
            len(payload),
            subject,
            limit,
        )
        return False

    async def publish(
        self, events: Sequence[AnyEvent], *, attempts: int = 60, ack_timeout_s: float = 2.0
    ) -> int:
        """Publish events and wait until JetStream stored each (or recognised it as a duplicate).

        The events go as batches per subject (:meth:`messages_of`). Pipelined: every message is written at
        once with a reply token, then the acks are awaited together; whatever was not acked (timeout,
        leader election, a server going away) is re-sent with the same ``Nats-Msg-Id``, which the stream
        de-duplicates. Returns the events published; raises :class:`BusError` after ``attempts``."""

        prefix = await self._ack_subscription()
        items = self.messages_of(events)
        sizes = [1 if self.batch_events <= 1 else int(msg_id.split(".", 2)[1]) for _, _, msg_id in items]
        todo = list(range(len(items)))
        delay = 0.05
        for attempt in range(attempts):
            async with self._sem:
                waiter = _Waiter(len(todo), asyncio.get_running_loop().create_future(), sizes)
                tokens = []
                for i in todo:
                    self._token += 1
                    token = str(self._token)
                    tokens.append(token)
                    self._inflight[token] = (waiter, i)
                    subject, payload, msg_id = items[i]
                    try:
                        await self.nc.publish(
                            subject, payload, reply=f"{prefix}.{token}", headers={"Nats-Msg-Id": msg_id}
                        )
                    except Exception:  # disconnected with a full reconnect buffer: retry below
                        waiter.failed.add(i)
                        waiter.left -= 1
                if waiter.left > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(waiter.done), ack_timeout_s)
                unacked = {self._inflight.pop(t)[1] for t in tokens if t in self._inflight}
            todo = sorted(unacked | waiter.failed)
            if not todo:
                self.messages += len(items)
                return len(events)
            self.retries += len(todo)
            if attempt < attempts - 1:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
        raise BusError(f"{len(todo)} of {len(items)} messages not stored after {attempts} attempts")

    async def subscribe(
        self, subject: str = f"{SUBJECT_ROOT}.>", *, recent_ids: int = 100_000
    ) -> AsyncIterator[Delivery]:
        """Live events from now on (dashboard, tape): an ephemeral ordered consumer, nothing to ack.

        Redundant collectors cut their batches differently, so the stream holds both copies of an event:
        an id among the last ``recent_ids`` yielded is skipped (counted in ``duplicates_skipped``)."""

        sub = await self.js.subscribe(subject, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW)
        seen: set[str] = set()
        order: deque[str] = deque()
        try:
            async for msg in sub.messages:
                try:
                    deliveries = deliveries_of(msg)
                except BadPayload as exc:
                    self._bad(exc)
                    continue
                for d in deliveries:
                    if d.id in seen:
                        self.duplicates_skipped += 1
                        continue
                    seen.add(d.id)
                    order.append(d.id)
                    if len(order) > recent_ids:
                        seen.discard(order.popleft())
                    yield d
        finally:
            await sub.unsubscribe()

    async def pull(
        self, durable: str, *, subject: str = f"{SUBJECT_ROOT}.>", ack_wait_s: float = 5.0
    ) -> PullConsumer:
        """A durable pull consumer: survives restarts, redelivers what was not acked within ``ack_wait_s``
        (what a killed writer had fetched comes back after that; the writer's id journal drops repeats)."""

        for attempt in range(40):
            try:
                sub = await self.js.pull_subscribe(
                    subject,
                    durable=durable,
                    stream=STREAM,
                    config=ConsumerConfig(
                        ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait_s, max_ack_pending=-1
                    ),
                )
                return PullConsumer(self.nc, sub, durable, on_bad=self._bad)
            except _RETRYABLE:
                if attempt == 39:
                    raise
                await asyncio.sleep(0.25)
        raise AssertionError("unreachable")

    async def backlog(self, durable: str) -> int:
        """Messages the durable consumer has not yet had acknowledged (pending + awaiting ack)."""

        info = await self.js.consumer_info(STREAM, durable)
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def close(self) -> None:
        # publishes are acked before publish() returns, so nothing is left to drain; draining a pull
        # subscription waits for the drain timeout (30 s): flush briefly and close
        with contextlib.suppress(Exception):
            await self.nc.flush(timeout=1)
        with contextlib.suppress(Exception):
            await self.nc.close()

    def _bad(self, exc: Exception) -> None:
        self.bad_payloads += 1
        if self.bad_payloads <= 10 or self.bad_payloads % 1000 == 0:
            log.warning("bus: bad message skipped (%d so far): %s", self.bad_payloads, exc)


def deliveries_of(msg: Msg) -> list[Delivery]:
    """The events of one NATS message (single event or batch, :func:`decode_payload`); they share one
    ``ack`` of the message (acking it more than once is a no-op). Raises :class:`BadPayload`."""

    pairs = decode_payload(msg.data, (msg.headers or {}).get("Nats-Msg-Id"))
    ack = _OnceAck(msg)
    return [Delivery(i, ev, ack) for i, ev in pairs]


class _OnceAck:
    """``await ack()`` acks the message the first time only (a batch's events share it)."""

    __slots__ = ("_done", "_msg")

    def __init__(self, msg: Msg) -> None:
        self._msg = msg
        self._done = False

    async def __call__(self) -> None:
        if not self._done:
            self._done = True
            await self._msg.ack()

    async def progress(self) -> None:
        """Still working on it (``+WPI``): JetStream restarts the message's ``ack_wait``."""

        if not self._done:
            with contextlib.suppress(Exception):
                await self._msg.in_progress()


class PullConsumer:
    """Batches from a durable pull consumer.

    One pull request is outstanding at a time (``$JS.API.CONSUMER.MSG.NEXT``, ``batch`` messages, expiring
    after the fetch timeout); messages land on a callback inbox and ``fetch`` returns whatever arrived as
    soon as anything did. (nats-py's own ``fetch`` returns after the first few messages and pays a
    ``wait_for`` per message: a round trip per handful of messages.)"""

    def __init__(
        self,
        nc: Client,
        sub: JetStreamContext.PullSubscription,
        durable: str,
        *,
        on_bad: Callable[[Exception], None] | None = None,
    ) -> None:
        self._nc = nc
        self._on_bad = on_bad
        self._sub = sub  # keeps the durable bound; its own inbox stays idle
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{durable}"
        self._inbox: str | None = None
        self._buf: list[Msg] = []
        self._arrived = asyncio.Event()
        self._left = 0  # messages the outstanding request may still bring
        self._expires_at = 0.0

    async def _on_msg(self, msg: Msg) -> None:
        status = (msg.headers or {}).get("Status") if not msg.data else None
        if status is not None:  # 404 no messages / 408 request expired / 409 leadership change …
            self._left = 0
        else:
            self._buf.append(msg)
            self._left -= 1
        self._arrived.set()

    async def fetch(
        self, batch: int = 1000, *, timeout: float = 1.0, max_bytes: int = 4 * 2**20
    ) -> list[Delivery]:
        """Deliveries of what arrived (a batch message gives one per event). One pull request asks for at
        most ``batch`` messages and ``max_bytes`` payload bytes (a batch message carries up to 500 events:
        the byte bound keeps what is fetched ahead small enough to be acked within ``ack_wait``)."""

        loop = asyncio.get_running_loop()
        try:
            if self._inbox is None:
                self._inbox = self._nc.new_inbox()
                await self._nc.subscribe(self._inbox, cb=self._on_msg)
            if not self._buf and (self._left <= 0 or loop.time() > self._expires_at):
                self._left = batch
                self._expires_at = loop.time() + timeout + 1.0
                req = json.dumps({"batch": batch, "max_bytes": max_bytes, "expires": int(timeout * 1e9)})
                await self._nc.publish(self._next, req.encode(), reply=self._inbox)
        except Exception:  # disconnected: the next fetch asks again
            await asyncio.sleep(0.2)
            return []
        if not self._buf:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout)
            await asyncio.sleep(0.002)  # let the rest of a burst arrive
        out, self._buf = self._buf, []
        deliveries: list[Delivery] = []
        for m in out:
            try:
                deliveries += deliveries_of(m)
            except BadPayload as exc:  # counted and terminated: JetStream must not redeliver it
                if self._on_bad is not None:
                    self._on_bad(exc)
                with contextlib.suppress(Exception):
                    await m.term()
        return deliveries
