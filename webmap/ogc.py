"""/ogc: the thin Flask adapter of OGC API – Features over gridgis.ogcapi — media types, HTML, tokens, audit, errors.

Discovery (landing page, conformance, API definition, collections) is open; features need an API
token (``Authorization: Bearer ggt_…``, as on /api) whose scope covers the collection
(``requests_masked`` for requests, ``aggregates`` for the rest) or a logged-in user with the matching
export permission (webmap.access), and every features response is written to the audit log. Errors
are the OGC exception document ``{"code", "description"}`` (plus our ``status``/``field``) with 400,
401, 403 or 404.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, request
from markupsafe import escape

from gridgis import audit, ogcapi, tokens
from gridgis.errors import GridGISError, InvalidInputError, StorageError
from gridgis.ogcapi.documents import GEOJSON, HTML, JSON, OPENAPI
from gridgis.ogcapi.service import OgcService
from webmap import context
from webmap.access import PUBLIC, require, rule
from webmap.errors import STATUS

log = logging.getLogger(__name__)
bp = Blueprint("ogc", __name__, url_prefix="/ogc")
OGC_CODES = {400: "InvalidParameterValue", 401: "InvalidToken", 403: "Forbidden", 404: "NotFound"}


def _service() -> OgcService:
    return context._cached("gridgis.ogc", lambda: OgcService(context.store(), context.settings()))


def _base() -> str:
    return request.url_root.rstrip("/") + bp.url_prefix


def _args() -> dict[str, list[str]]:
    return request.args.to_dict(flat=False)


def _html_wanted() -> bool:
    f = request.args.get("f")
    if f is not None:
        return f.strip().lower() == "html"
    return request.accept_mimetypes.best_match([JSON, GEOJSON, HTML]) == HTML


def _send(doc, media_type: str, headers: dict | None = None, status: int = 200) -> Response:
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status=status, mimetype=media_type, headers=headers)


def _respond(doc: dict, media_type: str, title: str, headers: dict | None = None) -> Response:
    if _html_wanted():
        return Response(_page(title, doc), mimetype=HTML, headers=headers)
    return _send(doc, media_type, headers)


def _client(scope: str) -> str:
    """The caller's name (API token or user, see webmap.access), checked for the collection's ``scope``:
    request rows need ``export:requests`` (not grid workers: their access stops at their own grids)."""
    return require("export:requests" if scope == "requests_masked" else "export:aggregates").name


@bp.errorhandler(GridGISError)
def _error(exc: GridGISError):
    status = 401 if isinstance(exc, tokens.TokenRejected) else next(
        (s for cls, s in STATUS if isinstance(exc, cls)), 500)
    message = exc.public_message
    if status >= 500:
        log.error("%s: %s", type(exc).__name__, exc)
        message = ("数据库暂不可用，请稍后重试 / the database is unavailable, try again shortly"
                   if isinstance(exc, StorageError) else "服务器内部错误 / internal server error")
    body = {"code": OGC_CODES.get(status, "ServerError"), "description": message, "status": status}
    if status in (401, 403):
        body["field"] = "Authorization"  # the header the client fixes (the token module names api_key)
    elif exc.field:
        body["field"] = exc.field
    headers = {"WWW-Authenticate": 'Bearer realm="gridgis"'} if status == 401 else None
    return _send(body, JSON, headers, status)


# -- discovery ------------------------------------------------------------------------------------------

@bp.get("")
@bp.get("/")
@rule(PUBLIC)
def landing():
    return _respond(ogcapi.landing(_base(), _args()), JSON, "gridgis OGC API")


@bp.get("/conformance")
@rule(PUBLIC)
def conformance():
    return _respond(ogcapi.conformance(_base(), _args()), JSON, "Conformance")


@bp.get("/api")
@rule(PUBLIC)
def api():
    args = _args()
    if set(args) - {"f"} or request.args.get("f", "json") not in ("json", "html"):
        raise InvalidInputError("/api 只接受 f=json 或 f=html / /api accepts only f=json or f=html",
                                field=next(iter(set(args) - {"f"}), "f"))
    return _respond(ogcapi.openapi(_service(), _base()), OPENAPI, "API")


@bp.get("/collections")
@rule(PUBLIC)
def collections():
    return _respond(ogcapi.collections(_service(), _base(), _args()), JSON, "Collections")


@bp.get("/collections/<cid>")
@rule(PUBLIC)
def collection(cid: str):
    doc = ogcapi.collection(_service(), cid, _base(), _args())
    return _respond(doc, JSON, doc["title"])


# -- features -------------------------------------------------------------------------------------------

@bp.get("/collections/<cid>/items")
@rule("export:aggregates")
def items(cid: str):
    svc = _service()
    who = _client(svc.collection(cid).scope)
    doc, crs = ogcapi.items(svc, cid, _base(), _args())
    audit.record(context.store(), who, f"ogc.{cid}", _args(), doc["numberReturned"])
    return _respond(doc, GEOJSON, f"{cid} items", {"Content-Crs": f"<{crs}>"})


@bp.get("/collections/<cid>/items/<path:fid>")
@rule("export:aggregates")
def item(cid: str, fid: str):
    svc = _service()
    who = _client(svc.collection(cid).scope)
    doc, crs = ogcapi.item(svc, cid, fid, _base(), _args())
    audit.record(context.store(), who, f"ogc.{cid}", {"featureId": fid, **_args()}, 1)
    return _respond(doc, GEOJSON, f"{cid} {fid}", {"Content-Crs": f"<{crs}>"})


# -- HTML (conformance class html): every document as a plain page; user text is escaped ------------------

def _links(links: list[dict]) -> str:
    rows = "".join(f'<li><a href="{escape(k["href"])}">{escape(k.get("title") or k["href"])}</a> '
                   f'<small>{escape(k["rel"])} · {escape(k["type"])}</small></li>' for k in links)
    return f"<ul>{rows}</ul>"


def _table(rows: list[dict]) -> str:
    if not rows:
        return "<p>（无 / none）</p>"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{escape('' if r.get(c) is None else r.get(c))}</td>" for c in cols)
                   + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _body(doc: dict) -> str:
    if doc.get("type") == "FeatureCollection":
        rows = [{"id": f["id"], "geometry": (f["geometry"] or {}).get("type"), **f["properties"]}
                for f in doc["features"]]
        return (f"<p>numberMatched {doc.get('numberMatched', '—')} · numberReturned {doc['numberReturned']}</p>"
                + _table(rows))
    if doc.get("type") == "Feature":
        return _table([{"id": doc["id"], **doc["properties"]}]) + (
            f"<pre>{escape(json.dumps(doc['geometry'], ensure_ascii=False))}</pre>")
    if "conformsTo" in doc:
        return "<ul>" + "".join(f"<li>{escape(c)}</li>" for c in doc["conformsTo"]) + "</ul>"
    if "collections" in doc:
        return _table([{"id": c["id"], "title": c["title"], "description": c["description"]}
                       for c in doc["collections"]]) + "".join(
            f"<h2>{escape(c['id'])}</h2>{_links(c['links'])}" for c in doc["collections"])
    if "openapi" in doc:
        return _table([{"path": p, "summary": op["get"]["summary"],
                        "parameters": ", ".join(x.get("name") or x["$ref"].rsplit("/", 1)[-1]
                                                for x in op["get"]["parameters"])}
                       for p, op in doc["paths"].items()])
    return f"<p>{escape(doc.get('description', ''))}</p>"


def _page(title: str, doc: dict) -> str:
    return (
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top}</style></head><body>"
        f"<h1>{escape(doc.get('title', title))}</h1>{_body(doc)}<h2>链接 / links</h2>"
        f"{_links(doc.get('links', []))}</body></html>"
    )
