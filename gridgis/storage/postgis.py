"""Spatial conditions on PostgreSQL/PostGIS (migration 0005's ``geom`` columns) with the SQLite fallbacks.

On PostgreSQL a bbox is ``geom && ST_MakeEnvelope(…)`` (plus the exact lng/lat range) and a zone is
``ST_Intersects(geom, zone)``, both served by the GiST indexes; on SQLite the bbox is the lng/lat range and
zones are H3 cells plus a point test (gridgis.heatmap). Both count a point on the edge as inside, so the two
backends select the same rows.
"""

from __future__ import annotations

import shapely
from sqlalchemy import LargeBinary, and_, bindparam, column, func
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.types import UserDefinedType

SRID = 4326
GEOMETRY_TABLES = ("requests", "zones", "grids")  # the tables migration 0005 gives a ``geom`` column


class Geometry(UserDefinedType):
    """PostGIS ``geometry`` as SQLAlchemy sees it (values stay in the database: only used in conditions)."""

    cache_ok = True

    def __init__(self, *spec) -> None:  # reflection passes the subtype and SRID, e.g. ("Point", 4326)
        self.spec = spec

    def get_col_spec(self, **_kw) -> str:
        return "geometry"


def register_reflection() -> None:
    """Let reflection (alembic autogenerate, schema comparisons) know the type instead of warning about it."""
    ischema_names.setdefault("geometry", Geometry)


def is_postgresql(bind) -> bool:
    """True for a PostgreSQL engine or connection (anything with ``.dialect``) or dialect name."""
    name = bind if isinstance(bind, str) else bind.dialect.name
    return name == "postgresql"


def geom(table):
    """The ``geom`` column of ``requests``, ``zones`` or ``grids`` (PostgreSQL only; not in the Core tables)."""
    if table.name not in GEOMETRY_TABLES:
        raise ValueError(f"{table.name} has no geometry column")
    return column("geom", Geometry(), _selectable=table)


def bbox_condition(table, bbox: tuple[float, float, float, float], bind):
    """Rows of ``table`` whose point lies in ``bbox`` (min_lng, min_lat, max_lng, max_lat), edges included."""
    x0, y0, x1, y1 = (float(v) for v in bbox)
    exact = and_(table.c.lng.between(x0, x1), table.c.lat.between(y0, y1))
    if is_postgresql(bind):
        # && finds candidates through the GiST index, but compares float4 boxes rounded outwards: points
        # up to ~1e-6° outside would pass. The lng/lat range keeps the answer exact (as on SQLite).
        return and_(geom(table).op("&&")(func.ST_MakeEnvelope(x0, y0, x1, y1, SRID)), exact)
    return exact


def geometry_literal(shape: shapely.Geometry):
    """A shapely geometry as a PostGIS value (WKB: exact coordinates, no text round trip)."""
    wkb = bindparam(None, shapely.to_wkb(shape), type_=LargeBinary)
    return func.ST_GeomFromWKB(wkb, SRID)


def intersects_condition(table, shape: shapely.Geometry):
    """Rows of ``table`` whose geometry touches ``shape`` (boundary included, like shapely.intersects_xy)."""
    return func.ST_Intersects(geom(table), geometry_literal(shape))


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic filter: PostGIS's own table and migration 0005's columns and indexes are not in the Core
    schema (they exist on PostgreSQL only), so schema comparisons leave them out."""
    if type_ == "table" and name in ("spatial_ref_sys",):
        return False
    if type_ == "column" and name == "geom" and reflected:
        return False
    if type_ == "index" and name is not None and name.startswith("gx_") and reflected:
        return False
    return True
