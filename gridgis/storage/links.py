"""Many ``duplicate_of`` links written at once, with ``demand_counts`` moved set-wise instead of row by row.

Migration 0002's triggers move a request's counts on every update of a counted column: six upserts per
row, which dominate linking a big import's repeats (half of a dense city month's rows). Here the row
trigger is set aside for the UPDATE and one grouped upsert moves ``firsts``:

- **SQLite**: the ``demand_counts_update`` trigger is dropped and recreated from its stored SQL inside the
  same transaction (SQLite's DDL is transactional; WAL readers keep their snapshot).
- **PostgreSQL**: ``SET LOCAL gridgis.skip_counts = on`` for the UPDATE, which the trigger function
  honours since migration 0006 — no table lock and no superuser (``ALTER TABLE … DISABLE TRIGGER``
  would lock readers out until the import commits).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd
from sqlalchemy.engine import Connection

from gridgis.storage.demand_counts import move_firsts

TABLE = "requests"
UPDATE_TRIGGER = "demand_counts_update"  # SQLite (migration 0002)
SKIP_SETTING = "gridgis.skip_counts"  # PostgreSQL (migration 0006)
_COUNTED = ("created_at", "cell_9", "cell_8", "cell_7", "category", "geocode_level", "duplicate_of")
# Below this many rows the trigger's per-row upserts cost less than reading the rows first.
MIN_LINKS = 2_000


def set_duplicates(conn: Connection, ids: Sequence[str], roots: Sequence[str | None], *, counted: bool = True) -> bool:
    """``UPDATE requests SET duplicate_of`` for many rows with the row trigger set aside.

    ``counted``: the rows are in ``demand_counts``: their counted columns are read first and one grouped
    upsert moves their ``firsts`` as the trigger would have. Returns False (nothing done) when there are
    too few rows for that to pay, or an id a lookup cannot carry: the caller updates row by row.
    ``counted=False`` (SQLite): the rows are not counted yet (the caller counts them after, with these
    links): only the update, always done."""
    pg = conn.dialect.name == "postgresql"
    if counted and len(ids) < MIN_LINKS:
        return False
    if not pg and conn.dialect.name != "sqlite":
        return False
    old = None
    if counted:
        cols = ", ".join(f"r.{c}" for c in _COUNTED)
        if pg:
            rows = conn.exec_driver_sql(f"SELECT r.id, {cols} FROM {TABLE} AS r WHERE r.id = ANY(%s)",
                                        (list(ids),)).fetchall()
        else:
            payload = json.dumps(list(ids), ensure_ascii=False)
            if "\\u0000" in payload:
                return False
            rows = conn.exec_driver_sql(
                f"SELECT r.id, {cols} FROM json_each(?) AS j JOIN {TABLE} AS r ON r.id = j.value", (payload,)
            ).fetchall()
        old = pd.DataFrame(rows, columns=["id", *_COUNTED])
    params = list(zip(roots, ids, strict=True))
    if pg:
        conn.exec_driver_sql(f"SELECT set_config('{SKIP_SETTING}', 'on', true)")
        try:
            if params:
                conn.exec_driver_sql(f"UPDATE {TABLE} SET duplicate_of = %s WHERE id = %s", params)
        finally:
            conn.exec_driver_sql(f"SELECT set_config('{SKIP_SETTING}', 'off', true)")
        aside = True
    else:
        aside = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
                                     (UPDATE_TRIGGER,)).scalar()
        if aside:
            conn.exec_driver_sql(f'DROP TRIGGER "{UPDATE_TRIGGER}"')
        if params:
            conn.exec_driver_sql(f"UPDATE {TABLE} SET duplicate_of = ? WHERE id = ?", params)
        if aside:
            conn.exec_driver_sql(aside)
    if aside and old is not None:
        new_root = pd.Series(list(roots), index=list(ids), dtype=object)
        new_root = new_root[~new_root.index.duplicated(keep="last")]  # as the UPDATEs leave it
        is_first = new_root.reindex(old["id"]).isna().to_numpy()
        move_firsts(conn, old, old["duplicate_of"].isna().to_numpy(), is_first)
    return True
