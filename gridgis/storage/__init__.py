"""Storage: the Store contract, schema, migrations and backend engines."""

from __future__ import annotations

from gridgis.config import Settings
from gridgis.storage.store import REQUEST_COLUMNS, Store

__all__ = ["REQUEST_COLUMNS", "Store", "init_db", "open_store"]


def open_store(settings: Settings) -> Store:
    """Open the configured database; it must already carry the current schema (see :func:`init_db`)."""
    return Store.from_url(settings.database_url)


def init_db(settings: Settings) -> Store:
    """Create or upgrade the schema to the code's version and return the Store (idempotent)."""
    store = Store.from_url(settings.database_url, create=True)
    store.set_meta("h3_resolution", str(settings.h3_resolution))
    return store
