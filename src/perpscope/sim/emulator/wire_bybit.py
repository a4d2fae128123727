"""Bybit v5 linear wire encoders: normalized events → the JSON Bybit pushes on ``/v5/public/linear`` and
answers on ``/v5/market/*`` (the inverse of ``perpscope.venues.bybit``).

Docs: https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook (and siblings).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import msgspec

from ...model import Funding, Liquidation, MarkPrice, OpenInterest, PositionSide, PriceLevel, Side, Trade
from ...timeutil import NS_PER_MS
from .instruments import EmuInstrument

_enc = msgspec.json.Encoder()

# Bybit kline interval names ↔ ms
KLINE_INTERVALS: dict[str, int] = {
    "1": 60_000,
    "3": 180_000,
    "5": 300_000,
    "15": 900_000,
    "30": 1_800_000,
    "60": 3_600_000,
    "120": 7_200_000,
    "240": 14_400_000,
    "360": 21_600_000,
    "720": 43_200_000,
    "D": 86_400_000,
    "W": 604_800_000,
}
OI_INTERVALS: dict[str, int] = {
    "5min": 300_000,
    "15min": 900_000,
    "30min": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}


def dumps(obj: object) -> bytes:
    return _enc.encode(obj)


def _ms(ns: int) -> int:
    return ns // NS_PER_MS


def _levels(inst: EmuInstrument, levels: Sequence[PriceLevel]) -> list[list[str]]:
    return [[inst.px(p), inst.qty(q)] for p, q in levels]


def trade_uuid(trade_id: int) -> str:
    return str(uuid.UUID(int=(trade_id * 0x9E3779B97F4A7C15) % (1 << 128)))


def public_trade(ev: Trade, inst: EmuInstrument, *, seq: int, trade_id: str, tick: str = "PlusTick") -> bytes:
    """``publicTrade.{symbol}``: ``S`` is the taker side."""

    return dumps(
        {
            "topic": f"publicTrade.{inst.instrument}",
            "type": "snapshot",
            "ts": _ms(ev.ts_recv) or _ms(ev.ts_event),
            "data": [
                {
                    "T": _ms(ev.ts_event),
                    "s": inst.instrument,
                    "S": "Buy" if ev.side is Side.BUY else "Sell",
                    "v": inst.qty(ev.quantity),
                    "p": inst.px(ev.price),
                    "L": tick,
                    "i": trade_id,
                    "BT": False,
                    "RPI": False,
                    "seq": seq,
                }
            ],
        }
    )


def all_liquidation(ev: Liquidation, inst: EmuInstrument) -> bytes:
    """``allLiquidation.{symbol}``: ``S`` is the liquidated POSITION's side (Buy = a long); ``p`` bankruptcy
    price, ``v`` base coin."""

    ms = _ms(ev.ts_event)
    return dumps(
        {
            "topic": f"allLiquidation.{inst.instrument}",
            "type": "snapshot",
            "ts": ms,
            "data": [
                {
                    "T": ms,
                    "s": inst.instrument,
                    "S": "Buy" if ev.side is PositionSide.LONG else "Sell",
                    "v": inst.qty(ev.quantity),
                    "p": inst.px(ev.price),
                }
            ],
        }
    )


def legacy_liquidation(ev: Liquidation, inst: EmuInstrument) -> bytes:
    """Deprecated ``liquidation.{symbol}`` (one per second per symbol, an object)."""

    ms = _ms(ev.ts_event)
    return dumps(
        {
            "topic": f"liquidation.{inst.instrument}",
            "type": "snapshot",
            "ts": ms,
            "data": {
                "updatedTime": ms,
                "symbol": inst.instrument,
                "side": "Buy" if ev.side is PositionSide.LONG else "Sell",
                "size": inst.qty(ev.quantity),
                "price": inst.px(ev.price),
            },
        }
    )


def orderbook(
    inst: EmuInstrument,
    *,
    depth: int,
    kind: str,
    bids: Sequence[PriceLevel],
    asks: Sequence[PriceLevel],
    u: int,
    seq: int,
    ts_ms: int,
) -> bytes:
    """``orderbook.{depth}.{symbol}``: ``type`` snapshot or delta; ``u`` update id per topic (u=1 after a
    service restart), ``seq`` the cross sequence."""

    return dumps(
        {
            "topic": f"orderbook.{depth}.{inst.instrument}",
            "type": kind,
            "ts": ts_ms,
            "data": {
                "s": inst.instrument,
                "b": _levels(inst, bids),
                "a": _levels(inst, asks),
                "u": u,
                "seq": seq,
            },
            "cts": ts_ms,
        }
    )


def ticker_fields(
    inst: EmuInstrument,
    *,
    mark: MarkPrice | None = None,
    funding: Funding | None = None,
    oi: OpenInterest | None = None,
    mark_price: float | None = None,
) -> dict[str, str]:
    """The ``tickers`` fields for whichever of mark / funding / open interest is given. ``openInterest`` is
    the sum of both sides (twice ``singleOpenInterest``, which is one side)."""

    out: dict[str, str] = {}
    if mark is not None:
        out["markPrice"] = inst.px(mark.mark_price)
        if mark.index_price is not None:
            out["indexPrice"] = inst.px(mark.index_price)
    if funding is not None:
        out["fundingRate"] = f"{funding.rate:.8f}".rstrip("0").rstrip(".") if funding.rate else "0"
        if funding.next_funding_ts:
            out["nextFundingTime"] = str(funding.next_funding_ts // NS_PER_MS)
        out["fundingIntervalHour"] = f"{funding.interval_hours:g}"
        out["fundingCap"] = "0.005"
    if oi is not None:
        usd = oi.oi_usd if oi.oi_usd else oi.oi_base * (mark_price or 0.0)
        out["openInterest"] = inst.qty(2.0 * oi.oi_base)
        out["openInterestValue"] = f"{2.0 * usd:.2f}"
        out["singleOpenInterest"] = inst.qty(oi.oi_base)
        out["singleOpenInterestValue"] = f"{usd:.2f}"
    return out


def tickers(inst: EmuInstrument, fields: dict[str, str], *, kind: str, ts_ms: int, cs: int) -> bytes:
    """``tickers.{symbol}``: a snapshot with every field, then deltas (a missing field is unchanged)."""

    data = {"symbol": inst.instrument, **fields}
    return dumps({"topic": f"tickers.{inst.instrument}", "type": kind, "data": data, "cs": cs, "ts": ts_ms})


def kline(
    inst: EmuInstrument, row: Sequence[float], *, interval: str, interval_ms: int, confirm: bool, ts_ms: int
) -> bytes:
    start = int(row[0])
    return dumps(
        {
            "topic": f"kline.{interval}.{inst.instrument}",
            "data": [
                {
                    "start": start,
                    "end": start + interval_ms - 1,
                    "interval": interval,
                    "open": inst.px(row[1]),
                    "close": inst.px(row[4]),
                    "high": inst.px(row[2]),
                    "low": inst.px(row[3]),
                    "volume": inst.qty(row[5]),
                    "turnover": f"{row[6]:.4f}",
                    "confirm": confirm,
                    "timestamp": ts_ms,
                }
            ],
            "ts": ts_ms,
            "type": "snapshot",
        }
    )


# ---------------------------------------------------------------------------------------------- REST


def response(result: object, *, now_ms: int, code: int = 0, msg: str = "OK") -> bytes:
    return dumps({"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": now_ms})


def instrument_info(inst: EmuInstrument, *, launch_ms: int) -> dict[str, object]:
    """One ``list[]`` entry of ``/v5/market/instruments-info?category=linear``."""

    base = inst.instrument[: -len("USDT")]
    return {
        "symbol": inst.instrument,
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": base,
        "quoteCoin": "USDT",
        "launchTime": str(launch_ms),
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(inst.price_decimals),
        "leverageFilter": {
            "minLeverage": "1",
            "maxLeverage": f"{inst.max_leverage:.2f}",
            "leverageStep": "0.01",
        },
        "priceFilter": {
            "minPrice": inst.px(inst.tick),
            "maxPrice": "1999999.80",
            "tickSize": inst.px(inst.tick),
        },
        "lotSizeFilter": {
            "maxOrderQty": "1190.000",
            "minOrderQty": inst.qty(inst.lot),
            "qtyStep": inst.qty(inst.lot),
            "postOnlyMaxOrderQty": "1190.000",
            "maxMktOrderQty": "500.000",
            "minNotionalValue": "5",
        },
        "unifiedMarginTrade": True,
        "fundingInterval": int(inst.funding_interval_hours * 60),
        "settleCoin": "USDT",
        "copyTrading": "both",
        "upperFundingRate": "0.005",
        "lowerFundingRate": "-0.005",
        "isPreListing": False,
        "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
        "displayName": "",
    }
