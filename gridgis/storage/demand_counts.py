"""Upkeep of ``demand_counts`` for bulk imports: the batch's new rows are added set-wise.

Migration 0002's triggers count every request insert/update/delete one row at a time. While
``gridgis_meta`` holds a batch id under :data:`BULK_KEY`, inserts of that batch skip the insert
trigger and the Store calls :func:`add_demand_counts` once per chunk instead (3 upserts per row
become one grouped upsert); a test checks both paths give the same table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Connection

from gridgis.storage.frames import _column_lists
from gridgis.storage.schema import meta

BULK_KEY = "demand_counts_bulk_batch"
OFFSET_KEY = "demand_counts_utc_offset"
DEFAULT_OFFSET = 28_800
COARSE_MAX_RES = {"community": 8, "street": 7}  # finest resolution a coarse geocode is counted at


def add_demand_counts(conn: Connection, rows: pd.DataFrame) -> None:
    """Add new requests to ``demand_counts`` (local day, month and year rows), as the insert trigger
    of migration 0002 would, with one grouped upsert."""
    rows = rows[rows["cell_9"].notna()]
    if rows.empty:
        return
    offset = conn.execute(select(meta.c.value).where(meta.c.key == OFFSET_KEY)).scalar()
    loc = rows["created_at"].to_numpy(dtype=np.int64) + int(offset if offset is not None else DEFAULT_OFFSET)
    wall = pd.DatetimeIndex(pd.to_datetime(loc, unit="s"))
    base = pd.DataFrame(
        {
            "cell_9": rows["cell_9"].to_numpy(dtype=np.int64),
            "category": rows["category"].to_numpy(dtype=object),
            "max_res": rows["geocode_level"].map(COARSE_MAX_RES).fillna(15).to_numpy(dtype=np.int64),
            "cell_8": rows["cell_8"].to_numpy(dtype=np.int64),
            "cell_7": rows["cell_7"].to_numpy(dtype=np.int64),
            "first": rows["duplicate_of"].isna().to_numpy(dtype=np.int64),
        }
    )
    periods = {"D": loc // 86400, "M": (wall.year * 12 + wall.month - 1).to_numpy(), "Y": wall.year.to_numpy()}
    parts = [base.assign(level=lv, period=p.astype(np.int64)) for lv, p in periods.items()]
    counts = (
        pd.concat(parts, ignore_index=True)
        .groupby(["level", "period", "cell_9", "category", "max_res"], sort=False)
        .agg(
            cell_8=("cell_8", "min"), cell_7=("cell_7", "min"), requests=("first", "size"), firsts=("first", "sum")
        )
        .reset_index()
    )
    cols = ["level", "period", "cell_9", "category", "max_res", "cell_8", "cell_7", "requests", "firsts"]
    ph = ", ".join(["?" if conn.dialect.paramstyle == "qmark" else "%s"] * len(cols))
    sql = (
        f"INSERT INTO demand_counts ({', '.join(cols)}) VALUES ({ph}) "
        "ON CONFLICT (level, period, cell_9, category, max_res) DO UPDATE SET "
        "requests = demand_counts.requests + excluded.requests, firsts = demand_counts.firsts + excluded.firsts"
    )
    conn.exec_driver_sql(sql, list(zip(*_column_lists(counts, cols), strict=True)))
