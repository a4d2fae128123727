"""Turn the inputs analytics accept (pyarrow tables, lists of model events, dicts of arrays) into numpy
columns, so every function computes over plain float64/int64/object arrays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import PerpscopeError
from ..model import ALL_VENUES

ALL = "all"  # the venue name of cross-venue aggregate rows

Columnar = pa.Table | pa.RecordBatch | Mapping[str, Any] | Sequence[Any]


class MissingColumn(PerpscopeError, KeyError):
    """An input table or event list lacks a column an analytics function needs."""


def _to_numpy(values: Any) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray | pa.Array):
        if pa.types.is_floating(values.type) or pa.types.is_integer(values.type):
            if values.null_count:
                # nulls in numeric columns become NaN (ints are widened to float for that)
                values = values.cast(pa.float64()).fill_null(float("nan"))
            return values.to_numpy()
        if pa.types.is_dictionary(values.type):
            values = values.cast(values.type.value_type)
        return np.asarray(values.to_pylist(), dtype=object)
    return np.asarray(values)


def columns(data: Columnar, names: Sequence[str], *, optional: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """``{name: numpy array}`` for the wanted ``names`` (all required) and ``optional`` ones (absent → not
    in the result). Structs are read attribute by attribute; ``None`` in a numeric struct field → NaN."""

    out: dict[str, np.ndarray] = {}
    if isinstance(data, pa.Table | pa.RecordBatch):
        have = set(data.column_names)
        for name in (*names, *optional):
            if name in have:
                out[name] = _to_numpy(data.column(name))
            elif name in names:
                raise MissingColumn(f"input table has no column {name!r} (has {sorted(have)})")
        return out
    if isinstance(data, Mapping):
        for name in (*names, *optional):
            if name in data:
                out[name] = np.asarray(data[name])
            elif name in names:
                raise MissingColumn(f"input has no column {name!r} (has {sorted(data)})")
        return out
    items = list(data)
    for name in (*names, *optional):
        if items and not hasattr(items[0], name):
            if name in names:
                raise MissingColumn(f"{type(items[0]).__name__} has no field {name!r}")
            continue
        raw = [getattr(item, name) for item in items]
        sample = next((v for v in raw if v is not None), None)
        if isinstance(sample, bool):
            out[name] = np.asarray(raw, dtype=bool)
        elif isinstance(sample, int) and not isinstance(sample, str) and all(v is not None for v in raw):
            out[name] = np.asarray(raw, dtype=np.int64)
        elif isinstance(sample, int | float):
            out[name] = np.asarray([np.nan if v is None else v for v in raw], dtype=np.float64)
        else:
            out[name] = np.asarray([None if v is None else str(v) for v in raw], dtype=object)
    return out


def as_str_array(values: Any) -> np.ndarray:
    """Enum members or strings → an object array of plain ``str``."""

    arr = np.asarray(values, dtype=object)
    return np.asarray([str(v) for v in arr.tolist()], dtype=object) if arr.size else arr


def asof(ts_ns: np.ndarray, values: np.ndarray, at_ns: np.ndarray, *, max_age_ns: int | None) -> np.ndarray:
    """Last value with ``ts <= at`` for each ``at`` (``ts_ns`` sorted); NaN before the first value or when
    the last one is older than ``max_age_ns``."""

    at = np.asarray(at_ns, dtype=np.int64)
    idx = np.searchsorted(ts_ns, at, side="right") - 1
    ok = idx >= 0
    safe = np.where(ok, idx, 0)
    if max_age_ns is not None and ts_ns.size:
        ok &= (at - ts_ns[safe]) <= max_age_ns
    if ts_ns.size == 0:
        return np.full(at.shape, np.nan)
    return np.where(ok, np.asarray(values, dtype=np.float64)[safe], np.nan)


def venue_order(name: str) -> tuple[int, str]:
    order = [v.value for v in ALL_VENUES]
    return (order.index(name) if name in order else len(order), name)


def group_by(keys: Sequence[np.ndarray], ts_ns: np.ndarray) -> dict[tuple[str, ...], np.ndarray]:
    """Row indices per distinct key tuple (string keys), each index array in time order."""

    if ts_ns.size == 0:
        return {}
    str_keys = [as_str_array(k).astype(str) for k in keys]
    order = np.lexsort((ts_ns, *reversed(str_keys)))
    change = np.zeros(order.size - 1, dtype=bool)
    for k in str_keys:
        ks = k[order]
        change |= ks[1:] != ks[:-1]
    cuts = np.flatnonzero(change) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [order.size]))
    return {tuple(str(k[order[s]]) for k in str_keys): order[s:e] for s, e in zip(starts, ends, strict=True)}
