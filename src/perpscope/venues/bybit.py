"""Bybit v5 linear (USDT perpetuals): wire schemas, the websocket decoder, topics and subscribe messages,
REST requests and parsers.

Where a Bybit liquidation becomes a :class:`~perpscope.model.Liquidation`: :meth:`Decoder._all_liquidation`.
Semantics (docs: https://bybit-exchange.github.io/docs/v5/websocket/public/all-liquidation):

- ``allLiquidation``: ``S`` is the side of the liquidated **position** ("When you receive a Buy update, this
  means that a long position has been liquidated"); ``p`` is the bankruptcy price, ``v`` the size in coin.
  Every liquidation is pushed (batched every 500 ms): ``sampled=False``.
- ``liquidation`` (deprecated): at most one liquidation per symbol per second (``sampled=True``). The docs
  first called ``side`` the order side; the later docs say "Position side. Buy,Sell. When you receive a Buy
  update, this means that a long position has been liquidated", and ``price`` is the bankruptcy price. We
  follow the later docs: ``Buy`` → long, as for ``allLiquidation``.
- ``publicTrade``: ``S`` is the taker side.
- Open interest: ``openInterest`` (tickers and REST) is the **sum of both sides** (it is exactly twice the
  ``singleOpenInterest`` field added in 2026-06: see the recorded session test). perpscope's OpenInterest is
  one side, so the decoder uses ``singleOpenInterest``/``singleOpenInterestValue`` when present and halves the
  two-sided fields otherwise.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, Literal, TypeVar

import msgspec
from msgspec import Meta, Raw, Struct

from ..errors import DecodeError, UnknownChannel
from ..model import (
    AnyEvent,
    BookDelta,
    BookSnapshot,
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
from ..symbols import canonical_symbol, venue_symbol
from ..timeutil import NS_PER_MS
from ._checks import (
    MAX_NOTIONAL_USD,
    MAX_PRICE,
    MAX_QUANTITY,
    check_notional,
    check_price,
    check_quantity,
    to_float,
)
from .rest import RestRequest

VENUE = Venue.BYBIT

# ---------------------------------------------------------------------------------------------------------
# Endpoints and limits: the one place for Bybit URLs and constants (checked 2026-08, venues.md).
# WebSocket: https://bybit-exchange.github.io/docs/v5/ws/connect
# REST market data: https://bybit-exchange.github.io/docs/v5/market/time
WS_URL = "wss://stream.bybit.com/v5/public/linear"
REST_URL = "https://api.bybit.com"
CATEGORY = "linear"
PING_INTERVAL_S = 20  # send {"op":"ping"} every 20 s or the server drops the connection
PING_MESSAGE = b'{"op":"ping"}'
MAX_ARGS_CHARS = 21_000  # total length of subscribed topic names per connection
TOPICS_PER_SUBSCRIBE = 10  # topics per subscribe request (the spot limit; harmless for linear)
ALL_LIQUIDATION_PUSH_MS = 500  # allLiquidation batches every liquidation, pushed every 500 ms
REST_REQUESTS_PER_5S = 600  # per IP; over it: HTTP 403 and a ban of at least 10 minutes
OPEN_INTEREST_MAX_LIMIT = 200
FUNDING_HISTORY_MAX_LIMIT = 200
KLINE_MAX_LIMIT = 1000
ORDERBOOK_MAX_LIMIT = 500  # linear
INSTRUMENTS_MAX_LIMIT = 1000
ORDERBOOK_DEPTHS = (1, 50, 200, 1000)  # websocket orderbook.{depth}.{symbol}
DEFAULT_FUNDING_INTERVAL_HOURS = 8.0


@dataclass(frozen=True, kw_only=True)
class Endpoints:
    """Base URLs; override to point at the emulator."""

    ws: str = WS_URL
    rest: str = REST_URL


ENDPOINTS = Endpoints()


def accepts_ws_url(url: str) -> bool:
    """False for a recorded connection to another Bybit market (spot, inverse, option) whose topics share
    names with linear ones (``tickers.BTCUSDT`` exists on spot too)."""

    return not ("/v5/public/" in url and "/v5/public/linear" not in url)


# Wire numbers are decimal strings: decoders run with strict=False (msgspec converts them in C) and these
# constraints apply the bounds of venues/_checks.py (NaN fails every comparison, so it is rejected).
Price = Annotated[float, Meta(gt=0.0, le=MAX_PRICE)]
Qty = Annotated[float, Meta(gt=0.0, le=MAX_QUANTITY)]
Qty0 = Annotated[float, Meta(ge=0.0, le=MAX_QUANTITY)]
TsMs = Annotated[int, Meta(ge=0, le=4_102_444_800_000)]  # epoch ms up to 2100
Level = tuple[Price, Qty0]

# ---------------------------------------------------------------------------------------------------------
# Raw websocket schemas (field names as on the wire)

_NO_RAW = Raw()  # msgspec cannot make Raw optional: an empty Raw marks an absent field


class _Envelope(Struct, frozen=True):
    """Every public message: a topic push, or a control reply (subscribe ack, pong)."""

    topic: str | None = None  # e.g. "publicTrade.BTCUSDT"
    type: str | None = None  # "snapshot" or "delta"
    ts: int | None = None  # ms, when the system generated the data
    cts: int | None = None  # ms, matching-engine time (orderbook)
    data: Raw = _NO_RAW  # topic payload: an object or an array
    op: str | None = None  # control reply: "subscribe", "ping", "pong", ...
    success: bool | None = None  # control reply outcome
    ret_msg: str | None = None  # control reply message ("pong", an error text, ...)


class WsAllLiquidation(Struct, frozen=True):
    T: TsMs  # updated time, ms
    s: str  # symbol
    S: Literal["Buy", "Sell"]  # POSITION side: Buy = a long was liquidated
    v: Qty  # executed size, base coin
    p: Price  # bankruptcy price


class WsLiquidation(Struct, frozen=True):
    """Deprecated ``liquidation.{symbol}`` payload (an object, not an array)."""

    symbol: str  # symbol
    side: Literal["Buy", "Sell"]  # position side per the later docs: Buy = a long was liquidated
    size: Qty  # executed size, base coin
    price: Price  # bankruptcy price
    updatedTime: TsMs | None = None  # ms (the example's spelling)
    updateTime: TsMs | None = None  # ms (the parameter table's spelling)


class WsPublicTrade(Struct, frozen=True):
    T: TsMs  # trade time, ms
    s: str  # symbol
    S: Literal["Buy", "Sell"]  # taker side
    v: Qty  # size, base coin
    p: Price  # price
    i: str  # trade id
    L: str = ""  # tick direction
    BT: bool = False  # block trade
    RPI: bool = False  # retail-price-improvement trade
    seq: int | None = None  # cross sequence


class WsOrderbook(Struct, frozen=True):
    s: str  # symbol
    b: list[Level]  # bids [price, size], best first on snapshots; size 0 deletes
    a: list[Level]  # asks
    u: int  # update id; u == 1 means the service restarted: treat as a snapshot
    seq: int | None = None  # cross sequence (compare across depths)


class WsKline(Struct, frozen=True):
    start: TsMs  # bar open, ms
    end: TsMs  # bar close, ms
    interval: str  # "1", "5", "60", "D", ...
    open: Price
    close: Price
    high: Price
    low: Price
    volume: Qty0  # base coin
    turnover: Qty0  # quote (USDT)
    confirm: bool  # the bar is closed
    timestamp: TsMs  # ms of the last matched trade in the bar


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_ALL_LIQUIDATIONS = msgspec.json.Decoder(list[WsAllLiquidation], strict=False)
_LIQUIDATION = msgspec.json.Decoder(WsLiquidation | list[WsLiquidation], strict=False)
_TRADES = msgspec.json.Decoder(list[WsPublicTrade], strict=False)
_ORDERBOOK = msgspec.json.Decoder(WsOrderbook, strict=False)
_KLINES = msgspec.json.Decoder(list[WsKline], strict=False)
_TICKER = msgspec.json.Decoder(dict[str, str | int | float | bool | None])

KLINE_INTERVALS_S: dict[str, int] = {
    "1": 60,
    "3": 180,
    "5": 300,
    "15": 900,
    "30": 1800,
    "60": 3600,
    "120": 7200,
    "240": 14400,
    "360": 21600,
    "720": 43200,
    "D": 86400,
    "W": 604800,
}  # "M" (calendar month) has no fixed length: not supported


def interval_seconds(interval: str) -> int:
    try:
        return KLINE_INTERVALS_S[interval]
    except KeyError:
        raise DecodeError(f"bybit: unsupported kline interval {interval!r}") from None


_MAX_RATE = 1.0  # |funding rate| per interval above 100 % is corrupt data


def _rate(value: object, name: str) -> float:
    x = to_float(value, name)
    if abs(x) > _MAX_RATE:
        raise DecodeError(f"{name}: absurd funding rate {x!r}")
    return x


_OI_FIELDS = frozenset({"openInterest", "openInterestValue", "singleOpenInterest", "singleOpenInterestValue"})
_FUNDING_FIELDS = frozenset({"fundingRate", "nextFundingTime", "fundingIntervalHour"})
_MARK_FIELDS = frozenset({"markPrice", "indexPrice"})
_TickerState = dict[str, str | int | float | bool | None]


def _merge_ticker(state: _TickerState, update: Mapping[str, object]) -> None:
    """Apply a tickers delta: a missing field is unchanged. A two-sided OI field arriving without its
    one-sided twin makes the stored twin stale, so it is dropped (the event then halves the two-sided one)."""

    if "openInterest" in update and "singleOpenInterest" not in update:
        state.pop("singleOpenInterest", None)
    if "openInterestValue" in update and "singleOpenInterestValue" not in update:
        state.pop("singleOpenInterestValue", None)
    state.update(update)  # type: ignore[arg-type]


def _present(state: Mapping[str, object], key: str) -> object | None:
    value = state.get(key)
    return None if value is None or value == "" else value


def one_sided_open_interest(state: Mapping[str, object]) -> tuple[float, float] | None:
    """(oi_base, oi_usd) of one side from ticker fields: ``singleOpenInterest[Value]`` when present, else half
    of the two-sided ``openInterest[Value]``; USD falls back to base × mark price. None if unknown."""

    if (single := _present(state, "singleOpenInterest")) is not None:
        base = to_float(single, "singleOpenInterest")
    elif (both := _present(state, "openInterest")) is not None:
        base = to_float(both, "openInterest") / 2.0
    else:
        return None
    check_quantity(base, "open interest", allow_zero=True)
    if (single_usd := _present(state, "singleOpenInterestValue")) is not None:
        usd = to_float(single_usd, "singleOpenInterestValue")
    elif (both_usd := _present(state, "openInterestValue")) is not None:
        usd = to_float(both_usd, "openInterestValue") / 2.0
    elif (mark := _present(state, "markPrice")) is not None:
        usd = base * check_price(to_float(mark, "markPrice"), "markPrice")
    else:
        return None
    return base, check_notional(usd, "open interest USD")


def _ticker_events(
    symbol: str, state: Mapping[str, object], changed: Iterable[str], ts_event: int, ts_recv: int
) -> list[AnyEvent]:
    """MarkPrice / Funding / OpenInterest for the groups of fields that ``changed``, from the merged state."""

    keys = set(changed)
    out: list[AnyEvent] = []
    if keys & _MARK_FIELDS and (mark := _present(state, "markPrice")) is not None:
        index = _present(state, "indexPrice")
        out.append(
            MarkPrice(
                venue=VENUE,
                symbol=symbol,
                ts_event=ts_event,
                ts_recv=ts_recv,
                mark_price=check_price(to_float(mark, "markPrice"), "markPrice"),
                index_price=None
                if index is None
                else check_price(to_float(index, "indexPrice"), "indexPrice"),
            )
        )
    if keys & _FUNDING_FIELDS and (rate := _present(state, "fundingRate")) is not None:
        hours = _present(state, "fundingIntervalHour")
        next_ms = _present(state, "nextFundingTime")
        interval = DEFAULT_FUNDING_INTERVAL_HOURS if hours is None else to_float(hours, "fundingIntervalHour")
        if not 0.0 < interval <= 24.0:
            raise DecodeError(f"fundingIntervalHour: {interval!r}")
        next_ns = None if next_ms is None else int(to_float(next_ms, "nextFundingTime")) * NS_PER_MS
        out.append(
            Funding(
                venue=VENUE,
                symbol=symbol,
                ts_event=ts_event,
                ts_recv=ts_recv,
                rate=_rate(rate, "fundingRate"),
                interval_hours=interval,
                next_funding_ts=next_ns or None,
            )
        )
    if keys & _OI_FIELDS and (oi := one_sided_open_interest(state)) is not None:
        out.append(
            OpenInterest(
                venue=VENUE, symbol=symbol, ts_event=ts_event, ts_recv=ts_recv, oi_base=oi[0], oi_usd=oi[1]
            )
        )
    return out


Handler = Callable[[_Envelope, str, int], list[AnyEvent]]


class Decoder:
    """Decodes Bybit v5 linear public websocket messages into normalized events (stateful per connection:
    ``tickers`` deltas are merged into per-symbol state).

    Topics: ``allLiquidation`` and the deprecated ``liquidation`` → Liquidation; ``publicTrade`` → Trade;
    ``orderbook.{depth}`` → BookSnapshot (``type=snapshot`` or ``u == 1``) / BookDelta; ``tickers`` →
    MarkPrice (mark/index changed), Funding (rate/next time/interval changed), OpenInterest (one side, see the
    module docstring); ``kline`` → Candle. Control replies (subscribe ack, pong) → ``[]``, counted in
    :attr:`counts` (``control``), as are ticker deltas that change none of those fields (``ticker_other``) and
    non-USDT-perpetual symbols (``not_usdt_perp``). A rejected subscription raises DecodeError with the
    venue's message.
    """

    def __init__(self, instruments: object = None) -> None:
        del instruments  # linear quantities are already in the base coin
        self.counts: Counter[str] = Counter()
        self._tickers: dict[str, _TickerState] = {}
        self._canon: dict[str, str | None] = {}
        self._by_topic: dict[str, Handler] = {}

    def decode(self, raw: bytes | str, ts_recv: int) -> list[AnyEvent]:
        try:
            env = _ENVELOPE.decode(raw)
        except msgspec.ValidationError as exc:
            raise DecodeError(f"bybit: {exc}") from None
        except msgspec.DecodeError as exc:
            raise DecodeError(f"bybit: malformed JSON: {exc}") from None
        topic = env.topic
        if topic is None:
            if env.op is not None:
                if env.success is False:
                    raise DecodeError(f"bybit: {env.op} rejected: {env.ret_msg}")
                self.counts["control"] += 1
                return []
            raise UnknownChannel("bybit: message has neither a topic nor an op")
        handler = self._by_topic.get(topic)
        if handler is None:
            handler = self._by_topic[topic] = self._topic_handler(topic)
        if not env.data:
            raise DecodeError(f"bybit {topic}: no data")
        try:
            return handler(env, topic, ts_recv)
        except msgspec.DecodeError as exc:
            raise DecodeError(f"bybit {topic}: {exc}") from None

    def _topic_handler(self, topic: str) -> Handler:
        name = topic.split(".", 1)[0]
        handler = {
            "allLiquidation": self._all_liquidation,
            "liquidation": self._liquidation,
            "publicTrade": self._trades,
            "orderbook": self._orderbook,
            "tickers": self._ticker,
            "kline": self._kline,
        }.get(name)
        if handler is None:
            raise UnknownChannel(f"bybit: unknown topic {topic!r}")
        return handler

    def _symbol(self, instrument: str) -> str | None:
        try:
            return self._canon[instrument]
        except KeyError:
            pass
        try:
            sym: str | None = canonical_symbol(VENUE, instrument)
        except DecodeError:
            sym = None  # USDC perpetuals, dated futures
        if sym is not None and not instrument.isalnum():
            sym = None
        self._canon[instrument] = sym
        return sym

    def _skip(self) -> list[AnyEvent]:
        self.counts["not_usdt_perp"] += 1
        return []

    # -- topics ---------------------------------------------------------------------------------------------
    def _all_liquidation(self, env: _Envelope, topic: str, ts_recv: int) -> list[AnyEvent]:
        out: list[AnyEvent] = []
        for m in _ALL_LIQUIDATIONS.decode(env.data):
            symbol = self._symbol(m.s)
            if symbol is None:
                self.counts["not_usdt_perp"] += 1
                continue
            out.append(
                Liquidation(
                    venue=VENUE,
                    symbol=symbol,
                    ts_event=m.T * NS_PER_MS,
                    ts_recv=ts_recv,
                    side=PositionSide.LONG if m.S == "Buy" else PositionSide.SHORT,  # position side
                    price=m.p,
                    quantity=m.v,
                    notional_usd=check_notional(m.p * m.v),
                    sampled=False,
                )
            )
        return out

    def _liquidation(self, env: _Envelope, topic: str, ts_recv: int) -> list[AnyEvent]:
        decoded = _LIQUIDATION.decode(env.data)  # documented as an object; an array is read too
        out: list[AnyEvent] = []
        for m in decoded if isinstance(decoded, list) else [decoded]:
            symbol = self._symbol(m.symbol)
            if symbol is None:
                self.counts["not_usdt_perp"] += 1
                continue
            ts_ms = m.updatedTime if m.updatedTime is not None else m.updateTime
            if ts_ms is None:
                ts_ms = env.ts
            if ts_ms is None:
                raise DecodeError(f"bybit {topic}: no timestamp")
            out.append(
                Liquidation(
                    venue=VENUE,
                    symbol=symbol,
                    ts_event=ts_ms * NS_PER_MS,
                    ts_recv=ts_recv,
                    side=PositionSide.LONG if m.side == "Buy" else PositionSide.SHORT,
                    price=m.price,
                    quantity=m.size,
                    notional_usd=check_notional(m.price * m.size),
                    sampled=True,  # at most one per symbol per second
                )
            )
        return out

    def _trades(self, env: _Envelope, topic: str, ts_recv: int) -> list[AnyEvent]:
        out: list[AnyEvent] = []
        for m in _TRADES.decode(env.data):
            symbol = self._symbol(m.s)
            if symbol is None:
                self.counts["not_usdt_perp"] += 1
                continue
            notional = m.p * m.v
            if notional > MAX_NOTIONAL_USD:
                check_notional(notional)
            out.append(
                Trade(
                    venue=VENUE,
                    symbol=symbol,
                    ts_event=m.T * NS_PER_MS,
                    ts_recv=ts_recv,
                    side=Side.BUY if m.S == "Buy" else Side.SELL,  # taker side
                    price=m.p,
                    quantity=m.v,
                    notional_usd=notional,
                    trade_id=m.i,
                )
            )
        return out

    def _orderbook(self, env: _Envelope, topic: str, ts_recv: int) -> list[AnyEvent]:
        m = _ORDERBOOK.decode(env.data)
        symbol = self._symbol(m.s)
        if symbol is None:
            return self._skip()
        if env.ts is None:
            raise DecodeError(f"bybit {topic}: no ts")
        ts = env.ts * NS_PER_MS
        if env.type == "snapshot" or m.u == 1:  # u == 1: the venue restarted the book: a reset
            return [
                BookSnapshot(
                    venue=VENUE,
                    symbol=symbol,
                    ts_event=ts,
                    ts_recv=ts_recv,
                    bids=m.b,
                    asks=m.a,
                    update_id=m.u,
                    cross_seq=m.seq,
                )
            ]
        if env.type != "delta":
            raise DecodeError(f"bybit {topic}: unknown type {env.type!r}")
        return [
            BookDelta(
                venue=VENUE,
                symbol=symbol,
                ts_event=ts,
                ts_recv=ts_recv,
                bids=m.b,
                asks=m.a,
                update_id=m.u,
                cross_seq=m.seq,
            )
        ]

    def _ticker(self, env: _Envelope, topic: str, ts_recv: int) -> list[AnyEvent]:
        update = _TICKER.decode(env.data)
        instrument = update.get("symbol") or topic.split(".", 1)[1]
        if not isinstance(instrument, str):
            raise DecodeError(f"bybit {topic}: bad symbol {instrument!r}")
        symbol = self._symbol(instrument)
        if symbol is None:
            return self._skip()
        if env.ts is None:
            raise DecodeError(f"bybit {topic}: no ts")
        state = self._tickers.get(instrument)
        if env.type == "snapshot" or state is None:
            if env.type != "snapshot":
                self.counts["ticker_delta_before_snapshot"] += 1
            state = self._tickers[instrument] = {}
        _merge_ticker(state, update)
        out = _ticker_events(symbol, state, update.keys(), env.ts * NS_PER_MS, ts_recv)
        if not out:
            self.counts["ticker_other"] += 1
        return out

    def _kline(self, env: _Envelope, topic: str, ts_recv: int) -> list[AnyEvent]:
        parts = topic.split(".")
        if len(parts) != 3:
            raise DecodeError(f"bybit: bad kline topic {topic!r}")
        symbol = self._symbol(parts[2])
        if symbol is None:
            return self._skip()
        return [
            Candle(
                venue=VENUE,
                symbol=symbol,
                ts_event=k.start * NS_PER_MS,
                ts_recv=ts_recv,
                interval_s=interval_seconds(k.interval),
                open=k.open,
                high=k.high,
                low=k.low,
                close=k.close,
                volume=k.volume,
                quote_volume=k.turnover,
                closed=k.confirm,
            )
            for k in _KLINES.decode(env.data)
        ]


# ---------------------------------------------------------------------------------------------------------
# Topics and subscribe messages (https://bybit-exchange.github.io/docs/v5/ws/connect)


def _name(symbol: str) -> str:
    return venue_symbol(VENUE, symbol)


def liquidation_topic(symbol: str) -> str:
    return f"allLiquidation.{_name(symbol)}"


def legacy_liquidation_topic(symbol: str) -> str:
    """Deprecated, sampled (1/s): prefer :func:`liquidation_topic`."""

    return f"liquidation.{_name(symbol)}"


def trade_topic(symbol: str) -> str:
    return f"publicTrade.{_name(symbol)}"


def orderbook_topic(symbol: str, *, depth: Literal[1, 50, 200, 1000] = 200) -> str:
    if depth not in ORDERBOOK_DEPTHS:
        raise ValueError(f"depth must be one of {ORDERBOOK_DEPTHS}")
    return f"orderbook.{depth}.{_name(symbol)}"


def tickers_topic(symbol: str) -> str:
    return f"tickers.{_name(symbol)}"


def kline_topic(symbol: str, *, interval: str = "1") -> str:
    interval_seconds(interval)
    return f"kline.{interval}.{_name(symbol)}"


def subscribe_messages(
    topics: Iterable[str],
    *,
    max_args_chars: int = MAX_ARGS_CHARS,
    per_message: int = TOPICS_PER_SUBSCRIBE,
) -> list[list[bytes]]:
    """Subscribe requests grouped per connection: each inner list is what one connection sends, its topics'
    total ``args`` length within ``max_args_chars`` (Bybit: 21,000), ``per_message`` topics per request."""

    connections: list[list[str]] = [[]]
    used = 0
    for topic in dict.fromkeys(topics):
        cost = len(topic) + 3  # quotes and a comma in the JSON args array
        if cost > max_args_chars:
            raise ValueError(f"topic longer than the args limit: {topic!r}")
        if used + cost > max_args_chars:
            connections.append([])
            used = 0
        connections[-1].append(topic)
        used += cost
    return [
        [
            msgspec.json.encode({"op": "subscribe", "args": conn[i : i + per_message]})
            for i in range(0, len(conn), per_message)
        ]
        for conn in connections
        if conn
    ]


# ---------------------------------------------------------------------------------------------------------
# REST requests (all category=linear)


def _req(path: str, params: dict[str, str | int | None], *, endpoints: Endpoints) -> RestRequest:
    clean: dict[str, str | int] = {"category": CATEGORY}
    clean.update({k: v for k, v in params.items() if v is not None})
    return RestRequest(method="GET", base_url=endpoints.rest, path=path, params=clean)


def _limit(limit: int, maximum: int) -> int:
    if not 1 <= limit <= maximum:
        raise ValueError(f"limit must be 1..{maximum}, got {limit}")
    return limit


def open_interest_request(
    symbol: str,
    *,
    interval: Literal["5min", "15min", "30min", "1h", "4h", "1d"] = "5min",
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = OPEN_INTEREST_MAX_LIMIT,
    cursor: str | None = None,
    endpoints: Endpoints = ENDPOINTS,
) -> RestRequest:
    """Open-interest history back to the symbol's launch; page on with ``cursor`` (``nextPageCursor``)."""

    params: dict[str, str | int | None] = {
        "symbol": _name(symbol),
        "intervalTime": interval,
        "startTime": start_ms,
        "endTime": end_ms,
        "limit": _limit(limit, OPEN_INTEREST_MAX_LIMIT),
        "cursor": cursor or None,
    }
    return _req("/v5/market/open-interest", params, endpoints=endpoints)


def funding_history_request(
    symbol: str,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = FUNDING_HISTORY_MAX_LIMIT,
    endpoints: Endpoints = ENDPOINTS,
) -> RestRequest:
    """Settled funding rates, newest first; page backwards with ``end_ms``."""

    params: dict[str, str | int | None] = {
        "symbol": _name(symbol),
        "startTime": start_ms,
        "endTime": end_ms,
        "limit": _limit(limit, FUNDING_HISTORY_MAX_LIMIT),
    }
    return _req("/v5/market/funding/history", params, endpoints=endpoints)


def tickers_request(symbol: str | None = None, *, endpoints: Endpoints = ENDPOINTS) -> RestRequest:
    return _req("/v5/market/tickers", {"symbol": _name(symbol) if symbol else None}, endpoints=endpoints)


def kline_request(
    symbol: str,
    *,
    interval: str = "5",
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = KLINE_MAX_LIMIT,
    endpoints: Endpoints = ENDPOINTS,
) -> RestRequest:
    interval_seconds(interval)
    params: dict[str, str | int | None] = {
        "symbol": _name(symbol),
        "interval": interval,
        "start": start_ms,
        "end": end_ms,
        "limit": _limit(limit, KLINE_MAX_LIMIT),
    }
    return _req("/v5/market/kline", params, endpoints=endpoints)


def instruments_info_request(
    *,
    symbol: str | None = None,
    limit: int = INSTRUMENTS_MAX_LIMIT,
    cursor: str | None = None,
    endpoints: Endpoints = ENDPOINTS,
) -> RestRequest:
    params: dict[str, str | int | None] = {
        "symbol": _name(symbol) if symbol else None,
        "limit": _limit(limit, INSTRUMENTS_MAX_LIMIT),
        "cursor": cursor or None,
    }
    return _req("/v5/market/instruments-info", params, endpoints=endpoints)


def orderbook_request(symbol: str, *, limit: int = 200, endpoints: Endpoints = ENDPOINTS) -> RestRequest:
    params: dict[str, str | int | None] = {
        "symbol": _name(symbol),
        "limit": _limit(limit, ORDERBOOK_MAX_LIMIT),
    }
    return _req("/v5/market/orderbook", params, endpoints=endpoints)


def risk_limit_request(
    *, symbol: str | None = None, cursor: str | None = None, endpoints: Endpoints = ENDPOINTS
) -> RestRequest:
    """Maintenance-margin tiers (public). Without a symbol the venue pages 15 symbols at a time."""

    params: dict[str, str | int | None] = {
        "symbol": _name(symbol) if symbol else None,
        "cursor": cursor or None,
    }
    return _req("/v5/market/risk-limit", params, endpoints=endpoints)


# ---------------------------------------------------------------------------------------------------------
# REST response schemas and parsers

T = TypeVar("T")


class Response(Struct, frozen=True):
    """The v5 envelope; ``retCode`` 0 is success. ``result`` is decoded once the code says it is one."""

    retCode: int  # 0 = OK
    retMsg: str  # "OK" or the error
    result: Raw = _NO_RAW  # the payload
    time: int = 0  # server time, ms


_RESPONSE = msgspec.json.Decoder(Response)


def _result(body: bytes | str, tp: type[T], what: str) -> tuple[T, int]:
    try:
        resp = _RESPONSE.decode(body)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"bybit {what}: {exc}") from None
    if resp.retCode != 0 or not resp.result:
        raise DecodeError(f"bybit {what}: retCode {resp.retCode}: {resp.retMsg}")
    try:
        return msgspec.json.decode(resp.result, type=tp, strict=False), resp.time
    except msgspec.DecodeError as exc:
        raise DecodeError(f"bybit {what}: {exc}") from None


class RestOpenInterestRow(Struct, frozen=True):
    openInterest: str  # the sum of both sides, base coin
    timestamp: int  # ms
    singleOpenInterest: str = ""  # one side (added 2026-06)


class RestOpenInterest(Struct, frozen=True):
    symbol: str
    rows: list[RestOpenInterestRow] = msgspec.field(name="list")  # newest first
    nextPageCursor: str = ""


class OpenInterestPoint(Struct, frozen=True):
    ts_event: int  # ns UTC
    oi_base: float  # one side, base coin


class OpenInterestPage(Struct, frozen=True, kw_only=True):
    """One page of open-interest history. Bybit gives coins only: multiply by a price for USD."""

    symbol: str  # canonical
    points: list[OpenInterestPoint]  # oldest first
    next_cursor: str  # "" on the last page


def parse_open_interest(body: bytes | str) -> OpenInterestPage:
    """``/v5/market/open-interest`` → one-sided points: ``singleOpenInterest`` when present, else half of the
    two-sided ``openInterest``."""

    r, _ = _result(body, RestOpenInterest, "open-interest")
    points = []
    for row in r.rows:
        if row.singleOpenInterest:
            oi = to_float(row.singleOpenInterest, "singleOpenInterest")
        else:
            oi = to_float(row.openInterest, "openInterest") / 2.0
        points.append(
            OpenInterestPoint(row.timestamp * NS_PER_MS, check_quantity(oi, "open interest", allow_zero=True))
        )
    points.sort(key=lambda p: p.ts_event)
    return OpenInterestPage(
        symbol=canonical_symbol(VENUE, r.symbol), points=points, next_cursor=r.nextPageCursor
    )


class RestFundingRow(Struct, frozen=True):
    symbol: str
    fundingRate: str  # settled rate, fraction per interval
    fundingRateTimestamp: str  # settlement time, ms


class _ListResult(Struct, Generic[T], frozen=True):
    rows: list[T] = msgspec.field(name="list")
    category: str = ""
    symbol: str = ""
    nextPageCursor: str = ""


def _infer_interval_hours(times_ms: Sequence[int]) -> float:
    ordered = sorted(set(times_ms))
    gaps = Counter(round((b - a) / 3_600_000) for a, b in itertools.pairwise(ordered))
    gaps.pop(0, None)
    return float(gaps.most_common(1)[0][0]) if gaps else DEFAULT_FUNDING_INTERVAL_HOURS


def parse_funding_history(body: bytes | str, *, interval_hours: float | None = None) -> list[Funding]:
    """``/v5/market/funding/history`` → settled Funding events (``rate`` = ``settled_rate``), oldest first.
    The interval is ``interval_hours`` or else inferred from the spacing of the rows."""

    r, _ = _result(body, _ListResult[RestFundingRow], "funding/history")
    times = [int(to_float(row.fundingRateTimestamp, "fundingRateTimestamp")) for row in r.rows]
    hours = interval_hours if interval_hours is not None else _infer_interval_hours(times)
    out = []
    for row, ms in sorted(zip(r.rows, times, strict=True), key=lambda x: x[1]):
        ts = ms * NS_PER_MS
        rate = _rate(row.fundingRate, "fundingRate")
        out.append(
            Funding(
                venue=VENUE,
                symbol=canonical_symbol(VENUE, row.symbol),
                ts_event=ts,
                ts_recv=ts,
                rate=rate,
                interval_hours=hours,
                settled_rate=rate,
            )
        )
    return out


def parse_tickers(body: bytes | str, *, ts_recv: int | None = None) -> list[AnyEvent]:
    """``/v5/market/tickers`` → MarkPrice, Funding and one-sided OpenInterest per USDT perpetual."""

    r, server_ms = _result(body, _ListResult[dict[str, str | int | float | bool | None]], "tickers")
    ts = server_ms * NS_PER_MS
    out: list[AnyEvent] = []
    for row in r.rows:
        instrument = row.get("symbol")
        if not isinstance(instrument, str) or not instrument.isalnum():
            continue
        try:
            symbol = canonical_symbol(VENUE, instrument)
        except DecodeError:
            continue
        out.extend(_ticker_events(symbol, row, row.keys(), ts, ts if ts_recv is None else ts_recv))
    return out


def parse_kline(
    body: bytes | str, *, interval: str, now_ms: int | None = None, ts_recv: int | None = None
) -> list[Candle]:
    """``/v5/market/kline`` rows ``[start, open, high, low, close, volume, turnover]`` (newest first) →
    Candles oldest first; a bar that has not ended by ``now_ms`` (default: the response time) is open."""

    r, server_ms = _result(body, _ListResult[tuple[int, str, str, str, str, str, str]], "kline")
    seconds = interval_seconds(interval)
    now = server_ms if now_ms is None else now_ms
    symbol = canonical_symbol(VENUE, r.symbol)
    out = []
    for start, o, h, lo, c, v, turnover in r.rows:
        ts = start * NS_PER_MS
        out.append(
            Candle(
                venue=VENUE,
                symbol=symbol,
                ts_event=ts,
                ts_recv=ts if ts_recv is None else ts_recv,
                interval_s=seconds,
                open=check_price(to_float(o, "open"), "open"),
                high=check_price(to_float(h, "high"), "high"),
                low=check_price(to_float(lo, "low"), "low"),
                close=check_price(to_float(c, "close"), "close"),
                volume=check_quantity(to_float(v, "volume"), "volume", allow_zero=True),
                quote_volume=check_notional(to_float(turnover, "turnover"), "turnover"),
                closed=not now or start + seconds * 1000 <= now,
            )
        )
    out.sort(key=lambda e: e.ts_event)
    return out


class _PriceFilter(Struct, frozen=True):
    tickSize: str  # price increment


class _LotSizeFilter(Struct, frozen=True):
    qtyStep: str  # quantity increment, base coin
    minOrderQty: str = "0"
    maxOrderQty: str = ""


class _LeverageFilter(Struct, frozen=True):
    maxLeverage: str = ""


class RestInstrument(Struct, frozen=True):
    symbol: str
    contractType: str  # "LinearPerpetual", "LinearFutures", ...
    status: str  # "Trading", ...
    baseCoin: str
    quoteCoin: str
    priceFilter: _PriceFilter
    lotSizeFilter: _LotSizeFilter
    leverageFilter: _LeverageFilter = _LeverageFilter()
    settleCoin: str = ""
    fundingInterval: int = 0  # minutes between settlements


class Instrument(Struct, frozen=True, kw_only=True):
    """What perpscope needs from ``/v5/market/instruments-info`` for one USDT perpetual."""

    symbol: str  # canonical
    venue_symbol: str  # "BTCUSDT"
    status: str
    tick_size: float
    qty_step: float  # base coin
    min_qty: float  # base coin
    max_leverage: float | None
    funding_interval_hours: float | None


def parse_instruments_info(body: bytes | str) -> tuple[list[Instrument], str]:
    """``/v5/market/instruments-info`` → (USDT perpetuals, next page cursor)."""

    r, _ = _result(body, _ListResult[RestInstrument], "instruments-info")
    out = []
    for i in r.rows:
        if i.contractType != "LinearPerpetual" or i.quoteCoin != "USDT" or not i.symbol.isalnum():
            continue
        try:
            symbol = canonical_symbol(VENUE, i.symbol)
        except DecodeError:
            continue
        lev = i.leverageFilter.maxLeverage
        out.append(
            Instrument(
                symbol=symbol,
                venue_symbol=i.symbol,
                status=i.status,
                tick_size=check_price(to_float(i.priceFilter.tickSize, "tickSize"), "tickSize"),
                qty_step=check_quantity(to_float(i.lotSizeFilter.qtyStep, "qtyStep"), "qtyStep"),
                min_qty=check_quantity(to_float(i.lotSizeFilter.minOrderQty, "minOrderQty"), "minOrderQty"),
                max_leverage=to_float(lev, "maxLeverage") if lev else None,
                funding_interval_hours=i.fundingInterval / 60.0 if i.fundingInterval else None,
            )
        )
    return out, r.nextPageCursor


class RestOrderbook(Struct, frozen=True):
    s: str  # symbol
    b: list[Level]  # bids, best first
    a: list[Level]  # asks, best first
    ts: int  # ms
    u: int  # update id
    seq: int | None = None  # cross sequence
    cts: int | None = None  # matching-engine time, ms


def parse_orderbook(body: bytes | str, *, ts_recv: int | None = None) -> BookSnapshot:
    """``/v5/market/orderbook`` → BookSnapshot (``update_id`` = ``u``, ``cross_seq`` = ``seq``)."""

    r, _ = _result(body, RestOrderbook, "orderbook")
    ts = r.ts * NS_PER_MS
    return BookSnapshot(
        venue=VENUE,
        symbol=canonical_symbol(VENUE, r.s),
        ts_event=ts,
        ts_recv=ts if ts_recv is None else ts_recv,
        bids=r.b,
        asks=r.a,
        update_id=r.u,
        cross_seq=r.seq,
    )


class RestRiskLimit(Struct, frozen=True):
    id: int  # risk id
    symbol: str
    riskLimitValue: str  # the tier's position-value cap, USD
    maintenanceMargin: str | float  # maintenance margin rate (linear: a fraction; inverse docs: percent)
    initialMargin: str | float  # initial margin rate
    maxLeverage: str  # allowed max leverage
    isLowestRisk: int = 0
    mmDeduction: str = ""  # maintenance-margin deduction (cum), "" when not given


def parse_risk_limit(body: bytes | str, *, symbol: str) -> list[dict[str, float]]:
    """``/v5/market/risk-limit`` → the symbol's tiers ``{notional_floor, notional_cap, mmr, cum,
    max_leverage}`` sorted by floor (a tier's floor is the previous tier's cap). Rates are fractions: rows
    whose ``initialMargin × maxLeverage`` is ~100 are in percent and get divided by 100. ``cum`` is
    ``mmDeduction`` or, when empty, ``cum_k = cum_{k−1} + floor_k·(mmr_k − mmr_{k−1})``."""

    r, _ = _result(body, _ListResult[RestRiskLimit], "risk-limit")
    name = _name(symbol)
    rows = sorted(
        (row for row in r.rows if row.symbol == name),
        key=lambda row: to_float(row.riskLimitValue, "riskLimitValue"),
    )
    if not rows:
        raise DecodeError(f"bybit risk-limit: no tiers for {name}")
    tiers: list[dict[str, float]] = []
    floor = 0.0
    prev_mmr = 0.0
    cum = 0.0
    for row in rows:
        cap = to_float(row.riskLimitValue, "riskLimitValue")
        mmr = to_float(row.maintenanceMargin, "maintenanceMargin")
        imr = to_float(row.initialMargin, "initialMargin")
        lev = to_float(row.maxLeverage, "maxLeverage")
        if imr * lev > 10.0:  # percent, not a fraction
            mmr /= 100.0
        cum = to_float(row.mmDeduction, "mmDeduction") if row.mmDeduction else cum + floor * (mmr - prev_mmr)
        if not (0.0 < mmr < 1.0 and cap > floor and lev > 0.0 and cum >= 0.0):
            raise DecodeError(f"bybit risk-limit {name}: bad tier {row}")
        tiers.append(
            {"notional_floor": floor, "notional_cap": cap, "mmr": mmr, "cum": cum, "max_leverage": lev}
        )
        floor, prev_mmr = cap, mmr
    return tiers
