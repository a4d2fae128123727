"""Emulated OKX v5: WebSocket ``/ws/v5/public`` and ``/ws/v5/business`` and REST ``/api/v5/*`` on one
loopback port.

Protocol (https://www.okx.com/docs-v5/en/#overview-websocket): ``{"op":"subscribe","args":[{"channel":…,
"instId":…}]}`` → one ``{"event":"subscribe","arg":{…},"connId":…}`` per arg; errors as ``{"event":"error",
"code":"60018",…}``; the text ``ping`` → ``pong``; a connection without traffic for ``okx_idle_timeout_s``
(30 s) is closed. ``books`` starts with ``action: snapshot`` (``prevSeqId = -1``), then ``update``s chained by
``prevSeqId`` = previous ``seqId`` with a CRC32 checksum of the top 25 levels, and a heartbeat update
(``seqId == prevSeqId``, no levels) when the book is quiet; ``books5``/``bbo-tbt`` push full top-N books.
Candles and ``trades-all`` live on ``/business``; asking for them on ``/public`` (or the reverse) is error
60018, like the venue.
"""

from __future__ import annotations

import time
import uuid

import msgspec
from aiohttp import web

from ...model import Funding, Liquidation, MarkPrice, OpenInterest, PriceLevel, Trade, Venue
from ...timeutil import NS_PER_MS, NS_PER_S, now_ns
from . import wire_okx as wire
from .market import SymbolMarket, live_bar
from .server import Conn, VenueServer
from .views import DepthView

BOOK_DEPTH = {"books": 400, "books5": 5, "bbo-tbt": 1, "books50-l2-tbt": 50, "books-l2-tbt": 400}
SEQ_BOOKS = frozenset({"books", "books50-l2-tbt", "books-l2-tbt"})
LOGIN_BOOKS = frozenset({"books50-l2-tbt", "books-l2-tbt"})
PUBLIC_CHANNELS = frozenset(
    {"trades", "tickers", "mark-price", "funding-rate", "open-interest", "liquidation-orders", *BOOK_DEPTH}
)
BUSINESS_CHANNELS = frozenset({"trades-all"})  # plus every candle<bar>

_json = msgspec.json.Decoder()


class OkxServer(VenueServer):
    venue = Venue.OKX
    packs_trades = True

    def setup_routes(self) -> None:
        r = self.app.router
        r.add_get("/ws/v5/public", self.ws_handler)
        r.add_get("/ws/v5/business", self.ws_handler)
        r.add_get("/ws/v5/private", self.ws_handler)
        rest = {
            "/api/v5/public/time": self.rest_time,
            "/api/v5/public/instruments": self.rest_instruments,
            "/api/v5/public/underlying": self.rest_underlying,
            "/api/v5/public/open-interest": self.rest_open_interest,
            "/api/v5/public/funding-rate": self.rest_funding_rate,
            "/api/v5/public/funding-rate-history": self.rest_funding_history,
            "/api/v5/public/mark-price": self.rest_mark_price,
            "/api/v5/public/position-tiers": self.rest_position_tiers,
            "/api/v5/market/books": self.rest_books,
            "/api/v5/market/ticker": self.rest_ticker,
            "/api/v5/market/tickers": self.rest_tickers,
            "/api/v5/market/candles": self.rest_candles,
            "/api/v5/market/history-candles": self.rest_candles,
            "/api/v5/market/trades": self.rest_trades,
            "/api/v5/rubik/stat/contracts/open-interest-history": self.rest_oi_history,
        }
        for path, handler in rest.items():
            r.add_get(path, handler)
        self.views: dict[tuple[str, str], DepthView] = {}
        self._last_liq_ms: dict[str, int] = {}
        self._trade_seq = 1_000_000 + self.rng.randrange(10**6)
        self._candle_open: dict[tuple[str, str], int] = {}

    # ------------------------------------------------------------------ websocket
    async def ws_handler(self, request: web.Request) -> web.StreamResponse:
        kind = request.path.rsplit("/", 1)[-1]

        def on_open(conn: Conn) -> None:
            conn.meta["conn_id"] = uuid.UUID(int=self.rng.getrandbits(128)).hex[:8]
            conn.meta["kind"] = kind
            conn.meta["last_push"] = time.monotonic()

        return await self.websocket(request, on_open)

    def _error(self, conn: Conn, code: str, msg: str, req_id: object = None) -> None:
        out: dict[str, object] = {"event": "error", "code": code, "msg": msg, "connId": conn.meta["conn_id"]}
        if req_id is not None:
            out["id"] = req_id
        conn.send(wire.dumps(out), control=True)

    async def on_text(self, conn: Conn, text: str) -> None:
        if text == "ping":
            if not self.stalled:
                conn.send(b"pong", control=True)
            return
        try:
            msg = _json.decode(text)
        except msgspec.DecodeError:
            self._error(conn, "60012", f"Invalid request: {text[:100]}")
            return
        if not isinstance(msg, dict):
            self._error(conn, "60012", f"Invalid request: {text[:100]}")
            return
        op = msg.get("op")
        req_id = msg.get("id")
        if op == "login":
            self._error(conn, "60009", "Login failed.", req_id)
            return
        if op not in ("subscribe", "unsubscribe"):
            self._error(conn, "60012", f"Invalid request: {text[:100]}", req_id)
            return
        args = msg.get("args")
        if not isinstance(args, list) or not args:
            self._error(conn, "60012", f"Invalid request: {text[:100]}", req_id)
            return
        for arg in args:
            key = self._key(conn, arg)
            if isinstance(key, tuple):
                self._error(conn, key[0], key[1], req_id)
                continue
            ack: dict[str, object] = {"event": op, "arg": arg, "connId": conn.meta["conn_id"]}
            if req_id is not None:
                ack = {"id": req_id, **ack}
            conn.send(wire.dumps(ack), control=True)
            if op == "subscribe":
                if self.subscribe(conn, key):
                    self._initial(conn, key)
            else:
                self.unsubscribe(conn, key)

    def _key(self, conn: Conn, arg: object) -> str | tuple[str, str]:
        """Subscription key ``channel:instId`` (``liquidation-orders:SWAP``), or an (error code, message)."""

        if not isinstance(arg, dict) or not isinstance(arg.get("channel"), str):
            return ("60012", f"Invalid request: {msgspec.json.encode(arg).decode()[:100]}")
        channel = arg["channel"]
        inst_id = arg.get("instId", "")
        wrong = (
            f"Wrong URL or channel:{channel},instId:{inst_id} doesn't exist. "
            "Please use the correct URL, channel and parameters referring to API document."
        )
        kind = conn.meta["kind"]
        business = channel in BUSINESS_CHANNELS or channel.startswith("candle")
        if kind == "private" or (business and kind != "business") or (not business and kind != "public"):
            return ("60018", wrong)
        if channel == "liquidation-orders":
            if str(arg.get("instType", "")).upper() != "SWAP":
                return ("60018", wrong)
            return "liquidation-orders:SWAP"
        if channel in LOGIN_BOOKS:
            return ("60011", "Please log in")
        if channel.startswith("candle"):
            if channel.removeprefix("candle") not in wire.BARS:
                return ("60018", wrong)
        elif channel not in PUBLIC_CHANNELS and channel not in BUSINESS_CHANNELS:
            return ("60018", wrong)
        if self.market_of(inst_id) is None:
            return ("60018", wrong)
        return f"{channel}:{inst_id}"

    def _initial(self, conn: Conn, key: str) -> None:
        channel, _, inst_id = key.partition(":")
        m = self.market_of(inst_id)
        if m is None:
            return
        ts = now_ns()
        inst = m.inst
        if channel in BOOK_DEPTH:
            view = self._view(m, channel)
            b, a = view.levels()
            if channel in SEQ_BOOKS:
                conn.send(
                    wire.books(
                        inst,
                        channel=channel,
                        action="snapshot",
                        bids=b,
                        asks=a,
                        ts_ms=ts // NS_PER_MS,
                        seq_id=view.seq,
                        prev_seq_id=-1,
                    )
                )
            else:
                conn.send(
                    wire.books(
                        inst,
                        channel=channel,
                        action=None,
                        bids=b,
                        asks=a,
                        ts_ms=ts // NS_PER_MS,
                        seq_id=view.seq,
                        prev_seq_id=-1,
                    )
                )
        elif channel == "mark-price" and m.mark is not None:
            conn.send(
                wire.mark_price(
                    MarkPrice(
                        venue=self.venue, symbol=inst.symbol, ts_event=ts, ts_recv=ts, mark_price=m.mark
                    ),
                    inst,
                )
            )
        elif channel == "funding-rate" and m.next_funding_ms:
            conn.send(wire.funding_rate(self._funding(m, ts), inst, premium=self._premium(m)))
        elif channel == "open-interest" and m.oi_base is not None:
            oi = OpenInterest(
                venue=self.venue,
                symbol=inst.symbol,
                ts_event=ts,
                ts_recv=ts,
                oi_base=m.oi_base,
                oi_usd=m.oi_base * m.reference_price(),
            )
            conn.send(wire.open_interest(oi, inst))
        elif channel == "tickers":
            conn.send(
                wire.dumps(
                    {"arg": {"channel": "tickers", "instId": inst.instrument}, "data": [self._ticker(m)]}
                )
            )

    def _view(self, m: SymbolMarket, channel: str) -> DepthView:
        key = (m.inst.symbol, channel)
        view = self.views.get(key)
        if view is None:
            view = self.views[key] = DepthView(
                m,
                BOOK_DEPTH[channel],
                seq=3_000_000_000 + self.rng.randrange(10**8),
                gap_token=self.gap_token,
            )
            view.last_push_ns = now_ns()
        return view

    def _funding(self, m: SymbolMarket, ts: int) -> Funding:
        return Funding(
            venue=self.venue,
            symbol=m.inst.symbol,
            ts_event=ts,
            ts_recv=ts,
            rate=m.funding_rate,
            interval_hours=m.inst.funding_interval_hours,
            next_funding_ts=m.next_funding_ms * NS_PER_MS if m.next_funding_ms else None,
        )

    def _premium(self, m: SymbolMarket) -> float:
        if m.mark and m.index:
            return (m.mark - m.index) / m.index
        return 0.0

    def tick_1s(self, now_ms: int) -> None:
        now = now_ns()
        idle_ns = int(self.config.okx_idle_timeout_s * NS_PER_S)
        mono = time.monotonic()
        for conn in list(self.conns):
            last_push = float(conn.meta.get("last_push", mono))  # type: ignore[arg-type]
            quiet_ns = min(now - conn.last_client_msg_ns, int((mono - last_push) * NS_PER_S))
            if conn.queue:
                conn.meta["last_push"] = mono
            elif quiet_ns > idle_ns:
                self.spawn(conn.close(4004, b"No data received in 30s."))
        hb_ns = int(self.config.okx_heartbeat_s * NS_PER_S)
        for (_, channel), view in list(self.views.items()):
            if channel in SEQ_BOOKS and now - view.last_push_ns > hb_ns:
                topic = f"{channel}:{view.market.inst.instrument}"
                if self.has_subscribers(topic):
                    view.last_push_ns = now
                    b, a = view.market.top(25)
                    self._publish(
                        topic,
                        wire.books(
                            view.market.inst,
                            channel=channel,
                            action="update",
                            bids=[],
                            asks=[],
                            ts_ms=now_ms,
                            seq_id=view.seq,
                            prev_seq_id=view.seq,
                            full_bids=b,
                            full_asks=a,
                        ),
                    )
        self._push_candles(now_ms)

    def _publish(self, key: str, data: bytes) -> None:
        subs = self.subscribers.get(key)
        if not subs:
            return
        if self._packing is not None:  # handle_trades merges the frames of one topic
            self._packing.append((self._publish, key, data))
            return
        mono = time.monotonic()
        for conn in list(subs):
            conn.send(data)
            conn.meta["last_push"] = mono

    # ------------------------------------------------------------------ publishers
    def on_book(
        self, m: SymbolMarket, ts_ns: int, bids: list[PriceLevel], asks: list[PriceLevel], *, snapshot: bool
    ) -> None:
        ts_ms = ts_ns // NS_PER_MS
        inst = m.inst
        for channel in BOOK_DEPTH:
            topic = f"{channel}:{inst.instrument}"
            key = (inst.symbol, channel)
            if not self.has_subscribers(topic):
                self.views.pop(key, None)
                continue
            view = self._view(m, channel)
            db, da = view.advance(bids, asks)
            if not (db or da):
                continue
            prev = view.seq
            view.seq += self.rng.randint(1, 5)
            view.last_push_ns = ts_ns
            if channel not in SEQ_BOOKS:
                b, a = view.levels()
                self._publish(
                    topic,
                    wire.books(
                        inst,
                        channel=channel,
                        action=None,
                        bids=b,
                        asks=a,
                        ts_ms=ts_ms,
                        seq_id=view.seq,
                        prev_seq_id=prev,
                    ),
                )
                continue
            if view.gap_token != self.gap_token:
                view.gap_token = self.gap_token
                self.fault_log.log(
                    "gap",
                    self.venue,
                    symbol=inst.symbol,
                    stream=topic,
                    from_id=prev,
                    to_id=view.seq,
                    missing=view.seq,
                )
                continue
            b, a = m.top(25)  # the view equals the truth's top N: its top 25 make the checksum
            self._publish(
                topic,
                wire.books(
                    inst,
                    channel=channel,
                    action="update",
                    bids=db,
                    asks=da,
                    ts_ms=ts_ms,
                    seq_id=view.seq,
                    prev_seq_id=prev,
                    full_bids=b,
                    full_asks=a,
                ),
            )

    def on_trade(self, m: SymbolMarket, trade: Trade) -> None:
        self._trade_seq += 1
        tid = str(m.trade_id)
        for channel in ("trades", "trades-all"):
            topic = f"{channel}:{m.inst.instrument}"
            if self.has_subscribers(topic):
                self._publish(
                    topic, wire.trades(trade, m.inst, trade_id=tid, seq_id=self._trade_seq, channel=channel)
                )

    def on_liquidation(self, m: SymbolMarket, liq: Liquidation) -> bool:
        ms = liq.ts_event // NS_PER_MS
        last = self._last_liq_ms.get(m.inst.symbol)
        if last is not None and ms - last < 1000:
            return False  # OKX pushes at most one liquidation order per contract per second
        self._last_liq_ms[m.inst.symbol] = ms
        self._publish("liquidation-orders:SWAP", wire.liquidation_orders(liq, m.inst))
        return True

    def on_mark(self, m: SymbolMarket, mark: MarkPrice) -> None:
        self._publish(f"mark-price:{m.inst.instrument}", wire.mark_price(mark, m.inst))
        topic = f"tickers:{m.inst.instrument}"
        if self.has_subscribers(topic):
            self._publish(
                topic,
                wire.dumps(
                    {"arg": {"channel": "tickers", "instId": m.inst.instrument}, "data": [self._ticker(m)]}
                ),
            )

    def on_funding(self, m: SymbolMarket, funding: Funding) -> None:
        self._publish(
            f"funding-rate:{m.inst.instrument}", wire.funding_rate(funding, m.inst, premium=self._premium(m))
        )

    def on_open_interest(self, m: SymbolMarket, oi: OpenInterest) -> None:
        self._publish(f"open-interest:{m.inst.instrument}", wire.open_interest(oi, m.inst))

    def _ticker(self, m: SymbolMarket) -> dict[str, str]:
        b, a = m.top(1)
        return wire.ticker_row(
            m.inst,
            last=m.last_price or m.reference_price(),
            bid=b[0] if b else None,
            ask=a[0] if a else None,
            ts_ms=self.now_ms(),
            vol_base=m.volume_24h,
        )

    def _push_candles(self, now_ms: int) -> None:
        for key in [k for k in self.subscribers if k.startswith("candle")]:
            channel, _, inst_id = key.partition(":")
            bar = channel.removeprefix("candle")
            iv = wire.BARS.get(bar)
            m = self.market_of(inst_id)
            if iv is None or m is None:
                continue
            open_ms = now_ms // iv * iv
            prev = self._candle_open.get((inst_id, bar))
            if prev is not None and prev < open_ms and (row := live_bar(m, iv, prev)) is not None:
                self._publish(key, wire.candle(row, m.inst, bar=bar, confirm=True))
            self._candle_open[(inst_id, bar)] = open_ms
            if (row := live_bar(m, iv, open_ms)) is not None:
                self._publish(key, wire.candle(row, m.inst, bar=bar, confirm=False))

    # ------------------------------------------------------------------ REST
    def _ok(self, data: object) -> web.Response:
        return web.Response(body=wire.ok(data), content_type="application/json")

    def _err(self, code: str, msg: str, status: int = 200) -> web.Response:
        return web.Response(body=wire.error(code, msg), status=status, content_type="application/json")

    def http_error_body(self, status: int, retry_after_s: float) -> tuple[bytes, str]:
        if status == 429:
            return wire.dumps({"msg": "Too Many Requests", "code": "50011"}), "application/json"
        return wire.dumps(
            {"msg": "Forbidden", "code": "50013" if status == 418 else "50010"}
        ), "application/json"

    def _market(self, request: web.Request, *, required: bool = True) -> SymbolMarket | web.Response | None:
        inst_id = request.query.get("instId")
        if not inst_id:
            fam = request.query.get("instFamily") or request.query.get("uly")
            if fam:
                inst_id = f"{fam}-SWAP"
        if not inst_id:
            return self._err("50014", "Parameter instId can not be empty", 400) if required else None
        m = self.market_of(inst_id)
        if m is None:
            return self._err("51001", "Instrument ID does not exist")
        return m

    def _int(self, request: web.Request, name: str, default: int | None = None) -> int | None:
        v = request.query.get(name)
        if not v:
            return default
        try:
            return int(v)
        except ValueError:
            return default

    async def rest_time(self, request: web.Request) -> web.Response:
        return self._ok([{"ts": str(self.now_ms())}])

    async def rest_instruments(self, request: web.Request) -> web.Response:
        inst_type = request.query.get("instType", "")
        if inst_type not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
            return self._err("51000", "Parameter instType error", 400)
        if inst_type != "SWAP":
            return self._ok([])
        inst_id = request.query.get("instId")
        fam = request.query.get("instFamily") or request.query.get("uly")
        rows = [
            wire.instrument(i, list_ms=1573557408000)
            for i in self.instruments.values()
            if (inst_id is None or inst_id == i.instrument) and (fam is None or i.instrument == f"{fam}-SWAP")
        ]
        return self._ok(rows)

    async def rest_underlying(self, request: web.Request) -> web.Response:
        if request.query.get("instType") == "SWAP":
            return self._ok([[i.instrument.removesuffix("-SWAP") for i in self.instruments.values()]])
        return self._ok([[]])

    async def rest_open_interest(self, request: web.Request) -> web.Response:
        if request.query.get("instType", "") not in ("SWAP", "FUTURES", "OPTION"):
            return self._err("51000", "Parameter instType error", 400)
        if request.query.get("instType") != "SWAP":
            return self._ok([])
        m = self._market(request, required=False)
        if isinstance(m, web.Response):
            return m
        ts = now_ns()
        rows = []
        for x in [m] if m is not None else list(self.markets.values()):
            oi = x.oi_base or 0.0
            rows.append(
                wire.open_interest_row(
                    OpenInterest(
                        venue=self.venue,
                        symbol=x.inst.symbol,
                        ts_event=ts,
                        ts_recv=ts,
                        oi_base=oi,
                        oi_usd=oi * x.reference_price(),
                    ),
                    x.inst,
                )
            )
        return self._ok(rows)

    async def rest_funding_rate(self, request: web.Request) -> web.Response:
        m = self._market(request)
        if not isinstance(m, SymbolMarket):
            return m  # type: ignore[return-value]
        return self._ok([wire.funding_row(self._funding(m, now_ns()), m.inst, premium=self._premium(m))])

    async def rest_funding_history(self, request: web.Request) -> web.Response:
        m = self._market(request)
        if not isinstance(m, SymbolMarket):
            return m  # type: ignore[return-value]
        limit = max(1, min(400, self._int(request, "limit", 100) or 100))
        t, r = m.funding_series()
        after = self._int(request, "after")  # older than
        before = self._int(request, "before")  # newer than
        keep = t >= 0
        if after is not None:
            keep &= t < after
        if before is not None:
            keep &= t > before
        t, r = t[keep][::-1][:limit], r[keep][::-1][:limit]
        rows = [
            {
                "formulaType": "noRate",
                "fundingRate": wire._rate(rate),
                "fundingTime": str(ts),
                "instId": m.inst.instrument,
                "instType": "SWAP",
                "method": "current_period",
                "realizedRate": wire._rate(rate),
            }
            for ts, rate in zip(t.tolist(), r.tolist(), strict=True)
        ]
        return self._ok(rows)

    async def rest_mark_price(self, request: web.Request) -> web.Response:
        m = self._market(request, required=False)
        if isinstance(m, web.Response):
            return m
        ts = now_ns()
        rows = [
            wire.mark_price_row(
                MarkPrice(
                    venue=self.venue,
                    symbol=x.inst.symbol,
                    ts_event=ts,
                    ts_recv=ts,
                    mark_price=x.reference_price(),
                ),
                x.inst,
            )
            for x in ([m] if m is not None else list(self.markets.values()))
        ]
        return self._ok(rows)

    async def rest_position_tiers(self, request: web.Request) -> web.Response:
        m = self._market(request, required=False)
        if isinstance(m, web.Response):
            return m
        rows = []
        for x in [m] if m is not None else list(self.markets.values()):
            lever = x.inst.max_leverage
            step_usd = 2_000_000 if x.inst.symbol in ("BTC", "ETH") else 200_000
            step = round(step_usd / x.reference_price() / x.inst.contract_size)
            for i in range(5):
                mmr = 0.004 * (1 + i)
                rows.append(
                    {
                        "baseMaxLoan": "",
                        "imr": f"{1 / max(1.0, lever / (1 + i)):.4f}",
                        "instFamily": x.inst.instrument.removesuffix("-SWAP"),
                        "instId": "",
                        "maxLever": f"{max(1.0, lever / (1 + i)):g}",
                        "maxSz": str(step * (i + 1)),
                        "minSz": str(step * i + (1 if i else 0)),
                        "mmr": f"{mmr:.4f}",
                        "optMgnFactor": "0",
                        "quoteMaxLoan": "",
                        "tier": str(i + 1),
                        "uly": x.inst.instrument.removesuffix("-SWAP"),
                    }
                )
        return self._ok(rows)

    async def rest_books(self, request: web.Request) -> web.Response:
        m = self._market(request)
        if not isinstance(m, SymbolMarket):
            return m  # type: ignore[return-value]
        sz = max(1, min(400, self._int(request, "sz", 1) or 1))
        b, a = m.top(sz)
        return self._ok(
            [
                {
                    "asks": wire.book_levels(m.inst, a),
                    "bids": wire.book_levels(m.inst, b),
                    "ts": str(self.now_ms()),
                }
            ]
        )

    async def rest_ticker(self, request: web.Request) -> web.Response:
        m = self._market(request)
        if not isinstance(m, SymbolMarket):
            return m  # type: ignore[return-value]
        return self._ok([self._ticker(m)])

    async def rest_tickers(self, request: web.Request) -> web.Response:
        if request.query.get("instType") != "SWAP":
            return self._ok([])
        return self._ok([self._ticker(m) for m in self.markets.values()])

    async def rest_candles(self, request: web.Request) -> web.Response:
        m = self._market(request)
        if not isinstance(m, SymbolMarket):
            return m  # type: ignore[return-value]
        bar = request.query.get("bar", "1m")
        iv = wire.BARS.get(bar)
        if iv is None:
            return self._err("51000", "Parameter bar error", 400)
        cap = 100 if request.path.endswith("history-candles") else 300
        limit = max(1, min(cap, self._int(request, "limit", 100) or 100))
        after = self._int(request, "after")  # older than
        before = self._int(request, "before")  # newer than
        bars = m.klines(iv, start_ms=None, end_ms=None, limit=1_000_000)
        if after is not None:
            bars = bars[bars[:, 0] < after]
        if before is not None:
            bars = bars[bars[:, 0] > before]
        bars = bars[::-1][:limit]
        now_open = self.now_ms() // iv * iv
        return self._ok([wire.candle_row(b, m.inst, confirm=int(b[0]) < now_open) for b in bars.tolist()])

    async def rest_trades(self, request: web.Request) -> web.Response:
        m = self._market(request)
        if not isinstance(m, SymbolMarket):
            return m  # type: ignore[return-value]
        limit = max(1, min(500, self._int(request, "limit", 100) or 100))
        rows = [
            {
                "instId": m.inst.instrument,
                "side": t.side.value,
                "sz": m.inst.qty(t.qty),
                "px": m.inst.px(t.price),
                "source": "0",
                "tradeId": str(t.trade_id),
                "ts": str(t.ts_ms),
            }
            for t in list(m.recent)[-limit:][::-1]
        ]
        return self._ok(rows)

    async def rest_oi_history(self, request: web.Request) -> web.Response:
        m = self._market(request)
        if not isinstance(m, SymbolMarket):
            return m  # type: ignore[return-value]
        period = request.query.get("period", "5m")
        iv = {
            "5m": 300_000,
            "15m": 900_000,
            "30m": 1_800_000,
            "1H": 3_600_000,
            "2H": 7_200_000,
            "4H": 14_400_000,
            "6H": 21_600_000,
            "12H": 43_200_000,
            "1D": 86_400_000,
        }.get(period)
        if iv is None:
            return self._err("51000", "Parameter period error", 400)
        limit = max(1, min(100, self._int(request, "limit", 100) or 100))
        t, oi = m.oi_series()
        keep = (t % iv) == 0
        begin, end = self._int(request, "begin"), self._int(request, "end")
        if begin is not None:
            keep &= t >= begin
        if end is not None:
            keep &= t <= end
        t, oi = t[keep][::-1][:limit], oi[keep][::-1][:limit]
        ref = m.reference_price()
        rows = [
            [str(ts), m.inst.qty(v), f"{v:.4f}", f"{v * ref:.2f}"]
            for ts, v in zip(t.tolist(), oi.tolist(), strict=True)
        ]
        return self._ok(rows)
