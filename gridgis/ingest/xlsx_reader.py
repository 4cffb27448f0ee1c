"""Stream an XLSX sheet into chunks, skipping title rows above the header and keeping sheet row numbers."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gridgis.errors import InvalidInputError, UnsupportedFormatError
from gridgis.ingest.table import TableChunk, _empty_chunk, _find_header, _header_names, _object_frame

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _quiet_openpyxl() -> Iterator[None]:
    # openpyxl warns about styling features it drops (data validation, default styles); they do not
    # touch cell values, and warnings are errors under pytest, so hush only openpyxl's own UserWarnings.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl(\.|$)")
        yield


def _iter_xlsx(path: Path, chunk_rows: int, sheet: str | int | None) -> Iterator[TableChunk]:
    import openpyxl

    try:
        with _quiet_openpyxl():
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zip, XML and openpyxl errors all mean "not a readable workbook"
        raise UnsupportedFormatError(
            f"无法读取 Excel 文件 {path}（文件损坏或不是 .xlsx）；请用 Excel/WPS 打开后另存为 .xlsx 或 CSV / "
            f"cannot read Excel file {path} ({type(exc).__name__}); re-save it as .xlsx or CSV",
            field="file",
        ) from exc
    try:
        ws = _pick_sheet(wb, sheet, path)
        # Some exporters write a wrong <dimension> (A1:A1); recompute it from the rows themselves.
        ws.reset_dimensions()
        yield from _xlsx_chunks(ws, path, chunk_rows)
    finally:
        wb.close()


def _pick_sheet(wb, sheet: str | int | None, path: Path):
    sheets = wb.worksheets
    names = [ws.title for ws in sheets]
    if sheet is None:
        return sheets[0]
    if isinstance(sheet, int) and 0 <= sheet < len(sheets):
        return sheets[sheet]
    if isinstance(sheet, str) and sheet in names:
        return sheets[names.index(sheet)]
    raise InvalidInputError(
        f"文件 {path} 中没有工作表 {sheet!r}；现有工作表：{', '.join(names)} / "
        f"no sheet {sheet!r} in {path}; sheets: {', '.join(names)}",
        field="sheet",
    )


def _xlsx_chunks(ws, path: Path, chunk_rows: int) -> Iterator[TableChunk]:
    rows_iter = ws.iter_rows(values_only=True)  # missing rows come back empty, so index + 1 = row number
    with _quiet_openpyxl():
        head = [list(r) for _, r in zip(range(20), rows_iter, strict=False)]
    if not any(any(v is not None for v in r) for r in head):
        yield _empty_chunk([], "xlsx", None)
        return
    h = _find_header(head)
    if h:
        log.info("%s: header on sheet row %d, %d title row(s) above it skipped", path, h + 1, h)
    names = _header_names(head[h], path, h + 1)
    width = len(names)
    pending = [(i + 1, r) for i, r in enumerate(head) if i > h]
    next_row = len(head) + 1
    emitted = False
    while True:
        batch_rows: list[tuple] = []
        batch_lines: list[int] = []
        with _quiet_openpyxl():
            while len(batch_lines) < chunk_rows:
                if pending:
                    row_no, row = pending.pop(0)
                else:
                    row = next(rows_iter, None)
                    if row is None:
                        break
                    row_no, next_row = next_row, next_row + 1
                # openpyxl is cell-by-cell Python anyway; this loop is the cheap part of reading XLSX.
                if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
                    continue
                if len(row) > width and any(v is not None for v in row[width:]):
                    log.warning("%s row %d: cells right of the last header column ignored", path, row_no)
                row = tuple(row[:width]) + (None,) * (width - len(row))
                batch_rows.append(row)
                batch_lines.append(row_no)
        if batch_rows or not emitted:
            yield TableChunk(
                frame=_object_frame(batch_rows, names),
                lines=np.asarray(batch_lines, dtype=np.int64),
                geometry_lng=None, geometry_lat=None, file_crs=None, format="xlsx", encoding=None,
            )
            emitted = True
        if len(batch_lines) < chunk_rows:
            return
