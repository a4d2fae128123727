"""The REST side, the way the collector reaches it: each adapter's own request builders with ``Endpoints``
pointed at the emulator, bodies parsed by the production parsers."""

from __future__ import annotations

import itertools
import time

import aiohttp
import pytest

from perpscope.model import Venue
from perpscope.sim.emulator import Emulator
from perpscope.venues import binance, bybit, hyperliquid, okx
from perpscope.venues.instruments import Instruments
from perpscope.venues.rest import RestRequest

HOUR_MS = 3_600_000


async def fetch(http: aiohttp.ClientSession, req: RestRequest) -> bytes:
    async with http.request(req.method, req.url, json=req.json_body) as resp:
        body = await resp.read()
        assert resp.status == 200, (req.url, resp.status, body[:200])
        return body


@pytest.fixture
async def emu(make_emulator) -> Emulator:  # type: ignore[no-untyped-def]
    return await make_emulator(symbols=("BTC", "DOGE"), history_days=2.0)


async def test_binance_rest(emu: Emulator, http: aiohttp.ClientSession) -> None:
    ep = binance.Endpoints(ws=emu.endpoints["binance"]["ws"], rest=emu.endpoints["binance"]["rest"])
    now = int(time.time() * 1000)
    infos = binance.parse_exchange_info(await fetch(http, binance.exchange_info_request(endpoints=ep)))
    assert {i.symbol for i in infos} >= {"BTC", "DOGE"}
    kl = binance.parse_klines(
        await fetch(http, binance.klines_request("BTC", interval="5m", limit=288, endpoints=ep)),
        symbol="BTC",
        interval="5m",
    )
    assert len(kl) == 288 and all(b.ts_event > a.ts_event for a, b in itertools.pairwise(kl))
    assert all(c.low <= min(c.open, c.close) and c.high >= max(c.open, c.close) for c in kl)
    hist = binance.parse_open_interest_hist(
        await fetch(
            http,
            binance.open_interest_hist_request("BTC", period="1h", start_ms=now - 24 * HOUR_MS, endpoints=ep),
        )
    )
    assert 23 <= len(hist) <= 25 and all(x.oi_usd > 0 for x in hist)
    rates = binance.parse_funding_rate(
        await fetch(http, binance.funding_rate_request("BTC", start_ms=now - 48 * HOUR_MS, endpoints=ep))
    )
    assert len(rates) in (6, 7) and all(abs(f.rate) < 0.01 for f in rates)
    prem = binance.parse_premium_index(await fetch(http, binance.premium_index_request("BTC", endpoints=ep)))
    assert prem
    oi = binance.parse_open_interest(
        await fetch(http, binance.open_interest_request("BTC", endpoints=ep)), mark_price=60_000.0
    )
    assert oi.oi_base == pytest.approx(emu.server("binance").markets["BTC"].oi_base or 0.0, rel=1e-6)
    snap = binance.parse_depth_snapshot(
        await fetch(http, binance.depth_request("DOGE", limit=50, endpoints=ep)), symbol="DOGE"
    )
    assert len(snap.bids) == 50 and snap.bids[0][0] < snap.asks[0][0]
    assert binance.parse_funding_info(await fetch(http, binance.funding_info_request(endpoints=ep))) == []


async def test_bybit_rest(emu: Emulator, http: aiohttp.ClientSession) -> None:
    ep = bybit.Endpoints(ws=emu.endpoints["bybit"]["ws"], rest=emu.endpoints["bybit"]["rest"])
    instruments, cursor = bybit.parse_instruments_info(
        await fetch(http, bybit.instruments_info_request(endpoints=ep))
    )
    assert cursor == "" and {i.symbol for i in instruments} == {"BTC", "DOGE"}
    page = bybit.parse_open_interest(
        await fetch(http, bybit.open_interest_request("BTC", interval="1h", limit=24, endpoints=ep))
    )
    assert len(page.points) == 24 and page.next_cursor
    more = bybit.parse_open_interest(
        await fetch(
            http,
            bybit.open_interest_request(
                "BTC", interval="1h", limit=24, cursor=page.next_cursor, endpoints=ep
            ),
        )
    )
    assert max(e.ts_event for e in more.points) < min(e.ts_event for e in page.points)  # older page
    one_side = emu.server("bybit").markets["BTC"].oi_base
    assert page.points[-1].oi_base == pytest.approx(one_side, rel=1e-2)  # one side, newest last
    fund = bybit.parse_funding_history(await fetch(http, bybit.funding_history_request("BTC", endpoints=ep)))
    assert fund and all(f.interval_hours == 8.0 for f in fund)
    tick = bybit.parse_tickers(await fetch(http, bybit.tickers_request("BTC", endpoints=ep)))
    assert {type(e).__name__ for e in tick} >= {"MarkPrice", "Funding", "OpenInterest"}
    kl = bybit.parse_kline(
        await fetch(http, bybit.kline_request("DOGE", interval="60", limit=24, endpoints=ep)), interval="60"
    )
    assert len(kl) == 24
    book = bybit.parse_orderbook(await fetch(http, bybit.orderbook_request("BTC", limit=50, endpoints=ep)))
    assert len(book.bids) == len(book.asks) == 50
    tiers = bybit.parse_risk_limit(
        await fetch(http, bybit.risk_limit_request(symbol="BTC", endpoints=ep)), symbol="BTC"
    )
    assert len(tiers) == 5


async def test_okx_rest(emu: Emulator, http: aiohttp.ClientSession) -> None:
    ws = emu.endpoints["okx"]["ws"]
    ep = okx.Endpoints(
        ws_public=ws + "/ws/v5/public", ws_business=ws + "/ws/v5/business", rest=emu.endpoints["okx"]["rest"]
    )
    specs = okx.parse_instruments(await fetch(http, okx.instruments_request(endpoints=ep)))
    packaged = Instruments.packaged()
    assert {s.symbol: s.contract_size for s in specs} == {
        s: packaged.contract_size(Venue.OKX, s) for s in ("BTC", "DOGE")
    }
    (oi,) = okx.parse_open_interest(
        await fetch(http, okx.open_interest_request("BTC", endpoints=ep)), instruments=packaged
    )
    assert oi.oi_base == pytest.approx(emu.server("okx").markets["BTC"].oi_base or 0.0, rel=1e-6)
    hist = okx.parse_open_interest_history(
        await fetch(http, okx.open_interest_history_request("BTC", period="1H", limit=24, endpoints=ep)),
        symbol="BTC",
    )
    assert len(hist) == 24
    fund = okx.parse_funding_rate_history(
        await fetch(http, okx.funding_rate_history_request("BTC", endpoints=ep))
    )
    assert fund
    candles = okx.parse_candles(
        await fetch(http, okx.candles_request("DOGE", bar="1H", limit=24, endpoints=ep)),
        symbol="DOGE",
        bar="1H",
    )
    assert len(candles) == 24
    book = okx.parse_book(
        await fetch(http, okx.book_request("BTC", depth=50, endpoints=ep)), symbol="BTC", instruments=packaged
    )
    assert len(book.bids) == 50 and book.bids[0][0] < book.asks[0][0]
    body = await fetch(http, okx.position_tiers_request("BTC", endpoints=ep))
    tiers = okx.parse_position_tiers(body, contract_size=packaged.contract_size(Venue.OKX, "BTC"))
    assert len(tiers) == 5


async def test_hyperliquid_info(emu: Emulator, http: aiohttp.ClientSession) -> None:
    ep = hyperliquid.Endpoints(
        ws=emu.endpoints["hyperliquid"]["ws"] + "/ws", rest=emu.endpoints["hyperliquid"]["rest"]
    )
    meta = await fetch(http, hyperliquid.meta_request(endpoints=ep))
    assert {s.symbol for s in hyperliquid.parse_instruments(meta)} == {"BTC", "DOGE"}
    tiers = hyperliquid.parse_margin_tiers(meta)
    assert tiers["BTC"][0]["max_leverage"] == 40.0 and len(tiers["BTC"]) == 2
    ctx = hyperliquid.parse_meta_and_asset_ctxs(
        await fetch(http, hyperliquid.meta_and_asset_ctxs_request(endpoints=ep)), ts_recv=0
    )
    ois = [e for e in ctx if type(e).__name__ == "OpenInterest" and e.symbol == "BTC"]
    assert ois[0].oi_base == pytest.approx(emu.server("hyperliquid").markets["BTC"].oi_base or 0.0, rel=1e-4)
    now = int(time.time() * 1000)
    fund = hyperliquid.parse_funding_history(
        await fetch(
            http, hyperliquid.funding_history_request("BTC", start_ms=now - 24 * HOUR_MS, endpoints=ep)
        )
    )
    assert 23 <= len(fund) <= 25
    assert hyperliquid.parse_predicted_fundings(
        await fetch(http, hyperliquid.predicted_fundings_request(endpoints=ep)), ts_recv=0
    )
    candles = hyperliquid.parse_candle_snapshot(
        await fetch(
            http,
            hyperliquid.candle_snapshot_request(
                "BTC", interval="1h", start_ms=now - 24 * HOUR_MS, end_ms=now, endpoints=ep
            ),
        )
    )
    assert 23 <= len(candles) <= 25
    book = hyperliquid.parse_l2_book(await fetch(http, hyperliquid.l2_book_request("BTC", endpoints=ep)))
    assert len(book.bids) == len(book.asks) == 20
