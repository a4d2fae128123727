"""Crash safety and concurrency with real processes: kill -9 a writer, read while another process writes
and a third compacts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from perpscope.store import Store

HERE = Path(__file__).resolve().parent
SCRIPT = str(HERE / "proc_writer.py")


class Lines:
    """Collects a child's stdout lines on a thread (so reading never blocks the test)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._run, args=(proc,), daemon=True)
        self._t.start()

    def _run(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line.strip())

    def flushed(self) -> int:
        counts = [int(x.split()[1]) for x in list(self.lines) if x.startswith("flushed ")]
        return counts[-1] if counts else 0


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, SCRIPT, *args], stdout=subprocess.PIPE, text=True)


def _wait_for(cond, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


@pytest.mark.parametrize("round_", range(3))
def test_kill_9_loses_at_most_the_last_interval(tmp_path: Path, round_: int) -> None:
    root = tmp_path / "store"
    interval = 0.2
    proc = _spawn(str(root), "stream", str(interval))
    lines = Lines(proc)
    try:
        _wait_for(lambda: lines.flushed() >= 2000 + 500 * round_)
        time.sleep(0.05 * round_)  # vary where in the flush cycle the kill lands
        acknowledged = lines.flushed()
        killed_at = time.time_ns()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    store = Store(root)
    # every visible file is a whole, readable Parquet file
    files = [f for kind in ("trades",) for f in store.files(kind)]
    assert files
    for f in files:
        pq.read_table(f)
    table = store.read("trades")
    assert table.num_rows >= acknowledged  # nothing acknowledged was lost
    ids = table.column("trade_id").to_pylist()
    assert len(set(ids)) == len(ids)
    assert sorted(int(i) for i in ids) == list(range(len(ids)))  # a prefix of what was appended, no holes
    # at most the last flush interval (plus scheduling slack) is missing
    last = max(table.column("ts_recv").to_pylist())
    assert killed_at - last < (interval + 2.0) * 1e9  # slack for a loaded CI machine
    # the lock died with the writer; leftovers are cleaned by the next compaction
    store.writer().close()
    report = store.compact()
    assert store.read("trades").num_rows == table.num_rows
    assert report.rows_out == report.rows_in


@pytest.mark.slow
def test_readers_see_a_consistent_growing_store_while_writing_and_compacting(tmp_path: Path) -> None:
    root = tmp_path / "store"
    writer = _spawn(str(root), "stream", "0.05")
    lines = Lines(writer)
    compactor = None
    try:
        _wait_for(lambda: lines.flushed() > 0)
        compactor = _spawn(str(root), "compact", "4")
        store = Store(root)
        counts = []
        end = time.monotonic() + 4.0
        while time.monotonic() < end:
            t = store.query("SELECT count(*) AS n, count(DISTINCT trade_id) AS d FROM trades")
            n, d = t.column("n")[0].as_py(), t.column("d")[0].as_py()
            assert n == d, "a reader saw a row twice"
            counts.append(n)
            r = store.read("trades", columns=["trade_id"])
            assert r.num_rows >= n
            assert len(set(r.column("trade_id").to_pylist())) == r.num_rows
        assert counts == sorted(counts), "a reader saw rows disappear"
        assert counts[-1] > counts[0]
        assert compactor.wait(timeout=30) == 0
    finally:
        writer.kill()
        writer.wait()
        if compactor is not None:
            compactor.kill()
            compactor.wait()
    assert compactor.stdout is not None
    assert int(compactor.stdout.read().split()[1]) > 0  # compaction really ran while we read
