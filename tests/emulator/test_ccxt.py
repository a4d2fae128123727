"""A third-party client works unchanged against the emulator: ccxt.pro (binanceusdm, bybit, okx,
hyperliquid) with only its ``urls`` pointed at the emulator loads markets, fetches open interest and watches
trades, order books and liquidations; what it sees is what the emulator published."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from perpscope.model import Liquidation, Trade
from perpscope.sim.emulator import Emulator

ccxtpro = pytest.importorskip("ccxt.pro")

EXCHANGES = {"binance": "binanceusdm", "bybit": "bybit", "okx": "okx", "hyperliquid": "hyperliquid"}
_URL = re.compile(r"^(https?|wss?)://[^/]+(.*)$")


def point_ccxt_at(exchange: object, endpoints: dict[str, str]) -> None:
    """Rewrite every API URL of a ccxt exchange to the emulator's host, keeping the venue's paths."""

    def repoint(obj: object) -> object:
        if isinstance(obj, dict):
            return {k: repoint(v) for k, v in obj.items()}
        if isinstance(obj, str) and (m := _URL.match(obj)):
            base = endpoints["ws"] if m.group(1).startswith("ws") else endpoints["rest"]
            return base + m.group(2)
        return obj

    hostname = getattr(exchange, "hostname", None) or ""
    api = json.loads(json.dumps(exchange.urls["api"]).replace("{hostname}", hostname))  # type: ignore[attr-defined]
    exchange.urls["api"] = repoint(api)  # type: ignore[attr-defined]


def swap_symbol(exchange: object, base: str) -> str:
    markets = exchange.markets  # type: ignore[attr-defined]
    return next(s for s, m in markets.items() if m["swap"] and m["base"] == base)


@pytest.mark.parametrize("venue", list(EXCHANGES))
async def test_ccxt_pro_against_the_emulator(make_emulator, venue: str) -> None:  # type: ignore[no-untyped-def]
    emu: Emulator = await make_emulator(
        venues=[venue], rate=8.0, sim_options={"liquidations_per_s": 1.0}, hyperliquid_block_s=0.2
    )
    ex = getattr(ccxtpro, EXCHANGES[venue])()
    point_ccxt_at(ex, emu.endpoints[venue])
    try:
        await ex.load_markets()
        symbol = swap_symbol(ex, "BTC")
        market = ex.market(symbol)
        contract_size = float(market["contractSize"] or 1.0)

        oi = await ex.fetch_open_interest(symbol)
        amount = oi["openInterestAmount"]
        server_oi = emu.server(venue).markets["BTC"].oi_base
        assert amount is not None and server_oi is not None and amount > 0
        if venue == "okx":
            assert amount * contract_size == pytest.approx(server_oi, rel=1e-6)  # contracts × ctVal, one side
        elif venue == "binance":
            assert amount == pytest.approx(server_oi, rel=1e-6)

        trades = await asyncio.wait_for(ex.watch_trades(symbol), 15)
        published = [e for e in emu.published(venue) if isinstance(e, Trade) and e.symbol == "BTC"]
        for t in trades:
            assert any(
                p.price == t["price"]
                and p.quantity == pytest.approx(t["amount"] * contract_size)
                and p.side.value == t["side"]
                for p in published
            ), t

        book = await asyncio.wait_for(ex.watch_order_book(symbol), 15)
        for _ in range(3):
            book = await asyncio.wait_for(ex.watch_order_book(symbol), 15)
        assert book["bids"][0][0] < book["asks"][0][0]
        await emu.stop_source()
        m = emu.server(venue).markets["BTC"]
        depth = {"binance": 10**6, "bybit": 50, "okx": 400, "hyperliquid": 20}[venue]
        bids, asks = m.top(depth)

        def same() -> bool:
            book = ex.orderbooks[symbol]
            for got, want in ((book["bids"], bids), (book["asks"], asks)):
                if [x[0] for x in got] != [p for p, _ in want]:
                    return False
                if [x[1] * contract_size for x in got] != pytest.approx([q for _, q in want], rel=1e-9):
                    return False
            return True

        for _ in range(50):  # the last updates (and Hyperliquid's next block) are on their way
            if same():
                break
            await asyncio.sleep(0.1)
        assert same()
    finally:
        await ex.close()


@pytest.mark.parametrize("venue", ["binance", "bybit", "okx"])
async def test_ccxt_pro_watch_liquidations(make_emulator, venue: str) -> None:  # type: ignore[no-untyped-def]
    emu: Emulator = await make_emulator(
        venues=[venue], symbols=("BTC",), rate=8.0, sim_options={"liquidations_per_s": 2.0}
    )
    ex = getattr(ccxtpro, EXCHANGES[venue])()
    point_ccxt_at(ex, emu.endpoints[venue])
    try:
        await ex.load_markets()
        symbol = swap_symbol(ex, "BTC")
        contract_size = float(ex.market(symbol)["contractSize"] or 1.0)
        liqs = await asyncio.wait_for(ex.watch_liquidations(symbol), 20)
        published = [e for e in emu.published(venue) if isinstance(e, Liquidation)]
        for liq in liqs:
            assert liq["symbol"] == symbol
            assert any(
                p.price == liq["price"] and p.quantity == pytest.approx(liq["contracts"] * contract_size)
                for p in published
            ), liq
    finally:
        await ex.close()
