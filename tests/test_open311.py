"""Open311 GeoReport v2 documents and submissions, on a writable copy of the real demo database."""

from __future__ import annotations

import json
import shutil
from xml.etree import ElementTree as ET

import pandas as pd
import pytest

from gridgis import grid, open311
from gridgis.config import load_settings
from gridgis.errors import InvalidInputError, NotFoundError
from gridgis.storage.store import Store
from gridgis.taxonomy import Taxonomy

NOW = pd.Timestamp("2026-11-20 10:00:00", tz="Asia/Shanghai")  # a Friday, after the demo year
BUILDING_3 = (104.052319, 30.642978)  # 锦城花园3栋 in sample_data/gazetteer.csv (lng, lat)
OCTOBER = {"start_date": "2026-10-01T00:00:00+08:00", "end_date": "2026-10-31T23:59:59+08:00"}


def copy_demo(demo_settings, tmp_path):
    """Settings and a store over a private copy of the session's demo database (that one is read-only)."""
    src = demo_settings.sqlite_path
    dst = tmp_path / "demo.sqlite3"
    for suffix in ("", "-wal"):
        if src.with_name(src.name + suffix).exists():
            shutil.copy(src.with_name(src.name + suffix), dst.with_name(dst.name + suffix))
    settings = demo_settings.with_overrides(database_url=f"sqlite:///{dst}")
    return settings, Store.from_url(settings.database_url)


@pytest.fixture
def demo(demo_settings, demo_reports, tmp_path):
    settings, store = copy_demo(demo_settings, tmp_path)
    yield settings, store, open311.submission_context(settings, store)
    store.close()


@pytest.fixture(scope="module")
def taxonomy():
    return Taxonomy.load()


def _post(demo, now=NOW, **params):
    settings, store, ctx = demo
    return open311.submit_request(store, settings, params, ctx=ctx, client="wechat-app", now=now)[0]


# -- documents --------------------------------------------------------------------------------------------

def test_services_are_the_taxonomy_categories(taxonomy):
    svc = open311.services(taxonomy)
    assert [s["service_code"] for s in svc] == ["SAFE", "FAC", "PROP", "PARK", "ENV", "ORDER", "CARE", "OTHER"]
    fac = svc[1]
    assert fac["service_name"] == "市政设施" and fac["metadata"] is True and fac["type"] == "realtime"
    assert "路灯" in fac["keywords"]
    definition = open311.service_definition(taxonomy, "fac")  # codes in any case
    assert definition["service_code"] == "FAC"
    attr = definition["attributes"][0]
    assert attr["code"] == "request_type" and attr["datatype"] == "singlevaluelist" and attr["required"] is False
    assert [v["key"] for v in attr["values"]] == ["咨询", "投诉", "求助", "建议", "举报", "表扬"]
    with pytest.raises(NotFoundError) as err:
        open311.service_definition(taxonomy, "NOPE")
    assert err.value.field == "service_code" and "NOPE" in str(err.value)


def test_discovery_names_this_endpoint_and_both_formats():
    d = open311.discovery("http://gis.example/open311/v2/")
    ep = d["endpoints"][0]
    assert ep["url"] == "http://gis.example/open311/v2" and ep["specification"] == open311.SPECIFICATION
    assert ep["formats"] == ["application/json", "text/xml"]
    assert "gridgis tokens create" in d["key_service"]


def test_xml_uses_the_spec_element_names(taxonomy):
    root = ET.fromstring(open311.to_xml(open311.services(taxonomy), "services", "service"))
    assert root.tag == "services" and [e.tag for e in root][:2] == ["service", "service"]
    assert root.find("service/service_code").text == "SAFE" and root.find("service/metadata").text == "true"
    root = ET.fromstring(open311.to_xml(open311.service_definition(taxonomy, "FAC"), "service_definition"))
    assert root.find("attributes/attribute/values/value/key").text == "咨询"
    root = ET.fromstring(open311.to_xml(open311.discovery("http://x/open311/v2"), "discovery"))
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == ["application/json", "text/xml"]
    root = ET.fromstring(open311.to_xml(open311.error_document(403, "api_key 缺失"), "errors", "error"))
    assert root.find("error/code").text == "403" and root.find("error/description").text == "api_key 缺失"
    root = ET.fromstring(open311.to_xml([{"service_request_id": "a:1", "account_id": None}], "service_requests",
                                        "request"))
    assert root.find("request/service_request_id").text == "a:1" and root.find("request/account_id").text is None


def test_statuses_map_to_open_or_closed_with_zh_notes():
    codes = pd.Series(["new", "assigned", "in_progress", "resolved", "verified", "invalid", "duplicate", "new"])
    dup = pd.Series([None] * 7 + ["12345:A1"], dtype=object)
    status, notes = open311.status_notes(codes, dup)
    assert list(status) == ["open"] * 3 + ["closed"] * 4 + ["open"]
    assert notes[0] == "受理 / New" and notes[3] == "已办结 / Resolved" and notes[6] == "重复 / Duplicate"
    assert notes[7] == "受理 / New；与 12345:A1 为同一问题 / same issue as 12345:A1"


def test_documents_follow_the_privacy_policy_of_every_export(taxonomy):
    t = pd.Series(pd.to_datetime(["2026-10-09 02:00", "2026-10-09 03:00"], utc=True))
    df = pd.DataFrame({
        "id": ["a:1", "a:2"], "created_at": t, "updated_at": t,
        "text": ["我是王小明，电话13912345678，身份证510107199001011234，楼下路灯不亮", "我有残疾，低保申请怎么办"],
        "address": ["锦城花园3栋2单元501室", "桂苑小区2栋3楼"], "category": ["FAC", "CARE"],
        "request_type": ["投诉", None], "status": ["in_progress", "verified"], "lng": [104.0523191234, 104.05],
        "lat": [30.6429781234, 30.63], "grid_code": ["51010700100101", None], "duplicate_of": [None, None],
        "reporter_name": ["王小明", "李四"], "extra": ['{"media_url":"http://x/1.jpg","api_client":"app"}', None],
    })
    settings = load_settings(env={})
    docs = open311.request_documents(df, settings, taxonomy, {"51010700100101": "锦华1网格"})
    a, b = docs
    assert a["description"] == "我是王*，电话139****5678，身份证510107********1234，楼下路灯不亮"
    assert b["description"] == "养老与社区服务"  # a sensitive category's text does not leave
    assert (a["address"], b["address"]) == ("锦城花园3栋", "桂苑小区2栋")
    assert (a["status"], a["status_notes"], b["status"]) == ("open", "处置中 / In progress", "closed")
    assert a["service_name"] == "市政设施" and a["agency_responsible"] == "锦华1网格"
    assert b["agency_responsible"] is None
    assert a["media_url"] == "http://x/1.jpg" and b["media_url"] is None
    assert (a["lat"], a["long"]) == (30.642978, 104.052319)
    assert a["requested_datetime"] == "2026-10-09T10:00:00+08:00" and a["expected_datetime"] == \
        "2026-10-20T10:00:00+08:00" and b["expected_datetime"] is None
    assert not {"reporter_name", "reporter_phone", "extra", "api_client"} & set(a)


def test_reply_deadline_counts_working_days(demo):
    settings, store, ctx = demo
    df = pd.DataFrame({"created_at": [NOW.tz_convert("UTC")], "request_type": ["投诉"]})
    due = open311._expected(df["created_at"], df["request_type"], ctx.taxonomy, settings.timezone)
    assert due.iloc[0] == "2026-12-01T10:00:00+08:00"  # Fri + 7 working days = Tue after next


# -- submission -------------------------------------------------------------------------------------------

def test_post_with_lat_long_goes_through_the_pipeline(demo):
    settings, store, _ = demo
    before = store.count_requests()
    lng, lat = 104.0581, 30.6402
    doc = _post(demo, service_code="FAC", description="小区门口路灯不亮好几天了", lat=str(lat), long=str(lng),
                first_name="小明", last_name="王", phone="13912345678", email="wxm@example.com",
                **{"attribute[request_type]": "complaint"})
    assert store.count_requests() == before + 1
    row = store.get_request(doc["service_request_id"])
    assert row["source"] == "open311" and row["id"].startswith("open311:h")
    assert row["category"] == "FAC" and row["category_rule"] == "source:FAC"
    assert row["request_type"] == "投诉" and row["status"] == "new" and row["geocode_level"] == "source"
    assert row["cell"] == int(grid.latlng_to_cells([lat], [lng], 10)[0])
    assert row["grid_code"] is not None  # assigned to an official grid like any imported row
    assert (row["reporter_name"], row["reporter_phone"]) == ("王小明", "13912345678")  # kept inside only
    assert "wxm@example.com" not in json.dumps(row, ensure_ascii=False, default=str)
    assert json.loads(row["extra"]) == {"api_client": "wechat-app"}
    assert row["created_at"] == int(NOW.timestamp())
    assert "市政设施" in doc["service_notice"] and "7" in doc["service_notice"] and doc["account_id"] is None
    # the id is stable: the same submission again (a double tap) changes nothing
    again = _post(demo, service_code="FAC", description="小区门口路灯不亮好几天了", lat=str(lat), long=str(lng),
                  first_name="小明", last_name="王", phone="13912345678",
                  **{"attribute[request_type]": "complaint"})
    assert again["service_request_id"] == doc["service_request_id"] and store.count_requests() == before + 1


def test_post_with_address_string_is_geocoded_by_the_gazetteer(demo):
    settings, store, _ = demo
    doc = _post(demo, service_code="ENV", description="楼下垃圾桶满了没人清运", address_string="锦城花园3栋2单元501室")
    row = store.get_request(doc["service_request_id"])
    assert (row["lng"], row["lat"]) == pytest.approx(BUILDING_3, abs=1e-6)
    assert row["geocode_level"] == "building" and row["address"] == "锦城花园3栋2单元501室"
    pub = open311.request_by_id(store, settings, doc["service_request_id"])[0]
    assert pub["address"] == "锦城花园3栋" and pub["lat"] == pytest.approx(BUILDING_3[1])


def test_gcj02_coordinates_from_a_map_picker_are_converted(demo):
    from gridgis.crs import wgs84_to_gcj02

    settings, store, _ = demo
    g_lng, g_lat = wgs84_to_gcj02(104.0581, 30.6402)
    doc = _post(demo, service_code="PARK", description="共享单车乱停放堵住通道", lat=str(float(g_lat)),
                long=str(float(g_lng)), crs="gcj02")
    row = store.get_request(doc["service_request_id"])
    assert (row["lng"], row["lat"]) == pytest.approx((104.0581, 30.6402), abs=1e-6)


def test_life_safety_text_wins_over_the_chosen_service(demo):
    settings, store, _ = demo
    doc = _post(demo, service_code="PROP", description="电梯困人了，两个老人关在里面", address_string="桂苑小区2栋")
    row = store.get_request(doc["service_request_id"])
    assert row["category"] == "SAFE" and row["category_rule"].startswith("override:")
    assert "安全隐患" in doc["service_notice"]


def test_other_lets_the_text_decide(demo):
    settings, store, _ = demo
    doc = _post(demo, service_code="OTHER", description="楼道里有人飞线充电", address_string="桂苑小区2栋")
    assert store.get_request(doc["service_request_id"])["category"] == "SAFE"


def test_a_second_report_of_the_same_issue_is_linked(demo):
    settings, store, _ = demo
    first = _post(demo, service_code="FAC", description="锦城花园3栋门口路灯不亮", address_string="锦城花园3栋")
    second = _post(demo, now=NOW + pd.Timedelta(hours=3), service_code="FAC", description="锦城花园3栋门口的路灯不亮了",
                   address_string="锦城花园3栋")
    assert store.get_request(second["service_request_id"])["duplicate_of"] == first["service_request_id"]
    assert first["service_request_id"] in second["service_notice"]
    pub = open311.request_by_id(store, settings, second["service_request_id"])[0]
    assert pub["status"] == "open" and first["service_request_id"] in pub["status_notes"]


BAD = [
    ({"description": "路灯不亮", "lat": "30.64", "long": "104.05"}, InvalidInputError, "service_code"),
    ({"service_code": "NOPE", "description": "路灯不亮", "lat": "30.64", "long": "104.05"}, NotFoundError,
     "service_code"),
    ({"service_code": "FAC", "description": "路灯不亮"}, InvalidInputError, "lat"),
    ({"service_code": "FAC", "description": "路灯不亮", "lat": "30.64"}, InvalidInputError, "long"),
    ({"service_code": "FAC", "description": "路灯不亮", "address_id": "545483"}, InvalidInputError, "address_id"),
    ({"service_code": "FAC", "description": "路灯不亮", "lat": "30.64", "long": "东经104度"}, InvalidInputError,
     "long"),
    ({"service_code": "FAC", "description": "路灯不亮", "lat": "31.64", "long": "104.05"}, InvalidInputError, "long"),
    ({"service_code": "FAC", "description": "  ", "lat": "30.64", "long": "104.058"}, InvalidInputError, "description"),
    ({"service_code": "FAC", "description": "x" * 4001, "lat": "30.64", "long": "104.058"}, InvalidInputError,
     "description"),
    ({"service_code": "FAC", "description": "路灯不亮", "address_string": "火星基地99号"}, InvalidInputError,
     "address_string"),
    ({"service_code": "FAC", "description": "路灯不亮", "lat": "30.64", "long": "104.058",
      "attribute[request_type]": "抱怨"}, InvalidInputError, "attribute[request_type]"),
    ({"service_code": "FAC", "description": "路灯不亮", "lat": "30.64", "long": "104.058", "attribute[colour]": "红"},
     InvalidInputError, "attribute[colour]"),
    ({"service_code": "FAC", "description": "路灯不亮", "lat": "30.64", "long": "104.058", "crs": "EPSG:3857"},
     InvalidInputError, "crs"),
]


@pytest.mark.parametrize(("params", "error", "field"), BAD, ids=[b[2] + str(i) for i, b in enumerate(BAD)])
def test_a_failed_post_names_the_parameter_and_stores_nothing(demo, params, error, field):
    settings, store, _ = demo
    before = (store.count_requests(), len(store.batches()), len(store.rejects_frame()))
    with pytest.raises(error) as err:
        _post(demo, **params)
    assert err.value.field == field
    assert field in str(err.value) or field.split("[")[0] in str(err.value)
    assert (store.count_requests(), len(store.batches()), len(store.rejects_frame())) == before


# -- requests ---------------------------------------------------------------------------------------------

def _stored(store, start, end):
    df = store.requests_frame(["id", "category", "status", "created_at"])
    return df[(df["created_at"] >= start) & (df["created_at"] <= end)]


def test_requests_filter_by_dates_service_code_and_status(demo):
    settings, store, _ = demo
    start, end = pd.Timestamp(OCTOBER["start_date"]), pd.Timestamp(OCTOBER["end_date"])
    expected = _stored(store, start, end)
    docs = open311.query_requests(store, settings, OCTOBER)
    assert len(docs) == len(expected) > 0
    assert [d["requested_datetime"] for d in docs] == sorted((d["requested_datetime"] for d in docs), reverse=True)
    park = open311.query_requests(store, settings, {**OCTOBER, "service_code": "park,ENV"})
    assert len(park) == int(expected["category"].isin(["PARK", "ENV"]).sum()) > 0
    assert {d["service_code"] for d in park} == {"PARK", "ENV"}
    closed = open311.query_requests(store, settings, {**OCTOBER, "status": "closed"})
    n_closed = int(expected["status"].isin(["resolved", "verified", "invalid", "duplicate"]).sum())
    assert len(closed) == n_closed > 0 and {d["status"] for d in closed} == {"closed"}
    opened = open311.query_requests(store, settings, {**OCTOBER, "status": "open"})
    assert len(opened) + len(closed) == len(docs)
    assert all(d["expected_datetime"] for d in opened) and not any(d["expected_datetime"] for d in closed)
    both = open311.query_requests(store, settings, {**OCTOBER, "status": "open,closed"})
    assert len(both) == len(docs)


def test_default_window_is_the_last_90_days(demo):
    settings, store, _ = demo
    now = pd.Timestamp("2026-10-31 23:59:59", tz="Asia/Shanghai")
    docs = open311.query_requests(store, settings, {}, now=now)
    in_window = _stored(store, now - pd.Timedelta(days=90), now)
    assert len(in_window) > open311.MAX_RESULTS and len(docs) == open311.MAX_RESULTS  # capped, newest first
    newest = in_window.sort_values(["created_at", "id"], ascending=[False, True])["id"].head(open311.MAX_RESULTS)
    assert [d["service_request_id"] for d in docs] == newest.tolist()
    only_start = open311.query_requests(store, settings, {"start_date": "2026-10-30"})
    assert {d["requested_datetime"][:10] for d in only_start} <= {"2026-10-30", "2026-10-31"}


def test_service_request_id_overrides_the_other_parameters(demo):
    settings, store, _ = demo
    ids = store.requests_frame(["id"], limit=3)["id"].tolist()  # the oldest: outside any 90-day window
    docs = open311.query_requests(store, settings, {"service_request_id": ",".join(ids), "status": "open",
                                                    "service_code": "NOPE"})
    assert sorted(d["service_request_id"] for d in docs) == sorted(ids)
    one = open311.request_by_id(store, settings, ids[0])
    assert len(one) == 1 and one[0]["service_request_id"] == ids[0]
    with pytest.raises(NotFoundError) as err:
        open311.request_by_id(store, settings, "12345:nope")
    assert err.value.field == "service_request_id"
    assert open311.token_lookup(store, ids[0]) == [{"service_request_id": ids[0], "token": ids[0]}]


@pytest.mark.parametrize(("params", "field"), [
    ({"start_date": "yesterday-ish"}, "start_date"),
    ({"start_date": "2026-10-02", "end_date": "2026-10-01"}, "start_date"),
    ({"start_date": "2026-01-01", "end_date": "2026-10-01"}, "end_date"),
    ({**OCTOBER, "status": "pending"}, "status"),
    ({**OCTOBER, "service_code": "FAC,NOPE"}, "service_code"),
])
def test_bad_query_parameters_are_named(demo, params, field):
    settings, store, _ = demo
    with pytest.raises(InvalidInputError) as err:
        open311.query_requests(store, settings, params)
    assert err.value.field == field


def test_no_reporter_data_in_any_request_document(demo):
    settings, store, _ = demo
    doc = _post(demo, service_code="FAC", description="我是王小明，电话13912345678，楼下路灯坏了",
                address_string="锦城花园3栋2单元501室", first_name="小明", last_name="王", phone="13912345678",
                email="wxm@example.com")
    start, end = pd.Timestamp(OCTOBER["start_date"]), pd.Timestamp(OCTOBER["end_date"])
    docs = open311.query_requests(store, settings, OCTOBER)
    docs += open311.request_by_id(store, settings, doc["service_request_id"])
    stored = store.requests_frame(["id", "reporter_name", "reporter_phone"]).set_index("id")
    assert stored["reporter_phone"].notna().sum() > 100  # the demo has real-looking contact data to leak
    phones = stored["reporter_phone"].dropna().str.replace(r"\D", "", regex=True)
    everything = json.dumps(docs, ensure_ascii=False)
    digits = everything.replace("-", "").replace(" ", "")
    assert not [p for p in phones if len(p) >= 7 and p in digits]
    for d in docs:
        text = json.dumps(d, ensure_ascii=False)
        name = stored.loc[d["service_request_id"], "reporter_name"]
        assert not {"reporter_name", "reporter_phone", "email", "first_name", "last_name", "phone"} & set(d)
        if isinstance(name, str) and len(name) >= 2 and "*" not in name:
            assert name not in text, (name, d["service_request_id"])
    assert "wxm@example.com" not in everything and "501" not in json.dumps(docs[-1], ensure_ascii=False)
    assert len(docs) > 100 and end > start
