"""`gridgis export KIND -o FILE` through click's runner on the demo community: files, CRS, audit, errors."""

from __future__ import annotations

import shutil

import geopandas as gpd
import pytest
from click.testing import CliRunner

from gridgis import audit
from gridgis.cli import main
from gridgis.export.kinds import export_frame
from gridgis.heatmap.filters import Filters
from tests.conftest import SAMPLE


@pytest.fixture
def db_copy(tmp_path_factory, demo_settings, demo_reports):
    """A copy of the session's demo database: exports write audit rows, the shared one stays untouched."""
    dst = tmp_path_factory.mktemp("db") / "demo-copy.sqlite3"
    shutil.copy(demo_settings.database_url.removeprefix("sqlite:///"), dst)
    return f"sqlite:///{dst}"


@pytest.fixture
def audited(db_copy):
    from gridgis.storage.store import Store

    s = Store.from_url(db_copy)
    yield s
    s.close()


@pytest.fixture
def run(tmp_path, monkeypatch, db_copy):
    monkeypatch.chdir(tmp_path)
    for k in list(__import__("os").environ):
        if k.startswith("GRIDGIS_"):
            monkeypatch.delenv(k)
    base = ["--config", str(SAMPLE / "gridgis.toml"), "--database-url", db_copy]
    return lambda *args: CliRunner().invoke(main, [*base, *args])


def test_export_is_registered_with_the_shared_filters():
    params = {p.name for p in main.commands["export"].params}
    assert {"kind", "output", "since", "until", "categories", "request_types", "statuses", "grids", "zone_file",
            "res", "bbox", "crs", "bom", "snap"} <= params


def test_cells_gpkg_in_cgcs2000_equals_the_library_and_is_audited(run, tmp_path, demo_settings, seeded_store,
                                                                   audited):
    r = run("export", "cells", "-o", "c.gpkg", "--res", "9", "--category", "PARK", "--crs", "EPSG:4490")
    assert r.exit_code == 0, r.output
    back = gpd.read_file(tmp_path / "c.gpkg")
    frame, _ = export_frame(seeded_store, demo_settings, "cells", Filters(categories=("PARK",)), res=9)
    assert back.crs.to_epsg() == 4490 and back["cell_id"].tolist() == frame["cell_id"].tolist()
    assert back["requests"].tolist() == frame["requests"].tolist()
    last = audit.records(audited, what="export.cells", limit=1).iloc[0]
    assert last["who"].startswith("cli:") and last["filters"]["categories"] == ["PARK"]
    assert last["rows"] == len(frame)


def test_requests_csv_without_bom_has_no_contacts(run, tmp_path, seeded_store):
    r = run("export", "requests", "-o", "r.csv", "--no-bom")
    assert r.exit_code == 0, r.output
    data = (tmp_path / "r.csv").read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    contacts = seeded_store.requests_frame(["reporter_name", "reporter_phone"])
    names = {n for n in contacts["reporter_name"].dropna() if len(n) >= 2}
    phones = set(contacts["reporter_phone"].dropna())
    assert names or phones
    text = data.decode()
    assert not any(n in text for n in names) and not any(p in text for p in phones)


def test_bad_kind_format_and_crs(run, tmp_path):
    assert run("export", "people", "-o", "p.csv").exit_code == 2
    r = run("export", "requests", "-o", "r.tif")
    assert r.exit_code == 2 and "GeoTIFF" in r.output
    r = run("export", "cells", "-o", "c.geojson", "--crs", "EPSG:4490")
    assert r.exit_code == 2 and "crs" in r.output
    r = run("export", "cells", "-o", "c.geojson", "--bbox", "1,2,3")
    assert r.exit_code == 2 and "bbox" in r.output
    assert not list(tmp_path.glob("*.*"))
