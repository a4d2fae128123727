"""Fixtures for the store tests: a fresh store and sample events of every kind."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from perpscope.model import (
    Bar,
    BookDelta,
    BookSnapshot,
    Candle,
    Cascade,
    Event,
    Funding,
    Kind,
    Liquidation,
    MarkPrice,
    OpenInterest,
    PositionSide,
    Side,
    Trade,
    Venue,
)
from perpscope.store import Store

T0 = 1_780_000_000_000_000_000  # 2026-05-28 20:26:40 UTC
SEC = 1_000_000_000


def one_of_each(
    i: int = 0, *, venue: Venue = Venue.BINANCE, symbol: str = "BTC", ts: int = T0
) -> list[Event]:
    """One event of every kind, fields varied by ``i`` (optional fields both set and unset)."""

    t = ts + i * SEC
    base = {"venue": venue, "symbol": symbol, "ts_event": t, "ts_recv": t + 1234}
    odd = i % 2 == 1
    return [
        Liquidation(
            **base,
            side=PositionSide.SHORT if odd else PositionSide.LONG,
            price=60_000.5 + i,
            quantity=0.25,
            notional_usd=(60_000.5 + i) * 0.25,
            sampled=not odd,
        ),
        Trade(
            **base,
            side=Side.SELL if odd else Side.BUY,
            price=60_001.0,
            quantity=0.1 + i,
            notional_usd=6000.1,
            trade_id=f"t{i}" if odd else "",
        ),
        OpenInterest(**base, oi_base=80_000.0 + i, oi_usd=4.8e9 + i),
        Funding(
            **base,
            rate=1e-4 * (i + 1),
            interval_hours=8.0,
            next_funding_ts=t + 3600 * SEC if odd else None,
            settled_rate=-5e-5 if odd else None,
        ),
        MarkPrice(**base, mark_price=60_000.0 + i, index_price=59_990.0 if odd else None),
        Candle(
            **base,
            interval_s=60,
            open=1.0,
            high=2.0 + i,
            low=0.5,
            close=1.5,
            volume=10.0,
            quote_volume=15.0 if odd else None,
            taker_buy_volume=None,
            closed=not odd,
        ),
        Bar(
            **base,
            interval_s=300,
            open=1.0,
            high=2.0,
            low=0.5,
            close=1.5 + i,
            oi_usd=1e9,
            funding_rate=1e-4 if odd else None,
            volume=None,
            taker_buy_volume=3.0 if odd else None,
        ),
        BookSnapshot(
            **base,
            bids=[(60_000.0, 1.5), (59_999.5, 2.0)],
            asks=[(60_000.5, 0.5)],
            update_id=1000 + i,
            cross_seq=7 if odd else None,
        ),
        BookDelta(
            **base,
            bids=[] if odd else [(60_000.0, 0.0)],
            asks=[(60_001.0, 3.25)],
            update_id=1001 + i,
            first_update_id=1000 + i if odd else None,
            prev_update_id=999 + i,
            cross_seq=None,
        ),
        Cascade(
            **base,
            side=PositionSide.LONG,
            ts_end=t + 5 * SEC,
            count=3 + i,
            notional_usd=2.5e6,
            venues=[Venue.BINANCE, Venue.OKX] if odd else [venue],
            price_low=59_000.0,
            price_high=60_000.0,
            sampled=odd,
        ),
    ]


def trades(
    n: int, *, seed: int = 0, start: int = T0, venue: Venue = Venue.BYBIT, symbol: str = "ETH"
) -> list[Trade]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        price = 3000 + rng.random() * 10
        qty = rng.random()
        t = start + i * 1_000_000
        out.append(
            Trade(
                venue=venue,
                symbol=symbol,
                ts_event=t,
                ts_recv=t + 5,
                side=rng.choice([Side.BUY, Side.SELL]),
                price=price,
                quantity=qty,
                notional_usd=price * qty,
                trade_id=str(i),
            )
        )
    return out


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def sample() -> Callable[..., list[Event]]:
    return one_of_each


@pytest.fixture
def make_trades() -> Callable[..., list[Trade]]:
    return trades


ALL_KINDS = list(Kind)
