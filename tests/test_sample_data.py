"""The synthetic sample community: a deterministic generator whose files keep the README's promises."""

from __future__ import annotations

import importlib.util
import io
import json
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from rapidfuzz import fuzz
from shapely.geometry import shape

from gridgis import grid
from gridgis.config import load_settings
from gridgis.crs import to_wgs84

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
CATEGORIES = {"SAFE", "FAC", "PROP", "PARK", "ENV", "ORDER", "CARE"}
# 数字城管 top classes (DOMAIN.md §2)
PATROL_CLASSES = {"突发事件", "公用设施", "道路交通", "房屋土地", "街面秩序", "市容环境", "园林绿化",
                  "宣传广告", "施工管理", "扩展事件"}
XLSX_HEADERS = ["工单编号", "受理时间", "诉求类型", "诉求类别", "诉求内容", "事发地址", "经度", "纬度",
                "联系人", "联系电话", "办理状态", "工单来源"]


def _load_generator():
    spec = importlib.util.spec_from_file_location("sample_data_generate", SAMPLE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module by name
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.fixture(scope="module")
def sample():
    return gen.build()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    gen.generate(out)
    return out


@pytest.fixture(scope="module")
def community():
    return shape(json.loads((SAMPLE / "community.geojson").read_text("utf-8"))["features"][0]["geometry"])


@pytest.fixture(scope="module")
def xlsx():
    return pd.read_excel(SAMPLE / "requests_12345.xlsx", dtype={"工单编号": str, "联系电话": str})


def _xlsx_content(path: Path) -> tuple:
    """Sheet names, every cell value and the document times. Not the XML bytes: openpyxl serialises
    differently with and without lxml installed, and deflate differs between zlib builds."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    sheets = tuple((ws.title, tuple(ws.iter_rows(values_only=True))) for ws in wb.worksheets)
    props = (wb.properties.created, wb.properties.modified)
    wb.close()
    return sheets, props


def _dist_m(lng0, lat0, lng1, lat1):
    return np.hypot((np.asarray(lng1) - lng0) * gen.M_LNG, (np.asarray(lat1) - lat0) * gen.M_LAT)


# ---------------------------------------------------------------- determinism and size


def test_two_runs_write_identical_bytes(fresh, tmp_path):
    gen.generate(tmp_path)
    for name in gen.FILES.values():
        assert (tmp_path / name).read_bytes() == (fresh / name).read_bytes(), name


def test_committed_files_equal_a_fresh_run(fresh):
    for name in gen.FILES.values():
        committed, new = SAMPLE / name, fresh / name
        if name.endswith(".xlsx"):
            same = _xlsx_content(committed) == _xlsx_content(new)
        else:
            same = committed.read_bytes() == new.read_bytes()
        assert same, f"{name} differs from a fresh run: run `python sample_data/generate.py` and commit"


def test_xlsx_has_fixed_times_inside():
    with zipfile.ZipFile(SAMPLE / "requests_12345.xlsx") as z:
        assert {i.date_time for i in z.infolist()} == {(2026, 12, 1, 8, 0, 0)}
        core = z.read("docProps/core.xml").decode()
    assert core.count("2026-12-01T08:00:00Z") == 2  # created and modified


def test_sample_folder_stays_under_5_mb():
    total = sum(p.stat().st_size for p in SAMPLE.iterdir() if p.is_file())
    assert total < 5 * 1024 * 1024


# ---------------------------------------------------------------- the request files


def test_about_6000_requests_split_like_the_real_channels(xlsx):
    wechat = pd.read_csv(SAMPLE / "wechat_messages_gbk.csv", encoding="gbk", dtype=str)
    patrol = json.loads((SAMPLE / "patrol_reports.geojson").read_text("utf-8"))["features"]
    n = {"12345": len(xlsx), "wechat": len(wechat), "patrol": len(patrol)}
    total = sum(n.values())
    assert 5700 <= total <= 6300
    assert abs(n["12345"] / total - 0.60) < 0.03
    assert abs(n["wechat"] / total - 0.25) < 0.03
    assert abs(n["patrol"] / total - 0.15) < 0.03


def test_all_seven_categories_in_the_truth_and_in_every_channel(sample):
    r = sample.requests
    assert set(r["category"]) == CATEGORIES
    assert r["category"].value_counts().min() >= 300
    for source, group in r.groupby("source"):
        assert set(group["category"]) == CATEGORIES, source
    assert len(set(r["text"])) > 0.8 * len(r)  # templates vary: texts are not copies of each other


def test_xlsx_headers_ids_and_times(xlsx):
    assert list(xlsx.columns) == XLSX_HEADERS
    assert xlsx["工单编号"].str.fullmatch(r"CD\d{13}").all() and xlsx["工单编号"].is_unique
    t = xlsx["受理时间"]
    assert t.min() >= pd.Timestamp("2025-11-01") and t.max() < pd.Timestamp("2026-11-01")
    assert set(xlsx["诉求类型"]) == {"投诉", "求助", "咨询", "建议", "举报", "表扬"}
    assert set(xlsx["办理状态"]) == {"受理", "派单", "处置中", "已办结", "已回访"}
    assert 0.05 < xlsx["诉求类别"].isna().mean() < 0.15  # operators leave some blank


def test_xlsx_coordinates_are_gcj02(xlsx, community):
    pts = xlsx.dropna(subset=["经度", "纬度"])
    assert 0.01 < 1 - len(pts) / len(xlsx) < 0.04  # a few tickets have only an address
    assert (pts["经度"].round(6) == pts["经度"]).all()
    lng, lat = to_wgs84(pts["经度"], pts["纬度"], "gcj02")
    assert shapely.contains_xy(community, lng, lat).all()
    shift = _dist_m(lng, lat, pts["经度"], pts["纬度"])
    assert 250 < np.median(shift) < 600  # read as WGS84 they would land a few hundred metres off


def test_wechat_file_is_gbk_with_resident_style_addresses():
    raw = (SAMPLE / "wechat_messages_gbk.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gbk")
    assert text.startswith("编号,时间,内容,地址,联系人,电话\r\n")
    w = pd.read_csv(io.StringIO(text), dtype=str)
    assert w["时间"].str.fullmatch(r"\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}").all()
    addr = w["地址"]
    assert addr.str.contains("[０-９]").sum() > 20  # full-width digits
    assert addr.str.contains(r"[一二三四五六七八九十]+[栋号幢]").sum() > 20  # Chinese numerals
    assert addr.str.contains("老锦城|锦城小区").sum() > 20  # aliases
    assert addr.str.contains("附近|旁边|对面|楼下|门口").mean() > 0.3
    assert addr.str.startswith("金色家园").sum() > 5  # the name shared with 锦东社区


def test_patrol_reports_are_wgs84_points_of_their_grid(community):
    fc = json.loads((SAMPLE / "patrol_reports.geojson").read_text("utf-8"))
    assert "crs" not in fc
    grids = json.loads((SAMPLE / "grids.geojson").read_text("utf-8"))["features"]
    polys = {g["properties"]["grid_code"]: shape(g["geometry"]) for g in grids}
    worker = {g["properties"]["grid_code"]: g["properties"]["grid_worker"] for g in grids}
    for f in fc["features"]:
        p, pt = f["properties"], shape(f["geometry"])
        assert community.contains(pt)
        assert polys[p["grid_code"]].contains(pt), p["id"]
        assert p["reporter"] == worker[p["grid_code"]]
        assert re.fullmatch(r"2026-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00|2025-1[12]-\d\dT\d\d:\d\d:\d\d\+08:00",
                            p["reported_at"])
        assert p["category"].split("/")[0] in PATROL_CLASSES


def test_bad_rows_say_what_is_wrong():
    bad = pd.read_csv(SAMPLE / "bad_rows.csv", dtype=str, keep_default_na=False)
    assert list(bad.columns) == XLSX_HEADERS + ["说明"]
    assert (bad["说明"] != "").all()
    broken = ~bad["说明"].str.startswith("正常行") & ~bad["说明"].str.contains("不应拒收")
    assert broken.sum() >= 18 and (~broken).sum() >= 5
    ids = bad.loc[bad["工单编号"] != "", "工单编号"]
    assert ids.duplicated().any()
    assert "2026-13-45" in bad["受理时间"].str.cat() and "104.0x" in set(bad["经度"])
    swapped = bad["说明"].str.contains("写反")
    assert (bad.loc[swapped, "经度"].astype(float) < 90).all()


# ---------------------------------------------------------------- places


def test_grids_tile_the_community(community):
    fc = json.loads((SAMPLE / "grids.geojson").read_text("utf-8"))
    polys = [shape(f["geometry"]) for f in fc["features"]]
    props = [f["properties"] for f in fc["features"]]
    assert len(polys) == 8
    assert all(p.is_valid and p.exterior.is_ccw for p in polys)  # RFC 7946 winding
    union = shapely.union_all(polys)
    assert abs(union.area - community.area) < 1e-6 * community.area
    overlap = sum(a.intersection(b).area for i, a in enumerate(polys) for b in polys[i + 1:])
    assert overlap < 1e-9 * community.area
    codes = [p["grid_code"] for p in props]
    assert all(re.fullmatch(r"510107001001\d{2,3}", c) for c in codes)
    assert {len(c) for c in codes} == {14, 15}
    assert [p["name"] for p in props] == [f"第{i}网格" for i in range(1, 9)]
    gaz = pd.read_csv(SAMPLE / "gazetteer.csv", dtype={"households": "Int64"})
    ours = gaz[(gaz["level"] == "building") & (gaz["community"] == "锦华社区")]
    assert sum(p["households"] for p in props) == ours["households"].sum()


def test_gazetteer_holds_estates_buildings_doors_and_admin_levels(community):
    gaz = pd.read_csv(SAMPLE / "gazetteer.csv", dtype=str, keep_default_na=False)
    assert list(gaz.columns) == ["name", "aliases", "level", "province", "city", "district", "subdistrict",
                                 "community", "road", "number", "estate", "building", "lng", "lat",
                                 "households"]
    assert 130 <= len(gaz) <= 170
    ours = gaz[gaz["community"] == "锦华社区"]
    estates = ours[ours["level"] == "estate"]
    buildings = ours[ours["level"] == "building"]
    doors = gaz[gaz["level"] == "door"]
    assert len(estates) == 25 and estates["name"].is_unique
    assert buildings.groupby("estate").size().between(2, 6).all()
    assert buildings["households"].astype(int).between(24, 180).all()
    assert (buildings["name"] == buildings["estate"] + buildings["building"] + "栋").all()
    assert len(doors) >= 25 and 6 <= doors["road"].nunique() <= 8
    assert (doors["name"] == doors["road"] + doors["number"] + "号").all()
    assert set(gaz["level"]) == {"door", "building", "estate", "community", "street"}
    assert "锦城小区" in estates.set_index("name").loc["锦城花园", "aliases"].split("|")
    # one 小区 name in two communities, the other one outside the service area
    twins = gaz[(gaz["level"] == "estate") & (gaz["name"] == "金色家园")]
    assert set(twins["community"]) == {"锦华社区", "锦东社区"}
    inside = shapely.contains_xy(community, gaz["lng"].astype(float), gaz["lat"].astype(float))
    assert inside[(gaz["community"] == "锦华社区").to_numpy()].all()
    assert not inside[(gaz["community"] == "锦东社区").to_numpy()].any()


def test_demo_settings_resolve_against_the_sample_folder(community):
    s = load_settings(SAMPLE / "gridgis.toml", env={})
    assert s.database_url == "sqlite:///" + str((SAMPLE.parent / "var" / "demo.sqlite3").resolve())
    for path in (s.service_area_file, s.gazetteer_file, s.grids_file):
        assert Path(path).is_file() and Path(path).parent == SAMPLE
    assert s.geocode_city == "成都市" and s.geocode_district == "武侯区"
    x0, y0, x1, y1 = s.service_area_bbox
    assert shapely.box(x0, y0, x1, y1).contains(community)


def test_manifest_lists_every_request_file():
    import tomllib

    inputs = tomllib.loads((SAMPLE / "manifest.toml").read_text("utf-8"))["input"]
    files = [i["file"] for i in inputs]
    assert files == ["requests_12345.xlsx", "wechat_messages_gbk.csv", "patrol_reports.geojson",
                     "bad_rows.csv"]
    assert {i["file"]: i.get("crs") for i in inputs}["requests_12345.xlsx"] == "gcj02"


def test_readme_quotes_the_planted_coordinates():
    readme = (SAMPLE / "README.md").read_text("utf-8")
    for lng, lat in [gen.OLD_COMPOUND, *gen.NIGHT_MARKET, gen.SCHOOL_GATE, gen.BIKE_SHED, gen.ELDERLY,
                     gen.NEIGHBOUR_ESTATE]:
        assert f"{lng:.4f}, {lat:.4f}" in readme
    assert "synthetic" in readme.lower()


# ---------------------------------------------------------------- planted structure


def _month_counts(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["time"]).dt.month.value_counts()


def test_old_compound_complaints_rise_over_the_year(sample):
    r = sample.requests
    m = _month_counts(r[r["scenario"] == "old_compound"])
    assert m[[9, 10, 11]].sum() > 1.6 * m[[12, 1, 2]].sum()
    assert set(r.loc[r["scenario"] == "old_compound", "category"]) == {"PROP"}


def test_night_market_is_an_evening_summer_thing(sample):
    nm = sample.requests[sample.requests["scenario"] == "night_market"]
    hours = pd.to_datetime(nm["time"]).dt.hour
    assert hours.isin([18, 19, 20, 21, 22, 23, 0, 1]).mean() > 0.85
    m = _month_counts(nm)
    assert m[[7, 8]].sum() > 3 * m[[1, 2]].sum()
    assert set(nm["category"]) == {"ORDER", "ENV"}


def test_school_gate_follows_the_school_calendar(sample):
    r = sample.requests
    school = pd.to_datetime(r.loc[(r["scenario"] == "school_gate") & ~r["is_repeat"], "time"])
    assert (school.dt.day_of_week < 5).all()
    for a, b in gen.SCHOOL_BREAKS:
        assert not school.between(pd.Timestamp(a), pd.Timestamp(b) + pd.Timedelta(days=1)).any()
    assert school.dt.hour.isin([7, 8, 9, 15, 16, 17, 18]).mean() > 0.8


@pytest.mark.parametrize("category, where, radius_m", [
    ("PROP", gen.OLD_COMPOUND, 150), ("SAFE", gen.BIKE_SHED, 150), ("PARK", gen.SCHOOL_GATE, 150),
    ("CARE", gen.ELDERLY, 250), ("ORDER", NotImplemented, 60),
])
def test_each_category_peaks_where_the_structure_was_planted(sample, category, where, radius_m):
    """The res-10 cell whose 1-ring holds most requests of the category is the planted place."""
    r = sample.requests[sample.requests["category"] == category]
    cells = grid.latlng_to_cells(r["lat"].to_numpy(), r["lng"].to_numpy(), 10)
    counts = pd.Series(cells).value_counts()
    origin, neighbour = grid.grid_disk_pairs(counts.index.to_numpy(np.uint64), 1)
    ring = pd.Series(counts.reindex(neighbour.astype(np.uint64)).fillna(0).to_numpy()).groupby(origin).sum()
    lat, lng = grid.cell_centers(counts.index.to_numpy(np.uint64)[[ring.idxmax()]])
    if where is NotImplemented:  # the night market is a street segment
        (a_lng, a_lat), (b_lng, _) = gen.NIGHT_MARKET
        assert a_lng - 0.0005 < lng[0] < b_lng + 0.0005
        assert _dist_m(lng[0], a_lat, lng[0], lat[0])[()] < radius_m
    else:
        assert _dist_m(*where, lng, lat)[0] < radius_m


def test_repeats_are_the_same_issue_days_later(sample):
    r = sample.requests.set_index(sample.requests["source"] + ":" + sample.requests["source_id"])
    rep = r[r["is_repeat"]]
    assert abs(len(rep) / len(r) - 0.08) < 0.005
    orig = r.loc[rep["repeat_of"]]
    assert (orig["category"].to_numpy() == rep["category"].to_numpy()).all()
    assert (_dist_m(orig["lng"], orig["lat"], rep["lng"], rep["lat"]) < 25).all()
    delay = pd.to_datetime(rep["time"]).to_numpy() - pd.to_datetime(orig["time"]).to_numpy()
    delay = delay / np.timedelta64(1, "D")
    assert (delay > 0).all() and (delay < 6.5).all()  # up to 5 days, patrol hours redrawn that day
    scores = [fuzz.ratio(a, b) for a, b in zip(orig["text"], rep["text"], strict=True)]
    assert np.median(scores) >= 70
