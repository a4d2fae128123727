"""Emulated Binance USD-M futures: ``fstream`` WebSocket routes and ``fapi`` REST on one loopback port.

WebSocket (https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams):

- paths ``/ws``, ``/ws/<stream>[/<stream>…]`` (raw payloads), ``/stream?streams=a/b`` (combined
  ``{"stream","data"}``), each also under the 2026 routes ``/public/…`` (depth, bookTicker, trade) and
  ``/market/…`` (everything else); the old route-less paths carry public-route data only. A stream asked on
  the wrong route is accepted and stays silent, like the venue.
- ``{"method":"SUBSCRIBE"|"UNSUBSCRIBE"|"LIST_SUBSCRIPTIONS","params":[…],"id":n}`` → ``{"result":…,"id":n}``;
  ≤ 200 streams per connection; more than 10 incoming messages per second closes the connection.
- the server pings every ``binance_ping_interval_s`` (180 s) and closes a connection without a pong for
  10 minutes; connections are closed after ``connection_max_age_s`` (24 h).
"""

from __future__ import annotations

import contextlib
import time

import msgspec
from aiohttp import web

from ...model import (
    BookDelta,
    BookSnapshot,
    Funding,
    Liquidation,
    MarkPrice,
    OpenInterest,
    PriceLevel,
    Trade,
    Venue,
)
from ...timeutil import NS_PER_MS, NS_PER_S, now_ns
from . import wire_binance as wire
from .market import INTERVAL_MS, SymbolMarket, live_bar
from .server import Conn, VenueServer

PUBLIC_KINDS = frozenset({"depth", "bookTicker", "trade"})
MAX_STREAMS = 200
MAX_INCOMING_PER_S = 10
PONG_TIMEOUT_S = 600.0
DEPTH_SPEEDS = ("", "@100ms", "@250ms", "@500ms", "@0ms")
PARTIAL_LEVELS = (5, 10, 20)
FIRST_UPDATE_ID = 8_000_000_000_000
USED_WEIGHT = web.RequestKey("used_weight", int)

_json = msgspec.json.Decoder()


def stream_kind(stream: str) -> str:
    """``btcusdt@depth@100ms`` → ``depth``; ``!forceOrder@arr`` → ``forceOrder``; ``btcusdt@kline_1m`` →
    ``kline``; ``btcusdt@depth5`` → ``depth``."""

    name = stream[1:] if stream.startswith("!") else stream.split("@", 1)[-1]
    kind = name.split("@", 1)[0].split("_", 1)[0]
    return "depth" if kind.startswith("depth") else kind


def normalize_stream(stream: str) -> str:
    """Symbols are case-insensitive on the wire; keep the rest as sent."""

    if stream.startswith("!") or "@" not in stream:
        return stream
    sym, rest = stream.split("@", 1)
    return f"{sym.lower()}@{rest}"


def route_allows(route: str, stream: str) -> bool:
    public = stream_kind(stream) in PUBLIC_KINDS
    if route == "market":
        return not public
    return public  # "public" and the legacy route-less paths


class BinanceServer(VenueServer):
    venue = Venue.BINANCE

    def setup_routes(self) -> None:
        r = self.app.router
        for prefix in ("", "/public", "/market"):
            r.add_get(f"{prefix}/ws", self.ws_handler)
            r.add_get(f"{prefix}/ws/{{streams:.*}}", self.ws_handler)
            r.add_get(f"{prefix}/stream", self.ws_handler)
        rest = {
            "/fapi/v1/ping": self.rest_ping,
            "/fapi/v1/time": self.rest_time,
            "/fapi/v1/exchangeInfo": self.rest_exchange_info,
            "/fapi/v1/depth": self.rest_depth,
            "/fapi/v1/openInterest": self.rest_open_interest,
            "/futures/data/openInterestHist": self.rest_open_interest_hist,
            "/fapi/v1/klines": self.rest_klines,
            "/fapi/v1/premiumIndex": self.rest_premium_index,
            "/fapi/v1/fundingRate": self.rest_funding_rate,
            "/fapi/v1/fundingInfo": self.rest_funding_info,
            "/fapi/v1/trades": self.rest_trades,
            "/fapi/v1/aggTrades": self.rest_agg_trades,
            "/fapi/v1/ticker/bookTicker": self.rest_book_ticker,
            "/fapi/v1/ticker/price": self.rest_ticker_price,
            "/fapi/v2/ticker/price": self.rest_ticker_price,
            "/fapi/v1/ticker/24hr": self.rest_ticker_24h,
        }
        for path, handler in rest.items():
            r.add_get(path, handler)
        self._weight_minute = 0
        self._weight_used = 0
        self._last_liq_ms: dict[str, int] = {}
        self._kline_open: dict[tuple[str, str], int] = {}
        self._ping_due: dict[int, float] = {}

    # ------------------------------------------------------------------ websocket
    async def ws_handler(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        route = "market" if path.startswith("/market/") else "public" if path.startswith("/public/") else ""
        combined = "/stream" in path
        streams: list[str] = []
        if combined:
            streams = [s for s in request.query.get("streams", "").split("/") if s]
        elif "streams" in request.match_info:
            streams = [s for s in request.match_info["streams"].split("/") if s]

        def on_open(conn: Conn) -> None:
            conn.combined = combined
            conn.meta["route"] = route
            conn.meta["streams"] = []
            self._ping_due[conn.id] = time.monotonic() + self.config.binance_ping_interval_s
            for s in streams[:MAX_STREAMS]:
                self._add_stream(conn, s)

        return await self.websocket(request, on_open)

    def _add_stream(self, conn: Conn, stream: str) -> None:
        stream = normalize_stream(stream)
        listed: list[str] = conn.meta["streams"]  # type: ignore[assignment]
        if stream in listed:
            return
        listed.append(stream)
        if route_allows(str(conn.meta["route"]), stream):
            self.subscribe(conn, stream)
            if stream_kind(stream) == "depth" and stream.split("@")[1] != "depth":
                self._send_partial_now(conn, stream)

    def _remove_stream(self, conn: Conn, stream: str) -> None:
        stream = normalize_stream(stream)
        listed: list[str] = conn.meta["streams"]  # type: ignore[assignment]
        if stream in listed:
            listed.remove(stream)
        self.unsubscribe(conn, stream)

    async def on_text(self, conn: Conn, text: str) -> None:
        recent = [t for t in conn.msg_times if conn.msg_times and t >= conn.msg_times[-1] - 1.0]
        if len(recent) > MAX_INCOMING_PER_S:
            # Binance: more than 10 incoming messages per second → disconnected
            await conn.close(1008, b"Too many requests")
            return
        try:
            msg = _json.decode(text)
        except msgspec.DecodeError:
            conn.send(
                wire.dumps({"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}}),
                control=True,
            )
            return
        if not isinstance(msg, dict):
            conn.send(
                wire.dumps({"error": {"code": 2, "msg": "Invalid request: request must be an object"}}),
                control=True,
            )
            return
        req_id = msg.get("id")
        method = msg.get("method")
        params = msg.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                conn.send(
                    wire.dumps(
                        {"error": {"code": 2, "msg": "Invalid request: invalid params"}, "id": req_id}
                    ),
                    control=True,
                )
                return
            if method == "SUBSCRIBE":
                listed: list[str] = conn.meta["streams"]  # type: ignore[assignment]
                if len(set(listed) | {normalize_stream(p) for p in params}) > MAX_STREAMS:
                    conn.send(
                        wire.dumps(
                            {
                                "error": {
                                    "code": 2,
                                    "msg": f"Invalid request: too many streams (max {MAX_STREAMS})",
                                },
                                "id": req_id,
                            }
                        ),
                        control=True,
                    )
                    return
                conn.send(wire.dumps({"result": None, "id": req_id}), control=True)
                for p in params:
                    self._add_stream(conn, p)
            else:
                for p in params:
                    self._remove_stream(conn, p)
                conn.send(wire.dumps({"result": None, "id": req_id}), control=True)
        elif method == "LIST_SUBSCRIPTIONS":
            conn.send(wire.dumps({"result": list(conn.meta["streams"]), "id": req_id}), control=True)  # type: ignore[arg-type]
        elif method in ("SET_PROPERTY", "GET_PROPERTY"):
            result = None if method == "SET_PROPERTY" else False
            conn.send(wire.dumps({"result": result, "id": req_id}), control=True)
        else:
            conn.send(
                wire.dumps(
                    {"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}, "id": req_id}
                ),
                control=True,
            )

    def on_close(self, conn: Conn) -> None:
        self._ping_due.pop(conn.id, None)

    def publish_stream(self, stream: str, payload: bytes) -> None:
        subs = self.subscribers.get(stream)
        if not subs:
            return
        wrapped: bytes | None = None
        for conn in list(subs):
            if conn.combined:
                if wrapped is None:
                    wrapped = wire.combined(stream, payload)
                conn.send(wrapped)
            else:
                conn.send(payload)

    def tick_1s(self, now_ms: int) -> None:
        mono = time.monotonic()
        max_age_ns = int(self.config.connection_max_age_s * NS_PER_S)
        now = now_ns()
        for conn in list(self.conns):
            if now - conn.opened_ns >= max_age_ns:
                self.spawn(conn.close(1000, b"connection lifetime exceeded"))
                continue
            due = self._ping_due.get(conn.id)
            if due is not None and mono >= due and not self.stalled:
                self._ping_due[conn.id] = mono + self.config.binance_ping_interval_s
                self.spawn(self._ping(conn))
            if (now - conn.last_pong_ns) / NS_PER_S > max(
                PONG_TIMEOUT_S, 2 * self.config.binance_ping_interval_s
            ):
                self.spawn(conn.close(1000, b"pong timeout"))
        self._push_klines(now_ms)
        if now_ms // 1000 % 3 == 0:
            self._push_mark_arr("!markPrice@arr", now_ms)
        self._push_mark_arr("!markPrice@arr@1s", now_ms)

    async def _ping(self, conn: Conn) -> None:
        if conn.closed or self.stalled:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.ws.ping(str(now_ns() // NS_PER_MS).encode())

    # ------------------------------------------------------------------ publishers
    def _lower(self, m: SymbolMarket) -> str:
        return m.inst.instrument.lower()

    def on_book(
        self, m: SymbolMarket, ts_ns: int, bids: list[PriceLevel], asks: list[PriceLevel], *, snapshot: bool
    ) -> None:
        st = m.__dict__.setdefault(
            "_bn", {"u": FIRST_UPDATE_ID + self.rng.randrange(10**9), "gap": self.gap_token}
        )
        if not (bids or asks):
            return
        prev = st["u"]
        first = prev + 1
        last = prev + max(1, len(bids) + len(asks))
        st["u"] = last
        sym = self._lower(m)
        skip_diff = False
        if st["gap"] != self.gap_token:
            # gap fault: this diff is consumed but never sent, so the next pu breaks the chain
            st["gap"] = self.gap_token
            skip_diff = True
            if any(self.has_subscribers(f"{sym}@depth{speed}") for speed in DEPTH_SPEEDS):
                self.fault_log.log(
                    "gap",
                    self.venue,
                    symbol=m.inst.symbol,
                    stream=f"{sym}@depth",
                    from_id=prev,
                    to_id=last,
                    missing_first=first,
                )
        delta = BookDelta(
            venue=self.venue,
            symbol=m.inst.symbol,
            ts_event=ts_ns,
            ts_recv=ts_ns,
            bids=bids,
            asks=asks,
            update_id=last,
        )
        payload: bytes | None = None
        for speed in () if skip_diff else DEPTH_SPEEDS:
            stream = f"{sym}@depth{speed}"
            if self.has_subscribers(stream):
                if payload is None:
                    payload = wire.dumps(
                        wire.depth_update(delta, m.inst, first_id=first, last_id=last, prev_id=prev)
                    )
                self.publish_stream(stream, payload)
        ts_ms = ts_ns // NS_PER_MS
        for n in PARTIAL_LEVELS:
            for speed in ("", "@100ms", "@500ms"):
                stream = f"{sym}@depth{n}{speed}"
                if self.has_subscribers(stream):
                    b, a = m.top(n)
                    self.publish_stream(
                        stream,
                        wire.dumps(
                            wire.partial_depth(
                                b, a, m.inst, ts_ms=ts_ms, first_id=first, last_id=last, prev_id=prev
                            )
                        ),
                    )
        self._book_ticker(m, st, ts_ms)

    def _book_ticker(self, m: SymbolMarket, st: dict[str, object], ts_ms: int) -> None:
        bb, ba = m.bids.best(), m.asks.best()
        if bb is None or ba is None:
            return
        top = (bb, m.bids.sizes[bb], ba, m.asks.sizes[ba])
        if st.get("top") == top:
            return
        st["top"] = top
        stream = f"{self._lower(m)}@bookTicker"
        has_one = self.has_subscribers(stream)
        has_all = self.has_subscribers("!bookTicker")
        if has_one or has_all:
            payload = wire.dumps(
                wire.book_ticker((bb, top[1]), (ba, top[3]), m.inst, update_id=int(st["u"]), ts_ms=ts_ms)
            )  # type: ignore[arg-type]
            if has_one:
                self.publish_stream(stream, payload)
            if has_all:
                self.publish_stream("!bookTicker", payload)

    def on_trade(self, m: SymbolMarket, trade: Trade) -> None:
        sym = self._lower(m)
        tid = m.trade_id
        s_trade, s_agg = f"{sym}@trade", f"{sym}@aggTrade"
        if self.has_subscribers(s_trade):
            self.publish_stream(s_trade, wire.dumps(wire.trade(trade, m.inst, trade_id=tid)))
        m.agg_id += 1
        if self.has_subscribers(s_agg):
            self.publish_stream(
                s_agg, wire.dumps(wire.agg_trade(trade, m.inst, agg_id=m.agg_id, first_id=tid, last_id=tid))
            )

    def on_liquidation(self, m: SymbolMarket, liq: Liquidation) -> bool:
        ms = liq.ts_event // NS_PER_MS
        last = self._last_liq_ms.get(m.inst.symbol)
        if last is not None and ms - last < 1000:
            return False  # Binance pushes at most one liquidation per symbol per second
        self._last_liq_ms[m.inst.symbol] = ms
        sym = self._lower(m)
        payload = wire.dumps(wire.force_order(liq, m.inst))
        self.publish_stream(f"{sym}@forceOrder", payload)
        self.publish_stream("!forceOrder@arr", payload)
        return True

    def on_mark(self, m: SymbolMarket, mark: MarkPrice) -> None:
        sym = self._lower(m)
        funding = self._funding_of(m, mark.ts_event)
        payload = wire.dumps(wire.mark_price(mark, funding, m.inst))
        self.publish_stream(f"{sym}@markPrice@1s", payload)
        count = m.__dict__.get("_mark_n", 0) + 1
        m.__dict__["_mark_n"] = count
        if count % 3 == 1:
            self.publish_stream(f"{sym}@markPrice", payload)

    def _funding_of(self, m: SymbolMarket, ts_ns: int) -> Funding:
        return Funding(
            venue=self.venue,
            symbol=m.inst.symbol,
            ts_event=ts_ns,
            ts_recv=ts_ns,
            rate=m.funding_rate,
            interval_hours=m.inst.funding_interval_hours,
            next_funding_ts=m.next_funding_ms * NS_PER_MS if m.next_funding_ms else None,
        )

    def _push_mark_arr(self, stream: str, now_ms: int) -> None:
        if not self.has_subscribers(stream):
            return
        items = []
        for m in self.markets.values():
            if m.mark is None:
                continue
            mark = MarkPrice(
                venue=self.venue,
                symbol=m.inst.symbol,
                ts_event=now_ms * NS_PER_MS,
                ts_recv=now_ms * NS_PER_MS,
                mark_price=m.mark,
                index_price=m.index,
            )
            items.append(wire.mark_price(mark, self._funding_of(m, now_ms * NS_PER_MS), m.inst))
        if items:
            self.publish_stream(stream, wire.dumps(items))

    def on_funding(self, m: SymbolMarket, funding: Funding) -> None:
        pass  # carried by the next markPriceUpdate (r, T)

    def on_open_interest(self, m: SymbolMarket, oi: OpenInterest) -> None:
        pass  # Binance has no open interest stream: REST only

    def _push_klines(self, now_ms: int) -> None:
        for key in [k for k in self.subscribers if "@kline_" in k]:
            sym, _, interval = key.partition("@kline_")
            inst = self.instrument_of(sym)
            iv_ms = INTERVAL_MS.get(interval)
            if inst is None or iv_ms is None:
                continue
            m = self.markets[inst.symbol]
            open_ms = now_ms // iv_ms * iv_ms
            prev_open = self._kline_open.get((sym, interval))
            if prev_open is not None and prev_open < open_ms:
                row = live_bar(m, iv_ms, prev_open)
                if row is not None:
                    self.publish_stream(
                        key,
                        wire.dumps(
                            wire.kline(
                                row, inst, interval=interval, interval_ms=iv_ms, closed=True, event_ms=now_ms
                            )
                        ),
                    )
            self._kline_open[(sym, interval)] = open_ms
            row = live_bar(m, iv_ms, open_ms)
            if row is not None:
                self.publish_stream(
                    key,
                    wire.dumps(
                        wire.kline(
                            row, inst, interval=interval, interval_ms=iv_ms, closed=False, event_ms=now_ms
                        )
                    ),
                )

    def _send_partial_now(self, conn: Conn, stream: str) -> None:
        """A partial-depth stream starts with the current top levels."""

        sym, rest = stream.split("@", 1)
        inst = self.instrument_of(sym)
        if inst is None:
            return
        digits = "".join(ch for ch in rest.split("@")[0] if ch.isdigit())
        if not digits:
            return
        m = self.markets[inst.symbol]
        st = m.__dict__.get("_bn")
        u = int(st["u"]) if st else FIRST_UPDATE_ID
        b, a = m.top(int(digits))
        payload = wire.dumps(
            wire.partial_depth(b, a, inst, ts_ms=self.now_ms(), first_id=u, last_id=u, prev_id=u)
        )
        conn.send(wire.combined(stream, payload) if conn.combined else payload)

    # ------------------------------------------------------------------ REST
    def _weight(self, request: web.Request, weight: int) -> web.Response | None:
        minute = int(time.time() // 60)
        if minute != self._weight_minute:
            self._weight_minute = minute
            self._weight_used = 0
        self._weight_used += weight
        request[USED_WEIGHT] = self._weight_used
        if self._weight_used > 2400:
            # the venue's own limit: 2,400 weight per minute per IP
            retry = 60 - int(time.time() % 60)
            return web.json_response(
                wire.error(
                    -1003, "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute."
                ),
                status=429,
                headers={"Retry-After": str(retry), "X-MBX-USED-WEIGHT-1M": str(self._weight_used)},
            )
        return None

    def _json(self, request: web.Request, body: object, status: int = 200) -> web.Response:
        return web.Response(
            body=wire.dumps(body),
            status=status,
            content_type="application/json",
            headers={"X-MBX-USED-WEIGHT-1M": str(request.get(USED_WEIGHT, 0))},
        )

    def _symbol(self, request: web.Request, *, required: bool = True) -> SymbolMarket | web.Response | None:
        sym = request.query.get("symbol")
        if not sym:
            if not required:
                return None
            return self._json(
                request,
                wire.error(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."),
                400,
            )
        m = self.market_of(sym.upper())
        if m is None:
            return self._json(request, wire.error(-1121, "Invalid symbol."), 400)
        return m

    def _int(self, request: web.Request, name: str, default: int | None = None) -> int | None:
        value = request.query.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise web.HTTPBadRequest(
                body=wire.dumps(
                    wire.error(
                        -1100,
                        f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
                    )
                ),
                content_type="application/json",
            ) from None

    def http_error_body(self, status: int, retry_after_s: float) -> tuple[bytes, str]:
        if status == 418:
            until = self.now_ms() + int(retry_after_s * 1000)
            return wire.dumps(
                wire.error(
                    -1003,
                    f"Way too many requests; IP(127.0.0.1) banned until {until}. "
                    "Please use the websocket for live updates to avoid bans.",
                )
            ), "application/json"
        if status == 403:
            return b"<html><body><h1>403 Forbidden</h1>Request blocked by WAF.</body></html>", "text/html"
        return wire.dumps(
            wire.error(
                -1003,
                "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute. "
                "Please use the websocket for live updates to avoid polling the API.",
            )
        ), "application/json"

    async def rest_ping(self, request: web.Request) -> web.Response:
        return self._weight(request, 1) or self._json(request, {})

    async def rest_time(self, request: web.Request) -> web.Response:
        return self._weight(request, 1) or self._json(request, {"serverTime": self.now_ms()})

    async def rest_exchange_info(self, request: web.Request) -> web.Response:
        if (limited := self._weight(request, 1)) is not None:
            return limited
        onboard = 1569398400000
        symbols = [wire.exchange_symbol(inst, onboard_ms=onboard) for inst in self.instruments.values()]
        return self._json(request, wire.exchange_info(symbols, server_ms=self.now_ms()))

    async def rest_depth(self, request: web.Request) -> web.Response:
        limit = self._int(request, "limit", 500) or 500
        weight = 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
        if (limited := self._weight(request, weight)) is not None:
            return limited
        m = self._symbol(request)
        if not isinstance(m, SymbolMarket):
            return m  # type: ignore[return-value]
        if limit not in (5, 10, 20, 50, 100, 500, 1000):
            return self._json(
                request, wire.error(-1130, "Data sent for parameter 'limit' is not valid."), 400
            )
        st = m.__dict__.setdefault(
            "_bn", {"u": FIRST_UPDATE_ID + self.rng.randrange(10**9), "gap": self.gap_token}
        )
        b, a = m.top(limit)
        ts = now_ns()
        snap = BookSnapshot(
            venue=self.venue,
            symbol=m.inst.symbol,
            ts_event=ts,
            ts_recv=ts,
            bids=b,
            asks=a,
            update_id=int(st["u"]),
        )
        return self._json(request, wire.depth_snapshot(snap, m.inst))

    async def rest_open_interest(self, request: web.Request) -> web.Response:
        if (limited := self._weight(request, 1)) is not None:
            return limited
        m = self._symbol(request)
        if not isinstance(m, SymbolMarket):
            return m  # type: ignore[return-value]
        ts = now_ns()
        oi = OpenInterest(
            venue=self.venue,
            symbol=m.inst.symbol,
            ts_event=ts,
            ts_recv=ts,
            oi_base=m.oi_base or 0.0,
            oi_usd=0.0,
        )
        return self._json(request, wire.open_interest(oi, m.inst))

    async def rest_open_interest_hist(self, request: web.Request) -> web.Response:
        if (limited := self._weight(request, 0)) is not None:
            return limited
        m = self._symbol(request)
        if not isinstance(m, SymbolMarket):
            return m  # type: ignore[return-value]
        period = request.query.get("period", "")
        iv = INTERVAL_MS.get(period)
        if iv is None or iv < 300_000 or period in ("3d", "1w", "3m"):
            return self._json(request, wire.error(-1120, "Invalid period."), 400)
        limit = min(500, self._int(request, "limit", 30) or 30)
        start = self._int(request, "startTime")
        end = self._int(request, "endTime")
        t, oi = m.oi_series()
        # 30 days of history only, like the venue
        horizon = self.now_ms() - 30 * 86_400_000
        keep = (t >= horizon) & ((t % iv) == 0)
        if start is not None:
            keep &= t >= start
        if end is not None:
            keep &= t <= end
        t, oi = t[keep], oi[keep]
        if start is not None and end is None:
            t, oi = t[:limit], oi[:limit]
        else:
            t, oi = t[-limit:], oi[-limit:]
        bars = m.klines(300_000, start_ms=None, end_ms=None, limit=100_000)
        closes = (
            dict(zip(bars[:, 0].astype(int).tolist(), bars[:, 4].tolist(), strict=True)) if bars.size else {}
        )
        ref = m.reference_price()
        rows = [
            wire.open_interest_hist_row(int(ts), float(v), closes.get(int(ts) - 300_000, ref), m.inst)
            for ts, v in zip(t.tolist(), oi.tolist(), strict=True)
        ]
        return self._json(request, rows)

    async def rest_klines(self, request: web.Request) -> web.Response:
        limit = min(1500, self._int(request, "limit", 500) or 500)
        weight = 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
        if (limited := self._weight(request, weight)) is not None:
            return limited
        m = self._symbol(request)
        if not isinstance(m, SymbolMarket):
            return m  # type: ignore[return-value]
        interval = request.query.get("interval", "")
        iv = INTERVAL_MS.get(interval)
        if iv is None:
            return self._json(request, wire.error(-1120, "Invalid interval."), 400)
        bars = m.klines(
            iv, start_ms=self._int(request, "startTime"), end_ms=self._int(request, "endTime"), limit=limit
        )
        return self._json(request, [wire.kline_row(row, m.inst, iv) for row in bars.tolist()])

    async def rest_premium_index(self, request: web.Request) -> web.Response:
        m = self._symbol(request, required=False)
        if (limited := self._weight(request, 1 if m is not None else 10)) is not None:
            return limited
        if isinstance(m, web.Response):
            return m
        now = self.now_ms()
        markets = [m] if isinstance(m, SymbolMarket) else list(self.markets.values())
        rows = [
            wire.premium_index(
                x.inst,
                mark=x.reference_price(),
                index=x.index or x.reference_price(),
                rate=x.funding_rate,
                next_funding_ms=x.next_funding_ms,
                now_ms=now,
            )
            for x in markets
        ]
        return self._json(request, rows[0] if isinstance(m, SymbolMarket) else rows)

    async def rest_funding_rate(self, request: web.Request) -> web.Response:
        if (limited := self._weight(request, 1)) is not None:
            return limited
        m = self._symbol(request, required=False)
        if isinstance(m, web.Response):
            return m
        limit = min(1000, self._int(request, "limit", 100) or 100)
        start = self._int(request, "startTime")
        end = self._int(request, "endTime")
        rows = []
        for x in [m] if isinstance(m, SymbolMarket) else list(self.markets.values()):
            t, r = x.funding_series()
            keep = t >= 0
            if start is not None:
                keep &= t >= start
            if end is not None:
                keep &= t <= end
            ref = x.reference_price()
            rows += [
                wire.funding_rate_row(int(ts), float(rate), ref, x.inst)
                for ts, rate in zip(t[keep].tolist(), r[keep].tolist(), strict=True)
            ]
        rows.sort(key=lambda row: row["fundingTime"])  # type: ignore[arg-type,return-value]
        rows = rows[:limit] if start is not None else rows[-limit:]
        return self._json(request, rows)

    async def rest_funding_info(self, request: web.Request) -> web.Response:
        if (limited := self._weight(request, 1)) is not None:
            return limited
        rows = [
            {
                "symbol": inst.instrument,
                "adjustedFundingRateCap": "0.02000000",
                "adjustedFundingRateFloor": "-0.02000000",
                "fundingIntervalHours": int(inst.funding_interval_hours),
                "disclaimer": False,
            }
            for inst in self.instruments.values()
            if inst.funding_interval_hours != 8.0
        ]
        return self._json(request, rows)

    def _recent(self, request: web.Request, *, agg: bool) -> web.Response:
        m = self._symbol(request)
        if not isinstance(m, SymbolMarket):
            return m  # type: ignore[return-value]
        limit = min(1000, self._int(request, "limit", 500) or 500)
        rows: list[dict[str, object]] = []
        for t in list(m.recent)[-limit:]:
            if agg:
                rows.append(
                    {
                        "a": t.trade_id,
                        "p": m.inst.px(t.price),
                        "q": m.inst.qty(t.qty),
                        "f": t.trade_id,
                        "l": t.trade_id,
                        "T": t.ts_ms,
                        "m": t.side.value == "sell",
                    }
                )
            else:
                rows.append(
                    {
                        "id": t.trade_id,
                        "price": m.inst.px(t.price),
                        "qty": m.inst.qty(t.qty),
                        "quoteQty": f"{t.price * t.qty:.4f}",
                        "time": t.ts_ms,
                        "isBuyerMaker": t.side.value == "sell",
                    }
                )
        return self._json(request, rows)

    async def rest_trades(self, request: web.Request) -> web.Response:
        return self._weight(request, 5) or self._recent(request, agg=False)

    async def rest_agg_trades(self, request: web.Request) -> web.Response:
        return self._weight(request, 20) or self._recent(request, agg=True)

    def _each(self, request: web.Request) -> list[SymbolMarket] | web.Response:
        m = self._symbol(request, required=False)
        if isinstance(m, web.Response):
            return m
        return [m] if isinstance(m, SymbolMarket) else list(self.markets.values())

    async def rest_book_ticker(self, request: web.Request) -> web.Response:
        if (limited := self._weight(request, 2)) is not None:
            return limited
        ms = self._each(request)
        if isinstance(ms, web.Response):
            return ms
        now = self.now_ms()
        rows = []
        for m in ms:
            b, a = m.top(1)
            bid = b[0] if b else (0.0, 0.0)
            ask = a[0] if a else (0.0, 0.0)
            st = m.__dict__.get("_bn") or {"u": 0}
            rows.append(
                {
                    "symbol": m.inst.instrument,
                    "bidPrice": m.inst.px(bid[0]),
                    "bidQty": m.inst.qty(bid[1]),
                    "askPrice": m.inst.px(ask[0]),
                    "askQty": m.inst.qty(ask[1]),
                    "time": now,
                    "lastUpdateId": st["u"],
                }
            )
        return self._json(request, rows[0] if request.query.get("symbol") else rows)

    async def rest_ticker_price(self, request: web.Request) -> web.Response:
        if (limited := self._weight(request, 1)) is not None:
            return limited
        ms = self._each(request)
        if isinstance(ms, web.Response):
            return ms
        now = self.now_ms()
        rows = [
            {
                "symbol": m.inst.instrument,
                "price": m.inst.px(m.last_price or m.reference_price()),
                "time": now,
            }
            for m in ms
        ]
        return self._json(request, rows[0] if request.query.get("symbol") else rows)

    async def rest_ticker_24h(self, request: web.Request) -> web.Response:
        if (limited := self._weight(request, 1 if request.query.get("symbol") else 40)) is not None:
            return limited
        ms = self._each(request)
        if isinstance(ms, web.Response):
            return ms
        now = self.now_ms()
        rows = []
        for m in ms:
            day = m.klines(86_400_000, start_ms=None, end_ms=None, limit=1)
            last = m.last_price or m.reference_price()
            o = float(day[0, 1]) if day.size else last
            rows.append(
                {
                    "symbol": m.inst.instrument,
                    "priceChange": m.inst.px(last - o),
                    "priceChangePercent": f"{(last / o - 1) * 100 if o else 0.0:.3f}",
                    "weightedAvgPrice": m.inst.px(last),
                    "lastPrice": m.inst.px(last),
                    "lastQty": m.inst.qty(m.last_qty),
                    "openPrice": m.inst.px(o),
                    "highPrice": m.inst.px(float(day[0, 2]) if day.size else last),
                    "lowPrice": m.inst.px(float(day[0, 3]) if day.size else last),
                    "volume": m.inst.qty(float(day[0, 5]) if day.size else 0.0),
                    "quoteVolume": f"{float(day[0, 6]) if day.size else 0.0:.2f}",
                    "openTime": int(day[0, 0]) if day.size else now,
                    "closeTime": now,
                    "firstId": 0,
                    "lastId": m.trade_id,
                    "count": int(day[0, 7]) if day.size else 0,
                }
            )
        return self._json(request, rows[0] if request.query.get("symbol") else rows)
