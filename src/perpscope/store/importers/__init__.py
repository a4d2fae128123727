"""Importers: historical files → the store, idempotently and all-or-nothing per file."""

from .bars import import_bars_csv
from .binance import SUPPORTED_TYPES, import_binance_archive, import_binance_file
from .report import FileImport, ImportReport

__all__ = [
    "SUPPORTED_TYPES",
    "FileImport",
    "ImportReport",
    "import_bars_csv",
    "import_binance_archive",
    "import_binance_file",
]
