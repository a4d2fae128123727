"""Local order books built from the emulator over real sockets with the production decoders: they sync by
each venue's rules, equal the emulator's book, and a ``gap`` fault is detected as exactly the gap the
emulator logged, after which the book resyncs (Binance: a fresh REST snapshot; Bybit/OKX: resubscribe)."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from aiohttp import WSMsgType

from perpscope.feed.book import Applied, LocalBook
from perpscope.model import BookDelta, BookSnapshot, Venue
from perpscope.sim.emulator import Emulator
from perpscope.venues import binance, make_decoder
from perpscope.venues.instruments import Instruments

SUBSCRIBE = {
    Venue.BYBIT: ("/v5/public/linear", {"op": "subscribe", "args": ["orderbook.50.BTCUSDT"]}),
    Venue.OKX: (
        "/ws/v5/public",
        {"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT-SWAP"}]},
    ),
    Venue.HYPERLIQUID: ("/ws", {"method": "subscribe", "subscription": {"type": "l2Book", "coin": "BTC"}}),
}
UNSUBSCRIBE = {
    Venue.BYBIT: {"op": "unsubscribe", "args": ["orderbook.50.BTCUSDT"]},
    Venue.OKX: {"op": "unsubscribe", "args": [{"channel": "books", "instId": "BTC-USDT-SWAP"}]},
}
DEPTH = {Venue.BYBIT: 50, Venue.OKX: 400, Venue.HYPERLIQUID: 20}


async def pump(
    ws: aiohttp.ClientWebSocketResponse, book: LocalBook, decoder: object, seconds: float
) -> list[Applied]:
    """Feed book events from ``ws`` into ``book`` for ``seconds``; returns what apply() said."""

    out: list[Applied] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await asyncio.wait_for(ws.receive(), left)
        except TimeoutError:
            break
        if msg.type is not WSMsgType.TEXT:
            assert msg.type not in (WSMsgType.CLOSED, WSMsgType.ERROR), msg
            continue
        for ev in decoder.decode(msg.data, time.time_ns()):  # type: ignore[attr-defined]
            if isinstance(ev, BookSnapshot | BookDelta) and ev.symbol == "BTC":
                out.append(book.apply(ev))
    return out


async def drain(ws: aiohttp.ClientWebSocketResponse, book: LocalBook, decoder: object) -> None:
    """After the source stopped: apply what is still on its way, until the socket is quiet."""

    while await pump(ws, book, decoder, 0.4):
        pass


def truth(
    emu: Emulator, venue: Venue, depth: int | None
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    m = emu.server(venue).markets["BTC"]
    if depth is None:
        return m.top(10**6)
    return m.top(depth)


async def rest_snapshot(http: aiohttp.ClientSession, emu: Emulator) -> BookSnapshot:
    url = emu.endpoints["binance"]["rest"] + "/fapi/v1/depth?symbol=BTCUSDT&limit=1000"
    async with http.get(url) as resp:
        assert resp.status == 200
        return binance.parse_depth_snapshot(await resp.read(), symbol="BTC")


async def test_binance_book_sync_gap_and_rest_resync(make_emulator, http) -> None:  # type: ignore[no-untyped-def]
    emu = await make_emulator(venues=["binance"], faults="gap:binance@2s", rate=6.0)
    book = LocalBook("binance", "BTC")
    decoder = make_decoder("binance")
    async with http.ws_connect(
        emu.endpoints["binance"]["ws"] + "/public/stream?streams=btcusdt@depth@100ms"
    ) as ws:
        await pump(ws, book, decoder, 0.3)  # buffered: no snapshot yet
        assert book.needs_snapshot and book.buffered > 0
        book.apply(await rest_snapshot(http, emu))  # the documented procedure: snapshot after the stream
        assert not book.needs_snapshot  # synced once a diff spans lastUpdateId (maybe still unread)
        outcomes = await pump(ws, book, decoder, 2.5)  # the gap fault fires at 2 s
        assert Applied.GAP in outcomes and book.needs_resync
        (logged,) = emu.fault_log.of("gap", "binance")
        assert book.last_gap is not None
        assert (book.last_gap.from_id, book.last_gap.to_id) == (logged["from_id"], logged["to_id"])
        # resync without dropping the stream: fresh snapshot, buffered diffs replayed
        book.apply(await rest_snapshot(http, emu))
        assert not book.needs_snapshot and book.stats.resyncs == 1
        await emu.stop_source()
        await drain(ws, book, decoder)
    assert book.synced and book.stats.gaps == 1 and book.stats.crossed == 0
    bids, asks = truth(emu, Venue.BINANCE, None)
    assert book.levels("bid") == bids and book.levels("ask") == asks


@pytest.mark.parametrize("venue", [Venue.BYBIT, Venue.OKX])
async def test_stream_books_sync_gap_and_resubscribe(make_emulator, http, venue: Venue) -> None:  # type: ignore[no-untyped-def]
    emu = await make_emulator(venues=[venue], faults=f"gap:{venue.value}@0.8s", rate=6.0)
    book = LocalBook(venue, "BTC")
    decoder = (
        make_decoder(venue, instruments=Instruments.packaged()) if venue is Venue.OKX else make_decoder(venue)
    )
    path, sub = SUBSCRIBE[venue]
    async with http.ws_connect(emu.endpoints[venue.value]["ws"] + path) as ws:
        await ws.send_str(json.dumps(sub))
        outcomes = await pump(ws, book, decoder, 1.5)
        assert outcomes[0] is Applied.SNAPSHOT
        assert Applied.GAP in outcomes and book.needs_resync
        (logged,) = emu.fault_log.of("gap", venue)
        assert book.last_gap is not None
        assert (book.last_gap.from_id, book.last_gap.to_id) == (logged["from_id"], logged["to_id"])
        # resubscribe: a new snapshot ends the resync
        await ws.send_str(json.dumps(UNSUBSCRIBE[venue]))
        await ws.send_str(json.dumps(sub))
        await pump(ws, book, decoder, 0.6)
        assert book.synced and book.stats.resyncs == 1
        await emu.stop_source()
        await drain(ws, book, decoder)
    assert book.stats.gaps == 1 and book.stats.crossed == 0
    bids, asks = truth(emu, venue, DEPTH[venue])
    assert book.levels("bid") == bids and book.levels("ask") == asks


async def test_hyperliquid_snapshots_track_the_book(make_emulator, http) -> None:  # type: ignore[no-untyped-def]
    emu = await make_emulator(venues=["hyperliquid"], rate=6.0, hyperliquid_block_s=0.2)
    book = LocalBook(Venue.HYPERLIQUID, "BTC")
    decoder = make_decoder("hyperliquid")
    path, sub = SUBSCRIBE[Venue.HYPERLIQUID]
    async with http.ws_connect(emu.endpoints["hyperliquid"]["ws"] + path) as ws:
        await ws.send_str(json.dumps(sub))
        outcomes = await pump(ws, book, decoder, 1.5)
        assert outcomes.count(Applied.SNAPSHOT) >= 3
        await emu.stop_source()
        await asyncio.sleep(0.3)  # the last block
        await drain(ws, book, decoder)
    bids, asks = truth(emu, Venue.HYPERLIQUID, 20)
    assert book.levels("bid") == bids and book.levels("ask") == asks
