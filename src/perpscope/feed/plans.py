"""What to connect to, per venue: the connection plans (URLs, subscribe frames, keepalive, rotation) built
from each venue adapter's own URL and subscription builders, and endpoint overrides (the emulator)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..model import Venue
from ..venues import binance, bybit, hyperliquid, okx
from .session import ConnectionPlan, Keepalive

ROTATE_BEFORE_S = 23.5 * 3600  # Binance cuts connections at 24 h: rotate before it, on our schedule


@dataclass(frozen=True, kw_only=True)
class VenueRoots:
    """Root URLs of a venue's servers, e.g. the emulator's ``{"ws": "ws://127.0.0.1:P", "rest": "http://…"}``;
    each venue's real paths are appended to them."""

    ws: str
    rest: str


def venue_endpoints(venue: Venue, roots: VenueRoots | None) -> object:
    """The venue module's ``Endpoints`` (defaults: the real venue), or one rooted at ``roots``."""

    if roots is None:
        return {
            Venue.BINANCE: binance.ENDPOINTS,
            Venue.BYBIT: bybit.ENDPOINTS,
            Venue.OKX: okx.ENDPOINTS,
            Venue.HYPERLIQUID: hyperliquid.Endpoints(),
        }[venue]
    ws, rest = roots.ws.rstrip("/"), roots.rest.rstrip("/")
    if venue is Venue.BINANCE:
        return binance.Endpoints(ws=ws, rest=rest)
    if venue is Venue.BYBIT:
        return bybit.Endpoints(ws=ws + "/v5/public/linear", rest=rest)
    if venue is Venue.OKX:
        return okx.Endpoints(ws_public=ws + "/ws/v5/public", ws_business=ws + "/ws/v5/business", rest=rest)
    return hyperliquid.Endpoints(ws=ws + "/ws", rest=rest)


def roots_from_json(obj: Mapping[str, Mapping[str, str]]) -> dict[Venue, VenueRoots]:
    """The emulator's endpoints line → overrides per venue."""

    return {Venue(k): VenueRoots(ws=v["ws"], rest=v["rest"]) for k, v in obj.items()}


def connection_plans(
    venue: Venue,
    symbols: Sequence[str],
    *,
    roots: VenueRoots | None = None,
    books: bool = True,
    stale_after_s: float = 30.0,
) -> list[ConnectionPlan]:
    """Every connection needed for ``symbols`` on ``venue``: liquidations, trades, funding/mark, open
    interest where streamed, klines, and (with ``books``) the order book."""

    ep = venue_endpoints(venue, roots)
    if venue is Venue.BINANCE:
        streams: list[str] = []
        for s in symbols:
            streams += [
                binance.liquidation_stream(s),
                binance.agg_trade_stream(s),
                binance.mark_price_stream(s),
                binance.kline_stream(s, interval="1m"),
            ]
            if books:
                streams.append(binance.depth_stream(s, speed_ms=100))
        return [
            ConnectionPlan(
                venue=venue,
                stream=f"binance/{binance.PUBLIC_ROUTE if '/public/' in url else binance.MARKET_ROUTE}/{i}",
                url=url,
                keepalive=None,  # the server pings every 3 min; aiohttp answers with pongs
                stale_after_s=max(stale_after_s, 60.0),
                rotate_after_s=ROTATE_BEFORE_S,
                books=books and "/public/" in url,
            )
            for i, url in enumerate(binance.combined_stream_urls(streams, endpoints=ep))  # type: ignore[arg-type]
        ]
    if venue is Venue.BYBIT:
        topics: list[str] = []
        for s in symbols:
            topics += [
                bybit.liquidation_topic(s),
                bybit.trade_topic(s),
                bybit.tickers_topic(s),
                bybit.kline_topic(s),
            ]
            if books:
                topics.append(bybit.orderbook_topic(s, depth=200))
        return [
            ConnectionPlan(
                venue=venue,
                stream=f"bybit/linear/{i}",
                url=ep.ws,  # type: ignore[attr-defined]
                subscribe=tuple(m.decode() for m in msgs),
                keepalive=Keepalive(message=bybit.PING_MESSAGE.decode(), interval_s=bybit.PING_INTERVAL_S),
                stale_after_s=stale_after_s,
                books=books,
            )
            for i, msgs in enumerate(bybit.subscribe_messages(topics))
        ]
    if venue is Venue.OKX:
        channels = ["liquidation-orders", "trades", "open-interest", "funding-rate", "mark-price", "candle1m"]
        if books:
            channels.append("books")
        plans = []
        for url, msgs in okx.subscriptions(symbols, channels=channels, endpoints=ep).items():  # type: ignore[arg-type]
            plans.append(
                ConnectionPlan(
                    venue=venue,
                    stream="okx/business" if "business" in url else "okx/public",
                    url=url,
                    subscribe=tuple(msgs),
                    keepalive=Keepalive(
                        message=okx.PING_TEXT, interval_s=okx.PING_AFTER_IDLE_S, idle_only=True
                    ),
                    stale_after_s=max(stale_after_s, okx.PING_AFTER_IDLE_S + 5.0),
                    books=books and "business" not in url,
                )
            )
        return plans
    kinds = ["trades", "activeAssetCtx", "candle"] + (["l2Book"] if books else [])
    return [
        ConnectionPlan(
            venue=venue,
            stream="hyperliquid/ws",
            url=ep.ws,  # type: ignore[attr-defined]
            subscribe=tuple(hyperliquid.subscriptions(symbols, kinds=kinds)),
            keepalive=Keepalive(message=hyperliquid.PING_MESSAGE, interval_s=hyperliquid.PING_INTERVAL_S),
            stale_after_s=max(stale_after_s, hyperliquid.PING_INTERVAL_S + 10.0),
            books=books,
        )
    ]
