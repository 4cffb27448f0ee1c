"""Privacy: masks (known values and hypothesis properties), role views, public rows, k-suppression, log redaction."""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridgis import grid
from gridgis.errors import InvalidInputError, PermissionDeniedError
from gridgis.privacy import (
    CARE_PLACEHOLDER,
    COMPOUND_SURNAMES,
    WITHHELD_COLUMNS,
    RedactingFilter,
    hide_sensitive_texts,
    install_log_redaction,
    mask_known_names,
    mask_name,
    mask_phone,
    public_requests,
    requests_view,
    scrub_string,
    scrub_text,
    suppress_small_counts,
    truncate_addresses,
)


@pytest.mark.parametrize(("raw", "public"), [
    ("成都市武侯区锦华社区锦城花园5栋", "成都市武侯区锦华社区锦城花园5栋"),
    ("锦城花园5栋3单元501室", "锦城花园5栋"),
    ("翠竹苑3幢3单元", "翠竹苑3幢"),
    ("玉华东苑3号楼2单元", "玉华东苑3号楼"),
    ("清水湾B座1202", "清水湾B座"),
    ("十二栋201", "十二栋"),
    ("四川省成都市武侯区紫荆巷96号旁边", "四川省成都市武侯区紫荆巷旁边"),
    ("成都市武侯区桂溪路252号锦华小学", "成都市武侯区桂溪路锦华小学"),
    ("锦华路1号", "锦华路"),
    ("桂溪路5号院2栋", "桂溪路5号院2栋"),
    ("蓝天小区12楼1203", "蓝天小区"),
    ("锦华小区3-2-501", "锦华小区"),
    ("芳华街道锦华社区芳华苑", "芳华街道锦华社区芳华苑"),
])
def test_truncate_addresses_keeps_estate_and_building_only(raw, public):
    assert truncate_addresses(pd.Series([raw])).iloc[0] == public


def test_truncate_addresses_missing_and_empty_stay_missing():
    out = truncate_addresses(pd.Series([None, "", "  ", "3单元501室"], dtype=object))
    assert out.isna().all()


def test_scrub_text_masks_numbers_and_the_rows_own_name():
    texts = pd.Series(["我叫张三丰，电话13812345678，身份证510107199001011234", "座机028-85123456 李四来电",
                       None, "张三反映楼道堆物", "王五说：路灯坏了"])
    names = pd.Series(["张三丰", "李四", "王五", None, "五"])
    out = scrub_text(texts, names).tolist()
    assert out[0] == "我叫张*，电话138****5678，身份证510107********1234"
    assert out[1] == "座机028****3456 李*来电"
    assert pd.isna(out[2])
    assert out[3] == "张三反映楼道堆物"  # no name given for this row: another row's name is not searched
    assert out[4] == "王五说：路灯坏了"  # one-character "names" would mask ordinary words


def test_hide_sensitive_texts_uses_the_category_name():
    out = hide_sensitive_texts(pd.Series(["独居老人需要助餐", "路灯不亮"]), pd.Series(["CARE", "FAC"]),
                               {"CARE": "养老与社区服务", "FAC": "市政设施"})
    assert out.tolist() == ["养老与社区服务", "路灯不亮"]


def test_public_requests_drops_personal_columns_and_snaps_to_cell_centres():
    lat, lng = np.array([30.6573, 30.6401]), np.array([104.0657, 104.0512])
    cells = grid.latlng_to_cells(lat, lng, 10)
    frame = pd.DataFrame({
        "id": ["a", "b"], "text": ["张三丰报修：13812345678", "颐年苑2栋1单元有位失能老人"],
        "address": ["锦城花园5栋3单元501室", "颐年苑2栋1单元"], "category": ["FAC", "CARE"],
        "reporter_name": ["张三丰", "李四"], "reporter_phone": ["13812345678", "13900001111"],
        "extra": ['{"身份证":"510107199001011234"}', None], "orig_x": lng, "orig_y": lat,
        "lng": lng, "lat": lat, "cell": cells.astype(np.int64),
    })
    names = {"FAC": "市政设施", "CARE": "养老与社区服务"}
    out = public_requests(frame, category_names=names, snap_points=True)
    assert not set(WITHHELD_COLUMNS) & set(out.columns)
    assert out["text"].tolist() == ["张*报修：138****5678", "养老与社区服务"]
    assert out["address"].tolist() == ["锦城花园5栋", "颐年苑2栋"]
    c_lat, c_lng = grid.cell_centers(cells)
    assert np.allclose(out["lng"], c_lng) and np.allclose(out["lat"], c_lat)
    assert np.abs(out["lng"].to_numpy() - lng).max() > 1e-5  # the exact points are gone
    exact = public_requests(frame, category_names=names, snap_points=False)
    assert np.array_equal(exact["lng"], lng) and np.array_equal(exact["lat"], lat)
    assert frame["text"].iloc[0] == "张三丰报修：13812345678"  # the input is left alone


# -- masks: known values ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "masked"), [
    ("张三丰", "张*"), ("张三", "张*"), ("王先生", "王*"), ("欧阳娜娜", "欧阳*"), ("司马光", "司马*"),
    ("诸葛亮", "诸葛*"), ("欧阳", "欧*"), ("王", "*"), (" 李四 ", "李*"), ("John Smith", "J*"),
    ("阿依古丽·买买提", "阿*"), ("", None), (None, None),
])
def test_mask_name_keeps_the_surname_and_one_star(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize(("phone", "masked"), [
    ("13812345678", "138****5678"), ("138 1234 5678", "138****5678"), ("138-1234-5678", "138****5678"),
    ("+86 138 1234 5678", "138****5678"), ("0086-13812345678", "138****5678"), ("+8613812345678", "138****5678"),
    ("028-8888 8888", "028****8888"), ("(028) 85123456", "028****3456"), ("+86 28 8512 3456", "028****3456"),
    ("010-62345678", "010****5678"), ("0537-1234567", "0537****4567"), ("0537 8123 4567", "0537****4567"),
    ("85123456", "****3456"), ("12345", "****2345"), ("110", "****"), ("", None), (None, None),
])
def test_mask_phone_mobiles_and_landlines(phone, masked):
    assert mask_phone(phone) == masked


def test_scrub_string_masks_every_kind_of_number():
    text = ("电话+86 138 1234 5678，座机(028) 8888 8888或0537-1234567，身份证51010719900101123X，"
            "卡号6222021234567890123，编号513812345678，2026-03-05 第3栋")
    assert scrub_string(text) == ("电话138****5678，座机028****8888或0537****4567，身份证510107********123X，"
                                  "卡号***************0123，编号********5678，2026-03-05 第3栋")


def test_mask_known_names_masks_longest_names_first():
    out = mask_known_names(pd.Series(["欧阳明和阳明都来了", None, "无人"]), ["阳明", "欧阳明", "王", None])
    assert out.tolist()[0] == "欧阳*和阳*都来了" and pd.isna(out.iloc[1]) and out.iloc[2] == "无人"


# -- masks: properties ---------------------------------------------------------------------------------------

HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
LATIN = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
NAMES = st.one_of(st.text(HAN, min_size=1, max_size=5),
                  st.builds(lambda a, b: a + b, st.sampled_from(sorted(COMPOUND_SURNAMES)), st.text(HAN, max_size=3)),
                  st.text(LATIN, min_size=1, max_size=12))
MOBILES = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
LANDLINES = st.one_of(st.from_regex(r"0(10|2[0-9])[2-9][0-9]{7}", fullmatch=True),
                      st.from_regex(r"0[3-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True))
# Text around a number: anything but digits (a digit next to it would make it another number).
FILLER = st.text(st.characters(blacklist_categories=("Nd", "Cs")), max_size=20)


def _formatted(digits: str, style: int) -> str:
    if style == 1:
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    if style == 2:
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if style == 3:
        return f"+86 {digits}"
    return digits


@given(NAMES)
def test_a_masked_name_never_contains_the_name(name):
    masked = mask_name(name)
    assert masked.endswith("*") and name not in masked and len(masked) < len(name) + 1


@given(MOBILES, st.integers(0, 3))
def test_a_masked_mobile_keeps_only_prefix_and_last_four(digits, style):
    masked = mask_phone(_formatted(digits, style))
    assert masked == f"{digits[:3]}****{digits[-4:]}"


@given(LANDLINES, st.sampled_from(["-", " ", "", ") "]))
def test_a_masked_landline_hides_the_local_number(digits, sep):
    area = 3 if digits[1] in "12" else 4
    raw = ("(" if sep == ") " else "") + digits[:area] + sep + digits[area:]
    masked = mask_phone(raw)
    assert masked == f"{digits[:area]}****{digits[-4:]}" and digits[area:] not in masked


@given(FILLER, MOBILES, st.integers(0, 3), FILLER)
def test_scrubbed_text_never_contains_the_mobile(before, digits, style, after):
    out = scrub_text(pd.Series([before + _formatted(digits, style) + after])).iloc[0]
    assert re.sub(r"\D", "", out) == digits[:3] + digits[-4:] and f"{digits[:3]}****{digits[-4:]}" in out


@given(FILLER, LANDLINES, st.sampled_from(["-", " ", ""]), FILLER)
def test_scrubbed_text_never_contains_the_landline(before, digits, sep, after):
    area = 3 if digits[1] in "12" else 4
    out = scrub_string(before + digits[:area] + sep + digits[area:] + after)
    assert re.sub(r"\D", "", out) == digits[:area] + digits[-4:] and f"{digits[:area]}****{digits[-4:]}" in out


@given(FILLER, st.from_regex(r"[1-9][0-9]{16}[0-9X]", fullmatch=True), FILLER, st.text(HAN, min_size=2, max_size=4))
def test_scrubbed_text_never_contains_the_id_number_or_the_reporter(before, id_number, after, name):
    out = scrub_text(pd.Series([f"{before}{name}{id_number}{after}"]), pd.Series([name])).iloc[0]
    assert f"{id_number[:6]}********{id_number[-4:]}" in out and id_number not in out and name not in out


@given(st.text(st.sampled_from("0123456789 -"), min_size=11, max_size=40))
def test_no_run_of_eleven_digits_survives(raw):
    assert not re.search(r"\d{11}", scrub_string(raw))


# -- role views --------------------------------------------------------------------------------------------------

@pytest.fixture
def rows():
    return pd.DataFrame({
        "id": ["a", "b"], "category": ["FAC", "CARE"],
        "text": ["张三丰报修，电话13812345678", "李四独居，患糖尿病需上门送药，身份证510107199001011234"],
        "address": ["锦城花园5栋3单元501室", "颐年苑2栋1单元302"], "reporter_name": ["张三丰", "李四"],
        "reporter_phone": ["138 1234 5678", "028-8512 3456"], "extra": ['{"微信":"13900001111"}', None],
    })


def test_full_view_is_the_raw_rows(rows):
    out = requests_view(rows, "full")
    pd.testing.assert_frame_equal(out, rows)
    assert out is not rows


def test_masked_view_masks_contacts_and_numbers_in_texts(rows):
    out = requests_view(rows, "masked")
    assert out["reporter_name"].tolist() == ["张*", "李*"]
    assert out["reporter_phone"].tolist() == ["138****5678", "028****3456"]
    assert out["text"].tolist() == ["张*报修，电话138****5678", "李*独居，患糖尿病需上门送药，身份证510107********1234"]
    assert out["extra"].iloc[0] == '{"微信":"139****1111"}' and pd.isna(out["extra"].iloc[1])
    assert out["address"].tolist() == rows["address"].tolist()  # staff find the place
    assert rows["reporter_name"].iloc[0] == "张三丰"  # the input is left alone


def test_hide_care_replaces_care_texts_and_drops_their_address(rows):
    out = requests_view(rows, "masked", hide_care=True)
    assert out["text"].tolist() == ["张*报修，电话138****5678", CARE_PLACEHOLDER]
    assert out["address"].iloc[0] == "锦城花园5栋3单元501室" and pd.isna(out["address"].iloc[1])
    assert "糖尿病" not in out.to_string()


def test_aggregates_level_gets_no_rows_and_unknown_levels_are_refused(rows):
    with pytest.raises(PermissionDeniedError) as e:
        requests_view(rows, "aggregates")
    assert "aggregates" in str(e.value) and "汇总" in str(e.value)
    with pytest.raises(InvalidInputError) as e:
        requests_view(rows, "admin")
    assert e.value.field == "level"


# -- k-suppression ---------------------------------------------------------------------------------------------

def test_suppress_small_counts_drops_rows_below_k():
    df = pd.DataFrame({"cell_id": list("abcd"), "requests": [9, 4, 5, 1], "issues": [1, 1, 5, 1]})
    out = suppress_small_counts(df, 5)
    assert out["cell_id"].tolist() == ["a", "c"] and out.attrs["suppressed"] == 2
    both = suppress_small_counts(df, 5, ["requests", "issues"])
    assert both["cell_id"].tolist() == ["c"] and both.attrs["suppressed"] == 3
    assert suppress_small_counts(df, 1).attrs["suppressed"] == 0


def test_suppress_small_counts_can_withhold_the_counts_instead():
    df = pd.DataFrame({"cell_id": list("abc"), "requests": np.array([9, 3, 0]), "z": [3.1, 2.5, -2.0]})
    out = suppress_small_counts(df, 5, withhold=True)
    assert out["cell_id"].tolist() == ["a", "b", "c"] and str(out["requests"].dtype) == "Int64"
    assert out["requests"].iloc[0] == 9 and out["requests"].iloc[1:].isna().all()
    assert out.attrs["suppressed"] == 1  # the zero was no one's request
    assert df["requests"].tolist() == [9, 3, 0]


# -- logs ----------------------------------------------------------------------------------------------------

def test_redacting_filter_scrubs_message_args_and_exception():
    record = logging.LogRecord("gridgis.x", logging.ERROR, __file__, 1, "call %s from %s", ("13812345678", "x"),
                               None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "call 138****5678 from x"
    try:
        raise ValueError("bad id 510107199001011234")
    except ValueError:
        import sys

        record = logging.LogRecord("webmap", logging.ERROR, __file__, 1, "oops", None, sys.exc_info())
    RedactingFilter().filter(record)
    assert "510107199001011234" not in record.exc_text and "510107********1234" in record.exc_text


def test_installed_redaction_covers_child_loggers_whatever_the_handler(caplog):
    install_log_redaction()
    install_log_redaction()  # idempotent
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("gridgis.some.module.deep").debug("phone %s", "139 0000 1111")
        logging.getLogger("webmap.api").warning("id=%s", "51010719900101123X")
        logging.getLogger("gridgisx").warning("13812345678")  # another library: untouched
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["phone 139****1111", "id=510107********123X", "13812345678"]
