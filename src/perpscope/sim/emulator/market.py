"""The emulator's market state per venue symbol: the truth order book (what the venue publishes), last trade,
mark/index/funding, open interest, 1-minute candles built from trades, and synthetic history before the
start (so REST history endpoints answer like a venue that has been running for days)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ...feed.book import SideLevels
from ...model import PriceLevel, Side, Trade
from ...timeutil import NS_PER_MS
from .instruments import EmuInstrument

MINUTE_MS = 60_000
FIVE_MIN_MS = 300_000
RECENT_TRADES = 1_000

# Kline intervals as the venues name them (Binance/Hyperliquid style), in ms.
INTERVAL_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}


@dataclass(frozen=True, kw_only=True)
class RecentTrade:
    trade_id: int
    ts_ms: int
    price: float
    qty: float  # base coin
    side: Side  # aggressor


@dataclass(kw_only=True)
class History:
    """Synthetic 1-minute bars, 5-minute open interest and settled funding before the emulator started."""

    t_ms: np.ndarray  # bar open times
    o: np.ndarray
    h: np.ndarray
    lo: np.ndarray
    c: np.ndarray
    v: np.ndarray  # base coin
    oi_t_ms: np.ndarray  # 5-minute stamps
    oi_base: np.ndarray
    funding_t_ms: np.ndarray
    funding_rate: np.ndarray


def make_history(
    *,
    price_now: float,
    oi_base_now: float,
    start_ms: int,
    days: float,
    interval_hours: float,
    seed: int,
    tick: float,
) -> History:
    """A backward random walk that ends at the current price (vectorized; a few thousand rows)."""

    rng = np.random.default_rng(seed)
    end = start_ms // MINUTE_MS * MINUTE_MS
    n = max(1, int(days * 1440))
    t = end - MINUTE_MS * np.arange(n, 0, -1, dtype=np.int64)
    sigma = 0.8 / math.sqrt(365 * 1440)
    steps = rng.normal(0.0, sigma, n)
    log_close = math.log(price_now) - np.concatenate((np.cumsum(steps[::-1])[::-1][1:], [0.0]))
    c = np.exp(log_close)
    o = np.concatenate(([c[0] * math.exp(-steps[0])], c[:-1]))
    spread = np.abs(rng.normal(0.0, sigma, n)) * c
    h = np.maximum(o, c) + spread
    lo = np.minimum(o, c) - spread
    dec = max(0, -math.floor(math.log10(tick))) + 1
    o, h, lo, c = (np.round(np.round(a / tick) * tick, dec) for a in (o, h, lo, c))
    v = rng.lognormal(math.log(5e5 / price_now), 0.8, n)
    n_oi = max(1, n // 5)
    oi_end = start_ms // FIVE_MIN_MS * FIVE_MIN_MS
    oi_t = oi_end - FIVE_MIN_MS * np.arange(n_oi, 0, -1, dtype=np.int64)
    oi = oi_base_now * np.exp(-np.concatenate((np.cumsum(rng.normal(0, 0.002, n_oi)[::-1])[::-1][1:], [0.0])))
    period = int(interval_hours * 3600 * 1000)
    f_end = end // period * period
    n_f = max(1, int(days * 24 / interval_hours))
    f_t = f_end - period * np.arange(n_f - 1, -1, -1, dtype=np.int64)
    rates = np.round(rng.normal(0.0001 * interval_hours / 8.0, 0.00005, n_f), 8)
    return History(
        t_ms=t, o=o, h=h, lo=lo, c=c, v=v, oi_t_ms=oi_t, oi_base=oi, funding_t_ms=f_t, funding_rate=rates
    )


@dataclass(kw_only=True)
class SymbolMarket:
    """State of one venue symbol."""

    inst: EmuInstrument
    bids: SideLevels = field(default_factory=lambda: SideLevels(is_bid=True))
    asks: SideLevels = field(default_factory=lambda: SideLevels(is_bid=False))
    last_price: float | None = None
    last_qty: float = 0.0
    last_trade_ms: int = 0
    mark: float | None = None
    index: float | None = None
    funding_rate: float = 0.0001
    next_funding_ms: int = 0
    oi_base: float | None = None
    oi_ms: int = 0
    volume_24h: float = 0.0
    trade_id: int = 5_000_000_000
    agg_id: int = 2_000_000_000
    candles: dict[int, list[float]] = field(default_factory=dict)  # open ms → o h l c v qv n tbv tbqv
    recent: deque[RecentTrade] = field(default_factory=lambda: deque(maxlen=RECENT_TRADES))
    oi_live: list[tuple[int, float]] = field(default_factory=list)  # (5-min stamp ms, oi_base)
    funding_live: list[tuple[int, float, float]] = field(default_factory=list)  # (ms, rate, mark)
    history: History | None = None
    book_version: int = 0

    # ------------------------------------------------------------------ book
    def _norm(self, levels: list[PriceLevel]) -> list[PriceLevel]:
        """Round to the venue's tick and lot; last write wins for levels that round together."""

        inst = self.inst
        out: dict[float, float] = {}
        for p, q in levels:
            if p <= 0:
                continue
            out[inst.round_px(p)] = inst.round_base(q) if q > 0 else 0.0
        return list(out.items())

    def apply_levels(
        self, bids: list[PriceLevel], asks: list[PriceLevel], *, on_grid: bool = False
    ) -> tuple[list[PriceLevel], list[PriceLevel]]:
        """Apply absolute sizes to the truth book; returns the effective changes (deletes of absent levels
        dropped), which is what the venues publish. ``on_grid``: the levels are already on the venue's
        tick and lot (no rounding needed)."""

        out = []
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            sizes = side.sizes
            src = levels if on_grid else self._norm(levels)
            changes = [(p, q) for p, q in src if q > 0 or p in sizes]
            if changes:
                side.update(changes)
            out.append(changes)
        self._uncross(out)
        if out[0] or out[1]:
            self.book_version += 1
        return out[0], out[1]

    def _uncross(self, out: list[list[PriceLevel]]) -> None:
        # A source may move one side past the other (e.g. a replayed capture between its snapshot and the
        # first diffs): remove the stale opposite levels so the published book is never crossed.
        bid, ask = self.bids.best(), self.asks.best()
        while bid is not None and ask is not None and bid >= ask:
            # drop whichever side was not just touched at the crossing price
            touched_bids = {p for p, _ in out[0]}
            if bid in touched_bids:
                self.asks.update([(ask, 0.0)])
                out[1].append((ask, 0.0))
            else:
                self.bids.update([(bid, 0.0)])
                out[0].append((bid, 0.0))
            bid, ask = self.bids.best(), self.asks.best()

    def replace_book(
        self, bids: list[PriceLevel], asks: list[PriceLevel]
    ) -> tuple[list[PriceLevel], list[PriceLevel]]:
        """Replace the truth book; returns the diff (as absolute levels) a delta stream must carry."""

        out = []
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            new = dict(self._norm(levels))
            new = {p: q for p, q in new.items() if q > 0}
            diff = [(p, 0.0) for p in side.prices if p not in new]
            diff += [(p, q) for p, q in new.items() if side.sizes.get(p) != q]
            if diff:
                side.update(diff)
            out.append(diff)
        self._uncross(out)
        self.book_version += 1
        return out[0], out[1]

    def top(self, n: int) -> tuple[list[PriceLevel], list[PriceLevel]]:
        b = [(p, self.bids.sizes[p]) for p in self.bids.top(n)]
        a = [(p, self.asks.sizes[p]) for p in self.asks.top(n)]
        return b, a

    def mid(self) -> float | None:
        b, a = self.bids.best(), self.asks.best()
        if b is None or a is None:
            return self.last_price or self.mark
        return (b + a) / 2.0

    def reference_price(self) -> float:
        return self.mark or self.mid() or self.last_price or 1.0

    # ------------------------------------------------------------------ trades and candles
    def on_trade(self, trade: Trade) -> RecentTrade:
        ms = trade.ts_event // NS_PER_MS
        self.trade_id += 1
        rec = RecentTrade(
            trade_id=self.trade_id, ts_ms=ms, price=trade.price, qty=trade.quantity, side=trade.side
        )
        self.recent.append(rec)
        self.last_price = trade.price
        self.last_qty = trade.quantity
        self.last_trade_ms = ms
        self.volume_24h += trade.quantity
        key = ms // MINUTE_MS * MINUTE_MS
        c = self.candles.get(key)
        q = trade.quantity
        buy = trade.side is Side.BUY
        if c is None:
            self.candles[key] = [
                trade.price,
                trade.price,
                trade.price,
                trade.price,
                q,
                q * trade.price,
                1.0,
                q if buy else 0.0,
                q * trade.price if buy else 0.0,
            ]
        else:
            c[1] = max(c[1], trade.price)
            c[2] = min(c[2], trade.price)
            c[3] = trade.price
            c[4] += q
            c[5] += q * trade.price
            c[6] += 1.0
            if buy:
                c[7] += q
                c[8] += q * trade.price
        return rec

    def current_candle(self, now_ms: int) -> tuple[int, list[float]] | None:
        key = now_ms // MINUTE_MS * MINUTE_MS
        c = self.candles.get(key)
        return None if c is None else (key, c)

    def minute_bars(self) -> np.ndarray:
        """All 1-minute bars (history, then live), shape (n, 10): open_ms o h l c v qv n tbv tbqv."""

        rows: list[np.ndarray] = []
        hist = self.history
        if hist is not None and hist.t_ms.size:
            qv = hist.v * hist.c
            n = np.maximum(1.0, np.round(hist.v * 20))
            rows.append(
                np.column_stack(
                    (
                        hist.t_ms.astype(np.float64),
                        hist.o,
                        hist.h,
                        hist.lo,
                        hist.c,
                        hist.v,
                        qv,
                        n,
                        hist.v / 2,
                        qv / 2,
                    )
                )
            )
        if self.candles:
            live = np.array([[k, *v] for k, v in sorted(self.candles.items())], dtype=np.float64)
            if rows:
                live = live[live[:, 0] > rows[0][-1, 0]]
            rows.append(live)
        if not rows:
            return np.zeros((0, 10))
        return np.concatenate(rows)

    def klines(self, interval_ms: int, *, start_ms: int | None, end_ms: int | None, limit: int) -> np.ndarray:
        """Bars of ``interval_ms`` aggregated from 1-minute bars: (n, 10) as in :meth:`minute_bars`, the most
        recent ``limit`` within [start, end] (or the first ``limit`` from ``start`` when only it is given)."""

        bars = self.minute_bars()
        if bars.size == 0:
            return bars
        keys = (bars[:, 0].astype(np.int64) // interval_ms) * interval_ms
        uniq, first = np.unique(keys, return_index=True)
        last = np.append(first[1:], len(keys)) - 1
        agg = np.column_stack(
            (
                uniq.astype(np.float64),
                bars[first, 1],
                np.maximum.reduceat(bars[:, 2], first),
                np.minimum.reduceat(bars[:, 3], first),
                bars[last, 4],
                np.add.reduceat(bars[:, 5], first),
                np.add.reduceat(bars[:, 6], first),
                np.add.reduceat(bars[:, 7], first),
                np.add.reduceat(bars[:, 8], first),
                np.add.reduceat(bars[:, 9], first),
            )
        )
        mask = np.ones(len(agg), dtype=bool)
        if start_ms is not None:
            mask &= agg[:, 0] >= start_ms
        if end_ms is not None:
            mask &= agg[:, 0] <= end_ms
        agg = agg[mask]
        if start_ms is not None and end_ms is None:
            return agg[:limit]
        return agg[-limit:] if limit > 0 else agg[:0]

    # ------------------------------------------------------------------ open interest and funding
    def oi_series(self) -> tuple[np.ndarray, np.ndarray]:
        """5-minute open interest (one side, base coin): history then live samples."""

        t = [] if self.history is None else [self.history.oi_t_ms]
        v = [] if self.history is None else [self.history.oi_base]
        if self.oi_live:
            lt = np.array([x[0] for x in self.oi_live], dtype=np.int64)
            lv = np.array([x[1] for x in self.oi_live], dtype=np.float64)
            if t:
                keep = lt > t[0][-1]
                lt, lv = lt[keep], lv[keep]
            t.append(lt)
            v.append(lv)
        if not t:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(t), np.concatenate(v)

    def funding_series(self) -> tuple[np.ndarray, np.ndarray]:
        t = [] if self.history is None else [self.history.funding_t_ms]
        r = [] if self.history is None else [self.history.funding_rate]
        if self.funding_live:
            lt = np.array([x[0] for x in self.funding_live], dtype=np.int64)
            lr = np.array([x[1] for x in self.funding_live], dtype=np.float64)
            if t:
                keep = lt > t[0][-1]
                lt, lr = lt[keep], lr[keep]
            t.append(lt)
            r.append(lr)
        if not t:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(t), np.concatenate(r)

    def maintain(self, now_ms: int) -> None:
        """Once a second: sample open interest every 5 minutes, settle funding when its time passes."""

        if self.oi_base is not None:
            stamp = now_ms // FIVE_MIN_MS * FIVE_MIN_MS
            if not self.oi_live or self.oi_live[-1][0] < stamp:
                self.oi_live.append((stamp, self.oi_base))
        if self.next_funding_ms and now_ms >= self.next_funding_ms:
            self.funding_live.append((self.next_funding_ms, self.funding_rate, self.reference_price()))
            period = int(self.inst.funding_interval_hours * 3_600_000)
            self.next_funding_ms += period * max(1, (now_ms - self.next_funding_ms) // period + 1)


def live_bar(m: SymbolMarket, interval_ms: int, open_ms: int) -> list[float] | None:
    """The bar [open_ms, open_ms + interval) aggregated from live 1-minute candles only (cheap, for pushes):
    open_ms o h l c v qv n tbv tbqv, or None when no trade happened in it."""

    rows = [(k, c) for k, c in m.candles.items() if open_ms <= k < open_ms + interval_ms]
    if not rows:
        return None
    rows.sort()
    first, last = rows[0][1], rows[-1][1]
    return [
        float(open_ms),
        first[0],
        max(c[1] for _, c in rows),
        min(c[2] for _, c in rows),
        last[3],
        sum(c[4] for _, c in rows),
        sum(c[5] for _, c in rows),
        sum(c[6] for _, c in rows),
        sum(c[7] for _, c in rows),
        sum(c[8] for _, c in rows),
    ]
