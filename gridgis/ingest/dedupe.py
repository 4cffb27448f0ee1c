"""Duplicate / repeated-complaint detection: link each request to the first request of its issue.

A request is a duplicate of an *earlier* one (order: ``created_at``, then ``id``) when both have the
same category, lie within ``radius_m`` metres (haversine) and ``days`` days of each other, and
their normalised texts score at least ``text_similarity`` with rapidfuzz's ``fuzz.ratio``.
Each duplicate points (``duplicate_of``) to the root of its earliest matching predecessor, so
chains collapse: if C matches B and B matches A, both B and C point to A.

How it scales (no per-row Python): rows are bucketed by (category, latitude bin, longitude bin)
with bins at least ``radius_m`` wide (from haversine bounds, so no projection error), sorted by
(bucket, time), and every new row finds the time-window slice of its own and the 8 neighbouring
buckets with ``np.searchsorted``. Those candidate pairs get the exact time and haversine tests;
only the survivors get a text score (``rapidfuzz.process.cpdist``). Each row then links to its
earliest match and chains are collapsed by pointer jumping. A batch of more than ``_WINDOW_ROWS`` rows is
linked that many at a time in time order, each window against the ``days`` before it (same result, memory
of one window: 1 M rows 535 → 418 MiB at the same speed).

Why ``fuzz.ratio`` on normalised text (NFKC, lower case, punctuation and spaces removed): Chinese
complaints have no spaces, so rapidfuzz's token scorers see one token and degrade to ``ratio``;
``partial_ratio`` scores any text containing a short one as 100 (``路灯`` vs every lamp complaint)
and merges different issues of one category that share a phrase (``广场舞噪音扰民`` vs
``装修噪音扰民`` = 80). ``ratio`` is symmetric and penalises added content, so it errs towards
keeping two reports apart — a wrongly merged complaint would vanish from the issue counts.
Its cost: a repeat call that adds much detail (``3栋门口路灯不亮`` vs ``3栋门口的路灯坏了，晚上很黑``
= 55) stays a separate issue.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process

from gridgis.errors import InvalidInputError
from gridgis.idsets import isin, positions

log = logging.getLogger(__name__)

__all__ = ["find_duplicates", "same_issue_counts"]

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius, the usual haversine choice
REQUIRED_COLUMNS = ("id", "category", "created_at", "lng", "lat", "text")
_NS_PER_DAY = 86_400 * 10**9
_NAT = np.iinfo(np.int64).min
# Candidate pairs expanded at once (a few hundred MB of temporaries): bounds memory when many
# reports share one place, e.g. all geocoded to a community centroid.
_MAX_PAIRS_PER_CHUNK = 4_000_000
_QUERY_CHUNK = 1 << 16
# New rows linked at a time (in time order) when a batch is bigger: the per-row arrays of one pass (ids and
# normalised texts as Python strings, times, places) follow the window, not the batch.
_WINDOW_ROWS = 250_000
_MAX_BINS_PER_AXIS = 1 << 20
# Upper bound of the (bucket rank, time unit) search key; time units grow to stay below it.
_KEY_LIMIT = 1 << 62
# Bins are widened by this factor so float rounding never puts a pair at exactly R two bins apart.
_BIN_MARGIN = 1.0 + 1e-6


def find_duplicates(
    new: pd.DataFrame,
    existing: pd.DataFrame | None = None,
    *,
    radius_m: float = 100.0,
    days: float = 7.0,
    text_similarity: float = 60.0,
) -> pd.Series:
    """For each row of ``new``, the id of the first request of its issue, or NA if it is not a duplicate.

    ``existing`` are stored requests that may match (already linked through their own optional
    ``duplicate_of`` column, which is followed to its root and never changed). A new row matches
    earlier rows of ``existing`` or of ``new``. An existing row whose id is also in ``new`` is
    replaced by the new version; a ``duplicate_of`` column in ``new`` is ignored (recomputed).
    Rows with missing coordinates, time, category or text are never duplicates, nor roots.
    The result (``str`` dtype, missing = not a duplicate) is aligned to ``new.index`` and named
    ``duplicate_of``.
    """
    radius_m, days, text_similarity = _check_params(radius_m, days, text_similarity)
    _check_columns(new, "new")
    new_ids = _ids(new, "new")
    if existing is not None and len(existing):
        _check_columns(existing, "existing")
        ex_ids = _ids(existing, "existing")
        keep = ~isin(ex_ids, new_ids)
        existing = existing.loc[keep]
        ex_ids = ex_ids[keep]
    else:
        existing = None
        ex_ids = np.empty(0, dtype=object)
    params = dict(radius_m=radius_m, days=days, text_similarity=text_similarity)
    if len(new) > _WINDOW_ROWS:
        return _in_time_windows(new, existing, **params)
    return _find(new, new_ids, existing, ex_ids, **params)


def _in_time_windows(new: pd.DataFrame, existing: pd.DataFrame | None, *, radius_m: float, days: float,
                     text_similarity: float) -> pd.Series:
    """:func:`find_duplicates` of a big ``new``, ``_WINDOW_ROWS`` rows at a time in time order: memory follows
    the window, not the batch. Exact, because a row only matches earlier rows within ``days``: each window's
    rows are linked against the stored rows and the earlier windows' rows (with the links just found) of
    ``days`` before the window's first row to its last. Equal times never straddle two windows."""
    t = _times_ns(new["created_at"], "new")
    order = np.argsort(t, kind="stable")
    order = order[t[order] != _NAT]  # rows without a time are never duplicates, nor roots
    t_sorted = t[order]
    window_ns = int(round(days * _NS_PER_DAY))
    out = np.full(len(new), None, dtype=object)
    if existing is not None:
        t_ex = _times_ns(existing["created_at"], "existing")
        if "duplicate_of" not in existing.columns:
            existing = existing.assign(duplicate_of=None)
    keep_cols = [*REQUIRED_COLUMNS, "duplicate_of"]
    start = 0
    while start < len(order):
        end = min(start + _WINDOW_ROWS, len(order))
        end = int(np.searchsorted(t_sorted, t_sorted[end - 1], "right"))  # all rows of the last time
        t_lo, t_hi = t_sorted[start] - window_ns, t_sorted[end - 1]
        before = order[np.searchsorted(t_sorted, t_lo, "left"):start]
        parts = [new.iloc[before].assign(duplicate_of=out[before])[keep_cols]]
        if existing is not None:
            parts.append(existing.loc[(t_ex >= t_lo) & (t_ex <= t_hi), keep_cols])
        known = pd.concat([p.assign(created_at=p["created_at"].dt.tz_convert("UTC").dt.as_unit("ns"))
                           for p in parts], ignore_index=True)  # one dtype, whatever zone each came in
        rows = new.iloc[order[start:end]]
        found = _find(rows, _as_ids(rows), known, _as_ids(known), radius_m=radius_m, days=days,
                      text_similarity=text_similarity)  # ids checked unique above
        out[order[start:end]] = found.to_numpy(dtype=object, na_value=None)
        start = end
    return pd.Series(out, index=new.index, name="duplicate_of", dtype="str")


def _find(new: pd.DataFrame, new_ids: np.ndarray, existing: pd.DataFrame | None, ex_ids: np.ndarray, *,
          radius_m: float, days: float, text_similarity: float) -> pd.Series:
    """:func:`find_duplicates` on checked frames (``existing`` holds no id of ``new``) in one piece."""
    if existing is not None and not len(existing):
        existing, ex_ids = None, np.empty(0, dtype=object)
    frames = [new] if existing is None else [new, existing]
    ids = np.concatenate([new_ids, ex_ids])
    n_new, n_all = len(new), len(ids)
    cat = pd.factorize(pd.concat([f["category"] for f in frames], ignore_index=True))[0]
    t = np.concatenate(
        [_times_ns(f["created_at"], n) for f, n in zip(frames, ("new", "existing"), strict=False)]
    )
    lat = np.concatenate([_float(f["lat"], "lat") for f in frames])
    lng = np.concatenate([_float(f["lng"], "lng") for f in frames])
    texts = pa.chunked_array([pa.array(f["text"].astype("str"), pa.large_string()) for f in frames])

    ok = (
        (cat >= 0)
        & (t != _NAT)
        & np.isfinite(lat)
        & np.isfinite(lng)
        & (np.abs(lat) <= 90)
        & (np.abs(lng) <= 180)
    )
    cand = np.flatnonzero(ok)
    norm = np.empty(0, dtype=object)
    if (cand < n_new).any():
        normalised = _normalise(texts.take(pa.array(cand)))
        has_text = pc.greater(pc.binary_length(normalised), 0).to_numpy(zero_copy_only=False)
        cand = cand[has_text]
        norm = normalised.filter(pa.array(has_text)).to_numpy(zero_copy_only=False)

    parent = np.arange(n_all, dtype=np.int64)
    if (cand < n_new).any():
        mi, mj = _matching_pairs(
            cand,
            cat,
            t,
            lat,
            lng,
            norm,
            ids,
            n_new,
            radius_m=radius_m,
            window_ns=int(round(days * _NS_PER_DAY)),
            text_similarity=text_similarity,
        )
        first_i, first_j = _earliest_predecessor(mi, mj, t, ids, n_all)
        parent[first_i] = first_j

    all_ids, parent = _link_existing(ids, parent, existing, n_new)
    root = _collapse(parent)[:n_new]
    is_dup = root != np.arange(n_new)
    values = np.full(n_new, None, dtype=object)
    values[is_dup] = all_ids[root[is_dup]]
    log.debug("dedupe: %d new rows, %d candidates stored, %d duplicates", n_new, n_all - n_new, is_dup.sum())
    return pd.Series(values, index=new.index, name="duplicate_of", dtype="str")


def same_issue_counts(duplicate_of: pd.Series, ids: pd.Series) -> pd.Series:
    """Reports of each row's issue (root = ``duplicate_of`` or the row's own id), aligned to ``ids``.

    Counts only the rows given; a repeat count per request helps rank urgent issues.
    """
    roots = pd.Series(duplicate_of.to_numpy(dtype=object), index=ids.index).fillna(ids)
    return roots.map(roots.value_counts()).astype("int64").rename("same_issue_count")


# -- candidate pairs ---------------------------------------------------------------------------


def _matching_pairs(cand, cat, t, lat, lng, norm, ids, n_new, *, radius_m, window_ns, text_similarity):
    """All (new row i, earlier row j) pairs passing category, distance, time and text tests.

    ``cand`` are the usable rows (ascending), ``norm`` their normalised texts. Works on the rows
    sorted by (bucket, time), where each neighbour bucket's time window is one slice.
    """
    lat_r, lng_r = np.radians(lat[cand]), np.radians(lng[cand])
    key, row_stride = _bucket_keys(cat[cand], lat_r, lng_r, radius_m)
    t_c = t[cand]
    order = np.lexsort((t_c, key))
    cand, key, t_c, lat_r, lng_r, norm = (x[order] for x in (cand, key, t_c, lat_r, lng_r, norm))
    cos_lat = np.cos(lat_r)
    ids_c = ids[cand]
    new_bucket = np.r_[True, key[1:] != key[:-1]]
    ukeys = key[new_bucket]
    t0 = int(t_c.min())
    tu, unit, stride = _time_units(t_c - t0, len(ukeys))
    comp = (np.cumsum(new_bucket) - 1) * stride + tu  # ascending (bucket rank, time unit)

    queries = np.flatnonzero(cand < n_new)  # ascending, so every searchsorted below gets sorted needles
    hav_max = math.sin(radius_m / EARTH_RADIUS_M / 2) ** 2
    out_i, out_j = [], []
    for q0 in range(0, len(queries), _QUERY_CHUNK):
        q = queries[q0 : q0 + _QUERY_CHUNK]
        # Slice [lo, hi) of each of the 9 neighbour buckets holding times in [t - window, t] (whole
        # time units, so the edges are checked exactly per pair below). 0, 0 = no such bucket.
        lo_u = np.maximum((t_c[q] - window_ns - t0) // unit, 0)
        lo = np.zeros((len(q), 9), dtype=np.int64)
        hi = np.zeros((len(q), 9), dtype=np.int64)
        k = 0
        for dy in (-1, 0, 1):
            # The three buckets (y+dy, x-1..x+1) have consecutive keys: one search finds all three.
            qk = key[q] + (dy * row_stride - 1)
            pos = np.searchsorted(ukeys, qk)
            for _dx in range(3):
                p = np.minimum(pos, len(ukeys) - 1)
                hit = ukeys[p] == qk
                found = np.flatnonzero(hit)
                base = p[found] * stride
                lo[found, k] = np.searchsorted(comp, base + lo_u[found], "left")
                hi[found, k] = np.searchsorted(comp, base + tu[q[found]], "right")
                pos = pos + hit
                qk = qk + 1
                k += 1
        # Split so that no piece expands into more than _MAX_PAIRS_PER_CHUNK pairs.
        cum = np.cumsum((hi - lo).sum(axis=1))
        cuts = np.searchsorted(cum, np.arange(_MAX_PAIRS_PER_CHUNK, int(cum[-1]), _MAX_PAIRS_PER_CHUNK))
        for r in np.split(np.arange(len(q)), np.unique(cuts)):
            if not len(r):
                continue
            pi, pj = _expand(np.repeat(q[r], 9), lo[r].ravel(), hi[r].ravel())
            dt = t_c[pi] - t_c[pj]
            keep = (dt >= 0) & (dt <= window_ns) & (pi != pj)
            tie = np.flatnonzero(keep & (dt == 0))  # same time: the smaller id comes first
            keep[tie] = ids_c[pj[tie]] < ids_c[pi[tie]]
            pi, pj = pi[keep], pj[keep]
            near = _hav(lat_r, lng_r, cos_lat, pi, pj) <= hav_max
            pi, pj = pi[near], pj[near]
            if not len(pi):
                continue
            score = process.cpdist(
                norm[pi], norm[pj], scorer=fuzz.ratio, score_cutoff=text_similarity, workers=-1
            )
            similar = score >= text_similarity
            out_i.append(cand[pi[similar]])
            out_j.append(cand[pj[similar]])
    empty = np.empty(0, dtype=np.int64)
    return (np.concatenate(out_i) if out_i else empty), (np.concatenate(out_j) if out_j else empty)


def _bucket_keys(cat, lat_r, lng_r, radius_m):
    """int64 key of (category, lat bin, lng bin) with bins ≥ radius; and the key step of one lat bin.

    Haversine bounds: d ≥ R·|Δφ| and sin(Δλ/2) ≤ sin(d/2R) / cos φmax, so two points within
    ``radius_m`` are at most one bin apart on each axis.
    """
    ang = radius_m / EARTH_RADIUS_M
    lat_min, lng_min = lat_r.min(), lng_r.min()
    phi_max = float(np.abs(lat_r).max())
    s = math.sin(ang / 2) / max(math.cos(phi_max), 1e-300)
    bin_lng = 2 * math.asin(s) if s < 1 else 2 * math.pi
    # Capping the bin count only makes bins wider (more candidates, same result) and keeps keys in int64.
    bin_lat = max(ang * _BIN_MARGIN, float(lat_r.max() - lat_min) / _MAX_BINS_PER_AXIS)
    bin_lng = max(bin_lng * _BIN_MARGIN, float(lng_r.max() - lng_min) / _MAX_BINS_PER_AXIS)
    # +1 leaves an empty bin on each side so neighbour offsets never wrap into another row/category.
    y = np.floor((lat_r - lat_min) / bin_lat).astype(np.int64) + 1
    x = np.floor((lng_r - lng_min) / bin_lng).astype(np.int64) + 1
    nx = int(x.max()) + 2
    ny = int(y.max()) + 2
    return (cat.astype(np.int64) * ny + y) * nx + x, nx


def _time_units(t_rel, n_buckets):
    """Time offsets in units coarse enough that (bucket rank * stride + unit) fits in int64."""
    span = int(t_rel.max()) + 1
    unit = max(1, -(-span * (n_buckets + 1) // _KEY_LIMIT))
    tu = t_rel // unit
    return tu, unit, int(tu.max()) + 2


def _expand(rows, lo, hi):
    """Ragged ranges → flat (row, j) pairs: for each k, rows[k] paired with lo[k]..hi[k]-1."""
    lengths = hi - lo
    if np.count_nonzero(lengths) < len(lengths) // 2:  # mostly empty ranges: drop them first
        nz = np.flatnonzero(lengths)
        rows, lo, lengths = rows[nz], lo[nz], lengths[nz]
    pi = np.repeat(rows, lengths)
    starts = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths)
    starts += np.arange(len(starts))
    return pi, starts


def _hav(lat_r, lng_r, cos_lat, i, j):
    """hav(central angle) of point pairs (compared with hav(R / earth radius): no asin per pair)."""
    h = lat_r[j] - lat_r[i]
    h *= 0.5
    np.sin(h, out=h)
    h *= h
    w = lng_r[j] - lng_r[i]
    w *= 0.5
    np.sin(w, out=w)
    w *= w
    w *= cos_lat[i]
    w *= cos_lat[j]
    h += w
    return h


# Hotline boilerplate that every ticket shares; left in, it makes unrelated tickets look alike.
BOILERPLATE = (
    r"市民(?:再次|多次)?来电(?:反映|反应|咨询|投诉|求助)?|来电人(?:反映)?|诉求人(?:反映)?|市民(?:反映|诉求|要求)|"
    r"(?:请|希望|要求)(?:尽快|相关部门|有关部门)?(?:答复|处理|核实处理|解决|管一管|回复)|问题依旧|再次反映"
)


def _normalise(texts: pa.ChunkedArray) -> pa.ChunkedArray:
    """NFKC (full-width → half-width), lower case, boilerplate dropped, only letters and digits kept.

    Element-wise; when texts repeat (hotline exports do) each distinct one is normalised once.
    """
    texts = texts.fill_null("")
    encoded = pc.dictionary_encode(texts).combine_chunks()
    if 2 * len(encoded.dictionary) < len(texts):
        return pa.chunked_array([_normalise_each(encoded.dictionary).take(encoded.indices)])
    return _normalise_each(texts)


def _normalise_each(texts):
    out = pc.utf8_lower(pc.utf8_normalize(texts, "NFKC"))
    out = pc.replace_substring_regex(out, BOILERPLATE, "")
    return pc.replace_substring_regex(out, r"[^\p{L}\p{N}]+", "")


# -- linking -----------------------------------------------------------------------------------


def _earliest_predecessor(mi, mj, t, ids, n):
    """For each i among the matches, the matching j that comes first by (created_at, id)."""
    if not len(mi):
        return mi, mj
    tj = t[mj]
    first_t = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_t, mi, tj)
    earliest = tj == first_t[mi]
    mi, mj = mi[earliest], mj[earliest]
    several = np.bincount(mi, minlength=n)[mi] > 1
    if not several.any():
        return mi, mj
    # Several matches at the same earliest time: the smaller id wins (rare; small frame sort).
    df = pd.DataFrame({"i": mi[several], "j": mj[several], "id": ids[mj[several]]})
    df = df.sort_values(["i", "id"]).drop_duplicates("i")
    return np.r_[mi[~several], df["i"].to_numpy()], np.r_[mj[~several], df["j"].to_numpy()]


def _link_existing(ids, parent, existing, n_new):
    """Add the stored ``duplicate_of`` links; roots outside the frames get their own slots."""
    if existing is None or "duplicate_of" not in existing.columns:
        return ids, parent
    dup = existing["duplicate_of"].astype("str").fillna("")
    has = (dup != "").to_numpy(dtype=bool)
    if not has.any():
        return ids, parent
    targets = dup.to_numpy(dtype=object)[has]
    pos = positions(targets, ids)
    miss = pos < 0
    outside = pd.unique(targets[miss])
    pos[miss] = len(ids) + positions(targets[miss], outside)
    all_ids = np.concatenate([ids, np.asarray(outside, dtype=object)])
    parent = np.concatenate([parent, np.arange(len(ids), len(all_ids))])
    parent[n_new + np.flatnonzero(has)] = pos
    return all_ids, parent


def _collapse(parent):
    """Pointer jumping until every row points at its root."""
    root = parent
    for _ in range(64):  # depth doubles per step; 64 steps cover any int64-indexable chain
        nxt = root[root]
        if np.array_equal(nxt, root):
            # A cycle of length 2^k also reaches a fixed point, but its "roots" are not roots.
            if np.array_equal(parent[root], root):
                return root
            break
        root = nxt
    raise InvalidInputError(
        "已有诉求的 duplicate_of 形成循环，请检查数据 / duplicate_of of existing requests forms a cycle",
        field="duplicate_of",
    )


# -- input checks ------------------------------------------------------------------------------


def _check_params(radius_m, days, text_similarity):
    checks = (
        ("radius_m", radius_m, lambda v: v > 0, "须为正数 / must be a positive number of metres"),
        ("days", days, lambda v: v >= 0, "须为非负天数 / must be a non-negative number of days"),
        (
            "text_similarity",
            text_similarity,
            lambda v: 0 <= v <= 100,
            "须在 0–100 之间 / must be within 0–100",
        ),
    )
    out = []
    for name, value, ok, msg in checks:
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = math.nan
        if not (math.isfinite(v) and ok(v)):
            raise InvalidInputError(f"参数 {name} {msg}, got {value!r}", field=name)
        out.append(v)
    return out


def _check_columns(df: pd.DataFrame, name: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InvalidInputError(
            f"{name} 缺少列 {', '.join(missing)} / {name} frame lacks column(s) {', '.join(missing)}",
            field=missing[0],
        )


def _as_ids(df: pd.DataFrame) -> np.ndarray:
    return df["id"].astype("str").to_numpy(dtype=object)


def _ids(df: pd.DataFrame, name: str) -> np.ndarray:
    s = df["id"]
    if s.isna().any():
        raise InvalidInputError(f"{name} 中有空的 id / {name} has rows without an id", field="id")
    s = s.astype("str")
    dup = s.duplicated().to_numpy()
    ids = s.to_numpy(dtype=object)
    if dup.any():
        raise InvalidInputError(
            f"{name} 中 id 重复：{ids[dup][0]!r} / {name} has the same id twice: {ids[dup][0]!r}", field="id"
        )
    return ids


def _times_ns(s: pd.Series, name: str) -> np.ndarray:
    if not isinstance(s.dtype, pd.DatetimeTZDtype):
        raise InvalidInputError(
            f"{name}.created_at 须为带时区的时间 / {name}.created_at must be timezone-aware datetimes, "
            f"got dtype {s.dtype}",
            field="created_at",
        )
    naive = s.dt.tz_convert("UTC").dt.tz_localize(None).dt.as_unit("ns")
    return naive.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _float(s: pd.Series, field: str) -> np.ndarray:
    try:
        return pd.to_numeric(s, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"列 {field} 须为数值 / column {field} must be numeric", field=field) from exc
