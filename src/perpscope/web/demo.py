"""The ``serve --demo`` history: a simulated store (BTC on three venues) whose last day ends now, so the
live collector (``perpscope.web.feeds``) continues it in the same store."""

from __future__ import annotations

from pathlib import Path

from ..heatmap.pipeline import DEMO_KEEP, DEMO_VENUES, NS_PER_DAY
from ..store import Store
from ..timeutil import NS_PER_S, now_ns

BAR_NS = 300 * NS_PER_S  # the simulator's default bar


def seed_demo_store(root: Path, *, seed: int = 7, days: int = 2, end_ns: int | None = None) -> Store:
    """Simulate BTC (one warm-up day + ``days``) ending at ``end_ns`` (default now) into the store under
    ``root``; a store that already holds bars is left as it is."""

    from ..sim.market import simulate
    from ..sim.market_config import SimConfig

    store = Store(root)
    if not store.files("bar"):
        end = (end_ns if end_ns is not None else now_ns()) // BAR_NS * BAR_NS
        cfg = SimConfig(
            seed=seed,
            venues=DEMO_VENUES,
            symbols=("BTC",),
            start_ns=end - (days + 1) * NS_PER_DAY,
            duration_ns=(days + 1) * NS_PER_DAY,
        )
        store.write_batch(
            (e for e in simulate(cfg).events() if isinstance(e, DEMO_KEEP)),
            source_id=f"serve-demo-seed{seed}",
        )
    return store
