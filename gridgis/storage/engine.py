"""Engines for the supported backends: embedded SQLite (WAL, foreign keys) or PostgreSQL."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from gridgis.errors import ConfigError, MissingDependencyError, StorageError
from gridgis.storage import sqlite_stage

log = logging.getLogger(__name__)

# SQLite: one wait of the busy handler, and the total a writer waits for the write lock (BEGIN IMMEDIATE
# retried) before "database is locked" reaches its caller (bench/faults.py: 16 writers + 8 readers).
SQLITE_BUSY_TIMEOUT_S = 30
WRITE_LOCK_WAIT_S = 300

# Seconds to wait for a PostgreSQL server before giving up (libpq ``connect_timeout``; a URL query
# parameter of that name wins): an unreachable host then fails fast with a clear message.
PG_CONNECT_TIMEOUT_S = 5


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


SQLITE_MMAP_BYTES = 1 << 30


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; WAL keeps the db consistent
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")  # wait instead of "database is locked"
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache: index upkeep on large imports stays in memory
    # Reads through memory-mapped pages (up to 1 GiB of the file, address space only): a page of rows that
    # no index holds (an OGC bbox × status page reads ~20,000 rows) costs no read() call per row.
    cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cur.close()


def _sqlite_begin(conn) -> None:
    # Writers take the write lock up front (BEGIN IMMEDIATE) so they queue on busy_timeout instead of
    # failing on a lock upgrade; readers use a deferred BEGIN and run beside them under WAL.
    if not conn.info.pop("gridgis_write", False):
        conn.exec_driver_sql("BEGIN")
        return
    # An import holds the write lock for its whole file (one transaction), so under load a writer can
    # outwait one busy_timeout. Nothing has happened in the transaction yet: retrying BEGIN is safe.
    deadline = time.monotonic() + WRITE_LOCK_WAIT_S
    attempt = 0
    while time.monotonic() < deadline:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            if "locked" not in str(exc.orig) and "busy" not in str(exc.orig):
                raise
            attempt += 1
            log.warning("SQLite write lock still held by another writer after %d s; waiting on (retry %d)",
                        SQLITE_BUSY_TIMEOUT_S * attempt, attempt)
    conn.exec_driver_sql("BEGIN IMMEDIATE")  # past the deadline: this attempt's error reaches the caller


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite files get their folder created and the pragmas above on every connection."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"数据库地址无效 / invalid database URL: {url!r}", field="database_url") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own BEGIN handling is off so that SQLAlchemy's transactions are real ones
        event.listen(engine, "connect", lambda c, r: setattr(c, "isolation_level", None))
        event.listen(engine, "begin", _sqlite_begin)
        event.listen(engine, "checkin", sqlite_stage.release)  # a big import's scratch file, once done
        return engine
    if backend == "postgresql":
        return _postgresql_engine(parsed)
    raise ConfigError(
        f"不支持的数据库 {backend!r}：请用 sqlite:/// 或 postgresql+psycopg:// / unsupported database "
        f"backend {backend!r}: use sqlite:///PATH or postgresql+psycopg://",
        field="database_url",
    )


def _postgresql_engine(parsed) -> Engine:
    if parsed.drivername == "postgresql":  # no driver named: psycopg 3 (the `postgis` extra), not psycopg2
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername == "postgresql+psycopg":
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError("psycopg", "postgis", "PostgreSQL") from exc
    connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def check_connection(engine: Engine) -> None:
    """Connect once: an unreachable server, unknown database or refused login becomes a StorageError
    naming the URL (password hidden), after at most the connect timeout."""
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        engine.dispose()
        url = engine.url.render_as_string(hide_password=True)
        raise StorageError(f"无法连接数据库 / cannot connect to the database at {url}: {exc.orig}") from exc
