"""Bars derived from candles + open interest + funding (how Binance archive klines feed the heatmap)."""

from __future__ import annotations

from pathlib import Path

import pytest

from perpscope.cli import main
from perpscope.model import Bar, Candle, Funding, OpenInterest, Venue
from perpscope.store import Store
from perpscope.store.derive import bars_from_candles, derive_all_bars, derive_bars

T0 = 1_717_200_000_000_000_000  # 2024-06-01 00:00 UTC
MIN = 60 * 1_000_000_000


def _candle(i: int, interval_s: int = 300, symbol: str = "BTC") -> Candle:
    t = T0 + i * interval_s * 1_000_000_000
    return Candle(
        venue=Venue.BINANCE,
        symbol=symbol,
        ts_event=t,
        ts_recv=t,
        interval_s=interval_s,
        open=100.0 + i,
        high=110.0 + i,
        low=90.0 + i,
        close=105.0 + i,
        volume=10.0 * (i + 1),
        taker_buy_volume=4.0,
    )


def _oi(t: int, usd: float) -> OpenInterest:
    return OpenInterest(
        venue=Venue.BINANCE, symbol="BTC", ts_event=t, ts_recv=t, oi_base=usd / 100, oi_usd=usd
    )


def _funding(t: int, rate: float) -> Funding:
    return Funding(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=t,
        ts_recv=t,
        rate=rate,
        interval_hours=8.0,
        settled_rate=rate,
    )


def test_bars_take_oi_at_the_close_and_the_last_settled_funding(store: Store) -> None:
    store.write_batch([_candle(i) for i in range(4)] + [_candle(0, interval_s=60)])
    store.write_batch(
        [_oi(T0 - 2 * MIN, 5e8), _oi(T0 + 5 * MIN, 1e9), _oi(T0 + 9 * MIN, 2e9), _oi(T0 + 15 * MIN, 3e9)]
    )
    store.write_batch([_funding(T0 - 8 * 60 * MIN, 1e-4), _funding(T0 + 10 * MIN, -2e-4)])
    got = bars_from_candles(store, venue="binance", symbol="BTC", interval_s=300)
    assert got.column("oi_usd").to_pylist() == [1e9, 2e9, 3e9, 3e9]  # last sample at or before the close
    assert got.column("funding_rate").to_pylist() == [1e-4, 1e-4, -2e-4, -2e-4]  # known at the bar open
    assert got.column("interval_s").to_pylist() == [300] * 4
    # a stale sample gives no bar: the 4th bar closes 5 minutes after the last sample, allowed up to 15
    assert (
        bars_from_candles(store, venue="binance", symbol="BTC", interval_s=300, max_oi_age_s=120).num_rows
        == 3
    )
    assert derive_bars(store, venue="binance", symbol="BTC", interval_s=300) == 4
    assert derive_bars(store, venue="binance", symbol="BTC", interval_s=300) == 4  # idempotent
    bars = store.events("bars")
    assert len(bars) == 4
    assert bars[0] == Bar(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=T0,
        ts_recv=T0,
        interval_s=300,
        open=100.0,
        high=110.0,
        low=90.0,
        close=105.0,
        oi_usd=1e9,
        funding_rate=1e-4,
        volume=10.0,
        taker_buy_volume=4.0,
    )
    assert derive_all_bars(store, venue="binance", symbol="BTC") == {60: 1, 300: 4}
    assert store.read("bars").num_rows == 5
    assert derive_all_bars(store, venue="okx", symbol="BTC") == {}


def test_import_with_bars_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    k = tmp_path / "BTCUSDT-klines-5m-2024-06-01.csv"
    k.write_text(
        "1717200000000,67500.1,67600.0,67450.5,67550.0,120.5,1717200299999,8135000.25,2001,60.25,4067000.1,0\n"
        "1717200300000,67550.0,67700.0,67500.0,67690.9,99.0,1717200599999,6690000.0,1500,55.5,3750000.0,0\n"
    )
    m = tmp_path / "BTCUSDT-metrics-2024-06-01.csv"
    m.write_text(
        "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
        "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio\n"
        "2024-06-01 00:05:00,BTCUSDT,81000,5467500000.5,1,1,1,1\n"
        "2024-06-01 00:10:00,BTCUSDT,81010,5470000000.0,1,1,1,1\n"
    )
    data = ["--data-dir", str(tmp_path / "store")]
    assert main(["import", "binance-archive", str(k), "--bars", *data]) == 0
    assert "0 bars derived" in capsys.readouterr().out  # no open interest yet
    assert main(["import", "binance-archive", str(k), str(m), "--bars", *data]) == 0
    assert "BTC 300s: 2 bars derived" in capsys.readouterr().out
    oi = Store(tmp_path / "store").read("bars", columns=["oi_usd"]).column("oi_usd").to_pylist()
    assert oi == [5467500000.5, 5470000000.0]
