"""Online backup and restore of SQLite: consistent while the app serves and imports write; restore checks first."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from gridgis.cli import main
from gridgis.config import load_settings
from gridgis.errors import ConfigError, InvalidInputError
from gridgis.ingest.pipeline import IngestContext, IngestOptions, ingest_file
from gridgis.storage import init_db, migrate, open_store
from gridgis.storage.backup import backup_database, restore_database, table_counts
from gridgis.storage.engine import make_engine
from tests.conftest import SAMPLE


def _copy_db(src_url: str, dest: Path) -> str:
    src = sqlite3.connect(src_url.removeprefix("sqlite:///"))
    dst = sqlite3.connect(dest)
    src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{dest}"


def _counts(path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return table_counts(conn)
    finally:
        conn.close()


def _snapshot_is_consistent(path) -> None:
    """integrity_check ok, and the request count agrees with the batches and the demand counts (same snapshot)."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
        n = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
        per_batch = conn.execute(
            "SELECT count(*) FROM requests r LEFT JOIN ingest_batches b ON b.id = r.batch_id "
            "WHERE b.status IS NOT 'committed'").fetchone()[0]
        assert per_batch == 0  # every stored row belongs to a committed batch of the same snapshot
        placed = conn.execute("SELECT count(*) FROM requests WHERE cell_9 IS NOT NULL").fetchone()[0]
        daily = conn.execute("SELECT coalesce(sum(requests), 0) FROM demand_counts WHERE level = 'D'").fetchone()[0]
        assert n > 0 and daily == placed  # the counts kept by triggers match the rows: one snapshot
    finally:
        conn.close()


def _rows(n: int, seed: int) -> str:
    lines = ["工单编号,受理时间,诉求内容,经度,纬度"]
    for i in range(n):
        lines.append(f"B{seed}-{i},2026-03-0{1 + i % 9} 08:{i % 60:02d},锦城花园{i % 9}栋电梯又坏了（{seed}-{i}）,"
                     f"{104.050 + (i % 50) * 0.0004:.6f},{30.630 + (i % 40) * 0.0004:.6f}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def live(tmp_path, demo_settings, demo_reports):
    """A copy of the demo database, its settings and store."""
    url = _copy_db(demo_settings.database_url, tmp_path / "live.sqlite3")
    settings = load_settings(SAMPLE / "gridgis.toml", env={}, database_url=url)
    store = init_db(settings)
    yield settings, store, tmp_path / "live.sqlite3"
    store.close()


def test_backup_while_the_app_serves_and_imports_write_then_restore(tmp_path, live):
    from waitress.server import create_server

    from gridgis.tokens import create_token
    from webmap import create_app

    settings, store, path = live
    secret, _ = create_token(store, "backup-test", ["aggregates"], created_by="test")
    server = create_server(create_app(settings, open_store(settings)), host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{server.effective_port}/api/summary"
    stop = threading.Event()
    seen: dict[str, list] = {"http": [], "imports": [], "errors": []}

    def get_summary() -> dict:
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def client() -> None:
        while not stop.is_set():
            try:
                seen["http"].append(get_summary()["requests"])
            except Exception as exc:  # noqa: BLE001 - counted and asserted below
                seen["errors"].append(f"http: {exc!r}")

    def importer() -> None:
        ctx = IngestContext.build(settings, store)
        k = 0
        while not stop.is_set():
            f = tmp_path / f"w{k}.csv"
            f.write_text(_rows(200, k), encoding="utf-8")
            try:
                r = ingest_file(f, settings, store, IngestOptions(source=f"w{k}"), ctx=ctx)
                seen["imports"].append(r.stored)
            except Exception as exc:  # noqa: BLE001
                seen["errors"].append(f"import: {exc!r}")
            k += 1

    threads = [threading.Thread(target=client), threading.Thread(target=importer)]
    for t in threads:
        t.start()
    try:
        backups = []
        for i in range(3):
            done = len(seen["imports"])
            b = backup_database(settings.database_url, tmp_path / f"b{i}.sqlite3")
            backups.append(b)
            _snapshot_is_consistent(b.path)
            deadline = time.monotonic() + 60
            while len(seen["imports"]) < done + 2 and time.monotonic() < deadline:  # one whole import between
                time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not seen["errors"], seen["errors"][:3]
    assert len(seen["http"]) >= 3 and len(seen["imports"]) >= 1
    assert backups[0].counts["requests"] < backups[1].counts["requests"] < backups[2].counts["requests"]
    assert backups[0].revision == migrate.head_revision()
    assert backups[0].counts == _counts(backups[0].path)

    # The restore, while the app still serves: refused without --yes, then the same rows come back.
    before = _counts(path)
    with pytest.raises(InvalidInputError) as err:
        restore_database(settings.database_url, backups[0].path)
    assert err.value.field == "yes" and _counts(path) == before
    restored = restore_database(settings.database_url, backups[0].path, replace=True)
    assert restored.counts == backups[0].counts == _counts(path)
    assert restored.counts["requests"] < before["requests"]  # the later imports are gone again
    assert get_summary()["requests"] == backups[0].counts["requests"]  # the running server sees it at once
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    server.close()


def test_restore_into_a_new_file_and_the_store_opens(tmp_path, live):
    settings, _store, _path = live
    b = backup_database(settings.database_url, tmp_path / "b.sqlite3")
    target = tmp_path / "fresh" / "restored.sqlite3"
    r = restore_database(f"sqlite:///{target}", b.path)
    assert r.counts == b.counts and r.upgraded_from is None
    s = open_store(load_settings(env={}, database_url=f"sqlite:///{target}"))
    assert s.count_requests() == b.counts["requests"]
    s.close()
    assert not [p.name for p in target.parent.iterdir() if p.name.endswith(".tmp")]  # no temp left behind


def test_restore_over_a_file_that_is_no_database_needs_yes(tmp_path, live):
    settings, _store, _path = live
    b = backup_database(settings.database_url, tmp_path / "b.sqlite3")
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"garbage, not SQLite" * 500)
    Path(f"{broken}-wal").write_bytes(b"stale wal of the broken file")
    with pytest.raises(InvalidInputError, match="--yes"):
        restore_database(f"sqlite:///{broken}", b.path)
    assert broken.read_bytes().startswith(b"garbage")
    r = restore_database(f"sqlite:///{broken}", b.path, replace=True)
    assert r.counts == b.counts == _counts(broken) and not Path(f"{broken}-wal").exists()


def test_restore_refuses_a_newer_schema_and_a_damaged_file(tmp_path, live):
    settings, _store, path = live
    before = _counts(path)
    b = Path(backup_database(settings.database_url, tmp_path / "b.sqlite3").path)
    conn = sqlite3.connect(b)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    with pytest.raises(InvalidInputError, match="newer") as err:
        restore_database(settings.database_url, b, replace=True)
    assert err.value.field == "file"
    data = bytearray(b.read_bytes())
    data[len(data) // 2: len(data) // 2 + 4096] = b"\xa5" * 4096  # a page of garbage
    b.write_bytes(bytes(data))
    with pytest.raises(InvalidInputError) as err:
        restore_database(settings.database_url, b, replace=True)
    assert err.value.field == "file"
    (tmp_path / "not.sqlite3").write_bytes(b"hello, not a database" * 100)
    with pytest.raises(InvalidInputError, match="not a SQLite database"):
        restore_database(settings.database_url, tmp_path / "not.sqlite3", replace=True)
    assert _counts(path) == before  # nothing changed by any refused restore
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_restore_upgrades_a_backup_of_an_older_schema(tmp_path):
    old = tmp_path / "old.sqlite3"
    engine = make_engine(f"sqlite:///{old}")
    migrate.upgrade(engine, "0003")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO zones (name, category, priority, geometry, min_lng, min_lat, max_lng, max_lat, "
            "created_at, updated_at, version) VALUES ('老区域', 'ENV', 3, '{}', 104.05, 30.63, 104.06, 30.64, 1, 1, 1)")
    engine.dispose()
    b = backup_database(f"sqlite:///{old}", tmp_path / "old-backup.sqlite3")
    assert b.revision == "0003"
    target = tmp_path / "new.sqlite3"
    r = restore_database(f"sqlite:///{target}", b.path)
    assert r.upgraded_from == "0003" and r.revision == migrate.head_revision()
    s = open_store(load_settings(env={}, database_url=f"sqlite:///{target}"))  # passes the schema check
    assert s.zones_frame()["name"].tolist() == ["老区域"]
    s.close()


def test_postgresql_points_to_pg_dump_and_db_copy():
    with pytest.raises(ConfigError) as err:
        backup_database("postgresql+psycopg://u:secret@db.example/gridgis", "x.dump")
    assert "pg_dump" in str(err.value) and "db copy" in str(err.value) and "secret" not in str(err.value)
    with pytest.raises(ConfigError, match="pg_restore"):
        restore_database("postgresql+psycopg://u@db.example/gridgis", "x.dump")


def test_cli_backup_and_restore(tmp_path, live):
    settings, store, path = live
    runner = CliRunner()
    args = ["--database-url", settings.database_url, "db"]
    out = tmp_path / "cli-backup.sqlite3"
    r = runner.invoke(main, [*args, "backup", str(out)])
    assert r.exit_code == 0, r.output
    assert "backed up" in r.output and out.is_file()
    r = runner.invoke(main, [*args, "backup", str(out)])
    assert r.exit_code == 2 and "--force" in r.output
    assert runner.invoke(main, [*args, "backup", str(out), "--force"]).exit_code == 0
    r = runner.invoke(main, [*args, "restore", str(out)])
    assert r.exit_code == 2 and "--yes" in r.output
    r = runner.invoke(main, [*args, "restore", str(out), "--yes"])
    assert r.exit_code == 0, r.output
    assert "restored" in r.output
    assert _counts(path) == _counts(out)
    assert pd.notna(store.count_requests())
