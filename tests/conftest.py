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


@pytest.fixture(scope="session")
def demo_settings(tmp_path_factory):
    """Settings of the sample community with the database in a session temp folder."""
    db = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    return load_settings(SAMPLE / "gridgis.toml", env={}, database_url=f"sqlite:///{db}")


@pytest.fixture(scope="session")
def demo_reports(demo_settings):
    """Runs the real demo build (the real ingest pipeline on sample_data/) once per test session."""
    from gridgis.demo import build_demo

    return build_demo(demo_settings, SAMPLE)


@pytest.fixture
def seeded_store(demo_settings, demo_reports):
    """The store holding the sample community. Treat it as read-only (it is shared by the session)."""
    from gridgis.storage import open_store

    s = open_store(demo_settings)
    yield s
    s.close()
