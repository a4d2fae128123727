"""Importer for the generic bar CSV ``timestamp,open,high,low,close,oi_usd[,funding_rate]`` → ``model.Bar``.

``timestamp`` is the bar open in epoch ms UTC (µs accepted too), ``oi_usd`` one side's open interest in USD
at the bar close, ``funding_rate`` the funding rate as a fraction per funding interval (optional, may be
empty). Optional ``volume`` and ``taker_buy_volume`` (base coin) are kept; other columns (e.g. ``cvd_btc``)
are ignored and reported. Rows must be in time order on one interval grid (gaps allowed); the interval is
the most common step unless given.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import DecodeError, InputFileError
from ...model import Kind, Venue
from ...symbols import canonical_symbol
from ...timeutil import NS_PER_S
from ..store import Store
from ._csv import (
    Check,
    CsvSource,
    CsvTable,
    bad_epoch,
    epoch_to_ns,
    negative,
    not_finite,
    not_positive,
    require,
)
from .report import FileImport

F64 = pa.float64()
REQUIRED = ("timestamp", "open", "high", "low", "close", "oi_usd")
OPTIONAL = ("funding_rate", "volume", "taker_buy_volume")


def canonical_for(venue: Venue, symbol: str) -> str:
    """``BTC``, ``btc``, ``BTCUSDT`` (Binance/Bybit) or ``BTC-USDT-SWAP`` (OKX) → ``BTC``."""

    text = symbol.strip()
    if not text:
        raise ValueError("empty symbol")
    try:
        return canonical_symbol(venue, text)
    except DecodeError:
        return text if text.startswith("k") else text.upper()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def infer_interval_s(ts_ns: np.ndarray) -> int | None:
    """The most common positive step between consecutive timestamps, in seconds (None for < 2 rows)."""

    if ts_ns.size < 2:
        return None
    steps, counts = np.unique(np.diff(ts_ns), return_counts=True)
    step = int(steps[np.argmax(counts)])
    return step // NS_PER_S if step > 0 else None


def import_bars_csv(
    store: Store,
    path: Path | str,
    venue: Venue | str,
    symbol: str,
    interval_s: int | None = None,
    *,
    force: bool = False,
) -> FileImport:
    """Import a bar CSV as ``Bar`` events for ``venue``/``symbol``. Validates the whole file first: a bad row
    raises InputFileError with file and line, and nothing is stored. Same file again → skipped."""

    path = Path(path)
    venue = Venue(venue)
    symbol = canonical_for(venue, symbol)
    source = CsvSource.of(path)
    types = {c: F64 for c in (*REQUIRED, *OPTIONAL)} | {"timestamp": pa.int64()}
    csv = CsvTable(source, columns=types, optional=OPTIONAL)
    table = csv.read_all()
    if table.num_rows == 0:
        raise InputFileError(source.display, None, "no data rows")
    checks: dict[str, list[Check]] = {"timestamp": [("is not an epoch ms timestamp", bad_epoch)]}
    for c in ("open", "high", "low", "close"):
        checks[c] = [("is not a finite number", not_finite), ("is not a positive number", not_positive)]
    for c in ("oi_usd", "volume", "taker_buy_volume"):
        checks[c] = [("is not a finite number", not_finite), ("is negative", negative)]
    checks["funding_rate"] = [("is not a finite number", not_finite)]
    require(table, 0, csv, checks, optional=OPTIONAL)
    high, low = table.column("high"), table.column("low")
    bad = np.flatnonzero(pc.less(high, low).to_numpy(zero_copy_only=False))
    if bad.size:
        i = int(bad[0])
        raise csv.fail(i, f"high {high[i].as_py()} is below low {low[i].as_py()}")

    ts = epoch_to_ns(table.column("timestamp").combine_chunks())
    ts_np = ts.to_numpy()
    steps = np.diff(ts_np)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        raise csv.fail(
            int(bad[0]) + 1, "timestamp is not after the previous row's (rows must be in time order)"
        )
    if interval_s is None:
        interval_s = infer_interval_s(ts_np)
        if interval_s is None or interval_s <= 0:
            raise InputFileError(source.display, None, "cannot infer the bar interval: pass --interval")
    if interval_s <= 0:
        raise ValueError(f"interval must be positive, got {interval_s}s")
    off_grid = np.flatnonzero(steps % (interval_s * NS_PER_S) != 0)
    if off_grid.size:
        raise csv.fail(
            int(off_grid[0]) + 1,
            f"timestamp is not a whole number of {interval_s}s bars after the previous row",
        )

    n = table.num_rows
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "venue": pa.repeat(pa.scalar(venue.value), n),
        "symbol": pa.repeat(pa.scalar(symbol), n),
        "ts_event": ts,
        "ts_recv": ts,
        "interval_s": pa.repeat(pa.scalar(interval_s, pa.int64()), n),
    }
    for c in ("open", "high", "low", "close", "oi_usd", *OPTIONAL):
        if c in table.column_names:
            columns[c] = table.column(c)
    bars = pa.table(columns)

    digest = _sha256(path)
    source_id = f"bars:{venue.value}:{symbol}:{path.name}:{digest[:16]}"
    fingerprint = f"sha256:{digest}:interval_s={interval_s}"
    previous = store.source(source_id)
    common = {
        "path": source.display,
        "source_id": source_id,
        "kind": Kind.BAR,
        "symbol": symbol,
        "data_type": "bars",
        "ignored_columns": tuple(csv.extra),
    }
    if previous is not None and previous.fingerprint == fingerprint and not force:
        return FileImport(status="skipped", rows=previous.rows.get(Kind.BAR.value, 0), **common)  # type: ignore[arg-type]
    with store.batch(source_id=source_id, fingerprint=fingerprint) as b:
        b.add_table(Kind.BAR, bars)
    return FileImport(
        status="replaced" if previous is not None else "stored",
        rows=n,
        first_ts=int(ts_np[0]),
        last_ts=int(ts_np[-1]),
        **common,  # type: ignore[arg-type]
    )
