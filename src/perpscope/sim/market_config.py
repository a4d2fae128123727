"""Configuration of the synthetic perpetual market: every assumption of the simulator is a field here.

The defaults describe a plausible crypto market (BTC ≈ 95,000, ~55 % annual volatility, one-sided open
interest of a few billion USD per venue) and the same leverage vocabulary as the heatmap engine
(tiers 10/25/50/100× with weights). See docs/render.md for the model these parameters drive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..model import Venue
from ..timeutil import NS_PER_S, parse_time_ns

Flow = Literal["net", "gross"]
Entry = Literal["step", "typical"]
Attribution = Literal["both", "aggressor"]
LeverageSampling = Literal["stratified", "random"]


@dataclass(frozen=True, kw_only=True)
class SymbolDefaults:
    """Starting point of one symbol: price, venue tick, annualized volatility, one-sided OI across venues."""

    price: float
    tick: float
    vol_annual: float
    oi_usd: float


# Late-2025/2026-like levels; ticks are the Binance USD-M price filters of these perpetuals.
SYMBOL_DEFAULTS: dict[str, SymbolDefaults] = {
    "BTC": SymbolDefaults(price=95_000.0, tick=0.1, vol_annual=0.55, oi_usd=2.0e10),
    "ETH": SymbolDefaults(price=3_400.0, tick=0.01, vol_annual=0.70, oi_usd=1.0e10),
    "SOL": SymbolDefaults(price=190.0, tick=0.01, vol_annual=0.85, oi_usd=3.0e9),
    "BNB": SymbolDefaults(price=650.0, tick=0.01, vol_annual=0.50, oi_usd=8.0e8),
    "XRP": SymbolDefaults(price=2.2, tick=0.0001, vol_annual=0.85, oi_usd=3.0e9),
    "DOGE": SymbolDefaults(price=0.32, tick=0.00001, vol_annual=0.95, oi_usd=2.0e9),
}

# Share of each symbol's open interest per venue (normalized over the venues of a run).
VENUE_WEIGHTS: dict[Venue, float] = {
    Venue.BINANCE: 0.40,
    Venue.BYBIT: 0.25,
    Venue.OKX: 0.15,
    Venue.HYPERLIQUID: 0.20,
}

# Funding interval per venue (hours): Binance/Bybit/OKX settle every 8 h for these symbols, Hyperliquid
# every hour.
FUNDING_INTERVAL_HOURS: dict[Venue, float] = {
    Venue.BINANCE: 8.0,
    Venue.BYBIT: 8.0,
    Venue.OKX: 8.0,
    Venue.HYPERLIQUID: 1.0,
}

# The engine's default vocabulary (issue 4's first cut): leverage → weight of new open interest.
DEFAULT_LEVERAGE: tuple[tuple[float, float], ...] = ((10.0, 0.35), (25.0, 0.30), (50.0, 0.20), (100.0, 0.15))

DEFAULT_START_NS = parse_time_ns("2026-05-25T00:00:00Z")
YEAR_S = 365.0 * 86400.0


def _pairs(value: Mapping[float, float] | Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((float(k), float(w)) for k, w in items)


@dataclass(frozen=True, kw_only=True)
class SimConfig:
    """All parameters of one simulated market. Times are integer ns UTC; rates are fractions."""

    seed: int = 0
    venues: tuple[Venue, ...] = (Venue.BINANCE, Venue.BYBIT, Venue.OKX)
    symbols: tuple[str, ...] = ("BTC",)
    start_ns: int = DEFAULT_START_NS
    duration_ns: int = 86400 * NS_PER_S
    step_ns: int = 10 * NS_PER_S  # price/flow resolution; liquidations trigger on the mark at this step
    bar_ns: int = 300 * NS_PER_S  # slot of Bar/Candle events and of the ground truth
    chunk_ns: int = 86400 * NS_PER_S  # simulated in chunks of this length (streaming granularity)

    # --- price: GARCH(1,1) on bar returns, Laplace jumps, cross-symbol correlation, venue basis ---
    initial_prices: Mapping[str, float] = field(default_factory=dict)  # overrides SYMBOL_DEFAULTS
    vol_annual: Mapping[str, float] = field(default_factory=dict)  # long-run volatility overrides
    ticks: Mapping[str, float] = field(default_factory=dict)
    garch_alpha: float = 0.08  # per bar: weight of the last squared bar return
    garch_beta: float = 0.90  # per bar: persistence of variance
    jump_rate_per_day: float = 1.5  # Poisson rate of price jumps per symbol
    jump_scale: float = 0.006  # mean absolute jump (Laplace scale), fraction of price
    correlation: float = 0.75  # correlation of diffusive shocks across symbols
    basis_mean_bps: float = 1.0  # mean premium of every venue's mark over the index (bp)
    basis_vol_bps: float = 2.0  # stationary std of the premium (bp)
    basis_half_life_s: float = 600.0
    basis_slow_bps: float = 4.0  # stationary std of a slow premium regime (moves funding off its floor)
    basis_slow_half_life_s: float = 12 * 3600.0

    # --- positions ---
    oi_usd: Mapping[str, float] = field(default_factory=dict)  # one-sided OI target over the run's venues
    venue_weights: Mapping[Venue, float] = field(default_factory=lambda: dict(VENUE_WEIGHTS))
    leverage: tuple[tuple[float, float], ...] = DEFAULT_LEVERAGE  # (leverage, weight) of new notional
    leverage_sampling: LeverageSampling = "stratified"
    groups_per_tier: int = 2  # position groups per leverage tier, side and bar
    size_median_usd: float = 8_000.0  # per-position notional (lognormal): picks the maintenance tier
    size_sigma: float = 1.0
    entry: Entry = "step"  # "step": at the price of a random step in the bar; "typical": (H+L+C)/3
    attribution: Attribution = "both"  # "both": each new contract is a leveraged long AND short
    maker_leverage: float = 1.0  # "aggressor": the maker side of new contracts (market makers)
    maker_size_usd: float = 2_000_000.0
    taker_skew: float = 0.6  # how strongly taker buying follows the bar's standardized return
    flow: Flow = "gross"  # "net": a bar only opens or only closes; "gross": both, every bar
    oi_reversion_per_hour: float = 0.05  # pull of OI toward its target
    flow_vol_per_sqrt_hour: float = 0.005  # noise of OI changes (fraction of target)
    close_rate_per_hour: float = 0.02  # "gross": proportional closes of every position
    turnover_per_day: float = 2.5  # volume that changes hands without changing OI, × OI
    # share of a forced liquidation order filled by holders of the other side closing (OI falls); the rest
    # is absorbed by market makers who open the same side (OI unchanged, their inventory is never liquidated)
    liquidation_oi_drop: float = 0.5
    prune_usd: float = 100.0  # a group decayed below this entry notional (USD) is counted as closed

    # --- funding (Binance-style: premium + clamp(interest − premium), per 8 h scaled to the interval) ---
    funding_interest_8h: float = 0.0001
    funding_clamp_8h: float = 0.0005
    funding_cap_8h: float = 0.0075
    funding_interval_hours: Mapping[Venue, float] = field(
        default_factory=lambda: dict(FUNDING_INTERVAL_HOURS)
    )

    # --- events ---
    book_levels: int = 25  # levels per side (Hyperliquid snapshots keep the top 20)
    book_level_bps: float = 2.0  # spacing of resting levels beyond the touch
    book_depth_fraction: float = 2.0e-5  # USD per level as a fraction of the venue's OI
    max_liquidation_events_per_group: int = 16

    def __post_init__(self) -> None:
        object.__setattr__(self, "venues", tuple(Venue(v) for v in self.venues))
        object.__setattr__(self, "symbols", tuple(s.upper() for s in self.symbols))
        object.__setattr__(self, "leverage", _pairs(self.leverage))
        if not self.venues or len(set(self.venues)) != len(self.venues):
            raise ValueError("venues must be non-empty and distinct")
        if not self.symbols or len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbols must be non-empty and distinct")
        for name in ("step_ns", "bar_ns", "chunk_ns", "duration_ns"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.bar_ns % self.step_ns:
            raise ValueError("bar_ns must be a multiple of step_ns")
        if self.step_ns % 1_000_000:
            raise ValueError("step_ns must be a whole number of milliseconds")
        if self.chunk_ns % self.bar_ns or self.duration_ns % self.bar_ns:
            raise ValueError("chunk_ns and duration_ns must be multiples of bar_ns")
        for sym in self.symbols:
            if sym not in SYMBOL_DEFAULTS and sym not in self.initial_prices:
                raise ValueError(f"no default price for {sym!r}: give initial_prices={{{sym!r}: …}}")
        if not self.leverage or any(lev < 1.0 or w < 0.0 for lev, w in self.leverage):
            raise ValueError("leverage must be (leverage >= 1, weight >= 0) pairs")
        if sum(w for _, w in self.leverage) <= 0.0:
            raise ValueError("leverage weights must not all be zero")
        if not (
            self.garch_alpha >= 0.0 and self.garch_beta >= 0.0 and self.garch_alpha + self.garch_beta < 1
        ):
            raise ValueError("GARCH needs alpha, beta >= 0 and alpha + beta < 1")
        if not 0.0 <= self.correlation < 1.0:
            raise ValueError("correlation must be in [0, 1)")
        if self.groups_per_tier < 1 or self.book_levels < 2 or self.max_liquidation_events_per_group < 1:
            raise ValueError("groups_per_tier >= 1, book_levels >= 2, max_liquidation_events_per_group >= 1")
        if not 0.0 <= self.liquidation_oi_drop <= 1.0:
            raise ValueError("liquidation_oi_drop must be in [0, 1]")
        if self.size_median_usd <= 0.0 or self.size_sigma < 0.0 or self.maker_leverage < 1.0:
            raise ValueError("size_median_usd > 0, size_sigma >= 0, maker_leverage >= 1")
        for venue in self.venues:
            if self.venue_weights.get(venue, 0.0) <= 0.0:
                raise ValueError(f"venue_weights needs a positive weight for {venue}")
            if self.funding_interval_hours.get(venue, 0.0) <= 0.0:
                raise ValueError(f"funding_interval_hours needs a value for {venue}")
        for lit, allowed in (
            (self.flow, ("net", "gross")),
            (self.entry, ("step", "typical")),
            (self.attribution, ("both", "aggressor")),
            (self.leverage_sampling, ("stratified", "random")),
        ):
            if lit not in allowed:
                raise ValueError(f"{lit!r} is not one of {allowed}")

    # ----------------------------------------------------------------- derived quantities

    @property
    def steps_per_bar(self) -> int:
        return self.bar_ns // self.step_ns

    @property
    def bars_per_chunk(self) -> int:
        return self.chunk_ns // self.bar_ns

    @property
    def n_bars(self) -> int:
        return self.duration_ns // self.bar_ns

    @property
    def n_chunks(self) -> int:
        return -(-self.n_bars // self.bars_per_chunk)

    @property
    def bar_hours(self) -> float:
        return self.bar_ns / (3600.0 * NS_PER_S)

    @property
    def leverage_levels(self) -> tuple[float, ...]:
        return tuple(lev for lev, _ in self.leverage)

    @property
    def leverage_weights(self) -> tuple[float, ...]:
        total = sum(w for _, w in self.leverage)
        return tuple(w / total for _, w in self.leverage)

    def price0(self, symbol: str) -> float:
        if symbol in self.initial_prices:
            return float(self.initial_prices[symbol])
        return SYMBOL_DEFAULTS[symbol].price

    def tick(self, symbol: str) -> float:
        if symbol in self.ticks:
            return float(self.ticks[symbol])
        if symbol in SYMBOL_DEFAULTS and symbol not in self.initial_prices:
            return SYMBOL_DEFAULTS[symbol].tick
        # about 1e-5 of the price, rounded down to a power of ten
        return 10.0 ** math.floor(math.log10(self.price0(symbol)) - 5)

    def sigma_annual(self, symbol: str) -> float:
        if symbol in self.vol_annual:
            return float(self.vol_annual[symbol])
        return SYMBOL_DEFAULTS[symbol].vol_annual if symbol in SYMBOL_DEFAULTS else 0.8

    def venue_oi_usd(self, venue: Venue, symbol: str) -> float:
        """OI target (one side, USD) of one venue's market."""

        total = float(self.oi_usd[symbol]) if symbol in self.oi_usd else None
        if total is None:
            total = SYMBOL_DEFAULTS[symbol].oi_usd if symbol in SYMBOL_DEFAULTS else 1.0e9
        weights = {v: float(self.venue_weights[v]) for v in self.venues}
        return total * weights[venue] / sum(weights.values())
