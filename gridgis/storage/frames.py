"""Query results as DataFrames, built column-wise (pandas is slow on SQLAlchemy Row objects)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def result_frame(result, columns: Sequence[str]) -> pd.DataFrame:
    """A query result as a DataFrame, built column-wise (pandas is slow on SQLAlchemy Row objects)."""
    rows = result.cursor.fetchall() if result.cursor is not None else []  # plain DB-API tuples
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    cols = list(zip(*rows, strict=True))
    return pd.DataFrame({name: list(vals) for name, vals in zip(columns, cols, strict=True)})


def _column_lists(frame: pd.DataFrame, columns: Sequence[str]) -> list[list]:
    """Columns as Python lists with None for every missing value (what DB-API drivers expect)."""
    out = []
    for name in columns:
        col = frame[name]
        if col.dtype.kind in "iu":
            out.append(col.tolist())
            continue
        arr = np.array(col.to_numpy(dtype=object), dtype=object, copy=True)
        missing = pd.isna(arr)
        if missing.any():
            arr[missing] = None
        out.append(arr.tolist())
    return out
