"""Generic bar CSV importer: the real 5-minute BTCUSDT file, interval inference, extra columns, bad rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from perpscope.errors import InputFileError
from perpscope.model import Bar, Kind, Venue
from perpscope.store import Store
from perpscope.store.importers import import_bars_csv

MS = 1_000_000
HEADER = "timestamp,open,high,low,close,oi_usd,funding_rate"
ROWS = [
    "1779724500000,77578.6,77629.4,77568.5,77587.2,7719003148.8787,3.527e-05",
    "1779724800000,77587.2,77608.3,77533.4,77563.3,7720258802.8188,3.527e-05",
    "1779725100000,77563.3,77600.0,77500.0,77510.0,7721000000.0,",
]


def write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.mark.shared_data
def test_real_binance_5m_file(store: Store, shared: Callable[[str], Path]) -> None:
    path = shared("btcusdt-binance-5m-oi-2026-05-25_2026-05-31.csv")
    item = import_bars_csv(store, path, "binance", "BTCUSDT")
    assert (item.status, item.kind, item.rows, item.symbol) == ("stored", Kind.BAR, 1825, "BTC")
    assert item.first_ts == 1779724500000 * MS and item.last_ts == 1780271700000 * MS
    assert item.ignored_columns == ("cvd_btc",)
    t = store.query(
        "SELECT count(*) AS n, min(ts_event) AS lo, max(ts_event) AS hi, min(interval_s) AS iv, "
        "max(interval_s) AS iv2, count(funding_rate) AS nf FROM bars "
        "WHERE venue = 'binance' AND symbol = 'BTC'"
    ).to_pylist()[0]
    assert t == {
        "n": 1825,
        "lo": 1779724500000 * MS,
        "hi": 1780271700000 * MS,
        "iv": 300,
        "iv2": 300,
        "nf": 1825,
    }
    first = store.events("bars", end_ns=1779724500000 * MS + 1)[0]
    assert first == Bar(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=1779724500000 * MS,
        ts_recv=1779724500000 * MS,
        interval_s=300,
        open=77578.6,
        high=77629.4,
        low=77568.5,
        close=77587.2,
        oi_usd=7719003148.8787,
        funding_rate=3.527e-05,
    )
    last = store.read("bars", columns=["close", "oi_usd"]).slice(1824).to_pylist()[0]
    assert last == {"close": 73653.2, "oi_usd": 7735835738.813955}
    assert import_bars_csv(store, path, Venue.BINANCE, "BTC").status == "skipped"
    assert store.read("bars").num_rows == 1825
    assert len({p.parent for p in store.files("bars")}) == 7  # one partition per UTC day


def test_interval_inference_optional_columns_and_gaps(store: Store, tmp_path: Path) -> None:
    rows = [*ROWS, "1779726000000,77510.0,77520.0,77400.0,77450.0,7722000000.0,4e-05"]  # a 3-bar gap
    item = import_bars_csv(store, write(tmp_path / "b.csv", HEADER, rows), "okx", "BTC-USDT-SWAP")
    assert item.symbol == "BTC" and item.rows == 4
    bars = store.events("bars")
    assert {b.interval_s for b in bars} == {300}
    assert bars[2].funding_rate is None and bars[3].funding_rate == 4e-05
    assert bars[0].venue is Venue.OKX and bars[0].volume is None
    # volume columns are kept, funding optional, unknown columns ignored
    p = write(
        tmp_path / "c.csv",
        "timestamp,open,high,low,close,oi_usd,volume,taker_buy_volume,note",
        ["1779724500000,1,2,0.5,1.5,1000,10,4,x", "1779724560000,1.5,2,1,1.75,1001,12,8,y"],
    )
    item = import_bars_csv(store, p, "bybit", "ETH")
    assert item.ignored_columns == ("note",)
    eth = store.events("bars", venue="bybit")
    assert eth[1].interval_s == 60 and eth[1].volume == 12 and eth[1].taker_buy_volume == 8
    assert eth[1].funding_rate is None
    # a given interval wins; the same file again is skipped; a different interval replaces
    single = write(tmp_path / "d.csv", HEADER, ROWS[:1])
    with pytest.raises(InputFileError, match="--interval"):
        import_bars_csv(store, single, "hyperliquid", "SOL")
    assert import_bars_csv(store, single, "hyperliquid", "SOL", 300).status == "stored"
    assert import_bars_csv(store, single, "hyperliquid", "SOL", 300).status == "skipped"
    assert import_bars_csv(store, single, "hyperliquid", "SOL", 900).status == "replaced"
    assert [b.interval_s for b in store.events("bars", venue="hyperliquid")] == [900]


@pytest.mark.parametrize(
    ("header", "rows", "line", "words"),
    [
        (HEADER, [ROWS[0], ROWS[1].replace("77533.4", "x")], 3, "column low: 'x' is not a valid number"),
        (HEADER, [ROWS[0], ROWS[1].replace("7720258802.8188", "")], 3, "column oi_usd: missing value"),
        (HEADER, [ROWS[0], ROWS[1].replace("7720258802.8188", "-1")], 3, "column oi_usd: -1.0 is negative"),
        (HEADER, [ROWS[0], ROWS[1].replace("3.527e-05", "inf")], 3, "funding_rate: inf is not a finite"),
        (HEADER, [ROWS[1], ROWS[0]], 3, "not after the previous row"),
        (HEADER, [ROWS[0], ROWS[0]], 3, "not after the previous row"),
        (HEADER, [ROWS[0], ROWS[1], "1779725130000,1,2,0.5,1,5,0"], 4, "not a whole number of 300s bars"),
        (HEADER, [ROWS[0], ROWS[1].replace("77608.3", "7")], 3, "below low"),
        (HEADER, [ROWS[0], "1779724800000,1,2"], 3, "expected 7 columns, found 3"),
        ("timestamp,open,high,low,close", ROWS, 1, "missing column oi_usd"),
        ("1779724500000,1,2,3,4,5", ROWS, 1, "needs a header row"),
        (HEADER, [], None, "no data rows"),
    ],
)
def test_bad_rows_name_file_and_line_and_store_nothing(
    store: Store, tmp_path: Path, header: str, rows: list[str], line: int | None, words: str
) -> None:
    p = write(tmp_path / "bad.csv", header, rows)
    with pytest.raises(InputFileError) as info:
        import_bars_csv(store, p, "binance", "BTC")
    assert info.value.line == line, str(info.value)
    assert words in str(info.value)
    assert str(info.value).startswith(f"{p}:{line}:" if line else f"{p}:")
    assert store.stats().rows == 0
