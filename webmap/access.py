"""Route authorisation: every view carries a rule; the caller's Principal is checked before the view runs.

- :func:`rule` tags a view with the permission(s) it needs (any one suffices) or ``"public"``.
  :func:`check_rules` (called at app creation) fails when a route has no rule, so none ships without.
- :func:`current_principal` is the logged-in user of the session cookie, else the API token of
  ``Authorization: Bearer`` (on Open311 also ``api_key``), else anonymous.
- :func:`enforce` runs before every request: anonymous callers of a protected route get 401 (JSON on
  /api, /ogc and /open311; a redirect to /login on pages), authenticated callers without the permission
  403 "no permission"; state-changing requests of session users must carry the CSRF token
  (``X-CSRFToken`` header or ``csrf_token`` form field). Token requests are exempt from CSRF: a browser
  never adds an Authorization header on its own.
- Sessions (Flask's signed cookie) hold the user id, the user's ``session_epoch`` and the issue time;
  a session older than ``session_hours`` or whose epoch was bumped (user disabled, password reset) is
  treated as anonymous, answered with "session expired".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

from flask import Flask, current_app, g, redirect, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf

from gridgis import tokens
from gridgis.errors import NotAuthenticatedError, PermissionDeniedError
from gridgis.roles import PERMISSIONS, SCOPE_PERMISSIONS, Principal
from webmap import context

PUBLIC = "public"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_API_PREFIXES = ("/api", "/ogc", "/open311")
_CSRF_ALWAYS = frozenset({"auth.login"})  # anonymous form posts that still need the token (login CSRF)

NO_PERMISSION = "无权限执行此操作 / no permission"
LOGIN_REQUIRED = "请先登录或提供 API 令牌 / log in or present an API token"
SESSION_EXPIRED = "会话已过期，请重新登录 / session expired, log in again"
CSRF_FAILED = "CSRF 令牌缺失或无效 / missing or invalid CSRF token"


class CsrfFailed(PermissionDeniedError):
    """A session user's state-changing request came without a valid CSRF token (403)."""

    code = "csrf_failed"


# -- rules --------------------------------------------------------------------------------------------------

def rule(*permissions: str) -> Callable:
    """Tag a view with the permissions it needs (any one of them) or ``"public"``; the view is not wrapped."""
    if not permissions:
        raise ValueError("rule() needs a permission or 'public'")
    for p in permissions:
        if p != PUBLIC and p not in PERMISSIONS:
            raise ValueError(f"unknown permission {p!r}")

    def deco(view: Callable) -> Callable:
        view.gridgis_rule = tuple(permissions)
        return view

    return deco


def view_rule(app: Flask, endpoint: str) -> tuple[str, ...] | None:
    view = app.view_functions.get(endpoint)
    return getattr(view, "gridgis_rule", None)


def check_rules(app: Flask) -> None:
    """Every endpoint except ``static`` must carry a rule: a route without one cannot ship."""
    for r in app.url_map.iter_rules():
        if r.endpoint != "static" and view_rule(app, r.endpoint) is None:
            raise RuntimeError(f"route {r.rule} (endpoint {r.endpoint!r}) has no access rule: decorate its view "
                               "with webmap.access.rule(permission) or rule('public')")


# -- who is asking -----------------------------------------------------------------------------------------

def _is_api_path() -> bool:
    return request.path.startswith(_API_PREFIXES)


def start_session(user: dict) -> None:
    """Log ``user`` (a users row) in: a fresh session (no fixation) holding id, epoch and issue time."""
    session.clear()
    session.permanent = True
    session["uid"] = int(user["id"])
    session["ep"] = int(user["session_epoch"])
    session["iat"] = int(time.time())
    g.pop("gridgis_principal", None)


def end_session() -> None:
    session.clear()
    g.pop("gridgis_principal", None)


def _session_principal() -> Principal | None:
    uid = session.get("uid")
    if uid is None:
        return None
    settings = context.settings()
    row = context.store().user_by_id(int(uid)) if isinstance(uid, int) else None
    now = time.time()
    iat = session.get("iat")
    fresh = isinstance(iat, int) and iat - 300 <= now < iat + settings.session_hours * 3600
    if row is None or row["disabled_at"] is not None or row["session_epoch"] != session.get("ep") or not fresh:
        g.gridgis_session_expired = True
        session.clear()
        return None
    return Principal.user(row["username"], row["role"], (row["grids"] or "").split(),
                          display_name=row["display_name"])


def _token_principal() -> Principal | None:
    from webmap.tokens import presented_token

    secret = presented_token(api_key=request.blueprint == "open311")
    if secret is None:
        return None
    try:
        token = tokens.authenticate(context.store(), secret)
    except tokens.TokenRejected as exc:
        if request.blueprint == "open311":  # the spec answers every api_key problem with 403
            raise PermissionDeniedError(exc.public_message, field="api_key") from exc
        raise NotAuthenticatedError(exc.public_message, field="Authorization") from exc
    g.gridgis_token = token
    return Principal.token(token.name, token.scopes)


def current_principal() -> Principal:
    """The caller of this request (resolved once per request): session user, else API token, else anonymous.

    A presented but unknown, revoked or expired token raises :class:`NotAuthenticatedError` (401).
    """
    p = g.get("gridgis_principal")
    if p is None:
        p = _session_principal() or _token_principal() or Principal.anonymous(context.settings().public_aggregates)
        g.gridgis_principal = p
    return p


def csrf_token() -> str:
    """The CSRF token of this session (created on first use), for pages, forms and /api/me."""
    return generate_csrf()


# -- enforcement -----------------------------------------------------------------------------------------

def _check_csrf() -> None:
    try:
        current_app.extensions["csrf"].protect()
    except CSRFError as exc:
        raise CsrfFailed(CSRF_FAILED, field="X-CSRFToken") from exc


def _unauthenticated():
    message = SESSION_EXPIRED if g.get("gridgis_session_expired") else LOGIN_REQUIRED
    if request.blueprint == "open311":  # the spec's answer to a missing key: 403
        raise PermissionDeniedError("缺少 api_key（或 Bearer 令牌）/ api_key was not provided (nor a Bearer token)",
                                    field="api_key")
    if not _is_api_path() and request.method == "GET":
        target = request.full_path.rstrip("?") if request.query_string else request.path
        extra = "&expired=1" if g.get("gridgis_session_expired") else ""
        return redirect(f"{request.script_root}/login?next={quote(target, safe='/')}{extra}")
    raise NotAuthenticatedError(message)


def enforce():
    """before_request: the endpoint's rule against the caller (see the module docstring)."""
    endpoint = request.endpoint
    if endpoint is None or endpoint == "static":
        return None  # 404 / 405 answer on their own; static files are public
    needed = view_rule(current_app, endpoint)
    if needed is None:  # check_rules makes this unreachable; refuse rather than serve
        raise PermissionDeniedError(NO_PERMISSION)
    unsafe = request.method in UNSAFE_METHODS
    if PUBLIC in needed:
        # Public routes do not look at tokens; a session user's unsafe request (logout) still needs CSRF.
        user = _session_principal() if unsafe and "uid" in session else None
        if user is not None:
            g.gridgis_principal = user
        if endpoint in _CSRF_ALWAYS or user is not None:
            _check_csrf()
        return None
    p = current_principal()
    if unsafe and p.kind == "user":
        _check_csrf()
    if any(p.can(perm) for perm in needed):
        return None
    if not p.authenticated:
        return _unauthenticated()
    raise _forbidden(p, needed)


def _forbidden(p: Principal, needed: tuple[str, ...]) -> PermissionDeniedError:
    """403. A token is told which scope it lacks (its operator fixes that); a user only "no permission"."""
    if p.kind != "token":
        return PermissionDeniedError(NO_PERMISSION)
    scopes = [s for s, perms in SCOPE_PERMISSIONS.items() if any(x in perms for x in needed) and s != "admin"]
    wanted = " / ".join(scopes + ["admin"])
    field = "api_key" if request.blueprint == "open311" else "Authorization"
    return PermissionDeniedError(f"API 令牌 {p.name} 没有所需的权限范围（{wanted}）/ the API token {p.name!r} "
                                 f"lacks the scope needed here ({wanted})", field=field)


def require(permission: str) -> Principal:
    """Inside a view: the principal, or 401/403 when it lacks ``permission`` (for checks a rule cannot make)."""
    p = current_principal()
    if not p.can(permission):
        if not p.authenticated:
            raise NotAuthenticatedError(LOGIN_REQUIRED)
        raise _forbidden(p, (permission,))
    return p


# -- app wiring ----------------------------------------------------------------------------------------------

class _SessionInterface(SecureCookieSessionInterface):
    """The signed-cookie session with ``session_cookie_secure = auto``: Secure exactly on HTTPS requests."""

    def get_cookie_secure(self, app: Flask) -> bool:
        mode = app.extensions["gridgis.settings"].session_cookie_secure
        if mode == "always":
            return True
        if mode == "never":
            return False
        return request.is_secure


def init_app(app: Flask) -> None:
    """Sessions, CSRF and the before-request check. Call :func:`check_rules` once every route exists."""
    settings = app.extensions["gridgis.settings"]
    from datetime import timedelta

    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="gridgis_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        SESSION_REFRESH_EACH_REQUEST=False,  # the cookie's own expiry stays at login + session_hours
        WTF_CSRF_CHECK_DEFAULT=False,  # enforce() decides which requests need the token
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the session (which expires on its own)
        WTF_CSRF_HEADERS=["X-CSRFToken", "X-CSRF-Token"],
    )
    app.session_interface = _SessionInterface()
    CSRFProtect(app)
    if settings.trust_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)
    app.before_request(enforce)
