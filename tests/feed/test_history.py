"""Funding history over public REST (paged per venue) against the emulator, and `funding --fetch`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from perpscope.cli import main
from perpscope.feed.history import fetch_funding_history
from perpscope.feed.plans import roots_from_json
from perpscope.model import Venue
from perpscope.sim.emulator import Emulator, EmulatorConfig
from perpscope.store import Store
from perpscope.timeutil import NS_PER_MS, now_ns


async def test_fetch_funding_history_all_venues() -> None:
    async with Emulator(EmulatorConfig(symbols=("BTC",), history_days=3.0)) as emu:
        end_ms = now_ns() // NS_PER_MS
        start_ms = end_ms - 90 * 86_400_000
        events, notes = await fetch_funding_history(
            venues=list(Venue),
            symbols=["BTC"],
            start_ms=start_ms,
            end_ms=end_ms,
            roots=roots_from_json(emu.endpoints),
        )
    assert notes == []
    by_venue = {v: [e for e in events if e.venue is v] for v in Venue}
    for v, rows in by_venue.items():
        assert rows, v
        ts = [e.ts_event for e in rows]
        assert ts == sorted(ts) and len(set(ts)) == len(ts)  # paged without overlap or duplicates
        assert all(e.settled_rate is not None or e.rate is not None for e in rows)
    # three days of history: 8-hourly on the CEXs, hourly on Hyperliquid
    assert 8 <= len(by_venue[Venue.BINANCE]) <= 10
    assert 70 <= len(by_venue[Venue.HYPERLIQUID]) <= 74


def test_funding_fetch_command_is_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def run_twice() -> list[int]:
        counts = []
        async with Emulator(EmulatorConfig(symbols=("BTC", "ETH"))) as emu:
            urls = [f"--rest-url={v}={e['rest']}" for v, e in emu.endpoints.items()]
            for _ in range(2):
                args = [
                    "funding",
                    "--fetch",
                    "--symbols",
                    "BTC,ETH",
                    "--json",
                    "--data-dir",
                    str(tmp_path),
                    *urls,
                ]
                assert await asyncio.to_thread(main, args) == 0
                counts.append(Store(tmp_path).query("select count(*) n from funding").to_pylist()[0]["n"])
        return counts

    counts = asyncio.run(run_twice())
    assert counts[0] > 0 and counts[0] == counts[1]
    out = capsys.readouterr().out
    assert '"venue": "all"' in out or '"venue":"all"' in out
