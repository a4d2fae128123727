"""Emulated Hyperliquid: WebSocket ``/ws`` and ``POST /info`` on one loopback port.

Protocol (https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket):
``{"method":"subscribe","subscription":{"type":"trades","coin":"BTC"}}`` →
``{"channel":"subscriptionResponse","data":{"method":"subscribe","subscription":{…}}}``; ``{"method":"ping"}``
→ ``{"channel":"pong"}``; a connection that sends nothing for ``hyperliquid_idle_timeout_s`` (60 s) is
closed. ``l2Book`` pushes a full top-20 snapshot per block (``hyperliquid_block_s``) when the book changed and
once on subscribe; ``activeAssetCtx`` carries funding, two-sided open interest and mark/oracle prices. There
is no public liquidation feed.
"""

from __future__ import annotations

import asyncio
import math

import msgspec
from aiohttp import web

from ...model import Funding, MarkPrice, OpenInterest, PriceLevel, Trade, Venue
from ...timeutil import NS_PER_MS, NS_PER_S, now_ns
from . import wire_hyperliquid as wire
from .market import INTERVAL_MS, SymbolMarket, live_bar
from .server import Conn, VenueServer

BOOK_LEVELS = 20
SUB_TYPES = frozenset({"trades", "l2Book", "bbo", "candle", "activeAssetCtx", "allMids"})
USER_TYPES = frozenset(
    {
        "userFills",
        "orderUpdates",
        "userEvents",
        "userFundings",
        "notification",
        "webData2",
        "clearinghouseState",
        "openOrders",
    }
)

_json = msgspec.json.Decoder()


def _aggregate(levels: list[PriceLevel], sig_figs: int, *, is_bid: bool) -> list[PriceLevel]:
    """``nSigFigs``: prices rounded to that many significant figures (bids down, asks up), sizes summed."""

    out: dict[float, float] = {}
    for p, q in levels:
        step = 10.0 ** (math.floor(math.log10(p)) - sig_figs + 1)
        k = math.floor(p / step) if is_bid else math.ceil(p / step)
        px = round(k * step, 10)
        out[px] = out.get(px, 0.0) + q
    items = sorted(out.items(), reverse=is_bid)
    return items


class HyperliquidServer(VenueServer):
    venue = Venue.HYPERLIQUID
    packs_trades = True

    def setup_routes(self) -> None:
        self.app.router.add_get("/ws", self.ws_handler)
        self.app.router.add_post("/info", self.rest_info)
        self._tid = 100_000_000_000
        self._pushed_version: dict[str, int] = {}
        self._candle_open: dict[tuple[str, str], int] = {}
        self._skip_book: dict[str, int] = {}
        self._block_task: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> None:
        await super().start(host, port)
        self.spawn(self._blocks())

    # ------------------------------------------------------------------ websocket
    async def ws_handler(self, request: web.Request) -> web.StreamResponse:
        return await self.websocket(request)

    def _error(self, conn: Conn, text: str) -> None:
        conn.send(wire.dumps({"channel": "error", "data": text}), control=True)

    @staticmethod
    def _key(sub: dict[str, object]) -> str:
        t = sub.get("type")
        if t == "allMids":
            return "allMids"
        if t == "candle":
            return f"candle:{sub.get('coin')}:{sub.get('interval')}"
        if t == "l2Book":
            n = sub.get("nSigFigs")
            return f"l2Book:{sub.get('coin')}" + (f":{n}" if n else "")
        if t in USER_TYPES:
            return f"{t}:{sub.get('user')}"
        return f"{t}:{sub.get('coin')}"

    async def on_text(self, conn: Conn, text: str) -> None:
        try:
            msg = _json.decode(text)
        except msgspec.DecodeError:
            self._error(conn, f"Error parsing JSON into valid websocket request: {text[:100]}")
            return
        if not isinstance(msg, dict):
            self._error(conn, f"Error parsing JSON into valid websocket request: {text[:100]}")
            return
        method = msg.get("method")
        if method == "ping":
            if not self.stalled:
                conn.send(b'{"channel":"pong"}', control=True)
            return
        if method == "post":
            await self._post(conn, msg)
            return
        if method not in ("subscribe", "unsubscribe"):
            self._error(conn, f"Error parsing JSON into valid websocket request: {text[:100]}")
            return
        sub = msg.get("subscription")
        if not isinstance(sub, dict) or not self._valid(sub):
            self._error(conn, f"Invalid subscription {msgspec.json.encode(sub).decode()[:200]}")
            return
        key = self._key(sub)
        if method == "subscribe":
            if key in conn.subs:
                self._error(conn, f"Already subscribed: {msgspec.json.encode(sub).decode()}")
                return
            conn.send(
                wire.dumps(
                    {"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": sub}}
                ),
                control=True,
            )
            self.subscribe(conn, key)
            self._initial(conn, sub, key)
        else:
            if not self.unsubscribe(conn, key):
                self._error(conn, f"Already unsubscribed: {msgspec.json.encode(sub).decode()}")
                return
            conn.send(
                wire.dumps(
                    {
                        "channel": "subscriptionResponse",
                        "data": {"method": "unsubscribe", "subscription": sub},
                    }
                ),
                control=True,
            )

    def _valid(self, sub: dict[str, object]) -> bool:
        t = sub.get("type")
        if t in USER_TYPES:
            return isinstance(sub.get("user"), str)
        if t not in SUB_TYPES:
            return False
        if t == "allMids":
            return True
        if self.market_of(str(sub.get("coin", ""))) is None:
            return False
        if t == "candle":
            return sub.get("interval") in INTERVAL_MS
        if t == "l2Book":
            n = sub.get("nSigFigs")
            return n is None or (isinstance(n, int) and 2 <= n <= 5)
        return True

    async def _post(self, conn: Conn, msg: dict[str, object]) -> None:
        req = msg.get("request")
        req_id = msg.get("id")
        if not isinstance(req, dict) or req.get("type") != "info" or not isinstance(req.get("payload"), dict):
            conn.send(
                wire.dumps(
                    {
                        "channel": "post",
                        "data": {"id": req_id, "response": {"type": "error", "payload": "unsupported post"}},
                    }
                ),
                control=True,
            )
            return
        body, status = self._info(req["payload"])  # type: ignore[arg-type]
        payload = msgspec.json.decode(body) if status == 200 else body.decode()
        conn.send(
            wire.dumps(
                {
                    "channel": "post",
                    "data": {
                        "id": req_id,
                        "response": {
                            "type": "info",
                            "payload": {"type": req["payload"].get("type"), "data": payload},
                        },
                    },
                }
            ),
            control=True,
        )  # type: ignore[union-attr]

    def _book_levels(
        self, m: SymbolMarket, sig_figs: int | None
    ) -> tuple[list[PriceLevel], list[PriceLevel]]:
        if sig_figs is None:
            return m.top(BOOK_LEVELS)
        b, a = m.top(BOOK_LEVELS * 20)
        return _aggregate(b, sig_figs, is_bid=True)[:BOOK_LEVELS], _aggregate(a, sig_figs, is_bid=False)[
            :BOOK_LEVELS
        ]

    def _initial(self, conn: Conn, sub: dict[str, object], key: str) -> None:
        t = sub.get("type")
        if t == "allMids":
            conn.send(self._all_mids())
            return
        m = self.market_of(str(sub.get("coin", "")))
        if m is None:
            return
        ts_ms = self.now_ms()
        if t == "l2Book":
            n = sub.get("nSigFigs")
            b, a = self._book_levels(m, n if isinstance(n, int) else None)
            conn.send(wire.l2_book(m.inst, b, a, time_ms=ts_ms))
        elif t == "activeAssetCtx" and m.mark is not None:
            conn.send(wire.active_asset_ctx(m.inst, self._ctx(m, now_ns())))
        elif t == "bbo":
            b, a = m.top(1)
            conn.send(wire.bbo(m.inst, b[0] if b else None, a[0] if a else None, time_ms=ts_ms))

    def _ctx(self, m: SymbolMarket, ts: int) -> dict[str, object]:
        inst = m.inst
        mark = MarkPrice(
            venue=self.venue,
            symbol=inst.symbol,
            ts_event=ts,
            ts_recv=ts,
            mark_price=m.mark or m.reference_price(),
            index_price=m.index,
        )
        funding = Funding(
            venue=self.venue,
            symbol=inst.symbol,
            ts_event=ts,
            ts_recv=ts,
            rate=m.funding_rate,
            interval_hours=1.0,
        )
        oi = None
        if m.oi_base is not None:
            oi = OpenInterest(
                venue=self.venue,
                symbol=inst.symbol,
                ts_event=ts,
                ts_recv=ts,
                oi_base=m.oi_base,
                oi_usd=m.oi_base * mark.mark_price,
            )
        return wire.asset_ctx(
            inst, mark=mark, funding=funding, oi=oi, mid=m.mid(), day_volume_base=m.volume_24h
        )

    def _all_mids(self) -> bytes:
        mids = {m.inst.instrument: m.inst.px(m.mid() or m.reference_price()) for m in self.markets.values()}
        return wire.dumps({"channel": "allMids", "data": {"mids": mids}})

    async def _blocks(self) -> None:
        """Each block: l2Book snapshots of books that changed, bbo, allMids."""

        period = max(0.05, self.config.hyperliquid_block_s)
        while True:
            await asyncio.sleep(period)
            try:
                self._push_blocks()
            except Exception:  # never let a push kill the block loop
                import logging

                logging.getLogger(__name__).exception("hyperliquid block push failed")

    def _push_blocks(self) -> None:
        ts_ms = self.now_ms()
        any_change = False
        for sym, m in self.markets.items():
            if self._pushed_version.get(sym) == m.book_version:
                continue
            self._pushed_version[sym] = m.book_version
            any_change = True
            coin = m.inst.instrument
            if self.gap_token != self._skip_book.get(sym, 0):
                # gap fault: one block is not sent (undetectable by clients: l2Book has no sequence)
                self._skip_book[sym] = self.gap_token
                if self.has_subscribers(f"l2Book:{coin}"):
                    self.fault_log.log(
                        "gap",
                        self.venue,
                        symbol=sym,
                        stream=f"l2Book:{coin}",
                        skipped_block_ms=ts_ms,
                        detectable=False,
                    )
                continue
            for key in [
                k for k in self.subscribers if k == f"l2Book:{coin}" or k.startswith(f"l2Book:{coin}:")
            ]:
                parts = key.split(":")
                b, a = self._book_levels(m, int(parts[2]) if len(parts) == 3 else None)
                self.publish(key, wire.l2_book(m.inst, b, a, time_ms=ts_ms))
            if self.has_subscribers(f"bbo:{coin}"):
                b, a = m.top(1)
                self.publish(
                    f"bbo:{coin}", wire.bbo(m.inst, b[0] if b else None, a[0] if a else None, time_ms=ts_ms)
                )
        if any_change and self.has_subscribers("allMids"):
            self.publish("allMids", self._all_mids())

    def tick_1s(self, now_ms: int) -> None:
        idle_ns = int(self.config.hyperliquid_idle_timeout_s * NS_PER_S)
        now = now_ns()
        for conn in list(self.conns):
            if now - conn.last_client_msg_ns > idle_ns:
                self.spawn(conn.close(1000, b"idle"))
        for key in [k for k in self.subscribers if k.startswith("candle:")]:
            _, coin, interval = key.split(":", 2)
            m = self.market_of(coin)
            iv = INTERVAL_MS.get(interval)
            if m is None or iv is None:
                continue
            open_ms = now_ms // iv * iv
            prev = self._candle_open.get((coin, interval))
            if prev is not None and prev < open_ms and (row := live_bar(m, iv, prev)) is not None:
                self.publish(
                    key,
                    wire.dumps(
                        {
                            "channel": "candle",
                            "data": wire.candle_data(m.inst, row, interval=interval, interval_ms=iv),
                        }
                    ),
                )
            self._candle_open[(coin, interval)] = open_ms
            if (row := live_bar(m, iv, open_ms)) is not None:
                self.publish(
                    key,
                    wire.dumps(
                        {
                            "channel": "candle",
                            "data": wire.candle_data(m.inst, row, interval=interval, interval_ms=iv),
                        }
                    ),
                )

    # ------------------------------------------------------------------ publishers
    def on_book(
        self, m: SymbolMarket, ts_ns: int, bids: list[PriceLevel], asks: list[PriceLevel], *, snapshot: bool
    ) -> None:
        pass  # l2Book snapshots go out per block (see _blocks)

    def on_trade(self, m: SymbolMarket, trade: Trade) -> None:
        self._tid += 1
        key = f"trades:{m.inst.instrument}"
        if self.has_subscribers(key):
            tid = int(trade.trade_id) if trade.trade_id.isdigit() else self._tid
            self.publish(key, wire.trades(trade, m.inst, tid=tid))

    def on_mark(self, m: SymbolMarket, mark: MarkPrice) -> None:
        key = f"activeAssetCtx:{m.inst.instrument}"
        if self.has_subscribers(key):
            self.publish(key, wire.active_asset_ctx(m.inst, self._ctx(m, mark.ts_event)))

    # ------------------------------------------------------------------ info
    def http_error_body(self, status: int, retry_after_s: float) -> tuple[bytes, str]:
        return (
            b"null" if status == 429 else b"Forbidden",
            "application/json" if status == 429 else "text/plain",
        )

    async def rest_info(self, request: web.Request) -> web.Response:
        try:
            body = msgspec.json.decode(await request.read())
        except msgspec.DecodeError:
            return web.Response(status=422, text="Failed to deserialize the JSON body into the target type")
        if not isinstance(body, dict):
            return web.Response(status=422, text="Failed to deserialize the JSON body into the target type")
        data, status = self._info(body)
        if status != 200:
            return web.Response(status=status, body=data, content_type="text/plain")
        return web.Response(body=data, content_type="application/json")

    def _meta(self) -> dict[str, object]:
        universe, tables = [], []
        for i, m in enumerate(self.markets.values()):
            lev = int(m.inst.max_leverage)
            tid = 50 + i
            universe.append(wire.universe_entry(m.inst, margin_table_id=tid))
            tiers = [{"lowerBound": "0.0", "maxLeverage": lev}]
            if lev >= 20:
                tiers.append({"lowerBound": "150000000.0", "maxLeverage": max(1, lev // 2)})
            tables.append([tid, {"description": f"tiered {lev}x", "marginTiers": tiers}])
        return {"universe": universe, "marginTables": tables, "collateralToken": 0}

    def _info(self, body: dict[str, object]) -> tuple[bytes, int]:
        kind = body.get("type")
        now = now_ns()
        if kind == "meta":
            return wire.dumps(self._meta()), 200
        if kind == "metaAndAssetCtxs":
            if body.get("dex"):
                return wire.dumps([{"universe": [], "marginTables": []}, []]), 200
            return wire.dumps([self._meta(), [self._ctx(m, now) for m in self.markets.values()]]), 200
        if kind == "spotMeta":
            return wire.dumps(
                {
                    "universe": [],
                    "tokens": [
                        {
                            "name": "USDC",
                            "szDecimals": 8,
                            "weiDecimals": 8,
                            "index": 0,
                            "tokenId": "0x6d1e7cde53ba9467b783cb7c530ce054",
                            "isCanonical": True,
                            "evmContract": None,
                            "fullName": None,
                        }
                    ],
                }
            ), 200
        if kind == "spotMetaAndAssetCtxs":
            return wire.dumps([{"universe": [], "tokens": []}, []]), 200
        if kind == "perpDexs":
            return b"[null]", 200
        if kind == "allMids":
            return wire.dumps(
                {m.inst.instrument: m.inst.px(m.mid() or m.reference_price()) for m in self.markets.values()}
            ), 200
        if kind == "exchangeStatus":
            return wire.dumps({"time": now // NS_PER_MS, "specialStatuses": None}), 200
        if kind in ("clearinghouseState",):
            return wire.dumps(
                {
                    "marginSummary": {
                        "accountValue": "0.0",
                        "totalNtlPos": "0.0",
                        "totalRawUsd": "0.0",
                        "totalMarginUsed": "0.0",
                    },
                    "crossMarginSummary": {
                        "accountValue": "0.0",
                        "totalNtlPos": "0.0",
                        "totalRawUsd": "0.0",
                        "totalMarginUsed": "0.0",
                    },
                    "crossMaintenanceMarginUsed": "0.0",
                    "withdrawable": "0.0",
                    "assetPositions": [],
                    "time": now // NS_PER_MS,
                }
            ), 200
        coin = body.get("coin")
        req = body.get("req") if isinstance(body.get("req"), dict) else None
        if kind == "candleSnapshot" and req is not None:
            coin = req.get("coin")  # type: ignore[union-attr]
        m = self.market_of(str(coin)) if coin is not None else None
        if kind == "l2Book":
            if m is None:
                return b"null", 200
            n = body.get("nSigFigs")
            b, a = self._book_levels(m, n if isinstance(n, int) else None)
            return wire.dumps(wire.l2_book_data(m.inst, b, a, time_ms=now // NS_PER_MS)), 200
        if kind == "fundingHistory":
            if m is None:
                return b"Failed to deserialize the JSON body into the target type", 422
            start = int(body.get("startTime") or 0)  # type: ignore[call-overload]
            end = body.get("endTime")
            t, r = m.funding_series()
            keep = t >= start
            if end is not None:
                keep &= t <= int(end)  # type: ignore[call-overload]
            rows = [
                {"coin": m.inst.instrument, "fundingRate": wire._num(rate), "premium": "0.0", "time": int(ts)}
                for ts, rate in zip(t[keep][:500].tolist(), r[keep][:500].tolist(), strict=True)
            ]
            return wire.dumps(rows), 200
        if kind == "predictedFundings":
            rows = []
            for x in self.markets.values():
                nxt = (now // NS_PER_MS // 3_600_000 + 1) * 3_600_000
                rows.append(
                    [
                        x.inst.instrument,
                        [
                            [
                                "HlPerp",
                                {
                                    "fundingRate": wire._num(x.funding_rate),
                                    "nextFundingTime": nxt,
                                    "fundingIntervalHours": 1,
                                },
                            ]
                        ],
                    ]
                )
            return wire.dumps(rows), 200
        if kind == "candleSnapshot":
            if m is None or req is None:
                return b"Failed to deserialize the JSON body into the target type", 422
            interval = str(req.get("interval"))
            iv = INTERVAL_MS.get(interval)
            if iv is None:
                return b"Failed to deserialize the JSON body into the target type", 422
            start = req.get("startTime")
            end = req.get("endTime")
            bars = m.klines(
                iv,
                start_ms=int(start) if start is not None else None,
                end_ms=int(end) if end is not None else None,
                limit=5000,
            )  # type: ignore[call-overload]
            return wire.dumps(
                [wire.candle_data(m.inst, row, interval=interval, interval_ms=iv) for row in bars.tolist()]
            ), 200
        return b"Failed to deserialize the JSON body into the target type", 422
