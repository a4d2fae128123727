"""Renderers on hand-built heatmaps (no engine): files, sizes, self-containment, hover data, summary."""

from __future__ import annotations

import base64
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.image import imread

from perpscope.heatmap.result import Heatmap, HeatmapPart
from perpscope.render import render_html, render_png, render_summary
from perpscope.render._common import merge_price_bins, usd
from perpscope.render.summary import clusters
from perpscope.timeutil import NS_PER_S, parse_time_ns

T0 = parse_time_ns("2026-05-25T00:00Z")
VENUES = ("binance", "bybit")
LEVS = (10.0, 25.0, 50.0, 100.0)


def make_heatmap(n_time: int = 48, n_price: int = 60, *, seed: int = 0, zero: bool = False) -> Heatmap:
    """A heatmap with known parts: aggregate = Σ venues = Σ leverage tiers; longs below ~100, shorts
    above; log bins from 90 to 110; price path around 100."""

    rng = np.random.default_rng(seed)
    edges = np.exp(np.linspace(np.log(90.0), np.log(110.0), n_price + 1))
    centres = np.sqrt(edges[1:] * edges[:-1])
    parts = {}
    for v in VENUES:
        for lev in LEVS:
            base = rng.gamma(0.6, 1e6, size=(n_time, n_price)) * (0.0 if zero else 1.0)
            parts[(v, lev)] = HeatmapPart(
                long_usd=np.where(centres < 100.0, base, 0.0), short_usd=np.where(centres > 100.0, base, 0.0)
            )
    by_venue = {
        v: HeatmapPart(
            long_usd=sum(parts[(v, k)].long_usd for k in LEVS),  # type: ignore[misc]
            short_usd=sum(parts[(v, k)].short_usd for k in LEVS),  # type: ignore[misc]
        )
        for v in VENUES
    }
    by_lev = {
        k: HeatmapPart(
            long_usd=sum(parts[(v, k)].long_usd for v in VENUES),  # type: ignore[misc]
            short_usd=sum(parts[(v, k)].short_usd for v in VENUES),  # type: ignore[misc]
        )
        for k in LEVS
    }
    close = 100.0 + np.cumsum(rng.normal(0.0, 0.1, n_time))
    return Heatmap(
        symbol="BTC",
        venues=VENUES,
        time_edges_ns=T0 + np.arange(n_time + 1, dtype=np.int64) * 300 * NS_PER_S,
        price_edges=edges,
        long_usd=by_venue["binance"].long_usd + by_venue["bybit"].long_usd,
        short_usd=by_venue["binance"].short_usd + by_venue["bybit"].short_usd,
        open=np.r_[100.0, close[:-1]],
        high=close + 0.2,
        low=close - 0.2,
        close=close,
        consumed_long_usd=rng.gamma(1.0, 1e5, n_time),
        consumed_short_usd=rng.gamma(1.0, 1e5, n_time),
        by_venue=by_venue,
        by_leverage=by_lev,
        params={"leverage": list(LEVS), "weights": [0.35, 0.3, 0.2, 0.15]},
    )


# ------------------------------------------------------------------------------------------ PNG


@pytest.mark.parametrize(("width", "height"), [(1600, 900), (800, 500)])
def test_png_has_the_requested_size_and_is_not_blank(tmp_path: Path, width: int, height: int) -> None:
    out = render_png(make_heatmap(), tmp_path / "sub" / "h.png", width=width, height=height)
    img = imread(out)
    assert img.shape[:2] == (height, width)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rgb = img[..., :3]
    assert rgb.std() > 0.05  # a picture, not a flat fill
    # the heatmap area holds many distinct colours
    crop = rgb[int(height * 0.2) : int(height * 0.8), int(width * 0.1) : int(width * 0.6)]
    assert len(np.unique(crop.reshape(-1, 3), axis=0)) > 50


def test_png_options_change_the_picture(tmp_path: Path) -> None:
    hm = make_heatmap()
    a = imread(render_png(hm, tmp_path / "log.png", width=900, height=600))
    b = imread(render_png(hm, tmp_path / "lin.png", width=900, height=600, log_color=False))
    c = imread(render_png(hm, tmp_path / "long.png", width=900, height=600, side="long", candles=True))
    assert not np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(ValueError):
        render_png(hm, tmp_path / "x.png", width=100, height=100)


def test_png_of_an_empty_heatmap_still_renders(tmp_path: Path) -> None:
    img = imread(render_png(make_heatmap(zero=True), tmp_path / "empty.png", width=800, height=500))
    assert img.shape[:2] == (500, 800)


def test_png_of_a_large_heatmap_is_downsampled_quickly(tmp_path: Path) -> None:
    import time

    small = make_heatmap(2, 1500)
    rng = np.random.default_rng(1)
    hm = replace(
        small,
        time_edges_ns=T0 + np.arange(2001, dtype=np.int64) * 60 * NS_PER_S,
        long_usd=rng.gamma(0.5, 1e6, (2000, 1500)),
        short_usd=rng.gamma(0.5, 1e6, (2000, 1500)),
        open=np.full(2000, 100.0),
        high=np.full(2000, 100.5),
        low=np.full(2000, 99.5),
        close=np.full(2000, 100.0),
        consumed_long_usd=np.zeros(2000),
        consumed_short_usd=np.zeros(2000),
        by_venue={},
        by_leverage={},
    )
    t = time.perf_counter()
    img = imread(render_png(hm, tmp_path / "big.png"))
    assert time.perf_counter() - t < 5.0
    assert img.shape[:2] == (900, 1600)


# ----------------------------------------------------------------------------------------- HTML


def plotly_data(html: str) -> list[dict]:
    """The traces passed to Plotly.newPlot in the written file."""

    start = html.index("Plotly.newPlot(") + len("Plotly.newPlot(")
    dec = json.JSONDecoder()
    rest = html[start:].lstrip()
    _, end = dec.raw_decode(rest)  # the div id
    rest = rest[end:].lstrip().lstrip(",").lstrip()
    data, _ = dec.raw_decode(rest)
    return data


def typed(arr: dict | list) -> np.ndarray:
    """Decode plotly's typed-array JSON ({dtype, bdata, shape}) or a plain list."""

    if isinstance(arr, list):
        return np.asarray(arr, dtype=np.float64)
    raw = np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"]))
    shape = tuple(int(s) for s in str(arr.get("shape", raw.size)).split(","))
    return raw.reshape(shape)


def test_html_is_one_self_contained_file_with_the_data(tmp_path: Path) -> None:
    hm = make_heatmap()
    out = render_html(hm, tmp_path / "h.html")
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=[\"']?https?:", html, re.IGNORECASE)
    assert not re.search(r"<link[^>]+href=[\"']?https?:", html, re.IGNORECASE)
    assert "Estimated" in html and "not a price target" in html
    assert len(html) > 3_000_000  # plotly.js is inlined
    heat = next(t for t in plotly_data(html) if t["type"] == "heatmap")
    custom = typed(heat["customdata"]).astype(np.float64)
    assert custom.shape == (hm.n_price, hm.n_time, 3 + len(VENUES) + len(LEVS))
    total = (hm.long_usd + hm.short_usd).T
    assert np.allclose(custom[..., 0], total, rtol=1e-6)
    assert np.allclose(custom[..., 1], hm.long_usd.T, rtol=1e-6)
    # log colour: z is log10 of the USD where there is any
    z = typed(heat["z"]).astype(np.float64)
    pos = total > 0
    assert np.allclose(z[pos], np.log10(np.maximum(total[pos], 10 ** np.nanmin(z))), rtol=1e-5)


def test_html_hover_splits_by_venue_and_leverage(tmp_path: Path) -> None:
    hm = make_heatmap()
    html = render_html(hm, tmp_path / "h.html").read_text(encoding="utf-8")
    heat = next(t for t in plotly_data(html) if t["type"] == "heatmap")
    template = heat["hovertemplate"]
    assert "Estimated" in template
    for name in VENUES:
        assert name in template
    for lev in LEVS:
        assert f"{lev:g}×" in template
    custom = typed(heat["customdata"]).astype(np.float64)
    for i, v in enumerate(VENUES):
        part = hm.by_venue[v]
        assert np.allclose(custom[..., 3 + i], (part.long_usd + part.short_usd).T, rtol=1e-6)
    for i, lev in enumerate(LEVS):
        part = hm.by_leverage[lev]
        assert np.allclose(custom[..., 3 + len(VENUES) + i], (part.long_usd + part.short_usd).T, rtol=1e-6)
    # the splits add up to the cell
    assert np.allclose(custom[..., 3 : 3 + len(VENUES)].sum(axis=-1), custom[..., 0], rtol=1e-5)
    assert np.allclose(custom[..., 3 + len(VENUES) :].sum(axis=-1), custom[..., 0], rtol=1e-5)


def test_html_downsamples_columns_and_bins_keeping_totals(tmp_path: Path) -> None:
    hm = make_heatmap(1000, 900, seed=3)
    out = render_html(hm, tmp_path / "big.html", max_columns=200, max_bins=150)
    html = out.read_text(encoding="utf-8")
    heat = next(t for t in plotly_data(html) if t["type"] == "heatmap")
    custom = typed(heat["customdata"]).astype(np.float64)
    assert custom.shape[0] <= 150 and custom.shape[1] <= 200
    small = hm.downsample(200)
    assert np.allclose(custom[..., 0].sum(axis=0), (small.long_usd + small.short_usd).sum(axis=1), rtol=1e-5)
    assert out.stat().st_size < 15_000_000


@pytest.mark.browser
def test_html_hover_in_a_real_browser(tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("needs a chromium binary")
    sync_api = pytest.importorskip("playwright.sync_api")
    out = render_html(make_heatmap(), tmp_path / "h.html")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(out.as_uri())
            page.wait_for_selector(".nsewdrag")
            box = page.locator(".xy .nsewdrag").first.bounding_box()
            assert box is not None
            page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.8)
            page.wait_for_selector(".hoverlayer .hovertext", timeout=5000)
            text = page.locator(".hoverlayer").text_content() or ""
        finally:
            browser.close()
    assert "Estimated" in text and "binance" in text and "bybit" in text and "10×" in text


# -------------------------------------------------------------------------------------- helpers


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 120), st.integers(1, 130))
def test_merging_price_bins_keeps_column_totals(n_time: int, n_price: int, max_bins: int) -> None:
    hm = make_heatmap(n_time, n_price, seed=n_price)
    m = merge_price_bins(hm, max_bins)
    assert m.n_price <= max_bins
    assert m.price_edges[0] == hm.price_edges[0] and m.price_edges[-1] == hm.price_edges[-1]
    assert np.all(np.diff(m.price_edges) > 0)
    assert np.allclose(m.long_usd.sum(axis=1), hm.long_usd.sum(axis=1))
    assert np.allclose(m.by_venue["bybit"].short_usd.sum(axis=1), hm.by_venue["bybit"].short_usd.sum(axis=1))
    assert np.allclose(m.by_leverage[50.0].long_usd.sum(axis=1), hm.by_leverage[50.0].long_usd.sum(axis=1))


def test_usd_format() -> None:
    assert usd(1_234_567) == "$1.23M"
    assert usd(999) == "$999"
    assert usd(2.5e9) == "$2.5B"
    assert usd(-12_300) == "-$12.3k"


# -------------------------------------------------------------------------------------- summary


def test_summary_names_the_top_clusters_with_usd_and_distance() -> None:
    hm = make_heatmap()
    long = np.zeros_like(hm.long_usd)
    short = np.zeros_like(hm.short_usd)
    edges = hm.price_edges
    price = float(hm.close[-1])
    j_long = int(np.searchsorted(edges, price * 0.97)) - 1
    j_short = int(np.searchsorted(edges, price * 1.05)) - 1
    long[-1, j_long] = 5e8
    long[-1, j_long - 5] = 1e8
    short[-1, j_short] = 7e8
    hm2 = replace(hm, long_usd=long, short_usd=short)
    found = clusters(hm2, top=2)
    assert [c.side for c in found] == ["long", "long", "short"]
    assert found[0].usd == pytest.approx(5e8) and found[0].distance == pytest.approx(-0.03, abs=0.004)
    assert found[2].usd == pytest.approx(7e8) and found[2].distance == pytest.approx(0.05, abs=0.004)
    text = render_summary(hm2)
    assert "ESTIMATED" in text and "not a price target" in text
    assert "$500M" in text and "$700M" in text and "$100M" in text
    assert f"{found[0].distance:+.2%} from price" in text and f"{found[2].distance:+.2%} from price" in text
    consumed = usd(float(hm.consumed_long_usd.sum()))
    assert consumed in text
    assert "10×:35%" in text
    assert "turnover" not in text  # off in make_heatmap's params


def test_assumptions_name_the_intrabar_steps(tmp_path: Path) -> None:
    hm = make_heatmap()
    hm = replace(hm, params={**hm.params, "turnover_per_h": 0.3, "substeps": 8})
    text = render_summary(hm)
    assert "Assumptions: leverage mix 10×:35%" in text
    assert "turnover 30%/h, intrabar path 24 steps/bar" in text
    out = render_html(hm, tmp_path / "h.html")
    assert "turnover 30%" in Path(out).read_text()


def test_summary_of_an_empty_heatmap() -> None:
    text = render_summary(make_heatmap(zero=True))
    assert "none standing" in text and "Estimated" in text
