"""The public form of project candidates: their texts and keywords with numbers and their reporters' names masked.

A candidate's representative texts and keywords are drawn from many requests, so the reporter of a
text is unknown: every reporter of the candidate's cells is masked instead (张三丰 → 张*), with ID-card
and phone numbers (:func:`gridgis.privacy.scrub_text`); texts of sensitive categories (CARE) are
replaced by the category's name. Used by the ``projects`` export and the OGC ``projects`` collection.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridgis import grid
from gridgis.privacy import SENSITIVE_CATEGORIES, mask_known_names, scrub_text
from gridgis.storage import Store

TEXT_COLUMNS = ("text_1", "text_2", "text_3")
_IN_CHUNK = 5_000


def reporter_names(store: Store, cell_ids: pd.Series, res: int) -> list[str]:
    """Distinct reporter names (2+ characters) of the requests in the cells listed in ``cell_ids``
    (comma-separated hex ids at ``res``, one string per candidate)."""
    from gridgis.heatmap.demand_query import cell_expr
    from gridgis.storage.schema import requests as r

    cells = np.unique(grid.str_to_cells([c for s in cell_ids.astype(str) for c in s.split(",") if c]))
    if not cells.size:
        return []
    fine = int(store.get_meta("h3_resolution", "10"))
    col, ids = cell_expr(r, res, fine), cells.astype(np.int64).tolist()
    names = pd.concat([store.requests_frame(["reporter_name"], where=col.in_(ids[i:i + _IN_CHUNK]))
                       for i in range(0, len(ids), _IN_CHUNK)])["reporter_name"].dropna().astype(str).str.strip()
    return sorted({n for n in names.unique().tolist() if len(n) >= 2})


def public_candidates(store: Store, table: pd.DataFrame, res: int) -> pd.DataFrame:
    """A copy of a candidates table (``find_candidates(...).table`` at ``res``) whose ``text_1..3`` and
    ``keywords`` may leave the store."""
    t = table.copy()
    if t.empty:
        return t
    names = reporter_names(store, t["cell_ids"], res)
    sensitive = t["category"].isin(list(SENSITIVE_CATEGORIES)).to_numpy(dtype=bool)
    for c in TEXT_COLUMNS:
        text = mask_known_names(scrub_text(t[c]), names)
        t[c] = text.mask(sensitive, t["category_zh"].astype("string")).astype("str")
    # Keywords are words of the raw texts: a reporter's name or number can be one.
    t["keywords"] = mask_known_names(scrub_text(t["keywords"]), names).astype("str")
    return t
