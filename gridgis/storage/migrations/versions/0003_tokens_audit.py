"""API tokens of machine clients (stored as SHA-256 only) and the audit log of exports and pulls.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger),
        sa.Column("revoked_at", sa.BigInteger),
        sa.Column("created_by", sa.Text),
    )
    op.create_index("ux_api_tokens_name", "api_tokens", ["name"], unique=True)
    op.create_index("ux_api_tokens_sha256", "api_tokens", ["token_sha256"], unique=True)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("who", sa.Text, nullable=False),
        sa.Column("what", sa.String(64), nullable=False),
        sa.Column("filters", sa.Text),
        sa.Column("row_count", sa.Integer, nullable=False),
    )
    op.create_index("ix_audit_created", "audit_log", ["created_at"])
    op.create_index("ix_audit_who_created", "audit_log", ["who", "created_at"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("api_tokens")
