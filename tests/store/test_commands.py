"""The ``query``, ``import`` and ``store`` commands, run through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perpscope.cli import main
from perpscope.store import Store

KLINES = (
    "1717200000000,67500.1,67600.0,67450.5,67550.0,120.5,1717200299999,8135000.25,2001,60.25,4067000.1,0\n"
    "1717200300000,67550.0,67700.0,67500.0,67690.9,99.0,1717200599999,6690000.0,1500,55.5,3750000.0,0\n"
)
BARS = (
    "timestamp,open,high,low,close,oi_usd,funding_rate,cvd_btc\n"
    "1779724500000,77578.6,77629.4,77568.5,77587.2,7719003148.8787,3.527e-05,-2.04\n"
    "1779724800000,77587.2,77608.3,77533.4,77563.3,7720258802.8188,3.527e-05,-225.2\n"
)


def test_import_query_stats_compact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(tmp_path / "store")]
    k = tmp_path / "BTCUSDT-klines-5m-2024-06-01.csv"
    k.write_text(KLINES)
    assert main(["import", "binance-archive", str(k), *data]) == 0
    out = capsys.readouterr().out
    assert (
        "stored" in out
        and "BTC candles: 2 rows" in out
        and "2024-06-01 00:00:00 → 2024-06-01 00:05:00" in out
    )
    assert main(["import", "binance-archive", str(k), *data]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "skipped 1 duplicate file" in out

    b = tmp_path / "bars.csv"
    b.write_text(BARS)
    assert (
        main(["import", "bars", str(b), "--venue", "binance", "--symbol", "BTC", "--interval", "5m", *data])
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "BTC bars: 2 rows" in out and "ignored columns: cvd_btc" in out and "stored 2 bars from 1 file" in out
    )

    assert main(["query", "--json", "SELECT symbol, close FROM candles ORDER BY ts_event", *data]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"symbol": "BTC", "close": 67550.0},
        {"symbol": "BTC", "close": 67690.9},
    ]
    assert (
        main(["query", "SELECT venue, count(*) AS n, max(oi_usd) AS oi FROM bars GROUP BY venue", *data]) == 0
    )
    out = capsys.readouterr().out
    assert "binance" in out and "1 row" in out and "7720258803" in out
    assert main(["query", "--max-rows", "1", "SELECT * FROM candles", *data]) == 0
    assert "showing 1" in capsys.readouterr().out

    assert main(["store", "stats", "--json", *data]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["views"]["candles"]["rows"] == 2 and stats["views"]["bars"]["rows"] == 2
    assert main(["store", "stats", *data]) == 0
    assert "candles" in capsys.readouterr().out
    assert main(["store", "compact", *data]) == 0
    assert "compacted 0 partitions" in capsys.readouterr().out
    assert main(["store", "schema", "bars"]) == 0
    assert "oi_usd" in capsys.readouterr().out


def test_errors_exit_2_with_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(tmp_path / "store")]
    assert main(["query", "SELEC nonsense", *data]) == 2
    assert "bad SQL" in capsys.readouterr().err
    assert main(["query", "DROP VIEW trades", *data]) == 2
    assert "read-only" in capsys.readouterr().err
    bad = tmp_path / "BTCUSDT-klines-5m-2024-06-01.csv"
    bad.write_text(KLINES.replace("67690.9", "oops"))
    assert main(["import", "binance-archive", str(bad), *data]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: column close: 'oops' is not a valid number" in err
    assert Store(tmp_path / "store").stats().rows == 0


def test_data_dir_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PERPSCOPE_DATA_DIR", str(tmp_path / "env-store"))
    b = tmp_path / "bars.csv"
    b.write_text(BARS)
    assert main(["import", "bars", str(b), "--venue", "okx", "--symbol", "ETH"]) == 0
    capsys.readouterr()
    assert Store(tmp_path / "env-store").read("bars").num_rows == 2
    assert main(["query", "--json", "SELECT count(*) AS n FROM bars"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 2}]
