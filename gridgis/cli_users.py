"""The `gridgis users` commands (add, list, disable, enable, reset-password): thin wrappers over gridgis.accounts.

A generated password is printed once, on stdout alone on its line (so a script can capture it); the
messages around it go to stderr. ``--password-stdin`` reads the password from the first line of stdin
instead, so it never appears in the shell history or the process list.
"""

from __future__ import annotations

import json
import sys

import click
import pandas as pd

from gridgis.roles import ROLES


def _store(obj):
    from gridgis.storage import open_store

    return open_store(obj.settings)


def _when(epoch, tz: str) -> str:
    if epoch is None or pd.isna(epoch):
        return "-"
    return pd.Timestamp(int(epoch), unit="s", tz="UTC").tz_convert(tz).strftime("%Y-%m-%d %H:%M")


def _text(value) -> str:
    return "-" if value is None or pd.isna(value) or value == "" else str(value)


def _stdin_password() -> str:
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def _show_generated(password: str | None) -> None:
    if password is not None:
        click.echo("已生成密码，请立即交给用户，此密码不会再次显示 / generated password (shown once):", err=True)
        click.echo(password)


@click.group("users")
def users_group() -> None:
    """User accounts of the web map: add, list, disable, enable, reset-password."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(list(ROLES)),
              help="; ".join(f"{k}: {v}" for k, v in ROLES.items()))
@click.option("--grid", "grids", multiple=True, metavar="CODE",
              help="A grid code the grid worker serves (repeatable; grid_worker only).")
@click.option("--display-name", help="Name shown on the map page, e.g. 王芳.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (else one is generated).")
@click.pass_obj
def users_add(obj, name: str, role: str, grids: tuple[str, ...], display_name: str | None,
              password_stdin: bool) -> None:
    """Create the user NAME with a role; prints a generated password once unless --password-stdin."""
    from gridgis.accounts import create_user

    password = _stdin_password() if password_stdin else None
    row, generated = create_user(_store(obj), name, role, password=password, grids=grids,
                                 display_name=display_name, created_by="cli")
    where = f"; grids: {row['grids']}" if row["grids"] else ""
    click.echo(f"已创建用户 / user created: {row['username']} (role: {row['role']}{where})", err=True)
    _show_generated(generated)


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def users_list(obj, as_json: bool) -> None:
    """List users: name, state, role, grids, display name, created, last login (never passwords)."""
    from gridgis.accounts import list_users

    df = list_users(_store(obj))
    if as_json:
        records = df.astype(object).where(df.notna(), None).to_dict("records")
        click.echo(json.dumps(records, ensure_ascii=False, indent=2, default=int))
        return
    if df.empty:
        click.echo("没有用户 / no users: add one with `gridgis users add NAME --role …`")
        return
    tz = obj.settings.timezone
    click.echo("name\tstate\trole\tgrids\tdisplay name\tcreated\tlast login")
    for r in df.to_dict("records"):
        click.echo("\t".join([r["username"], r["state"], r["role"], _text(r["grids"]), _text(r["display_name"]),
                              _when(r["created_at"], tz), _when(r["last_login_at"], tz)]))


@users_group.command("disable")
@click.argument("name")
@click.pass_obj
def users_disable(obj, name: str) -> None:
    """Disable NAME: its logins are refused and its open sessions end at once."""
    from gridgis.accounts import disable_user

    row = disable_user(_store(obj), name)
    click.echo(f"已停用，会话已失效 / disabled, sessions ended: {row['username']}")


@users_group.command("enable")
@click.argument("name")
@click.pass_obj
def users_enable(obj, name: str) -> None:
    """Enable NAME again (with the password it had)."""
    from gridgis.accounts import enable_user

    row = enable_user(_store(obj), name)
    click.echo(f"已启用 / enabled: {row['username']}")


@users_group.command("reset-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from stdin (else one is generated).")
@click.pass_obj
def users_reset_password(obj, name: str, password_stdin: bool) -> None:
    """Give NAME a new password (printed once when generated); its open sessions end."""
    from gridgis.accounts import reset_password

    password = _stdin_password() if password_stdin else None
    row, generated = reset_password(_store(obj), name, password)
    click.echo(f"已重置密码，会话已失效 / password reset, sessions ended: {row['username']}", err=True)
    _show_generated(generated)


def register(group: click.Group) -> None:
    """Add `users` to the `gridgis` command group."""
    group.add_command(users_group)
