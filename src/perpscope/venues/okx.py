"""OKX v5 SWAP (USDT-margined perpetuals, ``BTC-USDT-SWAP``): wire schemas, the websocket decoder,
subscription and URL builders, REST requests + parsers.

Where an OKX liquidation becomes a :class:`~perpscope.model.Liquidation`: :meth:`Decoder._liquidations`.
Semantics (docs: https://www.okx.com/docs-v5/en/, checked 2026-11):

- Sizes ``sz`` (trades, book levels, liquidations) and open interest ``oi`` are **contracts**. Base coin =
  ``sz × ctVal`` with ``ctVal`` from the instrument snapshot (:mod:`perpscope.venues.instruments`), never
  hard-coded: BTC-USDT-SWAP is 0.01 BTC per contract, DOGE-USDT-SWAP 1,000 DOGE.
- ``liquidation-orders`` with ``instType=SWAP`` covers **all** swaps; each push may carry several
  ``details``: every one becomes an event. Side: ``posSide`` (``long``/``short``) is the liquidated position;
  when it is absent or ``net``, the forced order's ``side`` tells it (``buy`` closes a short). Price is the
  bankruptcy price ``bkPx``. OKX pushes at most one order per contract per second: ``sampled=True``.
- Coin-margined (inverse) swaps such as ``BTC-USD-SWAP`` have ``ctVal`` in **USD**, and USDC swaps settle in
  another coin: neither is a USDT perpetual, so they are *skipped*, each with a counted :class:`NotUsdtSwap`
  (a ``DecodeError``) naming the reason. A USDT swap missing from the snapshot (e.g. ``IOST-USDT-SWAP`` in the
  shipped six-coin snapshot) raises :class:`~perpscope.venues.instruments.UnknownInstrument` until
  ``perpscope instruments --refresh`` stores every OKX swap's ``ctVal``.
- ``open-interest``: ``oi`` contracts, ``oiCcy`` base coin, ``oiUsd`` USD. OKX counts one side of the book
  (``oiCcy = oi × ctVal``, and its totals match one-sided figures elsewhere), so no halving.
- ``funding-rate``: ``fundingRate`` is the current (predicted) rate settling at ``fundingTime``; the
  interval is ``nextFundingTime − fundingTime`` (1–8 h); ``settFundingRate`` is the rate of the settlement
  in progress or just done.
- ``books``/``books-l2-tbt``/``books50-l2-tbt``: ``action`` ``snapshot`` then ``update``s chained by
  ``prevSeqId`` = previous ``seqId`` (``prevSeqId = -1`` on a snapshot; equal ids = heartbeat; ``seqId <
  prevSeqId`` after a sequence reset). ``books5``/``bbo-tbt`` are full snapshots each push. Levels are
  ``[px, sz (contracts), "0" (deprecated), numOrders]``; size 0 deletes a level.
- Errors arrive as ``{"event":"error","code":"60012","msg":...}``; the keepalive reply is the text ``pong``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

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
    PriceLevel,
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
from .instruments import Instruments, InstrumentSpec
from .rest import RestRequest

VENUE = Venue.OKX

# ---------------------------------------------------------------------------------------------------------
# Endpoints and limits: the one place for OKX URLs and constants (docs checked 2026-11).
# WebSocket: https://www.okx.com/docs-v5/en/#overview-websocket — public channels on /public; candles and
# trades-all on /business. Send the text "ping" when nothing arrived for a while: the server closes a
# connection that is silent for 30 s. 480 subscribe/unsubscribe/login ops per connection per hour.
WS_PUBLIC_URL = "wss://ws.okx.com:8443/ws/v5/public"
WS_BUSINESS_URL = "wss://ws.okx.com:8443/ws/v5/business"
REST_URL = "https://www.okx.com"
DOCS_URL = "https://www.okx.com/docs-v5/en/"
PING_TEXT = "ping"
PONG_TEXT = "pong"
PING_AFTER_IDLE_S = 25.0  # send "ping" after this much silence (server timeout 30 s)
MAX_SUBSCRIBE_OPS_PER_HOUR = 480  # per connection
MAX_SUBSCRIBE_MESSAGE_BYTES = 64 * 1024  # total length of one subscribe request's channels
REST_RATE_LIMIT_CODE = "50011"  # "Too Many Requests"; typical public limit 20 requests / 2 s
LIQUIDATION_SAMPLING_MS = 1000  # at most one liquidation order per contract per second
OI_HISTORY_MAX_LIMIT = 100  # rubik open-interest-history rows per request (recent 1,440 rows only)
FUNDING_HISTORY_MAX_LIMIT = 400  # funding-rate-history rows per request (3 months kept)
CANDLES_MAX_LIMIT = 300  # /market/candles; /market/history-candles: 100
HISTORY_CANDLES_MAX_LIMIT = 100
BOOK_MAX_DEPTH = 400  # /market/books sz
DEFAULT_FUNDING_INTERVAL_HOURS = 8.0

BUSINESS_CHANNELS = frozenset({"trades-all"})  # plus every "candle<bar>" channel
BOOK_CHANNELS = frozenset({"books", "books-l2-tbt", "books50-l2-tbt"})  # snapshot + updates
FULL_BOOK_CHANNELS = frozenset({"books5", "bbo-tbt"})  # a full (top-N) snapshot every push
DEFAULT_CHANNELS = ("liquidation-orders", "trades", "open-interest", "funding-rate", "mark-price", "books")

# Candle bars → seconds. "1m" is a minute, "1M" a month (no fixed length: rejected). "utc" variants open at
# 00:00 UTC instead of Hong Kong time.
BAR_SECONDS: dict[str, int] = {
    "1s": 1,
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1H": 3600,
    "2H": 7200,
    "4H": 14400,
    "6H": 21600,
    "12H": 43200,
    "1D": 86400,
    "2D": 172800,
    "3D": 259200,
    "1W": 604800,
}
BAR_SECONDS.update({f"{b}utc": s for b, s in BAR_SECONDS.items() if s >= 21600})
OI_HISTORY_PERIODS = ("5m", "15m", "30m", "1H", "2H", "4H", "6H", "12H", "1D", "2D", "3D", "5D", "1W")


@dataclass(frozen=True, kw_only=True)
class Endpoints:
    """Base URLs; override to point at the emulator."""

    ws_public: str = WS_PUBLIC_URL
    ws_business: str = WS_BUSINESS_URL
    rest: str = REST_URL


ENDPOINTS = Endpoints()


class NotUsdtSwap(DecodeError):
    """An OKX instrument that is not a USDT-margined perpetual (inverse ``-USD-SWAP``, ``-USDC-SWAP``,
    futures, spot): skipped and counted, never mixed into the USDT-perp series."""


# Wire numbers are decimal strings: the decoders run with strict=False so msgspec converts them in C, with the
# bounds of venues/_checks.py (NaN fails every comparison, so it is rejected).
Price = Annotated[float, Meta(gt=0.0, le=MAX_PRICE)]
Contracts = Annotated[float, Meta(gt=0.0, le=MAX_QUANTITY)]
Contracts0 = Annotated[float, Meta(ge=0.0, le=MAX_QUANTITY)]  # zero allowed: deleted level, empty bar
Coin0 = Annotated[float, Meta(ge=0.0, le=MAX_QUANTITY)]
Usd0 = Annotated[float, Meta(ge=0.0, le=MAX_NOTIONAL_USD)]
TsMs = Annotated[int, Meta(ge=1_262_304_000_000, le=4_102_444_800_000)]  # epoch ms, 2010..2100
BookLevel = tuple[Price, Contracts0, str, str]  # [price, size in contracts, "0" (deprecated), numOrders]

# ---------------------------------------------------------------------------------------------------------
# Raw websocket schemas (field names as on the wire)


class WsArg(Struct, frozen=True, kw_only=True):
    channel: str  # "trades", "books", "candle1m", ...
    instId: str = ""  # "BTC-USDT-SWAP"
    instType: str = ""  # "SWAP" (liquidation-orders subscribes by type)
    instFamily: str = ""  # "BTC-USDT"
    uly: str = ""  # underlying (legacy alias of instFamily)


class WsLiquidationDetail(Struct, frozen=True, kw_only=True):
    bkPx: Price  # bankruptcy price: the liquidation price we report
    sz: Contracts  # liquidated size in CONTRACTS (× ctVal = base coin)
    side: Literal["buy", "sell"]  # side of the forced ORDER: buy closes a short, sell closes a long
    posSide: Literal["long", "short", "net", ""] = ""  # the liquidated position ("net"/"" in net mode)
    bkLoss: str = ""  # bankruptcy loss
    ccy: str = ""  # liquidation currency (margin only)
    ts: TsMs  # liquidation time, ms


class WsLiquidation(Struct, frozen=True, kw_only=True):
    instId: str  # "BTC-USDT-SWAP"
    instType: str = ""  # "SWAP"
    instFamily: str = ""  # "BTC-USDT"
    uly: str = ""  # underlying
    details: list[WsLiquidationDetail]  # one entry per liquidation order: read all of them


class WsTrade(Struct, frozen=True, kw_only=True):
    instId: str  # "BTC-USDT-SWAP"
    tradeId: str  # trade id
    px: Price  # price
    sz: Contracts  # size in CONTRACTS
    side: Literal["buy", "sell"]  # TAKER side
    ts: TsMs  # trade time, ms
    count: str = ""  # number of trades aggregated (trades channel)
    source: str = ""  # "0" normal order, "1" enhanced liquidity program
    seqId: int | None = None  # sequence id of the trade


class WsOpenInterest(Struct, frozen=True, kw_only=True):
    instId: str
    instType: str = ""
    oi: Contracts0  # open interest, CONTRACTS, one side
    oiCcy: str = ""  # open interest in base coin ("" on old messages)
    oiUsd: str = ""  # open interest in USD ("" on old messages)
    ts: TsMs  # data time, ms


class WsFundingRate(Struct, frozen=True, kw_only=True):
    instId: str
    instType: str = ""
    fundingRate: str  # current (predicted) rate of the running interval, settling at fundingTime
    fundingTime: TsMs  # settlement time of fundingRate, ms
    nextFundingTime: str = ""  # the settlement after that, ms: interval = nextFundingTime − fundingTime
    nextFundingRate: str = ""  # no longer published ("")
    settFundingRate: str = ""  # rate of the settlement in progress (settState processing) or just done
    settState: str = ""  # "processing" / "settled"
    premium: str = ""  # premium index
    maxFundingRate: str = ""  # cap
    minFundingRate: str = ""  # floor
    method: str = ""  # "current_period" / "next_period"
    formulaType: str = ""
    interestRate: str = ""
    impactValue: str = ""
    ts: TsMs  # data time, ms


class WsMarkPrice(Struct, frozen=True, kw_only=True):
    instId: str
    instType: str = ""
    markPx: Price  # mark price
    ts: TsMs


class WsBook(Struct, frozen=True, kw_only=True):
    asks: list[BookLevel]  # ascending price
    bids: list[BookLevel]  # descending price
    ts: TsMs
    checksum: int | None = None  # CRC32 of the top 25 levels (reported deprecated in 2026: not checked)
    prevSeqId: int | None = None  # -1 on a snapshot; must equal the previous seqId on an update
    seqId: int | None = None  # sequence id of this push
    instId: str = ""  # books5/bbo-tbt carry it in data


# [ts, o, h, l, c, vol (contracts), volCcy (base coin), volCcyQuote (USDT), confirm ("1" = closed)]
CandleRow = tuple[TsMs, Price, Price, Price, Price, Contracts0, Coin0, Usd0, Literal["0", "1"]]


_NO_RAW = Raw()  # msgspec cannot make Raw optional: an empty Raw marks an absent field


class _Envelope(Struct, frozen=True, kw_only=True):
    arg: WsArg | None = None  # the subscription this push belongs to
    data: Raw = _NO_RAW  # channel payload, decoded by the channel's handler
    action: str = ""  # books: "snapshot" / "update"
    event: str = ""  # control messages: "subscribe", "unsubscribe", "error", "notice", ...
    code: str | int = ""  # error code, e.g. "60012"
    msg: str = ""  # error text
    connId: str = ""


def _decoder(tp: object) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(tp, strict=False)


_ENVELOPE = _decoder(_Envelope)
_LIQUIDATIONS = _decoder(list[WsLiquidation])
_TRADES = _decoder(list[WsTrade])
_OPEN_INTEREST = _decoder(list[WsOpenInterest])
_FUNDING = _decoder(list[WsFundingRate])
_MARK = _decoder(list[WsMarkPrice])
_BOOKS = _decoder(list[WsBook])
_CANDLES = _decoder(list[CandleRow])

Handler = Callable[[_Envelope, int], list[AnyEvent]]


def bar_seconds(bar: str) -> int:
    """``"1m"`` → 60, ``"1H"`` → 3600, ``"1Dutc"`` → 86400. Month bars have no fixed length: DecodeError."""

    try:
        return BAR_SECONDS[bar]
    except KeyError:
        raise DecodeError(f"okx: candle bar {bar!r} has no fixed length or is unknown") from None


def _rate(value: str, name: str) -> float:
    x = to_float(value, name)
    if not -1.0 < x < 1.0:
        raise DecodeError(f"{name}: absurd funding rate {x!r}")
    return x


def instrument_kind(inst_id: str) -> Literal["usdt_swap", "inverse_swap", "other_swap", "not_swap"]:
    """Classify an OKX instrument id: ``BTC-USDT-SWAP`` is the only kind perpscope normalizes."""

    parts = inst_id.split("-")
    if len(parts) != 3 or parts[2] != "SWAP" or not parts[0]:
        return "not_swap"
    if parts[1] == "USDT":
        return "usdt_swap"
    if parts[1] == "USD":
        return "inverse_swap"
    return "other_swap"


def _not_usdt(inst_id: str) -> NotUsdtSwap:
    kind = instrument_kind(inst_id)
    if kind == "inverse_swap":
        why = "a coin-margined (inverse) swap whose ctVal is in USD"
    elif kind == "other_swap":
        why = "a swap settled in another coin than USDT"
    else:
        why = "not a perpetual swap"
    return NotUsdtSwap(f"okx: {inst_id!r} skipped: {why}; perpscope tracks USDT-margined perpetuals")


class Decoder:
    """Stateful per connection: remembers the last price per instrument (for open interest without
    ``oiUsd``) and counts instruments skipped inside otherwise good messages in :attr:`skipped`."""

    def __init__(self, instruments: Instruments | None = None) -> None:
        self.instruments = instruments if instruments is not None else Instruments.load()
        self.skipped: Counter[str] = Counter()
        self._specs: dict[str, InstrumentSpec] = {}
        self._last_px: dict[str, float] = {}
        self._handlers: dict[str, Handler] = {
            "liquidation-orders": self._liquidations,
            "trades": self._trades,
            "trades-all": self._trades,
            "open-interest": self._open_interest,
            "funding-rate": self._funding,
            "mark-price": self._mark_price,
        }
        for ch in BOOK_CHANNELS | FULL_BOOK_CHANNELS:
            self._handlers[ch] = self._books

    # -- entry point ----------------------------------------------------------------------------------

    def decode(self, raw: bytes | str, ts_recv: int) -> list[AnyEvent]:
        if len(raw) <= 8 and raw.strip() in (PONG_TEXT, PONG_TEXT.encode()):
            return []  # reply to our keepalive "ping"
        try:
            env = _ENVELOPE.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DecodeError(f"okx: not an OKX message: {exc}") from None
        if env.event:
            return self._event(env)
        if env.arg is None or not env.data:
            raise DecodeError("okx: message has neither 'event' nor 'arg' and 'data'")
        channel = env.arg.channel
        handler = self._handlers.get(channel)
        if handler is None:
            if channel.startswith("candle"):
                handler = self._candles
            else:
                raise UnknownChannel(f"okx: unhandled channel {channel!r}")
        try:
            return handler(env, ts_recv)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DecodeError(f"okx {channel}: {exc}") from None

    def _event(self, env: _Envelope) -> list[AnyEvent]:
        if env.event == "error" or env.event.endswith("-error"):
            raise DecodeError(f"okx error {env.code or '?'}: {env.msg or env.event}")
        if env.event in ("subscribe", "unsubscribe", "login", "notice", "channel-conn-count"):
            return []
        raise UnknownChannel(f"okx: unhandled event {env.event!r}")

    # -- instruments ----------------------------------------------------------------------------------

    def _symbol(self, inst_id: str) -> str:
        spec = self._specs.get(inst_id)
        if spec is not None:
            return spec.symbol
        if instrument_kind(inst_id) != "usdt_swap":
            raise _not_usdt(inst_id)
        return canonical_symbol(VENUE, inst_id)

    def _spec(self, inst_id: str) -> InstrumentSpec:
        spec = self._specs.get(inst_id)
        if spec is None:
            if instrument_kind(inst_id) != "usdt_swap":
                raise _not_usdt(inst_id)
            spec = self.instruments.by_instrument(VENUE, inst_id)  # UnknownInstrument when absent
            self._specs[inst_id] = spec
        return spec

    def _skip(self, errors: list[DecodeError], decoded: int) -> None:
        """Entries of one message that could not be decoded: counted when others were, raised when none."""
        if not errors:
            return
        if decoded == 0:
            if len(errors) == 1:
                raise errors[0]
            raise type(errors[0])("; ".join(dict.fromkeys(str(e) for e in errors)))
        for exc in errors:
            self.skipped[str(exc)] += 1

    # -- channels -------------------------------------------------------------------------------------

    def _liquidations(self, env: _Envelope, ts_recv: int) -> list[AnyEvent]:
        out: list[AnyEvent] = []
        errors: list[DecodeError] = []
        for row in _LIQUIDATIONS.decode(env.data):  # type: ignore[arg-type]
            try:
                spec = self._spec(row.instId)
            except DecodeError as exc:
                errors.append(exc)
                continue
            for d in row.details:
                # posSide names the liquidated position; in net mode only the order side tells it:
                # a forced BUY closes a short, a forced SELL closes a long.
                if d.posSide == "long" or d.posSide == "short":
                    side = PositionSide(d.posSide)
                else:
                    side = PositionSide.SHORT if d.side == "buy" else PositionSide.LONG
                qty = check_quantity(to_base(d.sz, spec.contract_size))
                out.append(
                    Liquidation(
                        venue=VENUE,
                        symbol=spec.symbol,
                        ts_event=d.ts * NS_PER_MS,
                        ts_recv=ts_recv,
                        side=side,
                        price=d.bkPx,
                        quantity=qty,
                        notional_usd=check_notional(qty * d.bkPx),
                        sampled=True,
                    )
                )
        self._skip(errors, len(out))
        return out

    def _trades(self, env: _Envelope, ts_recv: int) -> list[AnyEvent]:
        out: list[AnyEvent] = []
        for t in _TRADES.decode(env.data):  # type: ignore[arg-type]
            spec = self._spec(t.instId)
            qty = check_quantity(to_base(t.sz, spec.contract_size))
            self._last_px[t.instId] = t.px
            out.append(
                Trade(
                    venue=VENUE,
                    symbol=spec.symbol,
                    ts_event=t.ts * NS_PER_MS,
                    ts_recv=ts_recv,
                    side=Side(t.side),
                    price=t.px,
                    quantity=qty,
                    notional_usd=check_notional(qty * t.px),
                    trade_id=t.tradeId,
                )
            )
        return out

    def _open_interest(self, env: _Envelope, ts_recv: int) -> list[AnyEvent]:
        out: list[AnyEvent] = []
        for r in _OPEN_INTEREST.decode(env.data):  # type: ignore[arg-type]
            symbol = self._symbol(r.instId)
            base = _oi_base(r.oi, r.oiCcy, lambda r=r: self._spec(r.instId).contract_size)
            if r.oiUsd:
                usd = check_notional(to_float(r.oiUsd, "oiUsd"), "oiUsd")
            elif r.instId in self._last_px:
                usd = check_notional(base * self._last_px[r.instId], "oi_usd")
            else:
                raise DecodeError(f"okx open-interest {r.instId}: no oiUsd and no price seen yet to value it")
            out.append(
                OpenInterest(
                    venue=VENUE,
                    symbol=symbol,
                    ts_event=r.ts * NS_PER_MS,
                    ts_recv=ts_recv,
                    oi_base=base,
                    oi_usd=usd,
                )
            )
        return out

    def _funding(self, env: _Envelope, ts_recv: int) -> list[AnyEvent]:
        out: list[AnyEvent] = []
        for r in _FUNDING.decode(env.data):  # type: ignore[arg-type]
            symbol = self._symbol(r.instId)
            spec = self.instruments.find(VENUE, symbol)
            default = spec.funding_interval_hours if spec and spec.funding_interval_hours else None
            out.append(
                Funding(
                    venue=VENUE,
                    symbol=symbol,
                    ts_event=r.ts * NS_PER_MS,
                    ts_recv=ts_recv,
                    rate=_rate(r.fundingRate, "fundingRate"),
                    interval_hours=_interval_hours(r.fundingTime, r.nextFundingTime, default),
                    next_funding_ts=r.fundingTime * NS_PER_MS,
                    settled_rate=_rate(r.settFundingRate, "settFundingRate") if r.settFundingRate else None,
                )
            )
        return out

    def _mark_price(self, env: _Envelope, ts_recv: int) -> list[AnyEvent]:
        out: list[AnyEvent] = []
        for r in _MARK.decode(env.data):  # type: ignore[arg-type]
            symbol = self._symbol(r.instId)
            self._last_px[r.instId] = r.markPx
            out.append(
                MarkPrice(
                    venue=VENUE,
                    symbol=symbol,
                    ts_event=r.ts * NS_PER_MS,
                    ts_recv=ts_recv,
                    mark_price=r.markPx,
                )
            )
        return out

    def _books(self, env: _Envelope, ts_recv: int) -> list[AnyEvent]:
        assert env.arg is not None
        channel = env.arg.channel
        out: list[AnyEvent] = []
        for b in _BOOKS.decode(env.data):  # type: ignore[arg-type]
            spec = self._spec(env.arg.instId or b.instId)
            bids = _levels(b.bids, spec.contract_size)
            asks = _levels(b.asks, spec.contract_size)
            seq = b.seqId if b.seqId is not None else b.ts
            common = {"venue": VENUE, "symbol": spec.symbol, "ts_event": b.ts * NS_PER_MS, "ts_recv": ts_recv}
            if channel in FULL_BOOK_CHANNELS or env.action == "snapshot":
                out.append(BookSnapshot(**common, bids=bids, asks=asks, update_id=seq))
            elif env.action == "update":
                out.append(
                    BookDelta(**common, bids=bids, asks=asks, update_id=seq, prev_update_id=b.prevSeqId)
                )
            else:
                raise DecodeError(f"okx {channel}: unknown book action {env.action!r}")
        return out

    def _candles(self, env: _Envelope, ts_recv: int) -> list[AnyEvent]:
        assert env.arg is not None
        interval = bar_seconds(env.arg.channel.removeprefix("candle"))
        symbol = self._symbol(env.arg.instId)
        return [
            _candle(row, symbol=symbol, interval_s=interval, ts_recv=ts_recv)
            for row in _CANDLES.decode(env.data)
        ]  # type: ignore[arg-type]


def to_base(contracts: float, contract_size: float) -> float:
    """Contracts × ``ctVal`` → base coin, rounded to 12 decimals so that the binary noise of the product
    (``7 × 0.1 = 0.7000000000000001``) does not reach the output: both factors are short decimals."""
    return round(contracts * contract_size, 12)


def _levels(rows: Sequence[BookLevel], contract_size: float) -> list[PriceLevel]:
    """Book levels in base coin. Sizes were range-checked while decoding; only the largest product needs
    checking again (one comparison per message instead of one per level)."""
    if contract_size == 1.0:
        return [(px, sz) for px, sz, _, _ in rows]
    out = [(px, round(sz * contract_size, 12)) for px, sz, _, _ in rows]
    if out:
        check_quantity(max(q for _, q in out), "size", allow_zero=True)
    return out


def _oi_base(oi: float, oi_ccy: str, contract_size: Callable[[], float]) -> float:
    """Open interest in base coin: ``oiCcy`` when published, else ``oi`` contracts × ``ctVal``."""
    if oi_ccy:
        return check_quantity(to_float(oi_ccy, "oiCcy"), "oiCcy", allow_zero=True)
    return check_quantity(to_base(oi, contract_size()), "oi_base", allow_zero=True)


def _interval_hours(funding_ms: int, next_ms: str | int, default: float | None) -> float:
    """``nextFundingTime − fundingTime`` in hours (OKX uses 1–8 h); the snapshot's value, else 8 h."""

    if next_ms not in ("", 0, None):
        try:
            hours = (int(next_ms) - funding_ms) / 3_600_000
        except ValueError:
            raise DecodeError(f"nextFundingTime: not a number: {next_ms!r}") from None
        if not 0.0 < hours <= 24.0:
            raise DecodeError(f"okx funding: interval of {hours!r} h between fundingTime and nextFundingTime")
        return hours
    return default or DEFAULT_FUNDING_INTERVAL_HOURS


def _candle(row: CandleRow, *, symbol: str, interval_s: int, ts_recv: int | None) -> Candle:
    ts, o, h, low, c, _vol_contracts, vol_coin, vol_quote, confirm = row
    if not (low <= min(o, c) and h >= max(o, c)):
        raise DecodeError(f"okx candle {symbol} {ts}: inconsistent OHLC {row[1:5]}")
    ts_ns = ts * NS_PER_MS
    return Candle(
        venue=VENUE,
        symbol=symbol,
        ts_event=ts_ns,
        ts_recv=ts_recv if ts_recv is not None else ts_ns,
        interval_s=interval_s,
        open=o,
        high=h,
        low=low,
        close=c,
        volume=vol_coin,
        quote_volume=vol_quote,
        closed=confirm == "1",
    )


# ---------------------------------------------------------------------------------------------------------
# Subscriptions


def ws_url(channel: str, *, endpoints: Endpoints = ENDPOINTS) -> str:
    """The connection a channel lives on: candles and ``trades-all`` on /business, the rest on /public."""
    if channel in BUSINESS_CHANNELS or channel.startswith("candle"):
        return endpoints.ws_business
    return endpoints.ws_public


def channel_arg(channel: str, symbol: str | None = None) -> dict[str, str]:
    """One subscription argument. ``liquidation-orders`` is per instrument type (all swaps); the others
    per instrument (canonical ``symbol`` → ``BTC-USDT-SWAP``)."""

    if channel == "liquidation-orders":
        return {"channel": channel, "instType": "SWAP"}
    if channel.startswith("candle"):
        bar_seconds(channel.removeprefix("candle"))  # validate the bar
    if not symbol:
        raise ValueError(f"okx channel {channel!r} needs a symbol")
    return {"channel": channel, "instId": venue_symbol(VENUE, symbol)}


def subscribe_message(args: Sequence[dict[str, str]], *, unsubscribe: bool = False) -> str:
    """``{"op":"subscribe","args":[...]}`` as compact JSON."""
    return json.dumps(
        {"op": "unsubscribe" if unsubscribe else "subscribe", "args": list(args)}, separators=(",", ":")
    )


def subscriptions(
    symbols: Iterable[str],
    *,
    channels: Iterable[str] = DEFAULT_CHANNELS,
    endpoints: Endpoints = ENDPOINTS,
) -> dict[str, list[str]]:
    """Subscribe messages grouped by connection URL: as few messages as fit in OKX's 64 KB request limit
    (each message counts once against the 480 ops/hour budget)."""

    symbols = list(symbols)
    by_url: dict[str, list[dict[str, str]]] = {}
    for ch in channels:
        args = [channel_arg(ch)] if ch == "liquidation-orders" else [channel_arg(ch, s) for s in symbols]
        by_url.setdefault(ws_url(ch, endpoints=endpoints), []).extend(args)
    overhead = len(subscribe_message([]))
    out: dict[str, list[str]] = {}
    for url, args in by_url.items():
        batch: list[dict[str, str]] = []
        size = overhead
        for arg in args:
            arg_len = len(json.dumps(arg, separators=(",", ":"))) + 1  # + the separating comma
            if batch and size + arg_len > MAX_SUBSCRIBE_MESSAGE_BYTES:
                out.setdefault(url, []).append(subscribe_message(batch))
                batch, size = [], overhead
            batch.append(arg)
            size += arg_len
        if batch:
            out.setdefault(url, []).append(subscribe_message(batch))
    return out


# ---------------------------------------------------------------------------------------------------------
# REST requests (https://www.okx.com/docs-v5/en/#public-data-rest-api, #trading-statistics-rest-api)


def _req(path: str, params: dict[str, str | int], endpoints: Endpoints) -> RestRequest:
    return RestRequest(method="GET", base_url=endpoints.rest, path=path, params=params)


def _inst(symbol: str) -> str:
    return venue_symbol(VENUE, symbol)


def _limit(limit: int, maximum: int) -> int:
    if not 1 <= limit <= maximum:
        raise ValueError(f"limit must be 1..{maximum}, got {limit}")
    return limit


def instruments_request(*, endpoints: Endpoints = ENDPOINTS) -> RestRequest:
    """Every SWAP with its ``ctVal``, tick and lot sizes."""
    return _req("/api/v5/public/instruments", {"instType": "SWAP"}, endpoints)


def open_interest_request(symbol: str | None = None, *, endpoints: Endpoints = ENDPOINTS) -> RestRequest:
    """Current open interest of one swap (or of every swap when ``symbol`` is None)."""
    params: dict[str, str | int] = {"instType": "SWAP"}
    if symbol:
        params["instId"] = _inst(symbol)
    return _req("/api/v5/public/open-interest", params, endpoints)


def open_interest_history_request(
    symbol: str,
    *,
    period: str = "5m",
    begin_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = OI_HISTORY_MAX_LIMIT,
    endpoints: Endpoints = ENDPOINTS,
) -> RestRequest:
    """Rubik open-interest history, rows ``[ts, oi, oiCcy, oiUsd]`` newest first (recent 1,440 rows only)."""
    if period not in OI_HISTORY_PERIODS:
        raise ValueError(f"okx open-interest-history period must be one of {', '.join(OI_HISTORY_PERIODS)}")
    params: dict[str, str | int] = {"instId": _inst(symbol), "period": period, "limit": _limit(limit, 100)}
    if begin_ms is not None:
        params["begin"] = begin_ms
    if end_ms is not None:
        params["end"] = end_ms
    return _req("/api/v5/rubik/stat/contracts/open-interest-history", params, endpoints)


def funding_rate_history_request(
    symbol: str,
    *,
    before_ms: int | None = None,
    after_ms: int | None = None,
    limit: int = 100,
    endpoints: Endpoints = ENDPOINTS,
) -> RestRequest:
    """Settled funding rates, newest first (3 months kept). ``after_ms``: rows older than it (paging back);
    ``before_ms``: rows newer than it."""
    params: dict[str, str | int] = {
        "instId": _inst(symbol),
        "limit": _limit(limit, FUNDING_HISTORY_MAX_LIMIT),
    }
    if before_ms is not None:
        params["before"] = before_ms
    if after_ms is not None:
        params["after"] = after_ms
    return _req("/api/v5/public/funding-rate-history", params, endpoints)


def candles_request(
    symbol: str,
    *,
    bar: str = "1m",
    before_ms: int | None = None,
    after_ms: int | None = None,
    limit: int | None = None,
    history: bool = False,
    endpoints: Endpoints = ENDPOINTS,
) -> RestRequest:
    """Candles newest first: ``/market/candles`` (recent, ≤300) or ``/market/history-candles`` (≤100)."""
    bar_seconds(bar)
    maximum = HISTORY_CANDLES_MAX_LIMIT if history else CANDLES_MAX_LIMIT
    params: dict[str, str | int] = {
        "instId": _inst(symbol),
        "bar": bar,
        "limit": _limit(limit or maximum, maximum),
    }
    if before_ms is not None:
        params["before"] = before_ms
    if after_ms is not None:
        params["after"] = after_ms
    path = "/api/v5/market/history-candles" if history else "/api/v5/market/candles"
    return _req(path, params, endpoints)


def book_request(
    symbol: str, *, depth: int = BOOK_MAX_DEPTH, endpoints: Endpoints = ENDPOINTS
) -> RestRequest:
    """Order book snapshot, ``depth`` levels per side (≤400)."""
    return _req(
        "/api/v5/market/books", {"instId": _inst(symbol), "sz": _limit(depth, BOOK_MAX_DEPTH)}, endpoints
    )


def position_tiers_request(
    symbol: str, *, td_mode: Literal["isolated", "cross"] = "isolated", endpoints: Endpoints = ENDPOINTS
) -> RestRequest:
    """Maintenance-margin tiers (public): ``instType=SWAP``, ``tdMode`` and the instrument family
    (``BTC-USDT``) are required; rows carry ``minSz``/``maxSz`` in contracts, ``mmr``, ``maxLever``."""
    params: dict[str, str | int] = {
        "instType": "SWAP",
        "tdMode": td_mode,
        "instFamily": f"{symbol.upper()}-USDT",
    }
    return _req("/api/v5/public/position-tiers", params, endpoints)


# ---------------------------------------------------------------------------------------------------------
# REST response schemas and parsers. Every response is {"code": "0", "msg": "", "data": [...]}.


class _RestEnvelope(Struct, frozen=True, kw_only=True):
    code: str | int  # "0" = success; "50011" = rate limited
    msg: str = ""
    data: Raw = _NO_RAW


class RestOpenInterest(Struct, frozen=True, kw_only=True):
    instType: str = ""
    instId: str
    oi: Contracts0  # contracts, one side
    oiCcy: str = ""  # base coin
    oiUsd: str = ""  # USD
    ts: TsMs


OiHistoryRow = tuple[TsMs, Contracts0, Coin0, Usd0]  # [ts, oi contracts, oiCcy coin, oiUsd]


class RestFundingRate(Struct, frozen=True, kw_only=True):
    instType: str = ""
    instId: str
    fundingRate: str  # the rate as predicted before settlement
    realizedRate: str = ""  # the rate actually settled
    fundingTime: TsMs  # settlement time
    method: str = ""
    formulaType: str = ""


class RestBook(Struct, frozen=True, kw_only=True):
    asks: list[BookLevel]
    bids: list[BookLevel]
    ts: TsMs


class RestInstrument(Struct, frozen=True, kw_only=True):
    instType: str  # "SWAP"
    instId: str  # "BTC-USDT-SWAP"
    ctVal: str = ""  # contract value, in ctValCcy
    ctMult: str = ""  # contract multiplier (1 for swaps)
    ctValCcy: str = ""  # unit of ctVal: the base coin on linear swaps, "USD" on inverse ones
    ctType: str = ""  # "linear" / "inverse"
    settleCcy: str = ""  # "USDT"
    tickSz: str = ""  # price increment
    lotSz: str = ""  # order size increment, contracts
    minSz: str = ""  # minimum order size, contracts
    lever: str = ""  # max leverage
    state: str = ""  # "live", "suspend", "preopen", ...
    uly: str = ""
    instFamily: str = ""


class RestPositionTier(Struct, frozen=True, kw_only=True):
    instFamily: str = ""
    uly: str = ""
    instId: str = ""
    tier: str  # "1", "2", ...
    minSz: str  # smallest position of the tier, contracts
    maxSz: str  # largest position of the tier, contracts (inclusive)
    mmr: str  # maintenance margin rate
    imr: str = ""  # initial margin rate
    maxLever: str = ""  # max leverage in the tier


def _rest(body: bytes | str, tp: object, what: str) -> object:
    try:
        env = msgspec.json.decode(body, type=_RestEnvelope)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecodeError(f"okx {what}: {exc}") from None
    if str(env.code) != "0":
        hint = " (rate limited: slow down)" if str(env.code) == REST_RATE_LIMIT_CODE else ""
        raise DecodeError(f"okx {what}: error {env.code}: {env.msg}{hint}")
    try:
        return msgspec.json.decode(env.data if env.data else b"[]", type=tp, strict=False)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecodeError(f"okx {what}: {exc}") from None


def parse_open_interest(
    body: bytes | str, *, instruments: Instruments | None = None, ts_recv: int | None = None
) -> list[OpenInterest]:
    """``/public/open-interest`` → one-sided open interest of every USDT swap in the response (other swaps
    are left out). Needs ``ctVal`` only for rows without ``oiCcy``."""

    rows: list[RestOpenInterest] = _rest(body, list[RestOpenInterest], "open-interest")  # type: ignore[assignment]
    snapshot = instruments

    def ct_val(inst_id: str) -> float:
        nonlocal snapshot
        snapshot = snapshot or Instruments.load()
        return snapshot.by_instrument(VENUE, inst_id).contract_size

    out = []
    for r in rows:
        if instrument_kind(r.instId) != "usdt_swap":
            continue
        base = _oi_base(r.oi, r.oiCcy, lambda inst_id=r.instId: ct_val(inst_id))
        if not r.oiUsd:
            raise DecodeError(f"okx open-interest {r.instId}: no oiUsd")
        ts = r.ts * NS_PER_MS
        out.append(
            OpenInterest(
                venue=VENUE,
                symbol=canonical_symbol(VENUE, r.instId),
                ts_event=ts,
                ts_recv=ts_recv if ts_recv is not None else ts,
                oi_base=base,
                oi_usd=check_notional(to_float(r.oiUsd, "oiUsd"), "oiUsd"),
            )
        )
    return out


def parse_open_interest_history(body: bytes | str, *, symbol: str) -> list[OpenInterest]:
    """Rubik rows ``[ts, oi, oiCcy, oiUsd]`` → one-sided open interest, oldest first."""

    rows: list[OiHistoryRow] = _rest(body, list[OiHistoryRow], "open-interest-history")  # type: ignore[assignment]
    sym = symbol.upper()
    return [
        OpenInterest(
            venue=VENUE, symbol=sym, ts_event=ts * NS_PER_MS, ts_recv=ts * NS_PER_MS, oi_base=coin, oi_usd=usd
        )
        for ts, _oi, coin, usd in sorted(rows)
    ]


def parse_funding_rate_history(body: bytes | str, *, interval_hours: float | None = None) -> list[Funding]:
    """Settled funding rates, oldest first. ``rate`` and ``settled_rate`` are the realized rate (the
    predicted ``fundingRate`` when ``realizedRate`` is empty); the interval is the gap to the neighbouring
    settlement (``interval_hours`` or 8 h for a single row)."""

    rows: list[RestFundingRate] = _rest(body, list[RestFundingRate], "funding-rate-history")  # type: ignore[assignment]
    rows = sorted(
        (r for r in rows if instrument_kind(r.instId) == "usdt_swap"), key=lambda r: (r.instId, r.fundingTime)
    )
    out = []
    for i, r in enumerate(rows):
        prev = rows[i - 1] if i > 0 and rows[i - 1].instId == r.instId else None
        nxt = rows[i + 1] if i + 1 < len(rows) and rows[i + 1].instId == r.instId else None
        if prev is not None:
            hours = (r.fundingTime - prev.fundingTime) / 3_600_000
        elif nxt is not None:
            hours = (nxt.fundingTime - r.fundingTime) / 3_600_000
        else:
            hours = interval_hours or DEFAULT_FUNDING_INTERVAL_HOURS
        if not 0.0 < hours <= 24.0:
            raise DecodeError(
                f"okx funding-rate-history {r.instId}: duplicate or far-apart settlements ({hours} h)"
            )
        rate = _rate(r.realizedRate or r.fundingRate, "realizedRate")
        ts = r.fundingTime * NS_PER_MS
        out.append(
            Funding(
                venue=VENUE,
                symbol=canonical_symbol(VENUE, r.instId),
                ts_event=ts,
                ts_recv=ts,
                rate=rate,
                interval_hours=hours,
                settled_rate=rate,
            )
        )
    return sorted(out, key=lambda f: (f.ts_event, f.symbol))


def parse_candles(body: bytes | str, *, symbol: str, bar: str, ts_recv: int | None = None) -> list[Candle]:
    """``/market/candles`` or ``/market/history-candles`` rows → candles oldest first; ``volume`` is
    ``volCcy`` (base coin), ``quote_volume`` ``volCcyQuote``; ``closed`` from ``confirm``."""

    interval = bar_seconds(bar)
    rows: list[CandleRow] = _rest(body, list[CandleRow], "candles")  # type: ignore[assignment]
    sym = symbol.upper()
    return [
        _candle(r, symbol=sym, interval_s=interval, ts_recv=ts_recv) for r in sorted(rows, key=lambda r: r[0])
    ]


def parse_book(
    body: bytes | str, *, symbol: str, instruments: Instruments | None = None, ts_recv: int | None = None
) -> BookSnapshot:
    """``/market/books`` → a snapshot in base coin (``update_id`` = its ``ts``: REST books carry no seqId,
    so a websocket ``books`` snapshot is the way to start a sequenced book)."""

    rows: list[RestBook] = _rest(body, list[RestBook], "books")  # type: ignore[assignment]
    if len(rows) != 1:
        raise DecodeError(f"okx books: expected one book, got {len(rows)}")
    b = rows[0]
    cs = (instruments or Instruments.load()).get(VENUE, symbol).contract_size
    ts = b.ts * NS_PER_MS
    return BookSnapshot(
        venue=VENUE,
        symbol=symbol.upper(),
        ts_event=ts,
        ts_recv=ts_recv if ts_recv is not None else ts,
        bids=_levels(b.bids, cs),
        asks=_levels(b.asks, cs),
        update_id=b.ts,
    )


def parse_instruments(body: bytes | str) -> list[InstrumentSpec]:
    """``/public/instruments?instType=SWAP`` → specs of the live USDT-margined linear swaps (inverse and
    USDC swaps are left out). ``contract_size = ctVal × ctMult`` in base coin."""

    rows: list[RestInstrument] = _rest(body, list[RestInstrument], "instruments")  # type: ignore[assignment]
    out = []
    for r in rows:
        if instrument_kind(r.instId) != "usdt_swap" or r.ctType not in ("linear", "") or r.state != "live":
            continue
        base = r.instId.split("-")[0]
        if r.settleCcy not in ("USDT", "") or (r.ctValCcy and r.ctValCcy != base):
            continue
        ct_val = check_quantity(to_float(r.ctVal, "ctVal"), "ctVal")
        mult = check_quantity(to_float(r.ctMult, "ctMult"), "ctMult") if r.ctMult else 1.0
        lever = to_float(r.lever, "lever") if r.lever else None
        out.append(
            InstrumentSpec(
                venue=VENUE,
                symbol=canonical_symbol(VENUE, r.instId),
                instrument=r.instId,
                contract_size=ct_val * mult,
                tick_size=check_price(to_float(r.tickSz, "tickSz"), "tickSz") if r.tickSz else None,
                lot_size=check_quantity(to_float(r.lotSz, "lotSz"), "lotSz") if r.lotSz else None,
                max_leverage=lever if lever is not None and lever >= 1.0 else None,
            )
        )
    return out


def parse_position_tiers(
    body: bytes | str, *, contract_size: float, price: float | None = None
) -> list[dict[str, float | str | None]]:
    """Maintenance-margin tiers → ``{notional_floor, notional_cap, mmr, cum, max_leverage, unit}`` sorted by
    floor. OKX states tier bounds in **contracts** (``minSz``/``maxSz``): they are converted to base coin with
    ``contract_size`` (``unit: "base"``), and to USD notional only when a ``price`` is given (``unit:
    "usd"``, valid near that price). Floors are made contiguous (``floor_k = cap_(k-1)``, the first is 0) and
    ``cum`` follows ``cum_k = cum_(k-1) + floor_k·(mmr_k − mmr_(k-1))`` in the same unit."""

    rows: list[RestPositionTier] = _rest(body, list[RestPositionTier], "position-tiers")  # type: ignore[assignment]
    if not rows:
        raise DecodeError("okx position-tiers: no tiers")
    check_quantity(contract_size, "contract_size")
    scale = contract_size * (check_price(price, "price") if price is not None else 1.0)  # contracts → unit
    unit = "usd" if price is not None else "base"
    rows = sorted(rows, key=lambda r: int(r.tier) if r.tier.isdigit() else 0)
    out: list[dict[str, float | str | None]] = []
    floor, cum, prev_mmr = 0.0, 0.0, None
    for r in rows:
        mmr = to_float(r.mmr, "mmr")
        if not 0.0 < mmr < 1.0:
            raise DecodeError(f"okx position-tiers: tier {r.tier}: mmr {mmr!r} outside (0, 1)")
        cap = check_quantity(to_float(r.maxSz, "maxSz"), "maxSz") * scale
        if cap <= floor:
            raise DecodeError(f"okx position-tiers: tier {r.tier}: maxSz not above the previous tier's")
        if prev_mmr is not None:
            cum += floor * (mmr - prev_mmr)
        lever = to_float(r.maxLever, "maxLever") if r.maxLever else None
        out.append(
            {
                "notional_floor": floor,
                "notional_cap": cap,
                "mmr": mmr,
                "cum": cum,
                "max_leverage": lever,
                "unit": unit,
            }
        )
        floor, prev_mmr = cap, mmr
    return out
