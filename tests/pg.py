"""The test session's PostgreSQL: fresh databases cloned from migrated templates, dropped afterwards.

``GRIDGIS_TEST_POSTGRES_URL`` is a superuser (or CREATEDB owner) URL to a maintenance database, e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``. Without it the postgresql parameters are
skipped, unless ``GRIDGIS_REQUIRE_POSTGRES=1`` (CI), when they fail.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

ENV_URL = "GRIDGIS_TEST_POSTGRES_URL"
ENV_REQUIRE = "GRIDGIS_REQUIRE_POSTGRES"
BACKENDS = ("sqlite", "postgresql")


def require_backend(backend: str) -> str:
    """``backend`` when it can run here; skips (or, when required, fails) the postgresql parameter."""
    if backend == "postgresql" and not os.environ.get(ENV_URL):
        why = f"PostgreSQL tests need {ENV_URL} (a superuser URL to a maintenance database)"
        if os.environ.get(ENV_REQUIRE) == "1":
            pytest.fail(f"{ENV_REQUIRE}=1 but {why}")
        pytest.skip(why)
    return backend


class PostgresServer:
    """Creates and drops this session's databases (names carry the pid: parallel sessions never meet)."""

    def __init__(self, admin_url: str) -> None:
        url = make_url(admin_url)
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        self.url = url
        self.admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.prefix = f"gridgis_t{os.getpid()}_"
        self._names = itertools.count()
        self._templates: dict[str, str] = {}
        with self.admin.connect() as conn:
            version = int(conn.execute(text("SHOW server_version_num")).scalar())
        self._strategy = " STRATEGY FILE_COPY" if version >= 150000 else ""  # no WAL-logged copy: faster here

    def database_url(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def create(self, template: str | None = None) -> str:
        """A new database (a clone of ``template`` when given); returns its URL."""
        name = f"{self.prefix}{next(self._names)}"
        clone = f" TEMPLATE {template}{self._strategy}" if template else ""
        with self.admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}{clone}"))
        return self.database_url(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        assert name.startswith(self.prefix), name  # never anything this session did not create
        with self.admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    def template(self, key: str, build: Callable[[str], None]) -> str:
        """The name of a template database built once per session by ``build(url)`` (which must close
        every connection it opened: a template with open connections cannot be cloned)."""
        if key not in self._templates:
            url = self.create()
            build(url)
            self._templates[key] = make_url(url).database
        return self._templates[key]

    def migrated_template(self) -> str:
        from gridgis.storage.engine import make_engine
        from gridgis.storage.migrate import upgrade

        def build(url: str) -> None:
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()

        return self.template("migrated", build)

    def close(self) -> None:
        with self.admin.connect() as conn:
            names = conn.execute(
                text("SELECT datname FROM pg_database WHERE starts_with(datname, :p)"), {"p": self.prefix}
            ).scalars().all()
            for name in names:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        self.admin.dispose()
