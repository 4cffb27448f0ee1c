"""webmap: the Flask web adapter over gridgis (map pages, JSON API). Build it with :func:`create_app`."""

from __future__ import annotations

import secrets

from flask import Flask

from gridgis.config import Settings, load_settings
from gridgis.storage import Store, open_store


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    """The application factory: no state at import time; settings and store are passed in or loaded."""
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key or secrets.token_hex(32),
        JSON_AS_ASCII=False,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.json.ensure_ascii = False
    app.extensions["gridgis.settings"] = settings
    app.extensions["gridgis.store"] = store or open_store(settings)

    from webmap import api, cells_api, errors, export_api, ogc, open311, openapi, pages, projects_api, zones_api
    from webmap.basemaps import base_map

    base_map(settings)  # a misconfigured base map (unknown name, Tianditu without key) fails at start
    errors.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(cells_api.bp)
    app.register_blueprint(zones_api.bp)
    app.register_blueprint(projects_api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(ogc.bp)
    app.register_blueprint(open311.bp)
    app.register_blueprint(export_api.bp)
    return app
