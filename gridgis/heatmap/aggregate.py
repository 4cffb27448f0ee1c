"""Demand aggregation: requests per H3 cell × category × local time bucket, with filters, rates and change.

Everything is counted in the database with GROUP BY on integer columns; Python only adds the
pieces together and derives the ratios.

- **Where the counts come from.** City-wide queries at resolution 7–9 without request-type, status,
  grid or zone filters read ``demand_counts`` (whole local years, months and days, kept in step
  with ``requests`` by triggers; see migration 0002) plus the requests of the partial days at
  both ends. Everything else (resolution 10, the other filters, a zone) groups ``requests``
  through its indexes. Both give identical results (``source=`` forces one, for tests/benchmarks).
- **Metrics.** ``requests``: reports; ``issues``: reports that are the first of their issue
  (``duplicate_of`` empty) — a repeat whose first report lies outside the filter is not a new
  issue, so issues add up over cells and periods. ``collapse_duplicates`` counts issues only
  (requests = issues). ``share``: of the cell's total over the selected categories (per bucket).
  ``households`` and ``rate_per_100_households`` where ``cell_households`` knows the cell.
  ``prev_requests``/``change``/``change_pct``: without buckets, against [since − (until − since),
  since) (needs both ends); with buckets, against the same cell's preceding bucket (the bucket
  before the first one is read too). ``change_pct`` is NaN where there was nothing before.
- **Coarse geocodes.** A request placed at a community centroid is counted at resolution ≤ 8 only,
  one at a street-office centroid at resolution 7 only (:data:`COARSE_MAX_RES`): their point says
  nothing finer. Those left out are reported in ``result.attrs["unplaced_requests"]``.
- **Zones.** A request is inside a zone when its point is (boundary included, as in the request
  list): cells wholly inside are counted by cell id, points in cells on the boundary are tested
  one by one with shapely.
- **Times.** Buckets are local days, Monday weeks and months in ``tz``; ``since`` is inclusive,
  ``until`` exclusive; naive times are local. Rows are the cells with requests > 0 in the period.

Filters and their validation live in :mod:`gridgis.heatmap.filters`, the SQL in
:mod:`gridgis.heatmap.demand_query`, the calendar arithmetic in :mod:`gridgis.heatmap.periods`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import case, func, select

from gridgis import grid
from gridgis.errors import InvalidInputError
from gridgis.heatmap import periods
from gridgis.heatmap.demand_query import COARSE_MAX_RES, DemandQuery, const, fetch_columns
from gridgis.heatmap.filters import Filters, check_bucket, check_filters, check_tz, zone_cells
from gridgis.heatmap.hotspots import fill_values, study_area_cells
from gridgis.storage.postgis import is_postgresql
from gridgis.storage.schema import categories, demand_counts, meta, requests

if TYPE_CHECKING:
    from gridgis.storage.store import Store
    from gridgis.taxonomy import Taxonomy

log = logging.getLogger(__name__)

RESOLUTIONS = (7, 8, 9, 10)
OFFSET_KEY = "demand_counts_utc_offset"
DEFAULT_OFFSET = 28_800
SOURCES = ("auto", "counts", "requests")
METRICS = ("requests", "issues")


def _settings(conn) -> tuple[int, int, list[str] | None]:
    """(fine resolution, counts-table UTC offset, category codes of the store or None)."""
    kv = dict(conn.execute(select(meta.c.key, meta.c.value).where(
        meta.c.key.in_(["h3_resolution", OFFSET_KEY]))).all())
    codes = [c for (c,) in conn.execute(select(categories.c.code).order_by(categories.c.position)).all()]
    return int(kv.get("h3_resolution", 10)), int(kv.get(OFFSET_KEY, DEFAULT_OFFSET)), codes or None


def _span(conn, f: Filters) -> tuple[int, int] | None:
    """[lo, hi) epoch seconds of the query: the filter's ends, or the data's where open."""
    lo = None if f.since is None else int(np.floor(f.since.timestamp()))
    hi = None if f.until is None else int(np.ceil(f.until.timestamp()))
    if lo is None:
        lo = conn.execute(select(func.min(requests.c.created_at))).scalar()
    if hi is None:
        last = conn.execute(select(func.max(requests.c.created_at))).scalar()
        hi = None if last is None else int(last) + 1
    if lo is None or hi is None or lo >= hi:
        return None
    return int(lo), int(hi)


def aggregate(
    store: Store,
    res: int,
    filters: Filters | None = None,
    *,
    by_category: bool = True,
    bucket: str | None = None,
    tz: str = "Asia/Shanghai",
    geometry: bool = False,
    source: str = "auto",
    taxonomy: Taxonomy | None = None,
) -> pd.DataFrame:
    """Demand per cell (× category) (× bucket) at H3 ``res`` 7–10; see the module notes for the metrics.

    Columns: ``cell`` (uint64), ``cell_id`` (hex), [``category``], [``bucket`` (local period start)],
    ``requests``, ``issues``, [``share``], ``households``, ``rate_per_100_households``,
    ``prev_requests``, ``change``, ``change_pct``. ``geometry=True`` returns a GeoDataFrame of cell
    polygons (EPSG:4326). An empty result is an empty table with these columns.
    """
    res = grid.check_resolution(res, RESOLUTIONS, name="res")
    bucket, tz = check_bucket(bucket), check_tz(tz)
    if source not in SOURCES:
        raise InvalidInputError(f"source 须为 {', '.join(SOURCES)} / source must be one of {', '.join(SOURCES)}",
                                field="source")
    # One connection (one read snapshot) for every query of the call.
    with store.read() as conn:
        fine, stored_offset, codes = _settings(conn)
        check_fine(res, fine)
        f = check_filters(filters or Filters(), tz=tz, categories=codes, taxonomy=taxonomy)
        eligible = res <= 9 < fine and not (f.request_types or f.statuses or f.grids or f.zone is not None)
        if source == "counts" and not eligible:
            raise InvalidInputError(
                "汇总表只支持 7–9 级且无类型/状态/网格/区域筛选的查询 / the counts table serves res 7–9 without "
                "request type, status, grid or zone filters",
                field="source",
            )
        span = _span(conn, f)
        compare = bucket is None and f.since is not None and f.until is not None
        if span is None:
            return empty_result(res, by_category=by_category, bucket=bucket, tz=tz, compare=compare,
                                geometry=geometry)
        lo, hi = span
        prev_lo, prev_hi = previous_range(f, lo, hi, bucket, tz)
        offset = periods.fixed_offset(tz, prev_lo if prev_lo is not None else lo, hi)
        eligible = eligible and offset is not None and offset == stored_offset
        if source == "counts" and not eligible:
            raise InvalidInputError(
                f"汇总表按 UTC{stored_offset / 3600:+g} 小时计日，与时区 {tz} 不符；请用 rebuild_demand_counts 重建 / "
                f"the counts table keeps days at UTC{stored_offset / 3600:+g} h, which {tz} does not match over "
                "this period: rebuild it with rebuild_demand_counts",
                field="source",
            )
        use_counts = source == "counts" or (source == "auto" and eligible)
        # A zone is matched as H3 cells + boundary points on SQLite, by PostGIS on PostgreSQL (DemandQuery).
        zone = zone_cells(f.zone, fine) if f.zone is not None and not is_postgresql(conn) else None
        q = DemandQuery(res, fine, f, by_category, bucket, tz, offset, use_counts, zone)
        cur, unplaced = q.count(conn, lo, hi)
        prev = None
        if prev_lo is not None:
            prev, _ = q.count(conn, prev_lo, prev_hi, unplaced=False)
        hh = q.households(conn, cur["cell"].to_numpy(np.int64)) if len(cur) else None
    return finish_counts(cur, prev, hh, res, by_category=by_category, bucket=bucket, tz=tz, compare=compare,
                         unplaced=unplaced, source="counts" if use_counts else "requests", geometry=geometry)


def check_fine(res: int, fine: int) -> None:
    """InvalidInputError unless ``res`` is no finer than the stored (fine) resolution."""
    if res > fine:
        raise InvalidInputError(
            f"分辨率 {res} 细于存储的 {fine} 级，可用 7–{fine} / res {res} is finer than the stored "
            f"resolution {fine}; use 7–{fine}",
            field="res",
        )


def previous_range(f: Filters, lo: int, hi: int, bucket: str | None, tz: str) -> tuple[int | None, int | None]:
    """[lo, hi) epoch seconds that ``change`` compares with: with buckets (and ``since``), the bucket before
    the first one; without, the equally long period before [lo, hi) (both ends given); else (None, None)."""
    if bucket is not None and f.since is not None:
        first_bucket = int(periods.bucket_of_day(periods.local_days_of_epochs([lo], tz)[0], bucket))
        starts = periods.bucket_starts([first_bucket - 1, first_bucket], bucket, tz)
        return int(starts[0].timestamp()), int(starts[1].timestamp())
    if bucket is None and f.since is not None and f.until is not None:
        return lo - (hi - lo), lo
    return None, None


def finish_counts(cur: pd.DataFrame, prev: pd.DataFrame | None, hh: pd.Series | None, res: int, *,
                  by_category: bool, bucket: str | None, tz: str, compare: bool, unplaced: int, source: str,
                  geometry: bool) -> pd.DataFrame:
    """The aggregate() table from raw counts, whichever engine counted them.

    ``cur``/``prev``: (cell int64, [category], [tkey], requests, issues) with requests > 0, sorted by the
    keys, for the period and the one it is compared with; ``hh``: households by cell (None: unknown).
    """
    out = _metrics(cur, prev, hh, by_category, bucket, compare)
    return _finish(out, hh, res, bucket, tz, compare, unplaced, source, geometry)


def empty_result(res: int, *, by_category: bool, bucket: str | None, tz: str, compare: bool,
                 geometry: bool) -> pd.DataFrame:
    """The aggregate() table of a store or archive without requests in the period."""
    return _finish(_empty(by_category, bucket), None, res, bucket, tz, compare, 0, "none", geometry)


def _metrics(cur: pd.DataFrame, prev, hh, by_category: bool, bucket: str | None, compare: bool) -> pd.DataFrame:
    df = cur
    if by_category and len(df):
        within = ["cell", *(["tkey"] if bucket else [])]
        df["share"] = df["requests"] / df.groupby(within)["requests"].transform("sum")
    keys = ["cell", *(["category"] if by_category else [])]
    if bucket is not None:
        both = pd.concat([df[[*keys, "tkey", "requests"]], *([prev[[*keys, "tkey", "requests"]]]
                                                            if prev is not None else [])])
        both = both.groupby([*keys, "tkey"], as_index=False)["requests"].sum()
        both["tkey"] += 1  # a bucket's count is the next bucket's previous count
        df = df.merge(both.rename(columns={"requests": "prev_requests"}), on=[*keys, "tkey"], how="left")
        df["prev_requests"] = df["prev_requests"].fillna(0).astype(float)
    elif compare and prev is not None and len(prev):
        df = df.merge(prev[[*keys, "requests"]].rename(columns={"requests": "prev_requests"}), on=keys,
                      how="left")
        df["prev_requests"] = df["prev_requests"].fillna(0).astype(float)
    else:
        df["prev_requests"] = 0.0 if compare else np.nan
    df["change"] = df["requests"] - df["prev_requests"]
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = df["change"].to_numpy(float) / df["prev_requests"].to_numpy(float) * 100.0
    df["change_pct"] = np.where(df["prev_requests"].to_numpy(float) > 0, pct, np.nan)
    return df


def _empty(by_category: bool, bucket: str | None) -> pd.DataFrame:
    cols = {"cell": "int64", **({"category": "str"} if by_category else {}),
            **({"tkey": "int64"} if bucket else {}), "requests": "int64", "issues": "int64",
            **({"share": "float64"} if by_category else {}), "prev_requests": "float64",
            "change": "float64", "change_pct": "float64"}
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})


def _finish(df: pd.DataFrame, hh, res, bucket, tz, compare, unplaced, source, geometry) -> pd.DataFrame:
    cells = df["cell"].to_numpy(np.int64).astype(np.uint64)
    households = np.full(len(df), np.nan) if hh is None else hh.reindex(df["cell"].to_numpy()).to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(households > 0, df["requests"].to_numpy(float) / households * 100.0, np.nan)
    uniq, inv = np.unique(cells, return_inverse=True)
    out = {"cell": cells, "cell_id": pd.array(grid.cells_to_str(uniq)[inv], dtype="str")}
    if "category" in df:
        out["category"] = pd.array(df["category"].to_numpy(object), dtype="str")
    if bucket is not None:
        out["bucket"] = periods.bucket_starts(df["tkey"].to_numpy(np.int64), bucket, tz)
    out["requests"] = df["requests"].to_numpy(np.int64)
    out["issues"] = df["issues"].to_numpy(np.int64)
    if "share" in df:
        out["share"] = df["share"].to_numpy(float)
    out["households"] = households
    out["rate_per_100_households"] = rate
    for c in ("prev_requests", "change", "change_pct"):
        out[c] = df[c].to_numpy(float)
    result = pd.DataFrame(out)
    result.attrs.update({"res": res, "bucket": bucket, "tz": tz, "compared": compare,
                         "unplaced_requests": unplaced, "source": source})
    if geometry:
        import geopandas as gpd

        polys = grid.cells_to_polygons(uniq)[inv] if len(uniq) else np.empty(0, dtype=object)
        attrs = dict(result.attrs)
        result = gpd.GeoDataFrame(result, geometry=polys, crs="EPSG:4326")
        result.attrs.update(attrs)
    return result


def cell_totals(store: Store, res: int, filters: Filters | None = None, *, tz: str = "Asia/Shanghai",
                geometry: bool = False, taxonomy: Taxonomy | None = None) -> pd.DataFrame:
    """One row per cell with requests (all selected categories together): what the map and Gi* need."""
    return aggregate(store, res, filters, by_category=False, tz=tz, geometry=geometry, taxonomy=taxonomy)


def study_values(store: Store, res: int, filters: Filters | None = None, *, polygons=None,
                 metric: str = "requests", tz: str = "Asia/Shanghai",
                 taxonomy: Taxonomy | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(study cells, values) for Gi*: every cell of the study area, 0 where it has no requests.

    The study area is ``polygons`` (lng/lat) or else the filter's zone; ``metric`` is requests or issues.
    """
    if metric not in METRICS:
        raise InvalidInputError(f"metric 须为 {', '.join(METRICS)} / metric must be one of {', '.join(METRICS)}",
                                field="metric")
    area = polygons if polygons is not None else (filters.zone if filters is not None else None)
    if area is None:
        raise InvalidInputError(
            "请给出研究区域（polygons 或 filters.zone）/ give the study area as polygons or filters.zone",
            field="polygons",
        )
    study = study_area_cells(area, res)
    totals = cell_totals(store, res, filters, tz=tz, taxonomy=taxonomy)
    return study, fill_values(study, totals["cell"].to_numpy(), totals[metric].to_numpy(float))


def rebuild_demand_counts(store: Store, tz: str = "Asia/Shanghai") -> int:
    """Recount ``demand_counts`` from ``requests`` in the local calendar of ``tz`` and make the triggers
    use its UTC offset from now on. Needed after changing the deployment's time zone; also drops
    rows that updates emptied. The zone must not observe daylight saving (the table keeps one
    offset); such deployments are served from ``requests`` directly. Returns the rows written.
    """
    tz = check_tz(tz)
    now = int(pd.Timestamp.now(tz="UTC").timestamp())
    with store.read() as conn:
        first = conn.execute(select(func.min(requests.c.created_at))).scalar()
    offset = periods.fixed_offset(tz, min(int(first or now), now), now + 366 * periods.DAY_S)
    if offset is None:
        raise InvalidInputError(
            f"时区 {tz} 有夏令时，汇总表只支持固定偏移的时区 / time zone {tz} observes daylight saving; the "
            "counts table needs a fixed UTC offset (queries then read requests directly)",
            field="tz",
        )
    r = requests
    max_res = case(*[(r.c.geocode_level == const(k), const(v)) for k, v in COARSE_MAX_RES.items()], else_=const(15))
    day = (r.c.created_at + const(offset)) // const(periods.DAY_S)
    first_flag = case((r.c.duplicate_of.is_(None), 1), else_=0)
    q = select(day, r.c.cell_9, r.c.category, max_res, func.min(r.c.cell_8), func.min(r.c.cell_7), func.count(),
               func.sum(first_flag)).where(r.c.cell_9.is_not(None)).group_by(day, r.c.cell_9, r.c.category, max_res)
    with store.write() as conn:
        names = ["day", "cell_9", "category", "max_res", "cell_8", "cell_7", "requests", "firsts"]
        days = pd.DataFrame(fetch_columns(conn, q, names))
        months = periods.month_of_day(days["day"].to_numpy())
        frames = []
        for level, period in (("D", days["day"].to_numpy()), ("M", months), ("Y", months // 12)):
            part = days.assign(level=level, period=period)
            frames.append(part.groupby(["level", "period", "cell_9", "category", "max_res"], as_index=False).agg(
                cell_8=("cell_8", "min"), cell_7=("cell_7", "min"), requests=("requests", "sum"),
                firsts=("firsts", "sum")))
        rows = pd.concat(frames, ignore_index=True)
        conn.execute(demand_counts.delete())
        conn.execute(meta.delete().where(meta.c.key == OFFSET_KEY))
        conn.execute(meta.insert().values(key=OFFSET_KEY, value=str(offset)))
        if len(rows):
            conn.execute(demand_counts.insert(), rows.astype(object).to_dict("records"))
    log.info("demand_counts rebuilt for %s (UTC%+d s): %d rows", tz, offset, len(rows))
    return len(rows)


__all__: Sequence[str] = ("COARSE_MAX_RES", "Filters", "aggregate", "cell_totals", "check_filters",
                          "rebuild_demand_counts", "study_values", "zone_cells")
