"""What the emulator needs to know about each venue instrument: id, tick, lot, contract size, and how the
venue prints numbers. Values come from the project's instrument snapshot (``perpscope.venues.instruments``)
so the OKX contract size the emulator divides by is the one the decoder multiplies by."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

from ...model import Venue
from ...symbols import venue_symbol
from ...venues.instruments import Instruments

# Starting prices of the built-in generator and the tick fallback for symbols missing from the snapshot.
REFERENCE_PRICES: dict[str, float] = {
    "BTC": 60_000.0,
    "ETH": 3_000.0,
    "SOL": 150.0,
    "BNB": 550.0,
    "XRP": 0.6,
    "DOGE": 0.12,
}

# Venues printing a fixed number of decimals ("61800.20"); OKX and Hyperliquid print the shortest form.
_FIXED_DECIMALS = frozenset({Venue.BINANCE, Venue.BYBIT})


def _decimals(step: float) -> int:
    """Decimal places of a tick or lot: 0.1 → 1, 1e-05 → 5, 1.0 → 0."""

    exp = Decimal(repr(step)).normalize().as_tuple().exponent
    return max(0, -int(exp))


def hyperliquid_tick(price: float, sz_decimals: int) -> float:
    """Hyperliquid prices: at most 5 significant figures and at most ``6 - szDecimals`` decimals."""

    if price <= 0:
        return 10.0 ** -(6 - sz_decimals)
    sig = 10.0 ** (math.floor(math.log10(price)) - 4)
    return max(sig, 10.0 ** -(6 - sz_decimals))


@dataclass(frozen=True, kw_only=True)
class EmuInstrument:
    """One venue instrument as the emulator prints it. ``lot`` is in the venue's size unit (contracts on
    OKX); ``contract_size`` is base coin per contract (1 except OKX)."""

    venue: Venue
    symbol: str  # canonical "BTC"
    instrument: str  # venue id "BTCUSDT", "BTC-USDT-SWAP", "BTC"
    tick: float
    lot: float
    contract_size: float = 1.0
    max_leverage: float = 50.0
    funding_interval_hours: float = 8.0

    @cached_property
    def tick_decimals(self) -> int:
        return _decimals(self.tick)

    @cached_property
    def price_decimals(self) -> int:
        d = self.tick_decimals
        # Binance/Bybit print at least two decimals for these contracts ("61800.20")
        return max(d, 2) if self.venue in _FIXED_DECIMALS else d

    @cached_property
    def qty_decimals(self) -> int:
        return _decimals(self.lot)

    @cached_property
    def base_decimals(self) -> int:
        return self.qty_decimals + _decimals(self.contract_size)

    @cached_property
    def lot_base(self) -> float:
        return self.lot * self.contract_size

    @cached_property
    def _round_px_cache(self) -> dict[float, float]:
        return {}

    def round_px(self, price: float) -> float:
        cache = self._round_px_cache
        out = cache.get(price)
        if out is None:
            out = round(round(price / self.tick) * self.tick, self.tick_decimals)
            if len(cache) > 200_000:
                cache.clear()
            cache[price] = out
        return out

    def round_base(self, base: float) -> float:
        """Base-coin quantity rounded to the venue lot (0 when below half a lot)."""

        return round(round(base / self.lot_base) * self.lot_base, self.base_decimals)

    def lots(self, n: int) -> float:
        """``n`` lots in base coin."""

        return round(n * self.lot_base, self.base_decimals)

    @cached_property
    def _fixed(self) -> bool:
        return self.venue in _FIXED_DECIMALS

    @cached_property
    def _px_cache(self) -> dict[float, str]:
        return {}

    @cached_property
    def _qty_cache(self) -> dict[float, str]:
        return {}

    def px(self, price: float) -> str:
        cache = self._px_cache
        text = cache.get(price)
        if text is None:
            text = f"{price:.{self.price_decimals}f}"
            if not self._fixed:
                text = _trim(text)
            if len(cache) > 200_000:  # prices wander: keep the memo bounded
                cache.clear()
            cache[price] = text
        return text

    def qty(self, base: float) -> str:
        """Base coin → the venue's size text (contracts on OKX)."""

        cache = self._qty_cache
        text = cache.get(base)
        if text is None:
            units = base / self.contract_size if self.contract_size != 1.0 else base
            text = f"{units:.{self.qty_decimals}f}"
            if not self._fixed:
                text = _trim(text)
            if len(cache) > 200_000:
                cache.clear()
            cache[base] = text
        return text

    def units(self, base: float) -> float:
        return base / self.contract_size


def _trim(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def build_instrument(
    venue: Venue, symbol: str, *, instruments: Instruments | None = None, price: float | None = None
) -> EmuInstrument:
    """The emulator instrument for (venue, symbol) from the snapshot, with fallbacks for unknown symbols."""

    spec = instruments.find(venue, symbol) if instruments is not None else None
    ref = price or REFERENCE_PRICES.get(symbol.upper(), 10.0)
    default_tick = 10.0 ** (math.floor(math.log10(ref)) - 5) if ref > 0 else 0.01
    lot = spec.lot_size if spec and spec.lot_size else 0.001
    if venue is Venue.HYPERLIQUID:
        tick = hyperliquid_tick(ref, _decimals(lot))
    else:
        tick = spec.tick_size if spec and spec.tick_size else default_tick
    return EmuInstrument(
        venue=venue,
        symbol=symbol.upper(),
        instrument=spec.instrument if spec else venue_symbol(venue, symbol),
        tick=tick,
        lot=lot,
        contract_size=spec.contract_size if spec else 1.0,
        max_leverage=(spec.max_leverage if spec and spec.max_leverage else 50.0),
        funding_interval_hours=(
            spec.funding_interval_hours
            if spec and spec.funding_interval_hours
            else (1.0 if venue is Venue.HYPERLIQUID else 8.0)
        ),
    )
