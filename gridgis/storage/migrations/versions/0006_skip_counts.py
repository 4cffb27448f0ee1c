"""PostgreSQL: the demand_counts trigger function returns early under ``SET LOCAL gridgis.skip_counts = on``
(a no-op on SQLite: same history on both).

Linking a big import's repeats updates hundreds of thousands of rows; the row trigger's six upserts per row
dominated it. :mod:`gridgis.storage.links` sets the setting for its UPDATE (transaction-local, no lock, no
superuser) and moves the counts set-wise instead.

Revision ID: 0006
Revises: 0005
"""

import importlib

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The function as migration 0002 created it (index 1 of its PG_FUNCTIONS), and the guard added here.
_SYNC_0002 = importlib.import_module("gridgis.storage.migrations.versions.0002_demand_counts").PG_FUNCTIONS[1]
_GUARD = (
    "BEGIN\n"
    "    IF current_setting('gridgis.skip_counts', true) = 'on' THEN\n"
    "        RETURN NULL;\n"
    "    END IF;\n"
)


def _replace(sql: str) -> str:
    return sql.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        assert _SYNC_0002.count("BEGIN\n") == 1
        op.execute(_replace(_SYNC_0002.replace("BEGIN\n", _GUARD, 1)))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_replace(_SYNC_0002))
