"""Initial schema: requests, ingest batches, rejects, grids, categories, zones and their history.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_batches",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("file_sha256", sa.String(64)),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows_read", sa.Integer, nullable=False),
        sa.Column("rows_stored", sa.Integer, nullable=False),
        sa.Column("rows_updated", sa.Integer, nullable=False),
        sa.Column("rows_rejected", sa.Integer, nullable=False),
        sa.Column("report", sa.Text),
        sa.Column("options", sa.Text),
    )
    op.create_table(
        "requests",
        sa.Column("id", sa.String(160), primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(128), nullable=False),
        sa.Column("batch_id", sa.String(32), sa.ForeignKey("ingest_batches.id"), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("address", sa.Text),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("category_rule", sa.Text, nullable=False),
        sa.Column("source_category", sa.Text),
        sa.Column("request_type", sa.String(16)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lng", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("source_crs", sa.String(64), nullable=False),
        sa.Column("orig_x", sa.Float),
        sa.Column("orig_y", sa.Float),
        sa.Column("geocode_level", sa.String(16), nullable=False),
        sa.Column("geocode_score", sa.Float),
        sa.Column("grid_code", sa.String(15)),
        sa.Column("cell", sa.BigInteger, nullable=False),
        sa.Column("cell_9", sa.BigInteger),
        sa.Column("cell_8", sa.BigInteger),
        sa.Column("cell_7", sa.BigInteger),
        sa.Column("duplicate_of", sa.String(160)),
        sa.Column("reporter_name", sa.Text),
        sa.Column("reporter_phone", sa.Text),
        sa.Column("extra", sa.Text),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("ingested_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_requests_created", "requests", ["created_at"])
    op.create_index("ix_requests_cell9_created", "requests", ["cell_9", "created_at"])
    op.create_index("ix_requests_cell_created", "requests", ["cell", "created_at"])
    op.create_index("ix_requests_grid_created", "requests", ["grid_code", "created_at"])
    op.create_index("ix_requests_category_created", "requests", ["category", "created_at"])
    op.create_table(
        "rejects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.String(32), sa.ForeignKey("ingest_batches.id"), nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("value", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw", sa.Text),
    )
    op.create_index("ix_rejects_batch", "rejects", ["batch_id"])
    op.create_table(
        "grids",
        sa.Column("grid_code", sa.String(15), primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("community", sa.Text),
        sa.Column("subdistrict", sa.Text),
        sa.Column("grid_worker", sa.Text),
        sa.Column("households", sa.Integer),
        sa.Column("min_lng", sa.Float, nullable=False),
        sa.Column("min_lat", sa.Float, nullable=False),
        sa.Column("max_lng", sa.Float, nullable=False),
        sa.Column("max_lat", sa.Float, nullable=False),
        sa.Column("geometry", sa.Text, nullable=False),
        sa.Column("attributes", sa.Text),
        sa.Column("imported_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "categories",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("name_zh", sa.Text, nullable=False),
        sa.Column("name_en", sa.Text, nullable=False),
        sa.Column("color", sa.String(16), nullable=False),
        sa.Column("severity", sa.Float, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_table(
        "zones",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("category", sa.String(16)),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("notes", sa.Text),
        sa.Column("geometry", sa.Text, nullable=False),
        sa.Column("min_lng", sa.Float, nullable=False),
        sa.Column("min_lat", sa.Float, nullable=False),
        sa.Column("max_lng", sa.Float, nullable=False),
        sa.Column("max_lat", sa.Float, nullable=False),
        sa.Column("created_by", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("deleted_at", sa.BigInteger),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "zone_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("zone_id", sa.Integer, sa.ForeignKey("zones.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("snapshot", sa.Text, nullable=False),
        sa.Column("changed_by", sa.Text),
        sa.Column("changed_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "gridgis_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for name in ("gridgis_meta", "zone_history", "zones", "categories", "grids", "rejects", "requests",
                 "ingest_batches"):
        op.drop_table(name)
