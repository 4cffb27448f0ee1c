"""The dask engine: demand counts and the requests of a few cells, computed from a request archive.

:class:`ArchiveSource` is a :class:`~gridgis.heatmap.sources.DemandSource` over an archive written by
:func:`gridgis.archive.export_archive`. Its counts are those of
:func:`gridgis.heatmap.aggregate.aggregate` — same filters, coarse-geocode rule, zones (the exact point,
boundary included), local buckets and comparison period — and it hands them to the same
:func:`~gridgis.heatmap.aggregate.finish_counts`; hot spots and project candidates then run the same
code as on the store.

How: only the months that overlap the period are read (one dask partition per part file, only the
columns needed); each partition is filtered and summed per (period, cell, [category], [bucket]) by
:func:`~gridgis.heatmap.dask_parts.partition_counts` (plain pandas), and dask adds those partial
tables up — so a worker holds one part file at a time and the result is as small as the heatmap. The
work runs on dask's threads in this process, or on a distributed scheduler (``tcp://host:8786``) whose
workers can read the archive at the same path and have gridgis installed.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from gridgis import grid
from gridgis.archive import PARTITION, Archive, month_labels, open_archive
from gridgis.errors import InvalidInputError, MissingDependencyError
from gridgis.heatmap.aggregate import RESOLUTIONS, check_fine, empty_result, finish_counts, previous_range
from gridgis.heatmap.cell_requests import member_rows
from gridgis.heatmap.dask_parts import (
    ROW_COLUMNS,
    CountSpec,
    Selection,
    cell_column,
    cells_at,
    partition_counts,
    partition_rows,
)
from gridgis.heatmap.demand_query import COARSE_MAX_RES
from gridgis.heatmap.filters import Filters, check_bucket, check_filters, check_tz
from gridgis.heatmap.sources import DemandSource

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
_ADDRESS = re.compile(r"^(tcp|tls|ucx|ws|wss|inproc)://\S+$")


def _selection(f: Filters) -> Selection:
    """Checked filters as the plain values the workers get."""
    return Selection(
        since=None if f.since is None else int(np.floor(f.since.timestamp())),
        until=None if f.until is None else int(np.ceil(f.until.timestamp())),
        categories=f.categories, request_types=f.request_types, statuses=f.statuses, grids=f.grids, zone=f.zone,
        collapse_duplicates=f.collapse_duplicates,
    )


def _coarse_levels(res: int) -> tuple[str, ...]:
    """Geocode levels whose point says nothing at ``res`` (counted as unplaced)."""
    return tuple(level for level, finest in COARSE_MAX_RES.items() if finest < res)


# ------------------------------------------------------------------------------------------- scheduler
def connect(address: str, timeout: float = CONNECT_TIMEOUT_S):
    """A distributed Client on the scheduler at ``address``, or a gridgis error naming it."""
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - the dask extra is part of the test install
        raise MissingDependencyError("distributed", "dask", "the dask engine / Dask 引擎") from exc
    if not _ADDRESS.match(str(address)):
        raise InvalidInputError(f"调度器地址 {address!r} 无效，应如 tcp://HOST:8786 / scheduler address {address!r} is "
                                "not valid: use tcp://HOST:8786", field="scheduler")
    try:
        return Client(address, timeout=f"{timeout:g}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InvalidInputError(
            f"无法在 {timeout:g} 秒内连接 Dask 调度器 {address} / cannot reach the Dask scheduler at {address} "
            f"within {timeout:g} s ({type(exc).__name__}); start one with `dask scheduler` or leave out --scheduler",
            field="scheduler",
        ) from exc


# ---------------------------------------------------------------------------------------------- source
class ArchiveSource(DemandSource):
    """The dask engine over the archive at ``path``; ``scheduler`` (tcp://HOST:PORT) or a distributed
    ``client`` runs the work on a cluster, else dask's threads in this process do."""

    engine = "dask"

    def __init__(self, path: str | Path, scheduler: str | None = None, *, client=None,
                 timeout: float = CONNECT_TIMEOUT_S) -> None:
        try:
            import dask.dataframe  # noqa: F401
        except ImportError as exc:  # pragma: no cover
            raise MissingDependencyError("dask", "dask", "the dask engine / Dask 引擎") from exc
        self.archive: Archive = open_archive(path)
        self._own_client = client is None and scheduler is not None
        self.client = client if client is not None else (connect(scheduler, timeout) if scheduler else None)

    def close(self) -> None:
        if self._own_client and self.client is not None:
            self.client.close()
            self.client = None

    # -- small tables and metadata
    def category_codes(self) -> list[str]:
        cats = self.archive.table("categories")
        if not len(cats):
            return []
        return cats.sort_values("position")["code"].astype(str).tolist()

    def fine_resolution(self) -> int:
        return self.archive.fine

    def grids_frame(self) -> pd.DataFrame:
        return self.archive.table("grids")

    def analysis_span(self, filters: Filters) -> tuple[int, int] | None:
        f = filters
        lo = None if f.since is None else int(np.floor(pd.Timestamp(f.since).timestamp()))
        hi = None if f.until is None else int(np.ceil(pd.Timestamp(f.until).timestamp()))
        data = self.archive.span()
        if lo is None or hi is None:
            if data is None:
                return None
            lo, hi = data[0] if lo is None else lo, data[1] if hi is None else hi
        return (int(lo), int(hi)) if lo < hi else None

    def households_in_cells(self, cells: np.ndarray, res: int, fine: int) -> pd.Series | None:
        hh = self._households(res)
        if hh is None:
            return None
        wanted = np.unique(np.asarray(cells).astype(np.uint64))
        hh.index = hh.index.to_numpy(np.int64).astype(np.uint64)
        return hh[hh.index.isin(wanted)].astype(float)

    def _households(self, res: int) -> pd.Series | None:
        """Households per cell at ``res`` (int64 index); None when the archive has none."""
        h = self.archive.table("cell_households")
        if not len(h):
            return None
        return pd.Series(h["households"].to_numpy(float), index=cells_at(h, res, self.archive.fine)).groupby(
            level=0).sum()

    # -- dask reads
    def _frame(self, columns: list[str], lo: int | None, hi: int | None):
        """The archive's months overlapping [lo, hi) as a dask DataFrame of ``columns``; None if none."""
        import dask.dataframe as dd

        months = sorted(m for m, v in self.archive.months.items() if v.get("rows"))
        if lo is not None:
            months = [m for m in months if m >= month_labels(np.array([lo]), self.archive.tz)[0]]
        if hi is not None:
            months = [m for m in months if m <= month_labels(np.array([hi - 1]), self.archive.tz)[0]]
        files = [str(p) for m in months for p in sorted((self.archive.root / f"{PARTITION}={m}").glob("*.parquet"))]
        if not files:
            return None
        return dd.read_parquet(files, columns=list(dict.fromkeys(columns)))

    def _compute(self, collection) -> pd.DataFrame:
        if self.client is not None:
            return self.client.compute(collection, sync=True)
        with warnings.catch_warnings():
            # dask's parquet reader still calls reset_index(inplace=True), which pandas 3.1 deprecates
            warnings.filterwarnings("ignore", message="The inplace keyword", module="dask")
            return collection.compute(scheduler="threads")

    @staticmethod
    def _columns(sel: Selection, *extra: str) -> list[str]:
        return ["created_at", "geocode_level", "duplicate_of", *extra, *sel.columns()]

    def counts(self, spec: CountSpec) -> pd.DataFrame:
        """Summed :func:`partition_counts` of the months the ranges touch, sorted by the keys."""
        lo, hi = min(r[0] for r in spec.ranges), max(r[1] for r in spec.ranges)
        cols = self._columns(spec.sel, cell_column(spec.res, spec.fine), *(["category"] if spec.by_category else []))
        ddf = self._frame(cols, lo, hi)
        meta = partition_counts(_empty_rows(cols), spec)
        if ddf is None:
            return meta
        parts = ddf.map_partitions(partition_counts, spec, meta=meta)
        out = self._compute(parts.groupby(spec.keys, sort=False)[["n", "f"]].sum().reset_index())
        return out.sort_values(spec.keys, kind="stable").reset_index(drop=True)

    def aggregate(self, res: int, filters: Filters | None = None, *, by_category: bool = True,
                  bucket: str | None = None, tz: str = "Asia/Shanghai", geometry: bool = False,
                  taxonomy=None) -> pd.DataFrame:
        res = grid.check_resolution(res, RESOLUTIONS, name="res")
        bucket, tz = check_bucket(bucket), check_tz(tz)
        fine = self.archive.fine
        check_fine(res, fine)
        f = check_filters(filters or Filters(), tz=tz, categories=self.category_codes() or None, taxonomy=taxonomy)
        compare = bucket is None and f.since is not None and f.until is not None
        span = self.analysis_span(f)
        if span is None:
            return empty_result(res, by_category=by_category, bucket=bucket, tz=tz, compare=compare,
                                geometry=geometry)
        lo, hi = span
        prev_lo, prev_hi = previous_range(f, lo, hi, bucket, tz)
        ranges = ((lo, hi),) if prev_lo is None else ((lo, hi), (prev_lo, prev_hi))
        spec = CountSpec(res, fine, by_category, bucket, tz, ranges, _selection(f), _coarse_levels(res))
        sums = self.counts(spec)
        n_col = "f" if f.collapse_duplicates else "n"
        is_cur, placed = sums["period"].to_numpy() == 0, sums["cell"].to_numpy() != 0
        unplaced = int(sums.loc[is_cur & ~placed, n_col].sum())
        cur = _final(sums[is_cur & placed], spec, n_col)
        prev = _final(sums[~is_cur], spec, n_col) if prev_lo is not None else None
        hh = self._households(res) if len(cur) else None
        return finish_counts(cur, prev, hh, res, by_category=by_category, bucket=bucket, tz=tz, compare=compare,
                             unplaced=unplaced, source="archive", geometry=geometry)

    def requests_in_cells(self, f: Filters, cat: str, cells: np.ndarray, res: int, fine: int) -> pd.DataFrame:
        want = np.unique(np.asarray(cells).astype(np.int64))
        sel = _selection(f)
        cols = self._columns(sel, "id", "cell", cell_column(res, fine), "category", "text", "grid_code")
        span = self.analysis_span(f)
        ddf = self._frame(cols, *(span if span is not None else (None, None)))
        args = (sel, cat, want, res, fine, _coarse_levels(res))
        if ddf is None:
            df = _empty_rows(ROW_COLUMNS)
        else:
            meta = partition_rows(_empty_rows(cols), *args)
            df = self._compute(ddf.map_partitions(partition_rows, *args, meta=meta))
        return member_rows(df, res, fine)


def _final(sums: pd.DataFrame, spec: CountSpec, n_col: str) -> pd.DataFrame:
    """(cell, [category], [tkey], requests, issues) with requests > 0, as the store's count() returns."""
    keys = spec.keys[1:]
    keep = sums[n_col].to_numpy() > 0
    out = {k: sums[k].to_numpy()[keep] for k in keys}
    out["cell"] = out["cell"].astype(np.int64)
    if "tkey" in out:
        out["tkey"] = out["tkey"].astype(np.int64)
    out["requests"] = sums[n_col].to_numpy(np.int64)[keep]
    out["issues"] = sums["f"].to_numpy(np.int64)[keep]
    return pd.DataFrame(out)


_DTYPES = {"created_at": "datetime64[ms, UTC]", "lng": "float64", "lat": "float64", "cell": "int64",
           "cell_9": "int64", "cell_8": "int64", "cell_7": "int64"}


def _empty_rows(columns: list[str]) -> pd.DataFrame:
    """An empty frame of archive ``columns`` (the shape dask needs to infer outputs)."""
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, "str")) for c in dict.fromkeys(columns)})
