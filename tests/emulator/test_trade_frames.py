"""``trades_per_frame``: consecutive trades of a symbol share one frame where the venue's trade channel
carries a data array (Bybit, OKX, Hyperliquid); Binance stays one trade per frame. What goes out still
decodes, with the production decoders, to exactly the trades the emulator recorded."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from perpscope.model import Trade
from perpscope.venues import make_decoder

SUBSCRIBE = {
    "binance": ("/public/ws", {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}),
    "bybit": ("/v5/public/linear", {"op": "subscribe", "args": ["publicTrade.BTCUSDT"]}),
    "okx": ("/ws/v5/public", {"op": "subscribe", "args": [{"channel": "trades", "instId": "BTC-USDT-SWAP"}]}),
    "hyperliquid": ("/ws", {"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}}),
}


@pytest.mark.parametrize(
    ("venue", "packs"), [("binance", False), ("bybit", True), ("okx", True), ("hyperliquid", True)]
)
async def test_trades_share_frames_and_decode_to_what_was_published(
    make_emulator, http, venue: str, packs: bool
) -> None:  # type: ignore[no-untyped-def]
    emu = await make_emulator(
        venues=[venue], rate=8.0, trades_per_frame=4, sim_options={"trades_per_s": 100.0, "book_churn": 0}
    )
    decoder = make_decoder(venue)
    per_frame: list[int] = []
    got: list[Trade] = []
    path, subscribe = SUBSCRIBE[venue]
    async with http.ws_connect(emu.endpoints[venue]["ws"] + path) as ws:
        await ws.send_str(json.dumps(subscribe))
        deadline = time.monotonic() + 10
        while len(got) < 200 and time.monotonic() < deadline:
            msg = await asyncio.wait_for(ws.receive(), 5)
            trades = [
                e for e in decoder.decode(str(msg.data), 0) if isinstance(e, Trade) and e.symbol == "BTC"
            ]
            if trades:
                per_frame.append(len(trades))
                got += trades
    published = [e for e in emu.published(venue) if isinstance(e, Trade) and e.symbol == "BTC"]
    assert len(got) >= 200
    assert max(per_frame) == (4 if packs else 1)

    def key(t: Trade) -> tuple[int, float, float, str]:  # the wire carries ms
        return (t.ts_event // 1_000_000, t.price, round(t.quantity, 9), t.side.value)

    # in order, none lost or repeated: the decoded trades are a contiguous run of the published ones
    keys = [key(t) for t in published]
    start = keys.index(key(got[0]))
    assert [key(t) for t in got] == keys[start : start + len(got)]
