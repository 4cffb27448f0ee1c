"""What a demand query counts: the :class:`Filters`, their validation, and a zone as H3 cells.

Every bad value raises :class:`~gridgis.errors.InvalidInputError` naming the parameter (``field``)
and, where there is a list, the allowed values, in Chinese then English.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import shapely

from gridgis import grid
from gridgis.errors import InvalidInputError
from gridgis.heatmap import periods
from gridgis.workflow import STATUSES, normalize_statuses

if TYPE_CHECKING:
    from gridgis.taxonomy import Taxonomy

_MAX_IN = 5_000  # compact zone cells further when more ids than this would go into IN lists


@dataclass(frozen=True)
class Filters:
    """What to count. Empty tuples mean "all"; ``zone`` is a shapely (multi)polygon in lng/lat."""

    since: pd.Timestamp | None = None
    until: pd.Timestamp | None = None
    categories: tuple[str, ...] = ()
    request_types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    grids: tuple[str, ...] = ()
    zone: shapely.Geometry | None = None
    collapse_duplicates: bool = False


def check_tz(tz: str) -> str:
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInputError(
            f"未知时区 {tz!r}，请用 IANA 名称如 Asia/Shanghai / unknown time zone {tz!r}; use an IANA name "
            "such as Asia/Shanghai",
            field="tz",
        ) from exc
    return str(tz)


def check_bucket(bucket: str | None) -> str | None:
    if bucket is None or bucket in periods.BUCKETS:
        return bucket
    raise InvalidInputError(
        f"bucket 须为 day（日）、week（周）或 month（月）/ bucket must be one of day, week, month (or none), "
        f"got {bucket!r}",
        field="bucket",
    )


def _time(value, name: str, tz: str) -> pd.Timestamp | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        t = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"无法识别的时间 {name}={value!r}，请用 ISO 8601 如 2026-03-01 或 2026-03-01T08:00+08:00 / "
            f"cannot parse {name}={value!r}: use ISO 8601, e.g. 2026-03-01 or 2026-03-01T08:00+08:00",
            field=name,
        ) from exc
    if t is pd.NaT:
        raise InvalidInputError(f"时间 {name} 为空值 / {name} is not a time", field=name)
    return t.tz_localize(tz) if t.tzinfo is None else t.tz_convert(tz)


def _strings(values, name: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    out = tuple(dict.fromkeys(str(v).strip() for v in values))
    if any(not v for v in out):
        raise InvalidInputError(f"参数 {name} 含空值 / {name} contains an empty value", field=name)
    return out


def _check_zone(zone) -> shapely.Geometry | None:
    if zone is None:
        return None
    if isinstance(zone, dict | str):
        try:
            zone = shapely.from_geojson(zone if isinstance(zone, str) else json.dumps(zone))
        except shapely.errors.GEOSException as exc:
            raise InvalidInputError(f"区域不是有效的 GeoJSON / zone is not valid GeoJSON: {exc}",
                                    field="zone") from exc
    if not isinstance(zone, shapely.Geometry) or zone.is_empty or shapely.get_type_id(zone) not in (3, 6):
        raise InvalidInputError(
            "区域须为非空的面（Polygon/MultiPolygon，经纬度）/ zone must be a non-empty Polygon or "
            "MultiPolygon in lng/lat",
            field="zone",
        )
    xmin, ymin, xmax, ymax = zone.bounds
    if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
        raise InvalidInputError(
            "区域坐标超出经纬度范围：顶点顺序须为（经度, 纬度）/ zone coordinates are out of range: "
            "vertices must be (lng, lat) in WGS84",
            field="zone",
        )
    # Hand-drawn polygons may self-touch; keep the repaired areal part.
    fixed = shapely.make_valid(zone)
    parts = shapely.get_parts(fixed)
    fixed = shapely.union_all(parts[np.isin(shapely.get_type_id(parts), [3, 6])])
    if fixed.is_empty or fixed.area == 0:
        raise InvalidInputError("区域面积为零 / zone has no area", field="zone")
    return fixed


@functools.lru_cache(maxsize=4)
def _taxonomy(path: str | None):
    from gridgis.taxonomy import Taxonomy

    return Taxonomy.load(path)


def check_filters(filters: Filters, *, tz: str = "Asia/Shanghai", categories: Iterable[str] | None = None,
                  taxonomy: Taxonomy | None = None) -> Filters:
    """Validated, normalised filters (tz-aware times, canonical codes), or InvalidInputError naming the
    parameter and its allowed values. ``categories`` are the allowed codes (default: the taxonomy's);
    request types are checked against ``taxonomy`` (default: the packaged one), aliases accepted."""
    if not isinstance(filters, Filters):
        raise InvalidInputError("filters 须为 Filters 对象 / filters must be a Filters instance", field="filters")
    tz = check_tz(tz)
    tax = taxonomy if taxonomy is not None else _taxonomy(None)
    since, until = _time(filters.since, "since", tz), _time(filters.until, "until", tz)
    if since is not None and until is not None and since >= until:
        raise InvalidInputError(
            f"时间范围颠倒：since（{since.isoformat()}）须早于 until（{until.isoformat()}）/ reversed time "
            f"range: since ({since.isoformat()}) must be before until ({until.isoformat()})",
            field="since",
        )
    allowed = list(categories) if categories is not None else tax.codes()
    cats = []
    for c in _strings(filters.categories, "categories"):
        code = c.upper()
        if code not in allowed:
            raise InvalidInputError(
                f"未知的诉求类别 {c!r}，可选：{', '.join(allowed)} / unknown category {c!r}; allowed: "
                f"{', '.join(allowed)}",
                field="categories",
            )
        cats.append(code)
    types = _strings(filters.request_types, "request_types")
    if types:
        labels = tax.normalize_request_types(pd.Series(types, dtype="str"))
        if labels.isna().any():
            bad = types[int(np.flatnonzero(labels.isna().to_numpy())[0])]
            known = ", ".join(t.label for t in tax.request_types)
            raise InvalidInputError(
                f"未知的诉求类型 {bad!r}，可选：{known} / unknown request type {bad!r}; allowed: {known}",
                field="request_types",
            )
        types = tuple(dict.fromkeys(labels.tolist()))
    statuses = _strings(filters.statuses, "statuses")
    if statuses:
        codes, unknown = normalize_statuses(pd.Series(statuses, dtype="str"))
        if unknown.any():
            known = ", ".join(f"{k}（{v[0]}）" for k, v in STATUSES.items())
            raise InvalidInputError(
                f"未知的状态 {statuses[int(np.flatnonzero(unknown)[0])]!r}，可选：{known} / unknown status; "
                f"allowed: {known}",
                field="statuses",
            )
        statuses = tuple(dict.fromkeys(codes.tolist()))
    return dataclasses.replace(
        filters, since=since, until=until, categories=tuple(dict.fromkeys(cats)), request_types=types,
        statuses=statuses, grids=_strings(filters.grids, "grids"), zone=_check_zone(filters.zone),
        collapse_duplicates=bool(filters.collapse_duplicates),
    )


# ------------------------------------------------------------------------------------- zone → cells
def _compact(cells: np.ndarray, fine: int) -> dict[int, np.ndarray]:
    """Cells at ``fine`` → {res: cells} using whole parents (7 children) down to res 9 (further if many)."""
    out: dict[int, np.ndarray] = {}
    current, res = np.unique(cells), fine
    while res > 7 and current.size:
        coarser = res - 1
        if coarser < 9 and sum(v.size for v in out.values()) + current.size <= _MAX_IN:
            break
        if coarser not in (7, 8, 9):
            break
        parents = grid.cells_to_parent(current, coarser)
        uniq, counts = np.unique(parents, return_counts=True)
        whole = uniq[counts == 7]
        if not whole.size:
            break
        keep = ~np.isin(parents, whole)
        out[res] = current[keep]
        current, res = whole, coarser
    out[res] = current
    return {r: c for r, c in out.items() if c.size}


def zone_cells(zone: shapely.Geometry, fine: int) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """({res: cells wholly inside the zone, compacted}, fine cells crossed by its boundary)."""
    lat0, lng0 = zone.representative_point().y, zone.representative_point().x
    probe = grid.cells_to_polygons(grid.latlng_to_cells([lat0], [lng0], fine))[0]
    xy = shapely.get_coordinates(probe)
    edge = float(np.hypot(*(xy[1] - xy[0])))
    # Boundary points closer than an edge apart: every cell the boundary crosses is in their 1-disk.
    pts = shapely.get_coordinates(shapely.segmentize(zone.boundary, edge / 2))
    seeds = np.concatenate([
        grid.polygon_to_cells(zone, fine),
        grid.latlng_to_cells(pts[:, 1], pts[:, 0], fine),
        grid.latlng_to_cells([lat0], [lng0], fine),
    ])
    cand = np.unique(grid.grid_disk_pairs(np.unique(seeds[seeds != 0]), 1)[1])
    polys = grid.cells_to_polygons(cand)
    shapely.prepare(zone)
    inside = shapely.contains(zone, polys)
    crossed = shapely.intersects(zone, polys) & ~inside
    return _compact(cand[inside], fine), cand[crossed]
