"""perpscope.store: the embedded event store (append-only Parquet + DuckDB views) and its importers.

``Store()`` opens the store under the data directory; ``store.writer()`` streams events in, ``store.query``
/ ``store.read`` / ``store.events`` read them, ``store.compact`` merges small files. See docs/storage.md.
"""

from .schema import COLUMNS, SCHEMAS, VIEW_NAMES, as_kind, check_table, events_to_table, table_to_events
from .store import BatchWrite, CompactionReport, KindStats, SourceRecord, Store, StoreStats
from .writer import Rejected, StoreWriter

__all__ = [
    "COLUMNS",
    "SCHEMAS",
    "VIEW_NAMES",
    "BatchWrite",
    "CompactionReport",
    "KindStats",
    "Rejected",
    "SourceRecord",
    "Store",
    "StoreStats",
    "StoreWriter",
    "as_kind",
    "check_table",
    "events_to_table",
    "table_to_events",
]
