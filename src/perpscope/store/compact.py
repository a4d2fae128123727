"""Compaction: merge a partition's small files into one, drop identical rows, swap atomically for readers.

Protocol per partition (the caller holds the batch lock, so no other compaction runs):
1. write the merged rows to a temp file and fsync it;
2. write ``cmp-X.replaces`` (the input names) — readers ignore it while ``cmp-X.parquet`` does not exist;
3. rename the temp to ``cmp-X.parquet``: from now on readers read it *instead of* the inputs;
4. unlink the inputs. The sidecar is removed by a later compaction once it is old.
A crash after 3 leaves inputs that readers already ignore; the next compaction deletes them. A crash
before 3 leaves a temp and an orphan sidecar; the next compaction deletes both.

Import files (``src-…``) are not merged: they are one per partition per source already, and keeping them
whole keeps re-imports idempotent.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..model import Kind
from . import layout
from ._duck import arrow_result, sql_list
from .layout import PARQUET, SIDECAR
from .schema import COLUMNS, SCHEMAS

if TYPE_CHECKING:
    from .store import CompactionReport, Store


def _recover(directory: Path, report: CompactionReport) -> None:
    """Finish or undo what a killed compaction left in ``directory``."""

    report.cleaned += layout.remove_stale_temps(directory)
    now = time.time()
    with os.scandir(directory) as it:
        sidecars = [Path(e.path) for e in it if e.name.endswith(SIDECAR) and not e.name.startswith(".")]
    for sidecar in sidecars:
        merged = sidecar.with_name(sidecar.name[: -len(SIDECAR)] + PARQUET)
        if not merged.exists():  # died before the swap: the inputs are still the truth
            with contextlib.suppress(FileNotFoundError):
                sidecar.unlink()
                report.cleaned += 1
            continue
        leftovers = [directory / n for n in layout.read_sidecar(sidecar) if (directory / n).exists()]
        for path in leftovers:  # died after the swap: readers already ignore these
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                report.cleaned += 1
        try:
            old = now - sidecar.stat().st_mtime > layout.SIDECAR_KEEP_S
        except FileNotFoundError:
            continue
        if old and not leftovers:
            with contextlib.suppress(FileNotFoundError):
                sidecar.unlink()


def _inputs(files: list[Path], *, older_than_ns: int | None, target_rows: int) -> list[tuple[Path, int, int]]:
    """``(path, rows, bytes)`` of the files worth merging: streaming flushes and earlier merges that are
    still small, last written before ``older_than_ns``."""

    out = []
    for f in files:
        if not (f.name.startswith("part-") or f.name.startswith("cmp-")):
            continue
        try:
            st = f.stat()
            if older_than_ns is not None and st.st_mtime_ns >= older_than_ns:
                continue
            rows = pq.read_metadata(f).num_rows
        except FileNotFoundError:
            continue
        if f.name.startswith("cmp-") and rows >= target_rows:
            continue
        out.append((f, rows, st.st_size))
    return out


def _merge(con: duckdb.DuckDBPyConnection, kind: Kind, paths: list[Path]) -> pa.Table:
    cols = ", ".join(f'"{c.name}"' for c in COLUMNS[kind])
    files = sql_list([str(p) for p in paths])
    sql = (
        f"SELECT DISTINCT {cols} FROM read_parquet({files}, union_by_name=true, hive_partitioning=false) "
        "ORDER BY ts_event, ts_recv"
    )
    return arrow_result(con, sql).cast(SCHEMAS[kind])


def compact(
    store: Store, *, kinds: list[Kind], older_than_ns: int | None, target_rows: int
) -> CompactionReport:
    from .store import CompactionReport

    report = CompactionReport()
    t0 = time.perf_counter()
    con = duckdb.connect(":memory:")
    try:
        for kind in kinds:
            for _, directory in layout.iter_partitions(store.root, kind):
                _recover(directory, report)
                inputs = _inputs(
                    layout.visible_files(directory), older_than_ns=older_than_ns, target_rows=target_rows
                )
                if len(inputs) < 2:
                    continue
                paths = [p for p, _, _ in inputs]
                merged = _merge(con, kind, paths)
                name = layout.unique_name("cmp")
                final = directory / f"{name}{PARQUET}"
                tmp = layout.tmp_path(final)
                with open(tmp, "wb") as fh:
                    pq.write_table(merged, fh, compression=layout.PARQUET_COMPRESSION)
                    fh.flush()
                    os.fsync(fh.fileno())
                layout.write_bytes_atomic(
                    directory / f"{name}{SIDECAR}", json.dumps({"replaces": [p.name for p in paths]}).encode()
                )
                os.replace(tmp, final)
                layout.fsync_dir(directory)
                for p in paths:
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()
                layout.fsync_dir(directory)
                report.partitions += 1
                report.files_in += len(inputs)
                report.files_out += 1
                report.rows_in += sum(r for _, r, _ in inputs)
                report.rows_out += merged.num_rows
                report.bytes_in += sum(b for _, _, b in inputs)
                report.bytes_out += final.stat().st_size
    finally:
        con.close()
    report.seconds = time.perf_counter() - t0
    return report
