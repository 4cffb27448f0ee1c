"""Base map choice from settings: tile URL templates, attribution and the coordinate system they use.

AMap tiles are drawn in GCJ-02, so the browser must shift every vertex we draw (see gcj02.js);
Tianditu's ``_w`` layers are EPSG:3857 tiles of CGCS2000 data and need no shift, but need a ``tk`` key.
``blank`` draws no tiles at all (tests, offline intranets without a tile server).
"""

from __future__ import annotations

from dataclasses import dataclass

from gridgis.config import Settings
from gridgis.errors import ConfigError


@dataclass(frozen=True)
class Tiles:
    url: str
    attribution: str
    subdomains: str = "abc"
    max_zoom: int = 19
    overlay: bool = False  # an annotation layer drawn over the base (Tianditu place names)


@dataclass(frozen=True)
class BaseMap:
    name: str
    crs: str  # "wgs84" (no display shift) or "gcj02"
    tiles: tuple[Tiles, ...]


_TIANDITU = "https://t{{s}}.tianditu.gov.cn/DataServer?T={layer}&x={{x}}&y={{y}}&l={{z}}&tk={key}"
_TIANDITU_ATTR = '&copy; <a href="https://www.tianditu.gov.cn/">天地图 Tianditu</a>'
NAMES = ("osm", "tianditu_vec", "tianditu_img", "amap", "blank")


def base_map(settings: Settings) -> BaseMap:
    """The configured base map; unknown names and Tianditu without a key are configuration errors."""
    name = (settings.base_map or "").strip().lower()
    if name == "osm":
        return BaseMap(name, "wgs84", (Tiles(
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
            subdomains="", max_zoom=19),))
    if name in ("tianditu_vec", "tianditu_img"):
        key = (settings.tianditu_key or "").strip()
        if not key:
            raise ConfigError(
                f"底图 {name} 需要天地图密钥，请设置 tianditu_key / base map {name} needs a Tianditu key: set "
                "tianditu_key (GRIDGIS_TIANDITU_KEY)",
                field="tianditu_key",
            )
        base, notes = ("vec_w", "cva_w") if name == "tianditu_vec" else ("img_w", "cia_w")
        return BaseMap(name, "wgs84", (
            Tiles(_TIANDITU.format(layer=base, key=key), _TIANDITU_ATTR, "01234567", 18),
            Tiles(_TIANDITU.format(layer=notes, key=key), _TIANDITU_ATTR, "01234567", 18, overlay=True),
        ))
    if name == "amap":
        return BaseMap(name, "gcj02", (Tiles(
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
            "&copy; 高德地图 AutoNavi", "1234", 18),))
    if name == "blank":
        return BaseMap(name, "wgs84", ())
    raise ConfigError(
        f"未知底图 {settings.base_map!r}，可用 / unknown base_map {settings.base_map!r}; allowed: {', '.join(NAMES)}",
        field="base_map",
    )
