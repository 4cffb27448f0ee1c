"""Engines for the supported backends: embedded SQLite (WAL, foreign keys) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from gridgis.errors import ConfigError


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; WAL keeps the db consistent
    cur.execute("PRAGMA busy_timeout=30000")  # writers wait instead of failing with "database is locked"
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache: index upkeep on large imports stays in memory
    cur.close()


def _sqlite_begin(conn) -> None:
    # Writers take the write lock up front (BEGIN IMMEDIATE) so they queue on busy_timeout instead of
    # failing on a lock upgrade; readers use a deferred BEGIN and run beside them under WAL.
    write = conn.info.pop("gridgis_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


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
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own BEGIN handling is off so that SQLAlchemy's transactions are real ones
        event.listen(engine, "connect", lambda c, r: setattr(c, "isolation_level", None))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    raise ConfigError(
        f"不支持的数据库 {backend!r}：请用 sqlite:/// 或 postgresql+psycopg:// / unsupported database "
        f"backend {backend!r}: use sqlite:///PATH or postgresql+psycopg://",
        field="database_url",
    )
