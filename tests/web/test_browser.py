"""Real-browser test: Debian chromium driven by Playwright against ``perpscope serve --demo``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def start_demo(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    """``perpscope serve --demo --port 0`` as a subprocess; returns it and its URL once listening."""

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "perpscope",
            "serve",
            "--demo",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path / "s"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"(http://\S+)", line)
        if m:
            return proc, m.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("serve --demo did not start")


@pytest.mark.browser
@pytest.mark.slow
async def test_dashboard_in_chromium(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed")
    from playwright.async_api import async_playwright

    proc, url = start_demo(tmp_path)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(url + "?symbol=BTC&window=1d")
            await page.wait_for_function("window.perpscope && window.perpscope.rendered.all", timeout=30_000)
            # the heatmap is drawn: plotly's heatmap layer holds an image with non-trivial data
            drawn = await page.evaluate(
                """() => { const img = document.querySelector('#heatmap .hm image');
                           return img ? img.getAttribute('href').length : 0; }"""
            )
            assert drawn > 1000
            await page.wait_for_function("window.perpscope.tapeCount > 0", timeout=30_000)
            # the tape event left the collector (received + stored) less than 250 ms before it was shown
            lat = await page.evaluate("window.perpscope.latencies")
            assert lat and max(lat) < 250, lat
            assert await page.locator("#funding tbody tr").count() > 0
            # formatted, not raw wire numbers: rates and APR in %, no nanosecond timestamps
            heads = await page.locator("#funding thead th").all_text_contents()
            assert heads[:2] == ["venue", "rate"] and "APR" in heads, heads
            first = await page.locator("#funding tbody tr").first.locator("td").all_text_contents()
            assert first[1].endswith("%") and not any(len(c) > 15 and c.isdigit() for c in first), first
            # the collector's books and trades reach the depth and quadrant panels
            await page.wait_for_function(
                "document.querySelectorAll('#depth tbody tr').length > 0", timeout=10_000
            )
            # hovering a heatmap cell fetches its split by venue and by leverage
            box = await page.locator("#heatmap .nsewdrag").first.bounding_box()
            assert box is not None
            for k in range(1, 8):
                await page.mouse.move(box["x"] + box["width"] * k / 8, box["y"] + box["height"] / 2)
                await page.wait_for_timeout(200)
            await page.wait_for_function("window.perpscope.rendered.split", timeout=10_000)
            split = await page.locator("#heatmap-split").text_content()
            assert split and "by venue: binance" in split and "by leverage: 10x" in split
            # the liquidation map's own leverage filter
            before = await page.evaluate("window.perpscope.rendered.liqmap")
            await page.select_option("#map-leverage", "50")
            await page.wait_for_function(f"window.perpscope.rendered.liqmap > {before}", timeout=10_000)
            assert "map_leverage=50" in page.url
            assert "over all leverage tiers" in (await page.locator("#liqmap-note").text_content() or "")
            assert "1d" in page.url and "BTC" in page.url
            await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            assert (tmp_path / "dashboard.png").stat().st_size > 10_000
            await browser.close()
        assert errors == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)
