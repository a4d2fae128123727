"""Query-parameter validation of the dashboard API: every bad value is an :class:`ApiError` (JSON 400)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..model import Venue
from ..timeutil import NS_PER_S

SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,10}$")
WINDOWS: dict[str, int] = {
    "12h": 12 * 3600,
    "1d": 86_400,
    "3d": 3 * 86_400,
    "7d": 7 * 86_400,
    "30d": 30 * 86_400,
    "90d": 90 * 86_400,
    "180d": 180 * 86_400,
    "1y": 365 * 86_400,
}
WINDOW_ALIASES = {"24h": "1d", "1w": "7d", "365d": "1y"}  # the CLI's spellings of the same windows


class ApiError(Exception):
    """A client error answered as ``{"error": ...}`` with ``status``."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


Query = Mapping[str, str]


def symbol(q: Query) -> str:
    s = q.get("symbol", "BTC").upper()
    if not SYMBOL_RE.match(s):
        raise ApiError("bad symbol: use 2-10 letters/digits, e.g. BTC")
    return s


def window(q: Query, default: str = "7d") -> str:
    w = q.get("window", default)
    w = WINDOW_ALIASES.get(w, w)
    if w not in WINDOWS:
        raise ApiError(f"bad window: one of {', '.join(WINDOWS)}")
    return w


def window_ns(name: str) -> int:
    return WINDOWS[name] * NS_PER_S


def venues(q: Query) -> tuple[Venue, ...] | None:
    """``venues=okx,bybit`` → sorted unique venues (None: all)."""

    raw = q.get("venues", "")
    if not raw:
        return None
    out: set[Venue] = set()
    for part in raw.split(","):
        try:
            out.add(Venue(part.strip().lower()))
        except ValueError:
            raise ApiError(f"bad venue: one of {', '.join(v.value for v in Venue)}") from None
    return tuple(sorted(out, key=lambda v: v.value))


def leverage(q: Query) -> tuple[float, ...] | None:
    raw = q.get("leverage", "")
    if not raw:
        return None
    try:
        out = [float(x) for x in raw.split(",")]
    except ValueError:
        raise ApiError("bad leverage: comma-separated numbers, e.g. 25,50,100") from None
    if not all(1 <= x <= 200 for x in out):
        raise ApiError("bad leverage: each within 1..200")
    return tuple(sorted(set(out)))


def index(q: Query, name: str, size: int) -> int:
    """A required integer index ``0 <= value < size``."""

    raw = q.get(name)
    if raw is None:
        raise ApiError(f"missing {name}")
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(f"bad {name}: an integer") from None
    if not 0 <= value < size:
        raise ApiError(f"bad {name}: within 0..{size - 1}")
    return value
