"""Request archives: month partitions of GeoParquet written in chunks, no personal data, months replaced whole."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import shapely
from click.testing import CliRunner
from pyproj import CRS

import gridgis.archive as archive_mod
from gridgis.archive import COLUMNS, META_DIR, META_FILE, export_archive, month_labels, open_archive
from gridgis.audit import records
from gridgis.cli import main
from gridgis.config import load_settings
from gridgis.errors import InvalidInputError
from gridgis.privacy import WITHHELD_COLUMNS, scrub_text, truncate_addresses
from gridgis.storage import open_store
from gridgis.storage.epochs import to_epoch_seconds
from tests.conftest import SAMPLE
from tests.heatmap.test_aggregate import make_rows, put, ts

PERSONAL = ("reporter_name", "reporter_phone")


@pytest.fixture
def demo_copy(tmp_path, demo_settings, demo_reports):
    """Settings and store on a copy of the demo database (an export writes its audit row)."""
    src = demo_settings.database_url.removeprefix("sqlite:///")
    db = tmp_path / "demo.sqlite3"
    shutil.copy(src, db)
    settings = load_settings(SAMPLE / "gridgis.toml", env={}, database_url=f"sqlite:///{db}")
    store = open_store(settings)
    yield settings, store
    store.close()


def _dataset(path):
    return ds.dataset(path, format="parquet", partitioning="hive")


def test_export_writes_every_request_by_local_month_without_personal_data(demo_copy, tmp_path):
    settings, store = demo_copy
    out = tmp_path / "arch"
    report = export_archive(store, settings, out, chunk_rows=700, who="test")
    n = store.count_requests()
    assert report["rows"] == n == sum(report["months"].values()) and report["replaced"] == []
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("month=")) == \
        [f"month={m}" for m in sorted(report["months"])]
    d = _dataset(out)
    names = set(d.schema.names)
    assert not names & set(WITHHELD_COLUMNS) and not names & set(PERSONAL)
    assert set(COLUMNS) | {"geometry", "month"} == names
    t = d.to_table().to_pandas()
    assert len(t) == n and t["id"].is_unique
    # each row sits in the folder of its local month
    assert (t["month"].astype(str).to_numpy() == month_labels(to_epoch_seconds(t["created_at"]),
                                                            settings.timezone)).all()
    # several parts per month: the store was read in chunks of 700
    assert len(d.files) > len(report["months"])
    # GeoParquet: WKB points in EPSG:4326 at the request's lng/lat
    geo = json.loads(pq.read_metadata(d.files[0]).metadata[b"geo"])
    col = geo["columns"][geo["primary_column"]]
    assert col["encoding"] == "WKB" and CRS.from_json_dict(col["crs"]).to_epsg() == 4326
    pts = shapely.from_wkb(t["geometry"].to_numpy())
    assert np.allclose(shapely.get_x(pts), t["lng"]) and np.allclose(shapely.get_y(pts), t["lat"])
    # the same rows as the store, sensitive texts hidden
    rows = store.requests_frame(["id", "created_at", "category", "cell", "text"]).set_index("id")
    t = t.set_index("id").loc[rows.index]
    assert (t["cell"].to_numpy() == rows["cell"].to_numpy(np.int64)).all()
    assert (to_epoch_seconds(t["created_at"]) == to_epoch_seconds(rows["created_at"])).all()
    care = (rows["category"] == "CARE").to_numpy()
    assert care.any() and (t["text"].to_numpy()[care] == "养老与社区服务").all()
    assert (t["text"].to_numpy()[~care] == rows["text"].to_numpy()[~care]).all()
    meta = open_archive(out)
    assert meta.fine == 10 and meta.tz == settings.timezone and set(meta.months) == set(report["months"])
    assert meta.span()[0] == int(rows["created_at"].min().timestamp())
    assert set(meta.table("categories")["code"]) >= {"CARE", "SAFE"} and len(meta.table("grids"))
    assert "grid_worker" not in meta.table("grids").columns
    audit = records(store, what="export.archive")
    assert audit["rows"].tolist() == [n] and audit["who"].tolist() == ["test"]


def test_texts_are_scrubbed_and_names_never_written(store, settings, tmp_path):
    rows = make_rows(40)
    rows.loc[0, ["reporter_name", "reporter_phone"]] = ["张三丰", "13812345678"]
    rows.loc[0, "text"] = "张三丰反映路灯不亮，电话13812345678"
    rows.loc[1, "address"] = "锦城花园5栋3单元501室"
    put(store, rows)
    out = tmp_path / "a"
    export_archive(store, settings, out)
    t = _dataset(out).to_table().to_pandas().set_index("id")
    # whatever form the privacy policy gives them (gridgis.privacy), names and numbers are masked
    expected = scrub_text(rows["text"].iloc[:1], rows["reporter_name"].iloc[:1]).iloc[0]
    assert t.loc["t:0", "text"] == expected and "张三丰" not in expected and "13812345678" not in expected
    assert t.loc["t:1", "address"] == truncate_addresses(rows["address"].iloc[1:2]).iloc[0] == "锦城花园5栋"
    raw = b"".join(p.read_bytes() for p in out.rglob("*.parquet"))
    assert "张三丰".encode() not in raw and b"13812345678" not in raw


def test_local_month_boundaries():
    t = [ts("2026-03-31 23:30"), ts("2026-04-01 00:00"), ts("2025-12-31 23:59:59")]
    assert month_labels(np.array(t), "Asia/Shanghai").tolist() == ["2026-03", "2026-04", "2025-12"]
    assert month_labels(np.array(t[:1]), "UTC").tolist() == ["2026-03"]


def test_rerun_replaces_the_months_it_writes_and_keeps_the_others(store, settings, tmp_path):
    put(store, make_rows(300))
    out = tmp_path / "a"
    first = export_archive(store, settings, out, chunk_rows=50)
    assert "2025-12" in first["months"] and "2026-04" in first["months"]
    before = {p.relative_to(out): p.stat().st_mtime_ns for p in out.glob("month=2025-12/*")}
    again = export_archive(store, settings, out, since="2026-03-01", categories=("FAC",))
    assert again["replaced"] == sorted(again["months"]) == ["2026-03", "2026-04"]
    t = _dataset(out).to_table().to_pandas()
    replaced = t["month"].astype(str).isin(["2026-03", "2026-04"]).to_numpy()
    assert (t.loc[replaced, "category"] == "FAC").all() and len(t[replaced]) == sum(again["months"].values())
    assert set(t.loc[~replaced, "category"]) > {"FAC"}  # months not written are as they were
    assert before == {p.relative_to(out): p.stat().st_mtime_ns for p in out.glob("month=2025-12/*")}
    assert not [p for p in out.iterdir() if p.name.startswith("_staging")]
    meta = open_archive(out).months
    assert meta["2026-03"]["filters"]["categories"] == ["FAC"] and "filters" in meta["2025-12"]


def test_failed_export_leaves_the_archive_as_it_was(store, settings, tmp_path, monkeypatch):
    put(store, make_rows(200))
    out = tmp_path / "a"
    export_archive(store, settings, out, chunk_rows=50)
    files = sorted((p.relative_to(out), p.read_bytes()) for p in out.rglob("*") if p.is_file())
    real, calls = archive_mod.archive_frame, []

    def fail_third(*a, **kw):  # the disk fills up, say, after two chunks were staged
        calls.append(1)
        if len(calls) == 3:
            raise OSError("No space left on device")
        return real(*a, **kw)

    monkeypatch.setattr(archive_mod, "archive_frame", fail_third)
    with pytest.raises(OSError):
        export_archive(store, settings, out, chunk_rows=50)
    assert files == sorted((p.relative_to(out), p.read_bytes()) for p in out.rglob("*") if p.is_file())


def test_bad_paths_name_the_path(store, settings, tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("x")
    (tmp_path / "file").write_text("x")
    for target in ("plain", "file"):
        with pytest.raises(InvalidInputError, match=target) as e:
            export_archive(store, settings, tmp_path / target)
        assert e.value.field == "path"
    for target in ("plain", "missing"):
        with pytest.raises(InvalidInputError, match=str(tmp_path / target)) as e:
            open_archive(tmp_path / target)
        assert e.value.field == "archive"
    (tmp_path / "plain" / META_DIR).mkdir()
    (tmp_path / "plain" / META_DIR / META_FILE).write_text("{not json")
    with pytest.raises(InvalidInputError, match="not a gridgis archive"):
        open_archive(tmp_path / "plain")


def test_archive_of_another_time_zone_is_refused(store, settings, tmp_path):
    put(store, make_rows(20))
    export_archive(store, settings, tmp_path / "a")
    other = load_settings(env={}, database_url=settings.database_url, timezone="Asia/Urumqi")
    with pytest.raises(InvalidInputError, match="Asia/Urumqi"):
        export_archive(store, other, tmp_path / "a")


def test_cli_archive_export(demo_copy, tmp_path):
    settings, store = demo_copy
    out = tmp_path / "cli-arch"
    base = ["--config", str(SAMPLE / "gridgis.toml"), "--database-url", settings.database_url]
    r = CliRunner().invoke(main, [*base, "archive", "export", str(out), "--since", "2026-06-01",
                                  "--category", "SAFE", "--chunk-rows", "100"])
    assert r.exit_code == 0, r.output
    assert "2026-06" in r.output and "written" in r.output
    t = _dataset(out).to_table(columns=["category", "created_at"]).to_pandas()
    assert set(t["category"]) == {"SAFE"} and t["created_at"].min() >= pd.Timestamp("2026-06-01", tz="Asia/Shanghai")
    r = CliRunner().invoke(main, [*base, "archive", "export", str(out), "--category", "NOPE"])
    assert r.exit_code == 2 and "NOPE" in r.output
    help_text = CliRunner().invoke(main, ["archive", "export", "--help"]).output
    assert "replaces" in help_text and "atomically" in help_text
