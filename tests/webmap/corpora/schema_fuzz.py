"""Schemathesis over /api/openapi.json in process (WSGI): the operations, the checks, one bounded run.

Used by tests/webmap/test_schemathesis.py (a few examples per operation) and bench/attack.py (many).
Each operation is fuzzed with valid (positive) and invalid (negative) requests, once with generated
path parameters and once with real ids of the fixture database (so the operation reaches a real
zone, request or cell, not only its 404). Checks: no server error, and the answer as the document
describes it (documented status code, content type, body schema).
"""

from __future__ import annotations

from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

CHECK_NAMES = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
               "response_schema_conformance")


def operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation the document lists (built without an app: it needs only a URL)."""
    from webmap import openapi

    with Flask(__name__).test_request_context("/"):
        doc = openapi.document()
    return [(m.upper(), p) for p, ops in doc["paths"].items() for m in ops]


def load(app):
    import schemathesis

    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


def checks() -> list:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def fuzz(schema, method: str, path: str, headers: dict, examples: int, real_path: dict | None = None) -> int:
    """Run ``examples`` generated requests per mode (and per path-parameter source) against one operation;
    a failed check raises schemathesis's report (with a curl line). Returns the number of requests sent."""
    from schemathesis import GenerationMode

    op = schema[path][method]
    needed = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
    sources = [None] + ([{k: real_path[k] for k in needed}] if needed and real_path else [])
    calls: list[int] = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for fixed in sources:
            strategy = op.as_strategy(generation_mode=mode, path_parameters=fixed)

            @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])
            @given(case=strategy)
            def run(case):
                calls.append(1)
                case.call_and_validate(headers=headers, checks=checks())

            try:
                run()
            except Unsatisfiable:
                if mode != GenerationMode.NEGATIVE:
                    raise  # an operation without anything to negate (no parameters, no body): nothing to send
    return len(calls)
