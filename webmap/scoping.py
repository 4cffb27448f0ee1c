"""What the caller may see of the data: request rows limited to their grids and masked by their level,
aggregates k-suppressed and CARE texts hidden for low-privilege callers (see gridgis.roles.Principal).

Lists of requests always mask contact details (a list is for browsing: minimisation); the detail of one
request shows them at the caller's level — raw for staff allowed to see that grid's rows (a grid
worker has to call the resident back), masked for machine clients.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import false

from gridgis import privacy
from gridgis.roles import Principal
from gridgis.storage.schema import requests as req_t
from webmap import context
from webmap.access import current_principal


def grid_condition(p: Principal | None = None):
    """A SQL condition keeping the rows of the caller's grids (None when every grid is visible)."""
    p = p or current_principal()
    if p.grids is None:
        return None
    if not p.grids:
        return false()
    return req_t.c.grid_code.in_(sorted(p.grids))


def list_rows(frame: pd.DataFrame, p: Principal | None = None) -> pd.DataFrame:
    """Request rows of a list, as the caller may see them (contact details masked for everyone)."""
    p = p or current_principal()
    return privacy.requests_view(frame, "masked", hide_care=p.hide_care)


def detail_rows(frame: pd.DataFrame, level: str, p: Principal | None = None) -> pd.DataFrame:
    """One request's rows at the caller's ``level`` ("full" or "masked")."""
    p = p or current_principal()
    return privacy.requests_view(frame, level, hide_care=p.hide_care)


def k() -> int:
    return int(context.settings().export_min_count_k)


def suppress_cells(rows: list[dict], count_key: str = "n", *, withhold: bool = False,
                   p: Principal | None = None) -> list[dict]:
    """Cell rows ``[{h3, n, …}]`` under the k rule for low-privilege callers (unchanged for the others):
    cells with fewer than k requests are left out, or with ``withhold`` kept with their count emptied."""
    p = p or current_principal()
    if not p.suppress_small_counts or not rows or k() <= 1:
        return rows
    frame = pd.DataFrame({count_key: [r[count_key] for r in rows]})
    kept = privacy.suppress_small_counts(frame, k(), (count_key,), withhold=withhold)
    if withhold:
        return [{**r, count_key: None} if pd.isna(v) else r
                for r, v in zip(rows, kept[count_key].tolist(), strict=True)]
    return [rows[i] for i in kept.index]


def suppress_summary(out: dict, p: Principal | None = None) -> dict:
    """A cell's, view's or zone's totals (``n``, ``by_category``, ``monthly``, ``change``) under the k rule
    for low-privilege callers: every count from 1 to k-1 is emptied (None) and ``suppressed`` set."""
    p = p or current_principal()
    if not p.suppress_small_counts or k() <= 1:
        return out

    def small(v) -> bool:
        return isinstance(v, int | float) and 0 < v < k()

    res = dict(out)
    hidden = small(res.get("n"))
    if hidden:
        res["n"] = None
        for key in ("rate", "per_100"):
            if key in res:
                res[key] = None
    for key in ("by_category", "monthly"):
        if isinstance(res.get(key), list):
            rows = [{**r, "n": None} if small(r.get("n")) else r for r in res[key]]
            hidden |= rows != res[key]
            res[key] = rows
    change = res.get("change")
    if isinstance(change, dict) and any(small(change.get(c)) for c in ("current", "previous")):
        res["change"] = None
        hidden = True
    res["suppressed"] = hidden
    return res


def hide_care_texts(texts: list[str], category: str, p: Principal | None = None) -> list[str]:
    """Representative texts of a CARE candidate replaced by the placeholder for callers that may not see them."""
    p = p or current_principal()
    if p.hide_care and category in privacy.SENSITIVE_CATEGORIES:
        return [privacy.CARE_PLACEHOLDER for _ in texts]
    return texts
