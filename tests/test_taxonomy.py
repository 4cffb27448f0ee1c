"""Tests for gridgis.taxonomy: loading, validation, rule order, normalisation, request types."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgis.config import DEFAULT_TAXONOMY
from gridgis.errors import ConfigError, InvalidInputError
from gridgis.taxonomy import Taxonomy, normalize_text


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return Taxonomy.load()


def classify_one(tax: Taxonomy, text, source=None) -> tuple[str, str]:
    src = None if source is None else pd.Series([source])
    row = tax.classify(pd.Series([text]), src).iloc[0]
    return row["category"], row["category_rule"]


# ---------------------------------------------------------------- the packaged default
def test_default_table_shape(tax):
    assert tax.codes() == ["SAFE", "FAC", "PROP", "PARK", "ENV", "ORDER", "CARE", "OTHER"]
    assert tax.precedence[0] == "SAFE" and tax.fallback == "OTHER"
    assert Taxonomy.load(DEFAULT_TAXONOMY) == tax
    colors = [c.color for c in tax.categories]
    assert len(set(colors)) == len(colors) and all(re.fullmatch(r"#[0-9A-F]{6}", c) for c in colors)
    sev = {c.code: c.severity for c in tax.categories}
    assert sev["SAFE"] == max(sev.values()) and sev["OTHER"] == min(sev.values())
    for c in tax.categories:
        assert c.name_zh and c.name_en
        if c.code != "OTHER":
            assert len(c.keywords) >= 15, c.code
            assert len(c.source_categories) >= 5, c.code
    assert [t.label for t in tax.request_types] == ["咨询", "投诉", "求助", "建议", "举报", "表扬"]
    assert {t.reply_days for t in tax.request_types} == {7}
    assert {t.complex_reply_days for t in tax.request_types} == {15}


def test_default_table_has_no_shadowed_keywords(caplog):
    with caplog.at_level(logging.WARNING, logger="gridgis.taxonomy"):
        Taxonomy.load()
    assert not [r for r in caplog.records if "never wins" in r.getMessage()]


# ---------------------------------------------------------------- rule order (DOMAIN §2)
@pytest.mark.parametrize(
    ("text", "code", "rule"),
    [
        ("电梯困人", "SAFE", "override:电梯困人"),
        ("3栋电梯坏了，老人下不了楼", "PROP", "override:电梯故障"),
        ("电梯故障，有人被困在里面", "SAFE", "override:电梯困人"),
        ("井盖缺失", "SAFE", "override:井盖缺失"),
        ("人民南路上井盖松动，车过哐哐响", "FAC", "keyword:FAC:井盖"),
        ("夜间施工噪音太大睡不着", "ORDER", "override:夜间施工"),
        ("凌晨两点还在施工", "ORDER", "override:夜间施工"),
        ("厨房有很重的燃气味", "SAFE", "override:燃气泄漏"),
        ("燃气费怎么交", "FAC", "keyword:FAC:燃气"),
        ("小区充电桩太少", "PARK", "override:充电桩"),
        ("充电桩不够，好多人飞线充电", "SAFE", "override:飞线充电"),
        ("路灯不亮，门口还有人占道经营", "FAC", "keyword:FAC:路灯"),  # FAC precedes ORDER
        ("垃圾分类不到位，垃圾桶满了", "ENV", "keyword:ENV:垃圾分类"),  # longest keyword named
        ("楼下烧烤油烟很大", "ORDER", "keyword:ORDER:烧烤"),
        ("独居老人希望有助餐服务", "CARE", "keyword:CARE:独居老人"),
        ("贫困人口补助怎么申请", "CARE", "keyword:CARE:贫困"),  # 困人 inside 贫困人口 is not 电梯困人
        ("楼上漏水把天花板泡了", "PROP", "keyword:PROP:漏水"),
        ("Pothole on the road", "FAC", "keyword:FAC:pothole"),
    ],
)
def test_keywords_overrides_and_precedence(tax, text, code, rule):
    assert classify_one(tax, text) == (code, rule)


@pytest.mark.parametrize("text", ["感谢社区工作人员的耐心解答", "", None, np.nan, "   "])
def test_fallback_other(tax, text):
    assert classify_one(tax, text) == ("OTHER", "fallback:OTHER")


@pytest.mark.parametrize(
    ("text", "code"),
    [("电 梯 困 人", "SAFE"), ("井　盖　缺　失", "SAFE"), ("ＧＡＳ　ＬＥＡＫ in basement", "SAFE"),
     ("ＳＴＲＥＥＴ ＬＩＧＨＴ broken", "FAC"), ("小区\n物业\t不作为", "PROP")],
)
def test_nfkc_and_whitespace(tax, text, code):
    assert classify_one(tax, text)[0] == code


def test_normalize_text():
    s = pd.Series(["ＡＢＣ　电 梯", None, 12], dtype=object)
    out = normalize_text(s)
    assert out.iloc[0] == "abc电梯" and pd.isna(out.iloc[1]) and out.iloc[2] == "12"


# ---------------------------------------------------------------- source-system classes
@pytest.mark.parametrize(
    ("text", "source", "code", "rule"),
    [
        ("小区垃圾没人清运", "物业管理", "PROP", "source:物业管理"),
        ("小区垃圾没人清运", "城乡建设/物业管理", "PROP", "source:物业管理"),
        ("小区垃圾没人清运", "城乡建设＞物业管理＞物业服务", "PROP", "source:物业服务"),
        ("loud music at 2am", "noise - residential", "ORDER", "source:Noise - Residential"),
        ("no heat since monday", "HEAT/HOT WATER", "PROP", "source:Heat/Hot Water"),
        ("路面下沉", "部件/道路交通", "FAC", "source:道路交通"),
        ("垃圾成堆", "事件：市容环境", "ENV", "source:市容环境"),
        ("小区垃圾没人清运", "其他", "ENV", "keyword:ENV:垃圾"),  # catch-all label: text decides
        ("小区垃圾没人清运", None, "ENV", "keyword:ENV:垃圾"),
        ("电梯困人，物业电话打不通", "物业管理", "SAFE", "override:电梯困人"),  # life safety over source
        ("燃气泄漏", "供气", "SAFE", "override:燃气泄漏"),
        ("夜间施工噪音", "物业管理", "PROP", "source:物业管理"),  # ordinary overrides do not
    ],
)
def test_source_categories(tax, text, source, code, rule):
    assert classify_one(tax, text, source) == (code, rule)


def test_map_source_categories_alone(tax):
    out = tax.map_source_categories(pd.Series(["物业管理", "其他", None, "Street Light", "物业管理"],
                                              index=list("abcde")))
    assert list(out.index) == list("abcde")
    assert out.loc["a", "category"] == "PROP" and out.loc["a", "category_rule"] == "source:物业管理"
    assert out.loc[["b", "c"]].isna().all().all()
    assert out.loc["d", "category_rule"] == "source:Street Light" and out.loc["e", "category"] == "PROP"


@pytest.mark.parametrize("dtype", [object, "str", "string"])
def test_index_kept_and_sources_matched_by_position(tax, dtype):
    texts = pd.Series(["电梯坏了", "垃圾满了", "路灯不亮"], index=[30, 10, 20], dtype=dtype)
    src = pd.Series(["突发事件", None, "物业管理"], dtype=dtype)  # RangeIndex: position decides
    out = tax.classify(texts, src)
    assert list(out.index) == [30, 10, 20]
    assert out["category"].tolist() == ["SAFE", "ENV", "PROP"]
    assert out["category"].notna().all() and out["category_rule"].notna().all()


def test_source_length_mismatch(tax):
    with pytest.raises(InvalidInputError) as e:
        tax.classify(pd.Series(["a", "b"]), pd.Series(["物业管理"]))
    assert e.value.field == "source_category"


def test_empty_input(tax):
    out = tax.classify(pd.Series([], dtype="str"))
    assert out.empty and list(out.columns) == ["category", "category_rule"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=20))
def test_every_row_gets_a_known_code(texts):
    tax = Taxonomy.load()
    out = tax.classify(pd.Series(texts, dtype=object))
    assert len(out) == len(texts)
    assert out["category"].isin(tax.codes()).all() and out["category_rule"].notna().all()


# ---------------------------------------------------------------- codes and request types
def test_get_and_check_codes(tax):
    assert tax.get("safe").name_zh == "安全隐患"
    got = tax.check_codes(["prop", "环境卫生与绿化", "Parking & traffic", " FAC "])
    assert got == ["PROP", "ENV", "PARK", "FAC"]
    with pytest.raises(InvalidInputError) as e:
        tax.check_codes(["FAC", "WATER"], field="category")
    assert e.value.field == "category" and "WATER" in str(e.value) and "SAFE" in str(e.value)
    with pytest.raises(InvalidInputError):
        tax.get("nope")


def test_request_type_aliases(tax):
    values = pd.Series(["投诉", "投诉类", " Complaint ", "ＣＯＮＳＵＬＴＡＴＩＯＮ", "求 助", "意见建议",
                        "检举", "感谢", "praise", "随便", None, ""])
    out = tax.normalize_request_types(values)
    assert out.iloc[:9].tolist() == ["投诉", "投诉", "投诉", "咨询", "求助", "建议", "举报", "表扬", "表扬"]
    assert out.iloc[9:].isna().all()


def test_reply_days(tax):
    days = tax.reply_days(pd.Series(["投诉", "咨询类", "unknown"]), pd.Series([False, True, True]))
    assert days.tolist() == [7, 15, 15]
    assert tax.reply_days(pd.Series(["投诉"])).tolist() == [7]


# ---------------------------------------------------------------- another city's table
CUSTOM = """
name = "杭州某街道"
fallback = "MISC"
precedence = ["WATER", "NOISE"]
[reply_days]
default = 5
complex = 10
[[category]]
code = "WATER"
name_zh = "供排水"
name_en = "Water"
color = "#0072b2"
severity = 2
keywords = ["停水", "积水", "水管"]
source_categories = ["水务"]
[[category]]
code = "NOISE"
name_zh = "噪声"
name_en = "Noise"
color = "#E69F00"
severity = 1
keywords = ["噪音", "吵"]
[[category]]
code = "MISC"
name_zh = "其他"
name_en = "Misc"
color = "#999999"
severity = 0.5
[[override]]
code = "NOISE"
phrases = ["水泵 噪音"]
why = "pump noise is a nuisance, not a water fault"
[[request_type]]
label = "投诉"
name_en = "complaint"
aliases = ["complaint"]
complex_reply_days = 20
"""


def test_custom_city_table(tmp_path):
    p = tmp_path / "hz.toml"
    p.write_text(CUSTOM, encoding="utf-8")
    tax = Taxonomy.load(p)
    assert tax.codes() == ["WATER", "NOISE", "MISC"] and tax.source == str(p)
    assert tax.get("water").color == "#0072B2"
    out = tax.classify(pd.Series(["小区停水了", "半夜好吵", "水泵噪音很大", "电梯困人", "x"]),
                       pd.Series([None, None, None, None, "水务"]))
    assert out["category"].tolist() == ["WATER", "NOISE", "NOISE", "MISC", "WATER"]
    assert out["category_rule"].iloc[2] == "override:水泵 噪音"
    assert out["category_rule"].iloc[3] == "fallback:MISC"
    assert tax.normalize_request_types(pd.Series(["Complaint", "咨询"])).isna().tolist() == [False, True]
    assert tax.reply_days(pd.Series(["投诉", "咨询"]), True).tolist() == [20, 10]


# ---------------------------------------------------------------- broken tables
BROKEN = [
    ('precedence = ["WATER", "NOISE"]', 'precedence = ["WATER", "NOISE"', "(文件/file)"),
    ('precedence = ["WATER", "NOISE"]', 'precedence = ["WATER"]', "precedence"),
    ('precedence = ["WATER", "NOISE"]', 'precedence = ["WATER", "NOISE", "FIRE"]', "precedence"),
    ('precedence = ["WATER", "NOISE"]', 'precedence = ["WATER", "NOISE", "MISC"]', "precedence"),
    ('fallback = "MISC"', 'fallback = "OTHER"', "fallback"),
    ('color = "#0072b2"', 'color = "blue"', "category[0].color"),
    ('code = "WATER"', 'code = "water"', "category[0].code"),
    ('severity = 2', 'severity = "high"', "category[0].severity"),
    ('name_en = "Water"', 'name_en = "Water"\nkeyword = ["x"]', "category[0].keyword"),
    ('name_en = "Water"\n', "", "category[0].name_en"),
    ('keywords = ["噪音", "吵"]', 'keywords = ["噪音", "停水"]', "category[1].keywords"),
    ('keywords = ["噪音", "吵"]', 'keywords = ["噪音", 3]', "category[1].keywords"),
    ('keywords = ["噪音", "吵"]', 'keywords = ["噪音", "吵"]\nsource_categories = ["水务"]',
     "category[1].source_categories"),
    ('phrases = ["水泵 噪音"]', 'regex = "水泵(噪音"', "override[0].regex"),
    ('phrases = ["水泵 噪音"]', 'regex = "噪*"', "override[0]"),
    ('phrases = ["水泵 噪音"]', 'why2 = "x"', "override[0].why2"),
    ('code = "NOISE"\nphrases', 'code = "FIRE"\nphrases', "override[0].code"),
    ('aliases = ["complaint"]', 'aliases = ["complaint"]\n[[request_type]]\nlabel = "举报"\nname_en = "r"\n'
     'aliases = ["Complaint"]', "request_type[1].aliases"),
    ("complex = 10", "complex = 0", "reply_days.complex"),
    ('name = "杭州某街道"', 'name = "杭州某街道"\nversion = 2', "version"),
]


@pytest.mark.parametrize(("old", "new", "key"), BROKEN)
def test_broken_tables_name_file_and_key(tmp_path, old, new, key):
    assert old in CUSTOM
    p = tmp_path / "broken.toml"
    p.write_text(CUSTOM.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        Taxonomy.load(p)
    msg = str(e.value)
    assert str(p) in msg and key in msg, msg
    assert e.value.field == "taxonomy_file"


def test_missing_and_undecodable_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        Taxonomy.load(tmp_path / "nope.toml")
    p = tmp_path / "gbk.toml"
    p.write_bytes(CUSTOM.encode("gbk"))
    with pytest.raises(ConfigError, match="UTF-8"):
        Taxonomy.load(p)


def test_shadowed_keyword_is_logged(tmp_path, caplog):
    p = tmp_path / "shadow.toml"
    p.write_text(CUSTOM.replace('keywords = ["噪音", "吵"]', 'keywords = ["噪音", "吵", "停水噪音"]'),
                 encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="gridgis.taxonomy"):
        Taxonomy.load(p)
    assert any("停水噪音" in r.getMessage() and "never wins" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------- speed (figure printed, not asserted)
def test_classify_100k_texts(tax):
    rng = np.random.default_rng(7)
    base = np.array(["小区电梯坏了三天没人修", "楼下夜间施工噪音太大", "路上井盖松动", "独居老人需要助餐服务",
                     "垃圾桶满了没人清运", "感谢网格员", "路口红绿灯坏了", "电动车进楼充电太危险",
                     "楼上漏水", "厨房燃气味很重", "ＳＴＲＥＥＴ　ＬＩＧＨＴ out"])
    texts = pd.Series(rng.choice(base, 100_000)) + pd.Series(rng.integers(0, 10_000, 100_000)).astype("str")
    src = pd.Series(rng.choice(np.array(["物业管理", "其他", "城乡建设/供水", ""], dtype=object), 100_000))
    t0 = time.perf_counter()
    out = tax.classify(texts, src)
    dt = time.perf_counter() - t0
    print(f"\nclassified {len(out):,} texts in {dt:.2f} s ({len(out) / dt:,.0f}/s)")
    assert out["category"].notna().all()
    assert set(out["category"]) >= {"SAFE", "FAC", "PROP", "PARK", "ENV", "ORDER", "CARE", "OTHER"}
    # Same answer as classifying the rows one by one (the vectorized path has no row coupling).
    sample = rng.choice(len(texts), 30, replace=False)
    for i in sample:
        one = tax.classify(texts.iloc[[i]], src.iloc[[i]]).iloc[0]
        assert tuple(one) == tuple(out.iloc[i])


def test_default_file_path_is_packaged():
    assert Path(DEFAULT_TAXONOMY).is_file() and Path(DEFAULT_TAXONOMY).parent.name == "data"
