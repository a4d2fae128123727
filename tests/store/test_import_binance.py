"""Binance archive importer on small files in the documented formats: every type, zip and csv, with and
without header; exact values, idempotency, bad rows with file:line and nothing stored."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from perpscope.errors import InputFileError
from perpscope.model import Candle, Funding, Kind, OpenInterest, Side, Trade, Venue
from perpscope.store import Store
from perpscope.store.importers import import_binance_archive, import_binance_file
from perpscope.store.importers.binance import describe, parse_interval_s

MS = 1_000_000
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)
KLINES = [
    "1717200000000,67500.1,67600.0,67450.5,67550.0,120.5,1717200299999,8135000.25,2001,60.25,4067000.1,0",
    "1717200300000,67550.0,67700.0,67500.0,67690.9,99.0,1717200599999,6690000.0,1500,55.5,3750000.0,0",
    "1717200600000,67690.9,67690.9,67400.0,67420.0,150.0,1717200899999,10130000.0,2500,40.0,2700000.0,0",
]
METRICS_HEADER = (
    "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
    "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio"
)
METRICS = [
    "2024-06-01 00:05:00,BTCUSDT,81000.123,5467500000.5,1.61,1.39,1.82,0.95",
    "2024-06-01 00:10:00,BTCUSDT,81010.000,5470000000.0,,,,",
]
AGG_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
AGG = [
    "2100000001,67500.1,0.005,5100000001,5100000003,1717200000123,true",
    "2100000002,67500.2,1.250,5100000004,5100000004,1717200000456,false",
    "2100000003,67499.9,0.100,5100000005,5100000009,1717286399999,true",
]
TRADES_HEADER = "id,price,qty,quote_qty,time,is_buyer_maker"
TRADES = ["5100000001,67500.1,0.002,135.0002,1717200000123,true"]
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate"
FUNDING = ["1717200000000,8,0.00010000", "1717228800007,8,-0.00002150", "1717257600000,4,0.00012500"]


def write(
    path: Path, header: str | None, rows: list[str], *, as_zip: bool = False, crlf: bool = False
) -> Path:
    nl = "\r\n" if crlf else "\n"
    text = nl.join(([header] if header else []) + rows) + nl
    if as_zip:
        zpath = path.with_suffix(".zip")
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(path.name, text)
        return zpath
    path.write_text(text)
    return path


@pytest.mark.parametrize("as_zip", [False, True])
@pytest.mark.parametrize("header", [True, False])
def test_klines_become_candles(store: Store, tmp_path: Path, as_zip: bool, header: bool) -> None:
    f = write(
        tmp_path / "BTCUSDT-klines-5m-2024-06-01.csv", KLINE_HEADER if header else None, KLINES, as_zip=as_zip
    )
    item = import_binance_file(store, f)
    assert (item.status, item.kind, item.rows, item.symbol, item.data_type) == (
        "stored",
        Kind.CANDLE,
        3,
        "BTC",
        "klines",
    )
    assert (item.first_ts, item.last_ts) == (1717200000000 * MS, 1717200600000 * MS)
    candles = store.events("candles")
    assert candles[0] == Candle(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=1717200000000 * MS,
        ts_recv=1717200000000 * MS,
        interval_s=300,
        open=67500.1,
        high=67600.0,
        low=67450.5,
        close=67550.0,
        volume=120.5,
        quote_volume=8135000.25,
        taker_buy_volume=60.25,
        closed=True,
    )
    assert [c.close for c in candles] == [67550.0, 67690.9, 67420.0]


@pytest.mark.parametrize("as_zip", [False, True])
@pytest.mark.parametrize("header", [True, False])
def test_metrics_become_one_sided_open_interest(
    store: Store, tmp_path: Path, as_zip: bool, header: bool
) -> None:
    f = write(
        tmp_path / "BTCUSDT-metrics-2024-06-01.csv",
        METRICS_HEADER if header else None,
        METRICS,
        as_zip=as_zip,
    )
    assert import_binance_file(store, f).rows == 2
    oi = store.events("open_interest")
    t = 1717200300 * 10**9  # 2024-06-01 00:05:00 UTC
    assert oi[0] == OpenInterest(
        venue=Venue.BINANCE, symbol="BTC", ts_event=t, ts_recv=t, oi_base=81000.123, oi_usd=5467500000.5
    )
    assert oi[1].ts_event == t + 300 * 10**9 and oi[1].oi_usd == 5470000000.0


@pytest.mark.parametrize("as_zip", [False, True])
@pytest.mark.parametrize("header", [True, False])
def test_aggtrades_become_trades_with_the_aggressor_side(
    store: Store, tmp_path: Path, as_zip: bool, header: bool
) -> None:
    f = write(
        tmp_path / "ETHUSDT-aggTrades-2024-06-01.csv", AGG_HEADER if header else None, AGG, as_zip=as_zip
    )
    assert import_binance_file(store, f).rows == 3
    got = store.events("trades")
    assert got[0] == Trade(
        venue=Venue.BINANCE,
        symbol="ETH",
        ts_event=1717200000123 * MS,
        ts_recv=1717200000123 * MS,
        side=Side.SELL,  # buyer was the maker: the seller hit the bid
        price=67500.1,
        quantity=0.005,
        notional_usd=67500.1 * 0.005,
        trade_id="2100000001",
    )
    assert [t.side for t in got] == [Side.SELL, Side.BUY, Side.SELL]
    assert got[1].notional_usd == pytest.approx(84375.25)
    assert got[2].ts_event == 1717286399999 * MS  # last ms of the day stays in that day's partition
    assert len(store.files("trades")) == 1


def test_trades_files(store: Store, tmp_path: Path) -> None:
    for header in (TRADES_HEADER, None):
        f = write(tmp_path / f"BTCUSDT-trades-2024-06-0{1 if header else 2}.csv", header, TRADES)
        import_binance_file(store, f)
    got = store.events("trades")
    assert len(got) == 2 and got[0].side is Side.SELL and got[0].trade_id == "5100000001"


@pytest.mark.parametrize("header", [True, False])
def test_funding_rate_files(store: Store, tmp_path: Path, header: bool) -> None:
    f = write(
        tmp_path / "BTCUSDT-fundingRate-2024-06.csv", FUNDING_HEADER if header else None, FUNDING, as_zip=True
    )
    assert import_binance_file(store, f).rows == 3
    got = store.events("funding")
    assert got[1] == Funding(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=1717228800007 * MS,
        ts_recv=1717228800007 * MS,
        rate=-0.0000215,
        interval_hours=8.0,
        next_funding_ts=None,
        settled_rate=-0.0000215,
    )
    assert got[2].interval_hours == 4.0


def test_microsecond_timestamps_and_crlf(store: Store, tmp_path: Path) -> None:
    rows = [r.replace("1717200000123", "1717200000123456") for r in AGG[:1]]
    f = write(tmp_path / "BTCUSDT-aggTrades-2025-01-01.csv", AGG_HEADER, rows, crlf=True)
    import_binance_file(store, f)
    assert store.events("trades")[0].ts_event == 1717200000123456 * 1000


def test_imports_are_idempotent(store: Store, tmp_path: Path) -> None:
    csv = write(tmp_path / "BTCUSDT-klines-5m-2024-06-01.csv", KLINE_HEADER, KLINES)
    (tmp_path / "zip").mkdir()
    zipped = write(tmp_path / "zip" / "BTCUSDT-klines-5m-2024-06-01.csv", KLINE_HEADER, KLINES, as_zip=True)
    report = import_binance_archive(store, [csv, csv, zipped])
    assert [f.status for f in report.files] == ["stored", "skipped", "skipped"]  # same content inside the zip
    assert report.rows_by_kind() == {Kind.CANDLE: 3}
    assert store.read("candles").num_rows == 3
    # new content under the same name replaces the old rows (a corrected re-download)
    write(csv, KLINE_HEADER, KLINES[:2])
    item = import_binance_file(store, csv)
    assert (item.status, item.rows) == ("replaced", 2)
    assert store.read("candles").num_rows == 2
    assert import_binance_file(store, csv, force=True).status == "replaced"
    assert store.read("candles").num_rows == 2


def test_names_and_overrides(store: Store, tmp_path: Path) -> None:
    d = describe(write(tmp_path / "1000PEPEUSDT-klines-1h-2024-06-01.csv", KLINE_HEADER, KLINES))
    assert (d.symbol, d.data_type, d.interval) == ("1000PEPE", "klines", "1h")
    assert describe(write(tmp_path / "BTCUSDT-fundingRate-2024-06.csv", None, FUNDING)).interval is None
    odd = write(tmp_path / "my-download.csv", AGG_HEADER, AGG)
    with pytest.raises(InputFileError, match="--type and --symbol"):
        import_binance_file(store, odd)
    item = import_binance_file(store, odd, data_type="aggTrades", symbol="SOLUSDT")
    assert item.symbol == "SOL" and store.read("trades", symbol="SOL").num_rows == 3
    with pytest.raises(InputFileError, match="unsupported archive type 'bookDepth'"):
        import_binance_file(store, write(tmp_path / "BTCUSDT-bookDepth-2024-06-01.csv", "a,b", ["1,2"]))
    assert parse_interval_s("15m") == 900 and parse_interval_s("1d") == 86400
    with pytest.raises(ValueError):
        parse_interval_s("1M")


def _bad(
    store: Store, tmp_path: Path, name: str, header: str | None, rows: list[str], line: int, words: str
) -> None:
    f = write(tmp_path / name, header, rows)
    with pytest.raises(InputFileError) as info:
        import_binance_file(store, f)
    assert info.value.path == str(f)
    assert info.value.line == line, str(info.value)
    assert words in str(info.value)
    assert f"{f}:{line}:" in str(info.value)
    assert store.stats().rows == 0  # nothing half-written
    assert not [p for p in store.root.rglob("*") if p.is_file() and p.suffix in (".parquet", ".json")]


@pytest.mark.parametrize(
    ("name", "header", "rows", "line", "words"),
    [
        (
            "BTCUSDT-klines-5m-2024-06-01.csv",
            KLINE_HEADER,
            [*KLINES[:2], KLINES[2].replace("67400.0", "abc")],
            4,
            "'abc' is not a valid number",
        ),
        (
            "BTCUSDT-klines-5m-2024-06-02.csv",
            None,
            [KLINES[0], KLINES[1].replace(",99.0,", ",-99.0,")],
            2,
            "column volume: -99.0 is negative",
        ),
        (
            "BTCUSDT-klines-5m-2024-06-03.csv",
            KLINE_HEADER,
            [KLINES[0], "", KLINES[1].replace("67700.0", "nan")],
            4,
            "column high: nan is not a finite number",
        ),
        (
            "BTCUSDT-klines-5m-2024-06-04.csv",
            KLINE_HEADER,
            [KLINES[0], KLINES[1].replace(",67700.0,", ",67000.0,")],
            3,
            "below low",
        ),
        ("BTCUSDT-klines-1m-2024-06-05.csv", KLINE_HEADER, KLINES, 2, "interval is 1m"),
        (
            "BTCUSDT-klines-5m-2024-06-06.csv",
            KLINE_HEADER,
            [KLINES[0], "1717200300000,1,2,3"],
            3,
            "expected 12 columns, found 4",
        ),
        (
            "BTCUSDT-metrics-2024-06-01.csv",
            METRICS_HEADER,
            [METRICS[0], METRICS[1].replace("00:10:00", "25:10:00")],
            3,
            "is not a YYYY-MM-DD HH:MM:SS time",
        ),
        (
            "BTCUSDT-metrics-2024-06-02.csv",
            METRICS_HEADER,
            [METRICS[0].replace("81000.123", "")],
            2,
            "column sum_open_interest: missing value",
        ),
        (
            "ETHUSDT-aggTrades-2024-06-01.csv",
            AGG_HEADER,
            [AGG[0], AGG[1].replace("false", "maybe")],
            3,
            "'maybe' is not a valid boolean",
        ),
        (
            "ETHUSDT-aggTrades-2024-06-02.csv",
            None,
            [*AGG[:2], AGG[2].replace("67499.9", "0")],
            3,
            "is not a positive number",
        ),
        (
            "ETHUSDT-aggTrades-2024-06-03.csv",
            AGG_HEADER,
            [AGG[0].replace("1717200000123", "17172")],
            2,
            "is not an epoch timestamp",
        ),
        (
            "BTCUSDT-fundingRate-2024-06.csv",
            FUNDING_HEADER,
            [FUNDING[0], "1717228800007,8,"],
            3,
            "column last_funding_rate: missing value",
        ),
        ("BTCUSDT-klines-5m-2024-06-07.csv", "open_time,open,high", KLINES, 1, "missing column low"),
        ("BTCUSDT-klines-5m-2024-06-08.csv", None, ["1717200000000,1,2"], 1, "expected 12"),
    ],
)
def test_bad_rows_name_file_and_line_and_store_nothing(
    store: Store, tmp_path: Path, name: str, header: str | None, rows: list[str], line: int, words: str
) -> None:
    _bad(store, tmp_path, name, header, rows, line, words)


def test_a_bad_row_deep_in_a_big_file_is_found_and_nothing_is_stored(store: Store, tmp_path: Path) -> None:
    n = 400_000  # several CSV blocks: the bad row is in a later batch than the first
    rows = [f"{i},67500.5,0.01,{i},{i},{1717200000000 + i},{'true' if i % 3 else 'false'}" for i in range(n)]
    rows[n - 7] = rows[n - 7].replace("67500.5", "6750O.5")
    with pytest.raises(InputFileError) as info:
        import_binance_file(store, write(tmp_path / "BTCUSDT-aggTrades-2024-06-01.csv", AGG_HEADER, rows))
    assert info.value.line == n - 7 + 2
    assert store.stats().rows == 0
    assert not [p for p in store.root.rglob("*") if p.is_file() and p.suffix in (".parquet", ".json")]
    rows[n - 7] = rows[n - 8]  # fixed (a duplicate trade row, kept as the venue sent it)
    item = import_binance_file(store, write(tmp_path / "BTCUSDT-aggTrades-2024-06-01.csv", AGG_HEADER, rows))
    assert item.rows == n and store.read("trades", columns=["ts_event"]).num_rows == n


def test_missing_or_broken_files(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        import_binance_file(store, tmp_path / "BTCUSDT-klines-5m-2024-06-01.zip")
    broken = tmp_path / "BTCUSDT-klines-5m-2024-06-02.zip"
    broken.write_bytes(b"not a zip")
    with pytest.raises(InputFileError, match="not a readable zip"):
        import_binance_file(store, broken)
    empty = tmp_path / "BTCUSDT-klines-5m-2024-06-03.csv"
    empty.write_text("")
    with pytest.raises(InputFileError, match="empty file"):
        import_binance_file(store, empty)
