"""The terminal liquidation tape: one line per liquidation (time, venue, symbol, liquidated side in colour,
price, notional), size tiers highlighted, sampled venues marked as lower bounds, and one line per cascade
(from :class:`perpscope.analytics.cascades.CascadeDetector`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.text import Text

from ..analytics.cascades import CascadeDetector, CascadeParams, CascadeUpdate
from ..model import AnyEvent, Liquidation, PositionSide
from ..timeutil import NS_PER_S, format_ns

DEFAULT_TIERS_USD: tuple[float, ...] = (50_000.0, 100_000.0, 200_000.0, 1_000_000.0)
# Styles per tier, from below the first threshold up to above the last: bigger prints shout louder.
_TIER_STYLES = ("", "bold", "bold underline", "bold reverse", "bold reverse blink")
_SIDE_STYLE = {PositionSide.LONG: "red", PositionSide.SHORT: "green"}  # longs liquidated = forced selling
SAMPLED_NOTE = "≥ = sampled feed (Binance/OKX push at most one liquidation per second): a lower bound"


def parse_tiers(text: str | None) -> tuple[float, ...]:
    """``"50k,100k,200k,1m"`` → (50000, 100000, 200000, 1000000)."""

    if not text:
        return DEFAULT_TIERS_USD
    out = []
    for item in text.split(","):
        s = item.strip().lower()
        if not s:
            continue
        mult = {"k": 1e3, "m": 1e6, "b": 1e9}.get(s[-1], 1.0)
        try:
            out.append(float(s[:-1] if mult != 1.0 else s) * mult)
        except ValueError:
            raise ValueError(f"bad size tier {item!r}: use numbers like 50k, 100k, 1m") from None
    return tuple(sorted(out))


def tier_of(notional_usd: float, tiers: Sequence[float]) -> int:
    """0 below the first threshold, k when at least the k-th threshold."""

    return sum(1 for t in tiers if notional_usd >= t)


def format_liquidation(ev: Liquidation, *, tiers: Sequence[float] = DEFAULT_TIERS_USD) -> Text:
    tier = tier_of(ev.notional_usd, tiers)
    style = " ".join(s for s in (_SIDE_STYLE[ev.side], _TIER_STYLES[min(tier, len(_TIER_STYLES) - 1)]) if s)
    bound = "≥" if ev.sampled else " "
    line = Text()
    line.append(format_ns(ev.ts_event, ms=True)[11:], style="dim")
    line.append(f"  {ev.venue.value:<11} {ev.symbol:<6} ")
    line.append(f"{ev.side.value.upper():<5}", style=_SIDE_STYLE[ev.side] + " bold")
    line.append(f" {ev.price:>14,.4f} ")
    line.append(f"{bound}${ev.notional_usd:>13,.0f}", style=style)
    if tier:
        line.append("  " + "●" * tier, style=_SIDE_STYLE[ev.side])
    return line


def format_cascade_update(update: CascadeUpdate) -> Text:
    c = update.cascade
    dur = (c.ts_end - c.ts_event) / NS_PER_S
    bound = "≥" if c.sampled else ""
    venues = ",".join(v.value for v in c.venues)
    text = Text()
    label = {"open": "CASCADE", "update": "cascade+", "close": "cascade end"}[update.status]
    text.append(f"{format_ns(c.ts_event)[11:]} ", style="dim")
    text.append(
        f"▶ {label} {c.symbol} {c.side.value.upper()} liquidations", style=_SIDE_STYLE[c.side] + " bold"
    )
    prices = f"{c.price_low:,.2f}–{c.price_high:,.2f}"
    text.append(f"  x{c.count}  {bound}${c.notional_usd:,.0f}  in {dur:.0f}s  [{venues}]  {prices}")
    return text


@dataclass(kw_only=True)
class Tape:
    """Feeds events, prints the tape. ``min_usd`` filters single prints (cascades always count every
    liquidation). ``show_updates`` prints each growth of an open cascade, not just its start and end."""

    console: Console = field(default_factory=Console)
    min_usd: float = 10_000.0
    tiers: Sequence[float] = DEFAULT_TIERS_USD
    symbols: frozenset[str] | None = None
    cascade_params: CascadeParams = field(default_factory=CascadeParams)
    show_updates: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    detector: CascadeDetector = field(init=False)

    def __post_init__(self) -> None:
        # Bybit batches every 500 ms and venues arrive slightly out of order: hold events 1 s.
        self.detector = CascadeDetector(params=self.cascade_params, lateness_ns=NS_PER_S)

    def header(self) -> None:
        self.console.print(
            Text(f"perpscope liquidation tape — min ${self.min_usd:,.0f}. {SAMPLED_NOTE}", style="dim")
        )

    def feed(self, events: Iterable[AnyEvent]) -> list[CascadeUpdate]:
        """Print qualifying liquidations and cascade lines; returns the cascade updates (to store them)."""

        updates: list[CascadeUpdate] = []
        for ev in events:
            if not isinstance(ev, Liquidation):
                continue
            if self.symbols is not None and ev.symbol not in self.symbols:
                continue
            self.counts["liquidations"] += 1
            if ev.notional_usd >= self.min_usd:
                self.counts["printed"] += 1
                self.console.print(format_liquidation(ev, tiers=self.tiers))
            updates.extend(self._show(self.detector.push_event(ev)))
        return updates

    def tick(self, now_ns: int) -> list[CascadeUpdate]:
        return self._show(self.detector.advance(now_ns))

    def close(self) -> list[CascadeUpdate]:
        return self._show(self.detector.flush())

    def _show(self, updates: list[CascadeUpdate]) -> list[CascadeUpdate]:
        for u in updates:
            if u.status == "update" and not self.show_updates:
                continue
            self.counts[f"cascade_{u.status}"] += 1
            self.console.print(format_cascade_update(u))
        return updates
