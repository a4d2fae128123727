"""The collector end to end through real sockets against the in-process exchange emulator (all four venues):
events land in the store with the venues' semantics and exact counts; injected faults are survived and
show up as the gaps and errors the collector reports."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from perpscope.feed.book import BookState
from perpscope.feed.collector import Collector, CollectorConfig
from perpscope.feed.health import Health, read_status
from perpscope.feed.plans import roots_from_json
from perpscope.model import Liquidation, Trade, Venue
from perpscope.sim.emulator import Emulator, EmulatorConfig
from perpscope.store import Store

SYMBOLS = ("BTC", "ETH")


async def _collect(tmp_path: Path, *, faults: str = "", seconds: float = 5.0, **emu_kw: object):  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "store")
    emu_cfg = EmulatorConfig(
        symbols=SYMBOLS,
        rate=20.0,
        record=True,
        start_delay_s=1.0,
        faults=faults,
        **emu_kw,  # type: ignore[arg-type]
    )
    async with Emulator(emu_cfg) as emu:
        cfg = CollectorConfig(
            symbols=SYMBOLS,
            roots=roots_from_json(emu.endpoints),
            binance_oi_poll_s=0.5,
            hyperliquid_poll_s=1.0,
            stale_after_s=3.0,
        )
        stop = asyncio.Event()
        with store.writer(flush_interval_s=0.5) as writer:
            collector = Collector(cfg, writer=writer, health=Health(tmp_path / "store"))
            task = asyncio.create_task(collector.run(stop))
            await asyncio.sleep(seconds)
            await emu.stop_source()
            await asyncio.sleep(3.0)  # drain: everything published reaches the collector, books resync
            stop.set()
            await asyncio.wait_for(task, 15)
        published = {v: list(emu.published(v)) for v in Venue}
        faults_log = list(emu.fault_log.records)
    return store, collector, published, faults_log


def _key(ev: Trade | Liquidation) -> tuple[object, ...]:
    """What the wire carries: ms timestamps, the venue's decimals."""
    return (
        ev.venue.value,
        ev.symbol,
        ev.ts_event // 1_000_000,
        ev.side.value,
        round(ev.price, 6),
        round(ev.quantity, 6),
    )


def _since_subscribed(published: list, stored: list, cls: type) -> list:  # type: ignore[type-arg]
    """Published events from the first one the collector could have seen (it subscribes after the emulated
    market has started) to the end."""
    first = min((e.ts_event for e in stored), default=None)
    if first is None:
        return []
    first_ms = first // 1_000_000
    return [
        e
        for e in published
        if isinstance(e, cls) and e.symbol in SYMBOLS and e.ts_event // 1_000_000 >= first_ms
    ]


@pytest.mark.slow
async def test_all_venues_land_in_the_store_exactly(tmp_path: Path) -> None:
    store, collector, published, _ = await _collect(tmp_path)
    all_trades = store.events("trade")
    for v in Venue:
        mine = [e for e in all_trades if e.venue is v]
        sent = _since_subscribed(published[v], mine, Trade)
        assert len(mine) > 50
        # every trade the venue sent after we subscribed is stored exactly once, with its side and size
        assert Counter(_key(e) for e in mine) == Counter(_key(e) for e in sent), v
        ids = sorted(int(e.trade_id) for e in mine if e.symbol == "BTC")
        assert ids == list(range(ids[0], ids[0] + len(ids)))  # contiguous venue ids: nothing lost
    stored_liqs = store.events("liquidation")
    for v in (Venue.BINANCE, Venue.BYBIT, Venue.OKX):
        mine = [e for e in stored_liqs if e.venue is v]
        sent = _since_subscribed(published[v], [e for e in all_trades if e.venue is v], Liquidation)
        assert Counter(_key(e) for e in mine) == Counter(_key(e) for e in sent), v
    trades = Counter(e.venue for e in store.events("trade"))
    assert set(trades) == set(Venue)  # all four venues through their real protocols
    liqs = store.events("liquidation")
    assert {e.venue for e in liqs} <= {Venue.BINANCE, Venue.BYBIT, Venue.OKX}  # Hyperliquid has no feed
    assert all(e.sampled == (e.venue in (Venue.BINANCE, Venue.OKX)) for e in liqs)
    oi = Counter(e.venue for e in store.events("open_interest"))
    assert set(oi) == set(Venue)  # Binance via REST polling, the rest streamed
    for book in collector.books.books.values():
        assert book.state is BookState.SYNCED and not book.crossed
    for s in collector.health.streams.values():
        assert s.parse_errors == 0 and not s.gaps, s


@pytest.mark.slow
async def test_faults_are_survived_and_reported(tmp_path: Path) -> None:
    faults = "drop:bybit@2s,malformed:okx@2s/1s/p0.3,gap:binance@2.5s,http429:binance@0.2"
    store, collector, published, log = await _collect(tmp_path, faults=faults, seconds=6.0)
    health = collector.health
    bybit = [s for (v, _), s in health.streams.items() if v == "bybit" and "linear" in s.stream]
    assert bybit and all(s.reconnects >= 1 for s in bybit)
    assert any(
        g.reason.startswith("disconnect") or g.reason.startswith("closed") for s in bybit for g in s.gaps
    )
    okx_malformed = sum(1 for r in log if r["fault"] == "malformed" and r["venue"] == "okx")
    okx_errors = sum(s.parse_errors for (v, _), s in health.streams.items() if v == "okx")
    assert okx_malformed > 0 and okx_errors == okx_malformed  # every corrupted frame counted, none crashed
    injected_gaps = {
        (r["symbol"], r["from_id"], r["to_id"])
        for r in log
        if r["fault"] == "gap" and r["venue"] == "binance"
    }
    seen = {
        (rec.symbol, rec.from_id, rec.to_id)
        for (v, _), book in collector.books.books.items()
        if v is Venue.BINANCE
        for rec in book.gap_log
    }
    assert injected_gaps and injected_gaps <= seen
    for book in collector.books.books.values():
        assert book.state is BookState.SYNCED  # resynced after the gaps, stream never dropped
    # Nothing already received is lost: every Bybit trade stored exists at the venue, across the drop.
    stored = Counter(_key(e) for e in store.events("trade") if e.venue is Venue.BYBIT)
    sent = Counter(_key(e) for e in published[Venue.BYBIT] if isinstance(e, Trade) and e.symbol in SYMBOLS)
    assert stored and not (stored - sent)
    status, gaps = read_status(tmp_path / "store")
    assert status is not None and gaps
