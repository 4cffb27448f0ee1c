"""Schemathesis against /api/openapi.json (issue 6, part 4): no server errors, answers as documented.

Every operation of the document, in process through the WSGI app, as an admin-scope API token (the
caller that reaches every code path). A few valid and invalid examples per operation here
(deterministic: ``derandomize``); ``bench/attack.py`` runs many more. Server errors it found are
regression tests in test_inputs.py; the document was fixed where it was wrong.
"""

from __future__ import annotations

import pytest

from gridgis import tokens

from .conftest import GRID_A
from .corpora import schema_fuzz

pytestmark = pytest.mark.sqlite_only  # the web layer itself: once, on SQLite

EXAMPLES = 6  # per operation, mode (valid / invalid) and path-parameter source (generated / real ids)
SLOW = {("GET", "/api/projects"): 3}  # candidates take ~1 s per new filter set


@pytest.fixture
def api(app, web_store):
    secret, _ = tokens.create_token(web_store, "schemathesis", ["admin"])
    df = web_store.requests_frame(["id", "grid_code", "cell_9"])
    row = df[df["grid_code"] == GRID_A[0]].iloc[0]
    zone = app.test_client().post("/api/zones", headers={"Authorization": f"Bearer {secret}"}, json={
        "name": "schemathesis", "geometry": {"type": "Polygon", "coordinates": [[
            [104.05, 30.63], [104.055, 30.63], [104.055, 30.635], [104.05, 30.63]]]}})
    real = {"request_id": row["id"], "h3": format(int(row["cell_9"]), "x"), "zone_id": zone.json["id"],
            "name": "cells.csv"}
    return schema_fuzz.load(app), {"Authorization": f"Bearer {secret}"}, real


def test_document_lists_operations():
    ops = schema_fuzz.operations()
    assert ("GET", "/api/cells") in ops and ("POST", "/api/zones") in ops and len(ops) >= 25


@pytest.mark.parametrize(("method", "path"), schema_fuzz.operations(), ids=lambda v: v)
def test_operation(api, method, path):
    schema, headers, real = api
    sent = schema_fuzz.fuzz(schema, method, path, headers, SLOW.get((method, path), EXAMPLES), real)
    assert sent >= 1
