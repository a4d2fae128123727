"""The heatmap pipeline behind ``perpscope heatmap`` and ``perpscope demo``: load engine bars from the
embedded store (deriving them from candles + open interest when none are stored), run the engine, render;
and the offline demo (simulator → store → engine → render)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PerpscopeError
from ..model import Bar, Candle, Funding, Kind, Liquidation, OpenInterest, Venue
from ..render import render_html, render_png, render_summary
from ..store import Store
from ..store.derive import derive_all_bars
from ..timeutil import NS_PER_MS, NS_PER_S
from .engine import run_engine
from .params import EngineParams
from .result import Heatmap
from .series import BarSeries

NS_PER_DAY = 86_400 * NS_PER_S
ESTIMATE_LABEL = "estimated (a model of forced liquidity, not a prediction)"
JSON_KEYS = ("symbol", "venues", "time", "price", "long_usd", "short_usd")


class NoDataError(PerpscopeError):
    """No bars for the symbol/venues/window asked for."""


def _series_from_table(table: object, *, venue: Venue, symbol: str) -> BarSeries | None:
    """The finest-interval bars of one venue in a ``bars`` table (None when empty)."""

    import pyarrow.compute as pc

    t = table  # pa.Table
    if t.num_rows == 0:  # type: ignore[attr-defined]
        return None
    iv = t.column("interval_s").to_numpy()  # type: ignore[attr-defined]
    finest = int(iv.min())
    t = t.filter(pc.equal(t.column("interval_s"), finest))  # type: ignore[attr-defined]
    ts = t.column("ts_event").to_numpy().astype(np.int64)
    # a re-derived or re-imported bar may be stored twice: keep the last copy of each open time
    _, last = np.unique(ts[::-1], return_index=True)
    keep = np.sort(ts.shape[0] - 1 - last)

    def col(name: str) -> np.ndarray | None:
        a = t.column(name).to_numpy(zero_copy_only=False).astype(np.float64)[keep]
        return None if np.isnan(a).all() else a

    oi = col("oi_usd")
    if oi is None:
        return None
    return BarSeries.from_arrays(
        venue=venue,
        symbol=symbol,
        interval_s=finest,
        ts_ns=ts[keep],
        open=col("open"),
        high=col("high"),
        low=col("low"),
        close=col("close"),
        oi_usd=oi,
        volume=col("volume"),
        taker_buy_volume=col("taker_buy_volume"),
    )


def load_store_series(
    store: Store,
    *,
    symbol: str,
    venues: Sequence[Venue] | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    derive: bool = True,
) -> list[BarSeries]:
    """One :class:`BarSeries` per venue with bars for ``symbol`` in [start_ns, end_ns). A venue with no
    stored bars gets them derived from its candles + open interest (``store.derive``) when ``derive``."""

    symbol = symbol.upper()
    out: list[BarSeries] = []
    for v in venues or list(Venue):
        table = store.read(Kind.BAR, venue=v, symbol=symbol, start_ns=start_ns, end_ns=end_ns)
        if table.num_rows == 0 and derive and store.files(Kind.CANDLE, venue=v, symbol=symbol):
            derive_all_bars(store, venue=v, symbol=symbol, start_ns=start_ns, end_ns=end_ns)
            table = store.read(Kind.BAR, venue=v, symbol=symbol, start_ns=start_ns, end_ns=end_ns)
        s = _series_from_table(table, venue=Venue(v), symbol=symbol)
        if s is not None and len(s) > 0:
            out.append(s)
    return out


def compute(
    series: Sequence[BarSeries],
    params: EngineParams,
    *,
    window: str | int | None,
    end_ns: int | None,
) -> Heatmap:
    """Run the engine over the venues' series; NoDataError when nothing falls in the window."""

    if not series:
        raise NoDataError("no bars")
    if end_ns is not None:
        series = [s for s in series if int(s.ts_ns[0]) < end_ns]
        if not series:
            raise NoDataError("no bars before --end")
    res = run_engine(list(series), params, window=window, end_ns=end_ns)
    if res.heatmap is None:
        raise NoDataError("the engine produced no display matrices")
    return res.heatmap


def heatmap_json(hm: Heatmap) -> dict[str, object]:
    """Exactly ``{"symbol","venues","time","price","long_usd","short_usd"}``: ``long_usd[i][j]`` is the
    USD at time column i (start, ms) and price bin j (centre)."""

    full = hm.to_json_dict()
    return {k: full[k] for k in JSON_KEYS}


def write_output(hm: Heatmap, out: Path, *, log_color: bool = True) -> Path:
    """Render by extension: .png, .html or .json."""

    import json

    suffix = out.suffix.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        return render_png(hm, out, log_color=log_color)
    if suffix in (".html", ".htm"):
        return render_html(hm, out, log_color=log_color)
    if suffix == ".json":
        out.write_text(json.dumps(heatmap_json(hm), separators=(",", ":")))
        return out
    raise ValueError(f"--out must end in .png, .html or .json, not {out.name!r}")


# ------------------------------------------------------------------------------------------------ demo
DEMO_VENUES = (Venue.BINANCE, Venue.BYBIT, Venue.OKX)
DEMO_KEEP = (Bar, Candle, OpenInterest, Funding, Liquidation)


@dataclass(frozen=True, kw_only=True)
class DemoResult:
    out_dir: Path
    png: Path
    html: Path
    summary: Path
    events_stored: int
    spearman_long: float
    spearman_short: float
    elapsed_s: float
    timings: dict[str, float]


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    def rank(x: np.ndarray) -> np.ndarray:
        order = np.argsort(x, kind="mergesort")
        r = np.empty(x.shape[0])
        r[order] = np.arange(x.shape[0], dtype=np.float64)
        # average ties so long runs of zeros do not inflate the score
        _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
        sums = np.bincount(inv, weights=r)
        return sums[inv] / counts[inv]

    if a.shape[0] < 3:
        return float("nan")
    ra, rb = rank(a), rank(b)
    sa, sb = ra.std(), rb.std()
    if sa == 0.0 or sb == 0.0:
        return float("nan")
    return float(((ra - ra.mean()) * (rb - rb.mean())).mean() / (sa * sb))


def run_demo(
    out_dir: Path,
    *,
    seed: int = 7,
    days: int = 7,
    params: EngineParams | None = None,
) -> DemoResult:
    """Simulate BTC on Binance, Bybit and OKX (one warm-up day + ``days``), store its normalized events in a
    fresh store under ``out_dir/store``, read the bars back, run the engine and write heatmap.png,
    heatmap.html and summary.txt into ``out_dir``."""

    import shutil

    from ..heatmap.calibrate_model import default_engine_params
    from ..sim.market import simulate
    from ..sim.market_config import SimConfig

    if days < 1:
        raise ValueError("days must be >= 1")
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    store_dir = out_dir / "store"
    if store_dir.exists():
        shutil.rmtree(store_dir)
    cfg = SimConfig(seed=seed, venues=DEMO_VENUES, symbols=("BTC",), duration_ns=(days + 1) * NS_PER_DAY)
    sim = simulate(cfg)
    timings["simulate_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    store = Store(store_dir)
    # every kind the engine and the other commands read; book deltas and trades are left out to stay fast
    n_events = store.write_batch(
        (e for e in sim.events() if isinstance(e, DEMO_KEEP)), source_id=f"demo-sim-seed{seed}"
    )
    timings["store_write_s"] = time.perf_counter() - t

    t = time.perf_counter()
    series = load_store_series(store, symbol="BTC", venues=DEMO_VENUES, derive=False)
    timings["store_read_s"] = time.perf_counter() - t
    if len(series) != len(DEMO_VENUES):
        raise NoDataError("the demo store lacks bars for some venue")

    t = time.perf_counter()
    base = params or default_engine_params()
    from dataclasses import replace

    engine_params = replace(base, max_columns=2000)
    res = run_engine(series, engine_params, window=f"{days}d")
    assert res.heatmap is not None
    hm = res.heatmap
    timings["engine_s"] = time.perf_counter() - t

    # the engine's consumed USD per slot over the displayed window vs the simulator's realized liquidations
    # (entry notional: the unit of the engine's consumed series), aligned on slot open times
    grid = sim.time_edges_ns[:-1]
    real_long, real_short = sim.realized(basis="entry")
    start = res.window.start
    idx = np.searchsorted(grid, res.ts_ns[start:])
    c_long = res.long.consumed_usd[start:]
    c_short = res.short.consumed_usd[start:]
    r_long, r_short = real_long[idx], real_short[idx]
    rho_l = _spearman(c_long, r_long)
    rho_s = _spearman(c_short, r_short)

    t = time.perf_counter()
    png = render_png(hm, out_dir / "heatmap.png")
    html = render_html(hm, out_dir / "heatmap.html")
    timings["render_s"] = time.perf_counter() - t

    elapsed = time.perf_counter() - t0
    lines = [
        f"perpscope demo: simulated BTC on {', '.join(v.value for v in DEMO_VENUES)}, seed {seed}, "
        f"{days} day(s) shown after a 1-day warm-up",
        f"Liquidation heatmap — {ESTIMATE_LABEL}.",
        "",
        render_summary(hm),
        "",
        "Engine consumed liquidity vs the simulator's realized liquidations (5-minute slots, window only):",
        f"  Spearman long  {rho_l:.3f}   (engine {c_long.sum() / 1e6:,.1f}M vs realized "
        f"{r_long.sum() / 1e6:,.1f}M USD entry notional)",
        f"  Spearman short {rho_s:.3f}   (engine {c_short.sum() / 1e6:,.1f}M vs realized "
        f"{r_short.sum() / 1e6:,.1f}M USD entry notional)",
        "",
        f"store: {store_dir} ({n_events:,} events: bars, candles, open interest, funding, liquidations)",
        "timings: " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()) + f"; total {elapsed:.1f} s",
    ]
    summary = out_dir / "summary.txt"
    summary.write_text("\n".join(lines) + "\n")
    return DemoResult(
        out_dir=out_dir,
        png=png,
        html=html,
        summary=summary,
        events_stored=n_events,
        spearman_long=rho_l,
        spearman_short=rho_s,
        elapsed_s=elapsed,
        timings=timings,
    )


__all__ = [
    "ESTIMATE_LABEL",
    "JSON_KEYS",
    "DemoResult",
    "NoDataError",
    "compute",
    "heatmap_json",
    "load_store_series",
    "run_demo",
    "write_output",
]


# ----------------------------------------------------------------------------------------------- fetch
FETCH_VENUES = (Venue.BINANCE, Venue.BYBIT, Venue.OKX)  # Hyperliquid publishes no OI history
MAX_PAGES = 400  # a guard against a venue that keeps answering the same page


def _bars_from_rest(
    venue: Venue, symbol: str, candles: Sequence[Candle], oi_ts: np.ndarray, oi_usd: np.ndarray
) -> BarSeries | None:
    """Candles + an OI history → engine bars: each bar takes the last OI point at or before its close."""

    closed = {c.ts_event: c for c in candles if c.closed}
    if not closed or oi_ts.shape[0] == 0:
        return None
    items = [closed[k] for k in sorted(closed)]
    ts = np.array([c.ts_event for c in items], dtype=np.int64)
    iv = items[0].interval_s * NS_PER_S
    order = np.argsort(oi_ts, kind="stable")
    oi_ts, oi_usd = oi_ts[order], oi_usd[order]
    at = np.searchsorted(oi_ts, ts + iv, side="right") - 1
    ok = at >= 0  # bars before the first OI point carry no OI: dropped
    if not ok.any():
        return None
    sel = [c for c, k in zip(items, ok.tolist(), strict=True) if k]

    def arr(name: str) -> np.ndarray:
        return np.array([getattr(c, name) for c in sel], dtype=np.float64)

    tbv = [c.taker_buy_volume for c in sel]
    return BarSeries.from_arrays(
        venue=venue,
        symbol=symbol,
        interval_s=items[0].interval_s,
        ts_ns=ts[ok],
        open=arr("open"),
        high=arr("high"),
        low=arr("low"),
        close=arr("close"),
        oi_usd=oi_usd[at[ok]],
        volume=arr("volume"),
        taker_buy_volume=None if any(v is None for v in tbv) else np.array(tbv, dtype=np.float64),
    )


async def _fetch_binance(
    client: Any, symbol: str, base: str | None, start_ms: int, end_ms: int
) -> BarSeries | None:
    from ..venues import binance as bn

    ep = bn.Endpoints(rest=base) if base else bn.ENDPOINTS
    candles: list[Candle] = []
    cur = start_ms
    for _ in range(MAX_PAGES):
        req = bn.klines_request(symbol, interval="5m", start_ms=cur, end_ms=end_ms - 1, endpoints=ep)
        page = bn.parse_klines(await client.fetch(Venue.BINANCE, req), symbol=symbol, interval="5m")
        candles += page
        if not page or page[-1].ts_event // NS_PER_MS + 300_000 >= end_ms:
            break
        cur = page[-1].ts_event // NS_PER_MS + 300_000
    # openInterestHist: the last 30 days only, 500 rows a page, forward by startTime
    ois: list[OpenInterest] = []
    cur = max(start_ms, end_ms - 30 * 86_400_000 + 60_000)
    for _ in range(MAX_PAGES):
        req = bn.open_interest_hist_request(symbol, start_ms=cur, end_ms=end_ms, endpoints=ep)
        page = bn.parse_open_interest_hist(await client.fetch(Venue.BINANCE, req))
        ois += page
        if len(page) < bn.OPEN_INTEREST_HIST_MAX_LIMIT:
            break
        cur = page[-1].ts_event // NS_PER_MS + 1
    oi_ts = np.array([o.ts_event for o in ois], dtype=np.int64)
    oi_usd = np.array([o.oi_usd for o in ois], dtype=np.float64)
    return _bars_from_rest(Venue.BINANCE, symbol, candles, oi_ts, oi_usd)


async def _fetch_bybit(
    client: Any, symbol: str, base: str | None, start_ms: int, end_ms: int
) -> BarSeries | None:
    from ..venues import bybit as bb

    ep = bb.Endpoints(rest=base) if base else bb.ENDPOINTS
    candles: list[Candle] = []
    cur_end = end_ms - 1
    for _ in range(MAX_PAGES):  # newest first: page backwards by end
        req = bb.kline_request(symbol, interval="5", start_ms=start_ms, end_ms=cur_end, endpoints=ep)
        page = bb.parse_kline(await client.fetch(Venue.BYBIT, req), interval="5")
        candles += page
        if len(page) < bb.KLINE_MAX_LIMIT:
            break
        cur_end = page[0].ts_event // NS_PER_MS - 1
    pts: list[Any] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        req = bb.open_interest_request(
            symbol, interval="5min", start_ms=start_ms, end_ms=end_ms, cursor=cursor, endpoints=ep
        )
        pg = bb.parse_open_interest(await client.fetch(Venue.BYBIT, req))
        pts += pg.points
        if not pg.next_cursor or not pg.points:
            break
        cursor = pg.next_cursor
    if not candles or not pts:
        return None
    # Bybit gives OI in coins: value it at the close of the bar it falls in
    ctime = np.array(sorted({c.ts_event for c in candles}), dtype=np.int64)
    cclose = np.array(
        [c.close for c in sorted({c.ts_event: c for c in candles}.values(), key=lambda c: c.ts_event)]
    )
    oi_ts = np.array([p.ts_event for p in pts], dtype=np.int64)
    k = np.clip(np.searchsorted(ctime, oi_ts, side="right") - 1, 0, ctime.shape[0] - 1)
    oi_usd = np.array([p.oi_base for p in pts], dtype=np.float64) * cclose[k]
    return _bars_from_rest(Venue.BYBIT, symbol, candles, oi_ts, oi_usd)


async def _fetch_okx(
    client: Any, symbol: str, base: str | None, start_ms: int, end_ms: int
) -> BarSeries | None:
    from ..venues import okx as ok

    ep = ok.Endpoints(rest=base) if base else ok.ENDPOINTS
    candles: list[Candle] = []
    after = end_ms
    for _ in range(MAX_PAGES):  # newest first; ``after`` = rows older than it
        req = ok.candles_request(symbol, bar="5m", after_ms=after, history=True, endpoints=ep)
        page = ok.parse_candles(await client.fetch(Venue.OKX, req), symbol=symbol, bar="5m")
        candles += page
        if not page or page[0].ts_event // NS_PER_MS <= start_ms:
            break
        after = page[0].ts_event // NS_PER_MS
    ois: list[OpenInterest] = []
    end = end_ms
    for _ in range(MAX_PAGES):
        req = ok.open_interest_history_request(
            symbol, period="5m", begin_ms=start_ms, end_ms=end, endpoints=ep
        )
        page = ok.parse_open_interest_history(await client.fetch(Venue.OKX, req), symbol=symbol)
        ois += page
        if len(page) < ok.OI_HISTORY_MAX_LIMIT or page[0].ts_event // NS_PER_MS <= start_ms:
            break
        end = page[0].ts_event // NS_PER_MS - 1
    candles = [c for c in candles if start_ms * NS_PER_MS <= c.ts_event < end_ms * NS_PER_MS]
    oi_ts = np.array([o.ts_event for o in ois], dtype=np.int64)
    oi_usd = np.array([o.oi_usd for o in ois], dtype=np.float64)
    return _bars_from_rest(Venue.OKX, symbol, candles, oi_ts, oi_usd)


_FETCHERS = {Venue.BINANCE: _fetch_binance, Venue.BYBIT: _fetch_bybit, Venue.OKX: _fetch_okx}


async def fetch_series_async(
    *,
    symbol: str,
    venues: Sequence[Venue],
    start_ns: int,
    end_ns: int,
    rest_urls: dict[Venue, str] | None = None,
) -> tuple[list[BarSeries], list[str]]:
    """Public 5-minute klines + OI history over REST per venue → bars; returns (series, notes). Hyperliquid
    is skipped with a note (no OI history); a venue with nothing in range gets a note too."""

    import aiohttp

    from ..feed.http import RestClient

    symbol = symbol.upper()
    notes: list[str] = []
    out: list[BarSeries] = []
    urls = rest_urls or {}
    async with aiohttp.ClientSession() as session:
        client = RestClient(session=session)
        for v in venues:
            fetcher = _FETCHERS.get(Venue(v))
            if fetcher is None:
                notes.append(f"{Venue(v).value}: skipped (the venue publishes no open-interest history)")
                continue
            s = await fetcher(client, symbol, urls.get(Venue(v)), start_ns // NS_PER_MS, end_ns // NS_PER_MS)
            if s is None or len(s) == 0:
                notes.append(f"{Venue(v).value}: no klines/open interest returned for {symbol}")
            else:
                out.append(s)
    return out, notes


def fetch_series(
    *,
    symbol: str,
    venues: Sequence[Venue],
    start_ns: int,
    end_ns: int,
    rest_urls: dict[Venue, str] | None = None,
) -> tuple[list[BarSeries], list[str]]:
    """Synchronous :func:`fetch_series_async`."""

    import asyncio

    return asyncio.run(
        fetch_series_async(
            symbol=symbol, venues=venues, start_ns=start_ns, end_ns=end_ns, rest_urls=rest_urls
        )
    )
