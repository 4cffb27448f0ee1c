"""Store methods of the request workflow: status updates with their history, and the re-import rule.

A status change is one guarded UPDATE (``WHERE id = ? AND status = ?``: the status the caller saw) plus
its ``request_events`` row, inside the caller's transaction (see :func:`gridgis.workflow.change_status`).
Status is not one of the columns migration 0002's triggers count by, so ``demand_counts`` is untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from gridgis.storage.frames import result_frame
from gridgis.storage.schema import request_events, requests

# How far along the workflow each status is; the closures (invalid, duplicate) are as final as verified.
# gridgis.workflow builds on this table (storage may not import it).
STATUS_PROGRESS: dict[str, int] = {
    "new": 0, "assigned": 1, "in_progress": 2, "resolved": 3, "verified": 4, "invalid": 4, "duplicate": 4,
}
IMPORT_ACTOR = "import"
_ID_CHUNK = 5_000
_WORKFLOW_ROW = ("id", "status", "grid_code", "category", "created_at", "status_changed_at")


class RequestStoreMixin:
    """Mixed into :class:`gridgis.storage.store.Store` (uses its ``read``/``write``/``_using``)."""

    def request_workflow_row(self, request_id: str, conn: Connection | None = None) -> dict | None:
        """id, status, grid_code, category, created_at, status_changed_at of one request, or None."""
        q = select(*(requests.c[c] for c in _WORKFLOW_ROW)).where(requests.c.id == str(request_id))
        with self._using(conn) as c:
            row = c.execute(q).mappings().first()
        return None if row is None else dict(row)

    def set_request_status(self, conn: Connection, request_id: str, from_status: str, to_status: str,
                           at: int) -> bool:
        """Move one request from ``from_status`` to ``to_status``; False when its status is no longer
        ``from_status`` (someone changed it meanwhile) and nothing was written."""
        result = conn.execute(
            update(requests)
            .where(requests.c.id == request_id, requests.c.status == from_status)
            .values(status=to_status, status_changed_at=int(at), updated_at=int(at))
        )
        return result.rowcount == 1

    def insert_request_event(self, conn: Connection, record: dict) -> int:
        """Append one ``request_events`` row (request_id, at, actor, from_status, to_status, note); its id."""
        result = conn.execute(insert(request_events).values(**record))
        return int(result.inserted_primary_key[0])

    def request_events_frame(self, request_id: str | None = None, conn: Connection | None = None) -> pd.DataFrame:
        """Workflow events (all, or one request's), oldest first; ``at`` in epoch seconds."""
        q = select(request_events).order_by(request_events.c.at, request_events.c.id)
        if request_id is not None:
            q = q.where(request_events.c.request_id == str(request_id))
        with self._using(conn) as c:
            return result_frame(c.execute(q), [col.name for col in request_events.columns])

    # -- re-imports ----------------------------------------------------------------------------------------

    def _upsert_changed_requests(self, conn: Connection, todo: pd.DataFrame, batch_id: str, ts: int) -> None:
        """Update re-imported rows whose content changed, without regressing a status set in the app.

        Rule: for a request whose status was changed in the app (``status_changed_at`` set), the source's
        status is taken only when it is further along (:data:`STATUS_PROGRESS`) than every status the
        request has been at in the app (its current one and those in its history); otherwise the app's
        status stays. So a stale source cannot undo an assignment or a reopened case, while news such as
        the hotline closing a case still arrives; each such advance is recorded as an event by ``import``.
        """
        todo, advanced = self._keep_app_statuses(conn, todo)
        self._insert_requests(conn, todo, upsert=True)
        if len(advanced):
            ids = advanced["id"].tolist()
            for i in range(0, len(ids), _ID_CHUNK):
                conn.execute(update(requests).where(requests.c.id.in_(ids[i : i + _ID_CHUNK]))
                             .values(status_changed_at=int(ts)))
            note = f"源数据更新（导入批次 {batch_id}）/ source update (import batch {batch_id})"
            conn.execute(insert(request_events), [
                {"request_id": r, "at": int(ts), "actor": IMPORT_ACTOR, "from_status": f, "to_status": t, "note": note}
                for r, f, t in zip(ids, advanced["from_status"].tolist(), advanced["to_status"].tolist(), strict=True)
            ])

    def _keep_app_statuses(self, conn: Connection, todo: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``todo`` with the app's status kept where the rule says so, and the rows whose source status
        advances an app-managed request (id, from_status, to_status)."""
        empty = pd.DataFrame({"id": [], "from_status": [], "to_status": []})
        app = self._app_statuses(conn, todo["id"].tolist())
        if app.empty:
            return todo, empty
        rank = pd.Series(STATUS_PROGRESS)
        events = self._event_statuses(conn, app.index.tolist())
        seen = pd.concat([app.rename("status").reset_index(), events], ignore_index=True)
        furthest = seen["status"].map(rank).groupby(seen["id"]).max()
        ids = todo["id"]
        managed = ids.isin(app.index).to_numpy(dtype=bool)
        src_rank = todo["status"].map(rank).to_numpy(dtype=float)
        advance = managed & (src_rank > ids.map(furthest).to_numpy(dtype=float))
        keep = managed & ~advance
        out = todo.copy()
        if keep.any():
            out.loc[keep, "status"] = ids[keep].map(app).to_numpy(dtype=object)
        adv = pd.DataFrame({"id": ids[advance].to_numpy(dtype=object),
                            "from_status": ids[advance].map(app).to_numpy(dtype=object),
                            "to_status": todo["status"][advance].to_numpy(dtype=object)})
        return out, adv

    def _app_statuses(self, conn: Connection, ids: Sequence[str]) -> pd.Series:
        """id → current status of those requests whose status was changed in the app."""
        parts = []
        for i in range(0, len(ids), _ID_CHUNK):
            q = select(requests.c.id, requests.c.status).where(
                requests.c.id.in_(list(ids[i : i + _ID_CHUNK])), requests.c.status_changed_at.is_not(None))
            parts.append(result_frame(conn.execute(q), ["id", "status"]))
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"id": [], "status": []})
        return pd.Series(df["status"].to_numpy(dtype=object), index=df["id"].to_numpy(dtype=object), dtype=object)

    def _event_statuses(self, conn: Connection, ids: Sequence[str]) -> pd.DataFrame:
        """(id, status) for every status in the history of those requests (both ends of each event)."""
        parts = []
        for i in range(0, len(ids), _ID_CHUNK):
            q = select(request_events.c.request_id, request_events.c.from_status, request_events.c.to_status).where(
                request_events.c.request_id.in_(list(ids[i : i + _ID_CHUNK])))
            parts.append(result_frame(conn.execute(q), ["id", "from_status", "to_status"]))
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"id": [], "from_status": [],
                                                                            "to_status": []})
        return pd.DataFrame({"id": np.r_[df["id"].to_numpy(dtype=object), df["id"].to_numpy(dtype=object)],
                             "status": np.r_[df["from_status"].to_numpy(dtype=object),
                                             df["to_status"].to_numpy(dtype=object)]})
