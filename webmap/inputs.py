"""Request hygiene before any view runs: bodies over the size limit, NUL characters, lone surrogates and
JSON nested past what the parser survives are refused up front; integer path ids past 2**31 - 1 are not
found.

Each refusal is an ordinary error of the route's part of the site (413, 400 naming the parameter, 404),
so no view has to guard against them: PostgreSQL refuses NUL in text and ids past its INTEGER (2**31 - 1;
SQLite's drivers past 2**63 - 1) — both were 500s; a bounded ``int`` converter would answer 405, not
404 —, a lone surrogate cannot be encoded for the database, and ``json`` raises ``RecursionError`` (not
``ValueError``) on deep nesting. The attack corpora in tests/webmap/test_payload_corpora.py send all
of these to every route.
"""

from __future__ import annotations

import json

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from gridgis.errors import InvalidInputError, NotFoundError

MAX_ID = 2**31 - 1  # ids are INTEGER columns: 32 bits on PostgreSQL


def _bad_text(value: str) -> bool:
    """NUL, or a lone surrogate (only JSON escapes and non-UTF-8 JSON bytes can produce one)."""
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _refuse(name: str) -> InvalidInputError:
    return InvalidInputError(f"{name} 含 NUL 字符或孤立代理项 / {name} contains a NUL character or a lone surrogate",
                             field=name)


def _check_values() -> None:
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and _bad_text(value):
            raise _refuse(name)
        if isinstance(value, int) and value > MAX_ID:  # no row has such an id: as any unknown id
            raise NotFoundError(f"{name} 不存在 / no such {name}: {value}", field=name)
    for source in (request.args, request.form):
        for name, values in source.lists():
            if _bad_text(name) or any(_bad_text(v) for v in values):
                raise _refuse(name)


def _first_bad(doc) -> str | None:
    """The key path of the first string (or key) in a parsed JSON document with NUL or a lone surrogate."""
    stack = [("body", doc)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if _bad_text(node):
                return path
        elif isinstance(node, dict):
            for k, v in node.items():
                if _bad_text(k):
                    return path
                stack.append((k if path == "body" else f"{path}.{k}", v))
        elif isinstance(node, list):
            stack.extend((path, v) for v in node)
    return None


def _check_json() -> None:
    if not request.is_json:
        return
    data = request.get_data(cache=True)  # kept for the view's get_json
    if not data:
        return
    try:
        doc = json.loads(data)
    except RecursionError:
        raise InvalidInputError("JSON 嵌套过深 / the JSON body is nested too deeply", field="body") from None
    except ValueError:
        return  # malformed JSON: the view answers, naming the body
    bad = _first_bad(doc)
    if bad is not None:
        raise _refuse(bad)


def check_request() -> None:
    """before_request: size first (nothing is read), then the text of every parameter and JSON field."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()
    _check_values()
    _check_json()


def init_app(app: Flask) -> None:
    """Run :func:`check_request` before every request (register before the access check: nothing else
    has looked at the request yet)."""
    app.before_request(check_request)
