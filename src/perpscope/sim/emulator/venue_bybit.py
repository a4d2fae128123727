"""Emulated Bybit v5 linear: WebSocket ``/v5/public/linear`` and REST ``/v5/market/*`` on one loopback port.

Protocol (https://bybit-exchange.github.io/docs/v5/ws/connect): ``{"op":"subscribe","args":[topics],
"req_id":…}`` → ``{"success":true,"ret_msg":"","conn_id":…,"req_id":…,"op":"subscribe"}``; ``{"op":"ping"}`` →
``{"success":true,"ret_msg":"pong",…,"op":"ping"}``; a connection without any client message for
``bybit_idle_timeout_s`` is closed. ``orderbook.{1,50,200,1000}`` start with a snapshot and continue with
deltas whose ``u`` grows by one per topic; ``tickers`` start with a full snapshot, then deltas carry only
changed fields; ``publicTrade``, ``allLiquidation`` (every liquidation) and the deprecated ``liquidation``
(one per second) push as they happen.
"""

from __future__ import annotations

import uuid

import msgspec
from aiohttp import web

from ...model import Funding, Liquidation, MarkPrice, OpenInterest, PriceLevel, Trade, Venue
from ...timeutil import NS_PER_MS, NS_PER_S, now_ns
from . import wire_bybit as wire
from .market import SymbolMarket, live_bar
from .server import Conn, VenueServer
from .views import DepthView

ORDERBOOK_DEPTHS = (1, 50, 200, 1000)
PUBLIC_PATHS = ("linear", "spot", "inverse", "option")
_json = msgspec.json.Decoder()


class BybitServer(VenueServer):
    venue = Venue.BYBIT
    packs_trades = True

    def setup_routes(self) -> None:
        r = self.app.router
        for kind in PUBLIC_PATHS:
            r.add_get(f"/v5/public/{kind}", self.ws_handler)
        rest = {
            "/v5/market/time": self.rest_time,
            "/v5/market/instruments-info": self.rest_instruments,
            "/v5/market/tickers": self.rest_tickers,
            "/v5/market/orderbook": self.rest_orderbook,
            "/v5/market/open-interest": self.rest_open_interest,
            "/v5/market/funding/history": self.rest_funding_history,
            "/v5/market/kline": self.rest_kline,
            "/v5/market/risk-limit": self.rest_risk_limit,
            "/v5/market/recent-trade": self.rest_recent_trades,
        }
        for path, handler in rest.items():
            r.add_get(path, handler)
        self.views: dict[tuple[str, int], DepthView] = {}
        self._cross_seq: dict[str, int] = {}
        self._last_legacy_liq_ms: dict[str, int] = {}
        self._kline_open: dict[tuple[str, str], int] = {}

    # ------------------------------------------------------------------ websocket
    async def ws_handler(self, request: web.Request) -> web.StreamResponse:
        category = request.path.rsplit("/", 1)[-1]

        def on_open(conn: Conn) -> None:
            conn.meta["conn_id"] = str(uuid.UUID(int=self.rng.getrandbits(128)))
            conn.meta["category"] = category

        return await self.websocket(request, on_open)

    def _reply(self, conn: Conn, op: str, req_id: object, *, success: bool = True, ret_msg: str = "") -> None:
        msg: dict[str, object] = {"success": success, "ret_msg": ret_msg, "conn_id": conn.meta["conn_id"]}
        if req_id is not None:
            msg["req_id"] = req_id
        msg["op"] = op
        conn.send(wire.dumps(msg), control=True)

    async def on_text(self, conn: Conn, text: str) -> None:
        try:
            msg = _json.decode(text)
        except msgspec.DecodeError:
            self._reply(conn, "", None, success=False, ret_msg="error:request not json")
            return
        if not isinstance(msg, dict):
            self._reply(conn, "", None, success=False, ret_msg="error:request not json object")
            return
        op = msg.get("op")
        req_id = msg.get("req_id")
        if op == "ping":
            if not self.stalled:
                self._reply(conn, "ping", req_id, ret_msg="pong")
            return
        if op in ("subscribe", "unsubscribe"):
            args = msg.get("args")
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                self._reply(conn, op, req_id, success=False, ret_msg="error:args must be a list of topics")
                return
            bad = [a for a in args if self._topic_market(a, str(conn.meta["category"])) is None]
            if op == "subscribe":
                if bad:
                    self._reply(
                        conn, op, req_id, success=False, ret_msg=f"error:handler not found,topic:{bad[0]}"
                    )
                    return
                already = [a for a in args if a in conn.subs]
                if already:
                    self._reply(
                        conn,
                        op,
                        req_id,
                        success=False,
                        ret_msg=f"error:already subscribed,topic:{already[0]}",
                    )
                    return
                self._reply(conn, op, req_id)
                for topic in args:
                    self.subscribe(conn, topic)
                    self._initial(conn, topic)
            else:
                for topic in args:
                    self.unsubscribe(conn, topic)
                self._reply(conn, op, req_id)
            return
        self._reply(conn, str(op or ""), req_id, success=False, ret_msg=f"error:unknown op {op!r}")

    def _topic_market(self, topic: str, category: str) -> SymbolMarket | None:
        """The market a topic refers to (None: unknown topic). Only linear carries data here."""

        parts = topic.split(".")
        if category != "linear" or len(parts) < 2:
            return None
        name = parts[0]
        if (
            name == "orderbook"
            and len(parts) == 3
            and parts[1].isdigit()
            and int(parts[1]) in ORDERBOOK_DEPTHS
        ):
            return self.market_of(parts[2])
        if name == "kline" and len(parts) == 3 and parts[1] in wire.KLINE_INTERVALS:
            return self.market_of(parts[2])
        if name in ("publicTrade", "tickers", "allLiquidation", "liquidation") and len(parts) == 2:
            return self.market_of(parts[1])
        return None

    def _initial(self, conn: Conn, topic: str) -> None:
        """Snapshots a subscriber gets at once: order books and tickers."""

        parts = topic.split(".")
        m = self._topic_market(topic, "linear")
        if m is None:
            return
        ts_ms = self.now_ms()
        if parts[0] == "orderbook":
            depth = int(parts[1])
            view = self._view(m, depth)
            b, a = view.levels()
            conn.send(
                wire.orderbook(
                    m.inst,
                    depth=depth,
                    kind="snapshot",
                    bids=b,
                    asks=a,
                    u=view.seq,
                    seq=self._seq(m, 0),
                    ts_ms=ts_ms,
                )
            )
        elif parts[0] == "tickers":
            conn.send(
                wire.tickers(
                    m.inst, self._ticker_snapshot(m), kind="snapshot", ts_ms=ts_ms, cs=self._seq(m, 0)
                )
            )

    def _view(self, m: SymbolMarket, depth: int) -> DepthView:
        key = (m.inst.symbol, depth)
        view = self.views.get(key)
        if view is None:
            view = self.views[key] = DepthView(
                m, depth, seq=10_000_000 + self.rng.randrange(10**7), gap_token=self.gap_token
            )
        return view

    def _seq(self, m: SymbolMarket, step: int) -> int:
        """Bybit's cross sequence: grows with every book change and trade of the symbol."""

        sym = m.inst.symbol
        cur = self._cross_seq.get(sym)
        if cur is None:
            cur = 700_000_000_000 + self.rng.randrange(10**9)
        cur += step
        self._cross_seq[sym] = cur
        return cur

    def tick_1s(self, now_ms: int) -> None:
        idle_ns = int(self.config.bybit_idle_timeout_s * NS_PER_S)
        now = now_ns()
        for conn in list(self.conns):
            if now - conn.last_client_msg_ns > idle_ns:
                self.spawn(conn.close(1000, b"idle timeout"))
        self._push_klines(now_ms)

    # ------------------------------------------------------------------ publishers
    def on_book(
        self, m: SymbolMarket, ts_ns: int, bids: list[PriceLevel], asks: list[PriceLevel], *, snapshot: bool
    ) -> None:
        ts_ms = ts_ns // NS_PER_MS
        seq = self._seq(m, self.rng.randint(1, 50))
        for depth in ORDERBOOK_DEPTHS:
            topic = f"orderbook.{depth}.{m.inst.instrument}"
            key = (m.inst.symbol, depth)
            if not self.has_subscribers(topic):
                self.views.pop(key, None)  # nobody listens: the next subscriber starts from a fresh view
                continue
            view = self._view(m, depth)
            db, da = view.advance(bids, asks)
            if not (db or da):
                continue
            view.seq += 1
            if view.gap_token != self.gap_token:
                view.gap_token = self.gap_token
                self.fault_log.log(
                    "gap",
                    self.venue,
                    symbol=m.inst.symbol,
                    stream=topic,
                    from_id=view.seq - 1,
                    to_id=view.seq + 1,
                    missing=view.seq,
                )
                continue
            self.publish(
                topic,
                wire.orderbook(
                    m.inst, depth=depth, kind="delta", bids=db, asks=da, u=view.seq, seq=seq, ts_ms=ts_ms
                ),
            )

    def on_trade(self, m: SymbolMarket, trade: Trade) -> None:
        topic = f"publicTrade.{m.inst.instrument}"
        seq = self._seq(m, self.rng.randint(1, 20))
        if self.has_subscribers(topic):
            tid = trade.trade_id or wire.trade_uuid(m.trade_id)
            tick = "PlusTick" if trade.side.value == "buy" else "MinusTick"
            self.publish(topic, wire.public_trade(trade, m.inst, seq=seq, trade_id=tid, tick=tick))

    def on_liquidation(self, m: SymbolMarket, liq: Liquidation) -> bool:
        self.publish(f"allLiquidation.{m.inst.instrument}", wire.all_liquidation(liq, m.inst))
        ms = liq.ts_event // NS_PER_MS
        last = self._last_legacy_liq_ms.get(m.inst.symbol)
        if last is None or ms - last >= 1000:  # the deprecated topic is sampled: one per second
            self._last_legacy_liq_ms[m.inst.symbol] = ms
            self.publish(f"liquidation.{m.inst.instrument}", wire.legacy_liquidation(liq, m.inst))
        return True

    def _push_ticker(self, m: SymbolMarket, fields: dict[str, str], ts_ns: int) -> None:
        topic = f"tickers.{m.inst.instrument}"
        if self.has_subscribers(topic) and fields:
            self.publish(
                topic,
                wire.tickers(m.inst, fields, kind="delta", ts_ms=ts_ns // NS_PER_MS, cs=self._seq(m, 0)),
            )

    def on_mark(self, m: SymbolMarket, mark: MarkPrice) -> None:
        fields = wire.ticker_fields(m.inst, mark=mark)
        b, a = m.top(1)
        if b and a:
            fields.update(
                bid1Price=m.inst.px(b[0][0]),
                bid1Size=m.inst.qty(b[0][1]),
                ask1Price=m.inst.px(a[0][0]),
                ask1Size=m.inst.qty(a[0][1]),
            )
        if m.last_price is not None:
            fields["lastPrice"] = m.inst.px(m.last_price)
        self._push_ticker(m, fields, mark.ts_event)

    def on_funding(self, m: SymbolMarket, funding: Funding) -> None:
        state = m.__dict__.setdefault("_by_funding", {})
        sig = (funding.rate, funding.next_funding_ts, funding.interval_hours)
        if state.get("sig") == sig:
            return  # tickers deltas carry only changed fields
        state["sig"] = sig
        self._push_ticker(m, wire.ticker_fields(m.inst, funding=funding), funding.ts_event)

    def on_open_interest(self, m: SymbolMarket, oi: OpenInterest) -> None:
        self._push_ticker(m, wire.ticker_fields(m.inst, oi=oi, mark_price=m.reference_price()), oi.ts_event)

    def _ticker_snapshot(self, m: SymbolMarket) -> dict[str, str]:
        inst = m.inst
        ts = now_ns()
        price = m.reference_price()
        fields: dict[str, str] = {
            "tickDirection": "PlusTick",
            "price24hPcnt": "0.001",
            "lastPrice": inst.px(m.last_price or price),
            "prevPrice24h": inst.px(price),
            "highPrice24h": inst.px(price * 1.01),
            "lowPrice24h": inst.px(price * 0.99),
            "prevPrice1h": inst.px(price),
            "turnover24h": f"{m.volume_24h * price:.4f}",
            "volume24h": inst.qty(m.volume_24h),
        }
        mark = MarkPrice(
            venue=self.venue,
            symbol=inst.symbol,
            ts_event=ts,
            ts_recv=ts,
            mark_price=m.mark or price,
            index_price=m.index or price,
        )
        fields.update(wire.ticker_fields(inst, mark=mark))
        funding = Funding(
            venue=self.venue,
            symbol=inst.symbol,
            ts_event=ts,
            ts_recv=ts,
            rate=m.funding_rate,
            interval_hours=inst.funding_interval_hours,
            next_funding_ts=m.next_funding_ms * NS_PER_MS if m.next_funding_ms else None,
        )
        fields.update(wire.ticker_fields(inst, funding=funding))
        if m.oi_base is not None:
            oi = OpenInterest(
                venue=self.venue,
                symbol=inst.symbol,
                ts_event=ts,
                ts_recv=ts,
                oi_base=m.oi_base,
                oi_usd=m.oi_base * price,
            )
            fields.update(wire.ticker_fields(inst, oi=oi))
        b, a = m.top(1)
        if b and a:
            fields.update(
                bid1Price=inst.px(b[0][0]),
                bid1Size=inst.qty(b[0][1]),
                ask1Price=inst.px(a[0][0]),
                ask1Size=inst.qty(a[0][1]),
            )
        return fields

    def _push_klines(self, now_ms: int) -> None:
        for key in [k for k in self.subscribers if k.startswith("kline.")]:
            _, interval, instrument = key.split(".", 2)
            m = self.market_of(instrument)
            iv_ms = wire.KLINE_INTERVALS.get(interval)
            if m is None or iv_ms is None:
                continue
            open_ms = now_ms // iv_ms * iv_ms
            prev_open = self._kline_open.get((instrument, interval))
            if (
                prev_open is not None
                and prev_open < open_ms
                and (row := live_bar(m, iv_ms, prev_open)) is not None
            ):
                self.publish(
                    key,
                    wire.kline(m.inst, row, interval=interval, interval_ms=iv_ms, confirm=True, ts_ms=now_ms),
                )
            self._kline_open[(instrument, interval)] = open_ms
            if (row := live_bar(m, iv_ms, open_ms)) is not None:
                self.publish(
                    key,
                    wire.kline(
                        m.inst, row, interval=interval, interval_ms=iv_ms, confirm=False, ts_ms=now_ms
                    ),
                )

    # ------------------------------------------------------------------ REST
    def _ok(self, result: object) -> web.Response:
        return web.Response(body=wire.response(result, now_ms=self.now_ms()), content_type="application/json")

    def _err(self, code: int, msg: str) -> web.Response:
        return web.Response(
            body=wire.response({}, now_ms=self.now_ms(), code=code, msg=msg), content_type="application/json"
        )

    def http_error_body(self, status: int, retry_after_s: float) -> tuple[bytes, str]:
        if status == 403:
            # Bybit: over 600 requests / 5 s per IP → HTTP 403 and a ban of at least 10 minutes
            return b"403 Forbidden: access too frequent, your IP has been banned for a while", "text/plain"
        return wire.response({}, now_ms=self.now_ms(), code=10006, msg="Too many visits!"), "application/json"

    def _linear(
        self, request: web.Request, *, symbol_required: bool = True
    ) -> SymbolMarket | web.Response | None:
        category = request.query.get("category")
        if category is None:
            return self._err(10001, "params error: category is required")
        if category != "linear":
            return self._err(10001, f"params error: category {category} not supported here")
        sym = request.query.get("symbol")
        if not sym:
            return self._err(10001, "params error: symbol is required") if symbol_required else None
        m = self.market_of(sym.upper())
        if m is None:
            return self._err(10001, "params error: symbol invalid")
        return m

    def _int(self, request: web.Request, name: str, default: int | None = None) -> int | None:
        value = request.query.get(name)
        if not value:
            return default
        try:
            return int(value)
        except ValueError:
            return default

    async def rest_time(self, request: web.Request) -> web.Response:
        ns = now_ns()
        return self._ok({"timeSecond": str(ns // NS_PER_S), "timeNano": str(ns)})

    async def rest_instruments(self, request: web.Request) -> web.Response:
        category = request.query.get("category", "")
        if category not in PUBLIC_PATHS:
            return self._err(10001, "params error: category invalid")
        rows: list[dict[str, object]] = []
        status = request.query.get("status", "Trading")
        if category == "linear" and status == "Trading" and not request.query.get("cursor"):
            sym = request.query.get("symbol")
            rows = [
                wire.instrument_info(inst, launch_ms=1584230400000)
                for inst in self.instruments.values()
                if sym is None or sym.upper() == inst.instrument
            ]
        return self._ok({"category": category, "list": rows, "nextPageCursor": ""})

    async def rest_tickers(self, request: web.Request) -> web.Response:
        category = request.query.get("category", "")
        if category != "linear":
            return self._ok({"category": category, "list": []})
        m = self._linear(request, symbol_required=False)
        if isinstance(m, web.Response):
            return m
        markets = [m] if m is not None else list(self.markets.values())
        return self._ok(
            {
                "category": "linear",
                "list": [{"symbol": x.inst.instrument, **self._ticker_snapshot(x)} for x in markets],
            }
        )

    async def rest_orderbook(self, request: web.Request) -> web.Response:
        m = self._linear(request)
        if not isinstance(m, SymbolMarket):
            return m  # type: ignore[return-value]
        limit = max(1, min(500, self._int(request, "limit", 25) or 25))
        b, a = m.top(limit)
        ts = self.now_ms()
        view = self.views.get((m.inst.symbol, 200))
        return self._ok(
            {
                "s": m.inst.instrument,
                "b": [[m.inst.px(p), m.inst.qty(q)] for p, q in b],
                "a": [[m.inst.px(p), m.inst.qty(q)] for p, q in a],
                "ts": ts,
                "u": view.seq if view else 1,
                "seq": self._seq(m, 0),
                "cts": ts,
            }
        )

    async def rest_open_interest(self, request: web.Request) -> web.Response:
        m = self._linear(request)
        if not isinstance(m, SymbolMarket):
            return m  # type: ignore[return-value]
        interval = request.query.get("intervalTime", "")
        iv = wire.OI_INTERVALS.get(interval)
        if iv is None:
            return self._err(10001, "params error: intervalTime invalid")
        limit = max(1, min(200, self._int(request, "limit", 50) or 50))
        start = self._int(request, "startTime")
        end = self._int(request, "endTime")
        t, oi = m.oi_series()
        keep = (t % iv) == 0
        if start is not None:
            keep &= t >= start
        if end is not None:
            keep &= t <= end
        cursor = self._int(request, "cursor")
        if cursor is not None:
            keep &= t < cursor
        t, oi = t[keep][::-1], oi[keep][::-1]  # newest first
        page_t, page_oi = t[:limit], oi[:limit]
        # openInterest is the sum of both sides; singleOpenInterest (added 2026-06) one side
        rows = [
            {"openInterest": m.inst.qty(2.0 * v), "singleOpenInterest": m.inst.qty(v), "timestamp": str(ts)}
            for ts, v in zip(page_t.tolist(), page_oi.tolist(), strict=True)
        ]
        next_cursor = str(int(page_t[-1])) if len(t) > limit and len(page_t) else ""
        return self._ok(
            {"symbol": m.inst.instrument, "category": "linear", "list": rows, "nextPageCursor": next_cursor}
        )

    async def rest_funding_history(self, request: web.Request) -> web.Response:
        m = self._linear(request)
        if not isinstance(m, SymbolMarket):
            return m  # type: ignore[return-value]
        limit = max(1, min(200, self._int(request, "limit", 200) or 200))
        start = self._int(request, "startTime")
        end = self._int(request, "endTime")
        t, r = m.funding_series()
        keep = t >= 0
        if start is not None:
            keep &= t >= start
        if end is not None:
            keep &= t <= end
        t, r = t[keep][::-1][:limit], r[keep][::-1][:limit]
        rows = [
            {
                "symbol": m.inst.instrument,
                "fundingRate": f"{rate:.8f}".rstrip("0").rstrip(".") or "0",
                "fundingRateTimestamp": str(ts),
            }
            for ts, rate in zip(t.tolist(), r.tolist(), strict=True)
        ]
        return self._ok({"category": "linear", "list": rows})

    async def rest_kline(self, request: web.Request) -> web.Response:
        m = self._linear(request)
        if not isinstance(m, SymbolMarket):
            return m  # type: ignore[return-value]
        interval = request.query.get("interval", "")
        iv = wire.KLINE_INTERVALS.get(interval)
        if iv is None:
            return self._err(10001, "params error: interval invalid")
        limit = max(1, min(1000, self._int(request, "limit", 200) or 200))
        bars = m.klines(
            iv, start_ms=self._int(request, "start"), end_ms=self._int(request, "end"), limit=limit
        )
        rows = [
            [
                str(int(b[0])),
                m.inst.px(b[1]),
                m.inst.px(b[2]),
                m.inst.px(b[3]),
                m.inst.px(b[4]),
                m.inst.qty(b[5]),
                f"{b[6]:.4f}",
            ]
            for b in bars.tolist()[::-1]
        ]
        return self._ok({"category": "linear", "symbol": m.inst.instrument, "list": rows})

    async def rest_risk_limit(self, request: web.Request) -> web.Response:
        m = self._linear(request, symbol_required=False)
        if isinstance(m, web.Response):
            return m
        rows = []
        for x in [m] if m is not None else list(self.markets.values()):
            step = 2_000_000 if x.inst.symbol in ("BTC", "ETH") else 200_000
            for i in range(5):
                mmr = 0.005 + 0.005 * i
                rows.append(
                    {
                        "id": i + 1,
                        "symbol": x.inst.instrument,
                        "riskLimitValue": str(step * (i + 1)),
                        "maintenanceMargin": f"{mmr:.3f}".rstrip("0").rstrip("."),
                        "initialMargin": f"{min(1.0, 1 / x.inst.max_leverage + 0.005 * i * 2):.4f}",
                        "isLowestRisk": 1 if i == 0 else 0,
                        "maxLeverage": f"{max(1.0, x.inst.max_leverage / (1 + i)):.2f}",
                        "mmDeduction": "" if i == 0 else str(round(step * 0.005 * i * (i + 1) / 2)),
                    }
                )
        return self._ok({"category": "linear", "list": rows, "nextPageCursor": ""})

    async def rest_recent_trades(self, request: web.Request) -> web.Response:
        m = self._linear(request)
        if not isinstance(m, SymbolMarket):
            return m  # type: ignore[return-value]
        limit = max(1, min(1000, self._int(request, "limit", 500) or 500))
        rows = [
            {
                "execId": wire.trade_uuid(t.trade_id),
                "symbol": m.inst.instrument,
                "price": m.inst.px(t.price),
                "size": m.inst.qty(t.qty),
                "side": "Buy" if t.side.value == "buy" else "Sell",
                "time": str(t.ts_ms),
                "isBlockTrade": False,
                "isRPITrade": False,
            }
            for t in list(m.recent)[-limit:][::-1]
        ]
        return self._ok({"category": "linear", "list": rows})
