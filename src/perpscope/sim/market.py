"""A seeded synthetic perpetual market: the ground truth for the heatmap and an offline data source.

``simulate(config)`` runs a whole window and returns a :class:`SimResult`: normalized events exactly as
the venue adapters emit them, engine-ready bars, and the truth an estimate is scored against — realized
liquidation USD per slot and the standing liquidation USD of open positions per price bin.
``MarketStream(config)`` yields the same events step by step (optionally paced in real time, forever).

Model (details and parameters in docs/render.md): GARCH(1,1) + jump index, venue basis and funding
(:mod:`.market_price`); position groups with a known leverage mix, size distribution, proportional closes
and real venue-formula liquidations (:mod:`.market_positions`); events per venue feed rules
(:mod:`.market_events`, :mod:`.market_book`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..model import AnyEvent, Bar, BookSnapshot, Venue
from ..timeutil import NS_PER_S
from .market_config import (
    DEFAULT_LEVERAGE,
    SYMBOL_DEFAULTS,
    SimConfig,
)
from .market_events import EventState, StepBatch, chunk_batches, liquidation_prints, new_event_state
from .market_sim import ChunkSimulator, MarketChunk, MarketKey

if TYPE_CHECKING:
    from ..heatmap.series import BarSeries

__all__ = [
    "DEFAULT_LEVERAGE",
    "SYMBOL_DEFAULTS",
    "BarArrays",
    "Flows",
    "LiquidationRecords",
    "MarketStream",
    "PositionTable",
    "SimConfig",
    "SimResult",
    "StepBatch",
    "simulate",
]

Basis = Literal["fill", "entry"]


@dataclass(frozen=True, kw_only=True, eq=False)
class BarArrays:
    """Slots of one market as arrays (``ts_ns`` = bar open). ``oi_usd`` is one side at the close."""

    venue: Venue
    symbol: str
    interval_s: int
    ts_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    oi_usd: np.ndarray
    oi_base: np.ndarray
    volume: np.ndarray
    taker_buy_volume: np.ndarray
    quote_volume: np.ndarray
    funding_rate: np.ndarray  # last settled rate at the bar's close


@dataclass(frozen=True, kw_only=True, eq=False)
class Flows:
    """Per slot, entry notional (USD) of leveraged positions opened, closed and liquidated, what stands at
    the slot's end, and the open interest (base coin, book + market-maker inventory)."""

    opened_long_usd: np.ndarray
    opened_short_usd: np.ndarray
    closed_long_usd: np.ndarray
    closed_short_usd: np.ndarray
    liquidated_long_usd: np.ndarray
    liquidated_short_usd: np.ndarray
    standing_long_usd: np.ndarray
    standing_short_usd: np.ndarray
    standing_long_qty: np.ndarray
    standing_short_qty: np.ndarray
    absorber_long_qty: np.ndarray
    absorber_short_qty: np.ndarray
    oi_qty: np.ndarray
    close_fraction: np.ndarray  # share of every position closed at the slot's start (proportional rule)
    taker_buy_share: np.ndarray  # of the slot's opening and closing flow


@dataclass(frozen=True, kw_only=True, eq=False)
class LiquidationRecords:
    """Every liquidated position group (the unsampled truth), in time order."""

    venue: np.ndarray  # str
    ts_ns: np.ndarray  # start of the step whose mark crossed the level
    slot: np.ndarray  # global bar index
    side: np.ndarray  # +1 long, -1 short
    entry: np.ndarray
    liq_price: np.ndarray
    mark: np.ndarray  # mark price at the liquidation step (the fill)
    qty: np.ndarray  # base coin
    leverage: np.ndarray
    leverage_eff: np.ndarray
    size_usd: np.ndarray
    open_ns: np.ndarray
    live_from_ns: np.ndarray  # first step on which it could be liquidated (in its last chunk)

    @property
    def entry_usd(self) -> np.ndarray:
        return self.qty * self.entry

    @property
    def fill_usd(self) -> np.ndarray:
        return self.qty * self.mark

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])


@dataclass(frozen=True, kw_only=True, eq=False)
class PositionTable:
    """Position groups standing at the end of a slot."""

    side: np.ndarray
    entry: np.ndarray
    liq_price: np.ndarray
    leverage: np.ndarray
    leverage_eff: np.ndarray
    size_usd: np.ndarray
    maker: np.ndarray
    qty: np.ndarray
    open_ns: np.ndarray

    @property
    def entry_usd(self) -> np.ndarray:
        return self.qty * self.entry

    def __len__(self) -> int:
        return int(self.side.shape[0])


def _bin(edges: np.ndarray, price: np.ndarray) -> np.ndarray:
    """Bin ``j`` with ``edges[j] <= price < edges[j+1]`` (top edge in the last bin); -1 outside."""

    idx = np.searchsorted(edges, price, side="right") - 1
    n = edges.shape[0] - 1
    idx = np.where(price == edges[-1], n - 1, idx)
    return np.where((idx < 0) | (idx >= n), -1, idx)


class SimResult:
    """A finished simulation: events, bars and the ground truth, per venue and symbol."""

    def __init__(self, config: SimConfig, chunks: list[dict[MarketKey, MarketChunk]]) -> None:
        self.config = config
        self.chunks = chunks

    # ------------------------------------------------------------------ shape

    @property
    def n_slots(self) -> int:
        return sum(next(iter(c.values())).n_bars for c in self.chunks)

    @property
    def time_edges_ns(self) -> np.ndarray:
        """Slot edges (int64 ns), ``n_slots + 1``."""

        return self.config.start_ns + np.arange(self.n_slots + 1, dtype=np.int64) * self.config.bar_ns

    def _symbol(self, symbol: str | None) -> str:
        if symbol is None:
            if len(self.config.symbols) != 1:
                raise ValueError(
                    f"several symbols simulated ({', '.join(self.config.symbols)}): pass symbol="
                )
            return self.config.symbols[0]
        sym = symbol.upper()
        if sym not in self.config.symbols:
            raise ValueError(f"{symbol!r} was not simulated (have {', '.join(self.config.symbols)})")
        return sym

    def _venues(self, venue: Venue | str | None) -> list[Venue]:
        if venue is None:
            return list(self.config.venues)
        v = Venue(venue)
        if v not in self.config.venues:
            raise ValueError(f"{v} was not simulated")
        return [v]

    def _market(self, venue: Venue | str, symbol: str | None) -> list[MarketChunk]:
        key = (self._venues(venue)[0], self._symbol(symbol))
        return [c[key] for c in self.chunks]

    def _cat(self, venue: Venue | str, symbol: str | None, get: object) -> np.ndarray:
        return np.concatenate([get(m) for m in self._market(venue, symbol)])  # type: ignore[operator]

    def _locate(self, slot: int) -> tuple[int, int]:
        if not 0 <= slot < self.n_slots:
            raise IndexError(f"slot {slot} outside 0..{self.n_slots - 1}")
        per = self.config.bars_per_chunk
        return slot // per, slot % per

    # ------------------------------------------------------------------ bars and prices

    def bar_arrays(self, venue: Venue | str, symbol: str | None = None) -> BarArrays:
        ms = self._market(venue, symbol)
        cat = np.concatenate
        return BarArrays(
            venue=ms[0].venue,
            symbol=ms[0].symbol,
            interval_s=self.config.bar_ns // NS_PER_S,
            ts_ns=cat([m.bar_ts for m in ms]),
            open=cat([m.open for m in ms]),
            high=cat([m.high for m in ms]),
            low=cat([m.low for m in ms]),
            close=cat([m.close for m in ms]),
            oi_usd=cat([m.oi_usd for m in ms]),
            oi_base=cat([m.positions.oi_qty for m in ms]),
            volume=cat([m.volume for m in ms]),
            taker_buy_volume=cat([m.taker_buy_volume for m in ms]),
            quote_volume=cat([m.quote_volume for m in ms]),
            funding_rate=cat([m.funding.settled for m in ms]),
        )

    def bars(self, venue: Venue | str, symbol: str | None = None) -> list[Bar]:
        """``model.Bar`` events of one market (ts_event = bar open, ts_recv = bar close)."""

        a = self.bar_arrays(venue, symbol)
        out = []
        for i in range(a.ts_ns.shape[0]):
            t = int(a.ts_ns[i])
            out.append(
                Bar(
                    venue=a.venue,
                    symbol=a.symbol,
                    ts_event=t,
                    ts_recv=t + self.config.bar_ns,
                    interval_s=a.interval_s,
                    open=float(a.open[i]),
                    high=float(a.high[i]),
                    low=float(a.low[i]),
                    close=float(a.close[i]),
                    oi_usd=float(a.oi_usd[i]),
                    funding_rate=float(a.funding_rate[i]),
                    volume=float(a.volume[i]),
                    taker_buy_volume=float(a.taker_buy_volume[i]),
                )
            )
        return out

    def bar_series(self, venue: Venue | str, symbol: str | None = None) -> BarSeries:
        """The heatmap engine's input (:class:`perpscope.heatmap.series.BarSeries`) for one market."""

        from ..heatmap.series import BarSeries

        a = self.bar_arrays(venue, symbol)
        return BarSeries.from_arrays(
            venue=a.venue,
            symbol=a.symbol,
            interval_s=a.interval_s,
            ts_ns=a.ts_ns,
            open=a.open,
            high=a.high,
            low=a.low,
            close=a.close,
            oi_usd=a.oi_usd,
            volume=a.volume,
            taker_buy_volume=a.taker_buy_volume,
            quote_volume=a.quote_volume,
        )

    def prices(
        self, venue: Venue | str, symbol: str | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(step start ns, mark = last price, index price) at step resolution."""

        ms = self._market(venue, symbol)
        cat = np.concatenate
        return cat([m.step_ts for m in ms]), cat([m.price for m in ms]), cat([m.index for m in ms])

    # ------------------------------------------------------------------ ground truth

    def flows(self, venue: Venue | str, symbol: str | None = None) -> Flows:
        ms = self._market(venue, symbol)

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(m.positions, name) for m in ms])

        return Flows(
            opened_long_usd=cat("opened_long_usd"),
            opened_short_usd=cat("opened_short_usd"),
            closed_long_usd=cat("closed_long_usd"),
            closed_short_usd=cat("closed_short_usd"),
            liquidated_long_usd=cat("liq_long_usd"),
            liquidated_short_usd=cat("liq_short_usd"),
            standing_long_usd=cat("book_long_usd"),
            standing_short_usd=cat("book_short_usd"),
            standing_long_qty=cat("book_long_qty"),
            standing_short_qty=cat("book_short_qty"),
            absorber_long_qty=cat("absorber_long"),
            absorber_short_qty=cat("absorber_short"),
            oi_qty=cat("oi_qty"),
            close_fraction=cat("close_fraction"),
            taker_buy_share=cat("taker_buy_share"),
        )

    def realized(
        self, venue: Venue | str | None = None, *, symbol: str | None = None, basis: Basis = "fill"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Realized liquidation USD per slot (long, short), summed over ``venue`` (None: all). ``basis``:
        ``"fill"`` = quantity × mark at the liquidation (what venues report), ``"entry"`` = the entry
        notional (the unit of the engine's consumed series)."""

        sym = self._symbol(symbol)
        long = np.zeros(self.n_slots)
        short = np.zeros(self.n_slots)
        for v in self._venues(venue):
            p = [c[(v, sym)].positions for c in self.chunks]
            if basis == "fill":
                long += np.concatenate([x.liq_long_fill_usd for x in p])
                short += np.concatenate([x.liq_short_fill_usd for x in p])
            else:
                long += np.concatenate([x.liq_long_usd for x in p])
                short += np.concatenate([x.liq_short_usd for x in p])
        return long, short

    def liquidations(
        self, venue: Venue | str | None = None, *, symbol: str | None = None
    ) -> LiquidationRecords:
        sym = self._symbol(symbol)
        parts: list[dict[str, np.ndarray]] = []
        for v in self._venues(venue):
            for c in self.chunks:
                m = c[(v, sym)]
                p = m.positions
                n = m.price.shape[0]
                gi = np.flatnonzero(p.liq_step < n)
                parts.append(
                    {
                        "venue": np.full(gi.size, v.value, dtype=object),
                        "ts_ns": m.step_ts[p.liq_step[gi]],
                        "slot": m.first_bar + p.liq_bar[gi],
                        "side": p.side[gi].astype(np.int64),
                        "entry": p.entry[gi],
                        "liq_price": p.liq_price[gi],
                        "mark": m.price[p.liq_step[gi]],
                        "qty": p.liq_qty[gi],
                        "leverage": p.leverage[gi],
                        "leverage_eff": p.leverage_eff[gi],
                        "size_usd": p.size_usd[gi],
                        "open_ns": p.open_ns[gi],
                        "live_from_ns": m.step_ts[np.minimum(p.start_step[gi], n - 1)],
                    }
                )
        cols = {k: np.concatenate([d[k] for d in parts]) for k in parts[0]}
        order = np.argsort(cols["ts_ns"], kind="stable")
        return LiquidationRecords(**{k: v[order] for k, v in cols.items()})

    def open_positions(self, venue: Venue | str, symbol: str | None = None, *, at_slot: int) -> PositionTable:
        """The position groups standing at the end of slot ``at_slot``."""

        ci, local = self._locate(at_slot)
        m = self.chunks[ci][(self._venues(venue)[0], self._symbol(symbol))]
        p = m.positions
        idx, qty = p.standing_qty(local)
        return PositionTable(
            side=p.side[idx].astype(np.int64),
            entry=p.entry[idx],
            liq_price=p.liq_price[idx],
            leverage=p.leverage[idx],
            leverage_eff=p.leverage_eff[idx],
            size_usd=p.size_usd[idx],
            maker=p.maker[idx],
            qty=qty,
            open_ns=p.open_ns[idx],
        )

    def standing(
        self,
        venue: Venue | str | None = None,
        *,
        symbol: str | None = None,
        at_slot: int,
        price_edges: np.ndarray,
        leverage: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Entry-notional USD of positions standing at the end of ``at_slot`` whose liquidation price lies
        in each bin of ``price_edges`` (long, short), over ``venue`` (None: all); ``leverage`` keeps one
        tier of the mix (nominal leverage)."""

        edges = np.asarray(price_edges, dtype=np.float64)
        n_bins = edges.shape[0] - 1
        long = np.zeros(n_bins)
        short = np.zeros(n_bins)
        sym = self._symbol(symbol)
        for v in self._venues(venue):
            t = self.open_positions(v, sym, at_slot=at_slot)
            keep = np.ones(len(t), bool) if leverage is None else t.leverage == float(leverage)
            j = _bin(edges, t.liq_price)
            ok = keep & (j >= 0)
            usd = t.entry_usd
            long += np.bincount(j[ok & (t.side > 0)], weights=usd[ok & (t.side > 0)], minlength=n_bins)
            short += np.bincount(j[ok & (t.side < 0)], weights=usd[ok & (t.side < 0)], minlength=n_bins)
        return long, short

    def standing_matrix(
        self,
        venue: Venue | str | None = None,
        *,
        symbol: str | None = None,
        price_edges: np.ndarray,
        leverage: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`standing` for every slot at once: (long, short) matrices ``(n_slots, n_bins)``."""

        edges = np.asarray(price_edges, dtype=np.float64)
        n_bins = edges.shape[0] - 1
        sym = self._symbol(symbol)
        rows = []
        for c in self.chunks:
            t_bars = next(iter(c.values())).n_bars
            acc = {1: np.zeros((t_bars, n_bins)), -1: np.zeros((t_bars, n_bins))}
            for v in self._venues(venue):
                p = c[(v, sym)].positions
                j = _bin(edges, p.liq_price)
                keep = j >= 0
                if leverage is not None:
                    keep &= p.leverage == float(leverage)
                for sd, logs in ((1, p.log_survival_long), (-1, p.log_survival_short)):
                    gi = np.flatnonzero(keep & (p.side == sd))
                    # a group contributes q0·entry·S[t+1]/S[ref] from its first registered row to its
                    # liquidation row: separable, so a difference array and one cumulative sum do it all
                    value = p.q0[gi] * p.entry[gi] * np.exp(-logs[p.ref[gi]])
                    diff = np.zeros((t_bars + 1, n_bins))
                    np.add.at(diff, (np.maximum(p.open_bar[gi], 0), j[gi]), value)
                    np.add.at(diff, (np.minimum(p.liq_bar[gi], t_bars), j[gi]), -value)
                    acc[sd] += np.cumsum(diff[:-1], axis=0) * np.exp(logs[2::2])[:, None]
            rows.append((acc[1], acc[-1]))
        long = np.concatenate([r[0] for r in rows])
        short = np.concatenate([r[1] for r in rows])
        return np.maximum(long, 0.0), np.maximum(short, 0.0)

    # ------------------------------------------------------------------ events

    def batches(self) -> Iterator[StepBatch]:
        """Step batches in time order (the same ones :class:`MarketStream` yields)."""

        state = new_event_state(self.config)
        for i, chunk in enumerate(self.chunks):
            yield from chunk_batches(self.config, i, chunk, state)

    def events(self) -> Iterator[AnyEvent]:
        """Every normalized event in receive order (``ts_recv`` non-decreasing; candles and bars arrive at
        their close, stamped ``ts_event`` = bar open as venues do)."""

        for batch in self.batches():
            yield from batch.events

    def liquidation_prints(self, venue: Venue | str, symbol: str | None = None) -> int:
        """How many individual forced orders happened (before venue sampling)."""

        return sum(
            int(
                liquidation_prints(
                    self.config, i, c[(self._venues(venue)[0], self._symbol(symbol))]
                ).step.size
            )
            for i, c in enumerate(self.chunks)
        )


def simulate(config: SimConfig) -> SimResult:
    """Run the configured window (``config.duration_ns`` from ``config.start_ns``)."""

    sim = ChunkSimulator(config)
    chunks = []
    while (chunk := sim.step()) is not None:
        chunks.append(chunk)
    return SimResult(config, chunks)


class MarketStream:
    """The market live: step batches in time order, simulated one chunk ahead of what is emitted.
    Deterministic for a seed and identical to ``simulate(config).batches()`` over the configured window;
    with ``forever=True`` it continues past ``config.duration_ns`` without end. Iterate it (sync, as
    fast as the consumer), or ``async for`` it (paced by ``speed``); a batch iterates its events."""

    def __init__(self, config: SimConfig, *, forever: bool = False, speed: float | None = 1.0) -> None:
        self.config = config
        self.forever = forever
        self.speed = speed  # pacing of ``async for`` (see :meth:`run`)
        self._sim = ChunkSimulator(config)
        self._events: EventState = new_event_state(config)
        self.now_ns = config.start_ns  # start of the last emitted step

    def __iter__(self) -> Iterator[StepBatch]:
        while (chunk := self._sim.step(bounded=not self.forever)) is not None:
            for batch in chunk_batches(self.config, self._sim.next_chunk - 1, chunk, self._events):
                self.now_ns = batch.ts_ns
                yield batch

    def events(self) -> Iterator[AnyEvent]:
        for batch in self:
            yield from batch.events

    async def run(self, *, speed: float | None = 1.0) -> AsyncIterator[StepBatch]:
        """Async batches, paced so one simulated step takes ``step / speed`` of wall time (``speed=60``:
        a minute per second); ``None`` = as fast as possible (still yielding to the event loop)."""

        loop = asyncio.get_running_loop()
        t0 = loop.time()
        start = self.config.start_ns
        for batch in self:
            if speed is not None and math.isfinite(speed) and speed > 0:
                due = t0 + (batch.ts_ns - start) / NS_PER_S / speed
                delay = due - loop.time()
                await asyncio.sleep(max(delay, 0.0))
            else:
                await asyncio.sleep(0)
            yield batch

    def __aiter__(self) -> AsyncIterator[StepBatch]:
        """``async for batch in stream``: :meth:`run` at the stream's ``speed``."""

        return self.run(speed=self.speed)

    def book_snapshot(self, venue: Venue | str, symbol: str | None = None) -> BookSnapshot:
        """The current book of one market as a REST depth request would return it now."""

        sym = (symbol or self.config.symbols[0]).upper()
        return self._events.markets[(Venue(venue), sym)].book.snapshot(self.now_ns)
