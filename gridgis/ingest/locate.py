"""Locate each row in WGS84: parse coordinates, convert the CRS, check the service area, geocode addresses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridgis import crs as crs_mod
from gridgis.ingest import validate
from gridgis.ingest.numbers import parse_numbers


@dataclass
class Located:
    """Per-row WGS84 position and how it was found (``level`` "source" = coordinates given)."""

    lng: np.ndarray
    lat: np.ndarray
    x: np.ndarray  # original coordinates as given, NaN where absent
    y: np.ndarray
    has_xy: np.ndarray
    level: np.ndarray  # object: source | door | building | estate | community | street | None
    score: np.ndarray
    crs_name: str
    address: pd.Series


def locate(canon: pd.DataFrame, chunk, ctx, crs: str | None, checks: validate.RowChecks) -> Located:
    """Coordinates win; a geo file's own geometry is used where the columns are empty; else the address."""
    n = len(canon)
    x, bad_x = parse_numbers(canon["lng"])
    y, bad_y = parse_numbers(canon["lat"])
    checks.add(bad_x, "lng", canon["lng"], validate.BAD_NUMBER)
    checks.add(bad_y, "lat", canon["lat"], validate.BAD_NUMBER)
    src_crs = crs
    if chunk.geometry_lng is not None:
        use_geom = ~np.isfinite(x) & ~np.isfinite(y) & ~bad_x & ~bad_y
        geom_ok = np.isfinite(chunk.geometry_lng) & np.isfinite(chunk.geometry_lat)
        x = np.where(use_geom & geom_ok, chunk.geometry_lng, x)
        y = np.where(use_geom & geom_ok, chunk.geometry_lat, y)
        if src_crs is None and chunk.file_crs:
            src_crs = chunk.file_crs
    source_crs = crs_mod.parse_crs(src_crs)
    has_x, has_y = np.isfinite(x), np.isfinite(y)
    checks.add((has_x ^ has_y) & ~bad_x & ~bad_y, "lng" if not has_x.all() else "lat",
               np.where(has_x, y, x), validate.HALF_COORD)
    has_xy = has_x & has_y
    lng, lat = crs_mod.to_wgs84(x, y, source_crs)
    lng = np.where(has_xy, lng, np.nan)
    lat = np.where(has_xy, lat, np.nan)
    converted = np.isfinite(lng) & np.isfinite(lat)
    checks.add(has_xy & ~converted, "lng", pd.Series(x), validate.BAD_CRS_COORD)
    inside = ctx.area.contains(lng, lat)
    outside = converted & ~inside
    if outside.any():
        s_lng, s_lat = crs_mod.to_wgs84(y, x, source_crs)  # would the swapped pair be inside?
        swapped = outside & ctx.area.contains(s_lng, s_lat)
        as_text = pd.Series(np.full(n, None, dtype=object))
        as_text[outside] = [f"{a}, {b}" for a, b in zip(x[outside], y[outside], strict=True)]
        checks.add(swapped, "lat", as_text, validate.SWAPPED)
        checks.add(outside & ~swapped, "lng", as_text, validate.OUTSIDE)

    level = np.where(has_xy, "source", None).astype(object)
    score = np.full(n, np.nan)
    address = canon["address"].astype("string").str.strip()
    no_addr = validate.blank(address)
    need_geo = ~has_xy & ~bad_x & ~bad_y & ~(has_x ^ has_y)
    if chunk.geometry_lng is not None:
        non_point = need_geo & no_addr & ~np.isfinite(chunk.geometry_lng)
        checks.add(non_point, "geometry", None, validate.NON_POINT)
        need_geo &= ~non_point
    checks.add(need_geo & no_addr, "address", address, validate.NO_LOCATION)
    to_geocode = need_geo & ~no_addr
    if to_geocode.any():
        if ctx.geocoder is None:
            checks.add(to_geocode, "address", address, validate.NO_GAZETTEER)
        else:
            idx = np.flatnonzero(to_geocode)
            res = ctx.geocoder.geocode(address.iloc[idx].reset_index(drop=True))
            method = res["method"].astype(object).to_numpy()
            g_lng = res["lng"].to_numpy(dtype=np.float64)
            g_lat = res["lat"].to_numpy(dtype=np.float64)
            ok = np.isfinite(g_lng) & np.isfinite(g_lat)
            amb = np.zeros(n, dtype=bool)
            amb[idx] = method == "ambiguous"
            unm = np.zeros(n, dtype=bool)
            unm[idx] = ~ok & (method != "ambiguous")
            checks.add(amb, "address", address, validate.AMBIGUOUS)
            checks.add(unm, "address", address, validate.UNMATCHED)
            lng[idx[ok]] = g_lng[ok]
            lat[idx[ok]] = g_lat[ok]
            level[idx[ok]] = res["level"].astype(object).to_numpy()[ok]
            score[idx[ok]] = res["score"].to_numpy(dtype=np.float64)[ok]
            geo_out = np.zeros(n, dtype=bool)
            geo_out[idx[ok]] = ~ctx.area.contains(g_lng[ok], g_lat[ok])
            checks.add(geo_out, "address", address, validate.OUTSIDE)

    return Located(lng, lat, x, y, has_xy, level, score, source_crs.name, address)
