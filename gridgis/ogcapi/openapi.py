"""The OpenAPI 3.0 definition of the OGC API (conformance class oas30), built from the collections.

Each collection gets its own items path listing exactly the parameters it accepts (its property
filters included), so clients such as GDAL can see which filters the server evaluates, and so "an
unknown parameter is refused" has one written source.
"""

from __future__ import annotations

from gridgis.ogcapi.collections import Collection
from gridgis.ogcapi.crs import CRS84, SUPPORTED
from gridgis.ogcapi.documents import CONFORMANCE, GEOJSON, HTML, JSON, OPENAPI, TITLE
from gridgis.ogcapi.query import DEFAULT_LIMIT, ITEM_FORMATS, MAX_LIMIT
from gridgis.ogcapi.service import OgcService

VERSION = "1.0.0"
_P = "#/components/parameters/"


def _q(name: str, description: str, schema: dict, **extra) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema,
            "style": "form", "explode": False, **extra}


_CRS_SCHEMA = {"type": "string", "format": "uri", "enum": list(SUPPORTED), "default": CRS84}
PARAMETERS = {
    "f": _q("f", "返回格式 / response format (default: by Accept header)",
            {"type": "string", "enum": list(ITEM_FORMATS)}),
    "limit": _q("limit", f"每页要素数，超过 {MAX_LIMIT} 按 {MAX_LIMIT} / features per page; larger values are "
                f"capped at {MAX_LIMIT}", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                           "default": DEFAULT_LIMIT}),
    "offset": _q("offset", "跳过的要素数 / features to skip", {"type": "integer", "minimum": 0, "default": 0}),
    "bbox": _q("bbox", "下角,上角（bbox-crs 的轴顺序，默认 CRS84 经度,纬度）/ lower corner, upper corner in the axis "
               "order of bbox-crs (default CRS84: lng,lat)",
               {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}),
    "bbox-crs": _q("bbox-crs", "bbox 的坐标系 / CRS of bbox", _CRS_SCHEMA),
    "crs": _q("crs", "输出坐标系 / CRS of the response", _CRS_SCHEMA),
    "datetime": _q("datetime", "RFC 3339 时间或区间（a/b、../b、a/..）/ RFC 3339 instant or interval",
                   {"type": "string"}),
    "collectionId": {"name": "collectionId", "in": "path", "required": True, "schema": {"type": "string"}},
    "featureId": {"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"}},
}
_ERRORS = {s: {"$ref": f"#/components/responses/{name}"}
           for s, name in (("400", "InvalidParameter"), ("404", "NotFound"))}
SECURITY = [{"bearer": []}]  # scopes go in descriptions: OpenAPI 3.0 lists them for OAuth only
_AUTH_ERRORS = {"401": {"$ref": "#/components/responses/Unauthorized"},
                "403": {"$ref": "#/components/responses/Forbidden"}}


def _ok(description: str, *types: str) -> dict:
    return {"200": {"description": description, "content": {t: {"schema": {"type": "object"}} if t != HTML
                                                            else {"schema": {"type": "string"}} for t in types}}}


def _op(summary: str, op_id: str, params: list, responses: dict, tags: list[str] | None = None, **extra) -> dict:
    return {"get": {"summary": summary, "operationId": op_id, "tags": tags or ["server"], "parameters": params,
                    "responses": responses, **extra}}


def _items(c: Collection) -> dict:
    params = [{"$ref": _P + p} for p in ("f", "limit", "offset", "bbox", "bbox-crs", "crs")]
    if c.temporal:
        params.append({"$ref": _P + "datetime"})
    if c.cursor:
        params.append(_q("after", "翻页位置，取自 next 链接 / where the page starts, as the next link gives it "
                         "(<created_at epoch seconds>:<id>)", {"type": "string"}))
    params += [_q(name, f"属性 {name} 等于该值 / features whose {name} equals this value", {"type": kind})
               for name, kind in c.queryables.items()]
    responses = {**_ok("要素集合 / the features", GEOJSON, HTML), **_ERRORS, **_AUTH_ERRORS}
    return _op(f"{c.title} 要素 / features", f"getFeatures_{c.id}", params, responses, [c.id], security=SECURITY,
               description=f"需要令牌权限 / needs the token scope `{c.scope}`")


def _item(c: Collection) -> dict:
    params = [{"$ref": _P + "featureId"}, {"$ref": _P + "f"}, {"$ref": _P + "crs"}]
    responses = {**_ok("要素 / the feature", GEOJSON, HTML), **_ERRORS, **_AUTH_ERRORS}
    return _op(f"{c.title} 单个要素 / one feature", f"getFeature_{c.id}", params, responses, [c.id],
               security=SECURITY, description=f"需要令牌权限 / needs the token scope `{c.scope}`")


def document(service: OgcService, base: str) -> dict:
    """The OpenAPI 3.0 document; ``servers`` is the API root as the client reached it."""
    f = [{"$ref": _P + "f"}]
    paths = {
        "/": _op("登录页 / landing page", "getLandingPage", f, {**_ok("landing page", JSON, HTML), **_ERRORS}),
        "/conformance": _op("符合的标准类 / conformance classes", "getConformance", f,
                            {**_ok("conformance", JSON, HTML), **_ERRORS}),
        "/api": _op("本 API 定义 / this API definition", "getApi", f,
                    {**_ok("the API definition", OPENAPI, HTML), **_ERRORS}),
        "/collections": _op("数据集列表 / collections", "getCollections", f,
                            {**_ok("collections", JSON, HTML), **_ERRORS}),
        "/collections/{collectionId}": _op("数据集 / one collection", "describeCollection",
                                           [{"$ref": _P + "collectionId"}, *f],
                                           {**_ok("collection", JSON, HTML), **_ERRORS}),
    }
    for c in service.collections():
        paths[f"/collections/{c.id}/items"] = _items(c)
        paths[f"/collections/{c.id}/items/{{featureId}}"] = _item(c)
    exception = {"type": "object", "required": ["code"],
                 "properties": {"code": {"type": "string"}, "description": {"type": "string"}}}

    def err(text: str) -> dict:
        return {"description": text, "content": {JSON: {"schema": {"$ref": "#/components/schemas/exception"}}}}

    return {
        "openapi": "3.0.3",
        "info": {"title": TITLE, "version": VERSION,
                 "description": "OGC API – Features Part 1 (core, geojson, html, oas30) and Part 2 (crs). 要素数据"
                                "需 API 令牌（Authorization: Bearer）/ features need an API token (Authorization: "
                                "Bearer).",
                 "x-conformance": list(CONFORMANCE)},
        "servers": [{"url": base}],
        "paths": paths,
        "components": {
            "parameters": PARAMETERS,
            "schemas": {"exception": exception},
            "responses": {"InvalidParameter": err("参数无效 / invalid or unknown parameter"),
                          "NotFound": err("不存在 / no such collection or feature"),
                          "Unauthorized": err("缺少或无效的 API 令牌 / missing or invalid API token"),
                          "Forbidden": err("令牌权限不足 / the token lacks the scope")},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
