"""`gridgis db copy`: every table moves between backends unchanged, in one transaction on the target."""

from __future__ import annotations

import pytest
import shapely
from click.testing import CliRunner
from sqlalchemy import select, text

from gridgis.cli import main
from gridgis.errors import StorageError
from gridgis.heatmap.aggregate import aggregate
from gridgis.heatmap.filters import Filters
from gridgis.storage import init_db
from gridgis.storage.store import Store
from gridgis.storage.transfer import copy_database, tables
from gridgis.zones import validate_zone
from tests.storage.test_store import _rows

BOX = shapely.geometry.mapping(shapely.box(104.05, 30.62, 104.06, 30.63))
ZONE = shapely.box(104.045, 30.625, 104.058, 30.64)


def _table_rows(url: str) -> dict[str, list[tuple]]:
    store = Store.from_url(url)
    with store.read() as conn:
        out = {t.name: sorted(map(tuple, conn.execute(select(*t.columns)).all()), key=repr) for t in tables()}
    store.close()
    return out


def _heatmaps(store: Store) -> list:
    return [aggregate(store, 9), aggregate(store, 10, Filters(zone=ZONE), bucket="month"),
            aggregate(store, 8, Filters(categories=("PARK",)), by_category=False)]


def test_demo_database_copies_there_and_back_unchanged(seeded_store, demo_settings, new_database_url, tmp_path):
    dst = new_database_url(empty=True)  # the copy initialises it
    counts = copy_database(demo_settings.database_url, dst, chunk_rows=700)  # several chunks per big table
    assert counts["requests"] == seeded_store.count_requests() > 5000
    assert counts["demand_counts"] > 0 and counts["grids"] > 0 and counts["rejects"] > 0
    copied = Store.from_url(dst)
    assert copied.summary() == seeded_store.summary()
    for a, b in zip(_heatmaps(seeded_store), _heatmaps(copied), strict=True):
        assert len(a) and a.equals(b)
    copied.close()
    back = f"sqlite:///{tmp_path / 'back.sqlite3'}"
    copy_database(dst, back)
    assert _table_rows(back) == _table_rows(demo_settings.database_url)


def test_serial_ids_and_counts_go_on_after_the_copy(settings, store, new_database_url):
    z1 = store.insert_zone(validate_zone({"name": "甲", "geometry": BOX}, {"PARK"}).to_record())
    store.insert_zone(validate_zone({"name": "乙", "geometry": BOX}, {"PARK"}).to_record())
    store.delete_zone(z1["id"])
    batch = store.insert_batch("a.csv", None, "t", {})
    store.upsert_requests(batch, _rows(120))
    dst = new_database_url(empty=True)
    copy_database(settings.database_url, dst)
    copied = Store.from_url(dst)
    z3 = copied.insert_zone(validate_zone({"name": "丙", "geometry": BOX}, {"PARK"}).to_record())
    assert z3["id"] == 3 and copied.zone_history_frame(z3["id"])["id"].tolist() == [4]
    # the insert trigger did not count the copied requests a second time, and counts new ones as before
    b2 = copied.insert_batch("b.csv", None, "u", {})
    copied.upsert_requests(b2, _rows(30, prefix="u"))
    q = text("SELECT SUM(requests) FROM demand_counts WHERE level = 'Y'")
    with copied.read() as conn:
        assert conn.execute(q).scalar() == 150
    assert copied.get_meta("demand_counts_bulk_batch") is None
    copied.close()


def test_a_target_holding_data_is_refused_unless_replace(settings, store, new_database_url):
    batch = store.insert_batch("a.csv", None, "t", {})
    store.upsert_requests(batch, _rows(40))
    dst = new_database_url()  # migrated, with one other request in it
    other = init_db(settings.with_overrides(database_url=dst))
    other.upsert_requests(other.insert_batch("o.csv", None, "o", {}), _rows(1, prefix="o"))
    with pytest.raises(StorageError, match="--replace"):
        copy_database(settings.database_url, dst)
    assert other.count_requests() == 1  # untouched
    counts = copy_database(settings.database_url, dst, replace=True)
    assert counts["requests"] == 40 and other.count_requests() == 40
    with other.read() as conn:
        assert conn.execute(text("SELECT SUM(requests) FROM demand_counts WHERE level = 'D'")).scalar() == 40
    other.close()


def test_a_target_behind_the_code_is_refused_and_left_as_it_was(settings, store, new_database_url):
    dst = new_database_url()
    behind = Store.from_url(dst)
    with behind.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0004'"))
    with pytest.raises(StorageError, match="gridgis db upgrade"):
        copy_database(settings.database_url, dst)
    with behind.read() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0004"
    behind.close()


def test_cli_prints_rows_per_table(settings, store, new_database_url):
    store.upsert_requests(store.insert_batch("a.csv", None, "t", {}), _rows(25))
    dst = new_database_url(empty=True)
    result = CliRunner().invoke(main, ["db", "copy", settings.database_url, dst])
    assert result.exit_code == 0, result.output
    lines = {ln.split()[0]: ln.split()[-1] for ln in result.output.splitlines()[1:]}
    assert lines["requests"] == "25" and lines["ingest_batches"] == "1" and lines["total"] != "0"
    again = CliRunner().invoke(main, ["db", "copy", settings.database_url, dst])
    assert again.exit_code == 2 and "--replace" in again.output
