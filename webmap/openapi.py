"""The OpenAPI 3.0 document of the JSON API, served at /api/openapi.json (a test checks it covers every route)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from webmap.access import PUBLIC, rule

bp = Blueprint("openapi", __name__, url_prefix="/api")


def _q(name: str, description: str, schema: dict | None = None, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


def _p(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or {"type": "string"}}


PARAMS = {
    "res": _q("res", "H3 resolution 7–10 (8 street office, 9 community, 10 ≈ 万米单元网格)",
              {"type": "integer", "minimum": 7, "maximum": 10}),
    "bbox": _q("bbox", "min_lng,min_lat,max_lng,max_lat in WGS84"),
    "since": _q("since", "ISO 8601 date or time, inclusive; naive values are in the deployment's time zone; "
                "between 2000-01-01 and a year from now"),
    "until": _q("until", "ISO 8601 date or time, exclusive; between 2000-01-01 and a year from now"),
    "category": _q("category", "category codes, comma separated (see /api/categories)"),
    "type": _q("type", "request types (咨询, 投诉, 求助, 建议, 举报, 表扬), comma separated"),
    "status": _q("status", "statuses (new, assigned, in_progress, resolved, verified, invalid, duplicate)"),
    "grid": _q("grid", "official grid codes (14 or 15 digits), comma separated"),
    "zone": _q("zone", "id of a saved priority zone: only requests inside it",
               {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}),
    "limit": _q("limit", "page size", {"type": "integer", "minimum": 1}),
    "offset": _q("offset", "rows to skip", {"type": "integer", "minimum": 0}),
    "cell": _q("cell", "H3 cell id (hex) at resolution 7–10: only requests in it"),
}
FILTERS = ["since", "until", "category", "type", "status", "grid", "zone"]
ERROR = {"$ref": "#/components/responses/Error"}
NOT_MODIFIED = {"description": "not modified since the ETag / Last-Modified the client sent"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def _get(summary: str, params: list[str] = (), extra: list[dict] = (), body: dict | None = None,
         conditional: bool = True) -> dict:
    op = {"summary": summary, "parameters": [_ref(p) for p in params] + list(extra),
          "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": body or
                                                                                          {"type": "object"}}}},
                        "400": ERROR, "404": ERROR}}
    if conditional:
        op["responses"]["304"] = NOT_MODIFIED
    return op


def _write(summary: str, status: str = "200", extra: list[dict] = (), with_body: bool = True) -> dict:
    op = {"summary": summary, "parameters": list(extra),
          "responses": {status: {"description": "OK", "content": {"application/json": {"schema":
                                                                                          {"type": "object"}}}},
                        "400": ERROR, "404": ERROR}}
    if with_body:
        schema = {"$ref": "#/components/schemas/ZoneInput"}
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return op


ZONE_ID = _p("zone_id", "zone id (a larger one than 2147483647 is 404, as any unknown id)", {"type": "integer"})


def _status_op() -> dict:
    """POST /api/requests/{request_id}/status: a workflow step (see webmap/workflow_api.py)."""
    op = _write("Change a request's status (受理 new → 派单 assigned → 处置中 in_progress → 已办结 resolved → 已回访 "
                "verified; 无效 invalid, 重复 duplicate) with a note; recorded in its history and the audit log. "
                "Needs requests:status on the request's grid (another grid answers 404) and, for a session, the "
                "X-CSRFToken header. 409: the status does not allow this step (body lists `allowed`) or it "
                "changed since `expected_status`. Answers the request (with due_at, overdue), the event and "
                "the next allowed statuses.", extra=[_p("request_id", "request id")], with_body=False)
    op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/StatusInput"}}}}
    op["responses"].update({"401": ERROR, "403": ERROR, "409": ERROR})
    return op


def _export_op() -> dict:
    """GET /api/export/{kind}.{format}: a file download (see webmap/export_api.py)."""
    op = _get("An export as a file under the privacy policy (no names or phones; cells below k requests left "
              "out; request points snapped): name = KIND.FORMAT, KIND one of cells, hotspots, trends, projects, "
              "zones, grids, requests; FORMAT geojson (RFC 7946), csv, gpkg, or tif (cells, hotspots). Audited.",
              ["res", "bbox", *FILTERS],
              [_p("name", "KIND.FORMAT, e.g. cells.geojson", {"type": "string", "pattern": r"^[a-z]+\.[a-z]+$"}),
               _q("crs", "CRS of .gpkg (EPSG:4326 default, EPSG:4490, a GK zone such as EPSG:4544, or GK) or .tif"),
               _q("bom", "CSV with a UTF-8 BOM for Excel: 1 (default) or 0", {"type": "integer", "enum": [0, 1]}),
               _q("lang", "ignored (the map passes it)")], conditional=False)
    op["responses"]["200"] = {"description": "the file, as an attachment", "content": {
        media: {"schema": {"type": "string", "format": "binary"}} for media in
        ("application/geo+json", "text/csv", "application/geopackage+sqlite3", "image/tiff")}}
    op["responses"]["401"] = ERROR
    op["responses"]["403"] = ERROR
    return op


def document() -> dict:
    cells_schema = {"type": "object", "properties": {
        "res": {"type": "integer"}, "total": {"type": "number"}, "breaks": {"type": "array"},
        "cells": {"type": "array", "items": {"type": "object", "properties": {
            "h3": {"type": "string"}, "n": {"type": "integer"}, "rate": {"type": "number", "nullable": True}}}}}}
    paths = {
        "/api/summary": {"get": _get("What the database holds: counts, time span, grids, batches")},
        "/api/categories": {"get": _get("Demand categories with names and map colours")},
        "/api/grids": {"get": _get("Official grids as a GeoJSON FeatureCollection")},
        "/api/batches": {"get": _get("Ingest batches with their reports")},
        "/api/requests": {"get": _get("Requests, newest first, paged; contact details masked",
                                      ["limit", "offset", "bbox", "cell", *FILTERS])},
        "/api/requests/{request_id}": {"get": _get("One request (masked)", extra=[_p("request_id", "request id")])},
        "/api/requests/{request_id}/status": {"post": _status_op()},
        "/api/requests/{request_id}/history": {"get": _get(
            "A request's status changes, oldest first (at, actor, from_status, to_status, note), with what the "
            "caller may do next: can_update and the allowed next statuses", extra=[_p("request_id", "request id")],
            conditional=False)},
        "/api/points": {"get": _get("Request locations in a bbox for the point layer",
                                    ["bbox", "limit", *FILTERS])},
        "/api/cells": {"get": _get("Request counts per H3 cell as compact rows [{h3, n, rate}]",
                                   ["res", "bbox", *FILTERS], body=cells_schema)},
        "/api/cells/{h3}": {"get": _get("One cell: counts by category, monthly series, rate",
                                        FILTERS, [_p("h3", "H3 cell id (hex), resolution 7–10")])},
        "/api/hotspots": {"get": _get(
            "Getis-Ord Gi* bins (method=gi) or emerging hot spot classes (method=trend) per cell of the study area",
            ["res", "bbox", *FILTERS],
            [_q("method", "gi or trend", {"type": "string", "enum": ["gi", "trend"]}),
             _q("k", "neighbourhood rings", {"type": "integer", "minimum": 1, "maximum": 3}),
             _q("lang", "language of trend labels: zh (default) or en")])},
        "/api/projects": {"get": _get(
            "Ranked project candidates (contiguous Gi* hot cells per category) as a GeoJSON FeatureCollection: "
            "polygon, rank, score and its parts, requests, issues, households, trend, grids, keywords, "
            "representative texts (contacts masked), the zone the map makes from each, and a run summary",
            FILTERS,
            [_q("k", "Gi* neighbourhood rings", {"type": "integer", "minimum": 1, "maximum": 3, "default": 1}),
             _q("gap", "1: hot cells one cell apart still form one candidate",
                {"type": "integer", "minimum": 0, "maximum": 1, "default": 0}),
             _q("min_cells", "smallest candidate in cells", {"type": "integer", "minimum": 1, "default": 2}),
             _q("lang", "language of each candidate's zone notes: zh (default) or en")])},
        "/api/stats": {"get": _get("Totals for the filters: by category, status, type and month",
                                   ["bbox", *FILTERS])},
        "/api/zones": {
            "get": _get("Saved priority zones as a GeoJSON FeatureCollection"),
            "post": _write("Create a zone (name, category, priority 1–5, notes, geometry)", "201"),
        },
        "/api/zones/{zone_id}": {
            "get": _get("One zone as a GeoJSON Feature", extra=[ZONE_ID]),
            "put": _write("Replace a zone's attributes and geometry", extra=[ZONE_ID]),
            "patch": _write("Change some of a zone's fields", extra=[ZONE_ID]),
            "delete": _write("Delete a zone (soft: its history is kept)", extra=[ZONE_ID], with_body=False),
        },
        "/api/zones/{zone_id}/stats": {"get": _get(
            "Requests inside a zone by category and month, households and change vs the previous period",
            FILTERS[:-1], [ZONE_ID])},
        "/api/zones/{zone_id}/history": {"get": _get("Every version of a zone", extra=[ZONE_ID])},
        "/api/export/{name}": {"get": _export_op()},
        "/api/openapi.json": {"get": _get("This document", conditional=False)},
        "/api/me": {"get": _get(
            "Who is asking (session user, API token or anonymous): name, role, grids, permissions, and for a "
            "browser session the CSRF token that state-changing requests send as X-CSRFToken", conditional=False)},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "gridgis API", "version": "1",
                 "description": "社区网格化管理：居民诉求热力图、热点与重点区域 / Community grid management: "
                                "residents' demand heatmap, hot spots and priority zones. Every error has the "
                                "shape {ok: false, status, code, error, field?}. Authentication: a session cookie "
                                "(log in at /login; unsafe methods then need the X-CSRFToken header) or "
                                "Authorization: Bearer <API token>; 401 without either, 403 without the "
                                "permission."},
        "servers": [{"url": request.url_root.rstrip("/")}],
        "paths": paths,
        "components": {
            "parameters": PARAMS,
            "responses": {"Error": {"description": "error", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "schemas": {
                "Error": {"type": "object", "required": ["ok", "status", "code", "error"], "properties": {
                    "ok": {"type": "boolean"}, "status": {"type": "integer"}, "code": {"type": "string"},
                    "error": {"type": "string"}, "field": {"type": "string"}}},
                "StatusInput": {"type": "object", "required": ["status"], "properties": {
                    "status": {"type": "string", "enum": ["new", "assigned", "in_progress", "resolved", "verified",
                                                          "invalid", "duplicate"]},
                    "note": {"type": "string", "maxLength": 500, "nullable": True,
                             "description": "why; required for invalid, duplicate, reopening, sending back, "
                                            "restoring"},
                    "expected_status": {"type": "string", "nullable": True,
                                        "description": "the status you saw (guards against overwriting a change)"}}},
                "ZoneInput": {"type": "object", "properties": {
                    "name": {"type": "string", "maxLength": 80},
                    "category": {"type": "string", "nullable": True},
                    "priority": {"type": "integer", "minimum": 1, "maximum": 5},
                    "notes": {"type": "string", "maxLength": 2000, "nullable": True},
                    "geometry": {"type": "object", "description": "GeoJSON Polygon or MultiPolygon, WGS84"},
                    "version": {"type": "integer", "description": "the version you edited (guards against "
                                                                  "overwriting someone else's change)"}}},
            },
        },
    }


@bp.get("/openapi.json")
@rule(PUBLIC)
def openapi_json():
    return jsonify(document())
