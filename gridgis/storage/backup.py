"""Online backup and restore of a SQLite database (`gridgis db backup FILE`, `gridgis db restore FILE`).

**Backup.** SQLite's online backup API (:meth:`sqlite3.Connection.backup`) copies the live database in
one step, inside one read transaction: under WAL, imports and the web app keep writing meanwhile and the
copy is the snapshot the step started from. The copy goes to a temporary file next to FILE, is switched
to a self-contained single file (``journal_mode=DELETE``), must pass ``PRAGMA integrity_check``, and only
then is renamed over FILE — a failed backup never leaves a half-written FILE.

**Restore.** The backup is copied to a temporary file next to the live database and checked there:
``integrity_check``, a gridgis schema (``alembic_version``) not newer than this code — an older one is
upgraded in the temporary file. Then it replaces the live data atomically:

* the live database exists: the checked copy is written INTO it with the same backup API, as one write
  transaction. Connections of a running server see the old data or the new, never a mix. (Renaming a
  file over a live WAL database is not safe: open connections keep writing the old inode, and the old
  ``-wal`` file next to the new one would be replayed onto it.)
* there is no live database yet (or, with ``replace``, it is not a readable database at all): the checked
  temporary file is renamed into place.

A live database that holds data (any row outside the configuration tables) is replaced only with
``replace=True`` (`--yes`). PostgreSQL has its own tools: pg_dump/pg_restore, or `gridgis db copy`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from gridgis.errors import ConfigError, InvalidInputError, StorageError

log = logging.getLogger(__name__)

# Tables that do not count as "data" when deciding whether a restore needs --yes: `gridgis db init` fills them.
CONFIG_TABLES = frozenset({"alembic_version", "gridgis_meta", "categories", "sqlite_sequence", "sqlite_stat1"})
_BUSY_MS = 30_000


@dataclass(frozen=True)
class BackupResult:
    """What a backup or restore wrote: the file, its size, schema revision and rows per table."""

    path: str
    bytes: int
    revision: str | None
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    upgraded_from: str | None = None  # restore: the backup's older revision, upgraded on the way in

    @property
    def rows(self) -> int:
        return sum(n for t, n in self.counts.items() if t not in CONFIG_TABLES)


def sqlite_path(database_url: str) -> Path:
    """The file of a SQLite URL; other backends get an error that points to their own tools."""
    try:
        url = make_url(database_url)
    except ArgumentError as exc:
        raise ConfigError(f"数据库地址无效 / invalid database URL: {database_url!r}", field="database_url") from exc
    backend = url.get_backend_name()
    if backend == "postgresql":
        raise ConfigError(
            "db backup/restore 只用于 SQLite。PostgreSQL 请用 pg_dump -Fc 备份、pg_restore 恢复，或用 "
            "gridgis db copy 把数据库复制到一个 SQLite 文件 / db backup and restore are for SQLite. For "
            "PostgreSQL use pg_dump -Fc and pg_restore, or `gridgis db copy SRC_URL sqlite:///FILE`",
            field="database_url",
        )
    if backend != "sqlite" or not url.database or url.database == ":memory:":
        raise ConfigError(
            f"只能备份 SQLite 数据库文件，当前为 {url.render_as_string(hide_password=True)} / only a SQLite "
            f"database file can be backed up, not {url.render_as_string(hide_password=True)}",
            field="database_url",
        )
    return Path(url.database).expanduser()


def backup_database(database_url: str, dest: str | os.PathLike, *, overwrite: bool = False) -> BackupResult:
    """Copy the live SQLite database to ``dest`` (consistent while others write); returns what was written."""
    t0 = time.perf_counter()
    src_path = sqlite_path(database_url)
    dest = Path(dest).expanduser()
    if not src_path.is_file():
        raise InvalidInputError(f"数据库文件不存在 / the database file does not exist: {src_path}",
                                field="database_url")
    if dest.resolve() == src_path.resolve():
        raise InvalidInputError(f"备份文件不能是数据库本身 / the backup cannot be the database itself: {dest}",
                                field="file")
    if dest.exists() and not overwrite:
        raise InvalidInputError(f"备份文件已存在（覆盖请加 --force）/ {dest} exists: add --force to overwrite it",
                                field="file")
    if not dest.parent.is_dir():
        raise InvalidInputError(f"目录不存在 / folder not found: {dest.parent}", field="file")
    tmp = _temp_next_to(dest)
    try:
        with _connect(src_path) as src, _connect(tmp) as out:
            _copy(src, out, what=f"{src_path} → {dest}")
            out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            _check_integrity(out, dest)
            revision, counts = _revision(out), table_counts(out)
        _publish(tmp, dest)
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"备份失败，{dest} 未改动 / backup failed, {dest} is unchanged: {exc}") from exc
    finally:
        _remove(tmp)
    result = BackupResult(str(dest), dest.stat().st_size, revision, counts, time.perf_counter() - t0)
    log.info("backup %s → %s: %d bytes, %d rows, revision %s", src_path, dest, result.bytes, result.rows, revision)
    return result


def restore_database(database_url: str, backup: str | os.PathLike, *, replace: bool = False) -> BackupResult:
    """Replace the live SQLite database with a checked copy of ``backup`` (see the module docstring)."""
    t0 = time.perf_counter()
    target = sqlite_path(database_url)
    backup = Path(backup).expanduser()
    if not backup.is_file():
        raise InvalidInputError(f"找不到备份文件 / backup file not found: {backup}", field="file")
    if target.exists() and backup.resolve() == target.resolve():
        raise InvalidInputError(f"备份文件就是当前数据库 / the backup is the live database itself: {backup}",
                                field="file")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_next_to(target)
    try:
        upgraded_from = _stage(backup, tmp)
        with _connect(tmp) as staged:
            revision, counts = _revision(staged), table_counts(staged)
            live_state = _live_state(target)
            if live_state == "data" and not replace:
                raise InvalidInputError(
                    f"数据库 {target} 已有数据；确认用备份覆盖请加 --yes / the database {target} holds data: add "
                    "--yes to replace it with the backup",
                    field="yes",
                )
            if live_state == "unreadable" and not replace:
                raise InvalidInputError(
                    f"数据库文件 {target} 无法读取；确认用备份替换请加 --yes / {target} is not a readable database: "
                    "add --yes to replace it with the backup",
                    field="yes",
                )
            if live_state in ("empty", "data"):
                with _connect(target) as live:
                    _copy(staged, live, what=f"{backup} → {target}")
                    got = table_counts(live)
        if live_state in ("missing", "unreadable"):
            for suffix in ("-wal", "-shm", "-journal"):  # of the unreadable file: never to be replayed
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{target}{suffix}").unlink()
            _publish(tmp, target)
            with _connect(target) as live:
                got = table_counts(live)
        if got != counts:
            raise StorageError(f"恢复后行数不符 / row counts differ after the restore: {got} ≠ {counts}")
    finally:
        _remove(tmp)
    result = BackupResult(str(target), target.stat().st_size, revision, counts, time.perf_counter() - t0,
                          upgraded_from)
    log.info("restored %s from %s: %d rows, revision %s", target, backup, result.rows, revision)
    return result


def table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows per table (all tables of the file, sorted by name)."""
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {n: int(conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}


# -- steps ------------------------------------------------------------------------------------------------

def _stage(backup: Path, tmp: Path) -> str | None:
    """Copy the backup to ``tmp`` and make it fit to restore; returns the revision it was upgraded from."""
    from gridgis.storage import migrate

    try:
        with _connect(backup) as src, _connect(tmp) as out:
            src.execute("PRAGMA query_only=1")
            _copy(src, out, what=f"{backup}")
            _check_integrity(out, backup)
            revision = _revision(out)
    except sqlite3.DatabaseError as exc:
        raise InvalidInputError(f"{backup} 不是 SQLite 数据库 / {backup} is not a SQLite database: {exc}",
                                field="file") from exc
    if revision is None:
        raise InvalidInputError(f"{backup} 不是 gridgis 数据库备份（无结构版本）/ {backup} is not a gridgis "
                                "backup: it has no schema revision", field="file")
    head = migrate.head_revision()
    if revision == head:
        return None
    if not _known_revision(revision):
        raise InvalidInputError(
            f"备份 {backup} 的结构版本 {revision} 比本程序（{head}）新，请用更新的 gridgis 恢复 / the backup's schema "
            f"({revision}) is newer than this gridgis ({head}): restore it with a newer gridgis",
            field="file",
        )
    _upgrade(tmp)
    with _connect(tmp) as out:
        out.execute("PRAGMA journal_mode=DELETE")
        _check_integrity(out, backup)
    log.info("restore: backup schema %s upgraded to %s", revision, head)
    return revision


def _upgrade(path: Path) -> None:
    from gridgis.storage import migrate
    from gridgis.storage.engine import make_engine

    engine = make_engine(f"sqlite:///{path}")
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


def _known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from gridgis.storage import migrate

    script = ScriptDirectory.from_config(migrate._config())
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def _live_state(target: Path) -> str:
    """missing | empty (schema or nothing, no data rows) | data | unreadable."""
    if not target.exists() or target.stat().st_size == 0:
        return "missing" if not target.exists() else "empty"
    try:
        with _connect(target) as live:
            counts = table_counts(live)
    except sqlite3.DatabaseError:
        return "unreadable"
    return "data" if any(n for t, n in counts.items() if t not in CONFIG_TABLES) else "empty"


def _copy(src: sqlite3.Connection, dst: sqlite3.Connection, *, what: str) -> None:
    """One backup step for the whole database (pages=-1): one read snapshot of ``src``, one write on ``dst``.

    Copying in small steps would restart whenever another connection writes to the source, which under
    a steady import may never finish; a single step holds only a WAL read transaction (writers go on).
    """
    try:
        src.backup(dst, pages=-1, sleep=0.05)
    except sqlite3.OperationalError as exc:
        raise StorageError(f"备份/恢复失败 / copying {what} failed: {exc}") from exc


def _check_integrity(conn: sqlite3.Connection, name: Path) -> None:
    problems = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    if problems != ["ok"]:
        raise InvalidInputError(
            f"{name} 未通过完整性检查 / {name} fails PRAGMA integrity_check: {'; '.join(problems[:5])}",
            field="file",
        )


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # no such table
        return None
    return None if row is None else str(row[0])


@contextlib.contextmanager
def _connect(path: Path):
    conn = sqlite3.connect(path, timeout=_BUSY_MS / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
        yield conn
    finally:
        conn.close()


def _temp_next_to(path: Path) -> Path:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return Path(name)


def _publish(tmp: Path, dest: Path) -> None:
    """fsync the finished file, rename it over ``dest`` and fsync the folder: all of it or nothing."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, dest)
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be opened for fsync
        dfd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _remove(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
