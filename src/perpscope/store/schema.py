"""Arrow schema of each stored event kind, derived from the ``perpscope.model`` structs, and the conversions
events ↔ Arrow tables.

One table (and one DuckDB view) per ``Kind``. Columns are the struct's fields in declaration order: enums
as their string values, timestamps as int64 ns UTC, book levels as ``list<struct<price double, size
double>>``, ``Cascade.venues`` as ``list<string>``. A field typed ``X | None`` is nullable; every other
field must be present in every row. Deriving the schema from the model keeps the store in step when a
field is added (older files then read the new column as null).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import StoreError
from ..model import EVENT_TYPES, Event, Kind

#: DuckDB view name of each kind (also the name users type in ``perpscope query``).
VIEW_NAMES: dict[Kind, str] = {
    Kind.LIQUIDATION: "liquidations",
    Kind.TRADE: "trades",
    Kind.OPEN_INTEREST: "open_interest",
    Kind.FUNDING: "funding",
    Kind.MARK_PRICE: "mark_prices",
    Kind.CANDLE: "candles",
    Kind.BAR: "bars",
    Kind.BOOK_SNAPSHOT: "book_snapshots",
    Kind.BOOK_DELTA: "book_deltas",
    Kind.CASCADE: "cascades",
}

KIND_OF_TYPE: dict[type[Event], Kind] = {cls: kind for kind, cls in EVENT_TYPES.items()}

LEVEL_TYPE = pa.struct([("price", pa.float64()), ("size", pa.float64())])
LEVELS_TYPE = pa.list_(LEVEL_TYPE)

# Symbols become directory names: keep them to what venues actually use.
_SYMBOL_OK = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$"


@dataclass(frozen=True, slots=True)
class Column:
    """One stored column: its Arrow type, whether nulls are allowed, and the enum it must belong to."""

    name: str
    type: pa.DataType
    nullable: bool
    enum: tuple[str, ...] | None = None  # allowed values of a string (or list<string>) column
    levels: bool = False  # a list of (price, size) book levels


def _column(name: str, info: msgspec.inspect.Type) -> Column:
    nullable = False
    if isinstance(info, msgspec.inspect.UnionType):
        rest = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        if len(rest) != 1:
            raise TypeError(f"store: cannot map union field {name!r}")
        nullable = len(rest) != len(info.types)
        info = rest[0]
    if isinstance(info, msgspec.inspect.IntType):
        return Column(name, pa.int64(), nullable)
    if isinstance(info, msgspec.inspect.FloatType):
        return Column(name, pa.float64(), nullable)
    if isinstance(info, msgspec.inspect.BoolType):
        return Column(name, pa.bool_(), nullable)
    if isinstance(info, msgspec.inspect.StrType):
        return Column(name, pa.string(), nullable)
    if isinstance(info, msgspec.inspect.EnumType):
        return Column(name, pa.string(), nullable, enum=tuple(str(m.value) for m in info.cls))
    if isinstance(info, msgspec.inspect.ListType):
        item = info.item_type
        if isinstance(item, msgspec.inspect.TupleType) and len(item.item_types) == 2:
            return Column(name, LEVELS_TYPE, nullable, levels=True)
        if isinstance(item, msgspec.inspect.EnumType):
            return Column(name, pa.list_(pa.string()), nullable, enum=tuple(str(m.value) for m in item.cls))
    raise TypeError(f"store: no Arrow mapping for field {name!r} of type {info!r}")


def _columns_of(cls: type[Event]) -> tuple[Column, ...]:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    return tuple(_column(f.name, f.type) for f in info.fields)


COLUMNS: dict[Kind, tuple[Column, ...]] = {kind: _columns_of(cls) for kind, cls in EVENT_TYPES.items()}
SCHEMAS: dict[Kind, pa.Schema] = {
    kind: pa.schema([pa.field(c.name, c.type, nullable=True) for c in cols]) for kind, cols in COLUMNS.items()
}


def as_kind(kind: Kind | str) -> Kind:
    """A ``Kind`` from its value (``"trade"``), its view name (``"trades"``) or a Kind."""

    if isinstance(kind, Kind):
        return kind
    text = str(kind).strip().lower()
    for k, view in VIEW_NAMES.items():
        if text in (k.value, view):
            return k
    choices = ", ".join(VIEW_NAMES.values())
    raise StoreError(f"unknown event kind {kind!r}; choose from {choices}")


def empty_table(kind: Kind) -> pa.Table:
    return SCHEMAS[kind].empty_table()


class RowProblem(ValueError):
    """A row (or column) that does not fit the kind's schema; ``row`` is None for a whole-column problem."""

    def __init__(self, column: str, row: int | None, reason: str) -> None:
        super().__init__(f"{column}: {reason}")
        self.column = column
        self.row = row
        self.reason = reason


def _first_true(mask: pa.ChunkedArray | pa.Array) -> int | None:
    arr = np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)
    hits = np.flatnonzero(arr)
    return int(hits[0]) if hits.size else None


def check_table(kind: Kind, table: pa.Table) -> pa.Table:
    """Conform ``table`` to the kind's schema (column order, types) and check every row: required columns
    not null, enum values known, floats finite, symbols usable as directory names, timestamps ≥ 0. Raises
    RowProblem naming the column and the first bad row. Missing nullable columns are filled with nulls."""

    arrays = []
    n = table.num_rows
    for col in COLUMNS[kind]:
        if col.name in table.column_names:
            arr = table.column(col.name)
            if arr.type != col.type:
                try:
                    arr = arr.cast(col.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                    raise RowProblem(
                        col.name, None, f"cannot store {arr.type} as {col.type}: {exc}"
                    ) from None
        elif col.nullable:
            arr = pa.nulls(n, col.type)
        else:
            raise RowProblem(col.name, None, "required column is missing")
        if not col.nullable and arr.null_count:
            raise RowProblem(col.name, _first_true(pc.is_null(arr)), "missing value")
        if col.enum is not None:
            values = pc.list_flatten(arr) if pa.types.is_list(col.type) else arr
            bad = pc.invert(pc.is_in(values, value_set=pa.array(col.enum)))
            row = _first_true(bad)
            if row is not None:
                if pa.types.is_list(col.type):
                    row = int(pc.list_parent_indices(arr)[row].as_py())
                raise RowProblem(col.name, row, f"not one of {', '.join(col.enum)}")
        if pa.types.is_floating(col.type):
            row = _first_true(pc.invert(pc.is_finite(arr)))
            if row is not None:
                raise RowProblem(col.name, row, "not a finite number")
        if col.levels:
            flat = pc.list_flatten(arr)
            for part in ("price", "size"):
                child = pc.struct_field(flat, part)
                bad = pc.or_(pc.is_null(child), pc.invert(pc.is_finite(child)))
                row = _first_true(bad)
                if row is not None:
                    parent = int(pc.list_parent_indices(arr)[row].as_py())
                    raise RowProblem(col.name, parent, f"book level {part} is not a finite number")
        if col.name == "symbol":
            row = _first_true(pc.invert(pc.match_substring_regex(arr, _SYMBOL_OK)))
            if row is not None:
                raise RowProblem(col.name, row, "not a usable symbol (letters, digits, _ . - only)")
        if col.name == "ts_event":
            row = _first_true(pc.less(arr, 0))
            if row is not None:
                raise RowProblem(col.name, row, "negative timestamp")
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=SCHEMAS[kind])


def _field_array(col: Column, values: list[Any]) -> pa.Array:
    if col.levels:
        return pa.array(values, type=LEVELS_TYPE)
    return pa.array(values, type=col.type)


def events_to_table(kind: Kind, events: Sequence[Event]) -> pa.Table:
    """Events of one kind → a checked Arrow table. Raises RowProblem (or Arrow errors) on a bad value."""

    arrays = []
    for col in COLUMNS[kind]:
        values = [getattr(e, col.name) for e in events]
        try:
            arrays.append(_field_array(col, values))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as exc:
            raise RowProblem(col.name, None, str(exc)) from None
    return check_table(kind, pa.Table.from_arrays(arrays, schema=SCHEMAS[kind]))


def event_problem(event: object) -> str | None:
    """Why ``event`` cannot be stored, or None. Slow (one event at a time): used to pick out bad events
    after a batch failed, so a bad event is counted and dropped, never written."""

    kind = KIND_OF_TYPE.get(type(event))
    if kind is None:
        return f"not a perpscope event: {type(event).__name__}"
    assert isinstance(event, Event)
    try:
        events_to_table(kind, [event])
    except RowProblem as exc:
        return f"{kind.value}.{exc.column}: {exc.reason}"
    except Exception as exc:  # anything Arrow raises on a weird value
        return f"{kind.value}: {exc}"
    return None


def split_good_events(kind: Kind, events: Sequence[Event]) -> tuple[pa.Table, list[tuple[Event, str]]]:
    """Convert a batch, dropping the events that cannot be stored; returns the table and the rejects."""

    try:
        return events_to_table(kind, events), []
    except Exception:
        pass
    good: list[Event] = []
    bad: list[tuple[Event, str]] = []
    for e in events:
        problem = event_problem(e)
        if problem is None:
            good.append(e)
        else:
            bad.append((e, problem))
    return (events_to_table(kind, good) if good else empty_table(kind)), bad


def group_events(events: Iterable[object]) -> tuple[dict[Kind, list[Event]], list[tuple[object, str]]]:
    """Split events by kind; anything that is not a model event is returned as rejected."""

    out: dict[Kind, list[Event]] = {}
    rejected: list[tuple[object, str]] = []
    for e in events:
        kind = KIND_OF_TYPE.get(type(e))
        if kind is None:
            rejected.append((e, f"not a perpscope event: {type(e).__name__}"))
            continue
        out.setdefault(kind, []).append(e)  # type: ignore[arg-type]
    return out, rejected


def _py_level_fix(rows: list[dict[str, Any]], level_cols: list[str]) -> None:
    for row in rows:
        for name in level_cols:
            levels = row.get(name)
            if levels is not None:
                row[name] = [(lv["price"], lv["size"]) for lv in levels]


def table_to_events(kind: Kind, table: pa.Table) -> list[Event]:
    """Arrow rows of one kind → model events (for small reads)."""

    cls = EVENT_TYPES[kind]
    names = [c.name for c in COLUMNS[kind] if c.name in table.column_names]
    rows = table.select(names).to_pylist()
    level_cols = [c.name for c in COLUMNS[kind] if c.levels]
    if level_cols:
        _py_level_fix(rows, level_cols)
    for row in rows:  # drop nulls of fields that have non-None defaults (e.g. a column added later)
        for key in [k for k, v in row.items() if v is None]:
            del row[key]
    return msgspec.convert(rows, list[cls])  # type: ignore[valid-type]


def schema_doc(kind: Kind) -> list[tuple[str, str, bool]]:
    """``(column, type, nullable)`` for docs and ``perpscope store schema``."""

    return [(c.name, str(c.type), c.nullable) for c in COLUMNS[kind]]
