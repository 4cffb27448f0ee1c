"""Read request files (CSV, XLSX, GeoJSON, GeoPackage, Shapefile) into chunks that keep source line numbers.

Values stay as the file holds them (CSV: every column a string, so ids such as "00123" survive); mapping,
parsing and validation happen later in the pipeline. Each chunk carries the 1-based source line of each
row so a clerk can find a rejected row in the original file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from gridgis.errors import InvalidInputError, UnsupportedFormatError
from gridgis.ingest.csv_reader import FIELD_COUNT_REASON, _check_delimiter, _check_encoding, _iter_csv
from gridgis.ingest.geo_reader import _iter_geo
from gridgis.ingest.table import TableChunk
from gridgis.ingest.xlsx_reader import _iter_xlsx

# Re-exported: callers and tests import these from here.
__all__ = ["FIELD_COUNT_REASON", "TableChunk", "detect_format", "iter_chunks", "read_table"]

_SUFFIXES = {
    ".csv": "csv", ".txt": "csv", ".tsv": "csv",
    ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".geojson": "geojson", ".json": "geojson",
    ".gpkg": "gpkg",
    ".shp": "shp", ".zip": "shp",
}
_SUPPORTED_TEXT = ".csv .txt .tsv .xlsx .xlsm .geojson .json .gpkg .shp .zip(Shapefile)"


def detect_format(path: str | os.PathLike) -> str:
    """Format name ("csv", "xlsx", "geojson", "gpkg", "shp") chosen by the file suffix."""
    suffix = Path(path).suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if suffix in (".xls", ".et"):
        raise UnsupportedFormatError(
            f"不支持旧版 Excel 文件 {path}：请在 Excel/WPS 中“另存为” .xlsx 或 CSV 后再导入 / "
            f"legacy Excel file {path} is not supported: save it as .xlsx or CSV first",
            field="file",
        )
    raise UnsupportedFormatError(
        f"无法识别文件格式 {path}（后缀 {suffix or '无'}），支持：{_SUPPORTED_TEXT} / "
        f"unknown file format of {path}; supported suffixes: {_SUPPORTED_TEXT}",
        field="file",
    )


def iter_chunks(
    path: str | os.PathLike,
    *,
    chunk_rows: int = 50_000,
    sheet: str | int | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> Iterator[TableChunk]:
    """Stream a request file as chunks of at most ``chunk_rows`` rows; always yields at least one chunk.

    ``sheet`` picks the XLSX sheet (or GeoPackage layer) by name or 0-based index. ``encoding`` forces the
    text encoding of a CSV (or of a Shapefile's .dbf); ``delimiter`` forces the CSV delimiter. A CSV
    decoding failure in the middle of a file surfaces when the chunk holding it is read.
    """
    fmt = detect_format(path)
    if not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise InvalidInputError(
            f"chunk_rows 必须是正整数，收到 {chunk_rows!r} / chunk_rows must be a positive integer",
            field="chunk_rows",
        )
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"找不到文件 {p}，请检查路径 / file not found: {p}", field="file")
    # Checks above run at call time; the returned generator does the reading.
    if fmt == "csv":
        codec = _check_encoding(encoding) if encoding else None
        return _iter_csv(p, chunk_rows, codec, _check_delimiter(delimiter) if delimiter else None)
    if fmt == "xlsx":
        return _iter_xlsx(p, chunk_rows, sheet)
    return _iter_geo(p, fmt, chunk_rows, sheet, _check_encoding(encoding) if encoding else None)


def read_table(path: str | os.PathLike, **kwargs) -> TableChunk:
    """The whole file as one chunk (same keyword arguments as :func:`iter_chunks`)."""
    chunks = list(iter_chunks(path, **kwargs))
    if len(chunks) == 1:
        return chunks[0]
    first = chunks[0]
    geo = first.geometry_lng is not None
    return TableChunk(
        frame=pd.concat([c.frame for c in chunks], ignore_index=True),
        lines=np.concatenate([c.lines for c in chunks]),
        geometry_lng=np.concatenate([c.geometry_lng for c in chunks]) if geo else None,
        geometry_lat=np.concatenate([c.geometry_lat for c in chunks]) if geo else None,
        file_crs=first.file_crs,
        format=first.format,
        encoding=first.encoding,
        problems=[p for c in chunks for p in c.problems],
    )
