"""Source coordinates → WGS84 lng/lat: pyproj for EPSG/PROJ systems, our own vectorized GCJ-02 / BD-09.

GCJ-02 (AMap, Tencent) and BD-09 (Baidu) have no EPSG code and PROJ will never support them (PROJ
issue 982), so the public forward formula is implemented here on numpy arrays and inverted by
fixed-point iteration, which converges to < 1 mm in a few steps (a one-step inverse errs up to ~5 m).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from gridgis.errors import InvalidInputError

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0

ALIASES = {
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "epsg:4326": "wgs84",
    "4326": "wgs84",
    "crs84": "wgs84",
    "ogc:crs84": "wgs84",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "gcj": "gcj02",
    "amap": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "bd09ll": "bd09",
    "baidu": "bd09",
    "cgcs2000": "EPSG:4490",
}


@dataclass(frozen=True)
class SourceCRS:
    """A parsed source CRS: ``kind`` is wgs84, gcj02, bd09 or proj (then ``proj`` holds the pyproj input)."""

    name: str
    kind: str
    proj: str | None = None


def parse_crs(value: str | None) -> SourceCRS:
    """Parse ``--crs``: wgs84 (default), gcj02, bd09, cgcs2000, any EPSG code or PROJ string."""
    if value is None or str(value).strip() == "":
        return SourceCRS("wgs84", "wgs84")
    raw = str(value).strip()
    key = raw.lower().replace(" ", "")
    alias = ALIASES.get(key)
    if alias in ("wgs84", "gcj02", "bd09"):
        return SourceCRS(alias, alias)
    spec = alias or raw
    if spec.isdigit():
        spec = f"EPSG:{spec}"
    try:
        crs = _pyproj_crs(spec)
        earth = crs.ellipsoid is not None and 6.3e6 < crs.ellipsoid.semi_major_metre < 6.4e6
        if not earth:  # PROJ also knows Mars and the Moon by name
            raise ValueError("not an Earth CRS")
    except Exception as exc:  # pyproj.exceptions.CRSError and friends
        raise InvalidInputError(
            f"无法识别的坐标系 {raw!r}：可用 wgs84、gcj02、bd09、cgcs2000、EPSG 代码或 PROJ 字符串 / "
            f"unknown CRS {raw!r}: use wgs84, gcj02, bd09, cgcs2000, an EPSG code or a PROJ string",
            field="crs",
        ) from exc
    if crs.equals(_pyproj_crs("EPSG:4326"), ignore_axis_order=True):
        return SourceCRS("wgs84", "wgs84")
    return SourceCRS(spec if alias else raw, "proj", spec)


@lru_cache(maxsize=32)
def _pyproj_crs(spec: str):
    from pyproj import CRS

    return CRS.from_user_input(spec)


@lru_cache(maxsize=64)
def _transformer(spec: str, to_wgs84: bool = True):
    from pyproj import Transformer

    src, dst = (_pyproj_crs(spec), "EPSG:4326") if to_wgs84 else ("EPSG:4326", _pyproj_crs(spec))
    return Transformer.from_crs(src, dst, always_xy=True)


def out_of_china(lng: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The conventional box outside which GCJ-02 applies no offset."""
    return (lng < 72.004) | (lng > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lng: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lng - 105.0
    y = lat - 35.0
    sq = np.sqrt(np.abs(x))
    s6x = 20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sq
    dlat += s6x * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sq
    dlng += s6x * 2.0 / 3.0
    dlng += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlng += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlng = (dlng * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlng, dlat


def wgs84_to_gcj02(lng, lat) -> tuple[np.ndarray, np.ndarray]:
    lng = np.asarray(lng, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    dlng, dlat = _delta(lng, lat)
    outside = out_of_china(lng, lat)
    return np.where(outside, lng, lng + dlng), np.where(outside, lat, lat + dlat)


def _invert(forward, tx, ty, x0, y0, tol: float, max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Solve forward(x, y) = (tx, ty) by fixed-point iteration x ← x + (t − forward(x)) from (x0, y0).

    Both offsets are small and smooth, so this converges geometrically; it stops at ``tol`` degrees
    (1e-10° ≈ 0.01 mm) or after ``max_iter`` steps, and on all-NaN input.
    """
    x, y = x0, y0
    for _ in range(max_iter):
        fx, fy = forward(x, y)
        ex, ey = tx - fx, ty - fy
        x, y = x + ex, y + ey
        err = np.nanmax(np.abs(np.concatenate([ex.ravel(), ey.ravel()])), initial=0.0)
        if not err > tol:
            break
    return x, y


def gcj02_to_wgs84(lng, lat, *, tol: float = 1e-10, max_iter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Iterative inverse of :func:`wgs84_to_gcj02`."""
    g_lng = np.asarray(lng, dtype=np.float64)
    g_lat = np.asarray(lat, dtype=np.float64)
    return _invert(wgs84_to_gcj02, g_lng, g_lat, g_lng.copy(), g_lat.copy(), tol, max_iter)


def gcj02_to_bd09(lng, lat) -> tuple[np.ndarray, np.ndarray]:
    lng = np.asarray(lng, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    z = np.sqrt(lng * lng + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lng) + 0.000003 * np.cos(lng * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lng, lat, *, tol: float = 1e-10, max_iter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Iterative inverse of :func:`gcj02_to_bd09` (the usual closed-form inverse errs by up to ~1 m)."""
    b_lng = np.asarray(lng, dtype=np.float64)
    b_lat = np.asarray(lat, dtype=np.float64)
    return _invert(gcj02_to_bd09, b_lng, b_lat, b_lng - 0.0065, b_lat - 0.006, tol, max_iter)


def wgs84_to_bd09(lng, lat) -> tuple[np.ndarray, np.ndarray]:
    return gcj02_to_bd09(*wgs84_to_gcj02(lng, lat))


def bd09_to_wgs84(lng, lat) -> tuple[np.ndarray, np.ndarray]:
    return gcj02_to_wgs84(*bd09_to_gcj02(lng, lat))


# (source kind → WGS84, WGS84 → source kind) for the systems PROJ does not know
_SHIFTS = {
    "gcj02": (gcj02_to_wgs84, wgs84_to_gcj02),
    "bd09": (bd09_to_wgs84, wgs84_to_bd09),
}


def _convert(x, y, crs: str | SourceCRS | None, to_wgs84: bool) -> tuple[np.ndarray, np.ndarray]:
    spec = crs if isinstance(crs, SourceCRS) else parse_crs(crs)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if spec.kind == "wgs84":
        return x.copy(), y.copy()
    if spec.kind in _SHIFTS:
        return _SHIFTS[spec.kind][0 if to_wgs84 else 1](x, y)
    u, v = _transformer(spec.proj, to_wgs84).transform(x, y)
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    bad = ~(np.isfinite(u) & np.isfinite(v))
    u[bad] = np.nan
    v[bad] = np.nan
    return u, v


def to_wgs84(x, y, crs: str | SourceCRS | None) -> tuple[np.ndarray, np.ndarray]:
    """Convert arrays of source coordinates (x = easting/lng, y = northing/lat) to WGS84 (lng, lat)."""
    return _convert(x, y, crs, to_wgs84=True)


def from_wgs84(lng, lat, crs: str | SourceCRS | None) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → target CRS (used by display shifts, exports and test data generators)."""
    return _convert(lng, lat, crs, to_wgs84=False)


def is_geographic(crs: str | SourceCRS | None) -> bool:
    src = crs if isinstance(crs, SourceCRS) else parse_crs(crs)
    if src.kind != "proj":
        return True
    return bool(_pyproj_crs(src.proj).is_geographic)
