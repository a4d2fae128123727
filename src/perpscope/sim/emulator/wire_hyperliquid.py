"""Hyperliquid wire encoders: normalized events → the JSON Hyperliquid pushes on ``/ws`` and answers on
``POST /info`` (the inverse of ``perpscope.venues.hyperliquid``). Open interest is reported two-sided
(longs + shorts), so the one-sided ``oi_base`` is doubled.

Docs: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/subscriptions
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import msgspec

from ...model import Funding, MarkPrice, OpenInterest, PriceLevel, Side, Trade
from ...timeutil import NS_PER_MS
from .instruments import EmuInstrument

OI_SIDES_REPORTED = 2.0
_enc = msgspec.json.Encoder()


def dumps(obj: object) -> bytes:
    return _enc.encode(obj)


def _orders(price: float, size: float) -> int:
    """A plausible, deterministic order count for a level."""

    return 1 + int(abs(price) * 1000 + size * 7) % 9


def levels(inst: EmuInstrument, rows: Sequence[PriceLevel]) -> list[dict[str, object]]:
    return [{"px": inst.px(p), "sz": inst.qty(q), "n": _orders(p, q)} for p, q in rows]


def l2_book_data(
    inst: EmuInstrument, bids: Sequence[PriceLevel], asks: Sequence[PriceLevel], *, time_ms: int
) -> dict[str, object]:
    return {"coin": inst.instrument, "time": time_ms, "levels": [levels(inst, bids), levels(inst, asks)]}


def l2_book(
    inst: EmuInstrument, bids: Sequence[PriceLevel], asks: Sequence[PriceLevel], *, time_ms: int
) -> bytes:
    """``l2Book``: a full snapshot (≤ 20 levels a side) per block."""

    return dumps({"channel": "l2Book", "data": l2_book_data(inst, bids, asks, time_ms=time_ms)})


def _tx_hash(tid: int) -> str:
    return "0x" + hashlib.sha256(str(tid).encode()).hexdigest()


def trades(ev: Trade, inst: EmuInstrument, *, tid: int) -> bytes:
    """``trades``: ``side`` B = the buyer aggressed, A = the seller."""

    return dumps(
        {
            "channel": "trades",
            "data": [
                {
                    "coin": inst.instrument,
                    "side": "B" if ev.side is Side.BUY else "A",
                    "px": inst.px(ev.price),
                    "sz": inst.qty(ev.quantity),
                    "time": ev.ts_event // NS_PER_MS,
                    "hash": _tx_hash(tid),
                    "tid": tid,
                    "users": ["0x" + "1" * 40, "0x" + "2" * 40],
                }
            ],
        }
    )


def _num(x: float) -> str:
    return f"{x:.10f}".rstrip("0").rstrip(".") or "0"


def asset_ctx(
    inst: EmuInstrument,
    *,
    mark: MarkPrice,
    funding: Funding | None,
    oi: OpenInterest | None,
    mid: float | None,
    day_volume_base: float = 0.0,
    prev_day_px: float | None = None,
) -> dict[str, object]:
    """The ``ctx`` of ``activeAssetCtx`` / one ``metaAndAssetCtxs`` entry (``openInterest`` both sides)."""

    oracle = mark.index_price if mark.index_price is not None else mark.mark_price
    premium = (mark.mark_price - oracle) / oracle if oracle else 0.0
    return {
        "funding": _num(funding.rate if funding is not None else 0.0),
        "openInterest": inst.qty(OI_SIDES_REPORTED * oi.oi_base) if oi is not None else "0",
        "prevDayPx": inst.px(prev_day_px or mark.mark_price),
        "dayNtlVlm": _num(round(day_volume_base * mark.mark_price, 2)),
        "premium": _num(round(premium, 8)),
        "oraclePx": inst.px(oracle),
        "markPx": inst.px(mark.mark_price),
        "midPx": inst.px(mid) if mid is not None else None,
        "impactPxs": [inst.px(mid or mark.mark_price), inst.px(mid or mark.mark_price)],
        "dayBaseVlm": _num(round(day_volume_base, 6)),
    }


def active_asset_ctx(inst: EmuInstrument, ctx: dict[str, object]) -> bytes:
    return dumps({"channel": "activeAssetCtx", "data": {"coin": inst.instrument, "ctx": ctx}})


def bbo(inst: EmuInstrument, bid: PriceLevel | None, ask: PriceLevel | None, *, time_ms: int) -> bytes:
    b = levels(inst, [bid])[0] if bid else None
    a = levels(inst, [ask])[0] if ask else None
    return dumps({"channel": "bbo", "data": {"coin": inst.instrument, "time": time_ms, "bbo": [b, a]}})


def candle_data(
    inst: EmuInstrument, row: Sequence[float], *, interval: str, interval_ms: int
) -> dict[str, object]:
    t = int(row[0])
    return {
        "t": t,
        "T": t + interval_ms - 1,
        "s": inst.instrument,
        "i": interval,
        "o": inst.px(row[1]),
        "c": inst.px(row[4]),
        "h": inst.px(row[2]),
        "l": inst.px(row[3]),
        "v": inst.qty(row[5]),
        "n": int(row[7]),
    }


def universe_entry(inst: EmuInstrument, *, margin_table_id: int) -> dict[str, object]:
    return {
        "szDecimals": inst.qty_decimals,
        "name": inst.instrument,
        "maxLeverage": int(inst.max_leverage),
        "marginTableId": margin_table_id,
    }
