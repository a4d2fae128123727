"""Each venue's websocket protocol over real loopback sockets: URL paths, subscribe/ack, ping rules, errors,
and the first messages a subscriber gets."""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from perpscope.model import Trade
from perpscope.venues import make_decoder

from .conftest import MakeEmulator  # noqa: F401  (type only; fixtures come from conftest)

CLOSED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


async def next_text(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> str:
    while True:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        if msg.type is WSMsgType.TEXT:
            return str(msg.data)
        if msg.type in CLOSED:
            raise AssertionError(f"connection closed: {msg}")


async def until(
    ws: aiohttp.ClientWebSocketResponse, pred: Callable[[Any], bool], timeout: float = 8.0
) -> Any:
    """The first JSON message satisfying ``pred``."""

    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no matching message in time")
        text = await next_text(ws, left)
        try:
            msg = json.loads(text)
        except json.JSONDecodeError:
            continue
        if pred(msg):
            return msg


async def frames_for(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[str]:
    out: list[str] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await asyncio.wait_for(ws.receive(), left)
        except TimeoutError:
            break
        if msg.type is WSMsgType.TEXT:
            out.append(str(msg.data))
        elif msg.type in CLOSED:
            break
    return out


# ---------------------------------------------------------------------------------------------- Binance


async def test_binance_routes_subscribe_and_payload_shapes(make_emulator, http) -> None:  # type: ignore[no-untyped-def]
    emu = await make_emulator(venues=["binance"])
    base = emu.endpoints["binance"]["ws"]
    # combined stream on the /market route: {"stream", "data"} wrapped, decodable by the production decoder
    async with http.ws_connect(f"{base}/market/stream?streams=btcusdt@aggTrade/btcusdt@markPrice@1s") as ws:
        msg = await until(ws, lambda m: m.get("stream") == "btcusdt@aggTrade")
        assert msg["data"]["e"] == "aggTrade" and msg["data"]["s"] == "BTCUSDT"
        (trade,) = make_decoder("binance").decode(json.dumps(msg), 0)
        assert isinstance(trade, Trade) and trade.symbol == "BTC"
        mark = await until(ws, lambda m: m.get("stream") == "btcusdt@markPrice@1s")
        assert {"p", "i", "r", "T"} <= set(mark["data"])
    # raw /public/ws with SUBSCRIBE: bare payloads, {"result": null, "id": n} ack, LIST_SUBSCRIPTIONS
    async with http.ws_connect(f"{base}/public/ws") as ws:
        await ws.send_str(
            json.dumps(
                {"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms", "btcusdt@aggTrade"], "id": 1}
            )
        )
        assert await until(ws, lambda m: "id" in m) == {"result": None, "id": 1}
        await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        listed = await until(ws, lambda m: m.get("id") == 2)
        assert listed["result"] == ["btcusdt@depth@100ms", "btcusdt@aggTrade"]
        first = await until(ws, lambda m: m.get("e") == "depthUpdate")
        second = await until(ws, lambda m: m.get("e") == "depthUpdate")
        assert "stream" not in first and second["pu"] == first["u"] and second["U"] == first["u"] + 1
        # aggTrade belongs to the /market route: accepted but silent here, like the venue
        frames = await frames_for(ws, 1.0)
        assert frames and not any('"aggTrade"' in f for f in frames)
        await ws.send_str("not json")
        err = await until(ws, lambda m: "error" in m)
        assert err["error"]["code"] == 3
        await ws.send_str(json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 9}))
        assert await until(ws, lambda m: m.get("id") == 9) == {"result": None, "id": 9}


async def test_binance_raw_stream_path_and_server_ping(make_emulator, http) -> None:  # type: ignore[no-untyped-def]
    emu = await make_emulator(venues=["binance"], binance_ping_interval_s=0.5)
    base = emu.endpoints["binance"]["ws"]
    async with http.ws_connect(f"{base}/public/ws/btcusdt@bookTicker", autoping=False) as ws:
        got_ping = got_ticker = False
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and not (got_ping and got_ticker):
            msg = await asyncio.wait_for(ws.receive(), 5)
            if msg.type is WSMsgType.PING:
                got_ping = True
                await ws.pong(msg.data)
            elif msg.type is WSMsgType.TEXT:
                got_ticker = got_ticker or json.loads(msg.data).get("e") == "bookTicker"
        assert got_ping and got_ticker


async def test_binance_incoming_message_limit(make_emulator, http) -> None:  # type: ignore[no-untyped-def]
    emu = await make_emulator(venues=["binance"])
    async with http.ws_connect(f"{emu.endpoints['binance']['ws']}/ws") as ws:
        for i in range(12):  # Binance: more than 10 incoming messages per second → disconnected
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        closed = False
        for _ in range(30):
            msg = await asyncio.wait_for(ws.receive(), 5)
            if msg.type in CLOSED:
                closed = True
                break
        assert closed


# ---------------------------------------------------------------------------------------------- Bybit


async def test_bybit_subscribe_ping_and_orderbook_sequence(make_emulator, http) -> None:  # type: ignore[no-untyped-def]
    emu = await make_emulator(venues=["bybit"])
    async with http.ws_connect(f"{emu.endpoints['bybit']['ws']}/v5/public/linear") as ws:
        await ws.send_str(
            json.dumps(
                {"op": "subscribe", "req_id": "a1", "args": ["orderbook.50.BTCUSDT", "tickers.BTCUSDT"]}
            )
        )
        ack = await until(ws, lambda m: m.get("op") == "subscribe")
        assert ack["success"] is True and ack["req_id"] == "a1" and ack["conn_id"]
        snap = await until(ws, lambda m: m.get("topic") == "orderbook.50.BTCUSDT")
        assert snap["type"] == "snapshot" and len(snap["data"]["b"]) == 50
        ticker = await until(ws, lambda m: m.get("topic") == "tickers.BTCUSDT")
        assert ticker["type"] == "snapshot" and {"markPrice", "openInterest", "fundingRate"} <= set(
            ticker["data"]
        )
        u = snap["data"]["u"]
        for _ in range(5):
            d = await until(ws, lambda m: m.get("topic") == "orderbook.50.BTCUSDT")
            assert d["type"] == "delta" and d["data"]["u"] == u + 1
            u = d["data"]["u"]
        await ws.send_str(json.dumps({"op": "ping", "req_id": "p"}))
        pong = await until(ws, lambda m: m.get("op") == "ping")
        assert pong["ret_msg"] == "pong" and pong["success"] is True and pong["req_id"] == "p"
        await ws.send_str(json.dumps({"op": "subscribe", "args": ["orderbook.7.BTCUSDT"]}))
        bad = await until(ws, lambda m: m.get("op") == "subscribe")
        assert bad["success"] is False and "orderbook.7.BTCUSDT" in bad["ret_msg"]


async def test_bybit_idle_connection_is_closed(make_emulator, http) -> None:  # type: ignore[no-untyped-def]
    emu = await make_emulator(venues=["bybit"], bybit_idle_timeout_s=1.0)
    async with http.ws_connect(f"{emu.endpoints['bybit']['ws']}/v5/public/linear") as ws:
        await ws.send_str(json.dumps({"op": "subscribe", "args": ["publicTrade.BTCUSDT"]}))
        start = time.monotonic()
        while True:
            msg = await asyncio.wait_for(ws.receive(), 10)
            if msg.type in CLOSED:
                break
        assert 0.9 < time.monotonic() - start < 6


# ---------------------------------------------------------------------------------------------- OKX


def _okx_checksum(bids: dict[float, list[str]], asks: dict[float, list[str]]) -> int:
    b = [bids[p] for p in sorted(bids, reverse=True)][:25]
    a = [asks[p] for p in sorted(asks)][:25]
    parts: list[str] = []
    for i in range(25):
        if i < len(b):
            parts += b[i][:2]
        if i < len(a):
            parts += a[i][:2]
    v = zlib.crc32(":".join(parts).encode())
    return v - (1 << 32) if v >= 1 << 31 else v


async def test_okx_books_chain_checksum_ping_and_url_rules(make_emulator, http) -> None:  # type: ignore[no-untyped-def]
    emu = await make_emulator(venues=["okx"])
    ws_base = emu.endpoints["okx"]["ws"]
    async with http.ws_connect(f"{ws_base}/ws/v5/public") as ws:
        arg = {"channel": "books", "instId": "BTC-USDT-SWAP"}
        await ws.send_str(
            json.dumps(
                {"op": "subscribe", "args": [arg, {"channel": "liquidation-orders", "instType": "SWAP"}]}
            )
        )
        ack = await until(ws, lambda m: m.get("event") == "subscribe")
        assert ack["arg"] == arg and ack["connId"]
        snap = await until(ws, lambda m: m.get("action") == "snapshot")
        data = snap["data"][0]
        assert data["prevSeqId"] == -1
        bids = {float(lv[0]): lv for lv in data["bids"]}
        asks = {float(lv[0]): lv for lv in data["asks"]}
        assert data["checksum"] == _okx_checksum(bids, asks)
        seq = data["seqId"]
        for _ in range(6):
            upd = (await until(ws, lambda m: m.get("action") == "update"))["data"][0]
            assert upd["prevSeqId"] == seq and upd["seqId"] >= seq
            seq = upd["seqId"]
            for side, book in (("bids", bids), ("asks", asks)):
                for lv in upd[side]:
                    if float(lv[1]) == 0:
                        book.pop(float(lv[0]), None)
                    else:
                        book[float(lv[0])] = lv
            assert upd["checksum"] == _okx_checksum(bids, asks)
        await ws.send_str("ping")
        deadline = time.monotonic() + 5
        while await next_text(ws, deadline - time.monotonic()) != "pong":
            pass
        # candles live on /business: asking on /public is error 60018
        await ws.send_str(
            json.dumps({"op": "subscribe", "args": [{"channel": "candle1m", "instId": "BTC-USDT-SWAP"}]})
        )
        err = await until(ws, lambda m: m.get("event") == "error")
        assert err["code"] == "60018"
    async with http.ws_connect(f"{ws_base}/ws/v5/business") as ws:
        await ws.send_str(
            json.dumps({"op": "subscribe", "args": [{"channel": "candle1m", "instId": "BTC-USDT-SWAP"}]})
        )
        assert (await until(ws, lambda m: "event" in m))["event"] == "subscribe"
        candle = await until(ws, lambda m: m.get("arg", {}).get("channel") == "candle1m", timeout=10)
        assert len(candle["data"][0]) == 9


async def test_okx_heartbeat_on_a_quiet_book_and_idle_close(make_emulator, http) -> None:  # type: ignore[no-untyped-def]
    from perpscope.sim.emulator import ScriptedSource, SeededSource

    seeded = SeededSource(venues=["okx"], symbols=["BTC"], seed=1)  # type: ignore[list-item]
    source = ScriptedSource(initial=seeded.initial_events())  # a book that never changes
    emu = await make_emulator(
        venues=["okx"], symbols=("BTC",), source=source, okx_heartbeat_s=0.3, okx_idle_timeout_s=1.5
    )
    async with http.ws_connect(f"{emu.endpoints['okx']['ws']}/ws/v5/public") as ws:
        await ws.send_str(
            json.dumps({"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT-SWAP"}]})
        )
        snap = (await until(ws, lambda m: m.get("action") == "snapshot"))["data"][0]
        hb = (await until(ws, lambda m: m.get("action") == "update", timeout=5))["data"][0]
        assert hb["seqId"] == hb["prevSeqId"] == snap["seqId"] and hb["bids"] == hb["asks"] == []
        assert hb["checksum"] == snap["checksum"]
    async with http.ws_connect(f"{emu.endpoints['okx']['ws']}/ws/v5/public") as ws:
        start = time.monotonic()  # no subscription, no ping: closed after ~1.5 s
        while (await asyncio.wait_for(ws.receive(), 10)).type not in CLOSED:
            pass
        assert 1.2 < time.monotonic() - start < 5


# ---------------------------------------------------------------------------------------------- Hyperliquid


async def test_hyperliquid_subscribe_ping_l2book(make_emulator, http) -> None:  # type: ignore[no-untyped-def]
    emu = await make_emulator(venues=["hyperliquid"])
    async with http.ws_connect(f"{emu.endpoints['hyperliquid']['ws']}/ws") as ws:
        sub = {"type": "l2Book", "coin": "BTC"}
        await ws.send_str(json.dumps({"method": "subscribe", "subscription": sub}))
        ack = await until(ws, lambda m: m.get("channel") == "subscriptionResponse")
        assert ack["data"] == {"method": "subscribe", "subscription": sub}
        book = await until(ws, lambda m: m.get("channel") == "l2Book")
        bids, asks = book["data"]["levels"]
        assert len(bids) == len(asks) == 20 and float(bids[0]["px"]) < float(asks[0]["px"])
        assert {"px", "sz", "n"} == set(bids[0])
        later = await until(ws, lambda m: m.get("channel") == "l2Book")
        assert later["data"]["time"] >= book["data"]["time"]
        await ws.send_str(json.dumps({"method": "ping"}))
        assert await until(ws, lambda m: m.get("channel") == "pong") == {"channel": "pong"}
        await ws.send_str(
            json.dumps({"method": "subscribe", "subscription": {"type": "trades", "coin": "NOPE"}})
        )
        err = await until(ws, lambda m: m.get("channel") == "error")
        assert "Invalid subscription" in err["data"]
        await ws.send_str(
            json.dumps({"method": "subscribe", "subscription": {"type": "trades", "coin": "ETH"}})
        )
        trades = await until(ws, lambda m: m.get("channel") == "trades")
        assert trades["data"][0]["coin"] == "ETH" and trades["data"][0]["side"] in ("A", "B")


@pytest.mark.parametrize(
    ("venue", "path", "subscribe"),
    [
        ("binance", "/public/ws", {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}),
        ("bybit", "/v5/public/linear", {"op": "subscribe", "args": ["publicTrade.BTCUSDT"]}),
        (
            "okx",
            "/ws/v5/public",
            {"op": "subscribe", "args": [{"channel": "trades", "instId": "BTC-USDT-SWAP"}]},
        ),
        ("hyperliquid", "/ws", {"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}}),
    ],
)
async def test_trades_decode_with_production_decoders(
    make_emulator, http, venue: str, path: str, subscribe: dict
) -> None:  # type: ignore[no-untyped-def]
    """What the emulator publishes decodes to exactly the trades it recorded as published."""

    emu = await make_emulator(venues=[venue], rate=8.0)
    decoder = make_decoder(venue)
    got: list[Trade] = []
    async with http.ws_connect(emu.endpoints[venue]["ws"] + path) as ws:
        await ws.send_str(json.dumps(subscribe))
        deadline = time.monotonic() + 10
        while len(got) < 5 and time.monotonic() < deadline:
            for ev in decoder.decode(await next_text(ws), 0):
                if isinstance(ev, Trade) and ev.symbol == "BTC":
                    got.append(ev)
    published = [e for e in emu.published(venue) if isinstance(e, Trade) and e.symbol == "BTC"]
    assert len(got) >= 5

    def same(a: Trade, b: Trade) -> bool:  # the wire carries ms
        return (
            a.ts_event // 1_000_000 == b.ts_event // 1_000_000
            and a.price == b.price
            and abs(a.quantity - b.quantity) < 1e-12
            and a.side is b.side
        )

    assert all(any(same(e, p) for p in published) for e in got)
