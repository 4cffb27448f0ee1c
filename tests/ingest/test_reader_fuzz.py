"""Property-based fuzzing of every reader through ``ingest_file`` (hypothesis).

Hostile files — random bytes, truncated or corrupted files, wrong encodings, odd and huge cells,
formula-like cells, NaN/inf coordinates, bad dates, BOMs, mixed types, empty and header-only files,
duplicated headers, structurally valid files with random contents — must end either in a report (rows
stored, rejects reported per row) or in an :class:`InvalidInputError` whose message names the field,
row or file. Never another exception, and after an error nothing of that file is stored.

CI runs a modest number of examples (derandomized, well under a minute); ``GRIDGIS_FUZZ_EXAMPLES=N``
runs N random examples per reader (``bench/fuzz.py`` does, with a per-reader tally from :data:`STATS`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import os
import shutil
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import hypothesis.strategies as st
import pyogrio.errors
import pytest
from hypothesis import HealthCheck, given, reject
from hypothesis import settings as hsettings
from sqlalchemy import text as sql

from gridgis.config import Settings, load_settings
from gridgis.errors import InvalidInputError
from gridgis.ingest.columns import ALIASES
from gridgis.ingest.pipeline import IngestContext, IngestOptions, ingest_file
from gridgis.ingest.readers import FIELD_COUNT_REASON
from gridgis.storage import Store, init_db
from tests.conftest import SAMPLE

EXAMPLES = int(os.environ.get("GRIDGIS_FUZZ_EXAMPLES", "0") or 0)  # 0: the CI budget of each test
#: (reader, outcome) → examples tried; bench/fuzz.py prints it after a long run.
STATS: Counter = Counter()


def budget(ci_examples: int):
    """Hypothesis settings: the CI budget (derandomized: no flaky CI), or GRIDGIS_FUZZ_EXAMPLES random ones."""
    return hsettings(
        max_examples=EXAMPLES or ci_examples,
        derandomize=not EXAMPLES,
        deadline=None,
        database=None,  # leave no .hypothesis/ folder in the checkout; found bugs get regression tests
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                               HealthCheck.filter_too_much],
    )


# ------------------------------------------------------------------------------------------- harness
@dataclass(repr=False)
class FuzzEnv:
    settings: Settings
    store: Store
    ctx: IngestContext
    folder: Path
    counter: itertools.count

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"FuzzEnv({self.folder})"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The sample community's settings (gazetteer, grids, service area) on a fresh SQLite file."""
    folder = tmp_path_factory.mktemp("fuzz")
    settings = load_settings(SAMPLE / "gridgis.toml", env={}, database_url=f"sqlite:///{folder / 'fuzz.sqlite3'}")
    store = init_db(settings)
    yield FuzzEnv(settings, store, IngestContext.build(settings, store), folder, itertools.count())
    store.close()


def _counts(store: Store) -> tuple[int, int, int, int]:
    """requests, rejects, batches that count (not 'failed'), rows claimed by failed batches."""
    with store.read() as conn:
        return tuple(conn.execute(sql(
            "SELECT (SELECT count(*) FROM requests), (SELECT count(*) FROM rejects), "
            "(SELECT count(*) FROM ingest_batches WHERE status != 'failed'), "
            "(SELECT coalesce(sum(rows_stored + rows_updated + rows_rejected), 0) FROM ingest_batches "
            " WHERE status = 'failed')"
        )).one())


def check_ingest(env: FuzzEnv, reader: str, files: dict[str, bytes], options: dict | None = None) -> str:
    """Write ``files`` (name → bytes; the first is imported) to a fresh folder and check the property."""
    n = next(env.counter)
    folder = env.folder / f"x{n}"
    folder.mkdir()
    try:
        for name, data in files.items():
            (folder / name).write_bytes(data)
        path = folder / next(iter(files))
        before = _counts(env.store)
        opts = IngestOptions(source=f"fz{n}", **(options or {}))
        try:
            report = ingest_file(path, env.settings, env.store, opts, ctx=env.ctx)
        except InvalidInputError as exc:
            msg = str(exc)
            assert exc.field or exc.line, f"error names no field/row: {msg}"
            assert " / " in msg, f"error is not zh-CN / English: {msg}"
            # The audit row of a rolled-back import (status 'failed', no rows) is allowed; nothing else.
            assert _counts(env.store) == before, f"{msg}: something of the failed file was stored"
            outcome = type(exc).__name__
        else:
            after = _counts(env.store)
            assert after[0] - before[0] == report.stored
            assert after[1] - before[1] == len(report.rejected)
            assert after[2] - before[2] == 1 and after[3] == before[3]
            assert all(p.line >= 1 and p.field and p.reason for p in report.rejected)
            reader_rejects = len({p.line for p in report.rejected if p.reason == FIELD_COUNT_REASON})
            assert report.read + reader_rejects == (
                report.stored + report.updated + report.unchanged + report.rejected_count
            ), report.to_dict()
            outcome = "stored" if report.stored else "no rows stored"
        STATS[reader, outcome] += 1
        return outcome
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------- strategies
REAL_HEADER = ["工单编号", "受理时间", "诉求内容", "事发地址", "经度", "纬度", "联系电话", "办理状态"]
HEADERS = sorted({a for aliases in ALIASES.values() for a in aliases[:3]} | {
    "备注", "序号", "", " ", "经度", "经度（WGS84）", "=HYPERLINK(\"http://x\")", "@cmd", "ID", "id", "Id",
    "\ufeff工单编号", "unnamed_1", "工单编号.1",
})
HOSTILE = [
    "", " ", "\t", "NULL", "null", "None", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e400", "-1e400",
    "1e-400", "-0", "0", "0x1F", "１０４．０６", "104°3′5″", "104,06", "30.6.1", "1_000", "٣٠٫٦",
    "=cmd|' /C calc'!A0", "=1/0", "+1+1", "-2+3", "@SUM(A1:A9)", "=HYPERLINK(\"http://evil\")",
    "'; DROP TABLE requests; --", "<script>alert(1)</script>", "../../etc/passwd", "%s%s%n", "{}", "[]",
    "\x00", "a\x00b", "\ufeff", "\u202etxt.exe", "\ud7ff", "\U0001f600", "\"", "\"\"", "'", ",", ";", "\r", "\n",
    "\r\n", "a\rb", "0000-00-00", "2024-02-30", "2024-13-01", "2024-01-01 25:61:61", "9999-12-31 23:59:59",
    "1677-09-21", "2262-04-12", "0001-01-01", "-2024-01-01", "44927.5", "-1", "1e20", "2024年13月45日",
    "昨天", "2024/1/1 下午3点", "1700000000", "1700000000000", "20240101", "T", "2024-01-01T00:00:00+25:00",
    "99999999999999999999999", "1" * 40, "锦城花园2栋", "成都市武侯区芳华街道锦华社区锦城花园2栋",
]
COORD_TEXT = st.one_of(
    st.floats(104.045, 104.075).map(lambda v: f"{v:.6f}"),
    st.floats(30.625, 30.650).map(lambda v: f"{v:.6f}"),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(HOSTILE),
)
TIME_TEXT = st.one_of(
    st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2026, 1, 1)).map(str),
    st.datetimes().map(lambda d: d.strftime("%Y/%m/%d %H:%M")),
    st.integers(-10**12, 10**14).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(HOSTILE),
)
TEXTS = ["锦城花园2栋电梯又坏了", "路灯不亮已经一周", "楼下烧烤油烟太大", "楼道里有人飞线充电", "垃圾桶满了没人清运"]
CELL = st.one_of(
    st.text(max_size=20),
    st.sampled_from(HOSTILE),
    st.sampled_from(TEXTS),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    COORD_TEXT,
)
HUGE = st.integers(1_000, 200_000).map(lambda n: "长" * n)
FIELD_CELLS = {
    "工单编号": st.one_of(st.integers(0, 50).map(lambda i: f"GD{i:04d}"), CELL),
    "受理时间": st.one_of(TIME_TEXT, CELL),
    "诉求内容": st.one_of(st.sampled_from(TEXTS), CELL, HUGE),
    "事发地址": st.one_of(st.sampled_from(["锦城花园2栋", "桂苑小区", "芳华街12号", ""]), CELL),
    "经度": st.one_of(st.floats(104.045, 104.075).map(lambda v: f"{v:.6f}"), COORD_TEXT),
    "纬度": st.one_of(st.floats(30.625, 30.650).map(lambda v: f"{v:.6f}"), COORD_TEXT),
}
# Values every check accepts (inside the sample community, in the past): some files are clean, so the
# stages after validation (store, rejects, duplicate links) see many rows too.
CLEAN_CELLS = {
    "工单编号": st.uuids().map(lambda u: f"GD{u.hex[:10]}"),
    "受理时间": st.datetimes(min_value=dt.datetime(2023, 1, 1), max_value=dt.datetime(2025, 12, 31)).map(
        lambda d: d.strftime("%Y-%m-%d %H:%M:%S")),
    "诉求内容": st.sampled_from(TEXTS),
    "事发地址": st.sampled_from(["锦城花园2栋", "桂苑小区", "锦城花园"]),
    "经度": st.floats(104.051, 104.068).map(lambda v: f"{v:.6f}"),
    "纬度": st.floats(30.631, 30.643).map(lambda v: f"{v:.6f}"),
    "联系电话": st.integers(13_000_000_000, 13_999_999_999).map(str),
    "办理状态": st.sampled_from(["受理", "已办结", "处置中", ""]),
}
ENCODINGS = ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16", "utf-16-le", "utf-16-be", "big5", "latin-1",
             "cp1252", "shift_jis", "utf-32"]


@st.composite
def tables(draw, cell=CELL) -> tuple[list[str], list[list]]:
    """(header, rows): a header the pipeline maps with per-field cells, or an arbitrary one."""
    kind = draw(st.integers(0, 2))  # 0: clean rows, 1: the pipeline's fields with hostile cells, 2: anything
    if kind < 2:
        header = REAL_HEADER[: draw(st.integers(3, len(REAL_HEADER)))]
        header = header + draw(st.lists(st.sampled_from(HEADERS), max_size=3))
        draw(st.randoms()).shuffle(header)
    else:
        header = draw(st.lists(st.one_of(st.sampled_from(HEADERS), st.text(max_size=10)), max_size=8))
    fields = CLEAN_CELLS if kind == 0 else FIELD_CELLS
    ragged = kind > 0 and draw(st.integers(0, 4)) == 0
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        width = draw(st.integers(0, len(header) + 2)) if ragged else len(header)
        rows.append([draw(fields.get(header[i], cell)) if i < len(header) else draw(cell)
                     for i in range(width)])
    return header, rows


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """Cut, flip, insert or delete bytes at random places."""
    b = bytearray(data)
    ops = st.tuples(st.sampled_from(["cut", "flip", "insert", "delete"]), st.integers(0, 1 << 30),
                    st.binary(min_size=1, max_size=8))
    for op, pos, junk in draw(st.lists(ops, min_size=1, max_size=4)):
        i = pos % (len(b) + 1)
        if op == "cut":
            del b[i:]
        elif op == "flip" and b:
            b[i % len(b)] ^= junk[0] or 0xFF
        elif op == "insert":
            b[i:i] = junk
        else:
            del b[i:i + len(junk)]
    return bytes(b)


@st.composite
def maybe_mutated(draw, data: bytes, p_in_8: int = 3) -> bytes:
    return draw(mutated(data)) if draw(st.integers(0, 7)) < p_in_8 else data


@st.composite
def csv_files(draw) -> tuple[dict[str, bytes], dict]:
    header, rows = draw(tables())
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=draw(st.sampled_from([",", "\t", ";", "|"])),
                   quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
                   lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])))
    for title in draw(st.lists(st.text(max_size=15), max_size=2)):
        w.writerow([title])
    if draw(st.integers(0, 9)):
        w.writerow(header)
    w.writerows(rows)
    encoding = draw(st.sampled_from(ENCODINGS))
    data = draw(maybe_mutated(buf.getvalue().encode(encoding, errors="replace")))
    options: dict = {}
    if draw(st.integers(0, 5)) == 0:
        options["encoding"] = draw(st.sampled_from([*ENCODINGS, "gbk", "nope", "utf-7", "rot13", "base64"]))
    if draw(st.integers(0, 9)) == 0:
        options["time_format"] = draw(st.sampled_from(["%Y-%m-%d", "%d.%m.%Y %H:%M", "%Q", "%", "nonsense"]))
    if draw(st.integers(0, 9)) == 0:
        options["mapping"] = draw(st.dictionaries(st.sampled_from(HEADERS), st.sampled_from(
            ["text", "lng", "lat", "created_at", "source_id", "address", "-", "nope"]), max_size=2))
    return {"requests" + draw(st.sampled_from([".csv", ".txt", ".tsv"])): data}, options


@given(case=csv_files())
@budget(150)
def test_csv_files(env, case):
    files, options = case
    check_ingest(env, "csv", files, options)


ANY_SUFFIX = [".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".geojson", ".json", ".gpkg", ".shp", ".zip"]
PREFIXES = [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"PK\x03\x04", b"SQLite format 3\x00", b"{",
            b'{"type": "FeatureCollection", "features": [', b"\x00\x00\x27\x0a"]


@given(suffix=st.sampled_from(ANY_SUFFIX), prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=3000))
@budget(100)
def test_random_bytes_with_any_suffix(env, suffix, prefix, body):
    check_ingest(env, "bytes" + suffix, {"random" + suffix: prefix + body})


# ------------------------------------------------------------------------------------------------ XLSX
def _xlsx_safe(value):
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


XLSX_CELL = st.one_of(
    st.none(), CELL, st.integers(-(10**18), 10**18), st.floats(allow_nan=True, allow_infinity=True),
    st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(9999, 1, 1)),
    st.dates(min_value=dt.date(1900, 3, 1)), st.times(), st.booleans(),
    st.sampled_from(["=1/0", "=NOW()", "=A1", "=SUM(A:A)", "#DIV/0!", "#N/A", "=HYPERLINK(\"http://x\",\"x\")"]),
)
XLSX_FIELD = {
    "受理时间": st.one_of(st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2026, 1, 1)),
                      st.floats(-1e6, 1e7), TIME_TEXT, XLSX_CELL),
    "经度": st.one_of(st.floats(104.045, 104.075), st.floats(allow_nan=True, allow_infinity=True), XLSX_CELL),
    "纬度": st.one_of(st.floats(30.625, 30.650), st.floats(allow_nan=True, allow_infinity=True), XLSX_CELL),
}


@st.composite
def xlsx_files(draw) -> tuple[dict[str, bytes], dict]:
    import openpyxl

    wb = openpyxl.Workbook()
    for k in range(draw(st.integers(1, 3))):
        ws = wb.active if k == 0 else wb.create_sheet(f"S{k}")
        header, rows = draw(tables(cell=XLSX_CELL))
        if draw(st.booleans()):  # typed cells (datetimes, serial numbers, floats) where times and coordinates go
            rows = [[draw(XLSX_FIELD[header[i]]) if i < len(header) and header[i] in XLSX_FIELD else v
                     for i, v in enumerate(r)] for r in rows]
        for title in draw(st.lists(st.text(max_size=15), max_size=2)):
            ws.append([_xlsx_safe(title)])
        ws.append([_xlsx_safe(h) for h in header])
        for r in rows:
            ws.append([_xlsx_safe(v) for v in r])
        if draw(st.integers(0, 4)) == 0:  # a cell far away: huge dimensions, sparse rows
            ws.cell(row=draw(st.integers(1, 5000)), column=draw(st.integers(1, 200)), value=_xlsx_safe(draw(CELL)))
    buf = io.BytesIO()
    wb.save(buf)
    data = draw(maybe_mutated(buf.getvalue(), p_in_8=2))
    options = {"sheet": draw(st.sampled_from([None, None, None, 0, 1, 5, -1, "S1", "工单", ""]))}
    return {"requests" + draw(st.sampled_from([".xlsx", ".xlsm"])): data}, options


@given(case=xlsx_files())
@budget(60)
def test_xlsx_files(env, case):
    files, options = case
    check_ingest(env, "xlsx", files, options)


# --------------------------------------------------------------------------------------------- GeoJSON
JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                        st.text(max_size=20), st.sampled_from(HOSTILE))
JSON_VALUE = st.recursive(JSON_SCALAR, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c,
                                                                                             max_size=3),
                          max_leaves=6)
COORD = st.one_of(st.floats(104.045, 104.075), st.floats(30.625, 30.650),
                  st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**30), 10**30), JSON_SCALAR)
POINT = st.lists(COORD, min_size=0, max_size=4)
GEOMETRY = st.one_of(
    st.none(),
    st.builds(lambda c: {"type": "Point", "coordinates": c}, POINT),
    st.builds(lambda lng, lat: {"type": "Point", "coordinates": [lng, lat]}, st.floats(104.045, 104.075),
              st.floats(30.625, 30.650)),
    st.builds(lambda c: {"type": "MultiPoint", "coordinates": c}, st.lists(POINT, max_size=3)),
    st.builds(lambda c: {"type": "LineString", "coordinates": c}, st.lists(POINT, max_size=3)),
    st.builds(lambda c: {"type": "Polygon", "coordinates": [c]}, st.lists(POINT, max_size=5)),
    st.just({"type": "GeometryCollection", "geometries": []}),
    st.builds(lambda t, c: {"type": t, "coordinates": c}, st.text(max_size=8), JSON_VALUE),
    JSON_VALUE,
)
PROPS = st.one_of(
    st.none(),
    st.dictionaries(st.one_of(st.sampled_from(HEADERS), st.text(max_size=8)),
                    st.one_of(JSON_VALUE, CELL, HUGE), max_size=8),
    st.fixed_dictionaries({k: v for k, v in FIELD_CELLS.items() if k not in ("经度", "纬度")}),
)
CLEAN_FEATURE = st.fixed_dictionaries({
    "type": st.just("Feature"),
    "geometry": st.builds(lambda lng, lat: {"type": "Point", "coordinates": [lng, lat]},
                          st.floats(104.051, 104.068), st.floats(30.631, 30.643)),
    "properties": st.fixed_dictionaries({k: CLEAN_CELLS[k] for k in ("工单编号", "受理时间", "诉求内容", "事发地址")}),
})
FEATURE = st.fixed_dictionaries(
    {"type": st.sampled_from(["Feature", "Feature", "feature", "Point"]), "geometry": GEOMETRY, "properties": PROPS},
    optional={"id": JSON_SCALAR},
)
CRS_MEMBER = st.builds(lambda name: {"type": "name", "properties": {"name": name}}, st.sampled_from(
    ["EPSG:4326", "urn:ogc:def:crs:OGC:1.3:CRS84", "EPSG:4490", "EPSG:3857", "EPSG:999999", "garbage", ""]))


@st.composite
def geojson_files(draw) -> tuple[dict[str, bytes], dict]:
    kind = draw(st.integers(0, 9))
    if kind <= 6:
        doc = {"type": "FeatureCollection", "features": draw(st.lists(st.one_of(FEATURE, CLEAN_FEATURE), max_size=10))}
        if draw(st.integers(0, 3)) == 0:
            doc["crs"] = draw(CRS_MEMBER)
    elif kind == 7:
        doc = draw(FEATURE)
    elif kind == 8:
        doc = draw(GEOMETRY)
    else:
        doc = draw(JSON_VALUE)
    text = json.dumps(doc, allow_nan=True, ensure_ascii=draw(st.booleans()))
    data = text.encode(draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "gb18030", "utf-16", "latin-1"])),
                       errors="replace")
    data = draw(maybe_mutated(data, p_in_8=2))
    return {"points" + draw(st.sampled_from([".geojson", ".json"])): data}, {}


@given(case=geojson_files())
@budget(100)
def test_geojson_files(env, case):
    files, options = case
    check_ingest(env, "geojson", files, options)


# ------------------------------------------------------------------------------------- GPKG, Shapefile
COLUMN_KINDS = {
    "str": st.lists(st.one_of(CELL, st.none()), min_size=1, max_size=1),
    "float": st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=1),
    "int": st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=1),
    "datetime": st.lists(st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
                         min_size=1, max_size=1),
    "bool": st.lists(st.booleans(), min_size=1, max_size=1),
}


@st.composite
def point_frames(draw):
    """A GeoDataFrame of random typed attribute columns (aliases among the names) and random points."""
    import geopandas as gpd
    import shapely

    n = draw(st.integers(0, 8))
    names = draw(st.lists(st.sampled_from([*REAL_HEADER, "类别", "备注", "n"]), min_size=1, max_size=6, unique=True))
    if draw(st.booleans()):  # the fields an import needs, so that rows can be stored
        names = list(dict.fromkeys(["工单编号", "受理时间", "诉求内容", *names]))
    data = {}
    for name in names:
        kind = draw(st.sampled_from(["str", "str", "str", "float", "int", "datetime", "bool"]))
        values = [draw(COLUMN_KINDS[kind])[0] for _ in range(n)]
        if name in FIELD_CELLS and kind == "str":
            values = [draw(st.one_of(CLEAN_CELLS[name], FIELD_CELLS[name])) for _ in range(n)]
        data[name] = values if kind != "str" else [None if v is None else v.replace("\x00", "") for v in values]
    coords = st.one_of(st.tuples(st.floats(104.051, 104.068), st.floats(30.631, 30.643)),
                       st.tuples(st.floats(-1e300, 1e300), st.floats(-1e300, 1e300)),
                       st.tuples(st.floats(-1e7, 1e7), st.floats(-1e7, 1e7)))
    # GDAL refuses to write NaN/inf points; non-finite coordinates come in through the 经度/纬度 columns.
    geoms = [draw(st.sampled_from([None, shapely.Point(), shapely.MultiPoint()])) if draw(st.integers(0, 6)) == 0
             else shapely.Point(*draw(coords)) for _ in range(n)]
    crs = draw(st.sampled_from(["EPSG:4326", "EPSG:4326", "EPSG:4490", "EPSG:4544", "EPSG:3857", None]))
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)


def _write_quiet(gdf, path: Path, **kwargs) -> None:
    import pyogrio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # laundered shapefile field names, datetime to date: test-side only
        pyogrio.write_dataframe(gdf, path, **kwargs)


@st.composite
def gpkg_files(draw, tmp: Path) -> tuple[dict[str, bytes], dict]:
    path = tmp / f"g{draw(st.integers(0, 10**9))}.gpkg"
    try:
        for k in range(draw(st.integers(1, 2))):
            _write_quiet(draw(point_frames()), path, layer=f"layer{k}", driver="GPKG")
        data = path.read_bytes()
    finally:
        path.unlink(missing_ok=True)
    data = draw(maybe_mutated(data, p_in_8=3))
    return {"points.gpkg": data}, {"sheet": draw(st.sampled_from([None, None, 0, 1, "layer1", "nope"]))}


@st.composite
def shapefiles(draw, tmp: Path) -> tuple[dict[str, bytes], dict]:
    folder = tmp / f"s{draw(st.integers(0, 10**9))}"
    folder.mkdir()
    try:
        encoding = draw(st.sampled_from([None, "UTF-8", "GBK"]))
        gdf = draw(point_frames())
        try:
            _write_quiet(gdf, folder / "points.shp", **({"encoding": encoding} if encoding else {}))
        except UnicodeEncodeError:
            _write_quiet(gdf, folder / "points.shp")
        except pyogrio.errors.FeatureError:  # a Shapefile holds one geometry type: not a reader case
            reject()
        parts = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for name in draw(st.lists(st.sampled_from(sorted(parts)), max_size=2, unique=True)):
        if name.endswith(".shp"):
            continue
        action = draw(st.sampled_from(["drop", "mutate"]))
        parts[name] = draw(mutated(parts[name])) if action == "mutate" else None
    if draw(st.integers(0, 5)) == 0:
        parts["points.shp"] = draw(mutated(parts["points.shp"]))
    parts = {k: v for k, v in parts.items() if v is not None}
    if draw(st.booleans()):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in parts.items():
                zf.writestr(name, data)
        return {"points.zip": draw(maybe_mutated(buf.getvalue(), p_in_8=1))}, {}
    main = parts.pop("points.shp")
    return {"points.shp": main, **parts}, {}


@given(data=st.data())
@budget(30)
def test_gpkg_files(env, data):
    files, options = data.draw(gpkg_files(env.folder))
    check_ingest(env, "gpkg", files, options)


@given(data=st.data())
@budget(30)
def test_shapefiles(env, data):
    files, options = data.draw(shapefiles(env.folder))
    check_ingest(env, "shp", files, options)


def test_the_harness_sees_a_stored_file_and_a_refused_one(env):
    """The property is not vacuous: a good file is stored, a broken one refused with nothing kept."""
    good = "工单编号,受理时间,诉求内容,经度,纬度\nGD1,2024-05-01 08:00,路灯不亮,104.0527,30.6427\n"
    assert check_ingest(env, "self-test", {"good.csv": good.encode()}) == "stored"
    assert check_ingest(env, "self-test", {"bad.xlsx": b"PK\x03\x04broken"}) == "UnsupportedFormatError"


# ------------------------------------------------------------------ regressions: crashes the fuzzing found
FEATURE_OK = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [104.0527, 30.6427]},
              "properties": {"工单编号": "R1", "受理时间": "2024-05-01 08:00", "诉求内容": "路灯不亮"}}


def _fc(*features) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}, ensure_ascii=False).encode()


def test_geojson_odd_geometries_are_row_rejects_not_escaping_gdal_warnings(env):
    # GDAL warned from a callback that cannot raise: under warnings-as-errors an unraisable exception.
    odd = [{**FEATURE_OK, "properties": {**FEATURE_OK["properties"], "工单编号": f"R{i}"}, "geometry": g}
           for i, g in enumerate([{"type": "Point", "coordinates": []}, {"type": "Pointy", "coordinates": [1, 2]},
                                  {"type": "Point", "coordinates": [104.0527, 30.6427, 1, 2]}], start=2)]
    assert check_ingest(env, "regression", {"odd.geojson": _fc(FEATURE_OK, *odd)}) == "stored"


@pytest.mark.parametrize("encoding", ["latin-1", "gb18030"])
def test_geojson_that_is_not_utf8_is_an_encoding_error(env, encoding):
    # Was pyarrow's ArrowInvalid "Invalid UTF8 sequence" from the column mapping (or "Wrapping … failed"
    # for a nested property): GDAL passes the bytes of a non-UTF-8 GeoJSON through as text.
    nested = {**FEATURE_OK, "properties": {**FEATURE_OK["properties"], "备注": {"说明": "é中"}}}
    text = json.dumps({"type": "FeatureCollection", "features": [nested]}, ensure_ascii=False)
    data = text.encode(encoding, "replace")
    with pytest.raises(InvalidInputError) as err:
        ingest_file(_write(env, "latin.geojson", data), env.settings, env.store, IngestOptions(source="enc"),
                    ctx=env.ctx)
    assert err.value.field == "encoding" and "UTF-8" in str(err.value)


def test_gpkg_with_empty_points_rejects_those_rows(env, tmp_path):
    # shapely.get_x on POINT EMPTY raised GEOSException("getX called on empty Point").
    import geopandas as gpd
    import shapely

    attrs = {"工单编号": ["E1", "E2"], "受理时间": ["2024-05-01 08:00"] * 2, "诉求内容": ["路灯不亮"] * 2}
    gdf = gpd.GeoDataFrame(attrs, geometry=[shapely.Point(104.0527, 30.6427), shapely.Point()], crs="EPSG:4326")
    _write_quiet(gdf, tmp_path / "e.gpkg", driver="GPKG")
    assert check_ingest(env, "regression", {"e.gpkg": (tmp_path / "e.gpkg").read_bytes()}) == "stored"


def test_shapefile_with_a_chinese_field_name_cut_by_the_dbf_limit(env, tmp_path):
    # GDAL cuts "工单编号备注" (18 bytes in UTF-8) to 10 bytes, inside a character: was a UnicodeDecodeError.
    import geopandas as gpd
    import shapely

    gdf = gpd.GeoDataFrame({"工单编号备注": ["a"], "诉求内容": ["路灯不亮"]}, geometry=[shapely.Point(104.05, 30.63)],
                           crs="EPSG:4326")
    _write_quiet(gdf, tmp_path / "cut.shp", encoding="UTF-8")
    files = {p.name: p.read_bytes() for p in sorted(tmp_path.glob("cut.*"), key=lambda p: p.suffix != ".shp")}
    assert check_ingest(env, "regression", files) == "UnsupportedFormatError"


@pytest.mark.parametrize("codepage", [None, "GBK"])
def test_shapefile_without_cpg_with_chinese_field_names_and_ascii_values(tmp_path, codepage):
    # Only the values were looked at to guess the encoding: a KeyError (UTF-8 names) or UnicodeDecodeError (GBK).
    import geopandas as gpd
    import shapely

    from gridgis.ingest.readers import read_table

    gdf = gpd.GeoDataFrame({"工单号": ["A1"], "类别": ["x"]}, geometry=[shapely.Point(104.05, 30.63)],
                           crs="EPSG:4326")
    _write_quiet(gdf, tmp_path / "p.shp", **({"encoding": codepage} if codepage else {}))
    (tmp_path / "p.cpg").unlink()
    t = read_table(tmp_path / "p.shp")
    assert list(t.frame.columns) == ["工单号", "类别"] and t.frame["工单号"].tolist() == ["A1"]


@pytest.mark.parametrize("encoding", ["rot13", "base64", "utf-16"])
def test_forced_encoding_that_cannot_read_the_csv_is_a_clear_error(env, encoding):
    # rot13/base64 are codecs but no text encodings (was TypeError); utf-16 without a BOM raised a bare
    # UnicodeError ("UTF-16 stream does not start with BOM").
    good = "工单编号,受理时间,诉求内容,经度,纬度\nGD1,2024-05-01 08:00,路灯不亮,104.0527,30.6427\n"
    with pytest.raises(InvalidInputError) as err:
        ingest_file(_write(env, "forced.csv", good.encode()), env.settings, env.store,
                    IngestOptions(source="forced", encoding=encoding), ctx=env.ctx)
    assert err.value.field == "encoding"


def _write(env: FuzzEnv, name: str, data: bytes) -> Path:
    path = env.folder / f"r{next(env.counter)}-{name}"
    path.write_bytes(data)
    return path


def test_shapefile_whose_prj_is_not_utf8(env, tmp_path):
    # pyogrio 0.13 raised UnboundLocalError ('wkt') while handling the .prj's UnicodeDecodeError.
    import geopandas as gpd
    import shapely

    gdf = gpd.GeoDataFrame({"工单号": ["A1"]}, geometry=[shapely.Point(104.05, 30.63)], crs="EPSG:4326")
    _write_quiet(gdf, tmp_path / "p.shp")
    prj = tmp_path / "p.prj"
    prj.write_bytes(prj.read_bytes().replace(b'GEOGCS["G', b'GEOGCS["\xb8', 1))
    files = {p.name: p.read_bytes() for p in sorted(tmp_path.glob("p.*"), key=lambda p: p.suffix != ".shp")}
    assert check_ingest(env, "regression", files) == "UnsupportedFormatError"
