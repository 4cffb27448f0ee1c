"""The database schema as SQLAlchemy Core tables (the migrations create exactly these)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Times are stored as UTC epoch seconds (BIGINT): identical on SQLite and PostgreSQL, cheap to range-filter
# and bucket in SQL; the Store hands them out as tz-aware timestamps.
# H3 cells are 64-bit integers; every valid cell is < 2**63, so a signed BIGINT holds it unchanged.

ingest_batches = Table(
    "ingest_batches",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("file_name", Text, nullable=False),
    Column("file_sha256", String(64)),
    Column("source", String(64), nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger),
    Column("status", String(16), nullable=False),  # running | committed | failed
    Column("rows_read", Integer, nullable=False, default=0),
    Column("rows_stored", Integer, nullable=False, default=0),
    Column("rows_updated", Integer, nullable=False, default=0),
    Column("rows_rejected", Integer, nullable=False, default=0),
    Column("report", Text),  # JSON of IngestReport.to_dict()
    Column("options", Text),  # JSON of the options the import ran with
)

requests = Table(
    "requests",
    metadata,
    Column("id", String(160), primary_key=True),  # stable and unique: source + ":" + source_id (or content hash)
    Column("source", String(64), nullable=False),
    Column("source_id", String(128), nullable=False),
    Column("batch_id", String(32), ForeignKey("ingest_batches.id"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
    Column("address", Text),
    Column("category", String(16), nullable=False),
    Column("category_rule", Text, nullable=False),
    Column("source_category", Text),
    Column("request_type", String(16)),
    Column("status", String(16), nullable=False),
    Column("lng", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("source_crs", String(64), nullable=False),
    Column("orig_x", Float),
    Column("orig_y", Float),
    Column("geocode_level", String(16), nullable=False),  # source | door | building | estate | community | street
    Column("geocode_score", Float),
    Column("grid_code", String(15)),
    Column("cell", BigInteger, nullable=False),  # H3 at the fine resolution (meta h3_resolution, default 10)
    Column("cell_9", BigInteger),
    Column("cell_8", BigInteger),
    Column("cell_7", BigInteger),
    Column("duplicate_of", String(160)),
    Column("reporter_name", Text),  # personal data: authorised use only, never exported
    Column("reporter_phone", Text),
    Column("extra", Text),  # JSON of unmapped source columns
    Column("content_hash", String(32), nullable=False),
    Column("ingested_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("status_changed_at", BigInteger),  # last workflow status change (None: unchanged since import)
)
Index("ix_requests_created", requests.c.created_at)
Index("ix_requests_cell9_created", requests.c.cell_9, requests.c.created_at)
Index("ix_requests_cell_created", requests.c.cell, requests.c.created_at)
Index("ix_requests_grid_created", requests.c.grid_code, requests.c.created_at)
Index("ix_requests_category_created", requests.c.category, requests.c.created_at)

rejects = Table(
    "rejects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch_id", String(32), ForeignKey("ingest_batches.id"), nullable=False),
    Column("line", Integer, nullable=False),
    Column("field", String(64), nullable=False),
    Column("value", Text),
    Column("reason", Text, nullable=False),
    Column("raw", Text),  # JSON of the source row as read
)
Index("ix_rejects_batch", rejects.c.batch_id)

grids = Table(
    "grids",
    metadata,
    Column("grid_code", String(15), primary_key=True),
    Column("name", Text),
    Column("community", Text),
    Column("subdistrict", Text),
    Column("grid_worker", Text),
    Column("households", Integer),
    Column("min_lng", Float, nullable=False),
    Column("min_lat", Float, nullable=False),
    Column("max_lng", Float, nullable=False),
    Column("max_lat", Float, nullable=False),
    Column("geometry", Text, nullable=False),  # GeoJSON geometry, WGS84
    Column("attributes", Text),
    Column("imported_at", BigInteger, nullable=False),
)

categories = Table(
    "categories",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("name_zh", Text, nullable=False),
    Column("name_en", Text, nullable=False),
    Column("color", String(16), nullable=False),
    Column("severity", Float, nullable=False),
    Column("position", Integer, nullable=False),
)

zones = Table(
    "zones",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("category", String(16)),
    Column("priority", Integer, nullable=False, default=3),
    Column("notes", Text),
    Column("geometry", Text, nullable=False),  # GeoJSON geometry, WGS84
    Column("min_lng", Float, nullable=False),
    Column("min_lat", Float, nullable=False),
    Column("max_lng", Float, nullable=False),
    Column("max_lat", Float, nullable=False),
    Column("created_by", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger),
    Column("version", Integer, nullable=False, default=1),
)

zone_history = Table(
    "zone_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("zone_id", Integer, ForeignKey("zones.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("action", String(16), nullable=False),  # create | update | delete
    Column("snapshot", Text, nullable=False),  # JSON of the zone row after the action
    Column("changed_by", Text),
    Column("changed_at", BigInteger, nullable=False),
)

# Demand counts per local period, kept in step with ``requests`` by database triggers (migration 0002), so
# city-wide aggregations read pre-summed rows (one per cell × category × period) instead of every request.
# level: "D" local day (period = days since 1970-01-01 local), "M" month (year * 12 + month - 1), "Y" year.
# Local time = UTC + the fixed offset in gridgis_meta "demand_counts_utc_offset" (seconds, default 28800,
# China Standard Time). max_res: the finest H3 resolution at which the requests are placed (15 for points
# and door/building/estate matches, 8 for community centroids, 7 for street centroids).
# firsts: requests that are the first report of their issue (duplicate_of IS NULL).
demand_counts = Table(
    "demand_counts",
    metadata,
    Column("level", String(1), primary_key=True),
    Column("period", Integer, primary_key=True),
    Column("cell_9", BigInteger, primary_key=True),
    Column("category", String(16), primary_key=True),
    Column("max_res", SmallInteger, primary_key=True),
    Column("cell_8", BigInteger),
    Column("cell_7", BigInteger),
    Column("requests", Integer, nullable=False),
    Column("firsts", Integer, nullable=False),
    sqlite_with_rowid=False,
)

# Households per fine H3 cell (gazetteer buildings/estates or a population raster), with the coarser
# parents stored like in ``requests`` so rates at any level are one GROUP BY. Households are fractional
# when they come from a population raster.
cell_households = Table(
    "cell_households",
    metadata,
    Column("cell", BigInteger, primary_key=True),
    Column("cell_9", BigInteger),
    Column("cell_8", BigInteger),
    Column("cell_7", BigInteger),
    Column("households", Float, nullable=False),
    Column("source", String(16), nullable=False),  # gazetteer | raster
    Column("updated_at", BigInteger, nullable=False),
)

meta = Table(
    "gridgis_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# API tokens of machine clients (see gridgis.tokens). Only the SHA-256 of a token is kept: the token itself
# is shown once, at creation. ``prefix`` (the first characters) lets an operator recognise a token in lists.
# Names stay unique after revocation so audit rows keep naming one client.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("token_sha256", String(64), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("scopes", Text, nullable=False),  # space-separated scope names
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger),
    Column("revoked_at", BigInteger),
    Column("created_by", Text),
)
Index("ux_api_tokens_name", api_tokens.c.name, unique=True)
Index("ux_api_tokens_sha256", api_tokens.c.token_sha256, unique=True)

# Audit trail of every export and data pull (see gridgis.audit): who (token name or user), what (endpoint or
# export kind), the filters as JSON (secrets never), when, and how many rows left the store.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", BigInteger, nullable=False),
    Column("who", Text, nullable=False),
    Column("what", String(64), nullable=False),
    Column("filters", Text),
    Column("row_count", Integer, nullable=False),
)
Index("ix_audit_created", audit_log.c.created_at)
Index("ix_audit_who_created", audit_log.c.who, audit_log.c.created_at)

# User accounts (see gridgis.accounts): role admin | secretary | grid_worker | viewer; ``grids`` the
# space-separated grid codes a grid worker serves; the password as a KDF hash string (never the password).
# ``session_epoch`` is bumped by disable / reset-password so sessions issued before stop working.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("display_name", Text),
    Column("role", String(16), nullable=False),
    Column("grids", Text),
    Column("password_hash", Text, nullable=False),
    Column("session_epoch", Integer, nullable=False, server_default="1"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("disabled_at", BigInteger),
    Column("last_login_at", BigInteger),
    Column("created_by", Text),
)
Index("ux_users_username", users.c.username, unique=True)

# Login attempts (ok 1/0) by user name and client address, for throttling; shared by every server process.
login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("remote_addr", String(64), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("ok", SmallInteger, nullable=False),
)
Index("ix_login_attempts_user_at", login_attempts.c.username, login_attempts.c.at)
Index("ix_login_attempts_addr_at", login_attempts.c.remote_addr, login_attempts.c.at)

# The workflow history of each request: every status change with who, when and the note (see gridgis.workflow).
request_events = Table(
    "request_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(160), ForeignKey("requests.id"), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("actor", Text, nullable=False),
    Column("from_status", String(16), nullable=False),
    Column("to_status", String(16), nullable=False),
    Column("note", Text),
)
Index("ix_request_events_request_at", request_events.c.request_id, request_events.c.at)
Index("ix_request_events_at", request_events.c.at)
