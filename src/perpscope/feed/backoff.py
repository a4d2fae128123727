"""Exponential backoff with jitter for reconnects and retries: never a tight loop."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(kw_only=True)
class Backoff:
    """``next_delay()`` grows ``base·factor^n`` up to ``cap`` seconds, each multiplied by a random factor in
    ``[1 − jitter, 1 + jitter]`` so many clients reconnecting at once spread out. ``reset()`` after a
    connection has been healthy."""

    base_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0
    jitter: float = 0.3
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def next_delay(self) -> float:
        raw = min(self.cap_s, self.base_s * self.factor**self.attempts)
        self.attempts += 1
        spread = 1.0 + self.jitter * (2.0 * self.rng.random() - 1.0)
        return max(0.0, raw * spread)

    def reset(self) -> None:
        self.attempts = 0
