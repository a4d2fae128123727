"""Analytics commands over a temporary store: cascades, funding, oi, quadrant, footprint, depth, levels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from perpscope.cli import build_parser, main
from perpscope.model import (
    BookDelta,
    BookSnapshot,
    Funding,
    Liquidation,
    OpenInterest,
    PositionSide,
    Side,
    Trade,
    Venue,
)
from perpscope.store import Store

S = 10**9
H = 3600 * S
T0 = 1_780_000_000 * S


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


@pytest.fixture
def store(tmp_path: Path) -> Path:
    events: list = []  # type: ignore[type-arg]
    # a burst of long liquidations across two venues, then quiet prints
    for i in range(6):
        venue = [Venue.BINANCE, Venue.BYBIT][i % 2]
        events.append(
            Liquidation(
                venue=venue,
                symbol="BTC",
                ts_event=T0 + i * S,
                ts_recv=T0 + i * S,
                side=PositionSide.LONG,
                price=100_000.0 - 10 * i,
                quantity=0.5,
                notional_usd=50_000.0,
                sampled=venue is Venue.BINANCE,
            )
        )
    events += [
        Liquidation(
            venue=Venue.BYBIT,
            symbol="BTC",
            ts_event=T0 + H + k * 60 * S,
            ts_recv=T0 + H + k * 60 * S,
            side=PositionSide.SHORT,
            price=100_500.0,
            quantity=0.1,
            notional_usd=10_050.0,
            sampled=False,
        )
        for k in range(5)
    ]
    # funding: 8 h settlements for 10 days, the current rate the highest
    for k in range(30):
        t = T0 - (30 - k) * 8 * H
        events.append(
            Funding(
                venue=Venue.BYBIT, symbol="BTC", ts_event=t, ts_recv=t, rate=0.00001 * k, interval_hours=8
            )
        )
    events.append(
        Funding(
            venue=Venue.BYBIT,
            symbol="BTC",
            ts_event=T0,
            ts_recv=T0,
            rate=0.001,
            interval_hours=8,
            settled_rate=0.00029,
        )
    )
    events += [
        OpenInterest(
            venue=Venue.BYBIT,
            symbol="BTC",
            ts_event=T0 - h * H,
            ts_recv=T0,
            oi_base=1.0,
            oi_usd=1e9 - h * 1e7,
        )
        for h in range(25)
    ]
    # trades: buying, and a book heavy on the ask side
    for i in range(20):
        side = Side.BUY if i % 4 else Side.SELL
        events.append(
            Trade(
                venue=Venue.OKX,
                symbol="BTC",
                ts_event=T0 + i * 10 * S,
                ts_recv=T0 + i * 10 * S,
                side=side,
                price=100_000.0 + i,
                quantity=1.0,
                notional_usd=100_000.0 + i,
            )
        )
    snap = BookSnapshot(
        venue=Venue.OKX,
        symbol="BTC",
        ts_event=T0,
        ts_recv=T0,
        bids=[(99_990.0, 1.0), (99_900.0, 2.0)],
        asks=[(100_010.0, 4.0), (100_100.0, 5.0)],
        update_id=10,
    )
    delta = BookDelta(
        venue=Venue.OKX,
        symbol="BTC",
        ts_event=T0 + S,
        ts_recv=T0 + S,
        bids=[(99_980.0, 1.0)],
        asks=[],
        update_id=11,
        prev_update_id=10,
    )
    events += [snap, delta]
    Store(tmp_path).write_batch(events, source_id="cli-test")
    return tmp_path


def test_every_command_has_help_with_an_example() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in ("cascades", "funding", "oi", "quadrant", "footprint", "depth", "levels"):
        p = sub.choices[name]  # type: ignore[attr-defined]
        assert p.description and "perpscope " + name in (p.epilog or "")


def test_cascades_command(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, "cascades", "BTC", "--data-dir", str(store), "--from", str(T0 // 10**6 - 1000))
    assert code == 0
    assert "CASCADE BTC LONG x6 ≥$300,000 [binance,bybit]" in out and "1 cascade(s) in 11 liquidations" in out
    code, out = _run(capsys, "cascades", "--data-dir", str(store), "--json", "--save", "--from", "2026-01-01")
    (c,) = json.loads(out)
    assert c["count"] == 6 and c["venues"] == ["binance", "bybit"] and c["side"] == "long"
    code, out = _run(
        capsys, "query", "--data-dir", str(store), "--json", "SELECT count(*) AS n FROM cascades"
    )
    assert json.loads(out) == [{"n": 1}]
    _run(capsys, "cascades", "--data-dir", str(store), "--save", "--from", "2026-01-01")  # idempotent
    _, out = _run(capsys, "query", "--data-dir", str(store), "--json", "SELECT count(*) AS n FROM cascades")
    assert json.loads(out) == [{"n": 1}]
    _, out = _run(capsys, "cascades", "BTC", "--data-dir", str(store), "--min-count", "7")
    assert "0 cascade(s)" in out


def test_funding_and_oi_commands(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, "funding", "--symbols", "BTC", "--data-dir", str(store), "--json")
    bybit, agg = json.loads(out)
    assert code == 0 and bybit["venue"] == "bybit" and agg["venue"] == "all"
    assert bybit["rate_8h"] == pytest.approx(0.001) and bybit["apr"] == pytest.approx(1.095)
    assert bybit["pct_30d"] == 100.0 and bybit["settled_rate"] == pytest.approx(0.00029)
    assert bybit["oi_usd"] == pytest.approx(1e9)
    _, out = _run(capsys, "funding", "--symbols", "BTC", "--data-dir", str(store))
    assert "bybit" in out and "+109.50%" in out
    code, out = _run(capsys, "oi", "--symbols", "BTC", "--data-dir", str(store), "--json")
    rows = json.loads(out)
    assert rows[-1]["venue"] == "all" and rows[-1]["change_1h_usd"] == pytest.approx(1e7)
    assert rows[-1]["change_24h_pct"] == pytest.approx(100 * 24e7 / (1e9 - 24e7))
    _, out = _run(capsys, "oi", "--symbols", "ETH", "--data-dir", str(store))
    assert "no open interest stored for ETH" in out


def test_quadrant_footprint_depth(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(
        capsys, "quadrant", "--symbols", "BTC", "--data-dir", str(store), "--window", "1h", "--json"
    )
    rows = {r["venue"]: r for r in json.loads(out)}
    assert code == 0 and set(rows) == {"okx", "all"}
    assert rows["all"]["cvd_base"] == 10.0  # 15 buys − 5 sells
    # book as of the end: bids 1 + 1 (delta) + 2, asks 4 + 5 within ±0.5 %
    assert rows["okx"]["obi"] == pytest.approx((4 - 9) / 13) and rows["okx"]["quadrant"] == "buying-into-wall"
    code, out = _run(
        capsys, "footprint", "BTC", "--data-dir", str(store), "--bar", "1m", "--tick", "5", "--json"
    )
    fp = json.loads(out)
    vol = sum(lv["buy"] + lv["sell"] for b in fp["bars"] for lv in b["levels"])
    assert vol == 20.0 and len(fp["bars"]) == 4 and fp["tick"] == 5.0
    _, out = _run(capsys, "footprint", "BTC", "--data-dir", str(store), "--bar", "1m")
    assert "POC" in out
    code, out = _run(capsys, "depth", "BTC", "--data-dir", str(store), "--json", "--bucket", "50")
    d = json.loads(out)
    assert d["venues"] == ["okx"] and sum(b["bid_base"] for b in d["buckets"]) == 4.0
    assert sum(b["ask_base"] for b in d["buckets"]) == 9.0
    _, out = _run(capsys, "depth", "BTC", "--data-dir", str(store))
    assert "total within range" in out


@pytest.mark.slow
def test_levels_on_a_simulated_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from perpscope.sim.market import SimConfig, simulate

    sim = simulate(SimConfig(seed=5, venues=(Venue.BINANCE, Venue.BYBIT), duration_ns=12 * H))
    Store(tmp_path).write_batch(list(sim.events()), source_id="sim")
    code, out = _run(capsys, "levels", "BTC", "--data-dir", str(tmp_path), "--window", "6h", "--json")
    report = json.loads(out)
    assert code == 0 and report["estimated"] and report["levels"]
    sides = [lv["side"] for lv in report["levels"]]
    assert sides == sorted(sides) and len(sides) <= 6  # longs (below) first, at most 3 per side
    for lv in report["levels"]:
        assert lv["path"] in ("air", "partial", "absorb") and lv["cvd_direction"] != "unknown"
        assert (lv["price_high"] <= report["price"] * 1.001) == (lv["side"] == "long")
        assert "if price reached" in lv["reading"]
    _, out = _run(capsys, "levels", "BTC", "--data-dir", str(tmp_path), "--window", "6h")
    assert "est. USD" in out and "•" in out
    assert np.isfinite(report["price"])
