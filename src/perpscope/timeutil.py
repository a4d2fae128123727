"""Time helpers: integer nanoseconds UTC inside, ms at the venue/file edges. No naive datetimes."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d|w|y)\s*$", re.IGNORECASE)
_UNIT_NS = {
    "ms": NS_PER_MS,
    "s": NS_PER_S,
    "m": 60 * NS_PER_S,
    "min": 60 * NS_PER_S,
    "h": 3600 * NS_PER_S,
    "d": 86400 * NS_PER_S,
    "w": 7 * 86400 * NS_PER_S,
    "y": 365 * 86400 * NS_PER_S,
}


def now_ns() -> int:
    return time.time_ns()


def ms_to_ns(ms: int | float | str) -> int:
    return int(ms) * NS_PER_MS if not isinstance(ms, float) else round(ms * NS_PER_MS)


def ns_to_ms(ns: int) -> int:
    return ns // NS_PER_MS


def parse_duration_ns(text: str) -> int:
    """``"10m"``, ``"24h"``, ``"3d"``, ``"1y"``, ``"500ms"`` → nanoseconds."""

    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"bad duration {text!r}: use a number and one of ms, s, m, h, d, w, y (e.g. 24h)")
    return int(float(m.group(1)) * _UNIT_NS[m.group(2).lower()])


def parse_time_ns(text: str | int) -> int:
    """An ISO-8601 time (``2026-05-30T12:00``, ``Z`` or offset; naive means UTC), or epoch milliseconds,
    → nanoseconds UTC."""

    if isinstance(text, int):
        return text * NS_PER_MS
    s = text.strip()
    if re.fullmatch(r"-?\d+", s):
        return int(s) * NS_PER_MS
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad time {text!r}: use ISO-8601 (2026-05-30T12:00Z) or epoch ms") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * NS_PER_S + dt.microsecond * 1000


def format_ns(ns: int, *, ms: bool = False) -> str:
    """ns → ``2026-05-30 12:00:00`` UTC (``.123`` with ms=True)."""

    dt = datetime.fromtimestamp(ns / NS_PER_S, tz=UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if ms else dt.strftime("%Y-%m-%d %H:%M:%S")
