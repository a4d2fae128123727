"""Where the emulator's market comes from: a :class:`MarketSource` yields batches of normalized events in
time order and paces itself. Implementations:

- :class:`SimulatorSource` (``--source sim``, the default): the synthetic market simulator
  (``perpscope.sim.market.MarketStream``), the model the heatmap is checked against;
- :class:`SeededSource` (``--source seeded``): a small, busy seeded generator (random-walk mid per symbol,
  a tick-grid book per venue, Poisson trades and liquidations, mark/funding every second, open interest
  every 3 s) for tests and load;
- :class:`CaptureSource` (``--source [VENUE:]PATH``): a recorded capture (the line formats of
  ``perpscope.venues.lines``) decoded with the production decoder and replayed at ``rate`` × the recorded
  pace, times moved to now;
- :class:`ScriptedSource`: given events at given times (deterministic tests).
"""

from __future__ import annotations

import asyncio
import math
import os
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import msgspec

from ...model import (
    AnyEvent,
    BookDelta,
    BookSnapshot,
    Funding,
    Liquidation,
    MarkPrice,
    OpenInterest,
    PositionSide,
    Side,
    Trade,
    Venue,
)
from ...timeutil import NS_PER_S, now_ns
from ...venues import make_decoder
from ...venues.instruments import Instruments
from .instruments import REFERENCE_PRICES, EmuInstrument, build_instrument


@runtime_checkable
class MarketSource(Protocol):
    """A stream of normalized market events for the emulator."""

    def initial_events(self) -> list[AnyEvent]:
        """State to load before the servers start (book snapshots, marks, open interest); may be empty."""
        ...

    def batches(self) -> AsyncIterator[Sequence[AnyEvent]]:
        """Batches of events in time order, paced by the source itself; ends when the source is exhausted."""
        ...


# One-sided open interest per venue as a share of a symbol's total (USD), and a plausible total.
_OI_SHARE = {Venue.BINANCE: 0.40, Venue.BYBIT: 0.25, Venue.OKX: 0.15, Venue.HYPERLIQUID: 0.20}
_OI_TOTAL_USD = {"BTC": 2.0e10, "ETH": 1.0e10, "SOL": 3.0e9, "BNB": 8.0e8, "XRP": 3.0e9, "DOGE": 2.0e9}
_BASIS_BP = {Venue.BINANCE: 0.0, Venue.BYBIT: 0.4, Venue.OKX: -0.3, Venue.HYPERLIQUID: 0.8}


class _Book:
    """A generated book for one venue symbol, on integer tick indices: ``near`` levels one tick apart at the
    touch, ``far`` levels on a coarser grid behind them, sizes kept per level so only real changes become
    deltas. The level set is recomputed only when the touch moves."""

    __slots__ = ("asks", "bid0", "bids", "grid", "inst", "n_far", "n_near", "px", "rng", "targets")

    def __init__(self, inst: EmuInstrument, rng: random.Random, *, n_near: int, n_far: int, mid: float):
        self.inst = inst
        self.rng = rng
        self.n_near = n_near
        self.n_far = n_far
        self.grid = max(1, round(mid * 1e-4 / inst.tick))  # far levels ~1 bp apart, in ticks
        self.bids: dict[int, float] = {}
        self.asks: dict[int, float] = {}
        self.bid0: int | None = None
        self.targets: tuple[list[int], list[int]] = ([], [])
        self.px: dict[int, float] = {}

    def price(self, k: int) -> float:
        p = self.px.get(k)
        if p is None:
            if len(self.px) > 50_000:
                self.px.clear()
            p = self.px[k] = round(k * self.inst.tick, self.inst.tick_decimals)
        return p

    def _size(self, depth_rank: int, mid: float) -> float:
        """A resting size: a few thousand USD at the touch, growing with depth; heavy-tailed."""

        r = self.rng.random()
        usd = (4_000.0 + 600.0 * depth_rank) * (0.25 + 3.0 * r * r * r)
        return self.inst.lots(max(1, int(usd / mid / self.inst.lot_base)))

    def _targets(self, bid0: int) -> tuple[list[int], list[int]]:
        g, nn = self.grid, self.n_near
        bids = list(range(bid0, bid0 - nn, -1))
        asks = list(range(bid0 + 1, bid0 + 1 + nn))
        gb = (bids[-1] - 1) // g * g
        ga = -((-(asks[-1] + 1)) // g) * g
        bids += [k for k in range(gb, gb - self.n_far * g, -g) if k > 0]
        asks += list(range(ga, ga + self.n_far * g, g))
        return bids, asks

    def _rank(self, k: int, *, bid: bool) -> int:
        """Distance of a level from the touch in levels (sizes grow with it)."""

        assert self.bid0 is not None
        d = self.bid0 - k if bid else k - self.bid0 - 1
        return d if d < self.n_near else self.n_near + (d - self.n_near) // self.grid

    def step(self, mid: float, *, churn: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Move the book to ``mid``; returns the changed (price, size) levels per side (size 0 = removed)."""

        out_b: list[tuple[float, float]] = []
        out_a: list[tuple[float, float]] = []
        tick = self.inst.tick
        bid0 = max(1, math.floor((mid - tick / 2) / tick))
        price = self.price
        if bid0 != self.bid0:
            self.bid0 = bid0
            self.targets = self._targets(bid0)
            for side, targets, out, is_bid in (
                (self.bids, self.targets[0], out_b, True),
                (self.asks, self.targets[1], out_a, False),
            ):
                keep = set(targets)
                for k in side.keys() - keep:  # set algebra in C: only the levels that move are visited
                    del side[k]
                    out.append((price(k), 0.0))
                for k in keep - side.keys():
                    side[k] = q = self._size(self._rank(k, bid=is_bid), mid)
                    out.append((price(k), q))
        rng = self.rng
        for side, targets, out in ((self.bids, self.targets[0], out_b), (self.asks, self.targets[1], out_a)):
            last = len(targets) - 1
            for _ in range(churn):
                rank = min(last, int(rng.expovariate(1 / 6.0)))
                k = targets[rank]
                side[k] = q = self._size(rank, mid)
                out.append((price(k), q))
        return out_b, out_a

    def best(self) -> tuple[float, float]:
        assert self.bid0 is not None
        return self.price(self.targets[0][0]), self.price(self.targets[1][0])

    def snapshot(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        bids = [(self.price(k), q) for k, q in sorted(self.bids.items(), reverse=True)]
        asks = [(self.price(k), q) for k, q in sorted(self.asks.items())]
        return bids, asks


class SeededSource:
    """A small deterministic (per seed) market: enough structure for books, tapes and pollers to be real.

    ``rate`` multiplies everything (a 0.1 s tick becomes 0.1/rate s of wall time); ``trades_per_s`` and
    ``liquidations_per_s`` are per venue symbol at rate 1. Book levels are on each venue's tick and lot
    (``levels_on_grid``), so the emulator does not round them again.
    """

    levels_on_grid = True

    def __init__(
        self,
        *,
        venues: Sequence[Venue],
        symbols: Sequence[str],
        seed: int = 0,
        rate: float = 1.0,
        instruments: Mapping[tuple[Venue, str], EmuInstrument] | None = None,
        tick_s: float = 0.1,
        vol_annual: float = 0.8,
        trades_per_s: float = 3.0,
        liquidations_per_s: float = 0.05,
        book_near_levels: int = 20,
        book_far_levels: int = 80,
        book_churn: int = 2,
        max_ticks: int | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.venues = list(venues)
        self.symbols = [s.upper() for s in symbols]
        self.rng = random.Random(seed)
        self.rate = rate
        self.tick_s = tick_s
        self.trades_per_s = trades_per_s
        self.liquidations_per_s = liquidations_per_s
        self.book_churn = book_churn
        self.max_ticks = max_ticks
        packaged = None if instruments is not None else Instruments.packaged()
        self.instruments: dict[tuple[Venue, str], EmuInstrument] = {}
        for v in self.venues:
            for s in self.symbols:
                inst = instruments.get((v, s)) if instruments is not None else None
                self.instruments[(v, s)] = inst or build_instrument(v, s, instruments=packaged)
        self.mid: dict[str, float] = {s: REFERENCE_PRICES.get(s, 10.0) for s in self.symbols}
        self._sigma_tick = vol_annual * math.sqrt(tick_s / (365.0 * 86400.0))
        self._books = {
            key: _Book(
                inst,
                random.Random(self.rng.random()),
                n_near=book_near_levels,
                n_far=book_far_levels,
                mid=self.mid[key[1]],
            )
            for key, inst in self.instruments.items()
        }
        self._oi: dict[tuple[Venue, str], float] = {
            (v, s): _OI_TOTAL_USD.get(s, 1e8) * _OI_SHARE[v] / self.mid[s] for v, s in self.instruments
        }
        self._last_liq_ns: dict[tuple[Venue, str], int] = {}
        self._ret_1s: dict[str, float] = dict.fromkeys(self.symbols, 0.0)
        self._trade_ids: dict[tuple[Venue, str], int] = dict.fromkeys(self.instruments, 1_000_000)
        self.ticks = 0

    def _venue_mid(self, venue: Venue, symbol: str) -> float:
        return self.mid[symbol] * (1.0 + _BASIS_BP[venue] * 1e-4)

    def initial_events(self) -> list[AnyEvent]:
        ts = now_ns()
        out: list[AnyEvent] = []
        for (v, s), book in self._books.items():
            book.step(self._venue_mid(v, s), churn=0)
            bids, asks = book.snapshot()
            out.append(
                BookSnapshot(venue=v, symbol=s, ts_event=ts, ts_recv=ts, bids=bids, asks=asks, update_id=1)
            )
            out.extend(self._context(v, s, ts))
        return out

    def _context(self, v: Venue, s: str, ts: int) -> list[AnyEvent]:
        inst = self.instruments[(v, s)]
        mark = inst.round_px(self._venue_mid(v, s))
        index = inst.round_px(self.mid[s])
        interval_h = inst.funding_interval_hours
        interval_ns = int(interval_h * 3600 * NS_PER_S)
        next_ts = (ts // interval_ns + 1) * interval_ns
        premium = (mark - index) / index if index else 0.0
        rate = max(-0.0075, min(0.0075, 0.0001 * interval_h / 8.0 + premium / 3.0))
        oi_base = self._oi[(v, s)]
        return [
            MarkPrice(venue=v, symbol=s, ts_event=ts, ts_recv=ts, mark_price=mark, index_price=index),
            Funding(
                venue=v,
                symbol=s,
                ts_event=ts,
                ts_recv=ts,
                rate=round(rate, 8),
                interval_hours=interval_h,
                next_funding_ts=next_ts,
            ),
            OpenInterest(venue=v, symbol=s, ts_event=ts, ts_recv=ts, oi_base=oi_base, oi_usd=oi_base * mark),
        ]

    def tick(self) -> list[AnyEvent]:
        """One generator step (0.1 s of market time)."""

        ts = now_ns()
        rng = self.rng
        out: list[AnyEvent] = []
        self.ticks += 1
        for s in self.symbols:
            r = rng.gauss(0.0, self._sigma_tick)
            self.mid[s] *= math.exp(r)
            self._ret_1s[s] = self._ret_1s[s] * 0.9 + r
        every_1s = self.ticks % max(1, round(1.0 / self.tick_s)) == 0
        every_3s = self.ticks % max(1, round(3.0 / self.tick_s)) == 0
        p_trade = 1.0 - math.exp(-self.trades_per_s * self.tick_s)
        p_liq = 1.0 - math.exp(-self.liquidations_per_s * self.tick_s)
        for (v, s), book in self._books.items():
            inst = book.inst
            mid = self._venue_mid(v, s)
            bids, asks = book.step(mid, churn=self.book_churn)
            if bids or asks:
                out.append(_delta(v, s, ts, bids, asks))
            bid0, ask0 = book.best()
            drift = self._ret_1s[s]
            n_trades = 0
            while rng.random() < p_trade and n_trades < 8:
                n_trades += 1
                buy = rng.random() < 0.5 + max(-0.3, min(0.3, drift * 2e3))
                px = ask0 if buy else bid0
                qty = inst.round_base(rng.lognormvariate(math.log(3_000.0), 1.2) / px) or inst.lot_base
                self._trade_ids[(v, s)] += 1
                out.append(
                    Trade(
                        venue=v,
                        symbol=s,
                        ts_event=ts,
                        ts_recv=ts,
                        side=Side.BUY if buy else Side.SELL,
                        price=px,
                        quantity=qty,
                        notional_usd=px * qty,
                        trade_id=str(self._trade_ids[(v, s)]),
                    )
                )
            if v is not Venue.HYPERLIQUID:
                stress = 1.0 + min(20.0, abs(drift) * 2e4)
                if rng.random() < p_liq * stress and self._liq_allowed(v, s, ts):
                    long_side = drift < 0 if abs(drift) > 1e-5 else rng.random() < 0.5
                    px = inst.round_px(bid0 * 0.999 if long_side else ask0 * 1.001)
                    qty = inst.round_base(rng.lognormvariate(math.log(20_000.0), 1.3) / px) or inst.lot_base
                    out.append(
                        Liquidation(
                            venue=v,
                            symbol=s,
                            ts_event=ts,
                            ts_recv=ts,
                            side=PositionSide.LONG if long_side else PositionSide.SHORT,
                            price=px,
                            quantity=qty,
                            notional_usd=px * qty,
                            sampled=v in (Venue.BINANCE, Venue.OKX),
                        )
                    )
            if every_3s:
                self._oi[(v, s)] *= math.exp(rng.gauss(0.0, 0.0005))
            if every_1s:
                ctx = self._context(v, s, ts)
                out.extend(ctx if every_3s else ctx[:2])
        return out

    def _liq_allowed(self, v: Venue, s: str, ts: int) -> bool:
        # Binance and OKX push at most one liquidation per symbol per second
        if v in (Venue.BINANCE, Venue.OKX):
            last = self._last_liq_ns.get((v, s), 0)
            if ts - last < NS_PER_S:
                return False
        self._last_liq_ns[(v, s)] = ts
        return True

    async def batches(self) -> AsyncIterator[Sequence[AnyEvent]]:
        period = self.tick_s / self.rate
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        while self.max_ticks is None or self.ticks < self.max_ticks:
            yield self.tick()
            next_t += period
            delay = next_t - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0:
                next_t = loop.time()  # fell behind by more than a second: don't try to catch up in a burst
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(0)


def _delta(
    v: Venue, s: str, ts: int, bids: list[tuple[float, float]], asks: list[tuple[float, float]]
) -> BookDelta:
    # Sequence numbers are assigned per venue by the emulator's publishers; 0 here.
    return BookDelta(venue=v, symbol=s, ts_event=ts, ts_recv=ts, bids=bids, asks=asks, update_id=0)


class ScriptedSource:
    """Given events at given times: ``initial`` before the servers start, then each ``(at_s, events)`` of
    ``script`` at ``at_s`` seconds after the pump starts; then quiet (the servers keep running). For
    deterministic tests and demos."""

    def __init__(
        self,
        *,
        initial: Sequence[AnyEvent] = (),
        script: Sequence[tuple[float, Sequence[AnyEvent]]] = (),
    ) -> None:
        self.initial = list(initial)
        self.script = sorted(script, key=lambda item: item[0])

    def initial_events(self) -> list[AnyEvent]:
        return list(self.initial)

    async def batches(self) -> AsyncIterator[Sequence[AnyEvent]]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for at_s, events in self.script:
            delay = t0 + at_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            ts = now_ns()
            yield [msgspec.structs.replace(e, ts_event=ts, ts_recv=ts) for e in events]


class CaptureSource:
    """Replays a recorded capture of one venue through that venue's production decoder. Its book events
    carry the venue's own sequence numbers (``sequenced_books``): the emulator rebuilds the book by the
    venue's sync rules before republishing it.

    ``rate`` is the replay speed (2.0 = twice as fast; ``float('inf')`` = as fast as possible); event times
    are shifted so the first message is "now" (``shift_to_now``). ``loop`` replays again at the end.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        venue: Venue | str,
        rate: float = 1.0,
        loop: bool = False,
        shift_to_now: bool = True,
        instruments: Instruments | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"capture file not found: {self.path}")
        self.venue = Venue(venue)
        self.rate = rate
        self.loop = loop
        self.shift_to_now = shift_to_now
        self.instruments = instruments
        self.messages = 0
        self.decode_errors = 0
        self.sequenced_books = True

    def initial_events(self) -> list[AnyEvent]:
        return []

    def _decoder(self):
        if self.venue is Venue.OKX and self.instruments is not None:
            return make_decoder(self.venue, instruments=self.instruments)
        return make_decoder(self.venue)

    async def batches(self) -> AsyncIterator[Sequence[AnyEvent]]:
        from ...errors import DecodeError
        from ...venues.lines import CaptureReader

        loop = asyncio.get_running_loop()
        finite = math.isfinite(self.rate)
        while True:
            decoder = self._decoder()
            first_ts: int | None = None
            start_wall = loop.time()
            start_ns = now_ns()
            for ts_recv, payload in CaptureReader(self.path):
                self.messages += 1
                try:
                    events = decoder.decode(payload, ts_recv or now_ns())
                except DecodeError:
                    self.decode_errors += 1
                    continue
                if not events:
                    continue
                t = ts_recv if ts_recv is not None else events[0].ts_event
                if first_ts is None:
                    first_ts = t
                if finite:
                    due = start_wall + (t - first_ts) / NS_PER_S / self.rate
                    delay = due - loop.time()
                    if delay > 0.001:
                        await asyncio.sleep(delay)
                elif self.messages % 200 == 0:
                    await asyncio.sleep(0)
                if self.shift_to_now:
                    # recorded time → the replay's time line (compressed by the rate; "now" when unpaced)
                    now = now_ns()
                    offset = start_ns - first_ts
                    events = [_retimed(e, self.rate, first_ts, start_ns, offset, now, finite) for e in events]
                yield events
            if not self.loop:
                return


def _retimed(
    event: AnyEvent, rate: float, first_ts: int, start_ns: int, offset: int, now: int, finite: bool
) -> AnyEvent:
    def at(ts: int) -> int:
        return start_ns + int((ts - first_ts) / rate) if finite else now

    changes: dict[str, object] = {"ts_event": at(event.ts_event), "ts_recv": at(event.ts_recv)}
    if isinstance(event, Funding) and event.next_funding_ts is not None:
        changes["next_funding_ts"] = event.next_funding_ts + offset
    return msgspec.structs.replace(event, **changes)


def capture_venue(path: str | os.PathLike[str]) -> Venue:
    """Guess a capture's venue from its file name (``binance-usdm-ws-…``, ``bybit-ws-session-…``)."""

    name = Path(path).name.lower()
    for v in Venue:
        if v.value in name:
            return v
    raise ValueError(f"cannot tell the venue of {path}: name it VENUE:PATH (e.g. binance:{path})")


def parse_source(text: str) -> tuple[str, Venue | None, Path | None]:
    """``sim`` / ``seeded`` → (name, None, None); ``[VENUE:]PATH`` → ("file", venue, path)."""

    if text in ("sim", "seeded"):
        return text, None, None
    head, sep, tail = text.partition(":")
    if sep and head.lower() in {v.value for v in Venue}:
        return "file", Venue(head.lower()), Path(tail)
    return "file", capture_venue(text), Path(text)


class SimulatorSource:
    """The synthetic market of ``perpscope.sim.market`` (:class:`~perpscope.sim.market.MarketStream`) as the
    emulator's market: positions, liquidation cascades, funding and open interest from the heatmap model,
    books with each venue's sequence rules (``sequenced_books``: rebuilt by those rules before they are
    republished). Simulated time starts now; ``rate`` runs it faster (``rate`` simulated seconds per wall
    second, event times compressed onto the wall clock). Chunks are simulated in a worker thread so the
    servers never stall."""

    sequenced_books = True

    def __init__(
        self,
        *,
        venues: Sequence[Venue],
        symbols: Sequence[str],
        seed: int = 0,
        rate: float = 1.0,
        step_s: float = 0.5,
        bar_s: float = 60.0,
        chunk_s: float = 3600.0,
        stream: object | None = None,
        **sim_options: object,
    ) -> None:
        from ..market import MarketStream, SimConfig

        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate = rate
        bar_ns = int(bar_s * NS_PER_S)
        if stream is None:
            step_ns = round(step_s * 1000) * 1_000_000
            # start one bar in the past: the warm-up bar (books, a first open interest and funding) is
            # loaded before the servers start, and live time begins where it ends
            start = now_ns() // step_ns * step_ns - bar_ns
            config = SimConfig(
                seed=seed,
                venues=tuple(Venue(v) for v in venues),
                symbols=tuple(s.upper() for s in symbols),
                start_ns=start,
                duration_ns=int(chunk_s * NS_PER_S),
                step_ns=step_ns,
                bar_ns=bar_ns,
                chunk_ns=int(chunk_s * NS_PER_S),
                **sim_options,  # type: ignore[arg-type]
            )
            stream = MarketStream(config, forever=True)
        self.stream = stream
        self._iter = iter(stream)  # type: ignore[call-overload]
        self._bar_ns = bar_ns
        self._sim_start: int | None = None  # simulated time that maps to the wall-clock start
        self._wall_start = now_ns()

    def _retime(self, events: Sequence[AnyEvent]) -> list[AnyEvent]:
        assert self._sim_start is not None
        sim0, wall0, rate = self._sim_start, self._wall_start, self.rate
        if rate == 1.0 and wall0 == sim0:
            return list(events)  # simulated time is wall time: funding settles on the hour, as it should

        def at(ts: int) -> int:
            return wall0 + int((ts - sim0) / rate)

        out: list[AnyEvent] = []
        for e in events:
            changes: dict[str, object] = {"ts_event": at(e.ts_event), "ts_recv": at(e.ts_recv)}
            if isinstance(e, Funding) and e.next_funding_ts is not None:
                changes["next_funding_ts"] = at(e.next_funding_ts)
            out.append(msgspec.structs.replace(e, **changes))
        return out

    def initial_events(self) -> list[AnyEvent]:
        """The warm-up: simulated steps until the first open interest and funding are out (one bar), mapped
        to the moments just before now; loaded before the servers start."""

        events: list[AnyEvent] = []
        for _ in range(100_000):
            batch = next(self._iter, None)
            if batch is None:
                break
            events.extend(batch)
            if any(isinstance(e, OpenInterest) for e in batch):
                break
        if events:
            # the simulation started one bar before now, on the wall clock: live time continues from the
            # end of the warm-up, so simulated and wall time coincide (compressed by ``rate`` from here)
            self._sim_start = self._wall_start = max(e.ts_recv for e in events)
        return self._retime(events) if events else []

    async def batches(self) -> AsyncIterator[Sequence[AnyEvent]]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        while True:
            batch = await asyncio.to_thread(next, self._iter, None)
            if batch is None:
                return
            events = list(batch)
            if not events:
                continue
            if self._sim_start is None:  # no warm-up was taken
                self._sim_start = self._wall_start = min(e.ts_recv for e in events)
                t0 = loop.time()
            ts = int(getattr(batch, "ts_ns", events[0].ts_recv))
            delay = t0 + (ts - self._sim_start) / NS_PER_S / self.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            yield self._retime(events)
