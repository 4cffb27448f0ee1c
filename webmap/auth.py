"""Logging in and out: GET/POST /login (a plain zh/en form), POST /logout, GET /api/me (who am I, CSRF token).

A form POST answers with a redirect to a *local* ``next`` only (never another site: no open redirect),
or the form again with a message; a JSON POST (``Content-Type: application/json`` or ``Accept:
application/json``) answers JSON. Wrong user name or password: 401 with one generic message; too many
failures: 429 with ``Retry-After``.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, jsonify, make_response, redirect, render_template, request

from gridgis import accounts
from gridgis.errors import PermissionDeniedError
from webmap import access, context
from webmap.errors import error_body

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)


def safe_next(raw: str | None) -> str:
    """``raw`` when it is a path on this site ("/…"), else "/": no scheme, host, "//" or backslash tricks."""
    target = (raw or "").strip()
    if (not target.startswith("/") or target.startswith("//") or any(c in target for c in "\\\r\n\t\x00")
            or any(ord(c) < 32 for c in target)):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _form() -> dict:
    if request.is_json:
        body = request.get_json(silent=True)
        return body if isinstance(body, dict) else {}
    return request.form.to_dict()


def _page(status: int = 200, *, error: str | None = None, notice: str | None = None, username: str = "",
          next_: str = "/", headers: dict | None = None):
    html = render_template("login.html", csrf_token=access.csrf_token(), error=error, notice=notice,
                           username=username, next=next_, action=f"{request.script_root}/login")
    resp = make_response(html, status)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Frame-Options"] = "DENY"
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


@bp.get("/login")
@access.rule(access.PUBLIC)
def login_form():
    next_ = safe_next(request.args.get("next"))
    p = access.current_principal()
    if p.kind == "user":  # the form still shows: logging in as someone else replaces the session
        notice = f"已登录为 {p.name} / logged in as {p.name}"
    else:
        notice = access.SESSION_EXPIRED if request.args.get("expired") else None
    return _page(next_=next_, notice=notice)


@bp.post("/login")
@access.rule(access.PUBLIC)
def login():
    data = _form()
    username = str(data.get("username") or "").strip()[:64]
    next_ = safe_next(data.get("next") if isinstance(data.get("next"), str) else None)
    try:
        user = accounts.authenticate(context.store(), username, data.get("password") or "",
                                     request.remote_addr or "-")
    except accounts.LoginThrottled as exc:
        headers = {"Retry-After": str(exc.retry_after)}
        if _wants_json():
            return jsonify(error_body(429, exc.code, exc.public_message, exc.field)), 429, headers
        return _page(429, error=exc.public_message, username=username, next_=next_, headers=headers)
    except PermissionDeniedError as exc:
        if _wants_json():
            return jsonify(error_body(401, "login_failed", exc.public_message, exc.field)), 401
        return _page(401, error=exc.public_message, username=username, next_=next_)
    access.start_session(user)
    log.info("login: %s (%s)", user["username"], user["role"])
    if _wants_json():
        return jsonify({"ok": True, "me": _me(), "next": next_})
    return redirect(request.script_root + next_, code=303)


@bp.post("/logout")
@access.rule(access.PUBLIC)
def logout():
    access.end_session()
    if _wants_json():
        return jsonify({"ok": True})
    return redirect(f"{request.script_root}/login", code=303)


def _me() -> dict:
    p = access.current_principal()
    out = {**p.to_dict(), "suppress_small_counts": p.suppress_small_counts, "hide_care": p.hide_care}
    if p.kind != "token":
        out["csrf_token"] = access.csrf_token()
    return out


@bp.get("/api/me")
@access.rule(access.PUBLIC)
def me():
    resp = jsonify({"ok": True, "me": _me()})
    resp.headers["Cache-Control"] = "no-store"
    return resp
