"""Instrument snapshot: the shipped values, lookups, the data-dir precedence, refresh from constructed venue
responses (parsers, merge, atomic write), the network path against a local server, and the CLI."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from perpscope.cli import main
from perpscope.commands import instruments as cmd
from perpscope.model import Venue
from perpscope.venues import instruments as ins
from perpscope.venues.instruments import Instruments, InstrumentSpec, SnapshotError, UnknownInstrument

# -------------------------------------------------------------------------------------------------------
# constructed venue responses (shapes of the real endpoints)

BINANCE_EXCHANGE_INFO = {
    "timezone": "UTC",
    "symbols": [
        {
            "symbol": "BTCUSDT",
            "pair": "BTCUSDT",
            "contractType": "PERPETUAL",
            "status": "TRADING",
            "baseAsset": "BTC",
            "quoteAsset": "USDT",
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": "556.80",
                    "maxPrice": "4529764",
                    "tickSize": "0.10",
                },
                {"filterType": "LOT_SIZE", "stepSize": "0.001", "maxQty": "1000", "minQty": "0.001"},
                {"filterType": "MIN_NOTIONAL", "notional": "100"},
            ],
        },
        {
            "symbol": "SOLUSDT",
            "pair": "SOLUSDT",
            "contractType": "PERPETUAL",
            "status": "TRADING",
            "baseAsset": "SOL",
            "quoteAsset": "USDT",
            "filters": [
                {"filterType": "PRICE_FILTER", "tickSize": "0.0100"},
                {"filterType": "LOT_SIZE", "stepSize": "0.01", "minQty": "0.01"},
            ],
        },
        {
            "symbol": "BTCUSDT_250328",
            "pair": "BTCUSDT",
            "contractType": "CURRENT_QUARTER",
            "status": "TRADING",
            "baseAsset": "BTC",
            "quoteAsset": "USDT",
            "filters": [
                {"filterType": "PRICE_FILTER", "tickSize": "0.1"},
                {"filterType": "LOT_SIZE", "stepSize": "0.001", "minQty": "0.001"},
            ],
        },
        {
            "symbol": "OLDUSDT",
            "pair": "OLDUSDT",
            "contractType": "PERPETUAL",
            "status": "SETTLING",
            "baseAsset": "OLD",
            "quoteAsset": "USDT",
            "filters": [
                {"filterType": "PRICE_FILTER", "tickSize": "0.1"},
                {"filterType": "LOT_SIZE", "stepSize": "1", "minQty": "1"},
            ],
        },
    ],
}
BINANCE_FUNDING_INFO = [
    {
        "symbol": "SOLUSDT",
        "adjustedFundingRateCap": "0.02",
        "adjustedFundingRateFloor": "-0.02",
        "fundingIntervalHours": 4,
        "disclaimer": False,
    }
]


def _bybit_item(symbol: str, tick: str, step: str, lev: str, funding_min: int, **extra: object) -> dict:
    item = {
        "symbol": symbol,
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": symbol.removesuffix("USDT"),
        "quoteCoin": "USDT",
        "settleCoin": "USDT",
        "leverageFilter": {"minLeverage": "1", "maxLeverage": lev, "leverageStep": "0.01"},
        "priceFilter": {"minPrice": tick, "maxPrice": "1999999.80", "tickSize": tick},
        "lotSizeFilter": {"maxOrderQty": "1500", "minOrderQty": step, "qtyStep": step},
        "fundingInterval": funding_min,
    }
    item.update(extra)
    return item


BYBIT_PAGE_1 = {
    "retCode": 0,
    "retMsg": "OK",
    "result": {
        "category": "linear",
        "list": [
            _bybit_item("BTCUSDT", "0.10", "0.001", "100.00", 480),
            _bybit_item("ETHPERP", "0.01", "0.01", "100.00", 480, quoteCoin="USDC", settleCoin="USDC"),
        ],
        "nextPageCursor": "page2",
    },
    "time": 1786310817601,
}
BYBIT_PAGE_2 = {
    "retCode": 0,
    "retMsg": "OK",
    "result": {
        "category": "linear",
        "list": [
            _bybit_item("DOGEUSDT", "0.00001", "1", "75.00", 240),
            _bybit_item("NEWUSDT", "0.0001", "1", "25.00", 240, status="PreLaunch"),
        ],
        "nextPageCursor": "",
    },
    "time": 1786310817700,
}


def _fixture(fixtures_dir: Path, venue: str, name: str) -> bytes:
    return (fixtures_dir / venue / name).read_bytes()


@pytest.fixture
def bodies(fixtures_dir: Path) -> dict[Venue, list[bytes]]:
    return {
        Venue.BINANCE: [
            json.dumps(BINANCE_EXCHANGE_INFO).encode(),
            json.dumps(BINANCE_FUNDING_INFO).encode(),
        ],
        Venue.BYBIT: [json.dumps(BYBIT_PAGE_1).encode(), json.dumps(BYBIT_PAGE_2).encode()],
        Venue.OKX: [_fixture(fixtures_dir, "okx", "rest_instruments.json")],
        Venue.HYPERLIQUID: [_fixture(fixtures_dir, "hyperliquid", "rest_meta.json")],
    }


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "data"
    monkeypatch.setenv("PERPSCOPE_DATA_DIR", str(d))
    return d


# -------------------------------------------------------------------------------------------------------
# the shipped snapshot


SHIPPED = {
    # venue: symbol → (instrument, contract size, tick, lot, max leverage, funding h)
    Venue.OKX: {
        "BTC": ("BTC-USDT-SWAP", 0.01, 0.1, 0.01, 100.0, 8.0),
        "ETH": ("ETH-USDT-SWAP", 0.1, 0.01, 0.01, 100.0, 8.0),
        "SOL": ("SOL-USDT-SWAP", 1.0, 0.01, 0.01, None, 8.0),
        "BNB": ("BNB-USDT-SWAP", 0.01, 0.1, 1.0, None, 8.0),
        "XRP": ("XRP-USDT-SWAP", 100.0, 0.0001, 0.01, None, 8.0),
        "DOGE": ("DOGE-USDT-SWAP", 1000.0, 0.00001, 0.01, None, 8.0),
    },
    Venue.BYBIT: {
        "BTC": ("BTCUSDT", 1.0, 0.1, 0.001, 100.0, 8.0),
        "ETH": ("ETHUSDT", 1.0, 0.01, 0.01, 100.0, 8.0),
        "SOL": ("SOLUSDT", 1.0, 0.01, 0.1, 100.0, 8.0),
        "BNB": ("BNBUSDT", 1.0, 0.1, 0.01, 50.0, 8.0),
        "XRP": ("XRPUSDT", 1.0, 0.0001, 0.1, 100.0, 8.0),
        "DOGE": ("DOGEUSDT", 1.0, 0.00001, 1.0, 75.0, 8.0),
    },
    Venue.HYPERLIQUID: {
        "BTC": ("BTC", 1.0, None, 0.00001, 40.0, 1.0),
        "ETH": ("ETH", 1.0, None, 0.0001, 25.0, 1.0),
        "SOL": ("SOL", 1.0, None, 0.01, 20.0, 1.0),
        "BNB": ("BNB", 1.0, None, 0.001, 10.0, 1.0),
        "XRP": ("XRP", 1.0, None, 1.0, 20.0, 1.0),
        "DOGE": ("DOGE", 1.0, None, 1.0, 10.0, 1.0),
    },
}


def test_shipped_snapshot_values() -> None:
    snap = Instruments.packaged()
    assert snap.as_of == "2026-11-28"
    assert set(snap.sources) == set(Venue)
    assert all(src.urls and src.as_of for src in snap.sources.values())
    for venue, rows in SHIPPED.items():
        for symbol, expected in rows.items():
            s = snap.get(venue, symbol)
            assert (
                s.instrument,
                s.contract_size,
                s.tick_size,
                s.lot_size,
                s.max_leverage,
                s.funding_interval_hours,
            ) == expected, (venue, symbol)
    assert {(s.venue, s.symbol) for s in snap} == {(v, c) for v in Venue for c in SHIPPED[Venue.OKX]}
    binance_btc = snap.get("binance", "BTC")
    assert (binance_btc.tick_size, binance_btc.lot_size, binance_btc.max_leverage) == (0.1, 0.001, 125.0)


def test_lookups() -> None:
    snap = Instruments.packaged()
    assert snap.contract_size(Venue.OKX, "doge") == 1000.0
    assert snap.contract_size("binance", "BTC") == 1.0
    assert snap.by_instrument("okx", "XRP-USDT-SWAP").symbol == "XRP"
    assert snap.get("okx", "BNB").lot_size_base == 0.01 and snap.get("okx", "BNB").to_base(250) == 2.5
    assert ("okx", "BTC") in snap and ("okx", "PEPE") not in snap
    assert [s.symbol for s in snap.specs(venues=["okx"], symbols=["doge", "btc"])] == ["BTC", "DOGE"]
    assert [s.venue for s in snap.specs(symbols=["ETH"])] == list(Venue)
    with pytest.raises(UnknownInstrument, match=r"PEPE.*--refresh"):
        snap.get("okx", "PEPE")
    with pytest.raises(UnknownInstrument):
        snap.by_instrument("okx", "BTC-USD-SWAP")
    with pytest.raises(ValueError):
        snap.get("kraken", "BTC")


def test_load_prefers_the_refreshed_copy_in_the_data_dir(data_dir: Path) -> None:
    assert Instruments.load().path == ins.packaged_path()
    mine = Instruments(
        [InstrumentSpec(venue=Venue.OKX, symbol="BTC", instrument="BTC-USDT-SWAP", contract_size=0.001)],
        as_of="2031-01-01",
    )
    ins.write_snapshot(mine, data_dir / "instruments.json")
    loaded = Instruments.load()
    assert (loaded.path, loaded.as_of, loaded.contract_size("okx", "BTC")) == (
        data_dir / "instruments.json",
        "2031-01-01",
        0.001,
    )
    assert Instruments.packaged().contract_size("okx", "BTC") == 0.01
    assert Instruments.load(data_dir=data_dir / "elsewhere").path == ins.packaged_path()


def test_bad_snapshot_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    with pytest.raises(SnapshotError, match="not found"):
        Instruments.load(bad)
    for text, match in [
        ("{", "bad.json"),
        ('{"format": 9, "as_of": "x", "instruments": {}}', "format 9"),
        ('{"format": 1, "as_of": "x", "instruments": {"kraken": {}}}', "kraken"),
        (
            '{"format": 1, "as_of": "x", "instruments": {"okx": {"BTC": {"instrument": "BTC-USDT-SWAP", '
            '"contract_size": 0}}}}',
            "contract_size",
        ),
        (
            '{"format": 1, "as_of": "x", "instruments": {"okx": {"BTC": {"instrument": "BTC-USDT-SWAP", '
            '"contract_size": "NaN"}}}}',
            "contract_size",
        ),
    ]:
        bad.write_text(text)
        with pytest.raises(SnapshotError, match=match):
            Instruments.load(bad)


@given(
    ct=st.floats(min_value=1e-9, max_value=1e9, allow_nan=False, allow_infinity=False),
    contracts=st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
)
def test_snapshot_round_trip_and_contract_conversion(ct: float, contracts: float) -> None:
    spec = InstrumentSpec(
        venue=Venue.OKX, symbol="X", instrument="X-USDT-SWAP", contract_size=ct, lot_size=1.0
    )
    snap = Instruments([spec], as_of="t")
    again = Instruments.from_json(json.dumps(snap.to_json_dict()))
    assert again.get("okx", "X") == spec
    assert again.get("okx", "X").to_base(contracts) == contracts * ct


# -------------------------------------------------------------------------------------------------------
# refresh from constructed responses


def test_refresh_requests() -> None:
    reqs = ins.refresh_requests()
    assert [r.url for r in reqs[Venue.BINANCE]] == [
        "https://fapi.binance.com/fapi/v1/exchangeInfo",
        "https://fapi.binance.com/fapi/v1/fundingInfo",
    ]
    assert [r.url for r in reqs[Venue.BYBIT]] == [
        "https://api.bybit.com/v5/market/instruments-info?category=linear&limit=1000"
    ]
    assert [r.url for r in reqs[Venue.OKX]] == ["https://www.okx.com/api/v5/public/instruments?instType=SWAP"]
    (hl,) = reqs[Venue.HYPERLIQUID]
    assert (hl.method, hl.url, hl.json_body) == ("POST", "https://api.hyperliquid.xyz/info", {"type": "meta"})
    only = ins.refresh_requests(venues=["okx"], rest_urls={Venue.OKX: "http://127.0.0.1:1"})
    assert list(only) == [Venue.OKX] and only[Venue.OKX][0].base_url == "http://127.0.0.1:1"


def test_bybit_pages_follow_the_cursor() -> None:
    (first,) = ins.refresh_requests(venues=["bybit"])[Venue.BYBIT]
    nxt = ins.next_page_request("bybit", first, json.dumps(BYBIT_PAGE_1))
    assert nxt is not None and nxt.params["cursor"] == "page2" and nxt.base_url == first.base_url
    assert ins.next_page_request("bybit", nxt, json.dumps(BYBIT_PAGE_2)) is None
    assert ins.next_page_request("okx", first, b"{}") is None


def test_parse_each_venue(bodies: dict[Venue, list[bytes]]) -> None:
    def rows(venue: Venue) -> list[tuple]:
        return [
            (
                s.symbol,
                s.instrument,
                s.contract_size,
                s.tick_size,
                s.lot_size,
                s.max_leverage,
                s.funding_interval_hours,
            )
            for s in ins.parse_venue(venue, bodies[venue])
        ]

    assert rows(Venue.BINANCE) == [
        ("BTC", "BTCUSDT", 1.0, 0.1, 0.001, None, 8.0),  # no leverage in exchangeInfo
        ("SOL", "SOLUSDT", 1.0, 0.01, 0.01, None, 4.0),  # fundingInfo: 4 h
    ]  # the quarterly and the settling symbol left out
    assert rows(Venue.BYBIT) == [
        ("BTC", "BTCUSDT", 1.0, 0.1, 0.001, 100.0, 8.0),
        ("DOGE", "DOGEUSDT", 1.0, 0.00001, 1.0, 75.0, 4.0),
    ]  # USDC perp and pre-launch left out
    assert [r[:3] for r in rows(Venue.OKX)] == [
        ("BTC", "BTC-USDT-SWAP", 0.01),
        ("DOGE", "DOGE-USDT-SWAP", 1000.0),
        ("IOST", "IOST-USDT-SWAP", 1000.0),
    ]
    assert [r[:2] for r in rows(Venue.HYPERLIQUID)] == [
        ("BTC", "BTC"),
        ("ETH", "ETH"),
        ("SOL", "SOL"),
        ("kPEPE", "kPEPE"),
        ("BNB", "BNB"),
    ]


def test_refresh_merges_and_writes_atomically(bodies: dict[Venue, list[bytes]], data_dir: Path) -> None:
    previous = Instruments.packaged()
    only = {Venue.BINANCE: bodies[Venue.BINANCE], Venue.OKX: bodies[Venue.OKX]}
    snap = ins.refresh(only, as_of="2027-03-01", urls={Venue.OKX: ["https://www.okx.com/x"]})
    target = data_dir / "instruments.json"
    assert snap.path == target and target.is_file()
    assert [p.name for p in data_dir.iterdir()] == ["instruments.json"]  # no temporary file left behind
    loaded = Instruments.load()
    assert loaded.as_of == "2027-03-01" and loaded.path == target
    # refreshed venues: replaced (delisted symbols drop out), unpublished fields kept from the old snapshot
    assert loaded.get("binance", "BTC").max_leverage == 125.0
    assert loaded.get("binance", "SOL").funding_interval_hours == 4.0
    assert loaded.find("binance", "ETH") is None
    assert loaded.get("okx", "IOST").contract_size == 1000.0
    assert loaded.get("okx", "DOGE").funding_interval_hours == 8.0  # OKX publishes none: kept
    assert loaded.find("okx", "ETH") is None
    assert loaded.sources[Venue.OKX].as_of == "2027-03-01"
    assert loaded.sources[Venue.OKX].urls == ("https://www.okx.com/x",)
    # venues not refreshed keep their entries and dates
    assert loaded.sources[Venue.BYBIT] == previous.sources[Venue.BYBIT]
    assert loaded.specs(venues=["bybit"]) == previous.specs(venues=["bybit"])
    # the OKX decoder now knows IOST: the documented liquidation decodes
    from perpscope.venues import okx

    doc = Path(__file__).parents[1] / "fixtures" / "okx" / "ws_liquidation_iost_doc.json"
    (liq,) = okx.Decoder().decode(doc.read_bytes(), 0)
    assert liq.quantity == 13000.0  # type: ignore[union-attr]


def test_refresh_writes_nothing_when_a_body_is_bad(bodies: dict[Venue, list[bytes]], data_dir: Path) -> None:
    with pytest.raises(ins.DecodeError):
        ins.refresh({Venue.OKX: [b'{"code":"50011","msg":"Too Many Requests","data":[]}']})
    assert not (data_dir / "instruments.json").exists()


def test_write_snapshot_failure_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "instruments.json"
    ins.write_snapshot(Instruments.packaged(), target)
    before = target.read_bytes()

    def boom(*_a: object, **_k: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ins.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        ins.write_snapshot(Instruments([], as_of="x"), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["instruments.json"]


# -------------------------------------------------------------------------------------------------------
# the network path against a local server (no internet)


@pytest.fixture
def venue_server(bodies: dict[Venue, list[bytes]]) -> Iterator[str]:
    """A local HTTP server answering the four venues' refresh requests."""

    async def binance_info(_r: web.Request) -> web.Response:
        return web.json_response(BINANCE_EXCHANGE_INFO)

    async def binance_funding(_r: web.Request) -> web.Response:
        return web.json_response(BINANCE_FUNDING_INFO)

    async def bybit(r: web.Request) -> web.Response:
        return web.json_response(BYBIT_PAGE_2 if r.query.get("cursor") == "page2" else BYBIT_PAGE_1)

    async def okx(r: web.Request) -> web.Response:
        assert r.query["instType"] == "SWAP"
        return web.Response(body=bodies[Venue.OKX][0], content_type="application/json")

    async def hyperliquid(r: web.Request) -> web.Response:
        assert await r.json() == {"type": "meta"}
        return web.Response(body=bodies[Venue.HYPERLIQUID][0], content_type="application/json")

    app = web.Application()
    app.router.add_get("/fapi/v1/exchangeInfo", binance_info)
    app.router.add_get("/fapi/v1/fundingInfo", binance_funding)
    app.router.add_get("/v5/market/instruments-info", bybit)
    app.router.add_get("/api/v5/public/instruments", okx)
    app.router.add_post("/info", hyperliquid)

    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


def test_refresh_from_network(venue_server: str, data_dir: Path) -> None:
    urls = dict.fromkeys(Venue, venue_server)
    snap, failures = cmd.refresh_from_network(timeout_s=5, rest_urls=urls)
    assert failures == {}
    assert snap.path == data_dir / "instruments.json"
    assert {v: len(snap.specs(venues=[v])) for v in Venue} == {
        Venue.BINANCE: 2,
        Venue.BYBIT: 2,  # both pages fetched
        Venue.OKX: 3,
        Venue.HYPERLIQUID: 5,
    }
    assert snap.get("bybit", "DOGE").funding_interval_hours == 4.0
    assert snap.sources[Venue.OKX].urls == (f"{venue_server}/api/v5/public/instruments?instType=SWAP",)


def test_refresh_partial_failure_keeps_the_failed_venue(venue_server: str, data_dir: Path) -> None:
    urls = {Venue.OKX: venue_server, Venue.HYPERLIQUID: "http://127.0.0.1:9"}  # nothing listens on port 9
    snap, failures = cmd.refresh_from_network(
        venues=[Venue.OKX, Venue.HYPERLIQUID], timeout_s=2, rest_urls=urls
    )
    assert list(failures) == [Venue.HYPERLIQUID] and "127.0.0.1:9" in failures[Venue.HYPERLIQUID]
    assert snap.get("okx", "IOST").contract_size == 1000.0
    assert snap.specs(venues=["hyperliquid"]) == Instruments.packaged().specs(venues=["hyperliquid"])


# -------------------------------------------------------------------------------------------------------
# the command


def test_cli_json(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    assert main(["instruments", "--json", "--venue", "okx", "--symbols", "btc,doge"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["as_of"] == "2026-11-28" and out["packaged"] is True
    assert [(r["symbol"], r["contract_size"]) for r in out["instruments"]] == [
        ("BTC", 0.01),
        ("DOGE", 1000.0),
    ]
    assert out["sources"]["okx"]["as_of"] == "2026-01-19"


def test_cli_table(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    assert main(["instruments", "--symbols", "all"]) == 0
    out = capsys.readouterr().out
    assert "packaged snapshot of 2026-11-28" in out
    assert "DOGE-USDT-SWAP" in out and "1000" in out and "hyperliquid" in out
    assert main(["instruments", "--symbols", "NOPE"]) == 0
    assert "no instrument matches" in capsys.readouterr().out


def test_cli_refresh_network_failure_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    rc = main(
        [
            "instruments",
            "--refresh",
            "--venue",
            "okx",
            "--rest-url",
            "okx=http://127.0.0.1:9",
            "--timeout",
            "2",
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "could not refresh any venue" in err and "okx" in err and "nothing written" in err
    assert not (data_dir / "instruments.json").exists()


def test_cli_refresh_against_local_server(
    capsys: pytest.CaptureFixture[str], venue_server: str, data_dir: Path
) -> None:
    urls = ["--rest-url", f"okx={venue_server}", "--rest-url", f"hyperliquid={venue_server}"]
    rc = main(["instruments", "--refresh", "--venue", "okx,hyperliquid", "--json", "--symbols", "all", *urls])
    assert rc == 0
    captured = capsys.readouterr()
    assert "refreshed okx, hyperliquid" in captured.err
    out = json.loads(captured.out)
    assert out["packaged"] is False and out["path"] == str(data_dir / "instruments.json")
    assert ("okx", "IOST") in {(r["venue"], r["symbol"]) for r in out["instruments"]}
    assert main(["instruments", "--refresh", "--rest-url", "nonsense"]) == 2
    assert "--rest-url wants VENUE=URL" in capsys.readouterr().err
