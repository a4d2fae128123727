"""Market sources: the seeded generator is deterministic, on the venue grid and never crossed; a recorded
capture replays through the production decoder into the emulator and out to clients unchanged."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from aiohttp import WSMsgType

from perpscope.feed.book import LocalBook
from perpscope.model import BookDelta, BookSnapshot, Liquidation, Trade, Venue
from perpscope.sim.emulator import SeededSource
from perpscope.sim.emulator.source import capture_venue, parse_source
from perpscope.venues import make_decoder
from perpscope.venues.lines import CaptureReader

CAPTURE = "binance-usdm-ws-btcusdt-2024-08-08.txt.gz"


def _content(events: list) -> list:  # type: ignore[type-arg]
    """Events without their timestamps (wall-clock times differ between runs)."""

    out = []
    for e in events:
        d = msgspec.structs.asdict(e)
        for k in ("ts_event", "ts_recv", "next_funding_ts"):
            d.pop(k, None)
        out.append((type(e).__name__, d))
    return out


def test_seeded_source_is_deterministic() -> None:
    def run(seed: int) -> list:  # type: ignore[type-arg]
        src = SeededSource(venues=list(Venue), symbols=["BTC", "DOGE"], seed=seed, liquidations_per_s=1.0)
        events = src.initial_events()
        for _ in range(100):
            events += src.tick()
        return _content(events)

    a, b, c = run(3), run(3), run(4)
    assert a == b and a != c
    kinds = {k for k, _ in a}
    assert {
        "BookSnapshot",
        "BookDelta",
        "Trade",
        "Liquidation",
        "MarkPrice",
        "Funding",
        "OpenInterest",
    } <= kinds


def test_seeded_books_stay_on_grid_and_uncrossed() -> None:
    src = SeededSource(venues=list(Venue), symbols=["BTC", "XRP"], seed=11, vol_annual=3.0)
    books: dict[tuple[Venue, str], tuple[dict[float, float], dict[float, float]]] = {}
    for ev in src.initial_events():
        if isinstance(ev, BookSnapshot):
            books[(ev.venue, ev.symbol)] = (dict(ev.bids), dict(ev.asks))
    for _ in range(300):
        for ev in src.tick():
            inst = src.instruments[(ev.venue, ev.symbol)]
            if isinstance(ev, BookDelta):
                bids, asks = books[(ev.venue, ev.symbol)]
                for side, levels in ((bids, ev.bids), (asks, ev.asks)):
                    for p, q in levels:
                        assert math.isclose(p / inst.tick, round(p / inst.tick), abs_tol=1e-6)
                        if q == 0:
                            side.pop(p, None)
                        else:
                            side[p] = q
                assert max(bids) < min(asks)
            elif isinstance(ev, Trade | Liquidation):
                lots = ev.quantity / inst.lot_base
                assert ev.quantity > 0 and math.isclose(lots, round(lots), abs_tol=1e-6)
    # Hyperliquid has no liquidation feed; Binance/OKX at most one per symbol per second
    assert all(not isinstance(e, Liquidation) for e in src.tick() if e.venue is Venue.HYPERLIQUID)


async def test_rate_scales_the_pace() -> None:
    src = SeededSource(venues=[Venue.BYBIT], symbols=["BTC"], rate=5.0)
    src.initial_events()
    t0 = time.monotonic()
    n = 0
    async for _ in src.batches():
        n += 1
        if time.monotonic() - t0 >= 1.0:
            break
    assert 40 <= n <= 60  # 10 ticks/s × 5


def test_source_names() -> None:
    assert parse_source("sim") == ("sim", None, None)
    assert parse_source("okx:/data/x.jsonl")[:2] == ("file", Venue.OKX)
    assert capture_venue("/data/binance-usdm-ws-btcusdt.txt.gz") is Venue.BINANCE
    with pytest.raises(ValueError, match="VENUE:PATH"):
        capture_venue("/data/capture.txt")


@pytest.mark.slow
async def test_capture_replays_through_the_emulator(
    make_emulator, http, shared: Callable[[str], Path]
) -> None:  # type: ignore[no-untyped-def]
    path = shared(CAPTURE)
    emu = await make_emulator(
        venues=["binance"], symbols=("BTC",), source=f"binance:{path}", rate=float("inf"), start_delay_s=0.5
    )
    received = 0
    async with http.ws_connect(emu.endpoints["binance"]["ws"] + "/public/stream?streams=btcusdt@trade") as ws:
        await emu.wait_source_done(timeout=60)
        while True:
            try:
                msg = await asyncio.wait_for(ws.receive(), 1.0)
            except TimeoutError:
                break
            if msg.type is WSMsgType.TEXT:
                received += json.loads(msg.data)["stream"] == "btcusdt@trade"
    server = emu.server("binance")
    assert server.published["trade"] == received == 21313
    trades = [e for e in emu.published("binance") if isinstance(e, Trade)]
    assert abs(trades[-1].ts_event - time.time_ns()) < 60 * 10**9  # shifted to now
    # the emulator's book is the capture's book: rebuild it directly and compare
    book = LocalBook("binance", "BTC")
    decoder = make_decoder("binance")
    for ts, payload in CaptureReader(path):
        for ev in decoder.decode(payload, ts or 0):
            if isinstance(ev, BookSnapshot | BookDelta):
                book.apply(ev)
    bids, asks = server.markets["BTC"].top(10**6)
    assert book.synced and book.levels("bid") == bids and book.levels("ask") == asks


async def test_the_simulator_drives_all_venues(make_emulator, http) -> None:  # type: ignore[no-untyped-def]
    """``source="sim"``: the synthetic market simulator. Open interest and funding are known from the
    start (a warm-up bar), books are on each venue's grid and clients can sync to them."""

    emu = await make_emulator(source="sim", rate=4.0, symbols=("BTC", "BNB"))
    for venue in Venue:
        for sym in ("BTC", "BNB"):
            m = emu.server(venue).markets[sym]
            assert m.oi_base and m.oi_base > 0 and m.mark and m.next_funding_ms
            bid, ask = m.bids.best(), m.asks.best()
            assert bid is not None and ask is not None and bid < ask
            assert all(
                math.isclose(p / m.inst.tick, round(p / m.inst.tick), abs_tol=1e-6) for p in m.bids.prices
            )
    url = emu.endpoints["bybit"]["ws"] + "/v5/public/linear"
    book = LocalBook("bybit", "BNB")
    decoder = make_decoder("bybit")
    async with http.ws_connect(url) as ws:
        await ws.send_str(
            json.dumps({"op": "subscribe", "args": ["orderbook.50.BNBUSDT", "publicTrade.BNBUSDT"]})
        )
        trades = 0
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            msg = await asyncio.wait_for(ws.receive(), 3)
            for ev in decoder.decode(msg.data, 0):
                if isinstance(ev, BookSnapshot | BookDelta):
                    book.apply(ev)
                trades += isinstance(ev, Trade)
        await emu.stop_source()
        while True:
            try:
                msg = await asyncio.wait_for(ws.receive(), 0.5)
            except TimeoutError:
                break
            for ev in decoder.decode(msg.data, 0):
                if isinstance(ev, BookSnapshot | BookDelta):
                    book.apply(ev)
    assert trades > 0 and book.synced and book.stats.gaps == 0
    bids, asks = emu.server("bybit").markets["BNB"].top(50)
    assert book.levels("bid") == bids and book.levels("ask") == asks
