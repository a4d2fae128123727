"""The collector: every venue session, REST poller and local book for a set of venues and symbols, writing
every normalized event to the store and fanning it out to live consumers (tape, dashboard, bus).

Data flow: venue sessions (``feed.session``) → decoded events → books (``feed.book``) and the cascade
detector → store writer + fan-out. Books that gap are resynchronised without dropping the stream: Binance
by a REST depth snapshot (deltas keep buffering meanwhile), the others by resubscribing (their snapshot
arrives on subscribe). Health and gaps go to ``<data dir>/status.json`` / ``gaps.jsonl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from ..analytics.cascades import CascadeDetector
from ..errors import DecodeError, PerpscopeError
from ..model import AnyEvent, BookDelta, BookSnapshot, Liquidation, MarkPrice, Venue
from ..symbols import DEFAULT_SYMBOLS
from ..timeutil import NS_PER_S, now_ns
from ..venues import binance, hyperliquid, make_decoder
from .book import Applied, BookSet
from .fanout import Fanout
from .health import Gap, Health
from .http import RestClient
from .plans import VenueRoots, connection_plans, venue_endpoints
from .session import WsSession

log = logging.getLogger(__name__)


class EventWriter(Protocol):
    def extend(self, events: Sequence[AnyEvent]) -> None: ...


@dataclass(frozen=True, kw_only=True)
class CollectorConfig:
    venues: tuple[Venue, ...] = tuple(Venue)
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    roots: Mapping[Venue, VenueRoots] = field(default_factory=dict)  # endpoint overrides (the emulator)
    books: bool = True
    stale_after_s: float = 30.0  # watchdog: no frame for this long → reconnect
    binance_oi_poll_s: float = 30.0  # Binance streams no open interest: poll REST (weight 1 per symbol)
    hyperliquid_poll_s: float = 60.0  # metaAndAssetCtxs backs up the activeAssetCtx stream
    status_interval_s: float = 2.0
    snapshot_check_s: float = 0.25  # how often books needing a snapshot are looked at
    resync_min_interval_s: float = 2.0  # resubscribe to resync books at most this often per connection
    gc_freeze: bool = True  # gc.freeze() once started: full collections (every few s at high rates) then
    # scan only what came after, not every module, instrument and client object (was ~0.3 s per pause)
    cascade_lateness_s: float = 1.0  # Bybit batches every 500 ms: hold liquidations this long for ordering


class Collector:
    def __init__(
        self,
        config: CollectorConfig,
        *,
        writer: EventWriter | None = None,
        health: Health | None = None,
        fanout: Fanout | None = None,
    ) -> None:
        self.config = config
        self.writer = writer
        self.health = health or Health()
        self.fanout = fanout or Fanout()
        self.books = BookSet()
        self.cascades = CascadeDetector(lateness_ns=int(config.cascade_lateness_s * NS_PER_S))
        self.sessions: list[WsSession] = []
        self.events_total = 0
        self._marks: dict[tuple[Venue, str], float] = {}
        self._snapshot_inflight: set[tuple[Venue, str]] = set()
        self._resync_pending: set[int] = set()
        self._resync_last: dict[int, float] = {}
        self._symbols = frozenset(s.upper() for s in config.symbols)
        self.rest: RestClient | None = None

    # -- event path --------------------------------------------------------------------------------------

    def ingest(self, events: Sequence[AnyEvent]) -> None:
        """Every decoded batch passes here: filter to our symbols (OKX liquidations cover all swaps), update
        books and cascades, store, fan out. Never raises for a bad event."""

        symbols = self._symbols
        kept = [e for e in events if e.symbol in symbols]
        if not kept:
            return
        extra: list[AnyEvent] = []
        for ev in kept:
            t = type(ev)  # exact types (the model's events are final): cheaper than an isinstance chain
            if t is BookDelta or t is BookSnapshot:
                self._apply_book(ev)  # type: ignore[arg-type]
            elif t is Liquidation:
                extra += [u.cascade for u in self.cascades.push_event(ev) if u.status == "close"]  # type: ignore[arg-type]
            elif t is MarkPrice:
                self._marks[(ev.venue, ev.symbol)] = ev.mark_price  # type: ignore[union-attr]
        batch = kept + extra if extra else kept
        self.events_total += len(batch)
        if self.writer is not None:
            self.writer.extend(batch)
        self.fanout.publish(batch)

    def _apply_book(self, ev: BookSnapshot | BookDelta) -> None:
        book = self.books.book(ev.venue, ev.symbol)
        result = book.apply(ev)
        if result in (Applied.GAP, Applied.CROSSED):
            rec = book.gap_log[-1] if book.gap_log else None
            reason = f"book {ev.symbol}: {rec.reason if rec else result.value}"
            self.health.gap(
                Gap(
                    venue=ev.venue.value,
                    stream=f"{ev.venue.value}/book/{ev.symbol}",
                    from_ns=ev.ts_recv,
                    to_ns=ev.ts_recv,
                    reason=reason,
                )
            )
            if ev.venue is not Venue.BINANCE:  # a fresh snapshot comes with a new subscription
                for s in self.sessions:
                    if s.plan.venue is ev.venue and s.plan.books:
                        self._resync_later(s, f"resync: {reason}")

    def _resync_later(self, session: WsSession, reason: str) -> None:
        """Resubscribe at most once per ``resync_min_interval_s`` per connection: a burst of bad frames must
        not become a reconnect storm (OKX allows 480 subscribe ops per connection per hour)."""

        key = id(session)
        if key in self._resync_pending:
            return
        now = asyncio.get_running_loop().time()
        due = max(now, self._resync_last.get(key, -1e18) + self.config.resync_min_interval_s)
        self._resync_pending.add(key)

        def fire() -> None:
            self._resync_pending.discard(key)
            self._resync_last[key] = asyncio.get_running_loop().time()
            session.request_reconnect(reason)

        asyncio.get_running_loop().call_later(due - now, fire)

    # -- tasks -------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, duration_s: float | None = None) -> None:
        cfg = self.config
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector) as http:
            self.rest = RestClient(session=http)
            tasks: list[asyncio.Task[None]] = []
            for venue in cfg.venues:
                for plan in connection_plans(
                    venue,
                    cfg.symbols,
                    roots=cfg.roots.get(venue),
                    books=cfg.books,
                    stale_after_s=cfg.stale_after_s,
                ):
                    session = WsSession(
                        plan,
                        http=http,
                        decoder_factory=functools.partial(make_decoder, venue),
                        on_events=self.ingest,
                        health=self.health,
                    )
                    self.sessions.append(session)
                    tasks.append(asyncio.create_task(session.run(stop)))
            if Venue.BINANCE in cfg.venues:
                tasks.append(asyncio.create_task(self._poll(stop, cfg.binance_oi_poll_s, self._binance_oi)))
                if cfg.books:
                    tasks.append(
                        asyncio.create_task(self._poll(stop, cfg.snapshot_check_s, self._binance_books))
                    )
            if Venue.HYPERLIQUID in cfg.venues:
                tasks.append(
                    asyncio.create_task(self._poll(stop, cfg.hyperliquid_poll_s, self._hyperliquid_ctx))
                )
            tasks.append(asyncio.create_task(self._poll(stop, cfg.status_interval_s, self._status)))
            tasks.append(asyncio.create_task(self._poll(stop, 1.0, self._cascade_tick)))
            if cfg.gc_freeze:
                gc.freeze()  # what exists now lives as long as the process: full collections skip it
            if duration_s is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=duration_s)
                stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            closing = [u.cascade for u in self.cascades.flush() if u.status == "close"]
            self.ingest(closing)
            await self._status()

    async def _poll(self, stop: asyncio.Event, every_s: float, job: Callable[[], object]) -> None:
        while not stop.is_set():
            try:
                await job()  # type: ignore[misc]
            except (PerpscopeError, DecodeError, aiohttp.ClientError, OSError, ValueError) as exc:
                log.warning("poller %s: %s", getattr(job, "__name__", job), exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)

    async def _status(self) -> None:
        self.health.persist()

    async def _cascade_tick(self) -> None:
        self.ingest([u.cascade for u in self.cascades.advance(now_ns()) if u.status == "close"])

    async def _binance_oi(self) -> None:
        assert self.rest is not None
        ep = venue_endpoints(Venue.BINANCE, self.config.roots.get(Venue.BINANCE))
        out: list[AnyEvent] = []
        for symbol in self.config.symbols:
            mark = self._marks.get((Venue.BINANCE, symbol))
            if mark is None:
                continue  # OI in USD needs the mark price: wait for the markPrice stream
            stream = "binance/rest/openInterest"
            try:
                body = await self.rest.fetch(
                    Venue.BINANCE, binance.open_interest_request(symbol, endpoints=ep)
                )  # type: ignore[arg-type]
                out.append(binance.parse_open_interest(body, mark_price=mark, ts_recv=now_ns()))
                self.health.message("binance", stream, n_events=1)
            except DecodeError as exc:
                self.health.parse_error("binance", stream, str(exc))
        self.ingest(out)

    async def _hyperliquid_ctx(self) -> None:
        assert self.rest is not None
        ep = venue_endpoints(Venue.HYPERLIQUID, self.config.roots.get(Venue.HYPERLIQUID))
        stream = "hyperliquid/rest/metaAndAssetCtxs"
        body = await self.rest.fetch(Venue.HYPERLIQUID, hyperliquid.meta_and_asset_ctxs_request(endpoints=ep))  # type: ignore[arg-type]
        try:
            events = hyperliquid.parse_meta_and_asset_ctxs(body, ts_recv=now_ns())
        except DecodeError as exc:
            self.health.parse_error("hyperliquid", stream, str(exc))
            return
        self.health.message("hyperliquid", stream, n_events=len(events))
        self.ingest(events)

    async def _binance_books(self) -> None:
        """Books waiting for a snapshot (new, or after a gap) get one from REST; deltas buffer meanwhile."""

        assert self.rest is not None
        ep = venue_endpoints(Venue.BINANCE, self.config.roots.get(Venue.BINANCE))
        for book in self.books.needing_snapshot():
            key = (book.venue, book.symbol)
            if book.venue is not Venue.BINANCE or key in self._snapshot_inflight or not book.buffered:
                continue
            self._snapshot_inflight.add(key)
            try:
                body = await self.rest.fetch(Venue.BINANCE, binance.depth_request(book.symbol, endpoints=ep))  # type: ignore[arg-type]
                snap = binance.parse_depth_snapshot(body, symbol=book.symbol, ts_recv=now_ns())
                self.ingest([snap])
            finally:
                self._snapshot_inflight.discard(key)
