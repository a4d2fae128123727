"""The ``perpscope serve`` web dashboard: a JSON API over the store, the heatmap engine and the analytics,
a WebSocket tape fed by a :class:`Fanout`, and one static page (plotly.js from the installed plotly)."""

from __future__ import annotations

import asyncio
import hmac
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from aiohttp import WSMsgType, web

from ..analytics.funding import DAY_NS, funding_scoreboard
from ..feed.fanout import Fanout
from ..heatmap.calibrate_model import default_engine_params
from ..heatmap.pipeline import NoDataError, compute, load_store_series
from ..model import Cascade, Kind, Liquidation, Venue
from ..store import Store
from ..timeutil import NS_PER_S, now_ns

STATIC = Path(__file__).parent / "static"
SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,10}$")
WINDOWS: dict[str, int] = {
    "12h": 12 * 3600,
    "1d": 86_400,
    "3d": 3 * 86_400,
    "7d": 7 * 86_400,
    "30d": 30 * 86_400,
    "90d": 90 * 86_400,
    "1y": 365 * 86_400,
}
MAX_COLUMNS = 400
STORE_KEY = web.AppKey("store", Store)
FANOUT_KEY = web.AppKey("fanout", Fanout)
TOKEN_KEY = web.AppKey("token", str)
STATE_KEY = web.AppKey("state", dict)


class ApiError(Exception):
    """A client error answered as ``{"error": ...}`` with ``status``."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _symbol(request: web.Request) -> str:
    s = request.query.get("symbol", "BTC").upper()
    if not SYMBOL_RE.match(s):
        raise ApiError("bad symbol: use 2-10 letters/digits, e.g. BTC")
    return s


def _window(request: web.Request, default: str = "7d") -> tuple[str, int]:
    w = request.query.get("window", default)
    if w not in WINDOWS:
        raise ApiError(f"bad window: one of {', '.join(WINDOWS)}")
    return w, WINDOWS[w] * NS_PER_S


def _venues(request: web.Request) -> list[Venue] | None:
    raw = request.query.get("venues", "")
    if not raw:
        return None
    out: list[Venue] = []
    for part in raw.split(","):
        try:
            out.append(Venue(part.strip().lower()))
        except ValueError:
            raise ApiError(f"bad venue: one of {', '.join(v.value for v in Venue)}") from None
    return out


def _leverage(request: web.Request) -> list[float] | None:
    raw = request.query.get("leverage", "")
    if not raw:
        return None
    try:
        out = [float(x) for x in raw.split(",")]
    except ValueError:
        raise ApiError("bad leverage: comma-separated numbers, e.g. 25,50,100") from None
    if not all(1 <= x <= 200 for x in out):
        raise ApiError("bad leverage: each within 1..200")
    return out


def _latest(store: Store, kind: Kind, symbol: str) -> int | None:
    from ..commands._market import latest_ts

    return latest_ts(store, kind, [symbol])


def _fl(a: np.ndarray) -> list[float]:
    return [round(float(x), 2) for x in np.nan_to_num(np.asarray(a, dtype=np.float64))]


def _mat(a: np.ndarray) -> list[list[float]]:
    return np.round(np.nan_to_num(np.asarray(a, dtype=np.float64)), 0).tolist()  # type: ignore[no-any-return]


def heatmap_payload(
    store: Store, *, symbol: str, window: str, venues: list[Venue] | None, leverage: list[float] | None
) -> dict[str, Any]:
    """Downsampled heatmap JSON: aggregate (or filtered) long/short matrices, price path and the parts per
    venue and leverage for the hover split."""

    last = _latest(store, Kind.BAR, symbol)
    if last is None:
        raise ApiError(f"no bars stored for {symbol}", status=404)
    end = last + 1
    start = end - WINDOWS[window] * NS_PER_S - 2 * DAY_NS  # engine warm-up before the window
    series = load_store_series(store, symbol=symbol, venues=venues, start_ns=start, end_ns=end, derive=False)
    params = replace(default_engine_params(), max_columns=MAX_COLUMNS)
    try:
        hm = compute(series, params, window=window, end_ns=end)
    except NoDataError as exc:
        raise ApiError(f"no heatmap for {symbol}: {exc}", status=404) from None
    hm = hm.downsample(MAX_COLUMNS)
    levs = sorted(hm.by_leverage)
    chosen = [lv for lv in levs if leverage is None or any(abs(lv - x) < 1e-9 for x in leverage)]
    if leverage is not None:
        if not chosen:
            raise ApiError(f"no such leverage tier: available {', '.join(f'{x:g}' for x in levs)}")
        long_usd = sum(hm.by_leverage[lv].long_usd for lv in chosen)
        short_usd = sum(hm.by_leverage[lv].short_usd for lv in chosen)
    else:
        long_usd, short_usd = hm.long_usd, hm.short_usd
    return {
        "symbol": hm.symbol,
        "window": window,
        "estimated": True,
        "label": "Estimated liquidation levels (a model, not observed orders)",
        "venues": list(hm.venues),
        "leverage_tiers": [float(x) for x in levs],
        "time_ms": [int(x) for x in hm.time_starts_ms],
        "price": _fl(hm.price_centers),
        "close": _fl(hm.close),
        "long_usd": _mat(long_usd),
        "short_usd": _mat(short_usd),
        "by_venue": {
            v: {"long_usd": _mat(p.long_usd), "short_usd": _mat(p.short_usd)} for v, p in hm.by_venue.items()
        },
        "by_leverage": {
            f"{lv:g}": {
                "long_usd": _mat(hm.by_leverage[lv].long_usd),
                "short_usd": _mat(hm.by_leverage[lv].short_usd),
            }
            for lv in chosen
        },
    }


def liqmap_payload(store: Store, *, symbol: str, window: str, venues: list[Venue] | None) -> dict[str, Any]:
    """The liquidation map at the last column: cumulative estimated USD to each price level."""

    last = _latest(store, Kind.BAR, symbol)
    if last is None:
        raise ApiError(f"no bars stored for {symbol}", status=404)
    end = last + 1
    start = end - WINDOWS[window] * NS_PER_S - 2 * DAY_NS
    series = load_store_series(store, symbol=symbol, venues=venues, start_ns=start, end_ns=end, derive=False)
    try:
        hm = compute(
            series, replace(default_engine_params(), max_columns=MAX_COLUMNS), window=window, end_ns=end
        )
    except NoDataError as exc:
        raise ApiError(f"no liquidation map for {symbol}: {exc}", status=404) from None
    lm = hm.liquidation_map()
    return {
        "symbol": symbol,
        "estimated": True,
        "current_price": float(lm.current_price),
        "price": _fl(lm.price),
        "cum_long_usd": _fl(lm.cum_long_usd),
        "cum_short_usd": _fl(lm.cum_short_usd),
        "long_usd": _fl(lm.long_usd),
        "short_usd": _fl(lm.short_usd),
    }


def funding_payload(store: Store, *, symbol: str) -> dict[str, Any]:
    now = _latest(store, Kind.FUNDING, symbol)
    if now is None:
        raise ApiError(f"no funding stored for {symbol}", status=404)
    funding = store.read(Kind.FUNDING, symbol=symbol, start_ns=now - 91 * DAY_NS, end_ns=now + 1)
    oi = store.read(Kind.OPEN_INTEREST, symbol=symbol, start_ns=now - DAY_NS, end_ns=now + 1)
    rows = funding_scoreboard(funding, oi, now_ns=now)
    return {"symbol": symbol, "at_ms": now // 1_000_000, "rows": [r.to_dict() for r in rows]}


def quadrant_payload(store: Store, *, symbol: str) -> dict[str, Any]:
    from ..analytics.orderflow import DEFAULT_OBI_PCT, quadrant_rows
    from ..commands._market import books_at

    last = _latest(store, Kind.TRADE, symbol)
    if last is None:
        return {"symbol": symbol, "rows": [], "note": f"no {symbol} trades stored"}
    end = last + 1
    start = end - 3600 * NS_PER_S
    trades = store.read(
        Kind.TRADE,
        symbol=symbol,
        start_ns=start,
        end_ns=end,
        columns=["ts_event", "venue", "side", "quantity", "price"],
    )
    books = books_at(store, symbol, end)
    rows = quadrant_rows(symbol, trades, books, start_ns=start, end_ns=end, pct=DEFAULT_OBI_PCT)
    return {"symbol": symbol, "window": "1h", "rows": [r.to_dict() for r in rows]}


def depth_payload(store: Store, *, symbol: str) -> dict[str, Any]:
    from ..analytics.depth import depth_profile
    from ..commands._market import books_at

    lasts = [t for t in (_latest(store, k, symbol) for k in (Kind.BOOK_DELTA, Kind.BOOK_SNAPSHOT)) if t]
    if not lasts:
        return {"symbol": symbol, "rows": [], "note": f"no {symbol} order books stored"}
    books = books_at(store, symbol, max(lasts) + 1)
    if not books:
        return {"symbol": symbol, "rows": [], "note": f"no {symbol} book could be rebuilt"}
    prof = depth_profile(books, range_pct=0.02)
    return {"symbol": symbol, "center": prof.center, "venues": list(prof.venues), "rows": prof.to_rows()}


def levels_payload(store: Store, *, symbol: str, window: str) -> dict[str, Any]:
    from ..analytics.bands import BandParams, find_bands, top_bands
    from ..analytics.confluence import ConfluenceParams, FundingContext, confluence_rows
    from ..commands._market import books_at
    from ..commands.levels import _series
    from ..heatmap.engine import compute_heatmap

    last = _latest(store, Kind.BAR, symbol)
    if last is None:
        raise ApiError(f"no bars stored for {symbol}", status=404)
    end = last + 1
    bars = store.read(
        Kind.BAR, symbol=symbol, start_ns=end - WINDOWS[window] * NS_PER_S - 2 * DAY_NS, end_ns=end
    )
    hm = compute_heatmap(_series(bars, symbol), window=window, end_ns=end)
    bands = top_bands(find_bands(hm, params=BandParams()), per_side=5)
    board = funding_scoreboard(
        store.read(Kind.FUNDING, symbol=symbol, start_ns=end - 91 * DAY_NS, end_ns=end),
        store.read(Kind.OPEN_INTEREST, symbol=symbol, start_ns=end - DAY_NS, end_ns=end),
        now_ns=end - 1,
    )
    params = ConfluenceParams()
    liqs = store.read(Kind.LIQUIDATION, symbol=symbol, start_ns=end - params.tape_window_ns, end_ns=end)
    rows = confluence_rows(
        bands,
        books=books_at(store, symbol, end) or None,
        now_ns=end,
        funding=FundingContext.from_scoreboard(board, symbol),
        cvd=None,
        liquidations=liqs,
        params=params,
    )
    return {
        "symbol": symbol,
        "estimated": True,
        "price": float(hm.close[-1]),
        "levels": [r.to_dict() for r in rows],
    }


def _clean_json(obj: Any, *, clean: bool = True) -> web.Response:
    """JSON body; ``clean=False`` for payloads already free of NaN/numpy values (the large matrices)."""

    from ..commands._market import _clean

    return web.Response(
        body=msgspec.json.encode(_clean(obj) if clean else obj), content_type="application/json"
    )


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """Token check on every request and JSON errors (never a stack trace)."""

    token = request.app[TOKEN_KEY]
    if token:
        given = request.query.get("token") or request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return web.json_response({"error": "missing or bad token"}, status=401)
    try:
        return await handler(request)
    except ApiError as exc:
        return web.json_response({"error": str(exc)}, status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"error": exc.reason}, status=exc.status)
    except Exception as exc:  # the client gets a message, never a traceback
        return web.json_response({"error": f"internal error: {type(exc).__name__}"}, status=500)


def _api(fn: Any, *, clean: bool = True) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        return _clean_json(await asyncio.to_thread(fn, request, request.app[STORE_KEY]), clean=clean)

    return handler


def _h_heatmap(r: web.Request, s: Store) -> dict[str, Any]:
    return heatmap_payload(
        s, symbol=_symbol(r), window=_window(r)[0], venues=_venues(r), leverage=_leverage(r)
    )


def _h_liqmap(r: web.Request, s: Store) -> dict[str, Any]:
    return liqmap_payload(s, symbol=_symbol(r), window=_window(r)[0], venues=_venues(r))


def _h_funding(r: web.Request, s: Store) -> dict[str, Any]:
    return funding_payload(s, symbol=_symbol(r))


def _h_quadrant(r: web.Request, s: Store) -> dict[str, Any]:
    return quadrant_payload(s, symbol=_symbol(r))


def _h_depth(r: web.Request, s: Store) -> dict[str, Any]:
    return depth_payload(s, symbol=_symbol(r))


def _h_levels(r: web.Request, s: Store) -> dict[str, Any]:
    return levels_payload(s, symbol=_symbol(r), window=_window(r, "3d")[0])


async def _status(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE_KEY]
    subs = request.app[FANOUT_KEY].subscribers
    return _clean_json(
        {
            "ok": True,
            "demo": st.get("demo", False),
            "now_ms": now_ns() // 1_000_000,
            "store": str(request.app[STORE_KEY].root),
            "published_batches": st.get("published", 0),
            "tape_clients": len(subs),
            "tape_dropped": sum(s.dropped for s in subs),
            "windows": list(WINDOWS),
            "venues": [v.value for v in Venue],
        }
    )


def tape_message(ev: Liquidation | Cascade) -> dict[str, Any]:
    """One tape line: sampled feeds are lower bounds (``sampled``), cascades flagged."""

    if isinstance(ev, Cascade):
        return {
            "type": "cascade",
            "venue": ev.venue.value if hasattr(ev.venue, "value") else str(ev.venue),
            "symbol": ev.symbol,
            "side": str(ev.side),
            "count": ev.count,
            "notional_usd": ev.notional_usd,
            "ts_ms": ev.ts_event // 1_000_000,
        }
    return {
        "type": "liquidation",
        "venue": ev.venue.value if hasattr(ev.venue, "value") else str(ev.venue),
        "symbol": ev.symbol,
        "side": str(ev.side),
        "price": ev.price,
        "notional_usd": ev.notional_usd,
        "sampled": ev.sampled,
        "ts_ms": ev.ts_event // 1_000_000,
        "sent_ns": time.time_ns(),
    }


async def _tape(request: web.Request) -> web.StreamResponse:
    """WebSocket tape: liquidations and cascades from a bounded drop-oldest subscription."""

    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    fanout = request.app[FANOUT_KEY]
    sub = fanout.subscribe(maxsize=256)

    async def pump() -> None:
        while True:
            batch = await sub.get()
            msgs = [tape_message(e) for e in batch if isinstance(e, Liquidation | Cascade)]
            if msgs:
                await ws.send_str(msgspec.json.encode(msgs).decode())

    task = asyncio.create_task(pump())
    try:
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        task.cancel()
        fanout.unsubscribe(sub)
    return ws


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html")


async def _plotly(request: web.Request) -> web.StreamResponse:
    import plotly

    return web.FileResponse(Path(plotly.__file__).parent / "package_data" / "plotly.min.js")


def make_app(
    store: Store, *, fanout: Fanout | None = None, token: str = "", demo: bool = False
) -> web.Application:
    """The dashboard application over ``store`` with the tape fed by ``fanout``."""

    app = web.Application(middlewares=[_guard])
    app[STORE_KEY] = store
    app[FANOUT_KEY] = fanout or Fanout()
    app[TOKEN_KEY] = token
    app[STATE_KEY] = {"demo": demo, "published": 0}
    app.router.add_get("/", _index)
    app.router.add_get("/static/plotly.min.js", _plotly)
    app.router.add_static("/static/", STATIC)
    for name, fn in (
        ("heatmap", _h_heatmap),
        ("liqmap", _h_liqmap),
        ("funding", _h_funding),
        ("quadrant", _h_quadrant),
        ("depth", _h_depth),
        ("levels", _h_levels),
    ):
        app.router.add_get(f"/api/{name}", _api(fn, clean=name not in ("heatmap", "liqmap")))
    app.router.add_get("/api/status", _status)
    app.router.add_get("/ws/tape", _tape)
    return app
