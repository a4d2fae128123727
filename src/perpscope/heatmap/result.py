"""The ``Heatmap``: what the engine produces and what rendering, the CLI and the dashboard consume.

Matrices are ``(T, P)``: row ``i`` is time column ``i`` (``time_edges_ns[i] .. time_edges_ns[i+1]``), column
``j`` is price bin ``j`` (``price_edges[j] .. price_edges[j+1]``). A cell is the *estimated* USD notional of
positions whose liquidation price lies in that bin and that are still standing during that time column
(mean over the engine slots merged into the column). Consumed series are flows: USD of estimated positions
whose liquidation price the bar's range crossed, summed per column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from ..timeutil import NS_PER_MS


@dataclass(frozen=True, kw_only=True)
class HeatmapPart:
    """Long/short standing USD matrices ``(T, P)`` of one venue or one leverage tier."""

    long_usd: np.ndarray
    short_usd: np.ndarray


@dataclass(frozen=True, kw_only=True)
class LiquidationMap:
    """Cumulative estimated USD that would be liquidated if price moved from ``current_price`` to each level:
    longs below price (cumulated downwards), shorts above (cumulated upwards)."""

    current_price: float
    price: np.ndarray  # bin centres
    relative: np.ndarray  # price / current_price - 1
    long_usd: np.ndarray  # standing longs per bin (last column)
    short_usd: np.ndarray
    cum_long_usd: np.ndarray  # for bins below price: longs between the bin and current price; 0 above
    cum_short_usd: np.ndarray  # for bins above price: shorts between current price and the bin; 0 below


@dataclass(frozen=True, kw_only=True)
class Heatmap:
    symbol: str
    venues: tuple[str, ...]
    time_edges_ns: np.ndarray  # int64, (T+1,)
    price_edges: np.ndarray  # float64, (P+1,), ascending
    long_usd: np.ndarray  # (T, P) aggregate over venues
    short_usd: np.ndarray  # (T, P)
    open: np.ndarray  # (T,) price path per column
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    consumed_long_usd: np.ndarray  # (T,)
    consumed_short_usd: np.ndarray  # (T,)
    by_venue: Mapping[str, HeatmapPart] = field(default_factory=dict)
    by_leverage: Mapping[float, HeatmapPart] = field(default_factory=dict)  # leverage → aggregate part
    params: Mapping[str, object] = field(default_factory=dict)  # the assumptions, for titles and JSON
    estimated: bool = True  # always: this is a model output, never observed data

    @property
    def n_time(self) -> int:
        return int(self.long_usd.shape[0])

    @property
    def n_price(self) -> int:
        return int(self.long_usd.shape[1])

    @property
    def price_centers(self) -> np.ndarray:
        return 0.5 * (self.price_edges[:-1] + self.price_edges[1:])

    @property
    def time_starts_ms(self) -> np.ndarray:
        return self.time_edges_ns[:-1] // NS_PER_MS

    def downsample(self, max_columns: int) -> Heatmap:
        """Merge adjacent time columns so there are at most ``max_columns``. Standing matrices are averaged
        with weights equal to column duration (their USD·time integral is unchanged); consumed flows are
        summed (their totals are unchanged); the price path keeps first open, max high, min low, last
        close."""

        t = self.n_time
        if max_columns <= 0:
            raise ValueError("max_columns must be positive")
        if t <= max_columns:
            return self
        group = -(-t // max_columns)
        starts = np.arange(0, t, group)
        widths = np.diff(self.time_edges_ns).astype(np.float64)
        gw = np.add.reduceat(widths, starts)

        def mean_rows(m: np.ndarray) -> np.ndarray:
            return np.add.reduceat(m * widths[:, None], starts, axis=0) / gw[:, None]

        ends = np.minimum(starts + group, t) - 1
        return replace(
            self,
            time_edges_ns=np.append(self.time_edges_ns[starts], self.time_edges_ns[-1]),
            long_usd=mean_rows(self.long_usd),
            short_usd=mean_rows(self.short_usd),
            open=self.open[starts],
            high=np.maximum.reduceat(self.high, starts),
            low=np.minimum.reduceat(self.low, starts),
            close=self.close[ends],
            consumed_long_usd=np.add.reduceat(self.consumed_long_usd, starts),
            consumed_short_usd=np.add.reduceat(self.consumed_short_usd, starts),
            by_venue={
                k: HeatmapPart(long_usd=mean_rows(p.long_usd), short_usd=mean_rows(p.short_usd))
                for k, p in self.by_venue.items()
            },
            by_leverage={
                k: HeatmapPart(long_usd=mean_rows(p.long_usd), short_usd=mean_rows(p.short_usd))
                for k, p in self.by_leverage.items()
            },
        )

    def liquidation_map(self, *, column: int = -1) -> LiquidationMap:
        """Cumulative long/short USD by price relative to the close of ``column`` (default: the last)."""

        price = float(self.close[column])
        centers = self.price_centers
        longs = np.where(centers < price, self.long_usd[column], 0.0)
        shorts = np.where(centers > price, self.short_usd[column], 0.0)
        cum_long = np.cumsum(longs[::-1])[::-1]
        cum_short = np.cumsum(shorts)
        return LiquidationMap(
            current_price=price,
            price=centers,
            relative=centers / price - 1.0,
            long_usd=longs,
            short_usd=shorts,
            cum_long_usd=np.where(centers < price, cum_long, 0.0),
            cum_short_usd=np.where(centers > price, cum_short, 0.0),
        )

    def to_json_dict(self) -> dict[str, object]:
        """``{"symbol", "venues", "time": [column start ms], "price": [bin centre], "long_usd": [[…]],
        "short_usd": [[…]]}`` with ``long_usd[i][j]`` at time column i and price bin j, plus the price path,
        consumed series and the assumptions."""

        return {
            "symbol": self.symbol,
            "venues": list(self.venues),
            "estimated": True,
            "time": self.time_starts_ms.tolist(),
            "price": self.price_centers.tolist(),
            "long_usd": self.long_usd.tolist(),
            "short_usd": self.short_usd.tolist(),
            "open": self.open.tolist(),
            "high": self.high.tolist(),
            "low": self.low.tolist(),
            "close": self.close.tolist(),
            "consumed_long_usd": self.consumed_long_usd.tolist(),
            "consumed_short_usd": self.consumed_short_usd.tolist(),
            "params": dict(self.params),
        }
