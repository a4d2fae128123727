"""OKX v5 wire encoders: normalized events → the JSON OKX pushes on ``/ws/v5/public`` and ``/ws/v5/business``
and answers on ``/api/v5/*`` (the inverse of ``perpscope.venues.okx``). Sizes are CONTRACTS: base coin ÷
``ctVal``.

Docs: https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-order-book-channel (and siblings).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import msgspec

from ...model import Funding, Liquidation, MarkPrice, OpenInterest, PositionSide, PriceLevel, Side, Trade
from ...timeutil import NS_PER_MS
from .instruments import EmuInstrument

_enc = msgspec.json.Encoder()

BARS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1H": 3_600_000,
    "2H": 7_200_000,
    "4H": 14_400_000,
    "6H": 21_600_000,
    "12H": 43_200_000,
    "1D": 86_400_000,
    "1W": 604_800_000,
}


def dumps(obj: object) -> bytes:
    return _enc.encode(obj)


def _ms(ns: int) -> str:
    return str(ns // NS_PER_MS)


def _family(inst: EmuInstrument) -> str:
    return inst.instrument.removesuffix("-SWAP")


def book_levels(inst: EmuInstrument, levels: Sequence[PriceLevel], orders: int = 1) -> list[list[str]]:
    """``[px, sz (contracts), "0", numOrders]``; a deleted level has size and order count "0"."""

    return [[inst.px(p), inst.qty(q), "0", str(orders if q > 0 else 0)] for p, q in levels]


def checksum(bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> int:
    """OKX book checksum: CRC32 (signed) of ``bid1px:bid1sz:ask1px:ask1sz:…`` over the top 25 levels."""

    parts: list[str] = []
    for i in range(25):
        if i < len(bids):
            parts += [bids[i][0], bids[i][1]]
        if i < len(asks):
            parts += [asks[i][0], asks[i][1]]
    value = zlib.crc32(":".join(parts).encode())
    return value - (1 << 32) if value >= 1 << 31 else value


_LEVEL_TEXT: dict[tuple[str, float, float], str] = {}


def level_checksum(inst: EmuInstrument, bids: Sequence[PriceLevel], asks: Sequence[PriceLevel]) -> int:
    """:func:`checksum` from (price, base size) levels, with each level's ``px:sz`` text memoized (the top
    of a book changes little from one push to the next)."""

    memo = _LEVEL_TEXT
    key0 = inst.instrument

    def text(p: float, q: float) -> str:
        t = memo.get((key0, p, q))
        if t is None:
            if len(memo) > 500_000:
                memo.clear()
            t = memo[(key0, p, q)] = f"{inst.px(p)}:{inst.qty(q)}"
        return t

    parts: list[str] = []
    for i in range(25):
        if i < len(bids):
            parts.append(text(*bids[i]))
        if i < len(asks):
            parts.append(text(*asks[i]))
    value = zlib.crc32(":".join(parts).encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def books(
    inst: EmuInstrument,
    *,
    channel: str,
    action: str | None,
    bids: Sequence[PriceLevel],
    asks: Sequence[PriceLevel],
    ts_ms: int,
    seq_id: int,
    prev_seq_id: int,
    full_bids: Sequence[PriceLevel] | None = None,
    full_asks: Sequence[PriceLevel] | None = None,
) -> bytes:
    """``books`` snapshot/update (with ``seqId``/``prevSeqId`` and the checksum of the resulting book, given
    as ``full_*``), or ``books5``/``bbo-tbt`` (``action`` None: a full top-N push)."""

    data: dict[str, object] = {
        "asks": book_levels(inst, asks),
        "bids": book_levels(inst, bids),
        "ts": str(ts_ms),
    }
    if action is None:
        data["instId"] = inst.instrument
        data["seqId"] = seq_id
        msg: dict[str, object] = {"arg": {"channel": channel, "instId": inst.instrument}, "data": [data]}
        return dumps(msg)
    # the checksum covers the top 25 levels of the book after this push
    data["checksum"] = level_checksum(
        inst,
        (full_bids if full_bids is not None else bids)[:25],
        (full_asks if full_asks is not None else asks)[:25],
    )
    data["prevSeqId"] = prev_seq_id
    data["seqId"] = seq_id
    return dumps({"arg": {"channel": channel, "instId": inst.instrument}, "action": action, "data": [data]})


def trades(ev: Trade, inst: EmuInstrument, *, trade_id: str, seq_id: int, channel: str = "trades") -> bytes:
    """``trades`` (``side`` = taker side, ``sz`` contracts)."""

    row = {
        "instId": inst.instrument,
        "tradeId": trade_id,
        "px": inst.px(ev.price),
        "sz": inst.qty(ev.quantity),
        "side": "buy" if ev.side is Side.BUY else "sell",
        "ts": _ms(ev.ts_event),
        "count": "1",
        "source": "0",
        "seqId": seq_id,
    }
    if channel == "trades-all":
        del row["count"]
    return dumps({"arg": {"channel": channel, "instId": inst.instrument}, "data": [row]})


def liquidation_orders(ev: Liquidation, inst: EmuInstrument) -> bytes:
    """``liquidation-orders`` (instType SWAP: every swap on one subscription). ``posSide`` is the liquidated
    position, ``side`` the forced order (sell closes a long); ``bkPx`` bankruptcy price, ``sz`` contracts."""

    long_liq = ev.side is PositionSide.LONG
    return dumps(
        {
            "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
            "data": [
                {
                    "details": [
                        {
                            "bkLoss": "0",
                            "bkPx": inst.px(ev.price),
                            "ccy": "",
                            "posSide": "long" if long_liq else "short",
                            "side": "sell" if long_liq else "buy",
                            "sz": inst.qty(ev.quantity),
                            "ts": _ms(ev.ts_event),
                        }
                    ],
                    "instFamily": _family(inst),
                    "instId": inst.instrument,
                    "instType": "SWAP",
                    "uly": _family(inst),
                }
            ],
        }
    )


def open_interest_row(oi: OpenInterest, inst: EmuInstrument) -> dict[str, str]:
    """One side of the book: ``oi`` contracts, ``oiCcy`` coin, ``oiUsd`` USD."""

    return {
        "instType": "SWAP",
        "instId": inst.instrument,
        "oi": inst.qty(oi.oi_base),
        "oiCcy": f"{oi.oi_base:.8f}".rstrip("0").rstrip("."),
        "oiUsd": f"{oi.oi_usd:.4f}".rstrip("0").rstrip("."),
        "ts": _ms(oi.ts_event),
    }


def open_interest(oi: OpenInterest, inst: EmuInstrument) -> bytes:
    return dumps(
        {
            "arg": {"channel": "open-interest", "instId": inst.instrument},
            "data": [open_interest_row(oi, inst)],
        }
    )


def _rate(x: float) -> str:
    return f"{x:.10f}".rstrip("0").rstrip(".") or "0"


def funding_row(funding: Funding, inst: EmuInstrument, *, premium: float = 0.0) -> dict[str, str]:
    """``fundingTime`` is the settlement of ``fundingRate``; the interval is ``nextFundingTime −
    fundingTime``."""

    f_ms = (funding.next_funding_ts or funding.ts_event) // NS_PER_MS
    interval_ms = int(funding.interval_hours * 3_600_000)
    return {
        "formulaType": "noRate",
        "fundingRate": _rate(funding.rate),
        "fundingTime": str(f_ms),
        "impactValue": "20000",
        "instId": inst.instrument,
        "instType": "SWAP",
        "interestRate": "0.0001",
        "maxFundingRate": "0.00375",
        "method": "current_period",
        "minFundingRate": "-0.00375",
        "nextFundingRate": "",
        "nextFundingTime": str(f_ms + interval_ms),
        "premium": _rate(premium),
        "settFundingRate": _rate(funding.settled_rate if funding.settled_rate is not None else funding.rate),
        "settState": "settled",
        "ts": _ms(funding.ts_event),
    }


def funding_rate(funding: Funding, inst: EmuInstrument, *, premium: float = 0.0) -> bytes:
    return dumps(
        {
            "arg": {"channel": "funding-rate", "instId": inst.instrument},
            "data": [funding_row(funding, inst, premium=premium)],
        }
    )


def mark_price_row(mark: MarkPrice, inst: EmuInstrument) -> dict[str, str]:
    return {
        "instId": inst.instrument,
        "instType": "SWAP",
        "markPx": inst.px(mark.mark_price),
        "ts": _ms(mark.ts_event),
    }


def mark_price(mark: MarkPrice, inst: EmuInstrument) -> bytes:
    return dumps(
        {"arg": {"channel": "mark-price", "instId": inst.instrument}, "data": [mark_price_row(mark, inst)]}
    )


def candle_row(row: Sequence[float], inst: EmuInstrument, *, confirm: bool) -> list[str]:
    """``[ts, o, h, l, c, vol (contracts), volCcy (coin), volCcyQuote (USDT), confirm]``."""

    return [
        str(int(row[0])),
        inst.px(row[1]),
        inst.px(row[2]),
        inst.px(row[3]),
        inst.px(row[4]),
        inst.qty(row[5]),
        f"{row[5]:.8f}".rstrip("0").rstrip(".") or "0",
        f"{row[6]:.4f}".rstrip("0").rstrip(".") or "0",
        "1" if confirm else "0",
    ]


def candle(row: Sequence[float], inst: EmuInstrument, *, bar: str, confirm: bool) -> bytes:
    return dumps(
        {
            "arg": {"channel": f"candle{bar}", "instId": inst.instrument},
            "data": [candle_row(row, inst, confirm=confirm)],
        }
    )


def ticker_row(
    inst: EmuInstrument,
    *,
    last: float,
    bid: PriceLevel | None,
    ask: PriceLevel | None,
    ts_ms: int,
    vol_base: float,
) -> dict[str, str]:
    return {
        "instType": "SWAP",
        "instId": inst.instrument,
        "last": inst.px(last),
        "lastSz": inst.qty(inst.lot_base),
        "askPx": inst.px(ask[0]) if ask else "",
        "askSz": inst.qty(ask[1]) if ask else "",
        "bidPx": inst.px(bid[0]) if bid else "",
        "bidSz": inst.qty(bid[1]) if bid else "",
        "open24h": inst.px(last),
        "high24h": inst.px(last * 1.01),
        "low24h": inst.px(last * 0.99),
        "volCcy24h": f"{vol_base:.4f}",
        "vol24h": inst.qty(vol_base),
        "sodUtc0": inst.px(last),
        "sodUtc8": inst.px(last),
        "ts": str(ts_ms),
    }


def instrument(inst: EmuInstrument, *, list_ms: int) -> dict[str, str]:
    """One ``data[]`` row of ``/api/v5/public/instruments?instType=SWAP``."""

    base = inst.symbol
    return {
        "alias": "",
        "auctionEndTime": "",
        "baseCcy": "",
        "category": "1",
        "contTdSwTime": "",
        "ctMult": "1",
        "ctType": "linear",
        "ctVal": f"{inst.contract_size:g}",
        "ctValCcy": base,
        "expTime": "",
        "futureSettlement": False,  # type: ignore[dict-item]
        "instFamily": _family(inst),
        "instId": inst.instrument,
        "instType": "SWAP",
        "lever": f"{inst.max_leverage:g}",
        "listTime": str(list_ms),
        "lotSz": f"{inst.lot:g}",
        "maxIcebergSz": "100000000",
        "maxLmtAmt": "20000000",
        "maxLmtSz": "100000000",
        "maxMktAmt": "",
        "maxMktSz": "12000",
        "maxStopSz": "12000",
        "maxTriggerSz": "100000000",
        "maxTwapSz": "100000000",
        "minSz": f"{inst.lot:g}",
        "openType": "",
        "optType": "",
        "quoteCcy": "",
        "ruleType": "normal",
        "settleCcy": "USDT",
        "state": "live",
        "stk": "",
        "tickSz": f"{inst.tick:g}" if inst.tick >= 1e-4 else f"{inst.tick:.10f}".rstrip("0"),
        "uly": _family(inst),
    }


def ok(data: object) -> bytes:
    return dumps({"code": "0", "msg": "", "data": data})


def error(code: str, msg: str) -> bytes:
    return dumps({"code": code, "msg": msg, "data": []})
