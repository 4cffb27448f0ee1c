"""Request archives: the requests as a month-partitioned GeoParquet dataset, for the dask engine.

Layout of an archive folder PATH (hive-style: pyarrow, dask, DuckDB and GDAL/QGIS read it as it is)::

    PATH/month=2026-03/part-00000.parquet   requests created in that local month: GeoParquet (point
                                            geometry, WKB, EPSG:4326), one file per export chunk
    PATH/_gridgis/archive.json              what makes PATH an archive: format, version, the fine H3
                                            resolution, the time zone of the months, rows per month
    PATH/_gridgis/categories.parquet, grids.parquet, cell_households.parquet
                                            the small tables hot spots and projects need

Dataset readers skip names starting with ``_`` (staging folders and the tables above).

**Privacy** (DOMAIN.md §9). The archive is an internal analysis copy: points stay exact (zones test
them), but it is built with :func:`gridgis.privacy.public_requests` — the columns that never leave the
store (:data:`~gridgis.privacy.WITHHELD_COLUMNS`: reporter names and phones, free source columns,
original coordinates) are not written, texts are scrubbed (ID, phone numbers, the reporter's own name)
and hidden for sensitive categories, addresses are cut to the 小区/栋; the grid worker's name stays inside.

**Writing.** The store is read in ``created_at`` order, ``chunk_rows`` rows at a time (keyset paging), so
memory follows the chunk size, not the table. Every part is written to a staging folder first; only when
all are written is each month swapped in (the old folder renamed aside, the new one renamed in, the old
one deleted). A month is replaced whole — also by an export whose --since/--until covers part of it — and
a failed export leaves the archive as it was.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import and_, or_, select

from gridgis import grid
from gridgis.config import Settings
from gridgis.errors import InvalidInputError
from gridgis.heatmap import periods
from gridgis.heatmap.filters import Filters, check_filters
from gridgis.storage.schema import cell_households, requests
from gridgis.storage.store import Store, to_epoch_seconds

log = logging.getLogger(__name__)

FORMAT, VERSION = "gridgis-archive", 1
META_DIR, META_FILE, PARTITION = "_gridgis", "archive.json", "month"
COLUMNS: dict[str, str] = {  # name → pandas dtype, in file order (the geometry column follows)
    "id": "str", "source": "str", "created_at": "datetime64[ms, UTC]", "category": "str", "request_type": "str",
    "status": "str", "grid_code": "str", "geocode_level": "str", "geocode_score": "float64",
    "duplicate_of": "str", "text": "str", "address": "str", "lng": "float64", "lat": "float64",
    "cell": "int64", "cell_9": "int64", "cell_8": "int64", "cell_7": "int64",
}
TABLES = ("categories", "grids", "cell_households")
_GRID_COLUMNS = ("grid_code", "name", "community", "subdistrict", "households", "min_lng", "min_lat", "max_lng",
                 "max_lat", "geometry")  # not grid_worker (a person's name) nor free attributes


# --------------------------------------------------------------------------------------------- frames
def month_labels(created_at_s: np.ndarray, tz: str) -> np.ndarray:
    """UTC epoch seconds → local month labels ``YYYY-MM`` in ``tz`` (object array)."""
    months = periods.month_of_day(periods.local_days_of_epochs(np.asarray(created_at_s, np.int64), tz))
    uniq, inv = np.unique(months, return_inverse=True)
    labels = np.array([f"{m // 12:04d}-{m % 12 + 1:02d}" for m in uniq.tolist()], dtype=object)
    return labels[inv.reshape(-1)]


def archive_frame(rows: pd.DataFrame, tz: str, category_names: Mapping[str, str]) -> pd.DataFrame:
    """Store rows (``requests_frame``, with ``reporter_name`` for scrubbing) → archive rows: :data:`COLUMNS`
    under the privacy policy, typed alike in every chunk, plus the partition column ``month``."""
    from gridgis.privacy import public_requests

    pub = public_requests(rows, category_names=category_names, snap_points=False).reset_index(drop=True)
    cell = pub["cell"].to_numpy(np.int64)
    out: dict[str, object] = {}
    for name, dtype in COLUMNS.items():
        col = pub[name]
        if name in ("cell_9", "cell_8", "cell_7"):  # the parent of the fine cell where the store has none
            missing = col.isna().to_numpy()
            values = col.fillna(0).to_numpy(np.int64)
            if missing.any():
                values[missing] = grid.cells_to_parent(cell[missing].astype(np.uint64), int(name[-1])).astype(np.int64)
            out[name] = values
        elif dtype == "str":
            out[name] = pd.array(col.astype(object).where(col.notna(), None).to_numpy(), dtype="str")
        else:
            out[name] = col.astype(dtype)
    frame = pd.DataFrame(out)
    frame[PARTITION] = month_labels(to_epoch_seconds(frame["created_at"]), tz)
    return frame


# --------------------------------------------------------------------------------------------- writing
class ArchiveWriter:
    """Month partitions written to a staging folder; :meth:`commit` swaps them in, a failure removes them.

    Use as a context manager: leaving it by an exception leaves PATH as it was."""

    def __init__(self, root: str | Path, compression: str = "zstd") -> None:
        self.root = Path(root)
        self.stage = self.root / f"_staging-{uuid.uuid4().hex[:12]}"
        self.compression = compression
        self.months: dict[str, dict] = {}
        self._seq = 0

    def write(self, frame: pd.DataFrame) -> None:
        """Write archive rows (:data:`COLUMNS` + ``month``) as one part file per month."""
        import geopandas as gpd

        for month, part in frame.groupby(PARTITION, sort=True):
            folder = self.stage / f"{PARTITION}={month}"
            folder.mkdir(parents=True, exist_ok=True)
            part = part.drop(columns=PARTITION).reset_index(drop=True)
            geo = gpd.GeoDataFrame(part, geometry=gpd.points_from_xy(part["lng"], part["lat"]), crs="EPSG:4326")
            geo.to_parquet(folder / f"part-{self._seq:05d}.parquet", index=False, compression=self.compression)
            self._seq += 1
            t = to_epoch_seconds(part["created_at"])
            m = self.months.setdefault(str(month), {"rows": 0, "first": int(t.min()), "last": int(t.max())})
            m["rows"] += len(part)
            m["first"], m["last"] = min(m["first"], int(t.min())), max(m["last"], int(t.max()))

    def commit(self) -> dict[str, dict]:
        """Swap every written month into PATH (replacing the month there) and remove the staging folder."""
        for month in sorted(self.months):
            new, dest = self.stage / f"{PARTITION}={month}", self.root / f"{PARTITION}={month}"
            old = self.stage / f"_old-{month}"
            if dest.exists():
                dest.rename(old)
            new.rename(dest)
            if old.exists():
                shutil.rmtree(old)
        self.abort()
        return self.months

    def abort(self) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


def _replace_file(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename over ``path`` (atomic)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_metadata(root: Path, meta: dict) -> None:
    (root / META_DIR).mkdir(parents=True, exist_ok=True)
    text = json.dumps(meta, ensure_ascii=False, indent=1, sort_keys=True)
    _replace_file(root / META_DIR / META_FILE, lambda p: p.write_text(text, encoding="utf-8"))


def write_table(root: Path, name: str, frame: pd.DataFrame) -> None:
    """One of the small :data:`TABLES` into ``_gridgis/NAME.parquet``."""
    (root / META_DIR).mkdir(parents=True, exist_ok=True)
    _replace_file(root / META_DIR / f"{name}.parquet", lambda p: frame.to_parquet(p, index=False))


def new_metadata(fine: int, tz: str) -> dict:
    return {"format": FORMAT, "version": VERSION, "h3_resolution": int(fine), "timezone": tz,
            "columns": [*COLUMNS, "geometry"], "partitioning": PARTITION, "months": {}}


# --------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Archive:
    """An archive folder as described by its ``_gridgis/archive.json``."""

    root: Path
    meta: dict

    @property
    def fine(self) -> int:
        return int(self.meta["h3_resolution"])

    @property
    def tz(self) -> str:
        return str(self.meta["timezone"])

    @property
    def months(self) -> dict[str, dict]:
        return dict(self.meta.get("months", {}))

    def span(self) -> tuple[int, int] | None:
        """[first, last + 1) epoch seconds of the archived requests, None when empty."""
        m = [v for v in self.months.values() if v.get("rows")]
        return (min(v["first"] for v in m), max(v["last"] for v in m) + 1) if m else None

    def table(self, name: str) -> pd.DataFrame:
        """One of the small :data:`TABLES` (empty frame when the export had none)."""
        p = self.root / META_DIR / f"{name}.parquet"
        return pd.read_parquet(p) if p.exists() else pd.DataFrame()


def open_archive(path: str | Path) -> Archive:
    """The archive at ``path``, or InvalidInputError naming the path when it is missing or not an archive."""
    root = Path(path)
    if not root.is_dir():
        raise InvalidInputError(f"归档 {root} 不存在或不是文件夹 / archive {root} does not exist or is not a folder; "
                                "write one with `gridgis archive export PATH`", field="archive")
    try:
        meta = json.loads((root / META_DIR / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InvalidInputError(f"{root} 不是 gridgis 归档（缺少 {META_DIR}/{META_FILE}）/ {root} is not a gridgis "
                                f"archive (no valid {META_DIR}/{META_FILE}); write one with `gridgis archive "
                                "export PATH`", field="archive")
    if int(meta.get("version", 0)) > VERSION:
        raise InvalidInputError(f"归档 {root} 的版本 {meta.get('version')} 比本程序新 / archive {root} has format "
                                f"version {meta.get('version')}, newer than this gridgis ({VERSION}): upgrade gridgis",
                                field="archive")
    return Archive(root, meta)


# --------------------------------------------------------------------------------------------- export
def store_chunks(store: Store, f: Filters, chunk_rows: int, columns: list[str]) -> Iterator[pd.DataFrame]:
    """The selected requests in (created_at, id) order, ``chunk_rows`` at a time (keyset paging: each
    query starts after the last row of the previous one, through the created_at index)."""
    r = requests
    conds = []
    if f.since is not None:
        conds.append(r.c.created_at >= int(np.floor(f.since.timestamp())))
    if f.until is not None:
        conds.append(r.c.created_at < int(np.ceil(f.until.timestamp())))
    if f.categories:
        conds.append(r.c.category.in_(f.categories))
    after: tuple[int, str] | None = None
    while True:
        page = list(conds)
        if after is not None:
            page += [r.c.created_at >= after[0], or_(r.c.created_at > after[0], r.c.id > after[1])]
        df = store.requests_frame(columns, where=and_(*page) if page else None, limit=chunk_rows)
        if df.empty:
            return
        yield df
        if len(df) < chunk_rows:
            return
        after = (int(to_epoch_seconds(df["created_at"].iloc[-1:])[0]), str(df["id"].iloc[-1]))


def _store_tables(store: Store) -> dict[str, pd.DataFrame]:
    grids = store.grids_frame()
    grids = grids[[c for c in _GRID_COLUMNS if c in grids.columns]]
    with store.read() as conn:
        hh = conn.execute(select(cell_households.c.cell, cell_households.c.cell_9, cell_households.c.cell_8,
                                 cell_households.c.cell_7, cell_households.c.households)).all()
    households = pd.DataFrame({c: np.array([row[i] for row in hh], dtype=np.float64 if c == "households"
                                           else np.int64) for i, c in enumerate(("cell", "cell_9", "cell_8",
                                                                                 "cell_7", "households"))})
    cats = store.categories_frame()
    return {"categories": cats.astype({c: "str" for c in cats.columns if cats[c].dtype == object}),
            "grids": grids.astype({c: "str" for c in grids.columns if grids[c].dtype == object}),
            "cell_households": households}


def export_archive(store: Store, settings: Settings, path: str | Path, *, since=None, until=None,
                   categories: tuple[str, ...] = (), chunk_rows: int = 100_000, who: str | None = None) -> dict:
    """Write the selected requests to the archive at ``path`` (created if needed), replacing each month
    written, with the small tables refreshed; audited as ``export.archive``. Returns a report:
    ``{"path", "rows", "months": {month: rows}, "replaced": [months that existed before]}``."""
    from gridgis import audit
    from gridgis.export.kinds import audit_filters
    from gridgis.taxonomy import Taxonomy

    if int(chunk_rows) < 1:
        raise InvalidInputError(f"chunk_rows 须为正整数 / chunk_rows must be a positive integer, got {chunk_rows}",
                                field="chunk_rows")
    root = Path(path)
    fine, tz = int(store.get_meta("h3_resolution", "10")), settings.timezone
    meta = _target_metadata(root, fine, tz)
    tax = Taxonomy.load(settings.taxonomy_file)
    codes = store.categories_frame()["code"].astype(str).tolist() or None
    f = check_filters(Filters(since=since, until=until, categories=tuple(categories)), tz=tz, categories=codes,
                      taxonomy=tax)
    names = {c.code: c.name_zh for c in tax.categories}
    columns = [*COLUMNS, "reporter_name"]  # the name only to mask it in texts; never written
    root.mkdir(parents=True, exist_ok=True)
    rows = 0
    with ArchiveWriter(root) as writer:
        for chunk in store_chunks(store, f, int(chunk_rows), columns):
            writer.write(archive_frame(chunk, tz, names))
            rows += len(chunk)
            log.info("archive: %d rows staged", rows)
        tables = _store_tables(store)
        replaced = sorted(m for m in writer.months if (root / f"{PARTITION}={m}").exists())
        months = writer.commit()
    for name, frame in tables.items():
        write_table(root, name, frame)
    stamp = int(time.time())
    filters = audit_filters(f)
    for m, info in months.items():
        meta["months"][m] = {**info, "exported_at": stamp, "filters": filters}
    write_metadata(root, meta)
    audit.record(store, who, "export.archive", {**filters, "path": str(root)}, rows)
    return {"path": str(root), "rows": rows, "months": {m: v["rows"] for m, v in sorted(months.items())},
            "replaced": replaced}


def _target_metadata(root: Path, fine: int, tz: str) -> dict:
    """The metadata to update: the archive's own, or a new one for a missing or empty folder."""
    if root.exists() and not root.is_dir():
        raise InvalidInputError(f"{root} 是文件，归档须为文件夹 / {root} is a file: an archive is a folder",
                                field="path")
    if not root.exists() or not any(root.iterdir()):
        return new_metadata(fine, tz)
    if not (root / META_DIR / META_FILE).exists():
        raise InvalidInputError(f"{root} 非空且不是 gridgis 归档，不写入 / {root} is not empty and is not a gridgis "
                                "archive: refusing to write into it", field="path")
    meta = open_archive(root).meta
    if int(meta["h3_resolution"]) != fine or meta["timezone"] != tz:
        raise InvalidInputError(
            f"归档 {root} 为 H3 {meta['h3_resolution']} 级、时区 {meta['timezone']}，与数据库（{fine} 级、{tz}）不符 / "
            f"archive {root} holds H3 res {meta['h3_resolution']} months in {meta['timezone']}, the store res "
            f"{fine} in {tz}: export to a new folder", field="path")
    return meta
