"""Per-venue request budgets (token bucket) with venue-imposed pauses (``Retry-After``, bans)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass(kw_only=True)
class TokenBucket:
    """``capacity`` weight units refilled continuously over ``period_s``. ``acquire(w)`` waits until ``w``
    units are free and any pause the venue imposed (``pause(seconds)``) has passed."""

    capacity: float
    period_s: float
    clock: object = field(default=time.monotonic)
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)
    _paused_until: float = field(init=False, default=0.0)
    _lock: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self._tokens = self.capacity
        self._stamp = self._now()

    def _now(self) -> float:
        return self.clock()  # type: ignore[operator]

    @property
    def rate(self) -> float:
        return self.capacity / self.period_s

    def _refill(self) -> None:
        now = self._now()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def pause(self, seconds: float) -> None:
        """The venue asked us to stop (429 Retry-After, 418/403 ban): no request before ``seconds`` pass."""
        self._paused_until = max(self._paused_until, self._now() + max(0.0, seconds))

    def wait_time(self, weight: float = 1.0) -> float:
        self._refill()
        pause = max(0.0, self._paused_until - self._now())
        short = max(0.0, min(weight, self.capacity) - self._tokens)
        return max(pause, short / self.rate)

    async def acquire(self, weight: float = 1.0) -> None:
        async with self._lock:
            while (delay := self.wait_time(weight)) > 0:
                await asyncio.sleep(delay)
            self._tokens -= min(weight, self.capacity)
