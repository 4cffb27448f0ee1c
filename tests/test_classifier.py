"""Tests for gridgis.classifier: training, cross-validation, model files, rules + model order."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest

from gridgis.classifier import MODEL_FORMAT, TextModel, classify_with_model, evaluate, train
from gridgis.errors import InvalidInputError, NotFoundError
from gridgis.taxonomy import Taxonomy

PLACES = ["小区门口", "3栋楼下", "菜市场旁边", "人民南路口", "我家楼上", "玉林北路", "2单元", "社区广场",
          "锦江区某小区", "公交站附近"]
OPENERS = ["", "你好，", "反映一下，", "网格员巡查发现", "居民来电称"]
TAILS = ["，请尽快处理", "，好几天了没人管", "，希望社区协调解决", "，多次反映未果", "！", "，麻烦看一下"]


def synthetic(tax: Taxonomy, per_class: int, seed: int) -> tuple[list[str], list[str]]:
    """Labelled requests from the keyword lists and templates (Chinese keywords only).

    Keywords are cycled, not drawn, so every one of them appears at least once when per_class
    exceeds the list length.
    """
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for c in tax.categories:
        words = [k for k in rng.permutation(list(c.keywords)) if not k.isascii()]
        for i in range(per_class if words else 0):
            word = words[i % len(words)]
            texts.append(f"{rng.choice(OPENERS)}{rng.choice(PLACES)}{word}问题{rng.choice(TAILS)}")
            labels.append(c.code)
    return texts, labels


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return Taxonomy.load()


@pytest.fixture(scope="module")
def data(tax):
    return synthetic(tax, per_class=60, seed=1)


@pytest.fixture(scope="module")
def model(data) -> TextModel:
    return train(*data, seed=0)


def test_evaluate_well_above_chance(data):
    texts, labels = data
    report = evaluate(texts, labels, folds=5, seed=0)
    print(f"\nsynthetic CV: n={report['n']} accuracy={report['accuracy']:.3f} "
          f"macro_f1={report['macro_f1']:.3f}")
    assert report["n"] == len(texts) == 420 and report["folds"] == 5
    assert set(report["per_class_f1"]) == set(labels) and report["support"]["SAFE"] == 60
    chance = 1 / len(set(labels))
    assert report["macro_f1"] > 0.6 > 4 * chance
    assert 0.0 <= min(report["per_class_f1"].values()) <= 1.0
    assert report == evaluate(texts, labels, folds=5, seed=0)  # seeded: reproducible


def test_train_predict(model, data):
    texts, labels = data
    assert set(model.labels) == set(labels)
    assert model.meta["n_train"] == len(texts) and model.meta["class_counts"]["CARE"] == 60
    pred, conf = model.predict(["小区路灯不亮好几天了", "独居老人希望有人上门助餐", "楼下烧烤油烟太大"])
    assert pred.tolist() == ["FAC", "CARE", "ORDER"]
    assert conf.dtype == np.float64 and ((conf > 1 / 7) & (conf <= 1)).all()
    # Training-set accuracy of a char n-gram model on its own templates is near perfect.
    assert (model.predict(texts)[0] == np.array(labels)).mean() > 0.95
    empty_pred, empty_conf = model.predict([])
    assert empty_pred.shape == empty_conf.shape == (0,)


def test_normalisation_shared_with_rules(model):
    a, ca = model.predict(["小区路灯不亮"])
    b, cb = model.predict(["小 区 路 灯 不 亮"])
    assert a[0] == b[0] and ca[0] == pytest.approx(cb[0])


def test_save_load_round_trip(model, tmp_path):
    path = model.save(tmp_path / "sub" / "model.joblib")
    back = TextModel.load(path)
    assert back.labels == model.labels and back.meta == model.meta
    probe = ["电梯坏了", "垃圾没人清运", "停车位太少", "随便说说"]
    p1, c1 = model.predict(probe)
    p2, c2 = back.predict(probe)
    assert p1.tolist() == p2.tolist() and np.allclose(c1, c2)


def test_load_rejects_bad_files(model, tmp_path):
    with pytest.raises(NotFoundError):
        TextModel.load(tmp_path / "missing.joblib")
    garbage = tmp_path / "garbage.joblib"
    garbage.write_bytes(b"this is not a model")
    other = tmp_path / "other.joblib"
    joblib.dump({"format": "something-else", "pipeline": model.pipeline}, other)
    future = tmp_path / "future.joblib"
    joblib.dump({"format": MODEL_FORMAT, "version": 99, "labels": list(model.labels),
                 "pipeline": model.pipeline}, future)
    mislabelled = tmp_path / "mislabelled.joblib"
    joblib.dump({"format": MODEL_FORMAT, "version": 1, "labels": ["A", "B"], "pipeline": model.pipeline},
                mislabelled)
    for p in (garbage, other, future, mislabelled):
        with pytest.raises(InvalidInputError) as e:
            TextModel.load(p)
        assert e.value.field == "classifier_model_file" and str(p) in str(e.value)
    with pytest.raises(InvalidInputError, match="version"):
        TextModel.load(future)


@pytest.mark.parametrize(
    ("texts", "labels", "match"),
    [(["a", "b"], ["SAFE"], "2 texts"), (["a", "b"], ["SAFE", "SAFE"], "two categories"),
     (["a", "b", "c"], ["SAFE", None, "FAC"], "row 2")],
)
def test_training_input_errors(texts, labels, match):
    with pytest.raises(InvalidInputError, match=match):
        train(texts, labels)


def test_evaluate_needs_two_examples_per_class():
    with pytest.raises(InvalidInputError, match="CARE"):
        evaluate(["路灯坏了", "井盖松动", "独居老人"], ["FAC", "FAC", "CARE"])
    # Fewer examples than folds: folds shrink to the smallest class instead of failing.
    report = evaluate(["路灯坏了", "井盖松动", "路面破损", "独居老人", "助餐"],
                      ["FAC", "FAC", "FAC", "CARE", "CARE"])
    assert report["folds"] == 2


# ---------------------------------------------------------------- rules + model
PROBE = pd.Series(["电梯困人了", "今天天气不错", "路灯不亮", "小区垃圾没人收", "随便说说"],
                  index=[5, 4, 3, 2, 1])
SOURCES = pd.Series([None, None, None, "物业管理", None])


def test_model_none_is_plain_rules(tax):
    assert classify_with_model(tax, PROBE, SOURCES, None, 0.6).equals(tax.classify(PROBE, SOURCES))


def test_threshold_zero_model_decides_all_undecided_rows(tax, model):
    out = classify_with_model(tax, PROBE, SOURCES, model, threshold=0.0)
    assert list(out.index) == [5, 4, 3, 2, 1]
    assert out.loc[5, "category_rule"] == "override:电梯困人"  # overrides come before the model
    assert out.loc[2, "category_rule"] == "source:物业管理"  # so do source classes
    for i in (4, 3, 1):
        rule = out.loc[i, "category_rule"]
        assert rule.startswith("model:") and 0.0 <= float(rule.split(":")[1]) <= 1.0
        assert out.loc[i, "category"] in model.labels
    assert out.loc[3, "category"] == "FAC"


def test_threshold_above_every_confidence_falls_back_to_keywords(tax, model):
    out = classify_with_model(tax, PROBE, SOURCES, model, threshold=1.0)
    assert not out["category_rule"].str.startswith("model:").any()
    assert out.equals(tax.classify(PROBE, SOURCES))


def test_threshold_splits_rows_by_confidence(tax, model):
    texts = pd.Series(["小区门口路灯问题，请尽快处理", "今天天气不错"])
    _, conf = model.predict(texts)
    assert conf[0] > conf[1]
    cut = float((conf[0] + conf[1]) / 2)
    out = classify_with_model(tax, texts, None, model, threshold=cut)
    assert out["category_rule"].iloc[0] == f"model:{conf[0]:.2f}"
    assert out["category_rule"].tolist()[1] == "fallback:OTHER"


def test_bad_threshold_and_foreign_model(tax, model, tmp_path):
    with pytest.raises(InvalidInputError) as e:
        classify_with_model(tax, PROBE, None, model, threshold=1.5)
    assert e.value.field == "classifier_threshold"
    p = tmp_path / "hz.toml"
    p.write_text(
        'fallback = "MISC"\nprecedence = ["WATER"]\n'
        '[[category]]\ncode = "WATER"\nname_zh = "水"\nname_en = "Water"\ncolor = "#0072B2"\nseverity = 1\n'
        'keywords = ["停水"]\n'
        '[[category]]\ncode = "MISC"\nname_zh = "其他"\nname_en = "Misc"\ncolor = "#999999"\nseverity = 0\n',
        encoding="utf-8",
    )
    with pytest.raises(InvalidInputError, match="retrain") as e:
        classify_with_model(Taxonomy.load(p), PROBE, None, model, threshold=0.5)
    assert e.value.field == "classifier_model_file"


def test_lower_case_labels_map_to_codes(tax, data):
    texts, labels = data
    m = train(texts, [lab.lower() for lab in labels])
    out = classify_with_model(tax, pd.Series(["今天天气不错"]), None, m, threshold=0.0)
    assert out["category"].iloc[0] in tax.codes()
