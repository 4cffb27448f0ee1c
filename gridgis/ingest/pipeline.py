"""Ingest one file: read → map columns → validate → CRS → geocode → cells → classify → grids → dedupe → store.

A file is imported in one transaction (chunks bound memory, not atomicity): a failure or a kill
anywhere leaves the database as it was, and running the import again completes it. Ids are stable
(source + source id, or a content hash), so re-importing changes nothing. Rejected rows are kept in
the report and the ``rejects`` table with line, field, value and reason; valid rows of the same file
are stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gridgis import crs as crs_mod
from gridgis import grid
from gridgis.area import ServiceArea
from gridgis.config import Settings
from gridgis.errors import InvalidInputError
from gridgis.grids import GridIndex
from gridgis.ingest import columns as cols_mod
from gridgis.ingest import readers, validate
from gridgis.ingest.dedupe import find_duplicates
from gridgis.ingest.numbers import parse_numbers
from gridgis.ingest.times import parse_times
from gridgis.models import IngestReport, RowProblem
from gridgis.storage import Store
from gridgis.taxonomy import Taxonomy
from gridgis.workflow import normalize_statuses

log = logging.getLogger(__name__)

STORED_FIELDS = (
    "id", "source", "source_id", "created_at", "text", "address", "category", "category_rule",
    "source_category", "request_type", "status", "lng", "lat", "source_crs", "orig_x", "orig_y",
    "geocode_level", "geocode_score", "grid_code", "cell", "cell_9", "cell_8", "cell_7", "duplicate_of",
    "reporter_name", "reporter_phone", "extra", "content_hash",
)
_HASHED = tuple(f for f in STORED_FIELDS if f not in ("id", "duplicate_of", "content_hash"))


@dataclass
class IngestOptions:
    """Per-file options (CLI flags of `gridgis ingest`)."""

    source: str | None = None  # default: the file's stem
    crs: str | None = None  # default: the file's own CRS (geo formats) or WGS84
    mapping: dict[str, str] = field(default_factory=dict)  # source header -> canonical field
    sheet: str | int | None = None
    encoding: str | None = None
    time_format: str | None = None
    dry_run: bool = False
    chunk_rows: int | None = None  # default: settings.batch_size
    fail_after_chunks: int | None = None  # tests: raise after this many chunks were written


class InjectedFailure(RuntimeError):
    """Raised by ``fail_after_chunks`` to prove that an interrupted import leaves nothing behind."""


@dataclass
class IngestContext:
    """Everything an import needs besides the file, loaded once per run."""

    settings: Settings
    taxonomy: Taxonomy
    area: ServiceArea
    grids: GridIndex
    geocoder: object | None = None
    model: object | None = None
    resolution: int = 10

    @classmethod
    def build(cls, settings: Settings, store: Store | None = None) -> IngestContext:
        taxonomy = Taxonomy.load(settings.taxonomy_file)
        geocoder = None
        if settings.gazetteer_file:
            from gridgis.ingest.geocode import Gazetteer, Geocoder

            gaz = Gazetteer.load(settings.gazetteer_file, crs=settings.gazetteer_crs,
                                 city=settings.geocode_city, district=settings.geocode_district)
            geocoder = Geocoder(gaz, fuzzy_threshold=settings.geocode_fuzzy_threshold,
                                city=settings.geocode_city, district=settings.geocode_district)
        model = None
        if settings.classifier_model_file:
            from gridgis.classifier import TextModel

            model = TextModel.load(settings.classifier_model_file)
        grids = GridIndex(store.grids_frame() if store is not None else pd.DataFrame())
        res = settings.h3_resolution
        if store is not None:
            res = int(store.get_meta("h3_resolution", str(res)))
        return cls(settings, taxonomy, ServiceArea.from_settings(settings), grids, geocoder, model, res)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _hash_rows(frame: pd.DataFrame) -> np.ndarray:
    """A stable 64-bit hash per row as 16 hex chars (pandas' fixed-key SipHash of each value)."""
    h = pd.util.hash_pandas_object(frame, index=False, hash_key="gridgis-requests").to_numpy()
    return np.char.mod("%016x", h).astype(object)


def _str_or_none(values: pd.Series) -> np.ndarray:
    s = values.astype("string").str.strip()
    s = s.mask(s == "")
    return s.astype(object).where(s.notna(), None).to_numpy()


class ChunkState:
    """What the chunks of one file share: the column mapping and the ids already seen in the file."""

    def __init__(self) -> None:
        self.mapping: dict[str, str] | None = None
        self.seen_ids: set[str] = set()


def prepare_chunk(
    chunk: readers.TableChunk, ctx: IngestContext, options: IngestOptions, source: str, state: ChunkState
) -> tuple[pd.DataFrame, list[RowProblem], dict]:
    """Turn one read chunk into store-ready rows (duplicate_of still empty) and its row problems.

    Pure apart from the geocoder's cache: no database access. Also returns counters for the report.
    """
    settings = ctx.settings
    if state.mapping is None:
        state.mapping = cols_mod.resolve_columns([str(c) for c in chunk.frame.columns], options.mapping or None)
    canon, extra = cols_mod.apply_columns(chunk.frame, state.mapping)
    n = len(canon)
    checks = validate.RowChecks(chunk.lines, chunk.frame)

    text = canon["text"].astype("string").str.strip()
    checks.add(validate.blank(text), "text", text, validate.EMPTY_TEXT)

    times, bad_time = parse_times(canon["created_at"], settings.timezone, options.time_format)
    missing_time = validate.blank(canon["created_at"].astype("string"))
    checks.add(missing_time, "created_at", canon["created_at"], validate.MISSING_TIME)
    checks.add(bad_time & ~missing_time, "created_at", canon["created_at"], validate.BAD_TIME)

    # Coordinates: columns win; a geo file's own geometry is used where the columns are empty.
    x, bad_x = parse_numbers(canon["lng"])
    y, bad_y = parse_numbers(canon["lat"])
    checks.add(bad_x, "lng", canon["lng"], validate.BAD_NUMBER)
    checks.add(bad_y, "lat", canon["lat"], validate.BAD_NUMBER)
    src_crs = options.crs
    if chunk.geometry_lng is not None:
        use_geom = ~np.isfinite(x) & ~np.isfinite(y) & ~bad_x & ~bad_y
        geom_ok = np.isfinite(chunk.geometry_lng) & np.isfinite(chunk.geometry_lat)
        x = np.where(use_geom & geom_ok, chunk.geometry_lng, x)
        y = np.where(use_geom & geom_ok, chunk.geometry_lat, y)
        if src_crs is None and chunk.file_crs:
            src_crs = chunk.file_crs
    source_crs = crs_mod.parse_crs(src_crs)
    has_x, has_y = np.isfinite(x), np.isfinite(y)
    checks.add((has_x ^ has_y) & ~bad_x & ~bad_y, "lng" if not has_x.all() else "lat",
               np.where(has_x, y, x), validate.HALF_COORD)
    has_xy = has_x & has_y
    lng, lat = crs_mod.to_wgs84(x, y, source_crs)
    lng = np.where(has_xy, lng, np.nan)
    lat = np.where(has_xy, lat, np.nan)
    converted = np.isfinite(lng) & np.isfinite(lat)
    checks.add(has_xy & ~converted, "lng", pd.Series(x), validate.BAD_CRS_COORD)
    inside = ctx.area.contains(lng, lat)
    outside = converted & ~inside
    if outside.any():
        s_lng, s_lat = crs_mod.to_wgs84(y, x, source_crs)  # would the swapped pair be inside?
        swapped = outside & ctx.area.contains(s_lng, s_lat)
        as_text = pd.Series([f"{a}, {b}" for a, b in zip(x, y, strict=True)], dtype=object)
        checks.add(swapped, "lat", as_text, validate.SWAPPED)
        checks.add(outside & ~swapped, "lng", as_text, validate.OUTSIDE)

    level = np.where(has_xy, "source", None).astype(object)
    score = np.full(n, np.nan)
    address = canon["address"].astype("string").str.strip()
    no_addr = validate.blank(address)
    need_geo = ~has_xy & ~bad_x & ~bad_y & ~(has_x ^ has_y)
    if chunk.geometry_lng is not None:
        non_point = need_geo & no_addr & ~np.isfinite(chunk.geometry_lng)
        checks.add(non_point, "geometry", None, validate.NON_POINT)
        need_geo &= ~non_point
    checks.add(need_geo & no_addr, "address", address, validate.NO_LOCATION)
    to_geocode = need_geo & ~no_addr
    if to_geocode.any():
        if ctx.geocoder is None:
            checks.add(to_geocode, "address", address, validate.NO_GAZETTEER)
        else:
            idx = np.flatnonzero(to_geocode)
            res = ctx.geocoder.geocode(address.iloc[idx].reset_index(drop=True))
            method = res["method"].astype(object).to_numpy()
            g_lng = res["lng"].to_numpy(dtype=np.float64)
            g_lat = res["lat"].to_numpy(dtype=np.float64)
            ok = np.isfinite(g_lng) & np.isfinite(g_lat)
            amb = np.zeros(n, dtype=bool)
            amb[idx] = method == "ambiguous"
            unm = np.zeros(n, dtype=bool)
            unm[idx] = ~ok & (method != "ambiguous")
            checks.add(amb, "address", address, validate.AMBIGUOUS)
            checks.add(unm, "address", address, validate.UNMATCHED)
            lng[idx[ok]] = g_lng[ok]
            lat[idx[ok]] = g_lat[ok]
            level[idx[ok]] = res["level"].astype(object).to_numpy()[ok]
            score[idx[ok]] = res["score"].to_numpy(dtype=np.float64)[ok]
            geo_out = np.zeros(n, dtype=bool)
            geo_out[idx[ok]] = ~ctx.area.contains(g_lng[ok], g_lat[ok])
            checks.add(geo_out, "address", address, validate.OUTSIDE)

    # Stable ids; a source id seen earlier in the same file is rejected (the first occurrence is kept).
    source_id = canon["source_id"].astype("string").str.strip()
    source_id = source_id.mask(source_id == "")
    has_sid = source_id.notna().to_numpy()
    sid_vals = source_id.astype(object).to_numpy()
    cand = np.flatnonzero(has_sid & ~checks.bad)
    cand_ids = pd.Series(sid_vals[cand], dtype=object)
    dup = cand_ids.duplicated(keep="first").to_numpy() | cand_ids.isin(state.seen_ids).to_numpy()
    state.seen_ids.update(cand_ids[~dup].tolist())
    dup_in_file = np.zeros(n, dtype=bool)
    dup_in_file[cand[dup]] = True
    checks.add(dup_in_file, "source_id", source_id, validate.DUPLICATE_ID)

    good = ~checks.bad
    problems = checks.problems()
    g = np.flatnonzero(good)
    rows = pd.DataFrame(index=pd.RangeIndex(len(g)))
    rows["source"] = source
    rows["created_at"] = (
        times.iloc[g].dt.as_unit("s").astype("int64").to_numpy() if len(g) else np.empty(0, np.int64)
    )
    rows["text"] = text.iloc[g].astype(object).to_numpy()
    rows["address"] = _str_or_none(address.iloc[g])
    src_cat = canon["source_category"].iloc[g].reset_index(drop=True)
    if ctx.model is not None:
        from gridgis.classifier import classify_with_model

        cls = classify_with_model(ctx.taxonomy, rows["text"].astype("string"), src_cat, ctx.model,
                                  settings.classifier_threshold)
    else:
        cls = ctx.taxonomy.classify(rows["text"].astype("string"), src_cat)
    rows["category"] = cls["category"].astype(object).to_numpy()
    rows["category_rule"] = cls["category_rule"].astype(object).to_numpy()
    rows["source_category"] = _str_or_none(src_cat)
    rtype = ctx.taxonomy.normalize_request_types(canon["request_type"].iloc[g].reset_index(drop=True))
    rows["request_type"] = rtype.astype(object).where(rtype.notna(), None).to_numpy()
    status, unknown_status = normalize_statuses(canon["status"].iloc[g].reset_index(drop=True))
    rows["status"] = status
    rows["lng"] = np.round(lng[g], 7)
    rows["lat"] = np.round(lat[g], 7)
    rows["source_crs"] = source_crs.name
    rows["orig_x"] = np.where(has_xy[g], x[g], np.nan)
    rows["orig_y"] = np.where(has_xy[g], y[g], np.nan)
    rows["geocode_level"] = level[g]
    rows["geocode_score"] = score[g]
    rows["grid_code"] = ctx.grids.assign(rows["lng"].to_numpy(), rows["lat"].to_numpy())
    cells = grid.latlng_to_cells(rows["lat"].to_numpy(), rows["lng"].to_numpy(), ctx.resolution)
    rows["cell"] = cells.astype(np.int64)
    for r in (9, 8, 7):
        rows[f"cell_{r}"] = grid.cells_to_parent(cells, r).astype(np.int64) if r < ctx.resolution else None
    rows["duplicate_of"] = None
    rows["reporter_name"] = _str_or_none(canon["reporter_name"].iloc[g])
    rows["reporter_phone"] = _str_or_none(canon["reporter_phone"].iloc[g])
    extras = list(extra.iloc[g]) if len(g) else []
    raw_status = canon["status"].iloc[g].astype(object).to_numpy()
    rows["extra"] = [
        _extra_json(e, raw_status[i] if unknown_status[i] else None) for i, e in enumerate(extras)
    ]
    # Rows without a source id get one from what identifies the event: source, time, text, place.
    ident = _hash_rows(rows[["source", "created_at", "text", "address", "lng", "lat"]])
    rows["source_id"] = np.where(has_sid[g], sid_vals[g], "h" + ident.astype(str))
    rows["id"] = source + ":" + rows["source_id"].astype(str)
    rows["content_hash"] = _hash_rows(rows[list(_HASHED)])
    rows = rows[list(STORED_FIELDS)]
    counters = {
        "geocoded_by_level": pd.Series(level[g]).value_counts().to_dict(),
        "classified_by_rule": pd.Series(rows["category_rule"]).str.split(":").str[0].value_counts().to_dict(),
        "per_category": rows["category"].value_counts().to_dict(),
        "outside_grids": int(pd.isna(rows["grid_code"]).sum()) if len(ctx.grids) else 0,
    }
    return rows, problems, counters


def _extra_json(extra, raw_status) -> str | None:
    d = extra if isinstance(extra, dict) else (json.loads(extra) if isinstance(extra, str) and extra else {})
    if raw_status is not None:
        d = {**d, "source_status": str(raw_status)}
    return json.dumps(d, ensure_ascii=False, default=str) if d else None


def link_duplicates(rows: pd.DataFrame, store: Store, settings: Settings, conn=None) -> pd.Series:
    """duplicate_of for new rows, against stored requests in the same time window and area."""
    if rows.empty:
        return pd.Series([], dtype=object)
    t = pd.to_datetime(rows["created_at"], unit="s", utc=True)
    win = int(settings.duplicate_days * 86400)
    pad = settings.duplicate_radius_m / 90_000  # degrees; generous at any latitude in China
    bbox = (rows["lng"].min() - pad * 1.3, rows["lat"].min() - pad, rows["lng"].max() + pad * 1.3,
            rows["lat"].max() + pad)
    existing = store.dedupe_candidates(int(rows["created_at"].min()) - win, int(rows["created_at"].max()),
                                       bbox, sorted(rows["category"].unique()), conn=conn)
    existing = existing[~existing["id"].isin(set(rows["id"]))]
    new = pd.DataFrame({"id": rows["id"], "category": rows["category"], "created_at": t,
                        "lng": rows["lng"], "lat": rows["lat"], "text": rows["text"]})
    return find_duplicates(new, existing.reset_index(drop=True), radius_m=settings.duplicate_radius_m,
                           days=settings.duplicate_days, text_similarity=settings.duplicate_text_similarity)


def ingest_file(
    path: str | Path,
    settings: Settings,
    store: Store,
    options: IngestOptions | None = None,
    *,
    ctx: IngestContext | None = None,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Import one file; returns its report. File-level problems raise before anything is stored."""
    options = options or IngestOptions()
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"找不到文件 / file not found: {p}", field="file")
    source = (options.source or p.stem).strip()
    if not source or ":" in source:
        raise InvalidInputError(f"来源名无效 / invalid source name {source!r} (no ':')", field="source")
    fmt = readers.detect_format(p)
    ctx = ctx or IngestContext.build(settings, store)
    report = IngestReport(file=str(p), source=source, dry_run=options.dry_run)
    state = ChunkState()
    chunk_rows = options.chunk_rows or settings.batch_size
    opts_record = {**asdict(options), "format": fmt}
    chunks = readers.iter_chunks(p, chunk_rows=chunk_rows, sheet=options.sheet, encoding=options.encoding)

    def run(conn) -> None:
        batch_id = None
        if not options.dry_run:
            batch_id = store.insert_batch(str(p.name), _sha256(p), source, opts_record, conn=conn)
            report.batch_id = batch_id
        for n_chunk, chunk in enumerate(chunks, start=1):
            rows, problems, counters = prepare_chunk(chunk, ctx, options, source, state)
            rows["duplicate_of"] = link_duplicates(rows, store, settings, conn=conn).to_numpy()
            report.read += len(chunk.frame)
            report.rejected.extend(problems)
            report.duplicates += int(rows["duplicate_of"].notna().sum())
            report.outside_grids += counters["outside_grids"]
            report.geocoded_by_level.update(counters["geocoded_by_level"])
            report.classified_by_rule.update(counters["classified_by_rule"])
            report.per_category.update(counters["per_category"])
            if options.dry_run:
                new, changed = store.classify_changes(rows, conn)
                stored, updated = int(new.sum()), int(changed.sum())
                unchanged = len(rows) - stored - updated
            else:
                stored, updated, unchanged = store.upsert_requests(batch_id, rows, conn=conn)
                store.insert_rejects(batch_id, problems, conn=conn)
            report.stored += stored
            report.updated += updated
            report.unchanged += unchanged
            if progress:
                progress(len(chunk.frame))
            if options.fail_after_chunks is not None and n_chunk >= options.fail_after_chunks:
                raise InjectedFailure(f"injected failure after chunk {n_chunk}")
        if batch_id:
            store.finish_batch(batch_id, report.to_dict(), conn=conn)

    if options.dry_run:
        with store.read() as conn:
            run(conn)
    else:
        try:
            with store.write() as conn:
                run(conn)
        except Exception as exc:
            _record_failed(store, p, source, opts_record, exc)
            raise
    log.info("ingested %s: %s", p, report.to_dict())
    return report


def _record_failed(store: Store, path: Path, source: str, options: dict, exc: Exception) -> None:
    """Keep an audit row for an import that was rolled back (best effort: the import's error wins)."""
    try:
        bid = store.insert_batch(str(path.name), None, source, options, status="failed")
        store.finish_batch(bid, {"error": str(exc)[:2000]}, status="failed")
    except Exception:  # noqa: BLE001 - never mask the original failure
        log.exception("could not record the failed import of %s", path)
