"""The request workflow: statuses (受理 → 派单 → 处置中 → 已办结 → 已回访, plus 无效 and 重复), their source-label
aliases, the allowed transitions, and status changes with their history (who, when, why).

A status change is one transaction: the guarded update of the request, its ``request_events`` row and an
audit row are stored together or not at all (:func:`change_status`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridgis import audit
from gridgis.errors import ConflictError, InvalidInputError, NotFoundError
from gridgis.storage import Store
from gridgis.storage.request_store import STATUS_PROGRESS

# code: (zh, en, open?)
STATUSES: dict[str, tuple[str, str, bool]] = {
    "new": ("受理", "New", True),
    "assigned": ("派单", "Assigned", True),
    "in_progress": ("处置中", "In progress", True),
    "resolved": ("已办结", "Resolved", False),
    "verified": ("已回访", "Verified", False),
    "invalid": ("无效", "Invalid", False),
    "duplicate": ("重复", "Duplicate", False),
}

_ALIASES: dict[str, str] = {
    **{zh: code for code, (zh, _en, _o) in STATUSES.items()},
    **{en.lower(): code for code, (_zh, en, _o) in STATUSES.items()},
    **{code: code for code in STATUSES},
    "待受理": "new", "已受理": "new", "新建": "new", "open": "new", "submitted": "new", "待处理": "new",
    "已派单": "assigned", "派遣": "assigned", "已派遣": "assigned", "转办": "assigned", "acknowledged": "assigned",
    "处理中": "in_progress", "办理中": "in_progress", "处置": "in_progress", "in progress": "in_progress",
    "办结": "resolved", "已处理": "resolved", "已完成": "resolved", "已解决": "resolved", "closed": "resolved",
    "completed": "resolved", "结案": "resolved", "已结案": "resolved",
    "回访": "verified", "已评价": "verified",
    "作废": "invalid", "无效工单": "invalid", "重复工单": "duplicate",
}


def normalize_statuses(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Source status labels → status codes. Missing → "new"; unknown labels → "new" and flagged.

    Returns (codes, unknown mask) so the caller can keep the original label as an extra attribute.
    """
    s = values.astype("string").str.strip()
    key = s.str.lower()
    mapped = key.map(_ALIASES)
    unknown = (s.notna() & (s != "") & mapped.isna()).to_numpy(dtype=bool)
    codes = mapped.fillna("new").astype(object).to_numpy()
    return codes, unknown


def is_open(codes) -> np.ndarray:
    open_codes = [c for c, (_zh, _en, o) in STATUSES.items() if o]
    return np.isin(np.asarray(codes, dtype=object), open_codes)


# -- transitions -------------------------------------------------------------------------------------------

# from → {to: note required?}. Forward steps need no note; leaving the main path (closing as invalid or
# duplicate, sending an assignment back, reopening, restoring a closed request) must say why.
TRANSITIONS: dict[str, dict[str, bool]] = {
    "new": {"assigned": False, "invalid": True, "duplicate": True},
    "assigned": {"in_progress": False, "new": True, "invalid": True, "duplicate": True},
    "in_progress": {"resolved": False, "invalid": True, "duplicate": True},
    "resolved": {"verified": False, "in_progress": True},  # 回访不满意 → reopen
    "verified": {},
    "invalid": {"new": True},  # restored by mistake
    "duplicate": {"new": True},
}
PROGRESS = STATUS_PROGRESS
"""How far along each status is (closures as final as verified); re-imports never move a request back."""
NOTE_MAX = 500
AUDIT_WHAT = "requests.status"


def allowed_next(status: str) -> list[str]:
    """The statuses a request in ``status`` may move to: the forward step first, then those needing a note
    (each group in the order of :data:`STATUSES`)."""
    nxt = TRANSITIONS.get(status, {})
    return [s for s in STATUSES if s in nxt and not nxt[s]] + [s for s in STATUSES if nxt.get(s)]


def note_required(from_status: str, to_status: str) -> bool:
    return bool(TRANSITIONS.get(from_status, {}).get(to_status, False))


def label(code: str) -> str:
    zh, en, _open = STATUSES.get(code, (code, code, True))
    return f"{zh} {en}"


class TransitionError(ConflictError):
    """The request's current status does not allow the change; ``allowed`` lists the possible next ones."""

    code = "invalid_transition"

    def __init__(self, message: str, *, current: str, allowed: list[str]) -> None:
        super().__init__(message, field="status")
        self.current = current
        self.allowed = allowed


@dataclass(frozen=True)
class StatusEvent:
    """One stored status change."""

    id: int
    request_id: str
    at: int  # epoch seconds
    actor: str
    from_status: str
    to_status: str
    note: str | None

    def to_dict(self, tz: str = "UTC") -> dict:
        return {"id": self.id, "request_id": self.request_id,
                "at": pd.Timestamp(self.at, unit="s", tz="UTC").tz_convert(tz).isoformat(), "actor": self.actor,
                "from_status": self.from_status, "to_status": self.to_status, "note": self.note}


GridFilter = Collection[str] | Callable[[str | None], bool] | None


def _in_grids(grid_code: str | None, allowed_grids: GridFilter) -> bool:
    if allowed_grids is None:
        return True
    if callable(allowed_grids):
        return bool(allowed_grids(grid_code))
    return grid_code is not None and grid_code in allowed_grids


def _not_found(request_id: str) -> NotFoundError:
    # One message for "no such request" and "not in your grids": the answer reveals nothing.
    return NotFoundError(f"找不到诉求 / request not found: {request_id}", field="id")


def check_status(value, field: str = "status") -> str:
    """A status code as given by a caller (exact code, e.g. ``in_progress``), or an InvalidInputError."""
    if not isinstance(value, str) or value not in STATUSES:
        raise InvalidInputError(
            f"{field} 须为以下之一：{', '.join(STATUSES)} / {field} must be one of {', '.join(STATUSES)}, "
            f"got {value!r}", field=field)
    return value


def clean_note(note, required: bool, to_status: str) -> str | None:
    if note is not None and not isinstance(note, str):
        raise InvalidInputError(f"note 须为文本 / note must be text, got {type(note).__name__}", field="note")
    text = (note or "").strip()
    if len(text) > NOTE_MAX:
        raise InvalidInputError(f"说明最长 {NOTE_MAX} 字，现为 {len(text)} 字 / note is at most {NOTE_MAX} "
                                f"characters, got {len(text)}", field="note")
    if required and not text:
        raise InvalidInputError(f"改为「{label(to_status)}」须填写说明 / a note is required to set {to_status}",
                                field="note")
    return text or None


def _epoch(now) -> int:
    if now is None:
        return int(time.time())
    if isinstance(now, int | float | np.integer | np.floating):
        return int(now)
    return int(pd.Timestamp(now).timestamp())


def change_status(store: Store, request_id: str, to_status: str, *, actor: str, note: str | None = None,
                  allowed_grids: GridFilter = None, expected_status: str | None = None,
                  now=None) -> StatusEvent:
    """Move a request to ``to_status`` and record who did it, when and why; returns the stored event.

    ``allowed_grids`` (grid codes or a predicate; None = every grid) limits the requests the actor may
    change: others answer the same NotFoundError as an unknown id. ``expected_status`` is the status the
    actor saw: when someone changed the request meanwhile, a ConflictError and nothing is written (the
    update itself is also guarded by the status read here, so two concurrent changes cannot both win).
    """
    to_status = check_status(to_status)
    if expected_status is not None:
        expected_status = check_status(expected_status, "expected_status")
    actor = str(actor or "").strip()
    if not actor or len(actor) > 128:
        raise InvalidInputError("须说明操作人（1–128 字）/ actor must be 1–128 characters", field="actor")
    request_id = str(request_id)
    ts = _epoch(now)
    with store.write() as conn:
        row = store.request_workflow_row(request_id, conn=conn)
        if row is None or not _in_grids(row["grid_code"], allowed_grids):
            raise _not_found(request_id)
        current = row["status"]
        if expected_status is not None and expected_status != current:
            raise ConflictError(
                f"诉求状态已被他人改为「{label(current)}」，请刷新后再改 / the request was changed meanwhile: it is "
                f"now {current}, not {expected_status}; reload it and try again", field="expected_status")
        if to_status not in TRANSITIONS.get(current, {}):
            allowed = allowed_next(current)
            nxt = "、".join(label(s) for s in allowed) or "无 / none"
            raise TransitionError(
                f"诉求当前为「{label(current)}」，不能改为「{label(to_status)}」；可改为：{nxt} / a request in "
                f"status {current} cannot move to {to_status}; allowed: {', '.join(allowed) or 'none'}",
                current=current, allowed=allowed)
        text = clean_note(note, note_required(current, to_status), to_status)
        if not store.set_request_status(conn, request_id, current, to_status, ts):
            raise ConflictError(  # a concurrent writer got there between our read and our update
                "诉求状态刚被他人修改，请刷新后再改 / the request was changed meanwhile; reload it and try again",
                field="expected_status")
        record = {"request_id": request_id, "at": ts, "actor": actor, "from_status": current,
                  "to_status": to_status, "note": text}
        event_id = store.insert_request_event(conn, record)
        audit.record(store, actor, AUDIT_WHAT, {"id": request_id, "from": current, "to": to_status}, rows=1,
                     at=ts, conn=conn)
    return StatusEvent(id=event_id, **record)


def request_history(store: Store, request_id: str, *, allowed_grids: GridFilter = None,
                    tz: str = "UTC") -> pd.DataFrame:
    """The status changes of one request, oldest first: at (tz-aware), actor, from_status, to_status, note.

    An unknown request, or one outside ``allowed_grids``, is a NotFoundError (the same for both)."""
    row = store.request_workflow_row(str(request_id))
    if row is None or not _in_grids(row["grid_code"], allowed_grids):
        raise _not_found(str(request_id))
    df = store.request_events_frame(str(request_id))
    return pd.DataFrame({
        "id": df["id"].astype("int64"),
        "at": pd.to_datetime(df["at"].astype("int64"), unit="s", utc=True).dt.tz_convert(tz),
        "actor": df["actor"].astype(object),
        "from_status": df["from_status"].astype(object),
        "to_status": df["to_status"].astype(object),
        "note": df["note"].astype(object),
    })
