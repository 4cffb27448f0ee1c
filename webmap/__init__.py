"""webmap: the Flask web adapter over gridgis (map pages, JSON API). Build it with :func:`create_app`."""

from __future__ import annotations

import secrets

from flask import Flask

from gridgis.config import Settings, load_settings
from gridgis.storage import Store, open_store

SECRET_META_KEY = "flask_secret_key"


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    """The application factory: no state at import time; settings and store are passed in or loaded."""
    settings = settings or load_settings()
    app = Flask(__name__)
    store = store or open_store(settings)
    app.config.update(
        # One secret for every server process and restart (sessions survive both); never logged.
        SECRET_KEY=settings.secret_key or store.meta_setdefault(SECRET_META_KEY, secrets.token_hex(32)),
        JSON_AS_ASCII=False,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
    )
    app.json.ensure_ascii = False
    app.extensions["gridgis.settings"] = settings
    app.extensions["gridgis.store"] = store

    from gridgis.privacy import install_log_redaction
    from webmap import (
        access,
        api,
        auth,
        cells_api,
        errors,
        export_api,
        inputs,
        ogc,
        open311,
        openapi,
        pages,
        projects_api,
        workflow_api,
        zones_api,
    )
    from webmap.basemaps import base_map

    base_map(settings)  # a misconfigured base map (unknown name, Tianditu without key) fails at start
    install_log_redaction()  # phone and ID-card numbers never reach a log handler (gridgis.privacy)
    errors.init_app(app)
    inputs.init_app(app)  # oversized bodies, NUL / lone surrogates, deep JSON, 64-bit path ids: refused first
    access.init_app(app)  # sessions, CSRF, and the access rule of every route checked before its view
    app.register_blueprint(auth.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(cells_api.bp)
    app.register_blueprint(zones_api.bp)
    app.register_blueprint(projects_api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(ogc.bp)
    app.register_blueprint(open311.bp)
    app.register_blueprint(export_api.bp)
    app.register_blueprint(workflow_api.bp)
    access.check_rules(app)  # a route without an access rule cannot ship
    return app
