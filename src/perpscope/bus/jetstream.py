"""NATS JetStream bus: a durable ``PERPSCOPE`` stream, de-duplicated by ``Nats-Msg-Id``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

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
from .core import SUBJECT_ROOT, Delivery, decode_message, encode_message, event_id, subject_of

STREAM = "PERPSCOPE"
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


class JetStreamBus:
    """Publish/subscribe normalized events over JetStream. Create with ``await JetStreamBus.connect(url)``."""

    def __init__(self, nc: Client, js: JetStreamContext, *, publish_concurrency: int) -> None:
        self.nc = nc
        self.js = js
        self._sem = asyncio.Semaphore(publish_concurrency)
        self.duplicates_dropped = 0  # publishes the stream recognised as already stored

    @classmethod
    async def connect(
        cls,
        url: str | Sequence[str],
        *,
        limits: StreamLimits | None = None,
        publish_concurrency: int = 256,
        ensure_stream: bool = True,
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
        bus = cls(nc, nc.jetstream(timeout=5.0), publish_concurrency=publish_concurrency)
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

    async def _publish_one(self, ev: AnyEvent) -> None:
        payload = encode_message(ev)
        msg_id = event_id(ev, payload)
        subject = subject_of(ev)
        async with self._sem:
            delay = 0.05
            for attempt in range(60):
                try:
                    ack = await self.js.publish(
                        subject, payload, headers={"Nats-Msg-Id": msg_id}, timeout=2.0
                    )
                    if ack.duplicate:
                        self.duplicates_dropped += 1
                    return
                except _RETRYABLE as exc:
                    # leader election / a server going away: retry with the same id, de-dup makes it safe
                    if attempt == 59:
                        raise BusError(f"publish of {msg_id} failed: {exc!r}") from exc
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.5)

    async def publish(self, events: Sequence[AnyEvent]) -> int:
        """Publish events and wait until JetStream stored each (or recognised it as a duplicate)."""

        await asyncio.gather(*(self._publish_one(ev) for ev in events))
        return len(events)

    async def subscribe(self, subject: str = f"{SUBJECT_ROOT}.>") -> AsyncIterator[Delivery]:
        """Live events from now on (dashboard, tape): an ephemeral ordered consumer, nothing to ack."""

        sub = await self.js.subscribe(subject, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW)
        try:
            async for msg in sub.messages:
                yield _delivery(msg)
        finally:
            await sub.unsubscribe()

    async def pull(self, durable: str, *, subject: str = f"{SUBJECT_ROOT}.>") -> PullConsumer:
        """A durable pull consumer: survives restarts, redelivers what was not acked."""

        for attempt in range(40):
            try:
                sub = await self.js.pull_subscribe(
                    subject,
                    durable=durable,
                    stream=STREAM,
                    config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30.0, max_ack_pending=-1),
                )
                return PullConsumer(sub)
            except _RETRYABLE:
                if attempt == 39:
                    raise
                await asyncio.sleep(0.25)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        try:
            await self.nc.drain()
        except Exception:  # already closed or the server is gone: nothing left to drain
            await self.nc.close()


def _delivery(msg: Msg) -> Delivery:
    ev = decode_message(msg.data)
    msg_id = (msg.headers or {}).get("Nats-Msg-Id") or event_id(ev, msg.data)
    return Delivery(msg_id, ev, msg.ack)


class PullConsumer:
    """Batches from a durable pull consumer."""

    def __init__(self, sub: JetStreamContext.PullSubscription) -> None:
        self._sub = sub

    async def fetch(self, batch: int = 1000, *, timeout: float = 1.0) -> list[Delivery]:
        try:
            msgs = await self._sub.fetch(batch, timeout=timeout)
        except (TimeoutError, NatsTimeout):
            return []
        except (APIError, NoRespondersError, ConnectionError):
            await asyncio.sleep(0.2)  # consumer leader moving: the next fetch finds the new one
            return []
        return [_delivery(m) for m in msgs]
