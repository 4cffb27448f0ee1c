"""A small real store for the web tests: taxonomy categories, two grids, ~600 requests around Chengdu and one
user per role.

Built once per session (rows inserted directly, like tests/storage/test_store.py) and copied into a
fresh folder for every test that writes, so tests never see each other's zones.

``client`` is logged in as the secretary (who may do everything the map offers) and sends the CSRF
header on unsafe methods, as gridgis.js does; ``anon`` is a client with no session; ``login_as(name)``
gives a client of any of :data:`USERS`.
"""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pandas as pd
import pytest
import shapely
from flask.testing import FlaskClient
from werkzeug.datastructures import Headers

from gridgis import accounts, grid
from gridgis.config import load_settings
from gridgis.demo import sync_categories
from gridgis.storage import init_db
from gridgis.storage.store import Store
from tests.pg import BACKENDS, require_backend
from webmap import create_app

BBOX = (104.03, 30.61, 104.09, 30.66)  # service area (WGS84)
HOT = (104.0600, 30.6350)  # (lng, lat) of the planted hot spot
XSS = "<img src=x onerror=alert(1)> 楼道堆物"
XSS_AT = (104.0700, 30.6450)
GRID_A = ("51010700100101", shapely.box(104.04, 30.62, 104.06, 30.65), 400)
GRID_B = ("51010700100102", shapely.box(104.06, 30.62, 104.08, 30.65), 300)
T0 = pd.Timestamp("2026-01-01", tz="Asia/Shanghai")
EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
CATS = np.array(["SAFE", "FAC", "PROP", "PARK", "ENV", "ORDER", "CARE", "OTHER"])
TYPES = np.array(["咨询", "投诉", "求助", "建议"])
STATUSES = np.array(["new", "assigned", "in_progress", "resolved"])
PASSWORD = "test-pass-2026"  # every test user's password
# user name → (role, grids)
USERS = {"admin": ("admin", None), "sec": ("secretary", None), "gw": ("grid_worker", [GRID_A[0]]),
         "viewer": ("viewer", None)}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def build_rows(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_hot, n_bg = 300, 300
    # hot spot: ~300 requests within ~120 m, mostly parking; background: uniform over the grids
    lng = np.r_[HOT[0] + rng.normal(0, 0.0008, n_hot), rng.uniform(104.04, 104.08, n_bg), XSS_AT[0]]
    lat = np.r_[HOT[1] + rng.normal(0, 0.0007, n_hot), rng.uniform(30.62, 30.65, n_bg), XSS_AT[1]]
    n = lng.size
    cat = np.concatenate([rng.choice(CATS, n_hot, p=[.05, .1, .1, .5, .1, .1, .03, .02]),
                          rng.choice(CATS, n_bg), ["SAFE"]])
    # Jan–Jun 2026, the hot spot growing towards the end (emerging trend)
    days = np.r_[np.sort(rng.uniform(60, 181, n_hot)), rng.uniform(0, 181, n_bg), 100.5]
    created = T0 + pd.to_timedelta(days, unit="D")
    cells = grid.latlng_to_cells(lat, lng, 10)
    gcode = np.full(n, None, dtype=object)
    for code, box, _hh in (GRID_A, GRID_B):
        gcode[shapely.contains_xy(box, lng, lat) & (gcode == None)] = code  # noqa: E711 (object array)
    text = np.array([f"{c} 诉求 {i}" for i, c in enumerate(cat)], dtype=object)
    text[-1] = XSS
    df = pd.DataFrame({
        "id": [f"t:{i}" for i in range(n)], "source": "t", "source_id": [str(i) for i in range(n)],
        "created_at": np.asarray((created - EPOCH) // pd.Timedelta("1s"), dtype=np.int64),
        "text": text, "address": "锦华路1号", "category": cat, "category_rule": "test",
        "source_category": None, "request_type": rng.choice(TYPES, n), "status": rng.choice(STATUSES, n),
        "lng": lng, "lat": lat, "source_crs": "wgs84", "orig_x": lng, "orig_y": lat, "geocode_level": "source",
        "geocode_score": None, "grid_code": gcode, "cell": cells.astype(np.int64),
        "cell_9": grid.cells_to_parent(cells, 9).astype(np.int64),
        "cell_8": grid.cells_to_parent(cells, 8).astype(np.int64),
        "cell_7": grid.cells_to_parent(cells, 7).astype(np.int64),
        "duplicate_of": None, "reporter_name": "张三丰", "reporter_phone": "13812345678", "extra": None,
        "content_hash": [f"h{i}" for i in range(n)],
    })
    return df


def grid_rows() -> pd.DataFrame:
    rows = []
    for code, box, hh in (GRID_A, GRID_B):
        x0, y0, x1, y1 = box.bounds
        rows.append({"grid_code": code, "name": f"锦华{code[-1]}网格", "community": "锦华社区",
                     "subdistrict": "锦华街道", "grid_worker": "李四", "households": hh,
                     "min_lng": x0, "min_lat": y0, "max_lng": x1, "max_lat": y1,
                     "geometry": shapely.to_geojson(box), "attributes": json.dumps({}), "imported_at": 1_767_225_600})
    return pd.DataFrame(rows)


def make_settings(path, **over):
    values = {"database_url": f"sqlite:///{path}", "service_area_bbox": BBOX, "base_map": "blank", **over}
    return load_settings(env={}, **values)


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The API tests run on SQLite and PostgreSQL; the browser tests drive that same API, on SQLite only, and
    tests of the web layer itself (marked ``sqlite_only``: the route policy, pages, attack corpora) once."""
    if request.param == "postgresql" and request.node.get_closest_marker("browser"):
        pytest.skip("browser tests run on SQLite only: the API they drive is tested on PostgreSQL by the API tests")
    if request.param == "postgresql" and request.node.get_closest_marker("sqlite_only"):
        pytest.skip("tests the web layer, not storage: run once, on SQLite (the API tests cover PostgreSQL)")
    return require_backend(request.param)


@pytest.fixture(scope="session")
def web_db(tmp_path_factory):
    """Path of the seeded SQLite file (checkpointed and closed, safe to copy)."""
    path = tmp_path_factory.mktemp("webdb") / "gridgis.sqlite3"
    seed_web_db(make_settings(path))
    return path


def seed_web_db(settings) -> None:
    """Fill a new database with the web tests' data and close every connection to it."""
    store = init_db(settings)
    sync_categories(store, settings)
    store.replace_grids(grid_rows())
    batch = store.insert_batch("test.csv", None, "t", {})
    rows = build_rows()
    store.upsert_requests(batch, rows)
    store.finish_batch(batch, {"read": len(rows), "stored": len(rows)})
    for name, (role, grids) in USERS.items():
        accounts.create_user(store, name, role, password=PASSWORD, grids=grids, display_name=f"测试{name}")
    store.close()  # closing the last connection checkpoints the WAL into the main file


@pytest.fixture
def web_settings(backend, tmp_path, request):
    """A fresh copy of the seeded database: a file copy (SQLite) or a clone of a seeded template (PostgreSQL)."""
    if backend == "postgresql":
        pg = request.getfixturevalue("postgres")
        template = pg.template("web", lambda url: seed_web_db(make_settings(None, database_url=url)))
        url = pg.create(template=template)
        request.addfinalizer(lambda: pg.drop(url))
        return make_settings(None, database_url=url)
    web_db = request.getfixturevalue("web_db")
    dst = tmp_path / "gridgis.sqlite3"
    for suffix in ("", "-wal"):
        if web_db.with_name(web_db.name + suffix).exists():
            shutil.copy(web_db.with_name(web_db.name + suffix), dst.with_name(dst.name + suffix))
    return make_settings(dst)


@pytest.fixture
def web_store(web_settings):
    st = Store.from_url(web_settings.database_url)
    yield st
    st.close()


@pytest.fixture
def app(web_settings, web_store):
    return create_app(web_settings, web_store)


class AuthClient(FlaskClient):
    """A test client that sends its session's CSRF token on unsafe methods, as gridgis.js does."""

    csrf_token: str | None = None

    def open(self, *args, **kwargs):
        method = str(kwargs.get("method") or "GET").upper()
        if self.csrf_token and method in UNSAFE:
            headers = Headers(kwargs.pop("headers", None) or {})
            if "X-CSRFToken" not in headers:
                headers["X-CSRFToken"] = self.csrf_token
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)


def log_in(app, username: str) -> AuthClient:
    """A client with a session of ``username`` (set directly: no password hashing per test) and its CSRF token."""
    user = app.extensions["gridgis.store"].user_by_name(username)
    c = AuthClient(app, app.response_class, use_cookies=True)
    with c.session_transaction() as sess:
        sess.permanent = True
        sess["uid"], sess["ep"], sess["iat"] = int(user["id"]), int(user["session_epoch"]), int(time.time())
    c.csrf_token = c.get("/api/me").json["me"]["csrf_token"]
    return c


def fresh_client(settings, username: str = "sec") -> AuthClient:
    """A logged-in client of a new app over a new database holding only the user ``username`` of USERS."""
    store = init_db(settings)
    role, grids = USERS[username]
    if store.user_by_name(username) is None:  # a grid worker's grids must exist: only other roles here
        accounts.create_user(store, username, role, password=PASSWORD, display_name=f"测试{username}")
    return log_in(create_app(settings, store), username)


@pytest.fixture
def login_as(app):
    return lambda username: log_in(app, username)


@pytest.fixture
def client(app):
    """Logged in as the secretary (whole community: zones, candidates, all requests)."""
    return log_in(app, "sec")


@pytest.fixture
def anon(app):
    """No session, no token."""
    return app.test_client()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item so browser fixtures can save a screenshot on failure."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
