"""Request statuses (受理 → 派单 → 处置中 → 已办结 → 已回访, plus 无效 and 重复) and their source-label aliases."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
