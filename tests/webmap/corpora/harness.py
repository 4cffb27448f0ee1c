"""Send the attack corpus to every parameter of every route of the app and check each answer.

Used by ``tests/webmap/test_payload_corpora.py`` (a deterministic sample per route, for CI) and
``bench/attack.py`` (every payload × every parameter × every caller). Nothing here is a test itself.

- :func:`load_corpus` reads ``attack_payloads.json`` (XSS, SQL injection, path traversal, oversized
  values, odd JSON values, raw bytes, malformed bodies).
- :func:`build_targets` enumerates ``app.url_map``: each rule × method becomes a :class:`Target` with
  its path parameters, the query parameters the route reads (from ``/api/openapi.json`` for /api, from
  the OGC API definition for /ogc, from the Open311 GeoReport v2 spec and the page code for the rest),
  the Authorization header, and the fields of its JSON or form body. :func:`uncovered` lists routes the
  table misses, so a new route is attacked or the suite fails.
- :class:`Attack` sends one payload in one parameter as one caller and records :class:`Finding` s:
  a 5xx; a 4xx that is not our error shape (JSON ``{ok, status, code, error, field?}`` on /api, the OGC
  exception on /ogc, the spec's errors on /open311, JSON or the documented HTML on pages); a 400 that
  does not name the parameter; a payload echoed unescaped in ``text/html``; an off-site redirect; SQL
  error text, a stack trace, a secret or (to anonymous and token callers) a reporter's full name or
  phone in a body; and a refused request that changed the database.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_from_bytes, urlsplit

from sqlalchemy import select

from gridgis import tokens
from gridgis.storage import schema

CORPUS_FILE = Path(__file__).with_name("attack_payloads.json")
FAMILIES = ("xss", "sqli", "traversal", "oversized", "values", "bytes")
CALLERS = ("admin", "admin_token", "anonymous")
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UNKNOWN_PARAM = "zzz_unknown"  # a parameter no route reads: ignored or refused, never a crash

# Tables whose content a refused request must leave alone (login attempts and the audit log are
# written on purpose by refusals and reads).
STATE_TABLES = (schema.requests, schema.zones, schema.zone_history, schema.users, schema.api_tokens,
                schema.request_events, schema.grids, schema.categories, schema.ingest_batches, schema.rejects,
                schema.cell_households)

LEAK_PATTERNS = {
    "stack trace": re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+"),
    "SQL error": re.compile(
        r"(?i)sqlalchemy|sqlite3\.|psycopg|OperationalError|ProgrammingError|IntegrityError|DataError|"
        r"syntax error at or near|unrecognized token|no such (?:column|table|function)|near \"[^\"]*\": syntax|"
        r"\[SQL: |Background on this error"),
    "password hash": re.compile(r"\$argon2"),
    "token secret": re.compile(re.escape(tokens.PREFIX) + r"[A-Za-z0-9_-]{40,}"),
    "file content": re.compile(r"root:x:0:0|SQLite format 3|\[build-system\]|-----BEGIN [A-Z ]*PRIVATE KEY"),
    "debugger": re.compile(r"Werkzeug Debugger|werkzeug\.debug"),
}
PII = ("张三丰", "13812345678")  # tests/webmap/conftest.py's reporter: never in full to anonymous callers
BINARY_MEDIA = ("application/geopackage+sqlite3", "image/tiff", "application/octet-stream")


# ------------------------------------------------------------------------------------------------ corpus
@dataclass(frozen=True)
class Payload:
    family: str
    index: int
    kind: str  # str | bytes | json | nest
    value: object

    @property
    def label(self) -> str:
        return f"{self.family}[{self.index}]"

    def text(self) -> str | bytes:
        """The payload where only text travels (query, path, form field, header)."""
        if self.kind in ("str", "bytes"):
            return self.value
        if self.kind == "nest":
            return "[" * self.value + "]" * self.value
        return json.dumps(self.value)

    def json_bytes(self) -> bytes:
        """The payload as a JSON value inside a body; raw bytes go inside a JSON string (then not UTF-8)."""
        if self.kind == "bytes":
            return b'"' + self.value + b'"'
        if self.kind == "nest":
            return ("[" * self.value + "]" * self.value).encode()
        return json.dumps(self.value).encode()  # ASCII: lone surrogates travel as \ud800 escapes

    def describe(self, limit: int = 60) -> str:
        t = self.text()
        r = repr(t if len(t) <= limit else t[:limit])
        return f"{self.label} {r}{'…' if len(t) > limit else ''} ({len(t)} chars)"


@dataclass(frozen=True)
class RawBody:
    index: int
    data: bytes
    content_type: str

    @property
    def label(self) -> str:
        return f"malformed_json[{self.index}]"

    def text(self) -> bytes:
        return self.data

    def describe(self, limit: int = 60) -> str:
        return f"{self.label} {self.data[:limit]!r} as {self.content_type!r} ({len(self.data)} bytes)"


@dataclass
class Corpus:
    payloads: dict[str, list[Payload]]
    bodies: list[RawBody]

    def all(self) -> list[Payload]:
        return [p for fam in FAMILIES for p in self.payloads[fam]]

    def sample(self, key: str, per_family: int = 1, families: tuple[str, ...] = FAMILIES) -> list[Payload]:
        """A deterministic sample for ``key`` (the same on every run and machine): ``per_family`` of each."""
        rng = random.Random(key)  # str seeds hash with SHA-512: independent of PYTHONHASHSEED
        out = []
        for fam in families:
            pool = self.payloads[fam]
            out += rng.sample(pool, min(per_family, len(pool)))
        return out


def _payload(family: str, i: int, e) -> Payload:
    if isinstance(e, str):
        return Payload(family, i, "str", e)
    if "hex" in e:
        return Payload(family, i, "bytes", bytes.fromhex(e["hex"]))
    if "repeat" in e:
        return Payload(family, i, "str", e["repeat"] * int(e["times"]))
    if "nest" in e:
        return Payload(family, i, "nest", int(e["nest"]))
    if "json" in e:
        return Payload(family, i, "json", e["json"])
    raise ValueError(f"corpus entry {family}[{i}] not understood: {e!r}")


def load_corpus(path: Path = CORPUS_FILE) -> Corpus:
    data = json.loads(path.read_text(encoding="utf-8"))
    payloads = {fam: [_payload(fam, i, e) for i, e in enumerate(data[fam])] for fam in FAMILIES}
    bodies = []
    for i, e in enumerate(data["malformed_json"]):
        if "hex" in e:
            raw = bytes.fromhex(e["hex"])
        elif "nest" in e:
            raw = ("[" * e["nest"] + "]" * e["nest"]).encode()
        else:
            raw = e["body"].encode("utf-8", "surrogatepass")
        bodies.append(RawBody(i, raw, e["content_type"]))
    return Corpus(payloads, bodies)


# ----------------------------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class Param:
    name: str
    where: str  # path | query | json | form | header


@dataclass
class Target:
    method: str
    rule: str
    path_values: dict[str, str]
    params: list[Param]
    query: dict[str, str] = field(default_factory=dict)
    body: dict | None = None
    body_kind: str | None = None  # json | form
    session_refused: bool = False  # Open311 POST: sessions are refused, the admin calls it with a token
    variant: str = ""  # one route, several targets: the OGC items of each collection

    @property
    def key(self) -> str:
        return f"{self.method} {self.rule}" + (f" [{self.variant}]" if self.variant else "")

    def params_for(self, caller: str) -> list[Param]:
        """The parameters worth attacking as ``caller``: a payload in the Authorization header replaces the
        caller's credential (a session would win over it), so that one is the anonymous caller's."""
        return [p for p in self.params if p.where != "header" or caller == "anonymous"]


_VAR = re.compile(r"<(?:([a-z]+):)?([a-z_0-9]+)>")
OPEN311_QUERY = {
    "/open311/v2/discovery.<fmt>": ["jurisdiction_id"],
    "/open311/v2/services.<fmt>": ["jurisdiction_id"],
    "/open311/v2/services/<path:name>": ["jurisdiction_id"],
    "/open311/v2/requests.<fmt>": ["jurisdiction_id", "service_request_id", "service_code", "start_date",
                                   "end_date", "status", "api_key"],
    "/open311/v2/requests/<path:name>": ["jurisdiction_id", "api_key"],
    "/open311/v2/tokens/<path:name>": ["jurisdiction_id", "api_key"],
}
OPEN311_POST_FIELDS = ["service_code", "lat", "long", "address_string", "address_id", "description", "first_name",
                       "last_name", "phone", "email", "device_id", "account_id", "media_url", "attribute[type]",
                       "crs", "jurisdiction_id", "api_key"]
PAGE_QUERY = {("GET", "/"): ["lang"], ("GET", "/login"): ["next", "expired"]}
LOGIN_FIELDS = ["username", "password", "next"]


def _resolve(doc: dict, p: dict) -> dict:
    if "$ref" in p:
        node = doc
        for part in p["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return node
    return p


def _spec_params(doc: dict, path: str, method: str) -> tuple[list[str], list[str]]:
    """Query parameter names and JSON body property names of one operation of an OpenAPI document."""
    op = doc["paths"][path][method.lower()]
    query = [q["name"] for q in (_resolve(doc, p) for p in op.get("parameters", [])) if q["in"] == "query"]
    body = []
    content = (op.get("requestBody") or {}).get("content", {}).get("application/json")
    if content:
        body = list(_resolve(doc, content["schema"]).get("properties", {}))
    return query, body


def zone_body(name: str = "攻击测试区") -> dict:
    return {"name": name, "category": "PARK", "priority": 3, "notes": "攻击测试 / attack test",
            "geometry": {"type": "Polygon", "coordinates": [[[104.05, 30.63], [104.055, 30.63], [104.055, 30.635],
                                                             [104.05, 30.635], [104.05, 30.63]]]}}


@dataclass
class World:
    """Real ids of the fixture database the targets point at."""

    request_id: str  # a request of grid A (where the conftest grid worker serves)
    cell: str  # a res-9 cell holding requests
    zone_id: int  # a zone for reads and edits
    delete_zone_id: int  # a zone for DELETE
    admin_token: str  # secret of a token with the admin scope


def make_world(app, store, grid_code: str) -> World:
    df = store.requests_frame(["id", "grid_code", "cell_9", "status"])
    row = df[(df["grid_code"] == grid_code) & (df["status"] == "new")].iloc[0]
    ids = [store.insert_zone(_zone_record(app, f"攻击测试区 {i}"))["id"] for i in range(2)]
    secret, _ = tokens.create_token(store, "attack-admin", ["admin"])
    return World(str(row["id"]), format(int(row["cell_9"]), "x"), int(ids[0]), int(ids[1]), secret)


def _zone_record(app, name: str) -> dict:
    from gridgis.zones import validate_zone

    with app.app_context():
        codes = set(app.extensions["gridgis.store"].categories_frame()["code"])
        return validate_zone(zone_body(name), codes).to_record()


def build_targets(app, world: World) -> list[Target]:
    """Every rule × method of the app with its parameters and a valid baseline request."""
    from webmap import openapi

    with app.test_request_context("/api/openapi.json"):
        api_doc = openapi.document()
    ogc_doc = app.test_client().get("/ogc/api?f=json").get_json()
    values = {"filename": "gridgis.css", "request_id": world.request_id, "h3": world.cell,
              "zone_id": str(world.zone_id), "cid": "requests", "fid": world.request_id, "fmt": "json",
              "rest": "nothing-here"}
    collections = [p.split("/")[2] for p in ogc_doc["paths"] if p.endswith("/items")]
    fids = _feature_ids(app, world, collections)
    out = []
    for r in app.url_map.iter_rules():
        for method in sorted(r.methods - {"HEAD", "OPTIONS"}):
            if r.rule.startswith("/ogc/collections/<cid>/items"):  # each collection reads its own parameters
                for cid in collections:
                    t = _target(r.rule, method, {**values, "cid": cid, "fid": fids[cid]}, world, api_doc, ogc_doc)
                    t.variant = cid
                    out.append(t)
            else:
                out.append(_target(r.rule, method, dict(values), world, api_doc, ogc_doc))
    return out


def _feature_ids(app, world: World, collections: list[str]) -> dict[str, str]:
    """A real feature id of each OGC collection (its first item), the request for ``requests``."""
    c = app.test_client()
    headers = {"Authorization": f"Bearer {world.admin_token}"}
    out = {}
    for cid in collections:
        feats = (c.get(f"/ogc/collections/{cid}/items?limit=1&f=json", headers=headers).get_json() or {}).get(
            "features") or [{"id": "none"}]
        out[cid] = str(feats[0]["id"])
    out["requests"] = world.request_id
    return out


def _target(rule: str, method: str, v: dict, world: World, api_doc: dict, ogc_doc: dict) -> Target:
    names = [m.group(2) for m in _VAR.finditer(rule)]
    if rule == "/api/export/<name>":
        v["name"] = "cells.csv"
    elif rule.startswith("/open311/v2/services/"):
        v["name"] = "FAC.json"
    elif rule.startswith("/open311/v2/"):
        v["name"] = f"{world.request_id}.json"
    if method == "DELETE" and "zone_id" in names:
        v["zone_id"] = str(world.delete_zone_id)
    t = Target(method, rule, {n: v[n] for n in names}, [Param(n, "path") for n in names])
    query: list[str] = []
    if rule.startswith("/api/"):
        query, body = _spec_params(api_doc, _VAR.sub(lambda m: "{" + m.group(2) + "}", rule), method)
        if body:
            t.body_kind = "json"
            t.params += [Param(b, "json") for b in body]
            if rule.endswith("/status"):
                t.body = {"status": "assigned", "note": "攻击测试 / attack test"}
            elif method == "PATCH":
                t.body = {"priority": 4}
            else:
                t.body = zone_body()
    elif rule.startswith("/ogc"):
        sub = {"/ogc": "/", "/ogc/": "/", "/ogc/collections/<cid>": "/collections/{collectionId}",
               "/ogc/collections/<cid>/items": f"/collections/{v['cid']}/items",
               "/ogc/collections/<cid>/items/<path:fid>": f"/collections/{v['cid']}/items/{{featureId}}"}
        query, _ = _spec_params(ogc_doc, sub.get(rule, rule.removeprefix("/ogc")), method)
    elif rule.startswith("/open311/v2/"):
        if rule == "/open311/v2/requests.<fmt>" and method == "POST":
            t.body_kind, t.session_refused = "form", True
            t.body = {"service_code": "FAC", "lat": "30.635", "long": "104.06",
                      "description": "路灯不亮 / the street light is out"}
            t.params += [Param(f, "form") for f in OPEN311_POST_FIELDS]
        else:
            query = OPEN311_QUERY.get(rule, [])
    elif rule == "/login" and method == "POST":
        t.body_kind = "form"
        t.body = {"username": "admin", "password": "not-the-password", "next": "/"}
        t.params += [Param(f, "form") for f in LOGIN_FIELDS] + [Param(f, "json") for f in LOGIN_FIELDS]
    else:
        query = PAGE_QUERY.get((method, rule), [])
    t.params += [Param(q, "query") for q in query]
    t.params += [Param(UNKNOWN_PARAM, "query"), Param("Authorization", "header")]
    t.query = {"/api/points": {"bbox": "104.03,30.61,104.09,30.66"}, "/api/cells": {"res": "9"},
               "/api/hotspots": {"res": "9"}}.get(rule, {}) if method == "GET" else {}
    return t


def uncovered(app, targets: list[Target]) -> list[str]:
    """Rule × method pairs of the app without a target (empty when every route is attacked)."""
    have = {f"{t.method} {t.rule}" for t in targets}
    return sorted(f"{m} {r.rule}" for r in app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}
                  if f"{m} {r.rule}" not in have)


# ---------------------------------------------------------------------------------------------- requests
def _enc(value: str | bytes, safe: str = "") -> str:
    if isinstance(value, bytes):
        return quote_from_bytes(value, safe=safe)
    return quote(value.encode("utf-8", "surrogatepass"), safe=safe)


def request_kwargs(t: Target, param: Param | None = None, payload: Payload | None = None) -> dict | None:
    """Keyword arguments of ``client.open`` for the target with ``payload`` in ``param`` (None: baseline).

    None when the payload cannot travel there at all (a header value with a line break or NUL: no
    HTTP server would pass it on).
    """
    text = payload.text() if payload is not None else None

    def sub(m: re.Match) -> str:
        name = m.group(2)
        if param is not None and param.where == "path" and param.name == name:
            return _enc(text, safe="/%")  # "../" and "%2e%2e%2f" reach the router as sent
        return _enc(t.path_values[name], safe="/" if m.group(1) == "path" else "")

    path = _VAR.sub(sub, t.rule)
    query = {k: v for k, v in t.query.items()}
    if param is not None and param.where == "query":
        query[param.name] = text
    kwargs: dict = {"method": t.method, "path": path, "headers": {}}
    if query:
        kwargs["query_string"] = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in query.items())
    if param is not None and param.where == "header":
        raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
        if any(c in raw for c in b"\r\n\x00"):
            return None
        kwargs["headers"][param.name] = "Bearer " + raw.decode("latin-1")
    where = param.where if param is not None else None
    if t.body is not None and where in (None, "path", "query", "header", "form", "json"):
        if where == "json" or (t.body_kind == "json" and where != "form"):
            kwargs["data"] = _json_body(t.body, param.name if where == "json" else None, payload)
            kwargs["content_type"] = "application/json"
        else:
            body = dict(t.body)
            if where == "form":
                body[param.name] = text
            kwargs["data"] = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in body.items()).encode()
            kwargs["content_type"] = "application/x-www-form-urlencoded"
    return kwargs


_SENTINEL = "\u0001__payload__\u0001"


def _json_body(base: dict, name: str | None, payload: Payload | None) -> bytes:
    if name is None:
        return json.dumps(base).encode()
    body = {**base, name: _SENTINEL}
    text = json.dumps(body).encode()
    return text.replace(json.dumps(_SENTINEL).encode(), payload.json_bytes(), 1)


# ------------------------------------------------------------------------------------------------ checks
@dataclass(frozen=True)
class Finding:
    kind: str  # server_error | error_shape | unnamed_parameter | unescaped_html | open_redirect | leak | state_change
    target: str
    param: str
    payload: str
    caller: str
    status: int
    detail: str

    def __str__(self) -> str:
        return (f"[{self.kind}] {self.caller} {self.target} {self.param} = {self.payload} → {self.status}: "
                f"{self.detail[:300]}")


def state_digest(store) -> int:
    """A checksum of every row of the tables a refused request must not touch (comparable within one
    process only: Python's hash of the rows, ~10 times cheaper than a cryptographic one over their repr)."""
    parts = []
    with store.engine.connect() as conn:
        for table in STATE_TABLES:
            pk = list(table.primary_key.columns) or list(table.columns)
            parts.append(tuple(tuple(row) for row in conn.execute(select(table).order_by(*pk))))
    return hash(tuple(parts))


def _body_text(resp) -> str:
    return resp.get_data().decode("utf-8", "replace")


def _json(resp):
    try:
        return json.loads(resp.get_data())
    except ValueError:
        return None


def _ours(data, status: int) -> bool:
    return (isinstance(data, dict) and data.get("ok") is False and data.get("status") == status
            and isinstance(data.get("code"), str) and isinstance(data.get("error"), str))


def error_shape_problem(resp, path: str) -> str | None:
    """Why a 4xx body is not the error shape of its part of the site (None when it is). A URL under /ogc
    or /open311 that no route matched gets our JSON shape (no blueprint owns it)."""
    status, media = resp.status_code, resp.mimetype or ""
    data = _json(resp) if "json" in media else None
    if path.startswith(("/ogc", "/open311")) and status == 404 and _ours(data, status):
        return None
    if path.startswith("/open311/"):
        if media == "text/xml":
            return None if "<errors>" in _body_text(resp) else "Open311 XML error without <errors>"
        ok = (isinstance(data, list) and data and isinstance(data[0], dict) and data[0].get("code") == status
              and isinstance(data[0].get("description"), str))
        return None if ok else f"not the Open311 error list ({media})"
    if path.startswith("/ogc"):
        ok = isinstance(data, dict) and isinstance(data.get("code"), str) and isinstance(data.get("description"), str)
        return None if ok else f"not the OGC exception document ({media})"
    if path.startswith("/api"):
        return None if _ours(data, status) else f"not the JSON error shape ({media}): {_body_text(resp)[:120]!r}"
    if "html" in media:
        return None  # pages: the 404 page, the login form with its message
    return None if _ours(data, status) else f"neither the JSON error shape nor HTML ({media})"


def names_parameter(resp, param: Param) -> bool:
    """A 400 names what was wrong: ``field`` (or the text) names the parameter, the body, or its JSON key."""
    data = _json(resp)
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if not isinstance(data, dict):
        return param.name in _body_text(resp)
    fields = {str(data.get("field") or "")}
    text = str(data.get("error") or data.get("description") or "")
    if param.where == "body":  # a malformed body as a whole: any field of it, or the body, named
        return bool(fields - {""}) or bool(text)
    wanted = {param.name} | PAIRED.get(param.name, set())
    if param.where in ("json", "form"):
        wanted |= {"body"}  # a body that is not a JSON object at all
    if param.where == "path":
        # path segments are named as the API user knows them: the id, the format, the kind, the cell
        wanted |= {"id", "format", "kind", "h3", "service_code", "service_request_id", "collectionId",
                   "featureId", "filename"}
    return bool(fields & wanted) or any(w in text for w in wanted)


PAIRED = {"lat": {"long"}, "long": {"lat"}}  # Open311: one location in two fields, named by either


_TAG = re.compile(r"<[a-zA-Z/!?][^<>]{0,200}>?")


def html_problem(resp, text: str, baseline: str) -> str | None:
    """The payload (or a tag of it the clean page lacks) echoed raw in an HTML (or XML: Open311) answer."""
    media = resp.mimetype or ""
    if ("html" not in media and "xml" not in media) or not isinstance(text, str) or len(text) < 2:
        return None
    body = _body_text(resp)
    risky = "<" in text or (("\"" in text or "'" in text) and "=" in text)
    if risky and text in body and text not in baseline:
        return f"payload echoed raw in {media}"
    # a script URL is harmless as text (an input's value); in a link, source or form target it runs
    if text.lower().startswith(("javascript", "data:", "vbscript")) and re.search(
            r"(?i)\b(?:href|src|action|formaction|data|poster)\s*=\s*[\"']?\s*" + re.escape(text), body):
        return f"script URL in a link or source attribute of {media}"
    for tag in _TAG.findall(text):
        if len(tag) >= 5 and tag in body and tag not in baseline:
            return f"tag {tag[:60]!r} echoed raw in {media}"
    return None


def redirect_problem(resp) -> str | None:
    if not 300 <= resp.status_code < 400:
        return None
    loc = resp.headers.get("Location", "")
    parts = urlsplit(loc)
    if parts.netloc not in ("", "localhost") or loc.startswith(("//", "/\\")) or parts.scheme not in ("", "http"):
        return f"redirect off the site: {loc[:120]!r}"
    return None


def leak_problems(resp, text: str | bytes, secrets: tuple[str, ...], pii: bool) -> list[str]:
    media = resp.mimetype or ""
    if media in BINARY_MEDIA:
        return []
    body = _body_text(resp)
    sent = text if isinstance(text, str) else text.decode("latin-1")
    out = [name for name, rx in LEAK_PATTERNS.items() if rx.search(body) and not rx.search(sent)]
    out += [f"secret {s[:6]}…" for s in secrets if s and s in body]
    if pii:
        out += [f"reporter data {p}" for p in PII if p in body]
    for name, value in resp.headers.items():
        if "\n" in value or "\r" in value or (name.lower() == "set-cookie" and "evil" in value):
            out.append(f"header injection in {name}")
    return out


# ----------------------------------------------------------------------------------------------- attack
class Attack:
    """Sends payloads as a caller and collects findings, counting every request sent."""

    def __init__(self, app, store, world: World, clients: dict, *, secrets: tuple[str, ...] = ()) -> None:
        self.app, self.store, self.world, self.clients = app, store, world, clients
        self.secrets = secrets
        self.findings: list[Finding] = []
        self.sent = Counter()  # caller → requests
        self.statuses = Counter()
        self._baselines: dict[tuple[str, str], tuple[int, str]] = {}
        self._addr = 0

    def _client(self, caller: str, t: Target):
        """(client, extra headers) of ``caller`` for target ``t``."""
        if caller == "admin" and t.session_refused:
            caller = "admin_token"
        if caller == "admin" and t.rule == "/logout":
            return self.clients["fresh_admin"](), {}
        headers = {"Authorization": f"Bearer {self.world.admin_token}"} if caller == "admin_token" else {}
        return self.clients[caller], headers

    def send(self, caller: str, t: Target, param: Param | None = None, payload: Payload | None = None):
        kwargs = request_kwargs(t, param, payload)
        if kwargs is None:
            return None
        client, headers = self._client(caller, t)
        if param is not None and param.where == "header" and caller != "anonymous":
            headers = {}  # the payload is the credential: a session or a token would win over it
        kwargs["headers"] = {**headers, **kwargs["headers"]}
        if t.rule == "/login":  # each attempt from its own address: the throttle must not hide the parser
            self._addr += 1
            kwargs["environ_base"] = {"REMOTE_ADDR": f"10.{self._addr >> 16 & 255}.{self._addr >> 8 & 255}."
                                                     f"{self._addr & 255}"}
        return self._count(caller, client.open(**kwargs))

    def _count(self, caller: str, resp):
        resp.get_data()  # buffered, then the file of a static or export answer closed
        resp.close()
        self.sent[caller] += 1
        self.statuses[resp.status_code // 100 * 100] += 1
        return resp

    def baseline(self, caller: str, t: Target) -> tuple[int, str]:
        """Status and body of the clean request (what the payload's answer is compared with)."""
        key = (caller, t.key)
        if key not in self._baselines:
            resp = self.send(caller, t)
            self._baselines[key] = (0, "") if resp is None else (resp.status_code, _body_text(resp))
        return self._baselines[key]

    def run(self, caller: str, t: Target, param: Param, payloads: list[Payload]) -> None:
        """Each payload in ``param``. After each unsafe request the database is compared with its state
        before (the state after the previous one): a refusal must leave it alone. Safe requests never
        change it: they are compared once for the whole batch."""
        baseline = self.baseline(caller, t)
        unsafe = t.method in UNSAFE
        before = state_digest(self.store)
        for p in payloads:
            resp = self.send(caller, t, param, p)
            if resp is None:
                continue
            self.check(caller, t, param, p, resp, baseline)
            if unsafe:
                after = state_digest(self.store)
                if resp.status_code >= 400 and after != before:
                    self._add("state_change", caller, t, param, p, resp, "a refused request changed the database")
                before = after
        if not unsafe and state_digest(self.store) != before:
            self._add("state_change", caller, t, param, payloads[-1], None, "a GET changed the database")

    def check(self, caller: str, t: Target, param: Param, p: Payload | RawBody, resp,
              baseline: tuple[int, str]) -> None:
        """Record what is wrong with ``resp``, the answer to ``p`` sent in ``param`` (see the module doc)."""
        status = resp.status_code
        path = request_kwargs(t)["path"]
        if status >= 500:
            self._add("server_error", caller, t, param, p, resp, _body_text(resp)[:300])
        elif status >= 400:
            problem = error_shape_problem(resp, path)
            if problem:
                self._add("error_shape", caller, t, param, p, resp, problem)
            elif status == 400 and baseline[0] < 400 and not names_parameter(resp, param):
                self._add("unnamed_parameter", caller, t, param, p, resp, _body_text(resp)[:300])
        text = p.text()
        problem = html_problem(resp, text, baseline[1]) or redirect_problem(resp)
        if problem:
            kind = "open_redirect" if problem.startswith("redirect") else "unescaped_html"
            self._add(kind, caller, t, param, p, resp, problem)
        for leak in leak_problems(resp, text, self.secrets, pii=caller == "anonymous"):
            self._add("leak", caller, t, param, p, resp, leak)

    def _add(self, kind, caller, t, param, p, resp, detail) -> None:
        self.record(kind, caller, t, f"{param.where}:{param.name}", p.describe(), resp, detail)

    def record(self, kind: str, caller: str, t: Target, where: str, what: str, resp, detail: str) -> None:
        self.findings.append(Finding(kind, t.key, where, what, caller, 0 if resp is None else resp.status_code,
                                     detail))

    def send_raw(self, caller: str, t: Target, data: bytes, content_type: str):
        kwargs = request_kwargs(t)
        client, headers = self._client(caller, t)
        kwargs.update(data=data, content_type=content_type, headers={**headers, **kwargs["headers"]})
        return self._count(caller, client.open(**kwargs))

    def summary(self) -> dict:
        kinds = Counter(f.kind for f in self.findings)
        return {"requests": sum(self.sent.values()), "by_caller": dict(self.sent),
                "statuses": dict(sorted(self.statuses.items())), "server_errors": kinds["server_error"],
                "leaks": kinds["leak"] + kinds["unescaped_html"] + kinds["open_redirect"],
                "state_changes": kinds["state_change"],
                "shape": kinds["error_shape"] + kinds["unnamed_parameter"], "findings": dict(kinds)}


def make_clients(app, client_cls, log_in) -> dict:
    """The callers' test clients: an admin session (CSRF header on unsafe methods), an anonymous client
    holding a CSRF token (so a refusal is about rights, not CSRF), and a factory of fresh admin sessions."""
    anon = client_cls(app, app.response_class, use_cookies=True)
    anon.csrf_token = anon.get("/api/me").get_json()["me"]["csrf_token"]
    token_client = client_cls(app, app.response_class, use_cookies=False)
    return {"admin": log_in(app, "admin"), "anonymous": anon, "admin_token": token_client,
            "fresh_admin": lambda: log_in(app, "admin")}
