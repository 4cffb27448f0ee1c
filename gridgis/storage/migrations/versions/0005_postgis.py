"""PostGIS geometry columns with GiST indexes on PostgreSQL (a no-op on SQLite: same history on both).

``requests.geom`` is a Point generated from lng/lat, ``zones.geom`` and ``grids.geom`` are generated from
their GeoJSON text: stored generated columns, so no writer has to know about them and they can never
disagree with the columns they come from. bbox and zone queries use them through the GiST indexes.

Creating the extension needs a superuser (or an existing ``postgis`` extension in the database): see the
README's "PostgreSQL / PostGIS" section.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from gridgis.errors import StorageError

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Frozen into this revision (a later change needs a new migration, not an edit here).
SRID = 4326
GEOMETRY_COLUMNS = {
    "requests": f"geometry(Point, {SRID}) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lng, lat), {SRID})) STORED",
    "zones": f"geometry(Geometry, {SRID}) GENERATED ALWAYS AS (ST_SetSRID(ST_GeomFromGeoJSON(geometry), {SRID})) "
    "STORED",
    "grids": f"geometry(Geometry, {SRID}) GENERATED ALWAYS AS (ST_SetSRID(ST_GeomFromGeoJSON(geometry), {SRID})) "
    "STORED",
}


def _ensure_postgis(bind) -> None:
    """Create the extension, or say clearly why it cannot be (not installed, or not allowed)."""
    if bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").scalar():
        return
    db = bind.exec_driver_sql("SELECT current_database()").scalar()
    if not bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").scalar():
        raise StorageError(
            "数据库服务器未安装 PostGIS（Debian：apt install postgresql-15-postgis-3），"
            "装好后再运行 gridgis db upgrade / "
            "PostGIS is not installed on the PostgreSQL server (Debian: apt install postgresql-15-postgis-3): "
            "install it, then run `gridgis db upgrade` again"
        )
    if not bind.exec_driver_sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").scalar():
        raise StorageError(
            f"创建 PostGIS 扩展需要超级用户：请管理员在数据库 {db} 中执行 CREATE EXTENSION postgis，再运行 gridgis db "
            f"upgrade / creating the PostGIS extension needs a superuser: ask one to run `CREATE EXTENSION postgis` "
            f"in database {db}, then run `gridgis db upgrade` again"
        )
    op.execute("CREATE EXTENSION postgis")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _ensure_postgis(bind)
    for table, ddl in GEOMETRY_COLUMNS.items():
        op.execute(f"ALTER TABLE {table} ADD COLUMN geom {ddl}")
        op.execute(f"CREATE INDEX gx_{table}_geom ON {table} USING gist (geom)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in GEOMETRY_COLUMNS:
        op.execute(f"DROP INDEX IF EXISTS gx_{table}_geom")
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS geom")
    # The extension stays: other schemas in the database may use it.
