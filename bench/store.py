"""Store benchmark: archive import speed, streaming-writer throughput, query latency before/after compaction.

Prints one JSON object as its last line. ``python bench/store.py [--rows 2000000]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from perpscope.model import Side, Trade, Venue
from perpscope.store import Store
from perpscope.store.importers import import_binance_file

DAY_MS = 86_400_000
T0_MS = 1_717_200_000_000  # 2024-06-01


def make_aggtrades_zip(path: Path, rows: int) -> Path:
    rng = np.random.default_rng(1)
    ids = np.arange(rows) + 2_000_000_000
    price = np.round(67_000 + np.cumsum(rng.normal(0, 0.5, rows)), 1)
    qty = np.round(rng.exponential(0.05, rows) + 0.001, 3)
    ts = T0_MS + np.sort(rng.integers(0, DAY_MS, rows))
    maker = np.where(rng.random(rows) < 0.5, "true", "false")
    lines = ["agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"]
    lines += [
        f"{i},{p},{q},{i},{i},{t},{m}" for i, p, q, t, m in zip(ids, price, qty, ts, maker, strict=True)
    ]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(path.with_suffix(".csv").name, "\n".join(lines) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000, help="aggTrades rows to import")
    ap.add_argument("--events", type=int, default=200_000, help="events for the streaming writer")
    args = ap.parse_args()
    out: dict[str, float | int] = {}
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        store = Store(root / "store")

        src = make_aggtrades_zip(root / "BTCUSDT-aggTrades-2024-06-01.zip", args.rows)
        t = time.perf_counter()
        item = import_binance_file(store, src)
        sec = time.perf_counter() - t
        out |= {
            "import_rows": item.rows,
            "import_seconds": round(sec, 3),
            "import_rows_per_s": round(item.rows / sec),
        }
        t = time.perf_counter()
        assert import_binance_file(store, src).status == "skipped"
        out["reimport_skip_seconds"] = round(time.perf_counter() - t, 4)

        t = time.perf_counter()
        q = store.query("SELECT side, count(*) AS n, sum(notional_usd) AS usd FROM trades GROUP BY side")
        out["query_groupby_seconds"] = round(time.perf_counter() - t, 4)
        assert sum(q.column("n").to_pylist()) == args.rows

        rng = np.random.default_rng(2)
        symbols = rng.choice(["BTC", "ETH", "SOL"], args.events)
        prices = rng.random(args.events) * 100 + 1
        base = T0_MS * 10**6
        events = [
            Trade(
                venue=Venue.BYBIT,
                symbol=str(symbols[i]),
                ts_event=base + i * 10**6,
                ts_recv=base + i * 10**6,
                side=Side.BUY if i % 2 else Side.SELL,
                price=float(prices[i]),
                quantity=0.01,
                notional_usd=float(prices[i]) * 0.01,
                trade_id=str(i),
            )
            for i in range(args.events)
        ]
        t = time.perf_counter()
        with store.writer(
            flush_interval_s=3600, max_buffer=1_000
        ) as w:  # many small flushes, like a collector
            w.extend(events)
        sec = time.perf_counter() - t
        out |= {
            "writer_events": len(events),
            "writer_files": w.files_written,
            "writer_seconds": round(sec, 3),
            "writer_events_per_s": round(len(events) / sec),
        }
        sql = "SELECT count(*) FROM trades WHERE venue = 'bybit'"
        t = time.perf_counter()
        store.query(sql)
        out["query_seconds_small_files"] = round(time.perf_counter() - t, 4)
        t = time.perf_counter()
        rep = store.compact()
        out |= {"compact_seconds": round(time.perf_counter() - t, 3), "compact_files_in": rep.files_in}
        t = time.perf_counter()
        store.query(sql)
        out["query_seconds_after_compact"] = round(time.perf_counter() - t, 4)
        t = time.perf_counter()
        store.query("SELECT 1")
        out["query_overhead_seconds"] = round(time.perf_counter() - t, 4)
        out["bytes_per_trade_row"] = round(
            store.stats().by_view()["trades"].bytes / (args.rows + args.events), 1
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
