"""The fast cohort engine: estimated standing liquidation USD per price bin over time, and the USD the
price path consumed per slot.

Recipe (docs/heatmap.md; ``reference.py`` is the same recipe as a slow per-cohort loop). A venue's bars
first become engine slots (``intrabar.series_slots``: one per bar, or ``3·substeps`` along the intrabar
path, doubled by turnover's flat slots); everything reported is per bar again (flows summed over a bar's
slots, standing at its last slot). For each venue's slots, in order, slot ``u``:

1. close: standing positions shrink by the survival factor ``f_u`` (the fraction of one-sided OI that
   remained when OI fell, ``close_rule="proportional"``; times an optional exponential decay);
2. consume: standing longs whose liquidation price ``LP >= low_u`` and shorts with ``LP <= high_u`` are
   liquidated — their USD is the slot's *consumed* flow;
3. open: the slot's OI increase opens new positions at the slot's entry price, split by side
   (attribution) and by leverage (weights); each (slot, side, leverage) *cohort* has one LP;
4. (only with ``consume_own_slot``) new cohorts the slot's own range already crossed are consumed.

Standing = the USD after step 4 (end of slot). A cohort's value at slot ``u`` is ``size·S_u/S_t`` with
``S`` the running product of survival factors, so closes never need a per-slot pass over cohorts.

How it is fast: a cohort's consumption slot is the first later slot whose low (high) crosses its LP,
found for all cohorts at once by binary lifting over a sparse table of running minima (maxima). Display
matrices are a scatter of ±cohort weights at (open/consume column, bin), a running sum over columns and
one multiplication by the per-column sum of ``S`` — with ``S`` renormalized per *frame* (a run of slots
over which ``log S`` falls by at most ``FRAME_LOG_RANGE``), so a year of closes never under/overflows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..model import Venue
from .bins import bin_index, price_edges
from .intrabar import SlotInputs, series_slots
from .params import EngineParams
from .recipe import F_MIN, auto_price_range, cohort_ratios
from .result import Heatmap, HeatmapPart
from .series import BarSeries, SeriesError, common_grid
from .windows import WindowSlots, cut_grid, select_window

# Inside one numeric frame exp(L_u − L_ref) stays within [e^-8, 1]: cancellation in running sums then
# costs at most ~e^8·ε ≈ 3e-13 relative.
FRAME_LOG_RANGE = 8.0


@dataclass(frozen=True, kw_only=True, eq=False)
class SlotSeries:
    """Per-slot USD flows and stock of one side: ``added`` (opened), ``consumed`` (liquidated by the price
    path), ``closed`` (removed by OI decreases/decay), ``standing`` (end of slot). For every slot,
    ``cumsum(added) == standing + cumsum(consumed) + cumsum(closed)``."""

    added_usd: np.ndarray
    consumed_usd: np.ndarray
    closed_usd: np.ndarray
    standing_usd: np.ndarray

    def __add__(self, other: SlotSeries) -> SlotSeries:
        return SlotSeries(
            added_usd=self.added_usd + other.added_usd,
            consumed_usd=self.consumed_usd + other.consumed_usd,
            closed_usd=self.closed_usd + other.closed_usd,
            standing_usd=self.standing_usd + other.standing_usd,
        )


@dataclass(frozen=True, kw_only=True, eq=False)
class EngineResult:
    """What one engine run produces. Slot series cover every computed slot (warm-up included; index
    ``window.start`` is the first displayed slot); ``heatmap`` covers the window."""

    symbol: str
    venues: tuple[str, ...]
    interval_s: int
    ts_ns: np.ndarray  # slot opens, int64 ns
    long: SlotSeries  # aggregate over venues
    short: SlotSeries
    by_venue: Mapping[str, tuple[SlotSeries, SlotSeries]]  # venue → (long, short)
    window: WindowSlots
    heatmap: Heatmap | None
    params: EngineParams
    price_edges: np.ndarray = field(default_factory=lambda: np.zeros(0))


# ------------------------------------------------------------------------------------------------------
# per-venue recipe inputs (vectorized over slots)
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, eq=False)
class _Venue:
    venue: Venue
    s: BarSeries  # the aligned bars
    per_bar: int  # engine slots per bar (intrabar path / turnover)
    entry: np.ndarray  # (T,) per engine slot
    low: np.ndarray
    high: np.ndarray
    add_long: np.ndarray  # (T,) USD opened per side
    add_short: np.ndarray
    log_f: np.ndarray  # (T,) log survival factor of slot u (applied at its start)
    r_long: np.ndarray  # (K,)
    r_short: np.ndarray


def _entry_price(inp: SlotInputs, params: EngineParams) -> np.ndarray:
    p = inp.path
    typical = (p.high + p.low + p.close) / 3.0
    if params.entry == "close":
        return p.close.copy()
    if params.entry == "vwap" and inp.quote_volume is not None and inp.volume is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            vwap = inp.quote_volume / inp.volume
        ok = (inp.volume > 0.0) & np.isfinite(vwap) & (vwap >= p.low) & (vwap <= p.high)
        return np.where(ok, vwap, typical)
    return typical


def _prepare(s: BarSeries, symbol: str, params: EngineParams) -> _Venue:
    inp = series_slots(
        s, oi_in_base=params.oi_unit == "base", substeps=params.substeps, turnover_per_h=params.turnover_per_h
    )
    entry = _entry_price(inp, params)
    oi = inp.path.level
    d = np.zeros_like(oi)
    d[1:] = oi[1:] - oi[:-1]
    inc = np.maximum(d, 0.0)
    add = inc * entry if params.oi_unit == "base" else inc
    if params.attribution == "aggressor":
        share = np.full_like(add, 0.5)
        if inp.taker_buy_volume is not None and inp.volume is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                b = inp.taker_buy_volume / inp.volume
            share = np.where((inp.volume > 0.0) & np.isfinite(b), np.clip(b, 0.0, 1.0), 0.5)
        add_long = 2.0 * share * add
        add_short = 2.0 * (1.0 - share) * add
    else:
        add_long = add
        add_short = add.copy()
    f = np.ones_like(oi)
    if params.close_rule == "proportional":
        prev = oi[:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where((d[1:] < 0.0) & (prev > 0.0), oi[1:] / prev, 1.0)
        f[1:] = np.maximum(ratio, F_MIN)
    log_f = np.log(f)
    if params.half_life_h is not None:
        log_f[1:] -= math.log(2.0) * inp.path.hours / params.half_life_h  # real hours per engine slot
    r_long, r_short = cohort_ratios(s.venue, symbol, params)
    return _Venue(
        venue=s.venue,
        s=s,
        per_bar=inp.per_bar,
        entry=entry,
        low=inp.path.low,
        high=inp.path.high,
        add_long=add_long,
        add_short=add_short,
        log_f=log_f,
        r_long=r_long,
        r_short=r_short,
    )


def _per_bar(x: SlotSeries, m: int) -> SlotSeries:
    """Engine-slot series → per input bar: flows summed over the bar's slots, standing at its last slot."""

    if m == 1:
        return x

    def flow(a: np.ndarray) -> np.ndarray:
        return a.reshape(-1, m).sum(axis=1)

    return SlotSeries(
        added_usd=flow(x.added_usd),
        consumed_usd=flow(x.consumed_usd),
        closed_usd=flow(x.closed_usd),
        standing_usd=x.standing_usd[m - 1 :: m].copy(),
    )


# ------------------------------------------------------------------------------------------------------
# first crossing: binary lifting over a sparse table
# ------------------------------------------------------------------------------------------------------


def _first_crossing(values: np.ndarray, start: np.ndarray, level: np.ndarray, *, below: bool) -> np.ndarray:
    """For each query, the first slot ``u >= start`` with ``values[u] <= level`` (``below``) or
    ``values[u] >= level``; ``len(values)`` when none."""

    n = values.shape[0]
    if start.size == 0:
        return start.astype(np.int64)
    # work on "x <= level" only: for highs use negated values
    v = values if below else -values
    q = level if below else -level
    depth = max(1, int(n).bit_length())
    table = np.full((depth, n + 1), np.inf)
    table[0, :n] = v
    for j in range(1, depth):
        h = 1 << (j - 1)
        prev = table[j - 1]
        cur = table[j]
        cur[: n + 1 - h] = np.minimum(prev[: n + 1 - h], prev[h:])
        cur[n + 1 - h :] = prev[n + 1 - h :]
    flat = table.ravel()
    pos = np.minimum(start.astype(np.int64), n)
    for j in range(depth - 1, -1, -1):
        # all of [pos, pos + 2^j) lie above the level → skip them
        skip = flat[j * (n + 1) + pos] > q
        pos = np.where(skip, np.minimum(pos + (1 << j), n), pos)
    return pos


def _first_crossing_in_bars(
    values: np.ndarray, start: np.ndarray, level: np.ndarray, *, below: bool, per_bar: int
) -> np.ndarray:
    """:func:`_first_crossing` over slots that come ``per_bar`` to a bar (the intrabar steps), in two
    levels: inside the query's own bar by binary lifting over a sparse table clipped to bar ends (depth
    ``log2(per_bar)``, memory-local), then the first later bar whose extreme crosses (:func:`_first_crossing`
    over per-bar extremes, a table ``per_bar`` times smaller), then inside that bar. Same answer, far less
    work than one table over every slot."""

    m = per_bar
    if m == 1 or start.size == 0:
        return _first_crossing(values, start, level, below=below)
    n = values.shape[0]
    nb = n // m
    v = values if below else -values
    q = level if below else -level
    depth = int(m).bit_length()  # skips 2^(depth-1) + … + 1 = 2^depth − 1 >= m cover a bar
    table = np.empty((depth, n))
    table[0] = v
    for j in range(1, depth):
        h = 1 << (j - 1)
        prev = table[j - 1].reshape(nb, m)
        cur = table[j].reshape(nb, m)
        cur[:] = prev
        if h < m:
            np.minimum(prev[:, : m - h], prev[:, h:], out=cur[:, : m - h])

    def lift(pos: np.ndarray, end: np.ndarray, qq: np.ndarray) -> np.ndarray:
        """First slot in [pos, end) (inside one bar) with value <= qq, else end."""

        for j in range(depth - 1, -1, -1):
            skip = (pos < end) & (table[j, np.minimum(pos, n - 1)] > qq)
            pos = np.where(skip, np.minimum(pos + (1 << j), end), pos)
        return pos

    pos = np.minimum(start.astype(np.int64), n)
    own_end = np.minimum((pos // m + 1) * m, n)
    out = lift(pos, own_end, q)
    rest = np.flatnonzero((out >= own_end) & (own_end < n))
    if rest.size:
        extreme = values.reshape(nb, m).min(axis=1) if below else values.reshape(nb, m).max(axis=1)
        bar = _first_crossing(extreme, own_end[rest] // m, level[rest], below=below)
        hit = bar < nb
        b0 = bar[hit] * m
        res = np.full(rest.shape[0], n, dtype=np.int64)
        res[hit] = lift(b0, b0 + m, q[rest[hit]])
        out[rest] = res
    return out


# ------------------------------------------------------------------------------------------------------
# numeric frames
# ------------------------------------------------------------------------------------------------------


def _frame_starts(L: np.ndarray, win: WindowSlots) -> np.ndarray:
    """Starts of numeric frames: runs where ``L`` (non-increasing) stays within FRAME_LOG_RANGE of the
    run's first value. The window start always begins a frame; inside the window a frame ends at a
    display-column start when it can (then columns never straddle frames), mid-column only when one
    column alone spans more than the range."""

    n = L.shape[0]
    neg = -L
    col_starts = win.column_starts()
    starts = [0]
    s = 0
    while True:
        nxt = int(np.searchsorted(neg, neg[s] + FRAME_LOG_RANGE, side="right"))  # first slot out of range
        if s < win.start <= nxt:
            nxt = win.start
        elif nxt < n and nxt > win.start:
            c = int(col_starts[np.searchsorted(col_starts, nxt, side="right") - 1])
            if c > s:
                nxt = c
        if nxt >= n:
            break
        starts.append(nxt)
        s = nxt
    return np.asarray(starts, dtype=np.int64)


@dataclass(frozen=True, kw_only=True, eq=False)
class _Cohorts:
    t: np.ndarray  # open slot
    c: np.ndarray  # consume slot (T = never)
    k: np.ndarray  # leverage index
    size: np.ndarray  # USD at open
    lp: np.ndarray


def _cohorts(
    add: np.ndarray,
    entry: np.ndarray,
    ratios: np.ndarray,
    weights: np.ndarray,
    cross: np.ndarray,
    *,
    below: bool,
    own_slot: bool,
    per_bar: int = 1,
) -> _Cohorts:
    sizes = add[:, None] * weights[None, :]  # (T, K)
    t_idx, k_idx = np.nonzero(sizes > 0.0)
    size = sizes[t_idx, k_idx]
    lp = entry[t_idx] * ratios[k_idx]
    start = t_idx if own_slot else t_idx + 1
    c = _first_crossing_in_bars(cross, start, lp, below=below, per_bar=per_bar)
    return _Cohorts(t=t_idx.astype(np.int64), c=c, k=k_idx.astype(np.int64), size=size, lp=lp)


def _side_series(co: _Cohorts, L: np.ndarray, log_f: np.ndarray, frames: np.ndarray) -> SlotSeries:
    n = L.shape[0]
    frame_of = np.zeros(n, dtype=np.int64)
    frame_of[frames[1:]] = 1
    frame_of = np.cumsum(frame_of)
    R = L[frames][frame_of]  # frame reference per slot
    S = np.exp(L - R)
    added = np.bincount(co.t, co.size, minlength=n)
    hit = co.c < n
    consumed = np.bincount(co.c[hit], co.size[hit] * np.exp(L[co.c[hit]] - L[co.t[hit]]), minlength=n)
    w_add = co.size * np.exp(R[co.t] - L[co.t])
    w_rem = co.size[hit] * np.exp(R[co.c[hit]] - L[co.t[hit]])
    D = np.bincount(co.t, w_add, minlength=n) - np.bincount(co.c[hit], w_rem, minlength=n)
    standing = np.empty(n)
    carry = 0.0
    bounds = [*frames.tolist(), n]
    for i in range(len(bounds) - 1):
        a, b = bounds[i], bounds[i + 1]
        if i > 0:
            carry = float(standing[a - 1]) * math.exp(log_f[a])  # value after slot a's close
        standing[a:b] = S[a:b] * (carry + np.cumsum(D[a:b]))
    standing = np.maximum(standing, 0.0)
    closed = np.zeros(n)
    closed[1:] = standing[:-1] * -np.expm1(log_f[1:])
    return SlotSeries(added_usd=added, consumed_usd=consumed, closed_usd=closed, standing_usd=standing)


def _side_display(
    co: _Cohorts,
    L: np.ndarray,
    log_f: np.ndarray,
    frames: np.ndarray,
    win: WindowSlots,
    edges: np.ndarray,
    group_of_k: np.ndarray,
    work: np.ndarray,
    per_bar: int = 1,
) -> np.ndarray:
    """Column-mean standing USD ``(groups, columns, bins)`` over the window, computed in ``work`` (a
    reusable buffer of at least that size; the result is a view of it). Groups are leverage indices, or
    one group when parts are off.

    Per piece ``p`` (a column, or the part of a column inside one frame) with ``S_u = exp(L_u − L_frame)``:
    ``Σ_{u∈p} standing_u = G_p·W_p − Σ_{events v∈p} w_v·B_v`` where ``W_p`` is the running sum of cohort
    weights ``±size·exp(L_frame − L_open)`` after the piece's events, ``G_p = Σ_{u∈p} S_u`` and ``B_v =
    Σ_{u∈p, u<v} S_u``. The first term is dense (a running sum over pieces), the second sparse.

    With ``per_bar`` engine slots per bar (intrabar steps; ``win`` then counts engine slots, columns hold
    whole bars) a column is the mean over its bars of the standing at each bar's LAST slot: the same sums
    with ``S_u`` masked to those slots."""

    n = L.shape[0]
    w0 = win.start
    nbin = edges.shape[0] - 1
    n_groups = int(group_of_k.max()) + 1
    frame_of = np.zeros(n, dtype=np.int64)
    frame_of[frames[1:]] = 1
    frame_of = np.cumsum(frame_of)
    R = L[frames][frame_of]
    S = np.exp(L - R)
    # pieces: window slots grouped by (column, frame)
    slots = np.arange(w0, n)
    col = win.column_of(slots)
    fr = frame_of[w0:]
    new_piece = np.ones(slots.shape[0], dtype=bool)
    new_piece[1:] = (col[1:] != col[:-1]) | (fr[1:] != fr[:-1])
    piece = np.cumsum(new_piece) - 1  # piece of slot w0 + i
    n_piece = int(piece[-1]) + 1
    piece_start = np.flatnonzero(new_piece)  # relative to w0
    col_of_piece = col[piece_start]
    inv_size = per_bar / win.column_sizes().astype(np.float64)  # 1 / bars per column
    Sw = S[w0:]
    if per_bar > 1:
        Sw = np.where(slots % per_bar == per_bar - 1, Sw, 0.0)
    g = np.add.reduceat(Sw, piece_start) * inv_size[col_of_piece]  # Σ S over each piece / column size
    cs = np.cumsum(Sw)
    base = np.where(piece_start > 0, cs[piece_start - 1], 0.0)
    before = (cs - Sw - base[piece]) * inv_size[col]  # B_v / column size, per window slot

    A = work[: n_groups * n_piece * nbin].reshape(n_groups, n_piece, nbin)
    A.fill(0.0)
    flat = A.reshape(-1)
    stride_g = n_piece * nbin

    bins = bin_index(edges, co.lp)
    grp = group_of_k[co.k]
    stands = (bins >= 0) & (co.c > co.t)  # cohorts consumed in their own slot never stand
    # state at the window start: cohorts opened before it and still standing
    alive0 = stands & (co.t < w0) & (co.c >= w0)
    W = np.zeros((n_groups, nbin))
    if alive0.any():
        np.add.at(
            W.reshape(-1),
            grp[alive0] * nbin + bins[alive0],
            co.size[alive0] * np.exp(L[w0] - L[co.t[alive0]]),
        )
    add_ev = stands & (co.t >= w0)
    rem_ev = stands & (co.c >= w0) & (co.c < n)
    v_add = co.t[add_ev]
    v_rem = co.c[rem_ev]
    idx_add = grp[add_ev] * stride_g + piece[v_add - w0] * nbin + bins[add_ev]
    idx_rem = grp[rem_ev] * stride_g + piece[v_rem - w0] * nbin + bins[rem_ev]
    w_add = co.size[add_ev] * np.exp(R[v_add] - L[v_add])
    w_rem = co.size[rem_ev] * np.exp(R[v_rem] - L[co.t[rem_ev]])
    np.add.at(flat, idx_add, w_add)
    np.add.at(flat, idx_rem, -w_rem)

    # running sum over pieces (carried across frames), scaled into column means in the same pass
    piece_frame = fr[piece_start]
    for p in range(n_piece):
        if p > 0 and piece_frame[p] != piece_frame[p - 1]:
            a = w0 + int(piece_start[p])  # first slot of the new frame
            # end of slot a-1: S[a-1]·W; slot a's close: ·f_a; the new frame has S[a] = 1
            W *= math.exp(L[a - 1] - R[a - 1] + log_f[a])
        row = A[:, p, :]
        W += row
        np.multiply(W, g[p], out=row)
    # the sparse term
    np.add.at(flat, idx_add, -w_add * before[v_add - w0])
    np.add.at(flat, idx_rem, w_rem * before[v_rem - w0])
    if n_piece != win.n_columns:
        # a piece continuing a column (a frame starts mid-column): fold it into the column's first piece
        cont = np.flatnonzero(col_of_piece[1:] == col_of_piece[:-1]) + 1
        for q in cont[::-1].tolist():
            A[:, q - 1, :] += A[:, q, :]
        keep = np.ones(n_piece, dtype=bool)
        keep[cont] = False
        A = A[:, keep, :]
    return A


# ------------------------------------------------------------------------------------------------------
# public entry point
# ------------------------------------------------------------------------------------------------------


def run_engine(
    series: BarSeries | Sequence[BarSeries],
    params: EngineParams | None = None,
    *,
    window: str | int | None = None,
    end_ns: int | None = None,
    display: bool = True,
    parts: bool = True,
) -> EngineResult:
    """Run the engine over one or more venues' series of ONE symbol. ``window`` (``"24h"``, ``"1y"``, ns)
    and ``end_ns`` (exclusive; default: after the last bar) select the displayed slots — everything
    before the window still builds the book. ``display=False`` skips the matrices (slot series only, e.g.
    for calibration); ``parts=False`` skips the per-venue/per-leverage matrices."""

    params = params or EngineParams()
    items = [series] if isinstance(series, BarSeries) else list(series)
    if not items:
        raise SeriesError("no series")
    symbol = items[0].symbol
    if any(s.symbol != symbol for s in items):
        raise SeriesError("all series must be of one symbol")
    venues = [s.venue for s in items]
    if len(set(venues)) != len(venues):
        raise SeriesError("one series per venue")
    grid = common_grid(items)
    n = cut_grid(grid, end_ns=end_ns)
    grid = grid[:n]
    interval_ns = items[0].interval_ns
    aligned = [s.to_grid(common_grid(items)).head(n) for s in items]
    win = select_window(grid, interval_ns, window=window, max_columns=params.max_columns)

    weights = np.asarray(params.normalized_weights)
    prepared = [_prepare(s, symbol, params) for s in aligned]

    # price bins over the window
    edges = np.zeros(0)
    if display:
        w_low = min(float(p.s.low[win.start :].min()) for p in prepared)
        w_high = max(float(p.s.high[win.start :].max()) for p in prepared)
        if params.price_range is not None:
            lo, hi = params.price_range
        else:
            lo, hi = auto_price_range(
                w_low,
                w_high,
                min(float(p.r_long[p.r_long > 0].min(initial=1.0)) for p in prepared),
                max(float(p.r_short.max()) for p in prepared),
            )
        edges = price_edges(
            lo,
            hi,
            scale=params.bins,
            width=params.bin_width,
            n_bins=params.n_bins,
            max_bins=params.max_bins,
            reference=float(prepared[0].s.close[-1]),
        )
    k_count = len(params.leverage)
    n_groups = k_count if parts else 1
    group_of_k = np.arange(k_count) if parts else np.zeros(k_count, dtype=np.int64)
    n_bins = edges.shape[0] - 1
    n_cols = win.n_columns

    by_venue_series: dict[str, tuple[SlotSeries, SlotSeries]] = {}
    venue_parts: dict[str, HeatmapPart] = {}
    # per side: (groups, columns, bins) summed over venues, and the aggregate (columns, bins)
    by_group: list[np.ndarray | None] = [None, None]
    totals: list[np.ndarray | None] = [None, None]
    work = np.empty(0)
    for p in prepared:
        m = p.per_bar
        swin = WindowSlots(start=win.start * m, stop=win.stop * m, group=win.group * m)
        L = np.cumsum(p.log_f)
        frames = _frame_starts(L, swin)
        sides: list[SlotSeries] = []
        venue_mats: list[np.ndarray] = []
        for i, (below, add, ratios, cross) in enumerate(
            (
                (True, p.add_long, p.r_long, p.low),
                (False, p.add_short, p.r_short, p.high),
            )
        ):
            co = _cohorts(
                add, p.entry, ratios, weights, cross, below=below, own_slot=params.consume_own_slot, per_bar=m
            )
            sides.append(_per_bar(_side_series(co, L, p.log_f, frames), m))
            if not display:
                continue
            need = n_groups * (n_cols + frames.shape[0]) * n_bins
            if work.size < need:
                work = np.empty(need)
            mat = _side_display(co, L, p.log_f, frames, swin, edges, group_of_k, work, per_bar=m)
            vm = mat.sum(axis=0) if parts else mat[0].copy()
            if parts:
                venue_mats.append(vm)
                acc = by_group[i]
                if acc is None:
                    # adopt the buffer (no copy); the next venue gets a fresh one
                    by_group[i] = mat if mat.base is work or mat.base is None else mat.copy()
                    work = np.empty(0) if by_group[i] is mat else work
                else:
                    acc += mat
            tot = totals[i]
            if tot is None:
                totals[i] = vm.copy() if parts else vm
            else:
                tot += vm
        by_venue_series[p.venue.value] = (sides[0], sides[1])
        if display and parts:
            venue_parts[p.venue.value] = HeatmapPart(long_usd=venue_mats[0], short_usd=venue_mats[1])
    for m in totals:
        if m is not None:
            np.maximum(m, 0.0, out=m)  # drop rounding residues (~1e-12 of a column's scale) below zero

    long_total = _sum_series([v[0] for v in by_venue_series.values()])
    short_total = _sum_series([v[1] for v in by_venue_series.values()])
    heatmap = None
    if display:
        total_long, total_short = totals
        assert total_long is not None and total_short is not None
        by_lev: dict[float, HeatmapPart] = {}
        if parts:
            bl, bs = by_group
            assert bl is not None and bs is not None
            for k, lev in enumerate(params.leverage):
                by_lev[float(lev)] = HeatmapPart(long_usd=bl[k], short_usd=bs[k])
        ref = prepared[0].s
        starts = win.column_starts()
        ends = np.minimum(starts + win.group, win.stop) - 1
        time_edges = np.append(grid[starts], grid[-1] + interval_ns).astype(np.int64)
        cl = long_total.consumed_usd[win.start :]
        cs = short_total.consumed_usd[win.start :]
        rel = starts - win.start
        desc = params.describe()
        desc.update(
            {
                "interval_s": items[0].interval_s,
                "window_slots": win.n_slots,
                "warmup_slots": win.start,
                "slots_per_column": win.group,
            }
        )
        heatmap = Heatmap(
            symbol=symbol,
            venues=tuple(v.value for v in venues),
            time_edges_ns=time_edges,
            price_edges=edges,
            long_usd=total_long,
            short_usd=total_short,
            open=ref.open[starts].copy(),
            high=np.maximum.reduceat(ref.high[win.start :], rel),
            low=np.minimum.reduceat(ref.low[win.start :], rel),
            close=ref.close[ends].copy(),
            consumed_long_usd=np.add.reduceat(cl, rel),
            consumed_short_usd=np.add.reduceat(cs, rel),
            by_venue=venue_parts,
            by_leverage=by_lev,
            params=desc,
        )
    return EngineResult(
        symbol=symbol,
        venues=tuple(v.value for v in venues),
        interval_s=items[0].interval_s,
        ts_ns=grid,
        long=long_total,
        short=short_total,
        by_venue=by_venue_series,
        window=win,
        heatmap=heatmap,
        params=params,
        price_edges=edges,
    )


def _sum_series(items: list[SlotSeries]) -> SlotSeries:
    out = items[0]
    for s in items[1:]:
        out = out + s
    return out


def compute_heatmap(
    series: BarSeries | Sequence[BarSeries],
    params: EngineParams | None = None,
    *,
    window: str | int | None = None,
    end_ns: int | None = None,
    parts: bool = True,
) -> Heatmap:
    """The display :class:`Heatmap` of :func:`run_engine`."""

    res = run_engine(series, params, window=window, end_ns=end_ns, parts=parts)
    assert res.heatmap is not None
    return res.heatmap
