"""A stored ``bars`` table (several venues, maybe several intervals) as the engine's :class:`BarSeries`."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa

from .series import BarSeries


def series_from_bars(table: pa.Table, symbol: str) -> list[BarSeries]:
    """One BarSeries per venue (sorted by venue) at that venue's most common interval; a bar stored twice
    (re-imported) keeps its last copy. ``table`` must be ordered by ``ts_event`` within each venue."""

    col = {n: table.column(n).to_numpy(zero_copy_only=False) for n in table.column_names}
    out = []
    for venue in sorted(set(col["venue"].tolist())):
        m = col["venue"] == venue
        interval = Counter(col["interval_s"][m].tolist()).most_common(1)[0][0]
        m &= col["interval_s"] == interval
        ts = col["ts_event"][m]
        keep = np.flatnonzero(np.r_[ts[1:] != ts[:-1], True])
        pick = {k: v[m][keep] for k, v in col.items()}
        out.append(
            BarSeries.from_arrays(
                venue=venue,
                symbol=symbol,
                interval_s=int(interval),
                ts_ns=pick["ts_event"],
                open=pick["open"],
                high=pick["high"],
                low=pick["low"],
                close=pick["close"],
                oi_usd=pick["oi_usd"],
                volume=pick.get("volume"),
                taker_buy_volume=pick.get("taker_buy_volume"),
            )
        )
    return out
