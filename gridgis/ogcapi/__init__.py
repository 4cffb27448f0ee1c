"""OGC API – Features (Part 1 Core 1.0.1: core, geojson, html, oas30; Part 2: crs) as plain dicts, no web code.

The web adapter (``webmap/ogc.py``) only parses the URL, checks the API token and sends these dicts
with their media types. Layout: :mod:`.collections` (what is offered), :mod:`.query` (parameters,
400s), :mod:`.crs` (CRS84 / EPSG:4490 / EPSG:3857 with pyproj), :mod:`.requests_source` (SQL pages
of requests under the privacy policy), :mod:`.requests_count` (their numberMatched, exact or left out
when costly), :mod:`.box_cells` (a bbox as H3 cells, for both), :mod:`.frames` (aggregates, zones,
grids), :mod:`.service` (per-data-version memory), :mod:`.documents` and :mod:`.openapi` (the documents).

Why hand-written rather than pygeoapi (0.21, checked with ``pip download --no-deps pygeoapi``; it
installs and its protocol code is good):

- **App factory and tests.** ``pygeoapi.flask_app`` reads its YAML config and OpenAPI document from
  the ``PYGEOAPI_CONFIG``/``PYGEOAPI_OPENAPI`` environment variables *at import time* into
  module-level globals (``CONFIG``, ``api_``, ``BLUEPRINT``): one configuration per process. Our
  ``create_app(settings, store)`` builds independent apps (tests build many, on different
  databases); that rule ("no state at import time") would break.
- **Provider model.** Providers are instantiated per request by dotted class name from a config
  dict (``load_plugin('provider', provider_def)``), so a provider cannot be handed our open Store,
  settings or per-data-version caches; it would reopen the database from a URL in the YAML on
  every request or reach for globals. Our aggregates (Gi* hot spots, project candidates) are
  computed, not tables a provider can page cheaply without such a cache.
- **Conformance where we need it.** pygeoapi silently *discards* unknown query parameters
  (``get_collection_items``: "Discarding query parameter"); the issue (and Part 1,
  /req/core/query-param-unknown) wants 400. Our privacy rules (snapped points filtered by their
  published position, k-suppression) also sit inside the data path, not in a formatter.
- **Auth in front.** A Flask ``before_request`` could guard its blueprint, so this alone would not
  decide; but token scopes differ per collection (requests vs aggregates), which we check next to
  the collection metadata.
- **Cost.** It would add about ten runtime dependencies (pygeofilter, pygeoif, tinydb, Babel,
  jsonschema, pydantic, filelock, pytz, python-dateutil, PyYAML) plus an OpenAPI generation step.

The protocol surface we need is small (six resources, seven parameters, three CRSs) and the
clients that matter — GDAL's OAPIF driver and OWSLib — are run against it in the tests.
"""

from gridgis.ogcapi.documents import collection, collections, conformance, item, items, landing
from gridgis.ogcapi.openapi import document as openapi
from gridgis.ogcapi.service import OgcService

__all__ = ["OgcService", "collection", "collections", "conformance", "item", "items", "landing", "openapi"]
