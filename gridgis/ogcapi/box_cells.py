"""The H3 cells that hold the requests a bbox matches: res-9 cells wholly inside, fine cells along the edge.

A request matches a bbox by its *published* point: the centre of its fine cell when points are snapped
(a fine cell then matches wholly or not at all), else its exact point (cells near the edge then match in
part and their rows are tested on lng/lat). The page (:mod:`gridgis.ogcapi.requests_source`) and the
count (:mod:`gridgis.ogcapi.requests_count`) both read matching rows through these cells: res-9 cells
whose every fine child matches by ``cell_9``, the band by ``cell``. Both columns lead an index that also
holds ``created_at``, so a time window of matching rows is read on the indexes alone.

Only the box's fine cells are listed (one vectorized polyfill of the box grown by a cell, then centre
tests), never the polygons of the interior: ~10,000 fine cells of half a city take ~7 ms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from gridgis import grid

PARENT = 9
"""Resolution of the ``cell_9`` column: the coarse cells that cover a box's interior."""


@dataclass(frozen=True)
class BoxCells:
    """``covered``: res-9 cells every fine child of which matches (sorted uint64); ``band``: fine cells
    outside them that match (snapped points) or may match (``exact``: their rows need the lng/lat test)."""

    covered: np.ndarray
    band: np.ndarray
    exact: bool

    def estimate(self, cells: np.ndarray, counts: np.ndarray, fine: int) -> float:
        """Matching requests by per-res-9 totals (``cells`` sorted, ``counts``): covered cells in full,
        band cells as their share of their parent (requests spread evenly inside a res-9 cell)."""
        if not cells.size:
            return 0.0
        n = float(counts[np.isin(cells, self.covered, assume_unique=True)].sum())
        if self.band.size:
            parents = grid.cells_to_parent(self.band, PARENT)
            pos = np.clip(np.searchsorted(cells, parents), 0, cells.size - 1)
            hit = cells[pos] == parents
            n += float(counts[pos[hit]].sum()) / 7 ** (fine - PARENT)
        return n


def usable(fine: int) -> bool:
    """Whether the stored rows have a ``cell_9`` parent below their fine cell."""
    return fine > PARENT


def margins(boxes, fine: int) -> tuple[float, float]:
    """How far (degrees of lng, lat) a fine cell reaches from its centre, with room for distortion."""
    x0, y0, x1, y1 = boxes[0]
    probe = grid.latlng_to_cells([(y0 + y1) / 2], [(x0 + x1) / 2], fine)
    lat, lng = grid.cell_centers(probe)
    xy = np.asarray(grid.cells_to_polygons(probe)[0].exterior.coords)
    return 1.5 * float(np.abs(xy[:, 0] - lng[0]).max()), 1.5 * float(np.abs(xy[:, 1] - lat[0]).max())


def fine_cells_in(boxes, fine: int) -> float:
    """About how many fine cells the boxes hold (what :func:`box_cells` would list)."""
    x0, y0, x1, y1 = boxes[0]
    cell = grid.cells_to_polygons(grid.latlng_to_cells([(y0 + y1) / 2], [(x0 + x1) / 2], fine))[0].area
    return sum((b[2] - b[0]) * (b[3] - b[1]) for b in boxes) / cell


def in_boxes(lng: np.ndarray, lat: np.ndarray, boxes, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """Points inside any box grown by (dx, dy) (negative: shrunk)."""
    hit = np.zeros(lng.size, dtype=bool)
    for x0, y0, x1, y1 in boxes:
        hit |= (lng >= x0 - dx) & (lng <= x1 + dx) & (lat >= y0 - dy) & (lat <= y1 + dy)
    return hit


def box_cells(boxes, fine: int, snapped: bool) -> BoxCells:
    """The cells of requests whose published point may lie in one of ``boxes`` (CRS84, cut to the data's
    extent), at the stored fine resolution (> 9)."""
    if not boxes:
        return BoxCells(np.empty(0, np.uint64), np.empty(0, np.uint64), not snapped)
    dx, dy = margins(boxes, fine)
    grown = shapely.union_all([shapely.box(x0 - dx, y0 - dy, x1 + dx, y1 + dy) for x0, y0, x1, y1 in boxes])
    cand = grid.polygon_to_cells(grown, fine)  # every cell reaching into a box has its centre in here
    lat, lng = grid.cell_centers(cand)
    if snapped:  # the published point is the centre: a cell matches wholly or not at all
        whole = touch = in_boxes(lng, lat, boxes)
    else:  # wholly inside when even its farthest vertex is; possibly touching within one cell's reach
        whole = np.zeros(cand.size, dtype=bool)
        for b in boxes:
            whole |= in_boxes(lng, lat, [b], -dx, -dy)
        touch = in_boxes(lng, lat, boxes, dx, dy)
    uniq, n_whole = np.unique(grid.cells_to_parent(cand[whole], PARENT), return_counts=True)
    covered = uniq[n_whole == 7 ** (fine - PARENT)]  # every child matches (pentagons have fewer: never covered)
    band = cand[touch & ~np.isin(grid.cells_to_parent(cand, PARENT), covered)]
    return BoxCells(covered, np.sort(band), not snapped)
