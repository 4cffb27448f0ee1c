"""Priority project candidates: contiguous significant hot cells per category, described, scored and ranked.

For each demand category (in taxonomy order), on the study area's H3 cells (the filter's zone, else
the service area from the settings, else the union of the stored grids, else the k-disk around the
cells with requests):

1. Gi* with FDR (:func:`gridgis.heatmap.hotspots.gi_star`) on the category's requests per cell;
   cells with bin ≥ ``min_bin`` (default 2: 95 % confidence after FDR) are hot.
2. Hot cells that touch (H3 1-ring; ``gap=1``: 2-ring, i.e. one cell of gap allowed) form one
   candidate (connected components over :func:`~gridgis.heatmap.hotspots.neighbour_matrix`);
   candidates with fewer than ``min_cells`` cells are dropped.
3. Each candidate gets the merged polygon of its cells, requests and distinct issues (first reports,
   ``duplicate_of`` empty), households (``cell_households``; NaN when that table is empty), the grids
   its requests lie in (most requests first), a trend class, top keywords and three representative
   texts (:mod:`gridgis.heatmap.project_texts`).
4. **Trend class**: emerging hot spots (:func:`gridgis.heatmap.emerging.emerging_hot_spots`) over
   weekly (default) or monthly buckets of the study area; the candidate's class is the class that
   carries most of its requests among its cells (ties: the order of ``TREND_LABELS``).
5. **Score** (0–100, every part shown): four components in [0, 1] —
   ``volume`` = requests ÷ the largest candidate's requests; ``significance`` = the candidate's
   highest Gi* z ÷ the highest among all candidates; ``growth`` = log2(requests in the later half of
   the buckets ÷ the earlier half), clipped to [0, 1] (doubling or more = 1, falling = 0, new = 1);
   ``severity`` = the category's taxonomy ``severity`` ÷ the highest severity (SAFE by default) —
   each weighted by the ``project_weight_*`` settings. ``pts_<part>`` = 100 × weight ÷ (sum of
   weights) × component, rounded to 0.01, and ``score`` is their sum.
6. Ranked by score, then requests, then taxonomy order, then the candidate's first cell id: the
   same data and settings always give the same table.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import connected_components

from gridgis import grid
from gridgis.config import Settings
from gridgis.errors import ConfigError, InvalidInputError
from gridgis.heatmap import periods
from gridgis.heatmap.aggregate import RESOLUTIONS
from gridgis.heatmap.emerging import NO_PATTERN, TREND_LABELS, emerging_hot_spots
from gridgis.heatmap.filters import Filters, check_filters
from gridgis.heatmap.hotspots import check_k, gi_star, neighbour_matrix
from gridgis.heatmap.project_summary import summary_text
from gridgis.heatmap.project_texts import describe, generic_words, settings_words, tokenizer
from gridgis.heatmap.sources import DemandSource, as_source
from gridgis.heatmap.study import bucket_starts, bucket_steps, space_time_cube, study_cells
from gridgis.storage.epochs import to_epoch_seconds

if TYPE_CHECKING:
    import geopandas as gpd

    from gridgis.storage.store import Store
    from gridgis.taxonomy import Taxonomy

log = logging.getLogger(__name__)

TREND_BUCKETS = ("week", "month")
SCORE_PARTS = ("volume", "significance", "growth", "severity")
COLUMNS = (
    "rank", "candidate_id", "category", "category_zh", "category_en", "score",
    *(f"pts_{p}" for p in SCORE_PARTS), *SCORE_PARTS,
    "requests", "issues", "households", "cells", "area_ha", "z_max", "cells_99",
    "trend", "trend_zh", "trend_en", "earlier", "later", "growth_ratio",
    "grids", "grid_names", "keywords", "text_1", "text_2", "text_3", "lng", "lat", "cell_ids",
)
_IN_CHUNK = 5_000


@dataclass
class Candidates:
    """Ranked candidates (GeoDataFrame, EPSG:4326, columns :data:`COLUMNS` + geometry), the run's summary,
    and ``members`` (candidate_id, id, created_at) — the requests behind each candidate, for trend charts."""

    table: gpd.GeoDataFrame
    summary: dict
    members: pd.DataFrame = field(repr=False)

    def __len__(self) -> int:
        return len(self.table)

    def summary_text(self, detail: bool = True) -> str:
        """"5,916 条诉求 → 7 类 → 9 个项目候选 / 5,916 requests → 7 categories → 9 project candidates",
        then (``detail``) one block per candidate, zh then en."""
        return summary_text(self.table, self.summary, detail=detail)

    def series(self, candidate_id: str, bucket: str = "week") -> pd.Series:
        """Requests of one candidate per local week (or month/day), every bucket of the period included."""
        if candidate_id not in set(self.table["candidate_id"]):
            raise InvalidInputError(f"没有项目候选 {candidate_id!r} / no candidate {candidate_id!r}",
                                    field="candidate_id")
        tz, span = self.summary["tz"], self.summary["span"]
        t = self.members.loc[self.members["candidate_id"] == candidate_id, "created_at"]
        first, n = bucket_steps(span, bucket, tz)
        keys = periods.bucket_of_day(periods.local_days_of_epochs(to_epoch_seconds(t), tz), bucket) - first
        counts = np.bincount(keys[(keys >= 0) & (keys < n)], minlength=n)
        return pd.Series(counts.astype(np.int64), index=bucket_starts(span, bucket, tz), name="requests")


def score_weights(settings: Settings) -> dict[str, float]:
    """The four ``project_weight_*`` settings, checked (finite, ≥ 0, not all 0)."""
    out = {}
    for part in SCORE_PARTS:
        name = f"project_weight_{part}"
        w = float(getattr(settings, name))
        if not math.isfinite(w) or w < 0:
            raise ConfigError(f"{name} 须为不小于 0 的数 / {name} must be a number ≥ 0, got {w}", field=name)
        out[part] = w
    if sum(out.values()) <= 0:
        raise ConfigError("project_weight_* 不能全为 0 / the project_weight_* settings must not all be 0",
                          field="project_weight_volume")
    return out


def _check_int(value, name: str, allowed: Sequence[int] | None = None, minimum: int | None = None) -> int:
    try:
        v = int(value)
        ok = v == value and (allowed is None or v in allowed) and (minimum is None or v >= minimum)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        zh = f"{', '.join(map(str, allowed))} 之一" if allowed is not None else f"不小于 {minimum} 的整数"
        en = f"one of {', '.join(map(str, allowed))}" if allowed is not None else f"an integer ≥ {minimum}"
        raise InvalidInputError(f"参数 {name} 须为 {zh} / {name} must be {en}, got {value!r}", field=name)
    return v


def find_candidates(
    store: Store | DemandSource,
    settings: Settings,
    filters: Filters | None = None,
    *,
    res: int = 10,
    k: int = 1,
    gap: int = 0,
    min_cells: int = 2,
    min_bin: int = 2,
    trend_bucket: str = "week",
    taxonomy: Taxonomy | None = None,
) -> Candidates:
    """Priority project candidates of the filtered requests, ranked (see the module notes for every rule).

    ``store`` is a Store or any :class:`~gridgis.heatmap.sources.DemandSource` (e.g. a dask archive)."""
    from gridgis.taxonomy import Taxonomy

    src = as_source(store)

    res = grid.check_resolution(res, RESOLUTIONS, name="res")
    k = check_k(k)
    gap = _check_int(gap, "gap", allowed=(0, 1))
    min_cells = _check_int(min_cells, "min_cells", minimum=1)
    min_bin = _check_int(min_bin, "min_bin", allowed=(1, 2, 3))
    if trend_bucket not in TREND_BUCKETS:
        raise InvalidInputError(f"trend_bucket 须为 week（周）或 month（月）/ trend_bucket must be week or month, "
                                f"got {trend_bucket!r}", field="trend_bucket")
    weights = score_weights(settings)
    tax = taxonomy if taxonomy is not None else Taxonomy.load(settings.taxonomy_file)
    tz = settings.timezone
    stored = src.category_codes()
    codes = stored or tax.codes()
    f = check_filters(filters or Filters(), tz=tz, categories=codes, taxonomy=tax)
    fine = src.fine_resolution()
    counts = src.aggregate(res, f, by_category=True, bucket=trend_bucket, tz=tz, taxonomy=tax)
    span = src.analysis_span(f)
    study = study_cells(src, settings, f, res, k=k, data_cells=counts["cell"].to_numpy(np.uint64))
    order = [c for c in codes if c in set(counts["category"])]
    summary = {
        "requests": int(counts["requests"].sum()), "issues": int(counts["issues"].sum()),
        "categories": len(order), "candidates": 0, "by_category": {}, "not_tested": {},
        "unplaced_requests": int(counts.attrs.get("unplaced_requests", 0)), "outside_study_area": 0,
        "res": res, "k": k, "gap": gap, "min_cells": min_cells, "min_bin": min_bin, "trend_bucket": trend_bucket,
        "since": None if f.since is None else f.since.isoformat(),
        "until": None if f.until is None else f.until.isoformat(),
        "tz": tz, "span": span, "weights": weights, "study_cells": int(study.size),
    }
    records, members = [], []
    tok, grid_names = None, {}
    for cat in order:
        sel = (counts["category"] == cat).to_numpy()
        part = counts.loc[sel]
        info = summary["by_category"][cat] = {"requests": int(part["requests"].sum()), "hot_cells": 0,
                                              "candidates": 0}
        wide = space_time_cube(part, study, span, trend_bucket, tz)
        found = _hot_groups(cat, part, wide, study, k, gap, min_cells, min_bin, info)
        summary["outside_study_area"] += info.pop("outside")
        if isinstance(found, str):
            summary["not_tested"][cat] = found
            continue
        if found is None:
            continue
        comps, cells, lab = found
        rows = src.requests_in_cells(f, cat, cells, res, fine)
        rows["comp"] = pd.Series(lab, index=cells).reindex(rows["cell"].to_numpy()).to_numpy(np.int64)
        if tok is None:
            tok = tokenizer(settings_words(settings.taxonomy_file, settings.gazetteer_file,
                                           settings.gazetteer_crs, settings.geocode_city, settings.geocode_district))
            g = src.grids_frame()
            grid_names = dict(zip(g["grid_code"].astype(str), g["name"].astype(object), strict=True))
        name_zh = next((c.name_zh for c in tax.categories if c.code == cat), cat)
        describe(comps, rows, tok, generic_words(tok, name_zh), grid_names)
        ids = np.array([c["candidate_id"] for c in comps], dtype=object)
        members.append(pd.DataFrame({"candidate_id": pd.array(ids[rows["comp"].to_numpy()], dtype="str"),
                                     "id": rows["id"], "created_at": rows["created_at"]}))
        info["candidates"] = len(comps)
        records += comps
    table = _finish(records, weights, tax, codes, src, res, fine)
    summary["candidates"] = len(table)
    mem = pd.concat(members, ignore_index=True) if members else pd.DataFrame(
        {"candidate_id": pd.Series(dtype="str"), "id": pd.Series(dtype="str"),
         "created_at": pd.Series(dtype="datetime64[s, UTC]")})
    return Candidates(table, summary, mem)


# ------------------------------------------------------------------------------------------- components
def _hot_groups(cat: str, part: pd.DataFrame, wide: np.ndarray, study: np.ndarray, k: int, gap: int,
                min_cells: int, min_bin: int, info: dict):
    """Gi* of one category and its groups of hot cells: (components, hot cells, component of each),
    None when nothing is hot, or the reason (str) when the data cannot be tested."""
    total = wide.sum(axis=1)
    info["outside"] = int(part["requests"].sum() - total.sum())
    issues = pd.Series(part["issues"].to_numpy(float), index=part["cell"].to_numpy(np.uint64))
    issues = issues.groupby(level=0).sum().reindex(study, fill_value=0.0).to_numpy()
    gi = gi_star(study, total, k)
    if not gi.significant:
        return gi.reason
    hot = np.flatnonzero(gi.bin >= min_bin)
    info["hot_cells"] = int(hot.size)
    if not hot.size:
        return None
    _, lab = connected_components(neighbour_matrix(study[hot], 1 + gap), directed=False)
    keep = np.bincount(lab)[lab] >= min_cells
    hot, lab = hot[keep], np.unique(lab[keep], return_inverse=True)[1]
    if not hot.size:
        return None
    trend = emerging_hot_spots(study, wide, k=k)["trend"].to_numpy(object)
    return _components(cat, study, hot, lab, total, issues, gi, wide, trend), study[hot], lab


def _components(cat: str, study, hot, lab, total, issues, gi, wide, trend) -> list[dict]:
    """Counts, significance, growth and trend of each connected group of hot cells."""
    n = int(lab.max()) + 1
    cells = study[hot]
    req = np.bincount(lab, weights=total[hot], minlength=n)
    iss = np.bincount(lab, weights=issues[hot], minlength=n)
    c99 = np.bincount(lab, weights=(gi.bin[hot] == 3).astype(float), minlength=n)
    zmax = pd.Series(gi.z[hot]).groupby(lab).max().to_numpy()
    series = np.zeros((n, wide.shape[1]))
    np.add.at(series, lab, wide[hot])
    half = wide.shape[1] // 2
    earlier = series[:, :half].sum(axis=1)
    later = series[:, wide.shape[1] - half:].sum(axis=1) if half else np.zeros(n)
    # Trend: the class carrying most of the candidate's requests; ties by the order of TREND_LABELS.
    rank = pd.Index(list(TREND_LABELS)).get_indexer(trend[hot])
    votes = pd.DataFrame({"lab": lab, "trend": trend[hot], "rank": rank, "w": total[hot]})
    votes = votes.groupby(["lab", "trend", "rank"], as_index=False)["w"].sum()
    votes = votes.sort_values(["lab", "w", "rank"], ascending=[True, False, True]).drop_duplicates("lab")
    trend_of = dict(zip(votes["lab"], votes["trend"], strict=True))
    out = []
    for c in range(n):
        own = np.sort(cells[lab == c])
        out.append({
            "candidate_id": f"{cat}-{grid.cells_to_str(own[:1])[0]}", "category": cat, "cell_array": own,
            "requests": int(round(req[c])), "issues": int(round(iss[c])), "cells": int(own.size),
            "z_max": float(zmax[c]), "cells_99": int(c99[c]), "trend": trend_of.get(c, NO_PATTERN),
            "earlier": int(round(earlier[c])), "later": int(round(later[c])),
        })
    return out


_DTYPES = {"rank": "int64", "requests": "int64", "issues": "int64", "cells": "int64", "cells_99": "int64",
           "earlier": "int64", "later": "int64"}
_TEXT = {"candidate_id", "category", "category_zh", "category_en", "trend", "trend_zh", "trend_en", "grids",
         "grid_names", "keywords", "text_1", "text_2", "text_3", "cell_ids"}


def _finish(records: list[dict], weights: dict[str, float], tax: Taxonomy, codes: list[str], src: DemandSource,
            res: int, fine: int) -> gpd.GeoDataFrame:
    """Scores, ranks, names, households and polygons: the final table in COLUMNS order."""
    import geopandas as gpd
    from pyproj import Geod

    if not records:
        empty = {c: pd.Series(dtype="str" if c in _TEXT else _DTYPES.get(c, "float64")) for c in COLUMNS}
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")
    df = pd.DataFrame(records)
    df["volume"] = df["requests"] / df["requests"].max()
    zmax = df["z_max"].max()
    df["significance"] = df["z_max"] / zmax if zmax > 0 else 0.0
    earlier, later = df["earlier"].to_numpy(float), df["later"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = later / earlier
        growth = np.where(earlier > 0, np.clip(np.log2(np.where(ratio > 0, ratio, 1.0)), 0.0, 1.0),
                          (later > 0).astype(float))
    df["growth_ratio"] = np.where(earlier > 0, ratio, np.nan)
    df["growth"] = growth
    severity = {c.code: float(c.severity) for c in tax.categories}
    top = max(severity.values(), default=0.0)
    df["severity"] = df["category"].map(severity).fillna(0.0) / top if top > 0 else 0.0
    total_w = sum(weights.values())
    for p in SCORE_PARTS:
        df[f"pts_{p}"] = (100.0 * weights[p] / total_w * df[p]).round(2)
    df["score"] = df[[f"pts_{p}" for p in SCORE_PARTS]].sum(axis=1).round(2)
    position = {c: i for i, c in enumerate(codes)}
    df["_pos"] = df["category"].map(position).fillna(len(position))
    df = df.sort_values(["score", "requests", "_pos", "candidate_id"], ascending=[False, False, True, True],
                        kind="stable").reset_index(drop=True)
    df["rank"] = np.arange(1, len(df) + 1)
    names = {c.code: (c.name_zh, c.name_en) for c in tax.categories}
    df["category_zh"] = [names.get(c, (c, c))[0] for c in df["category"]]
    df["category_en"] = [names.get(c, (c, c))[1] for c in df["category"]]
    df["trend_zh"] = [TREND_LABELS[t][0] for t in df["trend"]]
    df["trend_en"] = [TREND_LABELS[t][1] for t in df["trend"]]
    hh = src.households_in_cells(np.concatenate(df["cell_array"].tolist()), res, fine)
    df["households"] = [np.nan if hh is None else float(hh.reindex(c, fill_value=0.0).sum())
                        for c in df["cell_array"]]
    geoms = np.array([shapely.union_all(grid.cells_to_polygons(c)) for c in df["cell_array"]], dtype=object)
    geod = Geod(ellps="WGS84")
    df["area_ha"] = [round(abs(geod.geometry_area_perimeter(g)[0]) / 1e4, 2) for g in geoms]
    pts = shapely.point_on_surface(geoms)
    df["lng"], df["lat"] = np.round(shapely.get_x(pts), 7), np.round(shapely.get_y(pts), 7)
    df["cell_ids"] = [",".join(grid.cells_to_str(c)) for c in df["cell_array"]]
    out = {c: (pd.array(df[c].astype(object).to_numpy(), dtype="str") if c in _TEXT
               else df[c].to_numpy(_DTYPES.get(c, "float64"))) for c in COLUMNS}
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), crs="EPSG:4326")
