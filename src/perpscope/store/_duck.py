"""Small DuckDB helpers shared by the store modules."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa


def arrow_result(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> pa.Table:
    """Run ``sql`` and fetch the result as an Arrow table (relation API: no extra copy)."""

    rel = con.sql(sql, params=params)
    if rel is None:  # a statement without a result
        return pa.table({})
    fetch = getattr(rel, "to_arrow_table", None) or rel.fetch_arrow_table  # duckdb < 1.4 name
    return fetch()


def sql_str(text: str) -> str:
    """A SQL string literal."""

    return "'" + text.replace("'", "''") + "'"


def sql_list(items: list[str]) -> str:
    return "[" + ", ".join(sql_str(i) for i in items) + "]"
