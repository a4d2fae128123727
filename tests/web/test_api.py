"""API tests of the web dashboard against a simulated store: every endpoint, bad parameters, the token."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pytest
from aiohttp.test_utils import TestClient, TestServer

from perpscope.commands.serve import is_loopback, run
from perpscope.feed.fanout import Fanout
from perpscope.model import Kind, Liquidation, PositionSide, Venue
from perpscope.store import Store
from perpscope.web.demo import seed_demo_store
from perpscope.web.server import CACHE_KEY, TAPE_QUEUE, make_app


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return seed_demo_store(tmp_path_factory.mktemp("webstore"), days=2)


async def _client(store: Store, **kw: object) -> TestClient:
    client = TestClient(TestServer(make_app(store, **kw)))  # type: ignore[arg-type]
    await client.start_server()
    return client


@pytest.fixture
async def client(demo_store: Store) -> AsyncIterator[TestClient]:
    c = await _client(demo_store)
    yield c
    await c.close()


def _f32(d: dict[str, Any], key: str) -> np.ndarray:
    assert d["encoding"] == "float32-base64"
    return np.frombuffer(base64.b64decode(d[key]), dtype="<f4").reshape(d["shape"])


async def test_heatmap_window_spellings(client: TestClient) -> None:
    """The CLI's window names work too: 24h is 1d (same matrices), 180d is a window of its own."""

    one = await (await client.get("/api/heatmap", params={"window": "1d"})).json()
    r = await client.get("/api/heatmap", params={"window": "24h"})
    assert r.status == 200
    alias = await r.json()
    assert alias["window"] == "1d" and alias["long_usd"] == one["long_usd"]
    assert (await client.get("/api/heatmap", params={"window": "180d"})).status == 200


async def test_heatmap(client: TestClient) -> None:
    r = await client.get("/api/heatmap", params={"symbol": "BTC", "window": "1d"})
    assert r.status == 200
    d = await r.json()
    assert d["estimated"] is True and "Estimated" in d["label"]
    t, p = d["shape"]
    assert t == len(d["time_ms"]) == len(d["close"]) and p == len(d["price"])
    assert "by_venue" not in d and "by_leverage" not in d  # the split comes on hover only
    total = _f32(d, "long_usd")
    assert total.sum() > 0 and np.isfinite(total).all()
    assert sorted(d["venues"]) == ["binance", "bybit", "okx"]
    tier = d["leverage_tiers"][0]
    r = await client.get("/api/heatmap", params={"window": "1d", "leverage": f"{tier:g}"})
    d2 = await r.json()
    assert r.status == 200 and d2["leverage"] == [tier]
    part = _f32(d2, "long_usd")
    assert 0 < part.sum() < total.sum()
    r = await client.get("/api/heatmap", params={"window": "1d", "venues": "okx"})
    d3 = await r.json()
    assert r.status == 200 and d3["venues"] == ["okx"] and 0 < _f32(d3, "long_usd").sum() < total.sum()


async def test_heatmap_split_of_a_cell(client: TestClient) -> None:
    d = await (await client.get("/api/heatmap", params={"window": "1d"})).json()
    both = _f32(d, "long_usd") + _f32(d, "short_usd")
    i, j = np.unravel_index(int(np.argmax(both)), both.shape)
    r = await client.get("/api/heatmap/split", params={"window": "1d", "i": str(i), "j": str(j)})
    s = await r.json()
    assert r.status == 200 and s["estimated"] is True
    assert s["time_ms"] == d["time_ms"][i] and s["price"] == d["price"][j]
    tot = s["total"]["long_usd"] + s["total"]["short_usd"]
    assert tot == pytest.approx(float(both[i, j]), rel=1e-3, abs=2)
    for parts in (s["by_venue"], s["by_leverage"]):
        assert sum(x["long_usd"] + x["short_usd"] for x in parts.values()) == pytest.approx(
            tot, rel=1e-3, abs=5
        )
    assert set(s["by_venue"]) == {"binance", "bybit", "okx"}
    assert list(s["by_leverage"]) == [f"{x:g}" for x in d["leverage_tiers"]]
    tier = f"{d['leverage_tiers'][1]:g}"
    r = await client.get("/api/heatmap/split", params={"window": "1d", "i": "0", "j": "0", "leverage": tier})
    assert r.status == 200 and list((await r.json())["by_leverage"]) == [tier]
    for bad in (
        {"i": "0"},
        {"i": "x", "j": "0"},
        {"i": "0", "j": str(len(d["price"]))},
        {"i": "-1", "j": "0"},
    ):
        r = await client.get("/api/heatmap/split", params={"window": "1d", **bad})
        assert r.status == 400 and "error" in await r.json()


async def test_heatmap_cache_follows_the_store(tmp_path: Path) -> None:
    store = seed_demo_store(tmp_path / "s", days=1)
    c = await _client(store)
    try:
        for _ in range(2):
            assert (await c.get("/api/heatmap", params={"window": "12h"})).status == 200
        st = await (await c.get("/api/status")).json()
        assert st["heatmap_cache"] == {"hits": 1, "misses": 1}
        bars = store.read(Kind.BAR, symbol="BTC")
        last = bars.slice(bars.num_rows - 1)
        moved = last.set_column(
            last.schema.get_field_index("ts_event"),
            "ts_event",
            pa.array([last.column("ts_event")[0].as_py() + 300 * 10**9], pa.int64()),
        )
        store.write_table(Kind.BAR, moved, source_id="test-new-bar")  # a new bar: a new store version
        d = await (await c.get("/api/heatmap", params={"window": "12h"})).json()
        st = await (await c.get("/api/status")).json()
        assert st["heatmap_cache"]["misses"] == 2 and d["time_ms"]
        for sym in ("DOGE", "XRP", "SOL"):  # unknown symbols: 404, nothing cached, no lock left behind
            assert (await c.get("/api/heatmap", params={"symbol": sym})).status == 404
        cache = c.server.app[CACHE_KEY]
        assert len(cache._items) == len(cache._key_locks) == 2
    finally:
        await c.close()


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"symbol": "BT C"}, 400),
        ({"symbol": "<script>"}, 400),
        ({"window": "2w"}, 400),
        ({"venues": "ftx"}, 400),
        ({"leverage": "abc"}, 400),
        ({"leverage": "1000"}, 400),
        ({"leverage": "7"}, 400),
        ({"symbol": "DOGE"}, 404),
    ],
)
async def test_heatmap_bad_params(client: TestClient, params: dict[str, str], status: int) -> None:
    r = await client.get("/api/heatmap", params=params)
    assert r.status == status
    body = await r.json()
    assert "error" in body and "Traceback" not in body["error"]


async def test_liqmap_filters_and_split(client: TestClient) -> None:
    r = await client.get("/api/liqmap", params={"symbol": "BTC", "window": "1d"})
    d = await r.json()
    assert r.status == 200 and d["estimated"] is True and d["current_price"] > 0
    n = len(d["price"])
    assert len(d["cum_long_usd"]) == len(d["cum_short_usd"]) == n
    assert set(d["by_venue"]) == {"binance", "bybit", "okx"}
    for key in ("cum_long_usd", "cum_short_usd"):
        total = np.array(d[key])
        assert total.max() > 0
        for parts in (d["by_venue"], d["by_leverage"]):
            summed = np.sum([p[key] for p in parts.values()], axis=0)
            assert np.allclose(summed, total, rtol=1e-3, atol=len(parts))
    tier = f"{d['leverage_tiers'][0]:g}"
    r = await client.get("/api/liqmap", params={"window": "1d", "leverage": tier})
    d2 = await r.json()
    assert r.status == 200 and list(d2["by_leverage"]) == [tier] and d2["note"]
    assert 0 < max(d2["cum_long_usd"]) < max(d["cum_long_usd"])
    r = await client.get("/api/liqmap", params={"window": "1d", "venues": "bybit"})
    d3 = await r.json()
    assert r.status == 200 and list(d3["by_venue"]) == ["bybit"]
    for bad in ({"leverage": "7"}, {"leverage": "x"}, {"venues": "ftx"}, {"window": "5y"}):
        r = await client.get("/api/liqmap", params={"window": "1d", **bad})
        assert r.status == 400 and "error" in await r.json()


async def test_funding_levels(client: TestClient) -> None:
    r = await client.get("/api/funding", params={"symbol": "BTC"})
    d = await r.json()
    assert r.status == 200 and {row["venue"] for row in d["rows"]} >= {"binance", "all"}
    r = await client.get("/api/levels", params={"symbol": "BTC", "window": "1d"})
    d = await r.json()
    assert r.status == 200 and d["estimated"] is True and d["levels"]
    assert d["missing"] == ["books", "trades"]  # not in the demo history: the page says so
    for path in (
        "/api/liqmap",
        "/api/funding",
        "/api/levels",
        "/api/quadrant",
        "/api/depth",
        "/api/heatmap/split",
    ):
        r = await client.get(path, params={"symbol": "b;tc"})
        assert r.status == 400, path


async def test_quadrant_depth_without_trades_or_books(client: TestClient) -> None:
    for path in ("/api/quadrant", "/api/depth"):
        r = await client.get(path, params={"symbol": "BTC"})
        d = await r.json()
        assert r.status == 200 and d["rows"] == [] and "no BTC" in d["note"]


async def test_status_index_and_plotly(client: TestClient) -> None:
    r = await client.get("/api/status")
    d = await r.json()
    assert r.status == 200 and d["ok"] and "1y" in d["windows"]
    r = await client.get("/")
    assert r.status == 200 and "perpscope" in await r.text()
    r = await client.get("/static/plotly.min.js")
    assert r.status == 200 and len(await r.read()) > 1_000_000
    r = await client.get("/api/nope")
    assert r.status == 404 and "error" in await r.json()


async def test_token_required_everywhere(demo_store: Store) -> None:
    c = await _client(demo_store, token="s3cret")
    try:
        for path in (
            "/",
            "/api/status",
            "/api/heatmap",
            "/api/heatmap/split",
            "/api/liqmap",
            "/static/app.js",
            "/ws/tape",
        ):
            r = await c.get(path)
            assert r.status == 401, path
        r = await c.get("/api/status", params={"token": "wrong"})
        assert r.status == 401
        r = await c.get("/api/status", params={"token": "s3cret"})
        assert r.status == 200
        r = await c.get("/api/status", headers={"Authorization": "Bearer s3cret"})
        assert r.status == 200
        ws = await c.ws_connect("/ws/tape", params={"token": "s3cret"})
        await ws.close()
    finally:
        await c.close()


def _liq(i: int, *, sampled: bool) -> Liquidation:
    return Liquidation(
        venue=Venue.BYBIT,
        symbol="BTC",
        ts_event=1_700_000_000_000_000_000 + i,
        ts_recv=1_700_000_000_000_000_000 + i,
        side=PositionSide.LONG,
        price=90_000.0,
        quantity=1.0,
        notional_usd=90_000.0,
        sampled=sampled,
    )


async def _tape_client(c: TestClient, fanout: Fanout) -> Any:
    """A /ws/tape connection, returned once the server has subscribed it to ``fanout``."""

    ws = await c.ws_connect("/ws/tape")
    for _ in range(100):
        if fanout.subscribers:
            break
        await asyncio.sleep(0.01)
    return ws


async def test_tape_pushes_liquidations(demo_store: Store) -> None:
    fanout = Fanout()
    c = await _client(demo_store, fanout=fanout)
    try:
        ws = await _tape_client(c, fanout)
        fanout.publish([_liq(0, sampled=True), _liq(1, sampled=False)])
        msg = await asyncio.wait_for(ws.receive_json(), 5)
        assert [m["sampled"] for m in msg] == [True, False]
        assert msg[0]["recv_ms"] == pytest.approx(1_700_000_000_000.0)
        assert msg[0]["venue"] == "bybit" and msg[0]["type"] == "liquidation"
        await ws.close()
    finally:
        await c.close()


def test_serve_refuses_public_host_without_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    args = argparse.Namespace(
        host="0.0.0.0", port=0, demo=False, token="", data_dir=str(tmp_path), bus=None, collect=False
    )
    assert run(args) == 2
    assert "--token" in capsys.readouterr().err
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bus", "nats://127.0.0.1:1", "--demo"], "--bus"),
        (["--venues", "okx"], "--collect"),
        (["--emulate"], "--collect"),
        (["--collect", "--venues", "ftx"], "ftx"),
        (["--collect", "--duration", "soon"], "error"),
    ],
)
def test_serve_flag_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    from perpscope.cli import main

    assert main(["serve", "--port", "0", "--data-dir", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err


async def test_slow_tape_client_drops_oldest_never_blocks(demo_store: Store) -> None:
    fanout = Fanout()
    c = await _client(demo_store, fanout=fanout)
    try:
        ws = await _tape_client(c, fanout)
        t = time.perf_counter()
        for i in range(1000):  # no await in between: the client cannot keep up
            fanout.publish([msgspec.structs.replace(_liq(i, sampled=False), price=float(i))])
        assert time.perf_counter() - t < 1.0
        st = await (await c.get("/api/status")).json()
        assert st["tape_clients"] == 1 and st["tape_dropped"] == 1000 - TAPE_QUEUE
        first = await asyncio.wait_for(ws.receive_json(), 5)
        assert first[0]["price"] == 1000 - TAPE_QUEUE  # the oldest batches were the ones dropped
        await ws.close()
    finally:
        await c.close()


async def test_levels_panel_is_the_levels_command(
    client: TestClient, demo_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """One report, two views: the panel and ``perpscope levels --json`` give the same clusters."""

    from perpscope.cli import main

    panel = await (await client.get("/api/levels", params={"symbol": "BTC", "window": "1d"})).json()
    argv = ["levels", "BTC", "--window", "24h", "--per-side", "5", "--json"]
    argv += ["--data-dir", str(demo_store.root)]
    assert main(argv) == 0
    cli = json.loads(capsys.readouterr().out)
    key = ("side", "price_low", "price_high", "usd", "verdict")
    assert [[r[k] for k in key] for r in panel["levels"]] == [[r[k] for k in key] for r in cli["levels"]]
    assert panel["price"] == cli["price"] and len(panel["levels"]) == 10
