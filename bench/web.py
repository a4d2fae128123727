"""Web dashboard figures: /api/heatmap for a 30-day window from a warm store, the page's first complete
render in chromium, and the tape latency (Fanout.publish → WebSocket message received)."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import ClientSession, web

from perpscope.feed.fanout import Fanout
from perpscope.model import Liquidation, PositionSide, Venue
from perpscope.web.demo import seed_demo_store
from perpscope.web.server import make_app

CHROMIUM = "/usr/bin/chromium"


async def main() -> dict[str, float | None]:
    root = Path(tempfile.mkdtemp(prefix="perpscope-bench-web-"))
    t = time.perf_counter()
    store = seed_demo_store(root, days=31)
    print(f"seeded 32 simulated days in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    fanout = Fanout()
    runner = web.AppRunner(make_app(store, fanout=fanout), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    out: dict[str, float | None] = {}
    async with ClientSession() as s:
        await (await s.get(url + "/api/heatmap?symbol=BTC&window=30d")).read()  # warm
        times = []
        for _ in range(5):
            t = time.perf_counter()
            r = await s.get(url + "/api/heatmap?symbol=BTC&window=30d")
            await r.read()
            assert r.status == 200
            times.append((time.perf_counter() - t) * 1000)
        out["heatmap_30d_ms"] = round(statistics.median(times), 1)
        ws = await s.ws_connect(url + "/ws/tape")
        while not fanout.subscribers:
            await asyncio.sleep(0.01)
        lat = []
        for i in range(50):
            ev = Liquidation(
                venue=Venue.BINANCE,
                symbol="BTC",
                ts_event=i,
                ts_recv=i,
                side=PositionSide.SHORT,
                price=1.0,
                quantity=1.0,
                notional_usd=1.0,
                sampled=True,
            )
            t = time.perf_counter()
            fanout.publish([ev])
            await ws.receive_json()
            lat.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.01)
        out["tape_latency_ms"] = round(statistics.median(lat), 2)
        await ws.close()
    out["first_render_ms"] = None
    if Path(CHROMIUM).exists():
        from playwright.async_api import async_playwright

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--no-first-run",
                    "--disable-sync",
                ],
            )
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            renders = []
            for _ in range(3):
                t = time.perf_counter()
                await page.goto(url + "/?symbol=BTC&window=1d")
                await page.wait_for_function(
                    "window.perpscope && window.perpscope.rendered.all", timeout=30_000
                )
                renders.append((time.perf_counter() - t) * 1000)
            out["first_render_ms"] = round(statistics.median(renders), 1)
            await browser.close()
    await runner.cleanup()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
