"""Route guards for API tokens: require a scope, from ``Authorization: Bearer`` or Open311's ``api_key``.

On /api routes a missing, unknown, revoked or expired token answers 401 (with ``WWW-Authenticate``) and
a token without the scope 403, both in our JSON error shape. On Open311 routes (``api_key=True``) every
refusal is the spec's 403, raised as a gridgis error for the Open311 blueprint to render.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, jsonify, request

from gridgis import tokens
from gridgis.errors import PermissionDeniedError
from webmap import context
from webmap.errors import error_body


def presented_token(*, api_key: bool = False) -> str | None:
    """The token the client sent: the Bearer header, else (``api_key``) the api_key form/query/JSON field."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if api_key:
        body = request.get_json(silent=True) if request.is_json else None
        for found in (request.form.get("api_key"), request.args.get("api_key"),
                      body.get("api_key") if isinstance(body, dict) else None):
            if found and str(found).strip():
                return str(found).strip()
    return None


def client_name() -> str | None:
    """Who is asking, for the audit log: the token's name, else the logged-in user's name (None: anonymous)."""
    token = g.get("gridgis_token")
    if token is not None:
        return token.name
    principal = g.get("gridgis_principal")  # resolved by webmap.access before the view
    return principal.name if principal is not None and principal.authenticated else None


def optional_token(scope: str | None = None, *, api_key: bool = False) -> tokens.ApiToken | None:
    """Authenticate when the client sent a token (a bad one is refused); anonymous (None) when it sent none."""
    secret = presented_token(api_key=api_key)
    if secret is None:
        return None
    g.gridgis_token = tokens.authenticate(context.store(), secret, scope)
    return g.gridgis_token


def require_scope(scope: str, *, api_key: bool = False) -> Callable:
    """Decorate a view: it runs only for a valid token that allows ``scope`` (see the module docstring)."""
    if scope not in tokens.SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def deco(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            secret = presented_token(api_key=api_key)
            if secret is None and api_key:
                raise PermissionDeniedError("缺少 api_key / api_key was not provided", field="api_key")
            try:
                g.gridgis_token = tokens.authenticate(context.store(), secret, scope)
            except tokens.TokenRejected as exc:
                if api_key:
                    raise
                resp = jsonify(error_body(401, exc.code, exc.public_message, "Authorization"))
                resp.status_code = 401
                resp.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"' if secret else "Bearer"
                return resp
            except tokens.ScopeMissing as exc:
                if api_key:
                    raise
                return jsonify(error_body(403, exc.code, exc.public_message, "Authorization")), 403
            return view(*args, **kwargs)

        return wrapper

    return deco
