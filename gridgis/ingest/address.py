"""Chinese address normalisation: one canonical spelling per place so gazetteer look-ups can be exact.

Residents write the same place many ways: full-width digits, 三栋 / 3幢 / 3号楼, a leading
四川省成都市武侯区 or none, 附近 / 门口 / 楼下 noise. Addresses and gazetteer names go through the same
:func:`normalize_addresses`, so what matters is that variants converge, not that the output is pretty.

Chinese numerals are converted only when an address unit follows (号 栋 单元 楼 层 室 期 段 环 街 …):
三栋 → 3栋, 二十一号楼 → 21栋, 一环路 → 1环路, 天府三街 → 天府3街, but place names such as 九眼桥,
一品天下, 两路口 or 第一中学 keep their characters (both spellings of a ring road still meet, because
3环路 and 三环路 both become 3环路).

The work is done on the unique values of a Series with pandas' vectorized ``.str`` methods; only the
numeral conversion calls back into Python per match, through a dictionary cache.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np
import pandas as pd
from pypinyin import Style, lazy_pinyin

# Units after which a number is an address number.
_UNITS = "号楼|号院|号|栋|幢|座|单元|楼|层|室|户|期|段|环|街|巷|弄|组|排|门"
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_CN_MULT = {"十": 10, "百": 100, "千": 1000}
_CN_NUM = re.compile(rf"第?([零〇一二两三四五六七八九十百千]+)(?=(?:{_UNITS}))")
_ORDINAL = re.compile(rf"第(\d+)(?=(?:{_UNITS}))")
_HASH_BUILDING = r"([0-9a-z]+)#(?:楼)?"
_DASHES = r"[\u2010-\u2015\u2212\u301c~]"
# Everything that is not a letter, digit or Han character; "-" survives between digits (12-3号).
_PUNCT = r"[^\w-]|_"
_LONE_DASH = r"(?<!\d)-|-(?!\d)"
_BUILDING = r"([0-9a-z]+)(?:号楼|号幢|号栋|号座|幢|座|栋)楼*"
_UNIT_NO = r"(\d+)号单元"
_COMPOUND = r"(\d+)号院"
# Noise words that say "near" rather than "where"; 处 only at the end and never in 办事处.
# 楼下 after 3号/3栋 keeps its 楼 (3号楼下 → 3号楼 → 3栋).
_NOISE = (r"附近|旁边|对面|门口|周边|这边|那边|里面|一带|边上"
          r"|(?<![号栋幢座])楼下|(?<=[号栋幢座]楼)下|(?<=[栋幢座])下|(?<!办事)处$")
_ADMIN_SUFFIX = re.compile(r"(?:省|市|自治州|地区|盟|区|县|旗)$")
# Tokens: a number and the unit after it; 号/栋/座/楼 are one class because residents mix them.
_NUMBER_TOKEN = re.compile(r"(\d+(?:-\d+)*)(单元|号|栋|楼|层|室|户|期|段|环|街|巷|弄|组|排|门)?")
_UNIT_CLASS = {"号": "栋", "楼": "栋"}


def _cn_to_int(text: str) -> int:
    """三 → 3, 十二 → 12, 二十一 → 21, 一百零五 → 105, 三〇一 → 301 (digit by digit when no 十百千)."""
    if not any(c in _CN_MULT for c in text):
        return int("".join(str(_CN_DIGITS[c]) for c in text))
    total, current, last_mult, last_digit = 0, 0, 10_000, False
    for c in text:
        if c in _CN_MULT:
            if _CN_MULT[c] >= last_mult:  # 十十, 十百: not a numeral
                raise ValueError(text)
            total += (current or 1) * _CN_MULT[c]
            current, last_mult, last_digit = 0, _CN_MULT[c], False
        else:
            if last_digit and c not in "零〇":  # 二三十: not a numeral
                raise ValueError(text)
            current, last_digit = _CN_DIGITS[c], c not in "零〇"
    return total + current


@lru_cache(maxsize=4096)
def _cn_numeral(text: str) -> str:
    try:
        return str(_cn_to_int(text))
    except (KeyError, ValueError):  # malformed like 十十: leave it as written
        return text


def _replace_numeral(match: re.Match) -> str:
    return _cn_numeral(match.group(1))


def _prefix_pattern(province: str | None, city: str | None, district: str | None) -> str | None:
    parts = []
    for value in (province, city, district):
        if not value:
            continue
        clean = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value)))
        core = _ADMIN_SUFFIX.sub("", clean)
        # Configured without its suffix (成都), the address still needs one (成都市): a bare 成都 or
        # 武侯 also starts place names (成都花园, 武侯祠) that must not lose their first characters.
        alt = re.escape(clean) if clean != core else re.escape(core) + "(?:省|市|区|县)"
        parts.append(f"(?:{alt})?")
    return "^" + "".join(parts) if parts else None


def normalize_addresses(
    values: pd.Series,
    *,
    province: str | None = None,
    city: str | None = None,
    district: str | None = None,
) -> pd.Series:
    """Canonical spelling of each address, aligned to ``values``; missing stays missing.

    ``province``/``city``/``district`` are the deployment's: a leading 四川省成都市武侯区 (any of them,
    in that order) is dropped so that it and a bare 玉林北路12号 normalise alike. Other prefixes stay.
    """
    s = pd.Series(values, copy=False)
    if s.empty:
        return pd.Series([], index=s.index, dtype="str", name=s.name)
    codes, uniques = pd.factorize(s.astype("str"), use_na_sentinel=True)
    prefix = _prefix_pattern(province, city, district)
    u = _normalize_once(pd.Series(uniques, dtype="str"), prefix)
    changed = u.to_numpy(dtype=object) != np.asarray(uniques, dtype=object)
    # One pass can uncover another form (第第一栋 → 第1栋 → 1栋): repeat on what changed until stable,
    # so that normalising a normalised address changes nothing.
    for _ in range(4):
        if not changed.any():
            break
        idx = np.flatnonzero(changed)
        again = _normalize_once(u.iloc[idx].reset_index(drop=True), prefix)
        changed = np.zeros(len(u), dtype=bool)
        changed[idx] = again.to_numpy(dtype=object) != u.iloc[idx].to_numpy(dtype=object)
        u.iloc[idx] = again.to_numpy(dtype=object)
    out = np.append(u.to_numpy(dtype=object), None)[codes]  # code -1 (missing) picks the appended None
    return pd.Series(out, index=s.index, dtype="str", name=s.name)


def _normalize_once(u: pd.Series, prefix: str | None) -> pd.Series:
    u = u.str.normalize("NFKC").str.lower()
    u = u.str.replace(_HASH_BUILDING, r"\1栋", regex=True)
    u = u.str.replace(_DASHES, "-", regex=True)
    u = u.str.replace(_PUNCT, "", regex=True)
    u = u.str.replace(_LONE_DASH, "", regex=True)
    u = u.str.replace(_NOISE, "", regex=True)  # before numerals: 一号门口 → 一号 → 1号
    u = u.str.replace(_CN_NUM, _replace_numeral, regex=True)
    u = u.str.replace(_ORDINAL, r"\1", regex=True)
    u = u.str.replace(_BUILDING, r"\1栋", regex=True)
    u = u.str.replace(_UNIT_NO, r"\1单元", regex=True)
    u = u.str.replace(_COMPOUND, r"\1号", regex=True)
    if prefix:
        u = u.str.replace(prefix, "", regex=True)
    return u


def admin_core(values: pd.Series) -> pd.Series:
    """Administrative names without their suffix (成都市 → 成都, 武侯区 → 武侯), to compare like with like."""
    s = pd.Series(values, copy=False).astype("str").str.normalize("NFKC").str.replace(r"\s+", "", regex=True)
    return s.str.replace(_ADMIN_SUFFIX.pattern, "", regex=True)


def number_tokens(normalized: str) -> frozenset[tuple[str, str]]:
    """The (number, unit class) pairs of a normalised address, e.g. 锦城花园3栋2单元 → {(3, 栋), (2, 单元)}.

    A bare number (no unit after it) is kept with unit ``"?"``, which any unit may claim.
    """
    return frozenset(
        (m.group(1), _UNIT_CLASS.get(m.group(2), m.group(2)) if m.group(2) else "?")
        for m in _NUMBER_TOKEN.finditer(normalized)
    )


def numbers_compatible(name_tokens: frozenset, address_tokens: frozenset) -> bool:
    """True when every number of a gazetteer name appears in the address with the same unit (or none)."""
    return all((n, u) in address_tokens or (n, "?") in address_tokens for n, u in name_tokens)


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SOUND: dict[int, str] = {}  # Han code point → one private-use character per toneless syllable
_SYLLABLES: dict[str, str] = {}


def phonetic_keys(normalized: pd.Series) -> pd.Series:
    """Sound-alike spelling: every Han character becomes one character standing for its toneless syllable.

    Most typos in residents' text come from pinyin input methods and are homophones (锦城花圆 for
    锦城花园, 锦成 for 锦城), which have the same phonetic key. One character per syllable keeps edit
    distances counted in syllables (a different syllable costs as much as a different character).
    Each character takes its first reading: the same on both sides, which is all matching needs.
    Other characters (digits, latin) stay as they are.
    """
    s = pd.Series(normalized, copy=False).astype("str")
    new = sorted({c for c in _HAN.findall("".join(s.dropna().unique())) if ord(c) not in _SOUND})
    if new:
        for char, syllable in zip(new, lazy_pinyin(new, style=Style.NORMAL), strict=True):
            code = _SYLLABLES.setdefault(syllable, chr(0xE000 + len(_SYLLABLES)))  # Unicode private use
            _SOUND[ord(char)] = code
    return s.str.translate(_SOUND)


def strip_numbers(normalized: pd.Series, marker: str = "") -> pd.Series:
    """The words of an address without its numbers and their units (锦城花园3栋2单元 → 锦城花园).

    Fuzzy scores compare words only: numbers are checked exactly (:func:`numbers_compatible`), so a
    wrong building number can never pass as a near-miss of the right one.
    """
    return pd.Series(normalized, copy=False).astype("str").str.replace(_NUMBER_TOKEN.pattern, marker,
                                                                         regex=True)
