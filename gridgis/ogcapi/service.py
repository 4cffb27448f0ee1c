"""The OGC API's view of one deployment: its collections, and features per query, remembered per data version.

One :class:`OgcService` per web app (built by the adapter, never at import time). What it computes
from the store — aggregate frames, counts, the data's extent — is kept under the store's
``data_version`` token (one cheap query per call), so an ingest or an edited zone shows up on the
next request and paging through a large result never recomputes it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridgis.config import Settings
from gridgis.errors import NotFoundError
from gridgis.ogcapi import collections as cols
from gridgis.ogcapi import frames
from gridgis.ogcapi import requests_count as rc
from gridgis.ogcapi import requests_source as rq
from gridgis.ogcapi.query import ItemQuery
from gridgis.storage.store import Store

_MEMO_SIZE = 64


@dataclass
class Page:
    """Features of one response (CRS84 geometries), how many matched in all (None: not cheap to know) and
    whether more follow."""

    ids: np.ndarray
    props: pd.DataFrame
    geoms: np.ndarray
    matched: int | None
    cursor: str | None = None  # keyset position after the last feature (requests), for the next link
    more: bool = False


def _has_projects() -> bool:
    try:
        from gridgis.heatmap import projects  # noqa: F401  (being written alongside; wired when present)
    except ImportError:
        return False
    return True


class OgcService:
    """Collections and features of the OGC API over one store and its settings."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._memo: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._fine: int | None = None

    # -- remembered per data version ------------------------------------------------------------------
    def version(self) -> str:
        return self.store.data_version()[0]

    def _remember(self, key: tuple, build: Callable, version: str | None = None):
        full = (version or self.version(), *key)
        with self._lock:
            if full in self._memo:
                self._memo.move_to_end(full)
                return self._memo[full]
        value = build()  # outside the lock: a slow aggregate must not hold up other requests
        with self._lock:
            self._memo[full] = value
            while len(self._memo) > _MEMO_SIZE:
                self._memo.popitem(last=False)
        return value

    @property
    def fine_res(self) -> int:
        """The stored fine H3 resolution (set when the database is created; read once)."""
        if self._fine is None:
            self._fine = int(self.store.get_meta("h3_resolution", "10"))
        return self._fine

    def extent(self, version: str | None = None):
        """(lng/lat bbox, (first, last) epoch seconds) of the stored requests."""
        return self._remember(("extent",), lambda: rq.data_extent(self.store), version)

    def category_names(self, version: str | None = None) -> dict[str, str]:
        def build() -> dict[str, str]:
            c = self.store.categories_frame()
            return dict(zip(c["code"].astype(str), c["name_zh"].astype(str), strict=True))

        return self._remember(("categories",), build, version)

    # -- collections ----------------------------------------------------------------------------------
    def collections(self) -> list[cols.Collection]:
        s = self.settings
        return cols.catalogue(self.fine_res, s.export_min_count_k, s.export_snap_points, _has_projects())

    def collection(self, cid: str) -> cols.Collection:
        for c in self.collections():
            if c.id == cid:
                return c
        known = ", ".join(c.id for c in self.collections())
        raise NotFoundError(f"没有数据集 {cid!r}，可用：{known} / no collection {cid!r}; available: {known}",
                            field="collectionId")

    def frame(self, coll: cols.Collection, time) -> frames.FeatureFrame:
        s = self.settings
        if coll.id.startswith("cells-"):
            res = int(coll.id.removeprefix("cells-"))
            return self._remember(("cells", res, time), lambda: frames.cells_frame(self.store, s, res, time))
        hot_res = min(cols.HOTSPOT_RESOLUTION, self.fine_res)
        builders = {"hotspots": lambda: frames.hotspots_frame(self.store, s, hot_res, time),
                    "projects": lambda: frames.projects_frame(self.store, s, time),
                    "zones": lambda: frames.zones_frame(self.store, s),
                    "grids": lambda: frames.grids_frame(self.store, s)}
        return self._remember((coll.id, time if coll.temporal else None), builders[coll.id])

    # -- features -------------------------------------------------------------------------------------
    def page(self, cid: str, query: ItemQuery) -> Page:
        """The features of one items request and numberMatched (exact, or None when not cheap to know)."""
        coll = self.collection(cid)
        if coll.id == "requests":
            return self._requests_page(query)
        frame = self.frame(coll, query.time)
        idx = np.flatnonzero(frame.mask(query))
        part = frame.take(idx[query.offset: query.offset + query.limit])
        return Page(part.ids, part.props, part.geoms, int(idx.size), more=query.offset + len(part) < idx.size)

    def _requests_page(self, query: ItemQuery) -> Page:
        snapped, v = self.settings.export_snap_points, self.version()
        # The conditions too are kept: a bbox's cells take a while to list, and each page of it needs them.
        where = self._remember(("where", query.key()), lambda: self._where(query, v), v)
        rows = rq.fetch(self.store, where, query.limit + 1, query.offset, query.after)  # one more: is there a next?
        more = len(rows) > query.limit
        rows = rows.iloc[:query.limit]
        if query.after is None and not more and (len(rows) or query.offset == 0):
            matched = query.offset + len(rows)  # the last page says how many there are
        else:
            matched = self._remember(("count", query.key()), lambda: self._count(query, where, v, rows), v)
        ids, props, geoms = rq.publish(rows, names=self.category_names(v), snapped=snapped,
                                       tz=self.settings.timezone)
        return Page(ids, props, geoms, matched, rq.cursor_after(rows), more)

    def _totals(self, time, filters, version: str) -> rc.CellTotals:
        return self._remember(("totals", time, filters),
                              lambda: rc.cell9_totals(self.store, time, filters, self.extent(version)[1]), version)

    def _where(self, query: ItemQuery, version: str) -> rq.Where:
        """The query's conditions; a bbox is weighed by the requests per res-9 cell of all the data."""
        extent, span = self.extent(version)
        density = None
        if query.bbox is not None and span is not None and rc.countable((), self.fine_res):
            density = self._totals(None, (), version)
        return rq.where_clause(query, extent, self.fine_res, self.settings.export_snap_points, span, density)

    def _count(self, query: ItemQuery, where: rq.Where, version: str, rows: pd.DataFrame) -> int | None:
        """numberMatched of a requests query (see :mod:`gridgis.ogcapi.requests_count`); ``rows`` the page."""
        if not rc.countable(query.filters, self.fine_res):
            cap = rc.count_cap(query.limit)
            seen = rq.scanned(where, rows, query.offset, query.after)
            if seen is not None and rc.clearly_over(*seen, cap):
                return None
            return rc.capped_count(self.store, where.page, cap)
        totals = self._totals(query.time, query.filters, version)
        if where.boxes is None:
            return totals.total
        return rc.bbox_matched(self.store, totals, list(where.boxes), self.fine_res,
                               self.settings.export_snap_points, where.base, where.cells)

    def feature(self, cid: str, fid: str) -> Page:
        """One feature by id; NotFoundError when the collection has none with that id."""
        coll = self.collection(cid)
        if coll.id == "requests":
            rows = rq.fetch_one(self.store, fid)
            ids, props, geoms = rq.publish(rows, names=self.category_names(), snapped=self.settings.export_snap_points,
                                           tz=self.settings.timezone)
            found = Page(ids, props, geoms, len(ids))
        else:
            part = self.frame(coll, None).find(fid)
            found = Page(part.ids, part.props, part.geoms, len(part))
        if found.matched == 0:
            raise NotFoundError(f"数据集 {cid} 中没有要素 {fid!r} / collection {cid} has no feature {fid!r}",
                                field="featureId")
        return found
