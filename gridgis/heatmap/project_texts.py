"""Words and sentences that describe a project candidate: top keywords (jieba) and representative texts.

- **Keywords.** A private jieba tokenizer knows the taxonomy's keywords and the gazetteer's place
  names as words (加装电梯, 飞线充电, 锦城花园, 芳华街夜市), so they come out whole. A word scores one
  per text it appears in (a text that repeats a word counts once); stop words, the boilerplate of
  12345 summaries and patrol reports (市民来电反映, 诉求, 巡查发现, 已拍照上报 …), the category's own
  name words (物业, 房屋 for 物业与房屋), single characters and anything with a digit are left out.
  Ties are broken by the word itself, so the list is the same on every run.
- **Representative texts.** The texts closest to the candidate's centre in TF-IDF space (character
  1–2-grams, which suit Chinese without segmentation), chosen greedily so that no two picked texts
  are near copies (cosine ≥ :data:`NEAR_COPY`); first reports of an issue are preferred over
  repeats. Mobile numbers inside texts are masked (PIPL) before they leave the store.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

NEAR_COPY = 0.8
"""Cosine similarity above which two texts count as the same complaint for representative picks."""

STOP_WORDS = frozenset(
    # Boilerplate of 12345 summaries, WeChat messages and patrol reports.
    "市民 来电 来电人 反映 反应 再次 又来 诉求 希望 尽快 处理 相关 部门 核实 答复 解决 请求 要求 麻烦 谢谢 您好 你好 "
    "网格员 社区 居委会 巡查 发现 复查 拍照 上报 已经 劝导 整改 仍未 问题 依旧 没人管 没有人 有没有 上次 之前 第二次 "
    "现在 到现在 还是 还没 一直 好几天 这几天 最近 今天 昨天 昨晚 前天 周末 每天 晚上 早上 下午 上午 半夜 "
    "我们 你们 他们 大家 自己 这个 那个 这里 那里 这样 怎么 什么 为什么 能不能 可以 应该 是否 已 但是 而且 因为 所以 "
    "如果 还有 没有 不是 就是 非常 特别 严重 真的 根本 一下 一点 一些 很多 好多 太 多次 情况 事情 地方 附近 门口 旁边 "
    "对面 楼下 楼上 里面 外面 小区 单元 号楼 居民 住户 业主 老人 管一管 管管 帮忙 协调 联系 到场 来人 推来推去 不管 "
    "不了 下不了 出不了 有人 建议 希望 能否 请问 咨询 举报 投诉 几天".split()
)
_MOBILE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_HAS_DIGIT = re.compile(r"\d")
_WORD_CHAR = re.compile(r"[\w\u4e00-\u9fff]")


def mask_text(texts: pd.Series) -> pd.Series:
    """Mobile numbers inside free text → ``138****1234`` (names in free text cannot be found reliably)."""
    return texts.astype("str").str.replace(_MOBILE_IN_TEXT, r"\1****\2", regex=True)


@functools.lru_cache(maxsize=4)
def tokenizer(words: tuple[str, ...]):
    """A jieba tokenizer of its own (the global one stays untouched) that knows ``words`` as words."""
    import jieba

    # jieba logs its dictionary build at DEBUG to stderr by default; keep the CLI output clean.
    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()
    for w in words:
        if len(w) >= 2:
            tok.add_word(w, freq=max(tok.suggest_freq(w), 10_000))
    return tok


def domain_words(taxonomy, gazetteer=None) -> tuple[str, ...]:
    """Taxonomy keywords and gazetteer place names (小区 and aliases, landmarks, roads, 社区, 街道), sorted."""
    words: set[str] = set()
    for c in taxonomy.categories:
        words.update(k for k in c.keywords if not k.isascii())
    if gazetteer is not None:
        e = gazetteer.entries
        places = e[e["level"].isin(["estate", "community", "street"])]
        words.update(places["name"].dropna().tolist())
        for col in ("aliases",):
            for a in e[col].dropna().tolist():
                words.update(x.strip() for x in str(a).split("|") if x.strip())
        for col in ("road", "estate", "community", "subdistrict"):
            if col in e.columns:
                words.update(e[col].dropna().astype(str).tolist())
    return tuple(sorted(w for w in words if w and not _HAS_DIGIT.search(w)))


def generic_words(tok, name_zh: str) -> set[str]:
    """The words of a category's own name (物业与房屋 → 物业, 房屋): they describe every text of it."""
    return {w for w in tok.lcut(name_zh) if len(w) >= 2}


def top_keywords(texts: Sequence[str], tok, exclude: set[str] | frozenset[str] = frozenset(),
                 n: int = 5) -> list[tuple[str, int]]:
    """The ``n`` words found in the most texts, with those counts: [(word, texts), …]."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update({w for w in tok.lcut(str(text)) if _keep(w, exclude)})
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def _keep(word: str, exclude) -> bool:
    return (len(word) >= 2 and word not in STOP_WORDS and word not in exclude and not _HAS_DIGIT.search(word)
            and bool(_WORD_CHAR.match(word)))


def representative_texts(texts: pd.Series, first: pd.Series | None = None, n: int = 3) -> list[str]:
    """Up to ``n`` texts that best show what the candidate is about, most typical first.

    ``texts`` is indexed by request id in a stable order; ``first`` (same index) marks first reports.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    if len(texts) == 0:
        return []
    pool = texts[first.to_numpy(bool)] if first is not None and bool(first.any()) else texts
    # Identical texts are one complaint; keep the first (stable) occurrence.
    pool = pool[~pool.duplicated()]
    if len(pool) <= 1:
        return pool.astype(str).tolist()
    x = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True).fit_transform(pool.astype(str))
    centre = np.asarray(x.mean(axis=0)).ravel()
    sim = x @ centre / (np.linalg.norm(centre) or 1.0)
    order = np.lexsort((np.arange(len(pool)), -np.round(sim, 12)))  # ties: earlier text first
    chosen: list[int] = []
    for i in order:
        if len(chosen) == n:
            break
        if chosen and (x[chosen] @ x[i].T).toarray().max() >= NEAR_COPY:
            continue
        chosen.append(int(i))
    return pool.iloc[chosen].astype(str).tolist()


@functools.lru_cache(maxsize=4)
def settings_words(taxonomy_file: str, gazetteer_file: str | None, crs: str, city: str | None,
                   district: str | None) -> tuple[str, ...]:
    """:func:`domain_words` of a deployment's taxonomy and gazetteer files (cached per file set)."""
    from gridgis.ingest.geocode import Gazetteer
    from gridgis.taxonomy import Taxonomy

    gaz = Gazetteer.load(gazetteer_file, crs=crs, city=city, district=district) if gazetteer_file else None
    return domain_words(Taxonomy.load(taxonomy_file), gaz)


def describe(comps: list[dict], rows: pd.DataFrame, tok, generic: set[str], grid_names: dict[str, str]) -> None:
    """Fill in ``keywords``, ``text_1..3``, ``grids`` and ``grid_names`` of each candidate dict in ``comps``
    from its requests (``rows`` with ``comp`` = the candidate's position, ``text``, ``id``, ``first``,
    ``grid_code``)."""
    for i, c in enumerate(comps):
        r = rows[rows["comp"].to_numpy() == i]
        c["keywords"] = "、".join(w for w, _ in top_keywords(r["text"].tolist(), tok, generic, n=5))
        texts = pd.Series(mask_text(r["text"]).to_numpy(), index=r["id"].to_numpy())
        first = pd.Series(r["first"].to_numpy(), index=texts.index)
        picked = representative_texts(texts, first, n=3)
        for j in range(3):
            c[f"text_{j + 1}"] = picked[j] if j < len(picked) else ""
        vc = r["grid_code"].dropna().value_counts()
        codes = sorted(vc.index, key=lambda code: (-vc[code], code))
        c["grids"] = ",".join(codes)
        c["grid_names"] = "、".join(grid_names.get(code) or code for code in codes)
