"""Zone validation: attributes, GeoJSON polygons, self-intersection, service area, area limit, households."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import shapely

from gridgis.errors import InvalidInputError
from gridgis.zones import (
    geodesic_area_km2,
    geometry_to_geojson,
    households_in,
    parse_geometry,
    validate_attributes,
    validate_zone,
)

AREA = shapely.box(104.03, 30.61, 104.09, 30.66)
CATS = {"SAFE", "PARK"}


def square(x0=104.05, y0=30.63, d=0.005) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + d, y0], [x0 + d, y0 + d], [x0, y0 + d], [x0, y0]]]}


def test_a_valid_square_passes_and_is_stored_counter_clockwise_with_7_decimals():
    # drawn clockwise, with noisy decimals
    ring = [[104.05, 30.63], [104.05, 30.635123456789], [104.055, 30.635], [104.055, 30.63], [104.05, 30.63]]
    draft = validate_zone({"name": " 停车整治 ", "priority": "4", "category": "PARK",
                           "geometry": {"type": "Polygon", "coordinates": [ring]}}, CATS, service_area=AREA)
    rec = draft.to_record()
    assert rec["name"] == "停车整治" and rec["priority"] == 4 and rec["category"] == "PARK" and rec["notes"] is None
    geom = json.loads(rec["geometry"])
    out = geom["coordinates"][0]
    assert shapely.Polygon(out).exterior.is_ccw
    assert [30.6351235] == [p[1] for p in out if abs(p[1] - 30.6351235) < 1e-9]
    assert rec["min_lng"] == pytest.approx(104.05) and rec["max_lat"] == pytest.approx(30.635123456789)


def test_area_is_geodesic_km2():
    # 0.01° × 0.01° at 30.6°N ≈ 1.11 km × 0.957 km
    assert geodesic_area_km2(shapely.box(104.0, 30.6, 104.01, 30.61)) == pytest.approx(1.0631, rel=1e-3)


@pytest.mark.parametrize(
    ("geometry", "needle"),
    [
        ({"type": "Polygon", "coordinates": [[[104.05, 30.63], [104.06, 30.64], [104.06, 30.63], [104.05, 30.64],
                                              [104.05, 30.63]]]}, "自相交"),
        ({"type": "Polygon", "coordinates": []}, "为空"),
        ({"type": "Point", "coordinates": [104.05, 30.63]}, "Polygon"),
        ({"type": "Polygon", "coordinates": [[[30.63, 104.05], [30.64, 104.05], [30.64, 104.06], [30.63, 104.05]]]},
         "(lng, lat)"),
        (square(104.085, 30.655, 0.01), "outside the service area"),
        ("not json", "GeoJSON"),
        (42, "GeoJSON"),
    ],
)
def test_bad_geometry_is_refused_with_a_reason(geometry, needle):
    with pytest.raises(InvalidInputError) as err:
        parse_geometry(geometry, service_area=AREA)
    assert err.value.field == "geometry"
    assert needle in str(err.value)


def test_too_large_zone_is_refused_and_the_limit_is_configurable():
    big = shapely.box(104.0, 30.5, 104.1, 30.6)  # ≈ 106 km²
    with pytest.raises(InvalidInputError, match="50 km²"):
        parse_geometry(json.loads(shapely.to_geojson(big)))
    assert parse_geometry(json.loads(shapely.to_geojson(big)), max_area_km2=200).equals(big)


def test_a_feature_and_geojson_text_are_accepted_and_no_service_area_means_anywhere():
    feat = {"type": "Feature", "properties": {}, "geometry": square(120.15, 30.27)}
    assert parse_geometry(feat).area > 0
    assert parse_geometry(json.dumps(square())).area > 0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 81}, "name"),
        ({"name": "a", "priority": 6}, "priority"),
        ({"name": "a", "priority": 2.5}, "priority"),
        ({"name": "a", "priority": True}, "priority"),
        ({"name": "a", "category": "NOPE"}, "category"),
        ({"name": "a", "notes": 5}, "notes"),
    ],
)
def test_bad_attributes_name_the_field(data, field):
    with pytest.raises(InvalidInputError) as err:
        validate_attributes(data, CATS)
    assert err.value.field == field


def test_partial_update_checks_only_given_keys_and_refuses_unknown_or_empty():
    draft = validate_zone({"priority": 1}, CATS, partial=True)
    assert draft.values == {"priority": 1} and draft.geometry is None
    with pytest.raises(InvalidInputError) as err:
        validate_zone({"prority": 1}, CATS, partial=True)
    assert err.value.field == "prority"
    with pytest.raises(InvalidInputError) as err:
        validate_zone({}, CATS, partial=True)
    assert err.value.field == "body"
    with pytest.raises(InvalidInputError) as err:
        validate_zone({"name": "a"}, CATS)
    assert err.value.field == "geometry"


def test_households_are_weighted_by_the_covered_share_of_each_grid():
    grids = pd.DataFrame({
        "geometry": [shapely.to_geojson(shapely.box(104.04, 30.62, 104.06, 30.65)),
                     shapely.to_geojson(shapely.box(104.06, 30.62, 104.08, 30.65)),
                     shapely.to_geojson(shapely.box(104.06, 30.62, 104.08, 30.65))],
        "households": [400, 300, None],
    })
    half_a = shapely.box(104.05, 30.62, 104.06, 30.65)  # half of grid A, none of B
    assert households_in(half_a, grids) == pytest.approx(200.0)
    both = shapely.box(104.05, 30.62, 104.07, 30.65)  # half of each
    assert households_in(both, grids) == pytest.approx(350.0)
    assert households_in(both, grids.iloc[:0]) == 0.0


def test_geometry_to_geojson_orients_every_ring():
    poly = shapely.Polygon([(0, 0), (0, 1), (1, 1), (1, 0)], holes=[[(0.2, 0.2), (0.4, 0.2), (0.4, 0.4), (0.2, 0.4)]])
    out = shapely.from_geojson(geometry_to_geojson(poly))
    assert out.exterior.is_ccw and not out.interiors[0].is_ccw
