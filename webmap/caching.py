"""Conditional GET for the JSON API: ETag and Last-Modified from the store's data version, 304 when unchanged.

The ETag is derived from the data version, the process's code version and the full request URL, so a
client that already holds the answer gets ``304 Not Modified`` before any query or aggregation runs.
``Cache-Control: no-cache`` makes browsers revalidate every time (the map must never show stale
zones after an edit), which with the ETag costs one small round trip.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import wraps

from flask import Response, current_app, g, request

from webmap import context

_PROCESS = secrets.token_hex(4)  # new ETags after a restart (code may have changed)


def _version() -> tuple[str, int]:
    return context.store().data_version()


def etag_for(token: str) -> str:
    # The caller is part of the answer (grid scoping, masking, k-suppression): a browser shared by two
    # users must never get a 304 for what the other one was shown.
    p = g.get("gridgis_principal")
    who = "" if p is None else f"{p.kind}|{p.name}|{p.role}|{sorted(p.grids or ())}|{sorted(p.permissions)}"
    h = hashlib.sha1(f"{_PROCESS}|{token}|{request.full_path}|{who}".encode(), usedforsecurity=False)
    return h.hexdigest()[:24]


def conditional(view: Callable) -> Callable:
    """Decorate a GET view: answer 304 when If-None-Match / If-Modified-Since show the client is current."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        token, last = _version()
        etag = etag_for(token)
        probe = Response(status=200)
        probe.set_etag(etag, weak=True)
        if last:
            probe.last_modified = last
        probe.headers["Cache-Control"] = "private, no-cache"
        # werkzeug applies RFC 9110: If-None-Match wins over If-Modified-Since when both are sent.
        probe.make_conditional(request)
        if probe.status_code == 304:
            return probe
        resp = current_app.make_response(view(*args, **kwargs))
        if resp.status_code == 200:
            resp.set_etag(etag, weak=True)
            if last:
                resp.last_modified = last
            resp.headers["Cache-Control"] = "private, no-cache"
        return resp

    return wrapper


def _cache(kind: str, size: int) -> tuple[threading.Lock, OrderedDict]:
    ext = current_app.extensions
    lock = ext.setdefault("gridgis.memo_lock", threading.Lock())
    with lock:
        caches = ext.setdefault("gridgis.memo", {})
        if kind not in caches:
            caches[kind] = (OrderedDict(), size)
        return lock, caches[kind][0]


def _put(lock: threading.Lock, cache: OrderedDict, kind: str, full: tuple, value) -> None:
    with lock:
        cache[full] = value
        size = current_app.extensions["gridgis.memo"][kind][1]
        while len(cache) > size:
            cache.popitem(last=False)


def memo(kind: str, key: tuple, build: Callable, size: int = 64):
    """``build()`` once per (kind, key, data version) in this app: panning back or toggling a filter back
    costs a dict lookup instead of an aggregation. Old data versions fall out as new entries arrive."""
    if not current_app.config.get("GRIDGIS_MEMO", True):  # benchmarks of the uncached path
        return build()
    lock, cache = _cache(kind, size)
    full = (_version()[0], key)
    with lock:
        if full in cache:
            cache.move_to_end(full)
            return cache[full]
    value = build()
    _put(lock, cache, kind, full, value)
    return value


def memo_many(kind: str, keys: list[tuple], build_missing: Callable[[list[tuple]], dict], size: int = 4096) -> dict:
    """Values for many keys (map tiles), building all the missing ones in one call of ``build_missing``."""
    if not current_app.config.get("GRIDGIS_MEMO", True):
        return build_missing(keys)
    lock, cache = _cache(kind, size)
    token = _version()[0]
    out, missing = {}, []
    with lock:
        for k in keys:
            full = (token, k)
            if full in cache:
                cache.move_to_end(full)
                out[k] = cache[full]
            else:
                missing.append(k)
    if missing:
        built = build_missing(missing)
        for k in missing:
            out[k] = built[k]
            _put(lock, cache, kind, (token, k), built[k])
    return out
