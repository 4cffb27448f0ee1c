"""Shared fixtures: settings in a temporary folder and a real store built by the real migrations."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gridgis.config import load_settings
from gridgis.storage import init_db
from gridgis.storage.engine import make_engine
from gridgis.storage.migrate import upgrade
from tests.pg import ENV_URL, PostgresServer, require_backend

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
# A box around a real Chengdu community (lng/lat, WGS84)
CHENGDU_BBOX = (104.03, 30.61, 104.09, 30.66)


@pytest.fixture(scope="session")
def postgres():
    """The session's PostgreSQL server (tests/pg.py); skips or fails when none is configured."""
    require_backend("postgresql")
    server = PostgresServer(os.environ[ENV_URL])
    yield server
    server.close()


@pytest.fixture
def backend():
    """sqlite; tests/storage, tests/ingest and tests/webmap override it with both BACKENDS."""
    return "sqlite"


@pytest.fixture
def new_database_url(backend, tmp_path, request):
    """Factory of fresh databases of the test's backend: migrated (default) or ``empty=True``."""
    names = iter(range(1_000_000))

    def make(empty: bool = False) -> str:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / f'db{next(names)}.sqlite3'}"
            if not empty:
                engine = make_engine(url)
                upgrade(engine)
                engine.dispose()
            return url
        pg = request.getfixturevalue("postgres")
        url = pg.create(template=None if empty else pg.migrated_template())
        request.addfinalizer(lambda: pg.drop(url))
        return url

    return make


@pytest.fixture
def settings(backend, tmp_path, new_database_url):
    url = f"sqlite:///{tmp_path / 'gridgis.sqlite3'}" if backend == "sqlite" else new_database_url()
    return load_settings(env={}, database_url=url, service_area_bbox=CHENGDU_BBOX)


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
