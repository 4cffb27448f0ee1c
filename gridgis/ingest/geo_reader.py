"""Stream GeoJSON, GeoPackage and Shapefile layers into chunks of attributes plus point X/Y (pyogrio)."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gridgis.errors import InvalidInputError, UnsupportedFormatError
from gridgis.ingest.csv_reader import _SAMPLE_BYTES, _decodes
from gridgis.ingest.table import TableChunk, _empty_chunk

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _gdal_notes(path: Path) -> Iterator[None]:
    """GDAL's RuntimeWarnings about odd features (unsupported geometry, short coordinate arrays) → the log.

    The rows concerned are rejected later with a reason of their own. pyogrio issues these warnings from
    a GDAL callback that cannot raise, so under warnings-as-errors they would surface as unraisable
    exceptions; held only around reader calls, never across a ``yield``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        yield
    for message in sorted({str(w.message) for w in caught})[:5]:
        log.info("%s: GDAL: %s", path, message)


def _iter_geo(path: Path, fmt: str, chunk_rows: int, layer: str | int | None,
              encoding: str | None) -> Iterator[TableChunk]:
    import pyogrio
    import pyogrio.errors as ogr_errors
    import shapely

    ogr_fail = (ogr_errors.DataSourceError, ogr_errors.DataLayerError)
    try:
        with _gdal_notes(path):
            layers = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except UnicodeDecodeError as exc:  # a layer name that is not UTF-8 (a damaged GeoPackage)
        raise _encoding_error(path, "?", encoding) from exc
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
        with contextlib.ExitStack() as stack:
            with _gdal_notes(path):
                meta, reader = stack.enter_context(pyogrio.raw.open_arrow(
                    path, layer=chosen, batch_size=chunk_rows, use_pyarrow=True, **kwargs))
            crs = meta.get("crs") or ("EPSG:4326" if fmt == "geojson" else None)
            fields = [str(f) for f in meta["fields"]]
            start = 1
            emitted = False
            while True:
                with _gdal_notes(path):
                    batch = next(reader, None)
                if batch is None:
                    break
                geom_at, attr_at = _split_columns(batch.schema)
                attrs = _attributes(batch.select(attr_at), path, chosen, encoding)
                n = batch.num_rows
                lng = np.full(n, np.nan)
                lat = np.full(n, np.nan)
                if geom_at is not None:
                    wkb = batch.column(geom_at).to_numpy(zero_copy_only=False)
                    geoms = shapely.from_wkb(wkb, on_invalid="ignore")  # unreadable: a non-point row reject
                    lng, lat = _point_xy(geoms, shapely)
                yield TableChunk(attrs, np.arange(start, start + n, dtype=np.int64), lng, lat, crs, fmt,
                                 encoding)
                start += n
                emitted = True
            if not emitted:
                yield _empty_chunk(fields, fmt, encoding, geo=True, crs=crs)
    except UnicodeDecodeError as exc:
        # A field name not in the expected encoding, e.g. a Chinese name cut inside a character by the
        # 10-byte limit of .dbf field names.
        raise _encoding_error(path, chosen, encoding) from exc
    except UnboundLocalError as exc:
        # pyogrio 0.13 fails so while handling the UnicodeDecodeError of a .prj that is not UTF-8.
        if not isinstance(exc.__context__, UnicodeDecodeError):
            raise
        raise _encoding_error(path, chosen, encoding) from exc
    except ogr_fail as exc:
        raise UnsupportedFormatError(
            f"读取 {path} 图层 {chosen!r} 失败：{exc} / failed reading layer {chosen!r} of {path}: {exc}",
            field="file",
        ) from exc


def _split_columns(schema) -> tuple[int | None, list[int]]:
    """(index of the WKB geometry column or None, indexes of the attribute columns) of an arrow batch.

    By position and type, not by the names in pyogrio's metadata: for a .dbf without code page those are
    decoded as Latin-1 while the batch carries the bytes GDAL read, so the two spellings can differ.
    """
    geom = [i for i, f in enumerate(schema)
            if (f.metadata or {}).get(b"ARROW:extension:name") == b"geoarrow.wkb"]
    at = geom[0] if geom else None
    return at, [i for i in range(len(schema)) if i != at]


def _attributes(batch, path: Path, layer: str, encoding: str | None):
    """The attribute columns as a DataFrame; text that is not valid UTF-8 is an encoding error, not a crash."""
    import pyarrow as pa

    try:
        batch.validate(full=True)  # GDAL passes undeclared non-UTF-8 bytes through as "strings"
    except pa.ArrowInvalid as exc:
        raise _encoding_error(path, layer, encoding) from exc
    try:
        return batch.to_pandas()
    except pa.ArrowException as exc:
        raise UnsupportedFormatError(
            f"文件 {path} 图层 {layer!r} 的属性无法转换：{exc} / cannot convert the attributes of layer {layer!r} "
            f"of {path}: {exc}",
            field="file",
        ) from exc


def _encoding_error(path: Path, layer: str, encoding: str | None) -> UnsupportedFormatError:
    used = encoding or "utf-8"
    return UnsupportedFormatError(
        f"文件 {path} 图层 {layer!r} 的字段名、属性或坐标系（.prj）无法按 {used} 编码读取（GeoJSON 须为 UTF-8）；"
        f"Shapefile 请用 --encoding gb18030 指定编码，或在 GIS 软件中改短字段名后重新导出 / "
        f"cannot decode field names, attributes or the .prj of layer {layer!r} of {path} as {used} (GeoJSON must be "
        "UTF-8); for a Shapefile pass --encoding gb18030, or shorten the field names and export again",
        field="encoding",
    )


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
    # Empty points (POINT EMPTY, MULTIPOINT (EMPTY)) have no X/Y: GEOS raises rather than answer NaN.
    is_point = ((type_id == 0) | single_multi) & ~shapely.is_empty(pts)
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
    header_len = int.from_bytes(head[8:10], "little")
    records = head[header_len:]
    # Field names too (11 bytes at the start of each 32-byte descriptor): Chinese names over ASCII values.
    names = b"\n".join(head[i:i + 11].split(b"\0", 1)[0] for i in range(32, min(header_len, len(head)) - 31, 32))
    text = names + b"\n" + records
    if text.isascii():
        return None
    for codec in ("utf-8", "gb18030"):  # GB18030 covers the GBK that ArcGIS in China writes
        if _decodes(text, codec, complete=False):
            return codec
    return None
