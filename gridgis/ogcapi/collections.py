"""The collections the OGC API offers: identity, titles, properties (with JSON types), filters, access scope.

Only metadata lives here; the features come from :mod:`gridgis.ogcapi.requests_source` (SQL pages
over ``requests``) and :mod:`gridgis.ogcapi.frames` (aggregates and small tables, computed once per
data version). ``scope`` is the API-token scope a client needs for the items (see gridgis.tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, field

CELL_RESOLUTIONS = (8, 9, 10)
HOTSPOT_RESOLUTION = 10  # ≈ 万米单元网格; coarser cells in one community are too few for Gi* with FDR


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    geometry: str  # GeoJSON geometry type of the features
    properties: dict[str, str]  # property → JSON type (string, integer, number)
    queryables: dict[str, str] = field(default_factory=dict)  # property filters: name → JSON type
    temporal: bool = False  # whether ``datetime`` applies
    scope: str = "aggregates"
    id_type: str = "string"
    formats: dict[str, str] = field(default_factory=dict)  # property → JSON schema format (date-time)
    cursor: bool = False  # next links carry a keyset position (``after``) besides the offset


def _s(*names: str) -> dict[str, str]:
    return dict.fromkeys(names, "string")


def requests_collection(snapped: bool) -> Collection:
    where = ("位置为所在 H3 网格中心 / points are the centres of their H3 cells" if snapped
             else "位置为原始点位 / points are the reported locations")
    return Collection(
        id="requests", geometry="Point", temporal=True, scope="requests_masked", cursor=True,
        title="居民诉求（脱敏）/ Residents' requests (privacy-protected)",
        description=(
            "按隐私规则公开的诉求：不含姓名和电话，地址截至小区/楼栋，文本中的号码已遮蔽，养老与社区服务类文本以类别名代替；"
            f"{where}。 / Requests under the privacy policy: no names or phone numbers, addresses cut to the "
            "estate/building, numbers in texts masked, texts of sensitive categories replaced by the category name."
        ),
        properties={"created_at": "string", **_s("category", "category_name", "request_type", "status", "text",
                                                 "address", "grid_code", "cell", "geocode_level", "duplicate_of",
                                                 "source")},
        queryables=_s("category", "request_type", "status", "grid_code", "geocode_level", "source"),
        formats={"created_at": "date-time"},
    )


def cells_collection(res: int, k: int) -> Collection:
    return Collection(
        id=f"cells-{res}", geometry="Polygon", temporal=True,
        title=f"H3 {res} 级网格需求 / Demand per H3 cell, resolution {res}",
        description=(
            f"每个 H3 {res} 级网格的诉求数与问题数（datetime 限定统计时段）；少于 {k} 条诉求的网格不公开。 / Requests "
            f"and distinct issues per H3 cell at resolution {res} (datetime limits the period counted); cells "
            f"with fewer than {k} requests are left out."
        ),
        properties={"cell_id": "string", "res": "integer", "requests": "integer", "issues": "integer",
                    "households": "number", "rate_per_100_households": "number"},
        queryables={"cell_id": "string"},
    )


def hotspots_collection(k: int, res: int) -> Collection:
    return Collection(
        id="hotspots", geometry="Polygon", temporal=True,
        title="需求热点与冷点 / Demand hot and cold spots",
        description=(
            f"H3 {res} 级网格的 Getis-Ord Gi* 热点/冷点（FDR 校正，bin ±1/±2/±3 = 90/95/99 % 置信度），"
            f"只含显著网格；少于 {k} 条诉求的网格不给出诉求数。 / Getis-Ord Gi* hot and cold spots on H3 cells at "
            f"resolution {res} with FDR (bin ±1/±2/±3 = 90/95/99 % confidence), significant cells only; "
            f"request counts below {k} are withheld."
        ),
        properties={"cell_id": "string", "res": "integer", "requests": "integer", "z": "number", "p": "number",
                    "bin": "integer", "confidence": "string", "label": "string"},
        queryables={"bin": "integer", "confidence": "string"},
    )


def projects_collection(k: int) -> Collection:
    return Collection(
        id="projects", geometry="MultiPolygon", temporal=True,
        title="重点项目候选 / Priority project candidates",
        description=(
            f"连片显著热点网格组成的项目候选，按得分排序；少于 {k} 条诉求的候选不公开。 / Candidates made of "
            f"contiguous significant hot cells per category, ranked by score; candidates with fewer than {k} "
            "requests are left out."
        ),
        properties={"rank": "integer", "candidate_id": "string", "category": "string", "category_zh": "string",
                    "category_en": "string", "score": "number", "requests": "integer", "issues": "integer",
                    "households": "number", "cells": "integer", "area_ha": "number", "z_max": "number",
                    "trend": "string", "trend_zh": "string", "grid_names": "string", "keywords": "string",
                    "text_1": "string", "text_2": "string", "text_3": "string"},
        queryables={"category": "string", "trend": "string"},
    )


def zones_collection() -> Collection:
    return Collection(
        id="zones", geometry="Polygon", id_type="integer",
        title="重点区域 / Priority zones",
        description="地图上划定的重点区域（不含已删除的）。 / Priority zones drawn on the map (deleted ones excluded).",
        properties={"name": "string", "category": "string", "priority": "integer", "notes": "string",
                    "created_at": "string", "updated_at": "string", "version": "integer"},
        queryables={"category": "string", "priority": "integer"},
        formats={"created_at": "date-time", "updated_at": "date-time"},
    )


def grids_collection() -> Collection:
    return Collection(
        id="grids", geometry="Polygon",
        title="社区网格 / Community grids",
        description="官方网格边界与户数（不含网格员个人信息）。 / Official grid polygons and households (no staff "
                    "personal data).",
        properties={**_s("grid_code", "name", "community", "subdistrict"), "households": "integer"},
        queryables=_s("grid_code", "community", "subdistrict"),
    )


def catalogue(fine_res: int, k: int, snapped: bool, projects: bool = True) -> list[Collection]:
    """Every collection in display order; cell collections only at resolutions the store holds."""
    out = [requests_collection(snapped)]
    out += [cells_collection(r, k) for r in CELL_RESOLUTIONS if r <= fine_res]
    out.append(hotspots_collection(k, min(HOTSPOT_RESOLUTION, fine_res)))
    if projects:
        out.append(projects_collection(k))
    return [*out, zones_collection(), grids_collection()]
