"""The fast paths of a file import change nothing that is stored: indexes set aside for a big SQLite load,
repeats linked from the rows kept in memory, classification per distinct text, ids formatted in numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridgis.ingest import linking, pipeline, row_values
from gridgis.ingest.pipeline import BatchRows, IngestContext, IngestOptions, InjectedFailure, ingest_file
from gridgis.storage import REQUEST_COLUMNS, init_db, links, sqlite_bulk
from gridgis.taxonomy import Taxonomy
from tests.ingest.test_pipeline import _frame

SCHEMA_Q = "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'requests' ORDER BY type, name"
STABLE = [c for c in REQUEST_COLUMNS if c not in ("batch_id", "ingested_at", "updated_at")]


@pytest.fixture
def backend():
    return "sqlite"  # indexes are set aside on SQLite only


def _repeating_file(path, n: int = 600, seed: int = 3):
    """Hotline-like rows: texts repeat, some rows without an id, neighbours within the duplicate radius."""
    df = _frame(n, seed)
    df["诉求内容"] = [pipeline_texts[i % len(pipeline_texts)] for i in range(n)]
    df["经度"] = (104.05 + (np.arange(n) % 50) * 0.0002).round(6)
    df["纬度"] = (30.63 + (np.arange(n) % 7) * 0.0002).round(6)
    df.loc[::9, "工单编号"] = None
    df.to_csv(path, index=False)
    return path


pipeline_texts = ["小区电梯又坏了，老人上下楼不方便", "路灯不亮已经一周", "楼下烧烤油烟太大，晚上噪音扰民",
                  "楼道里有人飞线充电，很危险", "垃圾桶满了没人清运，有异味"]


def _stored(store) -> tuple[pd.DataFrame, list, list]:
    with store.read() as conn:
        rows = pd.read_sql(f"SELECT {', '.join(STABLE)} FROM requests ORDER BY id", conn)
        counts = conn.exec_driver_sql(
            "SELECT * FROM demand_counts ORDER BY level, period, cell_9, category, max_res").fetchall()
        schema = conn.exec_driver_sql(SCHEMA_Q).fetchall()
    return rows, counts, schema


def _recounted(store) -> list:
    """demand_counts as migration 0002's backfill computes it from the stored requests (rolled back)."""
    import importlib

    backfill = importlib.import_module("gridgis.storage.migrations.versions.0002_demand_counts").SQLITE_BACKFILL
    with store.engine.connect() as conn:
        tx = conn.begin()
        conn.exec_driver_sql("DELETE FROM demand_counts")
        conn.exec_driver_sql(backfill)
        counts = conn.exec_driver_sql(
            "SELECT * FROM demand_counts ORDER BY level, period, cell_9, category, max_res").fetchall()
        tx.rollback()
    return counts


def _import_twice(settings, tmp_path, min_rows: int, monkeypatch):
    """A big first file, then an overlapping one (changed, unchanged and new rows in its chunks)."""
    monkeypatch.setattr(sqlite_bulk, "MIN_ROWS", min_rows)
    monkeypatch.setattr(links, "MIN_LINKS", 1)  # links of already counted rows set-wise too
    store = init_db(settings)
    ctx = IngestContext.build(settings, store)
    first = _repeating_file(tmp_path / "a.csv")
    df = pd.read_csv(first, dtype=str)
    renamed = df.iloc[:150].assign(工单编号=lambda d: "N" + d["工单编号"])  # rows without an id stay the same
    second = pd.concat([df.iloc[500:].assign(办理状态="处置中"), renamed])
    second.to_csv(tmp_path / "b.csv", index=False)
    reports = [ingest_file(f, settings, store, IngestOptions(source="12345", chunk_rows=100), ctx=ctx)
               for f in (first, tmp_path / "b.csv")]
    return store, reports


def test_setting_indexes_aside_stores_the_same_as_keeping_them(settings, tmp_path, monkeypatch):
    held, held_reports = _import_twice(settings, tmp_path, 50, monkeypatch)
    kept_settings = settings.with_overrides(database_url=f"sqlite:///{tmp_path / 'kept.sqlite3'}")
    kept, kept_reports = _import_twice(kept_settings, tmp_path, 10**9, monkeypatch)
    assert "indexes" in held_reports[0].timings and "indexes" not in kept_reports[0].timings
    for a, b in zip(held_reports, kept_reports, strict=True):
        assert (a.stored, a.updated, a.unchanged, a.duplicates) == (b.stored, b.updated, b.unchanged, b.duplicates)
    assert held_reports[0].duplicates > 0 and held_reports[1].updated > 0 and held_reports[1].unchanged > 0
    got, want = _stored(held), _stored(kept)
    pd.testing.assert_frame_equal(got[0], want[0])
    assert got[1] == want[1] and got[2] == want[2]  # demand counts, and every index and trigger is back
    # counted once, with the links made at the end: the same as counting the stored rows from scratch
    assert got[1] == _recounted(held) and len(got[1]) > 100


def test_links_made_from_memory_equal_links_recomputed_from_the_database(settings, store, tmp_path):
    path = _repeating_file(tmp_path / "a.csv")
    report = ingest_file(path, settings, store, IngestOptions(source="12345", chunk_rows=100))
    stored = store.requests_frame(["id", "duplicate_of"]).set_index("id")["duplicate_of"]
    again = linking.link_duplicates(store, settings, batch_id=report.batch_id)  # reads the batch back
    assert report.duplicates == int(stored.notna().sum()) == int(again.notna().sum()) > 0
    assert again.reindex(stored.index).fillna("").tolist() == stored.fillna("").tolist()


def test_batch_rows_give_up_on_a_chunk_that_mixes_new_and_unchanged_rows():
    kept = BatchRows()
    rows = pd.DataFrame({c: [1, 2] for c in BatchRows.COLUMNS}).assign(created_at=[0, 86_400])
    kept.add(rows, (2, 0, 0))
    kept.add(rows, (0, 0, 2))  # nothing of this chunk is in the batch: nothing to keep
    assert kept.complete and len(kept.frame()) == 2
    assert str(kept.frame()["created_at"].dt.tz) == "UTC"
    kept.add(rows, (1, 0, 1))
    assert not kept.complete and kept.parts == []


def test_a_failure_after_the_indexes_were_set_aside_leaves_the_database_as_it_was(settings, store, tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setattr(sqlite_bulk, "MIN_ROWS", 50)
    with store.read() as conn:
        before = conn.exec_driver_sql(SCHEMA_Q).fetchall()
    path = _repeating_file(tmp_path / "a.csv")
    with pytest.raises(InjectedFailure):
        ingest_file(path, settings, store, IngestOptions(source="12345", chunk_rows=100, fail_after_chunks=3))
    with store.read() as conn:
        assert conn.exec_driver_sql(SCHEMA_Q).fetchall() == before
    assert store.count_requests() == 0
    report = ingest_file(path, settings, store, IngestOptions(source="12345", chunk_rows=100))
    assert report.stored == store.count_requests() == 600


def test_ids_are_formatted_like_printf():
    values = np.array([0, 1, 0xFF, 2**63, 2**64 - 1, 0x0123456789ABCDEF], dtype=np.uint64)
    values = np.r_[values, np.random.default_rng(0).integers(0, 2**64 - 1, 1000, dtype=np.uint64)]
    assert row_values.hex16(values).to_pylist() == [f"{v:016x}" for v in values.tolist()]


def test_classifying_each_distinct_text_once_gives_every_row_its_own_answer(settings):
    taxonomy = Taxonomy.load(settings.taxonomy_file)
    ctx = IngestContext(settings, taxonomy, area=None, grids=None)
    texts = pd.Series(["电梯困人，很着急", "路灯不亮", "电梯困人，很着急", "路灯不亮", "噪音扰民", "路灯不亮"],
                      dtype="str")
    labels = pd.Series(["物业管理", None, None, "1", 1, "路灯"], dtype=object)
    category, rule = pipeline._classify(ctx, texts, labels)
    want = taxonomy.classify(texts.astype("string"), labels)
    assert category.tolist() == want["category"].tolist()
    assert rule.tolist() == want["category_rule"].tolist()
