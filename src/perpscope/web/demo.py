"""The ``serve --demo`` data: a simulated store (two days of BTC on three venues) and a live simulator
stream publishing liquidations onto the tape. One small function each so the source can be swapped."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ..feed.fanout import Fanout
from ..heatmap.pipeline import DEMO_KEEP, DEMO_VENUES, NS_PER_DAY
from ..model import Liquidation
from ..store import Store


def seed_demo_store(root: Path, *, seed: int = 7, days: int = 2) -> Store:
    """Simulate BTC (one warm-up day + ``days``) into a fresh store under ``root``."""

    from ..sim.market import simulate
    from ..sim.market_config import SimConfig

    store = Store(root)
    if not store.files("bar"):
        cfg = SimConfig(seed=seed, venues=DEMO_VENUES, symbols=("BTC",), duration_ns=(days + 1) * NS_PER_DAY)
        store.write_batch(
            (e for e in simulate(cfg).events() if isinstance(e, DEMO_KEEP)),
            source_id=f"serve-demo-seed{seed}",
        )
    return store


async def run_demo_feed(
    fanout: Fanout, stop: asyncio.Event, *, seed: int = 11, speed: float = 600.0, state: dict | None = None
) -> None:
    """Drive the tape from the live simulator stream (``speed`` simulated seconds per wall second)."""

    from ..sim.market import MarketStream
    from ..sim.market_config import SimConfig

    stream = MarketStream(SimConfig(seed=seed, venues=DEMO_VENUES, symbols=("BTC",)), forever=True)
    async for batch in stream.run(speed=speed):
        if stop.is_set():
            return
        liqs = [e for e in batch.events if isinstance(e, Liquidation)]
        if liqs:
            fanout.publish(liqs)
            if state is not None:
                state["published"] = state.get("published", 0) + 1
