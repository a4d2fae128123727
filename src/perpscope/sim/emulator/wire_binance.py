"""Binance USD-M wire encoders: normalized events → the JSON Binance sends (the inverse of
``perpscope.venues.binance``). Websocket payloads are the bare event objects; :func:`combined` wraps one for
the ``/stream`` routes. REST bodies mirror ``fapi.binance.com``.

Docs: https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from ...model import (
    BookDelta,
    BookSnapshot,
    Funding,
    Liquidation,
    MarkPrice,
    OpenInterest,
    PositionSide,
    Side,
    Trade,
)
from ...timeutil import NS_PER_MS
from .instruments import EmuInstrument

_enc = msgspec.json.Encoder()


def dumps(obj: object) -> bytes:
    return _enc.encode(obj)


def combined(stream: str, payload: bytes) -> bytes:
    """The ``/stream`` wrapper: ``{"stream":"<name>","data":{...}}``."""

    return b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"


def _ms(ns: int) -> int:
    return ns // NS_PER_MS


def _levels(inst: EmuInstrument, levels: Sequence[tuple[float, float]]) -> list[list[str]]:
    return [[inst.px(p), inst.qty(q)] for p, q in levels]


def trade(ev: Trade, inst: EmuInstrument, *, trade_id: int, event_ms: int | None = None) -> dict[str, object]:
    """``<symbol>@trade``; ``m`` (buyer is maker) is true when the seller aggressed."""

    ms = _ms(ev.ts_event)
    return {
        "e": "trade",
        "E": event_ms or ms,
        "T": ms,
        "s": inst.instrument,
        "t": trade_id,
        "p": inst.px(ev.price),
        "q": inst.qty(ev.quantity),
        "X": "MARKET",
        "m": ev.side is Side.SELL,
    }


def agg_trade(
    ev: Trade, inst: EmuInstrument, *, agg_id: int, first_id: int, last_id: int, event_ms: int | None = None
) -> dict[str, object]:
    ms = _ms(ev.ts_event)
    return {
        "e": "aggTrade",
        "E": event_ms or ms,
        "a": agg_id,
        "s": inst.instrument,
        "p": inst.px(ev.price),
        "q": inst.qty(ev.quantity),
        "f": first_id,
        "l": last_id,
        "T": ms,
        "m": ev.side is Side.SELL,
    }


def force_order(ev: Liquidation, inst: EmuInstrument) -> dict[str, object]:
    """``<symbol>@forceOrder``: ``S`` is the side of the forced ORDER (SELL closes a long); ``ap`` the average
    fill price, ``p`` the (worse) limit price of the IOC order."""

    ms = _ms(ev.ts_event)
    long_liq = ev.side is PositionSide.LONG
    limit_px = inst.round_px(ev.price * (0.99 if long_liq else 1.01))
    qty = inst.qty(ev.quantity)
    return {
        "e": "forceOrder",
        "E": ms,
        "o": {
            "s": inst.instrument,
            "S": "SELL" if long_liq else "BUY",
            "o": "LIMIT",
            "f": "IOC",
            "q": qty,
            "p": inst.px(limit_px),
            "ap": inst.px(ev.price),
            "X": "FILLED",
            "l": qty,
            "z": qty,
            "T": ms,
        },
    }


def mark_price(mark: MarkPrice, funding: Funding | None, inst: EmuInstrument) -> dict[str, object]:
    """``<symbol>@markPrice[@1s]``: mark, index, current funding rate ``r`` and next funding time ``T``."""

    index = mark.index_price if mark.index_price is not None else mark.mark_price
    return {
        "e": "markPriceUpdate",
        "E": _ms(mark.ts_event),
        "s": inst.instrument,
        "p": f"{mark.mark_price:.8f}",
        "i": f"{index:.8f}",
        "P": f"{index:.8f}",
        "r": f"{funding.rate:.8f}" if funding is not None else "",
        "T": (funding.next_funding_ts or 0) // NS_PER_MS if funding is not None else 0,
    }


def depth_update(
    delta: BookDelta, inst: EmuInstrument, *, first_id: int, last_id: int, prev_id: int
) -> dict[str, object]:
    """``<symbol>@depth[@100ms|@500ms|@0ms]``: U = first update id, u = final, pu = previous event's u."""

    ms = _ms(delta.ts_event)
    return {
        "e": "depthUpdate",
        "E": ms,
        "T": ms,
        "s": inst.instrument,
        "U": first_id,
        "u": last_id,
        "pu": prev_id,
        "b": _levels(inst, delta.bids),
        "a": _levels(inst, delta.asks),
    }


def partial_depth(
    bids: Sequence[tuple[float, float]],
    asks: Sequence[tuple[float, float]],
    inst: EmuInstrument,
    *,
    ts_ms: int,
    first_id: int,
    last_id: int,
    prev_id: int,
) -> dict[str, object]:
    """``<symbol>@depth<5|10|20>[@100ms|@500ms]``: the top levels, with the ids of the diff stream."""

    return {
        "e": "depthUpdate",
        "E": ts_ms,
        "T": ts_ms,
        "s": inst.instrument,
        "U": first_id,
        "u": last_id,
        "pu": prev_id,
        "b": _levels(inst, bids),
        "a": _levels(inst, asks),
    }


def book_ticker(
    bid: tuple[float, float], ask: tuple[float, float], inst: EmuInstrument, *, update_id: int, ts_ms: int
) -> dict[str, object]:
    return {
        "e": "bookTicker",
        "u": update_id,
        "s": inst.instrument,
        "b": inst.px(bid[0]),
        "B": inst.qty(bid[1]),
        "a": inst.px(ask[0]),
        "A": inst.qty(ask[1]),
        "T": ts_ms,
        "E": ts_ms,
    }


def kline(
    row: Sequence[float], inst: EmuInstrument, *, interval: str, interval_ms: int, closed: bool, event_ms: int
) -> dict[str, object]:
    """``<symbol>@kline_<interval>`` from an aggregated bar row (open_ms o h l c v qv n tbv tbqv)."""

    t = int(row[0])
    return {
        "e": "kline",
        "E": event_ms,
        "s": inst.instrument,
        "k": {
            "t": t,
            "T": t + interval_ms - 1,
            "s": inst.instrument,
            "i": interval,
            "f": 0,
            "L": int(row[7]),
            "o": inst.px(row[1]),
            "c": inst.px(row[4]),
            "h": inst.px(row[2]),
            "l": inst.px(row[3]),
            "v": inst.qty(row[5]),
            "n": int(row[7]),
            "x": closed,
            "q": f"{row[6]:.4f}",
            "V": inst.qty(row[8]),
            "Q": f"{row[9]:.4f}",
            "B": "0",
        },
    }


# ---------------------------------------------------------------------------------------------- REST


def depth_snapshot(
    snap: BookSnapshot, inst: EmuInstrument, *, event_ms: int | None = None
) -> dict[str, object]:
    """``GET /fapi/v1/depth``: ``lastUpdateId`` is the sync point of the diff stream."""

    ms = _ms(snap.ts_event)
    return {
        "lastUpdateId": snap.update_id,
        "E": event_ms or ms,
        "T": ms,
        "bids": _levels(inst, snap.bids),
        "asks": _levels(inst, snap.asks),
    }


def open_interest(oi: OpenInterest, inst: EmuInstrument) -> dict[str, object]:
    """``GET /fapi/v1/openInterest``: one side, base coin."""

    return {"openInterest": inst.qty(oi.oi_base), "symbol": inst.instrument, "time": _ms(oi.ts_event)}


def open_interest_hist_row(
    ts_ms: int, oi_base: float, price: float, inst: EmuInstrument
) -> dict[str, object]:
    return {
        "symbol": inst.instrument,
        "sumOpenInterest": f"{oi_base:.8f}",
        "sumOpenInterestValue": f"{oi_base * price:.8f}",
        "CMCCirculatingSupply": "0",
        "timestamp": ts_ms,
    }


def funding_rate_row(ts_ms: int, rate: float, mark: float, inst: EmuInstrument) -> dict[str, object]:
    return {
        "symbol": inst.instrument,
        "fundingTime": ts_ms,
        "fundingRate": f"{rate:.8f}",
        "markPrice": f"{mark:.8f}",
    }


def premium_index(
    inst: EmuInstrument, *, mark: float, index: float, rate: float, next_funding_ms: int, now_ms: int
) -> dict[str, object]:
    return {
        "symbol": inst.instrument,
        "markPrice": f"{mark:.8f}",
        "indexPrice": f"{index:.8f}",
        "estimatedSettlePrice": f"{index:.8f}",
        "lastFundingRate": f"{rate:.8f}",
        "interestRate": "0.00010000",
        "nextFundingTime": next_funding_ms,
        "time": now_ms,
    }


def kline_row(row: Sequence[float], inst: EmuInstrument, interval_ms: int) -> list[object]:
    t = int(row[0])
    return [
        t,
        inst.px(row[1]),
        inst.px(row[2]),
        inst.px(row[3]),
        inst.px(row[4]),
        inst.qty(row[5]),
        t + interval_ms - 1,
        f"{row[6]:.4f}",
        int(row[7]),
        inst.qty(row[8]),
        f"{row[9]:.4f}",
        "0",
    ]


def exchange_symbol(inst: EmuInstrument, *, onboard_ms: int) -> dict[str, object]:
    """One ``symbols[]`` entry of ``GET /fapi/v1/exchangeInfo`` (the fields ccxt and our parser read)."""

    base = inst.instrument[: -len("USDT")]
    px_dec = inst.price_decimals
    qty_dec = inst.qty_decimals
    return {
        "symbol": inst.instrument,
        "pair": inst.instrument,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": onboard_ms,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": base,
        "quoteAsset": "USDT",
        "marginAsset": "USDT",
        "pricePrecision": px_dec,
        "quantityPrecision": qty_dec,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": inst.px(inst.tick),
                "maxPrice": "4529764",
                "tickSize": f"{inst.tick:.{max(px_dec, 1)}f}",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": inst.qty(inst.lot),
                "maxQty": "1000",
                "stepSize": inst.qty(inst.lot),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": inst.qty(inst.lot),
                "maxQty": "120",
                "stepSize": inst.qty(inst.lot),
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": "100"},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        "permissionSets": ["GRID", "COPY"],
    }


def exchange_info(symbols: list[dict[str, object]], *, server_ms: int) -> dict[str, object]:
    return {
        "timezone": "UTC",
        "serverTime": server_ms,
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        ],
        "exchangeFilters": [],
        "assets": [
            {"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"},
        ],
        "symbols": symbols,
    }


def error(code: int, msg: str) -> dict[str, object]:
    return {"code": code, "msg": msg}
