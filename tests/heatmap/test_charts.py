"""PNG charts: real images of plausible size, Chinese labels when a CJK font exists, English otherwise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from gridgis import grid
from gridgis.errors import InvalidInputError
from gridgis.heatmap import charts
from gridgis.heatmap.filters import Filters
from gridgis.heatmap.projects import find_candidates
from gridgis.taxonomy import Taxonomy

TAX = Taxonomy.load()


def _png(path, min_kb: float = 8):
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG"
        w, h = im.size
    assert path.stat().st_size > min_kb * 1024
    return w, h


@pytest.fixture
def months():
    starts = pd.date_range("2025-11-01", periods=12, freq="MS", tz="Asia/Shanghai")
    rng = np.random.default_rng(1)
    rows = [(b, c, int(rng.integers(5, 80))) for b in starts for c in ("SAFE", "PROP", "ORDER", "CARE")]
    return pd.DataFrame(rows, columns=["bucket", "category", "requests"])


@pytest.fixture
def cells():
    lat = np.linspace(30.60, 30.70, 25)
    lng = np.linspace(103.95, 104.15, 25)
    c = np.unique(grid.latlng_to_cells(lat, lng, 10))
    return pd.DataFrame({"cell_id": grid.cells_to_str(c), "requests": np.arange(c.size) * 3 + 1,
                         "bin": np.resize([3, 2, 1, 0, -1], c.size)})


def test_category_months_stacked_bars(tmp_path, months):
    w, h = _png(charts.category_months(months, tmp_path / "m.png", TAX))
    assert (w, h) == (9 * charts.DPI, int(4.5 * charts.DPI))


def test_english_labels_when_asked_or_without_cjk_font(tmp_path, months, monkeypatch):
    _png(charts.category_months(months, tmp_path / "en.png", TAX, zh=False))
    monkeypatch.setattr(charts, "cjk_font", lambda: None)
    with charts._style(None) as chinese:
        assert chinese is False
    _png(charts.category_months(months, tmp_path / "nofont.png", TAX))


def test_cjk_font_really_has_chinese_glyphs():
    from matplotlib import font_manager

    name = charts.cjk_font()
    if name is None:
        pytest.skip("no CJK font installed: charts use English labels")
    path = font_manager.findfont(font_manager.FontProperties(family=name), fallback_to_default=False)
    assert charts._covers(path, "诉求网格热点")
    assert not charts._covers(path, "\U0010fffd")  # a private-use code point no real font has


def test_top_cells_coloured_by_bin(tmp_path, cells):
    w, h = _png(charts.top_cells(cells, tmp_path / "t.png", n=10))
    assert w == 7 * charts.DPI and h == int((0.8 + 0.3 * 10) * charts.DPI)
    _png(charts.top_cells(cells.drop(columns="bin"), tmp_path / "plain.png", n=3), min_kb=4)


def test_empty_data_draws_a_no_data_chart(tmp_path, months, cells):
    _png(charts.category_months(months.iloc[:0], tmp_path / "e.png", TAX), min_kb=3)
    _png(charts.top_cells(cells.iloc[:0], tmp_path / "e2.png"), min_kb=3)


def test_candidate_trend_weekly_line(tmp_path, seeded_store, demo_settings):
    c = find_candidates(seeded_store, demo_settings, Filters(categories=("SAFE",)))
    w, h = _png(charts.candidate_trend(c, tmp_path / "trend.png"))
    assert (w, h) == (9 * charts.DPI, int(3.8 * charts.DPI))
    _png(charts.candidate_trend(c, tmp_path / "month.png", c.table["candidate_id"].iloc[0], bucket="month"))
    empty = find_candidates(seeded_store, demo_settings, Filters(since="2020-01-01", until="2020-02-01"))
    with pytest.raises(InvalidInputError):
        charts.candidate_trend(empty, tmp_path / "none.png")


@pytest.mark.parametrize("name", ["chart.jpg", "missing/chart.png"])
def test_bad_chart_paths(tmp_path, months, name):
    with pytest.raises(InvalidInputError) as e:
        charts.category_months(months, tmp_path / name, TAX)
    assert e.value.field == "chart"


def test_bad_frames_name_the_problem(tmp_path, months, cells):
    with pytest.raises(InvalidInputError, match="bucket"):
        charts.category_months(months.drop(columns="bucket"), tmp_path / "x.png")
    with pytest.raises(InvalidInputError):
        charts.top_cells(cells, tmp_path / "x.png", value="issues")
    with pytest.raises(InvalidInputError):
        charts.top_cells(cells, tmp_path / "x.png", n=0)
