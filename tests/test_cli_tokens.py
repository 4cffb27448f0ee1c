"""`gridgis tokens create/list/revoke` and `gridgis audit` through click's runner on a real database."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from gridgis import audit
from gridgis.cli import main
from gridgis.config import load_settings
from gridgis.storage import open_store
from gridgis.tokens import TokenRejected, authenticate


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
    return args, open_store(load_settings(cfg, env={}))


def test_create_prints_the_token_once_and_stores_only_its_hash(runner, db):
    args, store = db
    r = runner.invoke(main, [*args, "tokens", "create", "12345-hotline", "--scope", "open311_submit",
                             "--scope", "aggregates", "--expires", "30"])
    assert r.exit_code == 0, r.output
    secret = r.stdout.strip()
    assert secret.startswith("ggt_") and "\n" not in secret  # stdout holds the token alone
    assert "not shown again" in r.stderr
    assert authenticate(store, secret, "open311_submit").name == "12345-hotline"
    listed = runner.invoke(main, [*args, "tokens", "list"])
    assert listed.exit_code == 0 and "12345-hotline\tactive\topen311_submit aggregates" in listed.output
    assert secret not in listed.output and secret[:10] + "…" in listed.output
    as_json = json.loads(runner.invoke(main, [*args, "tokens", "list", "--json"]).output)
    assert as_json[0]["expires_at"] - as_json[0]["created_at"] == 30 * 86_400


def test_revoke_makes_the_token_useless(runner, db):
    args, store = db
    secret = runner.invoke(main, [*args, "tokens", "create", "app", "--scope", "open311_submit"]).stdout.strip()
    r = runner.invoke(main, [*args, "tokens", "revoke", "app"])
    assert r.exit_code == 0 and "revoked: app" in r.output
    with pytest.raises(TokenRejected, match="revoked"):
        authenticate(store, secret, "open311_submit")
    assert "app\trevoked" in runner.invoke(main, [*args, "tokens", "list"]).output
    r = runner.invoke(main, [*args, "tokens", "revoke", "nobody"])
    assert r.exit_code == 2 and "nobody" in r.output


def test_bad_input_exits_2_with_a_message(runner, db):
    args, _ = db
    r = runner.invoke(main, [*args, "tokens", "create", "x", "--scope", "everything"])
    assert r.exit_code == 2 and "everything" in r.output
    r = runner.invoke(main, [*args, "tokens", "create", "x"])
    assert r.exit_code == 2 and "--scope" in r.output
    assert runner.invoke(main, [*args, "tokens", "create", "x", "--scope", "admin"]).exit_code == 0
    r = runner.invoke(main, [*args, "tokens", "create", "x", "--scope", "admin"])
    assert r.exit_code == 2 and "taken" in r.output
    r = runner.invoke(main, [*args, "tokens", "create", "y", "--scope", "admin", "--expires", "0"])
    assert r.exit_code == 2


def test_list_with_no_tokens_says_how_to_make_one(runner, db):
    args, _ = db
    assert "gridgis tokens create" in runner.invoke(main, [*args, "tokens", "list"]).output


def test_audit_shows_who_pulled_what(runner, db):
    args, store = db
    audit.record(store, "city-gis", "export.cells", {"res": 9}, 42, at=1_790_000_000)
    audit.record(store, "app", "open311.requests", {"status": "open"}, 7, at=1_790_000_060)
    r = runner.invoke(main, [*args, "audit"])
    lines = r.output.strip().splitlines()
    assert r.exit_code == 0 and len(lines) == 2
    assert lines[0].split("\t")[1:4] == ["app", "open311.requests", "7"] and lines[0].startswith("2026-09-21T22:14")
    r = runner.invoke(main, [*args, "audit", "--who", "city-gis", "--json"])
    row = json.loads(r.output)
    assert row["what"] == "export.cells" and row["rows"] == 42 and row["filters"] == {"res": 9}
    r = runner.invoke(main, [*args, "audit", "--since", "2026-09-21 22:14:10"])
    assert len(r.output.strip().splitlines()) == 1
    assert runner.invoke(main, [*args, "audit", "--since", "soon"]).exit_code == 2
