"""Binance USD-M futures: wire schemas, the websocket decoder, stream/URL builders, REST requests/parsers.

Where a Binance liquidation becomes a :class:`~perpscope.model.Liquidation`: :meth:`Decoder._force_order`.
Semantics (docs: https://developers.binance.com/docs/derivatives/usds-margined-futures):

- ``forceOrder``: ``S`` is the side of the forced **order**; ``SELL`` closes a **long**. Price is the average
  fill ``ap`` and size the filled ``z`` (``p`` is only the order's limit price). Binance pushes at most one
  liquidation per symbol per 1000 ms, so liquidations from this feed are ``sampled`` (a lower bound).
- ``aggTrade``/``trade``: ``m=true`` means the buyer was the maker, i.e. the **seller** aggressed.
- Open interest is REST-only and one-sided, in the base coin.
- Maintenance-margin tiers (``GET /fapi/v1/leverageBracket``) need a signed request (API key): they are not
  public, so perpscope ships dated tier tables instead. :func:`parse_leverage_brackets` still reads a saved
  response into the common tier shape.
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

VENUE = Venue.BINANCE

# ---------------------------------------------------------------------------------------------------------
# Endpoints and limits: the one place for Binance URLs and constants (checked 2026-08, venues.md).
# WebSocket market streams: https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams
# Since 2026-04-23 fstream routes streams by path: /public for depth and bookTicker (and raw @trade),
# /market for aggTrade, markPrice, kline, forceOrder. A connection without a route gets only /public data.
WS_URL = "wss://fstream.binance.com"
REST_URL = "https://fapi.binance.com"
PUBLIC_ROUTE = "public"
MARKET_ROUTE = "market"
PUBLIC_ROUTE_KINDS = frozenset({"depth", "bookTicker", "trade"})  # every other stream goes to /market
MAX_STREAMS_PER_CONNECTION = 200
CONNECTION_LIFETIME_S = 24 * 3600  # the server closes a connection after 24 h
SERVER_PING_INTERVAL_S = 180  # the server pings every 3 min; the client answers pongs (no app-level ping)
MAX_INCOMING_MESSAGES_PER_S = 10  # client → server (subscribe/unsubscribe) messages per second
DEFAULT_FUNDING_INTERVAL_HOURS = 8.0  # unless /fapi/v1/fundingInfo says otherwise for the symbol
LIQUIDATION_SAMPLING_MS = 1000  # forceOrder: the latest liquidation per symbol per second only
REST_WEIGHT_LIMIT_PER_MIN = 2400  # per IP; 429 = slow down (Retry-After), 418 = banned, 451 = restricted
OPEN_INTEREST_HIST_MAX_LIMIT = 500  # /futures/data/openInterestHist: last 30 days only
FUNDING_RATE_MAX_LIMIT = 1000
KLINES_MAX_LIMIT = 1500
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)


@dataclass(frozen=True, kw_only=True)
class Endpoints:
    """Base URLs; override to point at the emulator (``Endpoints(ws="ws://127.0.0.1:8765", rest=...)``)."""

    ws: str = WS_URL
    rest: str = REST_URL


ENDPOINTS = Endpoints()

# Wire numbers are decimal strings. Decoders run with strict=False so msgspec converts them to float in C;
# these constraints apply the bounds of venues/_checks.py (NaN fails every comparison, so it is rejected).
Price = Annotated[float, Meta(gt=0.0, le=MAX_PRICE)]
Qty = Annotated[float, Meta(gt=0.0, le=MAX_QUANTITY)]
Qty0 = Annotated[float, Meta(ge=0.0, le=MAX_QUANTITY)]  # may be zero (a deleted book level, an empty bar)
TsMs = Annotated[int, Meta(ge=0, le=4_102_444_800_000)]  # epoch ms up to 2100 (doc examples use tiny values)
Level = tuple[Price, Qty0]

# ---------------------------------------------------------------------------------------------------------
# Raw websocket schemas (field names as on the wire)


class WsForceOrderOrder(Struct, frozen=True):
    s: str  # symbol, e.g. "BTCUSDT"
    S: Literal["BUY", "SELL"]  # side of the forced ORDER: SELL closes a long, BUY closes a short
    o: str  # order type ("LIMIT")
    f: str  # time in force ("IOC")
    q: Qty  # original quantity, base coin
    p: Price  # limit price of the forced order (not the fill price)
    ap: Price  # average fill price: the liquidation price we report
    X: str  # order status ("FILLED", "PARTIALLY_FILLED", ...)
    l: Qty0  # quantity filled by the last trade  # noqa: E741
    z: Qty0  # accumulated filled quantity: the liquidated size
    T: TsMs  # order trade time, ms


class WsForceOrder(Struct, frozen=True):
    e: Literal["forceOrder"]  # event type
    E: TsMs  # event time, ms
    o: WsForceOrderOrder  # the liquidation order


class WsAggTrade(Struct, frozen=True):
    e: Literal["aggTrade"]  # event type
    E: TsMs  # event time, ms
    s: str  # symbol
    a: int  # aggregate trade id
    p: Price  # price
    q: Qty  # quantity, base coin
    f: int  # first trade id
    l: int  # last trade id  # noqa: E741
    T: TsMs  # trade time, ms
    m: bool  # buyer is the maker → the SELLER aggressed


class WsTrade(Struct, frozen=True):
    e: Literal["trade"]  # event type
    E: TsMs  # event time, ms
    T: TsMs  # trade time, ms
    s: str  # symbol
    t: int  # trade id
    p: Price  # price
    q: Qty  # quantity, base coin
    X: str  # order type: "MARKET"; insurance-fund/ADL fills carry other values (not market flow)
    m: bool  # buyer is the maker → the SELLER aggressed


class WsMarkPrice(Struct, frozen=True):
    e: Literal["markPriceUpdate"]  # event type
    E: TsMs  # event time, ms
    s: str  # symbol
    p: str  # mark price
    i: str = ""  # index price
    P: str = ""  # estimated settle price (only meaningful in the last hour before delivery; not a rate)
    r: str = ""  # current (predicted) funding rate of the running interval; "" for delivery contracts
    T: int = 0  # next funding time, ms (0 for delivery contracts)


class WsDepthUpdate(Struct, frozen=True):
    e: Literal["depthUpdate"]  # event type
    E: TsMs  # event time, ms
    T: TsMs  # transaction time, ms
    s: str  # symbol
    U: int  # first update id in this event
    u: int  # final update id in this event
    pu: int  # final update id of the previous event (must equal the previous u, else resync)
    b: list[Level]  # bid levels [price, size]; size 0 deletes the level
    a: list[Level]  # ask levels


class WsKlineBar(Struct, frozen=True):
    t: TsMs  # bar open time, ms
    T: TsMs  # bar close time, ms
    s: str  # symbol
    i: str  # interval ("1m", "5m", "1h", ...)
    f: int  # first trade id
    L: int  # last trade id
    o: Price  # open
    c: Price  # close
    h: Price  # high
    l: Price  # low  # noqa: E741
    v: Qty0  # base volume
    n: int  # number of trades
    x: bool  # is this bar closed?
    q: Qty0  # quote volume (USDT)
    V: Qty0  # taker buy base volume
    Q: Qty0  # taker buy quote volume
    B: str = "0"  # ignore


class WsKline(Struct, frozen=True):
    e: Literal["kline"]  # event type
    E: TsMs  # event time, ms
    s: str  # symbol
    k: WsKlineBar  # the bar


class WsBookTicker(Struct, frozen=True):
    e: Literal["bookTicker"]  # event type
    u: int  # order book update id
    s: str  # symbol
    b: Price  # best bid price
    B: Qty0  # best bid size
    a: Price  # best ask price
    A: Qty0  # best ask size
    T: TsMs  # transaction time, ms
    E: TsMs  # event time, ms


class DepthSnapshot(Struct, frozen=True):
    """``GET /fapi/v1/depth`` (also found as a bare line in recorded captures)."""

    lastUpdateId: int  # sync point: drop diffs with u < lastUpdateId; first applied has U <= id <= u
    bids: list[Level]  # best first
    asks: list[Level]  # best first
    E: TsMs = 0  # message output time, ms
    T: TsMs = 0  # transaction time, ms


_NO_RAW = Raw()  # msgspec cannot make Raw optional: an empty Raw marks an absent field


class _Envelope(Struct, frozen=True):
    """Just enough of any message to route it: the combined-stream wrapper, a bare event, a REST depth
    snapshot, or a reply to a SUBSCRIBE request."""

    stream: str | None = None  # combined-stream name, e.g. "btcusdt@depth@100ms"
    data: Raw = _NO_RAW  # the raw payload of a combined-stream message
    e: str | None = None  # event type of a bare payload
    lastUpdateId: int | None = None  # a REST depth snapshot
    id: int | str | None = None  # reply to a client request
    error: Raw = _NO_RAW  # {"code":..,"msg":..} in a failed reply


T = TypeVar("T")


class _Combined(Struct, Generic[T], frozen=True):
    """The combined-stream wrapper with a typed payload: the hot path decodes a message in one pass."""

    stream: str  # stream name
    data: T  # the payload


class _Channel:
    """One kind of stream: its payload type (decoders built once) and the Decoder method that handles it."""

    __slots__ = ("combined", "handler", "payload")

    def __init__(self, tp: object, handler: str) -> None:
        self.payload = msgspec.json.Decoder(tp, strict=False)
        self.combined = msgspec.json.Decoder(_Combined[tp], strict=False)  # type: ignore[valid-type]
        self.handler = handler


_CHANNELS: dict[str, _Channel] = {
    # !forceOrder@arr sends single objects like <symbol>@forceOrder; an array is accepted defensively.
    "forceOrder": _Channel(WsForceOrder | list[WsForceOrder], "_on_force_order"),
    "aggTrade": _Channel(WsAggTrade, "_on_agg_trade"),
    "trade": _Channel(WsTrade, "_on_trade"),
    "markPrice": _Channel(WsMarkPrice, "_on_mark_price"),
    "markPrice@arr": _Channel(list[WsMarkPrice], "_on_mark_prices"),
    "depth": _Channel(WsDepthUpdate, "_on_depth"),
    "depthN": _Channel(WsDepthUpdate, "_on_partial_depth"),
    "kline": _Channel(WsKline, "_on_kline"),
    "bookTicker": _Channel(WsBookTicker, "_on_book_ticker"),
}
_EVENT_CHANNELS = {  # bare payloads, by their "e"
    "forceOrder": "forceOrder",
    "aggTrade": "aggTrade",
    "trade": "trade",
    "markPriceUpdate": "markPrice",
    "depthUpdate": "depth",
    "kline": "kline",
    "bookTicker": "bookTicker",
}
_ENVELOPE = msgspec.json.Decoder(_Envelope)
_RAW_LIST = msgspec.json.Decoder(list[Raw])
_DEPTH_SNAPSHOT = msgspec.json.Decoder(DepthSnapshot, strict=False)
_STREAM_PREFIX = b'{"stream":"'


def channel_of(stream: str) -> str:
    """The ``_CHANNELS`` key of a stream name; UnknownChannel for streams this adapter does not decode."""

    kind = stream_kind(stream)
    if kind in ("depth5", "depth10", "depth20"):
        return "depthN"
    if kind == "markPrice" and stream.startswith("!"):
        return "markPrice@arr"
    if kind not in _CHANNELS:
        raise UnknownChannel(f"binance: unknown stream {stream!r}")
    return kind


KLINE_INTERVALS_S: dict[str, int] = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
    "3d": 259200,
    "1w": 604800,
}  # "1M" (calendar month) has no fixed length: not supported


def interval_seconds(interval: str) -> int:
    try:
        return KLINE_INTERVALS_S[interval]
    except KeyError:
        raise DecodeError(f"binance: unsupported kline interval {interval!r}") from None


_MAX_RATE = 1.0  # |funding rate| per interval above 100 % is corrupt data, not a market


def _rate(value: object, name: str) -> float:
    x = to_float(value, name)
    if abs(x) > _MAX_RATE:
        raise DecodeError(f"{name}: absurd funding rate {x!r}")
    return x


def _mark_and_funding(
    symbol: str,
    ts_event: int,
    ts_recv: int,
    *,
    mark: tuple[str, str, str],  # (value, wire field, name in errors)
    index: tuple[str, str, str],
    rate: tuple[str, str],  # (value, wire field); empty value: no Funding event
    interval_hours: float,
    next_ms: int | None,
) -> list[AnyEvent]:
    """MarkPrice (and Funding when a rate is present) from the markPrice stream or the premiumIndex row:
    both carry the same quantities under different names."""

    idx = check_price(to_float(index[0], index[1]), index[2]) if index[0] else None
    out: list[AnyEvent] = [
        MarkPrice(
            venue=VENUE,
            symbol=symbol,
            ts_event=ts_event,
            ts_recv=ts_recv,
            mark_price=check_price(to_float(mark[0], mark[1]), mark[2]),
            index_price=idx,
        )
    ]
    if rate[0]:
        out.append(
            Funding(
                venue=VENUE,
                symbol=symbol,
                ts_event=ts_event,
                ts_recv=ts_recv,
                rate=_rate(rate[0], rate[1]),
                interval_hours=interval_hours,
                next_funding_ts=next_ms * NS_PER_MS if next_ms else None,
            )
        )
    return out


def _is_array(data: Raw | bytes | str) -> bool:
    if isinstance(data, str):
        return data.lstrip()[:1] == "["
    return bytes(memoryview(data)[:64]).lstrip()[:1] == b"["


_Route = tuple[msgspec.json.Decoder, msgspec.json.Decoder, Callable[[object, int], list[AnyEvent]]]


class Decoder:
    """Decodes Binance USD-M websocket messages (combined-stream wrapper or bare payloads) and REST depth
    snapshot lines into normalized events.

    Channels: ``forceOrder`` / ``!forceOrder@arr`` → Liquidation; ``aggTrade``, ``trade`` → Trade;
    ``markPrice`` (and ``!markPrice@arr``) → MarkPrice + Funding; ``depth`` diffs → BookDelta
    (``depth5/10/20`` partial books → BookSnapshot); ``kline_*`` → Candle. ``bookTicker`` is decoded and
    validated but emits no event (the book streams carry the same information); it is counted in
    :attr:`counts`. Messages without events are counted there too: subscribe replies (``control``), symbols
    that are not USDT perpetuals (``not_usdt_perp``, e.g. delivery contracts in ``!forceOrder@arr``), raw
    trades that are not market flow (``non_market_trade``), unfilled forced orders (``unfilled_liquidation``).

    A REST depth snapshot has no symbol: it takes ``symbol`` if given, else the symbol of the depth stream
    already seen on this connection.
    """

    def __init__(
        self,
        instruments: object = None,
        *,
        symbol: str | None = None,
        funding_interval_hours: Mapping[str, float] | None = None,
    ) -> None:
        del instruments  # Binance quantities are already in the base coin: no contract sizes needed
        self.counts: Counter[str] = Counter()
        self._snapshot_symbol = symbol.upper() if symbol else None
        self._depth_symbols: set[str] = set()
        self._intervals = {k.upper(): float(v) for k, v in (funding_interval_hours or {}).items()}
        self._canon: dict[str, str | None] = {}
        self._routes: dict[bytes | str, _Route] = {}  # by stream name (bytes on the hot path) or event type

    def _route(self, channel: str) -> _Route:
        ch = _CHANNELS[channel]
        return ch.combined, ch.payload, getattr(self, ch.handler)

    # -- entry point ----------------------------------------------------------------------------------------
    def decode(self, raw: bytes | str, ts_recv: int) -> list[AnyEvent]:
        if type(raw) is bytes and raw.startswith(_STREAM_PREFIX):
            # Hot path: read the stream name from the bytes and decode wrapper + typed payload in one pass.
            end = raw.find(b'"', 11)
            key = raw[11:end]
            route = self._routes.get(key)
            if route is None:
                route = self._routes[key] = self._route(channel_of(key.decode(errors="replace")))
            try:
                msg = route[0].decode(raw)
            except msgspec.ValidationError as exc:
                raise DecodeError(f"binance {key.decode(errors='replace')}: {exc}") from None
            except msgspec.DecodeError as exc:
                raise DecodeError(f"binance: malformed JSON: {exc}") from None
            return route[2](msg.data, ts_recv)
        return self._decode_other(raw, ts_recv)

    def _decode_other(self, raw: bytes | str, ts_recv: int) -> list[AnyEvent]:
        """Wrappers with other key order, bare payloads, arrays, depth snapshots, request replies."""

        try:
            env = _ENVELOPE.decode(raw)
        except msgspec.ValidationError as exc:
            if _is_array(raw):
                return self._decode_array(raw, ts_recv)  # a bare JSON array (e.g. !markPrice@arr)
            raise DecodeError(f"binance: {exc}") from None
        except msgspec.DecodeError as exc:
            raise DecodeError(f"binance: malformed JSON: {exc}") from None
        try:
            if env.stream is not None:
                if not env.data:
                    raise DecodeError(f"binance {env.stream}: combined message without data")
                route = self._routes.get(env.stream)
                if route is None:
                    route = self._routes[env.stream] = self._route(channel_of(env.stream))
                return route[2](route[1].decode(env.data), ts_recv)
            if env.e is not None:
                route = self._routes.get(env.e)
                if route is None:
                    channel = _EVENT_CHANNELS.get(env.e)
                    if channel is None:
                        raise UnknownChannel(f"binance: unknown event type {env.e!r}")
                    route = self._routes[env.e] = self._route(channel)
                return route[2](route[1].decode(raw), ts_recv)
            if env.lastUpdateId is not None:
                return [self._snapshot(raw, ts_recv)]
            if env.error:
                raise DecodeError(f"binance: request {env.id!r} failed: {bytes(env.error).decode()}")
            if env.id is not None:
                self.counts["control"] += 1
                return []
        except msgspec.DecodeError as exc:
            raise DecodeError(f"binance {env.stream or env.e or 'depth snapshot'}: {exc}") from None
        raise UnknownChannel("binance: message has no stream, event type or lastUpdateId")

    def _decode_array(self, raw: bytes | str, ts_recv: int) -> list[AnyEvent]:
        try:
            items = _RAW_LIST.decode(raw)
        except msgspec.DecodeError:
            raise DecodeError("binance: message is neither a JSON object nor an array") from None
        out: list[AnyEvent] = []
        for item in items:
            out.extend(self.decode(bytes(item), ts_recv))
        return out

    def _symbol(self, instrument: str) -> str | None:
        """Canonical symbol, or None (counted) for anything that is not a USDT perpetual."""

        try:
            return self._canon[instrument]
        except KeyError:
            pass
        try:
            sym: str | None = canonical_symbol(VENUE, instrument)
        except DecodeError:
            sym = None
        if sym is not None and not instrument.isalnum():
            sym = None  # delivery contracts: "BTCUSDT_250328"
        self._canon[instrument] = sym
        return sym

    def _skip(self) -> list[AnyEvent]:
        self.counts["not_usdt_perp"] += 1
        return []

    # -- channels -------------------------------------------------------------------------------------------
    def _on_force_order(self, msg: WsForceOrder | list[WsForceOrder], ts_recv: int) -> list[AnyEvent]:
        if isinstance(msg, list):
            return [ev for m in msg for ev in self._on_force_order(m, ts_recv)]
        o = msg.o
        symbol = self._symbol(o.s)
        if symbol is None:
            return self._skip()
        if o.z == 0.0:
            self.counts["unfilled_liquidation"] += 1
            return []
        # The order's side is the opposite of the position: a SELL order closes a long.
        side = PositionSide.LONG if o.S == "SELL" else PositionSide.SHORT
        return [
            Liquidation(
                venue=VENUE,
                symbol=symbol,
                ts_event=o.T * NS_PER_MS,
                ts_recv=ts_recv,
                side=side,
                price=o.ap,
                quantity=o.z,
                notional_usd=check_notional(o.ap * o.z),
                sampled=True,
            )
        ]

    def _on_agg_trade(self, m: WsAggTrade, ts_recv: int) -> list[AnyEvent]:
        symbol = self._symbol(m.s)
        if symbol is None:
            return self._skip()
        notional = m.p * m.q
        if notional > MAX_NOTIONAL_USD:
            check_notional(notional)
        return [
            Trade(
                venue=VENUE,
                symbol=symbol,
                ts_event=m.T * NS_PER_MS,
                ts_recv=ts_recv,
                side=Side.SELL if m.m else Side.BUY,
                price=m.p,
                quantity=m.q,
                notional_usd=notional,
                trade_id=str(m.a),
            )
        ]

    def _on_trade(self, m: WsTrade, ts_recv: int) -> list[AnyEvent]:
        symbol = self._symbol(m.s)
        if symbol is None:
            return self._skip()
        if m.X != "MARKET":
            # Insurance-fund and ADL fills are not taker flow; aggTrade leaves them out too.
            self.counts["non_market_trade"] += 1
            return []
        notional = m.p * m.q
        if notional > MAX_NOTIONAL_USD:
            check_notional(notional)
        return [
            Trade(
                venue=VENUE,
                symbol=symbol,
                ts_event=m.T * NS_PER_MS,
                ts_recv=ts_recv,
                side=Side.SELL if m.m else Side.BUY,
                price=m.p,
                quantity=m.q,
                notional_usd=notional,
                trade_id=str(m.t),
            )
        ]

    def _on_mark_prices(self, msgs: list[WsMarkPrice], ts_recv: int) -> list[AnyEvent]:
        return [ev for m in msgs for ev in self._on_mark_price(m, ts_recv)]

    def _on_mark_price(self, m: WsMarkPrice, ts_recv: int) -> list[AnyEvent]:
        symbol = self._symbol(m.s)
        if symbol is None:
            return self._skip()
        return _mark_and_funding(
            symbol,
            m.E * NS_PER_MS,
            ts_recv,
            mark=(m.p, "p", "mark price"),
            index=(m.i, "i", "index price"),
            rate=(m.r, "r"),
            interval_hours=self._intervals.get(symbol, DEFAULT_FUNDING_INTERVAL_HOURS),
            next_ms=m.T if m.T > 0 else None,
        )

    def _on_depth(self, m: WsDepthUpdate, ts_recv: int) -> list[AnyEvent]:
        symbol = self._symbol(m.s)
        if symbol is None:
            return self._skip()
        self._depth_symbols.add(symbol)
        return [
            BookDelta(
                venue=VENUE,
                symbol=symbol,
                ts_event=m.T * NS_PER_MS,
                ts_recv=ts_recv,
                bids=m.b,
                asks=m.a,
                update_id=m.u,
                first_update_id=m.U,
                prev_update_id=m.pu,
            )
        ]

    def _on_partial_depth(self, m: WsDepthUpdate, ts_recv: int) -> list[AnyEvent]:
        """``<symbol>@depth<N>``: the top N levels, a book that replaces the local one."""

        symbol = self._symbol(m.s)
        if symbol is None:
            return self._skip()
        return [
            BookSnapshot(
                venue=VENUE,
                symbol=symbol,
                ts_event=m.T * NS_PER_MS,
                ts_recv=ts_recv,
                bids=m.b,
                asks=m.a,
                update_id=m.u,
            )
        ]

    def _snapshot(self, raw: Raw | bytes | str, ts_recv: int) -> BookSnapshot:
        symbol = self._snapshot_symbol
        if symbol is None:
            if len(self._depth_symbols) != 1:
                raise DecodeError(
                    "binance: depth snapshot without a symbol and no single depth stream seen before it "
                    "(pass Decoder(symbol=...))"
                )
            symbol = next(iter(self._depth_symbols))
        return parse_depth_snapshot(raw, symbol=symbol, ts_recv=ts_recv)

    def _on_kline(self, m: WsKline, ts_recv: int) -> list[AnyEvent]:
        k = m.k
        symbol = self._symbol(k.s)
        if symbol is None:
            return self._skip()
        return [
            Candle(
                venue=VENUE,
                symbol=symbol,
                ts_event=k.t * NS_PER_MS,
                ts_recv=ts_recv,
                interval_s=interval_seconds(k.i),
                open=k.o,
                high=k.h,
                low=k.l,
                close=k.c,
                volume=k.v,
                quote_volume=k.q,
                taker_buy_volume=k.V,
                closed=k.x,
            )
        ]

    def _on_book_ticker(self, m: WsBookTicker, ts_recv: int) -> list[AnyEvent]:
        # Validated by decoding; best bid/ask is already in the book streams, so no event.
        self.counts["bookTicker"] += 1
        return []


# ---------------------------------------------------------------------------------------------------------
# Stream names and combined-stream URLs


def stream_kind(stream: str) -> str:
    """``btcusdt@depth@100ms`` → ``depth``; ``btcusdt@kline_1m`` → ``kline``; ``!forceOrder@arr`` →
    ``forceOrder``; ``btcusdt@depth20@100ms`` → ``depth20``."""

    name = stream[1:] if stream.startswith("!") else stream.split("@", 1)[-1]
    kind = name.split("@", 1)[0]
    return kind.split("_", 1)[0] if kind.startswith(("kline_", "continuousKline_")) else kind


def stream_route(stream: str) -> Literal["public", "market"]:
    """The 2026 fstream route a stream must be requested on."""

    kind = stream_kind(stream)
    return PUBLIC_ROUTE if kind.rstrip("0123456789") in PUBLIC_ROUTE_KINDS else MARKET_ROUTE


def _name(symbol: str) -> str:
    return venue_symbol(VENUE, symbol).lower()


def liquidation_stream(symbol: str) -> str:
    return f"{_name(symbol)}@forceOrder"


ALL_LIQUIDATIONS_STREAM = (
    "!forceOrder@arr"  # every symbol (incl. delivery contracts: filtered by the decoder)
)


def agg_trade_stream(symbol: str) -> str:
    return f"{_name(symbol)}@aggTrade"


def trade_stream(symbol: str) -> str:
    return f"{_name(symbol)}@trade"


def mark_price_stream(symbol: str, *, every_1s: bool = True) -> str:
    return f"{_name(symbol)}@markPrice" + ("@1s" if every_1s else "")


def depth_stream(symbol: str, *, speed_ms: Literal[100, 250, 500] = 100) -> str:
    return f"{_name(symbol)}@depth" + ("" if speed_ms == 250 else f"@{speed_ms}ms")


def kline_stream(symbol: str, *, interval: str = "1m") -> str:
    interval_seconds(interval)
    return f"{_name(symbol)}@kline_{interval}"


def book_ticker_stream(symbol: str) -> str:
    return f"{_name(symbol)}@bookTicker"


def combined_stream_urls(
    streams: Iterable[str],
    *,
    endpoints: Endpoints = ENDPOINTS,
    max_streams: int = MAX_STREAMS_PER_CONNECTION,
) -> list[str]:
    """One combined-stream URL per connection: streams grouped by route (/public, /market) and split into
    chunks of at most ``max_streams`` (Binance allows 200 per connection)."""

    if not 1 <= max_streams <= MAX_STREAMS_PER_CONNECTION:
        raise ValueError(f"max_streams must be 1..{MAX_STREAMS_PER_CONNECTION}")
    by_route: dict[str, list[str]] = {PUBLIC_ROUTE: [], MARKET_ROUTE: []}
    for stream in dict.fromkeys(streams):  # de-duplicated, order kept
        by_route[stream_route(stream)].append(stream)
    base = endpoints.ws.rstrip("/")
    urls = []
    for route, names in by_route.items():
        for i in range(0, len(names), max_streams):
            urls.append(f"{base}/{route}/stream?streams=" + "/".join(names[i : i + max_streams]))
    return urls


# ---------------------------------------------------------------------------------------------------------
# REST requests (https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api)


def _req(path: str, params: dict[str, str | int | None], *, weight: int, endpoints: Endpoints) -> RestRequest:
    clean = {k: v for k, v in params.items() if v is not None}
    return RestRequest(method="GET", base_url=endpoints.rest, path=path, params=clean, weight=weight)


def open_interest_request(symbol: str, *, endpoints: Endpoints = ENDPOINTS) -> RestRequest:
    return _req(
        "/fapi/v1/openInterest", {"symbol": venue_symbol(VENUE, symbol)}, weight=1, endpoints=endpoints
    )


def open_interest_hist_request(
    symbol: str,
    *,
    period: Literal["5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"] = "5m",
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = OPEN_INTEREST_HIST_MAX_LIMIT,
    endpoints: Endpoints = ENDPOINTS,
) -> RestRequest:
    """Last 30 days only; limited to 1000 requests / 5 min / IP."""

    params: dict[str, str | int | None] = {
        "symbol": venue_symbol(VENUE, symbol),
        "period": period,
        "limit": _limit(limit, 500),
    }
    params.update(startTime=start_ms, endTime=end_ms)
    return _req("/futures/data/openInterestHist", params, weight=1, endpoints=endpoints)


def funding_rate_request(
    symbol: str,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = FUNDING_RATE_MAX_LIMIT,
    endpoints: Endpoints = ENDPOINTS,
) -> RestRequest:
    params: dict[str, str | int | None] = {
        "symbol": venue_symbol(VENUE, symbol),
        "limit": _limit(limit, FUNDING_RATE_MAX_LIMIT),
    }
    params.update(startTime=start_ms, endTime=end_ms)
    return _req("/fapi/v1/fundingRate", params, weight=1, endpoints=endpoints)


def premium_index_request(symbol: str | None = None, *, endpoints: Endpoints = ENDPOINTS) -> RestRequest:
    """Mark/index price and the current funding rate; every symbol when ``symbol`` is None."""

    params: dict[str, str | int | None] = {"symbol": venue_symbol(VENUE, symbol)} if symbol else {}
    return _req("/fapi/v1/premiumIndex", params, weight=1 if symbol else 10, endpoints=endpoints)


def funding_info_request(*, endpoints: Endpoints = ENDPOINTS) -> RestRequest:
    """Symbols whose funding cap/floor/interval differ from the defaults."""

    return _req("/fapi/v1/fundingInfo", {}, weight=1, endpoints=endpoints)


def klines_request(
    symbol: str,
    *,
    interval: str = "5m",
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = KLINES_MAX_LIMIT,
    endpoints: Endpoints = ENDPOINTS,
) -> RestRequest:
    interval_seconds(interval)
    limit = _limit(limit, KLINES_MAX_LIMIT)
    weight = 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
    params: dict[str, str | int | None] = {
        "symbol": venue_symbol(VENUE, symbol),
        "interval": interval,
        "limit": limit,
    }
    params.update(startTime=start_ms, endTime=end_ms)
    return _req("/fapi/v1/klines", params, weight=weight, endpoints=endpoints)


def depth_request(symbol: str, *, limit: int = 1000, endpoints: Endpoints = ENDPOINTS) -> RestRequest:
    if limit not in DEPTH_LIMITS:
        raise ValueError(f"depth limit must be one of {DEPTH_LIMITS}")
    weight = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}[limit]
    params: dict[str, str | int | None] = {"symbol": venue_symbol(VENUE, symbol), "limit": limit}
    return _req("/fapi/v1/depth", params, weight=weight, endpoints=endpoints)


def exchange_info_request(*, endpoints: Endpoints = ENDPOINTS) -> RestRequest:
    return _req("/fapi/v1/exchangeInfo", {}, weight=1, endpoints=endpoints)


def _limit(limit: int, maximum: int) -> int:
    if not 1 <= limit <= maximum:
        raise ValueError(f"limit must be 1..{maximum}, got {limit}")
    return limit


# ---------------------------------------------------------------------------------------------------------
# REST response schemas and parsers


class RestError(Struct, frozen=True):
    code: int  # negative Binance error code, e.g. -1121 invalid symbol
    msg: str  # message


class RestOpenInterest(Struct, frozen=True):
    symbol: str  # e.g. "BTCUSDT"
    openInterest: str  # one side, base coin
    time: int  # ms


class RestOpenInterestHist(Struct, frozen=True):
    symbol: str
    sumOpenInterest: str  # one side, base coin
    sumOpenInterestValue: str  # one side, USD
    timestamp: int  # ms


class RestFundingRate(Struct, frozen=True):
    symbol: str
    fundingRate: str  # settled rate (fraction per interval)
    fundingTime: int  # settlement time, ms
    markPrice: str = ""  # mark price at settlement ("" on old rows)


class RestPremiumIndex(Struct, frozen=True):
    symbol: str
    markPrice: str  # mark price
    indexPrice: str  # index price
    estimatedSettlePrice: str  # not a rate
    lastFundingRate: str  # despite the name: the running interval's current (predicted) rate
    nextFundingTime: int  # ms
    interestRate: str = ""  # interest component of funding
    time: int = 0  # ms


class FundingInfo(Struct, frozen=True):
    """One row of ``/fapi/v1/fundingInfo`` (only symbols with non-default settings are listed)."""

    symbol: str  # venue symbol
    adjustedFundingRateCap: str  # max funding rate per interval
    adjustedFundingRateFloor: str  # min funding rate per interval
    fundingIntervalHours: int  # hours between settlements
    disclaimer: bool = False


class SymbolInfo(Struct, frozen=True, kw_only=True):
    """The trading rules perpscope needs from ``/fapi/v1/exchangeInfo`` for one USDT perpetual."""

    symbol: str  # canonical, "BTC"
    venue_symbol: str  # "BTCUSDT"
    status: str  # "TRADING", "SETTLING", ...
    tick_size: float  # price increment
    step_size: float  # quantity increment, base coin
    min_qty: float  # base coin
    min_notional: float | None = None  # USD


class _Filter(Struct, frozen=True):
    filterType: str
    tickSize: str | None = None  # PRICE_FILTER
    stepSize: str | None = None  # LOT_SIZE
    minQty: str | None = None  # LOT_SIZE
    notional: str | None = None  # MIN_NOTIONAL


class _ExchangeSymbol(Struct, frozen=True):
    symbol: str
    contractType: str  # "PERPETUAL", "CURRENT_QUARTER", ...
    status: str
    quoteAsset: str
    filters: list[_Filter]


class _ExchangeInfo(Struct, frozen=True):
    symbols: list[_ExchangeSymbol]


_KlineRow = tuple[int, str, str, str, str, str, int, str, int, str, str, str]


def _body(body: bytes | str, tp: object, what: str) -> object:
    try:
        return msgspec.json.decode(body, type=tp)
    except msgspec.DecodeError as exc:
        try:
            err = msgspec.json.decode(body, type=RestError)
        except msgspec.DecodeError:
            raise DecodeError(f"binance {what}: {exc}") from None
        raise DecodeError(f"binance {what}: error {err.code}: {err.msg}") from None


def _canonical(instrument: str) -> str:
    return canonical_symbol(VENUE, instrument)


def parse_open_interest(body: bytes | str, *, mark_price: float, ts_recv: int | None = None) -> OpenInterest:
    """``/fapi/v1/openInterest`` → one-sided OpenInterest; the venue gives coins only, so the USD value uses
    ``mark_price`` (e.g. from :func:`parse_premium_index`)."""

    m: RestOpenInterest = _body(body, RestOpenInterest, "openInterest")  # type: ignore[assignment]
    oi = check_quantity(to_float(m.openInterest, "openInterest"), "openInterest", allow_zero=True)
    ts = m.time * NS_PER_MS
    return OpenInterest(
        venue=VENUE,
        symbol=_canonical(m.symbol),
        ts_event=ts,
        ts_recv=ts if ts_recv is None else ts_recv,
        oi_base=oi,
        oi_usd=check_notional(oi * check_price(mark_price, "mark_price"), "oi_usd"),
    )


def parse_open_interest_hist(body: bytes | str) -> list[OpenInterest]:
    """``/futures/data/openInterestHist`` → OpenInterest per period (one side; ``ts_event`` = row time)."""

    rows: list[RestOpenInterestHist] = _body(body, list[RestOpenInterestHist], "openInterestHist")  # type: ignore[assignment]
    out = []
    for r in rows:
        ts = r.timestamp * NS_PER_MS
        oi = check_quantity(
            to_float(r.sumOpenInterest, "sumOpenInterest"), "sumOpenInterest", allow_zero=True
        )
        usd = check_notional(to_float(r.sumOpenInterestValue, "sumOpenInterestValue"), "sumOpenInterestValue")
        out.append(
            OpenInterest(
                venue=VENUE, symbol=_canonical(r.symbol), ts_event=ts, ts_recv=ts, oi_base=oi, oi_usd=usd
            )
        )
    out.sort(key=lambda e: e.ts_event)
    return out


def _infer_interval_hours(times_ms: Sequence[int]) -> float:
    """The most common spacing of settlement times, in hours (8 when there is too little history)."""

    ordered = sorted(set(times_ms))
    gaps = Counter(round((b - a) / 3_600_000) for a, b in itertools.pairwise(ordered))
    gaps.pop(0, None)
    return float(gaps.most_common(1)[0][0]) if gaps else DEFAULT_FUNDING_INTERVAL_HOURS


def parse_funding_rate(body: bytes | str, *, interval_hours: float | None = None) -> list[Funding]:
    """``/fapi/v1/fundingRate`` → settled Funding events (``rate`` = ``settled_rate``), oldest first. The
    interval is ``interval_hours`` or else inferred from the spacing of the rows."""

    rows: list[RestFundingRate] = _body(body, list[RestFundingRate], "fundingRate")  # type: ignore[assignment]
    hours = (
        interval_hours if interval_hours is not None else _infer_interval_hours([r.fundingTime for r in rows])
    )
    out = []
    for r in sorted(rows, key=lambda r: r.fundingTime):
        ts = r.fundingTime * NS_PER_MS
        rate = _rate(r.fundingRate, "fundingRate")
        out.append(
            Funding(
                venue=VENUE,
                symbol=_canonical(r.symbol),
                ts_event=ts,
                ts_recv=ts,
                rate=rate,
                interval_hours=hours,
                settled_rate=rate,
            )
        )
    return out


def parse_premium_index(
    body: bytes | str,
    *,
    ts_recv: int | None = None,
    funding_interval_hours: Mapping[str, float] | None = None,
) -> list[MarkPrice | Funding]:
    """``/fapi/v1/premiumIndex`` (one object or the all-symbols array) → MarkPrice and Funding per USDT
    perpetual; other contracts are skipped."""

    m = _body(body, RestPremiumIndex | list[RestPremiumIndex], "premiumIndex")
    rows: list[RestPremiumIndex] = m if isinstance(m, list) else [m]  # type: ignore[list-item]
    intervals = {k.upper(): v for k, v in (funding_interval_hours or {}).items()}
    out: list[MarkPrice | Funding] = []
    for r in rows:
        if not r.symbol.isalnum():
            continue  # delivery contract
        try:
            symbol = _canonical(r.symbol)
        except DecodeError:
            continue
        ts = r.time * NS_PER_MS
        out += _mark_and_funding(
            symbol,
            ts,
            ts if ts_recv is None else ts_recv,
            mark=(r.markPrice, "markPrice", "markPrice"),
            index=(r.indexPrice, "indexPrice", "indexPrice"),
            rate=(r.lastFundingRate, "lastFundingRate"),
            interval_hours=intervals.get(symbol, DEFAULT_FUNDING_INTERVAL_HOURS),
            next_ms=r.nextFundingTime or None,
        )
    return out


def parse_funding_info(body: bytes | str) -> list[FundingInfo]:
    """``/fapi/v1/fundingInfo`` → rows; see :func:`funding_intervals` for the canonical-symbol map."""

    rows: list[FundingInfo] = _body(body, list[FundingInfo], "fundingInfo")  # type: ignore[assignment]
    for r in rows:
        if not 1 <= r.fundingIntervalHours <= 24:
            raise DecodeError(
                f"binance fundingInfo: {r.symbol}: fundingIntervalHours {r.fundingIntervalHours}"
            )
        _rate(r.adjustedFundingRateCap, "adjustedFundingRateCap")
        _rate(r.adjustedFundingRateFloor, "adjustedFundingRateFloor")
    return rows


def funding_intervals(rows: Iterable[FundingInfo]) -> dict[str, float]:
    """Canonical symbol → funding interval hours, for ``Decoder(funding_interval_hours=...)``."""

    out = {}
    for r in rows:
        if r.symbol.isalnum() and r.symbol.endswith("USDT"):
            out[_canonical(r.symbol)] = float(r.fundingIntervalHours)
    return out


def parse_klines(
    body: bytes | str, *, symbol: str, interval: str, now_ms: int | None = None, ts_recv: int | None = None
) -> list[Candle]:
    """``/fapi/v1/klines`` rows → Candles (oldest first). A bar whose close time is not before ``now_ms`` is
    still forming (``closed=False``); without ``now_ms`` every bar is taken as closed."""

    rows: list[_KlineRow] = _body(body, list[_KlineRow], "klines")  # type: ignore[assignment]
    seconds = interval_seconds(interval)
    sym = symbol.upper()
    out = []
    for row in rows:
        open_ms, o, h, lo, c, v, close_ms, qv, _n, tbv = row[:10]
        ts = open_ms * NS_PER_MS
        out.append(
            Candle(
                venue=VENUE,
                symbol=sym,
                ts_event=ts,
                ts_recv=ts if ts_recv is None else ts_recv,
                interval_s=seconds,
                open=check_price(to_float(o, "open"), "open"),
                high=check_price(to_float(h, "high"), "high"),
                low=check_price(to_float(lo, "low"), "low"),
                close=check_price(to_float(c, "close"), "close"),
                volume=check_quantity(to_float(v, "volume"), "volume", allow_zero=True),
                quote_volume=check_notional(to_float(qv, "quote_volume"), "quote_volume"),
                taker_buy_volume=check_quantity(
                    to_float(tbv, "taker_buy_volume"), "taker_buy_volume", allow_zero=True
                ),
                closed=now_ms is None or close_ms < now_ms,
            )
        )
    out.sort(key=lambda e: e.ts_event)
    return out


def parse_depth_snapshot(body: Raw | bytes | str, *, symbol: str, ts_recv: int | None = None) -> BookSnapshot:
    """``/fapi/v1/depth`` → BookSnapshot (``update_id`` = ``lastUpdateId``). The response has no symbol."""

    try:
        m = _DEPTH_SNAPSHOT.decode(body)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"binance depth snapshot: {exc}") from None
    ts_ms = m.T or m.E
    ts = ts_ms * NS_PER_MS if ts_ms else (ts_recv or 0)
    return BookSnapshot(
        venue=VENUE,
        symbol=symbol.upper(),
        ts_event=ts,
        ts_recv=ts if ts_recv is None else ts_recv,
        bids=m.bids,
        asks=m.asks,
        update_id=m.lastUpdateId,
    )


def parse_exchange_info(body: bytes | str) -> list[SymbolInfo]:
    """``/fapi/v1/exchangeInfo`` → tick/step sizes of the USDT perpetuals (other contracts skipped)."""

    info: _ExchangeInfo = _body(body, _ExchangeInfo, "exchangeInfo")  # type: ignore[assignment]
    out = []
    for s in info.symbols:
        if s.contractType != "PERPETUAL" or s.quoteAsset != "USDT":
            continue
        f = {flt.filterType: flt for flt in s.filters}
        price_filter, lot = f.get("PRICE_FILTER"), f.get("LOT_SIZE")
        if price_filter is None or lot is None or not price_filter.tickSize or not lot.stepSize:
            raise DecodeError(f"binance exchangeInfo: {s.symbol}: missing PRICE_FILTER/LOT_SIZE")
        min_notional = f.get("MIN_NOTIONAL")
        out.append(
            SymbolInfo(
                symbol=_canonical(s.symbol),
                venue_symbol=s.symbol,
                status=s.status,
                tick_size=check_price(to_float(price_filter.tickSize, "tickSize"), "tickSize"),
                step_size=check_quantity(to_float(lot.stepSize, "stepSize"), "stepSize"),
                min_qty=check_quantity(to_float(lot.minQty or "0", "minQty"), "minQty", allow_zero=True),
                min_notional=to_float(min_notional.notional, "notional")
                if min_notional and min_notional.notional
                else None,
            )
        )
    return out


class _Bracket(Struct, frozen=True):
    bracket: int  # tier number, 1 = smallest notional
    initialLeverage: float  # max leverage in this tier
    notionalCap: float  # USD
    notionalFloor: float  # USD
    maintMarginRatio: float  # fraction
    cum: float  # maintenance amount, USD


class _SymbolBrackets(Struct, frozen=True):
    symbol: str
    brackets: list[_Bracket]
    notionalCoef: float | None = None


def parse_leverage_brackets(body: bytes | str) -> dict[str, list[dict[str, float]]]:
    """A saved ``GET /fapi/v1/leverageBracket`` response (a SIGNED endpoint: it needs an API key, so
    perpscope never requests it) → canonical symbol → tiers ``{notional_floor, notional_cap, mmr, cum,
    max_leverage}`` sorted by floor."""

    rows: list[_SymbolBrackets] = _body(body, list[_SymbolBrackets] | _SymbolBrackets, "leverageBracket")  # type: ignore[assignment]
    if not isinstance(rows, list):
        rows = [rows]
    out: dict[str, list[dict[str, float]]] = {}
    for r in rows:
        if not (r.symbol.isalnum() and r.symbol.endswith("USDT")):
            continue
        tiers = [
            {
                "notional_floor": b.notionalFloor,
                "notional_cap": b.notionalCap,
                "mmr": b.maintMarginRatio,
                "cum": b.cum,
                "max_leverage": b.initialLeverage,
            }
            for b in r.brackets
        ]
        out[_canonical(r.symbol)] = _check_tiers(tiers, r.symbol)
    return out


def _check_tiers(tiers: list[dict[str, float]], name: str) -> list[dict[str, float]]:
    tiers.sort(key=lambda t: t["notional_floor"])
    for t in tiers:
        if not (
            0.0 < t["mmr"] < 1.0 and t["notional_cap"] > t["notional_floor"] >= 0.0 and t["max_leverage"] > 0
        ):
            raise DecodeError(f"binance tiers {name}: bad tier {t}")
    return tiers
