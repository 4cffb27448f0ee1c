"""The analytics commands of the `gridgis` CLI — heatmap, hotspots, trends, projects, raster — as thin wrappers.

Each command takes the same filters, writes ``-o FILE`` in the format its suffix names (through
:func:`gridgis.export.write`), optionally draws ``--chart FILE.png``, and prints a short summary with
zh/en headers. Errors are gridgis errors: the CLI group prints them and exits with status 2.
"""

from __future__ import annotations

from collections.abc import Callable

import click
import numpy as np
import pandas as pd

from gridgis.errors import ConfigError, InvalidInputError

RES_CHOICES = click.IntRange(0, 15)  # checked against 7–10 by the library, which names the allowed values
ENGINES = ("store", "dask")
BIN_LABELS = {3: ("热点 99%", "hot 99%"), 2: ("热点 95%", "hot 95%"), 1: ("热点 90%", "hot 90%"),
              0: ("不显著", "not significant"), -1: ("冷点 90%", "cold 90%"), -2: ("冷点 95%", "cold 95%"),
              -3: ("冷点 99%", "cold 99%")}


def filter_options(f: Callable) -> Callable:
    """The filters every analytics command shares."""
    options = [
        click.option("--since", help="Start (inclusive), ISO 8601, e.g. 2026-03-01 (local time when no offset)."),
        click.option("--until", help="End (exclusive), ISO 8601."),
        click.option("--category", "categories", multiple=True, metavar="CODE",
                     help="Demand category code (repeatable), e.g. --category SAFE --category PROP."),
        click.option("--type", "request_types", multiple=True, metavar="TYPE",
                     help="Request type (repeatable): 投诉/求助/咨询/建议/举报/表扬 or English aliases."),
        click.option("--status", "statuses", multiple=True, metavar="STATUS", help="Status (repeatable)."),
        click.option("--grid", "grids", multiple=True, metavar="CODE", help="Grid code (repeatable)."),
        click.option("--zone", "zone_file", type=click.Path(dir_okay=False),
                     help="Polygon file (GeoJSON/GPKG/SHP) limiting the requests and the study area."),
        click.option("--collapse-duplicates", is_flag=True, help="Count each issue once (repeats left out)."),
        click.option("--res", default=10, show_default=True, type=RES_CHOICES, help="H3 resolution 7–10."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def output_options(chart: bool = True) -> Callable:
    """-o/--output, --crs and (when ``chart``) --chart."""

    def deco(f: Callable) -> Callable:
        f = click.option("-o", "--output", type=click.Path(dir_okay=False),
                         help="Write the result to FILE: .geojson, .csv, .gpkg or .tif by suffix.")(f)
        f = click.option("--crs", help="CRS of .gpkg (default EPSG:4326; EPSG:4490, a GK zone such as EPSG:4544, "
                                       "or GK for the data's zone) or .tif (default EPSG:3857).")(f)
        if chart:
            f = click.option("--chart", type=click.Path(dir_okay=False), help="Also draw a PNG chart to FILE.png.")(f)
        return f
    return deco


def _filters(since, until, categories, request_types, statuses, grids, zone_file, collapse_duplicates):
    from gridgis.area import read_polygon_file
    from gridgis.heatmap.filters import Filters

    zone = None
    if zone_file:
        try:
            zone = read_polygon_file(zone_file, "zone")
        except ConfigError as exc:
            raise InvalidInputError(f"参数 --zone（区域多边形文件）/ --zone (zone polygon file): {exc}",
                                    field="zone") from exc
    return Filters(since=since, until=until, categories=tuple(categories), request_types=tuple(request_types),
                   statuses=tuple(statuses), grids=tuple(grids), zone=zone,
                   collapse_duplicates=bool(collapse_duplicates))


def engine_options(f: Callable) -> Callable:
    """--engine, --archive and --scheduler: where heatmap, hotspots and projects count."""
    options = [
        click.option("--engine", type=click.Choice(ENGINES), default="store", show_default=True,
                     help="store: count in the database; dask: count from a Parquet archive (--archive) with dask."),
        click.option("--archive", type=click.Path(file_okay=False),
                     help="Archive folder written by `gridgis archive export` (required with --engine dask)."),
        click.option("--scheduler", metavar="tcp://HOST:PORT",
                     help="Dask scheduler to run on (with --engine dask; default: threads in this process). Its "
                          "workers need gridgis installed and the archive at the same path."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _checked(kw: dict, output: str | None, chart: str | None, crs: str | None):
    """The filters (popped from kw), after checking the output and chart paths first, so a typo does not
    cost a whole analysis."""
    from gridgis.export import check_path
    from gridgis.heatmap.charts import check_path as check_chart

    if output:
        check_path(output)
        if crs and not output.lower().endswith((".gpkg", ".tif", ".tiff")):
            raise InvalidInputError("--crs 只用于 .gpkg 和 .tif；GeoJSON 与 CSV 总是 WGS84 经纬度 / --crs applies to "
                                    ".gpkg and .tif only: GeoJSON (RFC 7946) and CSV are always WGS84 lng/lat",
                                    field="crs")
    if chart:
        check_chart(chart)
    keys = ("since", "until", "categories", "request_types", "statuses", "grids", "zone_file",
            "collapse_duplicates")
    return _filters(*(kw.pop(k) for k in keys))


def _context(obj, kw: dict, output: str | None = None, chart: str | None = None, crs: str | None = None):
    """(settings, store, filters, res) from the click object and the shared options (popped from kw)."""
    from gridgis.storage import open_store

    f = _checked(kw, output, chart, crs)
    settings = obj.settings
    store = open_store(settings)
    click.get_current_context().call_on_close(store.close)
    return settings, store, f, kw.pop("res")


def _source(obj, kw: dict, output: str | None = None, chart: str | None = None, crs: str | None = None):
    """(settings, source, filters, res): the store engine, or the dask engine over --archive (the database is
    then not opened: the archive carries what the analysis needs)."""
    from gridgis.heatmap.sources import StoreSource

    engine, archive, scheduler = kw.pop("engine"), kw.pop("archive"), kw.pop("scheduler")
    if engine == "store":
        if archive or scheduler:
            raise InvalidInputError("--archive 与 --scheduler 只用于 --engine dask / --archive and --scheduler go with "
                                    "--engine dask", field="engine")
        settings, store, f, res = _context(obj, kw, output, chart, crs)
        return settings, StoreSource(store), f, res
    if not archive:
        raise InvalidInputError("--engine dask 需要 --archive PATH（gridgis archive export 写出的文件夹）/ "
                                "--engine dask needs --archive PATH, a folder written by `gridgis archive export`",
                                field="archive")
    from gridgis.heatmap.dask_engine import ArchiveSource

    f = _checked(kw, output, chart, crs)
    source = ArchiveSource(archive, scheduler)
    click.get_current_context().call_on_close(source.close)
    return obj.settings, source, f, kw.pop("res")


def _write(frame: pd.DataFrame, output: str | None, crs: str | None, **tif) -> None:
    from gridgis.export import write

    if not output:
        return
    suffix = output.lower().rsplit(".", 1)[-1]
    opts: dict = {}
    if crs and suffix in ("gpkg", "tif", "tiff"):
        opts["crs"] = crs
    if suffix in ("tif", "tiff"):
        if not len(frame):
            click.echo(f"结果为空，未写出 {output} / the result is empty: {output} not written")
            return
        opts.update({k: v for k, v in tif.items() if v is not None})
    write(frame, output, **opts)
    click.echo(f"已写出 / written: {output} ({len(frame)} 行 rows)")


def _table(frame: pd.DataFrame) -> str:
    from gridgis.heatmap.project_summary import to_text

    return to_text(frame) if len(frame) else "（空 / empty）"


def _taxonomy(settings):
    from gridgis.taxonomy import Taxonomy

    return Taxonomy.load(settings.taxonomy_file)


# ---------------------------------------------------------------------------------------------- heatmap
@click.command("heatmap")
@filter_options
@click.option("--by-category", is_flag=True, help="One row per cell and category (default: per cell).")
@click.option("--bucket", type=click.Choice(["day", "week", "month"]), help="Also split by local day/week/month.")
@click.option("--top", default=10, show_default=True, type=click.IntRange(0), help="Cells in the printed table.")
@engine_options
@output_options()
@click.pass_obj
def heatmap(obj, by_category, bucket, top, output, crs, chart, **kw) -> None:
    """Requests per H3 cell (× category × period) with rates and change: the demand heatmap."""
    settings, source, f, res = _source(obj, kw, output, chart, crs)
    tax = _taxonomy(settings)
    tz = settings.timezone
    df = source.aggregate(res, f, by_category=by_category, bucket=bucket, tz=tz, taxonomy=tax)
    n_cells = df["cell"].nunique()
    click.echo(f"{int(df['requests'].sum()):,} 条诉求，{n_cells} 个网格单元（H3 {res} 级）/ "
               f"{int(df['requests'].sum()):,} requests in {n_cells} cells (res {res})")
    if df.attrs.get("unplaced_requests"):
        click.echo(f"定位过粗未计入 / placed too coarsely, not counted: {df.attrs['unplaced_requests']}")
    cats = source.aggregate(res, f, by_category=True, bucket="month" if chart else None, tz=tz, taxonomy=tax)
    per_cat = cats.groupby("category", as_index=False)[["requests", "issues"]].sum()
    names = {c.code: c.name_zh for c in tax.categories}
    per_cat.insert(1, "name", per_cat["category"].map(names))
    per_cat = per_cat.sort_values(["requests", "category"], ascending=[False, True])
    click.echo(_table(per_cat.rename(columns={"category": "类别/category", "name": "名称/name",
                                              "requests": "诉求/requests", "issues": "问题/issues"})))
    if top:
        cells = df.groupby("cell_id", as_index=False)[["requests", "issues"]].sum()
        cells = cells.sort_values(["requests", "cell_id"], ascending=[False, True]).head(top)
        click.echo(_table(cells.rename(columns={"cell_id": "网格单元/cell", "requests": "诉求/requests",
                                                "issues": "问题/issues"})))
    _write(df, output, crs)
    if chart:
        from gridgis.heatmap.charts import category_months

        click.echo(f"图表 / chart: {category_months(cats, chart, tax)}")


# --------------------------------------------------------------------------------------------- hotspots
@click.command("hotspots")
@filter_options
@click.option("--k", default=1, show_default=True, type=int, help="Neighbourhood rings of Gi* (1–10).")
@click.option("--metric", type=click.Choice(["requests", "issues"]), default="requests", show_default=True)
@click.option("--fdr/--no-fdr", default=True, show_default=True, help="False discovery rate correction of bins.")
@click.option("--top", default=10, show_default=True, type=click.IntRange(0), help="Hot cells in the table.")
@engine_options
@output_options()
@click.pass_obj
def hotspots(obj, k, metric, fdr, top, output, crs, chart, **kw) -> None:
    """Getis-Ord Gi* hot and cold spots on the study area's cells (with FDR)."""
    from gridgis.heatmap.hotspots import fill_values, gi_star
    from gridgis.heatmap.study import study_cells

    settings, source, f, res = _source(obj, kw, output, chart, crs)
    totals = source.cell_totals(res, f, tz=settings.timezone, taxonomy=_taxonomy(settings))
    study = study_cells(source, settings, f, res, k=k, data_cells=totals["cell"].to_numpy(np.uint64))
    values = fill_values(study, totals["cell"].to_numpy(np.uint64), totals[metric].to_numpy(float))
    r = gi_star(study, values, k, fdr=fdr)
    df = r.to_frame().rename(columns={"value": metric})
    df[metric] = df[metric].round().astype(np.int64)  # counts, filled with 0 outside the data
    df.insert(1, "cell_id", pd.array(_hex(study), dtype="str"))
    df["class_zh"] = [BIN_LABELS[int(b)][0] for b in df["bin"]]
    df["class_en"] = [BIN_LABELS[int(b)][1] for b in df["bin"]]
    click.echo(f"{int(values.sum()):,} 条诉求，研究区 {study.size} 个网格单元（H3 {res} 级，k={k}）/ "
               f"{int(values.sum()):,} {metric} on {study.size} study cells (res {res}, k={k})")
    if not r.significant:
        click.echo(r.reason)
    counts = df["bin"].value_counts()
    click.echo(_table(pd.DataFrame({"类别/class": [f"{zh} / {en}" for zh, en in BIN_LABELS.values()],
                                    "网格单元/cells": [int(counts.get(b, 0)) for b in BIN_LABELS]})))
    if top:
        hot = df[df["bin"] > 0].sort_values(["bin", metric, "z", "cell_id"],
                                            ascending=[False, False, False, True]).head(top)
        click.echo(_table(hot[["cell_id", metric, "z", "bin"]].rename(columns={
            "cell_id": "网格单元/cell", metric: f"诉求/{metric}", "z": "Gi* z", "bin": "置信/bin"})))
    _write(df, output, crs, value=metric)
    if chart:
        from gridgis.heatmap.charts import top_cells

        click.echo(f"图表 / chart: {top_cells(df, chart, value=metric)}")


def _hex(cells) -> np.ndarray:
    from gridgis import grid

    return grid.cells_to_str(cells)


# ----------------------------------------------------------------------------------------------- trends
@click.command("trends")
@filter_options
@click.option("--bucket", type=click.Choice(["week", "month"]), default="week", show_default=True,
              help="Time step of the space-time cube.")
@click.option("--k", default=1, show_default=True, type=int, help="Neighbourhood rings (1–10).")
@click.option("--time-window", default=1, show_default=True, type=int, help="Earlier steps in each neighbourhood.")
@click.option("--alpha", default=0.10, show_default=True, type=float, help="Significance level after FDR.")
@output_options(chart=False)
@click.pass_obj
def trends(obj, bucket, k, time_window, alpha, output, crs, **kw) -> None:
    """Emerging hot spots: new, intensifying, persistent, diminishing … hot and cold spots per cell."""
    from gridgis.heatmap.aggregate import aggregate
    from gridgis.heatmap.emerging import TREND_LABELS, emerging_hot_spots
    from gridgis.heatmap.study import analysis_span, space_time_cube, study_cells

    settings, store, f, res = _context(obj, kw, output, crs=crs)
    tz = settings.timezone
    df = aggregate(store, res, f, by_category=False, bucket=bucket, tz=tz, taxonomy=_taxonomy(settings))
    study = study_cells(store, settings, f, res, k=k, data_cells=df["cell"].to_numpy(np.uint64))
    cube = space_time_cube(df, study, analysis_span(store, f), bucket, tz)
    out = emerging_hot_spots(study, cube, k=k, time_window=time_window, alpha=alpha)
    out.insert(1, "cell_id", pd.array(_hex(study), dtype="str"))
    out.insert(2, "requests", cube.sum(axis=1))
    click.echo(f"{int(cube.sum()):,} 条诉求，{study.size} 个网格单元 × {cube.shape[1]} 个时间步（{bucket}）/ "
               f"{int(cube.sum()):,} requests, {study.size} cells × {cube.shape[1]} {bucket} steps")
    if out.attrs.get("reason"):
        click.echo(out.attrs["reason"])
    counts = out["trend"].value_counts()
    rows = [(zh, en, int(counts.get(code, 0))) for code, (zh, en) in TREND_LABELS.items() if counts.get(code, 0)]
    click.echo(_table(pd.DataFrame(rows, columns=["趋势", "trend", "网格单元/cells"])))
    _write(out, output, crs)


# --------------------------------------------------------------------------------------------- projects
@click.command("projects")
@filter_options
@click.option("--k", default=1, show_default=True, type=int, help="Neighbourhood rings of Gi* (1–10).")
@click.option("--gap", default=0, show_default=True, type=click.IntRange(0, 1),
              help="1: hot cells one cell apart still form one candidate.")
@click.option("--min-cells", default=2, show_default=True, type=int, help="Smallest candidate in cells.")
@click.option("--min-bin", default=2, show_default=True, type=click.IntRange(1, 3),
              help="Hot cell confidence: 1 = 90 %, 2 = 95 %, 3 = 99 % (after FDR).")
@click.option("--trend-bucket", type=click.Choice(["week", "month"]), default="week", show_default=True)
@click.option("--brief", is_flag=True, help="Only the headline and the table, no block per candidate.")
@click.option("--candidate", "chart_candidate", help="Candidate id for --chart (default: rank 1).")
@engine_options
@output_options()
@click.pass_obj
def projects(obj, k, gap, min_cells, min_bin, trend_bucket, brief, chart_candidate, output, crs, chart,
             **kw) -> None:
    """Priority project candidates: contiguous hot cells per category, scored and ranked."""
    from gridgis.heatmap.projects import find_candidates

    settings, source, f, res = _source(obj, kw, output, chart, crs)
    c = find_candidates(source, settings, f, res=res, k=k, gap=gap, min_cells=min_cells, min_bin=min_bin,
                        trend_bucket=trend_bucket)
    click.echo(c.summary_text(detail=not brief))
    _write(c.table, output, crs)
    if chart:
        from gridgis.heatmap.charts import candidate_trend

        click.echo(f"图表 / chart: {candidate_trend(c, chart, chart_candidate)}")


# ----------------------------------------------------------------------------------------------- raster
@click.command("raster")
@filter_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="GeoTIFF file (.tif).")
@click.option("--crs", default="EPSG:3857", show_default=True,
              help="Projected CRS in metres: EPSG:3857 or a CGCS2000 Gauss-Krüger zone such as EPSG:4544.")
@click.option("--method", type=click.Choice(["cells", "kde"]), default="cells", show_default=True,
              help="cells: each cell's value; kde: Gaussian kernel density (requests per km²).")
@click.option("--pixel-size", type=float, help="Pixel size in CRS units (default half a cell edge).")
@click.option("--bandwidth", "bandwidth_m", type=float, help="KDE bandwidth in metres (default two cell edges).")
@click.option("--value", type=click.Choice(["requests", "issues"]), default="requests", show_default=True)
@click.option("--by-category/--total", default=True, show_default=True, help="One extra band per category.")
@click.pass_obj
def raster(obj, output, crs, method, pixel_size, bandwidth_m, value, by_category, **kw) -> None:
    """A GeoTIFF demand surface (band 1 the total, then one band per category)."""
    from gridgis.export import write
    from gridgis.heatmap.aggregate import aggregate

    if not output.lower().endswith((".tif", ".tiff")):
        raise InvalidInputError(f"raster 只写 GeoTIFF（.tif）/ raster writes GeoTIFF (.tif), got {output}",
                                field="output")
    settings, store, f, res = _context(obj, kw, output, crs=crs)
    df = aggregate(store, res, f, by_category=by_category, tz=settings.timezone, taxonomy=_taxonomy(settings))
    if not len(df):
        click.echo(f"结果为空，未写出 {output} / the result is empty: {output} not written")
        return
    tags = {"res": res, "since": f.since or "", "until": f.until or "", "value": value,
            "categories": ",".join(f.categories)}
    write(df, output, value=value, by_category=by_category, crs=crs, method=method, pixel_size=pixel_size,
          bandwidth_m=bandwidth_m, tags=tags)
    click.echo(f"已写出 / written: {output} — {int(df[value].sum()):,} {value} in {df['cell'].nunique()} cells "
               f"(res {res}, {method}, {crs})")


def register(group: click.Group) -> None:
    """Add heatmap, hotspots, trends, projects and raster to the `gridgis` command group."""
    for cmd in (heatmap, hotspots, trends, projects, raster):
        group.add_command(cmd)
