"""The analytics commands through click's runner on the demo community: outputs, charts, summaries, errors."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner

from gridgis.cli import main
from tests.conftest import SAMPLE

COMMANDS = ("heatmap", "hotspots", "trends", "projects", "raster")


@pytest.fixture
def run(tmp_path, monkeypatch, demo_settings, demo_reports):
    monkeypatch.chdir(tmp_path)
    for k in list(__import__("os").environ):
        if k.startswith("GRIDGIS_"):
            monkeypatch.delenv(k)
    base = ["--config", str(SAMPLE / "gridgis.toml"), "--database-url", demo_settings.database_url]

    def invoke(*args: str):
        return CliRunner().invoke(main, [*base, *args])

    return invoke


def test_commands_are_registered_with_the_shared_filters():
    for name in COMMANDS:
        assert name in main.commands
        params = {p.name for p in main.commands[name].params}
        assert {"since", "until", "categories", "request_types", "statuses", "grids", "zone_file",
                "collapse_duplicates", "res", "output"} <= params, name


def test_heatmap_geojson_and_chart(run, tmp_path):
    r = run("heatmap", "--top", "3", "-o", "h.geojson", "--chart", "h.png")
    assert r.exit_code == 0, r.output
    assert "条诉求" in r.output and "requests in" in r.output and "类别/category" in r.output
    doc = json.loads((tmp_path / "h.geojson").read_text(encoding="utf-8"))
    assert "crs" not in doc and doc["features"][0]["geometry"]["type"] == "Polygon"
    total = sum(f["properties"]["requests"] for f in doc["features"])
    assert f"{total:,} 条诉求" in r.output
    assert (tmp_path / "h.png").stat().st_size > 10_000


def test_heatmap_filters_by_category_and_time(run, tmp_path):
    r = run("heatmap", "--category", "SAFE", "--since", "2026-01-01", "--until", "2026-04-01", "--by-category",
            "-o", "safe.csv")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(tmp_path / "safe.csv", encoding="utf-8-sig")
    assert set(df["category"]) == {"SAFE"} and 0 < df["requests"].sum() < 200


def test_hotspots_csv_and_top_cells_chart(run, tmp_path):
    r = run("hotspots", "--category", "SAFE", "-o", "hs.csv", "--chart", "hs.png")
    assert r.exit_code == 0, r.output
    assert "热点 99% / hot 99%" in r.output and "Gi* z" in r.output
    df = pd.read_csv(tmp_path / "hs.csv", encoding="utf-8-sig")
    assert {"cell_id", "requests", "z", "p", "bin", "class_zh", "class_en"} <= set(df.columns)
    assert (df["bin"] == 3).sum() >= 7 and (tmp_path / "hs.png").exists()


def test_trends_gpkg_in_cgcs2000(run, tmp_path):
    r = run("trends", "--category", "PROP", "--bucket", "month", "-o", "tr.gpkg", "--crs", "EPSG:4490")
    assert r.exit_code == 0, r.output
    assert "12 个时间步" in r.output
    back = gpd.read_file(tmp_path / "tr.gpkg")
    assert back.crs.to_epsg() == 4490 and "trend" in back.columns and "label_zh" in back.columns


def test_projects_summary_output_and_chart(run, tmp_path):
    r = run("projects", "--brief", "-o", "p.geojson", "--chart", "p.png")
    assert r.exit_code == 0, r.output
    assert "个项目候选" in r.output and "project candidates" in r.output and "代表诉求" not in r.output
    back = gpd.read_file(tmp_path / "p.geojson")
    assert back.iloc[0]["rank"] == 1 and back.iloc[0]["candidate_id"] in r.output
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_raster_writes_a_geotiff(run, tmp_path):
    import rasterio

    r = run("raster", "-o", "s.tif", "--crs", "EPSG:4544", "--category", "PROP", "--category", "SAFE")
    assert r.exit_code == 0, r.output
    with rasterio.open(tmp_path / "s.tif") as src:
        assert src.count == 3 and src.crs.to_epsg() == 4544


def test_empty_result_is_not_an_error(run, tmp_path):
    r = run("projects", "--since", "2020-01-01", "--until", "2020-02-01", "-o", "none.csv")
    assert r.exit_code == 0, r.output
    assert "0 个项目候选" in r.output and "no project candidates" in r.output
    assert pd.read_csv(tmp_path / "none.csv", encoding="utf-8-sig").empty
    r = run("heatmap", "--since", "2020-01-01", "--until", "2020-02-01")
    assert r.exit_code == 0 and "0 条诉求" in r.output
    r = run("raster", "-o", "none.tif", "--since", "2020-01-01", "--until", "2020-02-01")
    assert r.exit_code == 0 and "empty" in r.output and not (tmp_path / "none.tif").exists()


@pytest.fixture
def empty_zone(tmp_path):
    """A polygon collapsed to one point: no area at all."""
    p = tmp_path / "empty.geojson"
    ring = [[104.06, 30.64]] * 4
    p.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}),
        encoding="utf-8")
    return str(p)


@pytest.mark.parametrize("args,words", [
    (["projects", "--res", "11"], ["res", "7–10"]),
    (["heatmap", "--res", "6"], ["res", "7–10"]),
    (["hotspots", "--category", "NOISE"], ["category", "NOISE", "SAFE, FAC, PROP"]),
    (["trends", "--since", "2026-05-01", "--until", "2026-01-01"], ["since", "reversed"]),
    (["heatmap", "--since", "yesterday"], ["since", "ISO 8601"]),
    (["projects", "--zone", "EMPTY"], ["zone", "non-empty"]),
    (["projects", "--zone", "missing.geojson"], ["zone", "missing.geojson"]),
    (["heatmap", "-o", "out.xlsx"], [".csv", ".geojson", ".gpkg", ".tif"]),
    (["raster", "-o", "out.geojson"], ["GeoTIFF", ".tif"]),
    (["hotspots", "--k", "0"], ["k", "1 to 10"]),
    (["projects", "-o", "p.geojson", "--crs", "EPSG:4490"], ["--crs", "RFC 7946"]),
    (["projects", "--chart", "p.jpg"], [".png"]),
])
def test_bad_input_exits_2_naming_the_parameter(run, empty_zone, args, words):
    args = [empty_zone if a == "EMPTY" else a for a in args]
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert "错误 / error" in r.output and "Traceback" not in r.output
    assert "条诉求" not in r.output  # refused before any analysis ran
    for w in words:
        assert w in r.output, (w, r.output)
