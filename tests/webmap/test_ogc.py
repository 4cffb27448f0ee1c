"""/ogc over HTTP: GDAL's OAPIF driver (through pyogrio) and OWSLib read every collection like the store holds it.

The server for GDAL and OWSLib runs in a child process: pyogrio keeps the GIL while GDAL fetches
pages, so a server thread in the test process would never answer. It serves a copy of the demo
database with two API tokens and one zone added. Status codes, media types, tokens and the audit
log are checked through Flask's test client on the same copy.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import requests
import shapely

from gridgis import grid, tokens
from gridgis.config import load_settings
from gridgis.heatmap.aggregate import cell_totals
from gridgis.ogcapi.crs import CGCS2000, CRS84
from gridgis.storage import open_store
from gridgis.zones import validate_zone
from webmap import create_app

from ..conftest import SAMPLE

SERVE = """
import sys
from werkzeug.serving import make_server
from gridgis.config import load_settings
from webmap import create_app
settings = load_settings(sys.argv[1], env={}, database_url=sys.argv[2], base_map="blank")
srv = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
print(srv.server_port, flush=True)
srv.serve_forever()
"""
ZONE_NAME = "<script>alert(1)</script> 锦城花园停车整治"
ZONE = {"type": "Polygon", "coordinates": [[[104.050, 30.630], [104.056, 30.630], [104.056, 30.636],
                                            [104.050, 30.636], [104.050, 30.630]]]}


@pytest.fixture(scope="module")
def ogc_settings(tmp_path_factory, demo_settings, demo_reports):
    """The demo database copied (it gets tokens, audit rows and a zone), with its settings."""
    src = demo_settings.sqlite_path
    dst = tmp_path_factory.mktemp("ogc") / "demo.sqlite3"
    for suffix in ("", "-wal"):
        if src.with_name(src.name + suffix).exists():
            shutil.copy(src.with_name(src.name + suffix), dst.with_name(dst.name + suffix))
    return load_settings(SAMPLE / "gridgis.toml", env={}, database_url=f"sqlite:///{dst}", base_map="blank")


@pytest.fixture(scope="module")
def ogc_store(ogc_settings):
    st = open_store(ogc_settings)
    cats = st.categories_frame()["code"].tolist()
    st.insert_zone(validate_zone({"name": ZONE_NAME, "category": "PARK", "priority": 2, "geometry": ZONE},
                                 cats).to_record(), changed_by="tester")
    yield st
    st.close()


@pytest.fixture(scope="module")
def secrets_(ogc_store):
    """API tokens: one for masked requests (and aggregates), one for aggregates only."""
    full, _ = tokens.create_token(ogc_store, "city-gis", ["requests_masked"])
    agg, _ = tokens.create_token(ogc_store, "agg-only", ["aggregates"])
    return {"full": full, "agg": agg}


@pytest.fixture(scope="module")
def client(ogc_settings, ogc_store, secrets_):
    return create_app(ogc_settings, ogc_store).test_client()


@pytest.fixture(scope="module")
def server(ogc_settings, ogc_store, secrets_, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("NO_PROXY", "127.0.0.1,localhost")
    log = tmp_path_factory.mktemp("ogc-log") / "server.log"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-c", SERVE, str(SAMPLE / "gridgis.toml"), ogc_settings.database_url],
                                stdout=subprocess.PIPE, stderr=err, text=True)
    line = proc.stdout.readline()
    if not line.strip():
        proc.kill()
        pytest.fail(f"the OGC test server did not start: {log.read_text()[-2000:]}")
    yield f"http://127.0.0.1:{int(line)}/ogc"
    proc.terminate()
    proc.wait(10)
    proc.stdout.close()


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture
def gdal(server, secrets_):
    import pyogrio

    pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": secrets_["full"]})
    yield f"OAPIF:{server}"
    pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_BEARER": None})


@pytest.fixture(scope="module")
def truth(ogc_store):
    df = ogc_store.requests_frame()
    lat, lng = grid.cell_centers(df["cell"].to_numpy().astype(np.uint64))
    return df.assign(c_lng=lng, c_lat=lat)


def _bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


# -- GDAL (OAPIF driver through pyogrio) ------------------------------------------------------------------------

def test_gdal_lists_every_collection(gdal):
    import pyogrio

    layers = dict(pyogrio.list_layers(gdal).tolist())
    assert list(layers) == ["requests", "cells-8", "cells-9", "cells-10", "hotspots", "projects", "zones", "grids"]
    assert layers["requests"] == "Point" and layers["projects"] == "MultiPolygon"


def test_gdal_reads_requests_over_several_pages_like_the_store(gdal, truth, ogc_store):
    import pyogrio

    before = len(ogc_store.audit_frame(what="ogc.requests"))
    df = pyogrio.read_dataframe(gdal, layer="requests")
    pages = len(ogc_store.audit_frame(what="ogc.requests")) - before
    assert pages >= 6  # 5,947 requests, 1,000 per page: GDAL followed the next links
    assert len(df) == len(truth) and df["id"].tolist() == truth["id"].tolist()
    for col in ("category", "status", "grid_code", "geocode_level"):
        assert df[col].fillna("").tolist() == truth[col].fillna("").tolist(), col
    care = (truth["category"] == "CARE").to_numpy()
    assert (df["text"][care] == "养老与社区服务").all()
    plain = ~care & ~truth["text"].str.contains(r"\d{7}", regex=True).to_numpy()
    assert df["text"][plain].tolist() == truth["text"][plain].tolist()
    assert np.allclose(df.geometry.x, truth["c_lng"], atol=1e-7) and np.allclose(df.geometry.y, truth["c_lat"],
                                                                                  atol=1e-7)
    assert not {"reporter_name", "reporter_phone"} & set(df.columns)


def test_gdal_reads_grids_cells_and_zones_like_the_store(gdal, ogc_store, ogc_settings):
    import pyogrio

    grids = pyogrio.read_dataframe(gdal, layer="grids")
    stored = ogc_store.grids_frame()
    assert grids["grid_code"].tolist() == stored["grid_code"].tolist()
    assert grids["households"].tolist() == stored["households"].astype(int).tolist()
    want = shapely.from_geojson(stored["geometry"].to_numpy())
    assert shapely.equals_exact(grids.geometry.to_numpy(), shapely.orient_polygons(want), tolerance=1e-6).all()
    assert "grid_worker" not in grids.columns

    cells = pyogrio.read_dataframe(gdal, layer="cells-10")
    totals = cell_totals(ogc_store, 10)
    totals = totals[totals["requests"] >= ogc_settings.export_min_count_k].set_index("cell_id")
    assert sorted(cells["cell_id"]) == sorted(totals.index)
    assert (cells["requests"].to_numpy() == totals.loc[cells["cell_id"], "requests"].to_numpy()).all()
    polys = grid.cells_to_polygons(grid.str_to_cells(cells["cell_id"]))
    assert shapely.equals_exact(cells.geometry.to_numpy(), shapely.orient_polygons(polys), tolerance=1e-6).all()

    zones = pyogrio.read_dataframe(gdal, layer="zones")
    assert zones["name"].tolist() == [ZONE_NAME] and zones["priority"].tolist() == [2]
    assert "created_by" not in zones.columns
    assert zones.geometry.iloc[0].equals_exact(shapely.geometry.shape(ZONE), tolerance=1e-7)


def test_gdal_reads_in_cgcs2000_and_web_mercator(gdal, ogc_store):
    import pyogrio

    plain = pyogrio.read_dataframe(gdal, layer="grids")
    cgcs = pyogrio.read_dataframe(gdal, layer="grids", CRS="EPSG:4490")
    merc = pyogrio.read_dataframe(gdal, layer="grids", CRS="EPSG:3857")
    assert cgcs.crs.to_epsg() == 4490 and merc.crs.to_epsg() == 3857
    # GDAL swaps the server's lat,lon (EPSG:4490 axis order) back: had we sent lon,lat it would be off by far
    assert shapely.equals_exact(cgcs.to_crs("OGC:CRS84").geometry.to_numpy(), plain.geometry.to_numpy(),
                                tolerance=1e-6).all()
    assert shapely.equals_exact(merc.to_crs("OGC:CRS84").geometry.to_numpy(), plain.geometry.to_numpy(),
                                tolerance=1e-6).all()


def test_gdal_pushes_attribute_and_bbox_filters_to_the_server(gdal, truth):
    import pyogrio

    safe = pyogrio.read_dataframe(gdal, layer="requests", where="category = 'SAFE'")
    assert sorted(safe["id"]) == sorted(truth["id"][truth["category"] == "SAFE"])
    box = (104.050, 30.630, 104.056, 30.638)
    near = pyogrio.read_dataframe(gdal, layer="requests", bbox=box)
    inside = ((truth["c_lng"] >= box[0]) & (truth["c_lng"] <= box[2]) & (truth["c_lat"] >= box[1])
              & (truth["c_lat"] <= box[3]))
    assert sorted(near["id"]) == sorted(truth["id"][inside]) and inside.sum() > 0


# -- OWSLib -----------------------------------------------------------------------------------------------------

def test_owslib_pages_with_limit_and_offset(server, secrets_, truth):
    from owslib.ogcapi.features import Features

    w = Features(server, headers=_bearer(secrets_["full"]))
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in w.conformance()["conformsTo"]
    assert w.collection("requests")["storageCrs"] == CRS84
    ids, offset = [], 0
    while True:
        page = w.collection_items("requests", limit=2000, offset=offset)
        assert page["numberMatched"] == len(truth)
        ids += [f["id"] for f in page["features"]]
        offset += page["numberReturned"]
        if not any(k["rel"] == "next" for k in page["links"]):
            break
    assert ids == truth["id"].tolist()
    one = w.collection_item("requests", truth["id"].iloc[42])
    assert one["id"] == truth["id"].iloc[42] and one["properties"]["category"] == truth["category"].iloc[42]
    cells = w.collection_items("cells-9", limit=10, offset=10)
    assert cells["numberReturned"] == 10 and cells["numberMatched"] > 20


def test_owslib_reads_projects_and_hotspots_like_the_json_documents(server, secrets_, client):
    from owslib.ogcapi.features import Features

    w = Features(server, headers=_bearer(secrets_["agg"]))
    for cid in ("projects", "hotspots", "cells-8"):
        got = w.collection_items(cid, limit=10_000)
        direct = client.get(f"/ogc/collections/{cid}/items?limit=10000", headers=_bearer(secrets_["agg"])).json
        assert got["numberMatched"] == direct["numberMatched"] == len(got["features"]) > 0
        assert [f["id"] for f in got["features"]] == [f["id"] for f in direct["features"]]


# -- HTTP: media types, errors, tokens, audit, privacy ------------------------------------------------------------

def test_media_types_and_content_crs(client, secrets_):
    h = _bearer(secrets_["full"])
    assert client.get("/ogc").mimetype == "application/json"
    assert client.get("/ogc/").json["links"][0]["href"].startswith("http://localhost/ogc")
    assert client.get("/ogc/api").mimetype == "application/vnd.oai.openapi+json"
    r = client.get("/ogc/collections/requests/items", headers=h)
    assert r.mimetype == "application/geo+json" and r.headers["Content-Crs"] == f"<{CRS84}>"
    r = client.get("/ogc/collections/grids/items?crs=http://www.opengis.net/def/crs/EPSG/0/4490", headers=h)
    assert r.headers["Content-Crs"] == f"<{CGCS2000}>"
    r = client.get("/ogc/collections/grids/items/51010700100101?crs=EPSG:4490", headers=h)
    assert r.status_code == 200 and r.headers["Content-Crs"] == f"<{CGCS2000}>" and r.json["id"] == "51010700100101"
    for url in ("/ogc?f=html", "/ogc/conformance?f=html", "/ogc/api?f=html", "/ogc/collections?f=html",
                "/ogc/collections/zones?f=html", "/ogc/collections/zones/items?f=html"):
        r = client.get(url, headers=h)
        assert r.status_code == 200 and r.mimetype == "text/html", url
    browser = client.get("/ogc/collections/zones/items", headers={**h, "Accept": "text/html,*/*;q=0.8"})
    assert browser.mimetype == "text/html"
    assert "<script>alert" not in browser.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in browser.text


@pytest.mark.parametrize(("url", "field"), [
    ("/ogc/collections/requests/items?foo=1", "foo"),
    ("/ogc/collections/requests/items?bbox=104,30.6,104.1", "bbox"),
    ("/ogc/collections/requests/items?bbox=104,30.6,104.1,30.7&bbox-crs=EPSG:32648", "bbox-crs"),
    ("/ogc/collections/requests/items?crs=urn:ogc:def:crs:EPSG::4326", "crs"),
    ("/ogc/collections/requests/items?datetime=2026-02-30", "datetime"),
    ("/ogc/collections/requests/items?limit=-3", "limit"),
    ("/ogc/collections/requests/items?offset=x", "offset"),
    ("/ogc/collections/zones/items?datetime=2026-01-01", "datetime"),
    ("/ogc/collections?lang=zh", "lang"),
    ("/ogc/api?foo=1", "foo"),
])
def test_bad_parameters_answer_400_naming_them(client, secrets_, url, field):
    r = client.get(url, headers=_bearer(secrets_["full"]))
    assert r.status_code == 400 and r.mimetype == "application/json"
    assert r.json["code"] == "InvalidParameterValue" and r.json["field"] == field and r.json["description"]


def test_unknown_collection_or_feature_answers_404(client, secrets_):
    h = _bearer(secrets_["full"])
    for url in ("/ogc/collections/people", "/ogc/collections/people/items",
                "/ogc/collections/requests/items/12345:NOPE", "/ogc/collections/grids/items/0"):
        r = client.get(url, headers=h)
        assert r.status_code == 404 and r.json["code"] == "NotFound", url


def test_features_need_a_token_with_the_collections_scope(client, secrets_):
    r = client.get("/ogc/collections/requests/items")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.json["code"] == "InvalidToken" and r.json["field"] == "Authorization"
    assert client.get("/ogc/collections/grids/items", headers=_bearer("ggt_wrong")).status_code == 401
    r = client.get("/ogc/collections/requests/items", headers=_bearer(secrets_["agg"]))
    assert r.status_code == 403 and r.json["code"] == "Forbidden"
    assert client.get("/ogc/collections/cells-9/items", headers=_bearer(secrets_["agg"])).status_code == 200
    assert client.get("/ogc/collections").status_code == 200  # discovery is open


def test_every_pull_is_audited(client, secrets_, ogc_store):
    r = client.get("/ogc/collections/requests/items?limit=7&category=FAC", headers=_bearer(secrets_["full"]))
    row = ogc_store.audit_frame(what="ogc.requests", limit=1).iloc[0]
    assert row["who"] == "city-gis" and int(row["row_count"]) == r.json["numberReturned"] == 7
    assert json.loads(row["filters"]) == {"category": ["FAC"], "limit": ["7"]}


def test_no_collection_shows_a_name_or_phone_number(client, secrets_, ogc_store):
    stored = ogc_store.requests_frame(["reporter_name", "reporter_phone"])
    names = {n for n in stored["reporter_name"].dropna() if len(n) >= 2 and "*" not in n}
    names |= set(ogc_store.grids_frame()["grid_worker"].dropna())  # grid workers file patrol reports too
    phones = {re.sub(r"\D", "", p) for p in stored["reporter_phone"].dropna()} - {""}
    assert len(names) > 100 and len(phones) > 100
    h = _bearer(secrets_["full"])
    bodies = []
    for c in client.get("/ogc/collections").json["collections"]:
        for f, limit in (("json", 10_000), ("html", 1_000)):
            r = client.get(f"/ogc/collections/{c['id']}/items?limit={limit}&f={f}", headers=h)
            assert r.status_code == 200
            bodies.append(r.text)
    text = "\n".join(bodies)
    digits = re.sub(r"\D", "", text)
    assert not [n for n in names if n in text]
    assert not [p for p in phones if p in digits]


def test_every_ogc_route_is_in_the_api_definition(client):
    app = client.application
    paths = client.get("/ogc/api").json["paths"]
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/ogc"):
            continue
        pattern = re.sub(r"<(?:[a-z]+:)?[a-z_]+>", "[^/]+", rule.rule.removeprefix("/ogc")) or "/"
        assert any(re.fullmatch(pattern, p) for p in paths), rule.rule


def test_requests_bbox_through_http_matches_the_snapped_points(server, secrets_, truth):
    box = (104.040, 30.620, 104.066, 30.660)
    r = requests.get(f"{server}/collections/requests/items", headers=_bearer(secrets_["full"]),
                     params={"bbox": ",".join(map(str, box)), "limit": 10_000}, timeout=30)
    inside = ((truth["c_lng"] >= box[0]) & (truth["c_lng"] <= box[2]) & (truth["c_lat"] >= box[1])
              & (truth["c_lat"] <= box[3]))
    assert r.json()["numberMatched"] == int(inside.sum())
    assert pd.Index([f["id"] for f in r.json()["features"]]).equals(pd.Index(truth["id"][inside]))
