"""Address normalisation: variants residents write converge on one spelling; place names survive."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgis.ingest.address import (
    admin_core,
    normalize_addresses,
    number_tokens,
    numbers_compatible,
    phonetic_keys,
    strip_numbers,
)

ADMIN = dict(province="四川省", city="成都市", district="武侯区")


def norm(*values, **admin):
    return normalize_addresses(pd.Series(list(values)), **admin).tolist()


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("锦城花园三栋", "锦城花园3栋"),
        ("玉林北路十二号", "玉林北路12号"),
        ("锦城花园二十一号楼", "锦城花园21栋"),
        ("锦城花园3栋一单元", "锦城花园3栋1单元"),
        ("锦城花园3栋2号单元", "锦城花园3栋2单元"),
        ("锦城花园3栋2单元三〇一室", "锦城花园3栋2单元301室"),
        ("玉林北路一百零五号", "玉林北路105号"),
        ("玉林北路十号", "玉林北路10号"),
        ("锦城花园第三栋", "锦城花园3栋"),
        ("锦城花园两栋", "锦城花园2栋"),
        ("人民南路三段", "人民南路3段"),
        ("天府三街", "天府3街"),
        ("南苑二期", "南苑2期"),
        ("玉林北路十十号", "玉林北路十十号"),  # not a numeral: left as written
    ],
)
def test_chinese_numerals_before_units_become_digits(raw, expected):
    assert norm(raw) == [expected]


@pytest.mark.parametrize("name", ["九眼桥", "一品天下", "两路口", "第一中学", "三圣乡", "十字路口", "五一路"])
def test_numerals_inside_place_names_are_kept(name):
    assert norm(name) == [name]


def test_ring_roads_meet_whether_written_in_digits_or_characters():
    out = norm("一环路", "1环路", "三环路南三段", "3环路南3段")
    assert out == ["1环路", "1环路", "3环路南3段", "3环路南3段"]


@pytest.mark.parametrize("variant", ["锦城花园3幢", "锦城花园3号楼", "锦城花园3座", "锦城花园3栋楼",
                                     "锦城花园3#楼", "锦城花园3#", "锦城花园3号幢", "锦城花园3栋"])
def test_building_words_become_dong(variant):
    assert norm(variant) == ["锦城花园3栋"]


def test_full_width_spaces_punctuation_and_latin_case():
    assert norm("锦城花园　３栋（２单元）", " 锦城花园, 3栋-2单元 ", "ＡＢＣ大厦Ｂ座") == [
        "锦城花园3栋2单元", "锦城花园3栋2单元", "abc大厦b栋"]


def test_dash_between_numbers_is_kept():
    assert norm("玉林北路12－3号", "玉林北路12—3号") == ["玉林北路12-3号", "玉林北路12-3号"]


@pytest.mark.parametrize(
    "noise", ["附近", "旁边", "对面", "门口", "楼下", "周边", "这边", "那边", "里面", "一带", "处", "边上"]
)
def test_noise_words_are_dropped(noise):
    assert norm(f"锦城花园{noise}") == ["锦城花园"]


def test_noise_words_in_building_context():
    assert norm("锦城花园3号楼楼下", "这边锦城花园3栋楼下", "玉林北路12号院门口") == [
        "锦城花园3栋", "锦城花园3栋", "玉林北路12号"]


def test_office_is_not_noise():
    assert norm("玉林街道办事处") == ["玉林街道办事处"]


def test_deployment_prefix_is_dropped():
    values = ["四川省成都市武侯区玉林北路12号", "成都市武侯区玉林北路12号", "武侯区玉林北路12号",
              "四川省 成都市 玉林北路12号", "玉林北路12号"]
    assert norm(*values, **ADMIN) == ["玉林北路12号"] * 5


def test_other_prefixes_and_bare_city_names_are_kept():
    values = ["成都市锦江区春熙路1号", "成都花园", "武侯祠", "成都市成都花园"]
    out = norm(*values, city="成都", district="武侯区")
    assert out == ["锦江区春熙路1号", "成都花园", "武侯祠", "成都花园"]
    # nothing configured: nothing dropped
    assert norm("四川省成都市武侯区玉林北路12号") == ["四川省成都市武侯区玉林北路12号"]


def test_missing_values_and_index_are_kept():
    s = pd.Series(["锦城花园３栋", None, np.nan, "锦城花园３栋"], index=[10, 11, 12, 13], dtype=object)
    out = normalize_addresses(s)
    assert list(out.index) == [10, 11, 12, 13]
    assert out[10] == out[13] == "锦城花园3栋"
    assert out[[11, 12]].isna().all()
    string_na = normalize_addresses(pd.Series(["锦城花园", pd.NA], dtype="string"))
    assert string_na.iloc[0] == "锦城花园" and pd.isna(string_na.iloc[1])
    assert normalize_addresses(pd.Series([], dtype=object)).empty
    assert normalize_addresses(pd.Series([None, None])).isna().all()


# Characters that address text is made of, noise words included.
ALPHABET = list("锦城花园玉林北路社区小区栋幢号楼单元室座一二三四五六七八九十百零两第附近旁边门口处下"
                "0123456789０１２ -#（）,")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=ALPHABET, min_size=0, max_size=16), min_size=1, max_size=8))
def test_normalisation_is_idempotent(values):
    once = normalize_addresses(pd.Series(values), **ADMIN)
    twice = normalize_addresses(once, **ADMIN)
    assert once.tolist() == twice.tolist()


def test_admin_core_strips_suffixes():
    assert admin_core(pd.Series(["成都市", "武侯区", "四川省", "成都", None])).tolist()[:4] == [
        "成都", "武侯", "四川", "成都"]


def test_number_tokens_and_compatibility():
    addr = number_tokens("锦城花园3栋2单元")
    assert addr == {("3", "栋"), ("2", "单元")}
    assert numbers_compatible(number_tokens("锦城花园3栋"), addr)
    assert not numbers_compatible(number_tokens("锦城花园5栋"), addr)
    assert not numbers_compatible(number_tokens("锦城花园2栋"), addr)  # 2 is the unit, not the building
    # residents say 3号 for building 3; a bare number may be any unit
    assert numbers_compatible(number_tokens("锦城花园3栋"), number_tokens("锦城花园3号"))
    assert numbers_compatible(number_tokens("玉林北路12号"), number_tokens("玉林北路12"))
    assert numbers_compatible(number_tokens("锦城花园"), addr)


def test_phonetic_keys_equal_for_homophones_only():
    names = ["锦城花园", "锦城花圆", "金成花园", "锦绣花园", "锦城花园3栋", None]
    keys = phonetic_keys(pd.Series(names)).tolist()
    assert keys[0] == keys[1] == keys[2]
    assert keys[3] != keys[0]
    assert len(keys[0]) == 4  # one character per syllable
    assert keys[4].startswith(keys[0]) and "3" in keys[4]
    assert pd.isna(keys[5])


def test_strip_numbers_leaves_the_words():
    out = strip_numbers(pd.Series(["锦城花园3栋2单元", "玉林北路12-3号"]))
    assert out.tolist() == ["锦城花园", "玉林北路"]
    assert strip_numbers(pd.Series(["玉林北路12号锦城花园"]), marker="|").tolist() == ["玉林北路|锦城花园"]
