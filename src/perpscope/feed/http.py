"""Executes ``venues.rest.RestRequest``s with per-venue budgets and the venues' throttling rules.

HTTP 429 → pause for ``Retry-After`` (or a backoff) and retry; 418 (Binance IP ban) and 403 (Bybit's
over-limit ban) → pause for ``Retry-After`` or a long default and fail this request; 5xx and network errors
→ retried with exponential backoff and jitter. Never a tight retry loop.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from ..errors import PerpscopeError
from ..model import Venue
from ..venues.rest import RestRequest
from .backoff import Backoff
from .ratelimit import TokenBucket

# Public REST budgets per IP (venues.md, late 2026), expressed as weight per period.
REST_BUDGETS: dict[Venue, tuple[float, float]] = {
    Venue.BINANCE: (2400.0, 60.0),  # 2,400 weight / min
    Venue.BYBIT: (600.0, 5.0),  # 600 requests / 5 s (403 + ≥10 min ban beyond)
    Venue.OKX: (20.0, 2.0),  # 20 requests / 2 s typical per endpoint
    Venue.HYPERLIQUID: (1200.0, 60.0),  # 1,200 weight / min
}
BAN_DEFAULT_S = 600.0  # when a 418/403 comes without Retry-After


class RestError(PerpscopeError):
    def __init__(self, request: RestRequest, status: int | None, reason: str) -> None:
        super().__init__(f"{request.method} {request.url}: {status or 'network'}: {reason}")
        self.request = request
        self.status = status
        self.reason = reason


class Banned(RestError):
    """The venue banned or blocked this IP for a while (HTTP 418/403/451)."""


def retry_after_seconds(headers: object, default: float) -> float:
    value = getattr(headers, "get", lambda _k: None)("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default


@dataclass(kw_only=True)
class RestClient:
    """One per process; share the aiohttp session. ``stats`` counts outcomes per venue and status."""

    session: aiohttp.ClientSession
    max_attempts: int = 5
    timeout_s: float = 10.0
    budgets: dict[Venue, TokenBucket] = field(default_factory=dict)
    stats: Counter[str] = field(default_factory=Counter)

    def bucket(self, venue: Venue) -> TokenBucket:
        if venue not in self.budgets:
            cap, period = REST_BUDGETS[venue]
            self.budgets[venue] = TokenBucket(capacity=cap, period_s=period)
        return self.budgets[venue]

    async def fetch(self, venue: Venue, request: RestRequest) -> bytes:
        """The response body of a successful (2xx) request; RestError/Banned otherwise."""

        bucket = self.bucket(venue)
        backoff = Backoff(base_s=0.5, cap_s=20.0)
        last: RestError | None = None
        for _ in range(self.max_attempts):
            await bucket.acquire(request.weight)
            try:
                async with self.session.request(
                    request.method,
                    request.url,
                    json=request.json_body,
                    timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                ) as resp:
                    body = await resp.read()
                    status = resp.status
                    headers = resp.headers
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.stats[f"{venue}:network"] += 1
                last = RestError(request, None, type(exc).__name__ + (f": {exc}" if str(exc) else ""))
                await asyncio.sleep(backoff.next_delay())
                continue
            self.stats[f"{venue}:{status}"] += 1
            if 200 <= status < 300:
                return body
            text = body[:200].decode("utf-8", "replace")
            if status == 429:
                bucket.pause(retry_after_seconds(headers, backoff.next_delay()))
                last = RestError(request, status, f"rate limited: {text}")
                continue
            if status in (418, 403, 451):
                bucket.pause(retry_after_seconds(headers, BAN_DEFAULT_S))
                raise Banned(request, status, text)
            if status >= 500:
                last = RestError(request, status, text)
                await asyncio.sleep(backoff.next_delay())
                continue
            raise RestError(request, status, text)
        assert last is not None
        raise last
