"""Positions of the synthetic market: who opens what, when they close, and when they are liquidated.

A *position group* stands for many identical isolated-margin positions: same venue, side, entry price,
leverage and per-position notional (which picks the maintenance tier). Each bar opens new contracts; every
new contract is a long AND a short group (``attribution="both"``) or a leveraged taker against a
low-leverage market maker (``"aggressor"``). Opening notional per leverage tier follows the configured
weights exactly (``"stratified"``) or by random draws. Closes are proportional (every position on a side
loses the same fraction). A group is liquidated, entirely, at the first step whose mark price reaches its
liquidation price from :mod:`perpscope.heatmap.margin`; the forced order is filled partly by holders of the
other side closing (OI falls) and partly by market makers who absorb it (OI unchanged).

Liquidation times do not depend on amounts (isolated partial closes keep the liquidation price), so they
are found for all groups at once by a vectorized first-passage search; only the scalar bookkeeping of
amounts runs bar by bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..heatmap.margin import liquidation_price
from ..heatmap.tiers import TierError, load_tiers
from ..model import Venue
from .market_config import SimConfig
from .market_price import garch_omega

FALLBACK_MMR = 0.005  # a symbol without a packaged tier table


@dataclass
class CarriedGroups:
    """Groups still standing at the end of a chunk (quantities as of that moment)."""

    side: np.ndarray  # int8, +1 long, -1 short
    entry: np.ndarray
    leverage: np.ndarray  # nominal leverage (the tier of the mix)
    leverage_eff: np.ndarray  # after the venue's maximum leverage for the position size
    size_usd: np.ndarray  # notional of ONE position at entry
    liq_price: np.ndarray  # 0 for a long that cannot be liquidated
    maker: np.ndarray  # bool
    qty: np.ndarray  # base coin standing now
    qty_open: np.ndarray  # base coin when opened
    open_ns: np.ndarray  # int64

    @staticmethod
    def empty() -> CarriedGroups:
        f = np.zeros(0)
        return CarriedGroups(
            side=np.zeros(0, np.int8),
            entry=f,
            leverage=f,
            leverage_eff=f,
            size_usd=f,
            liq_price=f,
            maker=np.zeros(0, bool),
            qty=f,
            qty_open=f,
            open_ns=np.zeros(0, np.int64),
        )


@dataclass
class MarketState:
    """Everything one venue+symbol market carries from one chunk to the next."""

    groups: CarriedGroups = field(default_factory=CarriedGroups.empty)
    absorber_long: float = 0.0  # base coin held by market makers who absorbed liquidations
    absorber_short: float = 0.0
    opened: bool = False  # the market has opened its initial open interest
    last_close: float = 0.0


@dataclass(frozen=True, kw_only=True, eq=False)
class PositionChunk:
    """The positions of one market over one chunk. Bars are chunk-local ``0..T-1``; ``ref`` indexes the
    survival logs ``log_survival_*`` (length 2T+1: entry 2b is the start of bar b, 2b+1 after its
    proportional closes, 2b+2 its end). A group's quantity at index i is ``q0·exp(log[i] − log[ref])``."""

    # --- groups (legacy groups carried from earlier chunks first, open_bar == -1) ---
    side: np.ndarray
    entry: np.ndarray
    leverage: np.ndarray
    leverage_eff: np.ndarray
    size_usd: np.ndarray
    liq_price: np.ndarray
    maker: np.ndarray
    open_bar: np.ndarray  # chunk-local bar the group opened in; -1 for carried groups
    open_ns: np.ndarray
    ref: np.ndarray  # survival index at which q0 is measured
    q0: np.ndarray  # base coin at ref
    qty_open: np.ndarray  # base coin when the group first opened
    entry_step: np.ndarray  # step of entry (-1: carried or typical-price entry spread over the bar)
    start_step: np.ndarray  # first step on which the group can be liquidated
    liq_step: np.ndarray  # n_steps when not liquidated in this chunk
    liq_bar: np.ndarray  # n_bars when not liquidated in this chunk
    liq_qty: np.ndarray  # base coin liquidated (0 if not)
    log_survival_long: np.ndarray
    log_survival_short: np.ndarray
    # --- per bar ---
    opened_usd: np.ndarray  # entry notional opened per side (both sides open the same)
    opened_long_usd: np.ndarray
    opened_short_usd: np.ndarray
    closed_long_usd: np.ndarray  # entry notional of leveraged positions closed (proportional + pruned)
    closed_short_usd: np.ndarray
    liq_long_usd: np.ndarray  # entry notional liquidated
    liq_short_usd: np.ndarray
    liq_long_fill_usd: np.ndarray  # quantity × mark at the liquidation step
    liq_short_fill_usd: np.ndarray
    book_long_qty: np.ndarray  # leveraged positions standing at the bar's end (base coin)
    book_short_qty: np.ndarray
    book_long_usd: np.ndarray  # their entry notional
    book_short_usd: np.ndarray
    oi_qty: np.ndarray  # one-sided open interest at the bar's end, base coin (book + absorbers)
    absorber_long: np.ndarray
    absorber_short: np.ndarray
    close_fraction: np.ndarray
    taker_buy_share: np.ndarray
    # --- per step ---
    buy_qty: np.ndarray  # taker buy volume, base coin
    sell_qty: np.ndarray

    @property
    def n_bars(self) -> int:
        return int(self.opened_usd.shape[0])

    def survival(self, side: np.ndarray, index: np.ndarray | int) -> np.ndarray:
        """Survival log at ``index`` (per group) on each group's side."""

        idx = np.broadcast_to(np.asarray(index), side.shape)
        return np.where(side > 0, self.log_survival_long[idx], self.log_survival_short[idx])

    def standing_qty(self, at_bar: int) -> tuple[np.ndarray, np.ndarray]:
        """(group indices, base coin) of the groups standing at the end of chunk bar ``at_bar``."""

        registered = np.where(self.open_bar < 0, True, self.open_bar <= at_bar)
        alive = registered & (self.liq_bar > at_bar) & (self.q0 > 0.0)  # a bar that opened nothing
        idx = np.flatnonzero(alive)
        side = self.side[idx]
        qty = self.q0[idx] * np.exp(self.survival(side, 2 * at_bar + 2) - self.survival(side, self.ref[idx]))
        return idx, qty


# --------------------------------------------------------------------------------------- margin


def margin_terms(
    venue: Venue, symbol: str, side: np.ndarray, entry: np.ndarray, leverage: np.ndarray, size: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(liquidation price, effective leverage) with the venue's formula and packaged tiers per position."""

    try:
        tiers = load_tiers(venue, symbol)
    except TierError:
        lp = liquidation_price(venue, side.astype(np.float64), entry, leverage, mmr=FALLBACK_MMR)
        return lp, leverage.copy()
    lp = liquidation_price(venue, side.astype(np.float64), entry, leverage, tiers=tiers, position_usd=size)
    max_lev = tiers.lookup(size)[2]
    return lp, np.where(np.isnan(max_lev), leverage, np.minimum(leverage, max_lev))


# ------------------------------------------------------------------------------- first passage


def first_crossing(
    price: np.ndarray, steps_per_bar: int, start_step: np.ndarray, level: np.ndarray, *, below: bool
) -> np.ndarray:
    """First step ``j >= start_step`` with ``price[j] <= level`` (``below``) or ``>= level``; ``n`` when
    none. Vectorized: the start bar is scanned directly, later bars through a sparse table of bar extremes
    (binary lifting), and the hit bar directly again."""

    n = price.shape[0]
    k = steps_per_bar
    n_bars = n // k
    x = price if below else -price
    lv = level if below else -level
    out = np.full(start_step.shape[0], n, dtype=np.int64)
    live = start_step < n
    if not np.any(live):
        return out
    gi = np.flatnonzero(live)
    s0 = start_step[gi]
    lvl = lv[gi]
    x2 = x.reshape(n_bars, k)
    b0 = s0 // k
    cols = np.arange(k)
    # 1) the rest of the start bar
    hit = (x2[b0] <= lvl[:, None]) & (cols[None, :] >= (s0 % k)[:, None])
    found = hit.any(axis=1)
    out[gi[found]] = b0[found] * k + np.argmax(hit[found], axis=1)
    # 2) the first later bar whose extreme reaches the level
    rest = ~found
    gi2, lvl2 = gi[rest], lvl[rest]
    pos = b0[rest] + 1
    bar_min = x2.min(axis=1)
    levels = max(1, math.ceil(math.log2(n_bars + 1)))
    size = 1 << levels
    table = [np.full(size, np.inf)]
    table[0][:n_bars] = bar_min
    for lvl_k in range(1, levels + 1):
        prev = table[-1]
        half = 1 << (lvl_k - 1)
        nxt = np.full(size, np.inf)
        nxt[: size - half] = np.minimum(prev[: size - half], prev[half:])
        table.append(nxt)
    for lvl_k in range(levels, -1, -1):
        span = 1 << lvl_k
        ok = pos + span <= size
        probe = np.where(ok, pos, 0)
        above = ok & (table[lvl_k][probe] > lvl2)
        pos = pos + np.where(above, span, 0)
    inside = pos < n_bars
    gi3, bar3, lvl3 = gi2[inside], pos[inside], lvl2[inside]
    # 3) the step within the hit bar
    hit3 = x2[bar3] <= lvl3[:, None]
    out[gi3] = bar3 * k + np.argmax(hit3, axis=1)
    return out


# ---------------------------------------------------------------------------------- new groups


@dataclass(frozen=True, kw_only=True)
class NewGroups:
    side: np.ndarray
    weight: np.ndarray  # fraction of the bar's opened notional (per side, weights of a side sum to 1)
    leverage: np.ndarray
    size_usd: np.ndarray
    maker: np.ndarray
    open_bar: np.ndarray
    entry_step: np.ndarray  # -1 for typical-price entry
    buy_share: np.ndarray  # share of the contract's volume that was a taker buy (long groups only)


def draw_new_groups(
    config: SimConfig, n_bars: int, taker_buy: np.ndarray, rng: np.random.Generator
) -> NewGroups:
    k = config.steps_per_bar
    levs = np.array(config.leverage_levels)
    ws = np.array(config.leverage_weights)
    n_tiers, g = levs.shape[0], config.groups_per_tier
    pairs = n_tiers * g
    bars = np.repeat(np.arange(n_bars), pairs).reshape(n_bars, pairs)

    def tiers_and_weights() -> tuple[np.ndarray, np.ndarray]:
        if config.leverage_sampling == "stratified":
            tier = np.broadcast_to(np.repeat(np.arange(n_tiers), g), (n_bars, pairs))
            return tier, ws[tier] / g
        tier = rng.choice(n_tiers, size=(n_bars, pairs), p=ws)
        return tier, np.full((n_bars, pairs), 1.0 / pairs)

    def entry_steps() -> np.ndarray:
        if config.entry == "typical":
            return np.full((n_bars, pairs), -1, dtype=np.int64)
        return bars * k + rng.integers(0, k, size=(n_bars, pairs))

    def sizes() -> np.ndarray:
        return config.size_median_usd * np.exp(config.size_sigma * rng.standard_normal((n_bars, pairs)))

    phi = taker_buy[:, None]
    ones = np.ones((n_bars, pairs))
    parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, bool, np.ndarray, np.ndarray]] = []
    if config.attribution == "both":
        tier_l, w = tiers_and_weights()
        if config.leverage_sampling == "stratified":
            tier_s = tier_l
        else:
            tier_s = rng.choice(n_tiers, size=(n_bars, pairs), p=ws)
        steps = entry_steps()
        parts.append((1, w, levs[tier_l], sizes(), False, steps, phi * ones))
        parts.append((-1, w, levs[tier_s], sizes(), False, steps, 0.0 * ones))
    else:
        tier_a, w_a = tiers_and_weights()
        tier_b, w_b = tiers_and_weights()
        steps_a, steps_b = entry_steps(), entry_steps()
        maker_lev = np.full((n_bars, pairs), config.maker_leverage)
        maker_size = np.full((n_bars, pairs), config.maker_size_usd)
        # pair A: a leveraged taker buys (opens long) from a market maker (opens short)
        parts.append((1, phi * w_a, levs[tier_a], sizes(), False, steps_a, ones))
        parts.append((-1, phi * w_a, maker_lev, maker_size, True, steps_a, 0.0 * ones))
        # pair B: a leveraged taker sells (opens short) to a market maker (opens long)
        parts.append((1, (1.0 - phi) * w_b, maker_lev, maker_size, True, steps_b, 0.0 * ones))
        parts.append((-1, (1.0 - phi) * w_b, levs[tier_b], sizes(), False, steps_b, 0.0 * ones))

    def cat(i: int) -> np.ndarray:
        return np.concatenate([np.ravel(p[i]) for p in parts])

    return NewGroups(
        side=np.concatenate([np.full(bars.size, p[0], np.int8) for p in parts]),
        weight=cat(1),
        leverage=cat(2).astype(np.float64),
        size_usd=cat(3).astype(np.float64),
        maker=np.concatenate([np.full(bars.size, p[4]) for p in parts]),
        open_bar=np.tile(bars.ravel(), len(parts)),
        entry_step=cat(5).astype(np.int64),
        buy_share=cat(6),
    )


# ------------------------------------------------------------------------------------- a chunk


def simulate_positions(
    config: SimConfig,
    *,
    venue: Venue,
    symbol: str,
    chunk_start_ns: int,
    price: np.ndarray,
    bar_open: np.ndarray,
    bar_high: np.ndarray,
    bar_low: np.ndarray,
    bar_close: np.ndarray,
    vol_ratio: np.ndarray,
    state: MarketState,
    rng: np.random.Generator,
) -> PositionChunk:
    """Open, close and liquidate positions of one market over one chunk; updates ``state``."""

    k = config.steps_per_bar
    n_bars = bar_close.shape[0]
    n = n_bars * k
    step_ns = config.step_ns
    target = config.venue_oi_usd(venue, symbol)
    typical = (bar_high + bar_low + bar_close) / 3.0

    # taker-buy share of each bar: follows the bar's standardized return (buyers push price up)
    ret = np.log(bar_close / bar_open)
    z = ret / (np.maximum(vol_ratio, 1e-12) * _sigma_bar(config, symbol))
    taker_buy = 1.0 / (1.0 + np.exp(-(config.taker_skew * z + 0.3 * rng.standard_normal(n_bars))))
    flow_eps = rng.standard_normal(n_bars)
    flow_scale = np.clip(vol_ratio, 0.25, 4.0)  # more repositioning when the market is volatile
    churn_noise = rng.exponential(1.0, n)
    churn_buy = np.clip(np.repeat(taker_buy, k) + 0.1 * rng.standard_normal(n), 0.02, 0.98)

    new = draw_new_groups(config, n_bars, taker_buy, rng)
    carried = state.groups
    n_old = carried.side.shape[0]

    # --- all groups of the chunk: carried first, then new ---
    typical_entry = new.entry_step < 0
    new_entry = np.where(typical_entry, typical[new.open_bar], price[np.maximum(new.entry_step, 0)])
    new_lp, new_lev_eff = margin_terms(venue, symbol, new.side, new_entry, new.leverage, new.size_usd)
    side = np.concatenate([carried.side, new.side])
    entry = np.concatenate([carried.entry, new_entry])
    liq_price = np.concatenate([carried.liq_price, new_lp])
    open_bar = np.concatenate([np.full(n_old, -1, np.int64), new.open_bar])
    # survival index at which a group's opening quantity is measured (see the bookkeeping loop)
    ref = np.concatenate(
        [np.zeros(n_old, np.int64), np.where(typical_entry, 2 * new.open_bar + 2, 2 * new.open_bar + 1)]
    )
    start_step = np.concatenate(
        [np.zeros(n_old, np.int64), np.where(typical_entry, (new.open_bar + 1) * k, new.entry_step + 1)]
    )
    coef = np.concatenate([np.zeros(n_old), new.weight / new_entry])  # base coin per USD opened in the bar
    fixed_q = np.concatenate([carried.qty, np.zeros(new.side.shape[0])])

    # --- liquidation step of every group: independent of amounts ---
    liq_step = np.full(side.shape[0], n, dtype=np.int64)
    longs = side > 0
    can = liq_price > 0.0
    for mask, below in ((longs & can, True), (~longs & can, False)):
        idx = np.flatnonzero(mask)
        if idx.size:
            liq_step[idx] = first_crossing(price, k, start_step[idx], liq_price[idx], below=below)
    liq_bar = liq_step // k

    # --- per-bar sums of what opens (per unit of the bar's opened notional) ---
    def per_bar(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        sel = np.flatnonzero(mask)
        return np.bincount(open_bar[sel], weights=values[sel], minlength=n_bars)[:n_bars]

    is_new = open_bar >= 0
    typ_all = np.concatenate([np.zeros(n_old, bool), typical_entry])
    weight_all = np.concatenate([np.zeros(n_old), new.weight])
    sums = {}
    for name, sd in (("l", 1), ("s", -1)):
        for when, tmask in (("step", ~typ_all), ("typ", typ_all)):
            m = is_new & (side == sd) & tmask
            sums[f"c{name}_{when}"] = per_bar(coef, m)
            sums[f"w{name}_{when}"] = per_bar(weight_all, m)

    # --- liquidations sorted by bar, per side ---
    def bar_lists(sd: int) -> tuple[np.ndarray, np.ndarray]:
        idx = np.flatnonzero((side == sd) & (liq_bar < n_bars))
        order = idx[np.argsort(liq_bar[idx], kind="stable")]
        bounds = np.searchsorted(liq_bar[order], np.arange(n_bars + 1))
        return order, bounds

    order_l, bounds_l = bar_lists(1)
    order_s, bounds_s = bar_lists(-1)
    open_bar_c = np.maximum(open_bar, 0)
    liq_qty = np.zeros(side.shape[0])

    # --- bar-by-bar bookkeeping (scalars plus the few groups liquidated in each bar) ---
    kappa = 1.0 - math.exp(-config.oi_reversion_per_hour * config.bar_hours)
    flow_sd = config.flow_vol_per_sqrt_hour * math.sqrt(config.bar_hours)
    close_gross = 1.0 - math.exp(-config.close_rate_per_hour * config.bar_hours)
    drop = config.liquidation_oi_drop
    book_l = float(np.sum(np.where(carried.side > 0, carried.qty, 0.0)))
    book_s = float(np.sum(np.where(carried.side < 0, carried.qty, 0.0)))
    usd_l = float(np.sum(np.where(carried.side > 0, carried.qty * carried.entry, 0.0)))
    usd_s = float(np.sum(np.where(carried.side < 0, carried.qty * carried.entry, 0.0)))
    abs_l, abs_s = state.absorber_long, state.absorber_short
    last_close = state.last_close
    opened_flag = state.opened
    # survival logs, two entries per bar: 2b = start of bar b, 2b+1 = after its proportional closes,
    # 2b+2 = end of bar b (after liquidations and their counterparties)
    log_l = np.zeros(2 * n_bars + 1)
    log_s = np.zeros(2 * n_bars + 1)
    opened_usd = np.zeros(n_bars)
    close_frac = np.zeros(n_bars)
    rec = {name: np.zeros(n_bars) for name in _RECORDS}
    for b in range(n_bars):
        oi_prev = 0.5 * (book_l + abs_l + book_s + abs_s) * last_close
        if not opened_flag:
            o_b, c_b = target, 0.0  # the market opens with its target open interest
            opened_flag = True
        else:
            delta = kappa * (target - oi_prev) + flow_sd * target * flow_eps[b] * flow_scale[b]
            if config.flow == "net":
                o_b = max(delta, 0.0)
                c_b = min(-delta / oi_prev, 0.5) if delta < 0.0 and oi_prev > 0.0 else 0.0
            else:
                c_b = close_gross
                o_b = max(c_b * oi_prev + delta, 0.0)
        opened_usd[b] = o_b
        close_frac[b] = c_b
        # 1) proportional closes of everything standing at the bar's start
        keep_c = 1.0 - c_b
        rec["closed_l"][b] = usd_l * c_b
        rec["closed_s"][b] = usd_s * c_b
        book_l, usd_l, abs_l = book_l * keep_c, usd_l * keep_c, abs_l * keep_c
        book_s, usd_s, abs_s = book_s * keep_c, usd_s * keep_c, abs_s * keep_c
        log_c = math.log(max(keep_c, 1e-300))
        log_l[2 * b + 1] = log_l[2 * b] + log_c
        log_s[2 * b + 1] = log_s[2 * b] + log_c
        # 2) opens at steps inside the bar
        book_l += o_b * sums["cl_step"][b]
        usd_l += o_b * sums["wl_step"][b]
        book_s += o_b * sums["cs_step"][b]
        usd_s += o_b * sums["ws_step"][b]
        # 3) liquidations: each group's quantity after this bar's closes
        lq = [0.0, 0.0]
        lv = [0.0, 0.0]
        mid = 2 * b + 1
        for j, (order, bounds, logs) in enumerate(((order_l, bounds_l, log_l), (order_s, bounds_s, log_s))):
            i0, i1 = bounds[b], bounds[b + 1]
            if i1 > i0:
                gi = order[i0:i1]
                q = (fixed_q[gi] + opened_usd[open_bar_c[gi]] * coef[gi]) * np.exp(logs[mid] - logs[ref[gi]])
                liq_qty[gi] = q
                lq[j] = float(q.sum())
                lv[j] = float(np.dot(q, entry[gi]))
        book_l -= lq[0]
        usd_l -= lv[0]
        book_s -= lq[1]
        usd_s -= lv[1]
        # 4) the forced orders' counterparties: other-side holders close (share d), makers absorb the rest
        g_l = g_s = 1.0
        if lq[0] > 0.0 or lq[1] > 0.0:
            both = lq[0] + lq[1]
            d = min(drop, (book_l + abs_l + lq[0]) / both, (book_s + abs_s + lq[1]) / both)
            abs_l += (1.0 - d) * lq[0]
            abs_s += (1.0 - d) * lq[1]
            tot_l, tot_s = book_l + abs_l, book_s + abs_s
            g_l = max(1.0 - d * lq[1] / tot_l, 0.0) if tot_l > 0.0 else 1.0
            g_s = max(1.0 - d * lq[0] / tot_s, 0.0) if tot_s > 0.0 else 1.0
        rec["closed_l"][b] += usd_l * (1.0 - g_l)
        rec["closed_s"][b] += usd_s * (1.0 - g_s)
        book_l, usd_l, abs_l = book_l * g_l, usd_l * g_l, abs_l * g_l
        book_s, usd_s, abs_s = book_s * g_s, usd_s * g_s, abs_s * g_s
        log_l[2 * b + 2] = log_l[mid] + math.log(max(g_l, 1e-300))
        log_s[2 * b + 2] = log_s[mid] + math.log(max(g_s, 1e-300))
        # 5) opens at the bar's typical price, effective from the next bar
        book_l += o_b * sums["cl_typ"][b]
        usd_l += o_b * sums["wl_typ"][b]
        book_s += o_b * sums["cs_typ"][b]
        usd_s += o_b * sums["ws_typ"][b]
        rec["liq_l"][b], rec["liq_s"][b] = lv
        rec["liq_qty_l"][b], rec["liq_qty_s"][b] = lq
        rec["book_l"][b], rec["book_s"][b] = book_l, book_s
        rec["usd_l"][b], rec["usd_s"][b] = usd_l, usd_s
        rec["abs_l"][b], rec["abs_s"][b] = abs_l, abs_s
        last_close = float(bar_close[b])

    q0 = fixed_q + opened_usd[open_bar_c] * coef * is_new
    log_at = np.where(side > 0, log_l[ref], log_s[ref])
    liquidated = liq_bar < n_bars
    fill = np.where(liquidated, price[np.minimum(liq_step, n - 1)], 0.0)
    liq_fill_l = np.bincount(
        liq_bar[liquidated & longs], weights=(liq_qty * fill)[liquidated & longs], minlength=n_bars
    )[:n_bars]
    liq_fill_s = np.bincount(
        liq_bar[liquidated & ~longs], weights=(liq_qty * fill)[liquidated & ~longs], minlength=n_bars
    )[:n_bars]

    # --- what stands at the chunk's end is carried; dust is counted as closed ---
    alive = ~liquidated
    q_end = q0 * np.exp(np.where(side > 0, log_l[-1], log_s[-1]) - log_at)
    dust = alive & (q_end * entry < config.prune_usd)
    if np.any(dust):
        for sd, key_c, key_b, key_u in (
            (1, "closed_l", "book_l", "usd_l"),
            (-1, "closed_s", "book_s", "usd_s"),
        ):
            m = dust & (side == sd)
            rec[key_c][-1] += float(np.sum(q_end[m] * entry[m]))
            rec[key_b][-1] -= float(np.sum(q_end[m]))
            rec[key_u][-1] -= float(np.sum(q_end[m] * entry[m]))
        book_l, book_s = rec["book_l"][-1], rec["book_s"][-1]
    keep = np.flatnonzero(alive & ~dust)
    leverage = np.concatenate([carried.leverage, new.leverage])
    leverage_eff = np.concatenate([carried.leverage_eff, new_lev_eff])
    size_usd = np.concatenate([carried.size_usd, new.size_usd])
    maker = np.concatenate([carried.maker, new.maker])
    entry_step = np.concatenate([np.full(n_old, -1, np.int64), new.entry_step])
    open_ns = np.concatenate(
        [
            carried.open_ns,
            chunk_start_ns
            + np.where(typical_entry, (new.open_bar + 1) * k - 1, new.entry_step).astype(np.int64) * step_ns,
        ]
    )
    qty_open = np.concatenate([carried.qty_open, q0[n_old:]])
    state.groups = CarriedGroups(
        side=side[keep],
        entry=entry[keep],
        leverage=leverage[keep],
        leverage_eff=leverage_eff[keep],
        size_usd=size_usd[keep],
        liq_price=liq_price[keep],
        maker=maker[keep],
        qty=q_end[keep],
        qty_open=qty_open[keep],
        open_ns=open_ns[keep],
    )
    state.absorber_long, state.absorber_short = abs_l, abs_s
    state.opened = opened_flag
    state.last_close = last_close

    buy, sell = _volume(
        config,
        n=n,
        k=k,
        side=side,
        is_new=is_new,
        entry_step=entry_step,
        open_bar=open_bar_c,
        q0=q0,
        buy_share=np.concatenate([np.zeros(n_old), new.buy_share]),
        liq_step=liq_step,
        liq_qty=liq_qty,
        close_frac=close_frac,
        taker_buy=taker_buy,
        oi_qty=0.5 * (rec["book_l"] + rec["abs_l"] + rec["book_s"] + rec["abs_s"]),
        churn_noise=churn_noise,
        churn_buy=churn_buy,
    )
    oi_qty = 0.5 * (rec["book_l"] + rec["abs_l"] + rec["book_s"] + rec["abs_s"])
    return PositionChunk(
        side=side,
        entry=entry,
        leverage=leverage,
        leverage_eff=leverage_eff,
        size_usd=size_usd,
        liq_price=liq_price,
        maker=maker,
        open_bar=open_bar,
        open_ns=open_ns,
        ref=ref,
        q0=q0,
        qty_open=qty_open,
        entry_step=entry_step,
        start_step=start_step,
        liq_step=liq_step,
        liq_bar=liq_bar,
        liq_qty=liq_qty,
        log_survival_long=log_l,
        log_survival_short=log_s,
        opened_usd=opened_usd,
        opened_long_usd=opened_usd * (sums["wl_step"] + sums["wl_typ"]),
        opened_short_usd=opened_usd * (sums["ws_step"] + sums["ws_typ"]),
        closed_long_usd=rec["closed_l"],
        closed_short_usd=rec["closed_s"],
        liq_long_usd=rec["liq_l"],
        liq_short_usd=rec["liq_s"],
        liq_long_fill_usd=liq_fill_l,
        liq_short_fill_usd=liq_fill_s,
        book_long_qty=rec["book_l"],
        book_short_qty=rec["book_s"],
        book_long_usd=rec["usd_l"],
        book_short_usd=rec["usd_s"],
        oi_qty=oi_qty,
        absorber_long=rec["abs_l"],
        absorber_short=rec["abs_s"],
        close_fraction=close_frac,
        taker_buy_share=taker_buy,
        buy_qty=buy,
        sell_qty=sell,
    )


_RECORDS = (
    "closed_l",
    "closed_s",
    "liq_l",
    "liq_s",
    "liq_qty_l",
    "liq_qty_s",
    "book_l",
    "book_s",
    "usd_l",
    "usd_s",
    "abs_l",
    "abs_s",
)


def _sigma_bar(config: SimConfig, symbol: str) -> float:
    return math.sqrt(garch_omega(config, symbol)[0])


def _volume(
    config: SimConfig,
    *,
    n: int,
    k: int,
    side: np.ndarray,
    is_new: np.ndarray,
    entry_step: np.ndarray,
    open_bar: np.ndarray,
    q0: np.ndarray,
    buy_share: np.ndarray,
    liq_step: np.ndarray,
    liq_qty: np.ndarray,
    close_frac: np.ndarray,
    taker_buy: np.ndarray,
    oi_qty: np.ndarray,
    churn_noise: np.ndarray,
    churn_buy: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Taker buy and sell volume (base coin) per step: opening contracts (counted once, on the long
    group), proportional closes, forced liquidation orders and OI-neutral churn."""

    n_bars = n // k
    buy = np.zeros(n)
    sell = np.zeros(n)
    opens = np.flatnonzero(is_new & (side > 0))
    at_step = entry_step[opens] >= 0
    s_idx, s_q = entry_step[opens][at_step], q0[opens][at_step]
    np.add.at(buy, s_idx, s_q * buy_share[opens][at_step])
    np.add.at(sell, s_idx, s_q * (1.0 - buy_share[opens][at_step]))
    # typical-price entries: the bar's opening volume spread evenly over its steps
    t_bar, t_q = open_bar[opens][~at_step], q0[opens][~at_step]
    t_buy = np.bincount(t_bar, weights=t_q * buy_share[opens][~at_step], minlength=n_bars)[:n_bars]
    t_all = np.bincount(t_bar, weights=t_q, minlength=n_bars)[:n_bars]
    # proportional closes (contracts closed at the bar's end, spread over the bar) split by taker share
    prev_oi = np.r_[oi_qty[0], oi_qty[:-1]]
    closed = close_frac * prev_oi
    per_bar_buy = t_buy + closed * taker_buy
    per_bar_sell = (t_all - t_buy) + closed * (1.0 - taker_buy)
    buy += np.repeat(per_bar_buy / k, k)
    sell += np.repeat(per_bar_sell / k, k)
    # forced orders: a long's liquidation is a taker sell, a short's a taker buy
    liq = np.flatnonzero(liq_step < n)
    long_liq = side[liq] > 0
    np.add.at(sell, liq_step[liq][long_liq], liq_qty[liq][long_liq])
    np.add.at(buy, liq_step[liq][~long_liq], liq_qty[liq][~long_liq])
    # churn: positions changing hands without changing OI
    per_step = config.turnover_per_day * (config.step_ns / 86_400e9)
    churn = per_step * np.repeat(oi_qty, k) * churn_noise
    buy += churn * churn_buy
    sell += churn * (1.0 - churn_buy)
    return buy, sell
