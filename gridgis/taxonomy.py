"""Demand categories loaded from TOML, and the rule-based classifier that assigns them to requests.

The table is configuration (``gridgis/data/taxonomy.toml`` by default; cities ship their own):
categories with keywords and the source-system classes that map to them, a precedence order,
phrase/regex overrides for ambiguous words (施工, 电梯, 井盖) and request types with aliases.

Rule order of :meth:`Taxonomy.classify` (each step only looks at rows no earlier step decided):

1. overrides with ``over_source = true`` — life-safety phrases (电梯困人, 燃气泄漏) must win even
   when the call-taker filed the ticket under 物业管理 or 供气;
2. the source system's class (12345 / 数字城管 / 311): a person or a standard code chose it with
   the whole case in view, so it beats guessing from words;
3. the other overrides — they settle ambiguous keywords, so they go before the keyword step;
4. (optional hook, e.g. a trained model: see :mod:`gridgis.classifier`);
5. keywords, one category at a time in ``precedence`` order, so SAFE wins ties;
6. the fallback category (OTHER).

``category_rule`` records what decided each row for audit: ``override:电梯困人``,
``source:物业管理``, ``keyword:SAFE:飞线充电``, ``fallback:OTHER`` (the hook adds e.g. ``model:0.87``).
Matching is vectorized: one regular expression per override and one alternation per category,
run with pandas string methods over the still-undecided rows only.
"""

from __future__ import annotations

import logging
import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridgis.config import DEFAULT_TAXONOMY
from gridgis.errors import ConfigError, InvalidInputError

log = logging.getLogger(__name__)

RESULT_COLUMNS = ("category", "category_rule")
FORMAT_VERSION = 1
_BLANKS = r"[\s\u200b\u200c\u200d\u2060\ufeff]+"
_BLANKS_RE = re.compile(_BLANKS)
# Level separators of hierarchical source labels, after NFKC ("／" → "/", "－" → "-").
_LEVEL_SEP = r"\s*(?:[>/|\\:→»—]|-)\s*"
_CODE_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,15}$")
_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")

_TOP_KEYS = {"name", "version", "fallback", "precedence", "reply_days", "category", "override",
             "request_type"}
_CATEGORY_KEYS = {"code", "name_zh", "name_en", "color", "severity", "keywords", "source_categories",
                  "description"}
_OVERRIDE_KEYS = {"name", "code", "phrases", "regex", "over_source", "why"}
_REQUEST_TYPE_KEYS = {"label", "name_en", "aliases", "reply_days", "complex_reply_days"}


def normalize_text(texts: pd.Series) -> pd.Series:
    """NFKC (full-width → half-width), lower case, all whitespace removed; missing stays missing."""
    s = texts if isinstance(texts.dtype, pd.StringDtype) else texts.astype("str")
    return s.str.normalize("NFKC").str.lower().str.replace(_BLANKS, "", regex=True)


def normalize_literal(text: str) -> str:
    """The same normalisation as :func:`normalize_text` for one keyword, label or alias."""
    return _BLANKS_RE.sub("", unicodedata.normalize("NFKC", text).lower())


def _search(pattern: str) -> str:
    # str.match with a lazy prefix is a search that, unlike str.contains, does not warn about
    # capture groups in user-written override patterns.
    return f".*?(?:{pattern})"


@dataclass(frozen=True)
class Category:
    """One demand category: display names, map colour, score weight and what maps to it."""

    code: str
    name_zh: str
    name_en: str
    color: str
    severity: float
    keywords: tuple[str, ...] = ()
    source_categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Override:
    """A phrase or pattern that decides the category before plain keywords (why: audit note)."""

    name: str
    code: str
    pattern: str  # Python regex on normalised text; literal phrases are escaped into it
    over_source: bool = False
    why: str = ""


@dataclass(frozen=True)
class RequestType:
    """A request type (咨询/投诉/…) with its aliases and reply deadlines in working days."""

    label: str
    name_en: str
    aliases: tuple[str, ...]
    reply_days: int = 7
    complex_reply_days: int = 15


class _Reader:
    """Typed access to a parsed TOML table that names file and key in every error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, key: str, zh: str, en: str) -> ConfigError:
        return ConfigError(
            f"分类表 {self.source} 中 {key} 有误：{zh} / taxonomy {self.source}: {key}: {en}",
            field="taxonomy_file",
        )

    def table(self, value: Any, key: str, allowed: set[str]) -> dict:
        if not isinstance(value, dict):
            raise self.error(key, "应为表", "must be a table")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.error(
                f"{key}.{unknown[0]}", f"未知键，可用：{', '.join(sorted(allowed))}",
                f"unknown key; allowed: {', '.join(sorted(allowed))}",
            )
        return value

    def get(self, table: dict, key: str, where: str, kind: str, default: Any = ...) -> Any:
        full = f"{where}.{key}" if where else key
        if key not in table:
            if default is ...:
                raise self.error(full, "缺少必填项", "missing required key")
            return default
        v = table[key]
        ok = {
            "str": isinstance(v, str) and v.strip() != "",
            "strs": isinstance(v, list) and all(isinstance(x, str) and x.strip() for x in v),
            "num": isinstance(v, int | float) and not isinstance(v, bool) and v >= 0,
            "days": isinstance(v, int) and not isinstance(v, bool) and v > 0,
            "bool": isinstance(v, bool),
            "tables": isinstance(v, list) and all(isinstance(x, dict) for x in v),
        }[kind]
        if not ok:
            zh, en = {
                "str": ("应为非空文本", "must be a non-empty string"),
                "strs": ("应为非空文本的列表", "must be a list of non-empty strings"),
                "num": ("应为非负数", "must be a non-negative number"),
                "days": ("应为正整数（工作日）", "must be a positive whole number of working days"),
                "bool": ("应为 true 或 false", "must be true or false"),
                "tables": ("应为 [[表]] 数组", "must be an array of tables [[...]]"),
            }[kind]
            raise self.error(full, f"{zh}，实际为 {v!r}", f"{en}, got {v!r}")
        return tuple(s.strip() for s in v) if kind == "strs" else (v.strip() if kind == "str" else v)


@dataclass(frozen=True)
class Taxonomy:
    """The configured categories, precedence, overrides and request types of one deployment."""

    categories: tuple[Category, ...]
    precedence: tuple[str, ...]
    overrides: tuple[Override, ...] = ()
    request_types: tuple[RequestType, ...] = ()
    fallback: str = "OTHER"
    default_reply_days: int = 7
    default_complex_reply_days: int = 15
    name: str = ""
    source: str = "<memory>"

    def __post_init__(self) -> None:
        self._check()

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path | None = None) -> Taxonomy:
        """Read a taxonomy TOML file; ``None`` reads the packaged default."""
        p = Path(DEFAULT_TAXONOMY if path is None else path)
        reader = _Reader(str(p))
        if not p.is_file():
            raise reader.error("taxonomy_file", "找不到文件", "file not found")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise reader.error("(文件/file)", f"无法解析：{exc}",
                               f"cannot parse as UTF-8 TOML: {exc}") from exc
        return cls.from_dict(data, source=str(p))

    @classmethod
    def from_dict(cls, data: dict, source: str = "<memory>") -> Taxonomy:
        """Build from the parsed TOML structure (same keys as the file)."""
        r = _Reader(source)
        top = r.table(data, "(top level)", _TOP_KEYS)
        version = top.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise r.error("version", f"不支持的版本 {version!r}", f"unsupported version {version!r}")
        days = r.table(top.get("reply_days", {}), "reply_days", {"default", "complex"})
        default_days = r.get(days, "default", "reply_days", "days", 7)
        complex_days = r.get(days, "complex", "reply_days", "days", 15)

        categories = []
        for i, c in enumerate(r.get(top, "category", "", "tables")):
            w = f"category[{i}]"
            c = r.table(c, w, _CATEGORY_KEYS)
            code = r.get(c, "code", w, "str")
            if not _CODE_RE.match(code):
                raise r.error(f"{w}.code", "代码应为大写字母开头的 A–Z/0–9/_（≤16 位）",
                              f"code must be upper-case A–Z, 0–9, _ (≤16 chars), got {code!r}")
            color = r.get(c, "color", w, "str")
            if not _COLOR_RE.match(color):
                raise r.error(f"{w}.color", "颜色应为 #RRGGBB", f"colour must be #RRGGBB, got {color!r}")
            categories.append(Category(
                code=code, name_zh=r.get(c, "name_zh", w, "str"), name_en=r.get(c, "name_en", w, "str"),
                color=color.upper(), severity=float(r.get(c, "severity", w, "num")),
                keywords=r.get(c, "keywords", w, "strs", ()),
                source_categories=r.get(c, "source_categories", w, "strs", ()),
            ))

        overrides = []
        for i, o in enumerate(r.get(top, "override", "", "tables", [])):
            w = f"override[{i}]"
            o = r.table(o, w, _OVERRIDE_KEYS)
            parts = [re.escape(normalize_literal(p)) for p in r.get(o, "phrases", w, "strs", ())]
            regex = r.get(o, "regex", w, "str", None)
            if regex is not None:
                try:
                    re.compile(regex)
                except re.error as exc:
                    raise r.error(f"{w}.regex", f"正则表达式无效：{exc}",
                                  f"invalid regular expression: {exc}") from exc
                parts.append(regex)
            if not parts:
                raise r.error(w, "需要 phrases 或 regex", "needs `phrases` or `regex`")
            overrides.append(Override(
                name=r.get(o, "name", w, "str", None) or (o.get("phrases") or [regex])[0],
                code=r.get(o, "code", w, "str"), pattern="|".join(f"(?:{p})" for p in parts),
                over_source=r.get(o, "over_source", w, "bool", False), why=r.get(o, "why", w, "str", ""),
            ))

        request_types = []
        for i, t in enumerate(r.get(top, "request_type", "", "tables", [])):
            w = f"request_type[{i}]"
            t = r.table(t, w, _REQUEST_TYPE_KEYS)
            label = r.get(t, "label", w, "str")
            request_types.append(RequestType(
                label=label, name_en=r.get(t, "name_en", w, "str"),
                aliases=(label, *r.get(t, "aliases", w, "strs", ())),
                reply_days=r.get(t, "reply_days", w, "days", default_days),
                complex_reply_days=r.get(t, "complex_reply_days", w, "days", complex_days),
            ))

        return cls(
            categories=tuple(categories), precedence=r.get(top, "precedence", "", "strs"),
            overrides=tuple(overrides), request_types=tuple(request_types),
            fallback=r.get(top, "fallback", "", "str", "OTHER"), default_reply_days=default_days,
            default_complex_reply_days=complex_days, name=r.get(top, "name", "", "str", ""), source=source,
        )

    def _check(self) -> None:
        """Cross-checks that make a table unusable or silently wrong: raise ConfigError."""
        r = _Reader(self.source)
        if not self.categories:
            raise r.error("category", "至少需要一个类别", "at least one [[category]] is needed")
        codes = [c.code for c in self.categories]
        for i, c in enumerate(codes):
            if c in codes[:i]:
                raise r.error(f"category[{i}].code", f"代码 {c} 重复", f"duplicate code {c}")
        if self.fallback not in codes:
            raise r.error("fallback", f"{self.fallback} 不是已定义的类别",
                          f"{self.fallback} is not a category")
        ranked = [c for c in codes if c != self.fallback]
        for p in self.precedence:
            if p not in ranked or list(self.precedence).count(p) > 1:
                raise r.error("precedence", f"{p} 未定义、重复或为兜底类别",
                              f"{p} is unknown, repeated or the fallback; categories: {', '.join(ranked)}")
        missing = [c for c in ranked if c not in self.precedence]
        if missing:
            raise r.error("precedence", f"缺少 {', '.join(missing)}", f"missing {', '.join(missing)}")
        seen_kw: dict[str, str] = {}
        seen_src: dict[str, str] = {}
        for i, c in enumerate(self.categories):
            if c.code == self.fallback and c.keywords:
                raise r.error(f"category[{i}].keywords", "兜底类别的关键词不会被使用",
                              "keywords of the fallback category are never used")
            for kind, values, seen in (("keywords", c.keywords, seen_kw),
                                       ("source_categories", c.source_categories, seen_src)):
                for v in values:
                    k = normalize_literal(v)
                    if seen.get(k, c.code) != c.code:
                        raise r.error(f"category[{i}].{kind}", f"“{v}” 同时属于 {seen[k]} 和 {c.code}",
                                      f"{v!r} is listed under both {seen[k]} and {c.code}")
                    seen[k] = c.code
        for i, o in enumerate(self.overrides):
            if o.code not in codes:
                raise r.error(f"override[{i}].code", f"未知类别 {o.code}", f"unknown category {o.code}")
            if re.search(o.pattern, ""):
                raise r.error(f"override[{i}]", "规则匹配空文本，会吞掉所有诉求",
                              "pattern matches empty text and would catch every request")
        seen_alias: dict[str, str] = {}
        for i, t in enumerate(self.request_types):
            for a in t.aliases:
                k = normalize_literal(a).removesuffix("类")
                if seen_alias.get(k, t.label) != t.label:
                    raise r.error(f"request_type[{i}].aliases", f"别名“{a}”同时属于 {seen_alias[k]}",
                                  f"alias {a!r} also belongs to {seen_alias[k]}")
                seen_alias[k] = t.label
        self._log_shadowed()

    def _log_shadowed(self) -> None:
        # A keyword containing a keyword of an earlier category can never decide anything.
        earlier: list[tuple[str, str]] = []
        for code in self.precedence:
            kws = [normalize_literal(k) for k in self._by_code[code].keywords]
            for k in kws:
                hit = next(((e, ec) for e, ec in earlier if e in k), None)
                if hit:
                    log.warning("taxonomy %s: keyword %r of %s never wins: it contains %r of %s",
                                self.source, k, code, hit[0], hit[1])
            earlier.extend((k, code) for k in kws)

    # ------------------------------------------------------------------ lookups
    @cached_property
    def _by_code(self) -> dict[str, Category]:
        return {c.code: c for c in self.categories}

    @cached_property
    def _code_lookup(self) -> dict[str, str]:
        out = {}
        for c in self.categories:
            for key in (c.name_en, c.name_zh, c.code):
                out[normalize_literal(key)] = c.code
        return out

    @cached_property
    def _source_lookup(self) -> dict[str, tuple[str, str]]:
        return {normalize_literal(s): (c.code, s) for c in self.categories for s in c.source_categories}

    @cached_property
    def _keyword_rules(self) -> list[tuple[str, str, dict[str, str]]]:
        rules = []
        for code in self.precedence:
            originals = {normalize_literal(k): k for k in self._by_code[code].keywords}
            if originals:
                # Longest first so the audit names 飞线充电 rather than a shorter keyword inside it.
                alternation = "|".join(re.escape(k) for k in sorted(originals, key=len, reverse=True))
                rules.append((code, alternation, originals))
        return rules

    @cached_property
    def _alias_lookup(self) -> dict[str, str]:
        return {normalize_literal(a).removesuffix("类"): t.label
                for t in self.request_types for a in t.aliases}

    def codes(self) -> list[str]:
        """Category codes in file order (fallback included)."""
        return [c.code for c in self.categories]

    def get(self, code: str) -> Category:
        """The category with this code (case-insensitive, or its zh/en name)."""
        return self._by_code[self.check_codes([code])[0]]

    def check_codes(self, codes: Iterable[str], field: str = "category") -> list[str]:
        """Canonical codes for user input (any case, or a zh/en name); unknown → InvalidInputError."""
        out = []
        for raw in codes:
            code = self._code_lookup.get(normalize_literal(str(raw)))
            if code is None:
                listed = ", ".join(f"{c.code}（{c.name_zh}）" for c in self.categories)
                raise InvalidInputError(
                    f"未知的诉求类别 {raw!r}，可选：{listed} / unknown category {raw!r}; known: {listed}",
                    field=field,
                )
            out.append(code)
        return out

    # ------------------------------------------------------------------ classification
    def map_source_categories(self, labels: pd.Series) -> pd.DataFrame:
        """Categories from source-system labels alone (NA where the label does not map).

        The whole label is tried first, then the most specific mapped level of a hierarchical
        label ("城乡建设/物业管理/电梯" → 物业管理 if 电梯 is not listed).
        """
        labels = _series(labels, "source_category")
        positions, uniques = pd.factorize(labels.astype("str").str.normalize("NFKC").str.lower())
        uniques = pd.Series(uniques, dtype="str")
        known = list(self._source_lookup)
        key = uniques.str.replace(_BLANKS, "", regex=True)
        key = key.where(key.isin(known))
        if key.isna().any():
            parts = uniques[key.isna()].str.split(_LEVEL_SEP, regex=True).explode()
            part_key = parts.str.replace(_BLANKS, "", regex=True)
            key = key.fillna(part_key[part_key.isin(known)].groupby(level=0).last())
        code = key.map({k: v[0] for k, v in self._source_lookup.items()})
        rule = "source:" + key.map({k: v[1] for k, v in self._source_lookup.items()})
        take = np.where(positions < 0, len(uniques), positions)  # index past the end → NA
        code_arr = np.append(code.to_numpy(dtype=object), None)[take]
        rule_arr = np.append(rule.to_numpy(dtype=object), None)[take]
        return pd.DataFrame({"category": pd.Series(code_arr, dtype="str", index=labels.index),
                             "category_rule": pd.Series(rule_arr, dtype="str", index=labels.index)})

    def classify(
        self,
        texts: pd.Series,
        source_categories: pd.Series | None = None,
        *,
        before_keywords: Callable[[pd.Series], pd.DataFrame] | None = None,
    ) -> pd.DataFrame:
        """Columns ``category`` (code) and ``category_rule`` (audit), on the index of ``texts``.

        ``source_categories`` is matched by position (same length as ``texts``). ``before_keywords``
        gets the normalised still-undecided texts and returns a frame with the same index and the
        two result columns (NA = undecided); it runs after overrides and before keywords.
        """
        texts = _series(texts, "text")
        norm = normalize_text(texts).reset_index(drop=True).fillna("")
        n = len(norm)
        cat = np.full(n, None, dtype=object)
        rule = np.full(n, None, dtype=object)
        todo = np.ones(n, dtype=bool)

        def settle(pos: np.ndarray, codes: Any, rules: Any) -> None:
            cat[pos], rule[pos], todo[pos] = codes, rules, False

        def run_overrides(over_source: bool) -> None:
            for o in self.overrides:
                idx = np.flatnonzero(todo)
                if o.over_source == over_source and idx.size:
                    hit = norm.iloc[idx].str.match(_search(o.pattern)).to_numpy(dtype=bool)
                    settle(idx[hit], o.code, f"override:{o.name}")

        run_overrides(True)
        if source_categories is not None:
            labels = _series(source_categories, "source_category")
            if len(labels) != n:
                raise InvalidInputError(
                    f"来源分类有 {len(labels)} 行，诉求内容有 {n} 行 / source_categories has "
                    f"{len(labels)} rows but texts has {n}", field="source_category")
            idx = np.flatnonzero(todo)
            found = self.map_source_categories(labels.iloc[idx])
            ok = found["category"].notna().to_numpy()
            settle(idx[ok], found["category"].to_numpy(dtype=object)[ok],
                   found["category_rule"].to_numpy(dtype=object)[ok])
        run_overrides(False)
        if before_keywords is not None and todo.any():
            idx = np.flatnonzero(todo)
            extra = before_keywords(norm.iloc[idx])
            ok = extra["category"].notna().to_numpy()
            settle(idx[ok], extra["category"].to_numpy(dtype=object)[ok],
                   extra["category_rule"].to_numpy(dtype=object)[ok])
        for code, alternation, originals in self._keyword_rules:
            idx = np.flatnonzero(todo)
            if not idx.size:
                break
            sub = norm.iloc[idx]
            hit = sub.str.match(_search(alternation)).to_numpy(dtype=bool)
            if hit.any():
                word = sub[hit].str.extract(f"({alternation})", expand=False).map(originals)
                settle(idx[hit], code, (f"keyword:{code}:" + word.astype("str")).to_numpy(dtype=object))
        settle(np.flatnonzero(todo), self.fallback, f"fallback:{self.fallback}")
        return pd.DataFrame({"category": pd.Series(cat, dtype="str", index=texts.index),
                             "category_rule": pd.Series(rule, dtype="str", index=texts.index)})

    # ------------------------------------------------------------------ request types
    def normalize_request_types(self, values: pd.Series) -> pd.Series:
        """Aliases ("投诉类", "Complaint", "反映") → canonical zh label; unknown or empty → NA."""
        key = normalize_text(_series(values, "request_type")).str.removesuffix("类")
        return key.map(self._alias_lookup).astype("str")

    def reply_days(self, request_types: pd.Series, complex_case: pd.Series | bool = False) -> pd.Series:
        """Reply deadline in working days per request (unknown type → the table's default)."""
        types = self.normalize_request_types(request_types)
        simple = types.map({t.label: t.reply_days for t in self.request_types}).fillna(
            self.default_reply_days)
        hard = types.map({t.label: t.complex_reply_days for t in self.request_types}).fillna(
            self.default_complex_reply_days)
        flag = np.broadcast_to(np.asarray(complex_case, dtype=bool), (len(types),))
        return pd.Series(np.where(flag, hard, simple).astype(np.int64), index=types.index, name="reply_days")


def _series(values: Any, field: str) -> pd.Series:
    if isinstance(values, pd.Series):
        return values
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InvalidInputError(f"{field} 应为一列值 / {field} must be a column of values", field=field)
    return pd.Series(list(values), dtype=object)
