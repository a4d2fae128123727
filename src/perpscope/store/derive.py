"""Bars (the heatmap's input) derived from stored candles, open interest and funding.

A ``Bar`` needs one side's open interest in USD at the bar close, which klines do not carry. For each
candle of the requested interval, the open interest is the last sample at or before the bar close, if it
is at most ``max_oi_age_s`` old (default: three bars, at least 15 minutes), and the funding rate the last
settled (else current) rate known at the bar open. Candles without a recent open-interest sample give no
bar. This is how Binance archive ``klines`` + ``metrics`` (+ ``fundingRate``) become ``bars``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from ..model import Kind, Venue
from ..timeutil import NS_PER_S
from .layout import NS_PER_DAY, day_to_date
from .schema import SCHEMAS

if TYPE_CHECKING:
    from .store import Store

_SQL = """
WITH c AS (
    SELECT * FROM candles
    WHERE venue = $venue AND symbol = $symbol AND interval_s = $interval_s
      AND ts_event >= $start AND ts_event < $end
),
o AS (SELECT ts_event AS oi_ts, oi_usd FROM open_interest WHERE venue = $venue AND symbol = $symbol),
f AS (
    SELECT ts_event AS f_ts, coalesce(settled_rate, rate) AS fr FROM funding
    WHERE venue = $venue AND symbol = $symbol
),
j AS (
    SELECT c.*, c.ts_event + c.interval_s * 1000000000 AS close_ts, o.oi_ts, o.oi_usd
    FROM c ASOF JOIN o ON c.ts_event + c.interval_s * 1000000000 >= o.oi_ts
)
SELECT j.venue, j.symbol, j.ts_event, j.ts_recv, j.interval_s, j.open, j.high, j.low, j.close, j.oi_usd,
       f.fr AS funding_rate, j.volume, j.taker_buy_volume
FROM j ASOF LEFT JOIN f ON j.ts_event >= f.f_ts
WHERE j.close_ts - j.oi_ts <= $max_age
ORDER BY j.ts_event
"""


def bars_from_candles(
    store: Store,
    *,
    venue: Venue | str,
    symbol: str,
    interval_s: int,
    start_ns: int | None = None,
    end_ns: int | None = None,
    max_oi_age_s: int | None = None,
) -> pa.Table:
    """Bars for ``venue``/``symbol`` at ``interval_s`` from the stored candles + open interest + funding."""

    max_age = max_oi_age_s if max_oi_age_s is not None else max(3 * interval_s, 900)
    params = {
        "venue": Venue(venue).value,
        "symbol": symbol,
        "interval_s": int(interval_s),
        "start": start_ns if start_ns is not None else 0,
        "end": end_ns if end_ns is not None else 2**62,
        "max_age": int(max_age) * NS_PER_S,
    }
    return store.query(_SQL, params).cast(SCHEMAS[Kind.BAR])


def derive_bars(
    store: Store,
    *,
    venue: Venue | str,
    symbol: str,
    interval_s: int,
    start_ns: int | None = None,
    end_ns: int | None = None,
    max_oi_age_s: int | None = None,
) -> int:
    """Compute bars (``bars_from_candles``) and store them, one idempotent source per UTC day
    (``derived-bars:<venue>:<symbol>:<interval_s>:<date>``): deriving again replaces, never duplicates.
    Returns the number of bars stored."""

    table = bars_from_candles(
        store,
        venue=venue,
        symbol=symbol,
        interval_s=interval_s,
        start_ns=start_ns,
        end_ns=end_ns,
        max_oi_age_s=max_oi_age_s,
    )
    if table.num_rows == 0:
        return 0
    days = table.column("ts_event").to_numpy() // NS_PER_DAY
    total = 0
    for day in np.unique(days).tolist():
        piece = table.filter(pa.array(days == day))
        source_id = f"derived-bars:{Venue(venue).value}:{symbol}:{int(interval_s)}:{day_to_date(int(day))}"
        total += store.write_table(Kind.BAR, piece, source_id=source_id)
    return total


def derive_all_bars(
    store: Store,
    *,
    venue: Venue | str,
    symbol: str,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> dict[int, int]:
    """``derive_bars`` for every candle interval stored for ``venue``/``symbol``; ``{interval_s: bars}``."""

    intervals = store.query(
        "SELECT DISTINCT interval_s FROM candles WHERE venue = $venue AND symbol = $symbol ORDER BY 1",
        {"venue": Venue(venue).value, "symbol": symbol},
    )
    return {
        iv: derive_bars(store, venue=venue, symbol=symbol, interval_s=iv, start_ns=start_ns, end_ns=end_ns)
        for iv in intervals.column("interval_s").to_pylist()
    }
