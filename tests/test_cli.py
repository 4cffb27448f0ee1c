"""The command line through click's runner: db, ingest (rejects, dry run, mapping), grids, classify, demo."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from gridgis.cli import main


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for k in list(__import__("os").environ):
        if k.startswith("GRIDGIS_"):
            monkeypatch.delenv(k)
    return CliRunner()


@pytest.fixture
def db_args(tmp_path):
    cfg = tmp_path / "gridgis.toml"
    cfg.write_text('database_url = "sqlite:///db.sqlite3"\nservice_area_bbox = [104.03, 30.61, 104.09, 30.66]\n',
                   encoding="utf-8")
    return ["--config", str(cfg)]


def _csv(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


GOOD = {"工单号": "A1", "受理时间": "2026-05-01 10:00", "诉求内容": "楼下路灯不亮", "经度": 104.06, "纬度": 30.63}


def test_help_lists_every_command(runner):
    out = runner.invoke(main, ["--help"]).output
    for cmd in ("db", "ingest", "grids", "classify", "demo", "serve"):
        assert cmd in out
    for sub in (["db", "--help"], ["grids", "--help"], ["classify", "--help"], ["ingest", "--help"]):
        r = runner.invoke(main, sub)
        assert r.exit_code == 0 and "Usage" in r.output


def test_db_init_then_status(runner, db_args):
    r = runner.invoke(main, [*db_args, "db", "init"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, [*db_args, "db", "status"])
    assert json.loads(r.output)["requests"] == 0


def test_status_before_init_tells_what_to_run(runner, db_args):
    r = runner.invoke(main, [*db_args, "db", "status"])
    assert r.exit_code == 2 and "gridgis db init" in r.output


def test_ingest_with_map_rejects_and_summary(runner, db_args, tmp_path):
    bad = {**GOOD, "工单号": "A2", "受理时间": "not a time"}
    f = _csv(tmp_path / "in.csv", [GOOD, bad])
    rej = tmp_path / "rejects.csv"
    r = runner.invoke(main, [*db_args, "ingest", f, "--source", "hot", "--map", "工单号=source_id",
                             "--rejects", str(rej)])
    assert r.exit_code == 0, r.output
    assert "stored 1" in r.output and "rejected 1" in r.output and "unparsable time" in r.output
    with open(rej, encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["line"] == "3" and rows[0]["field"] == "created_at" and rows[0]["受理时间"] == "not a time"
    r = runner.invoke(main, [*db_args, "ingest", f, "--source", "hot", "--map", "工单号=source_id"])
    assert "stored 0" in r.output and "unchanged 1" in r.output


def test_dry_run_stores_nothing(runner, db_args, tmp_path):
    f = _csv(tmp_path / "in.csv", [GOOD])
    r = runner.invoke(main, [*db_args, "ingest", f, "--dry-run"])
    assert r.exit_code == 0 and "dry run" in r.output
    assert json.loads(runner.invoke(main, [*db_args, "db", "status"]).output)["requests"] == 0


def test_bad_map_option_and_unknown_crs_are_clear_errors(runner, db_args, tmp_path):
    f = _csv(tmp_path / "in.csv", [GOOD])
    r = runner.invoke(main, [*db_args, "ingest", f, "--map", "工单号"])
    assert r.exit_code == 2 and "map" in r.output
    r = runner.invoke(main, [*db_args, "ingest", f, "--crs", "not-a-crs"])
    assert r.exit_code == 2 and "not-a-crs" in r.output


def test_unknown_format_names_the_file(runner, db_args, tmp_path):
    p = tmp_path / "notes.docx"
    p.write_bytes(b"x")
    r = runner.invoke(main, [*db_args, "ingest", str(p)])
    assert r.exit_code == 2 and "notes.docx" in r.output


def test_grids_import_assigns_requests(runner, db_args, tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    f = _csv(tmp_path / "in.csv", [GOOD])
    runner.invoke(main, [*db_args, "ingest", f])
    g = gpd.GeoDataFrame({"grid_code": ["51010700100101"], "name": ["第1网格"], "grid_worker": ["李四"]},
                         geometry=[box(104.05, 30.62, 104.07, 30.64)], crs="EPSG:4326")
    gp = tmp_path / "grids.geojson"
    g.to_file(gp)
    r = runner.invoke(main, [*db_args, "grids", "import", str(gp)])
    assert r.exit_code == 0, r.output
    assert "1 in grids" in r.output
    assert "51010700100101" in runner.invoke(main, [*db_args, "grids", "list"]).output


def test_grids_import_rejects_bad_codes(runner, db_args, tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    g = gpd.GeoDataFrame({"grid_code": ["12AB"]}, geometry=[box(104.05, 30.62, 104.07, 30.64)], crs="EPSG:4326")
    gp = tmp_path / "grids.geojson"
    g.to_file(gp)
    r = runner.invoke(main, [*db_args, "grids", "import", str(gp)])
    assert r.exit_code == 2 and "14" in r.output


def test_classify_train_and_eval(runner, db_args, tmp_path):
    texts = {"FAC": ["路灯不亮{}", "井盖松动{}", "下水道堵塞{}"],
             "ENV": ["垃圾没人清运{}", "绿化带垃圾{}", "卫生死角{}"],
             "ORDER": ["夜间施工噪音{}", "广场舞扰民{}", "烧烤油烟{}"]}
    rows = [{"text": t.format(i), "label": k} for k, ts in texts.items() for t in ts for i in range(10)]
    f = _csv(tmp_path / "labelled.csv", rows)
    r = runner.invoke(main, [*db_args, "classify", "eval", f, "--text-col", "text", "--label-col", "label"])
    assert r.exit_code == 0, r.output
    assert "macro_f1=" in r.output
    model = tmp_path / "model.joblib"
    r = runner.invoke(main, [*db_args, "classify", "train", f, "--text-col", "text", "--label-col", "label",
                             "-o", str(model)])
    assert r.exit_code == 0 and model.exists()
    r = runner.invoke(main, [*db_args, "classify", "eval", f, "--text-col", "nope", "--label-col", "label"])
    assert r.exit_code == 2 and "--text-col" in r.output
