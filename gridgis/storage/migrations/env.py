"""Alembic environment: runs on the connection gridgis hands over (no alembic.ini, no URL here)."""

from alembic import context

from gridgis.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
