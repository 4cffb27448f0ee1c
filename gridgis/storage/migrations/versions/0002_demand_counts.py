"""Demand counts per local day/month/year kept in step with requests by triggers; households per H3 cell.

The triggers add every inserted request to its day, month and year row and move updated or deleted
ones out of their old rows, inside the writing transaction, so the counts can never lag behind the
requests (a rollback rolls them back too). Existing requests are counted once at upgrade.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Constants frozen into this revision (a later change needs a new migration, not an edit here).
OFFSET_KEY = "demand_counts_utc_offset"
# While gridgis_meta holds a batch id under this key, inserts of that batch skip the per-row trigger:
# the Store adds the batch's counts set-wise (one grouped upsert per chunk instead of 3 per row).
BULK_KEY = "demand_counts_bulk_batch"
DEFAULT_OFFSET = 28800  # China Standard Time, UTC+8, no daylight saving since 1991
# Coarse geocoding fallbacks are placed only down to this resolution (see gridgis.heatmap.aggregate).
MAX_RES_SQL = "CASE {r}.geocode_level WHEN 'community' THEN 8 WHEN 'street' THEN 7 ELSE 15 END"
KEY = "level, period, cell_9, category, max_res"
COLUMNS = f"{KEY}, cell_8, cell_7, requests, firsts"

# -- SQLite: one trigger per event; a row's contribution is added (+1) or removed (-1) by an upsert.

_SQLITE_OFFSET = (
    f"COALESCE((SELECT CAST(value AS INTEGER) FROM gridgis_meta WHERE key = '{OFFSET_KEY}'), {DEFAULT_OFFSET})"
)
_SQLITE_PERIOD = (
    "CASE lv.level WHEN 'D' THEN t.loc / 86400 "
    "WHEN 'M' THEN CAST(strftime('%Y', t.loc, 'unixepoch') AS INTEGER) * 12 "
    "+ CAST(strftime('%m', t.loc, 'unixepoch') AS INTEGER) - 1 "
    "ELSE CAST(strftime('%Y', t.loc, 'unixepoch') AS INTEGER) END"
)
_LEVELS = "(SELECT 'D' AS level UNION ALL SELECT 'M' UNION ALL SELECT 'Y') AS lv"
_UPSERT = (
    f"ON CONFLICT ({KEY}) DO UPDATE SET requests = demand_counts.requests + excluded.requests, "
    "firsts = demand_counts.firsts + excluded.firsts"
)


def _sqlite_apply(r: str, sign: int) -> str:
    # "WHERE" before ON CONFLICT is required by SQLite's parser for INSERT … SELECT upserts.
    return (
        f"INSERT INTO demand_counts ({COLUMNS}) "
        f"SELECT lv.level, {_SQLITE_PERIOD}, {r}.cell_9, {r}.category, {MAX_RES_SQL.format(r=r)}, "
        f"{r}.cell_8, {r}.cell_7, {sign}, {sign} * ({r}.duplicate_of IS NULL) "
        f"FROM (SELECT {r}.created_at + {_SQLITE_OFFSET} AS loc) AS t, {_LEVELS} "
        f"WHERE {r}.cell_9 IS NOT NULL {_UPSERT};"
    )


_RELEVANT = ("created_at", "cell_9", "cell_8", "cell_7", "category", "geocode_level", "duplicate_of")
_SQLITE_CHANGED = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _RELEVANT)

SQLITE_TRIGGERS = {
    "demand_counts_insert": (
        f"AFTER INSERT ON requests WHEN NEW.batch_id IS NOT "
        f"(SELECT value FROM gridgis_meta WHERE key = '{BULK_KEY}') BEGIN {_sqlite_apply('NEW', 1)} END"
    ),
    # Status-only updates (the common case) do not touch the counts.
    "demand_counts_update": (
        f"AFTER UPDATE ON requests WHEN {_SQLITE_CHANGED} BEGIN "
        f"{_sqlite_apply('OLD', -1)} {_sqlite_apply('NEW', 1)} END"
    ),
    "demand_counts_delete": f"AFTER DELETE ON requests BEGIN {_sqlite_apply('OLD', -1)} END",
}

SQLITE_BACKFILL = (
    f"INSERT INTO demand_counts ({COLUMNS}) "
    f"SELECT lv.level, {_SQLITE_PERIOD} AS period, t.cell_9, t.category, t.max_res, MIN(t.cell_8), "
    "MIN(t.cell_7), COUNT(*), SUM(t.first) "
    f"FROM (SELECT created_at + {_SQLITE_OFFSET} AS loc, cell_9, cell_8, cell_7, category, "
    f"{MAX_RES_SQL.format(r='requests')} AS max_res, "
    "CASE WHEN duplicate_of IS NULL THEN 1 ELSE 0 END AS first FROM requests WHERE cell_9 IS NOT NULL) AS t, "
    f"{_LEVELS} GROUP BY lv.level, period, t.cell_9, t.category, t.max_res"
)

# -- PostgreSQL: one plpgsql function applies a row with a sign; one trigger calls it.

_PG_OFFSET = (
    f"COALESCE((SELECT value::bigint FROM gridgis_meta WHERE key = '{OFFSET_KEY}'), {DEFAULT_OFFSET})"
)
PG_FUNCTIONS = [
    f"""
CREATE FUNCTION gridgis_demand_counts_apply(r requests, sign integer) RETURNS void AS $$
DECLARE
    loc bigint;
    wall timestamp;
BEGIN
    IF r.cell_9 IS NULL THEN
        RETURN;
    END IF;
    loc := r.created_at + {_PG_OFFSET};
    wall := to_timestamp(loc) AT TIME ZONE 'UTC';
    INSERT INTO demand_counts AS d ({COLUMNS})
    SELECT lv.level, lv.period, r.cell_9, r.category, {MAX_RES_SQL.format(r='r')}, r.cell_8, r.cell_7,
           sign, CASE WHEN r.duplicate_of IS NULL THEN sign ELSE 0 END
    FROM (VALUES ('D', (loc / 86400)::integer),
                 ('M', (EXTRACT(YEAR FROM wall) * 12 + EXTRACT(MONTH FROM wall) - 1)::integer),
                 ('Y', EXTRACT(YEAR FROM wall)::integer)) AS lv(level, period)
    ON CONFLICT ({KEY}) DO UPDATE SET requests = d.requests + EXCLUDED.requests,
                                      firsts = d.firsts + EXCLUDED.firsts;
END
$$ LANGUAGE plpgsql""",
    f"""
CREATE FUNCTION gridgis_demand_counts_sync() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.batch_id IS NOT DISTINCT FROM
            (SELECT value FROM gridgis_meta WHERE key = '{BULK_KEY}') THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND ({", ".join(f"OLD.{c}" for c in _RELEVANT)})
            IS NOT DISTINCT FROM ({", ".join(f"NEW.{c}" for c in _RELEVANT)}) THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM gridgis_demand_counts_apply(OLD, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM gridgis_demand_counts_apply(NEW, 1);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql""",
    "CREATE TRIGGER demand_counts_sync AFTER INSERT OR UPDATE OR DELETE ON requests "
    "FOR EACH ROW EXECUTE FUNCTION gridgis_demand_counts_sync()",
]

PG_BACKFILL = (
    f"INSERT INTO demand_counts ({COLUMNS}) "
    "SELECT lv.level, CASE lv.level WHEN 'D' THEN (t.loc / 86400)::integer "
    "WHEN 'M' THEN (EXTRACT(YEAR FROM t.wall) * 12 + EXTRACT(MONTH FROM t.wall) - 1)::integer "
    "ELSE EXTRACT(YEAR FROM t.wall)::integer END AS period, t.cell_9, t.category, t.max_res, MIN(t.cell_8), "
    "MIN(t.cell_7), COUNT(*), SUM(t.first) "
    f"FROM (SELECT created_at + {_PG_OFFSET} AS loc, "
    f"to_timestamp(created_at + {_PG_OFFSET}) AT TIME ZONE 'UTC' AS wall, cell_9, cell_8, cell_7, category, "
    f"{MAX_RES_SQL.format(r='requests')} AS max_res, "
    "CASE WHEN duplicate_of IS NULL THEN 1 ELSE 0 END AS first FROM requests WHERE cell_9 IS NOT NULL) AS t, "
    f"{_LEVELS} GROUP BY lv.level, period, t.cell_9, t.category, t.max_res"
)


def upgrade() -> None:
    op.create_table(
        "demand_counts",
        sa.Column("level", sa.String(1), primary_key=True),
        sa.Column("period", sa.Integer, primary_key=True),
        sa.Column("cell_9", sa.BigInteger, primary_key=True),
        sa.Column("category", sa.String(16), primary_key=True),
        sa.Column("max_res", sa.SmallInteger, primary_key=True),
        sa.Column("cell_8", sa.BigInteger),
        sa.Column("cell_7", sa.BigInteger),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("firsts", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "cell_households",
        sa.Column("cell", sa.BigInteger, primary_key=True),
        sa.Column("cell_9", sa.BigInteger),
        sa.Column("cell_8", sa.BigInteger),
        sa.Column("cell_7", sa.BigInteger),
        sa.Column("households", sa.Float, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(SQLITE_BACKFILL)
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
    elif dialect == "postgresql":
        op.execute(PG_BACKFILL)
        for ddl in PG_FUNCTIONS:
            op.execute(ddl)
    else:
        raise NotImplementedError(f"demand_counts triggers are written for sqlite and postgresql, not {dialect}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS demand_counts_sync ON requests")
        op.execute("DROP FUNCTION IF EXISTS gridgis_demand_counts_sync()")
        op.execute("DROP FUNCTION IF EXISTS gridgis_demand_counts_apply(requests, integer)")
    op.drop_table("cell_households")
    op.drop_table("demand_counts")
