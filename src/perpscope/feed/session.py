"""One resilient WebSocket connection to a venue: connect, subscribe in paced batches, keep alive by the
venue's rules, watchdog on silence, reconnect with exponential backoff and jitter, resubscribe, planned
rotation (Binance cuts connections at 24 h), decode every frame, record every gap.

Venue specifics arrive as a :class:`ConnectionPlan` (built in ``feed.plans``); the session itself is venue
agnostic, and the emulator is reached through the same code path by overriding the plan's URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from ..errors import DecodeError
from ..model import AnyEvent, Venue
from ..timeutil import NS_PER_S, now_ns
from ..venues import VenueDecoder
from .backoff import Backoff
from .health import Gap, Health, StreamStats

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Keepalive:
    """Client-side keepalive. ``message`` None means the server pings and aiohttp answers (Binance)."""

    message: str | None
    interval_s: float
    idle_only: bool = False  # OKX: send only after ``interval_s`` without any incoming message


@dataclass(frozen=True, kw_only=True)
class ConnectionPlan:
    venue: Venue
    stream: str  # health label, e.g. "binance/market"
    url: str
    subscribe: tuple[str, ...] = ()  # text frames sent after connecting, in order
    subscribe_pause_s: float = 0.0  # pause between subscribe frames (Binance: ≤ 10 incoming msgs/s)
    keepalive: Keepalive | None = None
    stale_after_s: float = 30.0  # no frame for this long → the connection is dead: reconnect
    rotate_after_s: float | None = None  # planned reconnect before a venue cut-off
    books: bool = False  # carries order books: resubscribing gives fresh snapshots after a gap


EventSink = Callable[[Sequence[AnyEvent]], None]


class WsSession:
    def __init__(
        self,
        plan: ConnectionPlan,
        *,
        http: aiohttp.ClientSession,
        decoder_factory: Callable[[], VenueDecoder],
        on_events: EventSink,
        health: Health,
        backoff: Backoff | None = None,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        self.plan = plan
        self.http = http
        self.decoder_factory = decoder_factory
        self.on_events = on_events
        self.health = health
        self.backoff = backoff or Backoff()
        self.on_connect = on_connect
        self._pending_gap: tuple[int, str] | None = None  # (from_ns, reason) awaiting recovery
        self._last_ns: int | None = None
        self._kick: asyncio.Event | None = None
        self._kick_reason = ""

    def request_reconnect(self, reason: str) -> None:
        """Reconnect now (and so resubscribe): how a Bybit/OKX/Hyperliquid book gets a fresh snapshot after a
        sequence gap. The time until data flows again is recorded as a gap with ``reason``."""

        self._kick_reason = reason
        if self._kick is not None:
            self._kick.set()

    @property
    def venue(self) -> str:
        return self.plan.venue.value

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; never raises for network or venue trouble."""

        while not stop.is_set():
            reason = await self._connect_once(stop)
            self.health.disconnected(self.venue, self.plan.stream)
            if stop.is_set():
                break
            if self._pending_gap is None:
                self._pending_gap = (self._last_ns or now_ns(), reason)
            planned = reason == "rotation" or reason.startswith("resync")
            delay = 0.0 if planned else self.backoff.next_delay()
            log.info("%s: %s; reconnecting in %.2fs", self.plan.stream, reason, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    async def _connect_once(self, stop: asyncio.Event) -> str:
        plan = self.plan
        try:
            ws = await self.http.ws_connect(
                plan.url, autoping=True, heartbeat=None, max_msg_size=64 * 1024 * 1024, compress=0
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return f"connect failed: {type(exc).__name__} {exc}".strip()
        decoder = self.decoder_factory()
        self.health.connected(self.venue, plan.stream)
        if self.on_connect:
            self.on_connect()
        tasks: list[asyncio.Task[None]] = []
        try:
            for i, frame in enumerate(plan.subscribe):
                if i and plan.subscribe_pause_s:
                    await asyncio.sleep(plan.subscribe_pause_s)
                await ws.send_str(frame)
            if plan.keepalive and plan.keepalive.message:
                tasks.append(asyncio.create_task(self._keepalive(ws, plan.keepalive)))
            return await self._receive(ws, decoder, stop)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            return f"disconnect: {type(exc).__name__} {exc}".strip()
        finally:
            for t in tasks:
                t.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), timeout=1.0)  # don't wait on a peer that won't answer

    async def _keepalive(self, ws: aiohttp.ClientWebSocketResponse, spec: Keepalive) -> None:
        assert spec.message is not None
        with contextlib.suppress(Exception):
            while not ws.closed:
                await asyncio.sleep(spec.interval_s)
                idle_s = (now_ns() - (self._last_ns or 0)) / NS_PER_S
                if spec.idle_only and idle_s < spec.interval_s:
                    continue
                await ws.send_str(spec.message)

    async def _receive(
        self, ws: aiohttp.ClientWebSocketResponse, decoder: VenueDecoder, stop: asyncio.Event
    ) -> str:
        """Supervise one connection: the frames are read by a separate loop task (a plain ``await
        ws.receive()`` per frame, nothing else); this coroutine sleeps until the next watchdog or rotation
        deadline, ``stop`` or a ``request_reconnect``, and ends the read loop by cancelling it (only ever at
        its ``await``, so a frame is never half handled)."""

        plan = self.plan
        started = now_ns()
        self._kick = asyncio.Event()
        reader = asyncio.create_task(self._read_loop(ws, decoder))
        stop_wait = asyncio.create_task(stop.wait())
        kick_wait = asyncio.create_task(self._kick.wait())
        stale_ns = int(plan.stale_after_s * NS_PER_S)
        rotate_at = None if plan.rotate_after_s is None else started + int(plan.rotate_after_s * NS_PER_S)
        reason: str | None = None
        try:
            while reason is None:
                now = now_ns()
                stale_at = max(started, self._last_ns or 0) + stale_ns
                if rotate_at is not None and now >= rotate_at:
                    self._pending_gap = (now, "rotation")
                    reason = "rotation"
                    break
                if now >= stale_at:
                    self._pending_gap = (self._last_ns or now, "stale")
                    reason = "stale"
                    break
                wake_at = stale_at if rotate_at is None else min(stale_at, rotate_at)
                done, _ = await asyncio.wait(
                    {reader, stop_wait, kick_wait},
                    timeout=(wake_at - now) / NS_PER_S,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if reader in done:
                    return reader.result()
                if stop_wait in done:
                    reason = "stopped"
                elif kick_wait in done:
                    self._pending_gap = (now_ns(), self._kick_reason)
                    reason = self._kick_reason
            return reason
        finally:
            for t in (reader, stop_wait, kick_wait):
                t.cancel()
            await asyncio.gather(reader, stop_wait, kick_wait, return_exceptions=True)
            self._drain(ws, decoder)

    def _drain(self, ws: aiohttp.ClientWebSocketResponse, decoder: VenueDecoder) -> None:
        """Handle the frames aiohttp already received and parsed but the read loop had not taken yet when
        it was ended (a resync kick, rotation, stop): nothing already received is lost. Reads aiohttp's
        message queue (a private deque of ``(message, size)``); without it nothing is drained."""

        buffer = getattr(getattr(ws, "_reader", None), "_buffer", None)
        if not buffer:
            return
        stats = self.health.stream(self.venue, self.plan.stream)
        pending, self._pending_gap = self._pending_gap, None  # these frames arrived before the gap began
        try:
            while buffer:
                item = buffer.popleft()
                msg = item[0] if isinstance(item, tuple) else item
                if getattr(msg, "type", None) in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    self._handle(msg.data, decoder, stats)
        finally:
            self._pending_gap = pending

    async def _read_loop(self, ws: aiohttp.ClientWebSocketResponse, decoder: VenueDecoder) -> str:
        handle = self._handle
        data_types = (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)
        closed_types = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)
        stats = self.health.stream(self.venue, self.plan.stream)
        while True:
            msg = await ws.receive()
            if msg.type in data_types:
                handle(msg.data, decoder, stats)
            elif msg.type in closed_types:
                return f"closed by venue ({ws.close_code})"
            elif msg.type == aiohttp.WSMsgType.ERROR:
                return f"disconnect: {ws.exception()!r}"

    def _handle(self, data: str | bytes, decoder: VenueDecoder, stats: StreamStats) -> None:
        ts = now_ns()
        if self._pending_gap is not None:
            from_ns, reason = self._pending_gap
            self.health.gap(
                Gap(venue=self.venue, stream=self.plan.stream, from_ns=from_ns, to_ns=ts, reason=reason)
            )
            self._pending_gap = None
            self.backoff.reset()
        self._last_ns = ts
        try:
            events = decoder.decode(data, ts)
        except DecodeError as exc:
            events = []
            self.health.parse_error(self.venue, self.plan.stream, str(exc))
        except Exception as exc:  # a decoder bug must not kill a days-long session
            events = []
            self.health.parse_error(self.venue, self.plan.stream, f"internal: {type(exc).__name__}: {exc}")
            log.exception("%s: decoder failed", self.plan.stream)
        stats.messages += 1  # what Health.message does, without its look-up (this runs for every frame)
        stats.events += len(events)
        stats.last_message_ns = ts
        if events:
            self.on_events(events)
