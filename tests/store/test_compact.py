"""Compaction: row counts kept, identical rows dropped, every intermediate state consistent for readers."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import msgspec
import pyarrow.parquet as pq

from perpscope.model import Venue
from perpscope.store import Store
from perpscope.store.layout import visible_files

T0 = 1_780_000_000_000_000_000


def _flushes(store: Store, batches: list[list]) -> None:
    with store.writer(background=False) as w:
        for b in batches:
            w.extend(b)
            w.flush()


def test_compaction_keeps_rows_and_drops_identical_ones(store: Store, make_trades, sample) -> None:
    a = make_trades(100, seed=1)
    b = make_trades(100, seed=2, start=T0 + 10**9)
    _flushes(store, [a[:50], a[50:], b, a[:10]])  # the last flush repeats 10 rows
    store.write_batch(sample(0) + sample(1))
    store.write_batch(sample(1))  # a whole duplicate batch of every kind
    assert store.read("trades", venue="bybit").num_rows == 210
    n_files = len(store.files("trades"))
    report = store.compact()
    # bybit/ETH trades: 210 rows in 4 files; binance/BTC of each of the 10 kinds: 3 rows in 2 files
    assert report.partitions == 11
    assert (report.rows_in, report.rows_out, report.duplicates_removed) == (240, 220, 20)
    assert (report.files_in, report.files_out) == (4 + 10 * 2, 11)
    assert report.bytes_out < report.bytes_in
    assert store.read("trades", venue="bybit").num_rows == 200
    assert sorted(msgspec.json.encode(e) for e in store.events("trades", venue="bybit")) == sorted(
        msgspec.json.encode(e) for e in a + b
    )
    assert len(store.files("trades")) == 2 < n_files
    for kind in ("book_deltas", "cascades", "bars"):
        assert store.read(kind).num_rows == 2
    # idempotent: nothing left to merge
    again = store.compact()
    assert again.partitions == 0 and store.read("trades").num_rows == 202


def test_compaction_options(store: Store, make_trades) -> None:
    _flushes(store, [make_trades(5, seed=1), make_trades(5, seed=2)])
    store.write_batch(make_trades(5, seed=3, venue=Venue.OKX))
    store.write_batch(make_trades(5, seed=4, venue=Venue.OKX))
    assert store.compact(kind="liquidations").partitions == 0
    assert store.compact(older_than_ns=time.time_ns() - 3600 * 10**9).partitions == 0  # all too recent
    assert store.compact(kind="trades").partitions == 2
    assert store.read("trades").num_rows == 20
    # import files are never merged, so re-imports stay idempotent
    store.write_batch(make_trades(5, seed=5, venue=Venue.HYPERLIQUID), source_id="imp")
    store.write_batch(make_trades(5, seed=6, venue=Venue.HYPERLIQUID))
    store.compact()
    assert any(f.name.startswith("src-") for f in store.files("trades", venue="hyperliquid"))
    store.write_batch(make_trades(5, seed=5, venue=Venue.HYPERLIQUID), source_id="imp")
    assert store.read("trades", venue="hyperliquid").num_rows == 10


def _two_files(store: Store, make_trades) -> tuple[Path, list[Path]]:
    _flushes(store, [make_trades(5, seed=1), make_trades(5, seed=2, start=T0 + 10**9)])
    files = store.files("trades")
    assert len(files) == 2
    return files[0].parent, files


def test_readers_ignore_inputs_once_the_merged_file_exists(store: Store, make_trades, tmp_path: Path) -> None:
    part, inputs = _two_files(store, make_trades)
    # the state between "merged file renamed in" and "inputs unlinked", frozen
    merged = part / "cmp-00000000000000000001-1-000001.parquet"
    table = store.read("trades")
    pq.write_table(table, merged)
    (part / "cmp-00000000000000000001-1-000001.replaces").write_text(
        json.dumps({"replaces": [p.name for p in inputs]})
    )
    assert visible_files(part) == [merged]
    assert store.read("trades").num_rows == 10
    assert store.query("SELECT count(*) AS n FROM trades").column("n")[0].as_py() == 10
    assert store.stats().by_view()["trades"].rows == 10
    # a killed compaction's leftovers: the next one deletes the replaced inputs
    report = store.compact()
    assert report.cleaned == 2
    assert all(not p.exists() for p in inputs)
    assert store.read("trades").num_rows == 10


def test_a_sidecar_without_its_merged_file_changes_nothing(store: Store, make_trades) -> None:
    part, inputs = _two_files(store, make_trades)
    # the state after the sidecar was written but before the rename (or a compaction killed there)
    (part / "cmp-00000000000000000002-1-000001.replaces").write_text(
        json.dumps({"replaces": [p.name for p in inputs]})
    )
    tmp = part / ".tmp-1-1-cmp-00000000000000000002-1-000001.parquet"
    tmp.write_bytes(b"PAR1 partial")
    old = time.time() - 7200
    os.utime(tmp, (old, old))
    assert visible_files(part) == inputs
    assert store.read("trades").num_rows == 10
    report = store.compact()
    assert report.cleaned == 2  # the orphan sidecar and the stale temp
    assert not tmp.exists()
    assert store.read("trades").num_rows == 10
    assert [p.name for p in part.iterdir() if p.name.endswith(".replaces")] != [
        "cmp-00000000000000000002-1-000001.replaces"
    ]


def test_old_sidecars_are_removed(store: Store, make_trades) -> None:
    part, _ = _two_files(store, make_trades)
    store.compact()
    sidecars = list(part.glob("*.replaces"))
    assert len(sidecars) == 1
    old = time.time() - 3600
    os.utime(sidecars[0], (old, old))
    store.compact()
    assert not list(part.glob("*.replaces"))
    assert store.read("trades").num_rows == 10
    shutil.rmtree(part)
    assert store.read("trades").num_rows == 0
