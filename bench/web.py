"""Web dashboard figures on the real path: a simulated 32-day store (3 venues) ending now, the collector
against the exchange emulator writing it in the server's event loop, and Debian chromium.

- heatmap_30d_ms: /api/heatmap 30-day window, warm store, computed heatmap cached (median of 5);
  heatmap_30d_uncached_ms: the same with an empty cache (median of 3: read bars + engine + encode);
- first_render_ms: chromium, page load to every panel drawn (1d window, median of 3, collector running);
- tape_latency_ms: collector received (and handed to the store writer) → row shown in the browser,
  median over the liquidations seen in ``--tape-s`` seconds (p95 and max reported too).

    python bench/web.py [--store DIR] [--tape-s 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import ClientSession, web

from perpscope.feed.fanout import Fanout
from perpscope.heatmap.pipeline import DEMO_VENUES
from perpscope.web.demo import seed_demo_store
from perpscope.web.feeds import CollectSpec, run_collector_feed
from perpscope.web.server import CACHE_KEY, STATE_KEY, make_app

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


async def _get_ms(s: ClientSession, url: str) -> tuple[float, int]:
    t = time.perf_counter()
    r = await s.get(url)
    body = await r.read()
    assert r.status == 200, body[:200]
    return (time.perf_counter() - t) * 1000, len(body)


async def main(store_dir: Path | None, tape_s: float) -> dict[str, float | int | None]:
    root = store_dir or Path(tempfile.mkdtemp(prefix="perpscope-bench-web-"))
    t = time.perf_counter()
    store = seed_demo_store(root, days=31)
    print(f"store ready (32 simulated days) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    fanout = Fanout()
    app = make_app(store, fanout=fanout)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    out: dict[str, float | int | None] = {}
    hm = url + "/api/heatmap?symbol=BTC&window=30d"
    async with ClientSession() as s:
        await _get_ms(s, url + "/api/funding?symbol=BTC")  # first store query (DuckDB setup) off the clock
        cold = []
        for _ in range(3):
            app[CACHE_KEY].clear()
            cold.append((await _get_ms(s, hm))[0])
        out["heatmap_30d_uncached_ms"] = round(statistics.median(cold), 1)
        warm = [await _get_ms(s, hm) for _ in range(5)]
        out["heatmap_30d_ms"] = round(statistics.median(w[0] for w in warm), 1)
        out["heatmap_30d_bytes"] = warm[0][1]
        out["heatmap_split_ms"] = round(
            (await _get_ms(s, url + "/api/heatmap/split?window=30d&i=200&j=100"))[0], 1
        )
        out["liqmap_30d_ms"] = round((await _get_ms(s, url + "/api/liqmap?window=30d&leverage=50"))[0], 1)
    stop = asyncio.Event()
    spec = CollectSpec(venues=DEMO_VENUES, symbols=("BTC",), emulate=True, rate=30.0)
    feed = asyncio.create_task(run_collector_feed(store, fanout, stop, spec, app[STATE_KEY]))
    out["first_render_ms"] = out["tape_latency_ms"] = None
    if Path(CHROMIUM).exists():
        from playwright.async_api import async_playwright

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await asyncio.sleep(3)  # the collector is connected and storing
            renders = []
            for _ in range(3):
                t = time.perf_counter()
                await page.goto(url + "/?symbol=BTC&window=1d")
                await page.wait_for_function(
                    "window.perpscope && window.perpscope.rendered.all", timeout=30_000
                )
                renders.append((time.perf_counter() - t) * 1000)
            out["first_render_ms"] = round(statistics.median(renders), 1)
            await page.wait_for_timeout(tape_s * 1000)
            lat = sorted(await page.evaluate("window.perpscope.latencies"))
            if lat:
                out["tape_latency_ms"] = round(statistics.median(lat), 1)
                out["tape_latency_p95_ms"] = round(lat[int(0.95 * (len(lat) - 1))], 1)
                out["tape_latency_max_ms"] = round(lat[-1], 1)
                out["tape_events"] = len(lat)
            await browser.close()
    stop.set()
    await asyncio.wait_for(feed, 30)
    out["collector_events"] = app[STATE_KEY]["events"]()
    await runner.cleanup()
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, default=None, help="reuse (or create) the seeded store here")
    ap.add_argument("--tape-s", type=float, default=20.0, help="seconds of tape to measure latency over")
    a = ap.parse_args()
    print(json.dumps(asyncio.run(main(a.store, a.tape_s))))
