"""Read request files (CSV, XLSX, GeoJSON, GeoPackage, Shapefile) into chunks that keep source line numbers.

Values stay as the file holds them (CSV: every column a string, so ids such as "00123" survive); mapping,
parsing and validation happen later in the pipeline. Each chunk carries the 1-based source line of each
row so a clerk can find a rejected row in the original file.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import logging
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gridgis.errors import InvalidInputError, UnsupportedFormatError
from gridgis.models import RowProblem

log = logging.getLogger(__name__)

_SUFFIXES = {
    ".csv": "csv", ".txt": "csv", ".tsv": "csv",
    ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".geojson": "geojson", ".json": "geojson",
    ".gpkg": "gpkg",
    ".shp": "shp", ".zip": "shp",
}
_SUPPORTED_TEXT = ".csv .txt .tsv .xlsx .xlsm .geojson .json .gpkg .shp .zip(Shapefile)"
_SAMPLE_BYTES = 1 << 20     # encoding and delimiter are decided on the first MiB
_BLOCK_BYTES = 4 << 20      # pyarrow block size: measured fastest range on 300 MB files is 1–4 MiB
_SNIFF_RECORDS = 50
_DELIMITERS = (",", "\t", ";", "|")
_DATA_LIKE = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$|^\d{4}[-/.年]\d{1,2}")
FIELD_COUNT_REASON = "列数不符 / wrong number of fields"


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


# --------------------------------------------------------------------------------------------- headers
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


# ------------------------------------------------------------------------------------------------ XLSX
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


# ------------------------------------------------------------------------------ GeoJSON / GPKG / SHP
def _iter_geo(path: Path, fmt: str, chunk_rows: int, layer: str | int | None,
              encoding: str | None) -> Iterator[TableChunk]:
    import pyogrio
    import pyogrio.errors as ogr_errors
    import shapely

    ogr_fail = (ogr_errors.DataSourceError, ogr_errors.DataLayerError)
    try:
        layers = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except ogr_fail as exc:
        raise UnsupportedFormatError(
            f"无法读取地理数据文件 {path}（文件损坏或格式不符）：{exc} / "
            f"cannot read {fmt} file {path}: {exc}",
            field="file",
        ) from exc
    chosen = _pick_layer(layers, layer, path)
    if fmt == "shp" and encoding is None:
        encoding = _shapefile_encoding(path)
    kwargs = {"encoding": encoding} if encoding else {}
    try:
        with pyogrio.raw.open_arrow(path, layer=chosen, batch_size=chunk_rows, use_pyarrow=True,
                                    **kwargs) as (meta, reader):
            crs = meta.get("crs") or ("EPSG:4326" if fmt == "geojson" else None)
            fields = [str(f) for f in meta["fields"]]
            start = 1
            emitted = False
            for batch in reader:
                geom_cols = [n for n in batch.schema.names if n not in fields]
                attrs = batch.select(fields).to_pandas()
                n = batch.num_rows
                lng = np.full(n, np.nan)
                lat = np.full(n, np.nan)
                if geom_cols:
                    geoms = shapely.from_wkb(batch.column(geom_cols[0]).to_numpy(zero_copy_only=False))
                    lng, lat = _point_xy(geoms, shapely)
                yield TableChunk(attrs, np.arange(start, start + n, dtype=np.int64), lng, lat, crs, fmt,
                                 encoding)
                start += n
                emitted = True
            if not emitted:
                yield _empty_chunk(fields, fmt, encoding, geo=True, crs=crs)
    except ogr_fail as exc:
        raise UnsupportedFormatError(
            f"读取 {path} 图层 {chosen!r} 失败：{exc} / failed reading layer {chosen!r} of {path}: {exc}",
            field="file",
        ) from exc


def _pick_layer(layers: list[str], layer: str | int | None, path: Path) -> str:
    if not layers:
        raise InvalidInputError(f"文件 {path} 中没有图层 / {path} holds no layer", field="file")
    if layer is None:
        return layers[0]  # explicit, so pyogrio does not warn about several layers
    if isinstance(layer, int) and 0 <= layer < len(layers):
        return layers[layer]
    if isinstance(layer, str) and layer in layers:
        return layer
    raise InvalidInputError(
        f"文件 {path} 中没有图层 {layer!r}；现有图层：{', '.join(layers)} / "
        f"no layer {layer!r} in {path}; layers: {', '.join(layers)}",
        field="sheet",
    )


def _point_xy(geoms: np.ndarray, shapely) -> tuple[np.ndarray, np.ndarray]:
    """X/Y of point features; NaN for missing, empty or non-point geometries (rejected later)."""
    type_id = shapely.get_type_id(geoms)  # -1 for None
    # A one-part MultiPoint is what several desktop tools write for plain points: accept it.
    single_multi = (type_id == 4) & (shapely.get_num_geometries(geoms) == 1)
    pts = np.where(single_multi, shapely.get_geometry(geoms, 0), geoms)
    is_point = (type_id == 0) | single_multi
    x = np.where(is_point, shapely.get_x(np.where(is_point, pts, None)), np.nan)
    y = np.where(is_point, shapely.get_y(np.where(is_point, pts, None)), np.nan)
    return x.astype(np.float64), y.astype(np.float64)


def _shapefile_encoding(path: Path) -> str | None:
    """Encoding of a .dbf without .cpg: GDAL would assume Latin-1 and garble GBK Chinese attributes."""
    if path.suffix.lower() != ".shp" or any(path.with_suffix(s).exists() for s in (".cpg", ".CPG")):
        return None
    dbf = next((p for p in (path.with_suffix(".dbf"), path.with_suffix(".DBF")) if p.exists()), None)
    if dbf is None:
        return None
    with open(dbf, "rb") as fh:
        head = fh.read(_SAMPLE_BYTES)
    if len(head) < 32 or head[29] != 0:
        return None  # not a DBF, or it declares its code page (LDID byte), which GDAL honours
    records = head[int.from_bytes(head[8:10], "little"):]
    if records.isascii():
        return None
    for codec in ("utf-8", "gb18030"):  # GB18030 covers the GBK that ArcGIS in China writes
        if _decodes(records, codec, complete=False):
            return codec
    return None


# ------------------------------------------------------------------------------------------------- CSV
def _iter_csv(path: Path, chunk_rows: int, encoding: str | None,
              delimiter: str | None) -> Iterator[TableChunk]:
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    with open(path, "rb") as fh:
        sample = fh.read(_SAMPLE_BYTES + 1)
    complete = len(sample) <= _SAMPLE_BYTES
    sample = sample[:_SAMPLE_BYTES]
    codec = encoding or _detect_encoding(sample, complete=complete, path=path)
    text = _decode_sample(sample, codec, complete, path)
    if not text.strip():
        yield _empty_chunk([], "csv", codec)
        return
    delim = delimiter or _sniff_delimiter(text, path.suffix.lower())
    recs = _records(text, delim, _SNIFF_RECORDS)
    h = _find_header([r for r, _ in recs])
    header_start = recs[h - 1][1] + 1 if h else 1
    if h:
        log.info("%s: header on line %d, %d title line(s) above it skipped", path, header_start, h)
    names = _header_names(recs[h][0], path, header_start)
    data = [r for r, _ in recs[h + 1:] if r]
    if data and all(len(r) == len(names) + 1 and not r[-1].strip() for r in data):
        # Some systems end every data row with a delimiter but not the header: one more (empty) column
        # instead of rejecting every row for its field count.
        names.append(f"unnamed_{len(names) + 1}")
    if complete and len(recs) < _SNIFF_RECORDS and not any(r for r, _ in recs[h + 1:]):
        yield _empty_chunk(names, "csv", codec)  # header only: nothing to import, not an error
        return
    # pyarrow counts records from the top of the file (titles and header included); records before the
    # first data row may span several physical lines (quoted newlines), hence the extra offset.
    tracker = _LineTracker(next_rec=h + 2, extra=recs[h][1] - (h + 1), expected=len(names))
    read_opts = pa_csv.ReadOptions(
        use_threads=False,  # keeps pyarrow's row numbers for bad rows; streaming is serial anyway
        block_size=_BLOCK_BYTES, skip_rows=h + 1, column_names=names,
        encoding="utf8" if codec in ("utf-8", "utf-8-sig") else codec,
    )
    parse_opts = pa_csv.ParseOptions(
        delimiter=delim, newlines_in_values=True, ignore_empty_lines=False,
        invalid_row_handler=tracker.handler,
    )
    convert_opts = pa_csv.ConvertOptions(
        column_types={n: pa.string() for n in names},  # never let "00123" become 123
        null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True,
    )
    buf = _RowBuffer(names, codec, tracker)
    try:
        reader = pa_csv.open_csv(path, read_options=read_opts, parse_options=parse_opts,
                                 convert_options=convert_opts)
        for batch in reader:
            lines = tracker.place(_embedded_newlines(batch))
            keep = ~_all_null(batch)  # blank lines and ",,,," rows: nothing to import
            if not keep.all():
                batch = batch.filter(pa.array(keep))
                lines = lines[keep]
            buf.add(batch, lines)
            while buf.rows >= chunk_rows:
                yield buf.take(chunk_rows)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise _csv_read_error(path, codec, exc) from exc
    tracker.finish()
    if buf.rows or not buf.emitted or tracker.ready:
        yield buf.take(buf.rows)


class _RowBuffer:
    """Collects record batches and cuts them into chunks of exactly ``n`` rows."""

    def __init__(self, names: list[str], codec: str, tracker: _LineTracker) -> None:
        self.names, self.codec, self.tracker = names, codec, tracker
        self.batches: list = []
        self.lines: list[np.ndarray] = []
        self.rows = 0
        self.emitted = False

    def add(self, batch, lines: np.ndarray) -> None:
        if batch.num_rows:
            self.batches.append(batch)
            self.lines.append(lines)
            self.rows += batch.num_rows

    def take(self, n: int) -> TableChunk:
        import pyarrow as pa

        lines = np.concatenate(self.lines) if self.lines else np.zeros(0, dtype=np.int64)
        if self.batches:
            table = pa.Table.from_batches(self.batches)
            frame = table.slice(0, n).to_pandas()
            rest = table.slice(n)
            self.batches = rest.to_batches() if rest.num_rows else []
        else:
            frame = _empty_chunk(self.names, "csv", self.codec).frame
        self.lines = [lines[n:]] if len(lines) > n else []
        self.rows -= n
        self.emitted = True
        return TableChunk(frame, lines[:n], None, None, None, "csv", self.codec, self.tracker.take_problems())


class _LineTracker:
    """Turns pyarrow's record order into physical source lines, and bad-field-count rows into problems."""

    def __init__(self, next_rec: int, extra: int, expected: int) -> None:
        self.next_rec = next_rec   # file-wide record number of the next data record
        self.extra = extra         # newlines inside quoted values of all records before next_rec
        self.expected = expected
        self.invalid: dict[int, tuple[str, int]] = {}
        self.ready: list[RowProblem] = []

    def handler(self, row) -> str:
        number = row.number if row.number is not None else self.next_rec
        self.invalid[number] = (row.text, row.actual_columns)
        return "skip"

    def place(self, nl: np.ndarray) -> np.ndarray:
        n = len(nl)
        pending = np.array(sorted(r for r in self.invalid if r >= self.next_rec), dtype=np.int64)
        recs = np.arange(self.next_rec, self.next_rec + n + len(pending), dtype=np.int64)
        valid = recs[~np.isin(recs, pending)][:n]
        end = int(valid[-1]) + 1 if n else self.next_rec
        bad = pending[pending < end]
        bad_nl = np.array([_count_newlines(self.invalid[r][0]) for r in bad], dtype=np.int64)
        all_rec = np.concatenate([valid, bad])
        all_nl = np.concatenate([nl.astype(np.int64), bad_nl])
        order = np.argsort(all_rec, kind="stable")
        nl_sorted = all_nl[order]
        lines = np.empty_like(all_rec)
        lines[order] = all_rec[order] + self.extra + np.cumsum(nl_sorted) - nl_sorted
        for rec, line in zip(bad, lines[n:], strict=True):
            self._problem(int(rec), int(line))
        self.extra += int(all_nl.sum())
        self.next_rec = end
        return lines[:n]

    def finish(self) -> None:
        for rec in sorted(r for r in self.invalid if r >= self.next_rec):
            line = rec + self.extra
            self.extra += _count_newlines(self.invalid[rec][0])
            self._problem(rec, line)
        self.next_rec = max([self.next_rec, *(r + 1 for r in self.invalid)])

    def _problem(self, rec: int, line: int) -> None:
        text, found = self.invalid.pop(rec)
        self.ready.append(RowProblem(
            line=line, field="row", value=text if len(text) <= 200 else text[:200] + "…",
            reason=FIELD_COUNT_REASON, raw={"expected": self.expected, "found": found},
        ))

    def take_problems(self) -> list[RowProblem]:
        out, self.ready = self.ready, []
        return out


def _count_newlines(text: str) -> int:
    return len(re.findall(r"\r\n|\r|\n", text))


def _embedded_newlines(batch) -> np.ndarray:
    import pyarrow.compute as pc

    nl = np.zeros(batch.num_rows, dtype=np.int64)
    for col in batch.columns:
        # Fast path: a plain byte search over the column's data buffer (pyarrow's regex kernels take
        # 3x the whole parse time); count precisely only in the rare columns holding line breaks.
        data = col.buffers()[2]
        raw = data.to_pybytes() if data is not None else b""
        if b"\n" in raw or b"\r" in raw:
            nl += pc.fill_null(pc.count_substring_regex(col, "\r\n|\r|\n"), 0).to_numpy().astype(np.int64)
    return nl


def _all_null(batch) -> np.ndarray:
    mask = np.ones(batch.num_rows, dtype=bool)
    for col in batch.columns:
        mask &= col.is_null().to_numpy(zero_copy_only=False)
    return mask


def _check_encoding(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise UnsupportedFormatError(
            f"未知的文本编码 {name!r}，可用如 utf-8、gb18030、gbk / unknown text encoding {name!r}; "
            "try utf-8 or gb18030",
            field="encoding",
        ) from None


def _check_delimiter(delimiter: str) -> str:
    d = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(delimiter, delimiter)
    if len(d) != 1 or d in "\"\r\n":
        raise InvalidInputError(
            f"分隔符必须是单个字符（如 , ; | 或 tab），收到 {delimiter!r} / "
            f"the delimiter must be one character such as , ; | or tab, got {delimiter!r}",
            field="delimiter",
        )
    return d


def _decodes(data: bytes, codec: str, complete: bool) -> bool:
    try:
        codecs.getincrementaldecoder(codec)(errors="strict").decode(data, final=complete)
    except UnicodeDecodeError:
        return False
    return True


def _mostly_utf8(sample: bytes, complete: bool) -> bool:
    """True when most non-ASCII lines are valid UTF-8: a UTF-8 file with a few foreign-encoded lines."""
    lines = sample.split(b"\n")
    if not complete:
        lines = lines[:-1]
    good = bad = 0
    for line in lines:
        if line.isascii():
            continue
        if _decodes(line, "utf-8", True):
            good += 1
        else:
            bad += 1
    return good > bad


def _detect_encoding(sample: bytes, *, complete: bool, path: Path) -> str:
    """Codec of a text sample: BOM, strict UTF-8, GB18030 (covers GBK/GB2312), then charset-normalizer."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text" export
    if _decodes(sample, "utf-8", complete):
        return "utf-8"
    # Decoding a UTF-8 file with one GBK line as GB18030 would "succeed" with garbled text everywhere;
    # choose UTF-8 and let the broken line fail loudly with its line number instead.
    if _mostly_utf8(sample, complete):
        return "utf-8"
    if _decodes(sample, "gb18030", complete):
        return "gb18030"
    import charset_normalizer

    best = charset_normalizer.from_bytes(sample).best()
    if best is not None:
        return codecs.lookup(best.encoding).name
    raise UnsupportedFormatError(
        f"无法判断文件 {path} 的文字编码；请用 --encoding gb18030 或 --encoding utf-8 指定 / "
        f"cannot detect the text encoding of {path}; pass --encoding gb18030 or --encoding utf-8",
        field="encoding",
    )


def _decode_sample(sample: bytes, codec: str, complete: bool, path: Path) -> str:
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    try:
        text = decoder.decode(sample, final=complete)
    except UnicodeDecodeError as exc:
        line = sample[: exc.start].count(b"\n") + 1 if _ascii_lines(codec) else None
        raise _decoding_error(path, codec, line) from exc
    text = text.removeprefix("\ufeff")
    if not complete:
        text = text[: text.rfind("\n") + 1]  # drop the record cut by the sample boundary
    return text


def _ascii_lines(codec: str) -> bool:
    return not codec.startswith(("utf-16", "utf-32"))


def _decoding_error(path: Path, codec: str, line: int | None) -> UnsupportedFormatError:
    where_zh = f"第 {line} 行" if line else ""
    where_en = f" line {line}" if line else ""
    other = "gb18030" if codec.startswith("utf") else "utf-8"
    return UnsupportedFormatError(
        f"文件 {path} {where_zh}无法按 {codec} 编码读取（文件可能混有不同编码）。"
        f"请用 --encoding {other} 重试，或在 Excel/WPS 中另存为“CSV UTF-8” / "
        f"cannot decode {path}{where_en} as {codec}; "
        f"retry with --encoding {other}, or re-save the file as CSV UTF-8",
        field="encoding",
        line=line,
    )


def _locate_decode_error(path: Path, codec: str) -> int | None:
    """Physical line of the first byte that ``codec`` cannot decode (a diagnostic pass after a failure)."""
    if not _ascii_lines(codec):
        return None
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    newlines = 0
    with open(path, "rb") as fh:
        while block := fh.read(_SAMPLE_BYTES):
            buffered = decoder.getstate()[0]
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return newlines + (buffered + block)[: exc.start].count(b"\n") + 1
            newlines += block.count(b"\n")
    return None


def _csv_read_error(path: Path, codec: str, exc: Exception) -> UnsupportedFormatError:
    msg = str(exc)
    if isinstance(exc, UnicodeDecodeError) or "utf8" in msg.lower():
        return _decoding_error(path, codec, _locate_decode_error(path, codec))
    return UnsupportedFormatError(
        f"无法解析 CSV 文件 {path}：{msg}；请检查引号是否成对、分隔符是否一致（可用 --delimiter 指定） / "
        f"cannot parse CSV file {path}: {msg}; check quoting and pass --delimiter if needed",
        field="file",
    )


def _records(text: str, delimiter: str, limit: int) -> list[tuple[list[str], int]]:
    """The first ``limit`` CSV records of ``text`` with the physical line each one ends on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out: list[tuple[list[str], int]] = []
    try:
        for row in reader:
            out.append((row, reader.line_num))
            if len(out) >= limit:
                break
    except csv.Error:
        pass  # a record cut by the sample boundary; the real parse will see all of it
    return out


def _sniff_delimiter(text: str, suffix: str) -> str:
    """The candidate delimiter that splits the first records into the most consistent (then widest) rows."""
    candidates = ("\t", ",", ";", "|") if suffix == ".tsv" else _DELIMITERS
    best, best_score = None, (0.0, 0)
    for d in candidates:
        counts = [len(r) for r, _ in _records(text, d, _SNIFF_RECORDS) if r]
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        score = (round(counts.count(mode) / len(counts), 3), mode)
        if score > best_score:
            best, best_score = d, score
    return best or candidates[0]
