"""The map page shell built with folium: base layer, empty layer groups, draw control, UI; no data inside.

:func:`build_map` is a pure function of settings and a few vocabularies. The page it renders has the
same size whatever the database holds: every layer is fetched by ``static/gridgis.js`` from the JSON
API for the current view. Folium and its plugins would load Leaflet, jQuery, Bootstrap and Font
Awesome from public CDNs; the subclasses below load only what the map needs, from ``static/vendor``,
so the page works on an offline government intranet.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import folium
from folium.elements import JSCSSMixin
from folium.plugins import Draw, MarkerCluster
from folium.template import Template

from gridgis.config import Settings
from gridgis.zones import MAX_AREA_KM2
from webmap import i18n
from webmap.basemaps import base_map

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Zoom → H3 resolution of the demand layer: street-office overview, community, 万米单元网格.
RES_BY_ZOOM = ((12, 8), (14, 9), (99, 10))
POINTS_MIN_ZOOM = 16
CHENGDU = (30.6573, 104.0657)


class ShellMap(folium.Map):
    """A folium Map that loads Leaflet only, from our own static folder."""

    def __init__(self, *args, static_url: str = "/static", max_zoom: int = 19, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # folium only gives max_zoom to its own tile layer; markercluster needs it on the map itself
        self.options["max_zoom"] = max_zoom
        self.options["min_zoom"] = 3
        self.default_js = [("leaflet", f"{static_url}/vendor/leaflet/leaflet.js")]
        self.default_css = [("leaflet_css", f"{static_url}/vendor/leaflet/leaflet.css")]


class OfflineDraw(Draw):
    def __init__(self, *args, static_url: str = "/static", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.default_js = [("leaflet_draw_js", f"{static_url}/vendor/leaflet-draw/leaflet.draw.js")]
        self.default_css = [("leaflet_draw_css", f"{static_url}/vendor/leaflet-draw/leaflet.draw.css")]


class OfflineMarkerCluster(MarkerCluster):
    def __init__(self, *args, static_url: str = "/static", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        base = f"{static_url}/vendor/leaflet.markercluster"
        self.default_js = [("markerclusterjs", f"{base}/leaflet.markercluster.js")]
        self.default_css = [
            ("markerclustercss", f"{base}/MarkerCluster.css"),
            ("markerclusterdefaultcss", f"{base}/MarkerCluster.Default.css"),
        ]


@lru_cache(maxsize=1)
def _app_template() -> Template:
    return Template((TEMPLATES / "map_app.html").read_text(encoding="utf-8"))


class GridGISApp(JSCSSMixin):
    """The page's controls (filters, legend, side panel) and ``GridGIS.configure(config)``.

    Added before the draw control so the draw toolbar is created with the configured language.
    """

    def __init__(self, config: dict, strings: dict[str, str], static_url: str, asset_version: str) -> None:
        super().__init__()
        self._name = "GridGISApp"
        self.config = config
        self.t = strings
        self.lang = config["lang"]
        self._template = _app_template()
        v = f"?v={asset_version}" if asset_version else ""
        self.default_js = [
            ("h3_js", f"{static_url}/vendor/h3-js/h3-js.umd.js"),
            ("gridgis_gcj02", f"{static_url}/gcj02.js{v}"),
            ("gridgis_js", f"{static_url}/gridgis.js{v}"),
            ("gridgis_projects", f"{static_url}/projects.js{v}"),
            ("gridgis_export", f"{static_url}/export.js{v}"),
        ]
        self.default_css = [("gridgis_css", f"{static_url}/gridgis.css{v}")]


class GridGISStart(folium.MacroElement):
    """Starts gridgis.js once every layer group and control exists (it must be added last)."""

    _template = Template("{% macro script(this, kwargs) %}GridGIS.start();{% endmacro %}")

    def __init__(self) -> None:
        super().__init__()
        self._name = "GridGISStart"


def build_map(
    settings: Settings,
    *,
    lang: str = i18n.DEFAULT_LANG,
    bounds: Sequence[float] | None = None,
    request_types: Sequence[dict] = (),
    statuses: Sequence[dict] = (),
    static_url: str = "/static",
    api_url: str = "/api",
    overview_url: str = "/overview",
    asset_version: str = "",
    user: dict | None = None,
) -> folium.Map:
    """The map page as a folium Map. ``bounds`` (min_lng, min_lat, max_lng, max_lat) is the initial view.

    ``request_types`` are ``{"label", "name_en"}`` and ``statuses`` ``{"code", "zh", "en"}``: small
    configuration vocabularies for the filter menus, not data. ``user`` (name, role, permissions,
    logout URL) lets gridgis.js show who is logged in and hide what they may not use.
    """
    lang = i18n.pick_lang(lang)
    t = i18n.strings(lang)
    basemap = base_map(settings)
    if bounds is not None:
        x0, y0, x1, y1 = (float(v) for v in bounds)
        center = ((y0 + y1) / 2, (x0 + x1) / 2)
    else:
        center = CHENGDU
    m = ShellMap(location=list(center), zoom_start=14, tiles=None, control_scale=True, static_url=static_url,
                 max_zoom=19)
    for i, tl in enumerate(basemap.tiles):
        folium.TileLayer(
            tiles=tl.url, attr=tl.attribution, name=f"{basemap.name}-{i}", overlay=tl.overlay,
            control=False, max_zoom=tl.max_zoom, max_native_zoom=min(tl.max_zoom, 18),
            **({"subdomains": tl.subdomains} if tl.subdomains else {}),
        ).add_to(m)

    def group(key: str, show: bool = True) -> folium.FeatureGroup:
        return folium.FeatureGroup(name=t[f"layer_{key}"], show=show).add_to(m)

    layers = {
        "demand": group("demand"),
        "hotspots": group("hotspots", show=False),
        "grids": group("grids"),
        "zones": group("zones"),
        "points": OfflineMarkerCluster(name=t["layer_points"], static_url=static_url,
                                       options={"disableClusteringAtZoom": 19, "chunkedLoading": True}),
        # Filled by static/projects.js through GridGIS.registerLayer("projects", loader).
        "projects": group("projects", show=False),
    }
    layers["points"].add_to(m)
    config = {
        "lang": lang,
        "api": api_url,
        "overview": overview_url,
        "map": m.get_name(),
        "layers": {k: v.get_name() for k, v in layers.items()},
        "crs": basemap.crs,
        "baseMap": basemap.name,
        "bounds": None if bounds is None else [[y0, x0], [y1, x1]],
        "resByZoom": [list(p) for p in RES_BY_ZOOM],
        "pointsMinZoom": POINTS_MIN_ZOOM,
        "maxZoneAreaKm2": MAX_AREA_KM2,
        "types": [{"value": r["label"], "label": r["label"] if lang == "zh" else r.get("name_en") or r["label"]}
                  for r in request_types],
        "statuses": [{"value": s["code"], "label": s["zh"] if lang == "zh" else s["en"]} for s in statuses],
        "strings": t,
        "draw": i18n.draw_strings(lang),
        "user": user,
    }
    GridGISApp(config, t, static_url, asset_version).add_to(m)
    OfflineDraw(
        feature_group=layers["zones"], static_url=static_url, show_geometry_on_click=False, position="topleft",
        draw_options={"polyline": False, "circle": False, "marker": False, "circlemarker": False,
                      "polygon": {"allowIntersection": False, "showArea": False},
                      "rectangle": {"showArea": False}},
        edit_options={"poly": {"allowIntersection": False}},
    ).add_to(m)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    GridGISStart().add_to(m)
    return m


def render_map(settings: Settings, **kwargs) -> str:
    """The page HTML of :func:`build_map`."""
    return build_map(settings, **kwargs).get_root().render()
