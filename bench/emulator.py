"""How many frames per second the emulator serves: ``perpscope emulate`` in its own process, one client
process subscribed to trades and books of every symbol on all four venues; reports the frames received per
second and the emulator's CPU share. The last line is one JSON object.

    python bench/emulator.py [--rate 20] [--seconds 10] [--source seeded]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections import Counter

import aiohttp

SYMBOLS = ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE")


def subscriptions(venue: str) -> tuple[str, list[str]]:
    if venue == "binance":
        streams = "/".join(f"{s.lower()}usdt@{k}" for s in SYMBOLS for k in ("depth@100ms", "trade"))
        return f"/public/stream?streams={streams}", []
    if venue == "bybit":
        args = [f"{k}.{s}USDT" for s in SYMBOLS for k in ("orderbook.50", "publicTrade")]
        return "/v5/public/linear", [json.dumps({"op": "subscribe", "args": args})]
    if venue == "okx":
        args = [{"channel": c, "instId": f"{s}-USDT-SWAP"} for s in SYMBOLS for c in ("books", "trades")]
        return "/ws/v5/public", [json.dumps({"op": "subscribe", "args": args})]
    subs = [{"type": t, "coin": s} for s in SYMBOLS for t in ("l2Book", "trades")]
    return "/ws", [json.dumps({"method": "subscribe", "subscription": x}) for x in subs]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def client(endpoints: dict[str, dict[str, str]], seconds: float) -> Counter[str]:
    counts: Counter[str] = Counter()

    async def one(session: aiohttp.ClientSession, venue: str) -> None:
        path, frames = subscriptions(venue)
        async with session.ws_connect(endpoints[venue]["ws"] + path, max_msg_size=1 << 24) as ws:
            for f in frames:
                await ws.send_str(f)
            await asyncio.sleep(1.0)  # warm-up: snapshots and acks
            while True:
                msg = await ws.receive()
                if msg.type is aiohttp.WSMsgType.TEXT:
                    counts[venue] += 1
                elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    return

    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(one(session, v)) for v in endpoints]
        await asyncio.sleep(1.0)
        counts.clear()
        await asyncio.sleep(seconds)
        snapshot = Counter(counts)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return snapshot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--source", default="seeded")
    args = parser.parse_args()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "perpscope",
            "emulate",
            "--source",
            args.source,
            "--rate",
            str(args.rate),
            "--fault-log",
            os.devnull,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        if not ready:
            raise SystemExit("the emulator did not start")
        endpoints = json.loads(proc.stdout.readline())
        time.sleep(0.5)
        cpu0 = cpu_seconds(proc.pid)
        t0 = time.monotonic()
        counts = asyncio.run(client(endpoints, args.seconds))
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    total = sum(counts.values())
    print(
        json.dumps(
            {
                "source": args.source,
                "rate": args.rate,
                "seconds": args.seconds,
                "frames_per_s": round(total / args.seconds, 1),
                "per_venue_per_s": {v: round(n / args.seconds, 1) for v, n in sorted(counts.items())},
                "emulator_cpu_share": round(cpu / elapsed, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
