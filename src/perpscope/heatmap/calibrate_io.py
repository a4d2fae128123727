"""Calibration inputs: the bars CSV (generic or the hourly file) and the realized-liquidations CSV.

Read with pyarrow straight into float64 arrays (no store needed). Timestamps are ms bar opens in the files
and int64 ns inside.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import InputFileError
from ..timeutil import NS_PER_MS

BarsFormat = Literal["generic", "hourly"]

GENERIC_COLUMNS = ("timestamp", "open", "high", "low", "close", "oi_usd")
GENERIC_OPTIONAL = ("funding_rate", "cvd_btc")
# ../shared/data/btc-hourly-oi-liquidations-*.csv: spot OHLC, Binance perp OI OHLC (USD), funding in
# percent and realized liquidations, one row per hour.
HOURLY_COLUMNS = (
    "timestamp",
    "spot_open",
    "spot_high",
    "spot_low",
    "spot_close",
    "oi_open_usd",
    "oi_close_usd",
    "funding_rate_pct",
    "long_usd",
    "short_usd",
)
REALIZED_COLUMNS = ("timestamp", "long_usd", "short_usd")


@dataclass(frozen=True, kw_only=True, eq=False)
class CalibrationBars:
    """Price bars with open interest, one row per engine slot (float64 arrays, ``ts_ns`` int64 bar open).

    ``oi_open_usd`` is the OI at the bar's open and ``oi_close_usd`` at its close. In the generic CSV
    ``oi_usd`` is stamped at the bar open (Binance ``openInterestHist`` is a snapshot at its timestamp: in
    the 5-minute file the change ``oi[t+1]/oi[t]`` moves with bar ``t``'s return, correlation 0.72, and not
    with bar ``t+1``'s), so the close of bar ``t`` is the next row's ``oi_usd`` (the last bar: its own).
    """

    ts_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    oi_open_usd: np.ndarray
    oi_close_usd: np.ndarray
    funding_rate: np.ndarray | None = None  # fraction per funding interval
    cvd_btc: np.ndarray | None = None  # cumulative taker buy − sell (base coin) at the bar's close
    format: BarsFormat = "generic"
    source: str = ""
    notes: tuple[str, ...] = ()  # repairs made while loading (carried-forward OI, widened bars)

    @property
    def n(self) -> int:
        return int(self.ts_ns.shape[0])

    @property
    def slot_ns(self) -> int:
        """The bar duration: the smallest step between consecutive bars (gaps are longer steps)."""

        if self.n < 2:
            raise ValueError("need at least two bars to know their duration")
        return int(np.min(np.diff(self.ts_ns)))

    def rows(self, start: int, stop: int | None = None) -> CalibrationBars:
        """Rows ``[start, stop)`` (e.g. the first half of a file, so a model never sees the second)."""

        def cut(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[start:stop]

        return replace(
            self,
            ts_ns=self.ts_ns[start:stop],
            open=self.open[start:stop],
            high=self.high[start:stop],
            low=self.low[start:stop],
            close=self.close[start:stop],
            oi_open_usd=self.oi_open_usd[start:stop],
            oi_close_usd=self.oi_close_usd[start:stop],
            funding_rate=cut(self.funding_rate),
            cvd_btc=cut(self.cvd_btc),
        )


@dataclass(frozen=True, kw_only=True, eq=False)
class RealizedLiquidations:
    """Realized liquidations per bar: USD of long and short positions force-closed, bar open ``ts_ns``."""

    ts_ns: np.ndarray
    long_usd: np.ndarray
    short_usd: np.ndarray
    source: str = ""

    @property
    def n(self) -> int:
        return int(self.ts_ns.shape[0])

    def rows(self, start: int, stop: int | None = None) -> RealizedLiquidations:
        """Rows ``[start, stop)``."""

        return replace(
            self,
            ts_ns=self.ts_ns[start:stop],
            long_usd=self.long_usd[start:stop],
            short_usd=self.short_usd[start:stop],
        )


def _read_csv(path: Path) -> pa.Table:
    try:
        return pacsv.read_csv(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputFileError(str(path), None, f"cannot read as CSV: {exc}") from None


def _column(
    table: pa.Table, name: str, path: Path, *, dtype: type = np.float64, allow_empty: bool = False
) -> np.ndarray:
    """A numeric column; empty cells are an error, or NaN with ``allow_empty``."""

    col = table.column(name)
    if col.null_count and not allow_empty:
        first = int(np.flatnonzero(~col.is_valid().to_numpy(zero_copy_only=False))[0])
        raise InputFileError(str(path), first + 2, f"empty value in column {name!r}")
    if col.null_count == len(col):
        return np.full(len(col), np.nan)
    try:
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64).astype(dtype)
    except (TypeError, ValueError, pa.ArrowInvalid) as exc:
        raise InputFileError(str(path), None, f"column {name!r} is not numeric: {exc}") from None


def _carry_forward(arr: np.ndarray, path: Path, name: str, notes: list[str]) -> np.ndarray:
    """Fill empty cells with the previous value (the first ones with the first value): OI and funding are
    levels that persist, and a recorder's missed poll should not void a week."""

    ok = np.isfinite(arr)
    if ok.all():
        return arr
    if not ok.any():
        raise InputFileError(str(path), None, f"column {name!r} has no value")
    idx = np.maximum.accumulate(np.where(ok, np.arange(arr.shape[0]), -1))
    idx = np.where(idx < 0, int(np.argmax(ok)), idx)
    notes.append(f"{name}: {int(np.count_nonzero(~ok))} empty values carried forward")
    return arr[idx]


def _timestamps(table: pa.Table, path: Path) -> np.ndarray:
    ms = _column(table, "timestamp", path, dtype=np.float64)
    if not np.all(np.isfinite(ms)) or np.any(ms != np.round(ms)):
        bad = int(np.flatnonzero(~np.isfinite(ms) | (ms != np.round(ms)))[0])
        raise InputFileError(str(path), bad + 2, "timestamp must be integer epoch milliseconds")
    ts = ms.astype(np.int64) * NS_PER_MS
    if ts.shape[0] and np.any(np.diff(ts) <= 0):
        bad = int(np.flatnonzero(np.diff(ts) <= 0)[0]) + 1
        raise InputFileError(str(path), bad + 2, "timestamps must be strictly increasing (bar open, ms)")
    return ts


def _check_finite(path: Path, **arrays: np.ndarray) -> None:
    for name, arr in arrays.items():
        bad = ~np.isfinite(arr) | (arr < 0.0)
        if np.any(bad):
            raise InputFileError(str(path), int(np.flatnonzero(bad)[0]) + 2, f"{name} must be finite and ≥ 0")


def detect_format(columns: list[str] | tuple[str, ...]) -> BarsFormat:
    """``"hourly"`` for the spot+OI-OHLC+realized hourly file, ``"generic"`` for the bars CSV."""

    cols = set(columns)
    if set(HOURLY_COLUMNS) <= cols:
        return "hourly"
    if set(GENERIC_COLUMNS) <= cols:
        return "generic"
    raise ValueError(
        f"unknown bars file columns {sorted(cols)}: expected {','.join(GENERIC_COLUMNS)}[,funding_rate]"
        f"[,cvd_btc] or the hourly file's {','.join(HOURLY_COLUMNS)}"
    )


def _check_ohlc(
    path: Path, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, notes: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Prices must be finite and positive; a high/low that does not contain open and close (a feed mixing
    sources) is widened to do so and counted in ``notes``. Returns the (repaired) high and low."""

    for name, arr in (("open", o), ("high", h), ("low", lo), ("close", c)):
        bad = ~np.isfinite(arr) | (arr <= 0.0)
        if np.any(bad):
            raise InputFileError(str(path), int(np.flatnonzero(bad)[0]) + 2, f"{name} must be finite and > 0")
    hi = np.maximum(h, np.maximum(o, c))
    low = np.minimum(lo, np.minimum(o, c))
    widened = int(np.count_nonzero((hi != h) | (low != lo)))
    if widened:
        notes.append(f"{widened} bars had a high/low not containing open/close: widened")
    return hi, low


def load_bars(path: str | Path) -> CalibrationBars:
    """Read a generic bars CSV (``timestamp,open,high,low,close,oi_usd[,funding_rate][,cvd_btc]``, ms bar
    open) or the hourly file (spot OHLC, OI OHLC in USD, funding in percent; detected from its header)."""

    path = Path(path)
    table = _read_csv(path)
    fmt = detect_format(table.column_names)
    ts = _timestamps(table, path)
    notes: list[str] = []

    def level(name: str) -> np.ndarray:
        return _carry_forward(_column(table, name, path, allow_empty=True), path, name, notes)

    if fmt == "hourly":
        o, h, lo, c = (_column(table, f"spot_{k}", path) for k in ("open", "high", "low", "close"))
        oi_open = level("oi_open_usd")
        oi_close = level("oi_close_usd")
        funding: np.ndarray | None = level("funding_rate_pct") / 100.0
        cvd = None
    else:
        o, h, lo, c = (_column(table, k, path) for k in ("open", "high", "low", "close"))
        oi_open = level("oi_usd")
        oi_close = np.append(oi_open[1:], oi_open[-1:]) if oi_open.size else oi_open
        names = set(table.column_names)
        funding = level("funding_rate") if "funding_rate" in names else None
        cvd = level("cvd_btc") if "cvd_btc" in names else None
    h, lo = _check_ohlc(path, o, h, lo, c, notes)
    _check_finite(path, oi_usd=oi_open, oi_close_usd=oi_close)
    return CalibrationBars(
        ts_ns=ts,
        open=o,
        high=h,
        low=lo,
        close=c,
        oi_open_usd=oi_open,
        oi_close_usd=oi_close,
        funding_rate=funding,
        cvd_btc=cvd,
        format=fmt,
        source=str(path),
        notes=tuple(notes),
    )


def load_realized(path: str | Path) -> RealizedLiquidations:
    """Read ``timestamp,long_usd,short_usd`` (ms bar open); the hourly file's own columns work too."""

    path = Path(path)
    table = _read_csv(path)
    missing = [c for c in REALIZED_COLUMNS if c not in table.column_names]
    if missing:
        raise InputFileError(
            str(path), 1, f"missing column(s) {missing}: expected {','.join(REALIZED_COLUMNS)}"
        )
    ts = _timestamps(table, path)
    long_usd = _column(table, "long_usd", path)
    short_usd = _column(table, "short_usd", path)
    _check_finite(path, long_usd=long_usd, short_usd=short_usd)
    return RealizedLiquidations(ts_ns=ts, long_usd=long_usd, short_usd=short_usd, source=str(path))
