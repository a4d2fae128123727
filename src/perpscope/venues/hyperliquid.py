"""Hyperliquid perpetuals (coins ``BTC``, ``ETH``, ..., quoted in USDC): wire schemas, the websocket
decoder, subscription builders, info-endpoint requests + parsers.

Semantics (docs: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api, checked 2026-11):

- **No public liquidation feed.** Hyperliquid publishes no liquidation events (only a user's own positions
  carry ``liquidationPx`` in ``clearinghouseState``), so this adapter never emits a ``Liquidation``.
- ``trades``: a list of fills; ``side`` ``B`` = the buyer aggressed, ``A`` = the seller. Sizes are base coin.
- ``l2Book``: a full snapshot (≤20 levels a side) every block, ``update_id`` = its ``time`` (ms).
- ``activeAssetCtx`` carries no timestamp (``ts_event`` = receive time) and yields three events: ``funding``
  (the current hourly rate, settling at the top of the next hour), ``openInterest`` and ``markPx`` /
  ``oraclePx``.
- **Open interest is two-sided.** ``openInterest`` (base coin) sums long and short positions: tests
  reported in 2025-07 (and Binance's own reply to them) found Hyperliquid counts both sides, where Binance,
  Bybit (``singleOpenInterest``) and OKX count one. A third-party doc claims the opposite, so the factor
  lives in one constant, :data:`OI_SIDES_REPORTED`: perpscope divides by it to store one side
  (``oi_usd = oi_base × markPx``).
- Funding is paid every hour; maintenance margin is half the initial margin at the tier's max leverage
  (``mmr = 1 / (2 · maxLeverage)``, margin tiers from ``meta``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Raw, Struct

from ..errors import DecodeError, UnknownChannel
from ..model import (
    AnyEvent,
    BookSnapshot,
    Candle,
    Funding,
    MarkPrice,
    OpenInterest,
    PriceLevel,
    Side,
    Trade,
    Venue,
)
from ..symbols import canonical_symbol, venue_symbol
from ..timeutil import NS_PER_MS
from ._checks import MAX_PRICE, MAX_QUANTITY, check_notional, check_quantity, to_float
from .instruments import Instruments, InstrumentSpec
from .rest import RestRequest

VENUE = Venue.HYPERLIQUID

# ---------------------------------------------------------------------------------------------------------
# Endpoints and limits: the one place for Hyperliquid URLs and constants (docs checked 2026-11).
# Websocket: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket
# Info: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint
WS_URL = "wss://api.hyperliquid.xyz/ws"
REST_URL = "https://api.hyperliquid.xyz"
INFO_PATH = "/info"
DOCS_URL = "https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api"
PING_MESSAGE = '{"method":"ping"}'  # the server closes a connection that sent nothing for 60 s
PING_INTERVAL_S = 50.0
MAX_SUBSCRIPTIONS_PER_IP = 1000
INFO_WEIGHT_LIMIT_PER_MIN = 1200  # per IP
INFO_WEIGHT_LIGHT = 2  # l2Book, allMids, clearinghouseState, ...
INFO_WEIGHT_DEFAULT = 20  # meta, metaAndAssetCtxs, fundingHistory, predictedFundings, candleSnapshot
CANDLE_SNAPSHOT_MAX = 5000  # only the most recent 5,000 candles are available
FUNDING_INTERVAL_HOURS = 1.0
FUNDING_INTERVAL_MS = 3_600_000
# Hyperliquid's openInterest counts longs + shorts (see the module docstring): divide by this for one side.
OI_SIDES_REPORTED = 2.0
# meta marginTableId below this is a single tier whose max leverage equals the id (docs, margin tiers).
SINGLE_TIER_TABLE_IDS_BELOW = 50

INTERVAL_SECONDS: dict[str, int] = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
    "3d": 259200,
    "1w": 604800,
}  # "1M" (a month) exists but has no fixed length: rejected
DEFAULT_SUBSCRIPTIONS = ("trades", "l2Book", "activeAssetCtx")


@dataclass(frozen=True, kw_only=True)
class Endpoints:
    """Base URLs; override to point at the emulator."""

    ws: str = WS_URL
    rest: str = REST_URL


ENDPOINTS = Endpoints()

# Numbers are decimal strings (times are integers); decoders run with strict=False so msgspec converts them in
# C within the bounds of venues/_checks.py (NaN fails every comparison, so it is rejected).
Price = Annotated[float, Meta(gt=0.0, le=MAX_PRICE)]
Qty = Annotated[float, Meta(gt=0.0, le=MAX_QUANTITY)]
Qty0 = Annotated[float, Meta(ge=0.0, le=MAX_QUANTITY)]
TsMs = Annotated[int, Meta(ge=1_262_304_000_000, le=4_102_444_800_000)]  # epoch ms, 2010..2100

# ---------------------------------------------------------------------------------------------------------
# Raw websocket schemas (field names as on the wire)


class WsTrade(Struct, frozen=True, kw_only=True):
    coin: str  # "BTC"
    side: Literal["B", "A"]  # aggressor: B = buyer took liquidity, A = seller
    px: Price  # price
    sz: Qty  # size, base coin
    time: TsMs  # fill time, ms
    hash: str = ""  # transaction hash
    tid: int = 0  # trade id
    users: list[str] = []  # [buyer, seller] addresses


class WsLevel(Struct, frozen=True, kw_only=True):
    px: Price  # price
    sz: Qty0  # total size at the level, base coin
    n: int  # number of orders


class WsBook(Struct, frozen=True, kw_only=True):
    coin: str
    time: TsMs  # block time, ms
    levels: tuple[list[WsLevel], list[WsLevel]]  # (bids best first, asks best first)


class WsCandle(Struct, frozen=True, kw_only=True):
    t: TsMs  # open time, ms
    T: TsMs  # close time, ms
    s: str  # coin
    i: str  # interval ("1m", "1h", ...)
    o: Price  # open
    c: Price  # close
    h: Price  # high
    l: Price  # low  # noqa: E741
    v: Qty0  # volume, base coin
    n: int = 0  # number of trades


class AssetCtx(Struct, frozen=True, kw_only=True):
    funding: str  # current hourly funding rate (fraction), settles at the top of the hour
    openInterest: Qty0  # open interest, base coin, BOTH sides (see OI_SIDES_REPORTED)
    markPx: Price  # mark price
    oraclePx: Price | None = None  # oracle (index) price
    premium: str | None = None  # premium index
    dayNtlVlm: str = ""  # 24 h notional volume, USD
    prevDayPx: str = ""  # price 24 h ago
    midPx: str | None = None  # book mid (null when one side is empty)
    impactPxs: list[str] | None = None  # [impact bid, impact ask]
    dayBaseVlm: str = ""  # 24 h volume, base coin


class WsActiveAssetCtx(Struct, frozen=True, kw_only=True):
    coin: str
    ctx: AssetCtx


_NO_RAW = Raw()  # msgspec cannot make Raw optional: an empty Raw marks an absent field


class _Envelope(Struct, frozen=True, kw_only=True):
    channel: str  # "trades", "l2Book", "candle", "activeAssetCtx", "subscriptionResponse", "pong", "error"
    data: Raw = _NO_RAW  # the payload, decoded by the channel's handler


def _decoder(tp: object) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(tp, strict=False)


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_TRADES = _decoder(list[WsTrade])
_BOOK = _decoder(WsBook)
_CANDLE = _decoder(WsCandle)
_ASSET_CTX = _decoder(WsActiveAssetCtx)
_TEXT = msgspec.json.Decoder(str | dict | list)

Handler = Callable[[Raw, int], list[AnyEvent]]


def interval_seconds(interval: str) -> int:
    """``"1m"`` → 60, ``"1h"`` → 3600. ``"1M"`` (a month) has no fixed length: DecodeError."""
    try:
        return INTERVAL_SECONDS[interval]
    except KeyError:
        raise DecodeError(
            f"hyperliquid: candle interval {interval!r} has no fixed length or is unknown"
        ) from None


def _rate(value: str, name: str) -> float:
    x = to_float(value, name)
    if not -1.0 < x < 1.0:
        raise DecodeError(f"{name}: absurd funding rate {x!r}")
    return x


def next_funding_ms(ts_ms: int) -> int:
    """The top of the hour after ``ts_ms``: when the running hourly rate settles."""
    return (ts_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS


def _ctx_events(coin: str, ctx: AssetCtx, *, ts_event: int, ts_recv: int) -> list[AnyEvent]:
    """Funding, one-sided open interest and mark price of one asset context."""

    symbol = canonical_symbol(VENUE, coin)
    oi_base = check_quantity(ctx.openInterest / OI_SIDES_REPORTED, "openInterest", allow_zero=True)
    common = {"venue": VENUE, "symbol": symbol, "ts_event": ts_event, "ts_recv": ts_recv}
    return [
        Funding(
            **common,
            rate=_rate(ctx.funding, "funding"),
            interval_hours=FUNDING_INTERVAL_HOURS,
            next_funding_ts=next_funding_ms(ts_event // NS_PER_MS) * NS_PER_MS,
        ),
        OpenInterest(**common, oi_base=oi_base, oi_usd=check_notional(oi_base * ctx.markPx, "oi_usd")),
        MarkPrice(**common, mark_price=ctx.markPx, index_price=ctx.oraclePx),
    ]


def _levels(rows: Sequence[WsLevel]) -> list[PriceLevel]:
    return [(lv.px, lv.sz) for lv in rows]


def _book(b: WsBook, ts_recv: int | None) -> BookSnapshot:
    bids, asks = b.levels
    ts = b.time * NS_PER_MS
    return BookSnapshot(
        venue=VENUE,
        symbol=canonical_symbol(VENUE, b.coin),
        ts_event=ts,
        ts_recv=ts_recv if ts_recv is not None else ts,
        bids=_levels(bids),
        asks=_levels(asks),
        update_id=b.time,
    )


def _candle(c: WsCandle, *, closed: bool, ts_recv: int | None) -> Candle:
    if not (c.l <= min(c.o, c.c) and c.h >= max(c.o, c.c)):
        raise DecodeError(f"hyperliquid candle {c.s} {c.t}: inconsistent OHLC")
    ts = c.t * NS_PER_MS
    return Candle(
        venue=VENUE,
        symbol=canonical_symbol(VENUE, c.s),
        ts_event=ts,
        ts_recv=ts_recv if ts_recv is not None else ts,
        interval_s=interval_seconds(c.i),
        open=c.o,
        high=c.h,
        low=c.l,
        close=c.c,
        volume=c.v,
        closed=closed,
    )


class Decoder:
    """``instruments`` is accepted for the common adapter signature; Hyperliquid sizes are already base
    coin, so no snapshot is needed. Keeps only a cache of coin → canonical symbol."""

    def __init__(self, instruments: Instruments | None = None) -> None:
        self.instruments = instruments
        self._symbols: dict[str, str] = {}
        self._handlers: dict[str, Handler] = {
            "trades": self._trades,
            "l2Book": self._l2book,
            "candle": self._candle,
            "activeAssetCtx": self._asset_ctx,
            # bbo (best bid/offer every block) is a subset of l2Book: known, mapped to nothing so that a
            # one-level "snapshot" never replaces a book built from l2Book.
            "bbo": lambda _data, _ts: [],
            "subscriptionResponse": lambda _data, _ts: [],
            "pong": lambda _data, _ts: [],
        }

    def decode(self, raw: bytes | str, ts_recv: int) -> list[AnyEvent]:
        try:
            env = _ENVELOPE.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DecodeError(f"hyperliquid: not a Hyperliquid message: {exc}") from None
        handler = self._handlers.get(env.channel)
        if handler is None:
            if env.channel == "error":
                detail = _TEXT.decode(env.data) if env.data else ""
                raise DecodeError(f"hyperliquid error: {detail}")
            raise UnknownChannel(f"hyperliquid: unhandled channel {env.channel!r}")
        if not env.data and env.channel not in ("pong", "subscriptionResponse"):
            raise DecodeError(f"hyperliquid {env.channel}: message without data")
        try:
            return handler(env.data, ts_recv)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DecodeError(f"hyperliquid {env.channel}: {exc}") from None

    def _symbol(self, coin: str) -> str:
        symbol = self._symbols.get(coin)
        if symbol is None:
            symbol = self._symbols[coin] = canonical_symbol(VENUE, coin)
        return symbol

    def _trades(self, data: Raw, ts_recv: int) -> list[AnyEvent]:
        out: list[AnyEvent] = []
        for t in _TRADES.decode(data):
            out.append(
                Trade(
                    venue=VENUE,
                    symbol=self._symbol(t.coin),
                    ts_event=t.time * NS_PER_MS,
                    ts_recv=ts_recv,
                    side=Side.BUY if t.side == "B" else Side.SELL,
                    price=t.px,
                    quantity=t.sz,
                    notional_usd=check_notional(t.px * t.sz),
                    trade_id=str(t.tid),
                )
            )
        return out

    def _l2book(self, data: Raw, ts_recv: int) -> list[AnyEvent]:
        return [_book(_BOOK.decode(data), ts_recv)]

    def _candle(self, data: Raw, ts_recv: int) -> list[AnyEvent]:
        # the websocket pushes the running bar on every trade: not known to be closed
        return [_candle(_CANDLE.decode(data), closed=False, ts_recv=ts_recv)]

    def _asset_ctx(self, data: Raw, ts_recv: int) -> list[AnyEvent]:
        m = _ASSET_CTX.decode(data)
        return _ctx_events(m.coin, m.ctx, ts_event=ts_recv, ts_recv=ts_recv)


# ---------------------------------------------------------------------------------------------------------
# Subscriptions


def subscription(kind: str, symbol: str, *, interval: str = "1m") -> dict[str, str]:
    """One subscription object: ``{"type": "trades", "coin": "BTC"}`` (candles add ``interval``)."""

    sub = {"type": kind, "coin": venue_symbol(VENUE, symbol)}
    if kind == "candle":
        interval_seconds(interval)
        sub["interval"] = interval
    return sub


def subscribe_message(sub: Mapping[str, str], *, unsubscribe: bool = False) -> str:
    """``{"method":"subscribe","subscription":{...}}`` as compact JSON (one subscription per message)."""
    method = "unsubscribe" if unsubscribe else "subscribe"
    return json.dumps({"method": method, "subscription": dict(sub)}, separators=(",", ":"))


def subscriptions(
    symbols: Iterable[str], *, kinds: Iterable[str] = DEFAULT_SUBSCRIPTIONS, interval: str = "1m"
) -> list[str]:
    """Subscribe messages for every symbol × kind, all on :data:`WS_URL`."""
    return [subscribe_message(subscription(k, s, interval=interval)) for s in symbols for k in kinds]


# ---------------------------------------------------------------------------------------------------------
# Info requests (POST /info with a JSON body)


def _info(body: dict[str, object], *, weight: int, endpoints: Endpoints) -> RestRequest:
    return RestRequest(method="POST", base_url=endpoints.rest, path=INFO_PATH, json_body=body, weight=weight)


def meta_request(*, endpoints: Endpoints = ENDPOINTS) -> RestRequest:
    """Universe (szDecimals, maxLeverage, marginTableId) and margin tables."""
    return _info({"type": "meta"}, weight=INFO_WEIGHT_DEFAULT, endpoints=endpoints)


def meta_and_asset_ctxs_request(*, endpoints: Endpoints = ENDPOINTS) -> RestRequest:
    """Live funding, open interest and mark price of every coin."""
    return _info({"type": "metaAndAssetCtxs"}, weight=INFO_WEIGHT_DEFAULT, endpoints=endpoints)


def funding_history_request(
    symbol: str, *, start_ms: int, end_ms: int | None = None, endpoints: Endpoints = ENDPOINTS
) -> RestRequest:
    """Hourly settled funding of one coin from ``start_ms`` (pages of 500 rows)."""
    body: dict[str, object] = {
        "type": "fundingHistory",
        "coin": venue_symbol(VENUE, symbol),
        "startTime": start_ms,
    }
    if end_ms is not None:
        body["endTime"] = end_ms
    return _info(body, weight=INFO_WEIGHT_DEFAULT, endpoints=endpoints)


def predicted_fundings_request(*, endpoints: Endpoints = ENDPOINTS) -> RestRequest:
    """Predicted next funding per coin on Hyperliquid (and the other venues Hyperliquid tracks)."""
    return _info({"type": "predictedFundings"}, weight=INFO_WEIGHT_DEFAULT, endpoints=endpoints)


def candle_snapshot_request(
    symbol: str, *, interval: str, start_ms: int, end_ms: int, endpoints: Endpoints = ENDPOINTS
) -> RestRequest:
    """Candles in ``[start_ms, end_ms]`` (only the most recent 5,000 exist)."""
    interval_seconds(interval)
    req = {
        "coin": venue_symbol(VENUE, symbol),
        "interval": interval,
        "startTime": start_ms,
        "endTime": end_ms,
    }
    return _info({"type": "candleSnapshot", "req": req}, weight=INFO_WEIGHT_DEFAULT, endpoints=endpoints)


def l2_book_request(symbol: str, *, endpoints: Endpoints = ENDPOINTS) -> RestRequest:
    """The current 20-level book of one coin."""
    return _info(
        {"type": "l2Book", "coin": venue_symbol(VENUE, symbol)}, weight=INFO_WEIGHT_LIGHT, endpoints=endpoints
    )


# ---------------------------------------------------------------------------------------------------------
# Info response schemas and parsers


class MarginTier(Struct, frozen=True, kw_only=True):
    lowerBound: Annotated[float, Meta(ge=0.0)]  # notional USD where the tier starts (inclusive)
    maxLeverage: Annotated[float, Meta(ge=1.0, le=1000.0)]  # max leverage within the tier


class MarginTable(Struct, frozen=True, kw_only=True):
    description: str = ""  # e.g. "tiered 40x"
    marginTiers: list[MarginTier]


class UniverseAsset(Struct, frozen=True, kw_only=True):
    name: str  # coin, "BTC"
    szDecimals: Annotated[int, Meta(ge=0, le=12)]  # size decimals: lot = 10^-szDecimals
    maxLeverage: Annotated[float, Meta(ge=1.0, le=1000.0)]  # at the smallest tier
    marginTableId: int | None = None  # key into Meta.marginTables (< 50: a single tier of that leverage)
    onlyIsolated: bool = False
    isDelisted: bool = False


class MetaInfo(Struct, frozen=True, kw_only=True):
    universe: list[UniverseAsset]
    marginTables: list[tuple[int, MarginTable]] = []  # [[id, table], ...]
    collateralToken: int | None = None


class FundingHistoryRow(Struct, frozen=True, kw_only=True):
    coin: str
    fundingRate: str  # settled hourly rate
    premium: str = ""
    time: TsMs  # settlement time, ms


class PredictedFunding(Struct, frozen=True, kw_only=True):
    fundingRate: str  # predicted rate of the next settlement
    nextFundingTime: TsMs  # ms
    fundingIntervalHours: float | None = None  # present on newer responses


# [coin, [[venue name ("HlPerp", "BinPerp", "BybitPerp"), prediction or null], ...]]
PredictedRow = tuple[str, list[tuple[str, PredictedFunding | None]]]

_META = _decoder(MetaInfo)
_META_AND_CTXS = _decoder(tuple[MetaInfo, list[AssetCtx | None]])
_FUNDING_HISTORY = _decoder(list[FundingHistoryRow])
_PREDICTED = _decoder(list[PredictedRow])
_CANDLES = _decoder(list[WsCandle])


def _parse(decoder: msgspec.json.Decoder, body: bytes | str, what: str) -> object:
    try:
        return decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecodeError(f"hyperliquid {what}: {exc}") from None


def _meta(body: bytes | str) -> MetaInfo:
    """``meta`` or ``metaAndAssetCtxs`` (``[meta, ctxs]``) → the meta part."""
    text = body.lstrip()
    if text[:1] in (b"[", "["):
        return _parse(_META_AND_CTXS, body, "metaAndAssetCtxs")[0]  # type: ignore[index]
    return _parse(_META, body, "meta")  # type: ignore[return-value]


def parse_instruments(body: bytes | str) -> list[InstrumentSpec]:
    """``meta`` (or ``metaAndAssetCtxs``) → specs of the listed perpetuals: lot = ``10^-szDecimals``, max
    leverage, hourly funding. Prices have no fixed tick (5 significant figures): ``tick_size`` is None."""

    return [
        InstrumentSpec(
            venue=VENUE,
            symbol=canonical_symbol(VENUE, a.name),
            instrument=a.name,
            lot_size=10.0**-a.szDecimals,
            max_leverage=a.maxLeverage,
            funding_interval_hours=FUNDING_INTERVAL_HOURS,
        )
        for a in _meta(body).universe
        if not a.isDelisted
    ]


def tier_rows(tiers: Iterable[tuple[float, float]]) -> list[dict[str, float | str | None]]:
    """``(lowerBound USD, maxLeverage)`` pairs → ``{notional_floor, notional_cap, mmr, cum, max_leverage,
    unit}`` sorted by floor: ``mmr = 1/(2·maxLeverage)`` (half the initial margin at max leverage) and the
    maintenance deduction ``cum_k = cum_(k-1) + floor_k·(mmr_k − mmr_(k-1))``; the last tier is open."""

    pairs = sorted((float(lb), float(lev)) for lb, lev in tiers)
    if not pairs or pairs[0][0] != 0.0:
        raise DecodeError(f"hyperliquid margin tiers must start at notional 0: {pairs}")
    out: list[dict[str, float | str | None]] = []
    cum, prev_mmr = 0.0, None
    for k, (floor, lev) in enumerate(pairs):
        mmr = 1.0 / (2.0 * lev)
        if prev_mmr is not None:
            cum += floor * (mmr - prev_mmr)
        cap = pairs[k + 1][0] if k + 1 < len(pairs) else None
        out.append(
            {"notional_floor": floor, "notional_cap": cap, "mmr": mmr, "cum": cum, "max_leverage": lev}
        )
        out[-1]["unit"] = "usd"
        prev_mmr = mmr
    return out


def parse_margin_tiers(body: bytes | str) -> dict[str, list[dict[str, float | str | None]]]:
    """``meta`` → canonical symbol → maintenance tiers. An asset whose ``marginTableId`` is in
    ``marginTables`` gets that table; an id below 50 is one tier of that leverage; otherwise one tier from the
    asset's ``maxLeverage`` (maintenance = half the initial margin at max leverage: BTC 40× → 1.25 %)."""

    meta = _meta(body)
    tables = {tid: t for tid, t in meta.marginTables}
    out: dict[str, list[dict[str, float | str | None]]] = {}
    for a in meta.universe:
        if a.isDelisted:
            continue
        table = tables.get(a.marginTableId) if a.marginTableId is not None else None
        if table is not None and table.marginTiers:
            pairs = [(t.lowerBound, t.maxLeverage) for t in table.marginTiers]
        elif a.marginTableId is not None and 0 < a.marginTableId < SINGLE_TIER_TABLE_IDS_BELOW:
            pairs = [(0.0, float(a.marginTableId))]
        else:
            pairs = [(0.0, a.maxLeverage)]
        out[canonical_symbol(VENUE, a.name)] = tier_rows(pairs)
    return out


def parse_meta_and_asset_ctxs(body: bytes | str, *, ts_recv: int) -> list[AnyEvent]:
    """``metaAndAssetCtxs`` → Funding, one-sided OpenInterest and MarkPrice for every listed coin (the
    response has no timestamp: ``ts_event`` = ``ts_recv``)."""

    meta, ctxs = _parse(_META_AND_CTXS, body, "metaAndAssetCtxs")  # type: ignore[misc]
    if len(ctxs) != len(meta.universe):
        raise DecodeError(
            f"hyperliquid metaAndAssetCtxs: {len(meta.universe)} assets but {len(ctxs)} contexts"
        )
    out: list[AnyEvent] = []
    for asset, ctx in zip(meta.universe, ctxs, strict=True):
        if asset.isDelisted or ctx is None:
            continue
        out.extend(_ctx_events(asset.name, ctx, ts_event=ts_recv, ts_recv=ts_recv))
    return out


def parse_funding_history(body: bytes | str) -> list[Funding]:
    """``fundingHistory`` → settled hourly rates (``rate`` = ``settled_rate``), oldest first."""

    rows: list[FundingHistoryRow] = _parse(_FUNDING_HISTORY, body, "fundingHistory")  # type: ignore[assignment]
    out = []
    for r in sorted(rows, key=lambda r: r.time):
        rate = _rate(r.fundingRate, "fundingRate")
        ts = r.time * NS_PER_MS
        out.append(
            Funding(
                venue=VENUE,
                symbol=canonical_symbol(VENUE, r.coin),
                ts_event=ts,
                ts_recv=ts,
                rate=rate,
                interval_hours=FUNDING_INTERVAL_HOURS,
                settled_rate=rate,
            )
        )
    return out


def parse_predicted_fundings(body: bytes | str, *, ts_recv: int) -> list[Funding]:
    """``predictedFundings`` → Hyperliquid's own predicted rate per coin (the ``HlPerp`` entries; the
    predictions it lists for other venues are left out)."""

    rows: list[PredictedRow] = _parse(_PREDICTED, body, "predictedFundings")  # type: ignore[assignment]
    out = []
    for coin, venues in rows:
        for name, p in venues:
            if name != "HlPerp" or p is None:
                continue
            hours = p.fundingIntervalHours or FUNDING_INTERVAL_HOURS
            if not 0.0 < hours <= 24.0:
                raise DecodeError(f"hyperliquid predictedFundings {coin}: fundingIntervalHours {hours!r}")
            out.append(
                Funding(
                    venue=VENUE,
                    symbol=canonical_symbol(VENUE, coin),
                    ts_event=ts_recv,
                    ts_recv=ts_recv,
                    rate=_rate(p.fundingRate, "fundingRate"),
                    interval_hours=hours,
                    next_funding_ts=p.nextFundingTime * NS_PER_MS,
                )
            )
    return out


def parse_candle_snapshot(body: bytes | str, *, now_ms: int | None = None) -> list[Candle]:
    """``candleSnapshot`` → candles oldest first; a bar is ``closed`` when its close time ``T`` is before
    ``now_ms`` (all of them when ``now_ms`` is None)."""

    rows: list[WsCandle] = _parse(_CANDLES, body, "candleSnapshot")  # type: ignore[assignment]
    return [
        _candle(c, closed=now_ms is None or now_ms > c.T, ts_recv=None)
        for c in sorted(rows, key=lambda c: c.t)
    ]


def parse_l2_book(body: bytes | str, *, ts_recv: int | None = None) -> BookSnapshot:
    """``l2Book`` → a snapshot (``update_id`` = the block time)."""
    return _book(_parse(_BOOK, body, "l2Book"), ts_recv)  # type: ignore[arg-type]
