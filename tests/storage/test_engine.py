"""Connecting: an unreachable PostgreSQL is a clear StorageError naming the URL (password hidden), soon."""

from __future__ import annotations

import os
import socket
import time

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gridgis.errors import StorageError
from gridgis.storage import engine as engine_mod
from gridgis.storage.engine import make_engine
from gridgis.storage.store import Store
from gridgis.storage.transfer import copy_database


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("create", [False, True], ids=["open", "init"])
def test_refused_connection_names_the_url_without_the_password(create):
    port = _closed_port()
    url = f"postgresql+psycopg://gridgis:s3cret-pw@127.0.0.1:{port}/gridgis"
    with pytest.raises(StorageError) as err:
        Store.from_url(url, create=create)
    msg = str(err.value)
    assert "s3cret-pw" not in msg
    assert f"gridgis:***@127.0.0.1:{port}/gridgis" in msg and "cannot connect" in msg and "无法连接数据库" in msg


def test_a_server_that_never_answers_fails_after_the_connect_timeout(monkeypatch):
    monkeypatch.setattr(engine_mod, "PG_CONNECT_TIMEOUT_S", 2)
    with socket.socket() as silent:  # the kernel accepts the TCP handshake; nobody ever speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"postgresql+psycopg://gridgis:pw@127.0.0.1:{silent.getsockname()[1]}/gridgis"
        t0 = time.monotonic()
        with pytest.raises(StorageError, match="cannot connect"):
            Store.from_url(url)
        assert time.monotonic() - t0 < 6


def test_copy_to_an_unreachable_target_names_it_and_leaves_the_source(settings, store):
    url = f"postgresql+psycopg://gridgis:s3cret-pw@127.0.0.1:{_closed_port()}/gridgis"
    with pytest.raises(StorageError) as err:
        copy_database(settings.database_url, url)
    assert "s3cret-pw" not in str(err.value) and "gridgis:***@" in str(err.value)
    assert store.summary()["requests"] == 0


def test_a_url_without_a_driver_uses_psycopg_3():
    assert make_engine("postgresql://u:pw@127.0.0.1/db").url.drivername == "postgresql+psycopg"


def test_a_role_that_may_not_create_postgis_is_told_what_to_ask_for_and_nothing_is_written(postgres):
    url = postgres.create()  # empty, without the extension
    name, role = make_url(url).database, f"gridgis_plain_{os.getpid()}"
    with postgres.admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'"))
        conn.execute(text(f"ALTER DATABASE {name} OWNER TO {role}"))
    try:
        as_owner = make_url(url).set(username=role, password="pw").render_as_string(hide_password=False)
        with pytest.raises(StorageError, match="CREATE EXTENSION postgis"):
            Store.from_url(as_owner, create=True)
        check = make_engine(url)
        with check.connect() as conn:  # migrations 0001–0004 rolled back with it
            assert conn.execute(text("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'")).scalar() == 0
        check.dispose()
    finally:
        postgres.drop(url)
        with postgres.admin.connect() as conn:
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
