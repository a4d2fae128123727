"""What every emulated venue shares: the aiohttp app on one loopback port (WebSocket and REST), client
connections with their own send queues, subscription fan-out, market state per symbol, and the fault
hooks (drop, stall, gap, burst, malformed frames, HTTP errors)."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import json
import logging
import math
import random
import struct
import time
import zlib
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec
from aiohttp import WSMsgType, web

from ...feed.book import Applied, LocalBook, SideLevels
from ...model import (
    AnyEvent,
    BookDelta,
    BookSnapshot,
    Funding,
    Liquidation,
    MarkPrice,
    OpenInterest,
    PriceLevel,
    Side,
    Trade,
    Venue,
)
from ...timeutil import NS_PER_MS, NS_PER_S, now_ns
from .faults import HTTP_STATUS, FaultLog, FaultSpec
from .instruments import EmuInstrument
from .market import SymbolMarket, make_history

if TYPE_CHECKING:
    from .emulator import EmulatorConfig

log = logging.getLogger(__name__)

MAX_QUEUE = 200_000  # frames queued for one client before it is cut off as a slow consumer
_conn_ids = itertools.count(1)
WRITE_BATCH = 512  # frames per transport write
WRITE_HIGH_WATER = 4 << 20  # bytes buffered in the transport before the writer waits for the client


def _text_header(n: int) -> bytes:
    """RFC 6455 header of an unmasked, unfragmented TEXT frame of ``n`` payload bytes (server → client)."""

    if n < 126:
        return bytes((0x81, n))
    if n < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, n)
    return struct.pack("!BBQ", 0x81, 127, n)


def _on_grid(m: SymbolMarket, side: SideLevels, changed: list[PriceLevel] | None = None) -> list[PriceLevel]:
    """Source levels on the venue's tick: the sizes of source levels that round to the same venue price are
    summed (a coarser venue tick aggregates, as a venue would). ``changed`` limits the result to the venue
    prices those source levels map to (a delta); None returns the whole side (a snapshot)."""

    round_px = m.inst.round_px
    if changed is None:
        out: dict[float, float] = {}
        for p in side.prices:
            r = round_px(p)
            out[r] = out.get(r, 0.0) + side.sizes[p]
        return list(out.items())
    half = m.inst.tick / 2.0
    prices, sizes = side.prices, side.sizes
    res: list[PriceLevel] = []
    for r in {round_px(p) for p, _ in changed}:
        i = bisect.bisect_left(prices, r - half - 1e-9 * max(1.0, r))
        j = bisect.bisect_right(prices, r + half + 1e-9 * max(1.0, r))
        res.append((r, sum(sizes[p] for p in prices[i:j] if round_px(p) == r)))
    return res


class Conn:
    """One client WebSocket: frames go into a queue drained by a writer task, so a slow client never blocks
    the feed; ``subs`` are the channel keys it subscribed to."""

    __slots__ = (
        "closed",
        "combined",
        "id",
        "last_client_msg_ns",
        "last_pong_ns",
        "meta",
        "msg_times",
        "opened_ns",
        "path",
        "queue",
        "request",
        "sent",
        "server",
        "subs",
        "wake",
        "ws",
    )

    def __init__(self, server: VenueServer, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.id = next(_conn_ids)
        self.server = server
        self.ws = ws
        self.request = request
        self.path = request.path
        self.queue: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.subs: set[str] = set()
        self.opened_ns = now_ns()
        self.last_client_msg_ns = self.opened_ns
        self.last_pong_ns = self.opened_ns
        self.sent = 0
        self.closed = False
        self.combined = False  # Binance: /stream routes wrap payloads
        self.meta: dict[str, object] = {}
        self.msg_times: deque[float] = deque(maxlen=64)

    def send(self, data: bytes, *, control: bool = False) -> None:
        """Queue a frame. Data frames may be corrupted by a ``malformed`` fault; during a stall nothing goes
        out (the frame is counted as lost)."""

        if self.closed:
            return
        server = self.server
        if server.stalled:
            server.stall_lost += 1
            return
        if not control and server.malformed_probability():
            data = server.corrupt(self, data)
        if len(self.queue) >= MAX_QUEUE:
            log.warning(
                "%s: client %d is too slow (%d frames queued): disconnecting",
                server.venue,
                self.id,
                MAX_QUEUE,
            )
            self.abort()
            return
        self.queue.append(data)
        self.wake.set()

    async def writer(self) -> None:
        """Drain the queue: everything queued since the last turn goes out as unmasked TEXT frames in one
        ``transport.write`` (the server never compresses), not one awaited ``send_frame`` per frame; when
        the client reads slowly the writer waits for the transport buffer to drain."""

        ws = self.ws
        queue = self.queue
        transport = self.request.transport
        try:
            while not self.closed:
                if not queue:
                    self.wake.clear()
                    await self.wake.wait()
                    continue
                if transport is None or transport.is_closing() or ws.closed:
                    break
                n = min(len(queue), WRITE_BATCH)
                parts: list[bytes] = []
                append = parts.append
                popleft = queue.popleft
                for _ in range(n):
                    data = popleft()
                    append(_text_header(len(data)))
                    append(data)
                transport.write(b"".join(parts))
                self.sent += n
                while transport.get_write_buffer_size() > WRITE_HIGH_WATER and not self.closed:
                    if transport.is_closing():
                        return
                    await asyncio.sleep(0.002)
                await asyncio.sleep(0)  # let the feed and the other connections run
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        finally:
            self.closed = True

    def abort(self) -> None:
        """Cut the TCP connection without a close frame (what a network drop looks like)."""

        self.closed = True
        self.wake.set()
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        self.closed = True
        self.wake.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code=code, message=message), timeout=1.0)


@dataclass(frozen=True, kw_only=True)
class HttpFault:
    status: int
    retry_after_s: float
    kind: str


class VenueServer:
    """Base of the four venue servers. Subclasses add routes, the WebSocket protocol and the encoders."""

    venue: Venue

    def __init__(
        self,
        *,
        config: EmulatorConfig,
        instruments: dict[str, EmuInstrument],
        faults: list[FaultSpec],
        fault_log: FaultLog,
        rng: random.Random,
    ) -> None:
        self.config = config
        self.instruments = instruments  # canonical symbol → instrument
        self.by_instrument = {inst.instrument: inst for inst in instruments.values()}
        self.markets: dict[str, SymbolMarket] = {s: SymbolMarket(inst=i) for s, i in instruments.items()}
        self.faults = [f for f in faults if f.applies_to(self.venue)]
        self.fault_log = fault_log
        self.rng = rng
        self.conns: set[Conn] = set()
        self.subscribers: dict[str, set[Conn]] = {}
        self.published: Counter[str] = Counter()  # events published per kind (not per client)
        self.recorded: list[AnyEvent] | None = [] if config.record else None
        self.http_requests: Counter[str] = Counter()
        self.sync_source_books = False  # set by the emulator for sources with venue sequence numbers
        self.source_on_grid = False  # the source's book levels are on each venue's tick and lot already
        self._source_books: dict[str, LocalBook] = {}
        self.stalled_until_ns = 0
        self.stall_lost = 0
        self.gap_token = 0  # bumped by a gap fault; each book stream skips one delta per bump
        self.start_ns = 0
        self.app = web.Application(middlewares=[self._http_middleware])
        self.runner: web.AppRunner | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._publish_times: deque[tuple[float, int]] = deque(maxlen=64)
        self._n_published = 0
        self.setup_routes()

    # ------------------------------------------------------------------ lifecycle
    def setup_routes(self) -> None:
        raise NotImplementedError

    async def start(self, host: str, port: int) -> None:
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, reuse_address=True)
        await site.start()
        self.port = self.runner.addresses[0][1]
        self.start_ns = now_ns()
        self.spawn(self._maintenance())

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(
            *(c.close(1001, b"emulator shutting down") for c in list(self.conns)), return_exceptions=True
        )
        if self.runner is not None:
            await self.runner.cleanup()

    def spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def ws_url(self, host: str) -> str:
        return f"ws://{host}:{self.port}"

    def rest_url(self, host: str) -> str:
        return f"http://{host}:{self.port}"

    async def _maintenance(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now_ms = now_ns() // NS_PER_MS
            for m in self.markets.values():
                m.maintain(now_ms)
            try:
                self.tick_1s(now_ms)
            except Exception:  # a periodic push must never kill the server
                log.exception("%s: periodic push failed", self.venue)

    def tick_1s(self, now_ms: int) -> None:
        """Per-second pushes (klines, heartbeats, idle checks); subclasses extend."""

    def init_history(self, start_ms: int, days: float, seed: int) -> None:
        for i, (_sym, m) in enumerate(sorted(self.markets.items())):
            price = m.reference_price()
            oi = m.oi_base if m.oi_base is not None else 1e6 / price
            m.history = make_history(
                price_now=price,
                oi_base_now=oi,
                start_ms=start_ms,
                days=days,
                interval_hours=m.inst.funding_interval_hours,
                seed=seed * 1009 + i * 31 + zlib.crc32(self.venue.value.encode()) % 997,
                tick=m.inst.tick,
            )

    # ------------------------------------------------------------------ websocket plumbing
    async def websocket(
        self,
        request: web.Request,
        on_open: Callable[[Conn], None] | None = None,
    ) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = Conn(self, ws, request)
        self.conns.add(conn)
        writer = asyncio.ensure_future(conn.writer())
        try:
            if on_open is not None:
                on_open(conn)
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    conn.last_client_msg_ns = now_ns()
                    conn.msg_times.append(time.monotonic())
                    try:
                        await self.on_text(conn, msg.data)
                    except Exception:
                        log.exception("%s: handling %r failed", self.venue, msg.data[:200])
                elif msg.type is WSMsgType.PING:
                    conn.last_client_msg_ns = now_ns()
                    if not self.stalled:
                        await ws.pong(msg.data)
                elif msg.type is WSMsgType.PONG:
                    conn.last_pong_ns = now_ns()
                elif msg.type is WSMsgType.BINARY:
                    await self.on_text(conn, msg.data.decode("utf-8", "replace"))
                if conn.closed:
                    break
        except (ConnectionError, RuntimeError):
            pass
        finally:
            conn.closed = True
            conn.wake.set()
            self.conns.discard(conn)
            for key in conn.subs:
                subs = self.subscribers.get(key)
                if subs is not None:
                    subs.discard(conn)
                    if not subs:
                        del self.subscribers[key]
            writer.cancel()
            with contextlib.suppress(BaseException):
                await writer
            self.on_close(conn)
        return ws

    async def on_text(self, conn: Conn, text: str) -> None:
        raise NotImplementedError

    def on_close(self, conn: Conn) -> None:
        """Hook for subclasses."""

    def subscribe(self, conn: Conn, key: str) -> bool:
        """Add ``conn`` to a channel; False if it already was."""

        if key in conn.subs:
            return False
        conn.subs.add(key)
        self.subscribers.setdefault(key, set()).add(conn)
        return True

    def unsubscribe(self, conn: Conn, key: str) -> bool:
        if key not in conn.subs:
            return False
        conn.subs.discard(key)
        subs = self.subscribers.get(key)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del self.subscribers[key]
        return True

    def publish(self, key: str, data: bytes) -> int:
        """Send one frame to every subscriber of ``key``; returns how many got it."""

        subs = self.subscribers.get(key)
        if not subs:
            return 0
        if self._packing is not None:  # handle_trades merges the frames of one topic
            self._packing.append((self.publish, key, data))
            return len(subs)
        for conn in list(subs):
            conn.send(data)
        return len(subs)

    def has_subscribers(self, key: str) -> bool:
        return key in self.subscribers

    # ------------------------------------------------------------------ events from the source
    # the venue's trade frames carry a ``data`` array: several trades of one symbol may share a frame
    packs_trades = False
    _packing: list[tuple[Callable[[str, bytes], object], str, bytes]] | None = None

    def handle_trades(self, trades: list[Trade]) -> None:
        """Trades of one symbol: each handled as by ``handle``, but where the venue packs trades the
        frames each topic got are merged into one (their ``data`` arrays concatenated, in order)."""

        if not self.packs_trades or len(trades) < 2:
            for t in trades:
                self.handle(t)
            return
        packed: list[tuple[Callable[[str, bytes], object], str, bytes]] = []
        self._packing = packed
        try:
            for t in trades:
                self.handle(t)
        finally:
            self._packing = None
        topics: dict[str, tuple[Callable[[str, bytes], object], list[bytes]]] = {}
        for send, key, data in packed:
            topics.setdefault(key, (send, []))[1].append(data)
        for key, (send, frames) in topics.items():
            for frame in _merge_data_frames(frames):
                send(key, frame)

    def handle(self, event: AnyEvent) -> None:
        m = self.markets.get(event.symbol)
        if m is None:
            return
        self._n_published += 1
        if isinstance(event, BookDelta | BookSnapshot) and self.sync_source_books:
            self._sequenced_book(m, event)
        elif isinstance(event, BookDelta):
            bids, asks = m.apply_levels(event.bids, event.asks, on_grid=self.source_on_grid)
            if bids or asks:
                self.published["book_delta"] += 1
                self.on_book(m, event.ts_event, bids, asks, snapshot=False)
        elif isinstance(event, BookSnapshot):
            bids, asks = m.replace_book(event.bids, event.asks)
            self.published["book_snapshot"] += 1
            self.on_book(m, event.ts_event, bids, asks, snapshot=True)
        elif isinstance(event, Trade):
            trade = self.normalize_trade(m, event)
            if trade is None:
                return
            m.on_trade(trade)
            self.published["trade"] += 1
            self.on_trade(m, trade)
            self.record(trade)
        elif isinstance(event, Liquidation):
            liq = self.normalize_liquidation(m, event)
            if liq is None:
                return
            if self.on_liquidation(m, liq):
                self.published["liquidation"] += 1
                self.record(liq)
        elif isinstance(event, MarkPrice):
            m.mark = m.inst.round_px(event.mark_price)
            if event.index_price is not None:
                m.index = m.inst.round_px(event.index_price)
            self.published["mark_price"] += 1
            self.on_mark(m, event)
            self.record(event)
        elif isinstance(event, Funding):
            m.funding_rate = event.rate
            if event.next_funding_ts:
                m.next_funding_ms = event.next_funding_ts // NS_PER_MS
            self.published["funding"] += 1
            self.on_funding(m, event)
            self.record(event)
        elif isinstance(event, OpenInterest):
            m.oi_base = event.oi_base
            m.oi_ms = event.ts_event // NS_PER_MS
            self.published["open_interest"] += 1
            self.on_open_interest(m, event)
            self.record(event)

    def _sequenced_book(self, m: SymbolMarket, event: BookDelta | BookSnapshot) -> None:
        """A source whose book events carry the venue's own sequence (a recorded capture): rebuild the book
        by that venue's rules, as a client would, and publish what changes in it. Deltas before the first
        snapshot are buffered; after a gap in the recording the book holds until the next snapshot."""

        book = self._source_books.get(m.inst.symbol)
        if book is None:
            book = self._source_books[m.inst.symbol] = LocalBook(event.venue, m.inst.symbol)
        outcome = book.apply(event)
        if outcome in (Applied.SNAPSHOT, Applied.RESET):
            bids, asks = m.replace_book(_on_grid(m, book.side("bid")), _on_grid(m, book.side("ask")))
            self.published["book_snapshot"] += 1
            self.on_book(m, event.ts_event, bids, asks, snapshot=True)
        elif outcome is Applied.APPLIED and isinstance(event, BookDelta):
            bids, asks = m.apply_levels(
                _on_grid(m, book.side("bid"), event.bids), _on_grid(m, book.side("ask"), event.asks)
            )
            if bids or asks:
                self.published["book_delta"] += 1
                self.on_book(m, event.ts_event, bids, asks, snapshot=False)

    def normalize_trade(self, m: SymbolMarket, ev: Trade) -> Trade | None:
        inst = m.inst
        px = inst.round_px(ev.price)
        qty = inst.round_base(ev.quantity)
        if qty <= 0 or px <= 0:
            return None
        return Trade(
            venue=self.venue,
            symbol=ev.symbol,
            ts_event=ev.ts_event,
            ts_recv=ev.ts_recv,
            side=ev.side,
            price=px,
            quantity=qty,
            notional_usd=px * qty,
            trade_id=ev.trade_id,
        )

    def normalize_liquidation(self, m: SymbolMarket, ev: Liquidation) -> Liquidation | None:
        inst = m.inst
        px = inst.round_px(ev.price)
        qty = inst.round_base(ev.quantity)
        if qty <= 0 or px <= 0:
            return None
        return Liquidation(
            venue=self.venue,
            symbol=ev.symbol,
            ts_event=ev.ts_event,
            ts_recv=ev.ts_recv,
            side=ev.side,
            price=px,
            quantity=qty,
            notional_usd=px * qty,
            sampled=ev.sampled,
        )

    # subclasses encode and publish
    def on_book(
        self, m: SymbolMarket, ts_ns: int, bids: list[PriceLevel], asks: list[PriceLevel], *, snapshot: bool
    ) -> None:
        pass

    def on_trade(self, m: SymbolMarket, trade: Trade) -> None:
        pass

    def on_liquidation(self, m: SymbolMarket, liq: Liquidation) -> bool:
        """Publish a liquidation; False when the venue's sampling rule swallows it."""
        return False

    def on_mark(self, m: SymbolMarket, mark: MarkPrice) -> None:
        pass

    def on_funding(self, m: SymbolMarket, funding: Funding) -> None:
        pass

    def on_open_interest(self, m: SymbolMarket, oi: OpenInterest) -> None:
        pass

    # ------------------------------------------------------------------ faults
    @property
    def stalled(self) -> bool:
        return self.stalled_until_ns > 0 and now_ns() < self.stalled_until_ns

    def t_s(self) -> float:
        return (now_ns() - self.start_ns) / NS_PER_S if self.start_ns else 0.0

    def malformed_probability(self) -> bool:
        t = self.t_s()
        for f in self.faults:
            if f.kind == "malformed" and f.active(t) and self.rng.random() < f.probability:
                return True
        return False

    def corrupt(self, conn: Conn, data: bytes) -> bytes:
        """A frame that is not valid JSON any more: cut short, or with a garbage byte run inside."""

        # Still valid UTF-8 text (an invalid text frame would be a websocket protocol error, not a bad
        # message): cut short, or with a run of stray JSON punctuation spliced in.
        cut = self.rng.randint(1, max(1, len(data) - 1))
        head = data[:cut].decode("utf-8", "ignore").encode()
        bad = (
            head
            if self.rng.random() < 0.5
            else head + b'}{"]:,' + data[cut:].decode("utf-8", "ignore").encode()
        )
        self.fault_log.log(
            "malformed",
            self.venue,
            connection=conn.id,
            path=conn.path,
            bytes=len(data),
            head=data[:80].decode("utf-8", "replace"),
        )
        return bad

    def http_fault(self) -> HttpFault | None:
        t = self.t_s()
        for f in self.faults:
            if f.kind in HTTP_STATUS and f.active(t) and self.rng.random() < f.probability:
                return HttpFault(
                    status=HTTP_STATUS[f.kind], retry_after_s=f.retry_after_s or 1.0, kind=f.kind
                )
        return None

    def http_error_body(self, status: int, retry_after_s: float) -> tuple[bytes, str]:
        """Venue-style body of an injected HTTP error; subclasses override."""

        return json.dumps({"error": f"HTTP {status}"}).encode(), "application/json"

    @web.middleware
    async def _http_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await handler(request)
        self.http_requests[request.path] += 1
        fault = self.http_fault()
        if fault is not None:
            body, ctype = self.http_error_body(fault.status, fault.retry_after_s)
            self.fault_log.log(
                fault.kind,
                self.venue,
                path=request.path,
                status=fault.status,
                retry_after_s=fault.retry_after_s,
            )
            return web.Response(
                status=fault.status,
                body=body,
                content_type=ctype,
                headers={"Retry-After": str(max(1, math.ceil(fault.retry_after_s)))},
            )
        return await handler(request)

    def drop_all(self) -> int:
        conns = list(self.conns)
        for c in conns:
            c.abort()
        return len(conns)

    def start_stall(self, duration_s: float) -> None:
        self.stall_lost = 0
        self.stalled_until_ns = now_ns() + int(duration_s * NS_PER_S)

    def arm_gap(self) -> None:
        self.gap_token += 1

    def rate_per_s(self) -> float:
        """Events published per second over the last few seconds (the "normal rate" bursts multiply)."""

        now = time.monotonic()
        self._publish_times.append((now, self._n_published))
        old = [x for x in self._publish_times if now - x[0] <= 5.0]
        if len(old) < 2 or old[-1][0] - old[0][0] < 0.5:
            return 0.0
        return (old[-1][1] - old[0][1]) / (old[-1][0] - old[0][0])

    async def burst(self, factor: float, duration_s: float) -> dict[str, int]:
        """Extra trades and top-of-book updates at (factor − 1) × the recent event rate for ``duration_s``."""

        base = max(self.rate_per_s(), 50.0)
        extra_per_s = (factor - 1.0) * base
        slice_s = 0.02
        per_slice = extra_per_s * slice_s
        end = time.monotonic() + duration_s
        counts: Counter[str] = Counter()
        carry = 0.0
        symbols = [
            s for s, m in self.markets.items() if m.bids.best() is not None and m.asks.best() is not None
        ]
        if not symbols:
            return {}
        while time.monotonic() < end:
            carry += per_slice
            n = int(carry)
            carry -= n
            ts = now_ns()
            for _ in range(n):
                sym = self.rng.choice(symbols)
                m = self.markets[sym]
                bid, ask = m.bids.best(), m.asks.best()
                if bid is None or ask is None:
                    continue
                if self.rng.random() < 0.5:
                    buy = self.rng.random() < 0.5
                    px = ask if buy else bid
                    qty = max(
                        m.inst.lot_base,
                        m.inst.round_base(self.rng.lognormvariate(math.log(2000.0), 1.0) / px),
                    )
                    self.handle(
                        Trade(
                            venue=self.venue,
                            symbol=sym,
                            ts_event=ts,
                            ts_recv=ts,
                            side=Side.BUY if buy else Side.SELL,
                            price=px,
                            quantity=qty,
                            notional_usd=px * qty,
                        )
                    )
                    counts["trades"] += 1
                else:
                    side_bid = self.rng.random() < 0.5
                    p = bid if side_bid else ask
                    size = max(
                        m.inst.lot_base, m.inst.round_base(self.rng.lognormvariate(math.log(5000.0), 1.0) / p)
                    )
                    lv = [(p, size)]
                    self.handle(
                        BookDelta(
                            venue=self.venue,
                            symbol=sym,
                            ts_event=ts,
                            ts_recv=ts,
                            bids=lv if side_bid else [],
                            asks=[] if side_bid else lv,
                            update_id=0,
                        )
                    )
                    counts["book_updates"] += 1
            await asyncio.sleep(slice_s)
        return dict(counts)

    # ------------------------------------------------------------------ helpers
    def instrument_of(self, venue_id: str | None) -> EmuInstrument | None:
        if not venue_id:
            return None
        return self.by_instrument.get(venue_id) or self.by_instrument.get(venue_id.upper())

    def market_of(self, venue_id: str | None) -> SymbolMarket | None:
        inst = self.instrument_of(venue_id)
        return None if inst is None else self.markets[inst.symbol]

    def record(self, event: AnyEvent) -> None:
        """Keep what was published (normalized, rounded as sent) when ``config.record`` is on."""

        if self.recorded is not None:
            self.recorded.append(event)

    def now_ms(self) -> int:
        return now_ns() // NS_PER_MS


def _merge_data_frames(frames: list[bytes]) -> list[bytes]:
    """One frame with the ``data`` rows of all (the first frame's other fields); unchanged when a frame
    has no ``data`` array."""

    if len(frames) < 2:
        return frames
    decoded = [msgspec.json.decode(f) for f in frames]
    if not all(isinstance(d, dict) and isinstance(d.get("data"), list) for d in decoded):
        return frames
    first = decoded[0]
    first["data"] = [row for d in decoded for row in d["data"]]
    return [msgspec.json.encode(first)]
