"""Every fault kind is observable from a client over real sockets, and every injected fault is in the
structured fault log (in memory and as JSON lines)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path

import aiohttp
from aiohttp import WSMsgType

from perpscope.errors import DecodeError
from perpscope.venues import make_decoder

CLOSED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


async def timeline(
    ws: aiohttp.ClientWebSocketResponse, seconds: float
) -> tuple[list[tuple[float, str]], bool]:
    """(receive time since start, text) of every text frame for ``seconds``, and whether it closed."""

    t0 = time.monotonic()
    out: list[tuple[float, str]] = []
    while (left := t0 + seconds - time.monotonic()) > 0:
        try:
            msg = await asyncio.wait_for(ws.receive(), left)
        except TimeoutError:
            break
        if msg.type is WSMsgType.TEXT:
            out.append((time.monotonic() - t0, str(msg.data)))
        elif msg.type in CLOSED:
            return out, True
    return out, False


async def test_drop_aborts_connections_and_reconnect_works(make_emulator, http) -> None:  # type: ignore[no-untyped-def]
    emu = await make_emulator(venues=["bybit"], faults="drop:bybit@1s")
    url = emu.endpoints["bybit"]["ws"] + "/v5/public/linear"
    async with http.ws_connect(url) as ws:
        await ws.send_str(json.dumps({"op": "subscribe", "args": ["publicTrade.BTCUSDT"]}))
        frames, closed = await timeline(ws, 4.0)
    assert closed and frames  # data flowed, then the connection was cut
    (rec,) = emu.fault_log.of("drop", "bybit")
    assert rec["connections"] == 1 and 0.9 <= rec["t_s"] < 2.0
    async with http.ws_connect(url) as ws:  # the venue is still up: reconnect and resubscribe
        await ws.send_str(json.dumps({"op": "subscribe", "args": ["publicTrade.BTCUSDT"]}))
        frames, closed = await timeline(ws, 1.0)
    assert not closed and json.loads(frames[0][1])["op"] == "subscribe"


async def test_stall_keeps_the_connection_open_but_silent(make_emulator, http) -> None:  # type: ignore[no-untyped-def]
    emu = await make_emulator(venues=["okx"], faults="stall:okx@1s/1.5s", rate=6.0)
    async with http.ws_connect(emu.endpoints["okx"]["ws"] + "/ws/v5/public") as ws:
        await ws.send_str(
            json.dumps({"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT-SWAP"}]})
        )
        reader = asyncio.create_task(timeline(ws, 3.5))
        await asyncio.sleep(1.5)
        await ws.send_str("ping")  # during the stall: no pong either
        frames, closed = await reader
    assert not closed
    times = [t for t, _ in frames]
    assert "pong" not in [f for _, f in frames]
    silence = max(b - a for a, b in itertools.pairwise(times))
    assert 1.3 < silence < 2.0  # silent for the stall, data before and after it
    assert times[0] < 1.0 and times[-1] > 2.6
    start, end = emu.fault_log.of("stall", "okx")
    assert start["phase"] == "start" and end["phase"] == "end" and end["lost_frames"] > 0  # type: ignore[operator]


async def test_malformed_frames_are_counted_exactly(make_emulator, http) -> None:  # type: ignore[no-untyped-def]
    emu = await make_emulator(venues=["bybit"], faults="malformed:bybit@0.3", rate=6.0)
    decoder = make_decoder("bybit")
    async with http.ws_connect(emu.endpoints["bybit"]["ws"] + "/v5/public/linear") as ws:
        await ws.send_str(
            json.dumps({"op": "subscribe", "args": ["publicTrade.BTCUSDT", "orderbook.50.BTCUSDT"]})
        )
        frames, _ = await timeline(ws, 1.5)
        await emu.stop_source()
        while tail := (await timeline(ws, 0.5))[0]:  # what was still on its way, until silence
            frames += tail
    bad = good = 0
    for _, text in frames:
        try:
            decoder.decode(text, 0)
            good += 1
        except DecodeError:
            bad += 1
    logged = emu.fault_log.of("malformed", "bybit")
    assert bad == len(logged) > 5 and good > bad  # every corrupted frame was logged, none else failed


async def test_http_faults_status_retry_after_and_windows(make_emulator, http) -> None:  # type: ignore[no-untyped-def]
    emu = await make_emulator(
        venues=["binance", "bybit", "okx"],
        faults="http429:okx@1,http418:binance@0s/1s/retry90s,http403:bybit@1",
    )
    okx_url = emu.endpoints["okx"]["rest"] + "/api/v5/public/open-interest?instType=SWAP&instId=BTC-USDT-SWAP"
    async with http.get(okx_url) as r:
        assert r.status == 429 and r.headers["Retry-After"] == "1"
        assert (await r.json())["code"] == "50011"
    bn_url = emu.endpoints["binance"]["rest"] + "/fapi/v1/openInterest?symbol=BTCUSDT"
    async with http.get(bn_url) as r:
        assert r.status == 418 and r.headers["Retry-After"] == "90"
        assert (await r.json())["code"] == -1003
    async with http.get(emu.endpoints["bybit"]["rest"] + "/v5/market/time") as r:
        assert r.status == 403 and int(r.headers["Retry-After"]) >= 60
    await asyncio.sleep(1.1)  # the 418 window is over
    async with http.get(bn_url) as r:
        assert r.status == 200 and float((await r.json())["openInterest"]) > 0
    assert [x["status"] for x in emu.fault_log.records if x["fault"].startswith("http")] == [429, 418, 403]


async def test_burst_multiplies_the_message_rate(make_emulator, http) -> None:  # type: ignore[no-untyped-def]
    emu = await make_emulator(venues=["bybit"], faults="burst:bybit@1.5s/1s/x20", rate=2.0)
    async with http.ws_connect(emu.endpoints["bybit"]["ws"] + "/v5/public/linear") as ws:
        await ws.send_str(
            json.dumps({"op": "subscribe", "args": ["publicTrade.BTCUSDT", "publicTrade.ETHUSDT"]})
        )
        frames, _ = await timeline(ws, 3.0)
    before = sum(1 for t, _ in frames if 0.3 <= t < 1.3)
    during = sum(1 for t, _ in frames if 1.6 <= t < 2.4)
    assert during > 5 * max(1, before)
    start, end = emu.fault_log.of("burst", "bybit")
    assert start["factor"] == 20.0 and end["trades"] > during / 2  # type: ignore[operator]


async def test_fault_log_is_written_as_json_lines(make_emulator, http, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log_path = tmp_path / "faults.jsonl"
    emu = await make_emulator(
        venues=["hyperliquid"], faults="http429:hyperliquid@1,drop:*@0.2s", fault_log=str(log_path)
    )
    async with http.post(emu.endpoints["hyperliquid"]["rest"] + "/info", json={"type": "meta"}) as r:
        assert r.status == 429
    await asyncio.sleep(0.4)
    await emu.stop()
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert lines == json.loads(json.dumps(emu.fault_log.records))
    assert {x["fault"] for x in lines} == {"http429", "drop"}
    assert all({"ts_ns", "t_s", "fault", "venue"} <= set(x) for x in lines)
