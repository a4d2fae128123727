"""The engine's assumptions, all in one frozen object: what a heatmap *means* depends on them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

from ..model import Venue
from .margin import DEFAULT_POSITION_USD
from .tiers import TierTable

Attribution = Literal["both", "aggressor"]
EntryMode = Literal["typical", "vwap", "close"]
CloseRule = Literal["proportional", "none"]
OiUnit = Literal["base", "usd"]
BinScale = Literal["log", "linear"]

# Default leverage mix (weights of new notional per leverage). Rationale (docs/heatmap.md): the higher the
# leverage, the closer the liquidation price and the sooner such positions are liquidated or cut, so the
# standing notional is dominated by moderate leverage and weight falls as leverage rises. 10/25/50/100/125×
# at 35/30/20/10/5 % is the calibrated mix (docs/calibration.md): the first-cut 10/25/50/100× at
# 35/30/20/15 % with 5 % moved from 100× to Binance's maximum 125×, chosen on the first half of the hourly
# file only and reported out of sample. ``perpscope calibrate`` scores exactly these defaults.
DEFAULT_LEVERAGE: tuple[float, ...] = (10.0, 25.0, 50.0, 100.0, 125.0)
DEFAULT_WEIGHTS: tuple[float, ...] = (0.35, 0.30, 0.20, 0.10, 0.05)

# Display windows (``--window``); any duration ``parse_duration_ns`` understands works too.
WINDOW_PRESETS: tuple[str, ...] = ("12h", "24h", "3d", "7d", "30d", "90d", "180d", "1y")


@dataclass(frozen=True, kw_only=True)
class EngineParams:
    """Every modelling assumption of the heatmap engine. See docs/heatmap.md for the recipe."""

    # leverage mix: new notional is split across these leverages with these weights (normalized)
    leverage: tuple[float, ...] = DEFAULT_LEVERAGE
    weights: tuple[float, ...] = DEFAULT_WEIGHTS
    # "both": every new contract adds equal long and short notional (a one-sided OI increase of ΔOI opens
    # ΔOI of longs AND ΔOI of shorts); "aggressor": the same 2·ΔOI split by the taker-buy share b of the
    # slot's volume (longs 2b·ΔOI, shorts 2(1−b)·ΔOI; b = ½ reduces to "both"; b = ½ when flow is unknown)
    attribution: Attribution = "both"
    # entry price of the slot's new positions: (H+L+C)/3, quote/base volume (falls back to typical), close
    entry: EntryMode = "typical"
    # OI decreases: "proportional" closes the same fraction of every standing position (the fraction
    # the one-sided OI fell by); "none" ignores decreases (positions leave only by liquidation or decay)
    close_rule: CloseRule = "proportional"
    # optional extra exponential decay of standing positions (half-life in hours); None = off
    half_life_h: float | None = None
    # OI changes measured in base coin (oi_usd/close: a price move alone opens nothing) or raw USD
    oi_unit: OiUnit = "base"
    # one position's notional (USD): picks the maintenance tier per position (never the cohort total)
    position_usd: float = DEFAULT_POSITION_USD
    # tier tables per venue (value or name); None = the packaged snapshot for the symbol
    tiers: Mapping[str, TierTable] | None = None
    # a single maintenance rate for every venue instead of tier tables (e.g. 0.004), cum = 0
    mmr: float | None = None
    # force one venue's formula for every series (None: each series uses its own venue's formula)
    margin_model: Venue | None = None
    fee_rate: float | None = None  # OKX liquidation fee rate; None = OKX_DEFAULT_FEE_RATE
    clip_leverage: bool = True  # a leverage above the tier's maximum is reduced to it
    # price bins: log (relative width) or linear (width relative to the window's last close)
    bins: BinScale = "log"
    bin_width: float = 0.001
    n_bins: int | None = None  # fixed bin count over the range (overrides bin_width)
    max_bins: int = 5000  # auto width grows when the range would need more bins
    price_range: tuple[float, float] | None = None  # None: window's low/high widened to the farthest LP
    # may a cohort be consumed by the range of the slot that opened it? Default no: the bar's extreme may
    # have come before the positions opened, and OI is known only at the bar's close
    consume_own_slot: bool = False
    # intrabar path: each bar becomes 3·substeps sub-slots along open→low→high→close (up bars) or
    # open→high→low→close, OI linear in the engine's unit across them; 0 = off (heatmap/intrabar.py)
    substeps: int = 0
    # turnover per hour: a flat slot before each (sub-)slot closes 1−(1−turnover_per_h)^hours of the standing
    # OI proportionally and the (sub-)slot reopens it at its entry price; 0 = off
    turnover_per_h: float = 0.0
    # display columns (``Heatmap.downsample`` semantics); None = one column per slot
    max_columns: int | None = 2000
    extra: Mapping[str, object] = field(default_factory=dict)  # free-form notes carried into the output

    def __post_init__(self) -> None:
        if len(self.leverage) == 0 or len(self.leverage) != len(self.weights):
            raise ValueError("leverage and weights must be non-empty and of equal length")
        if any(lv < 1.0 for lv in self.leverage):
            raise ValueError("leverage values must be >= 1")
        if any(w < 0.0 for w in self.weights) or sum(self.weights) <= 0.0:
            raise ValueError("weights must be non-negative with a positive sum")
        if len(set(self.leverage)) != len(self.leverage):
            raise ValueError("leverage values must be distinct")
        if self.attribution not in ("both", "aggressor"):
            raise ValueError(f"unknown attribution {self.attribution!r}")
        if self.entry not in ("typical", "vwap", "close"):
            raise ValueError(f"unknown entry mode {self.entry!r}")
        if self.close_rule not in ("proportional", "none"):
            raise ValueError(f"unknown close rule {self.close_rule!r}")
        if self.oi_unit not in ("base", "usd"):
            raise ValueError(f"unknown oi_unit {self.oi_unit!r}")
        if self.bins not in ("log", "linear"):
            raise ValueError(f"unknown bin scale {self.bins!r}")
        if self.bin_width <= 0.0:
            raise ValueError("bin_width must be positive")
        if self.n_bins is not None and self.n_bins < 1:
            raise ValueError("n_bins must be >= 1")
        if self.half_life_h is not None and self.half_life_h <= 0.0:
            raise ValueError("half_life_h must be positive")
        if self.position_usd <= 0.0:
            raise ValueError("position_usd must be positive")
        if self.price_range is not None and not 0.0 < self.price_range[0] < self.price_range[1]:
            raise ValueError("price_range must be (low, high) with 0 < low < high")
        if isinstance(self.substeps, bool) or not isinstance(self.substeps, int) or self.substeps < 0:
            raise ValueError("substeps must be an integer >= 0")
        if not 0.0 <= self.turnover_per_h < 1.0:
            raise ValueError("turnover_per_h must be in [0, 1)")
        if self.max_columns is not None and self.max_columns < 1:
            raise ValueError("max_columns must be >= 1")

    @property
    def normalized_weights(self) -> tuple[float, ...]:
        total = float(sum(self.weights))
        return tuple(float(w) / total for w in self.weights)

    def describe(self) -> dict[str, object]:
        """The assumptions as plain JSON-able values (for titles, JSON output and ``Heatmap.params``)."""

        d = asdict(self)
        d["weights"] = list(self.normalized_weights)
        d["leverage"] = list(self.leverage)
        d["tiers"] = (
            None
            if self.tiers is None
            else {str(k): {"as_of": t.as_of, "source": t.source} for k, t in self.tiers.items()}
        )
        d["margin_model"] = None if self.margin_model is None else str(self.margin_model)
        d["price_range"] = None if self.price_range is None else list(self.price_range)
        d["extra"] = dict(self.extra)
        return d


def parse_leverage_mix(text: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``"10:0.4,25:0.3,50:0.2,100:0.1"`` → ``((10, 25, 50, 100), (0.4, 0.3, 0.2, 0.1))`` with weights
    normalized to sum 1 (the ``--leverage`` option of ``heatmap`` and ``calibrate``)."""

    levs: list[float] = []
    ws: list[float] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        lev_s, sep, w_s = item.partition(":")
        try:
            lev = float(lev_s.strip().rstrip("xX"))
            w = float(w_s) if sep else 1.0
        except ValueError:
            raise ValueError(f"bad leverage item {item!r}: use LEVERAGE:WEIGHT, e.g. 10:0.4") from None
        if lev < 1.0 or w < 0.0:
            raise ValueError(f"bad leverage item {item!r}: leverage >= 1 and weight >= 0")
        levs.append(lev)
        ws.append(w)
    total = sum(ws)
    if not levs or total <= 0.0:
        raise ValueError(f"bad leverage mix {text!r}: needs at least one positive weight")
    return tuple(levs), tuple(w / total for w in ws)
