"""The `gridgis requests` commands (status, history, overdue): thin wrappers over gridgis.workflow and deadlines."""

from __future__ import annotations

import getpass
import json

import click
import pandas as pd

from gridgis.workflow import STATUSES


def _store(obj):
    from gridgis.storage import open_store

    return open_store(obj.settings)


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (containers)
        return "cli"


def _iso(t) -> str | None:
    return None if t is None or pd.isna(t) else pd.Timestamp(t).isoformat()


@click.group("requests")
def requests_group() -> None:
    """The request workflow: change a status, show a request's history, list overdue requests."""


@requests_group.command("status")
@click.argument("request_id")
@click.argument("status", type=click.Choice(list(STATUSES)))
@click.option("--note", help="Why (required for invalid, duplicate, reopening, sending back, restoring).")
@click.option("--actor", default=_default_actor, show_default="cli:<login name>", help="Who makes the change.")
@click.option("--expected", "expected_status", type=click.Choice(list(STATUSES)),
              help="Refuse when the request is no longer in this status (someone changed it meanwhile).")
@click.pass_obj
def requests_status(obj, request_id: str, status: str, note: str | None, actor: str,
                    expected_status: str | None) -> None:
    """Move request REQUEST_ID to STATUS (受理 new, 派单 assigned, 处置中 in_progress, 已办结 resolved, 已回访 verified,
    无效 invalid, 重复 duplicate); recorded with who, when and the note."""
    from gridgis.workflow import change_status, label

    ev = change_status(_store(obj), request_id, status, actor=actor, note=note, expected_status=expected_status)
    click.echo(f"{ev.request_id}: {label(ev.from_status)} → {label(ev.to_status)} "
               f"({ev.actor}, {ev.to_dict(obj.settings.timezone)['at']})")


@requests_group.command("history")
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@click.pass_obj
def requests_history(obj, request_id: str, as_json: bool) -> None:
    """Every status change of REQUEST_ID, oldest first: time, who, from, to, note."""
    from gridgis.workflow import request_history

    df = request_history(_store(obj), request_id, tz=obj.settings.timezone)
    if df.empty and not as_json:
        click.echo("尚无状态变更 / no status changes yet")
    for r in df.to_dict("records"):
        if as_json:
            click.echo(json.dumps({**r, "at": _iso(r["at"])}, ensure_ascii=False))
        else:
            click.echo("\t".join([_iso(r["at"]), r["actor"], r["from_status"], r["to_status"], r["note"] or ""]))


@requests_group.command("overdue")
@click.option("--grid", "grids", multiple=True, help="Only this grid code (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@click.pass_obj
def requests_overdue(obj, grids: tuple[str, ...], as_json: bool) -> None:
    """Requests past their deadline (deadline_hours_* settings, deadline_file), most overdue first."""
    from gridgis.deadlines import overdue_requests

    df = overdue_requests(_store(obj), obj.settings, grids=grids or None)
    if df.empty and not as_json:
        click.echo("没有超期诉求 / no overdue requests")
    for r in df.to_dict("records"):
        row = {"id": r["id"], "grid_code": r["grid_code"], "category": r["category"], "status": r["status"],
               "created_at": _iso(r["created_at"]), "status_changed_at": _iso(r["status_changed_at"]),
               "due_at": _iso(r["due_at"]), "overdue_hours": float(r["overdue_hours"])}
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            click.echo("\t".join([row["id"], row["grid_code"] or "-", row["category"], STATUSES[row["status"]][0],
                                  row["due_at"], f"{row['overdue_hours']:g} h"]))


def register(group: click.Group) -> None:
    """Add `requests` to the `gridgis` command group."""
    group.add_command(requests_group)
