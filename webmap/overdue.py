"""Overdue fields of request rows on their way to JSON: ``due_at``, ``overdue``, ``status_changed_at`` (ISO 8601).

``overdue`` is as of the response; ``due_at`` is what a client should compare with its clock (a cached
response revalidated by ETag stays the same while the data do, while time goes on).
"""

from __future__ import annotations

import pandas as pd

from gridgis.deadlines import Deadlines, overdue_flags
from webmap import context


def deadlines() -> Deadlines:
    """The configured deadlines (read once per app: they may come from a file)."""
    return context._cached("gridgis.deadlines", lambda: Deadlines.from_settings(context.settings()))


def _iso(values: pd.Series) -> pd.Series:
    return values.map(lambda t: None if pd.isna(t) else t.isoformat()).astype(object)


def with_overdue(df: pd.DataFrame, now=None) -> pd.DataFrame:
    """``df`` (status, created_at, category, status_changed_at) plus due_at and overdue, times as ISO strings
    in the deployment's zone; ``status_changed_at`` as ISO or None."""
    dl = deadlines()
    flags = overdue_flags(df, now, dl)
    out = df.copy()
    out["due_at"] = _iso(flags["due_at"])
    out["overdue"] = flags["overdue"].astype(bool)
    if "status_changed_at" in out.columns:
        changed = pd.to_datetime(pd.to_numeric(out["status_changed_at"]), unit="s", utc=True).dt.tz_convert(dl.tz)
        out["status_changed_at"] = _iso(changed)
    return out
