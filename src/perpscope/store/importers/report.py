"""What an import did, file by file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ...model import Kind

Status = Literal["stored", "replaced", "skipped"]


@dataclass(frozen=True, slots=True)
class FileImport:
    """One imported file: ``stored`` (new), ``replaced`` (same source, new content) or ``skipped`` (already
    stored with the same content)."""

    path: str
    source_id: str
    status: Status
    kind: Kind
    rows: int
    symbol: str
    data_type: str  # "klines", "aggTrades", … or "bars"
    first_ts: int | None = None  # ns UTC (None when skipped)
    last_ts: int | None = None
    ignored_columns: tuple[str, ...] = ()


@dataclass(slots=True)
class ImportReport:
    files: list[FileImport] = field(default_factory=list)

    def add(self, item: FileImport) -> None:
        self.files.append(item)

    def rows_by_kind(self) -> dict[Kind, int]:
        """Rows written per kind (skipped files count nothing)."""

        out: dict[Kind, int] = {}
        for f in self.files:
            if f.status != "skipped":
                out[f.kind] = out.get(f.kind, 0) + f.rows
        return out

    @property
    def rows(self) -> int:
        return sum(self.rows_by_kind().values())

    @property
    def skipped(self) -> list[FileImport]:
        return [f for f in self.files if f.status == "skipped"]

    def extend(self, other: ImportReport) -> None:
        self.files.extend(other.files)
