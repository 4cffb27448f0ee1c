"""The Principal's answers for each role, token scope and anonymous caller (pure, no store)."""

from __future__ import annotations

import pytest

from gridgis.roles import PERMISSIONS, ROLE_PERMISSIONS, ROLES, SCOPE_PERMISSIONS, Principal
from gridgis.tokens import SCOPES

A, B = "51010700100101", "51010700100102"


def test_every_role_and_scope_maps_to_known_permissions():
    assert set(ROLE_PERMISSIONS) == set(ROLES) and set(SCOPE_PERMISSIONS) == set(SCOPES)
    for perms in (*ROLE_PERMISSIONS.values(), *SCOPE_PERMISSIONS.values()):
        assert perms <= set(PERMISSIONS)
    assert ROLE_PERMISSIONS["admin"] == set(PERMISSIONS) == SCOPE_PERMISSIONS["admin"]
    # roles are nested: each sees no more than the one above it
    assert ROLE_PERMISSIONS["viewer"] < ROLE_PERMISSIONS["grid_worker"] < ROLE_PERMISSIONS["secretary"]
    assert ROLE_PERMISSIONS["secretary"] < ROLE_PERMISSIONS["admin"]


def test_request_levels_by_role_and_grid():
    sec = Principal.user("sec", "secretary")
    gw = Principal.user("gw", "grid_worker", [A])
    viewer = Principal.user("v", "viewer")
    assert sec.request_level(A) == sec.request_level(None) == "full" and sec.grids is None
    assert gw.request_level(A) == "full" and gw.request_level(B) is None and gw.request_level(None) is None
    assert viewer.request_level(A) is None
    assert gw.can_update_status(A) and not gw.can_update_status(B) and sec.can_update_status(B)
    assert not viewer.can_update_status(A)
    assert Principal.user("x", "secretary", [A]).grids is None  # only grid workers are limited to grids


def test_tokens_see_masked_rows_at_most_and_never_change_statuses():
    masked = Principal.token("app", ["requests_masked"])
    agg = Principal.token("gis", ["aggregates"])
    admin = Principal.token("ops", ["admin"])
    assert masked.request_level(A) == "masked" and agg.request_level(A) is None
    assert admin.request_level(B) == "full"
    assert not masked.can_update_status(A) and not masked.can("map:view")
    assert Principal.token("wx", ["open311_submit"]).permissions == {"open311:submit"}


@pytest.mark.parametrize(("p", "suppress", "hide"), [
    (Principal.user("a", "admin"), False, False),
    (Principal.user("s", "secretary"), False, False),
    (Principal.user("g", "grid_worker", [A]), False, False),
    (Principal.user("v", "viewer"), True, True),
    (Principal.token("t", ["aggregates"]), True, True),
    (Principal.token("t", ["requests_masked"]), False, False),
    (Principal.anonymous(), True, True),
    (Principal.anonymous(public_aggregates=True), True, True),
])
def test_small_counts_and_care_texts_for_low_privilege_callers(p, suppress, hide):
    assert p.suppress_small_counts is suppress and p.hide_care is hide


def test_anonymous_has_nothing_unless_aggregates_are_public():
    assert Principal.anonymous().permissions == frozenset() and not Principal.anonymous().authenticated
    wall = Principal.anonymous(public_aggregates=True)
    assert wall.can("aggregates:read") and wall.can("map:view") and not wall.can("requests:read")
    assert not wall.can("export:aggregates")


def test_unknown_names_are_programming_errors():
    with pytest.raises(ValueError):
        Principal.user("x", "mayor")
    with pytest.raises(ValueError):
        Principal.user("x", "viewer").can("zones:burn")
