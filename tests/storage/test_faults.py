"""Reduced CI form of bench/faults.py: kill -9 during imports, and concurrent writers plus readers on SQLite.

The full runs (20 kills of a 3,000-row import; 16 writers + 8 readers for 60 s) are `make bench`.
"""

from __future__ import annotations

import importlib
import sqlite3
import sys
import threading
import time

import pytest

from gridgis.config import load_settings
from gridgis.errors import StorageError
from gridgis.storage import init_db
from tests.conftest import REPO


@pytest.fixture
def faults(monkeypatch):
    # bench/ is no package: put it on sys.path (spawned worker processes inherit it and import `faults`).
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    module = importlib.import_module("faults")
    yield module
    sys.modules.pop("faults", None)


def test_kill_9_during_imports_then_one_resume_stores_every_row_exactly_once(faults, tmp_path):
    out = faults.kill_imports(tmp_path, kills=4, rows=1000, seed=11)  # two of the four kills aimed at the write
    assert out["kills"] == 4 and out["killed_in_write_txn"] >= 1, out
    assert out["integrity_ok"] == 4 and out["integrity_final"] == "ok", out
    assert out["partial_files"] == 0 and out["running_batches"] == 0, out  # all of a file or none of it
    assert out["resume_exit"] == 0 and out["lost_rows"] == 0 and out["duplicated_rows"] == 0, out
    assert out["rows_stored"] == out["rows_expected"] == 1000 * 5 and out["ok"]


def test_concurrent_writers_and_readers_lose_no_acknowledged_write(faults, tmp_path):
    out = faults.concurrent_writes(tmp_path, writers=4, readers=4, seconds=5, base_rows=300)
    assert out["errors"] == 0, out["error_samples"]  # "database is locked" included: none reaches a caller
    assert out["imports"] >= 2 and out["zone_writes"] >= 1 and out["status_changes"] >= 1, out
    assert out["reads"] >= 4, out
    assert out["missing_acknowledged"] == 0 and out["integrity"] == "ok" and out["ok"], out


def _hold_write_lock(db, seconds: float, held: threading.Event) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")  # like an import: the write lock for the whole file
    held.set()
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()


@pytest.mark.parametrize(("hold_s", "wait_s", "ok"), [(2.5, 30, True), (4.0, 1.5, False)])
def test_a_writer_outwaits_a_lock_longer_than_one_busy_timeout(tmp_path, monkeypatch, hold_s, wait_s, ok):
    # With one busy_timeout the zone edit failed with "database is locked" while an import held the lock.
    from gridgis.storage import engine

    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_S", 1)
    monkeypatch.setattr(engine, "WRITE_LOCK_WAIT_S", wait_s)
    store = init_db(load_settings(env={}, database_url=f"sqlite:///{tmp_path / 'w.sqlite3'}"))
    held = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(tmp_path / "w.sqlite3", hold_s, held))
    holder.start()
    held.wait(10)
    t0 = time.monotonic()
    try:
        if ok:
            store.set_meta("probe", "1")
            assert store.get_meta("probe") == "1" and time.monotonic() - t0 >= hold_s - 0.5
        else:
            with pytest.raises(StorageError, match="locked"):
                store.set_meta("probe", "1")
            assert wait_s <= time.monotonic() - t0 < hold_s
    finally:
        holder.join()
        store.close()
