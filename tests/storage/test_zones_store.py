"""Store zone methods (soft delete, history, version guard) and the data version behind ETags."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gridgis import grid
from gridgis.errors import InvalidInputError, NotFoundError
from gridgis.heatmap.households import write_households
from gridgis.zones import validate_zone

BOX = shapely.geometry.mapping(shapely.box(104.05, 30.62, 104.06, 30.63))


def record(**over) -> dict:
    return validate_zone({"name": "区", "geometry": BOX, **over}, {"PARK"}).to_record()


def test_zone_lifecycle_keeps_every_version(store):
    z = store.insert_zone(record(), changed_by="网格员甲")
    assert z["version"] == 1 and z["created_by"] == "网格员甲" and z["min_lng"] == pytest.approx(104.05)
    z = store.update_zone(z["id"], {"priority": 5}, expected_version=1)
    assert z["version"] == 2 and z["priority"] == 5
    with pytest.raises(InvalidInputError) as err:
        store.update_zone(z["id"], {"priority": 1}, expected_version=1)
    assert err.value.field == "version"
    gone = store.delete_zone(z["id"])
    assert gone["deleted_at"] is not None and gone["version"] == 3
    assert store.zones_frame().empty and len(store.zones_frame(include_deleted=True)) == 1
    with pytest.raises(NotFoundError):
        store.get_zone(z["id"])
    with pytest.raises(NotFoundError):
        store.update_zone(z["id"], {"priority": 2})
    hist = store.zone_history_frame(z["id"])
    assert hist["action"].tolist() == ["create", "update", "delete"] and hist["version"].tolist() == [1, 2, 3]


def test_data_version_changes_with_zones_and_households(store):
    token, last = store.data_version()
    z = store.insert_zone(record())
    t2, last2 = store.data_version()
    assert t2 != token and last2 >= last
    store.update_zone(z["id"], {"notes": "x"})
    t3, _ = store.data_version()
    assert t3 != t2  # same second, still a new version (history rows are counted)
    cell = grid.latlng_to_cells([30.625], [104.055], 10)
    write_households(store, cell, np.array([40.0]), "gazetteer")
    assert store.data_version()[0] != t3
