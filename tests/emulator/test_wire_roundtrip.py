"""Wire encoders are the inverse of the production decoders: normalized events encoded by the emulator and
decoded by ``perpscope.venues`` come back unchanged (prices on the venue tick, sizes on its lot)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.model import (
    BookDelta,
    BookSnapshot,
    Funding,
    Liquidation,
    MarkPrice,
    OpenInterest,
    PositionSide,
    Side,
    Trade,
    Venue,
)
from perpscope.sim.emulator import wire_binance as wb
from perpscope.sim.emulator import wire_bybit as wy
from perpscope.sim.emulator import wire_hyperliquid as wh
from perpscope.sim.emulator import wire_okx as wo
from perpscope.sim.emulator.instruments import EmuInstrument, build_instrument
from perpscope.venues import binance, bybit, hyperliquid, make_decoder, okx
from perpscope.venues.instruments import Instruments

TABLE = Instruments.packaged()
T0 = 1_786_310_819_000 * 1_000_000  # ns, on a whole millisecond
RECV = T0 + 5_000_000
SYMBOLS = ["BTC", "ETH", "SOL", "BNB", "XRP", "DOGE"]


def inst(venue: Venue, symbol: str) -> EmuInstrument:
    return build_instrument(venue, symbol, instruments=TABLE)


def decoder(venue: Venue):
    return make_decoder(venue, instruments=TABLE) if venue is Venue.OKX else make_decoder(venue)


def on_grid(i: EmuInstrument, ticks: int, lots: int) -> tuple[float, float]:
    return i.round_px(ticks * i.tick), i.round_base(lots * i.lot_base)


def assert_same(got: object, want: object) -> None:
    """Structs equal field by field, floats to 1e-12 relative."""

    assert type(got) is type(want)
    g, w = msgspec.structs.asdict(got), msgspec.structs.asdict(want)  # type: ignore[arg-type]
    assert g.keys() == w.keys()
    for k in g:
        if isinstance(w[k], float):
            assert g[k] == pytest.approx(w[k], rel=1e-12), k
        elif isinstance(w[k], list):
            assert len(g[k]) == len(w[k]), k
            for a, b in zip(g[k], w[k], strict=True):
                assert a == pytest.approx(b, rel=1e-12), k
        else:
            assert g[k] == w[k], k


trade_args = st.tuples(
    st.sampled_from(SYMBOLS),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 10**6),
    st.integers(1, 10**4),
    st.integers(0, 10**6),
)


def make_trade(venue: Venue, symbol: str, side: Side, ticks: int, lots: int, tid: int) -> Trade:
    i = inst(venue, symbol)
    # keep prices in a plausible band around the reference so they stay on the tick grid exactly
    px, qty = on_grid(i, ticks + round(1_000 / i.tick) if i.tick < 1 else ticks, lots)
    return Trade(
        venue=venue,
        symbol=symbol,
        ts_event=T0,
        ts_recv=RECV,
        side=side,
        price=px,
        quantity=qty,
        notional_usd=px * qty,
        trade_id=str(tid),
    )


@settings(max_examples=60, deadline=None)
@given(args=trade_args, venue=st.sampled_from(list(Venue)))
def test_trade_roundtrip(args: tuple[str, Side, int, int, int], venue: Venue) -> None:
    symbol, side, ticks, lots, tid = args
    ev = make_trade(venue, symbol, side, ticks, lots, tid)
    i = inst(venue, symbol)
    if venue is Venue.BINANCE:
        raw_trade = wb.dumps(wb.trade(ev, i, trade_id=tid))
        msgs = [
            wb.combined(f"{i.instrument.lower()}@trade", raw_trade),
            raw_trade,  # a bare /ws payload decodes too
            wb.dumps(wb.agg_trade(ev, i, agg_id=tid, first_id=tid, last_id=tid)),
        ]
    elif venue is Venue.BYBIT:
        msgs = [wy.public_trade(ev, i, seq=7, trade_id=str(tid))]
    elif venue is Venue.OKX:
        msgs = [wo.trades(ev, i, trade_id=str(tid), seq_id=3)]
    else:
        msgs = [wh.trades(ev, i, tid=tid)]
    for raw in msgs:
        (got,) = decoder(venue).decode(raw, RECV)
        assert_same(got, ev)


@settings(max_examples=60, deadline=None)
@given(
    symbol=st.sampled_from(SYMBOLS),
    side=st.sampled_from([PositionSide.LONG, PositionSide.SHORT]),
    ticks=st.integers(1, 10**6),
    lots=st.integers(1, 10**5),
    venue=st.sampled_from([Venue.BINANCE, Venue.BYBIT, Venue.OKX]),
)
def test_liquidation_roundtrip(symbol: str, side: PositionSide, ticks: int, lots: int, venue: Venue) -> None:
    i = inst(venue, symbol)
    px, qty = on_grid(i, ticks, lots)
    ev = Liquidation(
        venue=venue,
        symbol=symbol,
        ts_event=T0,
        ts_recv=RECV,
        side=side,
        price=px,
        quantity=qty,
        notional_usd=px * qty,
        sampled=venue is not Venue.BYBIT,  # Binance and OKX push at most one per second
    )
    if venue is Venue.BINANCE:
        raw = wb.combined(f"{i.instrument.lower()}@forceOrder", wb.dumps(wb.force_order(ev, i)))
    elif venue is Venue.BYBIT:
        raw = wy.all_liquidation(ev, i)
    else:
        raw = wo.liquidation_orders(ev, i)
    (got,) = decoder(venue).decode(raw, RECV)
    assert_same(got, ev)


def test_binance_legacy_side_semantics() -> None:
    """A liquidated LONG is a forced SELL order on Binance, a Buy on Bybit, posSide long/side sell on OKX."""

    ev = Liquidation(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=T0,
        ts_recv=RECV,
        side=PositionSide.LONG,
        price=60_000.0,
        quantity=0.5,
        notional_usd=30_000.0,
        sampled=True,
    )
    assert wb.force_order(ev, inst(Venue.BINANCE, "BTC"))["o"]["S"] == "SELL"  # type: ignore[index]
    assert b'"S":"Buy"' in wy.all_liquidation(ev, inst(Venue.BYBIT, "BTC"))
    okx_msg = msgspec.json.decode(wo.liquidation_orders(ev, inst(Venue.OKX, "BTC")))
    detail = okx_msg["data"][0]["details"][0]
    assert (detail["posSide"], detail["side"], detail["sz"]) == (
        "long",
        "sell",
        "50",
    )  # 0.5 BTC = 50 contracts


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_binance_mark_price_and_rest_roundtrip(symbol: str) -> None:
    i = inst(Venue.BINANCE, symbol)
    mark = MarkPrice(
        venue=Venue.BINANCE,
        symbol=symbol,
        ts_event=T0,
        ts_recv=RECV,
        mark_price=i.round_px(1234 * i.tick * 7),
        index_price=i.round_px(1233 * i.tick * 7),
    )
    funding = Funding(
        venue=Venue.BINANCE,
        symbol=symbol,
        ts_event=T0,
        ts_recv=RECV,
        rate=0.00012345,
        interval_hours=8.0,
        next_funding_ts=1_786_320_000_000 * 1_000_000,
    )
    raw = wb.combined(f"{i.instrument.lower()}@markPrice@1s", wb.dumps(wb.mark_price(mark, funding, i)))
    got = decoder(Venue.BINANCE).decode(raw, RECV)
    assert [type(e) for e in got] == [MarkPrice, Funding]
    assert_same(got[0], mark)
    assert_same(got[1], funding)
    # REST: open interest, depth snapshot
    oi = OpenInterest(
        venue=Venue.BINANCE,
        symbol=symbol,
        ts_event=T0,
        ts_recv=RECV,
        oi_base=i.round_base(98765 * i.lot_base),
        oi_usd=0.0,
    )
    parsed = binance.parse_open_interest(
        wb.dumps(wb.open_interest(oi, i)), mark_price=mark.mark_price, ts_recv=RECV
    )
    assert parsed.oi_base == pytest.approx(oi.oi_base) and parsed.oi_usd == pytest.approx(
        oi.oi_base * mark.mark_price
    )
    snap = BookSnapshot(
        venue=Venue.BINANCE,
        symbol=symbol,
        ts_event=T0,
        ts_recv=RECV,
        bids=[on_grid(i, 1000, 3), on_grid(i, 999, 1)],
        asks=[on_grid(i, 1001, 2)],
        update_id=42,
    )
    got_snap = binance.parse_depth_snapshot(wb.dumps(wb.depth_snapshot(snap, i)), symbol=symbol, ts_recv=RECV)
    assert_same(got_snap, snap)


def test_binance_depth_update_roundtrip() -> None:
    i = inst(Venue.BINANCE, "ETH")
    delta = BookDelta(
        venue=Venue.BINANCE,
        symbol="ETH",
        ts_event=T0,
        ts_recv=RECV,
        bids=[on_grid(i, 300_000, 5), (i.round_px(299_999 * i.tick), 0.0)],
        asks=[on_grid(i, 300_001, 7)],
        update_id=160,
        first_update_id=157,
        prev_update_id=149,
    )
    raw = wb.combined(
        "ethusdt@depth@100ms", wb.dumps(wb.depth_update(delta, i, first_id=157, last_id=160, prev_id=149))
    )
    (got,) = decoder(Venue.BINANCE).decode(raw, RECV)
    assert_same(got, delta)


@pytest.mark.parametrize("symbol", ["BTC", "DOGE"])
def test_bybit_orderbook_and_tickers_roundtrip(symbol: str) -> None:
    i = inst(Venue.BYBIT, symbol)
    bids = [on_grid(i, 50_000, 4), on_grid(i, 49_999, 2)]
    asks = [on_grid(i, 50_001, 3)]
    dec = decoder(Venue.BYBIT)
    (snap,) = dec.decode(
        wy.orderbook(
            i, depth=50, kind="snapshot", bids=bids, asks=asks, u=500, seq=9000, ts_ms=T0 // 1_000_000
        ),
        RECV,
    )
    assert_same(
        snap,
        BookSnapshot(
            venue=Venue.BYBIT,
            symbol=symbol,
            ts_event=T0,
            ts_recv=RECV,
            bids=bids,
            asks=asks,
            update_id=500,
            cross_seq=9000,
        ),
    )
    change = [(bids[0][0], 0.0)]
    (delta,) = dec.decode(
        wy.orderbook(i, depth=50, kind="delta", bids=change, asks=[], u=501, seq=9010, ts_ms=T0 // 1_000_000),
        RECV,
    )
    assert_same(
        delta,
        BookDelta(
            venue=Venue.BYBIT,
            symbol=symbol,
            ts_event=T0,
            ts_recv=RECV,
            bids=change,
            asks=[],
            update_id=501,
            cross_seq=9010,
        ),
    )
    mark = MarkPrice(
        venue=Venue.BYBIT,
        symbol=symbol,
        ts_event=T0,
        ts_recv=RECV,
        mark_price=bids[0][0],
        index_price=asks[0][0],
    )
    funding = Funding(
        venue=Venue.BYBIT,
        symbol=symbol,
        ts_event=T0,
        ts_recv=RECV,
        rate=-0.000075,
        interval_hours=8.0,
        next_funding_ts=1_786_320_000_000 * 1_000_000,
    )
    oi = OpenInterest(
        venue=Venue.BYBIT,
        symbol=symbol,
        ts_event=T0,
        ts_recv=RECV,
        oi_base=i.round_base(123_456 * i.lot_base),
        oi_usd=0.0,
    )
    oi = msgspec.structs.replace(oi, oi_usd=round(oi.oi_base * mark.mark_price, 2))
    fields = {
        **wy.ticker_fields(i, mark=mark),
        **wy.ticker_fields(i, funding=funding),
        **wy.ticker_fields(i, oi=oi),
    }
    got = dec.decode(wy.tickers(i, fields, kind="snapshot", ts_ms=T0 // 1_000_000, cs=1), RECV)
    by_type = {type(e): e for e in got}
    assert_same(by_type[MarkPrice], mark)
    assert_same(by_type[Funding], funding)
    assert_same(by_type[OpenInterest], oi)
    # a delta with only the open interest changes only that
    oi2 = msgspec.structs.replace(oi, oi_base=oi.oi_base * 2, oi_usd=oi.oi_usd * 2)
    got = dec.decode(
        wy.tickers(i, wy.ticker_fields(i, oi=oi2), kind="delta", ts_ms=T0 // 1_000_000, cs=2), RECV
    )
    assert [type(e) for e in got] == [OpenInterest]
    assert_same(got[0], oi2)


@pytest.mark.parametrize("symbol", ["BTC", "XRP", "DOGE"])
def test_okx_books_and_context_roundtrip(symbol: str) -> None:
    i = inst(Venue.OKX, symbol)
    bids = [on_grid(i, 50_000, 400), on_grid(i, 49_999, 100)]
    asks = [on_grid(i, 50_001, 300)]
    dec = decoder(Venue.OKX)
    ts_ms = T0 // 1_000_000
    (snap,) = dec.decode(
        wo.books(
            i,
            channel="books",
            action="snapshot",
            bids=bids,
            asks=asks,
            ts_ms=ts_ms,
            seq_id=77,
            prev_seq_id=-1,
        ),
        RECV,
    )
    assert_same(
        snap,
        BookSnapshot(
            venue=Venue.OKX, symbol=symbol, ts_event=T0, ts_recv=RECV, bids=bids, asks=asks, update_id=77
        ),
    )
    change = [(asks[0][0], 0.0)]
    raw = wo.books(
        i,
        channel="books",
        action="update",
        bids=[],
        asks=change,
        ts_ms=ts_ms,
        seq_id=80,
        prev_seq_id=77,
        full_bids=bids,
        full_asks=[],
    )
    (delta,) = dec.decode(raw, RECV)
    assert_same(
        delta,
        BookDelta(
            venue=Venue.OKX,
            symbol=symbol,
            ts_event=T0,
            ts_recv=RECV,
            bids=[],
            asks=change,
            update_id=80,
            prev_update_id=77,
        ),
    )
    mark = MarkPrice(venue=Venue.OKX, symbol=symbol, ts_event=T0, ts_recv=RECV, mark_price=bids[0][0])
    (got,) = dec.decode(wo.mark_price(mark, i), RECV)
    assert_same(got, mark)
    funding = Funding(
        venue=Venue.OKX,
        symbol=symbol,
        ts_event=T0,
        ts_recv=RECV,
        rate=0.0000321,
        interval_hours=8.0,
        next_funding_ts=1_786_320_000_000 * 1_000_000,
        settled_rate=0.0001,
    )
    (got,) = dec.decode(wo.funding_rate(funding, i), RECV)
    assert_same(got, funding)
    oi = OpenInterest(
        venue=Venue.OKX,
        symbol=symbol,
        ts_event=T0,
        ts_recv=RECV,
        oi_base=i.round_base(987_654 * i.lot_base),
        oi_usd=0.0,
    )
    oi = msgspec.structs.replace(oi, oi_usd=round(oi.oi_base * mark.mark_price, 4))
    (got,) = dec.decode(wo.open_interest(oi, i), RECV)
    assert_same(got, oi)
    # REST parsers read the same rows
    (rest_oi,) = okx.parse_open_interest(wo.ok([wo.open_interest_row(oi, i)]), instruments=TABLE)
    assert rest_oi.oi_base == pytest.approx(oi.oi_base)


def test_okx_checksum_matches_reference() -> None:
    """The documented example: bids [3366.1,7], asks [3366.8,9] … → crc32 of "3366.1:7:3366.8:9"."""

    import zlib

    value = zlib.crc32(b"3366.1:7:3366.8:9")
    expected = value - (1 << 32) if value >= 1 << 31 else value
    assert wo.checksum([["3366.1", "7", "0", "1"]], [["3366.8", "9", "0", "1"]]) == expected
    # bids and asks interleave, the longer side continues alone; only the top 25 levels count

    def signed(text: bytes) -> int:
        v = zlib.crc32(text)
        return v - (1 << 32) if v >= 1 << 31 else v

    assert wo.checksum([["2", "1"], ["1", "5"]], [["3", "1"]]) == signed(b"2:1:3:1:1:5")
    many = [[str(100 - k), "1"] for k in range(30)]
    assert wo.checksum(many, []) == wo.checksum(many[:25], [])


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_hyperliquid_book_and_ctx_roundtrip(symbol: str) -> None:
    i = inst(Venue.HYPERLIQUID, symbol)
    bids = [on_grid(i, 90_000, 11), on_grid(i, 89_999, 3)]
    asks = [on_grid(i, 90_001, 5)]
    dec = decoder(Venue.HYPERLIQUID)
    ts_ms = T0 // 1_000_000
    (snap,) = dec.decode(wh.l2_book(i, bids, asks, time_ms=ts_ms), RECV)
    assert_same(
        snap,
        BookSnapshot(
            venue=Venue.HYPERLIQUID,
            symbol=symbol,
            ts_event=T0,
            ts_recv=RECV,
            bids=bids,
            asks=asks,
            update_id=ts_ms,
        ),
    )
    mark = MarkPrice(
        venue=Venue.HYPERLIQUID,
        symbol=symbol,
        ts_event=RECV,
        ts_recv=RECV,
        mark_price=bids[0][0],
        index_price=asks[0][0],
    )
    funding = Funding(
        venue=Venue.HYPERLIQUID,
        symbol=symbol,
        ts_event=RECV,
        ts_recv=RECV,
        rate=0.0000125,
        interval_hours=1.0,
        next_funding_ts=hyperliquid.next_funding_ms(RECV // 1_000_000) * 1_000_000,
    )
    oi_base = i.round_base(55_555 * i.lot_base)
    oi = OpenInterest(
        venue=Venue.HYPERLIQUID,
        symbol=symbol,
        ts_event=RECV,
        ts_recv=RECV,
        oi_base=oi_base,
        oi_usd=oi_base * mark.mark_price,
    )
    ctx = wh.asset_ctx(i, mark=mark, funding=funding, oi=oi, mid=(bids[0][0] + asks[0][0]) / 2)
    got = dec.decode(wh.active_asset_ctx(i, ctx), RECV)
    by_type = {type(e): e for e in got}
    assert_same(by_type[Funding], funding)
    assert_same(by_type[OpenInterest], oi)  # two-sided on the wire, one side back
    assert_same(by_type[MarkPrice], mark)
    assert msgspec.json.decode(wh.active_asset_ctx(i, ctx))["data"]["ctx"]["openInterest"] == i.qty(
        2 * oi_base
    )


def test_bybit_rest_parsers_read_emulator_bodies() -> None:
    i = inst(Venue.BYBIT, "BTC")
    body = wy.response(
        {
            "category": "linear",
            "list": [wy.instrument_info(i, launch_ms=1584230400000)],
            "nextPageCursor": "",
        },
        now_ms=1,
    )
    parsed, cursor = bybit.parse_instruments_info(body)
    assert cursor == "" and parsed[0].symbol == "BTC" and parsed[0].tick_size == pytest.approx(i.tick)
