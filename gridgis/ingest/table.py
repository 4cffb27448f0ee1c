"""The reader output (:class:`TableChunk`) and the header and frame helpers every format reader shares."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gridgis.errors import InvalidInputError
from gridgis.models import RowProblem

_DATA_LIKE = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$|^\d{4}[-/.年]\d{1,2}")


@dataclass
class TableChunk:
    """A block of source rows, values as read, with where each row came from."""

    frame: pd.DataFrame
    lines: np.ndarray
    geometry_lng: np.ndarray | None
    geometry_lat: np.ndarray | None
    file_crs: str | None
    format: str
    encoding: str | None
    # Rows the reader itself could not turn into a frame row (CSV rows with a wrong number of fields):
    # kept here so the pipeline reports them instead of the reader dropping them silently.
    problems: list[RowProblem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frame)


def _header_names(cells: list, path: Path, line: int) -> list[str]:
    """Clean, unique column names from a header row; raises when the row looks like data, not a header."""
    names = ["" if v is None else str(v).strip() for v in cells]
    filled = [n for n in names if n]
    data_like = sum(1 for v in cells if v is not None and _looks_like_data(v))
    if not filled or data_like * 2 >= len(filled):
        raise InvalidInputError(
            f"文件 {path} 第 {line} 行应为表头（列名），但看起来是数据或为空；请在第一行加上列名 / "
            f"{path} line {line} should be the header row with column names but looks like data or is empty",
            field="header",
            line=line,
        )
    out: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(names, start=1):
        base = name or f"unnamed_{i}"
        candidate, k = base, 1
        # Duplicate headers (two 备注 columns) would make column access ambiguous: suffix like pandas does.
        while candidate in seen:
            candidate = f"{base}.{k}"
            k += 1
        seen.add(candidate)
        out.append(candidate)
    return out


def _looks_like_data(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)) or hasattr(value, "year"):
        return True
    return bool(_DATA_LIKE.match(str(value).strip()))


def _find_header(rows: list[list], max_scan: int = 20) -> int:
    """Index of the header row: skips title rows such as "2024年1月12345工单明细" above the real header."""
    counts = [sum(1 for v in r if v is not None and str(v).strip()) for r in rows[:max_scan]]
    if any(c >= 2 for c in counts):
        return next(i for i, c in enumerate(counts) if c >= 2)
    return next((i for i, c in enumerate(counts) if c >= 1), 0)



def _object_frame(rows: list[tuple], names: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=names, dtype=object) if rows else pd.DataFrame(
        {n: pd.Series([], dtype=object) for n in names}
    )
    # Pure-text columns become the same ``str`` dtype a CSV gives; mixed ones (ids typed as numbers,
    # dates as datetime or serial floats) stay object so the cell values reach the parsers unchanged.
    for name in names:
        if pd.api.types.infer_dtype(frame[name], skipna=True) == "string":
            frame[name] = frame[name].astype("str")
    return frame


def _empty_chunk(names: list[str], fmt: str, encoding: str | None, geo: bool = False,
                 crs: str | None = None) -> TableChunk:
    return TableChunk(
        frame=pd.DataFrame({n: pd.Series([], dtype="str") for n in names}),
        lines=np.zeros(0, dtype=np.int64),
        geometry_lng=np.zeros(0) if geo else None,
        geometry_lat=np.zeros(0) if geo else None,
        file_crs=crs, format=fmt, encoding=encoding,
    )
