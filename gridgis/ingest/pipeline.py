"""Ingest one file: read → map columns → validate → CRS → geocode → cells → classify → grids → dedupe → store.

A file is imported in one transaction (chunks bound memory, not atomicity): a failure or a kill
anywhere leaves the database as it was, and running the import again completes it. Ids are stable
(source + source id, or a content hash), so re-importing changes nothing. Rejected rows are kept in
the report and the ``rejects`` table with line, field, value and reason; valid rows of the same file
are stored.

Throughput (``bench/ingest.py``): a writer thread stores chunk k while chunk k+1 is prepared; a big
SQLite import sets the secondary indexes aside and rebuilds them before committing
(:mod:`gridgis.storage.sqlite_bulk`); ``demand_counts`` are added once for the whole file; repeats are
linked from the rows kept in memory while the writer rebuilds; rules run once per distinct text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gridgis import grid
from gridgis.area import ServiceArea
from gridgis.config import Settings
from gridgis.errors import InvalidInputError
from gridgis.grids import GridIndex
from gridgis.ingest import columns as cols_mod
from gridgis.ingest import readers, validate
from gridgis.ingest.linking import BatchRows, link_batch, link_duplicates, link_file_batch
from gridgis.ingest.locate import locate
from gridgis.ingest.row_values import as_str, hash_rows, per_distinct, str_or_none
from gridgis.ingest.times import parse_times
from gridgis.models import IngestReport, RowProblem
from gridgis.storage import Store
from gridgis.storage.demand_counts import deferred as deferred_counts
from gridgis.storage.sqlite_bulk import IndexHold
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


class ChunkState:
    """What the chunks of one file share: the column mapping, the ids already seen, stage timings."""

    def __init__(self) -> None:
        self.mapping: dict[str, str] | None = None
        self.seen_ids: set[str] = set()
        self.all_new = False  # no stored row has this source: skip looking the ids up
        self.timings: Counter = Counter()

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] += time.perf_counter() - t0


def prepare_chunk(
    chunk: readers.TableChunk, ctx: IngestContext, options: IngestOptions, source: str, state: ChunkState
) -> tuple[pd.DataFrame, list[RowProblem], dict]:
    """Turn one read chunk into store-ready rows (duplicate_of still empty) and its row problems.

    Pure apart from the geocoder's cache: no database access. Also returns counters for the report.
    """
    settings = ctx.settings
    if state.mapping is None:
        state.mapping = cols_mod.resolve_columns([str(c) for c in chunk.frame.columns], options.mapping or None)
    with state.timed("columns"):
        canon, extra = cols_mod.apply_columns(chunk.frame, state.mapping)
        canon = validate.blank_null_tokens(canon)
    n = len(canon)
    checks = validate.RowChecks(chunk.lines, chunk.frame)

    with state.timed("validate"):
        text = canon["text"].astype("string").str.strip()
        checks.add(validate.blank(text), "text", text, validate.EMPTY_TEXT)
        times, bad_time = parse_times(canon["created_at"], settings.timezone, options.time_format)
        missing_time = validate.blank(canon["created_at"].astype("string"))
        checks.add(missing_time, "created_at", canon["created_at"], validate.MISSING_TIME)
        checks.add(bad_time & ~missing_time, "created_at", canon["created_at"], validate.BAD_TIME)
        future = (times > pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)).to_numpy(dtype=bool)
        checks.add(future, "created_at", canon["created_at"], validate.FUTURE_TIME)

    with state.timed("locate"):
        loc = locate(canon, chunk, ctx, options.crs, checks)
    lng, lat, x, y, has_xy, level, score = loc.lng, loc.lat, loc.x, loc.y, loc.has_xy, loc.level, loc.score
    address = loc.address

    # Stable ids; a source id seen earlier in the same file is rejected (the first occurrence is kept).
    source_id = canon["source_id"].astype("string").str.strip()
    source_id = source_id.mask(source_id == "")
    has_sid = source_id.notna().to_numpy()
    sid_vals = source_id.astype(object).to_numpy()
    cand = np.flatnonzero(has_sid & ~checks.bad)
    cand_ids = pd.Series(sid_vals[cand], dtype=object)
    dup = cand_ids.duplicated(keep="first").to_numpy()
    if state.seen_ids:  # a set lookup per id: isin() would copy the whole set for every chunk
        seen = state.seen_ids
        dup = dup | np.fromiter((i in seen for i in cand_ids.tolist()), dtype=bool, count=len(cand_ids))
    state.seen_ids.update(cand_ids[~dup].tolist())
    dup_in_file = np.zeros(n, dtype=bool)
    dup_in_file[cand[dup]] = True
    checks.add(dup_in_file, "source_id", source_id, validate.DUPLICATE_ID)

    good = ~checks.bad
    problems = sorted([*chunk.problems, *checks.problems()], key=lambda p: p.line)
    g = np.flatnonzero(good)
    rows = pd.DataFrame(index=pd.RangeIndex(len(g)))
    rows["source"] = source
    rows["created_at"] = (
        times.iloc[g].dt.as_unit("s").astype("int64").to_numpy() if len(g) else np.empty(0, np.int64)
    )
    rows["text"] = text.iloc[g].astype(object).to_numpy()
    rows["address"] = str_or_none(address.iloc[g])
    src_cat = canon["source_category"].iloc[g].reset_index(drop=True)
    with state.timed("classify"):
        category, rule = _classify(ctx, rows["text"], src_cat)
    rows["category"] = category
    rows["category_rule"] = rule
    rows["source_category"] = str_or_none(src_cat)
    rt_codes, rtype = per_distinct(canon["request_type"].iloc[g].reset_index(drop=True),
                                    ctx.taxonomy.normalize_request_types)
    rows["request_type"] = rtype.astype(object).where(rtype.notna(), None).to_numpy()[rt_codes]
    st_codes, (status, unknown_status) = per_distinct(
        canon["status"].iloc[g].reset_index(drop=True).astype("string"), normalize_statuses)
    rows["status"] = status[st_codes]
    unknown_status = unknown_status[st_codes]
    rows["lng"] = np.round(lng[g], 7)
    rows["lat"] = np.round(lat[g], 7)
    rows["source_crs"] = loc.crs_name
    rows["orig_x"] = np.where(has_xy[g], x[g], np.nan)
    rows["orig_y"] = np.where(has_xy[g], y[g], np.nan)
    rows["geocode_level"] = level[g]
    rows["geocode_score"] = score[g]
    with state.timed("grids"):
        rows["grid_code"] = ctx.grids.assign(rows["lng"].to_numpy(), rows["lat"].to_numpy())
    with state.timed("h3"):
        cells = grid.latlng_to_cells(rows["lat"].to_numpy(), rows["lng"].to_numpy(), ctx.resolution)
        rows["cell"] = cells.astype(np.int64)
        for r in (9, 8, 7):
            rows[f"cell_{r}"] = grid.cells_to_parent(cells, r).astype(np.int64) if r < ctx.resolution else None
    rows["duplicate_of"] = None
    rows["reporter_name"] = str_or_none(canon["reporter_name"].iloc[g])
    rows["reporter_phone"] = str_or_none(canon["reporter_phone"].iloc[g])
    rows["extra"] = _extras(extra.iloc[g], canon["status"].iloc[g], unknown_status)
    with state.timed("ids"):
        # Rows without a source id get one from what identifies the event: source, time, text, place.
        ident = hash_rows(rows[["source", "created_at", "text", "address", "lng", "lat"]])
        given = pa.array(source_id.iloc[g], type=pa.string(), from_pandas=True)
        sid = pc.if_else(pa.array(has_sid[g]), given, pc.binary_join_element_wise("h", ident, ""))
        rows["source_id"] = as_str(sid)
        rows["id"] = as_str(pc.binary_join_element_wise(source + ":", sid, ""))
        rows["content_hash"] = as_str(hash_rows(rows[list(_HASHED)]))
    rows = rows[list(STORED_FIELDS)]
    by_rule: Counter = Counter()
    for r, k in rows["category_rule"].value_counts().items():
        by_rule[str(r).split(":")[0]] += int(k)
    counters = {
        "geocoded_by_level": pd.Series(level[g]).value_counts().to_dict(),
        "classified_by_rule": dict(by_rule),
        "per_category": rows["category"].value_counts().to_dict(),
        "outside_grids": int(pd.isna(rows["grid_code"]).sum()) if len(ctx.grids) else 0,
    }
    return rows, problems, counters


def _classify(ctx: IngestContext, texts: pd.Series, source_categories: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(category, category_rule) per row, decided once per distinct (text, source category) pair: the
    rules and the model look at one row at a time, and hotline exports repeat their texts."""
    t_codes, t_uniques = pd.factorize(texts, use_na_sentinel=False)
    # The labels as the taxonomy reads them (text), so 1 and 1.0 stay apart as they do there.
    s_codes, s_uniques = pd.factorize(source_categories.astype("str"), use_na_sentinel=False)
    codes, _ = pd.factorize(t_codes.astype(np.int64) * max(len(s_uniques), 1) + s_codes, use_na_sentinel=False)
    _, first = np.unique(codes, return_index=True)
    text = texts.iloc[first].reset_index(drop=True).astype("string")
    labels = source_categories.iloc[first].reset_index(drop=True)
    if ctx.model is not None:
        from gridgis.classifier import classify_with_model

        cls = classify_with_model(ctx.taxonomy, text, labels, ctx.model, ctx.settings.classifier_threshold)
    else:
        cls = ctx.taxonomy.classify(text, labels)
    return (cls["category"].astype(object).to_numpy()[codes], cls["category_rule"].astype(object).to_numpy()[codes])


def _extras(extra: pd.Series, raw_status: pd.Series, unknown_status: np.ndarray) -> np.ndarray:
    """Extra attributes as JSON text (None when empty); an unknown source status is kept there."""
    out = extra.astype(object).to_numpy().copy()
    out[(out == "{}") | pd.isna(out)] = None
    for i in np.flatnonzero(unknown_status):  # rare: only rows whose status label was not recognised
        d = json.loads(out[i]) if out[i] else {}
        d["source_status"] = str(raw_status.iloc[i])
        out[i] = json.dumps(d, ensure_ascii=False)
    return out


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
    source = _check_source(options.source or p.stem)
    fmt = readers.detect_format(p)
    ctx = ctx or IngestContext.build(settings, store)
    report = IngestReport(file=str(p), source=source, dry_run=options.dry_run)
    state = ChunkState()
    chunk_rows = options.chunk_rows or settings.batch_size
    opts_record = {**asdict(options), "format": fmt}
    chunks = readers.iter_chunks(p, chunk_rows=chunk_rows, sheet=options.sheet, encoding=options.encoding)

    def run(conn, stage=None) -> None:
        batch_id = hold = None
        kept = BatchRows()
        if not options.dry_run:
            batch_id = store.insert_batch(str(p.name), _sha256(p), source, opts_record, conn=conn)
            # A source never imported before: every row is new (ids repeated within the file are rejected).
            state.all_new = store.source_is_new(source, conn)
            report.batch_id = batch_id
            hold = IndexHold(conn)  # SQLite: indexes set aside while a big import goes in, rebuilt below

        def write(rows: pd.DataFrame, problems: list[RowProblem]) -> tuple[int, int, int]:
            with state.timed("store"):
                if options.dry_run:
                    new, changed = store.classify_changes(rows, conn)
                    return int(new.sum()), int(changed.sum()), int(len(rows) - new.sum() - changed.sum())
                counts = store.upsert_requests(batch_id, rows, conn=conn, all_new=state.all_new, stage=stage)
                store.insert_rejects(batch_id, problems, conn=conn)
                hold.wrote(counts[0])
                kept.add(rows, counts)
                return counts

        def collect(fut: Future) -> None:
            with state.timed("wait"):
                stored, updated, unchanged = fut.result()
            report.stored += stored
            report.updated += updated
            report.unchanged += unchanged

        # The database write of chunk k (SQLite releases the GIL while it works) overlaps the
        # preparation of chunk k+1; one writer at a time keeps the connection single-threaded.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gridgis-store") as pool:
            pending: Future | None = None
            n_chunk = 0
            while True:
                with state.timed("read"):
                    chunk = next(chunks, None)
                if chunk is None:
                    break
                n_chunk += 1
                rows, problems, counters = prepare_chunk(chunk, ctx, options, source, state)
                _tally(report, len(chunk.frame), problems, counters)
                if pending is not None:
                    collect(pending)
                    pending = None
                if options.dry_run:  # nothing is stored: repeats are looked for chunk by chunk, inline
                    collect(_done(write(rows, problems)))
                    with state.timed("dedupe"):
                        report.duplicates += int(link_duplicates(store, settings, rows=rows, conn=conn).notna().sum())
                else:
                    pending = pool.submit(write, rows, problems)
                del rows
                if progress:
                    progress(len(chunk.frame))
                if options.fail_after_chunks is not None and n_chunk >= options.fail_after_chunks:
                    raise InjectedFailure(f"injected failure after chunk {n_chunk}")
            if pending is not None:
                collect(pending)
            state.seen_ids.clear()  # the file is read: its ids are in the rows now (memory for the linking)
            if batch_id:
                # Repeats are linked once the whole file is in: every row sees every other, whatever the order.
                with state.timed("dedupe"):
                    report.duplicates = link_file_batch(store, settings, batch_id, conn, kept, hold, pool, stage)
                if hold.rebuild_s:
                    state.timings["indexes"] += hold.rebuild_s  # overlaps the "dedupe" stage
                if stage is not None and stage.rows:
                    state.timings["copy"] += stage.copy_s  # the staged rows into requests: beside "dedupe" too
        report.timings.update(state.timings)
        if batch_id:
            store.finish_batch(batch_id, report.to_dict(), conn=conn)

    if options.dry_run:
        with store.read() as conn:
            run(conn)
    else:
        try:
            with (store.write() as conn, store.bulk_write(conn), deferred_counts(conn),
                  store.request_stage(conn) as stage):
                run(conn, stage)
        except Exception as exc:
            _record_failed(store, p, source, opts_record, exc)
            raise
    log.info("ingested %s: %s", p, report.to_dict())
    return report


def _check_source(source: str) -> str:
    source = str(source).strip()
    if not source or ":" in source:
        raise InvalidInputError(f"来源名无效 / invalid source name {source!r} (no ':')", field="source")
    return source


def _tally(report: IngestReport, n_read: int, problems: list[RowProblem], counters: dict) -> None:
    """Add one prepared chunk's counts to the report."""
    report.read += n_read
    report.rejected.extend(problems)
    report.outside_grids += counters["outside_grids"]
    report.geocoded_by_level.update(counters["geocoded_by_level"])
    report.classified_by_rule.update(counters["classified_by_rule"])
    report.per_category.update(counters["per_category"])


def ingest_frame(
    frame: pd.DataFrame,
    settings: Settings,
    store: Store,
    options: IngestOptions | None = None,
    *,
    ctx: IngestContext | None = None,
    name: str = "frame",
    strict: bool = False,
) -> tuple[IngestReport, pd.DataFrame]:
    """Import rows held in memory (an API submission) exactly like one chunk of a file, in one transaction.

    ``frame`` carries source headers as a file would (aliases, or ``options.mapping``); problems number its
    rows from 1. The same checks, locating, classification, stable ids and duplicate links run as in
    :func:`ingest_file`. ``strict``: the first row problem raises :class:`InvalidInputError` naming its
    field, before anything is stored (an API caller gets the error instead of a reject row).
    Returns the report and the prepared rows, ``duplicate_of`` as linked.
    """
    options = options or IngestOptions()
    source = _check_source(options.source or "api")
    ctx = ctx or IngestContext.build(settings, store)
    report = IngestReport(file=name, source=source, dry_run=options.dry_run)
    state = ChunkState()
    data = frame.reset_index(drop=True)
    chunk = readers.TableChunk(frame=data, lines=np.arange(1, len(data) + 1, dtype=np.int64), geometry_lng=None,
                               geometry_lat=None, file_crs=None, format="frame", encoding=None)
    rows, problems, counters = prepare_chunk(chunk, ctx, options, source, state)
    _tally(report, len(data), problems, counters)
    if strict and problems:
        p = problems[0]
        shown = f": {p.value}" if p.value else ""
        raise InvalidInputError(f"{p.field}: {p.reason}{shown}", field=p.field, line=p.line)
    if options.dry_run:
        with store.read() as conn:
            new, changed = store.classify_changes(rows, conn)
            dup = link_duplicates(store, settings, rows=rows, conn=conn)
        report.stored, report.updated = int(new.sum()), int(changed.sum())
        report.unchanged = len(rows) - report.stored - report.updated
        report.duplicates = int(dup.notna().sum())
    else:
        with store.write() as conn:
            batch_id = store.insert_batch(name, None, source, {**asdict(options), "format": "frame"}, conn=conn)
            report.batch_id = batch_id
            report.stored, report.updated, report.unchanged = store.upsert_requests(batch_id, rows, conn=conn)
            store.insert_rejects(batch_id, problems, conn=conn)
            dup = link_batch(store, settings, batch_id, conn)
            report.duplicates = len(dup)
            report.timings.update(state.timings)
            store.finish_batch(batch_id, report.to_dict(), conn=conn)
    linked = rows["id"].map(dup.dropna())
    rows["duplicate_of"] = linked.astype(object).where(linked.notna(), None)
    log.info("ingested %s: %s", name, report.to_dict())
    return report, rows


def _done(value) -> Future:
    fut: Future = Future()
    fut.set_result(value)
    return fut


def _record_failed(store: Store, path: Path, source: str, options: dict, exc: Exception) -> None:
    """Keep an audit row for an import that was rolled back (best effort: the import's error wins)."""
    try:
        bid = store.insert_batch(str(path.name), None, source, options, status="failed")
        store.finish_batch(bid, {"error": str(exc)[:2000]}, status="failed")
    except Exception:  # noqa: BLE001 - never mask the original failure
        log.exception("could not record the failed import of %s", path)
