"""/api JSON endpoints over the Store: summary, categories, grids, batches, requests (paged, masked), points."""

from __future__ import annotations

import json

import pandas as pd
from flask import Blueprint, jsonify
from sqlalchemy import and_

from gridgis.errors import InvalidInputError, NotFoundError
from gridgis.storage.schema import requests as req_t
from webmap import context, filters, params, scoping
from webmap.access import current_principal, rule
from webmap.caching import conditional
from webmap.overdue import with_overdue

bp = Blueprint("api", __name__, url_prefix="/api")

PUBLIC_REQUEST_FIELDS = (
    "id", "source", "source_id", "created_at", "text", "address", "category", "category_rule", "request_type",
    "status", "lng", "lat", "geocode_level", "geocode_score", "grid_code", "duplicate_of", "reporter_name",
    "reporter_phone", "status_changed_at",
)


@bp.get("/summary")
@rule("aggregates:read")
@conditional
def summary():
    return jsonify({"ok": True, **context.store().summary()})


@bp.get("/categories")
@rule("aggregates:read")
@conditional
def categories():
    df = context.store().categories_frame()
    return jsonify({"ok": True, "categories": df.to_dict("records")})


@bp.get("/grids")
@rule("aggregates:read")
@conditional
def grids():
    df = context.store().grids_frame()
    features = [
        {
            "type": "Feature",
            "id": r["grid_code"],
            "geometry": json.loads(r["geometry"]),
            "properties": {k: r[k] for k in ("grid_code", "name", "community", "subdistrict", "grid_worker",
                                             "households")},
        }
        for r in df.astype(object).where(df.notna(), None).to_dict("records")
    ]
    return jsonify({"type": "FeatureCollection", "features": features})


@bp.get("/batches")
@rule("imports:read")
@conditional
def batches():
    df = context.store().batches().drop(columns=["options"])
    df["report"] = df["report"].map(lambda r: json.loads(r) if r else None)
    return jsonify({"ok": True, "batches": df.astype(object).where(df.notna(), None).to_dict("records")})


def _public_rows(df: pd.DataFrame, level: str | None = None) -> list[dict]:
    """Request rows as JSON records as the caller may see them (webmap.scoping: contact details masked in
    lists, at the caller's ``level`` in a detail), times ISO 8601 in the deployment's zone."""
    tz = context.settings().timezone
    df = scoping.list_rows(df) if level is None else scoping.detail_rows(df, level)
    df = with_overdue(df)  # due_at, overdue (deadline settings)
    df["created_at"] = df["created_at"].dt.tz_convert(tz).map(lambda t: t.isoformat())
    return df.astype(object).where(df.notna(), None).to_dict("records")


@bp.get("/requests")
@rule("requests:read")
@conditional
def list_requests():
    st = context.store()
    limit = params.get_int("limit", 50, 1, 1000)
    offset = params.get_int("offset", 0, 0, 10**9)
    f = filters.parse_filters(allow_cell=True)
    conds = filters.sql_conditions(f)
    own = scoping.grid_condition()  # a grid worker's own grids only
    if own is not None:
        conds.append(own)
    where = and_(*conds) if conds else None
    order = [req_t.c.created_at.desc(), req_t.c.id]
    if f.zone is None:
        df = st.requests_frame(PUBLIC_REQUEST_FIELDS, where=where, limit=limit + 1, offset=offset, order_by=order)
    else:
        # Point-in-polygon cannot run in portable SQL: page over the ids inside the zone instead.
        pts = st.requests_frame(["id", "lng", "lat"], where=where, order_by=order)
        inside = pts["id"][filters.in_zone(f.zone, pts["lng"], pts["lat"])]
        page_ids = inside.iloc[offset : offset + limit + 1].tolist()
        df = st.requests_frame(PUBLIC_REQUEST_FIELDS, where=req_t.c.id.in_(page_ids), order_by=order)
    more = len(df) > limit
    rows = _public_rows(df.iloc[:limit])
    return jsonify({"ok": True, "limit": limit, "offset": offset, "returned": len(rows), "more": more,
                    "requests": rows})


@bp.get("/requests/<path:request_id>")
@rule("requests:read")
@conditional
def get_request(request_id: str):
    df = context.store().requests_frame(PUBLIC_REQUEST_FIELDS, where=req_t.c.id == request_id)
    level = None if df.empty else current_principal().request_level(df["grid_code"].iloc[0])
    if level is None:  # another grid's request answers exactly as a missing one: nothing is revealed
        raise NotFoundError(f"找不到诉求 / request not found: {request_id}", field="id")
    return jsonify({"ok": True, "request": _public_rows(df, level)[0]})


@bp.get("/points")
@rule("requests:read")
@conditional
def points():
    """Request locations for the point layer at high zoom: id, lng, lat, category (c); no text."""
    limit = params.get_int("limit", 2000, 1, 10_000)
    f = filters.parse_filters()
    if f.bbox is None:
        raise InvalidInputError("请给出 bbox（点图层只在放大后显示）/ bbox is required for points", field="bbox")
    conds = filters.sql_conditions(f)
    own = scoping.grid_condition()
    if own is not None:
        conds.append(own)
    df = context.store().requests_frame(["id", "lng", "lat", "category"], where=and_(*conds),
                                        order_by=[req_t.c.created_at.desc(), req_t.c.id])
    if f.zone is not None:
        df = df[filters.in_zone(f.zone, df["lng"], df["lat"])]
    more = len(df) > limit
    df = df.iloc[:limit]
    pts = [{"id": i, "lng": round(x, 6), "lat": round(y, 6), "c": c}
           for i, x, y, c in zip(df["id"].tolist(), df["lng"].tolist(), df["lat"].tolist(),
                                 df["category"].tolist(), strict=True)]
    return jsonify({"ok": True, "returned": len(pts), "more": more, "points": pts})
