"""Column mapping: aliases, explicit mappings, mapping files and extra attributes."""

from __future__ import annotations

import datetime as dt
import json
import logging

import numpy as np
import pandas as pd
import pytest

from gridgis.errors import InvalidInputError, UnsupportedFormatError
from gridgis.ingest.columns import (
    ALIASES,
    CANONICAL_FIELDS,
    apply_columns,
    load_mapping_file,
    parse_map_options,
    resolve_columns,
)

# Headers as a real 12345 export has them (with the usual stray spaces and full-width brackets).
EXPORT_HEADERS = ["序号", "工单编号", "工单来源", "来电时间", "诉求类型", "诉求类别", "诉求内容",
                  "事发地址", "来电人", "来电号码", "承办单位", "办理状态", "办结时间", " 经度（WGS84） ",
                  "纬度", "所属网格"]


def test_every_canonical_field_has_aliases_and_required_ones_are_there():
    assert set(ALIASES) == set(CANONICAL_FIELDS)
    required = {
        "source_id": "工单编号 编号 工单号 案件编号 诉求编号 id ticket_id case_id request_id "
                     "service_request_id",
        "text": "诉求内容 反映内容 描述 问题描述 内容 事件描述 来电内容 text description content",
        "address": "地址 事发地址 详细地址 发生地址 事件地址 address location address_string",
        "lng": "经度 lng lon long longitude", "lat": "纬度 lat latitude",
        "created_at": "受理时间 创建时间 上报时间 来电时间 登记时间 时间 created_at created time datetime "
                      "requested_datetime open_dt",
        "source_category": "诉求类别 问题分类 类别 分类 事件类型 问题类型 category service_name",
        "request_type": "诉求类型 来电类型 工单类型 request_type type",
        "reporter_name": "联系人 姓名 来电人 反映人 name contact",
        "reporter_phone": "联系电话 电话 手机 手机号 来电号码 phone mobile",
        "status": "办理状态 状态 处理状态 status", "grid_code": "网格编码 网格编号 网格 grid_code grid",
    }
    for field, words in required.items():
        for alias in words.split():
            assert resolve_columns([alias]) == {alias: field}, alias


def test_resolve_a_real_export():
    mapping = resolve_columns(EXPORT_HEADERS)
    assert mapping == {
        "工单编号": "source_id", "来电时间": "created_at", "诉求类型": "request_type",
        "诉求类别": "source_category", "诉求内容": "text", "事发地址": "address", "来电人": "reporter_name",
        "来电号码": "reporter_phone", "办理状态": "status", " 经度（WGS84） ": "lng", "纬度": "lat",
        "所属网格": "grid_code",
    }
    # not creation times, not ids: they stay extra attributes
    assert not {"序号", "工单来源", "承办单位", "办结时间"} & set(mapping)


def test_case_width_and_space_insensitive():
    assert resolve_columns(["Ticket_ID", "LONGITUDE", " Lat ", "ＩＤ号"]) == {
        "Ticket_ID": "source_id", "LONGITUDE": "lng", " Lat ": "lat"}


def test_alias_priority_picks_one_and_logs(caplog):
    with caplog.at_level(logging.WARNING, logger="gridgis.ingest.columns"):
        mapping = resolve_columns(["时间", "内容", "受理时间", "诉求内容"])
    assert mapping == {"受理时间": "created_at", "诉求内容": "text"}
    assert "时间" in caplog.text


def test_explicit_mapping_wins_and_can_skip():
    mapping = resolve_columns(["时间", "受理时间", "name", "备注"],
                              {"时间": "created_at", "name": "-", "备注": "text"})
    assert mapping == {"时间": "created_at", "备注": "text"}


def test_explicit_mapping_matches_headers_loosely():
    assert resolve_columns([" 工单 号 "], {"工单号": "source_id"}) == {" 工单 号 ": "source_id"}


def test_explicit_unknown_field_lists_allowed():
    with pytest.raises(InvalidInputError) as err:
        resolve_columns(["工单号"], {"工单号": "ticket"})
    assert err.value.field == "map" and "ticket" in str(err.value) and "source_id" in str(err.value)


def test_explicit_header_not_in_file():
    with pytest.raises(InvalidInputError) as err:
        resolve_columns(["工单号", "内容"], {"案卷号": "source_id"})
    assert "案卷号" in str(err.value) and "内容" in str(err.value)


def test_explicit_two_headers_for_one_field():
    with pytest.raises(InvalidInputError, match="created_at"):
        resolve_columns(["a", "b"], {"a": "created_at", "b": "created_at"})


def test_parse_map_options():
    assert parse_map_options(["工单号=source_id", " 备注 = - ", "a=b=text", "经度＝lng"]) == {
        "工单号": "source_id", "备注": "-", "a=b": "text", "经度": "lng"}
    for bad in ["工单号", "=source_id", "工单号=", "工单号=nonsense"]:
        with pytest.raises(InvalidInputError) as err:
            parse_map_options([bad])
        assert err.value.field == "map"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("m.toml", '[columns]\n"工单号" = "source_id"\n"反映时间" = "created_at"\n'),
        ("m.json", '{"工单号": "source_id", "反映时间": "created_at"}'),
        ("m.csv", "源列名,字段\n工单号,source_id\n反映时间,created_at\n"),
        ("m2.csv", "工单号,source_id\n反映时间,created_at\n"),
    ],
)
def test_load_mapping_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert load_mapping_file(path) == {"工单号": "source_id", "反映时间": "created_at"}


def test_load_mapping_file_errors(tmp_path):
    with pytest.raises(InvalidInputError):
        load_mapping_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('"工单号" = ', encoding="utf-8")
    with pytest.raises(InvalidInputError, match="bad.toml"):
        load_mapping_file(bad)
    unknown = tmp_path / "m.json"
    unknown.write_text('{"工单号": "ticket"}', encoding="utf-8")
    with pytest.raises(InvalidInputError, match="ticket"):
        load_mapping_file(unknown)
    yaml = tmp_path / "m.yaml"
    yaml.write_text("a: b", encoding="utf-8")
    with pytest.raises(UnsupportedFormatError):
        load_mapping_file(yaml)


def test_apply_columns_canonical_frame_and_extras():
    frame = pd.DataFrame(
        {
            "工单编号": pd.Series(["00123", "00124", "00125"], dtype="str"),
            "工单来源": pd.Series(["12345热线", None, "   "], dtype="str"),
            "备注": pd.Series(['含"引号"\\和\n换行', "b", None], dtype="str"),
            "满意度": [5, np.nan, 3.5],
            "办结时间": pd.Series([dt.datetime(2024, 1, 8, 9, 0), 45297.5, None], dtype=object),
        }
    ).set_axis([10, 11, 12])  # a later chunk of a file: the index is not 0-based
    out, extras = apply_columns(frame, {"工单编号": "source_id"})
    assert list(out.columns) == list(CANONICAL_FIELDS)
    assert out.index.tolist() == [10, 11, 12] and extras.index.tolist() == [10, 11, 12]
    assert out["source_id"].tolist() == ["00123", "00124", "00125"]
    assert out["text"].isna().all() and out["lng"].isna().all()
    decoded = [json.loads(x) for x in extras]
    assert decoded[0] == {"工单来源": "12345热线", "备注": '含"引号"\\和\n换行', "满意度": 5.0,
                          "办结时间": "2024-01-08T09:00:00.000"}
    assert decoded[1] == {"备注": "b", "办结时间": 45297.5}
    assert decoded[2] == {"满意度": 3.5}  # blank text is not an attribute


def test_apply_columns_without_extras_and_empty_frame():
    frame = pd.DataFrame({"内容": pd.Series(["a"], dtype="str")})
    out, extras = apply_columns(frame, resolve_columns(list(frame.columns)))
    assert out["text"].tolist() == ["a"] and extras.tolist() == ["{}"]
    out, extras = apply_columns(frame.iloc[:0], {"内容": "text"})
    assert len(out) == 0 and len(extras) == 0


def test_apply_columns_unknown_header():
    with pytest.raises(InvalidInputError):
        apply_columns(pd.DataFrame({"a": [1]}), {"b": "text"})


def test_extras_escape_control_characters():
    frame = pd.DataFrame({"x": pd.Series(["a\x01b\tc"], dtype="str")})
    _, extras = apply_columns(frame, {})
    assert json.loads(extras.iloc[0]) == {"x": "a\x01b\tc"}


def test_gbk_mapping_csv(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes("工单号,source_id\n".encode("gbk"))
    assert load_mapping_file(path) == {"工单号": "source_id"}
