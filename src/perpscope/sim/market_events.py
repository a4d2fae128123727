"""Normalized events of the synthetic market, step by step, exactly as the venue adapters would emit them.

Per step and venue: a ``MarkPrice`` (with the index), a book event, aggregated taker ``Trade`` prints (one
per aggressor side) and the step's ``Liquidation`` events. At each bar close: ``Candle``, ``Bar``,
``OpenInterest`` and ``Funding``. Liquidations follow each venue's public feed: Binance and OKX push at
most one per symbol per second (the latest: ``sampled=True``), Bybit's ``allLiquidation`` pushes all of
them, Hyperliquid has no liquidation feed. Binance reports the average fill price, Bybit and OKX the
bankruptcy price.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..model import (
    AnyEvent,
    Bar,
    Candle,
    Funding,
    Liquidation,
    MarkPrice,
    OpenInterest,
    PositionSide,
    Side,
    Trade,
    Venue,
)
from ..timeutil import NS_PER_MS, NS_PER_S
from .market_book import BookSim
from .market_config import SimConfig
from .market_price import rng_for, round_to_tick
from .market_sim import MarketChunk

SAMPLED_FEEDS = (Venue.BINANCE, Venue.OKX)  # at most one liquidation per symbol per second
BANKRUPTCY_PRICE_FEEDS = (Venue.BYBIT, Venue.OKX)


@dataclass(frozen=True, kw_only=True)
class StepBatch:
    """Everything that happened in one step, in receive order. ``ts_ns`` is the step start."""

    ts_ns: int
    events: list[AnyEvent]

    def __iter__(self) -> Iterator[AnyEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)


@dataclass
class MarketEventState:
    """What a market's event stream carries from chunk to chunk (book, trade ids)."""

    book: BookSim
    next_trade_id: int


@dataclass
class EventState:
    markets: dict[tuple[Venue, str], MarketEventState] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, eq=False)
class LiquidationPrints:
    """The individual forced orders of one market and chunk (before venue sampling)."""

    step: np.ndarray
    ts_ns: np.ndarray
    side: np.ndarray  # +1 long liquidated, -1 short
    price: np.ndarray  # as the venue reports it
    qty: np.ndarray


def liquidation_prints(config: SimConfig, chunk: int, market: MarketChunk) -> LiquidationPrints:
    """Split each liquidated group into forced orders (one per position, at most
    ``max_liquidation_events_per_group``) at random times inside the step; price per the venue's feed."""

    pos = market.positions
    venue: Venue = market.venue
    symbol: str = market.symbol
    price: np.ndarray = market.price
    step_ts: np.ndarray = market.step_ts
    n = price.shape[0]
    gi = np.flatnonzero(pos.liq_step < n)
    rng = rng_for(config, chunk, "liquidation-prints", venue.value, symbol)
    if gi.size == 0:
        z = np.zeros(0)
        zi = np.zeros(0, np.int64)
        return LiquidationPrints(step=zi, ts_ns=zi, side=zi, price=z, qty=z)
    step = pos.liq_step[gi]
    fill = price[step]
    qty = pos.liq_qty[gi]
    count = np.clip(np.rint(qty * fill / pos.size_usd[gi]), 1, config.max_liquidation_events_per_group)
    count = count.astype(np.int64)
    rep = np.repeat(np.arange(gi.size), count)
    step_ms = config.step_ns // NS_PER_MS
    ts = step_ts[step[rep]] + rng.integers(0, step_ms, rep.size) * NS_PER_MS
    side = pos.side[gi][rep].astype(np.int64)
    if venue in BANKRUPTCY_PRICE_FEEDS:
        bk = pos.entry[gi] * (1.0 - pos.side[gi] / pos.leverage_eff[gi])
        px = round_to_tick(np.maximum(bk, config.tick(symbol)), config.tick(symbol))[rep]
    else:
        px = fill[rep]
    # positions of a group differ in size: split its quantity by normalized exponential shares
    share = rng.exponential(1.0, rep.size)
    share /= np.bincount(rep, weights=share, minlength=gi.size)[rep]
    order = np.argsort(ts, kind="stable")
    return LiquidationPrints(
        step=step[rep][order],
        ts_ns=ts[order],
        side=side[order],
        price=px[order],
        qty=(qty[rep] * share)[order],
    )


def _liquidation_events(
    config: SimConfig, market: MarketChunk, prints: LiquidationPrints
) -> dict[int, list[Liquidation]]:
    venue: Venue = market.venue
    symbol: str = market.symbol
    out: dict[int, list[Liquidation]] = {}
    if venue is Venue.HYPERLIQUID or prints.step.size == 0:
        return out  # no public liquidation feed
    keep = np.ones(prints.step.size, bool)
    sampled = venue in SAMPLED_FEEDS
    if sampled:
        # the venue pushes the latest forced order of each second, drops the rest
        sec = prints.ts_ns // NS_PER_S
        keep = np.r_[sec[1:] != sec[:-1], True]
    for i in np.flatnonzero(keep):
        qty = float(prints.qty[i])
        px = float(prints.price[i])
        out.setdefault(int(prints.step[i]), []).append(
            Liquidation(
                venue=venue,
                symbol=symbol,
                ts_event=int(prints.ts_ns[i]),
                ts_recv=int(prints.ts_ns[i]),
                side=PositionSide.LONG if prints.side[i] > 0 else PositionSide.SHORT,
                price=px,
                quantity=qty,
                notional_usd=px * qty,
                sampled=sampled,
            )
        )
    return out


def new_event_state(config: SimConfig) -> EventState:
    state = EventState()
    for venue in config.venues:
        for symbol in config.symbols:
            state.markets[(venue, symbol)] = MarketEventState(
                book=BookSim(
                    venue=venue,
                    symbol=symbol,
                    tick=config.tick(symbol),
                    levels=config.book_levels,
                    level_bps=config.book_level_bps,
                    depth_usd=config.book_depth_fraction * config.venue_oi_usd(venue, symbol),
                    first_id=1_000_000,
                ),
                next_trade_id=1,
            )
    return state


def chunk_batches(
    config: SimConfig, chunk: int, markets: dict[tuple[Venue, str], MarketChunk], state: EventState
) -> Iterator[StepBatch]:
    """The step batches of one simulated chunk (``markets`` maps (venue, symbol) to its MarketChunk)."""

    keys = list(markets)
    first = markets[keys[0]]
    step_ts: np.ndarray = first.step_ts
    n = step_ts.shape[0]
    k = config.steps_per_bar
    step_ms = config.step_ns // NS_PER_MS
    prepared = []
    for key in keys:
        m = markets[key]
        venue, symbol = key
        rng = rng_for(config, chunk, "event-times", venue.value, symbol)
        off = rng.integers(1, max(2, step_ms), size=(n, 2)) * NS_PER_MS
        liqs = _liquidation_events(config, m, liquidation_prints(config, chunk, m))
        # the book draws many scalars per step: a seeded stdlib generator is much cheaper per call
        book_rng = random.Random(int(rng_for(config, chunk, "book", venue.value, symbol).integers(2**62)))
        tick = config.tick(symbol)
        idx_decimals = max(0, -math.floor(math.log10(tick)) + 4)
        prepared.append(
            (
                venue,
                symbol,
                m,
                off.tolist(),
                liqs,
                book_rng,
                state.markets[key],
                m.price.tolist(),
                np.round(m.index, idx_decimals).tolist(),
                m.positions.buy_qty.tolist(),
                m.positions.sell_qty.tolist(),
            )
        )
    ts_list = step_ts.tolist()
    for j in range(n):
        ts = ts_list[j]
        events: list[AnyEvent] = []
        for venue, symbol, _m, off, liqs, book_rng, mstate, price, index, buy, sell in prepared:
            p = price[j]
            events.append(
                MarkPrice(
                    venue=venue, symbol=symbol, ts_event=ts, ts_recv=ts, mark_price=p, index_price=index[j]
                )
            )
            events.append(mstate.book.update(ts, p, book_rng))
            for aggressor, qty, dt in ((Side.BUY, buy[j], off[j][0]), (Side.SELL, sell[j], off[j][1])):
                if qty > 0.0:
                    events.append(
                        Trade(
                            venue=venue,
                            symbol=symbol,
                            ts_event=ts + dt,
                            ts_recv=ts + dt,
                            side=aggressor,
                            price=p,
                            quantity=qty,
                            notional_usd=p * qty,
                            trade_id=str(mstate.next_trade_id),
                        )
                    )
                    mstate.next_trade_id += 1
            events.extend(liqs.get(j, ()))
        events.sort(key=lambda e: e.ts_recv)
        if (j + 1) % k == 0:
            b = j // k
            for _v, _s, m, *_ in prepared:
                events.extend(bar_events(config, m, b))
        yield StepBatch(ts_ns=ts, events=events)


def bar_events(config: SimConfig, market: MarketChunk, b: int) -> list[AnyEvent]:
    """Candle, Bar, OpenInterest and Funding of chunk bar ``b``, stamped at the bar's close."""

    m = market
    venue: Venue = m.venue
    symbol: str = m.symbol
    bar_ns = config.bar_ns
    t_open = int(m.bar_ts[b])
    t_close = t_open + bar_ns
    interval_s = bar_ns // NS_PER_S
    o, h, lo, c = (float(x[b]) for x in (m.open, m.high, m.low, m.close))
    vol = float(m.volume[b])
    tbv = float(m.taker_buy_volume[b])
    oi_usd = float(m.oi_usd[b])
    fund = m.funding
    return [
        Candle(
            venue=venue,
            symbol=symbol,
            ts_event=t_open,
            ts_recv=t_close,
            interval_s=interval_s,
            open=o,
            high=h,
            low=lo,
            close=c,
            volume=vol,
            quote_volume=float(m.quote_volume[b]),
            taker_buy_volume=tbv,
            closed=True,
        ),
        Bar(
            venue=venue,
            symbol=symbol,
            ts_event=t_open,
            ts_recv=t_close,
            interval_s=interval_s,
            open=o,
            high=h,
            low=lo,
            close=c,
            oi_usd=oi_usd,
            funding_rate=float(fund.settled[b]),
            volume=vol,
            taker_buy_volume=tbv,
        ),
        OpenInterest(
            venue=venue,
            symbol=symbol,
            ts_event=t_close,
            ts_recv=t_close,
            oi_base=float(m.positions.oi_qty[b]),
            oi_usd=oi_usd,
        ),
        Funding(
            venue=venue,
            symbol=symbol,
            ts_event=t_close,
            ts_recv=t_close,
            rate=float(fund.predicted[b]),
            interval_hours=fund.interval_hours,
            next_funding_ts=int(fund.next_funding_ns[b]),
            settled_rate=float(fund.settled[b]),
        ),
    ]
