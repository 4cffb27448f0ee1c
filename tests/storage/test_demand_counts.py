"""demand_counts upkeep of imports: counting chunk by chunk, or all chunks at once (deferred), or row by row
(migration 0002's insert trigger) gives one and the same table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from gridgis import grid
from gridgis.storage import init_db
from gridgis.storage.demand_counts import _DEFERRED, deferred, flush_deferred

COUNTS_Q = "SELECT * FROM demand_counts ORDER BY level, period, cell_9, category, max_res"


class _Boom(Exception):
    pass


def _chunks(n: int = 400) -> list[pd.DataFrame]:
    rng = np.random.default_rng(9)
    lng, lat = rng.uniform(104.04, 104.07, n), rng.uniform(30.62, 30.65, n)
    cells = grid.latlng_to_cells(lat, lng, 10)
    t = 1_767_225_600 + rng.integers(-400, 400, n) * 86_400 + rng.integers(0, 86_400, n)  # 2 years, 2 tz days
    rows = pd.DataFrame({
        "id": [f"t:{i}" for i in range(n)], "source": "t", "source_id": [str(i) for i in range(n)],
        "created_at": t, "text": "路灯不亮", "address": None,
        "category": np.array(["FAC", "ENV", "SAFE", "PROP", "OTHER"])[np.arange(n) % 5],
        "category_rule": "keyword:FAC:路灯", "source_category": None, "request_type": None, "status": "new",
        "lng": lng, "lat": lat, "source_crs": "wgs84", "orig_x": lng, "orig_y": lat,
        "geocode_level": np.array(["source", "street", "community", "door"])[np.arange(n) % 4],
        "geocode_score": None, "grid_code": None, "cell": cells.astype(np.int64),
        **{f"cell_{r}": grid.cells_to_parent(cells, r).astype(np.int64) for r in (9, 8, 7)},
        "duplicate_of": np.where(np.arange(n) % 13 == 0, "t:0", None), "reporter_name": None,
        "reporter_phone": None, "extra": None, "content_hash": [f"h{i}" for i in range(n)],
    })
    return [rows.iloc[i : i + 100] for i in range(0, n, 100)]


def test_deferred_counts_equal_chunk_by_chunk_counts(settings, tmp_path):
    chunked = init_db(settings)
    once = init_db(settings.with_overrides(database_url=f"sqlite:///{tmp_path / 'once.sqlite3'}"))
    b = chunked.insert_batch("a.csv", None, "t", {})
    for part in _chunks():
        chunked.upsert_requests(b, part)
    with once.write() as conn, deferred(conn):
        b2 = once.insert_batch("a.csv", None, "t", {}, conn=conn)
        for part in _chunks():
            once.upsert_requests(b2, part, conn=conn)
        assert conn.exec_driver_sql("SELECT count(*) FROM demand_counts").scalar() == 0  # kept, not counted
        flush_deferred(conn)
        flush_deferred(conn)  # nothing left: a no-op
        info = conn.info
        assert _DEFERRED in info
    assert _DEFERRED not in info
    with chunked.read() as c1, once.read() as c2:
        a, b_ = c1.exec_driver_sql(COUNTS_Q).fetchall(), c2.exec_driver_sql(COUNTS_Q).fetchall()
    assert a == b_ and len(a) > 100


def test_rows_still_kept_when_the_block_ends_are_counted(store):
    with store.write() as conn, deferred(conn):
        b = store.insert_batch("a.csv", None, "t", {}, conn=conn)
        store.upsert_requests(b, _chunks()[0], conn=conn)
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT sum(requests) FROM demand_counts WHERE level = 'Y'").scalar() > 0


def test_an_error_drops_the_kept_rows_with_the_transaction(store):
    with pytest.raises(_Boom), store.write() as conn, deferred(conn):
        info = conn.info
        b = store.insert_batch("a.csv", None, "t", {}, conn=conn)
        store.upsert_requests(b, _chunks()[0], conn=conn)
        raise _Boom()
    assert _DEFERRED not in info
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM demand_counts").scalar() == 0



def test_links_written_setwise_leave_the_counts_a_recount_gives(store, monkeypatch):
    """Both backends: many links at once (the row trigger set aside; on PostgreSQL by migration 0006's
    transaction-local setting) leave demand_counts equal to migration 0002's backfill of the stored rows."""
    import importlib

    from gridgis.storage import links

    m2 = importlib.import_module("gridgis.storage.migrations.versions.0002_demand_counts")
    rows = pd.concat(_chunks(600), ignore_index=True)
    b = store.insert_batch("a.csv", None, "t", {})
    store.upsert_requests(b, rows)
    monkeypatch.setattr(links, "MIN_LINKS", 1)
    ids = rows["id"].tolist()
    roots = [None if i % 13 == 0 and i % 2 else ("t:1" if i % 3 else None) for i in range(len(ids))]
    with store.write() as conn:
        store.set_duplicates(ids, roots, conn=conn)
    with store.read() as conn:
        got = conn.exec_driver_sql(COUNTS_Q).fetchall()
        assert conn.exec_driver_sql("SELECT count(*) FROM requests WHERE duplicate_of IS NOT NULL").scalar() > 200
    with store.engine.connect() as conn:
        tx = conn.begin()
        conn.exec_driver_sql("DELETE FROM demand_counts")
        conn.exec_driver_sql(m2.PG_BACKFILL if conn.dialect.name == "postgresql" else m2.SQLITE_BACKFILL)
        want = conn.exec_driver_sql(COUNTS_Q).fetchall()
        tx.rollback()
    assert [tuple(r) for r in got] == [tuple(r) for r in want]
    # the row trigger still counts an ordinary update afterwards (the setting was transaction-local)
    with store.write() as conn:
        conn.execute(text("UPDATE requests SET duplicate_of = NULL WHERE id = :i"), {"i": ids[1]})  # was t:1
    with store.read() as conn:
        firsts = conn.exec_driver_sql("SELECT sum(firsts) FROM demand_counts WHERE level = 'Y'").scalar()
    assert firsts == sum(r[-1] for r in want if r[0] == "Y") + 1
