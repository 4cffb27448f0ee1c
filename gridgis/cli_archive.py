"""The `gridgis archive export PATH` command: a thin wrapper over :func:`gridgis.archive.export_archive`."""

from __future__ import annotations

import click

from gridgis.cli_export import _who


@click.group("archive")
def archive() -> None:
    """Request archives: GeoParquet datasets by month for the dask engine (--engine dask)."""


@archive.command("export")
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--since", help="Start (inclusive), ISO 8601, e.g. 2026-03-01 (local time when no offset).")
@click.option("--until", help="End (exclusive), ISO 8601.")
@click.option("--category", "categories", multiple=True, metavar="CODE",
              help="Demand category code (repeatable), e.g. --category SAFE --category PROP.")
@click.option("--chunk-rows", default=100_000, show_default=True, type=click.IntRange(1),
              help="Requests read and written at a time: memory follows this, not the table size.")
@click.pass_obj
def archive_export(obj, path, since, until, categories, chunk_rows) -> None:
    """Write the requests to PATH, a GeoParquet dataset partitioned by local month (PATH/month=2026-03/).

    Re-running into the same PATH replaces every month it writes, whole and atomically per month (staged
    in a temporary folder, then renamed in); other months stay. A month only partly inside --since/--until
    is replaced by that part, so update an archive with whole months. Reporter names, phones and free
    source columns are never written; texts are scrubbed and addresses cut to the 小区/栋.
    """
    from gridgis.archive import export_archive
    from gridgis.storage import open_store

    settings = obj.settings
    store = open_store(settings)
    click.get_current_context().call_on_close(store.close)
    report = export_archive(store, settings, path, since=since, until=until, categories=tuple(categories),
                            chunk_rows=chunk_rows, who=_who())
    months = report["months"]
    click.echo(f"已写出 / written: {report['path']} — {report['rows']:,} 条诉求 requests, {len(months)} 个月 months"
               + (f" ({min(months)} … {max(months)})" if months else ""))
    if report["replaced"]:
        click.echo(f"已替换 / replaced: {', '.join(report['replaced'])}")


def register(group: click.Group) -> None:
    """Add `archive export` to the `gridgis` command group."""
    group.add_command(archive)
