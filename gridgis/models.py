"""Small dataclasses shared by modules: row problems and ingest reports."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class RowProblem:
    """One rejected source row: where it was, which field, the value, and why.

    ``line`` is the 1-based line (CSV: physical line incl. the header line; XLSX: sheet row;
    GeoJSON/GPKG: feature number starting at 1) so a clerk can find it in the original file.
    """

    line: int
    field: str
    value: str
    reason: str
    raw: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class IngestReport:
    """What one ingest batch did, for the CLI summary, the API and the ``ingest_batches`` row."""

    file: str
    source: str
    batch_id: str | None = None
    read: int = 0
    stored: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    outside_grids: int = 0
    dry_run: bool = False
    rejected: list[RowProblem] = field(default_factory=list)
    geocoded_by_level: Counter = field(default_factory=Counter)
    classified_by_rule: Counter = field(default_factory=Counter)
    per_category: Counter = field(default_factory=Counter)
    timings: Counter = field(default_factory=Counter)  # seconds per pipeline stage

    @property
    def rejected_count(self) -> int:
        return len({p.line for p in self.rejected})

    def rejected_by_reason(self) -> Counter:
        return Counter(p.reason for p in self.rejected)

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "source": self.source,
            "batch_id": self.batch_id,
            "read": self.read,
            "stored": self.stored,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "outside_grids": self.outside_grids,
            "rejected": self.rejected_count,
            "rejected_by_reason": dict(self.rejected_by_reason()),
            "geocoded_by_level": dict(self.geocoded_by_level),
            "classified_by_rule": dict(self.classified_by_rule),
            "per_category": dict(self.per_category),
            "dry_run": self.dry_run,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }
