"""Price paths of the synthetic market: one index per symbol and one mark/last price per venue.

The index follows GARCH(1,1) volatility on bar returns (clusters) with Laplace jumps at the step level;
shocks are correlated across symbols through a common factor. Each venue trades at the index times
``exp(basis)``, the basis an AR(1) premium, rounded to the venue tick: that rounded price is the venue's
last trade price AND its mark price (liquidations trigger on it). Funding follows from the premium.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from ..model import Venue
from ..timeutil import NS_PER_S
from .market_config import YEAR_S, SimConfig


def rng_for(config: SimConfig, chunk: int, *names: str) -> np.random.Generator:
    """An independent, reproducible random stream per (seed, chunk, component): a chunk's draws never
    depend on how many numbers other components or earlier chunks used."""

    key = [chunk, *(zlib.crc32(n.encode()) for n in names)]
    return np.random.default_rng(np.random.SeedSequence(entropy=config.seed, spawn_key=tuple(key)))


def ar1(x_prev: float, phi: float, eps: np.ndarray) -> np.ndarray:
    """``x[j] = phi·x[j−1] + eps[j]`` with ``x[−1] = x_prev``, vectorized in blocks (no per-step loop)."""

    n = eps.shape[0]
    out = np.empty(n)
    if n == 0:
        return out
    if phi <= 0.0:
        out[:] = eps
        return out
    block = n if phi >= 1.0 else max(1, min(n, int(300.0 / -math.log(phi))))
    x0 = x_prev
    for start in range(0, n, block):
        seg = eps[start : start + block]
        i = np.arange(seg.shape[0], dtype=np.float64)
        # x_i = phi^i (phi·x0 + Σ_{l<=i} phi^{-l} eps_l); phi^{-block} stays below ~1e130
        out[start : start + seg.shape[0]] = phi**i * (phi * x0 + np.cumsum(seg * phi**-i))
        x0 = float(out[start + seg.shape[0] - 1])
    return out


def round_to_tick(price: np.ndarray, tick: float) -> np.ndarray:
    decimals = max(0, -math.floor(math.log10(tick)) + 2)
    return np.round(np.round(price / tick) * tick, decimals)


@dataclass
class SymbolState:
    """What the next chunk of one symbol's index needs from the previous one."""

    log_index: float
    variance: float  # GARCH variance of the next bar's return


@dataclass
class BasisState:
    basis: float  # fast part of the log premium over its mean at the last step
    slow: float  # slow regime part


@dataclass(frozen=True, kw_only=True)
class IndexChunk:
    log_index: np.ndarray  # (n_steps,)
    bar_sigma: np.ndarray  # (n_bars,) GARCH volatility of each bar's return
    sigma_longrun: float  # per bar


def garch_omega(config: SimConfig, symbol: str) -> tuple[float, float]:
    """(long-run variance per bar, omega)."""

    var_lr = config.sigma_annual(symbol) ** 2 * (config.bar_ns / NS_PER_S) / YEAR_S
    return var_lr, var_lr * (1.0 - config.garch_alpha - config.garch_beta)


def initial_symbol_state(config: SimConfig, symbol: str) -> SymbolState:
    var_lr, _ = garch_omega(config, symbol)
    return SymbolState(log_index=math.log(config.price0(symbol)), variance=var_lr)


def simulate_index(
    config: SimConfig, chunk: int, n_bars: int, states: dict[str, SymbolState]
) -> dict[str, IndexChunk]:
    """Index log-price paths of every symbol for one chunk; updates ``states`` in place."""

    k = config.steps_per_bar
    n = n_bars * k
    rho = config.correlation
    common = rng_for(config, chunk, "common").standard_normal(n)
    step_days = config.step_ns / (86400.0 * NS_PER_S)
    out: dict[str, IndexChunk] = {}
    for symbol in config.symbols:
        rng = rng_for(config, chunk, "price", symbol)
        z = math.sqrt(rho) * common + math.sqrt(1.0 - rho) * rng.standard_normal(n)
        hit = rng.random(n) < config.jump_rate_per_day * step_days
        jumps = np.where(hit, rng.laplace(0.0, config.jump_scale, n), 0.0)
        z2 = z.reshape(n_bars, k)
        bar_z = z2.sum(axis=1) / math.sqrt(k)
        bar_j = jumps.reshape(n_bars, k).sum(axis=1)
        var_lr, omega = garch_omega(config, symbol)
        cap = 36.0 * var_lr  # volatility at most 6× its long-run level
        state = states[symbol]
        var = state.variance
        sigma = np.empty(n_bars)
        a, b = config.garch_alpha, config.garch_beta
        # The recursion is sequential in bars only (a few thousand scalar steps per chunk at most).
        for t in range(n_bars):
            sigma[t] = math.sqrt(var)
            r = sigma[t] * bar_z[t] + bar_j[t]
            var = min(omega + a * r * r + b * var, cap)
        step_ret = (sigma / math.sqrt(k))[:, None] * z2 + jumps.reshape(n_bars, k)
        log_index = state.log_index + np.cumsum(step_ret.ravel())
        state.log_index = float(log_index[-1])
        state.variance = var
        out[symbol] = IndexChunk(log_index=log_index, bar_sigma=sigma, sigma_longrun=math.sqrt(var_lr))
    return out


def simulate_venue_price(
    config: SimConfig, chunk: int, venue: Venue, symbol: str, log_index: np.ndarray, state: BasisState
) -> tuple[np.ndarray, np.ndarray]:
    """(venue price rounded to tick, premium over the index) per step; updates ``state``."""

    rng = rng_for(config, chunk, "basis", venue.value, symbol)
    n = log_index.shape[0]
    step_s = config.step_ns / NS_PER_S
    parts = []
    for prev, std_bps, half_life in (
        (state.basis, config.basis_vol_bps, config.basis_half_life_s),
        (state.slow, config.basis_slow_bps, config.basis_slow_half_life_s),
    ):
        phi = 0.5 ** (step_s / half_life)
        sd = std_bps * 1e-4 * math.sqrt(max(1.0 - phi * phi, 0.0))
        parts.append(ar1(prev, phi, rng.standard_normal(n) * sd))
    state.basis, state.slow = float(parts[0][-1]), float(parts[1][-1])
    mean = config.basis_mean_bps * 1e-4
    dev = parts[0] + parts[1]
    index = np.exp(log_index)
    price = round_to_tick(index * np.exp(dev + mean), config.tick(symbol))
    return price, price / index - 1.0


def initial_basis_state(config: SimConfig) -> BasisState:
    return BasisState(basis=0.0, slow=0.0)


# --------------------------------------------------------------------------------------------- funding


@dataclass
class FundingState:
    """Running premium average of the current funding interval and the last settled rate."""

    interval_id: int
    premium_sum: float
    premium_count: int
    last_settled: float


def funding_rate(config: SimConfig, mean_premium: np.ndarray | float, interval_hours: float) -> np.ndarray:
    """Binance's rule per 8 h, ``P + clamp(I − P, ±clamp)``, capped, then scaled to the interval."""

    p = np.asarray(mean_premium, dtype=np.float64)
    i = config.funding_interest_8h
    rate = p + np.clip(i - p, -config.funding_clamp_8h, config.funding_clamp_8h)
    rate = np.clip(rate, -config.funding_cap_8h, config.funding_cap_8h)
    return rate * (interval_hours / 8.0)


def initial_funding_state(config: SimConfig, venue: Venue) -> FundingState:
    hours = config.funding_interval_hours[venue]
    interval_ns = int(hours * 3600 * NS_PER_S)
    rate0 = float(funding_rate(config, config.basis_mean_bps * 1e-4, hours))
    return FundingState(
        interval_id=config.start_ns // interval_ns, premium_sum=0.0, premium_count=0, last_settled=rate0
    )


@dataclass(frozen=True, kw_only=True)
class FundingChunk:
    predicted: np.ndarray  # (n_bars,) rate of the running interval at each bar close
    settled: np.ndarray  # (n_bars,) last settled rate at each bar close
    next_funding_ns: np.ndarray  # (n_bars,) int64
    interval_hours: float


def simulate_funding(
    config: SimConfig,
    venue: Venue,
    step_ts: np.ndarray,
    premium: np.ndarray,
    n_bars: int,
    state: FundingState,
) -> FundingChunk:
    """Funding per bar close from the step premia; intervals are aligned to the epoch (00:00, 08:00 …)."""

    hours = config.funding_interval_hours[venue]
    interval_ns = int(hours * 3600 * NS_PER_S)
    k = config.steps_per_bar
    ids = step_ts // interval_ns
    # running sums of premium within each interval, continuing the previous chunk's open interval
    csum = np.cumsum(premium)
    ccount = np.arange(1, premium.shape[0] + 1)
    first = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    seg = np.repeat(np.arange(first.shape[0]), np.diff(np.r_[first, premium.shape[0]]))
    base_sum = np.r_[0.0, csum][first][seg]
    base_count = np.r_[0, ccount][first][seg]
    run_sum = csum - base_sum
    run_count = ccount - base_count
    carry = ids == state.interval_id
    run_sum = np.where(carry, run_sum + state.premium_sum, run_sum)
    run_count = np.where(carry, run_count + state.premium_count, run_count)
    # an interval settles at its end, i.e. after its last step: a bar closing at the boundary sees it
    rate_running = funding_rate(config, run_sum / run_count, hours)
    next_ids = (step_ts + config.step_ns) // interval_ns
    ends = next_ids != ids
    idx = np.where(ends, np.arange(ids.shape[0]), -1)
    np.maximum.accumulate(idx, out=idx)
    settled_at_step = np.where(idx >= 0, rate_running[np.maximum(idx, 0)], state.last_settled)
    close_steps = np.arange(1, n_bars + 1) * k - 1
    # right after a settlement the running estimate restarts from the current premium
    predicted = np.where(
        ends[close_steps],
        funding_rate(config, premium[close_steps], hours),
        rate_running[close_steps],
    )
    settled = settled_at_step[close_steps]
    next_ns = (next_ids[close_steps] + 1) * interval_ns
    state.interval_id = int(next_ids[-1])
    state.premium_sum = 0.0 if ends[-1] else float(run_sum[-1])
    state.premium_count = 0 if ends[-1] else int(run_count[-1])
    state.last_settled = float(settled_at_step[-1])
    return FundingChunk(
        predicted=predicted, settled=settled, next_funding_ns=next_ns.astype(np.int64), interval_hours=hours
    )
