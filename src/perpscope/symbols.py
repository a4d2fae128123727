"""Canonical symbols (``BTC``) and each venue's instrument name for the USDT-margined perpetual.

Binance ``BTCUSDT``, Bybit ``BTCUSDT``, OKX ``BTC-USDT-SWAP``, Hyperliquid ``BTC``.
"""

from __future__ import annotations

from .errors import DecodeError
from .model import Venue

DEFAULT_SYMBOLS: tuple[str, ...] = ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE")


def venue_symbol(venue: Venue | str, symbol: str) -> str:
    """Canonical ``BTC`` → the venue's instrument id."""

    venue = Venue(venue)
    base = symbol.upper()
    if venue in (Venue.BINANCE, Venue.BYBIT):
        return f"{base}USDT"
    if venue is Venue.OKX:
        return f"{base}-USDT-SWAP"
    return base


def canonical_symbol(venue: Venue | str, instrument: str) -> str:
    """The venue's instrument id → canonical ``BTC``. Raises DecodeError for a non-USDT-perp name."""

    venue = Venue(venue)
    name = instrument.strip()
    if venue in (Venue.BINANCE, Venue.BYBIT):
        upper = name.upper()
        if upper.endswith("USDT") and len(upper) > 4:
            return upper[:-4]
        raise DecodeError(f"{venue}: {instrument!r} is not a USDT perpetual")
    if venue is Venue.OKX:
        parts = name.upper().split("-")
        if len(parts) == 3 and parts[1] == "USDT" and parts[2] == "SWAP" and parts[0]:
            return parts[0]
        raise DecodeError(f"okx: {instrument!r} is not a USDT-margined SWAP")
    if not name:
        raise DecodeError("hyperliquid: empty coin")
    return name.upper() if not name.startswith("k") else name  # kPEPE keeps its case


def parse_symbols(text: str | None) -> list[str]:
    """``"btc, eth"`` → ``["BTC", "ETH"]``; None → the default six."""

    if not text:
        return list(DEFAULT_SYMBOLS)
    return [s.strip().upper() for s in text.split(",") if s.strip()]


def parse_venues(text: str | None) -> list[Venue]:
    if not text:
        return list(Venue)
    out = []
    for item in text.split(","):
        item = item.strip().lower()
        if not item:
            continue
        try:
            out.append(Venue(item))
        except ValueError:
            raise ValueError(
                f"unknown venue {item!r}; choose from {', '.join(v.value for v in Venue)}"
            ) from None
    return out
