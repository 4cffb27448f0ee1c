"""Stream GeoJSON, GeoPackage and Shapefile layers into chunks of attributes plus point X/Y (pyogrio)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gridgis.errors import InvalidInputError, UnsupportedFormatError
from gridgis.ingest.csv_reader import _SAMPLE_BYTES, _decodes
from gridgis.ingest.table import TableChunk, _empty_chunk


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
