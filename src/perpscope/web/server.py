"""The ``perpscope serve`` web dashboard: a JSON API over the store, the heatmap engine and the analytics,
a WebSocket tape fed by a :class:`Fanout`, and one static page (plotly.js from the installed plotly)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from ..feed.fanout import Fanout
from ..jsonsafe import json_safe
from ..model import Cascade, Liquidation, Venue
from ..store import Store
from ..timeutil import now_ns
from . import params as P
from .heatmap_api import HeatmapCache, heatmap_payload, liqmap_payload, split_payload
from .panels import depth_payload, funding_payload, levels_payload, quadrant_payload
from .params import WINDOWS, ApiError

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
TAPE_QUEUE = 256  # batches per WebSocket client (drop-oldest beyond)
STORE_KEY = web.AppKey("store", Store)
FANOUT_KEY = web.AppKey("fanout", Fanout)
TOKEN_KEY = web.AppKey("token", str)
STATE_KEY = web.AppKey("state", dict)
CACHE_KEY = web.AppKey("cache", HeatmapCache)


def _json(obj: Any, *, clean: bool = True) -> web.Response:
    """JSON body; ``clean=False`` for payloads already free of NaN/numpy values."""

    return web.Response(
        body=msgspec.json.encode(json_safe(obj) if clean else obj), content_type="application/json"
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
    except Exception as exc:  # the client gets a message, never a traceback; the log gets the traceback
        log.exception("%s %s failed", request.method, request.path_qs)
        return web.json_response({"error": f"internal error: {type(exc).__name__}"}, status=500)


Handler = Callable[[web.Request, Store, HeatmapCache], dict[str, Any]]


def _api(fn: Handler, *, clean: bool = True) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        app = request.app
        return _json(await asyncio.to_thread(fn, request, app[STORE_KEY], app[CACHE_KEY]), clean=clean)

    return handler


def _h_heatmap(r: web.Request, s: Store, c: HeatmapCache) -> dict[str, Any]:
    q = r.query
    return heatmap_payload(
        c, s, symbol=P.symbol(q), window=P.window(q), venues=P.venues(q), leverage=P.leverage(q)
    )


def _h_split(r: web.Request, s: Store, c: HeatmapCache) -> dict[str, Any]:
    q = r.query
    return split_payload(
        c, s, symbol=P.symbol(q), window=P.window(q), venues=P.venues(q), leverage=P.leverage(q), query=q
    )


def _h_liqmap(r: web.Request, s: Store, c: HeatmapCache) -> dict[str, Any]:
    q = r.query
    return liqmap_payload(
        c, s, symbol=P.symbol(q), window=P.window(q), venues=P.venues(q), leverage=P.leverage(q)
    )


def _h_funding(r: web.Request, s: Store, c: HeatmapCache) -> dict[str, Any]:
    return funding_payload(s, symbol=P.symbol(r.query))


def _h_quadrant(r: web.Request, s: Store, c: HeatmapCache) -> dict[str, Any]:
    return quadrant_payload(s, symbol=P.symbol(r.query))


def _h_depth(r: web.Request, s: Store, c: HeatmapCache) -> dict[str, Any]:
    return depth_payload(s, symbol=P.symbol(r.query))


def _h_levels(r: web.Request, s: Store, c: HeatmapCache) -> dict[str, Any]:
    return levels_payload(s, symbol=P.symbol(r.query), window=P.window(r.query, "3d"))


async def _status(request: web.Request) -> web.StreamResponse:
    app = request.app
    st = app[STATE_KEY]
    subs = app[FANOUT_KEY].subscribers
    counter = st.get("events")
    return _json(
        {
            "ok": True,
            "demo": st.get("demo", False),
            "feed": st.get("feed", "store"),
            "feed_events": counter() if callable(counter) else 0,
            "feed_error": st.get("error"),
            "now_ms": now_ns() // 1_000_000,
            "store": str(app[STORE_KEY].root),
            "tape_clients": len(subs),
            "tape_dropped": sum(s.dropped for s in subs),
            "heatmap_cache": {"hits": app[CACHE_KEY].hits, "misses": app[CACHE_KEY].misses},
            "windows": list(WINDOWS),
            "venues": [v.value for v in Venue],
        }
    )


def _venue(v: object) -> str:
    return str(v.value) if isinstance(v, Venue) else str(v)


def tape_message(ev: Liquidation | Cascade) -> dict[str, Any]:
    """One tape line: sampled feeds are lower bounds (``sampled``), cascades flagged; ``recv_ms`` is when the
    collector received the event (just before storing it), ``sent_ns`` when this server sent it."""

    if isinstance(ev, Cascade):
        return {
            "type": "cascade",
            "venue": _venue(ev.venue),
            "symbol": ev.symbol,
            "side": str(ev.side),
            "count": ev.count,
            "notional_usd": ev.notional_usd,
            "ts_ms": ev.ts_event // 1_000_000,
        }
    return {
        "type": "liquidation",
        "venue": _venue(ev.venue),
        "symbol": ev.symbol,
        "side": str(ev.side),
        "price": ev.price,
        "notional_usd": ev.notional_usd,
        "sampled": ev.sampled,
        "ts_ms": ev.ts_event // 1_000_000,
        "recv_ms": ev.ts_recv / 1e6,
        "sent_ns": time.time_ns(),
    }


async def _tape(request: web.Request) -> web.StreamResponse:
    """WebSocket tape: liquidations and cascades from a bounded drop-oldest subscription."""

    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    fanout = request.app[FANOUT_KEY]
    sub = fanout.subscribe(maxsize=TAPE_QUEUE)

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
    store: Store,
    *,
    fanout: Fanout | None = None,
    token: str = "",
    demo: bool = False,
    state: dict[str, Any] | None = None,
) -> web.Application:
    """The dashboard application over ``store`` with the tape fed by ``fanout``; ``state`` is shown by
    ``/api/status`` (``feed``, ``events`` — a callable count —, ``error``)."""

    app = web.Application(middlewares=[_guard])
    app[STORE_KEY] = store
    app[FANOUT_KEY] = fanout or Fanout()
    app[TOKEN_KEY] = token
    app[STATE_KEY] = {"demo": demo, **(state or {})}
    app[CACHE_KEY] = HeatmapCache()
    app.router.add_get("/", _index)
    app.router.add_get("/static/plotly.min.js", _plotly)
    app.router.add_static("/static/", STATIC)
    for name, fn, clean in (
        ("heatmap", _h_heatmap, False),
        ("heatmap/split", _h_split, False),
        ("liqmap", _h_liqmap, False),
        ("funding", _h_funding, True),
        ("quadrant", _h_quadrant, True),
        ("depth", _h_depth, True),
        ("levels", _h_levels, True),
    ):
        app.router.add_get(f"/api/{name}", _api(fn, clean=clean))
    app.router.add_get("/api/status", _status)
    app.router.add_get("/ws/tape", _tape)
    return app
