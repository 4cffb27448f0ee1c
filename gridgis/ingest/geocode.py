"""Offline gazetteer geocoder: normalised address → exact, fuzzy or fallback match, with level and score.

No internet in a government intranet, so addresses are matched against a local gazetteer of door plates,
buildings, 小区, 社区 and 街道 (CSV in UTF-8/GBK or GeoJSON points, any CRS). Per unique normalised
address (cached across calls):

1. exact: every gazetteer name or alias contained in the address (Aho-Corasick, pyahocorasick);
2. fuzzy: for addresses without an exact match at a fine level, candidates that share character or
   pinyin-syllable bigrams (an idf-weighted sparse index from scikit-learn) are scored with rapidfuzz on
   characters and on pinyin, the latter because residents' typos are mostly homophones (锦城花圆);
   a name's numbers (3栋, 12号) must appear in the address, so 5栋 never fuzzily becomes 3栋;
3. the finest level that names one place wins (door > building > estate > community > street);
   community/street are centroid fallbacks with a lower score, never reported at a finer level;
4. two different places with the same best score at one level are disambiguated by the 社区/街道
   written in the address; otherwise the address falls back to a 社区/街道 it names, or is "ambiguous"
   with no coordinates rather than a guess.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import ahocorasick
import numpy as np
import pandas as pd
import scipy.sparse as sp
from rapidfuzz import fuzz, process
from sklearn.feature_extraction.text import TfidfVectorizer

from gridgis.errors import InvalidInputError
from gridgis.ingest.address import (
    normalize_addresses,
    number_tokens,
    numbers_compatible,
    phonetic_keys,
    strip_numbers,
)
from gridgis.ingest.gazetteer import LEVELS, PART_COLUMNS, Gazetteer

# Re-exported: callers import the gazetteer from here.
__all__ = ["FALLBACK_FACTOR", "LEVELS", "PART_COLUMNS", "PINYIN_PENALTY", "Gazetteer", "Geocoder"]

log = logging.getLogger(__name__)

_RANK = {level: rank for rank, level in enumerate(LEVELS)}
# A centroid fallback is only as good as the area is small.
FALLBACK_FACTOR = {"community": 0.6, "street": 0.4}
PINYIN_PENALTY = 10.0  # a homophone is likely the same place, but less sure than the same characters
_CANDIDATES_PER_ADDRESS = 20
_MIN_SHARED = 0.2  # idf-weighted share of a name's bigrams an address must contain to be scored
_COMMON_MIN, _COMMON_SHARE = 50, 0.01
_CACHE_LIMIT = 500_000
_CONTEXT_SUFFIX = r"(?:社区居委会|居委会|社区|村委会|村|街道办事处|办事处|街道|镇|乡)$"


class Geocoder:
    """Geocodes address strings against a :class:`Gazetteer`; results are cached per normalised address."""

    def __init__(
        self,
        gazetteer: Gazetteer,
        *,
        fuzzy_threshold: float = 80.0,
        city: str | None = None,
        district: str | None = None,
    ) -> None:
        if not 0 <= fuzzy_threshold <= 100:
            raise InvalidInputError(
                f"模糊匹配阈值须在 0–100 之间 / fuzzy_threshold must be 0–100, got {fuzzy_threshold}",
                field="fuzzy_threshold",
            )
        if city or district:
            gazetteer = Gazetteer.from_frame(gazetteer.entries.drop(columns="norm_name"),
                                             city=city, district=district)
        self.gazetteer = gazetteer
        self.fuzzy_threshold = float(fuzzy_threshold)
        self._admin = {"province": gazetteer.province, "city": gazetteer.city, "district": gazetteer.district}
        self._cache: dict[str, tuple] = {}
        self.cache_hits = 0
        self._build_index(gazetteer.entries)

    # -- index -------------------------------------------------------------------------------------
    def _build_index(self, e: pd.DataFrame) -> None:
        self._rank = e["level"].map(_RANK).to_numpy(dtype=np.int64)
        self._name = e["name"].to_numpy(dtype=object)
        self._lng = e["lng"].to_numpy(dtype=float)
        self._lat = e["lat"].to_numpy(dtype=float)
        self._context = self._context_names(e)
        aliases = e["aliases"].str.split("|").explode().dropna().astype("str").str.strip()
        aliases = pd.DataFrame({"entry": aliases.index.to_numpy(), "key": self.normalize(aliases).to_numpy()})
        keys = pd.concat([
            pd.DataFrame({"entry": np.arange(len(e)), "key": e["norm_name"].to_numpy()}),
            aliases,
            self._alias_buildings(e, aliases),
        ])
        # A key needs two letters or Han characters: "3栋" alone would match every estate's building 3.
        usable = keys["key"].str.count(r"[^\d\-]") >= 2
        if (~usable).any():
            log.info("gazetteer: %d names/aliases too short to match on their own", int((~usable).sum()))
        keys = keys[usable].drop_duplicates()
        if keys.empty:
            raise InvalidInputError(
                "地名库中没有可用于匹配的名称（至少两个汉字或字母）/ "
                "the gazetteer has no name of at least two letters or Han characters to match on",
                field="name",
            )
        kid, strings = pd.factorize(keys["key"])
        order = np.argsort(kid, kind="stable")
        self._key_entries = keys["entry"].to_numpy()[order]
        self._key_ptr = np.searchsorted(kid[order], np.arange(len(strings) + 1))
        self._keys = np.asarray(strings, dtype=object)
        self._key_len = np.fromiter((len(k) for k in self._keys), dtype=np.int64, count=len(self._keys))
        self._key_rank = np.minimum.reduceat(self._rank[self._key_entries], self._key_ptr[:-1])
        self._key_numbers = [number_tokens(k) for k in self._keys]
        self._automaton = ahocorasick.Automaton()
        for i, k in enumerate(self._keys):
            self._automaton.add_word(k, i)
        self._automaton.make_automaton()
        key_series = pd.Series(self._keys, dtype="str")
        self._key_words = strip_numbers(key_series).to_numpy(dtype=object)
        self._key_words_sound = phonetic_keys(pd.Series(self._key_words, dtype="str")).to_numpy(dtype=object)
        # Candidate index: character bigrams catch most typos, bigrams of the phonetic key survive
        # homophone typos intact; idf weights let a rare bigram count for more than 花园 or 小区.
        self._vec_char = TfidfVectorizer(analyzer="char", ngram_range=(2, 2), lowercase=False, binary=True,
                                         norm=None)
        self._vec_sound = TfidfVectorizer(analyzer="char", ngram_range=(2, 2), lowercase=False, binary=True,
                                          norm=None)
        weighted = sp.hstack([self._vec_char.fit_transform(key_series),
                              self._vec_sound.fit_transform(phonetic_keys(key_series))]).tocsr()
        self._key_weight = np.asarray(weighted.sum(axis=1)).ravel()
        # Bigrams in more than 1 % of names (小区, 花园, 1栋) only count in the denominator: as join keys
        # they would pair every address with thousands of names.
        df = np.diff(weighted.tocsc().indptr)
        rare = sp.diags((df <= max(_COMMON_MIN, _COMMON_SHARE * len(self._keys))).astype(float))
        self._index_t = (weighted @ rare).T.tocsr()

    def _alias_buildings(self, e: pd.DataFrame, aliases: pd.DataFrame) -> pd.DataFrame:
        """Keys for buildings under an estate's aliases: 锦城小区3栋 when 锦城小区 is 锦城花园's alias."""
        is_estate = (e["level"] == "estate").to_numpy()
        estate_alias = aliases[is_estate[aliases["entry"].to_numpy()]]
        estate_alias = estate_alias.assign(
            estate=e["norm_name"].to_numpy()[estate_alias["entry"].to_numpy()],
            e_comm=e["community"].to_numpy()[estate_alias["entry"].to_numpy()],
        ).drop(columns="entry")
        inner = pd.DataFrame({
            "entry": np.arange(len(e)), "name": e["norm_name"].to_numpy(),
            "estate": self.normalize(e["estate"]).to_numpy(), "comm": e["community"].to_numpy(),
        })[~is_estate & e["estate"].notna().to_numpy()]
        pairs = inner.merge(estate_alias, on="estate")
        # Same-named estates in two 社区: an alias belongs to the one in the building's own 社区.
        pairs = pairs[pairs["comm"].isna() | pairs["e_comm"].isna() | (pairs["comm"] == pairs["e_comm"])]
        named = list(zip(pairs["name"], pairs["estate"], strict=True))
        starts = np.fromiter((n.startswith(est) for n, est in named), dtype=bool, count=len(named))
        tail = pd.Series([n[len(est):] for n, est in named], index=pairs.index, dtype="str")[starts]
        pairs = pairs[starts]
        return pd.DataFrame({"entry": pairs["entry"].to_numpy(), "key": (pairs["key"] + tail).to_numpy()})

    def _context_names(self, e: pd.DataFrame) -> list[np.ndarray]:
        """Per entry, the names an address may use to single it out: 社区 full, 街道 full, 社区 core,
        街道 core (玉林社区, 玉林街道, 玉林, 玉林) — from the finest, surest hint to the loosest."""
        full = [self.normalize(e[col]) for col in ("community", "subdistrict")]
        core = [f.str.replace(_CONTEXT_SUFFIX, "", regex=True) for f in full]
        return [c.where(c.str.len() >= 2).to_numpy(dtype=object) for c in (*full, *core)]

    def normalize(self, values: pd.Series) -> pd.Series:
        """The deployment's :func:`normalize_addresses` (its own province/city/district prefixes dropped)."""
        return normalize_addresses(values, **self._admin)

    @property
    def cache_size(self) -> int:
        return len(self._cache)

    # -- public ------------------------------------------------------------------------------------
    def geocode(self, addresses: pd.Series) -> pd.DataFrame:
        """Locate each address; the result is aligned to ``addresses``.

        Columns: lng, lat (WGS84, NaN when unmatched/ambiguous), level (door/building/estate/community/
        street or missing), score (0–100, 100 = exact), matched (gazetteer name; the candidates when
        ambiguous), method (exact, fuzzy, fallback, ambiguous or unmatched).
        """
        addresses = pd.Series(addresses, copy=False)
        norm = self.normalize(addresses)
        codes, uniques = pd.factorize(norm)
        uniques = [str(u) for u in uniques]
        todo = [u for u in uniques if u not in self._cache]
        self.cache_hits += len(uniques) - len(todo)
        if todo:
            if len(self._cache) + len(todo) > _CACHE_LIMIT:
                self._cache.clear()
            self._cache.update(zip(todo, self._resolve(todo), strict=True))
        rows = [self._cache[u] for u in uniques] + [(-1, None, 0.0, "unmatched", None)]
        entry, level, score, method, matched = (np.asarray(c, dtype=object) for c in zip(*rows, strict=True))
        entry = entry.astype(np.int64)[codes]  # code -1 (missing address) picks the appended unmatched row
        found = entry >= 0
        lng = np.where(found, self._lng[np.where(found, entry, 0)], np.nan)
        lat = np.where(found, self._lat[np.where(found, entry, 0)], np.nan)
        return pd.DataFrame(
            {
                "lng": lng,
                "lat": lat,
                "level": pd.Series(level[codes], dtype="str").to_numpy(),
                "score": score[codes].astype(float),
                "matched": pd.Series(matched[codes], dtype="str").to_numpy(),
                "method": pd.Series(method[codes], dtype="str").to_numpy(),
            },
            index=addresses.index,
        )

    # -- matching ----------------------------------------------------------------------------------
    def _resolve(self, norms: list[str]) -> list[tuple]:
        exact = self._exact(norms)
        best = np.full(len(norms), len(LEVELS), dtype=np.int64)
        np.minimum.at(best, exact["q"].to_numpy(), exact["rank"].to_numpy())
        whole = exact[exact["whole"] & (exact["rank"] == best[exact["q"].to_numpy()])]["q"].unique()
        # Fuzzy only looks for something finer than the exact match (nothing is finer than a door,
        # and an address that is exactly a name needs no second opinion).
        # A 社区/街道 must be named exactly to be a fallback: only door/building/estate are fuzzy; and an
        # exact door or building is specific enough (a building address does not also hold a door plate).
        finer_than = np.minimum(best, _RANK["community"])
        need = np.flatnonzero(finer_than >= _RANK["estate"])
        need = need[~np.isin(need, whole)]
        fuzzy = self._fuzzy([norms[i] for i in need], finer_than[need])
        if len(fuzzy):
            fuzzy["q"] = need[fuzzy["q"].to_numpy()]
        cands = pd.concat([exact.drop(columns="whole"), fuzzy], ignore_index=True)
        return self._choose(norms, cands)

    def _exact(self, norms: list[str]) -> pd.DataFrame:
        q_idx, kids, whole = [], [], []
        for qi, text in enumerate(norms):
            n = len(text)
            for end, kid in self._automaton.iter(text):
                start = end - self._key_len[kid] + 1
                # 玉林北路2号 is not inside 玉林北路12号: a key may not cut a number in two.
                if (start > 0 and text[start].isdigit() and text[start - 1].isdigit()) or (
                    end + 1 < n and text[end].isdigit() and text[end + 1].isdigit()
                ):
                    continue
                q_idx.append(qi)
                kids.append(kid)
                whole.append(start == 0 and end == n - 1)
        pairs = pd.DataFrame({"q": np.asarray(q_idx, dtype=np.int64), "kid": np.asarray(kids, dtype=np.int64),
                              "whole": np.asarray(whole, dtype=bool), "score": 100.0, "method": "exact"})
        return self._expand(pairs)

    def _expand(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """One row per (address, gazetteer entry) from rows per (address, key)."""
        kid = pairs["kid"].to_numpy()
        counts = self._key_ptr[kid + 1] - self._key_ptr[kid]
        rep = np.repeat(np.arange(len(pairs)), counts)
        offset = np.arange(len(rep)) - np.repeat(np.cumsum(counts) - counts, counts)
        out = pairs.iloc[rep].reset_index(drop=True)
        out["entry"] = self._key_entries[self._key_ptr[kid[rep]] + offset]
        out["rank"] = self._rank[out["entry"].to_numpy()]
        out["klen"] = self._key_len[out["kid"].to_numpy()]
        return out

    def _fuzzy(self, texts: list[str], finer_than: np.ndarray) -> pd.DataFrame:
        empty = pd.DataFrame({"q": [], "kid": [], "score": [], "method": []}).astype(
            {"q": np.int64, "kid": np.int64, "score": float, "method": "str"})
        if not texts:
            return self._expand(empty)
        series = pd.Series(texts, dtype="str")
        query = sp.hstack([self._vec_char.transform(series),
                           self._vec_sound.transform(phonetic_keys(series))]).tocsr()
        query.data[:] = 1.0
        shared = (query @ self._index_t).tocoo()
        q, kid = shared.row.astype(np.int64), shared.col.astype(np.int64)
        share = shared.data / self._key_weight[kid]
        keep = (share >= _MIN_SHARED) & (self._key_rank[kid] < finer_than[q])
        q, kid, share = q[keep], kid[keep], share[keep]
        order = np.lexsort((-share, q))
        q, kid = q[order], kid[order]
        first = np.r_[True, q[1:] != q[:-1]] if len(q) else np.zeros(0, dtype=bool)
        pos = np.arange(len(q)) - np.maximum.accumulate(np.where(first, np.arange(len(q)), 0))
        top = pos < _CANDIDATES_PER_ADDRESS
        q, kid = q[top], kid[top]
        q_numbers = {i: number_tokens(texts[i]) for i in np.unique(q)}
        ok = np.fromiter((numbers_compatible(self._key_numbers[k], q_numbers[i]) for i, k in zip(q, kid,
                          strict=True)), dtype=bool, count=len(q))
        q, kid = q[ok], kid[ok]
        if not len(q):
            return self._expand(empty)
        # Words only (numbers were checked above); a marker where a number was keeps 玉林北路 and the
        # next name from running together, and pads the ends so a name cannot hang over them.
        words = ("\x00" + strip_numbers(series, marker="\x00") + "\x00").to_numpy(dtype=object)
        words_sound = phonetic_keys(pd.Series(words, dtype="str")).to_numpy(dtype=object)
        chars = _similarity(words[q], self._key_words[kid])
        # A sound-alike is worth a little less the more its characters differ, so 锦城花圆 prefers
        # 锦城花园 (one character off) to its homophone twin 金城花园 (two off).
        sound = _similarity(words_sound[q], self._key_words_sound[kid]) - PINYIN_PENALTY * (1 - chars / 100)
        score = np.maximum(chars, sound)
        score = np.minimum(score, 99.0)  # 100 is reserved for exact matches
        keep = score >= self.fuzzy_threshold
        pairs = pd.DataFrame({"q": q[keep], "kid": kid[keep], "score": score[keep].round(1),
                              "method": "fuzzy"})
        out = self._expand(pairs)
        # A key shared by levels keeps only the entries finer than the exact match.
        return out[out["rank"].to_numpy() < finer_than[out["q"].to_numpy()]]

    def _choose(self, norms: list[str], cands: pd.DataFrame) -> list[tuple]:
        results: list[tuple] = [(-1, None, 0.0, "unmatched", None)] * len(norms)
        if cands.empty:
            return results
        cands = cands.sort_values(["q", "rank", "score", "klen"], ascending=[True, True, False, False])
        cands = cands.drop_duplicates(["q", "rank", "entry"])
        head = cands.groupby(["q", "rank"], sort=False)[["score", "klen"]].transform("first")
        top = cands[(cands["score"] == head["score"]) & (cands["klen"] == head["klen"])]
        size = top.groupby(["q", "rank"], sort=False)["entry"].transform("size")
        finest = top["rank"] == top.groupby("q", sort=False)["rank"].transform("min")
        # Usual case, vectorized: the finest level found names exactly one place.
        clear = top[finest & (size == 1)]
        for qi, entry, score, method in zip(clear["q"], clear["entry"], clear["score"], clear["method"],
                                            strict=True):
            results[qi] = self._result(entry, score, method)
        # Otherwise walk the levels from fine to coarse: the first that names one place wins.
        unclear = top[top["q"].isin(top.loc[finest & (size > 1), "q"])]
        for qi, group in unclear.groupby("q", sort=False):
            ambiguous = None
            for _, at_level in group.groupby("rank", sort=True):
                entries = at_level["entry"].to_numpy()
                if len(entries) > 1:
                    entries = self._disambiguate(norms[qi], entries, at_level["kid"].to_numpy())
                if len(entries) == 1:
                    row = at_level[at_level["entry"] == entries[0]].iloc[0]
                    results[qi] = self._result(entries[0], row["score"], row["method"])
                    break
                ambiguous = ambiguous or (float(at_level["score"].iloc[0]), entries)
            else:
                names = "|".join(self._label(e) for e in ambiguous[1])
                results[qi] = (-1, None, ambiguous[0], "ambiguous", names)
        return results

    def _disambiguate(self, text: str, entries: np.ndarray, kids: np.ndarray) -> np.ndarray:
        """Keep the one entry whose 社区 or 街道 the address names outside the matched name itself."""
        rest = text
        for k in set(self._keys[kids]):
            rest = rest.replace(k, "|")
        for i, context in enumerate(self._context):
            if i == 2:  # before the cores: 玉林街道 must not read as 玉林 (社区)
                for name in {n for ctx in self._context[:2] for n in ctx[entries] if isinstance(n, str)}:
                    rest = rest.replace(name, "|")
            hits = [e for e in entries if isinstance(context[e], str) and context[e] in rest]
            if len(hits) == 1:
                return np.asarray(hits)
        return entries

    def _result(self, entry: int, score: float, method: str) -> tuple:
        entry, score, method = int(entry), float(score), str(method)
        level = LEVELS[self._rank[entry]]
        if level in FALLBACK_FACTOR:
            score, method = round(score * FALLBACK_FACTOR[level], 1), "fallback"
        return (entry, level, score, method, self._name[entry])

    def _label(self, entry: int) -> str:
        where = next((c[entry] for c in self._context if isinstance(c[entry], str)), None)
        return f"{self._name[entry]}（{where}）" if where else str(self._name[entry])


def _similarity(texts: Iterable[str], keys: Iterable[str]) -> np.ndarray:
    """Pairwise 0–100: how well each name appears inside its address (every character of it counts).

    ``texts`` are padded with a marker at both ends, so rapidfuzz's partial_ratio cannot credit a name
    hanging over the start or end of the address (德盛广场 is not 怡盛广场 minus one character).
    A name longer than the address is compared whole: 锦城 alone is not 锦城花园.
    """
    texts, keys = list(texts), list(keys)
    partial = process.cpdist(texts, keys, scorer=fuzz.partial_ratio, workers=-1)
    whole = process.cpdist([t.strip("\x00") for t in texts], keys, scorer=fuzz.ratio, workers=-1)
    longer = np.fromiter((len(k) > len(t) - 2 for t, k in zip(texts, keys, strict=True)), dtype=bool,
                         count=len(keys))
    return np.where(longer, whole, partial).astype(float)
