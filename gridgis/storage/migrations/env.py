"""Alembic environment: runs on the connection gridgis hands over (no alembic.ini, no URL here)."""

from alembic import context

from gridgis.storage.postgis import include_object, register_reflection
from gridgis.storage.schema import metadata

register_reflection()  # PostGIS geometry columns (migration 0005) reflect without warnings

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_object=include_object,  # PostgreSQL-only PostGIS objects are not in the Core schema
)
with context.begin_transaction():
    context.run_migrations()
