"""One JSON error shape on every route: {"ok": false, "status", "code", "error", "field"?}."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from gridgis.errors import (
    ConfigError,
    ConflictError,
    GridGISError,
    InvalidInputError,
    MissingDependencyError,
    NotAuthenticatedError,
    NotFoundError,
    PermissionDeniedError,
    StorageError,
)

log = logging.getLogger(__name__)

STATUS = (
    (NotFoundError, 404),
    (NotAuthenticatedError, 401),
    (PermissionDeniedError, 403),
    (ConflictError, 409),
    (InvalidInputError, 400),
    (ConfigError, 500),
    (MissingDependencyError, 501),
    (StorageError, 503),
)


def error_body(status: int, code: str, message: str, field: str | None = None) -> dict:
    body = {"ok": False, "status": status, "code": code, "error": message}
    if field:
        body["field"] = field
    return body


def _wants_json() -> bool:
    # /ogc and /open311 URLs no route matched (a blueprint answers its own errors in its own shape) are
    # API clients' too: JSON, never the HTML 404 page.
    return (request.path.startswith(("/api", "/ogc", "/open311"))
            or request.accept_mimetypes.best == "application/json")


def init_app(app: Flask) -> None:
    @app.errorhandler(GridGISError)
    def _gridgis(exc: GridGISError):
        status = next((s for cls, s in STATUS if isinstance(exc, cls)), 500)
        if status >= 500:
            log.error("%s: %s", type(exc).__name__, exc)
        message = exc.public_message if status < 500 else "服务器内部错误 / internal server error"
        if isinstance(exc, StorageError):
            message = "数据库暂不可用，请稍后重试 / the database is unavailable, try again shortly"
        resp = jsonify(error_body(status, exc.code, message, exc.field))
        if status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="gridgis"'
        return resp, status

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        body = error_body(exc.code or 500, code, exc.description or exc.name)
        if not _wants_json() and (exc.code or 500) == 404:
            return f"<h1>404</h1><p>{exc.name}</p>", 404
        return jsonify(body), exc.code or 500

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s", request.path)
        return jsonify(error_body(500, "internal_error", "服务器内部错误 / internal server error")), 500
