"""Where the store's files live, how they are written atomically, and how a reader lists the visible ones.

Layout: ``<root>/<kind>/venue=<v>/symbol=<s>/date=<YYYY-MM-DD>/<name>.parquet``. File names:

- ``part-<wall ns>-<pid>-<seq>.parquet``: a streaming writer's flush;
- ``src-<source hash>.parquet``: an import (one per partition per source; re-importing replaces it);
- ``cmp-<wall ns>-<pid>-<seq>.parquet``: a compaction result, with a ``cmp-….replaces`` sidecar (JSON list
  of the files it replaces) written *before* the merged file appears, so a reader that sees both the
  merged file and its inputs ignores the inputs: no moment shows a row twice;
- ``.tmp-…``: being written; readers ignore dot-names, the next writer removes stale ones.

Every visible file is written to a temp name in the same directory, fsync'd, then ``os.replace``d and the
directory fsync'd: a killed writer leaves whole files or none.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import StoreError
from ..model import Kind
from ..timeutil import NS_PER_S

NS_PER_DAY = 86_400 * NS_PER_S
PARQUET = ".parquet"
SIDECAR = ".replaces"
TMP_PREFIX = ".tmp-"
LOCK_DIR = ".locks"
SOURCES_DIR = "_sources"
STALE_TMP_S = 3600.0  # a temp file this old belongs to a dead writer
SIDECAR_KEEP_S = 60.0  # keep a compaction sidecar this long after its inputs are gone (slow listings)
PARQUET_COMPRESSION = "zstd"

_seq = itertools.count()
_PART_RE = re.compile(r"^(part|cmp|src)-[A-Za-z0-9\-]+\.parquet$")


@dataclass(frozen=True, slots=True, order=True)
class Partition:
    kind: Kind
    venue: str
    symbol: str
    day: int  # days since 1970-01-01 UTC

    @property
    def date(self) -> str:
        return day_to_date(self.day)

    def relpath(self) -> str:
        return f"{self.kind.value}/venue={self.venue}/symbol={self.symbol}/date={self.date}"

    def path(self, root: Path) -> Path:
        return root / self.relpath()


def day_to_date(day: int) -> str:
    return date.fromordinal(date(1970, 1, 1).toordinal() + day).isoformat()


def date_to_day(text: str) -> int:
    return date.fromisoformat(text).toordinal() - date(1970, 1, 1).toordinal()


def unique_name(prefix: str) -> str:
    """``<prefix>-<wall ns>-<pid>-<seq>``: unique across processes and within one."""

    return f"{prefix}-{time.time_ns():020d}-{os.getpid()}-{next(_seq):06d}"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tmp_path(final: Path) -> Path:
    return final.with_name(f"{TMP_PREFIX}{os.getpid()}-{next(_seq)}-{final.name}")


def write_parquet_atomic(final: Path, table: pa.Table, *, sync_dir: bool = True) -> int:
    """Write ``table`` to ``final`` through a temp file + fsync + rename. Returns the file size."""

    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(final)
    try:
        with open(tmp, "wb") as f:
            pq.write_table(table, f, compression=PARQUET_COMPRESSION)
            f.flush()
            os.fsync(f.fileno())
        size = tmp.stat().st_size
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if sync_dir:
        fsync_dir(final.parent)
    return size


def write_bytes_atomic(final: Path, data: bytes) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(final)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(final.parent)


def _scan(path: Path, prefix: str) -> list[tuple[str, Path]]:
    """``(value, path)`` of sub-directories named ``<prefix><value>``."""

    try:
        with os.scandir(path) as it:
            return [
                (e.name[len(prefix) :], Path(e.path))
                for e in it
                if e.name.startswith(prefix) and e.is_dir(follow_symlinks=False)
            ]
    except FileNotFoundError:
        return []


def iter_partitions(
    root: Path,
    kind: Kind,
    *,
    venues: set[str] | None = None,
    symbols: set[str] | None = None,
    first_day: int | None = None,
    last_day: int | None = None,
) -> Iterator[tuple[Partition, Path]]:
    """Existing partition directories of ``kind`` matching the filters (days inclusive), in order."""

    for venue, vpath in sorted(_scan(root / kind.value, "venue=")):
        if venues is not None and venue not in venues:
            continue
        for symbol, spath in sorted(_scan(vpath, "symbol=")):
            if symbols is not None and symbol not in symbols:
                continue
            for text, dpath in sorted(_scan(spath, "date=")):
                try:
                    day = date_to_day(text)
                except ValueError:
                    continue
                if first_day is not None and day < first_day:
                    continue
                if last_day is not None and day > last_day:
                    continue
                yield Partition(kind, venue, symbol, day), dpath


def read_sidecar(path: Path) -> list[str]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return []
    names = data.get("replaces", []) if isinstance(data, dict) else []
    return [n for n in names if isinstance(n, str)]


def visible_files(directory: Path) -> list[Path]:
    """The Parquet files a reader should read in one partition directory, in name order.

    Files replaced by a compaction whose merged file exists are left out. The merged file appears (by
    rename) only after its sidecar, and its inputs disappear only after it appears, so checking the merged
    file's existence *after* listing gives a consistent answer even when the listing raced the compaction.
    """

    try:
        with os.scandir(directory) as it:
            names = [e.name for e in it if not e.name.startswith(".")]
    except FileNotFoundError:
        return []
    parquet = {n for n in names if n.endswith(PARQUET)}
    excluded: set[str] = set()
    for name in names:
        if not name.endswith(SIDECAR):
            continue
        merged = name[: -len(SIDECAR)] + PARQUET
        if merged in parquet or (directory / merged).exists():
            parquet.add(merged)
            excluded.update(read_sidecar(directory / name))
    return [directory / n for n in sorted(parquet - excluded)]


def day_of_ns(ts_ns: int) -> int:
    return ts_ns // NS_PER_DAY


def now_utc_text() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def remove_stale_temps(directory: Path, *, older_than_s: float = STALE_TMP_S) -> int:
    """Delete ``.tmp-*`` files left by killed writers (older than ``older_than_s``)."""

    removed = 0
    cutoff = time.time() - older_than_s
    try:
        with os.scandir(directory) as it:
            for e in it:
                if e.name.startswith(TMP_PREFIX) and e.is_file() and e.stat().st_mtime < cutoff:
                    with contextlib.suppress(OSError):
                        os.unlink(e.path)
                        removed += 1
    except FileNotFoundError:
        pass
    return removed


class FileLock:
    """An exclusive, non-blocking advisory lock (``fcntl.flock``) on ``path``; records the holder's pid
    and command line so the next process can say who holds it. Released by the kernel if the holder dies."""

    def __init__(self, path: Path, *, what: str) -> None:
        self.path = path
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:
            raise StoreError(f"{self.what} lock {self.path} is already held by this object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = ""
            with contextlib.suppress(OSError):
                holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                who = f" (held by {holder})" if holder else ""
                raise StoreError(
                    f"another {self.what} is active on the store {self.path.parent.parent}{who}; "
                    "only one at a time"
                ) from None
            raise
        info = f"pid {os.getpid()}: {' '.join(sys.argv)[:200]} since {now_utc_text()}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def is_data_file(name: str) -> bool:
    return bool(_PART_RE.match(name))
