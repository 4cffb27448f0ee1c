"""SQLite bulk loading: indexes set aside and rebuilt inside the import's transaction; the fast insert and
hash lookup write and read exactly what the plain executemany / IN query do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridgis.storage import REQUEST_COLUMNS, init_db, links
from gridgis.storage.frames import _column_lists
from gridgis.storage.sqlite_bulk import IndexHold, insert_rows, stored_hashes

from .test_demand_counts import COUNTS_Q, _chunks


@pytest.fixture
def backend():
    return "sqlite"  # SQLite's own bulk path (PostgreSQL imports go through COPY)


SCHEMA_Q = "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'requests' ORDER BY type, name"


class _Boom(Exception):
    pass


def _rows(n: int, batch: str, *, prefix: str = "t", seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cells = np.full(n, 0x8A4_A107_2B59_FFFF, dtype=np.int64) + (np.arange(n, dtype=np.int64) << 15)
    df = pd.DataFrame({
        "id": [f"{prefix}:{i}" for i in range(n)],
        "source": prefix,
        "source_id": [str(i) for i in range(n)],
        "batch_id": batch,
        "created_at": 1_700_000_000 + rng.integers(0, 86_400 * 30, n),
        "text": [f"路灯不亮 '{i}' \"引号\"" for i in range(n)],
        "address": [None if i % 3 == 0 else f"玉华路{i}号" for i in range(n)],
        "category": "FAC",
        "category_rule": "keyword:FAC:路灯",
        "source_category": None,
        "request_type": None,
        "status": "new",
        "lng": rng.uniform(104.0, 104.1, n).round(7),
        "lat": rng.uniform(30.6, 30.7, n).round(7),
        "source_crs": "WGS 84",
        "orig_x": np.where(np.arange(n) % 4 == 0, np.nan, rng.uniform(104.0, 104.1, n)),
        "orig_y": rng.uniform(30.6, 30.7, n),
        "geocode_level": "source",
        "geocode_score": np.nan,
        "grid_code": None,
        "cell": cells,
        "cell_9": cells,
        "cell_8": cells,
        "cell_7": cells,
        "duplicate_of": None,
        "reporter_name": "O'Brien",
        "reporter_phone": None,
        "extra": None,
        "content_hash": [f"{i:016x}" for i in range(n)],
        "ingested_at": 1_700_000_000,
        "updated_at": 1_700_000_000,
    })
    return df[list(REQUEST_COLUMNS)]


def _new_batch(store, conn) -> str:
    return store.insert_batch("a.csv", None, "t", {}, conn=conn)


def _dump(conn) -> list[tuple]:
    cols = ", ".join(c for c in REQUEST_COLUMNS if c != "batch_id")
    q = f"SELECT {cols}, typeof(orig_x), typeof(geocode_score), typeof(address) FROM requests ORDER BY id"
    return conn.exec_driver_sql(q).fetchall()


def test_insert_rows_stores_exactly_what_a_plain_executemany_stores(settings, tmp_path):
    fast, plain = init_db(settings), init_db(settings.with_overrides(database_url=f"sqlite:///{tmp_path / 'p.db'}"))
    for store, how in ((fast, "fast"), (plain, "plain")):
        with store.write() as conn:
            rows = _rows(60, _new_batch(store, conn))
            if how == "fast":
                insert_rows(conn, "requests", rows, REQUEST_COLUMNS)
            else:
                ph = ", ".join("?" * len(REQUEST_COLUMNS))
                conn.exec_driver_sql(f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) VALUES ({ph})",
                                     list(zip(*_column_lists(rows, REQUEST_COLUMNS), strict=True)))
    with fast.read() as a, plain.read() as b:
        got, want = _dump(a), _dump(b)
    assert got == want and len(got) == 60
    assert {r[-3] for r in got} == {"real", "null"} and {r[-2] for r in got} == {"null"}


def test_insert_rows_binds_a_constant_it_cannot_write_as_a_literal(store):
    with store.write() as conn:
        rows = _rows(5, _new_batch(store, conn)).assign(reporter_name="a\x00b")
        insert_rows(conn, "requests", rows, REQUEST_COLUMNS)
        got = conn.exec_driver_sql("SELECT DISTINCT reporter_name FROM requests").fetchall()
    assert got == [("a\x00b",)]


def test_stored_hashes_match_the_in_query(store):
    with store.write() as conn:
        insert_rows(conn, "requests", _rows(30, _new_batch(store, conn)), REQUEST_COLUMNS)
    ids = [f"t:{i}" for i in range(0, 40, 3)] + ["nope", "t:1\x00"]
    with store.read() as conn:
        fast = stored_hashes(conn, ids[:-1])
        assert stored_hashes(conn, ids) is None  # a NUL in an id: the caller binds instead
    assert fast == {f"t:{i}": f"{i:016x}" for i in range(0, 30, 3)}
    assert store.existing_hashes(ids) == fast


def test_index_hold_waits_for_the_import_to_outgrow_the_table(store):
    before = None
    with store.write() as conn:
        insert_rows(conn, "requests", _rows(50, _new_batch(store, conn), prefix="old"), REQUEST_COLUMNS)
        before = conn.exec_driver_sql(SCHEMA_Q).fetchall()
    with store.write() as conn:
        hold = IndexHold(conn, min_rows=10)
        hold.wrote(30)
        assert not hold.held  # 30 new rows next to 50 stored: index upkeep is cheap
        hold.wrote(30)
        assert hold.held
        names = {r[1] for r in conn.exec_driver_sql(SCHEMA_Q).fetchall()}
        assert "ix_requests_cell_created" not in names and "demand_counts_insert" not in names
        assert "sqlite_autoindex_requests_1" in names  # the primary key stays
        hold.restore()
        hold.restore()  # idempotent
        assert conn.exec_driver_sql(SCHEMA_Q).fetchall() == before
    assert hold.rebuild_s > 0


def test_a_failed_import_gets_its_indexes_back_with_the_rollback(store):
    with store.read() as conn:
        before = conn.exec_driver_sql(SCHEMA_Q).fetchall()
    with pytest.raises(_Boom), store.write() as conn:
        hold = IndexHold(conn, min_rows=1)
        insert_rows(conn, "requests", _rows(20, _new_batch(store, conn)), REQUEST_COLUMNS)
        hold.wrote(20)
        assert hold.held
        raise _Boom()
    with store.read() as conn:
        assert conn.exec_driver_sql(SCHEMA_Q).fetchall() == before
        assert conn.exec_driver_sql("SELECT count(*) FROM requests").scalar() == 0


def test_unique_indexes_are_never_set_aside(store):
    with store.write() as conn:
        conn.exec_driver_sql("CREATE UNIQUE INDEX ux_test_source_id ON requests (source, source_id)")
    with store.write() as conn:
        hold = IndexHold(conn, min_rows=1)
        hold.wrote(5)
        names = {r[1] for r in conn.exec_driver_sql(SCHEMA_Q).fetchall()}
        assert "ux_test_source_id" in names and "ix_requests_created" not in names
        hold.restore()


def test_setwise_duplicate_links_move_counts_as_the_update_trigger_does(settings, tmp_path, monkeypatch):
    """set_duplicates of many rows sets the update trigger aside and moves ``firsts`` in one grouped upsert:
    the same table as the trigger row by row, for links set, changed and cleared; the trigger is back after."""
    rows = pd.concat(_chunks(3_000), ignore_index=True)
    ids = rows["id"].tolist()
    # set on rows that had none, changed on rows that had one (t:0 → t:1), cleared on others
    roots = [None if i % 13 == 0 and i % 2 else ("t:1" if i % 3 else None) for i in range(len(ids))]
    tables = {}
    for name, min_links in (("trigger", 10**9), ("setwise", 1)):
        st = init_db(settings.with_overrides(database_url=f"sqlite:///{tmp_path / (name + '.sqlite3')}"))
        b = st.insert_batch("a.csv", None, "t", {})
        st.upsert_requests(b, rows)
        monkeypatch.setattr(links, "MIN_LINKS", min_links)
        with st.write() as conn:
            st.set_duplicates(ids, roots, conn=conn)
        with st.read() as conn:
            tables[name] = (conn.exec_driver_sql(COUNTS_Q).fetchall(),
                            conn.exec_driver_sql("SELECT id, duplicate_of FROM requests ORDER BY id").fetchall(),
                            conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                                 "ORDER BY name").fetchall())
    assert tables["setwise"] == tables["trigger"]
    counts, linked, triggers = tables["setwise"]
    assert ("demand_counts_update",) in triggers and sum(1 for _, d in linked if d) > 1_000
    assert sum(r[-1] for r in counts if r[0] == "Y") == sum(1 for _, d in linked if d is None)  # firsts


def test_setwise_links_roll_back_with_the_transaction(store, monkeypatch):
    rows = pd.concat(_chunks(400), ignore_index=True)
    b = store.insert_batch("a.csv", None, "t", {})
    store.upsert_requests(b, rows)
    monkeypatch.setattr(links, "MIN_LINKS", 1)
    with store.read() as conn:
        before = conn.exec_driver_sql(COUNTS_Q).fetchall()
    with pytest.raises(_Boom), store.write() as conn:
        store.set_duplicates(rows["id"].tolist(), ["t:1"] * len(rows), conn=conn)
        raise _Boom()
    with store.read() as conn:
        assert conn.exec_driver_sql(COUNTS_Q).fetchall() == before
        assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'demand_counts_update'"
                                    ).scalar() == 1


def test_a_source_is_new_only_when_no_stored_id_has_its_prefix(store):
    b = store.insert_batch("a.csv", None, "ab", {})
    store.upsert_requests(b, _rows(3, b, prefix="ab").drop(columns=["batch_id", "ingested_at", "updated_at"],
                                                           errors="ignore"))
    with store.read() as conn:
        assert not store.source_is_new("ab", conn)
        # neighbours in the id order: "a", "ab9" (9 < ":") and "abc" (c > ";") share no id prefix with it
        assert all(store.source_is_new(s, conn) for s in ("a", "ab9", "abc", "b", "ab:"))


def test_rows_of_a_new_source_skip_the_lookup_but_a_stored_id_still_fails_the_transaction(store):
    rows = _rows(5, "x", prefix="n").drop(columns=["batch_id", "ingested_at", "updated_at"], errors="ignore")
    b = store.insert_batch("a.csv", None, "n", {})
    assert store.upsert_requests(b, rows, all_new=True) == (5, 0, 0)
    with pytest.raises(Exception, match="UNIQUE"), store.write() as conn:
        store.upsert_requests(b, rows, conn=conn, all_new=True)
    assert store.count_requests() == 5
