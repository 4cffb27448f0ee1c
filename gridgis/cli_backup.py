"""`gridgis db backup FILE` and `gridgis db restore FILE [--yes]`: thin wrappers over gridgis.storage.backup."""

from __future__ import annotations

import click


def _summary(result) -> str:
    tables = ", ".join(f"{t} {n:,}" for t, n in result.counts.items() if n and t in ("requests", "zones", "users"))
    return (f"{result.bytes / 1e6:,.1f} MB, {result.rows:,} rows ({tables or '-'}), "
            f"schema {result.revision}, {result.seconds:.1f} s")


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite FILE when it exists.")
@click.pass_obj
def db_backup(obj, file: str, force: bool) -> None:
    """Copy the live SQLite database to FILE with SQLite's online backup (safe while the app serves and
    imports run; FILE passes PRAGMA integrity_check before it appears). PostgreSQL: use pg_dump."""
    from gridgis.storage.backup import backup_database

    result = backup_database(obj.settings.database_url, file, overwrite=force)
    click.echo(f"已备份 / backed up to {result.path}: {_summary(result)}")


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="Replace a database that already holds data.")
@click.pass_obj
def db_restore(obj, file: str, yes: bool) -> None:
    """Replace the live SQLite database with the backup FILE, atomically: FILE is checked (integrity,
    schema not newer than this gridgis; an older schema is upgraded) before anything changes."""
    from gridgis.storage.backup import restore_database

    result = restore_database(obj.settings.database_url, file, replace=yes)
    if result.upgraded_from:
        click.echo(f"备份的结构版本 {result.upgraded_from} 已升级 / the backup's schema {result.upgraded_from} "
                   f"was upgraded to {result.revision}")
    click.echo(f"已恢复 / restored {result.path} from {file}: {_summary(result)}")


def register(main: click.Group) -> None:
    db = main.commands["db"]
    db.add_command(db_backup)
    db.add_command(db_restore)
