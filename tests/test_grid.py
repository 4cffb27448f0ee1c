"""H3 helpers: pinned cell ids for known coordinates, parents by bit operations, string round trips."""

import h3
import numpy as np
import pytest
import shapely

from gridgis import grid
from gridgis.errors import InvalidInputError

# Chengdu Tianfu Square and Hangzhou West Lake, res 10 (pinned: a change in indexing must fail here)
KNOWN = [((30.6573, 104.0657), "8a40e3cec64ffff"), ((30.2741, 120.1551), "8a309a553d8ffff")]


@pytest.mark.parametrize("latlng,cell", KNOWN)
def test_pinned_cells(latlng, cell):
    got = grid.latlng_to_cells([latlng[0]], [latlng[1]], 10)
    assert grid.cells_to_str(got)[0] == cell == h3.latlng_to_cell(*latlng, 10)


def test_invalid_points_get_no_cell():
    got = grid.latlng_to_cells([np.nan, 95.0, 30.6], [104.0, 104.0, 104.0], 10)
    assert got[0] == 0 and got[1] == 0 and got[2] != 0
    assert list(grid.cells_to_str(got)[:2]) == ["", ""]


def test_parents_equal_h3_for_every_resolution():
    rng = np.random.default_rng(3)
    cells = grid.latlng_to_cells(rng.uniform(30.5, 30.8, 500), rng.uniform(103.9, 104.2, 500), 10)
    for r in range(0, 10):
        want = [h3.str_to_int(h3.cell_to_parent(h3.int_to_str(int(c)), r)) for c in cells[:50]]
        assert grid.cells_to_parent(cells[:50], r).tolist() == want


def test_string_round_trip_and_bad_ids():
    cells = grid.latlng_to_cells([30.6, 30.7], [104.0, 104.1], 9)
    assert (grid.str_to_cells(grid.cells_to_str(cells)) == cells).all()
    assert grid.str_to_cells(["8A40E3CEC64FFFF"])[0] == h3.str_to_int("8a40e3cec64ffff")
    with pytest.raises(InvalidInputError) as err:
        grid.str_to_cells(["8a40e3cec64ffff", "zzz"], name="h3")
    assert err.value.field == "h3" and "zzz" in str(err.value)


def test_polygons_centres_and_disks():
    c = grid.latlng_to_cells([30.6573], [104.0657], 10)
    poly = grid.cells_to_polygons(c)[0]
    lat, lng = grid.cell_centers(c)
    assert poly.contains(shapely.Point(lng[0], lat[0]))
    origin, neigh = grid.grid_disk_pairs(c, 1)
    assert len(neigh) == 7 and c[0] in neigh and (origin == 0).all()
    filled = grid.polygon_to_cells(shapely.box(104.0, 30.6, 104.02, 30.62), 10)
    assert 250 < len(filled) < 350 and (grid.cell_resolution(filled) == 10).all()
