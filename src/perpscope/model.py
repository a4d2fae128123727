"""Normalized market events: the vocabulary every part of perpscope shares.

Every event is a frozen ``msgspec.Struct`` tagged by ``kind``. Timestamps are integer nanoseconds UTC:
``ts_event`` is when the venue says the thing happened, ``ts_recv`` when we received it. Quantities are in
the base coin (already multiplied by OKX ``ctVal``), notionals in USD (USDT treated as USD).
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

import msgspec


class Venue(StrEnum):
    BINANCE = "binance"  # Binance USD-M futures
    BYBIT = "bybit"  # Bybit v5, category=linear
    OKX = "okx"  # OKX v5, instType=SWAP
    HYPERLIQUID = "hyperliquid"


ALL_VENUES: tuple[Venue, ...] = tuple(Venue)


class PositionSide(StrEnum):
    """The side of a *position*. A liquidation's side is always the liquidated position's side."""

    LONG = "long"
    SHORT = "short"


class Side(StrEnum):
    """The side of an order; for trades, the aggressor (taker) side."""

    BUY = "buy"
    SELL = "sell"


class Kind(StrEnum):
    LIQUIDATION = "liquidation"
    TRADE = "trade"
    OPEN_INTEREST = "open_interest"
    FUNDING = "funding"
    MARK_PRICE = "mark_price"
    CANDLE = "candle"
    BAR = "bar"
    BOOK_SNAPSHOT = "book_snapshot"
    BOOK_DELTA = "book_delta"
    CASCADE = "cascade"


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """Base of every normalized event."""

    kind_name: ClassVar[Kind]
    venue: Venue
    symbol: str  # canonical: "BTC", "ETH", ... (see perpscope.symbols)
    ts_event: int  # ns UTC, venue's event time
    ts_recv: int  # ns UTC, local receive time (== ts_event for imported history)


class Liquidation(Event, frozen=True, kw_only=True, tag="liquidation"):
    kind_name: ClassVar[Kind] = Kind.LIQUIDATION
    side: PositionSide  # the liquidated position
    price: float  # Binance: average fill `ap`; Bybit `p` / OKX `bkPx`: bankruptcy price
    quantity: float  # base coin
    notional_usd: float  # price * quantity
    sampled: bool  # venue pushes at most one per symbol/contract per second: a lower bound


class Trade(Event, frozen=True, kw_only=True, tag="trade"):
    kind_name: ClassVar[Kind] = Kind.TRADE
    side: Side  # aggressor side
    price: float
    quantity: float  # base coin
    notional_usd: float
    trade_id: str = ""


class OpenInterest(Event, frozen=True, kw_only=True, tag="open_interest"):
    """Open interest of ONE side of the book (long == short), two-sided venue values halved."""

    kind_name: ClassVar[Kind] = Kind.OPEN_INTEREST
    oi_base: float
    oi_usd: float


class Funding(Event, frozen=True, kw_only=True, tag="funding"):
    kind_name: ClassVar[Kind] = Kind.FUNDING
    rate: float  # current / predicted rate for the running interval (fraction, per interval)
    interval_hours: float
    next_funding_ts: int | None = None  # ns UTC
    settled_rate: float | None = None  # last settled rate when the message carries it


class MarkPrice(Event, frozen=True, kw_only=True, tag="mark_price"):
    kind_name: ClassVar[Kind] = Kind.MARK_PRICE
    mark_price: float
    index_price: float | None = None


class Candle(Event, frozen=True, kw_only=True, tag="candle"):
    """A venue kline. ``ts_event`` is the bar open."""

    kind_name: ClassVar[Kind] = Kind.CANDLE
    interval_s: int
    open: float
    high: float
    low: float
    close: float
    volume: float  # base coin
    quote_volume: float | None = None  # USD
    taker_buy_volume: float | None = None  # base coin bought by takers
    closed: bool = True


class Bar(Event, frozen=True, kw_only=True, tag="bar"):
    """Heatmap engine input for one slot: prices, one-sided OI in USD at the slot's close, and optional
    taker flow. ``ts_event`` is the bar open. Imported with ``perpscope import bars`` or built from candles
    and open interest."""

    kind_name: ClassVar[Kind] = Kind.BAR
    interval_s: int
    open: float
    high: float
    low: float
    close: float
    oi_usd: float
    funding_rate: float | None = None  # fraction per funding interval
    volume: float | None = None  # base coin
    taker_buy_volume: float | None = None  # base coin


PriceLevel = tuple[float, float]  # (price, size in base coin)


class BookSnapshot(Event, frozen=True, kw_only=True, tag="book_snapshot"):
    """A full (or top-N) book that replaces the local book.

    Sequence fields carry the venue's own numbers so a book can detect gaps:
    Binance ``lastUpdateId``; Bybit ``u`` (``cross_seq`` = ``seq``); OKX ``seqId``; Hyperliquid ``time``.
    """

    kind_name: ClassVar[Kind] = Kind.BOOK_SNAPSHOT
    bids: list[PriceLevel]  # best first
    asks: list[PriceLevel]  # best first
    update_id: int
    cross_seq: int | None = None


class BookDelta(Event, frozen=True, kw_only=True, tag="book_delta"):
    """Incremental levels; size 0 deletes the level.

    Binance: ``first_update_id``=U, ``update_id``=u, ``prev_update_id``=pu. Bybit: ``update_id``=u
    (``u == 1`` means reset), ``cross_seq``=seq. OKX: ``update_id``=seqId, ``prev_update_id``=prevSeqId.
    """

    kind_name: ClassVar[Kind] = Kind.BOOK_DELTA
    bids: list[PriceLevel]
    asks: list[PriceLevel]
    update_id: int
    first_update_id: int | None = None
    prev_update_id: int | None = None
    cross_seq: int | None = None


class Cascade(Event, frozen=True, kw_only=True, tag="cascade"):
    """A run of same-side liquidations across venues in a short window. ``venue`` is the venue of the
    first event; ``venues`` lists all. ``ts_event`` is the start, ``ts_end`` the last event."""

    kind_name: ClassVar[Kind] = Kind.CASCADE
    side: PositionSide
    ts_end: int
    count: int
    notional_usd: float
    venues: list[Venue]
    price_low: float
    price_high: float
    sampled: bool  # contains events from a sampled feed: totals are lower bounds


AnyEvent = (
    Liquidation
    | Trade
    | OpenInterest
    | Funding
    | MarkPrice
    | Candle
    | Bar
    | BookSnapshot
    | BookDelta
    | Cascade
)

EVENT_TYPES: dict[Kind, type[Event]] = {
    Kind.LIQUIDATION: Liquidation,
    Kind.TRADE: Trade,
    Kind.OPEN_INTEREST: OpenInterest,
    Kind.FUNDING: Funding,
    Kind.MARK_PRICE: MarkPrice,
    Kind.CANDLE: Candle,
    Kind.BAR: Bar,
    Kind.BOOK_SNAPSHOT: BookSnapshot,
    Kind.BOOK_DELTA: BookDelta,
    Kind.CASCADE: Cascade,
}

_COMMON_OUTPUT = ("side", "price", "quantity", "notional_usd")


def event_record(event: Event) -> dict[str, object]:
    """A flat dict for printing: ``kind, venue, symbol, ts_event, side, price, quantity, notional_usd``
    always present (None where a kind has no such field), then the kind-specific fields."""

    raw = msgspec.to_builtins(event)
    out: dict[str, object] = {
        "kind": raw.pop("kind"),
        "venue": raw.pop("venue"),
        "symbol": raw.pop("symbol"),
        "ts_event": raw.pop("ts_event"),
    }
    for key in _COMMON_OUTPUT:
        out[key] = raw.pop(key, None)
    out.update(raw)
    return out


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyEvent)


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(data: bytes | str) -> AnyEvent:
    return _decoder.decode(data)
