"""The `gridgis tokens` (create, list, revoke) and `gridgis audit` commands: thin wrappers over tokens and audit.

The secret of a new token is printed once, on stdout alone on its line, so a script can capture it;
only its SHA-256 is stored.
"""

from __future__ import annotations

import json

import click
import pandas as pd

from gridgis.tokens import SCOPES


def _store(obj):
    from gridgis.storage import open_store

    return open_store(obj.settings)


def _when(epoch, tz: str) -> str:
    if epoch is None or pd.isna(epoch):
        return "-"
    return pd.Timestamp(int(epoch), unit="s", tz="UTC").tz_convert(tz).strftime("%Y-%m-%d %H:%M")


@click.group("tokens")
def tokens_group() -> None:
    """API tokens for machine clients (city GIS, apps, hotline systems): create, list, revoke."""


@tokens_group.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(list(SCOPES)),
              help="What the token may do (repeatable): " + "; ".join(f"{k}: {v}" for k, v in SCOPES.items()))
@click.option("--expires", "expires_days", type=click.IntRange(min=1), metavar="DAYS",
              help="Days until the token stops working (default: never; revoke it instead).")
@click.pass_obj
def tokens_create(obj, name: str, scopes: tuple[str, ...], expires_days: int | None) -> None:
    """Create a token NAME and print it once (only its hash is stored: keep it now)."""
    from gridgis.tokens import create_token

    secret, token = create_token(_store(obj), name, scopes, expires_days, created_by="cli")
    tz = obj.settings.timezone
    click.echo(f"已创建令牌 / token created: {token.name} (scopes: {' '.join(token.scopes)}; expires: "
               f"{_when(token.expires_at, tz)})", err=True)
    click.echo("请立即保存，此令牌不会再次显示 / store it now: it is not shown again", err=True)
    click.echo(secret)


@tokens_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def tokens_list(obj, as_json: bool) -> None:
    """List tokens: name, state, scopes, prefix, created, expires, last used (never the token itself)."""
    from gridgis.tokens import list_tokens

    df = list_tokens(_store(obj))
    if as_json:
        records = df.astype(object).where(df.notna(), None).to_dict("records")
        click.echo(json.dumps(records, ensure_ascii=False, indent=2, default=int))
        return
    if df.empty:
        click.echo("没有令牌 / no tokens: create one with `gridgis tokens create NAME --scope …`")
        return
    tz = obj.settings.timezone
    click.echo("name\tstate\tscopes\tprefix\tcreated\texpires\tlast used")
    for r in df.to_dict("records"):
        click.echo("\t".join([r["name"], r["state"], r["scopes"], r["prefix"] + "…", _when(r["created_at"], tz),
                              _when(r["expires_at"], tz), _when(r["last_used_at"], tz)]))


@tokens_group.command("revoke")
@click.argument("name")
@click.pass_obj
def tokens_revoke(obj, name: str) -> None:
    """Revoke the token NAME: it is refused from now on (the name stays reserved for the audit log)."""
    from gridgis.tokens import revoke_token

    token = revoke_token(_store(obj), name)
    click.echo(f"已吊销 / revoked: {token.name} (at {_when(token.revoked_at, obj.settings.timezone)})")


@click.command("audit")
@click.option("--who", help="Only this client (token name or user).")
@click.option("--what", help="Only this kind, e.g. open311.requests, open311.submit, export.cells.")
@click.option("--since", help="Start (inclusive), ISO 8601; local time when no offset.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1), help="Newest rows to print.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@click.pass_obj
def audit_cmd(obj, who, what, since, limit, as_json) -> None:
    """Show the audit log: who exported or pulled what, with which filters, when, how many rows."""
    from gridgis import audit
    from gridgis.errors import InvalidInputError

    tz = obj.settings.timezone
    start = None
    if since:
        try:
            start = pd.Timestamp(since)
        except ValueError as exc:
            raise InvalidInputError(f"--since 须为 ISO 8601 / --since must be ISO 8601, got {since!r}",
                                    field="--since") from exc
        start = start.tz_localize(tz) if start.tzinfo is None else start
    df = audit.records(_store(obj), who=who, what=what, since=start, limit=limit, tz=tz)
    for r in df.to_dict("records"):
        when = r["created_at"].isoformat()
        if as_json:
            click.echo(json.dumps({**r, "created_at": when}, ensure_ascii=False))
        else:
            filters = json.dumps(r["filters"], ensure_ascii=False)
            click.echo(f"{when}\t{r['who']}\t{r['what']}\t{r['rows']}\t{filters}")


def register(group: click.Group) -> None:
    """Add `tokens` and `audit` to the `gridgis` command group."""
    group.add_command(tokens_group)
    group.add_command(audit_cmd)
