"""`gridgis requests status/history/overdue` through click's runner on a real database."""

from __future__ import annotations

import json
import os
import time

import pytest
from click.testing import CliRunner

from gridgis.cli import main
from gridgis.config import load_settings
from gridgis.storage import open_store

from .test_workflow import GRID_A, _import, _rows


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for k in list(os.environ):
        if k.startswith("GRIDGIS_"):
            monkeypatch.delenv(k)
    return CliRunner()


@pytest.fixture
def db(tmp_path, runner):
    cfg = tmp_path / "gridgis.toml"
    cfg.write_text('database_url = "sqlite:///db.sqlite3"\n', encoding="utf-8")
    args = ["--config", str(cfg)]
    assert runner.invoke(main, [*args, "db", "init"]).exit_code == 0
    store = open_store(load_settings(cfg, env={}))
    rows = _rows(4)
    rows["created_at"] = int(time.time()) - 3600 * 30  # 30 h ago: past the 24 h deadline of "new"
    rows.loc[3, "created_at"] = int(time.time())  # just in: not overdue
    _import(store, rows)
    yield args, store
    store.close()


def test_status_then_history(runner, db):
    args, store = db
    r = runner.invoke(main, [*args, "requests", "status", "t:0", "assigned", "--actor", "王书记"])
    assert r.exit_code == 0, r.output
    assert "受理 New → 派单 Assigned" in r.output and "王书记" in r.output
    assert store.get_request("t:0")["status"] == "assigned"
    r = runner.invoke(main, [*args, "requests", "history", "t:0", "--json"])
    assert r.exit_code == 0, r.output
    (ev,) = [json.loads(line) for line in r.output.splitlines()]
    assert (ev["actor"], ev["from_status"], ev["to_status"]) == ("王书记", "new", "assigned")
    assert ev["at"].endswith("+08:00")


def test_refusals_exit_2_with_one_message_and_change_nothing(runner, db):
    args, store = db
    r = runner.invoke(main, [*args, "requests", "status", "t:0", "resolved"])
    assert r.exit_code == 2 and "assigned" in r.output and "Traceback" not in r.output
    r = runner.invoke(main, [*args, "requests", "status", "t:0", "invalid"])
    assert r.exit_code == 2 and "note" in r.output
    r = runner.invoke(main, [*args, "requests", "status", "t:0", "assigned", "--expected", "in_progress"])
    assert r.exit_code == 2 and "meanwhile" in r.output
    r = runner.invoke(main, [*args, "requests", "status", "nope", "assigned"])
    assert r.exit_code == 2 and "not found" in r.output
    r = runner.invoke(main, [*args, "requests", "status", "t:0", "closed"])
    assert r.exit_code == 2  # click's own choice check
    assert store.get_request("t:0")["status"] == "new" and store.request_events_frame().empty


def test_overdue_lists_only_requests_past_their_deadline(runner, db):
    args, store = db
    runner.invoke(main, [*args, "requests", "status", "t:2", "assigned"])  # clock restarts now
    r = runner.invoke(main, [*args, "requests", "overdue", "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert sorted(x["id"] for x in rows) == ["t:0", "t:1"]
    assert all(5.5 <= x["overdue_hours"] <= 6.5 and x["status"] == "new" for x in rows)
    r = runner.invoke(main, [*args, "requests", "overdue", "--grid", GRID_A])
    assert r.exit_code == 0 and [line.split("\t")[0] for line in r.output.splitlines()] == ["t:0"]
    assert "受理" in r.output
    r = runner.invoke(main, [*args, "requests", "overdue", "--grid", "51010700100199"])
    assert r.exit_code == 0 and "no overdue requests" in r.output
