"""The storage contract runs on every backend (PostgreSQL when GRIDGIS_TEST_POSTGRES_URL is set)."""

import pytest

from tests.pg import BACKENDS, require_backend


@pytest.fixture(params=BACKENDS)
def backend(request):
    return require_backend(request.param)
