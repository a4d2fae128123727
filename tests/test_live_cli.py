"""The live-data commands as a user runs them: replay into the store and onto the tape, collect from the
in-process emulator, cascades over what was stored, status afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perpscope.cli import main
from perpscope.store import Store


def _capture(tmp_path: Path) -> Path:
    """A capture in the `<receive-ns> <json>` format: liquidations of a flush, a trade, and a bad line."""

    lines = []
    t0 = 1_733_427_000_000
    for i in range(8):
        msg = {
            "e": "forceOrder",
            "E": t0 + i * 700,
            "o": {
                "s": "BTCUSDT",
                "S": "SELL",
                "o": "LIMIT",
                "f": "IOC",
                "q": "3",
                "p": "94000",
                "ap": "94100.5",
                "X": "FILLED",
                "l": "3",
                "z": "3",
                "T": t0 + i * 700,
            },
        }
        lines.append(
            f"{(t0 + i * 700) * 1_000_000 + 5} {json.dumps({'stream': 'btcusdt@forceOrder', 'data': msg})}"
        )
    lines.append("1733427009000000000 {not json")
    path = tmp_path / "flush.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replay_into_store_then_cascades(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "store"
    assert main(["replay", "binance", str(_capture(tmp_path)), "--data-dir", str(data)]) == 0
    err = capsys.readouterr().err
    assert "rejected 1" in err and "liquidation 8" in err
    liqs = Store(data).events("liquidation")
    assert len(liqs) == 8 and {e.side.value for e in liqs} == {"long"}  # SELL order = long liquidated
    assert liqs[0].notional_usd == pytest.approx(3 * 94100.5) and liqs[0].sampled
    assert main(["cascades", "BTC", "--json", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "long" in out and "binance" in out


def test_replay_onto_tape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "binance", str(_capture(tmp_path)), "--tape", "--min-usd", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("LONG") >= 8 and "CASCADE" in out and "≥$" in out


def test_replay_bad_speed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "binance", str(_capture(tmp_path)), "--speed", "fast"]) == 2
    assert "--speed" in capsys.readouterr().err


@pytest.mark.slow
def test_collect_from_emulator_then_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "store"
    args = [
        "collect",
        "--emulate",
        "--emulate-rate",
        "20",
        "--duration",
        "4s",
        "--symbols",
        "BTC",
        "--data-dir",
        str(data),
    ]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["events"] > 0
    counts = {
        r["v"]: r["n"]
        for r in Store(data).query("select venue v, count(*) n from trades group by 1").to_pylist()
    }
    assert set(counts) == {"binance", "bybit", "okx", "hyperliquid"}
    assert main(["status", "--json", "--data-dir", str(data)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert {s["venue"] for s in status["status"]["streams"]} == {"binance", "bybit", "okx", "hyperliquid"}
