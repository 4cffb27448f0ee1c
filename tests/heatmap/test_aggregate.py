"""Demand aggregation on a real store around Chengdu, checked against a brute-force pandas count of the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import delete, func, select

from gridgis import grid
from gridgis.errors import InvalidInputError
from gridgis.heatmap.aggregate import (
    Filters,
    aggregate,
    cell_totals,
    check_filters,
    rebuild_demand_counts,
    study_values,
)
from gridgis.heatmap.hotspots import study_area_cells
from gridgis.heatmap.households import write_households
from gridgis.storage.schema import demand_counts, requests

TZ = "Asia/Shanghai"
N = 420
CATEGORIES = ("SAFE", "FAC", "PROP", "ENV")
GRIDS = ("510107001001", "510107001002")
ZONE = shapely.Polygon([(104.045, 30.62), (104.072, 30.628), (104.066, 30.652), (104.048, 30.645)])


def ts(text: str, tz: str = TZ) -> int:
    return int(pd.Timestamp(text, tz=tz).timestamp())


def make_rows(n: int = N, seed: int = 7, start: str = "2025-12-01", end: str = "2026-05-01", tz: str = TZ,
              prefix: str = "t") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lng = rng.uniform(104.03, 104.09, n)
    lat = rng.uniform(30.61, 30.66, n)
    created = rng.integers(ts(start, tz), ts(end, tz), n)
    if n >= 4 and tz == TZ:
        # Local month boundary: 23:30 on 31 March (+08:00) is still March; midnight is April.
        created[:4] = [ts("2026-03-31 23:30"), ts("2026-04-01 00:00"), ts("2026-03-31 23:59:59"),
                       ts("2026-03-01 00:00")]
    cells = grid.latlng_to_cells(lat, lng, 10)
    ids = np.array([f"{prefix}:{i}" for i in range(n)], dtype=object)
    dup = rng.random(n) < 0.2
    dup[0] = False
    earlier = np.minimum(rng.integers(0, n, n), np.arange(n) - 1).clip(0)
    return pd.DataFrame({
        "id": ids, "source": prefix, "source_id": [str(i) for i in range(n)], "created_at": created,
        "text": "路灯不亮", "address": None,
        "category": rng.choice(CATEGORIES, n, p=[0.1, 0.4, 0.3, 0.2]), "category_rule": "test",
        "source_category": None, "request_type": rng.choice(["投诉", "求助", "咨询"], n),
        "status": rng.choice(["new", "resolved", "verified", "invalid"], n),
        "lng": lng, "lat": lat, "source_crs": "wgs84", "orig_x": lng, "orig_y": lat,
        "geocode_level": rng.choice(["source", "building", "estate", "community", "street"], n,
                                    p=[0.5, 0.2, 0.1, 0.12, 0.08]),
        "geocode_score": None, "grid_code": rng.choice([*GRIDS, None], n),
        "cell": cells.astype(np.int64), "cell_9": grid.cells_to_parent(cells, 9).astype(np.int64),
        "cell_8": grid.cells_to_parent(cells, 8).astype(np.int64),
        "cell_7": grid.cells_to_parent(cells, 7).astype(np.int64),
        "duplicate_of": np.where(dup, ids[earlier], None), "reporter_name": None, "reporter_phone": None,
        "extra": None, "content_hash": [f"h{i}" for i in range(n)],
    })


def relocate(rows: pd.DataFrame) -> pd.DataFrame:
    """Recompute the cell columns after moving points."""
    cells = grid.latlng_to_cells(rows["lat"].to_numpy(), rows["lng"].to_numpy(), 10)
    rows["cell"] = cells.astype(np.int64)
    for r in (9, 8, 7):
        rows[f"cell_{r}"] = grid.cells_to_parent(cells, r).astype(np.int64)
    return rows


def put(store, rows: pd.DataFrame) -> None:
    batch = store.insert_batch("t.csv", None, "t", {})
    store.upsert_requests(batch, rows)


@pytest.fixture
def rows() -> pd.DataFrame:
    return make_rows()


@pytest.fixture
def filled(store, rows):
    put(store, rows)
    return store


def brute(rows: pd.DataFrame, res: int, *, since=None, until=None, categories=(), types=(), statuses=(), grids=(),
          zone=None, collapse=False, by_category=True, bucket=None, tz=TZ) -> pd.DataFrame:
    """The expected counts, straight from the rows with pandas."""
    m = np.ones(len(rows), dtype=bool)
    if since is not None:
        m &= rows["created_at"].to_numpy() >= ts(since, tz)
    if until is not None:
        m &= rows["created_at"].to_numpy() < ts(until, tz)
    for col, values in (("category", categories), ("request_type", types), ("status", statuses),
                        ("grid_code", grids)):
        if values:
            m &= rows[col].isin(values).to_numpy()
    if zone is not None:
        m &= shapely.intersects_xy(zone, rows["lng"].to_numpy(), rows["lat"].to_numpy())
    placed = rows["geocode_level"].map({"community": 8, "street": 7}).fillna(15).to_numpy() >= res
    first = rows["duplicate_of"].isna().to_numpy()
    if collapse:
        m &= first
    r = pd.DataFrame({"cell": grid.cells_to_parent(rows["cell"].to_numpy().astype(np.uint64), res),
                      "category": rows["category"], "first": first})
    if bucket is not None:
        wall = pd.to_datetime(rows["created_at"], unit="s", utc=True).dt.tz_convert(tz).dt.tz_localize(None)
        day = wall.dt.normalize()
        start = {"day": day, "week": day - pd.to_timedelta(day.dt.day_of_week, unit="D"),
                 "month": wall.dt.to_period("M").dt.to_timestamp()}[bucket]
        r["bucket"] = start.dt.tz_localize(tz)
    keys = ["cell", *(["category"] if by_category else []), *(["bucket"] if bucket else [])]
    out = r[m & placed].groupby(keys, as_index=False).agg(requests=("first", "size"), issues=("first", "sum"))
    out.attrs["unplaced"] = int((m & ~placed).sum())
    return out.sort_values(keys).reset_index(drop=True)


def assert_counts(result: pd.DataFrame, expected: pd.DataFrame) -> None:
    keys = [k for k in ("cell", "category", "bucket") if k in expected.columns]
    got = result[[*keys, "requests", "issues"]].sort_values(keys).reset_index(drop=True)
    exp = expected[[*keys, "requests", "issues"]].astype({"cell": np.uint64})
    if "category" in keys:
        got["category"] = got["category"].astype(object)
        exp["category"] = exp["category"].astype(object)
    pd.testing.assert_frame_equal(got, exp, check_dtype=False)
    assert result.attrs["unplaced_requests"] == expected.attrs["unplaced"]


# --------------------------------------------------------------------------------------------- counts
@pytest.mark.parametrize("bucket", [None, "day", "week", "month"])
@pytest.mark.parametrize("res", [7, 8, 9, 10])
def test_counts_match_brute_force_at_every_resolution_and_bucket(filled, rows, res, bucket):
    window = {"since": "2026-01-04 06:00", "until": "2026-04-19 18:30"}  # partial Sundays at both ends
    got = aggregate(filled, res, Filters(**window), bucket=bucket, tz=TZ)
    assert_counts(got, brute(rows, res, bucket=bucket, **window))
    assert (grid.cell_resolution(got["cell"].to_numpy()) == res).all()
    assert got.attrs["source"] == ("counts" if res <= 9 else "requests")
    if res <= 9:  # the counts table and the requests give the same table
        direct = aggregate(filled, res, Filters(**window), bucket=bucket, tz=TZ, source="requests")
        pd.testing.assert_frame_equal(got, direct)
        assert direct.attrs["unplaced_requests"] == got.attrs["unplaced_requests"]


@pytest.mark.parametrize("window", [
    ("2026-01-01", "2026-04-01"),  # whole months
    ("2025-12-01", "2026-05-01"),  # everything, month aligned
    ("2026-01-15 10:00", "2026-05-01"),  # long, unaligned start: month minus days
    ("2026-02-03 07:45", "2026-02-03 21:10"),  # inside one day
    ("2026-03-31 23:00", "2026-04-01 01:00"),  # across a local midnight and month end
    ("2025-11-01", "2027-01-01"),  # wider than the data: whole years
])
def test_counts_table_plans_agree_with_requests(filled, rows, window):
    f = Filters(since=window[0], until=window[1])
    for bucket in (None, "month"):
        fast = aggregate(filled, 9, f, bucket=bucket, source="counts")
        assert_counts(fast, brute(rows, 9, since=window[0], until=window[1], bucket=bucket))
        assert fast.attrs["source"] == "counts"


def test_open_time_range_counts_everything(filled, rows):
    got = aggregate(filled, 8, Filters())
    assert_counts(got, brute(rows, 8))
    assert got["prev_requests"].isna().all()  # no period to compare with


def test_local_month_and_week_boundaries(store):
    rows = make_rows(4)
    rows["geocode_level"] = "source"
    put(store, rows)
    month = aggregate(store, 9, Filters(), bucket="month", by_category=False)
    starts = {pd.Timestamp("2026-03-01", tz=TZ): 3, pd.Timestamp("2026-04-01", tz=TZ): 1}
    assert month.groupby("bucket")["requests"].sum().to_dict() == starts
    assert str(month["bucket"].dt.tz) == TZ
    week = aggregate(store, 9, Filters(), bucket="week", by_category=False)
    # 2026-03-31 is a Tuesday: its week starts Monday 30 March, local time
    assert pd.Timestamp("2026-03-30", tz=TZ) in set(week["bucket"])
    assert (week["bucket"].dt.day_of_week == 0).all()
    day = aggregate(store, 9, Filters(), bucket="day", by_category=False)
    assert day.groupby("bucket")["requests"].sum()[pd.Timestamp("2026-03-31", tz=TZ)] == 2


def test_daylight_saving_zone_buckets_by_local_day(store):
    rows = make_rows(300, start="2026-03-20", end="2026-04-05", tz="Europe/Berlin")
    put(store, rows)
    got = aggregate(store, 9, Filters(since="2026-03-25", until="2026-04-02"), bucket="day", tz="Europe/Berlin")
    assert got.attrs["source"] == "requests"  # offset changes on 29 March: the counts table cannot serve it
    assert_counts(got, brute(rows, 9, since="2026-03-25", until="2026-04-02", bucket="day", tz="Europe/Berlin"))


# ---------------------------------------------------------------------------------------------- metrics
def test_issues_count_first_reports_and_collapse_keeps_only_them(filled, rows):
    f = Filters(since="2025-12-01", until="2026-05-01")
    got = aggregate(filled, 10, f)
    assert (got["issues"] <= got["requests"]).all() and (got["issues"] < got["requests"]).any()
    collapsed = aggregate(filled, 10, Filters(since="2025-12-01", until="2026-05-01", collapse_duplicates=True))
    assert_counts(collapsed, brute(rows, 10, since="2025-12-01", until="2026-05-01", collapse=True))
    assert (collapsed["requests"] == collapsed["issues"]).all()
    assert collapsed["requests"].sum() == got["issues"].sum()


def test_share_is_of_the_cells_total(filled):
    got = aggregate(filled, 8, Filters(since="2026-01-01", until="2026-04-01"))
    sums = got.groupby("cell")["share"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0)
    totals = got.groupby("cell")["requests"].transform("sum")
    np.testing.assert_allclose(got["share"], got["requests"] / totals)


def test_rate_per_100_households_sums_fine_cells(filled, rows):
    fine = np.unique(rows["cell"].to_numpy().astype(np.uint64))[:40]
    hh = np.arange(1, 41, dtype=float) * 10
    write_households(filled, fine, hh, "gazetteer")
    got = aggregate(filled, 9, Filters(), by_category=False)
    parents = grid.cells_to_parent(fine, 9)
    expected = pd.Series(hh).groupby(parents).sum()
    known = got[got["cell"].isin(expected.index)]
    assert len(known) and got["households"].isna().any()
    np.testing.assert_allclose(known["households"], expected.reindex(known["cell"]).to_numpy())
    np.testing.assert_allclose(known["rate_per_100_households"], known["requests"] / known["households"] * 100)
    assert got.loc[got["households"].isna(), "rate_per_100_households"].isna().all()


def test_change_against_previous_period_of_same_length(filled, rows):
    since, until = "2026-02-01", "2026-03-01"  # 28 days: previous is 4 Jan – 1 Feb
    got = aggregate(filled, 9, Filters(since=since, until=until))
    prev = brute(rows, 9, since="2026-01-04", until="2026-02-01").set_index(["cell", "category"])["requests"]
    keys = pd.MultiIndex.from_arrays([got["cell"].to_numpy(np.int64).astype(np.uint64), got["category"]])
    expected_prev = prev.reindex(keys).fillna(0).to_numpy()
    np.testing.assert_array_equal(got["prev_requests"].to_numpy(), expected_prev)
    np.testing.assert_array_equal(got["change"], got["requests"] - expected_prev)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(expected_prev > 0, (got["requests"] - expected_prev) / expected_prev * 100, np.nan)
    np.testing.assert_allclose(got["change_pct"], pct)
    assert got.attrs["compared"] and (got["prev_requests"] > 0).any()


def test_change_with_buckets_is_against_the_preceding_bucket(filled, rows):
    got = aggregate(filled, 8, Filters(since="2026-02-01", until="2026-05-01"), bucket="month", by_category=False)
    full = brute(rows, 8, bucket="month", by_category=False).set_index(["cell", "bucket"])["requests"]
    prev_keys = pd.MultiIndex.from_arrays([got["cell"].to_numpy(np.int64).astype(np.uint64),
                                           got["bucket"] - pd.DateOffset(months=1)])
    np.testing.assert_array_equal(got["prev_requests"], full.reindex(prev_keys).fillna(0).to_numpy())
    assert (got.loc[got["bucket"] == pd.Timestamp("2026-02-01", tz=TZ), "prev_requests"] > 0).any()


def test_coarse_geocodes_count_only_at_coarse_resolutions(filled, rows):
    community = rows["geocode_level"] == "community"
    street = rows["geocode_level"] == "street"
    totals = {res: int(aggregate(filled, res, Filters())["requests"].sum()) for res in (7, 8, 9, 10)}
    assert totals[7] == len(rows)
    assert totals[8] == len(rows) - street.sum()
    assert totals[9] == totals[10] == len(rows) - street.sum() - community.sum()
    assert aggregate(filled, 10, Filters()).attrs["unplaced_requests"] == community.sum() + street.sum()


# ---------------------------------------------------------------------------------------------- filters
@pytest.mark.parametrize("res", [8, 10])
@pytest.mark.parametrize("kind", ["categories", "types", "statuses", "grids", "zone", "all"])
def test_each_filter_matches_brute_force(filled, rows, kind, res):
    args = {
        "categories": {"categories": ("FAC", "ENV")},
        "types": {"types": ("投诉",)},
        "statuses": {"statuses": ("resolved", "verified")},
        "grids": {"grids": (GRIDS[0],)},
        "zone": {"zone": ZONE},
        "all": {"categories": ("FAC", "PROP"), "types": ("投诉", "求助"), "statuses": ("new", "resolved"),
                "zone": ZONE, "collapse": True},
    }[kind]
    f = Filters(since="2025-12-10", until="2026-04-25", categories=args.get("categories", ()),
                request_types=args.get("types", ()), statuses=args.get("statuses", ()),
                grids=args.get("grids", ()), zone=args.get("zone"), collapse_duplicates=args.get("collapse", False))
    got = aggregate(filled, res, f, bucket="month")
    assert_counts(got, brute(rows, res, since="2025-12-10", until="2026-04-25", bucket="month", **args))
    assert len(got)


def test_zone_boundary_is_decided_by_the_point(store):
    cell = grid.latlng_to_cells([30.64], [104.06], 10)
    poly = grid.cells_to_polygons(cell)[0]
    zone = shapely.box(poly.bounds[0] - 0.01, poly.bounds[1] - 0.01, poly.centroid.x, poly.bounds[3] + 0.01)
    rows = make_rows(4)
    rows["lng"] = [poly.centroid.x - 1e-5, poly.centroid.x + 1e-5, poly.centroid.x - 2e-4, poly.centroid.x + 2e-4]
    rows["lat"] = poly.centroid.y
    rows["geocode_level"] = "source"
    rows["duplicate_of"] = None
    put(store, relocate(rows))  # all four in the same res-10 cell, which the zone's edge cuts in half
    got = aggregate(store, 10, Filters(zone=zone), by_category=False)
    assert got["requests"].tolist() == [2]
    assert got["cell"].tolist() == [int(cell[0])]


def test_check_filters_normalises_aliases_and_times():
    f = check_filters(Filters(since="2026-03-01", until=pd.Timestamp("2026-03-02T00:00Z"), categories=("fac",),
                              request_types=("complaint",), statuses=("已办结",), grids=(" 510107001001 ",)), tz=TZ)
    assert f.since == pd.Timestamp("2026-03-01", tz=TZ) and str(f.until.tz) == TZ
    assert f.categories == ("FAC",) and f.request_types == ("投诉",) and f.statuses == ("resolved",)
    assert f.grids == ("510107001001",)


# --------------------------------------------------------------------------------------------- outputs
def test_geodataframe_has_cell_polygons_and_hex_ids(filled):
    got = aggregate(filled, 9, Filters(since="2026-01-01", until="2026-02-01"), geometry=True)
    assert got.crs.to_epsg() == 4326 and len(got)
    lat, lng = grid.cell_centers(got["cell"].to_numpy())
    assert shapely.contains_xy(got.geometry.to_numpy(), lng, lat).all()
    assert got["cell_id"].tolist() == [format(int(c), "x") for c in got["cell"]]
    assert got["cell_id"].str.len().eq(15).all()
    assert got["cell"].dtype == np.uint64 and got.attrs["res"] == 9


def test_cell_totals_one_row_per_cell(filled, rows):
    got = cell_totals(filled, 9, Filters(since="2026-01-01", until="2026-05-01"))
    assert got["cell"].is_unique and "category" not in got.columns
    assert_counts(got, brute(rows, 9, since="2026-01-01", until="2026-05-01", by_category=False))


def test_study_values_fill_the_area_with_zeros(filled, rows):
    cells, values = study_values(filled, 9, Filters(zone=ZONE), polygons=ZONE)
    np.testing.assert_array_equal(cells, study_area_cells(ZONE, 9))
    assert (values == 0).any() and values.sum() > 0
    totals = cell_totals(filled, 9, Filters(zone=ZONE)).set_index("cell")["requests"]
    inside = np.isin(totals.index.to_numpy(), cells)
    assert values.sum() == totals[inside].sum()


def test_empty_results_are_empty_tables(filled, store):
    got = aggregate(filled, 9, Filters(since="2030-01-01", until="2030-02-01"), bucket="week", geometry=True)
    assert len(got) == 0 and {"cell", "cell_id", "category", "bucket", "requests", "rate_per_100_households",
                              "change_pct", "geometry"} <= set(got.columns)
    assert len(aggregate(filled, 10, Filters(categories=("CARE",)))) == 0


def test_empty_store_is_an_empty_table(store):
    got = aggregate(store, 8, Filters())
    assert len(got) == 0 and got.attrs["unplaced_requests"] == 0


# ------------------------------------------------------------------------------------- bad parameters
@pytest.mark.parametrize(("call", "field", "words"), [
    (lambda s: aggregate(s, 9, Filters(categories=("NOPE",))), "categories", ["NOPE", "FAC", "CARE"]),
    (lambda s: aggregate(s, 6, Filters()), "res", ["7", "10"]),
    (lambda s: aggregate(s, 11, Filters()), "res", ["7", "10"]),
    (lambda s: aggregate(s, "nine", Filters()), "res", ["整数"]),
    (lambda s: aggregate(s, 9, Filters(since="2026-03-01", until="2026-02-01")), "since", ["since", "until"]),
    (lambda s: aggregate(s, 9, Filters(since="2026-02-01", until="2026-02-01")), "since", ["before"]),
    (lambda s: aggregate(s, 9, Filters(since="last tuesday")), "since", ["ISO 8601"]),
    (lambda s: aggregate(s, 9, Filters(until="2026-13-45")), "until", ["ISO 8601"]),
    (lambda s: aggregate(s, 9, Filters(zone=shapely.Polygon())), "zone", ["Polygon"]),
    (lambda s: aggregate(s, 9, Filters(zone=shapely.Point(104.06, 30.64))), "zone", ["Polygon"]),
    (lambda s: aggregate(s, 9, Filters(zone=shapely.box(30.6, 104.0, 30.7, 104.1).buffer(100))), "zone",
     ["lng, lat"]),
    (lambda s: aggregate(s, 9, Filters(), bucket="year"), "bucket", ["day", "week", "month"]),
    (lambda s: aggregate(s, 9, Filters(), tz="Mars/Olympus"), "tz", ["Asia/Shanghai"]),
    (lambda s: aggregate(s, 9, Filters(statuses=("lost",))), "statuses", ["resolved", "已办结"]),
    (lambda s: aggregate(s, 9, Filters(request_types=("吐槽",))), "request_types", ["投诉", "咨询"]),
    (lambda s: aggregate(s, 9, Filters(grids=("",))), "grids", ["grids"]),
    (lambda s: aggregate(s, 9, Filters(grids=(GRIDS[0],)), source="counts"), "source", ["counts"]),
    (lambda s: aggregate(s, 9, Filters(), source="cache"), "source", ["auto", "requests"]),
    (lambda s: study_values(s, 9, Filters(), metric="households"), "metric", ["requests", "issues"]),
])
def test_bad_parameters_name_the_parameter_and_the_allowed_values(store, call, field, words):
    with pytest.raises(InvalidInputError) as info:
        call(store)
    assert info.value.field == field
    for w in words:
        assert w in str(info.value)


def test_counts_table_refuses_another_calendar(filled):
    with pytest.raises(InvalidInputError, match="rebuild_demand_counts") as info:
        aggregate(filled, 9, Filters(since="2026-03-01", until="2026-04-15"), tz="Europe/Berlin", source="counts")
    assert info.value.field == "source"


def test_resolution_finer_than_stored_is_refused(store):
    store.set_meta("h3_resolution", "9")
    with pytest.raises(InvalidInputError, match="7–9") as info:
        aggregate(store, 10, Filters())
    assert info.value.field == "res"


# ------------------------------------------------------------------------------- counts table upkeep
def counts_by_level(store) -> dict:
    with store.read() as conn:
        q = select(demand_counts.c.level, func.sum(demand_counts.c.requests), func.sum(demand_counts.c.firsts))
        return {lv: (int(n), int(f)) for lv, n, f in conn.execute(q.group_by(demand_counts.c.level)).all()}


def test_triggers_follow_updates_deletes_and_rollbacks(filled, rows):
    changed = rows.copy()
    changed.loc[:59, "category"] = "CARE"
    changed.loc[60:99, "created_at"] += 40 * 86_400
    changed.loc[100:129, "duplicate_of"] = None
    changed.loc[130:159, "geocode_level"] = "street"
    changed.loc[:159, "content_hash"] = "changed"
    put(filled, changed)
    with filled.write() as conn:
        conn.execute(delete(requests).where(requests.c.id.in_([f"t:{i}" for i in range(200, 230)])))
    expected = changed[~changed["id"].isin([f"t:{i}" for i in range(200, 230)])]
    with pytest.raises(RuntimeError), filled.write() as conn:
        filled.upsert_requests(filled.insert_batch("x", None, "x", {}, conn=conn),
                               make_rows(50, seed=3, prefix="x"), conn=conn)
        raise RuntimeError("import failed half way")
    n_first = int(expected["duplicate_of"].isna().sum())
    assert counts_by_level(filled) == {lv: (len(expected), n_first) for lv in "DMY"}
    for res in (7, 8, 9):
        f = Filters(since="2025-12-01", until="2026-07-01")
        assert_counts(aggregate(filled, res, f, bucket="month", source="counts"),
                      brute(expected, res, since="2025-12-01", until="2026-07-01", bucket="month"))


def test_rebuild_matches_triggers_and_serves_another_fixed_offset(filled, rows):
    with filled.read() as conn:
        before = conn.execute(select(demand_counts).order_by(*demand_counts.primary_key.columns)).all()
    assert rebuild_demand_counts(filled, TZ) == len(before)
    with filled.read() as conn:
        after = conn.execute(select(demand_counts).order_by(*demand_counts.primary_key.columns)).all()
    assert after == before
    rebuild_demand_counts(filled, "Asia/Tokyo")
    f = Filters(since="2026-01-01", until="2026-04-01")
    tokyo = aggregate(filled, 9, f, bucket="month", tz="Asia/Tokyo")
    assert tokyo.attrs["source"] == "counts"
    assert_counts(tokyo, brute(rows, 9, since="2026-01-01", until="2026-04-01", bucket="month", tz="Asia/Tokyo"))
    # New requests are counted in the rebuilt calendar by the triggers.
    put(filled, make_rows(30, seed=5, prefix="n", start="2026-02-01", end="2026-03-01"))
    both = pd.concat([rows, make_rows(30, seed=5, prefix="n", start="2026-02-01", end="2026-03-01")])
    assert_counts(aggregate(filled, 9, f, bucket="month", tz="Asia/Tokyo"),
                  brute(both, 9, since="2026-01-01", until="2026-04-01", bucket="month", tz="Asia/Tokyo"))
    with pytest.raises(InvalidInputError, match="daylight") as info:
        rebuild_demand_counts(filled, "America/New_York")
    assert info.value.field == "tz"
