"""/api/projects: ranked project candidates (gridgis.heatmap.projects) as a GeoJSON FeatureCollection.

A thin adapter: the filters of ``/api/cells`` plus ``k``, ``gap`` and ``min_cells`` go to
:func:`gridgis.heatmap.projects.find_candidates` (0.3–2 s), whose answer is remembered per data
version (:func:`webmap.caching.memo`) and revalidated by ETag. Each feature is a candidate's merged
polygon (RFC 7946: WGS84, counter-clockwise exterior rings, 7 decimals) — clipped to the service area
so it can be saved as a priority zone as it is — with its rank, score parts, counts, trend and texts,
and ``zone``: the priority zone the map's "make priority zone" button creates from it.

Privacy: representative texts are masked by :mod:`gridgis.heatmap.project_texts` (mobile numbers);
here, as a second line, the names and phone numbers of the candidate's own reporters (read from the
store) and any phone-shaped number left are masked too before the text leaves the server, and a
keyword that is a reporter's name is dropped.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import shapely
from flask import Blueprint, jsonify

from gridgis.heatmap.project_summary import headline
from gridgis.heatmap.projects import SCORE_PARTS, Candidates, find_candidates
from gridgis.privacy import mask_names, mask_phones, scrub_string
from gridgis.storage.schema import requests as req_t
from gridgis.zones import MAX_NAME, MAX_NOTES, geometry_to_geojson
from webmap import context, filters, params, scoping
from webmap.access import rule
from webmap.caching import conditional, memo
from webmap.cells_api import _agg_filters, _key, context_lang_is_zh

bp = Blueprint("projects", __name__, url_prefix="/api")

MAX_K = 3  # as /api/hotspots: wider neighbourhoods cost more than a map click should
MAX_MIN_CELLS = 10_000
TOP_KEYWORDS = 3  # in the name of a zone made from a candidate
_IN_CHUNK = 5_000  # request ids per IN list (SQLite and PostgreSQL both take that comfortably)


def zone_priority(rank: int) -> int:
    """Priority of a zone made from the candidate of ``rank``: 1–2 → 5, 3–4 → 4, 5–6 → 3, 7–8 → 2, then 1."""
    return max(1, 5 - (int(rank) - 1) // 2)


# ------------------------------------------------------------------------------------------- privacy
def _contacts(store, members: pd.DataFrame) -> dict[str, tuple[list[str], list[str]]]:
    """Candidate id → distinct reporter names and phone numbers (digits only) of its requests."""
    ids = members["id"].astype(str).unique().tolist()
    frames = [store.requests_frame(["id", "reporter_name", "reporter_phone"],
                                   where=req_t.c.id.in_(ids[i:i + _IN_CHUNK]))
              for i in range(0, len(ids), _IN_CHUNK)]
    if not frames:
        return {}
    df = members[["candidate_id", "id"]].merge(pd.concat(frames, ignore_index=True), on="id")
    df["reporter_name"] = df["reporter_name"].astype("str").str.strip()
    df["reporter_phone"] = df["reporter_phone"].astype("str").str.replace(r"\D", "", regex=True)
    out = {}
    for cid, g in df.groupby("candidate_id"):
        names = sorted(set(g["reporter_name"].dropna()) - {""})
        phones = sorted(set(g["reporter_phone"].dropna()) - {""})
        out[str(cid)] = (names, phones)
    return out


def _scrubber(names: list[str], phones: list[str]):
    """A function masking these reporters' names and phone numbers (in any spacing) inside a text."""
    # Longest first, so 欧阳明 is masked whole before a shorter name inside it could match.
    names = sorted((n for n in names if len(n) >= 2), key=lambda n: (-len(n), n))
    phones = [p for p in phones if len(p) >= 7]
    name_re = re.compile("|".join(map(re.escape, names))) if names else None
    masked_names = dict(zip(names, mask_names(pd.Series(names, dtype="str")).tolist(), strict=True))
    # Each digit may be followed by a space or dash: 138 1234 5678 and 138-1234-5678 are the same number.
    phone_re = (re.compile("|".join(r"[\s-]?".join(p) for p in sorted(phones, key=len, reverse=True)))
                if phones else None)

    def scrub(text: str) -> str:
        if not text:
            return text
        if phone_re is not None:
            text = phone_re.sub(lambda m: str(mask_phones(pd.Series([re.sub(r"\D", "", m.group())]))[0]), text)
        text = scrub_string(text)  # ID cards, mobiles, landlines, other long digit runs (gridgis.privacy)
        if name_re is not None:
            text = name_re.sub(lambda m: masked_names[m.group()], text)
        return text

    return scrub


# ------------------------------------------------------------------------------------------ features
def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygon parts of a clipped geometry (an intersection may add stray lines or points)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _geometries(table) -> list[dict]:
    """RFC 7946 geometries, clipped to the service area (hexagons at its edge reach a little beyond it)."""
    geoms = table.geometry.to_numpy()
    area = context.service_area().geometry
    if area is not None and len(geoms):
        clipped = np.array([_polygonal(g) for g in shapely.intersection(geoms, area)], dtype=object)
        keep = ~shapely.is_empty(clipped)
        geoms = np.where(keep, clipped, geoms)
    return [json.loads(geometry_to_geojson(g)) for g in geoms]


def _num(v, digits: int | None = None):
    """A JSON number (None for NaN)."""
    v = float(v)
    if not math.isfinite(v):
        return None
    return round(v, digits) if digits is not None else v


def _split(text: str, sep: str) -> list[str]:
    return [t for t in str(text).split(sep) if t] if text else []


def _plain(value):
    """The run summary as JSON-safe values (numpy scalars and tuples → Python numbers and lists)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _summary(c: Candidates) -> dict:
    s = _plain({k: v for k, v in c.summary.items() if k != "span"})
    span = c.summary.get("span")
    tz = c.summary["tz"]
    s["span"] = None if span is None else [pd.Timestamp(int(t), unit="s", tz="UTC").tz_convert(tz).isoformat()
                                           for t in span]
    s["text"] = headline(c.summary)
    return s


def build(c: Candidates) -> dict:
    """Language-independent features and summary of a candidates run (what the memo keeps)."""
    t = c.table
    store = context.store()
    grid_names = dict(zip(store.grids_frame()["grid_code"].astype(str), store.grids_frame()["name"], strict=True))
    geometries = _geometries(t)
    contacts = _contacts(store, c.members)
    features = []
    for i, r in enumerate(t.drop(columns="geometry").to_dict("records")):
        cid = str(r["candidate_id"])
        scrub = _scrubber(*contacts.get(cid, ([], [])))
        grids = _split(r["grids"], ",")
        props = {
            "rank": int(r["rank"]), "id": cid, "category": r["category"], "category_zh": r["category_zh"],
            "category_en": r["category_en"], "score": _num(r["score"], 2),
            **{f"pts_{p}": _num(r[f"pts_{p}"], 2) for p in SCORE_PARTS},
            "requests": int(r["requests"]), "issues": int(r["issues"]), "households": _num(r["households"], 1),
            "cells": int(r["cells"]), "area_ha": _num(r["area_ha"], 2), "z_max": _num(r["z_max"], 3),
            "trend": r["trend"], "trend_zh": r["trend_zh"], "trend_en": r["trend_en"],
            "earlier": int(r["earlier"]), "later": int(r["later"]), "growth_ratio": _num(r["growth_ratio"], 3),
            "grids": grids, "grid_names": [str(grid_names.get(g) or g) for g in grids],
            # a reporter's name can be a frequent word of the texts: such keywords are left out
            "keywords": [w for w in _split(r["keywords"], "、") if scrub(w) == w],
            "texts": [scrub(str(r[f"text_{j}"])) for j in (1, 2, 3) if r[f"text_{j}"]],
            "label": [_num(r["lng"], 7), _num(r["lat"], 7)],
        }
        features.append({"type": "Feature", "id": cid, "geometry": geometries[i], "properties": props})
    return {"features": features, "summary": _summary(c)}


def summary_line(p: dict, summary: dict, zh: bool) -> str:
    """One line describing a candidate (the notes of a zone made from it), in the page's language."""
    hh = "–" if p["households"] is None else f"{p['households']:,.0f}"
    span = summary.get("span") or []
    period = " – ".join(s[:10] for s in span) if span else "–"
    if zh:
        line = (f"项目候选 #{p['rank']}（{p['id']}）：得分 {p['score']:.2f} = 规模 {p['pts_volume']:.2f} + "
                f"显著性 {p['pts_significance']:.2f} + 增长 {p['pts_growth']:.2f} + 严重度 {p['pts_severity']:.2f}；"
                f"诉求 {p['requests']} 条，问题 {p['issues']} 个，户数 {hh}；趋势：{p['trend_zh']}；"
                f"网格：{'、'.join(p['grid_names']) or '–'}；关键词：{'、'.join(p['keywords']) or '–'}；"
                f"数据时段 {period}")
    else:
        line = (f"Project candidate #{p['rank']} ({p['id']}): score {p['score']:.2f} = volume {p['pts_volume']:.2f}"
                f" + significance {p['pts_significance']:.2f} + growth {p['pts_growth']:.2f} + severity "
                f"{p['pts_severity']:.2f}; {p['requests']} requests, {p['issues']} issues, households {hh}; "
                f"trend: {p['trend_en']}; grids: {', '.join(p['grid_names']) or '–'}; keywords: "
                f"{', '.join(p['keywords']) or '–'}; period {period}")
    return line[:MAX_NOTES]


def zone_draft(p: dict, summary: dict, zh: bool) -> dict:
    """The priority zone made from a candidate: name "{rank}. {category zh} · {top keywords}", category,
    priority from the rank and the summary line as notes (geometry: the feature's own)."""
    name = f"{p['rank']}. {p['category_zh']}"
    if p["keywords"]:
        name += " · " + "、".join(p["keywords"][:TOP_KEYWORDS])
    return {"name": name[:MAX_NAME], "category": p["category"], "priority": zone_priority(p["rank"]),
            "notes": summary_line(p, summary, zh)}


@bp.get("/projects")
@rule("aggregates:read")
@conditional
def projects():
    k = params.get_int("k", 1, 1, MAX_K)
    gap = params.get_int("gap", 0, 0, 1)
    min_cells = params.get_int("min_cells", 2, 1, MAX_MIN_CELLS)
    f = filters.parse_filters(allow_bbox=False)
    zh = context_lang_is_zh()

    def compute() -> dict:
        c = find_candidates(context.store(), context.settings(), _agg_filters(f), k=k, gap=gap,
                            min_cells=min_cells, taxonomy=context.taxonomy())
        return build(c)

    out = memo("projects", _key(f, k, gap, min_cells), compute, size=16)
    features = [{**feat, "properties": {**feat["properties"],
                                        "texts": scoping.hide_care_texts(feat["properties"]["texts"],
                                                                         feat["properties"]["category"]),
                                        "zone": zone_draft(feat["properties"], out["summary"], zh)}}
                for feat in out["features"]]
    return jsonify({"type": "FeatureCollection", "features": features, "summary": out["summary"]})
