"""Bus end to end with real nats-server processes: redundant collectors of one emulator, a writer killed
with SIGKILL and restarted, a three-node cluster losing a server, `collect --shard` publishing its pairs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from perpscope.bus import STREAM, JetStreamBus, event_id, select_shard
from perpscope.bus.publisher import BusPublisher
from perpscope.bus.servers import NATS_SERVER, start_nats
from perpscope.bus.writer import lake_ids, run_store_writer
from perpscope.feed.collector import Collector, CollectorConfig
from perpscope.feed.plans import roots_from_json
from perpscope.model import AnyEvent, Side, Trade, Venue
from perpscope.sim.emulator import Emulator, EmulatorConfig
from perpscope.store import Store

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed"),
]

CLI = [sys.executable, "-m", "perpscope"]


class Recorder:
    """The collector's writer: remember the ids, pass the events on to the bus publisher."""

    def __init__(self, inner: BusPublisher) -> None:
        self.inner = inner
        self.ids: list[str] = []

    def extend(self, events: Sequence[AnyEvent]) -> None:
        self.ids += [event_id(e) for e in events]
        self.inner.extend(events)


async def _drain_then_stop(bus: JetStreamBus, stop: asyncio.Event, durable: str = "store-writer") -> None:
    await asyncio.sleep(0.5)
    for _ in range(400):
        try:
            if await bus.backlog(durable) == 0:
                break
        except Exception:  # consumer not created yet / leader moving
            pass
        await asyncio.sleep(0.1)
    stop.set()


def test_redundant_collectors_of_one_emulator_land_exactly_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "lake")
    with start_nats(tmp_path / "nats") as servers:

        async def main() -> tuple[list[str], list[str], int]:
            emu_cfg = EmulatorConfig(venues=(Venue.BINANCE, Venue.BYBIT), symbols=("BTC", "ETH"), rate=5.0)
            async with Emulator(emu_cfg) as emu:
                cfg = CollectorConfig(
                    venues=(Venue.BINANCE, Venue.BYBIT),
                    symbols=("BTC", "ETH"),
                    roots=roots_from_json(emu.endpoints),
                    books=False,
                )
                buses = [await JetStreamBus.connect(servers.url) for _ in range(3)]
                stop, wstop = asyncio.Event(), asyncio.Event()
                writer = asyncio.create_task(run_store_writer(buses[2], store, stop=wstop))
                recs = []
                async with BusPublisher(buses[0]) as p0, BusPublisher(buses[1]) as p1:
                    recs = [Recorder(p0), Recorder(p1)]
                    cols = [Collector(cfg, writer=r) for r in recs]  # type: ignore[arg-type]
                    await asyncio.gather(*(c.run(stop, duration_s=4.0) for c in cols))
                    await p0.close()
                    await p1.close()
                    assert p0.stats.dropped == p1.stats.dropped == 0
                await _drain_then_stop(buses[2], wstop)
                stats = await writer
                dups_at_stream = buses[0].duplicate_events + buses[1].duplicate_events
                for b in buses:
                    await b.close()
                assert stats.written > 0
                return recs[0].ids, recs[1].ids, stats.duplicates + dups_at_stream

        a, b, dups = asyncio.run(main())
    stored = Counter(lake_ids(store))
    assert stored and max(stored.values()) == 1, "an event landed twice"
    assert set(stored) == set(a) | set(b), "lost, or stored something no collector published"
    # trades and liquidations carry the venue's own time: both collectors saw (nearly) the same set
    ta = {i for i in a if i.startswith(("trade.", "liquidation."))}
    tb = {i for i in b if i.startswith(("trade.", "liquidation."))}
    assert len(ta & tb) >= 0.9 * max(len(ta), len(tb)) > 50
    # the second copies were dropped: by the stream where both collectors cut the same batch (same
    # Nats-Msg-Id), by the writer's id journal where they cut different ones
    assert dups >= len(ta & tb)


def _trades(start: int, n: int) -> list[Trade]:
    t0 = 1_700_000_000_000_000_000
    return [
        Trade(
            venue=Venue.BYBIT,
            symbol=("BTC", "ETH")[i % 2],
            ts_event=t0 + i * 1_000_000,
            ts_recv=t0 + i * 1_000_000 + 7,
            side=Side.BUY,
            price=100.0 + (i % 1000) * 0.1,
            quantity=0.5,
            notional_usd=50.0,
            trade_id=str(i),
        )
        for i in range(start, start + n)
    ]


def _writer_proc(url: str, data: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    out = open(log, "ab")  # noqa: SIM115
    return subprocess.Popen(
        [*CLI, "store-writer", "--bus", url, "--data-dir", str(data)], stdout=out, stderr=out, env=env
    )


def test_writer_killed_mid_stream_and_restarted_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    total, per_batch, per_msg = 40_000, 200, 50  # 800 NATS messages of 50 events, 4 per publish
    data = tmp_path / "lake"
    with start_nats(tmp_path / "nats") as servers:
        w1 = _writer_proc(servers.url, data, tmp_path / "w1.log")

        async def publish() -> None:
            bus = await JetStreamBus.connect(servers.url, batch_events=per_msg)
            for start in range(0, total, per_batch):
                await bus.publish(_trades(start, per_batch))
                await asyncio.sleep(0.02)
            await bus.close()

        async def main() -> None:
            pub = asyncio.create_task(publish())
            probe = await JetStreamBus.connect(servers.url)
            for _ in range(200):  # the writer is mid-stream: it has acked some, not all
                await asyncio.sleep(0.05)
                try:
                    info = await probe.js.consumer_info(STREAM, "store-writer")
                except Exception:  # not created yet
                    continue
                if info.ack_floor and (info.ack_floor.stream_seq or 0) > 2_000 // per_msg:
                    break
            w1.send_signal(signal.SIGKILL)
            acked_before_kill = info.ack_floor.stream_seq if info.ack_floor else 0
            await probe.close()
            assert 0 < acked_before_kill < total // per_msg
            w1.wait()
            await asyncio.sleep(0.3)
            w2 = _writer_proc(servers.url, data, tmp_path / "w2.log")
            await pub
            bus = await JetStreamBus.connect(servers.url)
            stop = asyncio.Event()
            await _drain_then_stop(bus, stop)
            await bus.close()
            w2.send_signal(signal.SIGTERM)
            assert w2.wait(timeout=30) == 0

        asyncio.run(main())
        assert w1.returncode == -signal.SIGKILL
    got = Counter(Store(data).read("trades").column("trade_id").to_pylist())
    assert len(got) == total, f"lost {total - len(got)}"
    assert max(got.values()) == 1, "duplicated"
    assert "written" in (tmp_path / "w2.log").read_text()


def test_cluster_of_three_survives_a_server_stopped_mid_stream(tmp_path: Path) -> None:
    total, per_batch = 30_000, 500
    store = Store(tmp_path / "lake")
    with start_nats(tmp_path / "nats", nodes=3, log=tmp_path / "nats.log") as servers:

        async def main() -> tuple[int, int]:
            pub_bus = await JetStreamBus.connect(servers.url)
            info = await pub_bus.js.stream_info(STREAM)
            assert info.config.num_replicas == 3
            w_bus = await JetStreamBus.connect(servers.url)
            wstop = asyncio.Event()
            writer = asyncio.create_task(run_store_writer(w_bus, store, stop=wstop))
            async with BusPublisher(pub_bus) as pub:
                for k, start in enumerate(range(0, total, per_batch)):
                    pub.extend(_trades(start, per_batch))
                    await asyncio.sleep(0.02)
                    if k == total // per_batch // 3:
                        # stop the server the publisher is connected to: the hardest case
                        port = pub_bus.nc.connected_url.port if pub_bus.nc.connected_url else None
                        victim = next((n for n in servers.nodes if n.port == port), servers.nodes[0])
                        victim.kill()
                        stopped_at = pub.stats.queued
                await pub.close(timeout_s=60.0)
                assert pub.stats.dropped == 0
                assert pub.stats.published == total
            await _drain_then_stop(w_bus, wstop)
            stats = await writer
            for b in (pub_bus, w_bus):
                await b.close()
            return stopped_at, stats.written

        stopped_at, written = asyncio.run(main())
        assert 0 < stopped_at < total
    got = Counter(store.read("trades").column("trade_id").to_pylist())
    assert len(got) == total, f"lost {total - len(got)}"
    assert max(got.values()) == 1
    assert written == total


def test_collect_shard_publishes_only_its_pairs(tmp_path: Path) -> None:
    venues, symbols = ("binance", "bybit", "okx"), ("BTC", "ETH", "SOL", "XRP")
    pairs = [(v, s) for v in venues for s in symbols]
    shard = set(select_shard(pairs, 1, 3))
    assert 0 < len(shard) < len(pairs)
    with start_nats(tmp_path / "nats") as servers:

        async def main() -> dict[str, int]:
            emu_cfg = EmulatorConfig(venues=tuple(Venue(v) for v in venues), symbols=symbols, rate=5.0)
            async with Emulator(emu_cfg) as emu:
                proc = await asyncio.create_subprocess_exec(
                    *CLI,
                    "collect",
                    "--bus",
                    servers.url,
                    "--shard",
                    "1/3",
                    "--venues",
                    ",".join(venues),
                    "--symbols",
                    ",".join(symbols),
                    "--endpoints",
                    json.dumps(emu.endpoints),
                    "--no-books",
                    "--duration",
                    "4s",
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                out, err = await proc.communicate()
                assert proc.returncode == 0, err.decode()[-2000:]
                summary = json.loads(out.decode().strip().splitlines()[-1])
                assert summary["published"] == summary["events"] > 0
            bus = await JetStreamBus.connect(servers.url)
            info = await bus.js.stream_info(STREAM, subjects_filter=">")
            await bus.close()
            return dict(info.state.subjects or {})

        subjects = asyncio.run(main())
    seen = {(subj.split(".")[2], subj.split(".")[3]) for subj in subjects}
    assert seen <= shard, f"published pairs outside the shard: {seen - shard}"
    trade_pairs = {(s.split(".")[2], s.split(".")[3]) for s in subjects if s.startswith("perpscope.trade.")}
    assert trade_pairs == shard  # every pair of the shard was collected


def test_collect_flag_errors() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, "collect", *args], capture_output=True, text=True, timeout=60)

    r = run("--shard", "0/2", "--emulate", "--duration", "1s")
    assert r.returncode != 0 and "--shard needs --bus" in r.stderr
    r = run("--bus", "nats://127.0.0.1:1", "--shard", "3/3")
    assert r.returncode != 0 and "0 ≤ N < M" in r.stderr
    r = run("--bus", "nats://127.0.0.1:1", "--endpoints", "", "--duration", "1s")
    assert r.returncode != 0 and "--endpoints" in r.stderr


def test_tape_reads_liquidations_from_the_bus(tmp_path: Path) -> None:
    from perpscope.model import Liquidation, PositionSide

    with start_nats(tmp_path / "nats") as servers:

        async def main() -> str:
            bus = await JetStreamBus.connect(servers.url)  # creates the stream
            proc = await asyncio.create_subprocess_exec(
                *CLI,
                "tape",
                "--bus",
                servers.url,
                "--min-usd",
                "1000",
                "--duration",
                "6s",
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, "COLUMNS": "200"},
            )
            await asyncio.sleep(3.0)  # the tape subscribes from now on
            t0 = 1_700_000_000_000_000_000
            liqs = [
                Liquidation(
                    venue=v,
                    symbol="BTC",
                    ts_event=t0 + i,
                    ts_recv=t0 + i,
                    side=PositionSide.LONG,
                    price=60_000.0,
                    quantity=q,
                    notional_usd=60_000.0 * q,
                    sampled=False,
                )
                for i, (v, q) in enumerate([(Venue.BYBIT, 2.0), (Venue.OKX, 0.001)])
            ]
            await bus.publish(liqs)
            await bus.close()
            out, err = await proc.communicate()
            assert proc.returncode == 0, err.decode()[-2000:]
            return out.decode()

        out = asyncio.run(main())
    rows = out.split("\n", 1)[1]  # below the header
    assert "bybit" in rows and "$      120,000" in rows, out[-2000:]
    assert "okx" not in rows  # $60 is under --min-usd
