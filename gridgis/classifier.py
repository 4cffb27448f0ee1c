"""Optional trained text classifier for request categories, learned from a city's labelled requests.

A scikit-learn pipeline: character 1–3-gram TF-IDF (works for Chinese without word segmentation)
into a multinomial logistic regression, whose probabilities serve as the confidence.
:func:`classify_with_model` slots the model into the taxonomy's rule order: life-safety overrides,
source-system classes and the other overrides first (they encode explicit local decisions), then
the model's label where its confidence reaches the threshold, then keywords for the rest, then
the fallback. The model thus replaces the crude keyword step where it is sure, never the rules.

Model files are joblib (pickle) files: load only files you trained yourself.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.exceptions import InconsistentVersionWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from gridgis.errors import InvalidInputError, NotFoundError
from gridgis.taxonomy import Taxonomy, normalize_text

log = logging.getLogger(__name__)

MODEL_FORMAT = "gridgis-text-model"
MODEL_FORMAT_VERSION = 1


def _prepare(texts: Sequence[str] | pd.Series) -> list[str]:
    s = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object)
    return normalize_text(s).fillna("").tolist()


def _check_training(texts: Sequence[str], labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    x = _prepare(texts)
    y = pd.Series(list(labels), dtype=object)
    if len(x) != len(y):
        raise InvalidInputError(
            f"文本 {len(x)} 条而标签 {len(y)} 条 / {len(x)} texts but {len(y)} labels", field="labels")
    if y.isna().any():
        raise InvalidInputError(
            f"第 {int(np.flatnonzero(y.isna())[0]) + 1} 条缺少标签 / label missing in row "
            f"{int(np.flatnonzero(y.isna())[0]) + 1}", field="labels")
    y = y.astype(str).str.strip()
    if y.nunique() < 2:
        raise InvalidInputError("训练至少需要两个类别 / training needs at least two categories",
                                field="labels")
    return x, y.to_numpy(dtype=object)


def _pipeline(seed: int) -> Pipeline:
    return Pipeline([
        # Text is already normalised (NFKC, lower case, no whitespace) by _prepare.
        ("tfidf", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), lowercase=False, sublinear_tf=True)),
        # balanced: real ticket sets are skewed (物业 dwarfs 养老) and minority classes matter.
        # newton-cg: measured 3–40× faster than lbfgs/saga here (few iterations on sparse TF-IDF).
        ("clf", LogisticRegression(C=10.0, solver="newton-cg", max_iter=1000, class_weight="balanced",
                                   random_state=seed)),
    ])


class TextModel:
    """A fitted pipeline plus its label set and provenance; predicts (label, confidence)."""

    def __init__(self, pipeline: Pipeline, *, meta: dict[str, Any] | None = None) -> None:
        self.pipeline = pipeline
        self.labels: tuple[str, ...] = tuple(str(c) for c in pipeline.classes_)
        self.meta = dict(meta or {})

    def predict(self, texts: Sequence[str] | pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Most probable label per text and its probability (0–1)."""
        x = _prepare(texts)
        if not x:
            return np.array([], dtype=object), np.array([], dtype=np.float64)
        proba = self.pipeline.predict_proba(x)
        best = proba.argmax(axis=1)
        return np.asarray(self.labels, dtype=object)[best], proba[np.arange(len(x)), best].astype(np.float64)

    def save(self, path: str | Path) -> Path:
        """Write a joblib file with a format tag, version, label set and provenance."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump({"format": MODEL_FORMAT, "version": MODEL_FORMAT_VERSION, "labels": list(self.labels),
                     "meta": self.meta, "pipeline": self.pipeline}, p, compress=3)
        return p

    @classmethod
    def load(cls, path: str | Path) -> TextModel:
        """Read a file written by :meth:`save`; anything else → InvalidInputError."""
        p = Path(path)
        if not p.is_file():
            raise NotFoundError(f"找不到分类模型文件 / classifier model file not found: {p}",
                                field="classifier_model_file")
        bad = (f"{p} 不是 gridgis 分类模型，请用 `gridgis classify train` 重新训练 / {p} is not a gridgis "
               "classifier model (retrain with `gridgis classify train`)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InconsistentVersionWarning)
            try:
                data = joblib.load(p)
            except Exception as exc:  # pickle/zlib/EOF errors of every kind mean the same to the user
                raise InvalidInputError(f"{bad}: {exc}", field="classifier_model_file") from exc
        if any(issubclass(w.category, InconsistentVersionWarning) for w in caught):
            log.warning("model %s was trained with scikit-learn %s, running %s: retrain if results look off",
                        p, (data.get("meta") or {}).get("sklearn") if isinstance(data, dict) else "?",
                        sklearn.__version__)
        if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
            raise InvalidInputError(bad, field="classifier_model_file")
        if data.get("version") != MODEL_FORMAT_VERSION:
            raise InvalidInputError(
                f"{p} 的模型格式版本 {data.get('version')!r} 不受支持，请重新训练 / model format version "
                f"{data.get('version')!r} is not supported (expected {MODEL_FORMAT_VERSION}); retrain",
                field="classifier_model_file")
        pipe = data.get("pipeline")
        classes = [str(c) for c in getattr(pipe, "classes_", [])]
        if not isinstance(pipe, Pipeline) or classes != data.get("labels"):
            raise InvalidInputError(bad, field="classifier_model_file")
        return cls(pipe, meta=data.get("meta"))


def train(texts: Sequence[str], labels: Sequence[str], *, seed: int = 0) -> TextModel:
    """Fit the text model on labelled requests (labels are category codes)."""
    x, y = _check_training(texts, labels)
    pipe = _pipeline(seed).fit(x, y)
    meta = {"n_train": len(x), "class_counts": dict(Counter(y.tolist())), "seed": seed,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"), "sklearn": sklearn.__version__}
    return TextModel(pipe, meta=meta)


def evaluate(texts: Sequence[str], labels: Sequence[str], *, folds: int = 5, seed: int = 0) -> dict:
    """Stratified k-fold cross-validation: accuracy, macro_f1, per-class f1 and support, n, folds."""
    x, y = _check_training(texts, labels)
    counts = Counter(y.tolist())
    smallest, n_min = min(counts.items(), key=lambda kv: kv[1])
    k = min(int(folds), n_min)
    if k < 2:
        raise InvalidInputError(
            f"类别 {smallest} 只有 {n_min} 条，交叉验证每类至少需要 2 条 / category {smallest} has "
            f"{n_min} example(s); cross-validation needs at least 2 per category", field="labels")
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    pred = cross_val_predict(_pipeline(seed), x, y, cv=cv)
    classes = sorted(counts)
    per_class = f1_score(y, pred, labels=classes, average=None, zero_division=0)
    return {
        "n": len(y), "folds": k, "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, labels=classes, average="macro", zero_division=0)),
        "per_class_f1": {c: float(f) for c, f in zip(classes, per_class, strict=True)},
        "support": {c: counts[c] for c in classes},
    }


def classify_with_model(
    taxonomy: Taxonomy,
    texts: pd.Series,
    source_categories: pd.Series | None = None,
    model: TextModel | None = None,
    threshold: float = 0.6,
) -> pd.DataFrame:
    """Taxonomy rules with the model between overrides and keywords (see module docstring).

    Rows the model decides get ``category_rule`` ``model:0.87`` (its probability).
    """
    if model is None:
        return taxonomy.classify(texts, source_categories)
    if not 0.0 <= float(threshold) <= 1.0:
        raise InvalidInputError(
            f"置信度阈值应在 0–1 之间 / classifier_threshold must be within 0–1, got {threshold!r}",
            field="classifier_threshold")
    unknown = [lab for lab in model.labels if lab.upper() not in taxonomy.codes()]
    if unknown:
        raise InvalidInputError(
            f"模型的类别 {unknown} 不在分类表中，请用当前分类表重新训练 / the model predicts {unknown}, "
            f"which the taxonomy ({', '.join(taxonomy.codes())}) does not define: retrain it",
            field="classifier_model_file")

    def model_step(norm: pd.Series) -> pd.DataFrame:
        labels, conf = model.predict(norm)
        sure = conf >= threshold
        codes = np.where(sure, np.char.upper(labels.astype(str)), None)
        rules = np.where(sure, np.char.mod("model:%.2f", conf), None)
        return pd.DataFrame({"category": pd.Series(codes, index=norm.index, dtype="str"),
                             "category_rule": pd.Series(rules, index=norm.index, dtype="str")})

    return taxonomy.classify(texts, source_categories, before_keywords=model_step)
