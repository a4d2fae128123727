"""Bus: sharding, encoding, and exactly-once into the lake through a real nats-server."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.bus import (
    BATCH_VERSION,
    BadPayload,
    EventBatch,
    JetStreamBus,
    batch_id,
    decode_message,
    decode_payload,
    encode_batch,
    encode_message,
    event_id,
    select_shard,
    shard_of,
    subject_of,
)
from perpscope.bus.servers import start_nats
from perpscope.bus.writer import run_store_writer
from perpscope.model import AnyEvent, Liquidation, PositionSide, Side, Trade, Venue
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


_T0 = 1_700_000_000_000_000_000
_finite = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False)
_trade = st.builds(
    Trade,
    venue=st.sampled_from(list(Venue)),
    symbol=st.sampled_from(["BTC", "ETH"]),
    ts_event=st.integers(_T0, _T0 + 10**12),
    ts_recv=st.integers(_T0, _T0 + 10**12),
    side=st.sampled_from(list(Side)),
    price=_finite,
    quantity=_finite,
    notional_usd=_finite,
    trade_id=st.text(max_size=12),
)
_liquidation = st.builds(
    Liquidation,
    venue=st.sampled_from(list(Venue)),
    symbol=st.sampled_from(["BTC", "SOL"]),
    ts_event=st.integers(_T0, _T0 + 10**12),
    ts_recv=st.integers(_T0, _T0 + 10**12),
    side=st.sampled_from(list(PositionSide)),
    price=_finite,
    quantity=_finite,
    notional_usd=_finite,
    sampled=st.booleans(),
)
_events = st.lists(st.one_of(_trade, _liquidation), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(_events, st.integers(0, 10**9))
def test_batch_round_trip_ids_stable_and_independent_of_ts_recv(events: list[AnyEvent], shift: int) -> None:
    ids = [event_id(e) for e in events]
    pairs = decode_payload(encode_batch(events))
    assert [e for _, e in pairs] == events
    assert [i for i, _ in pairs] == ids == [event_id(e) for _, e in pairs]
    # another collector (its own clock) forms the same batch: same ids, same Nats-Msg-Id
    later = [msgspec.structs.replace(e, ts_recv=e.ts_recv + shift) for e in events]
    assert [i for i, _ in decode_payload(encode_batch(later))] == ids
    assert batch_id([event_id(e) for e in later]) == batch_id(ids)
    # a batch cut differently is a different message (the writer de-dups per event)
    if ids[::-1] != ids:
        assert batch_id(ids[::-1]) != batch_id(ids)
    assert batch_id(ids[:-1]) != batch_id(ids)
    # one decoder for both formats
    assert decode_payload(encode_message(events[0])) == [(ids[0], events[0])]
    assert decode_payload(encode_message(events[0]), "header-id") == [("header-id", events[0])]


def test_messages_of_groups_per_subject_and_bounds_each_message() -> None:
    events = _trades(3000)
    bus = JetStreamBus(None, None, publish_concurrency=1, batch_events=500, batch_bytes=16_384)  # type: ignore[arg-type]
    msgs = bus.messages_of(events)
    got: list[tuple[str, AnyEvent]] = []
    for subject, payload, msg_id in msgs:
        pairs = decode_payload(payload)
        assert len(payload) <= 16_384 and 1 <= len(pairs) <= 500
        assert {subject_of(e) for _, e in pairs} == {subject}
        assert msg_id == batch_id([i for i, _ in pairs])
        got += pairs
    assert sorted(got, key=lambda p: p[0]) == sorted(((event_id(e), e) for e in events), key=lambda p: p[0])
    assert len(msgs) < len(events) / 50
    bus.batch_bytes = 10**9
    per_subject = Counter(subject_of(e) for e in events)
    assert len(bus.messages_of(events)) == sum(-(-n // 500) for n in per_subject.values())
    bus.batch_events = 1  # one single-event message per event (what older publishers send)
    singles = bus.messages_of(events[:5])
    assert [(s, decode_message(p), i) for s, p, i in singles] == [
        (subject_of(e), e, event_id(e)) for e in events[:5]
    ]


def test_an_event_over_the_servers_max_payload_is_dropped_and_counted_not_retried_forever() -> None:
    import types

    from perpscope.model import BookSnapshot, Venue

    levels = [(100.0 + i, 1.0) for i in range(5000)]
    big = BookSnapshot(
        venue=Venue.BINANCE, symbol="BTC", ts_event=1, ts_recv=1, bids=levels, asks=levels, update_id=1
    )
    events = [*_trades(10), big]
    nc = types.SimpleNamespace(max_payload=32_768)
    for batch_events in (500, 1):
        bus = JetStreamBus(nc, None, publish_concurrency=1, batch_events=batch_events)  # type: ignore[arg-type]
        msgs = bus.messages_of(events)
        kept = [e for _, p, _ in msgs for _, e in decode_payload(p)]
        assert bus.oversized == 1 and big not in kept and len(kept) == 10
        assert all(len(p) <= 32_768 for _, p, _ in msgs)


def _bad_payloads() -> list[bytes]:
    good = _trades(2)
    return [
        b"",
        b"not msgpack at all \xc1",
        msgspec.msgpack.encode({"kind": "trade", "venue": "nowhere"}),
        msgspec.msgpack.encode(EventBatch(v=BATCH_VERSION + 1, ids=[event_id(good[0])], events=good[:1])),
        msgspec.msgpack.encode(EventBatch(v=BATCH_VERSION, ids=[event_id(good[0])], events=good)),
    ]


def test_bad_payloads_are_a_clear_error() -> None:
    for payload in _bad_payloads():
        with pytest.raises(BadPayload):
            decode_payload(payload)


@pytest.mark.skipif(NATS is None, reason="nats-server is not installed")
def test_bad_messages_are_counted_and_skipped_and_twin_copies_yielded_once(tmp_path: Path) -> None:
    events = _trades(50)
    store = Store(tmp_path / "lake")
    bad = _bad_payloads()
    with start_nats(tmp_path / "nats") as servers:

        async def main() -> tuple[int, int, int, int]:
            pub = await JetStreamBus.connect(servers.url)
            live = await JetStreamBus.connect(servers.url)
            seen: list[str] = []

            async def listen() -> None:
                async for d in live.subscribe():
                    seen.append(d.id)

            listener = asyncio.create_task(listen())
            await asyncio.sleep(0.3)
            await pub.publish(events[:25])
            for payload in bad:
                await pub.js.publish("perpscope.trade.bybit.BTC", payload)
            await pub.publish(events[25:])
            twin = await JetStreamBus.connect(servers.url, batch_events=3)  # a redundant collector's cut
            await twin.publish(events[::-1])
            await twin.close()
            for _ in range(100):
                if live.duplicates_skipped >= len(events):
                    break
                await asyncio.sleep(0.05)
            listener.cancel()
            w = await JetStreamBus.connect(servers.url)
            stats = await run_store_writer(w, store, idle_exit_s=1.0)
            left = await w.backlog("store-writer")  # the bad ones were terminated, not left pending
            for bus in (pub, live, w):
                await bus.close()
            # the live reader yields each event once: the twin's copies are skipped by id
            assert sorted(seen) == sorted(event_id(e) for e in events)
            assert live.duplicates_skipped == len(events)
            assert stats.duplicates == len(events)  # the writer's journal dropped them too
            return stats.written, stats.bad_payloads, live.bad_payloads, left

        written, bad_w, bad_live, left = asyncio.run(main())
    assert (written, bad_w, bad_live, left) == (len(events), len(bad), len(bad), 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
            # three redundant publishers cut the same events differently: batches of 500, of 7 in another
            # order, and single-event messages (the old format); only the writer's journal can de-dup
            a = await JetStreamBus.connect(url)
            b = await JetStreamBus.connect(url, batch_events=7)
            c = await JetStreamBus.connect(url, batch_events=1)
            await asyncio.gather(a.publish(events), b.publish(events[::-1]), c.publish(events))
            assert (a.messages, c.messages) == (len({subject_of(e) for e in events}), len(events))
            w = await JetStreamBus.connect(url)
            stats = await run_store_writer(w, store, idle_exit_s=1.0)
            assert stats.written == len(events)
            assert stats.received == stats.written + stats.duplicates == 3 * len(events)
            assert stats.messages == a.messages + b.messages + c.messages and stats.bad_payloads == 0
            for bus in (a, b, c, w):
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


@pytest.mark.skipif(NATS is None, reason="nats-server is not installed")
def test_writer_reports_a_slow_flush_in_progress_instead_of_getting_redeliveries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from perpscope.store.writer import StoreWriter

    flush = StoreWriter.flush

    def slow_flush(self: StoreWriter) -> int:  # a starved machine: the flush outlasts ack_wait
        time.sleep(1.2)
        return flush(self)

    monkeypatch.setattr(StoreWriter, "flush", slow_flush)
    events = _trades(3000)
    with start_nats(tmp_path / "nats") as servers:

        async def main() -> tuple[int, list[tuple[int, int, int]]]:
            pub = await JetStreamBus.connect(servers.url)
            await pub.publish(events)
            out = []
            for name, every in (("kept", 0.15), ("silent", 100.0)):
                w = await JetStreamBus.connect(servers.url)
                stats = await run_store_writer(
                    w,
                    Store(tmp_path / name),
                    durable=name,
                    idle_exit_s=0.8,
                    ack_wait_s=0.5,
                    progress_every_s=every,
                )
                out.append((stats.written, stats.messages, stats.duplicates))
                await w.close()
            await pub.close()
            return pub.messages, out

        messages, ((w1, m1, d1), (w2, m2, d2)) = asyncio.run(main())
    assert (w1, m1, d1) == (len(events), messages, 0)  # acked once each, nothing came back
    assert w2 == len(events) and m2 > messages and d2 > 0  # without: redelivered, dropped by the journal
