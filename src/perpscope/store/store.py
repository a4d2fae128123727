"""The embedded store: append-only Parquet partitioned by kind/venue/symbol/day, queried with DuckDB.

One streaming writer (``Store.writer``) and one batch writer (imports, compaction) at a time, each guarded
by its own advisory lock; they never touch each other's files. Any number of reader processes list the
visible files and read them; nothing a reader can see is ever half-written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .. import config
from ..errors import StoreError
from ..model import Event, Kind, Venue
from . import layout
from ._duck import arrow_result, sql_list, sql_str
from .layout import LOCK_DIR, NS_PER_DAY, SOURCES_DIR, FileLock, Partition
from .schema import (
    COLUMNS,
    SCHEMAS,
    VIEW_NAMES,
    RowProblem,
    as_kind,
    check_table,
    empty_table,
    group_events,
    split_good_events,
    table_to_events,
)

if TYPE_CHECKING:
    from .writer import StoreWriter

_READ_RETRIES = 8  # a compaction may delete a file between our listing and our open: list again
_ALLOWED_STATEMENTS = {"SELECT", "EXPLAIN"}


def _as_set(value: str | Venue | Sequence[str | Venue] | None) -> set[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    return {str(v.value if isinstance(v, Venue) else v) for v in items}


def partition_table(kind: Kind, table: pa.Table) -> list[tuple[Partition, pa.Table]]:
    """Split a checked table into its partitions, each sorted by ``ts_event`` (stable)."""

    if table.num_rows == 0:
        return []
    order = pc.sort_indices(
        table, sort_keys=[("venue", "ascending"), ("symbol", "ascending"), ("ts_event", "ascending")]
    )
    table = table.take(order)
    day = table.column("ts_event").to_numpy() // NS_PER_DAY
    venue_idx = table.column("venue").combine_chunks().dictionary_encode().indices.to_numpy()
    symbol_idx = table.column("symbol").combine_chunks().dictionary_encode().indices.to_numpy()
    change = np.flatnonzero((np.diff(day) != 0) | (np.diff(venue_idx) != 0) | (np.diff(symbol_idx) != 0)) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [table.num_rows]))
    venues = table.column("venue")
    symbols = table.column("symbol")
    out = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        part = Partition(kind, venues[a].as_py(), symbols[a].as_py(), int(day[a]))
        out.append((part, table.slice(a, b - a)))
    return out


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """What one idempotent write (an imported file) stored: replaced whole when written again."""

    source_id: str
    fingerprint: str | None
    files: tuple[str, ...]  # relative to the store root
    rows: dict[str, int]
    written_at: str


@dataclass(frozen=True, slots=True)
class KindStats:
    kind: Kind
    view: str
    rows: int
    files: int
    bytes: int
    partitions: int
    first_ts: int | None  # ns UTC, smallest ts_event
    last_ts: int | None


@dataclass(frozen=True, slots=True)
class StoreStats:
    root: Path
    kinds: tuple[KindStats, ...]

    @property
    def rows(self) -> int:
        return sum(k.rows for k in self.kinds)

    @property
    def files(self) -> int:
        return sum(k.files for k in self.kinds)

    @property
    def bytes(self) -> int:
        return sum(k.bytes for k in self.kinds)

    def by_view(self) -> dict[str, KindStats]:
        return {k.view: k for k in self.kinds}


@dataclass(slots=True)
class CompactionReport:
    partitions: int = 0  # partitions rewritten
    files_in: int = 0
    files_out: int = 0
    rows_in: int = 0
    rows_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    cleaned: int = 0  # leftovers of killed writers removed (temps, orphan sidecars, replaced inputs)

    @property
    def duplicates_removed(self) -> int:
        return self.rows_in - self.rows_out


class BatchWrite:
    """A multi-partition write that becomes visible all at once on ``commit`` (or not at all).

    Tables are checked and appended to per-partition temp files as they come, so a large import streams
    through bounded memory; nothing is renamed into place before the whole input was accepted.
    """

    def __init__(self, store: Store, *, source_id: str | None, fingerprint: str | None) -> None:
        self.store = store
        self.source_id = source_id
        self.fingerprint = fingerprint
        self.rows: dict[Kind, int] = {}
        self._open: dict[Partition, tuple[Path, Any, pq.ParquetWriter]] = {}
        self._tag = layout.unique_name("part")
        self._done = False

    def _final_name(self) -> str:
        if self.source_id is None:
            return self._tag + layout.PARQUET
        return f"src-{source_hash(self.source_id)}{layout.PARQUET}"

    def add_table(self, kind: Kind | str, table: pa.Table) -> int:
        """Check ``table`` against the kind's schema (RowProblem on a bad row) and stage it."""

        if self._done:
            raise StoreError("batch write already committed or aborted")
        kind = as_kind(kind)
        checked = check_table(kind, table)
        for part, piece in partition_table(kind, checked):
            entry = self._open.get(part)
            if entry is None:
                final = part.path(self.store.root) / self._final_name()
                final.parent.mkdir(parents=True, exist_ok=True)
                tmp = layout.tmp_path(final)
                fh = open(tmp, "wb")  # noqa: SIM115 - closed in commit/abort
                writer = pq.ParquetWriter(fh, SCHEMAS[kind], compression=layout.PARQUET_COMPRESSION)
                entry = (tmp, fh, writer)
                self._open[part] = entry
            entry[2].write_table(piece)
        self.rows[kind] = self.rows.get(kind, 0) + checked.num_rows
        return checked.num_rows

    def add_events(self, events: Iterable[Event]) -> int:
        """Stage model events; any event that cannot be stored raises StoreError (nothing is written)."""

        groups, rejected = group_events(events)
        if rejected:
            raise StoreError(f"cannot store {rejected[0][1]}")
        n = 0
        for kind, evs in groups.items():
            table, bad = split_good_events(kind, evs)
            if bad:
                raise StoreError(f"cannot store {bad[0][1]} ({len(bad)} bad events in the batch)")
            n += self.add_table(kind, table)
        return n

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        for tmp, fh, writer in self._open.values():
            with contextlib.suppress(Exception):
                writer.close()
            with contextlib.suppress(Exception):
                fh.close()
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._open.clear()

    def commit(self) -> int:
        """Make everything staged visible; with a source id, replace what that source wrote before."""

        if self._done:
            raise StoreError("batch write already committed or aborted")
        try:
            staged: list[tuple[Path, Path]] = []
            for part, (tmp, fh, writer) in self._open.items():
                writer.close()
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()
                staged.append((tmp, part.path(self.store.root) / self._final_name()))
            old = self.store.source(self.source_id) if self.source_id is not None else None
            dirs = set()
            for tmp, final in staged:
                os.replace(tmp, final)
                dirs.add(final.parent)
            for d in dirs:
                layout.fsync_dir(d)
            if self.source_id is not None:
                new_files = tuple(sorted(str(final.relative_to(self.store.root)) for _, final in staged))
                record = {
                    "source_id": self.source_id,
                    "fingerprint": self.fingerprint,
                    "files": list(new_files),
                    "rows": {k.value: n for k, n in self.rows.items()},
                    "written_at": layout.now_utc_text(),
                }
                layout.write_bytes_atomic(
                    self.store._source_path(self.source_id), json.dumps(record, indent=1).encode()
                )
                if old is not None:
                    for rel in set(old.files) - set(new_files):
                        with contextlib.suppress(FileNotFoundError):
                            (self.store.root / rel).unlink()
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._open.clear()
        return sum(self.rows.values())


def source_hash(source_id: str) -> str:
    return hashlib.sha256(source_id.encode()).hexdigest()[:24]


class Store:
    """An embedded event store under ``root`` (default: ``perpscope.config.data_dir()``)."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else config.data_dir()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # ------------------------------------------------------------------ writing
    def writer(
        self, *, flush_interval_s: float = 2.0, max_buffer: int = 50_000, background: bool = True
    ) -> StoreWriter:
        """The streaming writer (a collector's): holds the writer lock until closed. A second one, in this
        or any process, raises StoreError."""

        from .writer import StoreWriter

        return StoreWriter(
            self, flush_interval_s=flush_interval_s, max_buffer=max_buffer, background=background
        )

    def _lock(self, name: str, what: str) -> FileLock:
        return FileLock(self.root / LOCK_DIR / f"{name}.lock", what=what)

    @contextlib.contextmanager
    def batch(self, *, source_id: str | None = None, fingerprint: str | None = None) -> Any:
        """``with store.batch(source_id=…) as b: b.add_table(kind, table)`` — all or nothing, idempotent
        per source id. Holds the batch lock (one import or compaction at a time)."""

        with self._lock("batch", "import or compaction"):
            b = BatchWrite(self, source_id=source_id, fingerprint=fingerprint)
            try:
                yield b
            except BaseException:
                b.abort()
                raise
            b.commit()

    def write_batch(self, events: Iterable[Event], *, source_id: str | None = None) -> int:
        """Write events in one go; with ``source_id`` the write replaces that source's previous files
        instead of adding to them (idempotent imports). Returns the number of rows written."""

        with self.batch(source_id=source_id) as b:
            b.add_events(events)
        return sum(b.rows.values())

    def write_table(self, kind: Kind | str, table: pa.Table, *, source_id: str | None = None) -> int:
        """Write an Arrow table of one kind (columns as the kind's schema). RowProblem → StoreError."""

        try:
            with self.batch(source_id=source_id) as b:
                b.add_table(kind, table)
        except RowProblem as exc:
            raise StoreError(f"cannot store {as_kind(kind).value}: row {exc.row}: {exc}") from None
        return sum(b.rows.values())

    def _source_path(self, source_id: str) -> Path:
        return self.root / SOURCES_DIR / f"{source_hash(source_id)}.json"

    def source(self, source_id: str) -> SourceRecord | None:
        """What a previous write with this source id stored, or None."""

        try:
            data = json.loads(self._source_path(source_id).read_bytes())
        except (FileNotFoundError, ValueError):
            return None
        if data.get("source_id") != source_id:
            return None
        return SourceRecord(
            source_id=source_id,
            fingerprint=data.get("fingerprint"),
            files=tuple(data.get("files", ())),
            rows={str(k): int(v) for k, v in data.get("rows", {}).items()},
            written_at=str(data.get("written_at", "")),
        )

    # ------------------------------------------------------------------ listing
    def files(
        self,
        kind: Kind | str,
        *,
        venue: str | Venue | Sequence[str | Venue] | None = None,
        symbol: str | Sequence[str] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[Path]:
        """The visible Parquet files of ``kind`` whose partitions can hold rows matching the filters."""

        kind = as_kind(kind)
        first_day = start_ns // NS_PER_DAY if start_ns is not None else None
        last_day = (end_ns - 1) // NS_PER_DAY if end_ns is not None else None
        out: list[Path] = []
        for _, path in layout.iter_partitions(
            self.root,
            kind,
            venues=_as_set(venue),
            symbols=_as_set(symbol),
            first_day=first_day,
            last_day=last_day,
        ):
            out.extend(layout.visible_files(path))
        return out

    # ------------------------------------------------------------------ reading
    def read(
        self,
        kind: Kind | str,
        *,
        venue: str | Venue | Sequence[str | Venue] | None = None,
        symbol: str | Sequence[str] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """Rows of one kind, sorted by ``ts_event`` (stable), ``start_ns`` ≤ ts_event < ``end_ns``."""

        kind = as_kind(kind)
        schema = SCHEMAS[kind]
        wanted = list(columns) if columns is not None else schema.names
        unknown = [c for c in wanted if c not in schema.names]
        if unknown:
            raise StoreError(
                f"{VIEW_NAMES[kind]} has no column {', '.join(unknown)}; has {', '.join(schema.names)}"
            )
        read_cols = wanted if "ts_event" in wanted else [*wanted, "ts_event"]
        flt = None
        if start_ns is not None:
            flt = ds.field("ts_event") >= start_ns
        if end_ns is not None:
            cond = ds.field("ts_event") < end_ns
            flt = cond if flt is None else flt & cond
        venues = _as_set(venue)
        symbols = _as_set(symbol)
        if venues is not None:
            cond = ds.field("venue").isin(sorted(venues))
            flt = cond if flt is None else flt & cond
        if symbols is not None:
            cond = ds.field("symbol").isin(sorted(symbols))
            flt = cond if flt is None else flt & cond
        last_exc: Exception | None = None
        for _ in range(_READ_RETRIES):
            files = self.files(kind, venue=venue, symbol=symbol, start_ns=start_ns, end_ns=end_ns)
            if not files:
                return pa.schema([schema.field(c) for c in wanted]).empty_table()
            try:
                dataset = ds.dataset([str(f) for f in files], schema=schema, format="parquet")
                table = dataset.to_table(columns=read_cols, filter=flt)
            except (FileNotFoundError, OSError) as exc:  # compaction swapped files under us: list again
                last_exc = exc
                time.sleep(0.01)
                continue
            table = table.take(pc.sort_indices(table, sort_keys=[("ts_event", "ascending")]))
            return table.select(wanted)
        raise StoreError(f"could not read {VIEW_NAMES[kind]}: files kept changing ({last_exc})")

    def events(
        self,
        kind: Kind | str,
        *,
        venue: str | Venue | Sequence[str | Venue] | None = None,
        symbol: str | Sequence[str] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[Any]:
        """Like ``read`` but as model events (convenient for small reads)."""

        kind = as_kind(kind)
        table = self.read(kind, venue=venue, symbol=symbol, start_ns=start_ns, end_ns=end_ns)
        return table_to_events(kind, table)

    def connect(
        self, views: Iterable[str] | None = None, *, union_by_name: bool = False
    ) -> duckdb.DuckDBPyConnection:
        """A read-only DuckDB connection with a view per kind (or only the named ``views``) over the files
        visible *now*.

        External file access is limited to the store and the configuration is locked, so SQL can neither
        read other files nor write any. Views are a snapshot: connect again to see newer flushes. Files are
        matched by position (fast: DuckDB prunes files by venue/symbol/date before opening them); files
        from an older schema are detected and the views rebuilt matching columns by name.
        """

        kinds = [as_kind(v) for v in views] if views is not None else list(VIEW_NAMES)
        last_exc: Exception | None = None
        for _ in range(_READ_RETRIES):
            con = duckdb.connect(":memory:")
            try:
                self._add_views(con, kinds, union_by_name=union_by_name)
                return con
            except duckdb.IOException as exc:  # a compaction swapped a file while the views were built
                con.close()
                last_exc = exc
                time.sleep(0.01)
            except (duckdb.BinderException, duckdb.InvalidInputException) as exc:
                con.close()
                if union_by_name:
                    raise StoreError(f"could not open the store's views: {_first_line(exc)}") from None
                union_by_name = True  # files written before a column was added: align them by name
            except BaseException:
                con.close()
                raise
        raise StoreError(f"could not open the store's views: {_first_line(last_exc)}")

    def _add_views(
        self, con: duckdb.DuckDBPyConnection, kinds: Iterable[Kind], *, union_by_name: bool
    ) -> None:
        for kind in kinds:
            view = VIEW_NAMES[kind]
            files = self.files(kind)
            cols = ", ".join(f'"{c.name}"' for c in COLUMNS[kind])
            if files:
                paths = sql_list([str(f) for f in files])
                con.execute(
                    f"CREATE VIEW {view} AS SELECT {cols} FROM read_parquet({paths}, "
                    f"union_by_name={'true' if union_by_name else 'false'}, hive_partitioning=true, "
                    "hive_types={'venue': VARCHAR, 'symbol': VARCHAR, 'date': DATE})"
                )
            else:  # nothing stored yet: an empty view with the right columns, so queries still work
                con.register(f"_empty_{view}", empty_table(kind))
                con.execute(f"CREATE VIEW {view} AS SELECT {cols} FROM _empty_{view}")
        con.execute(f"SET allowed_directories=[{sql_str(str(self.root.resolve()))}]")
        con.execute("SET enable_external_access=false")
        con.execute("SET lock_configuration=true")

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pa.Table:
        """Run one read-only SQL statement (SELECT / EXPLAIN) over the views; anything else → StoreError.

        Only the views the statement names are built (a query on ``liquidations`` does not open the files
        of ``book_deltas``)."""

        views = [v for v in VIEW_NAMES.values() if re.search(rf"\b{v}\b", sql, flags=re.IGNORECASE)]
        union = False
        last_exc: Exception | None = None
        for _ in range(_READ_RETRIES):
            con = self.connect(views, union_by_name=union)
            try:
                try:
                    statements = con.extract_statements(sql)
                except duckdb.Error as exc:
                    raise StoreError(f"bad SQL: {_first_line(exc)}") from None
                if len(statements) != 1:
                    raise StoreError(f"one SQL statement at a time (got {len(statements)})")
                stype = statements[0].type.name
                if stype not in _ALLOWED_STATEMENTS:
                    raise StoreError(
                        f"the store is read-only here: {stype} statements are not allowed (SELECT only)"
                    )
                return arrow_result(con, sql, params)
            except duckdb.IOException as exc:
                last_exc = exc  # a compaction removed a file between listing and reading: list again
                time.sleep(0.01)
            except duckdb.InvalidInputException as exc:
                if union or "schema mismatch" not in str(exc):
                    raise StoreError(f"query failed: {_first_line(exc)}") from None
                union = True  # files of an older schema: rebuild the views matching columns by name
            except duckdb.Error as exc:
                raise StoreError(f"query failed: {_first_line(exc)}") from None
            finally:
                con.close()
        raise StoreError(f"query failed: {_first_line(last_exc)}")

    # ------------------------------------------------------------------ maintenance
    def stats(self) -> StoreStats:
        """Rows, files, bytes, partitions and time span per kind, from Parquet footers (no data read)."""

        out = []
        for kind, view in VIEW_NAMES.items():
            rows = files = size = parts = 0
            first: int | None = None
            last: int | None = None
            for _, path in layout.iter_partitions(self.root, kind):
                visible = layout.visible_files(path)
                if visible:
                    parts += 1
                for f in visible:
                    try:
                        meta = pq.read_metadata(f)
                        size += f.stat().st_size
                    except (FileNotFoundError, OSError):
                        continue
                    files += 1
                    rows += meta.num_rows
                    lo, hi = _ts_range(meta)
                    if lo is not None:
                        first = lo if first is None else min(first, lo)
                    if hi is not None:
                        last = hi if last is None else max(last, hi)
            out.append(KindStats(kind, view, rows, files, size, parts, first, last))
        return StoreStats(self.root, tuple(out))

    def compact(
        self,
        *,
        kind: Kind | str | None = None,
        older_than_ns: int | None = None,
        target_rows: int = 5_000_000,
    ) -> CompactionReport:
        """Merge the small files of each partition into one, dropping identical rows; readers stay
        consistent throughout. ``older_than_ns`` (ns UTC instant): only files last written before it."""

        from .compact import compact

        kinds = [as_kind(kind)] if kind is not None else list(VIEW_NAMES)
        with self._lock("batch", "import or compaction"):
            return compact(self, kinds=kinds, older_than_ns=older_than_ns, target_rows=target_rows)


def _ts_range(meta: pq.FileMetaData) -> tuple[int | None, int | None]:
    try:
        idx = meta.schema.names.index("ts_event")
    except ValueError:
        return None, None
    lo: int | None = None
    hi: int | None = None
    for i in range(meta.num_row_groups):
        st = meta.row_group(i).column(idx).statistics
        if st is None or not st.has_min_max:
            continue
        lo = st.min if lo is None else min(lo, st.min)
        hi = st.max if hi is None else max(hi, st.max)
    return lo, hi


def _first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else repr(exc)
