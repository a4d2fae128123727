"""The dashboard's live feeds over real sockets: the collector against the exchange emulator writing the
store in the serve loop, and the NATS bus (a real nats-server on loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from perpscope.commands.serve import serve
from perpscope.errors import StoreError
from perpscope.model import Kind, Liquidation, PositionSide, Venue
from perpscope.store import Store
from perpscope.web import feeds
from perpscope.web.feeds import CollectSpec

NATS = shutil.which("nats-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_listening(port: int, task: asyncio.Task[None]) -> None:
    for _ in range(600):
        if task.done():
            task.result()
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError("dashboard did not listen")


async def _tape_until(ws: aiohttp.ClientWebSocketResponse, n: int, timeout: float) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len([m for m in got if m["type"] == "liquidation"]) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(got)} tape messages"
        got += await asyncio.wait_for(ws.receive_json(), left)
    return got


@pytest.mark.slow
async def test_collector_on_emulator_feeds_tape_with_stored_events(tmp_path: Path) -> None:
    port = _free_port()
    stop = asyncio.Event()
    spec = CollectSpec(
        venues=(Venue.BINANCE, Venue.BYBIT), symbols=("BTC",), emulate=True, rate=30.0, derive_every_s=1.0
    )
    task = asyncio.create_task(
        serve(host="127.0.0.1", port=port, data_dir=tmp_path / "s", token="", collect=spec, stop=stop)
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_listening(port, task)
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(url + "/ws/tape")
            msgs = await _tape_until(ws, 3, 60)
            liqs = [m for m in msgs if m["type"] == "liquidation"]
            lat = [m["sent_ns"] / 1e6 - m["recv_ms"] for m in liqs]
            assert all(0 <= x < 250 for x in lat), lat  # collector received/stored → sent to the browser
            st = await (await http.get(url + "/api/status")).json()
            assert st["feed"] == "collector (emulator)" and st["feed_events"] > 0 and st["tape_clients"] == 1
            await asyncio.sleep(1.5)  # the writer flushes every second
            d = await (await http.get(url + "/api/funding", params={"symbol": "BTC"})).json()
            assert {r["venue"] for r in d.get("rows", [])} >= {"binance", "bybit"}, d
            # bars derived from the collected candles + open interest: the heatmap follows the live data
            r = await http.get(url + "/api/heatmap", params={"window": "12h"})
            hm = await r.json()
            assert r.status == 200, hm
            assert hm["time_ms"][-1] > time.time() * 1000 - 600_000 and set(hm["venues"]) >= {"bybit"}
            await ws.close()
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    stored = Store(tmp_path / "s").read(Kind.LIQUIDATION, symbol="BTC")
    keys = set(zip(stored.column("ts_event").to_pylist(), stored.column("price").to_pylist(), strict=True))
    for m in liqs:  # every liquidation on the tape is one the collector stored
        assert any(ts // 1_000_000 == m["ts_ms"] and p == m["price"] for ts, p in keys), m


async def test_second_collector_on_a_store_is_a_clean_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    spec = CollectSpec(venues=(Venue.BINANCE,), symbols=("BTC",), emulate=True)
    with store.writer(), pytest.raises(StoreError, match="another store writer"):
        await asyncio.wait_for(
            serve(host="127.0.0.1", port=_free_port(), data_dir=store.root, token="", collect=spec), 30
        )


def _liq(i: int) -> Liquidation:
    t = time.time_ns()
    return Liquidation(
        venue=Venue.OKX,
        symbol="ETH",
        ts_event=t + i,
        ts_recv=t + i,
        side=PositionSide.SHORT,
        price=3000.0 + i,
        quantity=2.0,
        notional_usd=6000.0 + 2 * i,
        sampled=False,
    )


@pytest.mark.slow
@pytest.mark.skipif(NATS is None, reason="nats-server is not installed")
async def test_bus_feeds_tape(tmp_path: Path) -> None:
    from perpscope.bus import JetStreamBus

    nats_port = _free_port()
    proc = subprocess.Popen(
        [str(NATS), "-js", "-sd", str(tmp_path / "js"), "-a", "127.0.0.1", "-p", str(nats_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port = _free_port()
    stop = asyncio.Event()
    bus_url = f"nats://127.0.0.1:{nats_port}"
    try:
        await asyncio.sleep(0.5)
        task = asyncio.create_task(
            serve(host="127.0.0.1", port=port, data_dir=tmp_path / "s", token="", bus=bus_url, stop=stop)
        )
        await _wait_listening(port, task)
        publisher = await JetStreamBus.connect(bus_url)
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"http://127.0.0.1:{port}/ws/tape")
            got: list[dict[str, Any]] = []
            sent = 0
            deadline = time.monotonic() + 20
            while len(got) < 3:  # the live subscription starts "from now": publish until it sees them
                assert time.monotonic() < deadline, "no bus events on the tape"
                await publisher.publish([_liq(sent)])
                sent += 1
                with contextlib.suppress(TimeoutError):
                    got += await asyncio.wait_for(ws.receive_json(), 0.3)
            prices = [m["price"] for m in got]
            assert prices == sorted(prices) and all(m["venue"] == "okx" and m["symbol"] == "ETH" for m in got)
            assert got[-1]["notional_usd"] == 6000.0 + 2 * (got[-1]["price"] - 3000.0)
            st = await (await http.get(f"http://127.0.0.1:{port}/api/status")).json()
            assert st["feed"] == "bus" and st["feed_events"] >= 3
            await ws.close()
        await publisher.close()
        stop.set()
        await asyncio.wait_for(task, 30)
    finally:
        stop.set()
        proc.terminate()
        proc.wait(timeout=10)


async def test_bus_unreachable_is_a_clean_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from perpscope.bus.jetstream import BusError

    monkeypatch.setattr(feeds, "BUS_CONNECT_TIMEOUT_S", 1.0)

    with pytest.raises(BusError, match="cannot connect"):
        await asyncio.wait_for(
            serve(
                host="127.0.0.1",
                port=_free_port(),
                data_dir=tmp_path,
                token="",
                bus=f"nats://127.0.0.1:{_free_port()}",
            ),
            30,
        )
