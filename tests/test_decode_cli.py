"""``perpscope decode``: in-process through cli.main, and once as a real subprocess."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from perpscope.cli import main

FIELDS = ["kind", "venue", "symbol", "ts_event", "side", "price", "quantity", "notional_usd"]


def _capture(fixtures_dir: Path, tmp_path: Path) -> Path:
    b = fixtures_dir / "binance"
    lines = [
        b"1568014461000000000 "
        + b'{"stream":"btcusdt@forceOrder","data":'
        + (b / "ws_forceOrder.json").read_bytes().strip()
        + b"}",
        (b / "ws_aggTrade.json").read_bytes().strip(),
        b"{not json",
        b'{"stream":"btcusdt@foo","data":{}}',
        b"",
        (b / "ws_bookTicker.json").read_bytes().strip(),
        (b / "ws_trade.json").read_bytes().replace(b'"61800.30"', b'"NaN"').strip(),
        (b / "ws_markPriceUpdate.json").read_bytes().strip(),
    ]
    path = tmp_path / "capture.txt.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    return path


def test_decode_binance_file(fixtures_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "binance", str(_capture(fixtures_dir, tmp_path))]) == 0
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["kind"] for r in records] == ["liquidation", "trade", "mark_price", "funding"]
    for r in records:
        assert list(r)[:8] == FIELDS
    liq = records[0]
    assert liq == {
        "kind": "liquidation",
        "venue": "binance",
        "symbol": "BTC",
        "ts_event": 1568014460893000000,
        "side": "long",
        "price": 9910.0,
        "quantity": 0.014,
        "notional_usd": 9910.0 * 0.014,
        "ts_recv": 1568014461000000000,
        "sampled": True,
    }
    trade = records[1]
    assert (trade["side"], trade["price"], trade["quantity"], trade["ts_recv"]) == (
        "sell",
        0.001,
        100.0,
        123456785000000,
    )
    assert records[2]["side"] is None and records[2]["mark_price"] == 11794.15
    assert "line 3: binance: malformed JSON" in err
    assert "line 4: binance: unknown stream 'btcusdt@foo'" in err
    assert "line 7: binance trade: Expected `float` > 0.0 - at `$.p`" in err

    assert "decoded 7 messages → 4 events (funding 1, liquidation 1, mark_price 1, trade 1)" in err
    assert "bad lines: 3 (DecodeError 2, UnknownChannel 1)" in err
    assert "messages without events: bookTicker 1" in err
    assert "skipped lines: blank 1" in err


def test_decode_stdin_and_error_listing(
    fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = b"garbage\n" * 5 + (fixtures_dir / "bybit" / "ws_allLiquidation.json").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["decode", "bybit", "--show-errors", "2"]) == 0
    out, err = capsys.readouterr()
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert (record["kind"], record["symbol"], record["side"], record["sampled"]) == (
        "liquidation",
        "ROSE",
        "short",
        False,
    )
    assert err.count("malformed JSON") == 2
    assert "... 3 more bad lines" in err
    assert "bad lines: 5 (DecodeError 5)" in err


def test_decode_bybit_session_skips_spot(fixtures_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = fixtures_dir / "bybit" / "session_small.jsonl"
    assert main(["decode", "bybit", str(path)]) == 0
    out, err = capsys.readouterr()
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert (record["price"], record["ts_recv"]) == (70001.5, 1786310819965677000)
    assert "line 9: bybit publicTrade.BTCUSDT: Expected `float`" in err
    assert "other_connection 1" in err
    assert main(["decode", "bybit", str(path), "--all-connections"]) == 0
    out, _ = capsys.readouterr()
    assert len(out.splitlines()) == 2


def test_decode_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "binance", str(tmp_path / "nope.txt")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_decode_truncated_gzip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(gzip.compress(b'{"a":1}\n' * 1000)[:-20])
    assert main(["decode", "binance", str(path)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_decode_okx_uses_shipped_instruments(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("perpscope.venues.okx", reason="the OKX adapter (engineer B) is not in this checkout")
    msg = {
        "arg": {"channel": "trades", "instId": "BTC-USDT-SWAP"},
        "data": [
            {
                "instId": "BTC-USDT-SWAP",
                "tradeId": "130639474",
                "px": "42219.9",
                "sz": "12",
                "side": "buy",
                "ts": "1630048897897",
            }
        ],
    }
    path = tmp_path / "okx.jsonl"
    path.write_text(json.dumps(msg) + "\n")
    assert main(["decode", "okx", str(path)]) == 0
    out, _ = capsys.readouterr()
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert (record["kind"], record["symbol"], record["side"]) == ("trade", "BTC", "buy")
    assert record["quantity"] == pytest.approx(12 * 0.01)  # contracts × ctVal from the shipped snapshot


@pytest.mark.shared_data
def test_decode_real_capture_subprocess(shared) -> None:  # type: ignore[no-untyped-def]
    path = shared("binance-usdm-ws-btcusdt-2024-08-08.txt.gz")
    proc = subprocess.run(
        [sys.executable, "-m", "perpscope", "decode", "binance", str(path)],
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 6_551 + 21_313 + 1
    err = proc.stderr.decode()
    assert "decoded 93,954 messages → 27,865 events (book_delta 6,551, book_snapshot 1, trade 21,313)" in err
    assert "bad lines: 0" in err
    assert "messages without events: bookTicker 66,089" in err
    first = json.loads(lines[0])
    assert first["kind"] == "book_delta" and first["ts_recv"] == 1723161255030314667
