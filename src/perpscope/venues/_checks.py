"""Sanity checks every adapter applies to numbers from the wire, so a bad value becomes a counted
``DecodeError`` instead of a corrupt event."""

from __future__ import annotations

import math

from ..errors import DecodeError

# Far above anything real (BTC notional of one print ≈ 1e9 USD at the very most), far below overflow.
MAX_PRICE = 1e9
MAX_QUANTITY = 1e13
MAX_NOTIONAL_USD = 1e11


def to_float(value: object, name: str) -> float:
    """A venue number (usually a decimal string) → float; DecodeError for non-numeric text or NaN/inf."""

    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DecodeError(f"{name}: not a number: {value!r}") from None
    if not math.isfinite(x):
        raise DecodeError(f"{name}: not finite: {value!r}")
    return x


def check_price(x: float, name: str = "price") -> float:
    if not (math.isfinite(x) and 0.0 < x <= MAX_PRICE):
        raise DecodeError(f"{name}: must be > 0 and <= {MAX_PRICE:g}, got {x!r}")
    return x


def check_quantity(x: float, name: str = "quantity", *, allow_zero: bool = False) -> float:
    ok = x >= 0.0 if allow_zero else x > 0.0
    if not (math.isfinite(x) and ok and x <= MAX_QUANTITY):
        bound = ">= 0" if allow_zero else "> 0"
        raise DecodeError(f"{name}: must be {bound} and <= {MAX_QUANTITY:g}, got {x!r}")
    return x


def check_notional(x: float, name: str = "notional_usd") -> float:
    if not (math.isfinite(x) and 0.0 <= x <= MAX_NOTIONAL_USD):
        raise DecodeError(f"{name}: absurd notional {x!r} USD (limit {MAX_NOTIONAL_USD:g})")
    return x


def check_ts_ms(x: int, name: str = "timestamp") -> int:
    """Epoch ms between 2010 and 2100."""

    if not (1_262_304_000_000 <= x <= 4_102_444_800_000):
        raise DecodeError(f"{name}: epoch ms out of range: {x!r}")
    return x
