"""Bus throughput end to end: emulated venues → sharded `perpscope collect --bus` processes → a three-node
JetStream cluster on loopback → the store writer (in this process) → the lake.

Prints progress, then one JSON object as the last line:
  msgs_per_s   events made durable in the lake per second (first to last durable batch, the first batch's
               events not counted); bounded by the offered rate: offer more than the target
  nats_msgs_per_s  NATS messages the writer consumed per second over the same span (events travel in
               batches per subject, so this is much lower)
  p99_ms       collector receive (ts_recv) → durable in the lake, 99th percentile (also p50_ms)
  lost         event ids the stream holds that are not in the lake, plus events collectors dropped or
               could not publish (same_id_events: collected events whose id another one had: one row)
  duplicated   lake rows beyond one per event id
With --kill-one a NATS server is killed (SIGKILL) a third into the run: figures of that run under "kill_one".

  .venv/bin/python bench/bus.py                       # both runs: healthy cluster, then one server killed
  .venv/bin/python bench/bus.py --duration 20 --collectors 2 --trades-per-s 400
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from perpscope.bus import STREAM, JetStreamBus
from perpscope.bus.servers import start_nats
from perpscope.bus.writer import WriterStats, lake_ids, run_store_writer
from perpscope.store import Store
from perpscope.timeutil import now_ns

CLI = [sys.executable, "-m", "perpscope"]


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def _run(args: argparse.Namespace, work: Path, kill_one: bool) -> dict[str, object]:
    servers = start_nats(work / "nats", nodes=3, log=work / "nats.log")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        endpoints = ""
        if not args.synthetic:
            emu = subprocess.Popen(
                [
                    *CLI,
                    "emulate",
                    "--venues",
                    args.venues,
                    "--symbols",
                    args.symbols,
                    "--source",
                    "seeded",
                    "--rate",
                    str(args.emulate_rate),
                    "--trades-per-frame",
                    str(args.trades_per_frame),
                    "--source-option",
                    f"trades_per_s={args.trades_per_s}",
                    "--source-option",
                    f"book_churn={args.book_churn}",
                    "--fault-log",
                    os.devnull,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            procs.append(emu)
            assert emu.stdout is not None
            endpoints = (await asyncio.to_thread(emu.stdout.readline)).decode().strip()
        store = Store(work / "lake")
        wbus = await JetStreamBus.connect(servers.url)  # creates the R3 stream
        latencies: list[float] = []
        durable_at: list[float] = []
        durable_n: list[int] = []

        def on_durable(batch: list) -> None:  # type: ignore[type-arg]
            t = now_ns()
            durable_at.append(time.monotonic())
            durable_n.append(len(batch))
            latencies.extend((t - d.event.ts_recv) / 1e6 for d in batch)

        stop = asyncio.Event()
        stats = WriterStats()
        writer = asyncio.create_task(
            run_store_writer(wbus, store, stop=stop, stats=stats, on_durable=on_durable, batch=args.batch)
        )
        per = int(args.synthetic * args.duration / args.collectors)
        cols = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    servers.url,
                    str(per),
                    str(args.synthetic / args.collectors),
                    str(i),
                ]
                if args.synthetic
                else [
                    *CLI,
                    "collect",
                    "--bus",
                    servers.url,
                    "--endpoints",
                    endpoints,
                    "--venues",
                    args.venues,
                    "--symbols",
                    args.symbols,
                    "--duration",
                    f"{args.duration}s",
                    *(["--shard", f"{i}/{args.collectors}"] if args.collectors > 1 else []),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            for i in range(args.collectors)
        ]
        procs += cols
        killed = None
        if kill_one:
            await asyncio.sleep(args.duration / 3)
            victim = servers.nodes[0]
            victim.kill()
            killed = victim.name
            print(f"killed NATS server {killed} at {args.duration / 3:.0f} s", file=sys.stderr)
        summaries = []
        for c in cols:
            out, _ = await asyncio.to_thread(c.communicate)
            lines = out.decode().strip().splitlines()
            summaries.append(json.loads(lines[-1]) if lines else {})
        for _ in range(600):  # the writer catches up
            if await wbus.backlog("store-writer") == 0:
                break
            await asyncio.sleep(0.1)
        stop.set()
        await writer
        info = await wbus.js.stream_info(STREAM)
        stream_ids = await _stream_ids(wbus, int(info.state.messages))
        await wbus.close()
        in_stream = int(info.state.messages)
        ids = Counter(lake_ids(store))
        repeated = [i for i, c in stream_ids.items() if c > 1]
        if repeated:
            print(f"{len(repeated)} ids more than once in the stream, e.g. {repeated[:3]}", file=sys.stderr)
        dropped = sum(int(s.get("dropped", 0)) for s in summaries)
        published = sum(int(s.get("published", 0)) for s in summaries)
        collected = sum(int(s.get("events", 0)) for s in summaries)
        # rate over first → last durable batch, the first batch's events not counted (they took no time)
        span = (durable_at[-1] - durable_at[0]) if len(durable_at) > 1 else float("nan")
        after_first = stats.written - (durable_n[0] if durable_n else 0)
        t0 = durable_at[0] if durable_at else 0.0
        timeline: Counter[int] = Counter()
        for t, n in zip(durable_at, durable_n, strict=True):
            timeline[int(t - t0)] += n
        print(
            "durable events per second:",
            [timeline[k] for k in range(max(timeline, default=-1) + 1)],
            file=sys.stderr,
        )
        return {
            "msgs_per_s": round(after_first / span) if span == span and span > 0 else 0,
            "nats_msgs_per_s": round(stats.messages / span) if span == span and span > 0 else 0,
            "p50_ms": round(_pct(latencies, 0.50), 1),
            "p99_ms": round(_pct(latencies, 0.99), 1),
            "lost": len(set(stream_ids) - set(ids)) + dropped + max(0, collected - published),
            "same_id_events": collected - len(stream_ids),
            "duplicated": sum(ids.values()) - len(ids),
            "events": stats.written,
            "published": published,
            "in_stream": in_stream,
            "in_stream_events": sum(stream_ids.values()),
            "collector_dropped": dropped,
            "publish_retries": sum(int(s.get("retries", 0)) for s in summaries),
            "writer_duplicates": stats.duplicates,
            "writer_messages": stats.messages,
            "writer_rejected": stats.rejected,
            "bad_payloads": stats.bad_payloads,
            "writer_batches": stats.batches,
            "writer_max_write_s": round(stats.max_write_s, 3),
            "killed": killed,
            "collectors": args.collectors,
            "duration_s": args.duration,
        }
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        servers.stop()


async def _stream_ids(bus: JetStreamBus, messages: int) -> Counter[str]:
    """Every event id the stream holds (an audit consumer reads it all through the bus's own decode)."""

    consumer = await bus.pull("bench-audit")
    out: Counter[str] = Counter()
    seen = 0
    deadline = time.monotonic() + 60
    while seen < messages and time.monotonic() < deadline:
        got = await consumer.fetch(1000, timeout=1.0)
        acks = {id(d.ack): d.ack for d in got}
        seen += len(acks)
        out.update(d.id for d in got)
        for ack in acks.values():
            await ack()
    if seen < messages:
        raise RuntimeError(f"audit read {seen} of the stream's {messages} messages in 60 s")
    return out


async def _child_publish(url: str, n: int, rate: float, seed: int) -> None:
    """``--child``: publish ``n`` synthetic trades at ``rate``/s through BusPublisher (the collector's path
    after decoding), ``ts_recv`` = the moment each batch is handed over; prints the publisher stats."""

    from perpscope.bus.publisher import BusPublisher
    from perpscope.model import Side, Trade, Venue

    bus = await JetStreamBus.connect(url)
    pairs = [(v, s) for v in Venue for s in ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE")]
    step = 500
    t0 = time.monotonic()
    async with BusPublisher(bus) as pub:
        for k in range(0, n, step):
            ts = now_ns()
            pub.extend(
                [
                    Trade(
                        venue=pairs[i % len(pairs)][0],
                        symbol=pairs[i % len(pairs)][1],
                        ts_event=ts,
                        ts_recv=ts,
                        side=Side.BUY,
                        price=100.0,
                        quantity=1.0,
                        notional_usd=100.0,
                        trade_id=f"{seed}-{i}",
                    )
                    for i in range(k, min(n, k + step))
                ]
            )
            ahead = (k + step) / rate - (time.monotonic() - t0)
            await asyncio.sleep(max(ahead, 0))
        await pub.close(timeout_s=120)
    await bus.close()
    st = pub.stats
    print(json.dumps({"events": n, "published": st.published, "dropped": st.dropped, "retries": bus.retries}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds the collectors run")
    ap.add_argument("--collectors", type=int, default=2, help="collector processes (shards)")
    ap.add_argument("--venues", default="binance,bybit,okx,hyperliquid")
    ap.add_argument("--symbols", default="BTC,ETH,SOL,BNB,XRP,DOGE")
    ap.add_argument("--trades-per-s", type=float, default=200.0, help="emulated trades per second per pair")
    ap.add_argument(
        "--emulate-rate", type=float, default=1.0, help="emulator pace multiplier (seeded ticks per second)"
    )
    ap.add_argument(
        "--trades-per-frame",
        type=int,
        default=1,
        help="emulator: trades of a symbol per frame (bybit/okx/hl)",
    )
    ap.add_argument("--book-churn", type=int, default=2, help="emulated book levels changed per tick")
    ap.add_argument("--batch", type=int, default=5000, help="writer fetch batch")
    ap.add_argument("--kill-one", choices=("no", "yes", "both"), default="both")
    ap.add_argument(
        "--synthetic",
        type=float,
        default=0.0,
        metavar="RATE",
        help="instead of emulator+collectors: --collectors processes publish synthetic trades, RATE/s in all",
    )
    ap.add_argument("--child", nargs=4, metavar=("URL", "N", "RATE", "SEED"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        url, n, rate, seed = args.child
        asyncio.run(_child_publish(url, int(n), float(rate), int(seed)))
        return
    runs = {"no": [False], "yes": [True], "both": [False, True]}[args.kill_one]
    out: dict[str, object] = {}
    for kill in runs:
        with tempfile.TemporaryDirectory(prefix="perpscope-bench-bus-") as tmp:
            res = asyncio.run(_run(args, Path(tmp), kill))
        print(json.dumps(res), file=sys.stderr)
        if kill and out:
            out["kill_one"] = res
        else:
            out.update(res)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
