"""Access to the app's settings, store and per-app derived configuration from request handlers."""

from __future__ import annotations

from flask import current_app

from gridgis.area import ServiceArea
from gridgis.config import Settings
from gridgis.storage import Store


def settings() -> Settings:
    return current_app.extensions["gridgis.settings"]


def store() -> Store:
    return current_app.extensions["gridgis.store"]


def _cached(key: str, build):
    ext = current_app.extensions
    if key not in ext:
        ext[key] = build()
    return ext[key]


def service_area() -> ServiceArea:
    """The configured service area (read once per app: it may come from a polygon file)."""
    return _cached("gridgis.service_area", lambda: ServiceArea.from_settings(settings()))


def taxonomy():
    """The configured taxonomy (request types for the filter menus)."""
    from gridgis.taxonomy import Taxonomy

    return _cached("gridgis.taxonomy", lambda: Taxonomy.load(settings().taxonomy_file))
