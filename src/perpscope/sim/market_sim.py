"""Chunk-by-chunk simulation: prices, positions and bars of every market for one chunk at a time.

A run is a sequence of chunks (``SimConfig.chunk_ns`` each). Every chunk draws from its own seeded random
streams and continues from the state the previous chunk left (index level and volatility, basis, funding
accumulators, standing positions), so a batch run and a live stream of the same config are identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import Venue
from .market_config import SimConfig
from .market_positions import MarketState, PositionChunk, simulate_positions
from .market_price import (
    BasisState,
    FundingChunk,
    FundingState,
    SymbolState,
    initial_basis_state,
    initial_funding_state,
    initial_symbol_state,
    rng_for,
    simulate_funding,
    simulate_index,
    simulate_venue_price,
)

MarketKey = tuple[Venue, str]


@dataclass(frozen=True, kw_only=True, eq=False)
class MarketChunk:
    """One venue+symbol over one chunk: step prices, bars, positions and funding."""

    venue: Venue
    symbol: str
    chunk: int
    first_bar: int  # index of the chunk's first bar in the whole run
    step_ts: np.ndarray  # (n,) int64 ns: start of each step (the price holds during the step)
    bar_ts: np.ndarray  # (T,) int64 ns: bar opens
    price: np.ndarray  # (n,) last trade = mark price, on the venue tick
    index: np.ndarray  # (n,) index price
    premium: np.ndarray  # (n,) price / index − 1
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # base coin
    taker_buy_volume: np.ndarray
    quote_volume: np.ndarray  # USD
    oi_usd: np.ndarray  # one-sided OI at the bar's close: quantity × close
    positions: PositionChunk
    funding: FundingChunk

    @property
    def n_bars(self) -> int:
        return int(self.bar_ts.shape[0])


class ChunkSimulator:
    """Produces the chunks of a run in order; holds the state carried between them."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.next_chunk = 0
        self.symbols: dict[str, SymbolState] = {s: initial_symbol_state(config, s) for s in config.symbols}
        self.basis: dict[MarketKey, BasisState] = {}
        self.funding: dict[MarketKey, FundingState] = {}
        self.markets: dict[MarketKey, MarketState] = {}
        for venue in config.venues:
            for symbol in config.symbols:
                key = (venue, symbol)
                self.basis[key] = initial_basis_state(config)
                self.funding[key] = initial_funding_state(config, venue)
                self.markets[key] = MarketState(last_close=config.price0(symbol))

    def chunk_bars(self, chunk: int, *, bounded: bool) -> int:
        per = self.config.bars_per_chunk
        if not bounded:
            return per
        return max(0, min(per, self.config.n_bars - chunk * per))

    def step(self, *, bounded: bool = True) -> dict[MarketKey, MarketChunk] | None:
        """Simulate the next chunk (None once the configured duration is done, when ``bounded``)."""

        cfg = self.config
        chunk = self.next_chunk
        n_bars = self.chunk_bars(chunk, bounded=bounded)
        if n_bars == 0:
            return None
        self.next_chunk += 1
        k = cfg.steps_per_bar
        n = n_bars * k
        first_bar = chunk * cfg.bars_per_chunk
        start_ns = cfg.start_ns + first_bar * cfg.bar_ns
        step_ts = start_ns + np.arange(n, dtype=np.int64) * cfg.step_ns
        bar_ts = start_ns + np.arange(n_bars, dtype=np.int64) * cfg.bar_ns
        index_paths = simulate_index(cfg, chunk, n_bars, self.symbols)
        out: dict[MarketKey, MarketChunk] = {}
        for venue in cfg.venues:
            for symbol in cfg.symbols:
                key = (venue, symbol)
                ix = index_paths[symbol]
                price, premium = simulate_venue_price(
                    cfg, chunk, venue, symbol, ix.log_index, self.basis[key]
                )
                p2 = price.reshape(n_bars, k)
                o, h, lo, c = p2[:, 0], p2.max(axis=1), p2.min(axis=1), p2[:, -1]
                positions = simulate_positions(
                    cfg,
                    venue=venue,
                    symbol=symbol,
                    chunk_start_ns=start_ns,
                    price=price,
                    bar_open=o,
                    bar_high=h,
                    bar_low=lo,
                    bar_close=c,
                    vol_ratio=ix.bar_sigma / ix.sigma_longrun,
                    state=self.markets[key],
                    rng=rng_for(cfg, chunk, "positions", venue.value, symbol),
                )
                fund = simulate_funding(cfg, venue, step_ts, premium, n_bars, self.funding[key])
                buy = positions.buy_qty.reshape(n_bars, k)
                sell = positions.sell_qty.reshape(n_bars, k)
                volume = (buy + sell).sum(axis=1)
                out[key] = MarketChunk(
                    venue=venue,
                    symbol=symbol,
                    chunk=chunk,
                    first_bar=first_bar,
                    step_ts=step_ts,
                    bar_ts=bar_ts,
                    price=price,
                    index=np.exp(ix.log_index),
                    premium=premium,
                    open=o.copy(),
                    high=h,
                    low=lo,
                    close=c.copy(),
                    volume=volume,
                    taker_buy_volume=buy.sum(axis=1),
                    quote_volume=((buy + sell) * p2).sum(axis=1),
                    oi_usd=positions.oi_qty * c,
                    positions=positions,
                    funding=fund,
                )
        return out
