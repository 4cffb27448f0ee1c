"""Coordinate reference systems of the OGC API (Part 2): CRS URIs, bbox-crs → CRS84, CRS84 → output CRS.

Stored geometries are WGS84 lng/lat, which is OGC CRS84 (longitude first). Output in another CRS
follows that CRS's axis order as its authority defines it (Part 2, /req/crs/crs-uri): EPSG:4490
(CGCS2000, geographic) is latitude, longitude; EPSG:3857 easting, northing. pyproj reads the order
from the EPSG database, so nothing here hard-codes it. CGCS2000 and WGS84 agree to centimetres and
PROJ converts between them as a ballpark (null) transformation.
"""

from __future__ import annotations

import functools

import numpy as np
import shapely

from gridgis.errors import InvalidInputError

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CGCS2000 = "http://www.opengis.net/def/crs/EPSG/0/4490"
WEB_MERCATOR = "http://www.opengis.net/def/crs/EPSG/0/3857"
SUPPORTED: tuple[str, ...] = (CRS84, CGCS2000, WEB_MERCATOR)
"""Every collection is offered in these, CRS84 first (the default and the storage CRS)."""

# Spellings clients use besides the URIs: safe CURIEs ([EPSG:4490]), OGC/EPSG codes, https URIs.
_ALIASES = {
    "CRS84": CRS84, "OGC:CRS84": CRS84, "[OGC:CRS84]": CRS84,
    "EPSG:4490": CGCS2000, "[EPSG:4490]": CGCS2000,
    "EPSG:3857": WEB_MERCATOR, "[EPSG:3857]": WEB_MERCATOR,
}
DECIMALS = {CRS84: 7, CGCS2000: 7, WEB_MERCATOR: 2}
"""Output precision: 7 decimal degrees ≈ 1 cm (RFC 7946 §11.2), 2 decimal metres = 1 cm."""


def check_crs(value: str | None, name: str = "crs") -> str:
    """The canonical URI of a supported CRS (None → CRS84); anything else is an InvalidInputError."""
    if value is None:
        return CRS84
    text = str(value).strip().replace("https://", "http://")
    uri = text if text in SUPPORTED else _ALIASES.get(text.upper())
    if uri is None:
        raise InvalidInputError(
            f"参数 {name} 不支持坐标系 {value!r}，可用：{', '.join(SUPPORTED)} / {name} {value!r} is not a "
            f"supported CRS; use one of {', '.join(SUPPORTED)}",
            field=name,
        )
    return uri


@functools.lru_cache(maxsize=8)
def _transformer(src: str, dst: str):
    """(pyproj Transformer in east/north order, whether ``src`` is northing-first, whether ``dst`` is)."""
    from pyproj import CRS, Transformer

    s, d = CRS.from_user_input(src), CRS.from_user_input(dst)
    return (Transformer.from_crs(s, d, always_xy=True), s.axis_info[0].direction == "north",
            d.axis_info[0].direction == "north")


def bbox_to_crs84(values: tuple[float, ...], crs: str) -> tuple[float, float, float, float]:
    """A bbox in ``crs``'s axis order (lower corner, upper corner; heights dropped) → CRS84 lng/lat.

    A CRS84 bbox whose west edge is east of its east edge crosses the antimeridian: it is returned as
    given and callers split it (see :func:`bbox_boxes`).
    """
    lo, hi = values[: len(values) // 2][:2], values[len(values) // 2:][:2]
    if crs == CRS84:
        return lo[0], lo[1], hi[0], hi[1]
    tr, north_first, _ = _transformer(crs, CRS84)
    x0, y0, x1, y1 = (lo[1], lo[0], hi[1], hi[0]) if north_first else (lo[0], lo[1], hi[0], hi[1])
    if x0 > x1 or y0 > y1:
        raise InvalidInputError(
            "参数 bbox 的下角须不大于上角 / bbox: the lower corner must not exceed the upper corner", field="bbox")
    out = tr.transform_bounds(x0, y0, x1, y1, densify_pts=21)
    if not np.all(np.isfinite(out)):
        raise InvalidInputError(f"参数 bbox 超出 {crs} 的有效范围 / bbox lies outside the area of {crs}",
                                field="bbox")
    return float(out[0]), float(out[1]), float(out[2]), float(out[3])


def bbox_boxes(bbox: tuple[float, float, float, float]) -> list[tuple[float, float, float, float]]:
    """A CRS84 bbox as one box, or two when it crosses the antimeridian (west edge > east edge)."""
    x0, y0, x1, y1 = bbox
    if x0 <= x1:
        return [bbox]
    return [(x0, y0, 180.0, y1), (-180.0, y0, x1, y1)]


def transform_geometries(geoms: np.ndarray, crs: str) -> np.ndarray:
    """CRS84 shapely geometries → ``crs`` in its authority axis order, rounded to :data:`DECIMALS`."""
    digits = DECIMALS[crs]
    if crs == CRS84:
        return shapely.transform(geoms, lambda xy: np.round(xy, digits))
    tr, _, north_first = _transformer(CRS84, crs)

    def project(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        out = np.column_stack([y, x] if north_first else [x, y])
        return np.round(out, digits)

    return shapely.transform(geoms, project)
