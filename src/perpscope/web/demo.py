"""The ``serve --demo`` history: a simulated store (BTC on three venues) whose last day ends now, so the
live collector (``perpscope.web.feeds``) continues it in the same store."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from ..heatmap.pipeline import DEMO_KEEP, DEMO_VENUES, NS_PER_DAY
from ..sim.market_config import SYMBOL_DEFAULTS, SimConfig
from ..store import Store
from ..timeutil import NS_PER_S, now_ns

BAR_NS = 300 * NS_PER_S  # the simulator's default bar


def _log_return(cfg: SimConfig, symbol: str) -> float:
    """The simulated index's log return over the whole run (it does not depend on the start price)."""

    from ..sim.market_price import initial_symbol_state, simulate_index

    states = {s: initial_symbol_state(cfg, s) for s in cfg.symbols}
    first = states[symbol].log_index
    for chunk in range(cfg.n_chunks):
        simulate_index(cfg, chunk, min(cfg.bars_per_chunk, cfg.n_bars - chunk * cfg.bars_per_chunk), states)
    return states[symbol].log_index - first


def seed_demo_store(root: Path, *, seed: int = 7, days: int = 2, end_ns: int | None = None) -> Store:
    """Simulate BTC (one warm-up day + ``days``) ending at ``end_ns`` (default now) into the store under
    ``root``, started so that it ends near the price the emulator's live market starts from; a store that
    already holds bars is left as it is."""

    from ..sim.market import simulate

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
        live = SYMBOL_DEFAULTS["BTC"].price  # where the emulator's simulated market starts
        cfg = replace(cfg, initial_prices={"BTC": live * math.exp(-_log_return(cfg, "BTC"))})
        store.write_batch(
            (e for e in simulate(cfg).events() if isinstance(e, DEMO_KEEP)),
            source_id=f"serve-demo-seed{seed}",
        )
    return store
