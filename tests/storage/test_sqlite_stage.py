"""New rows staged through ADBC and copied in one INSERT … SELECT store exactly what executemany stores;
the scratch file never outlives the import, and a failure leaves the table as it was."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from gridgis.errors import StorageError
from gridgis.ingest.pipeline import IngestOptions, InjectedFailure, ingest_file
from gridgis.storage import Store, init_db, sqlite_stage
from gridgis.storage.sqlite_bulk import insert_rows
from gridgis.storage.sqlite_stage import SUFFIX, staged
from tests.ingest.test_pipeline import _frame


@pytest.fixture
def backend():
    return "sqlite"  # the stage is SQLite's; PostgreSQL imports use COPY


def _values() -> pd.DataFrame:
    """Every kind of value a request column holds, with the awkward ones: NaN, None, all-missing,
    Chinese text, quotes, NUL, big 64-bit cells, booleans, nullable integers."""
    n = 7
    return pd.DataFrame({
        "id": pd.Series([f"src:{i}" for i in range(n)], dtype="str"),
        "i": np.array([0, 1, -1, 2**62, 2**63 - 1, 644733130538065919, 7], dtype=np.int64),
        "f": np.array([0.5, np.nan, -1e300, 104.123456789, np.inf, 3.0, np.nan]),
        "s": pd.Series(["诉求：电梯坏了", None, "it's \"quoted\"", "", "a\x00b", "x" * 3000, "再"], dtype="str"),
        "o": pd.Series(["a", None, "b", None, "c", "d", "e"], dtype=object),
        "none": pd.Series([None] * n, dtype=object),
        "b": np.array([True, False, True, True, False, False, True]),
        "ni": pd.array([1, None, 3, 4, None, 6, 7], dtype="Int64"),
    })


def _table(conn, name: str, cols) -> None:
    conn.exec_driver_sql(f"CREATE TABLE {name} (id TEXT PRIMARY KEY, i INTEGER, f REAL, s TEXT, o TEXT, none TEXT, "
                         "b INTEGER, ni INTEGER)")


def test_staged_rows_equal_executemany_rows(settings):
    store = init_db(settings)
    frame = _values()
    cols = list(frame.columns)
    with store.write() as conn:
        _table(conn, "direct", cols)
        _table(conn, "staged", cols)
        insert_rows(conn, "direct", frame, cols)
        with staged(conn, "staged", cols) as stage:
            assert stage.add(frame.iloc[:3]) and stage.add(frame.iloc[3:])
            assert stage.flush() == len(frame)
    with store.read() as conn:
        q = "SELECT id, i, f, s, o, none, b, ni, typeof(i), typeof(f), typeof(s), typeof(ni) FROM {} ORDER BY rowid"
        direct = conn.exec_driver_sql(q.format("direct")).fetchall()
        got = conn.exec_driver_sql(q.format("staged")).fetchall()
    assert got == direct
    assert got[1][2] is None and got[0][3] == "诉求：电梯坏了" and got[4][1] == 2**63 - 1


def test_a_column_arrow_cannot_hold_is_inserted_directly(settings, tmp_path):
    store = init_db(settings)
    frame = _values().assign(o=pd.Series(["a", 1, None, 2.5, "b", "c", "d"], dtype=object))  # mixed types
    cols = list(frame.columns)
    with store.write() as conn:
        _table(conn, "staged", cols)
        with staged(conn, "staged", cols) as stage:
            assert not stage.add(frame)
            assert stage.add(_values().drop(columns="o").assign(o="x", id=lambda d: d["id"] + "b"))
            stage.flush()
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM staged").scalar() == 7


def _scratch_files(settings) -> list:
    from pathlib import Path

    db = Path(settings.database_url.removeprefix("sqlite:///"))
    return sorted(db.parent.glob(f".{db.name}.*{SUFFIX}"))


def _attached(store: Store) -> list[str]:
    with store.read() as conn:
        return [r[1] for r in conn.exec_driver_sql("PRAGMA database_list").fetchall()]


def test_an_import_leaves_no_scratch_file_and_no_attached_database(settings, store, tmp_path):
    path = tmp_path / "a.csv"
    _frame(400).to_csv(path, index=False)
    report = ingest_file(path, settings, store, IngestOptions(source="12345", chunk_rows=100))
    assert report.stored == store.count_requests() == 400
    assert _scratch_files(settings) == []
    assert sqlite_stage.SCHEMA not in _attached(store)
    again = tmp_path / "b.csv"  # the pooled connection attaches its next stage under the same name
    _frame(300, seed=5).assign(工单编号=lambda d: "B" + d["工单编号"]).to_csv(again, index=False)
    assert ingest_file(again, settings, store, IngestOptions(source="12345", chunk_rows=100)).stored == 300
    assert store.count_requests() == 700 and _scratch_files(settings) == []


def test_staged_and_direct_imports_store_the_same(settings, tmp_path, monkeypatch):
    path = tmp_path / "a.csv"
    _frame(500).to_csv(path, index=False)

    def stored(url: str) -> tuple[pd.DataFrame, list]:
        s = init_db(settings.with_overrides(database_url=url))
        r = ingest_file(path, settings, s, IngestOptions(source="12345", chunk_rows=120))
        with s.read() as conn:
            rows = pd.read_sql(text("SELECT * FROM requests ORDER BY id"), conn)
            counts = conn.exec_driver_sql("SELECT * FROM demand_counts ORDER BY 1, 2, 3, 4, 5").fetchall()
        s.close()
        return rows.drop(columns=["batch_id", "ingested_at", "updated_at"]), counts, r.duplicates

    staged_rows = stored(f"sqlite:///{tmp_path / 'staged.sqlite3'}")
    monkeypatch.setattr(Store, "request_stage", lambda self, conn: contextlib.nullcontext(None))
    direct_rows = stored(f"sqlite:///{tmp_path / 'direct.sqlite3'}")
    pd.testing.assert_frame_equal(staged_rows[0], direct_rows[0])
    assert staged_rows[1] == direct_rows[1] and len(staged_rows[1]) > 10
    assert staged_rows[2] == direct_rows[2]


def test_a_failed_import_leaves_the_table_and_folder_as_they_were(settings, store, tmp_path):
    path = tmp_path / "a.csv"
    _frame(400).to_csv(path, index=False)
    with pytest.raises(InjectedFailure):
        ingest_file(path, settings, store, IngestOptions(source="12345", chunk_rows=100, fail_after_chunks=3))
    assert store.count_requests() == 0 and _scratch_files(settings) == []
    assert sqlite_stage.SCHEMA not in _attached(store)
    assert ingest_file(path, settings, store, IngestOptions(source="12345", chunk_rows=100)).stored == 400


def test_a_primary_key_clash_found_at_the_copy_fails_the_whole_import(settings, store, tmp_path, monkeypatch):
    path = tmp_path / "a.csv"
    _frame(300).to_csv(path, index=False)
    ingest_file(path, settings, store, IngestOptions(source="12345", chunk_rows=100))
    more = tmp_path / "b.csv"
    _frame(300, seed=9).assign(工单编号=lambda d: "N" + d["工单编号"]).to_csv(more, index=False)
    monkeypatch.setattr(Store, "source_is_new", lambda self, source, conn: True)  # wrongly: a clash at the copy
    clash = tmp_path / "c.csv"
    pd.concat([pd.read_csv(more, dtype=str), pd.read_csv(path, dtype=str).iloc[:1]]).to_csv(clash, index=False)
    with pytest.raises(StorageError):
        ingest_file(clash, settings, store, IngestOptions(source="12345", chunk_rows=100))
    assert store.count_requests() == 300 and _scratch_files(settings) == []
    assert sqlite_stage.SCHEMA not in _attached(store)


def test_the_scratch_file_of_a_killed_import_is_removed_by_the_next(settings, store, tmp_path, caplog):
    db = tmp_path / "gridgis.sqlite3"
    left = tmp_path / f".{db.name}.4242-deadbeef{SUFFIX}"
    left.write_bytes(b"\0" * 1024)
    other = tmp_path / f".other.sqlite3.1-x{SUFFIX}"  # another database's: not ours to remove
    other.write_bytes(b"")
    path = tmp_path / "a.csv"
    _frame(200).to_csv(path, index=False)
    with caplog.at_level("WARNING", logger=sqlite_stage.__name__):
        ingest_file(path, settings, store, IngestOptions(source="12345", chunk_rows=100))
    assert not left.exists() and other.exists()
    assert "unfinished import" in caplog.text
