"""Importer for Binance USD-M bulk archive files (data.binance.vision): ``klines`` → Candle, ``metrics`` →
OpenInterest, ``aggTrades`` / ``trades`` → Trade, ``fundingRate`` → Funding.

Files are named ``<SYMBOL>-<type>[-<interval>]-<date>.zip`` (or the ``.csv`` inside); the name gives the
type, symbol and kline interval unless overridden. Older files have no header row, newer ones do; both
are read. Columns (venues.md): klines ``open_time,open,high,low,close,volume,close_time,quote_volume,count,
taker_buy_volume,taker_buy_quote_volume,ignore``; metrics ``create_time,symbol,sum_open_interest,
sum_open_interest_value,…``; aggTrades ``agg_trade_id,price,quantity,first_trade_id,last_trade_id,
transact_time,is_buyer_maker``; fundingRate ``calc_time,funding_interval_hours,last_funding_rate``.

A file is one idempotent source (``binance-archive:<type>:<symbol>:<interval>:<name>``): importing it
again with the same content is skipped, with new content it replaces what it stored before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import DecodeError, InputFileError
from ...model import Kind, Side, Venue
from ...symbols import canonical_symbol
from ...timeutil import NS_PER_S
from ..store import Store
from ._csv import (
    Check,
    CsvSource,
    CsvTable,
    bad_epoch,
    epoch_to_ns,
    first_index,
    negative,
    not_finite,
    not_positive,
    require,
)
from .report import FileImport, ImportReport

_NAME = re.compile(
    r"^(?P<symbol>[A-Za-z0-9]+)-(?P<type>[A-Za-z]+)(?:-(?P<interval>\d+[smhdw]))?-(?P<date>\d{4}-\d{2}(?:-\d{2})?)$"
)
_INTERVAL = re.compile(r"^(\d+)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
METRICS_COLUMNS = (
    "create_time",
    "symbol",
    "sum_open_interest",
    "sum_open_interest_value",
    "count_toptrader_long_short_ratio",
    "sum_toptrader_long_short_ratio",
    "count_long_short_ratio",
    "sum_taker_long_short_vol_ratio",
)
AGGTRADES_COLUMNS = (
    "agg_trade_id",
    "price",
    "quantity",
    "first_trade_id",
    "last_trade_id",
    "transact_time",
    "is_buyer_maker",
)
TRADES_COLUMNS = ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker")
FUNDING_COLUMNS = ("calc_time", "funding_interval_hours", "last_funding_rate")

F64 = pa.float64()
I64 = pa.int64()


def parse_interval_s(text: str) -> int:
    """``"5m"`` → 300. Months (``1M``) have no fixed length and are refused."""

    m = _INTERVAL.match(text.strip())
    if not m or int(m.group(1)) <= 0:
        raise ValueError(
            f"bad kline interval {text!r}: use e.g. 1m, 5m, 1h, 4h, 1d, 1w (months are not supported)"
        )
    return int(m.group(1)) * _UNIT_S[m.group(2)]


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    """What a Binance archive file holds, from its name and the overrides."""

    source: CsvSource
    data_type: str
    symbol: str  # canonical, e.g. BTC
    interval: str | None  # klines only, e.g. "5m"

    @property
    def source_id(self) -> str:
        return f"binance-archive:{self.data_type}:{self.symbol}:{self.interval or ''}:{self.source.stem}"


def _canonical(symbol: str, where: str) -> str:
    text = symbol.strip()
    if text.upper().endswith("USDT"):
        try:
            return canonical_symbol(Venue.BINANCE, text)
        except DecodeError as exc:
            raise InputFileError(where, None, str(exc)) from None
    return text.upper()


def describe(
    path: Path | str, *, data_type: str | None = None, symbol: str | None = None, interval: str | None = None
) -> ArchiveFile:
    """Work out type, symbol and interval of an archive file from its name (or the overrides)."""

    source = CsvSource.of(path)
    m = _NAME.match(source.stem)
    dtype = data_type or (m.group("type") if m else None)
    sym = symbol or (m.group("symbol") if m else None)
    iv = interval or (m.group("interval") if m else None)
    where = source.display
    if dtype is None or sym is None:
        raise InputFileError(
            where,
            None,
            "cannot tell type and symbol from the name (expected <SYMBOL>-<type>[-<interval>]-<date>.zip); "
            "pass --type and --symbol",
        )
    lookup = {t.lower(): t for t in _BUILDERS}
    if dtype.lower() not in lookup:
        raise InputFileError(
            where, None, f"unsupported archive type {dtype!r}; supported: {', '.join(_BUILDERS)}"
        )
    dtype = lookup[dtype.lower()]
    if dtype == "klines":
        if iv is None:
            raise InputFileError(where, None, "klines need an interval (from the name or --interval)")
        try:
            parse_interval_s(iv)
        except ValueError as exc:
            raise InputFileError(where, None, str(exc)) from None
    else:
        iv = None
    return ArchiveFile(source, dtype, _canonical(sym, where), iv)


def _const(value: object, n: int, typ: pa.DataType) -> pa.Array:
    return pa.repeat(pa.scalar(value, typ), n)


def _base(symbol: str, ts_ns: pa.Array) -> dict[str, pa.Array]:
    n = len(ts_ns)
    return {
        "venue": _const(Venue.BINANCE.value, n, pa.string()),
        "symbol": _const(symbol, n, pa.string()),
        "ts_event": ts_ns,
        "ts_recv": ts_ns,  # imported history: received == happened
    }


def _num_checks(*cols: str, positive: bool = False) -> dict[str, list[Check]]:
    fn = not_positive if positive else negative
    word = "is not a positive number" if positive else "is negative"
    return {c: [("is not a finite number", not_finite), (word, fn)] for c in cols}


def _klines(batch: pa.RecordBatch, offset: int, csv: CsvTable, f: ArchiveFile) -> tuple[Kind, pa.Table]:
    assert f.interval is not None
    interval_s = parse_interval_s(f.interval)
    checks: dict[str, list[Check]] = {"open_time": [("is not an epoch timestamp", bad_epoch)]}
    checks |= _num_checks("open", "high", "low", "close", positive=True)
    checks |= _num_checks("volume", "quote_volume", "taker_buy_volume")
    checks["close_time"] = [("is not an epoch timestamp", bad_epoch)]
    require(batch, offset, csv, checks)
    high, low = batch.column("high"), batch.column("low")
    bad = first_index(pc.less(high, low))
    if bad is not None:
        raise csv.fail(offset + bad, f"high {high[bad].as_py()} is below low {low[bad].as_py()}")
    ts = epoch_to_ns(batch.column("open_time"))
    close = epoch_to_ns(batch.column("close_time"))
    # close_time is the last ms of the bar: a wrong --interval shows up as a different span
    span = pc.subtract(close, ts).to_numpy() + 1_000_000
    bad = first_index(np.abs(span - interval_s * NS_PER_S) > 1_000_000)
    if bad is not None:
        got = int(span[bad]) // NS_PER_S
        raise csv.fail(offset + bad, f"bar spans {got}s but the interval is {f.interval} ({interval_s}s)")
    cols = _base(f.symbol, ts)
    cols |= {
        "interval_s": _const(interval_s, len(ts), I64),
        "open": batch.column("open"),
        "high": high,
        "low": low,
        "close": batch.column("close"),
        "volume": batch.column("volume"),
        "quote_volume": batch.column("quote_volume"),
        "taker_buy_volume": batch.column("taker_buy_volume"),
        "closed": _const(True, len(ts), pa.bool_()),
    }
    return Kind.CANDLE, pa.table(cols)


def _metrics(batch: pa.RecordBatch, offset: int, csv: CsvTable, f: ArchiveFile) -> tuple[Kind, pa.Table]:
    text = batch.column("create_time")
    # create_time is text "YYYY-MM-DD HH:MM:SS", UTC (the only archive column that is not epoch ms)
    parsed = pc.strptime(
        pc.utf8_trim_whitespace(text), format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True
    )
    bad = first_index(pc.is_null(parsed))
    if bad is not None:
        raise csv.fail(
            offset + bad, f"column create_time: {text[bad].as_py()!r} is not a YYYY-MM-DD HH:MM:SS time"
        )
    require(batch, offset, csv, _num_checks("sum_open_interest", "sum_open_interest_value"))
    ts = pc.multiply(parsed.cast(I64), NS_PER_S)
    cols = _base(f.symbol, ts)
    # Binance open interest counts one side of the book already (long == short): no halving
    cols |= {"oi_base": batch.column("sum_open_interest"), "oi_usd": batch.column("sum_open_interest_value")}
    return Kind.OPEN_INTEREST, pa.table(cols)


def _trade_table(
    f: ArchiveFile, ts_ms: pa.Array, trade_id: pa.Array, price: pa.Array, qty: pa.Array, buyer_maker: pa.Array
) -> pa.Table:
    ts = epoch_to_ns(ts_ms)
    cols = _base(f.symbol, ts)
    # is_buyer_maker: the buyer rested on the book, so the seller was the aggressor (taker)
    side = pc.if_else(buyer_maker, Side.SELL.value, Side.BUY.value)
    cols |= {
        "side": side,
        "price": price,
        "quantity": qty,
        "notional_usd": pc.multiply(price, qty),
        "trade_id": trade_id.cast(pa.string()),
    }
    return pa.table(cols)


def _aggtrades(batch: pa.RecordBatch, offset: int, csv: CsvTable, f: ArchiveFile) -> tuple[Kind, pa.Table]:
    checks: dict[str, list[Check]] = {"transact_time": [("is not an epoch timestamp", bad_epoch)]}
    checks |= _num_checks("price", "quantity", positive=True)
    checks |= {"agg_trade_id": [], "is_buyer_maker": []}
    require(batch, offset, csv, checks)
    table = _trade_table(
        f,
        batch.column("transact_time"),
        batch.column("agg_trade_id"),
        batch.column("price"),
        batch.column("quantity"),
        batch.column("is_buyer_maker"),
    )
    return Kind.TRADE, table


def _trades(batch: pa.RecordBatch, offset: int, csv: CsvTable, f: ArchiveFile) -> tuple[Kind, pa.Table]:
    checks: dict[str, list[Check]] = {"time": [("is not an epoch timestamp", bad_epoch)]}
    checks |= _num_checks("price", "qty", positive=True)
    checks |= {"id": [], "is_buyer_maker": []}
    require(batch, offset, csv, checks)
    table = _trade_table(
        f,
        batch.column("time"),
        batch.column("id"),
        batch.column("price"),
        batch.column("qty"),
        batch.column("is_buyer_maker"),
    )
    return Kind.TRADE, table


def _funding(batch: pa.RecordBatch, offset: int, csv: CsvTable, f: ArchiveFile) -> tuple[Kind, pa.Table]:
    checks: dict[str, list[Check]] = {"calc_time": [("is not an epoch timestamp", bad_epoch)]}
    checks |= _num_checks("funding_interval_hours", positive=True)
    checks["last_funding_rate"] = [("is not a finite number", not_finite)]
    require(batch, offset, csv, checks)
    ts = epoch_to_ns(batch.column("calc_time"))
    rate = batch.column("last_funding_rate")
    cols = _base(f.symbol, ts)
    # a settled record: the rate that applied is the settled one; the next funding time is not in the file
    cols |= {
        "rate": rate,
        "interval_hours": batch.column("funding_interval_hours"),
        "next_funding_ts": pa.nulls(len(ts), I64),
        "settled_rate": rate,
    }
    return Kind.FUNDING, pa.table(cols)


Builder = Callable[[pa.RecordBatch, int, CsvTable, ArchiveFile], tuple[Kind, pa.Table]]

# type → (documented column order, columns to read with their types, builder)
_BUILDERS: dict[str, tuple[tuple[str, ...], dict[str, pa.DataType], Builder]] = {
    "klines": (
        KLINE_COLUMNS,
        {
            "open_time": I64,
            "open": F64,
            "high": F64,
            "low": F64,
            "close": F64,
            "volume": F64,
            "close_time": I64,
            "quote_volume": F64,
            "taker_buy_volume": F64,
        },
        _klines,
    ),
    "metrics": (
        METRICS_COLUMNS,
        {"create_time": pa.string(), "sum_open_interest": F64, "sum_open_interest_value": F64},
        _metrics,
    ),
    "aggTrades": (
        AGGTRADES_COLUMNS,
        {
            "agg_trade_id": I64,
            "price": F64,
            "quantity": F64,
            "transact_time": I64,
            "is_buyer_maker": pa.bool_(),
        },
        _aggtrades,
    ),
    "trades": (
        TRADES_COLUMNS,
        {"id": I64, "price": F64, "qty": F64, "time": I64, "is_buyer_maker": pa.bool_()},
        _trades,
    ),
    "fundingRate": (
        FUNDING_COLUMNS,
        {"calc_time": I64, "funding_interval_hours": F64, "last_funding_rate": F64},
        _funding,
    ),
}
KIND_OF_TYPE: dict[str, Kind] = {
    "klines": Kind.CANDLE,
    "metrics": Kind.OPEN_INTEREST,
    "aggTrades": Kind.TRADE,
    "trades": Kind.TRADE,
    "fundingRate": Kind.FUNDING,
}
SUPPORTED_TYPES: tuple[str, ...] = tuple(_BUILDERS)


def import_binance_file(
    store: Store,
    path: Path | str,
    *,
    data_type: str | None = None,
    symbol: str | None = None,
    interval: str | None = None,
    force: bool = False,
) -> FileImport:
    """Import one archive file. The whole file is checked before anything becomes visible; a bad row
    raises InputFileError naming the file and line, and nothing is stored."""

    f = describe(path, data_type=data_type, symbol=symbol, interval=interval)
    positional, types, build = _BUILDERS[f.data_type]
    kind = KIND_OF_TYPE[f.data_type]
    fingerprint = f.source.fingerprint()
    previous = store.source(f.source_id)
    if previous is not None and previous.fingerprint == fingerprint and not force:
        return FileImport(
            path=f.source.display,
            source_id=f.source_id,
            status="skipped",
            kind=kind,
            rows=previous.rows.get(kind.value, 0),
            symbol=f.symbol,
            data_type=f.data_type,
        )
    csv = CsvTable(f.source, columns=types, positional=positional)
    first: int | None = None
    last: int | None = None
    with store.batch(source_id=f.source_id, fingerprint=fingerprint) as b:
        for offset, batch in csv.batches():
            if batch.num_rows == 0:
                continue
            k, table = build(batch, offset, csv, f)
            b.add_table(k, table)
            ts = table.column("ts_event")
            lo, hi = pc.min(ts).as_py(), pc.max(ts).as_py()
            first = lo if first is None else min(first, lo)
            last = hi if last is None else max(last, hi)
    return FileImport(
        path=f.source.display,
        source_id=f.source_id,
        status="replaced" if previous is not None else "stored",
        kind=kind,
        rows=b.rows.get(kind, 0),
        symbol=f.symbol,
        data_type=f.data_type,
        first_ts=first,
        last_ts=last,
    )


def import_binance_archive(
    store: Store,
    paths: Iterable[Path | str],
    *,
    data_type: str | None = None,
    symbol: str | None = None,
    interval: str | None = None,
    force: bool = False,
    progress: Callable[[FileImport], None] | None = None,
) -> ImportReport:
    """Import data.binance.vision files one by one (each all-or-nothing and idempotent). Stops at the first
    bad file with InputFileError; the files before it stay imported."""

    report = ImportReport()
    for path in paths:
        item = import_binance_file(
            store, path, data_type=data_type, symbol=symbol, interval=interval, force=force
        )
        report.add(item)
        if progress is not None:
            progress(item)
    return report
