"""The OGC API – Features documents as plain dicts: landing page, conformance, collections, items, item.

Links are absolute (``base`` is the API root as the client reached it, e.g. ``http://host/ogc``) and
every link carries ``rel`` and ``type``. Item documents come with the CRS URI of their coordinates for
the ``Content-Crs`` header. GeoJSON geometries: exterior rings counter-clockwise (RFC 7946), at most
7 decimals in degrees (2 in metres), in the axis order of the requested CRS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from urllib.parse import quote, urlencode

import numpy as np
import pandas as pd
import shapely

from gridgis.ogcapi.collections import Collection
from gridgis.ogcapi.crs import CRS84, SUPPORTED, transform_geometries
from gridgis.ogcapi.query import check_format, check_known, parse_item, parse_items
from gridgis.ogcapi.service import OgcService, Page

JSON = "application/json"
GEOJSON = "application/geo+json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
)
TITLE = "gridgis 社区网格需求数据 / gridgis community demand data"
TEMPORAL_RS = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"

Args = Mapping[str, Sequence[str]]


def link(href: str, rel: str, type_: str, title: str | None = None) -> dict:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def _url(path: str, args: Args | None = None, **replace) -> str:
    """``path`` with the client's parameters (``replace`` overrides some; None drops one)."""
    params = {k: list(v) for k, v in (args or {}).items()}
    for k, v in replace.items():
        if v is None:
            params.pop(k, None)
        else:
            params[k] = [str(v)]
    return path + ("?" + urlencode(params, doseq=True) if params else "")


def _self_links(path: str, args: Args, json_type: str = JSON) -> list[dict]:
    return [link(_url(path, args, f="json"), "self", json_type, "本文档 / this document"),
            link(_url(path, args, f="html"), "alternate", HTML, "网页版 / as HTML")]


def landing(base: str, args: Args) -> dict:
    check_known(args, ("f",))
    check_format(args)
    return {
        "title": TITLE,
        "description": "社区诉求、需求格网、热点、项目候选、重点区域与网格，遵循 OGC API – Features。 / Residents' "
                       "requests, demand per H3 cell, hot spots, project candidates, priority zones and grids "
                       "through OGC API – Features.",
        "links": [
            *_self_links(base, args),
            link(f"{base}/api", "service-desc", OPENAPI, "API 定义 / the API definition (OpenAPI 3.0)"),
            link(f"{base}/api?f=html", "service-doc", HTML, "API 说明 / the API documentation"),
            link(f"{base}/conformance", "conformance", JSON, "符合的标准类 / conformance classes"),
            link(f"{base}/collections", "data", JSON, "数据集 / collections"),
        ],
    }


def conformance(base: str, args: Args) -> dict:
    check_known(args, ("f",))
    check_format(args)
    return {"conformsTo": list(CONFORMANCE), "links": _self_links(f"{base}/conformance", args)}


def _iso_utc(epoch: int) -> str:
    return pd.Timestamp(epoch, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _extent(service: OgcService, coll: Collection) -> dict | None:
    if coll.id in ("zones", "grids"):
        frame = service.frame(coll, None)
        if not len(frame):
            return None
        return {"spatial": {"bbox": [[round(float(v), 7) for v in shapely.total_bounds(frame.geoms)]],
                            "crs": CRS84}}
    box, span = service.extent()
    if box is None:
        return None
    return {"spatial": {"bbox": [[round(v, 7) for v in box]], "crs": CRS84},
            "temporal": {"interval": [[_iso_utc(span[0]), _iso_utc(span[1])]], "trs": TEMPORAL_RS}}


def collection_info(service: OgcService, coll: Collection, base: str) -> dict:
    url = f"{base}/collections/{coll.id}"
    out = {
        "id": coll.id, "title": coll.title, "description": coll.description, "itemType": "feature",
        "links": [
            link(url, "self", JSON, coll.title), link(f"{url}?f=html", "alternate", HTML, "网页版 / as HTML"),
            link(f"{url}/items", "items", GEOJSON, "要素 / the features"),
            link(f"{url}/items?f=html", "items", HTML, "要素网页 / the features as HTML"),
        ],
        "crs": list(SUPPORTED), "storageCrs": CRS84,
    }
    extent = _extent(service, coll)
    if extent is not None:
        out["extent"] = extent
    return out


def collections(service: OgcService, base: str, args: Args) -> dict:
    check_known(args, ("f",))
    check_format(args)
    return {"links": _self_links(f"{base}/collections", args),
            "collections": [collection_info(service, c, base) for c in service.collections()],
            "crs": list(SUPPORTED)}


def collection(service: OgcService, cid: str, base: str, args: Args) -> dict:
    check_known(args, ("f",))
    check_format(args)
    return collection_info(service, service.collection(cid), base)


def geometries(geoms: np.ndarray, crs: str) -> list:
    """CRS84 shapely geometries → GeoJSON geometry dicts in ``crs`` (one JSON parse for the whole page)."""
    if not len(geoms):
        return []
    geoms = shapely.orient_polygons(np.asarray(geoms, dtype=object), exterior_cw=False)
    text = shapely.to_geojson(transform_geometries(geoms, crs))
    text = np.where(pd.isna(text), "null", text)
    return json.loads("[" + ",".join(text.tolist()) + "]")


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts of plain Python values, missing ones None (column-wise: faster than to_dict)."""
    names = [str(c) for c in frame.columns]
    columns = []
    for c in frame.columns:
        values = frame[c].to_numpy(dtype=object)
        missing = pd.isna(values)
        if missing.any():
            values = values.copy()
            values[missing] = None
        columns.append(values.tolist())
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)] if names else [
        {} for _ in range(len(frame))]


def features(page: Page, crs: str) -> list[dict]:
    props = records(page.props)
    ids = page.ids.tolist()
    return [{"type": "Feature", "id": i, "geometry": g, "properties": p}
            for i, g, p in zip(ids, geometries(page.geoms, crs), props, strict=True)]


def items(service: OgcService, cid: str, base: str, args: Args) -> tuple[dict, str]:
    """The FeatureCollection of one items request, and the CRS URI of its coordinates."""
    coll = service.collection(cid)
    q = parse_items(args, coll.queryables, coll.temporal, service.settings.timezone, coll.cursor)
    page = service.page(cid, q)
    url = f"{base}/collections/{cid}/items"
    links = [*_self_links(url, args, GEOJSON),
             link(f"{base}/collections/{cid}", "collection", JSON, coll.title)]
    returned = len(page.ids)
    if page.more:
        # The keyset position lets the next page start there directly, however deep (offset stays for clients
        # that count pages).
        links.append(link(_url(url, args, offset=q.offset + returned, limit=q.limit, after=page.cursor), "next",
                          GEOJSON, "下一页 / next page"))
    if q.offset > 0:
        prev = max(q.offset - q.limit, 0)
        links.append(link(_url(url, args, offset=prev or None, limit=q.limit, after=None), "prev", GEOJSON,
                          "上一页 / previous page"))
    # numberMatched is left out when it is not cheap to know (Part 1 allows it; see requests_count).
    counts = {"numberReturned": returned} if page.matched is None else {"numberMatched": page.matched,
                                                                        "numberReturned": returned}
    doc = {"type": "FeatureCollection", "features": features(page, q.crs), **counts,
           "timeStamp": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"), "links": links}
    return doc, q.crs


def item(service: OgcService, cid: str, fid: str, base: str, args: Args) -> tuple[dict, str]:
    """One Feature with its links, and the CRS URI of its coordinates."""
    coll = service.collection(cid)
    q = parse_item(args)
    found = service.feature(cid, fid)
    doc = features(found, q.crs)[0]
    url = f"{base}/collections/{cid}/items/{quote(str(fid), safe=':')}"
    doc["links"] = [*_self_links(url, args, GEOJSON),
                    link(f"{base}/collections/{cid}", "collection", JSON, coll.title)]
    return doc, q.crs
