"""``perpscope heatmap``: from a temp store filled with simulated bars, and over REST from the emulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from perpscope.cli import main
from perpscope.heatmap.calibrate_model import default_engine_params
from perpscope.heatmap.pipeline import JSON_KEYS, NoDataError, compute, load_store_series
from perpscope.model import Venue
from perpscope.sim.market import simulate
from perpscope.sim.market_config import SimConfig
from perpscope.store import Store
from perpscope.timeutil import NS_PER_MS, NS_PER_S

DAY = 86_400 * NS_PER_S


@pytest.fixture(scope="module")
def sim_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    """Two simulated days of BTC bars on Binance and OKX in a fresh store; (root, first ns, end ns)."""

    root = tmp_path_factory.mktemp("store")
    sim = simulate(SimConfig(seed=3, venues=(Venue.BINANCE, Venue.OKX), duration_ns=2 * DAY))
    store = Store(root)
    n = store.write_batch([b for v in (Venue.BINANCE, Venue.OKX) for b in sim.bars(v)], source_id="sim-bars")
    assert n == 2 * 2 * 288
    edges = sim.time_edges_ns
    return root, int(edges[0]), int(edges[-1])


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["heatmap", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_json_shape_exact_keys(sim_store: tuple[Path, int, int], capsys: pytest.CaptureFixture[str]) -> None:
    root, _, end = sim_store
    rc, out, _ = _run(capsys, "btc", "--data-dir", str(root), "--window", "12h", "--json")
    assert rc == 0
    d = json.loads(out)
    assert tuple(d) == JSON_KEYS
    assert d["symbol"] == "BTC" and sorted(d["venues"]) == ["binance", "okx"]
    t = np.array(d["time"])
    assert t.shape[0] == 144  # 12 h of 5-minute columns
    assert t[-1] == end // NS_PER_MS - 300_000  # default end = latest data
    lu, su = np.array(d["long_usd"]), np.array(d["short_usd"])
    assert lu.shape == su.shape == (144, len(d["price"]))
    assert np.all(np.diff(d["price"]) > 0) and lu.sum() > 0 and su.sum() > 0


def test_end_and_window_select_columns(
    sim_store: tuple[Path, int, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, start, _ = sim_store
    end_ms = (start + DAY + 6 * 3600 * NS_PER_S) // NS_PER_MS
    out = tmp_path / "hm.json"
    rc, _, _ = _run(
        capsys, "BTC", "--data-dir", str(root), "--window", "3h", "--end", str(end_ms), "--out", str(out)
    )
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["time"][0] == end_ms - 3 * 3_600_000 and d["time"][-1] == end_ms - 300_000
    iso = "1970-01-01T00:00Z"  # ISO form parses the same as ms
    rc, _, err = _run(capsys, "BTC", "--data-dir", str(root), "--end", iso)
    assert rc == 2 and "error" in err


def test_png_html_and_summary(
    sim_store: tuple[Path, int, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _, _ = sim_store
    for name in ("a.png", "a.html"):
        rc, out, _ = _run(
            capsys, "BTC", "--data-dir", str(root), "--linear-color", "--out", str(tmp_path / name)
        )
        assert rc == 0 and "wrote" in out
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "plotly" in (tmp_path / "a.html").read_text()[:2_000_000].lower()
    rc, out, _ = _run(capsys, "BTC", "--data-dir", str(root), "--venues", "okx", "--bin-pct", "0.2")
    assert rc == 0 and "ESTIMATED" in out and "okx" in out


def test_leverage_and_bins_reach_the_engine(
    sim_store: tuple[Path, int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _, _ = sim_store
    rc, out, _ = _run(capsys, "BTC", "--data-dir", str(root), "--bins", "50", "--leverage", "10:1", "--json")
    assert rc == 0
    assert len(json.loads(out)["price"]) == 50


@pytest.mark.parametrize(
    "argv",
    [["DOGE"], ["BTC", "--venues", "hyperliquid"], ["BTC", "--out", "x.txt"], ["BTC", "--leverage", "ten"]],
)
def test_errors_exit_2(
    sim_store: tuple[Path, int, int], capsys: pytest.CaptureFixture[str], argv: list[str], tmp_path: Path
) -> None:
    root, _, _ = sim_store
    argv = [a if a != "x.txt" else str(tmp_path / a) for a in argv]
    rc, _, err = _run(capsys, *argv, "--data-dir", str(root))
    assert rc == 2 and err.startswith("error:")


def test_empty_store_is_no_data(tmp_path: Path) -> None:
    assert load_store_series(Store(tmp_path), symbol="BTC") == []
    with pytest.raises(NoDataError):
        compute([], default_engine_params(), window="24h", end_ns=None)


@pytest.mark.slow
def test_fetch_from_the_emulator(tmp_path: Path) -> None:
    """``--source fetch`` pulls klines + OI history from a real emulator process over HTTP."""

    proc = subprocess.Popen(
        [sys.executable, "-m", "perpscope", "emulate", "--port-base", "0", "--symbols", "BTC"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        endpoints = json.loads(proc.stdout.readline())
        args = []
        for v in ("binance", "bybit", "okx", "hyperliquid"):
            args += ["--rest-url", f"{v}={endpoints[v]['rest']}"]
        out = tmp_path / "f.json"
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "perpscope",
                "heatmap",
                "BTC",
                "--source",
                "fetch",
                "--window",
                "12h",
                "--out",
                str(out),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        assert "hyperliquid: skipped" in r.stderr
        d = json.loads(out.read_text())
        assert d["venues"] == ["binance", "bybit", "okx"]
        assert len(d["time"]) == 144 and np.array(d["long_usd"]).sum() > 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["--turnover-per-h", "0.05"], "turnover_per_h", 0.05),
        (["--turnover", "0"], "turnover_per_h", 0.0),
        (["--substeps", "4"], "substeps", 4),
        ([], "substeps", 0),
        ([], "turnover_per_h", 0.3),
    ],
)
def test_intrabar_flags_reach_engine_params(argv: list[str], field: str, value: float) -> None:
    """``--substeps``/``--turnover-per-h`` reach EngineParams; without them the shipped defaults apply
    (docs/heatmap.md: turnover 0.3/h on, the intrabar path off)."""

    from perpscope.cli import build_parser
    from perpscope.commands.heatmap import engine_params

    args = build_parser().parse_args(["heatmap", "BTC", *argv])
    assert getattr(engine_params(args), field) == value


def test_bad_intrabar_flag_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc = main(["heatmap", "BTC", "--substeps", "-1", "--data-dir", str(tmp_path)])
    assert rc != 0
    assert "substeps" in capsys.readouterr().err


def test_store_derives_bars_from_candles_and_oi(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A venue with candles + open interest but no bars gets its bars derived (and stored) on the way."""

    from perpscope.model import Candle, Funding, Kind, OpenInterest

    sim = simulate(SimConfig(seed=4, venues=(Venue.BYBIT,), duration_ns=DAY))
    store = Store(tmp_path)
    keep = (Candle, OpenInterest, Funding)
    store.write_batch((e for e in sim.events() if isinstance(e, keep)), source_id="sim-candles")
    assert store.read(Kind.BAR).num_rows == 0
    rc, out, err = _run(capsys, "BTC", "--data-dir", str(tmp_path), "--window", "6h", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["venues"] == ["bybit"] and len(d["time"]) == 72
    assert store.read(Kind.BAR, venue="bybit").num_rows > 250
