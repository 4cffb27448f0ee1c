"""Priority zones drawn by grid workers: validate their attributes and geometry before they are stored.

A zone is a WGS84 (lng/lat) Polygon or MultiPolygon with a name, an optional demand category, a
priority 1–5 and notes. Geometry that the map cannot use is refused with a reason a grid worker can
act on: not a polygon, empty, self-intersecting, outside the service area, or too large. Nothing here
touches the database; :class:`gridgis.storage.Store` stores what :func:`validate_zone` returns.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import Geod
from shapely.geometry.base import BaseGeometry

from gridgis.errors import InvalidInputError

MAX_AREA_KM2 = 50.0
"""Largest zone accepted: a few communities. Bigger areas belong to grids or the service area."""
MAX_VERTICES = 5_000
MAX_NAME = 80
MAX_NOTES = 2_000
PRIORITIES = (1, 2, 3, 4, 5)
DEFAULT_PRIORITY = 3
COORD_DECIMALS = 7  # RFC 7946 advice; 7 dp ≈ 1 cm

_GEOD = Geod(ellps="WGS84")
_ATTRS = ("name", "category", "priority", "notes")


@dataclass(frozen=True)
class ZoneDraft:
    """A validated zone (or, for partial updates, the validated subset of its fields)."""

    values: dict[str, Any]
    geometry: BaseGeometry | None = None

    def to_record(self) -> dict[str, Any]:
        """Columns of the ``zones`` table: attributes, GeoJSON text and the bounding box."""
        out = dict(self.values)
        if self.geometry is not None:
            out["geometry"] = geometry_to_geojson(self.geometry)
            out["min_lng"], out["min_lat"], out["max_lng"], out["max_lat"] = (
                float(v) for v in self.geometry.bounds
            )
        return out


def geodesic_area_km2(geom: BaseGeometry) -> float:
    """Area on the WGS84 ellipsoid in km² (orientation-independent)."""
    area, _perimeter = _GEOD.geometry_area_perimeter(geom)
    return abs(area) / 1e6


def geometry_to_geojson(geom: BaseGeometry) -> str:
    """RFC 7946 text: exterior rings counter-clockwise, at most 7 decimals."""
    oriented = shapely.orient_polygons(geom, exterior_cw=False)
    rounded = shapely.set_precision(oriented, 10.0**-COORD_DECIMALS, mode="pointwise")
    return shapely.to_geojson(rounded)


def parse_geometry(
    value: Any,
    *,
    service_area: BaseGeometry | None = None,
    max_area_km2: float = MAX_AREA_KM2,
    field: str = "geometry",
) -> BaseGeometry:
    """A GeoJSON Polygon/MultiPolygon (dict, Feature or text) → a checked shapely geometry.

    Refused, with the reason: anything that is not a polygon, empty or degenerate rings, vertices out
    of lng/lat range (often lat/lng swapped), a boundary that crosses itself, parts outside
    ``service_area`` and an area above ``max_area_km2``.
    """
    if isinstance(value, Mapping) and value.get("type") == "Feature":
        value = value.get("geometry")
    if isinstance(value, str):
        text = value
    elif isinstance(value, Mapping):
        text = json.dumps(value)
    else:
        raise InvalidInputError(
            "geometry 须为 GeoJSON 多边形 / geometry must be a GeoJSON Polygon or MultiPolygon object",
            field=field,
        )
    try:
        geom = shapely.from_geojson(text)
    except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"geometry 不是有效的 GeoJSON / geometry is not valid GeoJSON: {exc}", field=field
        ) from exc
    if geom is None or geom.geom_type not in ("Polygon", "MultiPolygon"):
        kind = None if geom is None else geom.geom_type
        raise InvalidInputError(
            f"区域须为面（Polygon/MultiPolygon），收到 {kind} / a zone must be a Polygon or MultiPolygon, "
            f"got {kind}",
            field=field,
        )
    if geom.is_empty:
        raise InvalidInputError("区域为空或面积为零，请重新绘制 / the zone is empty or has no area: draw it again",
                                field=field)
    if shapely.get_num_coordinates(geom) > MAX_VERTICES:
        raise InvalidInputError(
            f"区域顶点过多（>{MAX_VERTICES}），请简化 / the zone has more than {MAX_VERTICES} vertices: "
            "simplify it",
            field=field,
        )
    xmin, ymin, xmax, ymax = geom.bounds
    if not (np.isfinite([xmin, ymin, xmax, ymax]).all() and -180 <= xmin <= xmax <= 180
            and -90 <= ymin <= ymax <= 90):
        raise InvalidInputError(
            "区域坐标超出经纬度范围：顺序须为 (经度, 纬度) / zone coordinates are out of range: vertices must "
            "be (lng, lat) in degrees",
            field=field,
        )
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        raise InvalidInputError(
            f"区域边界无效（{_reason_zh(reason)}），请重新绘制 / the zone boundary is invalid ({reason}): "
            "draw it again without crossing lines",
            field=field,
        )
    if geom.area == 0.0:
        raise InvalidInputError("区域面积为零，请重新绘制 / the zone has no area: draw it again", field=field)
    if service_area is not None and not service_area.covers(geom):
        # A hair of tolerance: a vertex snapped to the service-area edge must not be refused.
        if not service_area.buffer(1e-7).covers(geom):
            raise InvalidInputError(
                "区域超出服务范围，请画在服务范围之内 / the zone lies (partly) outside the service area: "
                "draw it inside",
                field=field,
            )
    area = geodesic_area_km2(geom)
    if area > max_area_km2:
        raise InvalidInputError(
            f"区域面积 {area:.1f} km² 超过上限 {max_area_km2:g} km² / the zone covers {area:.1f} km², more than "
            f"the {max_area_km2:g} km² allowed: draw a smaller area",
            field=field,
        )
    return geom


def _reason_zh(reason: str) -> str:
    if reason.startswith("Self-intersection") or reason.startswith("Ring Self-intersection"):
        return "边界自相交"
    if reason.startswith("Too few points"):
        return "顶点太少"
    if reason.startswith("Hole"):
        return "内环位置错误"
    return "几何无效"


def validate_attributes(data: Mapping[str, Any], categories: Collection[str], *, partial: bool = False) -> dict:
    """Checked ``name``, ``category``, ``priority``, ``notes``; with ``partial`` only the keys given."""
    out: dict[str, Any] = {}
    if "name" in data or not partial:
        name = data.get("name")
        name = name.strip() if isinstance(name, str) else name
        if not isinstance(name, str) or not name:
            raise InvalidInputError("请填写区域名称 / the zone needs a name", field="name")
        if len(name) > MAX_NAME:
            raise InvalidInputError(
                f"区域名称最多 {MAX_NAME} 字 / the zone name may have at most {MAX_NAME} characters", field="name"
            )
        out["name"] = name
    if "category" in data or not partial:
        cat = data.get("category")
        cat = cat.strip() if isinstance(cat, str) else cat
        if cat in (None, ""):
            out["category"] = None
        elif not isinstance(cat, str) or cat not in categories:
            raise InvalidInputError(
                f"未知类别 {cat!r}，可用 / unknown category {cat!r}; allowed: {', '.join(sorted(categories))}",
                field="category",
            )
        else:
            out["category"] = cat
    if "priority" in data or not partial:
        pr = data.get("priority", DEFAULT_PRIORITY)
        if pr in (None, ""):
            pr = DEFAULT_PRIORITY
        try:
            ok = not isinstance(pr, bool) and float(pr) == int(float(pr))
            pr_int = int(float(pr))
        except (TypeError, ValueError, OverflowError):  # ±Infinity, or an int too large for a float
            ok = False
        if not ok or pr_int not in PRIORITIES:
            raise InvalidInputError(
                f"优先级须为 1–5 的整数 / priority must be an integer from 1 to 5, got {pr!r}", field="priority"
            )
        out["priority"] = pr_int
    if "notes" in data or not partial:
        notes = data.get("notes")
        if notes is not None and not isinstance(notes, str):
            raise InvalidInputError("备注须为文字 / notes must be text", field="notes")
        notes = (notes or "").strip() or None
        if notes and len(notes) > MAX_NOTES:
            raise InvalidInputError(
                f"备注最多 {MAX_NOTES} 字 / notes may have at most {MAX_NOTES} characters", field="notes"
            )
        out["notes"] = notes
    return out


def validate_zone(
    data: Any,
    categories: Collection[str],
    *,
    service_area: BaseGeometry | None = None,
    max_area_km2: float = MAX_AREA_KM2,
    partial: bool = False,
) -> ZoneDraft:
    """Validate a zone payload (``name``, ``category``, ``priority``, ``notes``, ``geometry``).

    ``partial`` (PATCH) checks only the keys present; otherwise name and geometry are required.
    Unknown keys are refused so a typo (``prority``) does not pass silently.
    """
    if not isinstance(data, Mapping):
        raise InvalidInputError("请求体须为 JSON 对象 / the request body must be a JSON object", field="body")
    unknown = sorted(set(data) - {*_ATTRS, "geometry", "version"})
    if unknown:
        raise InvalidInputError(
            f"未知字段 {unknown[0]!r} / unknown field {unknown[0]!r}; allowed: {', '.join((*_ATTRS, 'geometry'))}",
            field=unknown[0],
        )
    values = validate_attributes(data, categories, partial=partial)
    geom = None
    if "geometry" in data or not partial:
        if data.get("geometry") is None:
            raise InvalidInputError("请在地图上画出区域 / the zone needs a geometry", field="geometry")
        geom = parse_geometry(data["geometry"], service_area=service_area, max_area_km2=max_area_km2)
    if partial and not values and geom is None:
        raise InvalidInputError(
            "没有要修改的字段 / nothing to change: send name, category, priority, notes or geometry", field="body"
        )
    return ZoneDraft(values, geom)


def households_in(geom: BaseGeometry, grids: pd.DataFrame) -> float:
    """Households inside ``geom``, each grid's count weighted by the share of its area the zone covers.

    ``grids`` has the ``grids`` table columns ``geometry`` (GeoJSON text) and ``households``; grids
    without a household count add nothing. Areas are compared in degrees, which is exact enough for
    shares inside one small zone.
    """
    if grids.empty:
        return 0.0
    hh = pd.to_numeric(grids["households"], errors="coerce").to_numpy(dtype=np.float64)
    known = np.isfinite(hh) & (hh > 0)
    if not known.any():
        return 0.0
    polys = shapely.from_geojson(grids["geometry"].to_numpy(dtype=object)[known])
    polys = shapely.make_valid(polys)
    share = np.zeros(polys.shape, dtype=np.float64)
    area = shapely.area(polys)
    hits = shapely.intersects(polys, geom) & (area > 0)
    if hits.any():
        share[hits] = shapely.area(shapely.intersection(polys[hits], geom)) / area[hits]
    return float(np.sum(hh[known] * share))
