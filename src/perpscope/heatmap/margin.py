"""Isolated-margin liquidation prices per venue, vectorized (numpy, arrays broadcast).

Formulas are those of ``venues.md`` (one-way mode, isolated margin, entry notional ``N = Q·EP`` of ONE
position, wallet/margin ``N/L``, maintenance ``MM = N·MMR − cum`` of the tier holding ``N``). Dividing by
``Q`` every venue's liquidation price is ``EP × ratio`` with a ratio that depends only on leverage, the
tier and ``cum/N``:

- Binance: ``LP = (Q·EP ∓ WB ∓ cum) / (Q·(1 ∓ MMR))`` → ``EP·(1 ∓ 1/L ∓ cum/N) / (1 ∓ MMR)``
- Bybit: ``LP = EP ∓ (IM − MM)/Q`` → ``EP·(1 ∓ 1/L ± MMR ∓ deduction/N)``
- OKX (liquidation fee rate f): ``LP = (margin ∓ Q·EP)/(Q·(MMR + f ∓ 1))``
  → ``EP·(1 ∓ 1/L ∓ cum/N)/(1 ∓ (MMR + f))``
- Hyperliquid: ``liq = EP − side·margin_available/Q/(1 − side·MMR)`` with ``MMR = 1/(2·max leverage)``
  → the Binance form.

(upper sign long, lower short). A long whose formula gives a price ≤ 0 (low leverage) cannot be
liquidated: its price is reported as 0. Tiers are chosen per **position** from ``position_usd`` (a modelling
assumption: a cohort's notional is many positions), never from a cohort's total.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..model import PositionSide, Venue
from .tiers import TierTable, load_tiers

# A typical retail position, well inside the first tier of every venue's BTC/ETH table. A parameter of
# the engine (EngineParams.position_usd): it only selects the tier.
DEFAULT_POSITION_USD = 10_000.0

# OKX charges a liquidation fee that its formula adds to the maintenance rate; 0.05 % (the taker fee of
# the base tier) is the value venues.md uses for its worked example. Other venues' formulas have no f.
OKX_DEFAULT_FEE_RATE = 0.0005

SideLike = PositionSide | Literal["long", "short"] | np.ndarray


def side_sign(side: SideLike) -> np.ndarray:
    """``"long"`` → +1, ``"short"`` → −1; an array of ±1 passes through (as float64)."""

    if isinstance(side, str):
        s = PositionSide(side)
        return np.float64(1.0 if s is PositionSide.LONG else -1.0)  # type: ignore[return-value]
    arr = np.asarray(side, dtype=np.float64)
    if not np.all(np.abs(arr) == 1.0):
        raise ValueError("side arrays must hold +1 (long) or -1 (short)")
    return arr


def _tier_terms(
    venue: Venue,
    *,
    tiers: TierTable | None,
    symbol: str | None,
    position_usd: float | np.ndarray,
    mmr: float | np.ndarray | None,
    cum: float | np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if mmr is not None:
        if tiers is not None:
            raise ValueError("give either tiers= (or symbol=) or mmr=, not both")
        rate = np.asarray(mmr, dtype=np.float64)
        amount = np.asarray(0.0 if cum is None else cum, dtype=np.float64)
        return rate, amount, np.full(np.shape(rate), np.nan)
    if tiers is None:
        if symbol is None:
            raise ValueError("liquidation_price needs tiers=, symbol= (packaged tiers) or mmr=")
        tiers = load_tiers(venue, symbol)
    if tiers.venue is not venue:
        raise ValueError(f"tier table is {tiers.venue}'s, not {venue}'s")
    return tiers.lookup(position_usd)


def liquidation_ratio(
    venue: Venue | str,
    side: SideLike,
    leverage: float | np.ndarray,
    *,
    tiers: TierTable | None = None,
    symbol: str | None = None,
    position_usd: float | np.ndarray = DEFAULT_POSITION_USD,
    mmr: float | np.ndarray | None = None,
    cum: float | np.ndarray | None = None,
    fee_rate: float | None = None,
    clip_leverage: bool = True,
) -> np.ndarray:
    """``LP / EP``: the liquidation price as a multiple of the entry price (below 1 for longs, above 1 for
    shorts). Maintenance terms come from ``tiers`` (or the packaged table of ``symbol``) at the position
    notional ``position_usd``, or directly from ``mmr``/``cum``. With ``clip_leverage`` a leverage above
    the tier's maximum is reduced to it (the venue would not allow it)."""

    venue = Venue(venue)
    sign = side_sign(side)
    lev = np.asarray(leverage, dtype=np.float64)
    if np.any(lev < 1.0):
        raise ValueError("leverage must be >= 1")
    notional = np.abs(np.asarray(position_usd, dtype=np.float64))
    if np.any(notional <= 0.0):
        raise ValueError("position_usd must be positive")
    rate, amount, max_lev = _tier_terms(
        venue, tiers=tiers, symbol=symbol, position_usd=notional, mmr=mmr, cum=cum
    )
    if clip_leverage:
        lev = np.where(np.isnan(max_lev), lev, np.minimum(lev, max_lev))
    inv = 1.0 / lev
    per_n = amount / notional
    if venue is Venue.BYBIT:
        if fee_rate:
            raise ValueError("fee_rate applies to OKX's formula only")
        # IM − MM per unit of entry notional = 1/L − (MMR − deduction/N)
        ratio = 1.0 - sign * (inv - rate + per_n)
    elif venue is Venue.OKX:
        f = OKX_DEFAULT_FEE_RATE if fee_rate is None else float(fee_rate)
        ratio = (1.0 - sign * (inv + per_n)) / (1.0 - sign * (rate + f))
    else:
        if fee_rate:
            raise ValueError("fee_rate applies to OKX's formula only")
        # Binance, and Hyperliquid whose formula reduces to the same expression.
        ratio = (1.0 - sign * (inv + per_n)) / (1.0 - sign * rate)
    # A non-positive long liquidation price means the position cannot be liquidated: report 0.
    return np.maximum(np.asarray(ratio, dtype=np.float64), 0.0)


def liquidation_price(
    venue: Venue | str,
    side: SideLike,
    entry: float | np.ndarray,
    leverage: float | np.ndarray,
    *,
    tiers: TierTable | None = None,
    symbol: str | None = None,
    position_usd: float | np.ndarray = DEFAULT_POSITION_USD,
    mmr: float | np.ndarray | None = None,
    cum: float | np.ndarray | None = None,
    fee_rate: float | None = None,
    clip_leverage: bool = True,
) -> np.ndarray:
    """Isolated-margin liquidation price of positions opened at ``entry`` (arrays broadcast). See
    :func:`liquidation_ratio` for the options; ``position_usd`` is the notional of ONE position at entry
    and picks its maintenance tier."""

    ratio = liquidation_ratio(
        venue,
        side,
        leverage,
        tiers=tiers,
        symbol=symbol,
        position_usd=position_usd,
        mmr=mmr,
        cum=cum,
        fee_rate=fee_rate,
        clip_leverage=clip_leverage,
    )
    return np.asarray(entry, dtype=np.float64) * ratio


def liquidation_distance(
    venue: Venue | str,
    side: SideLike,
    leverage: float | np.ndarray,
    *,
    tiers: TierTable | None = None,
    symbol: str | None = None,
    position_usd: float | np.ndarray = DEFAULT_POSITION_USD,
    mmr: float | np.ndarray | None = None,
    cum: float | np.ndarray | None = None,
    fee_rate: float | None = None,
    clip_leverage: bool = True,
) -> np.ndarray:
    """Adverse move from entry to liquidation as a positive fraction of entry: ``1 − LP/EP`` for longs,
    ``LP/EP − 1`` for shorts (a Binance BTC 10× long: 0.0964)."""

    ratio = liquidation_ratio(
        venue,
        side,
        leverage,
        tiers=tiers,
        symbol=symbol,
        position_usd=position_usd,
        mmr=mmr,
        cum=cum,
        fee_rate=fee_rate,
        clip_leverage=clip_leverage,
    )
    return side_sign(side) * (1.0 - ratio)
