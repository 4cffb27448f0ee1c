"""Pages of requests read in time windows through a bbox's H3 cells equal one ordered query, on every backend.

The store holds ~4,000 requests around two clusters, stored in an order unrelated to their time, with many
sharing a second (ties at window edges and keyset positions), several statuses and categories. Pages are
checked against the rows chosen in pandas by their published point (cell centre when snapped).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from gridgis import grid
from gridgis.config import load_settings
from gridgis.ogcapi import OgcService, box_cells
from gridgis.ogcapi import requests_count as rc
from gridgis.ogcapi import requests_source as rq
from gridgis.ogcapi.query import ItemQuery
from gridgis.storage import init_db
from tests.pg import BACKENDS, require_backend

AREA = (104.00, 30.58, 104.12, 30.70)
T0 = 1_767_225_600  # 2026-01-01 UTC
STATUSES = np.array(["new", "assigned", "resolved", "verified"])
CATS = np.array(["SAFE", "FAC", "PARK", "ENV"])
N = 4_000


def _rows(seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centres = np.array([[104.03, 30.61], [104.09, 30.67]])
    pick = rng.integers(0, 2, N)
    clustered = rng.random(N) < 0.7
    lng = np.where(clustered, centres[pick, 0] + rng.normal(0, 0.006, N), rng.uniform(AREA[0], AREA[2], N))
    lat = np.where(clustered, centres[pick, 1] + rng.normal(0, 0.005, N), rng.uniform(AREA[1], AREA[3], N))
    lng, lat = np.clip(lng, AREA[0], AREA[2]), np.clip(lat, AREA[1], AREA[3])
    cells = grid.latlng_to_cells(lat, lng, 10)
    # whole hours over ~180 days, a dense first half hour (every second taken: window edges fall on rows)
    # and a burst of 10% of the requests in one second
    created = T0 + rng.integers(0, 180 * 24, N) * 3600
    kind = rng.random(N)
    created[kind < 0.4] = T0 + rng.integers(0, 1_800, int((kind < 0.4).sum()))
    created[kind > 0.9] = T0 + 50 * 86400
    return pd.DataFrame({
        "id": [f"p:{i:05d}" for i in range(N)], "source": "p", "source_id": [str(i) for i in range(N)],
        "created_at": created.astype(np.int64), "text": "路灯不亮", "address": None,
        "category": rng.choice(CATS, N), "category_rule": "test", "source_category": None,
        "request_type": "投诉", "status": rng.choice(STATUSES, N, p=[0.05, 0.15, 0.4, 0.4]),
        "lng": lng, "lat": lat, "source_crs": "wgs84", "orig_x": lng, "orig_y": lat,
        "geocode_level": "source", "geocode_score": None, "grid_code": None, "cell": cells.astype(np.int64),
        "cell_9": grid.cells_to_parent(cells, 9).astype(np.int64),
        "cell_8": grid.cells_to_parent(cells, 8).astype(np.int64),
        "cell_7": grid.cells_to_parent(cells, 7).astype(np.int64),
        "duplicate_of": None, "reporter_name": None, "reporter_phone": None, "extra": None,
        "content_hash": [f"h{i}" for i in range(N)],
    })


@pytest.fixture(scope="module", params=BACKENDS)
def paged(request, tmp_path_factory):
    """(settings, store, truth) of one backend; truth in the API's order with each row's cell centre."""
    backend = require_backend(request.param)
    pg = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('paged') / 'paged.sqlite3'}"
    else:
        pg = request.getfixturevalue("postgres")
        url = pg.create(template=pg.migrated_template())
    settings = load_settings(env={}, database_url=url, service_area_bbox=AREA)
    store = init_db(settings)
    rows = _rows()
    batch = store.insert_batch("p.csv", None, "t", {})
    for part in np.array_split(np.random.default_rng(3).permutation(N), 4):  # stored out of time order
        store.upsert_requests(batch, rows.iloc[part].reset_index(drop=True))
    truth = rows.sort_values(["created_at", "id"], kind="stable").reset_index(drop=True)
    lat, lng = grid.cell_centers(truth["cell"].to_numpy().astype(np.uint64))
    yield settings, store, truth.assign(c_lng=lng, c_lat=lat)
    store.close()
    if pg is not None:
        pg.drop(url)


def _inside(truth, box, snapped: bool) -> np.ndarray:
    x, y = (truth["c_lng"], truth["c_lat"]) if snapped else (truth["lng"], truth["lat"])
    return ((x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])).to_numpy(copy=True)


def _want(truth, q: ItemQuery, snapped: bool) -> list[str]:
    keep = _inside(truth, q.bbox, snapped) if q.bbox else np.ones(len(truth), bool)
    for name, value in q.filters:
        keep &= (truth[name] == value).to_numpy()
    if q.time is not None:
        keep &= (truth["created_at"] >= q.time[0]).to_numpy() & (truth["created_at"] < q.time[1]).to_numpy()
    return truth["id"][keep].tolist()


def _where(store, q: ItemQuery, snapped: bool) -> rq.Where:
    extent, span = rq.data_extent(store)
    density = rc.cell9_totals(store, None, (), span)
    return rq.where_clause(q, extent, 10, snapped, span, density)


def _walk(store, where: rq.Where, limit: int) -> tuple[list[str], int]:
    """Every page by keyset (as the next links do): the ids and the number of pages."""
    ids, after, pages = [], None, 0
    while True:
        rows = rq.fetch(store, where, limit, 0, after)
        ids += rows["id"].tolist()
        pages += 1
        if len(rows) < limit:
            return ids, pages
        after = (int(rows["created_at"].iloc[-1].timestamp()), rows["id"].iloc[-1])


BOXES = [(104.024, 30.604, 104.036, 30.616),  # one cluster's core: a fifth of the requests
         (104.040, 30.580, 104.120, 30.640),  # a third of the area, off the clusters: an eighth of them
         (104.025, 30.605, 104.029, 30.609)]  # a few hundred metres
QUERIES = [(), (("status", "new"),), (("category", "PARK"),)]


@pytest.mark.parametrize("snapped", [True, False])
@pytest.mark.parametrize("box", BOXES)
@pytest.mark.parametrize("filters", QUERIES)
def test_windowed_pages_walk_exactly_the_published_points_in_the_box(paged, snapped, box, filters):
    _, store, truth = paged
    q = ItemQuery(bbox=box, filters=filters)
    where = _where(store, q, snapped)
    assert where.by_cells and where.rate is not None and where.cells is not None  # windows through the cells
    want = _want(truth, q, snapped)
    for limit in (7, 150):
        ids, pages = _walk(store, where, limit)
        assert ids == want and pages == len(want) // limit + 1
    for offset in (0, 5, 333):
        assert rq.fetch(store, where, 40, offset)["id"].tolist() == want[offset: offset + 40]


@pytest.mark.parametrize("rate", [1e-9, 1e-4, 1e3])
def test_windows_give_the_same_rows_whatever_rate_they_expect(paged, rate, monkeypatch):
    """A rate far too low (many small windows, growing, the last open-ended), too high (one window)."""
    _, store, truth = paged
    monkeypatch.setattr(rq, "WALK_SHARE", 1.01)  # even a box holding most requests goes by cells
    q = ItemQuery(bbox=(104.00, 30.58, 104.10, 30.69), filters=(("status", "resolved"),))
    where = dataclasses.replace(_where(store, q, False), rate=rate)
    want = _want(truth, q, False)
    assert where.by_cells and _walk(store, where, 60)[0] == want
    q = ItemQuery(bbox=q.bbox)
    where = dataclasses.replace(_where(store, q, True), rate=rate)
    want = _want(truth, q, True)
    assert len(want) > 2_150 and rq.fetch(store, where, 25, 2_100)["id"].tolist() == want[2_100: 2_125]  # deep


def test_time_filters_cut_the_windows(paged):
    _, store, truth = paged
    lo, hi = T0 + 20 * 86400, T0 + 51 * 86400  # the burst second inside
    q = ItemQuery(bbox=BOXES[0], time=(lo, hi))
    where = _where(store, q, True)
    assert where.span == (lo, hi)
    assert _walk(store, where, 50)[0] == _want(truth, q, True)
    empty = ItemQuery(bbox=BOXES[0], time=(T0 - 9 * 86400, T0 - 86400))  # before the first request
    assert rq.fetch(store, _where(store, empty, True), 10, 0).empty


def test_a_bbox_holding_most_requests_walks_the_time_order(paged):
    _, store, truth = paged
    q = ItemQuery(bbox=(104.00, 30.58, 104.10, 30.69), filters=(("status", "assigned"),))
    where = _where(store, q, True)
    assert not where.by_cells and where.rate is None and where.cells is None
    assert _walk(store, where, 300)[0] == _want(truth, q, True)
    for snapped in (True, False):  # without per-cell totals: chosen by area, as before
        extent, span = rq.data_extent(store)
        plain = rq.where_clause(ItemQuery(bbox=BOXES[2]), extent, 10, snapped, span)
        assert plain.rate is None and plain.by_cells
        assert _walk(store, plain, 20)[0] == _want(truth, ItemQuery(bbox=BOXES[2]), snapped)


@pytest.mark.parametrize("snapped", [True, False])
def test_box_cells_hold_every_matching_row_and_cover_only_matching_ones(paged, snapped):
    _, _, truth = paged
    rng = np.random.default_rng(5)
    cell = truth["cell"].to_numpy().astype(np.uint64)
    parent = grid.cells_to_parent(cell, 9)
    for _ in range(20):
        w, h = rng.uniform(0.002, 0.08, 2)
        cx, cy = rng.uniform(AREA[0], AREA[2]), rng.uniform(AREA[1], AREA[3])
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        cells = box_cells.box_cells([box], 10, snapped)
        inside = _inside(truth, box, snapped)
        covered, band = np.isin(parent, cells.covered), np.isin(cell, cells.band)
        assert not (covered & band).any()
        assert (inside <= (covered | band)).all()  # every matching row is in a listed cell
        assert inside[covered].all()  # rows of covered cells all match
        if snapped:
            assert (inside == (covered | band)).all()  # the band too matches wholly
        totals = truth.groupby("cell_9").size()
        est = cells.estimate(np.asarray(totals.index, np.uint64), totals.to_numpy(), 10)
        assert covered.sum() <= est <= covered.sum() + totals[np.isin(totals.index.to_numpy().astype(np.uint64),
                                                                       grid.cells_to_parent(cells.band, 9))].sum()


def test_clearly_over_needs_the_low_end_of_the_count_above_the_cap():
    assert rc.clearly_over(1001, 0.1, 2002)  # ~10,000 expected, at least ~9,000
    assert not rc.clearly_over(1001, 0.5, 2002)  # ~2,000 expected: close, counted
    assert not rc.clearly_over(3, 0.0001, 1000)  # three rows say too little
    assert not rc.clearly_over(0, 0.5, 10) and not rc.clearly_over(10, 0.0, 10)


def test_the_service_leaves_out_counts_the_page_shows_far_above_the_cap(paged, monkeypatch):
    settings, store, truth = paged
    counted = []
    real = rc.capped_count
    monkeypatch.setattr(rc, "capped_count", lambda *a, **k: counted.append(a) or real(*a, **k))
    monkeypatch.setattr(rc, "COUNT_CAP", 30)  # the data are small: a small cap
    svc = OgcService(store, settings)
    box = BOXES[1]
    q = ItemQuery(bbox=box, filters=(("status", "resolved"),), limit=40)
    page = svc.page("requests", q)
    want = _want(truth, q, True)
    assert page.ids.tolist() == want[:40] and page.more and len(want) > 5 * rc.count_cap(40)
    assert page.matched is None and counted == []  # left out without counting
    few = ItemQuery(bbox=BOXES[2], filters=(("status", "new"),), limit=2)
    wanted = _want(truth, few, True)
    assert len(wanted) > 2 and svc.page("requests", few).matched == len(wanted)  # counted (up to the cap)
    assert len(counted) == 1
    whole = ItemQuery(bbox=box, limit=40)  # bbox alone: from the counts table and the edge band
    assert svc.page("requests", whole).matched == len(_want(truth, whole, True))
