"""/api/export/<kind>.<format>: an export of any KIND as a file download, over gridgis.export.kinds.

The same filters as /api/cells (``res``, ``bbox``, ``since``, ``until``, ``category``, ``type``, ``status``,
``grid``, ``zone``) plus ``crs`` (.gpkg/.tif) and ``bom`` (.csv, default 1). The caller (a logged-in user
or an API token, see webmap.access) needs ``export:aggregates``, and ``export:requests`` for requests.
Every export is audited by the user's or token's name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from flask import Blueprint, Response, request

from gridgis.errors import InvalidInputError, NotFoundError
from gridgis.export.kinds import KINDS, check_format, export
from webmap import context, filters, params
from webmap.access import require, rule
from webmap.cells_api import _agg_filters
from webmap.tokens import client_name

bp = Blueprint("export", __name__, url_prefix="/api")

MEDIA = {"geojson": "application/geo+json", "csv": "text/csv; charset=utf-8",
         "gpkg": "application/geopackage+sqlite3", "tif": "image/tiff"}
PARAMS = {"res", "bbox", "since", "until", "category", "type", "status", "grid", "zone", "crs", "bom", "lang"}


def _bom() -> bool:
    raw = (request.args.get("bom") or "1").strip().lower()
    if raw not in ("1", "0", "true", "false", "yes", "no"):
        raise InvalidInputError(f"bom 须为 1 或 0 / bom must be 1 or 0, got {raw!r}", field="bom")
    return raw in ("1", "true", "yes")


@bp.get("/export/<name>")
@rule("export:aggregates")
def export_file(name: str):
    kind, dot, fmt = name.rpartition(".")
    if not dot or kind not in KINDS:
        kind = kind or name
        raise NotFoundError(f"没有这种导出 {kind!r}，可选：{', '.join(KINDS)} / no export named {kind!r}; "
                            f"choose one of {', '.join(KINDS)}", field="kind")
    fmt = check_format(kind, fmt)
    unknown = sorted(set(request.args) - PARAMS)
    if unknown:
        raise InvalidInputError(f"未知参数 {unknown[0]!r}，可用：{', '.join(sorted(PARAMS))} / unknown parameter "
                                f"{unknown[0]!r}; allowed: {', '.join(sorted(PARAMS))}", field=unknown[0])
    require("export:requests" if kind == "requests" else "export:aggregates")
    res = params.get_int("res", 9, 7, 10)
    f = filters.parse_filters()
    crs = request.args.get("crs") or None
    tmp = Path(tempfile.mkdtemp(prefix="gridgis-export-"))
    try:
        out = tmp / f"{kind}-r{res}.{fmt}" if kind in ("cells", "hotspots", "trends", "projects") else \
            tmp / f"{kind}.{fmt}"
        export(context.store(), context.settings(), kind, out, _agg_filters(f), who=client_name(), crs=crs,
               bom=_bom(), res=res, bbox=f.bbox, taxonomy=context.taxonomy(),
               audit_extra={"endpoint": f"/api/export/{name}", **({"zone_id": f.zone} if f.zone else {})})
        fh = open(out, "rb")  # noqa: SIM115 (closed by _chunks)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the open handle keeps the data readable (POSIX)
    resp = Response(_chunks(fh), mimetype=MEDIA[fmt])
    resp.headers["Content-Length"] = str(os.fstat(fh.fileno()).st_size)
    resp.headers["Content-Disposition"] = f'attachment; filename="{out.name}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _chunks(fh, size: int = 1 << 20):
    """The file in 1 MiB pieces; closed when sent or when the client goes away (generator closed)."""
    try:
        while block := fh.read(size):
            yield block
    finally:
        fh.close()
