"""/api/zones: priority zones drawn on the map — list, create, read, edit (PUT/PATCH), soft delete, history."""

from __future__ import annotations

import json

import pandas as pd
import shapely
from flask import Blueprint, jsonify, request

from gridgis.errors import InvalidInputError
from gridgis.zones import geodesic_area_km2, validate_zone
from webmap import context
from webmap.access import rule
from webmap.caching import conditional

bp = Blueprint("zones", __name__, url_prefix="/api")


def _iso(ts) -> str | None:
    if ts is None or pd.isna(ts):
        return None
    return pd.Timestamp(int(ts), unit="s", tz="UTC").tz_convert(context.settings().timezone).isoformat()


def zone_feature(row: dict) -> dict:
    """A stored zone row as a GeoJSON Feature (times ISO 8601 in the deployment's zone)."""
    geometry = json.loads(row["geometry"])
    props = {k: row[k] for k in ("id", "name", "category", "priority", "notes", "version", "created_by")}
    props = {k: (None if v is not None and not isinstance(v, str) and pd.isna(v) else v) for k, v in props.items()}
    props["id"] = int(row["id"])
    props["priority"] = int(row["priority"])
    props["version"] = int(row["version"])
    props["created_at"] = _iso(row["created_at"])
    props["updated_at"] = _iso(row["updated_at"])
    if row.get("deleted_at") is not None and not pd.isna(row["deleted_at"]):
        props["deleted_at"] = _iso(row["deleted_at"])
    props["area_km2"] = round(geodesic_area_km2(shapely.geometry.shape(geometry)), 4)
    return {"type": "Feature", "id": props["id"], "geometry": geometry, "properties": props}


def _payload() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInputError(
            "请求体须为 JSON 对象（Content-Type: application/json）/ the request body must be a JSON object "
            "sent as application/json",
            field="body",
        )
    return data


def _validated(data: dict, partial: bool):
    st = context.store()
    codes = set(st.categories_frame()["code"])
    return validate_zone(data, codes, service_area=context.service_area().geometry, partial=partial)


def _version(data: dict) -> int | None:
    v = data.get("version")
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**31:  # an INTEGER column
        raise InvalidInputError(f"version 须为 0–{2**31 - 1} 的整数 / version must be an integer from 0 to "
                                f"{2**31 - 1}, got {v!r}", field="version")
    return v


@bp.get("/zones")
@rule("zones:read")
@conditional
def list_zones():
    df = context.store().zones_frame()
    rows = df.astype(object).where(df.notna(), None).to_dict("records")
    return jsonify({"type": "FeatureCollection", "features": [zone_feature(r) for r in rows]})


@bp.post("/zones")
@rule("zones:write")
def create_zone():
    draft = _validated(_payload(), partial=False)
    row = context.store().insert_zone(draft.to_record())
    resp = jsonify(zone_feature(row))
    resp.status_code = 201
    resp.headers["Location"] = f"{request.script_root}/api/zones/{row['id']}"
    return resp


@bp.get("/zones/<int:zone_id>")
@rule("zones:read")
@conditional
def get_zone(zone_id: int):
    return jsonify(zone_feature(context.store().get_zone(zone_id)))


@bp.route("/zones/<int:zone_id>", methods=["PUT", "PATCH"])
@rule("zones:write")
def edit_zone(zone_id: int):
    data = _payload()
    st = context.store()
    st.get_zone(zone_id)  # 404 before 400: an unknown id is the more useful message
    draft = _validated(data, partial=request.method == "PATCH")
    row = st.update_zone(zone_id, draft.to_record(), expected_version=_version(data))
    return jsonify(zone_feature(row))


@bp.delete("/zones/<int:zone_id>")
@rule("zones:write")
def delete_zone(zone_id: int):
    row = context.store().delete_zone(zone_id)
    return jsonify({"ok": True, "id": int(row["id"]), "deleted_at": _iso(row["deleted_at"]),
                    "version": int(row["version"])})


@bp.get("/zones/<int:zone_id>/history")
@rule("zones:read")
@conditional
def zone_history(zone_id: int):
    st = context.store()
    st.get_zone(zone_id, include_deleted=True)
    df = st.zone_history_frame(zone_id)
    items = [
        {"version": int(r["version"]), "action": r["action"], "changed_by": r["changed_by"],
         "changed_at": _iso(r["changed_at"]), "zone": zone_feature(json.loads(r["snapshot"]))}
        for r in df.astype(object).where(df.notna(), None).to_dict("records")
    ]
    return jsonify({"ok": True, "id": zone_id, "history": items})
