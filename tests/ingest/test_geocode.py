"""Gazetteer loading (CSV UTF-8/GBK, GeoJSON, GCJ-02) and geocoding: exact, fuzzy, fallback, ambiguity."""

import json

import numpy as np
import pandas as pd
import pytest

from gridgis.crs import from_wgs84
from gridgis.errors import InvalidInputError, NotFoundError, UnsupportedFormatError
from gridgis.ingest.geocode import Gazetteer, Geocoder

COLUMNS = ["name", "aliases", "level", "subdistrict", "community", "road", "estate", "lng", "lat",
           "households"]
# A slice of 武侯区 near 玉林 (real coordinates), plus one 锦城花园 in 锦江区 for the district restriction.
ROWS = [
    ("玉林街道", "玉林街道办事处", "street", "玉林街道", "", "", "", 104.0590, 30.6330, ""),
    ("芳草街街道", "", "street", "芳草街街道", "", "", "", 104.0460, 30.6250, ""),
    ("玉林社区", "玉林社区居委会", "community", "玉林街道", "玉林社区", "", "", 104.0620, 30.6350, ""),
    ("芳华社区", "", "community", "玉林街道", "芳华社区", "", "", 104.0560, 30.6300, ""),
    ("芳草社区", "", "community", "芳草街街道", "芳草社区", "", "", 104.0470, 30.6240, ""),
    ("锦城花园", "锦城小区", "estate", "玉林街道", "玉林社区", "", "锦城花园", 104.0625, 30.6362, "800"),
    ("锦城花园1栋", "", "building", "玉林街道", "玉林社区", "", "锦城花园", 104.0621, 30.6359, "96"),
    ("锦城花园2栋", "", "building", "玉林街道", "玉林社区", "", "锦城花园", 104.0625, 30.6364, "96"),
    ("锦城花园3栋", "", "building", "玉林街道", "玉林社区", "", "锦城花园", 104.0629, 30.6366, "120"),
    ("金城花园", "", "estate", "玉林街道", "玉林社区", "", "金城花园", 104.0655, 30.6395, "400"),
    ("锦绣花园", "", "estate", "玉林街道", "玉林社区", "", "锦绣花园", 104.0670, 30.6410, "350"),
    ("幸福小区", "", "estate", "玉林街道", "玉林社区", "", "幸福小区", 104.0645, 30.6375, "300"),
    ("幸福小区2栋", "", "building", "玉林街道", "玉林社区", "", "幸福小区", 104.0646, 30.6376, ""),
    ("幸福小区", "", "estate", "玉林街道", "芳华社区", "", "幸福小区", 104.0555, 30.6295, "450"),
    ("翠苑小区", "翠苑|翠苑新区", "estate", "玉林街道", "芳华社区", "", "翠苑小区", 104.0570, 30.6310, "500"),
    ("翠苑小区5栋", "", "building", "玉林街道", "芳华社区", "", "翠苑小区", 104.0572, 30.6312, ""),
    ("翠苑小区6栋", "", "building", "玉林街道", "芳华社区", "", "翠苑小区", 104.0574, 30.6309, ""),
    ("蓝天家园", "", "estate", "芳草街街道", "芳草社区", "", "蓝天家园", 104.0480, 30.6230, "600"),
    ("蓝天家园1栋", "", "building", "芳草街街道", "芳草社区", "", "蓝天家园", 104.0481, 30.6231, ""),
    ("蓝天家园2栋", "", "building", "芳草街街道", "芳草社区", "", "蓝天家园", 104.0483, 30.6229, ""),
    ("南苑新村", "", "estate", "芳草街街道", "芳草社区", "", "南苑新村", 104.0440, 30.6260, "200"),
    ("玉林北路12号", "", "door", "玉林街道", "玉林社区", "玉林北路", "", 104.0610, 30.6345, ""),
    ("玉林北路14号", "", "door", "玉林街道", "玉林社区", "玉林北路", "", 104.0612, 30.6347, ""),
    ("玉林南路3号", "", "door", "玉林街道", "玉林社区", "玉林南路", "", 104.0600, 30.6320, ""),
    ("芳草街5号", "", "door", "芳草街街道", "芳草社区", "芳草街", "", 104.0465, 30.6255, ""),
    ("一环路南三段8号", "", "door", "玉林街道", "玉林社区", "一环路南三段", "", 104.0640, 30.6330, ""),
    ("锦城花园", "", "estate", "书院街街道", "莲新社区", "", "锦城花园", 104.0790, 30.6480, "900"),
    ("莲新社区", "", "community", "书院街街道", "莲新社区", "", "", 104.0785, 30.6475, ""),
]
WUHOU = dict(province="四川省", city="成都市", district="武侯区")


def gazetteer_frame() -> pd.DataFrame:
    frame = pd.DataFrame(ROWS, columns=COLUMNS)
    frame["province"], frame["city"] = "四川省", "成都市"
    frame["district"] = np.where(frame["community"] == "莲新社区", "锦江区", "武侯区")
    return frame


def at(frame: pd.DataFrame, name: str, community: str | None = None) -> tuple[float, float]:
    row = frame[(frame["name"] == name) & ((frame["community"] == community) if community else True)]
    assert len(row) == 1, (name, community)
    return float(row["lng"].iloc[0]), float(row["lat"].iloc[0])


def write_geojson(frame: pd.DataFrame, path) -> None:
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [r.lng, r.lat]},
         "properties": {k: (None if v == "" else v) for k, v in r._asdict().items()
                        if k not in ("lng", "lat")}}
        for r in frame.itertuples(index=False)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                    encoding="utf-8")


@pytest.fixture(scope="module")
def frame():
    return gazetteer_frame()


@pytest.fixture(scope="module")
def files(tmp_path_factory, frame):
    d = tmp_path_factory.mktemp("gaz")
    paths = {"utf8": d / "gaz_utf8.csv", "gbk": d / "gaz_gbk.csv", "geojson": d / "gaz.geojson",
             "gcj02": d / "gaz_gcj02.csv"}
    frame.to_csv(paths["utf8"], index=False, encoding="utf-8")
    frame.to_csv(paths["gbk"], index=False, encoding="gbk")
    write_geojson(frame, paths["geojson"])
    gcj = frame.copy()
    gcj["lng"], gcj["lat"] = from_wgs84(frame["lng"], frame["lat"], "gcj02")
    gcj.to_csv(paths["gcj02"], index=False, encoding="utf-8")
    return paths


@pytest.fixture(scope="module")
def geocoder(files):
    return Geocoder(Gazetteer.load(files["utf8"], district="武侯区"))


def one(geocoder: Geocoder, address: str) -> dict:
    return geocoder.geocode(pd.Series([address])).iloc[0].to_dict()


# -- loading ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["utf8", "gbk", "geojson"])
def test_load_formats_agree(files, frame, kind):
    gaz = Gazetteer.load(files[kind])
    e = gaz.entries
    assert len(e) == len(frame)
    assert e["name"].tolist() == frame["name"].tolist()
    assert e["level"].tolist() == frame["level"].tolist()
    assert np.allclose(e["lng"], frame["lng"], atol=1e-12) and np.allclose(e["lat"], frame["lat"], atol=1e-12)
    assert e["households"].dtype == "Int64" and e["households"].iloc[5] == 800
    assert e.loc[e["name"] == "翠苑小区", "aliases"].item() == "翠苑|翠苑新区"
    assert e["line"].iloc[0] == (1 if kind == "geojson" else 2)
    assert (gaz.province, gaz.city, gaz.district) == ("四川省", "成都市", None)  # two districts: no prefix


def test_gcj02_gazetteer_is_converted_to_wgs84_within_a_centimetre(files, frame):
    e = Gazetteer.load(files["gcj02"], crs="gcj02").entries
    raw = pd.read_csv(files["gcj02"])
    assert np.abs(raw["lng"] - frame["lng"]).max() > 1e-3  # the file really is shifted (~250 m)
    metres = np.hypot((e["lng"] - frame["lng"]) * 111_320 * np.cos(np.radians(30.63)),
                      (e["lat"] - frame["lat"]) * 110_574)
    assert metres.max() < 0.01


def test_district_restriction(files):
    gaz = Gazetteer.load(files["utf8"], city="成都", district="武侯区")
    assert (gaz.entries["district"] == "武侯区").all()
    assert (gaz.province, gaz.city, gaz.district) == ("四川省", "成都", "武侯区")
    everywhere = Geocoder(Gazetteer.load(files["utf8"]))
    assert one(everywhere, "锦城花园")["method"] == "ambiguous"  # 武侯区 and 锦江区 both have one
    restricted = Geocoder(Gazetteer.load(files["utf8"], district="武侯区"))
    assert one(restricted, "锦城花园")["lng"] == pytest.approx(104.0625)
    # the same restriction given to the geocoder instead of the loader
    assert one(Geocoder(Gazetteer.load(files["utf8"]), district="武侯区"), "锦城花园")["method"] == "exact"
    with pytest.raises(InvalidInputError) as err:
        Gazetteer.load(files["utf8"], district="青羊区")
    assert err.value.field == "district"


def test_chinese_level_names_and_duplicate_rows(frame):
    f = frame.copy()
    f.loc[f["level"] == "estate", "level"] = "小区"
    doubled = pd.concat([f, f.iloc[[5]]], ignore_index=True)  # 锦城花园 listed twice: one place
    gaz = Gazetteer.from_frame(doubled, district="武侯区")
    assert (gaz.entries["level"] == "estate").sum() == 8
    assert one(Geocoder(gaz), "锦城花园")["method"] == "exact"


def bad_frame(frame):
    f = frame.copy().astype({"lng": object, "lat": object, "households": object})
    f.loc[2, "name"] = ""
    f.loc[3, "level"] = "楼盘"
    f.loc[4, "lat"] = ""
    f.loc[6, "lng"] = "东经104度"
    f.loc[7, "households"] = "很多"
    return f


def test_bad_rows_are_all_listed_with_line_and_field(frame, tmp_path):
    path = tmp_path / "bad.csv"
    bad_frame(frame).to_csv(path, index=False)
    with pytest.raises(InvalidInputError) as err:
        Gazetteer.load(path)
    msg = str(err.value)
    assert err.value.line == 4 and err.value.field == "name"  # CSV line = row + 2
    for line, field in [(4, "name"), (5, "level"), (6, "lat"), (8, "lng"), (9, "households")]:
        assert f"第{line}行 {field}=" in msg
    assert "5 problem" in msg and "地名库" in msg


def test_bad_geojson_geometry_and_many_problems(frame, tmp_path):
    path = tmp_path / "bad.geojson"
    write_geojson(frame, path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["features"][1]["geometry"] = {"type": "LineString", "coordinates": [[104.0, 30.6], [104.1, 30.7]]}
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InvalidInputError) as err:
        Gazetteer.load(path)
    assert err.value.line == 2 and err.value.field == "geometry"
    many = frame.copy()
    many["level"] = "楼盘"
    with pytest.raises(InvalidInputError, match="8 more"):
        Gazetteer.from_frame(many)


def test_missing_column_wrong_suffix_missing_file_out_of_range(frame, tmp_path):
    with pytest.raises(InvalidInputError) as err:
        Gazetteer.from_frame(frame.drop(columns="level"))
    assert err.value.field == "level"
    (tmp_path / "gaz.xlsx").write_bytes(b"x")
    with pytest.raises(UnsupportedFormatError):
        Gazetteer.load(tmp_path / "gaz.xlsx")
    with pytest.raises(NotFoundError):
        Gazetteer.load(tmp_path / "nope.csv")
    projected = frame.assign(lng=frame["lng"] * 1e6)
    with pytest.raises(InvalidInputError, match="out of range"):
        Gazetteer.from_frame(projected)
    with pytest.raises(InvalidInputError, match="no rows"):
        Gazetteer.from_frame(frame.iloc[:0])
    (tmp_path / "broken.geojson").write_text("{not json", encoding="utf-8")
    with pytest.raises(UnsupportedFormatError):
        Gazetteer.load(tmp_path / "broken.geojson")
    with pytest.raises(InvalidInputError) as err:
        Geocoder(Gazetteer.from_frame(frame.iloc[:1].assign(name="林", aliases="")))
    assert err.value.field == "name"


# -- geocoding -------------------------------------------------------------------------------------

def test_exact_door_with_province_city_district_prefix(geocoder, frame):
    r = one(geocoder, "四川省成都市武侯区玉林北路12号")
    assert (r["method"], r["level"], r["score"], r["matched"]) == ("exact", "door", 100.0, "玉林北路12号")
    assert (r["lng"], r["lat"]) == at(frame, "玉林北路12号")


def test_building_within_estate_beats_the_estate(geocoder, frame):
    r = one(geocoder, "锦城花园3栋2单元301室")
    assert (r["level"], r["matched"], r["method"]) == ("building", "锦城花园3栋", "exact")
    assert (r["lng"], r["lat"]) == at(frame, "锦城花园3栋")


def test_unknown_building_number_stays_at_the_estate(geocoder):
    r = one(geocoder, "锦城花园5栋")
    assert (r["level"], r["matched"], r["method"]) == ("estate", "锦城花园", "exact")
    # 2 is the unit here, not building 2
    assert one(geocoder, "锦城花园2单元")["level"] == "estate"


def test_aliases_also_for_buildings(geocoder, frame):
    assert one(geocoder, "锦城小区")["matched"] == "锦城花园"
    assert one(geocoder, "翠苑新区")["matched"] == "翠苑小区"
    r = one(geocoder, "锦城小区3栋")
    assert (r["level"], r["matched"], r["method"]) == ("building", "锦城花园3栋", "exact")


def test_full_width_and_chinese_numerals(geocoder):
    out = geocoder.geocode(pd.Series(["锦城花园三栋", "锦城花园３幢", "锦城花园3号楼", "玉林北路十二号",
                                      "一环路南3段八号"]))
    assert out["matched"].tolist() == ["锦城花园3栋"] * 3 + ["玉林北路12号", "一环路南三段8号"]
    assert (out["method"] == "exact").all()


def test_noise_words(geocoder):
    out = geocoder.geocode(pd.Series(["玉林北路12号附近", "锦城花园3栋楼下", "翠苑小区门口", "蓝天家园对面"]))
    assert out["matched"].tolist() == ["玉林北路12号", "锦城花园3栋", "翠苑小区", "蓝天家园"]
    assert (out["method"] == "exact").all()


def test_a_number_is_never_cut_in_two(geocoder):
    assert one(geocoder, "玉林北路112号")["method"] == "unmatched"
    assert one(geocoder, "玉林北路2号")["method"] == "unmatched"


def test_fuzzy_typo(geocoder, frame):
    r = one(geocoder, "锦城花圆")  # homophone typo, and 金城花园 sounds the same: characters break the tie
    assert (r["method"], r["level"], r["matched"]) == ("fuzzy", "estate", "锦城花园")
    assert 80 <= r["score"] < 100
    assert (r["lng"], r["lat"]) == at(frame, "锦城花园", "玉林社区")
    b = one(geocoder, "锦城花圆3栋")
    assert (b["method"], b["level"], b["matched"]) == ("fuzzy", "building", "锦城花园3栋")
    assert one(geocoder, "蓝天加园1栋")["matched"] == "蓝天家园1栋"
    # 3号 for building 3 is not an exact name, but numbers and words agree
    assert one(geocoder, "锦城花园3号")["matched"] == "锦城花园3栋"


def test_fuzzy_never_changes_a_number_or_guesses_a_different_name(geocoder):
    assert one(geocoder, "锦城花圆5栋")["matched"] == "锦城花园"  # not building 3
    assert one(geocoder, "锦江花园")["method"] == "unmatched"  # one non-homophone character off 4
    assert one(geocoder, "锦城")["method"] == "unmatched"  # a fragment is not the estate


def test_fuzzy_threshold_is_applied(files):
    strict = Geocoder(Gazetteer.load(files["utf8"], district="武侯区"), fuzzy_threshold=100)
    assert one(strict, "锦城花圆")["method"] == "unmatched"
    with pytest.raises(InvalidInputError) as err:
        Geocoder(Gazetteer.load(files["utf8"]), fuzzy_threshold=120)
    assert err.value.field == "fuzzy_threshold"


def test_fallback_to_community_and_street_centroids(geocoder, frame):
    c = one(geocoder, "玉林社区里面")
    assert (c["method"], c["level"], c["matched"]) == ("fallback", "community", "玉林社区")
    assert (c["lng"], c["lat"]) == at(frame, "玉林社区")
    s = one(geocoder, "玉林街道办事处")
    assert (s["method"], s["level"], s["matched"]) == ("fallback", "street", "玉林街道")
    assert s["score"] < c["score"] < 100
    # an unknown place inside a known community: the community, never a finer level
    r = one(geocoder, "芳草社区火星小区8栋")
    assert (r["method"], r["level"]) == ("fallback", "community")


def test_same_named_estates_are_ambiguous_unless_the_address_says_which(geocoder, frame):
    r = one(geocoder, "幸福小区")
    assert r["method"] == "ambiguous" and np.isnan(r["lng"]) and pd.isna(r["level"])
    assert "玉林社区" in r["matched"] and "芳华社区" in r["matched"]
    for address, community in [("芳华社区幸福小区", "芳华社区"), ("玉林社区幸福小区", "玉林社区"),
                               ("芳华幸福小区", "芳华社区")]:
        hit = one(geocoder, address)
        assert (hit["method"], hit["level"]) == ("exact", "estate"), address
        assert (hit["lng"], hit["lat"]) == at(frame, "幸福小区", community)
    # the street contains both: fall back to the street rather than guess
    street = one(geocoder, "玉林街道幸福小区")
    assert (street["method"], street["level"]) == ("fallback", "street")
    # a building only one of them has settles it
    assert one(geocoder, "幸福小区2栋")["matched"] == "幸福小区2栋"


def test_unmatched_and_missing(geocoder):
    out = geocoder.geocode(pd.Series(["火星路1号", None, "", "   "]))
    assert (out["method"] == "unmatched").all()
    assert out["lng"].isna().all() and out["level"].isna().all() and (out["score"] == 0).all()


def test_result_is_aligned_and_typed(geocoder):
    s = pd.Series(["锦城花园3栋", None, "幸福小区", "锦城花园3栋"], index=["a", "b", "c", "d"])
    out = geocoder.geocode(s)
    assert list(out.index) == ["a", "b", "c", "d"]
    assert list(out.columns) == ["lng", "lat", "level", "score", "matched", "method"]
    assert out["lng"].dtype == np.float64 and out["score"].dtype == np.float64
    assert out["method"].tolist() == ["exact", "unmatched", "ambiguous", "exact"]
    assert out.loc["a"].equals(out.loc["d"])
    assert geocoder.geocode(pd.Series([], dtype=object)).empty


def test_cache_hits_on_repeated_addresses(files):
    g = Geocoder(Gazetteer.load(files["utf8"], district="武侯区"))
    first = g.geocode(pd.Series(["锦城花园三栋", "玉林北路12号"]))
    assert (g.cache_size, g.cache_hits) == (2, 0)
    # 锦城花园3栋 normalises like 锦城花园三栋: a hit, not a new entry
    again = g.geocode(pd.Series(["玉林北路12号", "锦城花园3栋", "四川省成都市武侯区玉林北路12号"]))
    assert (g.cache_size, g.cache_hits) == (2, 2)
    assert again["matched"].tolist() == ["玉林北路12号", "锦城花园3栋", "玉林北路12号"]
    assert again.iloc[1].equals(first.iloc[0])
