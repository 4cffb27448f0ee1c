"""The OpenAPI document describes every /api route and method the app registers."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.sqlite_only  # the web layer itself: once, on SQLite


def test_every_api_route_and_method_is_documented(app, client):
    doc = client.get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    seen = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_0-9]+)>", r"{\1}", rule.rule)
        assert path in paths, f"{rule.rule} missing from openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in paths[path], f"{method} {path} missing from openapi.json"
            seen.add((path, method.lower()))
    documented = {(p, m) for p, ops in paths.items() for m in ops}
    assert documented == seen, "openapi.json documents routes the app does not have"


def test_parameters_and_refs_resolve(client):
    doc = client.get("/api/openapi.json").json
    params = doc["components"]["parameters"]
    for path, ops in doc["paths"].items():
        for op in ops.values():
            for p in op["parameters"]:
                if "$ref" in p:
                    assert p["$ref"].split("/")[-1] in params, (path, p)
                elif p["in"] == "path":
                    assert "{" + p["name"] + "}" in path, (path, p)
                else:
                    assert p["in"] == "query" and p["schema"], (path, p)
            assert "200" in op["responses"] or "201" in op["responses"]
