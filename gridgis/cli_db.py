"""`gridgis db copy SRC_URL DST_URL`: move a whole database between backends (a thin wrapper over
:func:`gridgis.storage.transfer.copy_database`)."""

from __future__ import annotations

import click

from gridgis.storage.transfer import DEFAULT_CHUNK_ROWS


@click.command("copy")
@click.argument("src_url")
@click.argument("dst_url")
@click.option("--replace", is_flag=True, help="Overwrite a target that already holds data (in the same transaction).")
@click.option("--chunk-rows", type=click.IntRange(min=1), default=DEFAULT_CHUNK_ROWS, show_default=True,
              help="Rows read and written at a time (bounds memory).")
def db_copy(src_url: str, dst_url: str, replace: bool, chunk_rows: int) -> None:
    """Copy every table of SRC_URL into DST_URL (e.g. sqlite:///var/gridgis.sqlite3 to
    postgresql+psycopg://user:pw@host/db), in one transaction on the target, which is initialised when
    empty. Prints the rows copied per table."""
    from gridgis.storage.engine import safe_url
    from gridgis.storage.transfer import copy_database

    counts = copy_database(src_url, dst_url, replace=replace, chunk_rows=chunk_rows)
    click.echo(f"已复制 / copied {safe_url(src_url)} → {safe_url(dst_url)}")
    width = max(len(name) for name in counts)
    for name, n in counts.items():
        click.echo(f"  {name:<{width}}  {n:>10,}")
    click.echo(f"  {'total':<{width}}  {sum(counts.values()):>10,}")


def register(main: click.Group) -> None:
    main.commands["db"].add_command(db_copy)
