"""User accounts (roles, grids, KDF password hashes), login attempts for throttling, and the request workflow
history (who changed a request's status, when, with which note).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.Text),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("grids", sa.Text),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("session_epoch", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("disabled_at", sa.BigInteger),
        sa.Column("last_login_at", sa.BigInteger),
        sa.Column("created_by", sa.Text),
    )
    op.create_index("ux_users_username", "users", ["username"], unique=True)
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("remote_addr", sa.String(64), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("ok", sa.SmallInteger, nullable=False),
    )
    op.create_index("ix_login_attempts_user_at", "login_attempts", ["username", "at"])
    op.create_index("ix_login_attempts_addr_at", "login_attempts", ["remote_addr", "at"])
    op.create_table(
        "request_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(160), sa.ForeignKey("requests.id"), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_request_events_request_at", "request_events", ["request_id", "at"])
    op.create_index("ix_request_events_at", "request_events", ["at"])
    # A plain ADD COLUMN (no batch copy): recreating ``requests`` would drop migration 0002's triggers.
    op.add_column("requests", sa.Column("status_changed_at", sa.BigInteger))


def downgrade() -> None:
    op.drop_column("requests", "status_changed_at")
    op.drop_table("request_events")
    op.drop_table("login_attempts")
    op.drop_table("users")
