"""The `gridgis export KIND -o FILE` command: a thin wrapper over :func:`gridgis.export.kinds.export`.

KIND is cells, hotspots, trends, projects, zones, grids or requests; the format comes from the file's
suffix (.geojson, .csv, .gpkg, .tif for cells/hotspots). The analytics filters are the ones every
analytics command shares (:func:`gridgis.cli_heatmap.filter_options`). Every export is audited as
``export.<kind>`` by ``cli:<os user>``.
"""

from __future__ import annotations

import getpass

import click

from gridgis.cli_heatmap import _context, filter_options
from gridgis.errors import InvalidInputError
from gridgis.export.kinds import KINDS


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (containers without a passwd entry)
        return "cli:unknown"


def _bbox(text: str | None):
    if not text:
        return None
    try:
        parts = tuple(float(v) for v in text.split(","))
    except ValueError as exc:
        raise InvalidInputError("--bbox 须为 min_lng,min_lat,max_lng,max_lat / --bbox must be "
                                "min_lng,min_lat,max_lng,max_lat", field="bbox") from exc
    if len(parts) != 4:
        raise InvalidInputError("--bbox 需要 4 个数 / --bbox needs 4 numbers", field="bbox")
    return parts


@click.command("export")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="File to write: .geojson (RFC 7946), .csv, .gpkg or .tif (cells, hotspots) by suffix.")
@filter_options
@click.option("--bbox", help="Only what touches min_lng,min_lat,max_lng,max_lat (WGS84).")
@click.option("--crs", help="CRS of .gpkg (default EPSG:4326; EPSG:4490, a GK zone such as EPSG:4544, or GK "
                            "for the data's zone) or .tif (default EPSG:3857).")
@click.option("--bom/--no-bom", default=True, show_default=True, help="CSV: UTF-8 BOM so Excel reads Chinese.")
@click.option("--snap/--no-snap", default=None,
              help="requests: points at their cell's centre (default: the export_snap_points setting).")
@click.option("--by-category", is_flag=True, help="cells: one row per cell and category.")
@click.pass_obj
def export_cmd(obj, kind, output, bbox, crs, bom, snap, by_category, **kw) -> None:
    """Export KIND under the privacy policy (no names or phones; cells below k requests left out)."""
    from gridgis.export.kinds import export

    settings, store, f, res = _context(obj, kw, output)
    opts = {"by_category": True} if by_category and kind == "cells" else {}
    meta = export(store, settings, kind, output, f, who=_who(), crs=crs, bom=bom, res=res, bbox=_bbox(bbox),
                  snap=snap, **opts)
    line = f"已写出 / written: {output} ({meta['rows']} 行 rows, {meta['crs']})"
    if meta.get("suppressed"):
        line += (f"；少于 {meta['k']} 条诉求的 {meta['suppressed']} 个已隐去 / {meta['suppressed']} below "
                 f"k={meta['k']} requests withheld")
    click.echo(line)


def register(group: click.Group) -> None:
    """Add `export` to the `gridgis` command group."""
    group.add_command(export_cmd)
