"""API tests of the web dashboard against a simulated store: every endpoint, bad parameters, the token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from perpscope.commands.serve import is_loopback, run
from perpscope.feed.fanout import Fanout
from perpscope.model import Liquidation, PositionSide, Venue
from perpscope.store import Store
from perpscope.web.demo import seed_demo_store
from perpscope.web.server import make_app


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


async def test_heatmap(client: TestClient) -> None:
    r = await client.get("/api/heatmap", params={"symbol": "BTC", "window": "1d"})
    assert r.status == 200
    d = await r.json()
    assert d["estimated"] is True
    assert len(d["long_usd"]) == len(d["time_ms"]) == len(d["close"])
    assert len(d["long_usd"][0]) == len(d["price"])
    assert set(d["by_venue"]) == {"binance", "bybit", "okx"}
    assert sum(map(sum, d["long_usd"])) > 0
    tier = d["leverage_tiers"][0]
    r = await client.get("/api/heatmap", params={"window": "1d", "leverage": f"{tier:g}", "venues": "okx"})
    d2 = await r.json()
    assert r.status == 200 and list(d2["by_leverage"]) == [f"{tier:g}"] and d2["venues"] == ["okx"]


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


async def test_liqmap_funding_levels(client: TestClient) -> None:
    r = await client.get("/api/liqmap", params={"symbol": "BTC", "window": "1d"})
    d = await r.json()
    assert r.status == 200 and d["current_price"] > 0 and len(d["price"]) == len(d["cum_long_usd"])
    r = await client.get("/api/funding", params={"symbol": "BTC"})
    d = await r.json()
    assert r.status == 200 and {row["venue"] for row in d["rows"]} >= {"binance", "all"}
    r = await client.get("/api/levels", params={"symbol": "BTC", "window": "1d"})
    d = await r.json()
    assert r.status == 200 and d["estimated"] is True and d["levels"]
    for path in ("/api/liqmap", "/api/funding", "/api/levels", "/api/quadrant", "/api/depth"):
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
        for path in ("/", "/api/status", "/api/heatmap", "/static/app.js", "/ws/tape"):
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


async def test_tape_pushes_liquidations(demo_store: Store) -> None:
    fanout = Fanout()
    c = await _client(demo_store, fanout=fanout)
    try:
        ws = await c.ws_connect("/ws/tape")
        for _ in range(100):
            if fanout.subscribers:
                break
            await asyncio.sleep(0.01)
        fanout.publish([_liq(0, sampled=True), _liq(1, sampled=False)])
        msg = await asyncio.wait_for(ws.receive_json(), 5)
        assert [m["sampled"] for m in msg] == [True, False]
        assert msg[0]["venue"] == "bybit" and msg[0]["type"] == "liquidation"
        await ws.close()
    finally:
        await c.close()


def test_serve_refuses_public_host_without_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    args = argparse.Namespace(host="0.0.0.0", port=0, demo=False, token="", data_dir=str(tmp_path))
    assert run(args) == 2
    assert "--token" in capsys.readouterr().err
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")
