"""HTML pages: the map at ``/`` (a folium shell, data fetched by the browser) and the data overview."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from flask import Blueprint, current_app, make_response, render_template, request, url_for
from markupsafe import escape

from gridgis.workflow import STATUSES
from webmap import context, i18n
from webmap.access import csrf_token, current_principal, rule
from webmap.mapshell import render_map

bp = Blueprint("pages", __name__)
_STATIC = Path(__file__).resolve().parent / "static"


def asset_version() -> str:
    """Changes when our own JS/CSS change, so browsers never run a stale gridgis.js after an upgrade."""
    def build() -> str:
        h = hashlib.sha256()
        for name in ("gridgis.js", "projects.js", "gridgis.css", "gcj02.js"):
            h.update((_STATIC / name).read_bytes())
        return h.hexdigest()[:10]

    ext = current_app.extensions
    if "gridgis.asset_version" not in ext:
        ext["gridgis.asset_version"] = build()
    return ext["gridgis.asset_version"]


def initial_bounds() -> tuple[float, float, float, float] | None:
    """Service area, else the official grids, else nothing (the page then opens on Chengdu)."""
    b = context.service_area().bounds
    if b is not None:
        return b
    grids = context.store().grids_frame()
    if len(grids):
        return (float(np.min(grids["min_lng"])), float(np.min(grids["min_lat"])),
                float(np.max(grids["max_lng"])), float(np.max(grids["max_lat"])))
    return None


@bp.get("/")
@rule("map:view")
def map_page():
    lang = i18n.pick_lang(request.args.get("lang"))
    html = render_map(
        context.settings(),
        lang=lang,
        bounds=initial_bounds(),
        request_types=[{"label": t.label, "name_en": t.name_en} for t in context.taxonomy().request_types],
        statuses=[{"code": c, "zh": zh, "en": en} for c, (zh, en, _open) in STATUSES.items()],
        static_url=url_for("static", filename="").rstrip("/"),
        api_url=request.script_root + "/api",
        overview_url=url_for("pages.overview"),
        asset_version=asset_version(),
        user=_page_user(),
    )
    # The CSRF token of the session, for every state-changing fetch of gridgis.js (X-CSRFToken header).
    meta = f'<meta name="csrf-token" content="{escape(csrf_token())}">'
    html = html.replace("<head>", "<head>\n    " + meta, 1)
    resp = make_response(html)
    resp.headers["Content-Type"] = "text/html; charset=utf-8"
    resp.headers["Cache-Control"] = "private, no-store"  # it holds the session's CSRF token
    return resp


@bp.get("/overview")
@rule("map:view")
def overview():
    st = context.store()
    return render_template(
        "overview.html",
        summary=st.summary(),
        categories=st.categories_frame().to_dict("records"),
        grids=st.grids_frame().drop(columns=["geometry", "attributes"]).to_dict("records"),
        batches=st.batches().to_dict("records") if current_principal().can("imports:read") else [],
    )


def _page_user() -> dict:
    """Who is logged in, as the map page shows it (no secrets)."""
    p = current_principal()
    return {"kind": p.kind, "name": p.name, "display_name": p.display_name, "role": p.role,
            "grids": None if p.grids is None else sorted(p.grids), "permissions": sorted(p.permissions),
            "logout_url": url_for("auth.logout"), "login_url": url_for("auth.login_form")}
