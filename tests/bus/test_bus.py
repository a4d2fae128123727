"""Bus: sharding, encoding, and exactly-once into the lake through a real nats-server."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from perpscope.bus import JetStreamBus, decode_message, encode_message, event_id, select_shard, shard_of
from perpscope.bus.writer import run_store_writer
from perpscope.model import Side, Trade, Venue
from perpscope.store import Store

NATS = shutil.which("nats-server")


def _trades(n: int) -> list[Trade]:
    t0 = 1_700_000_000_000_000_000
    venues = list(Venue)
    return [
        Trade(
            venue=venues[i % len(venues)],
            symbol=("BTC", "ETH", "SOL")[i % 3],
            ts_event=t0 + i * 1_000_000,
            ts_recv=t0 + i * 1_000_000 + 5,
            side=Side.BUY if i % 2 else Side.SELL,
            price=100.0 + i * 0.5,
            quantity=0.01 * (i % 7 + 1),
            notional_usd=(100.0 + i * 0.5) * 0.01 * (i % 7 + 1),
            trade_id=str(i),
        )
        for i in range(n)
    ]


def test_shards_cover_pairs_without_overlap() -> None:
    pairs = [(v.value, s) for v in Venue for s in ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE")]
    for m in (1, 2, 3, 5, 8):
        got = [p for n in range(m) for p in select_shard(pairs, n, m)]
        assert sorted(got) == sorted(pairs)
        assert len(got) == len(set(got))
    assert shard_of("binance", "BTC", 7) == shard_of("binance", "BTC", 7)


def test_encoding_round_trip_and_stable_id() -> None:
    ev = _trades(1)[0]
    payload = encode_message(ev)
    assert decode_message(payload) == ev
    assert event_id(ev) == event_id(decode_message(payload))
    assert event_id(ev) != event_id(_trades(2)[1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.skipif(NATS is None, reason="nats-server is not installed")
def test_redundant_publishers_land_exactly_once(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [str(NATS), "-js", "-sd", str(tmp_path / "js"), "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        events = _trades(600)
        store = Store(tmp_path / "lake")

        async def main() -> None:
            url = f"nats://127.0.0.1:{port}"
            a, b = await JetStreamBus.connect(url), await JetStreamBus.connect(url)
            await asyncio.gather(a.publish(events), b.publish(events))
            w = await JetStreamBus.connect(url)
            stats = await run_store_writer(w, store, idle_exit_s=1.0)
            assert stats.written == len(events)
            for bus in (a, b, w):
                await bus.close()

        asyncio.run(main())
        table = store.read("trades")
        got = Counter(table.column("trade_id").to_pylist())
        assert got == Counter(e.trade_id for e in events)
    finally:
        proc.kill()
        proc.wait()


class _FlakyBus:
    """Fails the first ``fail`` publishes (a NATS outage), then stores everything."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.stored: list[str] = []

    async def publish(self, events: list[Trade]) -> int:
        await asyncio.sleep(0.001)
        if self.fail > 0:
            self.fail -= 1
            raise ConnectionError("nats down")
        self.stored += [e.trade_id for e in events]
        return len(events)


def test_bus_publisher_survives_an_outage_and_counts_overflow() -> None:
    from perpscope.bus.publisher import BusPublisher

    async def main() -> tuple[BusPublisher, _FlakyBus, BusPublisher, _FlakyBus]:
        bus = _FlakyBus(fail=5)
        pub = BusPublisher(bus, batch=100, workers=2, retry_delay_s=0.01)  # type: ignore[arg-type]
        async with pub:
            for k in range(10):
                pub.extend(_trades(1000)[k * 100 : (k + 1) * 100])
                await asyncio.sleep(0)
        small_bus = _FlakyBus(fail=10**9)  # never comes back: the buffer overflows, then close gives up
        small = BusPublisher(small_bus, max_buffer=300, batch=50, workers=1, retry_delay_s=0.01)  # type: ignore[arg-type]
        small.start()
        small.extend(_trades(1000))
        await small.close(timeout_s=0.2)
        return pub, bus, small, small_bus

    pub, bus, small, small_bus = asyncio.run(main())
    assert sorted(bus.stored, key=int) == [str(i) for i in range(1000)]  # nothing lost, nothing twice
    assert pub.stats.failed_batches == 5 and pub.stats.dropped == 0 and pub.stats.published == 1000
    assert small.stats.dropped == 1000 and small.stats.published == 0 and not small_bus.stored
