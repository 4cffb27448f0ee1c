"""Where the analytics read requests from: the store (SQL in the database) or a Parquet archive (dask).

Hot spots and project candidates need only a few things from the data: the demand counts of
:func:`gridgis.heatmap.aggregate.aggregate`, the analysis span, the grids (study area), the households
behind cells and the requests of a few cells (candidate texts). :class:`DemandSource` names those reads;
:class:`StoreSource` serves them from a :class:`~gridgis.storage.store.Store`, and
:class:`gridgis.heatmap.dask_engine.ArchiveSource` from an archive. Everything downstream — Gi*, FDR,
components, scores — is the same code for both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gridgis.heatmap.filters import Filters

if TYPE_CHECKING:
    from gridgis.storage.store import Store


class DemandSource:
    """The reads the analytics make; subclasses serve them from one engine."""

    engine = "?"

    def category_codes(self) -> list[str]:
        """Category codes of the data in taxonomy order (empty: use the taxonomy's)."""
        raise NotImplementedError

    def fine_resolution(self) -> int:
        """The H3 resolution stored per request."""
        raise NotImplementedError

    def aggregate(self, res: int, filters: Filters | None = None, **kw) -> pd.DataFrame:
        """As :func:`gridgis.heatmap.aggregate.aggregate` (same keywords, same table)."""
        raise NotImplementedError

    def cell_totals(self, res: int, filters: Filters | None = None, **kw) -> pd.DataFrame:
        """One row per cell with requests, all selected categories together."""
        return self.aggregate(res, filters, by_category=False, **kw)

    def analysis_span(self, filters: Filters) -> tuple[int, int] | None:
        """[lo, hi) epoch seconds: the filter's ends, or the data's where open; None if empty."""
        raise NotImplementedError

    def grids_frame(self) -> pd.DataFrame:
        """The grids table (grid_code, name, …, geometry as GeoJSON text)."""
        raise NotImplementedError

    def requests_in_cells(self, f: Filters, cat: str, cells: np.ndarray, res: int, fine: int) -> pd.DataFrame:
        """As :func:`gridgis.heatmap.cell_requests.requests_in_cells`."""
        raise NotImplementedError

    def households_in_cells(self, cells: np.ndarray, res: int, fine: int) -> pd.Series | None:
        """As :func:`gridgis.heatmap.cell_requests.households_in_cells`."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the source holds (connections, a scheduler client)."""


class StoreSource(DemandSource):
    """The store engine: every count is a GROUP BY in the database."""

    engine = "store"

    def __init__(self, store: Store) -> None:
        self.store = store

    def category_codes(self) -> list[str]:
        return self.store.categories_frame()["code"].astype(str).tolist()

    def fine_resolution(self) -> int:
        return int(self.store.get_meta("h3_resolution", "10"))

    def aggregate(self, res: int, filters: Filters | None = None, **kw) -> pd.DataFrame:
        from gridgis.heatmap.aggregate import aggregate

        return aggregate(self.store, res, filters, **kw)

    def analysis_span(self, filters: Filters) -> tuple[int, int] | None:
        from gridgis.heatmap.study import analysis_span

        return analysis_span(self.store, filters)

    def grids_frame(self) -> pd.DataFrame:
        return self.store.grids_frame()

    def requests_in_cells(self, f: Filters, cat: str, cells: np.ndarray, res: int, fine: int) -> pd.DataFrame:
        from gridgis.heatmap.cell_requests import requests_in_cells

        return requests_in_cells(self.store, f, cat, cells, res, fine)

    def households_in_cells(self, cells: np.ndarray, res: int, fine: int) -> pd.Series | None:
        from gridgis.heatmap.cell_requests import households_in_cells

        return households_in_cells(self.store, cells, res, fine)


def as_source(store_or_source) -> DemandSource:
    """A DemandSource as given, or the store engine over a Store."""
    return store_or_source if isinstance(store_or_source, DemandSource) else StoreSource(store_or_source)
