"""The store built by the real migrations, on every backend: schema, upsert idempotence, rollback, schema checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from gridgis import grid
from gridgis.errors import StorageError
from gridgis.models import RowProblem
from gridgis.storage import REQUEST_COLUMNS, init_db
from gridgis.storage.postgis import include_object, register_reflection
from gridgis.storage.schema import metadata
from gridgis.storage.store import Store


def _rows(n: int, seed: int = 0, prefix: str = "t") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lng = rng.uniform(104.04, 104.07, n)
    lat = rng.uniform(30.62, 30.65, n)
    cells = grid.latlng_to_cells(lat, lng, 10)
    df = pd.DataFrame(
        {
            "id": [f"{prefix}:{i}" for i in range(n)],
            "source": prefix,
            "source_id": [str(i) for i in range(n)],
            "created_at": 1_767_225_600 + np.arange(n) * 3600,
            "text": ["路灯不亮"] * n,
            "address": None,
            "category": "FAC",
            "category_rule": "keyword:FAC:路灯",
            "source_category": None,
            "request_type": "投诉",
            "status": "受理",
            "lng": lng,
            "lat": lat,
            "source_crs": "wgs84",
            "orig_x": lng,
            "orig_y": lat,
            "geocode_level": "source",
            "geocode_score": None,
            "grid_code": None,
            "cell": cells.astype(np.int64),
            "cell_9": grid.cells_to_parent(cells, 9).astype(np.int64),
            "cell_8": grid.cells_to_parent(cells, 8).astype(np.int64),
            "cell_7": grid.cells_to_parent(cells, 7).astype(np.int64),
            "duplicate_of": None,
            "reporter_name": "张三",
            "reporter_phone": "13812341234",
            "extra": None,
            "content_hash": [f"h{i}" for i in range(n)],
        }
    )
    return df


def test_migrations_create_exactly_the_declared_schema(store):
    """The Core tables, exactly; on PostgreSQL also migration 0005's PostGIS columns, which are not in them."""
    register_reflection()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"include_object": include_object}), metadata)
    assert diff == []


def test_postgis_geometry_columns_have_gist_indexes(store):
    if store.dialect != "postgresql":
        pytest.skip("PostGIS columns exist on PostgreSQL only (migration 0005 is a no-op on SQLite)")
    q = text(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "WHERE pg_get_indexdef(i.indexrelid) LIKE '%USING gist (geom)%' ORDER BY c.relname"
    )
    cols = text("SELECT f_table_name, type, srid FROM geometry_columns ORDER BY f_table_name")
    with store.read() as conn:
        assert [r[0] for r in conn.execute(q)] == ["grids", "requests", "zones"]
        assert conn.execute(cols).all() == [("grids", "GEOMETRY", 4326), ("requests", "POINT", 4326),
                                            ("zones", "GEOMETRY", 4326)]


def test_sqlite_runs_in_wal_with_foreign_keys(store):
    if store.dialect != "sqlite":
        pytest.skip("SQLite pragmas (WAL journal, foreign_keys) have no PostgreSQL counterpart to check")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_upsert_is_idempotent_and_counts_updates(store):
    batch = store.insert_batch("a.csv", None, "t", {})
    rows = _rows(200)
    assert store.upsert_requests(batch, rows) == (200, 0, 0)
    assert store.upsert_requests(batch, rows) == (0, 0, 200)
    changed = rows.copy()
    changed.loc[:9, "content_hash"] = "new"
    changed.loc[:9, "status"] = "已办结"
    assert store.upsert_requests(batch, changed) == (0, 10, 190)
    assert store.count_requests() == 200
    got = store.requests_frame(["id", "status", "cell", "created_at"])
    assert (got.set_index("id").loc["t:0", "status"]) == "已办结"
    assert str(got["created_at"].dt.tz) == "UTC"
    # cells survive the signed 64-bit column unchanged
    assert set(got["cell"].astype("uint64")) == set(rows["cell"].astype("uint64"))


class _Injected(Exception):
    pass


def test_failure_inside_a_write_rolls_back_everything_in_it(store):
    batch = store.insert_batch("a.csv", None, "t", {})
    store.upsert_requests(batch, _rows(50))
    with pytest.raises(_Injected), store.write() as conn:
        b2 = store.insert_batch("b.csv", None, "u", {}, conn=conn)
        store.upsert_requests(b2, _rows(80, prefix="u"), conn=conn)
        store.insert_rejects(b2, [RowProblem(3, "text", "", "empty")], conn=conn)
        raise _Injected()
    assert store.count_requests() == 50
    assert store.rejects_frame().empty
    assert len(store.batches()) == 1
    # and the same rows go in cleanly afterwards
    assert store.upsert_requests(batch, _rows(80, prefix="u"))[0] == 80


def test_schema_older_than_code_asks_for_upgrade(settings):
    store = init_db(settings)
    with store.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(StorageError, match="gridgis db upgrade"):
        Store.from_url(settings.database_url)


def test_uninitialised_database_asks_for_init(new_database_url):
    with pytest.raises(StorageError, match="gridgis db init"):
        Store.from_url(new_database_url(empty=True))


def test_request_columns_cover_the_table():
    assert "cell" in REQUEST_COLUMNS and "duplicate_of" in REQUEST_COLUMNS and "extra" in REQUEST_COLUMNS


def test_bulk_demand_counts_equal_the_insert_trigger(settings, new_database_url):
    """New rows skip the per-row trigger and are counted set-wise: both paths give the same table."""
    from gridgis.storage.frames import _column_lists

    rows = _rows(300, seed=5)
    rows.loc[::7, "geocode_level"] = "community"
    rows.loc[::11, "duplicate_of"] = "t:0"
    bulk = init_db(settings)
    b = bulk.insert_batch("a.csv", None, "t", {})
    bulk.upsert_requests(b, rows)
    other = init_db(settings.with_overrides(database_url=new_database_url()))
    b2 = other.insert_batch("a.csv", None, "t", {})
    full = rows.assign(batch_id=b2, ingested_at=1, updated_at=1)[list(REQUEST_COLUMNS)]
    ph = ", ".join(["?" if other.engine.dialect.paramstyle == "qmark" else "%s"] * len(REQUEST_COLUMNS))
    with other.write() as conn:  # a plain INSERT: the trigger counts each row
        conn.exec_driver_sql(
            f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) VALUES ({ph})",
            list(zip(*_column_lists(full, REQUEST_COLUMNS), strict=True)),
        )
    q = "SELECT * FROM demand_counts ORDER BY level, period, cell_9, category, max_res"
    with bulk.read() as c1, other.read() as c2:
        a, b_ = c1.exec_driver_sql(q).fetchall(), c2.exec_driver_sql(q).fetchall()
    assert a == b_ and len(a) > 300
    assert bulk.get_meta("demand_counts_bulk_batch") is None
    other.close()


def test_a_bulk_insert_that_fails_stores_nothing(store):
    """New rows go in by executemany (SQLite) or COPY (PostgreSQL); a failure rolls back either."""
    with pytest.raises(StorageError, match="batch not stored"):
        store.upsert_requests("no-such-batch", _rows(100))  # the batch must exist (foreign key)
    assert store.count_requests() == 0
    with store.read() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM demand_counts")).scalar() == 0
    assert store.get_meta("demand_counts_bulk_batch") is None
