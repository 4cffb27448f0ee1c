"""/api/cells, /api/cells/<h3>, /api/hotspots, /api/stats and zone stats on the seeded store.

Expected values are computed independently from the generated rows (numpy/shapely), not through
gridgis.heatmap.aggregate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from gridgis import grid
from gridgis.heatmap.households import write_households

from .conftest import HOT, XSS_AT, build_rows

ROWS = build_rows()
LOCAL = pd.to_datetime(ROWS["created_at"], unit="s", utc=True).dt.tz_convert("Asia/Shanghai")


def expected_counts(res: int, mask=None) -> dict[str, int]:
    rows = ROWS if mask is None else ROWS[mask]
    cells = grid.cells_to_parent(rows["cell"].to_numpy(np.uint64), res)
    uniq, n = np.unique(cells, return_counts=True)
    return dict(zip(grid.cells_to_str(uniq).tolist(), n.tolist(), strict=True))


def as_dict(body) -> dict[str, int]:
    return {c["h3"]: c["n"] for c in body["cells"]}


@pytest.mark.parametrize("res", [8, 9, 10])
def test_whole_area_counts_match_the_rows(client, res):
    r = client.get(f"/api/cells?res={res}")
    assert r.status_code == 200
    assert as_dict(r.json) == expected_counts(res)
    assert r.json["total"] == len(ROWS) and r.json["res"] == res
    assert set(r.json["cells"][0]) == {"h3", "n"}  # compact: no rate without household data
    b = r.json["breaks"]
    assert b == sorted(b) and b[-1] == max(expected_counts(res).values())


@pytest.mark.parametrize("res", [9, 10])
def test_a_view_gets_every_hexagon_it_touches_counted_whole(client, res):
    bbox = (104.055, 30.630, 104.065, 30.640)
    got = as_dict(client.get(f"/api/cells?res={res}&bbox={','.join(map(str, bbox))}").json)
    whole = expected_counts(res)
    assert got and all(whole[h] == n for h, n in got.items())  # no partial counts at the edges
    ids = list(whole)
    polys = grid.cells_to_polygons(np.array([int(h, 16) for h in ids], dtype=np.uint64))
    touching = {h for h, p in zip(ids, polys, strict=True) if shapely.intersects(p, shapely.box(*bbox))}
    assert touching <= set(got)


def test_filters_change_the_counts(client):
    park = as_dict(client.get("/api/cells?res=9&category=PARK").json)
    assert park == expected_counts(9, (ROWS["category"] == "PARK").to_numpy())
    spring = (LOCAL >= pd.Timestamp("2026-03-01", tz="Asia/Shanghai")) & (
        LOCAL < pd.Timestamp("2026-04-01", tz="Asia/Shanghai"))
    got = as_dict(client.get("/api/cells?res=9&since=2026-03-01&until=2026-04-01").json)
    assert got == expected_counts(9, spring.to_numpy())
    mask = (ROWS["request_type"] == "投诉") & ROWS["status"].isin(["new", "resolved"])
    got = as_dict(client.get("/api/cells?res=10&type=投诉&status=new,resolved").json)
    assert got == expected_counts(10, mask.to_numpy())
    got = as_dict(client.get("/api/cells?res=9&grid=51010700100102").json)
    assert got == expected_counts(9, (ROWS["grid_code"] == "51010700100102").to_numpy())


def test_rates_per_100_households_when_households_are_known(client, web_store):
    cell = int(grid.latlng_to_cells([HOT[1]], [HOT[0]], 10)[0])
    write_households(web_store, np.array([cell], dtype=np.uint64), np.array([50.0]), "gazetteer")
    body = client.get("/api/cells?res=10").json
    h = format(cell, "x")
    row = next(c for c in body["cells"] if c["h3"] == h)
    assert row["rate"] == pytest.approx(expected_counts(10)[h] / 50 * 100, abs=1e-3)
    assert sum("rate" in c for c in body["cells"]) == 1 and body["rate_breaks"]


@pytest.mark.parametrize(("query", "field"), [
    ("res=6", "res"), ("res=11", "res"), ("res=x", "res"), ("bbox=1,2", "bbox"), ("since=x", "since"),
    ("category=XX", "category"), ("type=吐槽", "type"), ("status=closed?", "status"), ("zone=5", "zone"),
])
def test_bad_cell_parameters_name_the_parameter(client, query, field):
    r = client.get(f"/api/cells?{query}")
    assert r.status_code == 400 and r.json["field"] == field and r.json["ok"] is False


def test_cell_detail_has_categories_months_and_rate(client):
    lng, lat = HOT
    cell = format(int(grid.latlng_to_cells([lat], [lng], 9)[0]), "x")
    body = client.get(f"/api/cells/{cell}").json
    mask = grid.cells_to_parent(ROWS["cell"].to_numpy(np.uint64), 9) == int(cell, 16)
    assert body["n"] == int(mask.sum()) and body["res"] == 9
    assert {c["code"]: c["n"] for c in body["by_category"]} == ROWS[mask]["category"].value_counts().to_dict()
    months = LOCAL[mask].dt.strftime("%Y-%m").value_counts().to_dict()
    assert {m["month"]: m["n"] for m in body["monthly"] if m["n"]} == months
    assert [m["month"] for m in body["monthly"]] == sorted({m["month"] for m in body["monthly"]})
    assert body["households"] is None and body["rate"] is None
    part = client.get(f"/api/cells/{cell}?category=PARK&since=2026-05-01").json
    assert part["n"] == int((mask & (ROWS["category"] == "PARK") & (LOCAL >= "2026-05-01").to_numpy()).sum())
    assert [m["month"] for m in part["monthly"]][0] == "2026-05"


def test_cell_detail_errors(client):
    assert client.get("/api/cells/zzz").json["field"] == "h3"
    fine = format(int(grid.latlng_to_cells([HOT[1]], [HOT[0]], 11)[0]), "x")
    r = client.get(f"/api/cells/{fine}")
    assert r.status_code == 400 and r.json["field"] == "h3"
    empty = format(int(grid.latlng_to_cells([30.66], [104.031], 10)[0]), "x")
    body = client.get(f"/api/cells/{empty}").json
    assert body["n"] == 0 and body["by_category"] == [] and body["monthly"] == []


def test_gi_star_finds_the_planted_hot_spot(client):
    hot = format(int(grid.latlng_to_cells([HOT[1]], [HOT[0]], 10)[0]), "x")
    body = client.get("/api/hotspots?res=10").json
    assert body["significant"] is True and body["reason"] is None and body["study_cells"] > 1000
    bins = {c["h3"]: c["bin"] for c in body["cells"]}
    assert bins[hot] == 3
    view = client.get("/api/hotspots?res=10&bbox=104.068,30.643,104.072,30.647").json
    assert hot not in {c["h3"] for c in view["cells"]} and len(view["cells"]) < len(body["cells"])


def test_too_few_requests_means_no_significance_with_a_reason(client):
    body = client.get("/api/hotspots?res=10&category=SAFE&type=建议").json
    assert body["significant"] is False and "30" in body["reason"]
    assert {c["bin"] for c in body["cells"]} == {0}


def test_emerging_trends_in_both_languages(client):
    zh = client.get("/api/hotspots?res=9&method=trend").json
    en = client.get("/api/hotspots?res=9&method=trend&lang=en").json
    assert zh["steps"] == 6 and zh["method"] == "trend"
    assert {c["trend"] for c in zh["cells"]} == {c["trend"] for c in en["cells"]}
    assert any("点" in c["label"] or "模式" in c["label"] for c in zh["cells"])
    assert all(c["label"].isascii() for c in en["cells"])
    assert client.get("/api/hotspots?method=kde").json["field"] == "method"
    assert client.get("/api/hotspots?k=9").json["field"] == "k"


def test_stats_totals_and_change_vs_the_previous_period(client):
    body = client.get("/api/stats").json
    assert body["n"] == len(ROWS)
    assert {c["code"]: c["n"] for c in body["by_category"]} == ROWS["category"].value_counts().to_dict()
    assert sum(m["n"] for m in body["monthly"]) == len(ROWS)
    q = client.get("/api/stats?since=2026-04-01&until=2026-05-01").json
    cur = int(((LOCAL >= "2026-04-01") & (LOCAL < "2026-05-01")).sum())
    # previous period: the 30 days before 2026-04-01
    prev = int(((LOCAL >= pd.Timestamp("2026-04-01", tz="Asia/Shanghai") - pd.Timedelta(days=30))
                & (LOCAL < "2026-04-01")).sum())
    assert q["change"]["current"] == cur == q["n"] and q["change"]["previous"] == prev


def test_zone_stats_count_requests_inside_and_households_from_grids(client):
    box = shapely.box(104.05, 30.62, 104.06, 30.65)  # the east half of grid A (400 households)
    zid = client.post("/api/zones", json={"name": "A 东半", "geometry": shapely.geometry.mapping(box)}).json["id"]
    body = client.get(f"/api/zones/{zid}/stats").json
    inside = shapely.intersects_xy(box, ROWS["lng"].to_numpy(), ROWS["lat"].to_numpy())
    assert body["n"] == int(inside.sum())
    assert {c["code"]: c["n"] for c in body["by_category"]} == ROWS[inside]["category"].value_counts().to_dict()
    assert body["households"] == pytest.approx(200.0)
    assert body["per_100"] == pytest.approx(inside.sum() / 200 * 100, abs=1e-3)
    assert client.get("/api/zones/999/stats").status_code == 404
    lst = client.get(f"/api/cells?res=10&zone={zid}").json
    assert lst["total"] == int(inside.sum())


def test_cells_answer_304_when_nothing_changed(client):
    r = client.get("/api/cells?res=9")
    assert client.get("/api/cells?res=9", headers={"If-None-Match": r.headers["ETag"]}).status_code == 304


def test_the_xss_request_cell_is_in_the_zoomed_view(client):
    lng, lat = XSS_AT
    cell = format(int(grid.latlng_to_cells([lat], [lng], 10)[0]), "x")
    got = as_dict(client.get(f"/api/cells?res=10&bbox={lng - 0.001},{lat - 0.001},{lng + 0.001},{lat + 0.001}").json)
    assert got[cell] == expected_counts(10)[cell]
