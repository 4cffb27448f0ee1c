"""End-to-end ingest on small real files: stored rows, rejects, idempotent re-import, dry run, rollback."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gridgis import crs, grid
from gridgis.errors import InvalidInputError, UnsupportedFormatError
from gridgis.ingest.pipeline import IngestContext, IngestOptions, InjectedFailure, ingest_file
from gridgis.ingest.validate import BAD_TIME, EMPTY_TEXT, OUTSIDE, SWAPPED

TEXTS = ["小区电梯又坏了，老人上下楼不方便", "路灯不亮已经一周", "楼下烧烤油烟太大，晚上噪音扰民",
         "楼道里有人飞线充电，很危险", "垃圾桶满了没人清运，有异味", "学校门口乱停放严重", "独居老人需要助餐服务"]


def _frame(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lng = rng.uniform(104.045, 104.075, n)
    lat = rng.uniform(30.625, 30.650, n)
    t = pd.Timestamp("2026-03-01 08:00") + pd.to_timedelta(rng.integers(0, 90 * 24, n), unit="h")
    return pd.DataFrame({
        "工单编号": [f"GD{i:05d}" for i in range(n)],
        "受理时间": t.strftime("%Y/%m/%d %H:%M:%S"),
        "诉求内容": [TEXTS[i % len(TEXTS)] + f"（{i}号）" for i in range(n)],
        "事发地址": [f"玉华路{i % 40}号" for i in range(n)],
        "经度": lng.round(6),
        "纬度": lat.round(6),
        "联系人": "张三",
        "联系电话": "13812345678",
        "办理状态": "已办结",
        "工单来源": "12345热线",
    })


@pytest.fixture
def ctx(settings, store):
    return IngestContext.build(settings, store)


def test_csv_with_chinese_headers_is_stored_classified_and_indexed(tmp_path, settings, store, ctx):
    df = _frame(300)
    path = tmp_path / "hotline.csv"
    df.to_csv(path, index=False)
    report = ingest_file(path, settings, store, IngestOptions(source="12345"), ctx=ctx)
    assert (report.read, report.stored, report.rejected_count) == (300, 300, 0)
    got = store.requests_frame().set_index("id").loc["12345:GD00003"]
    assert got["category"] == "SAFE" and got["category_rule"].startswith(("keyword", "override"))
    assert got["status"] == "resolved"
    assert json.loads(got["extra"]) == {"工单来源": "12345热线"}
    cell = grid.latlng_to_cells([df.loc[3, "纬度"]], [df.loc[3, "经度"]], 10)[0]
    assert np.uint64(got["cell"]) == cell
    assert np.uint64(got["cell_9"]) == grid.cells_to_parent([cell], 9)[0]
    assert got["created_at"] == pd.Timestamp("2026-03-01 08:00", tz="Asia/Shanghai").tz_convert("UTC") + (
        pd.Timestamp(df.loc[3, "受理时间"]) - pd.Timestamp("2026-03-01 08:00"))
    assert set(report.per_category) >= {"SAFE", "PROP", "FAC", "ORDER", "ENV", "PARK", "CARE"}


def test_reimport_stores_nothing_twice_and_detects_changes(tmp_path, settings, store, ctx):
    df = _frame(120)
    path = tmp_path / "a.csv"
    df.to_csv(path, index=False)
    ingest_file(path, settings, store, IngestOptions(source="12345"), ctx=ctx)
    again = ingest_file(path, settings, store, IngestOptions(source="12345"), ctx=ctx)
    assert (again.stored, again.updated, again.unchanged) == (0, 0, 120)
    df.loc[:4, "办理状态"] = "处置中"
    df.to_csv(path, index=False)
    third = ingest_file(path, settings, store, IngestOptions(source="12345"), ctx=ctx)
    assert (third.stored, third.updated, third.unchanged) == (0, 5, 115)
    assert store.count_requests() == 120


def test_rows_without_source_id_get_stable_content_ids(tmp_path, settings, store, ctx):
    df = _frame(50).drop(columns=["工单编号"])
    path = tmp_path / "noid.csv"
    df.to_csv(path, index=False)
    ingest_file(path, settings, store, IngestOptions(source="wx"), ctx=ctx)
    r2 = ingest_file(path, settings, store, IngestOptions(source="wx"), ctx=ctx)
    assert r2.unchanged == 50 and store.count_requests() == 50


def test_bad_rows_are_rejected_with_line_field_and_reason_and_good_rows_stored(tmp_path, settings, store, ctx):
    df = _frame(10).astype(object)
    df.loc[1, "诉求内容"] = "  "
    df.loc[2, "受理时间"] = "2026-13-45"
    df.loc[3, ["经度", "纬度"]] = [df.loc[3, "纬度"], df.loc[3, "经度"]]  # swapped
    df.loc[4, ["经度", "纬度"]] = [116.39, 39.91]  # Beijing
    df.loc[5, "经度"] = "104.0x"
    df.loc[6, "工单编号"] = df.loc[0, "工单编号"]
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    report = ingest_file(path, settings, store, IngestOptions(source="t"), ctx=ctx)
    by_line = {p.line: p for p in report.rejected}
    assert by_line[3].reason == EMPTY_TEXT and by_line[3].field == "text"
    assert by_line[4].reason == BAD_TIME and by_line[4].value == "2026-13-45"
    assert by_line[5].reason == SWAPPED
    assert by_line[6].reason == OUTSIDE
    assert by_line[7].field == "lng" and by_line[7].value == "104.0x"
    assert by_line[8].field == "source_id"
    assert report.rejected_count == 6 and report.stored == 4
    rej = store.rejects_frame(report.batch_id)
    assert sorted(rej["line"].tolist()) == [3, 4, 5, 6, 7, 8]
    assert json.loads(rej.loc[rej["line"] == 4, "raw"].iloc[0])["受理时间"] == "2026-13-45"


def test_gcj02_coordinates_are_converted_to_wgs84(tmp_path, settings, store, ctx):
    df = _frame(40)
    g_lng, g_lat = crs.wgs84_to_gcj02(df["经度"].to_numpy(), df["纬度"].to_numpy())
    gcj = df.assign(经度=g_lng.round(8), 纬度=g_lat.round(8))
    path = tmp_path / "amap.csv"
    gcj.to_csv(path, index=False)
    ingest_file(path, settings, store, IngestOptions(source="amap", crs="gcj02"), ctx=ctx)
    got = store.requests_frame(["source_id", "lng", "lat", "source_crs"]).set_index("source_id").loc[df["工单编号"]]
    err_m = np.hypot(got["lng"].to_numpy() - df["经度"].to_numpy(),
                     got["lat"].to_numpy() - df["纬度"].to_numpy()) * 111_320
    assert err_m.max() < 0.05 and (got["source_crs"] == "gcj02").all()


def test_dry_run_reports_but_stores_nothing(tmp_path, settings, store, ctx):
    path = tmp_path / "a.csv"
    _frame(60).to_csv(path, index=False)
    report = ingest_file(path, settings, store, IngestOptions(source="t", dry_run=True), ctx=ctx)
    assert report.stored == 60 and report.dry_run
    assert store.count_requests() == 0 and store.batches().empty


def test_injected_failure_leaves_database_as_before_and_rerun_completes(tmp_path, settings, store, ctx):
    first = tmp_path / "first.csv"
    _frame(30, seed=9).assign(工单编号=[f"F{i}" for i in range(30)]).to_csv(first, index=False)
    ingest_file(first, settings, store, IngestOptions(source="t"), ctx=ctx)
    path = tmp_path / "big.csv"
    _frame(500).to_csv(path, index=False)
    with pytest.raises(InjectedFailure):
        ingest_file(path, settings, store, IngestOptions(source="t", chunk_rows=100, fail_after_chunks=3), ctx=ctx)
    assert store.count_requests() == 30
    assert store.rejects_frame().empty
    statuses = store.batches()["status"].tolist()
    assert statuses == ["committed", "failed"]
    report = ingest_file(path, settings, store, IngestOptions(source="t", chunk_rows=100), ctx=ctx)
    assert report.stored == 500 and store.count_requests() == 530


def test_repeated_complaints_are_linked_to_the_first(tmp_path, settings, store, ctx):
    base = {"受理时间": "2026-04-01 09:00", "诉求内容": "玉华路12号门口路灯不亮", "经度": 104.0601, "纬度": 30.6352}
    rows = [
        {**base, "工单编号": "A1"},
        {**base, "工单编号": "A2", "受理时间": "2026-04-02 10:00", "诉求内容": "玉华路12号门口的路灯还是不亮"},
        {**base, "工单编号": "A3", "受理时间": "2026-04-03 11:00", "经度": 104.0602},
        {**base, "工单编号": "B1", "诉求内容": "楼下烧烤摊油烟扰民"},
    ]
    path = tmp_path / "dups.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    report = ingest_file(path, settings, store, IngestOptions(source="t"), ctx=ctx)
    got = store.requests_frame(["source_id", "duplicate_of"]).set_index("source_id")["duplicate_of"]
    assert got["A2"] == "t:A1" and got["A3"] == "t:A1"
    assert pd.isna(got["A1"]) and pd.isna(got["B1"])
    assert report.duplicates == 2


def test_unreadable_file_stores_nothing(tmp_path, settings, store, ctx):
    path = tmp_path / "x.docx"
    path.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(UnsupportedFormatError):
        ingest_file(path, settings, store, ctx=ctx)
    bad = tmp_path / "broken.xlsx"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InvalidInputError):
        ingest_file(bad, settings, store, ctx=ctx)
    assert store.count_requests() == 0


def test_missing_file_names_it(tmp_path, settings, store, ctx):
    with pytest.raises(InvalidInputError, match="nope.csv"):
        ingest_file(tmp_path / "nope.csv", settings, store, ctx=ctx)


def test_placeholders_count_as_empty_and_future_times_are_rejected(tmp_path, settings, store, ctx):
    df = _frame(4).astype(object)
    df.loc[0, "诉求内容"] = "NULL"
    df.loc[1, "受理时间"] = "2099-01-01 10:00"
    df.loc[2, ["经度", "纬度"]] = ["NaN", "NaN"]  # no coordinates and an address with no gazetteer
    path = tmp_path / "p.csv"
    df.to_csv(path, index=False)
    report = ingest_file(path, settings, store, IngestOptions(source="t"), ctx=ctx)
    reasons = {p.line: p.reason for p in report.rejected}
    assert reasons[2] == EMPTY_TEXT
    assert "future" in reasons[3]
    assert "gazetteer" in reasons[4]  # fell back to the address, not "not a number"
    assert report.stored == 1
