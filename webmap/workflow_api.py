"""/api/requests/<id>/status and /history: the request workflow over gridgis.workflow (thin adapter).

Who may do what comes from :mod:`webmap.access`: changing a status needs ``requests:status`` and the
request's grid among the caller's (otherwise 404, exactly as for an unknown id); the history needs
``requests:read`` on the request's grid. A refused transition answers 409 with the allowed next statuses.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from gridgis.errors import InvalidInputError, NotFoundError
from gridgis.roles import Principal
from gridgis.storage.schema import requests as req_t
from gridgis.workflow import (
    STATUSES,
    TransitionError,
    allowed_next,
    change_status,
    note_required,
    request_history,
)
from webmap import api, context
from webmap.access import current_principal, rule
from webmap.errors import error_body

bp = Blueprint("workflow", __name__, url_prefix="/api")

_BODY_KEYS = ("status", "note", "expected_status")


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInputError("请求体须为 JSON 对象，如 {\"status\": \"assigned\"} / the body must be a JSON object "
                                "such as {\"status\": \"assigned\"}", field="body")
    unknown = sorted(set(data) - set(_BODY_KEYS))
    if unknown:
        raise InvalidInputError(f"未知字段 / unknown field(s): {', '.join(unknown)}; allowed: {', '.join(_BODY_KEYS)}",
                                field=unknown[0])
    if "status" not in data:
        raise InvalidInputError("缺少 status / status is required", field="status")
    return data


def _options(p: Principal, row: dict) -> dict:
    """What this caller may do next with the request: the allowed statuses with labels and note rules."""
    can = p.can_update_status(row["grid_code"])
    nxt = allowed_next(row["status"]) if can else []
    return {"status": row["status"], "can_update": can,
            "allowed": [{"value": s, "zh": STATUSES[s][0], "en": STATUSES[s][1],
                         "note_required": note_required(row["status"], s)} for s in nxt]}


def request_json(request_id: str) -> dict:
    """One request as the request lists show it (contacts masked: the row replaces a list row), with due_at
    and overdue."""
    df = context.store().requests_frame(api.PUBLIC_REQUEST_FIELDS, where=req_t.c.id == request_id)
    return api._public_rows(df)[0]


@bp.post("/requests/<path:request_id>/status")
@rule("requests:status")
def set_status(request_id: str):
    p = current_principal()
    data = _body()
    tz = context.settings().timezone
    try:
        ev = change_status(context.store(), request_id, data["status"], actor=p.name, note=data.get("note"),
                           allowed_grids=p.can_update_status, expected_status=data.get("expected_status"))
    except TransitionError as exc:
        body = error_body(409, exc.code, exc.public_message, exc.field)
        body.update({"current": exc.current, "allowed": exc.allowed})
        return jsonify(body), 409
    row = context.store().request_workflow_row(request_id)
    return jsonify({"ok": True, "request": request_json(request_id), "event": ev.to_dict(tz), **_options(p, row)})


@bp.get("/requests/<path:request_id>/history")
@rule("requests:read")
def history(request_id: str):
    p = current_principal()
    tz = context.settings().timezone
    row = context.store().request_workflow_row(request_id)
    if row is None or p.request_level(row["grid_code"]) is None:
        raise NotFoundError(f"找不到诉求 / request not found: {request_id}", field="id")
    df = request_history(context.store(), request_id, tz=tz)
    full = p.request_level(row["grid_code"]) == "full"
    events = [{"at": r["at"].isoformat(), "actor": r["actor"], "from_status": r["from_status"],
               "to_status": r["to_status"], "note": r["note"] if full else None}
              for r in df.to_dict("records")]
    return jsonify({"ok": True, "id": request_id, **_options(p, row), "events": events})
