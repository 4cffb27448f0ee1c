"""The dask engine on a two-process LocalCluster gives the store engine's counts, hot spots and candidates."""

from __future__ import annotations

import shutil
import socket

import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from gridgis.archive import export_archive
from gridgis.cli import main
from gridgis.config import load_settings
from gridgis.errors import InvalidInputError
from gridgis.heatmap.aggregate import aggregate, cell_totals
from gridgis.heatmap.dask_engine import ArchiveSource
from gridgis.heatmap.filters import Filters
from gridgis.heatmap.hotspots import fill_values, gi_star
from gridgis.heatmap.projects import find_candidates
from gridgis.heatmap.study import study_cells
from gridgis.storage import open_store
from tests.conftest import SAMPLE

distributed = pytest.importorskip("distributed")

ZONE = shapely.Polygon([(104.05, 30.63), (104.066, 30.632), (104.064, 30.646), (104.052, 30.644)])
TEXTS = ("keywords", "text_1", "text_2", "text_3")  # from scrubbed texts (CARE hidden) in the archive


@pytest.fixture(scope="module")
def demo(tmp_path_factory, demo_settings, demo_reports):
    """(settings, store, archive path): a copy of the demo database and its archive."""
    folder = tmp_path_factory.mktemp("dask")
    db = folder / "demo.sqlite3"
    shutil.copy(demo_settings.database_url.removeprefix("sqlite:///"), db)
    settings = load_settings(SAMPLE / "gridgis.toml", env={}, database_url=f"sqlite:///{db}")
    store = open_store(settings)
    export_archive(store, settings, folder / "archive", chunk_rows=1_500)
    yield settings, store, folder / "archive"
    store.close()


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                                  memory_limit="1GiB") as c:
        yield c


@pytest.fixture(scope="module")
def source(demo, cluster):
    src = ArchiveSource(demo[2], cluster.scheduler_address)
    assert len(src.client.scheduler_info()["workers"]) == 2
    yield src
    src.close()


CASES = {
    "res10": dict(res=10),
    "res9-total": dict(res=9, by_category=False),
    "res8-weeks": dict(res=8, bucket="week"),
    "months-compared": dict(res=10, bucket="month", f=Filters(since="2026-02-10", until="2026-06-01")),
    "period-change-collapsed": dict(res=9, f=Filters(since="2026-02-10", until="2026-06-01",
                                                     collapse_duplicates=True)),
    "res7-days-one-category": dict(res=7, bucket="day", f=Filters(categories=("SAFE",), since="2026-03-01")),
    "types-statuses-grids": dict(res=10, f=Filters(request_types=("投诉", "求助"), statuses=("resolved", "new"),
                                                   grids=("510107001001007", "51010700100101"))),
    "zone": dict(res=10, by_category=False, f=Filters(zone=ZONE, until="2026-08-01")),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_counts_equal_the_store_engine(demo, source, case):
    settings, store, _ = demo
    case = dict(case)
    f, res = case.pop("f", None), case.pop("res")
    expected = aggregate(store, res, f, tz=settings.timezone, **case)
    got = source.aggregate(res, f, tz=settings.timezone, **case)
    assert len(expected) and got.attrs.pop("source") == "archive"
    expected.attrs.pop("source")
    assert got.attrs == expected.attrs
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=0, atol=1e-9)
    ints = ["requests", "issues"]
    assert (got[ints].to_numpy() == expected[ints].to_numpy()).all()  # counts exactly


def test_threads_in_process_give_the_same_counts(demo):
    settings, store, path = demo
    local = ArchiveSource(path)
    assert local.client is None
    f = Filters(since="2026-01-01", until="2026-04-01")
    a, b = local.aggregate(9, f, tz=settings.timezone), aggregate(store, 9, f, tz=settings.timezone)
    assert (a[["cell", "category", "requests", "issues"]].to_numpy() ==
            b[["cell", "category", "requests", "issues"]].to_numpy()).all()


def test_hot_spots_equal_the_store_engine(demo, source):
    settings, store, _ = demo
    out = []
    for engine in (store, source):
        totals = cell_totals(store, 10, Filters(), tz=settings.timezone) if engine is store else \
            source.cell_totals(10, Filters(), tz=settings.timezone)
        study = study_cells(engine, settings, Filters(), 10, data_cells=totals["cell"].to_numpy(np.uint64))
        out.append(gi_star(study, fill_values(study, totals["cell"].to_numpy(np.uint64),
                                              totals["requests"].to_numpy(float)), 1))
    a, b = out
    assert a.significant and (a.cells == b.cells).all() and (a.value == b.value).all()
    np.testing.assert_allclose(b.z, a.z, rtol=0, atol=1e-9)
    assert (a.bin == b.bin).all() and (a.bin == 3).any()


@pytest.fixture(scope="module")
def candidates(demo, source):
    """Project candidates of both engines: (store's, dask's)."""
    settings, store, _ = demo
    f = Filters(since="2025-12-01")
    return find_candidates(store, settings, f), find_candidates(source, settings, f)


def test_project_candidates_equal_the_store_engine(candidates):
    a, b = candidates
    assert len(a) >= 3 and a.summary == b.summary
    ta, tb = a.table, b.table
    for c in ta.columns:
        if c in TEXTS or c == "geometry":
            continue
        if ta[c].dtype.kind == "f":
            np.testing.assert_allclose(tb[c].to_numpy(float), ta[c].to_numpy(float), rtol=0, atol=1e-9,
                                       equal_nan=True, err_msg=c)
        else:
            assert ta[c].tolist() == tb[c].tolist(), c
    assert ta.geometry.geom_equals(tb.geometry).all()
    pd.testing.assert_frame_equal(a.members, b.members, check_dtype=False)
    # texts: the same where the category is not sensitive; CARE texts never reach the archive
    care = (ta["category"] == "CARE").to_numpy()
    assert care.any() and (~care).any()
    assert ta.loc[~care, "text_1"].tolist() == tb.loc[~care, "text_1"].tolist()
    assert (tb.loc[care, "text_1"] == tb.loc[care, "category_zh"]).all()


def test_cli_end_to_end_on_the_cluster(demo, cluster, candidates, tmp_path):
    from gridgis.export import write

    settings, _, path = demo
    base = ["--config", str(SAMPLE / "gridgis.toml"), "--database-url", settings.database_url]
    dask_flags = ["--engine", "dask", "--archive", str(path), "--scheduler", cluster.scheduler_address]

    def run(cmd, *args) -> pd.DataFrame:
        out = tmp_path / f"{cmd}-{len(args)}.csv"
        r = CliRunner().invoke(main, [*base, cmd, *args, "-o", str(out)])
        assert r.exit_code == 0, r.output
        return pd.read_csv(out, dtype=str)

    for cmd, extra in (("heatmap", ["--by-category", "--since", "2026-03-01"]), ("hotspots", [])):
        pd.testing.assert_frame_equal(run(cmd, *extra, *dask_flags), run(cmd, *extra))
    write(candidates[0].table, tmp_path / "store-projects.csv")
    a = pd.read_csv(tmp_path / "store-projects.csv", dtype=str)
    b = run("projects", "--since", "2025-12-01", "--brief", *dask_flags)
    keep = [c for c in a.columns if c not in TEXTS]
    pd.testing.assert_frame_equal(a[keep], b[keep])


def test_unreachable_scheduler_names_the_address(demo):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    with pytest.raises(InvalidInputError, match=address) as e:
        ArchiveSource(demo[2], address, timeout=1)
    assert e.value.field == "scheduler"
    with pytest.raises(InvalidInputError, match="scheduler address"):
        ArchiveSource(demo[2], "127.0.0.1:8786")


def test_cli_engine_flags_are_checked(demo, tmp_path):
    settings, _, path = demo
    base = ["--config", str(SAMPLE / "gridgis.toml"), "--database-url", settings.database_url]
    for args, words in ((["--engine", "dask"], "--archive"), (["--archive", str(path)], "--engine dask"),
                        (["--engine", "dask", "--archive", str(tmp_path / "none")], str(tmp_path / "none")),
                        (["--engine", "dask", "--archive", str(tmp_path)], "not a gridgis archive")):
        r = CliRunner().invoke(main, [*base, "heatmap", *args])
        assert r.exit_code == 2 and words in r.output, r.output
