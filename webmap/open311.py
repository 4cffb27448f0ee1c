"""Open311 GeoReport v2 at /open311/v2: a thin Flask adapter over gridgis.open311 (.json and .xml).

Errors use the spec's body (``[{"code", "description"}]`` or ``<errors><error>…``) with 400, 403 and
404. Discovery and services are open; reading requests needs a token with ``requests_masked`` (as
``api_key`` or Bearer) or a secretary's session — even masked, they are residents' personal data — and
a POST an ``api_key`` (or Bearer token) with the ``open311_submit`` scope (rules: webmap.access). Every
pull and submission leaves an audit row.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, json, request
from werkzeug.exceptions import HTTPException

from gridgis import audit, open311
from gridgis.errors import GridGISError, InvalidInputError, StorageError
from webmap import context
from webmap.access import PUBLIC, rule
from webmap.errors import STATUS
from webmap.tokens import client_name, optional_token, require_scope

log = logging.getLogger(__name__)

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
_CTX_KEY = "gridgis.open311_ctx"
MAX_FIELD_CHARS = 500  # a name, address, e-mail, URL … of a submission (a 1 M-character address was stored)


def _path_format() -> str:
    """The format the client asked for by the URL's suffix (json when it named none we know)."""
    suffix = request.path.rsplit(".", 1)[-1].lower() if "." in request.path.rsplit("/", 1)[-1] else ""
    return suffix if suffix in open311.FORMATS else "json"


def _send(doc, fmt: str, root: str, item: str | None = None, status: int = 200) -> Response:
    if fmt == "xml":
        body = open311.to_xml(doc, root, item)
    else:
        body = json.dumps(doc, ensure_ascii=False)
    return Response(body, status=status, content_type=f"{open311.FORMATS[fmt]}; charset=utf-8")


def _error(status: int, description: str) -> Response:
    return _send(open311.error_document(status, description), _path_format(), "errors", "error", status)


@bp.errorhandler(GridGISError)
def _gridgis_error(exc: GridGISError):
    status = next((s for cls, s in STATUS if isinstance(exc, cls)), 500)
    if status >= 500:
        log.error("%s: %s", type(exc).__name__, exc)
        msg = ("数据库暂不可用，请稍后重试 / the database is unavailable, try again shortly"
               if isinstance(exc, StorageError) else "服务器内部错误 / internal server error")
        return _error(status, msg)
    return _error(status, exc.public_message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return _error(exc.code or 500, exc.description or exc.name)


def _split(name: str) -> tuple[str, str]:
    """``ID.json`` → (ID, "json"); ids may contain dots and slashes, the format is the last suffix."""
    stem, dot, fmt = name.rpartition(".")
    if not dot or not stem:
        return name, open311.check_format("")
    return stem, open311.check_format(fmt)


def _args() -> dict:
    return {k: (v[0] if len(v) == 1 else v) for k, v in request.args.lists()}


@bp.get("/discovery.<fmt>")
@rule(PUBLIC)
def discovery(fmt: str):
    fmt = open311.check_format(fmt)
    base = request.url_root.rstrip("/") + (bp.url_prefix or "")
    return _send(open311.discovery(base), fmt, "discovery")


@bp.get("/services.<fmt>")
@rule(PUBLIC)
def services(fmt: str):
    fmt = open311.check_format(fmt)
    return _send(open311.services(context.taxonomy()), fmt, "services", "service")


@bp.get("/services/<path:name>")
@rule(PUBLIC)
def service_definition(name: str):
    code, fmt = _split(name)
    return _send(open311.service_definition(context.taxonomy(), code), fmt, "service_definition")


@bp.get("/requests.<fmt>")
@rule("export:requests")
def list_requests(fmt: str):
    fmt = open311.check_format(fmt)
    optional_token(api_key=True)
    params = _args()
    docs = open311.query_requests(context.store(), context.settings(), params, taxonomy=context.taxonomy())
    audit.record(context.store(), client_name(), "open311.requests", params, len(docs))
    return _send(docs, fmt, "service_requests", "request")


@bp.post("/requests.<fmt>")
@rule("open311:submit")
@require_scope("open311_submit", api_key=True)
def post_request(fmt: str):
    fmt = open311.check_format(fmt)
    body = request.get_json(silent=True) if request.is_json else None
    # The spec sends form fields; a JSON object and query parameters are accepted too (the form wins).
    params = {**(body if isinstance(body, dict) else {}), **_args(), **request.form.to_dict()}
    params.pop("api_key", None)
    for name, value in params.items():  # description has its own limit (gridgis.open311, the spec's 4000)
        if name != "description" and len(str(value)) > MAX_FIELD_CHARS:
            raise InvalidInputError(f"{name} 超过 {MAX_FIELD_CHARS} 字 / {name} is longer than {MAX_FIELD_CHARS} "
                                    "characters", field=name)
    st, settings = context.store(), context.settings()
    ctx = open311.submission_context(settings, st, current_app.extensions.get(_CTX_KEY))
    current_app.extensions[_CTX_KEY] = ctx
    doc = open311.submit_request(st, settings, params, ctx=ctx, client=client_name())
    audit.record(st, client_name(), "open311.submit",
                 {"service_code": params.get("service_code"), "service_request_id": doc[0]["service_request_id"]},
                 len(doc))
    return _send(doc, fmt, "service_requests", "request")


@bp.get("/requests/<path:name>")
@rule("export:requests")
def get_request(name: str):
    request_id, fmt = _split(name)
    optional_token(api_key=True)
    docs = open311.request_by_id(context.store(), context.settings(), request_id, taxonomy=context.taxonomy())
    audit.record(context.store(), client_name(), "open311.request", {"service_request_id": request_id}, len(docs))
    return _send(docs, fmt, "service_requests", "request")


@bp.get("/tokens/<path:name>")
@rule("export:requests", "open311:submit")
def token(name: str):
    token_id, fmt = _split(name)
    optional_token(api_key=True)
    doc = open311.token_lookup(context.store(), token_id)
    audit.record(context.store(), client_name(), "open311.token", {"service_request_id": token_id}, len(doc))
    return _send(doc, fmt, "service_requests", "request")


@bp.route("/", defaults={"rest": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@rule(PUBLIC)
def unknown(rest: str):
    if request.method not in ("GET", "POST"):  # the spec: 404 missing, 403 api_key, 400 anything else
        return _error(400, f"Open311 只用 GET 和 POST / Open311 uses GET and POST only, not {request.method}")
    return _error(404, f"没有这个 Open311 资源 / no Open311 resource at /{rest}; see discovery.json, services.json, "
                       "requests.json")
