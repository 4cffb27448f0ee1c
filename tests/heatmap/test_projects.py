"""Priority project candidates on the demo community: planted places found, scores explained, filters, errors."""

from __future__ import annotations

import dataclasses
import importlib.util
import sqlite3
import sys

import numpy as np
import pandas as pd
import pytest
import shapely

from gridgis.config import load_settings
from gridgis.errors import ConfigError, InvalidInputError
from gridgis.heatmap.filters import Filters
from gridgis.heatmap.project_texts import mask_text, representative_texts, tokenizer, top_keywords
from gridgis.heatmap.projects import COLUMNS, SCORE_PARTS, find_candidates, score_weights
from gridgis.storage import open_store
from tests.conftest import SAMPLE


def _generator():
    name = "sample_data_generate"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SAMPLE / "generate.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses resolve the module by name
        spec.loader.exec_module(module)
    return sys.modules[name]


gen = _generator()
MARKET_MID = tuple(np.mean(gen.NIGHT_MARKET, axis=0))
PLANTED = [  # (category, WGS84 lng/lat where the generator put the structure)
    ("PROP", gen.OLD_COMPOUND), ("ORDER", MARKET_MID), ("ENV", MARKET_MID), ("PARK", gen.SCHOOL_GATE),
    ("SAFE", gen.BIKE_SHED), ("CARE", gen.ELDERLY),
]


@pytest.fixture(scope="module")
def cands(demo_settings, demo_reports):
    store = open_store(demo_settings)
    try:
        yield find_candidates(store, demo_settings)
    finally:
        store.close()


def test_each_planted_place_is_its_categorys_first_candidate(cands):
    t = cands.table
    assert list(t.columns) == [*COLUMNS, "geometry"]
    for cat, (lng, lat) in PLANTED:
        first = t[t["category"] == cat].iloc[0]
        assert first["geometry"].contains(shapely.Point(lng, lat)), (cat, first["candidate_id"])
    # The whole night-market street segment lies in the ORDER candidate's polygon.
    order = t[t["category"] == "ORDER"].iloc[0]["geometry"]
    assert order.buffer(1e-4).contains(shapely.LineString(gen.NIGHT_MARKET))
    # The six planted places take the top six ranks; the background gives only smaller FAC groups.
    assert sorted(t.head(6)["category"]) == sorted(c for c, _ in PLANTED)
    assert set(t.iloc[6:]["category"]) <= {"FAC"}


def test_candidates_describe_the_place(cands):
    t = cands.table.set_index("category")
    prop = t.loc["PROP"].iloc[0] if isinstance(t.loc["PROP"], pd.DataFrame) else t.loc["PROP"]
    assert "锦城花园" in prop["keywords"] and "电梯" in prop["keywords"]
    assert prop["trend"] == "intensifying_hot"  # planted: rising over the year
    assert prop["growth_ratio"] > 1.3 and prop["pts_growth"] > 0
    assert all("锦城花园" in prop[f"text_{i}"] or "电梯" in prop[f"text_{i}"] for i in (1, 2, 3))
    assert len({prop["text_1"], prop["text_2"], prop["text_3"]}) == 3
    safe = t.loc["SAFE"]
    assert "飞线充电" in safe["keywords"] and safe["severity"] == 1.0
    assert safe["grid_names"] and safe["grids"].startswith("51010700100")
    for stop in ("市民", "反映", "诉求", "尽快"):
        assert stop not in cands.table["keywords"].str.cat(sep="、")


def test_counts_agree_with_the_requests_behind_each_candidate(cands):
    t, m = cands.table, cands.members
    per = m.groupby("candidate_id").size()
    assert (per.reindex(t["candidate_id"]).to_numpy() == t["requests"].to_numpy()).all()
    assert (t["issues"] <= t["requests"]).all() and (t["issues"] > 0).all()
    assert (t["cells"] == t["cell_ids"].str.count(",") + 1).all()
    assert (t["households"] >= 0).all()  # the demo loads households from the gazetteer
    assert t.iloc[0]["households"] >= 198  # 锦城花园: 198 households in its buildings
    s = cands.series(t.iloc[0]["candidate_id"])
    assert s.sum() == t.iloc[0]["requests"] and len(s) == 53  # weeks of 2025-11-01 … 2026-10-31
    assert cands.summary["requests"] == sum(v["requests"] for v in cands.summary["by_category"].values())


def test_score_is_the_sum_of_its_weighted_parts(cands, demo_settings):
    t = cands.table
    w = score_weights(demo_settings)
    pts = t[[f"pts_{p}" for p in SCORE_PARTS]].sum(axis=1)
    assert np.allclose(t["score"], pts, atol=0.011)
    for p in SCORE_PARTS:
        assert np.allclose(t[f"pts_{p}"], 100 * w[p] / sum(w.values()) * t[p], atol=0.006)
        assert t[p].between(0, 1).all()
    assert t["volume"].max() == 1.0 and t["significance"].max() == 1.0
    assert list(t["rank"]) == list(range(1, len(t) + 1))
    assert t["score"].is_monotonic_decreasing


def test_two_runs_are_identical(cands, seeded_store, demo_settings):
    again = find_candidates(seeded_store, demo_settings)
    pd.testing.assert_frame_equal(pd.DataFrame(again.table.drop(columns="geometry")),
                                  pd.DataFrame(cands.table.drop(columns="geometry")))
    assert again.table.geometry.to_wkt().tolist() == cands.table.geometry.to_wkt().tolist()
    assert again.summary == cands.summary and again.summary_text() == cands.summary_text()


def test_summary_text_headline_and_blocks(cands):
    text = cands.summary_text()
    n = cands.summary["requests"]
    assert text.startswith(f"{n:,} 条诉求 → 7 类 → {len(cands)} 个项目候选 / {n:,} requests → 7 categories → "
                           f"{len(cands)} project candidates")
    for cid in cands.table["candidate_id"]:
        assert cid in text
    assert "得分构成 score = 规模 volume" in text and "代表诉求 text 1" in text
    assert "代表诉求" not in cands.summary_text(detail=False)


def test_severity_weight_alone_puts_safety_first(seeded_store, demo_settings):
    only = dataclasses.replace(demo_settings, project_weight_volume=0.0, project_weight_significance=0.0,
                               project_weight_growth=0.0, project_weight_severity=1.0)
    t = find_candidates(seeded_store, only, Filters(categories=("SAFE", "PARK"))).table
    assert t.iloc[0]["category"] == "SAFE" and t.iloc[0]["score"] == 100.0
    assert (t["pts_volume"] == 0).all()


@pytest.mark.parametrize("name,value", [("project_weight_volume", -1.0), ("project_weight_growth", float("nan"))])
def test_bad_weights_name_the_setting(demo_settings, name, value):
    with pytest.raises(ConfigError) as e:
        score_weights(dataclasses.replace(demo_settings, **{name: value}))
    assert e.value.field == name


def test_weights_all_zero_are_refused(demo_settings):
    zero = dataclasses.replace(demo_settings, **{f"project_weight_{p}": 0.0 for p in SCORE_PARTS})
    with pytest.raises(ConfigError, match="project_weight"):
        score_weights(zero)


def test_weights_come_from_env_and_overrides():
    s = load_settings(env={"GRIDGIS_PROJECT_WEIGHT_SEVERITY": "0.9"}, project_weight_growth=0.0)
    assert s.project_weight_severity == 0.9 and s.project_weight_growth == 0.0


def test_filters_restrict_the_candidates(seeded_store, demo_settings, cands):
    half = find_candidates(seeded_store, demo_settings,
                           Filters(since="2026-05-01", until="2026-11-01", categories=("prop", "ORDER")))
    assert set(half.table["category"]) == {"PROP", "ORDER"}
    full = cands.table[cands.table["category"].isin(["PROP", "ORDER"])]
    assert 0 < half.table["requests"].sum() < full["requests"].sum()
    assert half.summary["requests"] < cands.summary["requests"] / 2
    assert half.table[half.table["category"] == "PROP"].iloc[0]["geometry"].contains(shapely.Point(*gen.OLD_COMPOUND))
    assert half.summary["since"].startswith("2026-05-01T00:00:00+08:00")
    assert half.members["created_at"].min() >= pd.Timestamp("2026-04-30T16:00Z")


def test_collapsed_duplicates_count_issues_only(seeded_store, demo_settings):
    t = find_candidates(seeded_store, demo_settings, Filters(categories=("SAFE",), collapse_duplicates=True)).table
    assert len(t) and (t["requests"] == t["issues"]).all()


def test_zone_limits_requests_and_study_area(seeded_store, demo_settings):
    lng, lat = gen.OLD_COMPOUND
    zone = shapely.Point(lng, lat).buffer(0.004)
    t = find_candidates(seeded_store, demo_settings, Filters(zone=zone)).table
    assert len(t) and all(zone.buffer(0.002).contains(g) for g in t.geometry)
    assert "PROP" in set(t["category"])


def test_gap_merges_and_min_cells_drops(seeded_store, demo_settings, cands):
    gap = find_candidates(seeded_store, demo_settings, Filters(categories=("FAC",)), gap=1)
    fac = cands.table[cands.table["category"] == "FAC"]
    assert len(gap) <= len(fac) and gap.table["cells"].sum() >= fac["cells"].sum()
    big = find_candidates(seeded_store, demo_settings, Filters(categories=("FAC",)), min_cells=5)
    assert (big.table["cells"] >= 5).all() and len(big) < len(fac)


def test_households_when_the_store_has_them(tmp_path, demo_settings, demo_reports):
    from gridgis.heatmap.households import load_households_from_gazetteer

    copy = tmp_path / "copy.sqlite3"
    with sqlite3.connect(demo_settings.sqlite_path) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    settings = dataclasses.replace(demo_settings, database_url=f"sqlite:///{copy}")
    store = open_store(settings)
    try:
        load_households_from_gazetteer(store, demo_settings.gazetteer_file)
        t = find_candidates(store, settings, Filters(categories=("PROP",))).table
    finally:
        store.close()
    assert t.iloc[0]["households"] >= 198  # 锦城花园's buildings: 198 households in the gazetteer


def test_empty_result_is_an_empty_table(seeded_store, demo_settings):
    c = find_candidates(seeded_store, demo_settings, Filters(since="2020-01-01", until="2020-02-01"))
    assert len(c) == 0 and list(c.table.columns) == [*COLUMNS, "geometry"]
    assert c.summary["requests"] == 0 and c.members.empty
    assert "0 个项目候选" in c.summary_text() and "no project candidates" in c.summary_text()


def test_too_few_requests_are_not_tested(seeded_store, demo_settings):
    c = find_candidates(seeded_store, demo_settings,
                        Filters(since="2026-03-01", until="2026-03-04", categories=("SAFE",)))
    assert len(c) == 0 and "SAFE" in c.summary["not_tested"] and "30" in c.summary["not_tested"]["SAFE"]


@pytest.mark.parametrize("kwargs,field,words", [
    ({"res": 11}, "res", "7–10"),
    ({"res": 6}, "res", "7–10"),
    ({"filters": Filters(categories=("NOISE",))}, "categories", "SAFE"),
    ({"filters": Filters(since="2026-05-01", until="2026-01-01")}, "since", "reversed"),
    ({"filters": Filters(since="昨天下午")}, "since", "ISO 8601"),
    ({"filters": Filters(zone=shapely.Polygon())}, "zone", "non-empty"),
    ({"gap": 2}, "gap", "one of 0, 1"),
    ({"min_cells": 0}, "min_cells", "integer ≥ 1"),
    ({"min_bin": 4}, "min_bin", "one of 1, 2, 3"),
    ({"min_cells": 2.5}, "min_cells", "integer ≥ 1"),
    ({"k": 0}, "k", "1 to 10"),
    ({"trend_bucket": "year"}, "trend_bucket", "week or month"),
])
def test_bad_parameters_name_the_parameter(seeded_store, demo_settings, kwargs, field, words):
    with pytest.raises(InvalidInputError) as e:
        find_candidates(seeded_store, demo_settings, **kwargs)
    assert e.value.field == field and words in str(e.value)


def test_unknown_candidate_series_is_refused(cands):
    with pytest.raises(InvalidInputError):
        cands.series("PROP-0")


# ------------------------------------------------------------------------------------------ texts
def test_keywords_count_texts_not_repeats_and_skip_stop_words():
    tok = tokenizer(("锦城花园", "加装电梯"))
    texts = ["市民来电反映：锦城花园加装电梯坏了，加装电梯加装电梯", "锦城花园加装电梯停运", "锦城花园漏水"]
    kw = dict(top_keywords(texts, tok, {"漏水"}, n=5))
    assert kw["锦城花园"] == 3 and kw["加装电梯"] == 2
    assert "市民" not in kw and "反映" not in kw and "漏水" not in kw


def test_representative_texts_prefer_first_reports_and_skip_near_copies():
    lift = "锦城花园电梯停运老人下不了楼"
    texts = pd.Series([lift, lift + "！", "锦城花园电梯停运，老人下不了楼", "锦城花园3栋漏水", "再次反映：" + lift],
                      index=list("abcde"))
    first = pd.Series([True, True, True, True, False], index=texts.index)
    picked = representative_texts(texts, first, n=3)
    assert picked[0].startswith("锦城花园电梯") and "锦城花园3栋漏水" in picked
    assert not any(p.startswith("再次") for p in picked)
    assert len(picked) == 2  # the three lift texts are one complaint


def test_mobile_numbers_in_texts_are_masked():
    out = mask_text(pd.Series(["联系电话13812345678，谢谢", "工单号 2026031812345678"]))
    assert out.tolist() == ["联系电话138****5678，谢谢", "工单号 2026031812345678"]
