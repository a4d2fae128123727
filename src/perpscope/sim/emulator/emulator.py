"""The exchange emulator: one loopback server per venue fed by a market source, with scheduled faults.

>>> async with Emulator(EmulatorConfig(venues=[Venue.BINANCE], symbols=["BTC"])) as emu:
...     emu.endpoints["binance"]["rest"]   # "http://127.0.0.1:<port>"
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...model import AnyEvent, Trade, Venue
from ...symbols import DEFAULT_SYMBOLS
from ...timeutil import NS_PER_MS, now_ns
from ...venues.instruments import Instruments
from .faults import FaultLog, FaultSpec, parse_faults
from .instruments import EmuInstrument, build_instrument
from .server import VenueServer
from .source import CaptureSource, MarketSource, SeededSource, SimulatorSource, parse_source

log = logging.getLogger(__name__)

VENUE_PORT_OFFSET = {Venue.BINANCE: 0, Venue.BYBIT: 1, Venue.OKX: 2, Venue.HYPERLIQUID: 3}


@dataclass(frozen=True, kw_only=True)
class EmulatorConfig:
    """Everything the emulator does is set here (the CLI maps its flags onto these fields)."""

    venues: Sequence[Venue | str] = tuple(Venue)
    symbols: Sequence[str] = DEFAULT_SYMBOLS
    host: str = "127.0.0.1"
    port_base: int = 0  # 0: ephemeral ports; else binance N, bybit N+1, okx N+2, hyperliquid N+3
    source: str | MarketSource = "sim"  # "sim" (the simulator), "seeded", "[VENUE:]PATH", or a MarketSource
    faults: str | Sequence[FaultSpec] = ()
    rate: float = 1.0  # market pace multiplier (sim) / replay speed (capture)
    seed: int = 0
    fault_log: str | Path | None = None  # JSON lines of injected faults ("-" = stderr); always in memory
    record: bool = False  # keep every published normalized event per venue (tests)
    history_days: float = 3.0  # synthetic REST history before the start
    binance_ping_interval_s: float = 180.0  # Binance server pings
    connection_max_age_s: float = 86_400.0  # Binance closes connections after 24 h
    bybit_idle_timeout_s: float = 600.0  # no ping or message for this long → closed
    okx_idle_timeout_s: float = 30.0  # OKX closes a connection without traffic for 30 s
    hyperliquid_idle_timeout_s: float = 60.0
    okx_heartbeat_s: float = 20.0  # books: seqId == prevSeqId keep-alive when the book is quiet
    hyperliquid_block_s: float = 0.5  # l2Book snapshot cadence
    loop_capture: bool = False
    start_delay_s: float = (
        0.0  # wait this long after start before feeding market data (clients connect first)
    )
    instruments: Instruments | None = None  # default: the packaged snapshot
    sim_options: dict[str, object] = field(default_factory=dict)  # extra keywords of the sim/seeded source
    # consecutive trades of one symbol go out in one frame (up to N) where the venue's trade channel
    # carries a data array (Bybit publicTrade, OKX trades, Hyperliquid trades); 1: one frame per trade
    trades_per_frame: int = 1


def _server_class(venue: Venue) -> type[VenueServer]:
    if venue is Venue.BINANCE:
        from .venue_binance import BinanceServer

        return BinanceServer
    if venue is Venue.BYBIT:
        from .venue_bybit import BybitServer

        return BybitServer
    if venue is Venue.OKX:
        from .venue_okx import OkxServer

        return OkxServer
    from .venue_hyperliquid import HyperliquidServer

    return HyperliquidServer


class Emulator:
    """Loopback WebSocket + REST servers speaking each venue's protocol. Use as an async context manager;
    ``endpoints`` maps venue → {"ws": …, "rest": …} base URLs."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.venues = [Venue(v) for v in self.config.venues]
        if not self.venues:
            raise ValueError("no venues to emulate")
        self.symbols = [s.upper() for s in self.config.symbols]
        if not self.symbols:
            raise ValueError("no symbols to emulate")
        if self.config.rate <= 0:
            raise ValueError("rate must be > 0")
        faults = self.config.faults
        self.fault_specs: list[FaultSpec] = parse_faults(faults) if isinstance(faults, str) else list(faults)
        self.fault_log = FaultLog(path=self.config.fault_log)
        self.rng = random.Random(self.config.seed)
        self.instruments_table = self.config.instruments or Instruments.packaged()
        self.instruments: dict[tuple[Venue, str], EmuInstrument] = {
            (v, s): build_instrument(v, s, instruments=self.instruments_table)
            for v in self.venues
            for s in self.symbols
        }
        self.servers: dict[Venue, VenueServer] = {}
        self.source: MarketSource | None = None
        self.source_done = asyncio.Event()
        self.start_ns = 0
        self.events_in = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _make_source(self) -> MarketSource:
        try:
            return self._build_source()
        except TypeError as exc:  # an unknown or ill-typed sim_options keyword
            raise ValueError(f"bad source option: {exc}") from None

    def _build_source(self) -> MarketSource:
        src = self.config.source
        if not isinstance(src, str):
            return src
        kind, venue, path = parse_source(src)
        if kind == "sim":
            return SimulatorSource(
                venues=self.venues,
                symbols=self.symbols,
                seed=self.config.seed,
                rate=self.config.rate,
                **self.config.sim_options,
            )
        if kind == "seeded":
            return SeededSource(
                venues=self.venues,
                symbols=self.symbols,
                seed=self.config.seed,
                rate=self.config.rate,
                instruments=self.instruments,
                **self.config.sim_options,  # type: ignore[arg-type]
            )
        assert venue is not None and path is not None
        if venue not in self.venues:
            raise ValueError(f"capture {path} is {venue.value} data but {venue.value} is not emulated")
        return CaptureSource(
            path,
            venue=venue,
            rate=self.config.rate,
            loop=self.config.loop_capture,
            instruments=self.instruments_table,
        )

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        cfg = self.config
        self.source = self._make_source()
        for v in self.venues:
            insts = {s: self.instruments[(v, s)] for s in self.symbols}
            self.servers[v] = _server_class(v)(
                config=cfg,
                instruments=insts,
                faults=self.fault_specs,
                fault_log=self.fault_log,
                rng=random.Random(self.rng.random()),
            )
        sequenced = bool(getattr(self.source, "sequenced_books", False))
        on_grid = bool(getattr(self.source, "levels_on_grid", False))
        for server in self.servers.values():
            server.sync_source_books = sequenced
            server.source_on_grid = on_grid
        self.dispatch(self.source.initial_events())
        start_ms = now_ns() // NS_PER_MS
        for server in self.servers.values():
            server.init_history(start_ms, cfg.history_days, cfg.seed)
        try:
            for v, server in self.servers.items():
                port = cfg.port_base + VENUE_PORT_OFFSET[v] if cfg.port_base else 0
                await server.start(cfg.host, port)
        except OSError:
            await self.stop()
            raise
        self.start_ns = now_ns()
        for server in self.servers.values():
            server.start_ns = self.start_ns
        self.fault_log.open(self.start_ns)
        gc.freeze()  # the REST history and instruments live as long as the servers: keep them out of GC scans
        self._tasks.append(asyncio.ensure_future(self._pump()))
        for spec in self.fault_specs:
            if spec.kind in ("drop", "stall", "gap", "burst"):
                self._tasks.append(asyncio.ensure_future(self._run_fault(spec)))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await asyncio.gather(*(s.stop() for s in self.servers.values()), return_exceptions=True)
        self.fault_log.close()

    # ------------------------------------------------------------------ data
    def dispatch(self, events: Sequence[AnyEvent]) -> None:
        pack = self.config.trades_per_frame
        if pack > 1:
            self._dispatch_packed(events, pack)
            return
        for ev in events:
            self.dispatch_one(ev)

    def _dispatch_packed(self, events: Sequence[AnyEvent], pack: int) -> None:
        """``dispatch`` with runs of consecutive trades of one venue symbol handed over together."""

        run: list[Trade] = []
        for ev in events:
            if type(ev) is Trade:
                if run and (run[0].venue is not ev.venue or run[0].symbol != ev.symbol or len(run) >= pack):
                    self._dispatch_trades(run)
                    run = []
                run.append(ev)
                continue
            if run:
                self._dispatch_trades(run)
                run = []
            self.dispatch_one(ev)
        if run:
            self._dispatch_trades(run)

    def dispatch_one(self, ev: AnyEvent) -> None:
        server = self.servers.get(ev.venue)
        if server is None:
            return
        self.events_in += 1
        try:
            server.handle(ev)
        except Exception:
            log.exception("%s: failed to publish %s", ev.venue, type(ev).__name__)

    def _dispatch_trades(self, trades: list[Trade]) -> None:
        server = self.servers.get(trades[0].venue)
        if server is None:
            return
        self.events_in += len(trades)
        try:
            server.handle_trades(trades)
        except Exception:
            log.exception("%s: failed to publish %d trades", trades[0].venue, len(trades))

    async def _pump(self) -> None:
        assert self.source is not None
        if self.config.start_delay_s > 0:
            await asyncio.sleep(self.config.start_delay_s)
        try:
            async for batch in self.source.batches():
                self.dispatch(batch)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("market source failed; the emulator keeps serving without new data")
        finally:
            self.source_done.set()

    async def stop_source(self) -> None:
        """Stop feeding new market data (servers keep answering): freezes the market, e.g. to compare a
        client's book with the emulator's."""

        if self._tasks:
            pump = self._tasks[0]
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)

    # ------------------------------------------------------------------ faults
    def _targets(self, spec: FaultSpec) -> list[VenueServer]:
        return [s for v, s in self.servers.items() if spec.applies_to(v)]

    async def _run_fault(self, spec: FaultSpec) -> None:
        assert spec.at_s is not None
        elapsed = (now_ns() - self.start_ns) / 1e9
        await asyncio.sleep(max(0.0, spec.at_s - elapsed))
        while True:
            await asyncio.gather(*(self._inject(spec, server) for server in self._targets(spec)))
            if spec.every_s is None:
                return
            await asyncio.sleep(spec.every_s)

    async def _inject(self, spec: FaultSpec, server: VenueServer) -> None:
        v = server.venue
        if spec.kind == "drop":
            n = server.drop_all()
            self.fault_log.log("drop", v, connections=n, spec=spec.text)
        elif spec.kind == "stall":
            duration = spec.duration_s or 0.0
            server.start_stall(duration)
            self.fault_log.log(
                "stall", v, phase="start", duration_s=duration, connections=len(server.conns), spec=spec.text
            )
            await asyncio.sleep(duration)
            self.fault_log.log("stall", v, phase="end", lost_frames=server.stall_lost, spec=spec.text)
        elif spec.kind == "gap":
            server.arm_gap()
        elif spec.kind == "burst":
            duration = spec.duration_s or 0.0
            self.fault_log.log(
                "burst", v, phase="start", factor=spec.factor, duration_s=duration, spec=spec.text
            )
            counts = await server.burst(spec.factor, duration)
            self.fault_log.log("burst", v, phase="end", spec=spec.text, **counts)

    # ------------------------------------------------------------------ views
    @property
    def endpoints(self) -> dict[str, dict[str, str]]:
        host = self.config.host
        return {v.value: {"ws": s.ws_url(host), "rest": s.rest_url(host)} for v, s in self.servers.items()}

    def server(self, venue: Venue | str) -> VenueServer:
        return self.servers[Venue(venue)]

    def published(self, venue: Venue | str) -> list[AnyEvent]:
        """Normalized events a venue published (needs ``record=True``)."""

        recorded = self.server(venue).recorded
        if recorded is None:
            raise ValueError("start the emulator with EmulatorConfig(record=True) to keep published events")
        return recorded

    def stats(self) -> dict[str, object]:
        out: dict[str, object] = {"events_in": self.events_in, "faults": len(self.fault_log.records)}
        for v, s in self.servers.items():
            out[v.value] = {
                "connections": len(s.conns),
                "published": dict(s.published),
                "http_requests": sum(s.http_requests.values()),
            }
        return out

    async def wait_source_done(self, timeout: float | None = None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.source_done.wait(), timeout)
