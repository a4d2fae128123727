"""WsSession and RestClient against tiny loopback aiohttp servers: reconnect, gaps, watchdog, keepalive,
parse errors, throttling. (The full venue protocols are exercised against the emulator elsewhere.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import aiohttp
import pytest
from aiohttp import web

from perpscope.errors import DecodeError
from perpscope.feed.backoff import Backoff
from perpscope.feed.health import Health, read_status
from perpscope.feed.http import Banned, RestClient
from perpscope.feed.ratelimit import TokenBucket
from perpscope.feed.session import ConnectionPlan, Keepalive, WsSession
from perpscope.model import MarkPrice, Venue
from perpscope.venues.rest import RestRequest


class EchoDecoder:
    """Frames are JSON {"p": price}; anything else is a DecodeError."""

    def decode(self, raw: bytes | str, ts_recv: int) -> list[MarkPrice]:
        try:
            price = float(json.loads(raw)["p"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DecodeError(f"bad frame: {exc}") from None
        return [
            MarkPrice(venue=Venue.BYBIT, symbol="BTC", ts_event=ts_recv, ts_recv=ts_recv, mark_price=price)
        ]


async def start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"127.0.0.1:{port}"


def fast_backoff() -> Backoff:
    return Backoff(base_s=0.01, cap_s=0.05)


async def run_session(url: str, *, seconds: float, **plan_kw: object) -> tuple[list[float], Health]:
    got: list[float] = []
    health = Health()
    plan = ConnectionPlan(venue=Venue.BYBIT, stream="bybit/test", url=url, **plan_kw)  # type: ignore[arg-type]
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:
        session = WsSession(
            plan,
            http=http,
            decoder_factory=EchoDecoder,
            on_events=lambda evs: got.extend(e.mark_price for e in evs),
            health=health,
            backoff=fast_backoff(),
        )
        task = asyncio.create_task(session.run(stop))
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.wait_for(task, 2)
    return got, health


async def test_reconnects_after_drop_records_gap_and_counts_bad_frames() -> None:
    connections = 0

    async def handler(request: web.Request) -> web.WebSocketResponse:
        nonlocal connections
        connections += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sub = await ws.receive_str()
        assert sub == "SUB"
        await ws.send_str('{"p": 1}')
        await ws.send_str("not json")
        await ws.send_str('{"p": 2}')
        if connections == 1:
            await ws.close()  # a dropped connection
            return ws
        async for _ in ws:  # until the client goes
            pass
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner, host = await start(app)
    try:
        got, health = await run_session(f"ws://{host}/ws", seconds=0.5, subscribe=("SUB",))
    finally:
        await runner.cleanup()
    stats = health.stream("bybit", "bybit/test")
    assert connections == 2 and stats.reconnects == 1
    assert got == [1.0, 2.0, 1.0, 2.0]  # nothing already received is lost
    assert stats.parse_errors == 2 and stats.messages == 6 and stats.events == 4
    assert len(stats.gaps) == 1 and stats.gaps[0].reason.startswith("closed by venue")
    assert stats.gaps[0].to_ns >= stats.gaps[0].from_ns


async def test_watchdog_reconnects_a_silent_connection_and_keepalive_is_sent() -> None:
    pings: list[str] = []
    connections = 0

    async def handler(request: web.Request) -> web.WebSocketResponse:
        nonlocal connections
        connections += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str('{"p": 5}')
        async for msg in ws:  # then silent: only collects client pings
            pings.append(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner, host = await start(app)
    try:
        got, health = await run_session(
            f"ws://{host}/ws",
            seconds=0.9,
            stale_after_s=0.3,
            keepalive=Keepalive(message='{"op":"ping"}', interval_s=0.1),
        )
    finally:
        await runner.cleanup()
    stats = health.stream("bybit", "bybit/test")
    assert connections >= 2 and stats.reconnects >= 1
    assert any(g.reason == "stale" for g in stats.gaps)
    assert pings and set(pings) == {'{"op":"ping"}'}
    assert got[0] == 5.0


async def test_planned_rotation_reconnects_without_backoff() -> None:
    connections = 0

    async def handler(request: web.Request) -> web.WebSocketResponse:
        nonlocal connections
        connections += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)

        async def feed() -> None:
            with contextlib.suppress(ConnectionError):
                while not ws.closed:
                    await ws.send_str('{"p": 1}')
                    await asyncio.sleep(0.02)

        sender = asyncio.create_task(feed())
        async for _ in ws:  # answers the client's close handshake
            pass
        sender.cancel()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner, host = await start(app)
    try:
        _, health = await run_session(f"ws://{host}/ws", seconds=0.6, rotate_after_s=0.2)
    finally:
        await runner.cleanup()
    stats = health.stream("bybit", "bybit/test")
    assert connections >= 2
    assert {g.reason for g in stats.gaps} == {"rotation"}


async def test_connection_refused_backs_off_without_tight_loop() -> None:
    _, health = await run_session("ws://127.0.0.1:9/ws", seconds=0.3)
    stats = health.stream("bybit", "bybit/test")
    assert stats.connects == 0  # never connected, and the run stopped cleanly


async def test_rest_client_honours_retry_after_and_bans() -> None:
    calls: list[float] = []

    async def limited(request: web.Request) -> web.Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return web.Response(status=429, headers={"Retry-After": "0.3"}, text="slow down")
        return web.Response(text='{"ok": true}')

    async def banned(request: web.Request) -> web.Response:
        return web.Response(status=418, headers={"Retry-After": "120"}, text="banned")

    app = web.Application()
    app.router.add_get("/limited", limited)
    app.router.add_get("/banned", banned)
    runner, host = await start(app)
    try:
        async with aiohttp.ClientSession() as http:
            client = RestClient(session=http)
            body = await client.fetch(
                Venue.BINANCE, RestRequest(method="GET", base_url=f"http://{host}", path="/limited")
            )
            assert json.loads(body) == {"ok": True}
            assert calls[1] - calls[0] >= 0.29  # waited for Retry-After
            with pytest.raises(Banned):
                await client.fetch(
                    Venue.OKX, RestRequest(method="GET", base_url=f"http://{host}", path="/banned")
                )
            assert client.bucket(Venue.OKX).wait_time() > 100  # no request to that venue for the ban period
    finally:
        await runner.cleanup()


async def test_token_bucket_paces_requests() -> None:
    bucket = TokenBucket(capacity=5, period_s=0.5)  # 10 per second
    t0 = time.monotonic()
    for _ in range(10):
        await bucket.acquire()
    assert time.monotonic() - t0 >= 0.45


def test_backoff_grows_to_cap_with_jitter() -> None:
    b = Backoff(base_s=1, factor=2, cap_s=8, jitter=0.25)
    delays = [b.next_delay() for _ in range(6)]
    for d, nominal in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert 0.75 * nominal <= d <= 1.25 * nominal
    b.reset()
    assert b.next_delay() <= 1.25


def test_health_persists_status_and_gaps(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from perpscope.feed.health import Gap

    h = Health(tmp_path)
    h.connected("okx", "okx/public")
    h.message("okx", "okx/public", n_events=3)
    h.parse_error("okx", "okx/public", "bad")
    h.gap(Gap(venue="okx", stream="okx/public", from_ns=1, to_ns=2, reason="stale"))
    h.persist()
    status, gaps = read_status(tmp_path)
    assert status is not None and status["streams"][0]["parse_errors"] == 1  # type: ignore[index]
    assert gaps == [Gap(venue="okx", stream="okx/public", from_ns=1, to_ns=2, reason="stale")]


async def test_request_reconnect_and_stop_while_frames_stream() -> None:
    """The read loop is only ever interrupted between frames: a resync kick mid-stream reconnects at once
    (no backoff) with the kick's reason as the gap, every frame received is handled exactly once, and
    stop ends a busy session promptly."""

    connections = 0
    sent: list[int] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        nonlocal connections
        connections += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        with contextlib.suppress(ConnectionError, RuntimeError):
            while not ws.closed:
                for _ in range(50):
                    sent.append(len(sent) + 1)
                    await ws.send_str(json.dumps({"p": sent[-1]}))
                await asyncio.sleep(0.001)
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner, host = await start(app)
    got: list[float] = []
    health = Health()
    plan = ConnectionPlan(venue=Venue.BYBIT, stream="bybit/test", url=f"ws://{host}/ws")
    stop = asyncio.Event()
    try:
        async with aiohttp.ClientSession() as http:
            session = WsSession(
                plan,
                http=http,
                decoder_factory=EchoDecoder,
                on_events=lambda evs: got.extend(e.mark_price for e in evs),
                health=health,
                backoff=Backoff(base_s=5.0, cap_s=5.0),  # a backoff would outlast the test
            )
            task = asyncio.create_task(session.run(stop))
            await asyncio.sleep(0.3)
            session.request_reconnect("resync: test")
            await asyncio.sleep(0.3)
            stop.set()
            t = time.monotonic()
            await asyncio.wait_for(task, 2)
            assert time.monotonic() - t < 1.0
    finally:
        await runner.cleanup()
    stats = health.stream("bybit", "bybit/test")
    assert connections == 2 and stats.reconnects == 1
    assert [g.reason for g in stats.gaps] == ["resync: test"]
    assert len(got) == len(set(got)) == stats.messages > 100  # each received frame handled once
    assert got == sorted(got)
