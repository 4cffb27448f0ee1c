"""The audit trail of data leaving the store: who pulled or exported what, with which filters, when, how many rows.

PIPL and the city's data rules ask that every export be logged (DOMAIN.md §9). Callers — the export
commands, the Open311 and OGC adapters — call :func:`record` once per export or pull; ``who`` is the
API token's name or the user, ``what`` the endpoint or export kind (``open311.requests``,
``export.cells``), ``filters`` the parameters as given. Secrets are never written: parameters named
like keys, tokens or passwords are dropped from ``filters`` here, whatever the caller passes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

import pandas as pd

from gridgis.errors import InvalidInputError
from gridgis.storage import Store

ANONYMOUS = "anonymous"
_SECRET_KEYS = ("api_key", "apikey", "key", "token", "access_token", "password", "secret", "authorization")


def clean_filters(filters: Mapping | None) -> dict:
    """The filters without secret-bearing keys; multi-valued entries kept as lists."""
    out: dict = {}
    for k, v in (filters or {}).items():
        if str(k).strip().lower() in _SECRET_KEYS:
            continue
        out[str(k)] = list(v) if isinstance(v, list | tuple | set) else v
    return out


def record(store: Store, who: str | None, what: str, filters: Mapping | None = None, rows: int = 0, *,
           at: int | None = None, conn=None) -> None:
    """Append one audit row. ``conn`` joins the caller's transaction (an export that rolls back leaves none)."""
    what = str(what).strip()
    if not what or len(what) > 64:
        raise InvalidInputError(f"审计类别须为 1–64 个字符 / audit 'what' must be 1–64 characters: {what!r}",
                                field="what")
    store.insert_audit([{
        "created_at": int(time.time()) if at is None else int(at),
        "who": (who or "").strip() or ANONYMOUS,
        "what": what,
        "filters": json.dumps(clean_filters(filters), ensure_ascii=False, sort_keys=True, default=str),
        "row_count": int(rows),
    }], conn=conn)


def records(store: Store, *, who: str | None = None, what: str | None = None,
            since: pd.Timestamp | None = None, until: pd.Timestamp | None = None, limit: int | None = 1000,
            tz: str = "UTC") -> pd.DataFrame:
    """Audit rows newest first: created_at (tz-aware), who, what, filters (dict), rows."""
    df = store.audit_frame(who=who, what=what, since=None if since is None else int(since.timestamp()),
                           until=None if until is None else int(until.timestamp()), limit=limit)
    out = pd.DataFrame({
        "created_at": pd.to_datetime(df["created_at"].astype("int64"), unit="s", utc=True).dt.tz_convert(tz),
        "who": df["who"].astype(object),
        "what": df["what"].astype(object),
        "filters": df["filters"].map(lambda s: json.loads(s) if s else {}).astype(object),
        "rows": df["row_count"].astype("int64"),
    })
    return out
