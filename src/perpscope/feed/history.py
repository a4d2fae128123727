"""Public REST history fetched on demand (not streamed): settled funding rates per venue, paged within
each venue's limits through the rate-limited :class:`~perpscope.feed.http.RestClient`."""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp

from ..model import Funding, Venue
from ..timeutil import NS_PER_MS
from ..venues import binance, bybit, hyperliquid, okx
from .http import RestClient
from .plans import VenueRoots, venue_endpoints

MAX_PAGES = 50  # 90 days of hourly funding is 2,160 rows: a few pages on every venue


async def _binance(client: RestClient, symbol: str, ep: object, start_ms: int, end_ms: int) -> list[Funding]:
    out: list[Funding] = []
    cur = start_ms
    for _ in range(MAX_PAGES):  # oldest first from startTime, 1,000 rows a page
        req = binance.funding_rate_request(symbol, start_ms=cur, end_ms=end_ms, endpoints=ep)  # type: ignore[arg-type]
        page = binance.parse_funding_rate(await client.fetch(Venue.BINANCE, req))
        out += page
        if len(page) < binance.FUNDING_RATE_MAX_LIMIT:
            break
        cur = page[-1].ts_event // NS_PER_MS + 1
    return out


async def _bybit(client: RestClient, symbol: str, ep: object, start_ms: int, end_ms: int) -> list[Funding]:
    out: list[Funding] = []
    cur = end_ms
    for _ in range(MAX_PAGES):  # newest first: page backwards with endTime
        req = bybit.funding_history_request(symbol, start_ms=start_ms, end_ms=cur, endpoints=ep)  # type: ignore[arg-type]
        page = bybit.parse_funding_history(await client.fetch(Venue.BYBIT, req))
        out += page
        if not page:
            break
        oldest = min(f.ts_event for f in page) // NS_PER_MS
        if oldest <= start_ms or oldest - 1 >= cur:
            break
        cur = oldest - 1
    return out


async def _okx(client: RestClient, symbol: str, ep: object, start_ms: int, end_ms: int) -> list[Funding]:
    out: list[Funding] = []
    after: int | None = end_ms + 1
    for _ in range(MAX_PAGES):  # newest first: `after` pages to older rows
        req = okx.funding_rate_history_request(symbol, after_ms=after, endpoints=ep)  # type: ignore[arg-type]
        page = okx.parse_funding_rate_history(await client.fetch(Venue.OKX, req))
        out += page
        if not page:
            break
        oldest = min(f.ts_event for f in page) // NS_PER_MS
        if oldest <= start_ms or (after is not None and oldest >= after):
            break
        after = oldest
    return out


async def _hyperliquid(
    client: RestClient, symbol: str, ep: object, start_ms: int, end_ms: int
) -> list[Funding]:
    out: list[Funding] = []
    cur = start_ms
    for _ in range(MAX_PAGES):  # oldest first from startTime, 500 rows a page
        req = hyperliquid.funding_history_request(symbol, start_ms=cur, end_ms=end_ms, endpoints=ep)  # type: ignore[arg-type]
        page = hyperliquid.parse_funding_history(await client.fetch(Venue.HYPERLIQUID, req))
        out += page
        if not page:
            break
        newest = max(f.ts_event for f in page) // NS_PER_MS
        if newest + 1 >= end_ms or newest + 1 <= cur:
            break
        cur = newest + 1
    return out


_FETCH = {Venue.BINANCE: _binance, Venue.BYBIT: _bybit, Venue.OKX: _okx, Venue.HYPERLIQUID: _hyperliquid}


async def fetch_funding_history(
    *,
    venues: Sequence[Venue],
    symbols: Sequence[str],
    start_ms: int,
    end_ms: int,
    roots: dict[Venue, VenueRoots] | None = None,
) -> tuple[list[Funding], list[str]]:
    """Settled funding of every venue × symbol in ``[start_ms, end_ms]``, de-duplicated and sorted; notes
    name what failed (a venue that cannot be reached does not stop the others)."""

    roots = roots or {}
    events: dict[tuple[str, str, int], Funding] = {}
    notes: list[str] = []
    async with aiohttp.ClientSession() as session:
        client = RestClient(session=session, max_attempts=3)
        for venue in venues:
            ep = venue_endpoints(venue, roots.get(venue))
            for symbol in symbols:
                try:
                    rows = await _FETCH[venue](client, symbol, ep, start_ms, end_ms)
                except Exception as exc:  # report and go on with the other venues
                    notes.append(f"{venue.value} {symbol}: {type(exc).__name__}: {exc}")
                    continue
                for f in rows:
                    if start_ms * NS_PER_MS <= f.ts_event <= end_ms * NS_PER_MS and f.symbol == symbol:
                        events[(f.venue.value, f.symbol, f.ts_event)] = f
    return sorted(events.values(), key=lambda f: (f.venue.value, f.symbol, f.ts_event)), notes
