"""Shared fixtures: settings in a temporary folder and a real store built by the real migrations."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridgis.config import load_settings
from gridgis.storage import init_db

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
# A box around a real Chengdu community (lng/lat, WGS84)
CHENGDU_BBOX = (104.03, 30.61, 104.09, 30.66)


@pytest.fixture
def settings(tmp_path):
    return load_settings(
        env={},
        database_url=f"sqlite:///{tmp_path / 'gridgis.sqlite3'}",
        service_area_bbox=CHENGDU_BBOX,
    )


@pytest.fixture
def store(settings):
    s = init_db(settings)
    yield s
    s.close()
